//! The Raft core of the metadata quorum (KIP-595), sans-I/O: [`RaftCore::step`] takes the
//! time and one [`Input`] and appends [`Action`]s for the io layer to execute.
//!
//! Inputs come from the io layer: timer ticks, RPCs from other nodes, proposals from the
//! active controller, and `Persisted { end }` once the `__cluster_metadata-0` log is fsynced
//! through `end` (exclusive). The io layer executes actions **in order**: `PersistElection`
//! writes `quorum-state` durably before anything after it runs; `Append` writes a batch
//! exactly as given (offsets and epoch are already in its header); `Committed` tells the
//! metadata loader and the controller how far they may apply.
//!
//! Status: only the **single-voter** quorum is implemented (the quickstart shape and every
//! combined node with `controller.quorum.voters` = itself). On the first `Tick` a node that
//! is the only voter becomes leader of epoch `max(persisted epoch, last log epoch) + 1`:
//! it persists the election, appends a LEADER_CHANGE control batch (`docs/formats.md` §7.5, §11.3),
//! and from then on every proposal becomes one data batch at the next offset. The high watermark is
//! the majority's durable end (here: our own), and only moves once the LEADER_CHANGE batch of the
//! current epoch is durable (Raft §5.4.2: never commit by counting replicas of an older term).
//! Elections, replication to followers and observers (Vote, BeginQuorumEpoch, EndQuorumEpoch,
//! Fetch) are the next step; until then a node that is not the sole voter stays
//! [`Role::Unattached`] and ignores `Received`.

pub mod control;
pub mod election_state;
pub mod json;
pub mod message;

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use metadata::MetadataRecord;
use protocol::records::RecordsError;
use protocol::ErrorCode;

pub use election_state::{ElectionState, QuorumStateError, QuorumStateVersion};
pub use message::RaftMessage;

/// A node id (`node.id`).
pub type NodeId = i32;
/// A Raft epoch (term).
pub type Epoch = i32;
/// An offset in `__cluster_metadata-0`.
pub type Offset = i64;
/// Milliseconds on the io layer's clock (monotonic; the core never reads it itself).
pub type Millis = i64;

/// Bytes appended but not yet reported durable, above which proposals are refused: a
/// stalled disk must push back on the controller instead of growing memory without bound.
pub const UNPERSISTED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Static configuration of the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    pub node_id: NodeId,
    /// `controller.quorum.voters` ids.
    pub voters: BTreeSet<NodeId>,
}

/// What the io layer recovered from disk at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DurableState {
    /// From `quorum-state`, or the default (epoch 0, nobody) on a fresh log.
    pub election: ElectionState,
    /// The end (exclusive) of the recovered, fsynced log.
    pub log_end_offset: Offset,
    /// The epoch of the last batch in the log (0 for an empty log).
    pub last_epoch: Epoch,
}

/// One thing that happened, for [`RaftCore::step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Time passed; due at [`RaftCore::deadline`].
    Tick,
    /// An RPC from another node (ignored by the single-voter core, see [`RaftMessage`]).
    Received { from: NodeId, msg: RaftMessage },
    /// Records for the log; see [`RaftCore::propose`], which also returns their offsets.
    Propose(Vec<MetadataRecord>),
    /// The log is durable through `end` (exclusive).
    Persisted { end: Offset },
}

/// Data (metadata records) or control (LEADER_CHANGE, …) batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKind {
    Data,
    Control,
}

/// A batch for the io layer to write to `__cluster_metadata-0` byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendBatch {
    pub base_offset: Offset,
    pub last_offset: Offset,
    pub epoch: Epoch,
    pub kind: BatchKind,
    /// The whole RecordBatch v2, CRC included.
    pub bytes: Bytes,
}

/// What the io layer must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write `quorum-state` (tmp + fsync + rename) before executing any later action.
    PersistElection(ElectionState),
    /// Append a batch to the log (then fsync and report `Persisted`).
    Append(AppendBatch),
    /// Drop the log from offset `to` on (a follower whose log diverged; never the leader).
    Truncate { to: Offset },
    /// Send now; safe before any fsync.
    Send { to: NodeId, msg: RaftMessage },
    /// Send only once everything appended so far is durable.
    SendAfterPersist { to: NodeId, msg: RaftMessage },
    /// Offsets below `high_watermark` are committed: apply them.
    Committed { high_watermark: Offset },
    /// The leader of the quorum changed (`None` = unknown); the controller becomes active or
    /// standby on this.
    LeaderChanged {
        epoch: Epoch,
        leader_id: Option<NodeId>,
    },
}

