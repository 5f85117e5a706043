//! The leader (KIP-595 `LeaderState`): writes the LEADER_CHANGE batch of its epoch,
//! announces itself with BeginQuorumEpoch, appends proposals, answers Fetch from followers
//! and observers (long-polled up to [`FETCH_MAX_WAIT_MS`]), advances the high watermark to
//! the majority's durable end once it covers an entry of its own epoch (Raft §5.4.2), and
//! resigns when a majority stops fetching (check-quorum).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use metadata::MetadataRecord;
use protocol::ErrorCode;

use super::message::{
    BeginQuorumEpochRequest, EndQuorumEpochRequest, EpochResponse, FetchRequest, FetchResponse,
};
use super::{
    control, reply_with, Action, Appended, BatchKind, Millis, NodeId, Offset, RaftCore, RaftError,
    RaftMessage, ReplyTo, State, FETCH_MAX_WAIT_MS, PARKED_FETCHES_MAX, UNPERSISTED_BYTES_MAX,
};

/// A leader's volatile state.
#[derive(Debug, Clone)]
pub(super) struct Leader {
    /// The offset of this epoch's LEADER_CHANGE batch.
    epoch_start_offset: Offset,
    /// Per other voter: the durable end it last acknowledged by fetching.
    acknowledged: BTreeMap<NodeId, Offset>,
    /// Voters that have not yet answered BeginQuorumEpoch nor fetched in this epoch.
    unannounced: BTreeSet<NodeId>,
    announce_at: Millis,
    /// Fetches with nothing to return yet, answered on new data, a new high watermark, or
    /// their deadline.
    pub(super) parked: Vec<ParkedFetch>,
    /// Voters that fetched since the last check-quorum.
    fetched_since_check: BTreeSet<NodeId>,
    check_quorum_at: Millis,
}

/// A held Fetch.
#[derive(Debug, Clone)]
pub(super) struct ParkedFetch {
    pub(super) reply: ReplyTo,
    fetch_offset: Offset,
    max_bytes: u32,
    deadline: Millis,
}

impl Leader {
    pub(super) fn deadline(&self) -> Millis {
        let announce = if self.unannounced.is_empty() {
            Millis::MAX
        } else {
            self.announce_at
        };
        let parked = self.parked.iter().map(|p| p.deadline).min();
        self.check_quorum_at
            .min(announce)
            .min(parked.unwrap_or(Millis::MAX))
    }

    pub(super) fn acknowledged(&self) -> BTreeMap<NodeId, Offset> {
        self.acknowledged.clone()
    }
}

impl RaftCore {
    /// Won the election of the current epoch: persist it (`votedId` -1 in a leader's file, as
    /// Kafka writes it), append LEADER_CHANGE, and tell the voters.
    pub(super) fn become_leader(
        &mut self,
        now: Millis,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        let me = self.config.node_id;
        let epoch = self.election.epoch;
        let granting = match &self.state {
            State::Candidate(c) => c.granted.clone(),
            _ => unreachable!("only a candidate becomes leader"),
        };
        let batch = control::leader_change_batch(
            self.log.end,
            epoch,
            now,
            me,
            self.config.voters.iter().copied(),
            granting,
        )?;
        self.persist_election(self.election_for(epoch, Some(me), None), out);
        let others: BTreeSet<NodeId> = self
            .config
            .voters
            .iter()
            .copied()
            .filter(|&v| v != me)
            .collect();
        self.state = State::Leader(Leader {
            epoch_start_offset: self.log.end,
            acknowledged: BTreeMap::new(),
            unannounced: others.clone(),
            announce_at: now,
            parked: Vec::new(),
            fetched_since_check: BTreeSet::new(),
            check_quorum_at: self.check_quorum_deadline(now),
        });
        let at = Appended {
            base_offset: batch.header.base_offset.into(),
            last_offset: batch.header.last_offset().into(),
            epoch,
        };
        self.append(BatchKind::Control, at, batch.bytes, out);
        out.push(Action::LeaderChanged {
            epoch,
            leader_id: Some(me),
        });
        self.announce(now, out);
        Ok(())
    }

    fn check_quorum_deadline(&self, now: Millis) -> Millis {
        // Kafka `LeaderState`: 1.5 × fetch timeout without fetches from a majority.
        now.plus(self.config.fetch_timeout_ms.saturating_mul(3) / 2)
    }

