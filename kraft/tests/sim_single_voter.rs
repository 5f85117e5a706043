//! Seeded simulation of the single-voter Raft core against a fake disk that writes, fsyncs
//! late, reports `Persisted` late and out of order, and crashes (losing whatever was not
//! fsynced), then heals. Invariants checked after every action:
//!
//! * `ElectionBeforeAppend`: every batch carries the epoch of the last persisted election.
//! * `AppendsContiguous`: batches land exactly at the end of the written log.
//! * `NothingCommittedBeforePersisted`: a `Committed { hw }` never exceeds the fsynced end.
//! * `MonotonicHighWatermark`: within an incarnation the high watermark only grows, and
//!   across crashes the committed prefix is never lost or rewritten.
//! * `EpochsIncrease`: each restart leads a strictly higher epoch.
//! * Convergence: after the fault phase, flushing everything commits the whole log, and the
//!   committed data batches decode and replay into a metadata image.
//!
//! Repro a failure with the seed it prints:
//! `SEED=<seed> cargo test -p kraft --test sim_single_voter -- single_voter`.

use std::collections::BTreeMap;

use kraft::raft::{
    Action, AppendBatch, BatchKind, DurableState, ElectionState, Input, RaftConfig, RaftCore,
    RaftError,
};
use kraft::raft::{EpochStarts, Millis, NodeId, Offset, QuorumStateVersion};
use metadata::{
    decode_batch, DecodedBatch, MetadataDelta, MetadataImage, MetadataRecord, MetadataRecordBody,
};
use protocol::messages::{ConfigRecord, NoOpRecord};
use protocol::records::Batch;

/// SplitMix64, so a seed reproduces the run on any platform and any crate version.
struct Rng(protocol::splitmix::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The fake `__cluster_metadata-0` plus `quorum-state`.
#[derive(Default)]
struct Disk {
    /// Written batches in offset order (page cache + disk).
    batches: Vec<AppendBatch>,
    /// Everything below this offset survived an fsync.
    durable_end: i64,
    quorum_state: Option<String>,
}

impl Disk {
    fn written_end(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.last_offset.0 + 1)
    }

    /// A crash: unsynced batches vanish.
    fn crash(&mut self) {
        let end = self.durable_end;
        self.batches.retain(|b| b.last_offset.0 < end);
    }

    fn durable_state(&self) -> DurableState {
        let election = match &self.quorum_state {
            Some(text) => {
                ElectionState::from_quorum_state_json(text)
                    .expect("we wrote it")
                    .0
            }
            None => ElectionState::default(),
        };
        DurableState {
            election,
            log_end_offset: Offset(self.written_end()),
            epoch_starts: EpochStarts::new(self.batches.iter().map(|b| (b.epoch, b.base_offset))),
        }
    }
}

struct Sim {
    rng: Rng,
    now: i64,
    disk: Disk,
    raft: RaftCore,
    /// Persisted reports in flight: (deliver at step, end).
    reports: Vec<(u64, i64)>,
    step: u64,
    hw: Option<i64>,
    max_committed: i64,
    /// Bytes of every batch that was ever committed, by base offset.
    committed: BTreeMap<i64, Vec<u8>>,
    persisted_epoch: i32,
    epochs_led: Vec<i32>,
    proposals: u64,
}