/// Where a proposal landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Appended {
    pub base_offset: Offset,
    pub last_offset: Offset,
    pub epoch: Epoch,
}

/// Why the core refused an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RaftError {
    /// Only the leader accepts proposals; the controller answers NOT_CONTROLLER.
    #[error("not the leader of epoch {epoch} (leader: {leader_id:?})")]
    NotLeader {
        epoch: Epoch,
        leader_id: Option<NodeId>,
    },
    /// The records do not make a valid batch (empty, too many, too large, bad version).
    #[error("cannot batch the proposal: {0}")]
    Batch(#[from] metadata::Error),
    /// Building a control batch failed (cannot happen for the sizes Raft writes).
    #[error("cannot build a control batch: {0}")]
    ControlBatch(#[from] RecordsError),
    /// Too much appended data is waiting for fsync.
    #[error("{unpersisted_bytes} bytes await fsync (limit {max}); retry later")]
    Backpressure {
        unpersisted_bytes: usize,
        max: usize,
    },
    /// The io layer reported durable data it was never given: a bug in the io layer.
    #[error("io layer reported the log durable through {end}, but it ends at {log_end}")]
    PersistedBeyondLogEnd { end: Offset, log_end: Offset },
}

impl RaftError {
    /// The Kafka error a controller request gets when its proposal fails.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            RaftError::NotLeader { .. } => ErrorCode::NOT_CONTROLLER,
            RaftError::Backpressure { .. } => ErrorCode::REQUEST_TIMED_OUT,
            _ => ErrorCode::UNKNOWN_SERVER_ERROR,
        }
    }
}

/// The node's role. Transition table (only the single-voter edge exists so far):
///
/// ```text
///   Unattached ──Tick, voters == {self}──► Leader(epoch + 1)
///   Unattached ──Tick, otherwise─────────► Unattached   (elections: next step)
///   Leader ──────(nothing yet)────────────► Leader       (resign/step down: next step)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not started, or no leader known.
    Unattached,
    /// Leader of `epoch` since `epoch_start_offset` (the offset of its LEADER_CHANGE batch).
    Leader { epoch_start_offset: Offset },
}

/// The Raft state machine of one node.
#[derive(Debug, Clone)]
pub struct RaftCore {
    config: RaftConfig,
    election: ElectionState,
    role: Role,
    started: bool,
    /// Next offset to assign.
    log_end_offset: Offset,
    /// Epoch of the last batch in the log.
    last_epoch: Epoch,
    /// The log is durable through this offset (exclusive).
    persisted_end: Offset,
    /// Committed offsets are below this; `None` until known in this epoch.
    high_watermark: Option<Offset>,
    /// (last offset, bytes) of appended batches not yet durable, oldest first.
    unpersisted: VecDeque<(Offset, usize)>,
    unpersisted_bytes: usize,
}

impl RaftCore {
    /// A core over what the io layer recovered. Nothing happens until the first `Tick`.
    pub fn new(config: RaftConfig, durable: DurableState) -> RaftCore {
        RaftCore {
            config,
            election: durable.election,
            role: Role::Unattached,
            started: false,
            log_end_offset: durable.log_end_offset,
            last_epoch: durable.last_epoch,
            persisted_end: durable.log_end_offset,
            high_watermark: None,
            unpersisted: VecDeque::new(),
            unpersisted_bytes: 0,
        }
    }

    /// Handles one input. Errors are the input's fault (a proposal to a non-leader, an io
    /// layer reporting the impossible); the core's state is unchanged by a failed input.
    pub fn step(
        &mut self,
        now: Millis,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        match input {
            Input::Tick => {
                if !self.started {
                    self.start(now, out)?;
                }
                Ok(())
            }
            // Single-voter core: no peer has anything to say to us yet.
            Input::Received { .. } => Ok(()),
            Input::Propose(records) => self.propose(now, &records, out).map(|_| ()),
            Input::Persisted { end } => self.handle_persisted(end, out),
        }
    }

    /// When the next `Tick` has work: immediately before start-up, never afterwards (a
    /// single voter has no timeouts; elections and fetch timeouts will set one).
    pub fn deadline(&self) -> Millis {
        if self.started {
            Millis::MAX
        } else {
            Millis::MIN
        }
    }

