//! Targeted election scenarios on the `sim` crate, each over many seeds with Kafka's default
//! timeouts:
//!
//! * `NoDisruptionByRejoiningVoter`: a voter cut off from the quorum for 20 s comes back and
//!   the stable leader keeps its epoch (KIP-996 pre-vote); without pre-vote the same scenario
//!   bumps the epoch, which shows the check can fail.
//! * `GracefulResignIsFast`: a leader that resigns at shutdown (`Input::Resign`, then its
//!   process stops) is replaced within [`RESIGN_BOUND_MS`], where a hard kill waits for the
//!   2 s fetch timeout.
//!
//! Repro: `SEED=<seed> cargo test -p kraft --test sim_elections -- <test name>`.

#[path = "sim_support/raft_node.rs"]
mod raft_node;

use std::sync::atomic::{AtomicI64, Ordering};

use kraft::raft::{Epoch, Input, Millis, NodeId, RaftConfig, Role};
use metadata::{MetadataRecord, MetadataRecordBody};
use protocol::messages::NoOpRecord;
use raft_node::{RaftNode, Wire};
use sim::{Io, NetConfig, World};

/// Seeds per test in CI; `SIM_SEEDS` overrides.
const CI_SEEDS: u64 = 100;
/// A new leader after a graceful resign within this (issue target: 200 ms).
const RESIGN_BOUND_MS: i64 = 200;

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SEED") {
        return vec![seed.parse().expect("SEED is a number")];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    (0..n).collect()
}

fn run_seeds(test: &str, f: impl Fn(u64) + std::panic::RefUnwindSafe) {
    for seed in seeds() {
        if std::panic::catch_unwind(|| f(seed)).is_err() {
            panic!("failed with seed {seed}: SEED={seed} cargo test -p kraft --test sim_elections -- {test}");
        }
    }
}

struct Cluster {
    world: World<RaftNode>,
    voters: Vec<NodeId>,
}

impl Cluster {
    fn new(seed: u64, voters: usize, pre_vote: bool) -> Cluster {
        let ids: Vec<NodeId> = (1..=voters as i32).map(NodeId).collect();
        let mut world = World::new(seed, NetConfig::RELIABLE);
        for &id in &ids {
            let mut config = RaftConfig::new(id, ids.iter().copied());
            config.pre_vote = pre_vote;
            let node_seed = world.rng().next_u64();
            world.add(id, RaftNode::new(config, node_seed));
        }
        Cluster { world, voters: ids }
    }

    fn run_until(&mut self, until: Millis) {
        while self.world.step(until).is_some() {
            for (id, node, _) in self.world.nodes() {
                if let Some(v) = node.violations.first() {
                    panic!("node {id}: {v}");
                }
            }
        }
        self.world.advance_to(until);
    }

    fn run_for(&mut self, ms: i64) {
        let until = self.world.now().plus(ms);
        self.run_until(until);
    }

    /// The running leaders, with their epochs.
    fn leaders(&self) -> Vec<(NodeId, Epoch)> {
        self.world
            .nodes()
            .filter(|(_, _, up)| *up)
            .filter_map(|(id, n, _)| n.core().filter(|c| c.is_leader()).map(|c| (id, c.epoch())))
            .collect()
    }

    /// Runs until a leader has committed a proposal everywhere; returns it and its epoch.
    fn stable_leader(&mut self) -> (NodeId, Epoch) {
        self.run_for(10_000);
        let [(leader, epoch)] = self.leaders()[..] else {
            panic!("one leader expected, found {:?}", self.leaders());
        };
        let records = vec![MetadataRecord::new(
            0,
            MetadataRecordBody::NoOp(NoOpRecord {}),
        )];
        self.world
            .with_node(leader, |node, now, io: &mut Io<Wire>| {
                node.step(now, Input::Propose(records), io)
            });
        self.run_for(1_000);
        let end = self.world.node(leader).core().unwrap().log_end_offset();
        for &v in &self.voters {
            let hw = self.world.node(v).core().unwrap().high_watermark();
            assert_eq!(hw, Some(end), "node {v} has not committed the proposal");
        }
        (leader, epoch)
    }

