//! Followers and observers (KIP-595 `FollowerState`): fetch from the leader, truncate where
//! the leader reports a `DivergingEpoch`, append what it returns, and take its high
//! watermark as far as their own log is durable. A voter whose leader goes quiet for
//! `fetch.timeout.ms` starts an election; an observer (not a voter) asks a random voter who
//! leads instead. BeginQuorumEpoch and EndQuorumEpoch from a leader land here too.

use protocol::records::batches;
use protocol::ErrorCode;
use rand::Rng;

use super::message::{BeginQuorumEpochRequest, EndQuorumEpochRequest, FetchRequest, FetchResponse};
use super::{
    Action, Appended, BatchKind, Epoch, Millis, NodeId, Offset, RaftCore, RaftError, RaftMessage,
    State, FETCH_BYTES_MAX,
};

/// A follower's (or a following observer's) volatile state.
#[derive(Debug, Clone)]
pub(super) struct Follower {
    leader: NodeId,
    /// No successful fetch until then: the leader is presumed gone.
    fetch_deadline: Millis,
    /// Send the next Fetch then (the one in flight went unanswered, or failed).
    next_fetch_at: Millis,
    /// The leader's high watermark, as last reported.
    leader_high_watermark: Option<Offset>,
    /// A fetch from the leader succeeded, and the leader has not resigned since: pre-votes
    /// are refused (KIP-996).
    heard_from_leader: bool,
    /// The leader resigned (EndQuorumEpoch): when the timer fires, stand at once without
    /// pre-vote, as a leadership transfer does (some voters may not have heard the news yet
    /// and would refuse a pre-vote; nothing is left to disrupt).
    leader_resigned: bool,
}

impl Follower {
    pub(super) fn hears_from_leader(&self) -> bool {
        self.heard_from_leader
    }

    pub(super) fn deadline(&self) -> Millis {
        self.fetch_deadline.min(self.next_fetch_at)
    }
}

impl RaftCore {
    /// A Fetch from our log end, as a follower sends to its leader and an observer to a voter
    /// (KIP-595: `LastFetchedEpoch` lets the leader find where our logs diverge).
    fn fetch_request(&self) -> RaftMessage {
        RaftMessage::FetchRequest(FetchRequest {
            replica_id: self.config.node_id,
            current_leader_epoch: self.election.epoch,
            fetch_offset: self.log.end,
            last_fetched_epoch: self.log.epochs.last_epoch(),
            max_bytes: FETCH_BYTES_MAX,
        })
    }

    /// Follows `leader` in `epoch` (≥ ours), persisting what we learned.
    pub(super) fn become_follower(
        &mut self,
        now: Millis,
        epoch: Epoch,
        leader: NodeId,
        out: &mut Vec<Action>,
    ) {
        assert_ne!(leader, self.config.node_id, "a node never follows itself");
        self.leave_role(out);
        // A vote in this epoch stays on record (Raft §5.2: one vote per epoch).
        let voted_id = self
            .election
            .voted_id
            .filter(|_| epoch == self.election.epoch);
        let election = self.election_for(epoch, Some(leader), voted_id);
        if election != self.election {
            self.persist_election(election, out);
        }
        out.push(Action::LeaderChanged {
            epoch,
            leader_id: Some(leader),
        });
        self.state = State::Follower(Follower {
            leader,
            fetch_deadline: now.plus(self.config.fetch_timeout_ms),
            next_fetch_at: now,
            leader_high_watermark: None,
            heard_from_leader: false,
            leader_resigned: false,
        });
        self.send_fetch(now, out);
    }

    /// The next Fetch from our log end. It goes only once our log is durable: its offset
    /// acknowledges everything below it (FollowerAckDurable).
    fn send_fetch(&mut self, now: Millis, out: &mut Vec<Action>) {
        let request_timeout = self.config.request_timeout_ms;
        let State::Follower(f) = &mut self.state else {
            return;
        };
        f.next_fetch_at = now.plus(request_timeout);
        out.push(Action::SendAfterPersist {
            to: f.leader,
            msg: self.fetch_request(),
        });
    }

    pub(super) fn follower_tick(
        &mut self,
        now: Millis,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        let State::Follower(f) = &self.state else {
            return Ok(());
        };
        if now >= f.fetch_deadline {
            if self.is_voter() {
                return if f.leader_resigned {
                    self.become_candidate(now, 0, out)
                } else {
                    self.start_election(now, out)
                };
            }
            self.become_unattached(now, self.election.epoch, out);
        } else if now >= f.next_fetch_at {
            self.send_fetch(now, out);
        }
        Ok(())
    }

    /// An observer without a leader asks a random voter; any answer names the epoch and, if
    /// known, the leader (a voter that is not the leader says NOT_LEADER_OR_FOLLOWER).
    pub(super) fn observer_discover(&mut self, now: Millis, out: &mut Vec<Action>) {
        let voters: Vec<NodeId> = self.config.voters.iter().copied().collect();
        if voters.is_empty() {
            self.state = State::Unattached {
                deadline: Millis::MAX,
            };
            return;
        }
        let to = voters[self.rng.gen_range(0..voters.len())];
        out.push(Action::Send {
            to,
            msg: self.fetch_request(),
        });
        self.state = State::Unattached {
            deadline: now.plus(self.config.request_timeout_ms),
        };
    }