    /// Appends `records` as one data batch at the next offset of the current epoch.
    pub fn propose(
        &mut self,
        now: Millis,
        records: &[MetadataRecord],
        out: &mut Vec<Action>,
    ) -> Result<Appended, RaftError> {
        if !self.is_leader() {
            return Err(RaftError::NotLeader {
                epoch: self.election.epoch,
                leader_id: self.election.leader_id,
            });
        }
        if self.unpersisted_bytes >= UNPERSISTED_BYTES_MAX {
            return Err(RaftError::Backpressure {
                unpersisted_bytes: self.unpersisted_bytes,
                max: UNPERSISTED_BYTES_MAX,
            });
        }
        let epoch = self.election.epoch;
        let batch = metadata::encode_batch(self.log_end_offset, epoch, now, records)?;
        let appended = Appended {
            base_offset: batch.header.base_offset,
            last_offset: batch.header.last_offset(),
            epoch,
        };
        self.append(BatchKind::Data, appended, batch.bytes, out);
        Ok(appended)
    }

    fn start(&mut self, now: Millis, out: &mut Vec<Action>) -> Result<(), RaftError> {
        let me = self.config.node_id;
        let sole_voter = self.config.voters.len() == 1 && self.config.voters.contains(&me);
        if !sole_voter {
            // Multi-voter elections and observers are not implemented yet: stay unattached.
            self.started = true;
            return Ok(());
        }
        // Raft §5.2: a candidate votes for itself in a new epoch, durably, before anything
        // else; with one voter that vote is a majority, so it is leader at once.
        let epoch = self
            .election
            .epoch
            .max(self.last_epoch)
            .checked_add(1)
            .unwrap_or(Epoch::MAX);
        let batch = control::leader_change_batch(self.log_end_offset, epoch, now, me, [me], [me])?;
        let election = ElectionState {
            epoch,
            leader_id: Some(me),
            voted_id: Some(me),
            voted_directory_id: None,
            voters: self.config.voters.clone(),
        };
        self.started = true;
        self.election = election.clone();
        self.high_watermark = None;
        self.role = Role::Leader {
            epoch_start_offset: self.log_end_offset,
        };
        out.push(Action::PersistElection(election));
        let appended = Appended {
            base_offset: batch.header.base_offset,
            last_offset: batch.header.last_offset(),
            epoch,
        };
        self.append(BatchKind::Control, appended, batch.bytes, out);
        out.push(Action::LeaderChanged {
            epoch,
            leader_id: Some(me),
        });
        Ok(())
    }

    fn append(&mut self, kind: BatchKind, at: Appended, bytes: Bytes, out: &mut Vec<Action>) {
        assert_eq!(
            at.base_offset, self.log_end_offset,
            "batches are appended at the log end"
        );
        assert!(
            at.epoch >= self.last_epoch,
            "the log's epochs never go backwards"
        );
        self.log_end_offset = at.last_offset + 1;
        self.last_epoch = at.epoch;
        self.unpersisted.push_back((at.last_offset, bytes.len()));
        self.unpersisted_bytes += bytes.len();
        out.push(Action::Append(AppendBatch {
            base_offset: at.base_offset,
            last_offset: at.last_offset,
            epoch: at.epoch,
            kind,
            bytes,
        }));
    }

    fn handle_persisted(&mut self, end: Offset, out: &mut Vec<Action>) -> Result<(), RaftError> {
        if end > self.log_end_offset {
            return Err(RaftError::PersistedBeyondLogEnd {
                end,
                log_end: self.log_end_offset,
            });
        }
        if end <= self.persisted_end {
            return Ok(()); // a late report of something already durable
        }
        self.persisted_end = end;
        while let Some(&(last, bytes)) = self.unpersisted.front() {
            if last >= end {
                break;
            }
            self.unpersisted.pop_front();
            self.unpersisted_bytes -= bytes;
        }
        self.maybe_advance_high_watermark(out);
        Ok(())
    }

