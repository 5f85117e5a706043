//! Elections (KIP-595 Vote, Raft §5.2): a voter whose timer fires becomes a candidate of the
//! next epoch, votes for itself durably, and asks the other voters; a majority of grants
//! makes it leader. A lost or timed-out election waits a randomised, exponentially growing
//! backoff (`controller.quorum.election.backoff.max.ms`) before the next one. Also the voter
//! side: whom to grant a vote, and only once that vote is durable.
//!
//! Pre-vote (KIP-996): with `RaftConfig::pre_vote` a voter first stands as a *prospective*
//! candidate in its current epoch, persisting nothing; only a majority of pre-vote grants
//! lets it bump the epoch. A voter that still hears from its leader refuses, so one returning
//! from a partition learns the leader instead of forcing an election. A voter answering
//! UNSUPPORTED_VERSION (no Vote v2) counts as granting: the real election then decides.

use std::collections::BTreeSet;

use protocol::ErrorCode;
use rand::Rng;

use super::message::{VoteRequest, VoteResponse};
use super::{Action, Epoch, Millis, NodeId, Offset, RaftCore, RaftError, RaftMessage, State};

/// A candidate's (or a prospective candidate's) volatile state.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    /// A prospective candidate, asking for pre-votes in the current epoch (KIP-996).
    pub(super) pre_vote: bool,
    pub(super) granted: BTreeSet<NodeId>,
    rejected: BTreeSet<NodeId>,
    /// Give up on this election at this time (then back off).
    election_deadline: Millis,
    /// Set once the election is lost or timed out: start the next one then.
    backoff_until: Option<Millis>,
    /// Elections lost in a row, for the exponential backoff.
    retries: u32,
}

impl Candidate {
    pub(super) fn deadline(&self) -> Millis {
        self.backoff_until.unwrap_or(self.election_deadline)
    }
}

impl RaftCore {
    /// The election timer fired: stand for election, first as a prospective candidate when
    /// pre-vote is on and other voters exist.
    pub(super) fn start_election(
        &mut self,
        now: Millis,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        let retries = match &self.state {
            State::Candidate(c) => c.retries + 1,
            _ => 0,
        };
        if self.config.pre_vote && self.config.majority() > 1 {
            self.become_prospective(now, retries, out);
            Ok(())
        } else {
            self.become_candidate(now, retries, out)
        }
    }

    /// KIP-996: ask for pre-votes in the current epoch; nothing is persisted, and the known
    /// leader (if any) stays on record until someone names a newer one.
    fn become_prospective(&mut self, now: Millis, retries: u32, out: &mut Vec<Action>) {
        self.leave_role(out);
        let me = self.config.node_id;
        let election_deadline = now.plus(self.random_election_timeout());
        self.state = State::Candidate(Candidate {
            pre_vote: true,
            granted: [me].into_iter().collect(),
            rejected: BTreeSet::new(),
            election_deadline,
            backoff_until: None,
            retries,
        });
        self.ask_for_votes(self.election.epoch, true, out);
    }

    fn ask_for_votes(&self, epoch: Epoch, pre_vote: bool, out: &mut Vec<Action>) {
        let me = self.config.node_id;
        let request = VoteRequest {
            candidate_epoch: epoch,
            candidate_id: me,
            last_epoch: self.log.epochs.last_epoch(),
            last_offset: self.log.end,
            pre_vote,
        };
        for &voter in self.config.voters.iter().filter(|&&v| v != me) {
            out.push(Action::Send {
                to: voter,
                msg: RaftMessage::VoteRequest(request.clone()),
            });
        }
    }

    /// Starts an election in the next epoch (Raft §5.2): the vote for ourselves is persisted
    /// before any VoteRequest goes out.
    pub(super) fn become_candidate(
        &mut self,
        now: Millis,
        retries: u32,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        self.leave_role(out);
        let me = self.config.node_id;
        let epoch = self.election.epoch.max(self.log.epochs.last_epoch()).next();
        self.persist_election(self.election_for(epoch, None, Some(me)), out);
        out.push(Action::LeaderChanged {
            epoch,
            leader_id: None,
        });
        let election_deadline = now.plus(self.random_election_timeout());
        self.state = State::Candidate(Candidate {
            pre_vote: false,
            granted: [me].into_iter().collect(),
            rejected: BTreeSet::new(),
            election_deadline,
            backoff_until: None,
            retries,
        });
        if self.config.majority() == 1 {
            return self.become_leader(now, out);
        }
        self.ask_for_votes(epoch, false, out);
        Ok(())
    }

