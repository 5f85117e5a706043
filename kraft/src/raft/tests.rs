//! Unit tests of the core's single-node edges; multi-node behaviour is covered by the
//! seeded simulations in `kraft/tests/sim_*.rs`.

use super::*;
use metadata::MetadataRecordBody;
use protocol::messages::NoOpRecord;

fn single(durable: DurableState) -> RaftCore {
    RaftCore::new(RaftConfig::new(NodeId(1), [NodeId(1)]), durable, 7)
}

fn noop() -> Vec<MetadataRecord> {
    vec![MetadataRecord::new(
        0,
        MetadataRecordBody::NoOp(NoOpRecord {}),
    )]
}

fn persisted(end: i64) -> Input {
    Input::Persisted {
        end: Offset(end),
        generation: 0,
    }
}

#[test]
fn single_voter_becomes_leader_and_commits_after_persist() {
    let mut raft = single(DurableState {
        election: ElectionState {
            epoch: Epoch(4),
            ..Default::default()
        },
        log_end_offset: Offset(10),
        epoch_starts: EpochStarts::new([(Epoch(3), Offset(0))]),
    });
    let mut out = Vec::new();
    assert_eq!(raft.deadline(), Millis::MIN);
    assert!(matches!(
        raft.propose(Millis(0), &noop(), &mut out),
        Err(RaftError::NotLeader { .. })
    ));
    raft.step(Millis(5), Input::Tick, &mut out).unwrap();
    // The vote for itself is durable first, then the leadership (votedId -1 in a leader's
    // file, as Kafka writes it).
    let elections: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::PersistElection(e) => Some((e.epoch, e.leader_id, e.voted_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        elections,
        vec![
            (Epoch(5), None, Some(NodeId(1))),
            (Epoch(5), Some(NodeId(1)), None)
        ]
    );
    let appends: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::Append(b) => Some((b.base_offset, b.last_offset, b.epoch, b.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        appends,
        vec![(Offset(10), Offset(10), Epoch(5), BatchKind::Control)]
    );
    assert_eq!(
        out.last(),
        Some(&Action::LeaderChanged {
            epoch: Epoch(5),
            leader_id: Some(NodeId(1))
        })
    );
    assert!(raft.is_leader());
    out.clear();

    let at = raft.propose(Millis(6), &noop(), &mut out).unwrap();
    assert_eq!(
        at,
        Appended {
            base_offset: Offset(11),
            last_offset: Offset(11),
            epoch: Epoch(5)
        }
    );
    out.clear();
    // Old-epoch data alone is never committed; the LEADER_CHANGE must be durable.
    raft.step(Millis(7), persisted(10), &mut out).unwrap();
    assert!(out.is_empty());
    raft.step(Millis(7), persisted(11), &mut out).unwrap();
    assert_eq!(
        out,
        vec![Action::Committed {
            high_watermark: Offset(11)
        }]
    );
    out.clear();
    raft.step(Millis(8), persisted(11), &mut out).unwrap();
    assert!(out.is_empty(), "a repeated report commits nothing new");
    assert!(matches!(
        raft.step(Millis(8), persisted(13), &mut out),
        Err(RaftError::PersistedBeyondLogEnd {
            end: Offset(13),
            log_end: Offset(12)
        })
    ));
    // A report measured before a truncation that never happened here is stale.
    raft.step(
        Millis(9),
        Input::Persisted {
            end: Offset(12),
            generation: 3,
        },
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty());
    raft.step(Millis(9), persisted(12), &mut out).unwrap();
    assert_eq!(
        out,
        vec![Action::Committed {
            high_watermark: Offset(12)
        }]
    );
    assert_eq!(raft.high_watermark(), Some(Offset(12)));
}

#[test]
fn a_voter_of_three_waits_its_election_timeout_then_asks_for_votes() {
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let mut config = RaftConfig::new(NodeId(1), voters);
    config.pre_vote = false;
    let mut raft = RaftCore::new(config, DurableState::default(), 42);
    let mut out = Vec::new();
    raft.step(Millis(0), Input::Tick, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(raft.role(), Role::Unattached);
    let deadline = raft.deadline();
    assert!(
        (Millis(1000)..Millis(2000)).contains(&deadline),
        "{deadline:?}"
    );
    assert_eq!(
        raft.propose(Millis(0), &noop(), &mut out)
            .unwrap_err()
            .error_code(),
        ErrorCode::NOT_CONTROLLER
    );
    raft.step(deadline, Input::Tick, &mut out).unwrap();
    assert_eq!(raft.role(), Role::Candidate);
    let asked: Vec<NodeId> = out
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                msg: RaftMessage::VoteRequest(_),
            } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![NodeId(2), NodeId(3)]);
    assert!(
        matches!(out[0], Action::PersistElection(_)),
        "vote durable first"
    );
}

#[test]
fn an_observer_never_stands_for_election() {
    let mut raft = RaftCore::new(
        RaftConfig::new(NodeId(9), [NodeId(1), NodeId(2), NodeId(3)]),
        DurableState::default(),
        1,
    );
    let mut out = Vec::new();
    raft.step(Millis(0), Input::Tick, &mut out).unwrap();
    assert_eq!(raft.role(), Role::Unattached);
    assert!(matches!(
        out.as_slice(),
        [Action::Send {
            msg: RaftMessage::FetchRequest(_),
            ..
        }]
    ));
}

#[test]
fn with_pre_vote_a_voter_asks_first_without_bumping_or_persisting_anything() {
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let durable = DurableState {
        election: ElectionState {
            epoch: Epoch(4),
            leader_id: Some(NodeId(2)),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut raft = RaftCore::new(RaftConfig::new(NodeId(1), voters), durable, 42);
    let mut out = Vec::new();
    raft.step(Millis(0), Input::Tick, &mut out).unwrap();
    assert_eq!(raft.role(), Role::Follower);
    // The leader stays silent past the fetch timeout.
    let timeout = Millis(RaftConfig::new(NodeId(1), voters).fetch_timeout_ms);
    out.clear();
    raft.step(timeout, Input::Tick, &mut out).unwrap();
    assert_eq!(raft.role(), Role::Prospective);
    assert_eq!(raft.epoch(), Epoch(4));
    assert!(!out.iter().any(|a| matches!(a, Action::PersistElection(_))));
    let pre_votes = out
        .iter()
        .filter(|a| {
            matches!(a, Action::Send { msg: RaftMessage::VoteRequest(r), .. }
                if r.pre_vote && r.candidate_epoch == Epoch(4))
        })
        .count();
    assert_eq!(pre_votes, 2);
    // One grant is a majority with our own: now the real election, in epoch 5.
    out.clear();
    let grant = RaftMessage::VoteResponse(message::VoteResponse {
        error: ErrorCode::NONE,
        leader_epoch: Epoch(4),
        leader_id: None,
        vote_granted: true,
    });
    raft.step(
        timeout.plus(1),
        Input::Received {
            from: NodeId(3),
            msg: grant,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(raft.role(), Role::Candidate);
    assert_eq!(raft.epoch(), Epoch(5));
    assert!(matches!(out[0], Action::PersistElection(_)));
}

#[test]
fn a_follower_that_hears_from_its_leader_refuses_pre_votes_and_persists_nothing() {
    let voters = [NodeId(1), NodeId(2), NodeId(3)];
    let durable = DurableState {
        election: ElectionState {
            epoch: Epoch(4),
            leader_id: Some(NodeId(2)),
            ..Default::default()
        },
        log_end_offset: Offset(1),
        epoch_starts: EpochStarts::new([(Epoch(4), Offset(0))]),
    };
    let mut raft = RaftCore::new(RaftConfig::new(NodeId(1), voters), durable, 42);
    let mut out = Vec::new();
    raft.step(Millis(0), Input::Tick, &mut out).unwrap();
    let fetched = RaftMessage::FetchResponse(FetchResponse {
        error: ErrorCode::NONE,
        leader_epoch: Epoch(4),
        leader_id: Some(NodeId(2)),
        high_watermark: Some(Offset(1)),
        diverging_epoch: None,
        records: Bytes::new(),
    });
    raft.step(
        Millis(1),
        Input::Received {
            from: NodeId(2),
            msg: fetched,
        },
        &mut out,
    )
    .unwrap();
    let pre_vote = |epoch| {
        RaftMessage::VoteRequest(message::VoteRequest {
            candidate_epoch: Epoch(epoch),
            candidate_id: NodeId(3),
            last_epoch: Epoch(4),
            last_offset: Offset(1),
            pre_vote: true,
        })
    };
    for epoch in [4, 5] {
        out.clear();
        raft.step(
            Millis(2),
            Input::Received {
                from: NodeId(3),
                msg: pre_vote(epoch),
            },
            &mut out,
        )
        .unwrap();
        let granted = out.iter().any(|a| {
            matches!(a, Action::Send { msg: RaftMessage::VoteResponse(r), .. } if r.vote_granted)
        });
        // Epoch 4: we hear from the leader. Epoch 5: a newer epoch ends our following, and
        // an unattached voter grants a pre-vote, still persisting no vote.
        assert_eq!(granted, epoch == 5, "epoch {epoch}");
        assert!(!out
            .iter()
            .any(|a| matches!(a, Action::PersistElection(e) if e.voted_id.is_some())));
    }
}