    /// Sends BeginQuorumEpoch to the voters that have not acknowledged this epoch; resent
    /// every quarter election timeout, so a lost one does not let a voter time out.
    fn announce(&mut self, now: Millis, out: &mut Vec<Action>) {
        let me = self.config.node_id;
        let epoch = self.election.epoch;
        let resend = self.config.election_timeout_ms / 4;
        let State::Leader(l) = &mut self.state else {
            return;
        };
        for &to in &l.unannounced {
            out.push(Action::Send {
                to,
                msg: RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                    leader_id: me,
                    leader_epoch: epoch,
                }),
            });
        }
        l.announce_at = now.plus(resend.max(1));
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
                leader_id: self.known_leader(),
            });
        }
        if self.log.unpersisted_bytes >= UNPERSISTED_BYTES_MAX {
            return Err(RaftError::Backpressure {
                unpersisted_bytes: self.log.unpersisted_bytes,
                max: UNPERSISTED_BYTES_MAX,
            });
        }
        let epoch = self.election.epoch;
        let batch = metadata::encode_batch(self.log.end.0, epoch.0, now.0, records)?;
        let appended = Appended {
            base_offset: batch.header.base_offset.into(),
            last_offset: batch.header.last_offset().into(),
            epoch,
        };
        self.append(BatchKind::Data, appended, batch.bytes, out);
        self.answer_parked(|_| true, out);
        Ok(appended)
    }

    /// KIP-595 Fetch, on any role: only the leader of the fetcher's epoch serves it; anyone
    /// else answers with the epoch and leader it knows, so the fetcher can find the leader.
    pub(super) fn handle_fetch_request(
        &mut self,
        now: Millis,
        from: ReplyTo,
        req: FetchRequest,
        out: &mut Vec<Action>,
    ) {
        let epoch = self.election.epoch;
        let error = if req.current_leader_epoch < epoch {
            ErrorCode::FENCED_LEADER_EPOCH
        } else if req.current_leader_epoch > epoch {
            ErrorCode::UNKNOWN_LEADER_EPOCH
        } else if !self.is_leader() {
            ErrorCode::NOT_LEADER_OR_FOLLOWER
        } else if req.fetch_offset < Offset(0)
            || req.last_fetched_epoch.0 < 0
            || req.last_fetched_epoch > epoch
        {
            ErrorCode::INVALID_REQUEST
        } else {
            ErrorCode::NONE
        };
        if error != ErrorCode::NONE {
            let resp = self.fetch_error(error);
            reply_with(from, RaftMessage::FetchResponse(resp), out);
            return;
        }
        // KIP-595: the fetcher's last epoch must end at or after its fetch offset in our log,
        // else it truncates to where that epoch ends here and fetches again.
        let fresh = req.fetch_offset == Offset(0) && req.last_fetched_epoch.0 == 0;
        let end = self
            .log
            .epochs
            .end_offset_for(req.last_fetched_epoch, self.log.end);
        if !fresh && (end.epoch != req.last_fetched_epoch || end.end_offset < req.fetch_offset) {
            let mut resp = self.fetch_ok();
            resp.diverging_epoch = Some(end);
            reply_with(from, RaftMessage::FetchResponse(resp), out);
            return;
        }
        let hw_moved = match from {
            ReplyTo::Voter(id) if id != self.config.node_id => {
                self.acknowledge(id, req.fetch_offset);
                self.maybe_advance_high_watermark(out)
            }
            _ => false,
        };
        let fetch = ParkedFetch {
            reply: from,
            fetch_offset: req.fetch_offset,
            max_bytes: req.max_bytes,
            deadline: now.plus(FETCH_MAX_WAIT_MS),
        };
        if req.fetch_offset < self.log.end || hw_moved {
            self.answer_fetch(&fetch, out);
        } else {
            self.park(fetch, out);
        }
    }

    /// A voter's fetch offset is its acknowledgement: it sends a Fetch only once everything
    /// below that offset is durable (`SendAfterPersist`).
    fn acknowledge(&mut self, voter: NodeId, fetch_offset: Offset) {
        let State::Leader(l) = &mut self.state else {
            return;
        };
        l.acknowledged.insert(voter, fetch_offset);
        l.unannounced.remove(&voter);
        l.fetched_since_check.insert(voter);
    }

    fn park(&mut self, fetch: ParkedFetch, out: &mut Vec<Action>) {
        let State::Leader(l) = &mut self.state else {
            return;
        };
        if l.parked.len() >= PARKED_FETCHES_MAX {
            let oldest = l.parked.remove(0);
            self.answer_fetch(&oldest, out);
        }
        if let State::Leader(l) = &mut self.state {
            l.parked.push(fetch);
        }
    }

    /// Answers the parked fetches `which` selects.
    fn answer_parked(&mut self, which: impl Fn(&ParkedFetch) -> bool, out: &mut Vec<Action>) {
        let State::Leader(l) = &mut self.state else {
            return;
        };
        let (due, kept) = std::mem::take(&mut l.parked).into_iter().partition(which);
        l.parked = kept;
        let due: Vec<ParkedFetch> = due;
        for fetch in &due {
            self.answer_fetch(fetch, out);
        }
    }

    fn answer_fetch(&self, fetch: &ParkedFetch, out: &mut Vec<Action>) {
        let response = self.fetch_ok();
        if fetch.fetch_offset >= self.log.end {
            reply_with(fetch.reply, RaftMessage::FetchResponse(response), out);
        } else {
            out.push(Action::ReadLog {
                reply: fetch.reply,
                response,
                from: fetch.fetch_offset,
                max_bytes: fetch.max_bytes,
            });
        }
    }

    fn fetch_ok(&self) -> FetchResponse {
        FetchResponse {
            high_watermark: self.high_watermark,
            ..self.fetch_error(ErrorCode::NONE)
        }
    }

    pub(super) fn fetch_error(&self, error: ErrorCode) -> FetchResponse {
        FetchResponse {
            error,
            leader_epoch: self.election.epoch,
            leader_id: self.known_leader(),
            high_watermark: None,
            diverging_epoch: None,
            records: Bytes::new(),
        }
    }

    /// The majority's durable end, once it covers this epoch's LEADER_CHANGE (Raft §5.4.2:
    /// never commit by counting replicas of an older epoch's entries). Returns whether the
    /// high watermark moved.
    pub(super) fn maybe_advance_high_watermark(&mut self, out: &mut Vec<Action>) -> bool {
        let State::Leader(l) = &self.state else {
            return false;
        };
        let me = self.config.node_id;
        let mut ends: Vec<Offset> = self
            .config
            .voters
            .iter()
            .map(|v| {
                if *v == me {
                    self.log.persisted_end
                } else {
                    l.acknowledged.get(v).copied().unwrap_or_default()
                }
            })
            .collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let majority_end = ends[self.config.majority() - 1].min(self.log.end);
        if majority_end <= l.epoch_start_offset {
            return false;
        }
        if !self.commit_through(majority_end, out) {
            return false;
        }
        self.answer_parked(|_| true, out);
        true
    }

    pub(super) fn leader_tick(&mut self, now: Millis, out: &mut Vec<Action>) {
        self.answer_parked(|p| p.deadline <= now, out);
        let majority = self.config.majority();
        let State::Leader(l) = &mut self.state else {
            return;
        };
        if now >= l.check_quorum_at {
            if l.fetched_since_check.len() + 1 < majority {
                self.resign(now, out);
                return;
            }
            l.fetched_since_check.clear();
            l.check_quorum_at = now.plus(self.config.fetch_timeout_ms.saturating_mul(3) / 2);
        }
        if !l.unannounced.is_empty() && now >= l.announce_at {
            self.announce(now, out);
        }
    }

    /// Gives up the epoch (check-quorum failed, or `Input::Resign` at shutdown): tell the
    /// voters, most caught up first, so the best placed one stands at once and the others
    /// grant it their pre-votes (KIP-595 EndQuorumEpoch, Kafka's graceful shutdown).
    pub(super) fn resign(&mut self, now: Millis, out: &mut Vec<Action>) {
        let me = self.config.node_id;
        let State::Leader(l) = &self.state else {
            return;
        };
        let mut successors: Vec<(Offset, NodeId)> = self
            .config
            .voters
            .iter()
            .filter(|&&v| v != me)
            .map(|&id| (l.acknowledged.get(&id).copied().unwrap_or_default(), id))
            .collect();
        successors.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let request = EndQuorumEpochRequest {
            leader_id: me,
            leader_epoch: self.election.epoch,
            preferred_successors: successors.into_iter().map(|(_, id)| id).collect(),
        };
        self.leave_role(out);
        let election_deadline = now.plus(self.random_election_timeout());
        self.state = State::Resigned { election_deadline };
        out.push(Action::LeaderChanged {
            epoch: self.election.epoch,
            leader_id: None,
        });
        for &to in self.config.voters.iter().filter(|&&v| v != me) {
            out.push(Action::Send {
                to,
                msg: RaftMessage::EndQuorumEpochRequest(request.clone()),
            });
        }
    }

    pub(super) fn handle_begin_quorum_epoch_response(
        &mut self,
        now: Millis,
        from: NodeId,
        resp: EpochResponse,
        out: &mut Vec<Action>,
    ) {
        if !self.observe_epoch(now, from, resp.leader_epoch, resp.leader_id, out) {
            return;
        }
        if resp.error == ErrorCode::NONE && resp.leader_epoch == self.election.epoch {
            if let State::Leader(l) = &mut self.state {
                l.unannounced.remove(&from);
            }
        }
    }
}
