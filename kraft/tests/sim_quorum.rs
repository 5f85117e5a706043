//! Seeded simulation of a multi-voter quorum (3 and 5 voters, plus an observer) on the `sim`
//! crate: a fault phase (crashes that lose unsynced writes, partitions, loss, duplication,
//! reordering) while a client proposes to whoever leads, then a heal phase that must elect a
//! leader and commit a new proposal on every node within [`HEAL_BOUND_MS`].
//!
//! Invariants, checked after every event:
//! * `SingleLeaderPerEpoch`: no two nodes lead the same epoch.
//! * `MonotonicHighWatermark`: within an incarnation a node's high watermark only grows.
//! * `CommittedPrefixAgreement`: every node's committed prefix equals the cluster's.
//! * `CommittedEntriesDurable`: the committed log is durable on a majority of voters.
//! * `VoteDurableBeforeGrant`: a granted vote leaves only once quorum-state records it.
//! * `FollowerAckDurable`: a voter's Fetch never claims an offset its disk has not synced.
//!
//! Repro: `SEED=<seed> cargo test -p kraft --test sim_quorum -- <test name>`; a soak:
//! `SIM_SEEDS=20000 cargo test --release -p kraft --test sim_quorum`.

#[path = "sim_support/raft_node.rs"]
mod raft_node;

use std::collections::BTreeMap;

use kraft::raft::{AppendBatch, Input, Millis, NodeId, Offset, RaftConfig};
use metadata::{MetadataRecord, MetadataRecordBody};
use protocol::messages::NoOpRecord;
use raft_node::{RaftNode, Wire};
use sim::{Io, NetConfig, World};

/// Simulated length of the fault phase.
const FAULT_MS: i64 = 30_000;
/// The heal phase must elect and commit within this.
const HEAL_BOUND_MS: i64 = 12_000;
/// Seeds per test in CI (two tests: 1,000 in all); `SIM_SEEDS` overrides.
const CI_SEEDS: u64 = 500;

const FAULTY: NetConfig = NetConfig {
    loss_percent: 5,
    duplicate_percent: 3,
    delay_min_ms: 1,
    delay_max_ms: 30,
};

struct Cluster {
    world: World<RaftNode>,
    voters: Vec<NodeId>,
    /// The committed log as first seen committed, batch by batch.
    committed: Vec<AppendBatch>,
    /// Per node: how many of its `commits` were checked.
    commits_seen: BTreeMap<NodeId, usize>,
    leaders: BTreeMap<i32, NodeId>,
    /// Crashed nodes and when they come back.
    restarts: Vec<(Millis, NodeId)>,
    heal_partition_at: Option<Millis>,
    /// Events run, for the summary.
    events: u64,
}