    /// The majority's durable end, once this epoch's LEADER_CHANGE is part of it.
    fn maybe_advance_high_watermark(&mut self, out: &mut Vec<Action>) {
        let Role::Leader { epoch_start_offset } = self.role else {
            return;
        };
        // Durable ends of the voters, ours first; followers will report theirs via Fetch.
        let mut ends: Vec<Offset> = self
            .config
            .voters
            .iter()
            .map(|v| {
                if *v == self.config.node_id {
                    self.persisted_end
                } else {
                    0
                }
            })
            .collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let majority_end = ends[ends.len() / 2];
        if majority_end <= epoch_start_offset {
            return; // Raft §5.4.2: commit only through an entry of the current epoch
        }
        if self.high_watermark.is_some_and(|hw| majority_end <= hw) {
            return;
        }
        // Invariant (MonotonicHighWatermark, nothing committed before persisted).
        assert!(
            majority_end <= self.persisted_end,
            "high watermark beyond our durable log"
        );
        assert!(
            self.high_watermark.is_none_or(|hw| hw < majority_end),
            "high watermark regressed"
        );
        self.high_watermark = Some(majority_end);
        out.push(Action::Committed {
            high_watermark: majority_end,
        });
    }

    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// The current epoch and its leader, as last persisted.
    pub fn election(&self) -> &ElectionState {
        &self.election
    }

    pub fn epoch(&self) -> Epoch {
        self.election.epoch
    }

    pub fn leader_id(&self) -> Option<NodeId> {
        self.election.leader_id
    }

    /// The next offset a proposal would get.
    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// The log is durable below this offset.
    pub fn persisted_end(&self) -> Offset {
        self.persisted_end
    }

    /// Offsets below this are committed; `None` until the current epoch has committed.
    pub fn high_watermark(&self) -> Option<Offset> {
        self.high_watermark
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metadata::MetadataRecordBody;
    use protocol::messages::NoOpRecord;

    fn single(durable: DurableState) -> RaftCore {
        RaftCore::new(
            RaftConfig {
                node_id: 1,
                voters: [1].into_iter().collect(),
            },
            durable,
        )
    }

    fn noop() -> Vec<MetadataRecord> {
        vec![MetadataRecord::new(
            0,
            MetadataRecordBody::NoOp(NoOpRecord {}),
        )]
    }

    #[test]
    fn single_voter_becomes_leader_and_commits_after_persist() {
        let mut raft = single(DurableState {
            election: ElectionState {
                epoch: 4,
                ..Default::default()
            },
            log_end_offset: 10,
            last_epoch: 3,
        });
        let mut out = Vec::new();
        assert_eq!(raft.deadline(), Millis::MIN);
        assert!(matches!(
            raft.propose(0, &noop(), &mut out),
            Err(RaftError::NotLeader { .. })
        ));
        raft.step(5, Input::Tick, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let Action::PersistElection(e) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((e.epoch, e.leader_id, e.voted_id), (5, Some(1), Some(1)));
        let Action::Append(b) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(
            (b.base_offset, b.last_offset, b.epoch, b.kind),
            (10, 10, 5, BatchKind::Control)
        );
        assert_eq!(
            out[2],
            Action::LeaderChanged {
                epoch: 5,
                leader_id: Some(1)
            }
        );
        assert_eq!(raft.deadline(), Millis::MAX);
        out.clear();

        let at = raft.propose(6, &noop(), &mut out).unwrap();
        assert_eq!(
            at,
            Appended {
                base_offset: 11,
                last_offset: 11,
                epoch: 5
            }
        );
        out.clear();
        // Old-epoch data alone is never committed; the LEADER_CHANGE must be durable.
        raft.step(7, Input::Persisted { end: 10 }, &mut out)
            .unwrap();
        assert!(out.is_empty());
        raft.step(7, Input::Persisted { end: 11 }, &mut out)
            .unwrap();
        assert_eq!(out, vec![Action::Committed { high_watermark: 11 }]);
        out.clear();
        raft.step(8, Input::Persisted { end: 11 }, &mut out)
            .unwrap();
        assert!(out.is_empty(), "a repeated report commits nothing new");
        assert!(matches!(
            raft.step(8, Input::Persisted { end: 13 }, &mut out),
            Err(RaftError::PersistedBeyondLogEnd {
                end: 13,
                log_end: 12
            })
        ));
        raft.step(9, Input::Persisted { end: 12 }, &mut out)
            .unwrap();
        assert_eq!(out, vec![Action::Committed { high_watermark: 12 }]);
        assert_eq!(raft.high_watermark(), Some(12));
    }

    #[test]
    fn a_non_sole_voter_stays_unattached() {
        let mut raft = RaftCore::new(
            RaftConfig {
                node_id: 1,
                voters: [1, 2, 3].into_iter().collect(),
            },
            DurableState::default(),
        );
        let mut out = Vec::new();
        raft.step(0, Input::Tick, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(raft.role(), &Role::Unattached);
        assert_eq!(
            raft.propose(0, &noop(), &mut out).unwrap_err().error_code(),
            ErrorCode::NOT_CONTROLLER
        );
    }
}