    pub(super) fn candidate_tick(
        &mut self,
        now: Millis,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        let State::Candidate(c) = &self.state else {
            unreachable!("candidate_tick outside the candidate role");
        };
        match c.backoff_until {
            Some(at) if now >= at => self.start_election(now, out),
            None if now >= c.election_deadline => {
                self.start_backoff(now);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// KIP-595: after a failed election wait a random time below
    /// `min(retry_backoff × 2^retries, election_backoff_max)` before the next.
    fn start_backoff(&mut self, now: Millis) {
        let State::Candidate(c) = &self.state else {
            return;
        };
        if c.backoff_until.is_some() {
            return;
        }
        let exp = self
            .config
            .retry_backoff_ms
            .max(1)
            .saturating_mul(1i64 << c.retries.min(20));
        let cap = exp.min(self.config.election_backoff_max_ms).max(1);
        let wait = self.rng.gen_range(0..cap);
        if let State::Candidate(c) = &mut self.state {
            c.backoff_until = Some(now.plus(wait));
        }
    }

    /// Raft §5.2, §5.4.1: grant at most one vote per epoch, only to a candidate whose log is
    /// at least as up to date as ours, and only once the vote is durable (the
    /// `PersistElection` action precedes the response). A pre-vote binds nothing: it is
    /// granted to an up-to-date log unless we lead or still hear from our leader (KIP-996).
    pub(super) fn handle_vote_request(
        &mut self,
        now: Millis,
        from: NodeId,
        req: VoteRequest,
        out: &mut Vec<Action>,
    ) {
        let mut vote_granted = false;
        // Kafka `handleVoteRequest`: a candidate bumped its epoch past its log's; a
        // prospective candidate did not.
        let illegal_epoch = if req.pre_vote {
            req.last_epoch > req.candidate_epoch
        } else {
            req.last_epoch >= req.candidate_epoch
        };
        let error = if req.last_offset < Offset(0) || req.last_epoch.0 < 0 || illegal_epoch {
            ErrorCode::INVALID_REQUEST
        } else if req.candidate_epoch < self.election.epoch {
            ErrorCode::FENCED_LEADER_EPOCH
        } else if !self.is_voter() || req.candidate_id != from {
            ErrorCode::INCONSISTENT_VOTER_SET
        } else {
            if req.candidate_epoch > self.election.epoch {
                self.become_unattached(now, req.candidate_epoch, out);
            }
            let up_to_date =
                (req.last_epoch, req.last_offset) >= (self.log.epochs.last_epoch(), self.log.end);
            let e = &self.election;
            vote_granted = if req.pre_vote {
                up_to_date
                    && match &self.state {
                        State::Leader(_) => false,
                        State::Follower(f) => !f.hears_from_leader(),
                        _ => true,
                    }
            } else {
                match e.voted_id {
                    Some(voted) => voted == from,
                    None => {
                        e.leader_id.is_none()
                            && up_to_date
                            && matches!(self.state, State::Unattached { .. })
                    }
                }
            };
            if vote_granted && !req.pre_vote && e.voted_id.is_none() {
                let mut voted = e.clone();
                voted.voted_id = Some(from);
                self.persist_election(voted, out);
                // Having voted, give the candidate a full timeout to win (Raft §5.2).
                let deadline = now.plus(self.random_election_timeout());
                self.state = State::Unattached { deadline };
            }
            ErrorCode::NONE
        };
        out.push(Action::Send {
            to: from,
            msg: RaftMessage::VoteResponse(VoteResponse {
                error,
                leader_epoch: self.election.epoch,
                leader_id: self.known_leader(),
                vote_granted,
            }),
        });
    }

    pub(super) fn handle_vote_response(
        &mut self,
        now: Millis,
        from: NodeId,
        resp: VoteResponse,
        out: &mut Vec<Action>,
    ) -> Result<(), RaftError> {
        if !self.observe_epoch(now, from, resp.leader_epoch, resp.leader_id, out)
            || resp.leader_epoch != self.election.epoch
        {
            return Ok(()); // an answer about another epoch
        }
        let majority = self.config.majority();
        let voters = self.config.voters.len();
        let State::Candidate(c) = &mut self.state else {
            return Ok(()); // decided already
        };
        // A voter without Vote v2 cannot pre-vote: let the real election decide.
        let granted =
            resp.vote_granted || (c.pre_vote && resp.error == ErrorCode::UNSUPPORTED_VERSION);
        if resp.error != ErrorCode::NONE && !granted {
            return Ok(());
        }
        if granted {
            c.granted.insert(from);
            c.rejected.remove(&from);
        } else if !c.granted.contains(&from) {
            c.rejected.insert(from);
        }
        if c.granted.len() >= majority {
            if c.pre_vote {
                let retries = c.retries;
                return self.become_candidate(now, retries, out);
            }
            return self.become_leader(now, out);
        }
        if voters - c.rejected.len() < majority {
            self.start_backoff(now); // the election is lost
        }
        Ok(())
    }
}