impl Cluster {
    fn new(seed: u64, voters: usize, observers: usize) -> Cluster {
        let voter_ids: Vec<NodeId> = (1..=voters as i32).map(NodeId).collect();
        let mut world = World::new(seed, FAULTY);
        let ids = voter_ids
            .iter()
            .copied()
            .chain((0..observers as i32).map(|i| NodeId(100 + i)));
        for id in ids.collect::<Vec<_>>() {
            let config = RaftConfig::new(id, voter_ids.iter().copied());
            let node_seed = world.rng().next_u64();
            world.add(id, RaftNode::new(config, node_seed));
        }
        Cluster {
            world,
            voters: voter_ids,
            committed: Vec::new(),
            commits_seen: BTreeMap::new(),
            leaders: BTreeMap::new(),
            restarts: Vec::new(),
            heal_partition_at: None,
            events: 0,
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.world
            .nodes()
            .filter(|(_, n, up)| *up && n.core().is_some_and(|c| c.is_leader()))
            .map(|(id, n, _)| (n.core().map(|c| c.epoch()), id))
            .max()
            .map(|(_, id)| id)
    }

    /// Proposes a NoOp batch to the current leader; returns the offset after it.
    fn propose(&mut self) -> Option<Offset> {
        let leader = self.leader()?;
        let records = vec![MetadataRecord::new(
            0,
            MetadataRecordBody::NoOp(NoOpRecord {}),
        )];
        self.world
            .with_node(leader, |node, now, io: &mut Io<Wire>| {
                node.step(now, Input::Propose(records), io);
                node.core().map(|c| c.log_end_offset())
            })
            .flatten()
    }

    fn check(&mut self) {
        let majority = self.voters.len() / 2 + 1;
        let mut new_commits = Vec::new();
        for (id, node, up) in self.world.nodes() {
            if let Some(v) = node.violations.first() {
                panic!("node {id}: {v}");
            }
            if !up {
                continue;
            }
            let core = node.core().expect("a running node has a core");
            if core.is_leader() {
                let leader = *self.leaders.entry(core.epoch().0).or_insert(id);
                assert_eq!(
                    leader,
                    id,
                    "SingleLeaderPerEpoch: {leader} and {id} both lead epoch {}",
                    core.epoch()
                );
            }
            let seen = self
                .commits_seen
                .get(&id)
                .copied()
                .unwrap_or(0)
                .min(node.commits.len());
            if seen < node.commits.len() {
                new_commits.push((id, seen));
            }
        }
        for (id, seen) in new_commits {
            let node = self.world.node(id);
            for i in seen..node.commits.len() {
                let hw = node.commits[i];
                if i > 0 {
                    assert!(
                        node.commits[i - 1] < hw,
                        "MonotonicHighWatermark: node {id} went from {} to {hw}",
                        node.commits[i - 1]
                    );
                }
                let prefix = node
                    .disk
                    .entries()
                    .iter()
                    .take_while(|b| b.last_offset < hw);
                for (j, batch) in prefix.enumerate() {
                    match self.committed.get(j) {
                        Some(c) => assert_eq!(
                            c, batch,
                            "CommittedPrefixAgreement: node {id} committed a different batch at {}",
                            batch.base_offset
                        ),
                        None => self.committed.push(batch.clone()),
                    }
                }
            }
            self.commits_seen.insert(id, node.commits.len());
        }
        if let Some(last) = self.committed.last() {
            let n = self.committed.len();
            let holding = self
                .voters
                .iter()
                .filter(|&&v| self.world.node(v).disk.durable().get(n - 1) == Some(last))
                .count();
            assert!(
                holding >= majority,
                "CommittedEntriesDurable: committed batch at {} durable on {holding} voters",
                last.base_offset
            );
        }
    }

    /// Runs events up to `until`, checking the invariants after each.
    fn run_until(&mut self, until: Millis) {
        while self.world.step(until).is_some() {
            self.events += 1;
            self.check();
        }
        self.world.advance_to(until);
    }

    fn inject_fault(&mut self) {
        let now = self.world.now();
        let all: Vec<NodeId> = self.world.nodes().map(|(id, _, _)| id).collect();
        let rng = self.world.rng();
        match rng.below(4) {
            0 => {
                let up: Vec<NodeId> = all
                    .iter()
                    .copied()
                    .filter(|&id| self.world.is_up(id))
                    .collect();
                let rng = self.world.rng();
                if let Some(victim) = rng.pick(&up) {
                    let back = now.plus(rng.between(100, 3_000));
                    self.world.crash(victim);
                    self.restarts.push((back, victim));
                }
            }
            1 => {
                let mut a = Vec::new();
                let mut b = Vec::new();
                for &id in &all {
                    if rng.chance(50) {
                        a.push(id)
                    } else {
                        b.push(id)
                    }
                }
                let heal = now.plus(rng.between(300, 4_000));
                self.world.partition(&[a, b]);
                self.heal_partition_at = Some(heal);
            }
            2 => {
                let from = rng.pick(&all).expect("nodes");
                let to = rng.pick(&all).expect("nodes");
                let heal = now.plus(rng.between(300, 2_000));
                self.world.cut_link(from, to);
                self.heal_partition_at = Some(heal);
            }
            _ => {
                let loss = rng.below(30) as u32;
                self.world.net.loss_percent = loss;
            }
        }
    }

    fn run(&mut self) {
        // Fault phase.
        let mut next_fault = Millis(self.world.rng().between(200, 1_000));
        let mut next_proposal = Millis(0);
        let fault_end = Millis(FAULT_MS);
        while self.world.now() < fault_end {
            let restart = self
                .restarts
                .iter()
                .map(|r| r.0)
                .min()
                .unwrap_or(Millis::MAX);
            let heal = self.heal_partition_at.unwrap_or(Millis::MAX);
            let until = next_fault
                .min(next_proposal)
                .min(restart)
                .min(heal)
                .min(fault_end);
            self.run_until(until);
            let now = self.world.now();
            if now >= next_proposal {
                self.propose();
                next_proposal = now.plus(self.world.rng().between(10, 150));
            }
            if now >= heal {
                self.world.heal();
                self.heal_partition_at = None;
            }
            let due: Vec<NodeId> = self
                .restarts
                .iter()
                .filter(|r| r.0 <= now)
                .map(|r| r.1)
                .collect();
            self.restarts.retain(|r| r.0 > now);
            for id in due {
                self.world.restart(id);
            }
            if now >= next_fault {
                self.inject_fault();
                next_fault = now.plus(self.world.rng().between(300, 3_000));
            }
            self.check();
        }

        // Heal phase: every node up, every link whole, no loss; a leader must be elected and
        // a new proposal committed everywhere within the bound.
        self.world.heal();
        self.world.net = NetConfig::RELIABLE;
        for (_, id) in std::mem::take(&mut self.restarts) {
            self.world.restart(id);
        }
        let healed = self.world.now();
        let deadline = healed.plus(HEAL_BOUND_MS);
        let mut target = None;
        while self.world.now() < deadline {
            let step_end = self.world.now().plus(50).min(deadline);
            self.run_until(step_end);
            // A proposal to a leader that then lost its epoch may be truncated: propose
            // again to each new leader.
            let epoch = self
                .leader()
                .and_then(|l| self.world.node(l).core().map(|c| c.epoch()));
            if epoch.is_some() && target.is_none_or(|(_, e)| Some(e) != epoch) {
                target = self.propose().zip(epoch);
            }
            if let Some((target, _)) = target {
                let everywhere = self.world.nodes().all(|(_, n, _)| {
                    n.core()
                        .and_then(|c| c.high_watermark())
                        .is_some_and(|hw| hw >= target)
                });
                if everywhere {
                    return;
                }
            }
        }
        let states: Vec<String> = self
            .world
            .nodes()
            .map(|(id, n, _)| {
                let c = n.core().expect("up");
                format!(
                    "{id}: {:?} epoch {} leader {:?} end {} hw {:?}",
                    c.role(),
                    c.epoch(),
                    c.leader_id(),
                    c.log_end_offset(),
                    c.high_watermark()
                )
            })
            .collect();
        panic!(
            "Liveness: {HEAL_BOUND_MS} ms after healing, proposal ending at {target:?} not committed everywhere: {states:#?}"
        );
    }
}

/// Prints the repro line if the seed's run panics.
struct SeedReport {
    seed: u64,
    test: &'static str,
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "failed with seed {0}: SEED={0} cargo test -p kraft --test sim_quorum -- {1}",
                self.seed, self.test
            );
        }
    }
}