    /// The answer to our latest Fetch (the io layer drops answers to older ones, as a
    /// request manager matching correlation ids does).
    pub(super) fn handle_fetch_response(
        &mut self,
        now: Millis,
        from: NodeId,
        resp: FetchResponse,
        out: &mut Vec<Action>,
    ) {
        if !self.observe_epoch(now, from, resp.leader_epoch, resp.leader_id, out)
            || resp.leader_epoch != self.election.epoch
        {
            return;
        }
        if let State::Unattached { deadline } = &mut self.state {
            if !self.config.voters.contains(&self.config.node_id) {
                // An observer still looking for the leader: ask again soon.
                *deadline = now.plus(self.config.retry_backoff_ms);
            }
            return;
        }
        let (fetch_timeout, retry_backoff) =
            (self.config.fetch_timeout_ms, self.config.retry_backoff_ms);
        let State::Follower(f) = &mut self.state else {
            return;
        };
        if f.leader != from {
            return;
        }
        if resp.error != ErrorCode::NONE {
            f.next_fetch_at = now.plus(retry_backoff);
            return;
        }
        f.fetch_deadline = now.plus(fetch_timeout);
        f.heard_from_leader = true;
        if let Some(diverging) = resp.diverging_epoch {
            // KIP-595: truncate to where the leader's copy of that epoch ends, or ours if
            // shorter, then fetch again with the new last epoch.
            let ours = self
                .log
                .epochs
                .end_offset_for(diverging.epoch, self.log.end);
            self.truncate(diverging.end_offset.min(ours.end_offset), out);
            self.send_fetch(now, out);
            return;
        }
        self.append_fetched(&resp, out);
        if let State::Follower(f) = &mut self.state {
            f.leader_high_watermark = f.leader_high_watermark.max(resp.high_watermark);
        }
        self.maybe_advance_follower_high_watermark(out);
        self.send_fetch(now, out);
    }

    /// Appends the answer's batches that continue our log. Batches that do not (a late
    /// duplicate) or that are corrupt end the append; the next Fetch asks again.
    fn append_fetched(&mut self, resp: &FetchResponse, out: &mut Vec<Action>) {
        for batch in batches(&resp.records) {
            let Ok(batch) = batch else { break };
            let h = &batch.header;
            let epoch = Epoch(h.partition_leader_epoch);
            if Offset(h.base_offset) != self.log.end
                || batch.verify_crc().is_err()
                || epoch > self.election.epoch
                || epoch < self.log.epochs.last_epoch()
            {
                break;
            }
            let kind = if h.is_control() {
                BatchKind::Control
            } else {
                BatchKind::Data
            };
            let at = Appended {
                base_offset: Offset(h.base_offset),
                last_offset: Offset(h.last_offset()),
                epoch,
            };
            self.append(kind, at, batch.bytes.clone(), out);
        }
    }

    /// A follower's high watermark: the leader's, as far as our own log is durable.
    pub(super) fn maybe_advance_follower_high_watermark(&mut self, out: &mut Vec<Action>) {
        let State::Follower(f) = &self.state else {
            return;
        };
        if let Some(leader_hw) = f.leader_high_watermark {
            let hw = leader_hw.min(self.log.persisted_end);
            if hw > Offset(0) {
                self.commit_through(hw, out);
            }
        }
    }

    /// Kafka `strictExponentialElectionBackoffMs`: the first preferred successor stands at
    /// once, the next ones after doubling shares of `election.backoff.max.ms`, anyone else
    /// after all of it.
    fn successor_backoff(&self, successors: &[NodeId], me: NodeId) -> i64 {
        let max = self.config.election_backoff_max_ms;
        match successors.iter().position(|&id| id == me) {
            Some(0) => 0,
            Some(rank) => {
                let base = max >> (successors.len() - 1).min(62);
                max.min(base.saturating_mul(1i64 << (rank - 1).min(62)))
            }
            None => max,
        }
    }

    pub(super) fn handle_begin_quorum_epoch(
        &mut self,
        now: Millis,
        from: NodeId,
        req: BeginQuorumEpochRequest,
        out: &mut Vec<Action>,
    ) {
        let error = if req.leader_id != from {
            ErrorCode::INVALID_REQUEST
        } else if self.observe_epoch(now, from, req.leader_epoch, Some(req.leader_id), out) {
            ErrorCode::NONE
        } else {
            ErrorCode::FENCED_LEADER_EPOCH
        };
        let resp = self.epoch_response(error);
        out.push(Action::Send {
            to: from,
            msg: RaftMessage::BeginQuorumEpochResponse(resp),
        });
    }

    pub(super) fn handle_end_quorum_epoch(
        &mut self,
        now: Millis,
        from: NodeId,
        req: EndQuorumEpochRequest,
        out: &mut Vec<Action>,
    ) {
        let error = if self.observe_epoch(now, from, req.leader_epoch, None, out) {
            ErrorCode::NONE
        } else {
            ErrorCode::FENCED_LEADER_EPOCH
        };
        let me = self.config.node_id;
        let backoff = self.successor_backoff(&req.preferred_successors, me);
        if let State::Follower(f) = &mut self.state {
            if f.leader == req.leader_id && req.leader_epoch == self.election.epoch {
                // The leader is gone: grant pre-votes, and stand after the backoff.
                f.heard_from_leader = false;
                f.leader_resigned = true;
                f.fetch_deadline = f.fetch_deadline.min(now.plus(backoff));
            }
        }
        let resp = self.epoch_response(error);
        out.push(Action::Send {
            to: from,
            msg: RaftMessage::EndQuorumEpochResponse(resp),
        });
    }
}