fn config() -> RaftConfig {
    RaftConfig::new(NodeId(1), [NodeId(1)])
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let disk = Disk::default();
        let raft = RaftCore::new(config(), disk.durable_state(), seed);
        Sim {
            rng: Rng(protocol::splitmix::SplitMix64::new(seed)),
            now: 0,
            disk,
            raft,
            reports: Vec::new(),
            step: 0,
            hw: None,
            max_committed: 0,
            committed: BTreeMap::new(),
            persisted_epoch: 0,
            epochs_led: Vec::new(),
            proposals: 0,
        }
    }

    fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::PersistElection(e) => {
                    // A candidate's vote, then its leadership, in the same epoch.
                    assert!(
                        e.epoch.0 >= self.persisted_epoch,
                        "EpochsIncrease: {} after {}",
                        e.epoch,
                        self.persisted_epoch
                    );
                    self.persisted_epoch = e.epoch.0;
                    self.disk.quorum_state = Some(e.to_quorum_state_json(QuorumStateVersion::V1));
                }
                Action::Append(b) => {
                    assert_eq!(
                        b.base_offset.0,
                        self.disk.written_end(),
                        "AppendsContiguous"
                    );
                    assert_eq!(b.epoch.0, self.persisted_epoch, "ElectionBeforeAppend");
                    let batch = Batch::from_bytes(b.bytes.clone()).expect("a whole batch");
                    assert_eq!(batch.header.base_offset, b.base_offset.0);
                    assert_eq!(batch.header.last_offset(), b.last_offset.0);
                    assert_eq!(batch.header.partition_leader_epoch, b.epoch.0);
                    assert_eq!(batch.header.is_control(), b.kind == BatchKind::Control);
                    self.disk.batches.push(b);
                }
                Action::Committed { high_watermark } => {
                    let high_watermark = high_watermark.0;
                    assert!(
                        high_watermark <= self.disk.durable_end,
                        "NothingCommittedBeforePersisted: hw {high_watermark} > durable {}",
                        self.disk.durable_end
                    );
                    assert!(
                        self.hw.is_none_or(|hw| hw < high_watermark),
                        "MonotonicHighWatermark: {:?} then {high_watermark}",
                        self.hw
                    );
                    self.hw = Some(high_watermark);
                    self.max_committed = self.max_committed.max(high_watermark);
                    for b in self
                        .disk
                        .batches
                        .iter()
                        .filter(|b| b.last_offset.0 < high_watermark)
                    {
                        let previous = self.committed.insert(b.base_offset.0, b.bytes.to_vec());
                        if let Some(previous) = previous {
                            assert_eq!(
                                previous,
                                b.bytes.to_vec(),
                                "a committed batch was rewritten at {}",
                                b.base_offset
                            );
                        }
                    }
                }
                Action::LeaderChanged { epoch, leader_id } => {
                    // `None` while it is a candidate for a moment.
                    if leader_id.is_some() {
                        assert_eq!(leader_id, Some(NodeId(1)));
                        self.epochs_led.push(epoch.0);
                    }
                }
                Action::Truncate { .. }
                | Action::Send { .. }
                | Action::SendAfterPersist { .. }
                | Action::Respond { .. }
                | Action::ReadLog { .. } => {
                    panic!("a single voter never truncates or talks to peers")
                }
            }
        }
    }

    fn input(&mut self, input: Input) -> Result<(), RaftError> {
        let mut out = Vec::new();
        let result = self.raft.step(Millis(self.now), input, &mut out);
        self.execute(out);
        result
    }

    fn records(&mut self) -> Vec<MetadataRecord> {
        let n = 1 + self.rng.below(4);
        (0..n)
            .map(|i| {
                if self.rng.chance(50) {
                    MetadataRecord::new(0, MetadataRecordBody::NoOp(NoOpRecord {}))
                } else {
                    MetadataRecord::new(
                        0,
                        MetadataRecordBody::Config(ConfigRecord {
                            resource_type: 4,
                            resource_name: String::new(),
                            name: format!("k{i}"),
                            value: Some(self.rng.next().to_string()),
                        }),
                    )
                }
            })
            .collect()
    }

    fn restart(&mut self) {
        self.disk.crash();
        assert!(
            self.disk.durable_end >= self.max_committed,
            "committed data lost in a crash"
        );
        self.reports.clear();
        self.hw = None;
        self.raft = RaftCore::new(config(), self.disk.durable_state(), self.rng.next());
        self.input(Input::Tick).expect("start");
    }

    fn run(&mut self, steps: u64) {
        self.input(Input::Tick).expect("start");
        for _ in 0..steps {
            self.step += 1;
            self.now += 1 + self.rng.below(10) as i64;
            match self.rng.below(100) {
                0..=39 => {
                    let records = self.records();
                    let before = self.raft.log_end_offset();
                    let mut out = Vec::new();
                    let at = self
                        .raft
                        .propose(Millis(self.now), &records, &mut out)
                        .expect("the sole voter leads");
                    self.execute(out);
                    assert_eq!(
                        (at.base_offset, at.last_offset),
                        (before, before.plus(records.len() as i64 - 1))
                    );
                    self.proposals += 1;
                }
                40..=59 => {
                    // fsync what is written; the report arrives later (maybe after others).
                    self.disk.durable_end = self.disk.written_end();
                    let delay = self.rng.below(8);
                    self.reports
                        .push((self.step + delay, self.disk.durable_end));
                }
                60..=84 => {
                    let due: Vec<_> = self
                        .reports
                        .iter()
                        .copied()
                        .filter(|(at, _)| *at <= self.step)
                        .collect();
                    self.reports.retain(|(at, _)| *at > self.step);
                    for (_, end) in due {
                        self.input(persisted(end))
                            .expect("reports never exceed the log");
                    }
                }
                85..=89 if !self.reports.is_empty() => {
                    // A report overtakes the others.
                    let i = self.rng.below(self.reports.len() as u64) as usize;
                    let (_, end) = self.reports.remove(i);
                    self.input(persisted(end))
                        .expect("reports never exceed the log");
                }
                90..=92 => self.restart(),
                _ => self.input(Input::Tick).expect("tick"),
            }
        }
        // Heal: flush and report everything.
        self.disk.durable_end = self.disk.written_end();
        let end = self.disk.durable_end;
        self.reports.clear();
        self.input(persisted(end)).expect("final report");
        assert_eq!(
            self.raft.high_watermark(),
            Some(self.raft.log_end_offset()),
            "Convergence"
        );
        assert!(
            self.epochs_led.windows(2).all(|w| w[0] < w[1]),
            "EpochsIncrease: {:?}",
            self.epochs_led
        );

        // The committed log decodes and replays.
        let mut delta = MetadataDelta::new(&MetadataImage::empty());
        let mut expected_offset = 0;
        for b in &self.disk.batches {
            assert_eq!(b.base_offset.0, expected_offset);
            expected_offset = b.last_offset.0 + 1;
            match decode_batch(&Batch::from_bytes(b.bytes.clone()).unwrap()).unwrap() {
                DecodedBatch::Data(batch) => assert!(delta.replay_batch(&batch).is_empty()),
                DecodedBatch::Control { .. } => assert_eq!(b.kind, BatchKind::Control),
            }
        }
        assert!(delta.image().provenance.last_contained_offset < expected_offset);
    }
}