    fn core_of(&self, id: NodeId) -> &kraft::raft::RaftCore {
        self.world.node(id).core().expect("running")
    }
}

/// A follower cut off for 20 s, then healed: returns the leaders' epochs seen afterwards and
/// the rejoined voter's state.
fn rejoin(seed: u64, pre_vote: bool) -> (NodeId, Epoch, Cluster, NodeId) {
    let mut c = Cluster::new(seed, 3, pre_vote);
    let (leader, epoch) = c.stable_leader();
    let away = *c.voters.iter().find(|&&v| v != leader).unwrap();
    let rest: Vec<NodeId> = c.voters.iter().copied().filter(|&v| v != away).collect();
    c.world.partition(&[vec![away], rest]);
    c.run_for(20_000);
    assert_eq!(
        c.leaders(),
        vec![(leader, epoch)],
        "the majority kept its leader"
    );
    c.world.heal();
    c.run_for(10_000);
    (leader, epoch, c, away)
}

#[test]
fn no_disruption_by_rejoining_voter() {
    run_seeds("no_disruption_by_rejoining_voter", |seed| {
        let (leader, epoch, c, away) = rejoin(seed, true);
        assert_eq!(
            c.leaders(),
            vec![(leader, epoch)],
            "NoDisruptionByRejoiningVoter: the leader of epoch {epoch} was displaced"
        );
        let rejoined = c.core_of(away);
        assert_eq!(
            rejoined.epoch(),
            epoch,
            "the rejoined voter bumped no epoch"
        );
        assert_eq!(rejoined.role(), Role::Follower);
        assert_eq!(rejoined.leader_id(), Some(leader));
        assert_eq!(
            rejoined.log_end_offset(),
            c.core_of(leader).log_end_offset(),
            "the rejoined voter caught up"
        );
    });
}

#[test]
fn without_pre_vote_a_rejoining_voter_forces_a_new_epoch() {
    // The check above is not vacuous: classic Raft lets the returning voter's inflated
    // epoch end the stable leader's.
    let (_, epoch, c, _) = rejoin(1, false);
    let epochs: Vec<Epoch> = c.voters.iter().map(|&v| c.core_of(v).epoch()).collect();
    assert!(
        epochs.iter().all(|&e| e > epoch),
        "{epochs:?} after {epoch}"
    );
}

fn graceful_resign(seed: u64, voters: usize) -> i64 {
    let mut c = Cluster::new(seed, voters, true);
    let (leader, epoch) = c.stable_leader();
    let start = c.world.now();
    c.world.with_node(leader, |node, now, io: &mut Io<Wire>| {
        node.step(now, Input::Resign, io)
    });
    assert_eq!(c.core_of(leader).role(), Role::Resigned);
    // The process stops right after sending EndQuorumEpoch.
    c.world.crash(leader);
    let deadline = start.plus(5_000);
    loop {
        if let Some(&(new, new_epoch)) = c.leaders().first() {
            assert_ne!(new, leader);
            assert!(new_epoch > epoch);
            return c.world.now().0 - start.0;
        }
        assert!(c.world.now() < deadline, "no leader 5 s after the resign");
        if c.world.step(deadline).is_none() {
            c.world.advance_to(deadline);
        }
    }
}

#[test]
fn graceful_resign_is_fast() {
    for voters in [3, 5] {
        let worst = AtomicI64::new(0);
        run_seeds("graceful_resign_is_fast", |seed| {
            let took = graceful_resign(seed, voters);
            assert!(
                took <= RESIGN_BOUND_MS,
                "GracefulResignIsFast: {voters} voters, new leader after {took} ms"
            );
            worst.fetch_max(took, Ordering::Relaxed);
        });
        eprintln!(
            "{voters} voters: a new leader at most {} ms after the resign",
            worst.into_inner()
        );
    }
}
