//! The Raft core of the metadata quorum (KIP-595), sans-I/O: [`RaftCore::step`] takes the
//! time and one [`Input`] and appends [`Action`]s for the io layer to execute.
//!
//! Inputs come from the io layer: timer ticks, RPCs from voters (`Received`) and from anyone
//! else (`Request`, answered with `Respond`: observers), proposals from the active
//! controller, and `Persisted { end, generation }` once the `__cluster_metadata-0` log is
//! fsynced through `end` (exclusive). The io layer executes actions **in order**:
//! `PersistElection` writes `quorum-state` durably before anything after it runs (so a vote
//! is granted only once it is durable); `Append` writes a batch exactly as given;
//! `SendAfterPersist` waits until everything appended so far is durable (a follower's Fetch
//! is its acknowledgement, so it must never claim an offset that is not fsynced);
//! `ReadLog` fills a Fetch answer with batches from the log; `Committed` tells the metadata
//! loader and the controller how far they may apply.
//!
//! Status: elections (Vote, BeginQuorumEpoch, EndQuorumEpoch) with randomised timeouts from
//! the constructor's seed and exponential backoff, pre-vote (KIP-996), replication by Fetch
//! with `LastFetchedEpoch` → `DivergingEpoch` truncation, long-polled fetches, check-quorum
//! resignation of a leader cut off from the majority, a graceful resign (`Input::Resign`),
//! followers, prospective candidates, candidates, resigned leaders and observers. A sole
//! voter elects itself on its first `Tick` (the quickstart). [`wire`] converts messages to
//! and from Kafka's bodies. Not yet: snapshots (KIP-630), dynamic voters (KIP-853),
//! `append.linger.ms` batching.
//!
//! The roles and their edges (each `become_*` function is one arrow's target):
//!
//! ```text
//! (With pre-vote, each "election timeout" arrow first passes through Prospective: the same
//! Candidate state asking in the current epoch; a majority of pre-votes leads on to it.)
//!
//!            start ──► Unattached ◄────────── higher epoch seen, no leader known
//!                        │    ▲                           (any role)
//!       election timeout │    │ higher epoch
//!       (voters only)    ▼    │
//!                      Candidate ──majority granted──► Leader ──check-quorum fails──► Resigned
//!                        │   ▲ ▲                                                        │
//!     Begin/Fetch from   │   │ └───────────── election timeout ─────────────────────────┘
//!     the epoch's leader ▼   │ fetch timeout (voters; observers go to Unattached)
//!                       Follower ◄── BeginQuorumEpoch / Fetch answer naming a leader (any role
//!                                    but Leader of the same epoch)
//! ```

mod candidate;
pub mod control;
pub mod election_state;
pub mod epochs;
mod follower;
pub mod json;
mod leader;
pub mod message;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use metadata::MetadataRecord;
use protocol::records::RecordsError;
use protocol::ErrorCode;
pub use protocol::{Epoch, Millis, NodeId, Offset};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use election_state::{ElectionState, QuorumStateError, QuorumStateVersion};
pub use epochs::EpochStarts;
pub use message::{EpochEnd, FetchResponse, RaftMessage};

/// Bytes appended but not yet reported durable, above which proposals are refused: a
/// stalled disk must push back on the controller instead of growing memory without bound.
pub const UNPERSISTED_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest Fetch answer a follower asks for (Kafka's Raft `FETCH_MAX_BYTES`).
pub const FETCH_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// How long the leader holds a Fetch that has nothing new (Kafka's Raft `FETCH_MAX_WAIT_MS`).
pub const FETCH_MAX_WAIT_MS: i64 = 500;
/// Fetches the leader holds at once; the oldest is answered (empty) to make room.
pub const PARKED_FETCHES_MAX: usize = 1024;

/// Static configuration of the quorum, with Kafka's `controller.quorum.*` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    pub node_id: NodeId,
    /// `controller.quorum.voters` ids. A node not in it is an observer.
    pub voters: BTreeSet<NodeId>,
    /// `controller.quorum.election.timeout.ms` (1000): the base of the randomised timeout.
    pub election_timeout_ms: i64,
    /// `controller.quorum.fetch.timeout.ms` (2000): a follower without a successful fetch for
    /// this long starts an election; a leader not fetched from by a majority for 1.5× this
    /// resigns.
    pub fetch_timeout_ms: i64,
    /// `controller.quorum.election.backoff.max.ms` (1000): cap of the exponential backoff.
    pub election_backoff_max_ms: i64,
    /// `controller.quorum.request.timeout.ms` (2000): an unanswered request is sent again.
    pub request_timeout_ms: i64,
    /// `controller.quorum.retry.backoff.ms` (20): wait after a failed request.
    pub retry_backoff_ms: i64,
    /// Stand as a prospective candidate first (KIP-996 pre-vote, Vote v2). Kafka 4.0 does
    /// it whenever the peers support Vote v2; a peer that does not counts as granting.
    pub pre_vote: bool,
}