fn seeds(base: u64) -> Vec<u64> {
    if let Ok(s) = std::env::var("SEED") {
        return vec![s.parse().expect("SEED must be a u64")];
    }
    let n = std::env::var("SIM_SEEDS")
        .map(|s| s.parse().expect("SIM_SEEDS must be a number"))
        .unwrap_or(CI_SEEDS);
    (0..n).map(|i| base + i).collect()
}

fn run_seeds(test: &'static str, base: u64, voters: usize, observers: usize) {
    let (mut epochs, mut committed, mut events) = (0, 0, 0);
    for seed in seeds(base) {
        let _report = SeedReport { seed, test };
        let mut cluster = Cluster::new(seed, voters, observers);
        cluster.run();
        epochs += cluster.leaders.len();
        committed += cluster.committed.len();
        events += cluster.events;
    }
    eprintln!("{test}: {epochs} epochs led, {committed} batches committed, {events} events");
    // The simulation must exercise what it claims to: many elections and commits.
    assert!(epochs > 0 && committed > 0);
}

#[test]
fn three_voters_survive_faults_then_converge() {
    run_seeds(
        "three_voters_survive_faults_then_converge",
        0x3000_0000,
        3,
        0,
    );
}

#[test]
fn five_voters_and_an_observer_survive_faults_then_converge() {
    run_seeds(
        "five_voters_and_an_observer_survive_faults_then_converge",
        0x5000_0000,
        5,
        1,
    );
}