fn persisted(end: i64) -> Input {
    Input::Persisted {
        end: Offset(end),
        generation: 0,
    }
}

struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("failed with seed {0}: SEED={0} cargo test -p kraft --test sim_single_voter -- single_voter", self.0);
        }
    }
}

#[test]
fn single_voter_commits_only_what_is_durable() {
    let seeds: Vec<u64> = match std::env::var("SEED") {
        Ok(s) => vec![s.parse().expect("SEED must be a u64")],
        Err(_) => (0..200).map(|i| 0x5eed_0000 + i).collect(),
    };
    let mut restarts = 0;
    for seed in seeds {
        let _report = SeedReport(seed);
        let mut sim = Sim::new(seed);
        sim.run(400);
        restarts += sim.epochs_led.len() - 1;
        assert!(sim.proposals > 0);
    }
    assert!(restarts > 0, "the fault phase should include crashes");
}

#[test]
fn persisted_beyond_the_log_is_an_io_bug_not_a_commit() {
    let mut sim = Sim::new(1);
    sim.input(Input::Tick).unwrap();
    let end = sim.raft.log_end_offset();
    let err = sim.input(persisted(end.0 + 5)).unwrap_err();
    assert!(matches!(err, RaftError::PersistedBeyondLogEnd { .. }));
    assert_eq!(sim.raft.high_watermark(), None);
}