impl RaftConfig {
    /// The configuration with Kafka's defaults.
    pub fn new(node_id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> RaftConfig {
        RaftConfig {
            node_id,
            voters: voters.into_iter().collect(),
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            request_timeout_ms: 2000,
            retry_backoff_ms: 20,
            pre_vote: true,
        }
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}

/// What the io layer recovered from disk at start-up. The recovered log must have been
/// fsynced before it is described here: everything below `log_end_offset` counts as durable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DurableState {
    /// From `quorum-state`, or the default (epoch 0, nobody) on a fresh log.
    pub election: ElectionState,
    /// The end (exclusive) of the recovered, fsynced log.
    pub log_end_offset: Offset,
    /// The epoch → start offset of the recovered log's batches.
    pub epoch_starts: EpochStarts,
}

/// An inbound connection's request the io layer is waiting to answer (`Respond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboundId(pub u64);

/// Where an answer goes: to a voter as a message, or back on an inbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReplyTo {
    Voter(NodeId),
    Inbound(InboundId),
}

/// One thing that happened, for [`RaftCore::step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Time passed; due at [`RaftCore::deadline`].
    Tick,
    /// An RPC (request or response) from a voter of `controller.quorum.voters`.
    Received { from: NodeId, msg: RaftMessage },
    /// A request from a node outside the voter set (an observer); answered with
    /// [`Action::Respond`] or [`Action::ReadLog`] carrying `id`.
    Request { id: InboundId, msg: RaftMessage },
    /// Records for the log; see [`RaftCore::propose`], which also returns their offsets.
    Propose(Vec<MetadataRecord>),
    /// The log is durable through `end` (exclusive), as of the `generation` of the last
    /// `Truncate` executed before the fsync began (0 before any).
    Persisted { end: Offset, generation: u64 },
    /// Shutting down: a leader resigns with EndQuorumEpoch naming its preferred successors,
    /// so the next leader is elected without waiting for a timeout. Others ignore it.
    Resign,
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
    /// Drop the log from offset `to` on (a follower whose log diverged; never the leader);
    /// `Persisted` reports from now on carry `generation`.
    Truncate { to: Offset, generation: u64 },
    /// Send now; safe before any fsync.
    Send { to: NodeId, msg: RaftMessage },
    /// Send only once everything appended so far is durable.
    SendAfterPersist { to: NodeId, msg: RaftMessage },
    /// Answer an inbound `Request`.
    Respond { id: InboundId, msg: RaftMessage },
    /// Answer a Fetch: put the whole batches of the log from `from` (up to `max_bytes`, at
    /// least one batch if any) into `response.records`, then send it to `reply`.
    ReadLog {
        reply: ReplyTo,
        response: FetchResponse,
        from: Offset,
        max_bytes: u32,
    },
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

/// The node's role, as reported by [`RaftCore::role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not started, or no leader known in the current epoch.
    Unattached,
    /// Asking for pre-votes in the current epoch (KIP-996).
    Prospective,
    Candidate,
    Leader,
    Follower,
    /// A leader that gave up its epoch and waits for the next election.
    Resigned,
}

/// The role with its volatile state (never persisted; `ElectionState` is).
#[derive(Debug, Clone)]
enum State {
    /// Voters: start an election at `deadline`. Observers: ask a voter for the leader then.
    Unattached {
        deadline: Millis,
    },
    Candidate(candidate::Candidate),
    Leader(leader::Leader),
    Follower(follower::Follower),
    Resigned {
        election_deadline: Millis,
    },
}

/// The local log as the core tracks it.
#[derive(Debug, Clone)]
struct LogState {
    /// Next offset to assign.
    end: Offset,
    epochs: EpochStarts,
    /// The log is durable through this offset (exclusive).
    persisted_end: Offset,
    /// Bumped by every `Truncate`; `Persisted` reports of an older generation are stale.
    generation: u64,
    /// (last offset, bytes) of appended batches not yet durable, oldest first.
    unpersisted: VecDeque<(Offset, usize)>,
    unpersisted_bytes: usize,
}

/// The Raft state machine of one node.
#[derive(Debug, Clone)]
pub struct RaftCore {
    config: RaftConfig,
    rng: StdRng,
    /// The election state as last persisted (the io layer writes it before later actions).
    election: ElectionState,
    state: State,
    started: bool,
    log: LogState,
    /// Committed offsets are below this; `None` until known in this incarnation.
    high_watermark: Option<Offset>,
}

impl RaftCore {
    /// A core over what the io layer recovered; its randomness (election timeouts, backoff,
    /// which voter an observer asks) comes from `seed` alone. Nothing happens until the
    /// first `Tick`.
    pub fn new(config: RaftConfig, durable: DurableState, seed: u64) -> RaftCore {
        RaftCore {
            config,
            rng: StdRng::seed_from_u64(seed),
            election: durable.election,
            state: State::Unattached {
                deadline: Millis::MIN,
            },
            started: false,
            log: LogState {
                end: durable.log_end_offset,
                epochs: durable.epoch_starts,
                persisted_end: durable.log_end_offset,
                generation: 0,
                unpersisted: VecDeque::new(),
                unpersisted_bytes: 0,
            },
            high_watermark: None,
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
        if !self.started {
            self.start(now, out);
        }
        match input {
            Input::Tick => self.tick(now, out),
            Input::Received { from, msg } => {
                self.handle_message(now, ReplyTo::Voter(from), msg, out)
            }
            Input::Request { id, msg } => self.handle_message(now, ReplyTo::Inbound(id), msg, out),
            Input::Propose(records) => self.propose(now, &records, out).map(|_| ()),
            Input::Persisted { end, generation } => self.handle_persisted(end, generation, out),
            Input::Resign => {
                self.resign(now, out);
                Ok(())
            }
        }
    }

    /// When the next `Tick` has work: immediately before start-up, then the earliest timer
    /// of the current role.
    pub fn deadline(&self) -> Millis {
        if !self.started {
            return Millis::MIN;
        }
        match &self.state {
            State::Unattached { deadline } => *deadline,
            State::Resigned { election_deadline } => *election_deadline,
            State::Candidate(c) => c.deadline(),
            State::Leader(l) => l.deadline(),
            State::Follower(f) => f.deadline(),
        }
    }

    /// Start-up: take up the persisted epoch (Kafka `QuorumState.initialize`).
    fn start(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.started = true;
        let me = self.config.node_id;
        let log_epoch = self.log.epochs.last_epoch();
        if log_epoch > self.election.epoch {
            // The log saw an epoch quorum-state missed: at least that epoch is over for us.
            self.become_unattached(now, log_epoch, out);
            return;
        }
        match self.election.leader_id {
            // We led this epoch before the restart; its followers may still follow us, but
            // we remember nothing of them: resign and let an election follow.
            Some(leader) if leader == me => {
                let election_deadline = if self.is_sole_voter() {
                    now
                } else {
                    now.plus(self.random_election_timeout())
                };
                self.state = State::Resigned { election_deadline };
            }
            Some(leader) => self.become_follower(now, self.election.epoch, leader, out),
            None => {
                let deadline = self.unattached_deadline(now);
                self.state = State::Unattached { deadline };
            }
        }
    }

    fn tick(&mut self, now: Millis, out: &mut Vec<Action>) -> Result<(), RaftError> {
        match &self.state {
            State::Unattached { deadline }
            | State::Resigned {
                election_deadline: deadline,
            } => {
                if now >= *deadline {
                    if self.is_voter() {
                        self.start_election(now, out)?;
                    } else {
                        self.observer_discover(now, out);
                    }
                }
            }
            State::Candidate(_) => self.candidate_tick(now, out)?,
            State::Leader(_) => self.leader_tick(now, out),
            State::Follower(_) => self.follower_tick(now, out)?,
        }
        Ok(())
    }

    fn handle_message(
        &mut self,
        now: Millis,
        from: ReplyTo,
        msg: RaftMessage,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        // Only voters take part in elections and epoch changes; anyone may fetch.
        let voter = match from {
            ReplyTo::Voter(id) if self.config.voters.contains(&id) => Some(id),
            _ => None,
        };
        match (msg, voter) {
            (RaftMessage::FetchRequest(req), _) => self.handle_fetch_request(now, from, req, out),
            (RaftMessage::VoteRequest(req), Some(id)) => {
                self.handle_vote_request(now, id, req, out)
            }
            (RaftMessage::BeginQuorumEpochRequest(req), Some(id)) => {
                self.handle_begin_quorum_epoch(now, id, req, out)
            }
            (RaftMessage::EndQuorumEpochRequest(req), Some(id)) => {
                self.handle_end_quorum_epoch(now, id, req, out)
            }
            (RaftMessage::VoteResponse(resp), Some(id)) => {
                return self.handle_vote_response(now, id, resp, out);
            }
            (RaftMessage::BeginQuorumEpochResponse(resp), Some(id)) => {
                self.handle_begin_quorum_epoch_response(now, id, resp, out)
            }
            (RaftMessage::EndQuorumEpochResponse(resp), Some(from)) => {
                self.observe_epoch(now, from, resp.leader_epoch, resp.leader_id, out);
            }
            // Responses come back to whoever fetched, voter or observer.
            (RaftMessage::FetchResponse(resp), _) => {
                if let ReplyTo::Voter(id) = from {
                    self.handle_fetch_response(now, id, resp, out);
                }
            }
            // KIP-595: an election RPC from outside the voter set.
            (request, None) => self.reject_non_voter(from, request, out),
        }
        Ok(())
    }

    /// Answers an election RPC from a node outside the voter set with
    /// INCONSISTENT_VOTER_SET; responses from such nodes are dropped.
    fn reject_non_voter(&mut self, from: ReplyTo, msg: RaftMessage, out: &mut Vec<Action>) {
        let epoch_response = self.epoch_response(ErrorCode::INCONSISTENT_VOTER_SET);
        let reply = match msg {
            RaftMessage::VoteRequest(_) => RaftMessage::VoteResponse(message::VoteResponse {
                error: ErrorCode::INCONSISTENT_VOTER_SET,
                leader_epoch: self.election.epoch,
                leader_id: self.known_leader(),
                vote_granted: false,
            }),
            RaftMessage::BeginQuorumEpochRequest(_) => {
                RaftMessage::BeginQuorumEpochResponse(epoch_response)
            }
            RaftMessage::EndQuorumEpochRequest(_) => {
                RaftMessage::EndQuorumEpochResponse(epoch_response)
            }
            _ => return,
        };
        reply_with(from, reply, out);
    }

    /// The leader of the current epoch as we answer peers: never ourselves unless we lead
    /// (a restarted or resigned leader's `quorum-state` still names it).
    fn known_leader(&self) -> Option<NodeId> {
        let me = self.config.node_id;
        self.election
            .leader_id
            .filter(|&l| l != me || self.is_leader())
    }

    fn epoch_response(&self, error: ErrorCode) -> message::EpochResponse {
        message::EpochResponse {
            error,
            leader_epoch: self.election.epoch,
            leader_id: self.known_leader(),
        }
    }

    /// Peer `from` named `epoch` (and maybe its leader). A later epoch than ours ends our
    /// role: follow its leader if named, else wait unattached (Raft §5.1). Returns false when
    /// the peer's epoch is older than ours (its message is stale).
    fn observe_epoch(
        &mut self,
        now: Millis,
        from: NodeId,
        epoch: Epoch,
        leader_id: Option<NodeId>,
        out: &mut Vec<Action>,
    ) -> bool {
        if epoch < self.election.epoch {
            return false;
        }
        let me = self.config.node_id;
        let leader = leader_id.filter(|&l| l != me);
        if epoch > self.election.epoch {
            match leader {
                Some(l) => self.become_follower(now, epoch, l, out),
                None => self.become_unattached(now, epoch, out),
            }
        } else if let Some(l) = leader {
            // Same epoch, and we learn its leader: anyone but that epoch's leader follows. A
            // prospective candidate goes back to the leader it gave up on only when that
            // leader itself answers: a follower naming it may merely not have timed out yet.
            let prospective = matches!(&self.state, State::Candidate(c) if c.pre_vote);
            if self.election.leader_id.is_none() || (prospective && l == from) {
                self.become_follower(now, epoch, l, out);
            }
        }
        true
    }

    /// No leader known in `epoch` (> ours, or the one the log ends in).
    fn become_unattached(&mut self, now: Millis, epoch: Epoch, out: &mut Vec<Action>) {
        assert!(
            epoch >= self.election.epoch,
            "Raft §5.1: epochs never go back"
        );
        // Raft §5.2: the election timer restarts only on hearing from a leader or granting a
        // vote, not on seeing a higher epoch; else a voter with a stale log that keeps
        // standing for election would hold everyone else's timer back forever.
        let kept = match self.state {
            State::Unattached { deadline } if self.is_voter() => Some(deadline),
            _ => None,
        };
        self.leave_role(out);
        self.persist_election(self.election_for(epoch, None, None), out);
        out.push(Action::LeaderChanged {
            epoch,
            leader_id: None,
        });
        let deadline = kept.unwrap_or_else(|| self.unattached_deadline(now));
        self.state = State::Unattached { deadline };
    }

    fn unattached_deadline(&mut self, now: Millis) -> Millis {
        if self.is_sole_voter() {
            now
        } else if self.is_voter() {
            now.plus(self.random_election_timeout())
        } else {
            now
        }
    }

    /// Cleanup when a leader stops leading: its held fetches are answered with the news.
    fn leave_role(&mut self, out: &mut Vec<Action>) {
        if let State::Leader(leader) = &mut self.state {
            let parked = std::mem::take(&mut leader.parked);
            self.state = State::Unattached {
                deadline: Millis::MAX,
            };
            for fetch in parked {
                let resp = self.fetch_error(ErrorCode::NOT_LEADER_OR_FOLLOWER);
                reply_with(fetch.reply, RaftMessage::FetchResponse(resp), out);
            }
        }
    }

    /// The election record for `epoch` in this quorum (`votedDirectoryId` stays unset: the
    /// voter set is static).
    fn election_for(
        &self,
        epoch: Epoch,
        leader_id: Option<NodeId>,
        voted_id: Option<NodeId>,
    ) -> ElectionState {
        ElectionState {
            epoch,
            leader_id,
            voted_id,
            voted_directory_id: None,
            voters: self.config.voters.clone(),
        }
    }

    fn persist_election(&mut self, election: ElectionState, out: &mut Vec<Action>) {
        assert!(
            election.epoch >= self.election.epoch,
            "Raft §5.1: the persisted epoch never goes back"
        );
        self.election = election.clone();
        out.push(Action::PersistElection(election));
    }

    /// Writes `bytes` at the log end.
    fn append(&mut self, kind: BatchKind, at: Appended, bytes: Bytes, out: &mut Vec<Action>) {
        assert_eq!(
            at.base_offset, self.log.end,
            "batches are appended at the log end"
        );
        self.log.epochs.observe(at.epoch, at.base_offset);
        self.log.end = at.last_offset.plus(1);
        self.log
            .unpersisted
            .push_back((at.last_offset, bytes.len()));
        self.log.unpersisted_bytes += bytes.len();
        out.push(Action::Append(AppendBatch {
            base_offset: at.base_offset,
            last_offset: at.last_offset,
            epoch: at.epoch,
            kind,
            bytes,
        }));
    }

    /// Drops the log from `to` on (a follower's divergent suffix).
    fn truncate(&mut self, to: Offset, out: &mut Vec<Action>) {
        // Raft §5.3/§5.4: a committed entry is never removed.
        assert!(
            self.high_watermark.is_none_or(|hw| to >= hw),
            "truncation to {to} below the high watermark {:?}",
            self.high_watermark
        );
        if to >= self.log.end {
            return;
        }
        self.log.end = to;
        self.log.epochs.truncate(to);
        self.log.persisted_end = self.log.persisted_end.min(to);
        self.log.generation += 1;
        let log = &mut self.log;
        while log.unpersisted.back().is_some_and(|&(last, _)| last >= to) {
            let (_, bytes) = log.unpersisted.pop_back().expect("checked");
            log.unpersisted_bytes -= bytes;
        }
        out.push(Action::Truncate {
            to,
            generation: self.log.generation,
        });
    }

    fn handle_persisted(
        &mut self,
        end: Offset,
        generation: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        if generation != self.log.generation {
            return Ok(()); // measured before a truncation: it may describe removed entries
        }
        if end > self.log.end {
            return Err(RaftError::PersistedBeyondLogEnd {
                end,
                log_end: self.log.end,
            });
        }
        if end <= self.log.persisted_end {
            return Ok(()); // a late report of something already durable
        }
        self.log.persisted_end = end;
        let log = &mut self.log;
        while log.unpersisted.front().is_some_and(|&(last, _)| last < end) {
            let (_, bytes) = log.unpersisted.pop_front().expect("checked");
            log.unpersisted_bytes -= bytes;
        }
        match self.state {
            State::Leader(_) => {
                self.maybe_advance_high_watermark(out);
            }
            State::Follower(_) => self.maybe_advance_follower_high_watermark(out),
            _ => {}
        }
        Ok(())
    }

    /// Raises the high watermark to `hw` (never lowers it) and tells the io layer.
    fn commit_through(&mut self, hw: Offset, out: &mut Vec<Action>) -> bool {
        if self.high_watermark.is_some_and(|old| hw <= old) {
            return false;
        }
        // A leader may commit what a majority of followers made durable before its own fsync
        // ends; a follower commits only what is durable here. Neither beyond its log.
        assert!(
            hw <= self.log.end,
            "high watermark {hw} beyond the log end {}",
            self.log.end
        );
        self.high_watermark = Some(hw);
        out.push(Action::Committed { high_watermark: hw });
        true
    }

    fn random_election_timeout(&mut self) -> i64 {
        // KIP-595: uniformly in [timeout, 2 × timeout).
        let base = self.config.election_timeout_ms.max(1);
        base + self.rng.gen_range(0..base)
    }

    fn is_voter(&self) -> bool {
        self.config.voters.contains(&self.config.node_id)
    }

    fn is_sole_voter(&self) -> bool {
        self.config.voters.len() == 1 && self.is_voter()
    }

    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    pub fn role(&self) -> Role {
        match &self.state {
            State::Unattached { .. } => Role::Unattached,
            State::Candidate(c) if c.pre_vote => Role::Prospective,
            State::Candidate(_) => Role::Candidate,
            State::Leader(_) => Role::Leader,
            State::Follower(_) => Role::Follower,
            State::Resigned { .. } => Role::Resigned,
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.state, State::Leader(_))
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
        self.log.end
    }

    /// The epoch of the last batch in the log.
    pub fn last_epoch(&self) -> Epoch {
        self.log.epochs.last_epoch()
    }

    /// The log is durable below this offset.
    pub fn persisted_end(&self) -> Offset {
        self.log.persisted_end
    }

    /// Offsets below this are committed; `None` until known in this incarnation.
    pub fn high_watermark(&self) -> Option<Offset> {
        self.high_watermark
    }

    /// The durable end each voter last acknowledged (a leader's view; empty otherwise).
    pub fn voter_ends(&self) -> BTreeMap<NodeId, Offset> {
        match &self.state {
            State::Leader(l) => l.acknowledged(),
            _ => BTreeMap::new(),
        }
    }
}

/// Sends `msg` to a voter or answers an inbound request.
fn reply_with(to: ReplyTo, msg: RaftMessage, out: &mut Vec<Action>) {
    out.push(match to {
        ReplyTo::Voter(to) => Action::Send { to, msg },
        ReplyTo::Inbound(id) => Action::Respond { id, msg },
    });
}

#[cfg(test)]
mod tests;
