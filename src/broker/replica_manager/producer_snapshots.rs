//! A partition's idempotent producer state together with its `<offset>.snapshot` files
//! (`docs/formats.md` §9.2; Kafka `UnifiedLog.rebuildProducerState/roll/close`,
//! `ProducerStateManager.takeSnapshot/truncateAndReload`): loaded at log open from the latest
//! valid snapshot plus a replay of the batch headers after it, snapshotted at every segment
//! roll and at clean close, and pruned as the log start offset moves.
//!
//! Runs on the blocking threads, under the partition's log lock, except the fsync of roll
//! snapshots, which `maintain` hands back to run after the lock is released (Kafka flushes
//! them on its scheduler, outside the log's lock). A snapshot that cannot be written is
//! logged and skipped: the in-memory state stays right, and the next load falls back to an
//! older snapshot and a longer replay.

use std::path::PathBuf;

use protocol::{records, ErrorCode};
use storage::log::{AppendInfo, FirstBatch, PartitionLog};
use storage::producer_snapshot::{self, SnapshotFiles, SnapshotSync};
use storage::TopicPartition;

use crate::broker::producer_state::{ProducerBatch, ProducerExpiry, ProducerState, Verdict};

/// Read size of the replay at load.
const REPLAY_READ_BYTES: u64 = 1 << 20;
/// Without any snapshot, how many of the log's last segments are replayed (see
/// `PartitionProducers::load`).
const FALLBACK_REPLAY_SEGMENTS: usize = 2;

/// The producer state of one partition and the bookkeeping of its snapshot files.
#[derive(Debug)]
pub(crate) struct PartitionProducers {
    state: ProducerState,
    /// Offset of the latest snapshot written or loaded (Kafka `lastSnapOffset`): a new one is
    /// written only above it.
    last_snapshot: i64,
    /// Base of the active segment when last seen: an append that lands elsewhere rolled.
    active_segment: i64,
    /// Log start offset when last seen: snapshots at or below a new one are deleted.
    log_start_offset: i64,
    /// Roll snapshots written without fsync, synced by the next `maintain`.
    unsynced: Vec<PathBuf>,
}

impl PartitionProducers {
    /// Loads the producer state of `log` (Kafka `LogLoader` + `rebuildProducerState`):
    /// removes stray and out-of-range snapshots, loads the latest valid one at or below the
    /// log end offset, replays the batch headers from there to the log end, and snapshots the
    /// result at the log end offset. Blocking.
    pub(crate) fn load(log: &PartitionLog, expiry: ProducerExpiry, now: i64) -> Self {
        let tp = log.topic_partition();
        let dir = log.dir();
        let bases = log.segment_base_offsets();
        let start = log.log_start_offset();
        let end = log.log_end_offset();
        // Kafka `LogLoader`: stray snapshots first, then `truncateAndReload`'s out-of-range
        // ones, then the latest valid one.
        // A directory `create` just made holds no snapshot: nothing to list.
        let loaded = if log.created_empty() {
            Ok(None)
        } else {
            SnapshotFiles::list(dir).and_then(|mut files| {
                files.remove_stray(&bases)?;
                files.delete_above(end)?;
                files.delete_at_or_below(start)?;
                files.load_latest(end)
            })
        };
        let loaded = loaded.unwrap_or_else(|e| {
            tracing::warn!(%tp, "cannot read producer snapshots, replaying the log: {e}");
            None
        });
        let (state, replay_from, last_snapshot) = match loaded {
            Some(s) => {
                tracing::debug!(%tp, file = %s.path.display(), "loading producer state");
                let state = ProducerState::from_snapshot(&s.entries, expiry, now);
                (state, s.offset, s.offset)
            }
            // No snapshot: a data dir written before kraftbridge kept snapshots (or one whose
            // snapshots were all corrupt or below the log start). Kafka would write empty
            // snapshots after a clean shutdown, dropping every producer, or replay the whole
            // log otherwise; we replay the last segments as kraftbridge always did, so an
            // upgrade keeps recent producers without an unbounded scan at start-up.
            None => {
                let from = bases
                    .len()
                    .checked_sub(FALLBACK_REPLAY_SEGMENTS)
                    .and_then(|i| bases.get(i).copied())
                    .unwrap_or(start)
                    .max(start);
                (ProducerState::new(expiry, now), from, start)
            }
        };
        let mut me = Self {
            state,
            last_snapshot,
            active_segment: log.log_end_offset_metadata().segment_base_offset,
            log_start_offset: start,
            unsynced: Vec::new(),
        };
        me.replay(log, replay_from, &bases);
        me.snapshot(log, end, SnapshotSync::Now);
        me
    }

    /// Records the batch headers of `log` in `[from, log end)`. As Kafka, it snapshots at the
    /// bases of the last two segments it crosses, so that the next load replays less.
    fn replay(&mut self, log: &PartitionLog, from: i64, bases: &[i64]) {
        let end = log.log_end_offset();
        let mut snapshot_at: Vec<i64> = bases
            .iter()
            .rev()
            .take(2)
            .rev()
            .copied()
            .filter(|&b| b > from)
            .collect();
        let mut offset = from;
        while offset < end {
            let bytes = match log.read(offset, REPLAY_READ_BYTES, end, FirstBatch::AlwaysWhole) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => break,
                Err(e) => {
                    let tp = log.topic_partition();
                    tracing::warn!(%tp, offset, "producer state replay stopped: {e}");
                    break;
                }
            };
            let before = offset;
            for batch in records::batches(&bytes) {
                let Ok(batch) = batch else { break };
                let h = &batch.header;
                while let Some(&at) = snapshot_at.first().filter(|&&at| h.base_offset >= at) {
                    self.snapshot(log, at, SnapshotSync::Now);
                    snapshot_at.remove(0);
                }
                let last = h.base_offset + i64::from(h.last_offset_delta);
                if let Some(b) = ProducerBatch::from_header(h) {
                    self.state.record(&b, h.base_offset, last);
                }
                offset = offset.max(last + 1);
            }
            if offset == before {
                break;
            }
        }
    }

    /// Writes the state as the snapshot at `offset` if that is above the latest one (Kafka
    /// `takeSnapshot`: never twice at one offset, never at 0).
    fn snapshot(&mut self, log: &PartitionLog, offset: i64, sync: SnapshotSync) {
        if offset <= self.last_snapshot {
            return;
        }
        match producer_snapshot::write(log.dir(), offset, &self.state.to_snapshot(), sync) {
            Ok(path) => {
                self.last_snapshot = offset;
                if sync == SnapshotSync::Deferred {
                    self.unsynced.push(path);
                }
            }
            Err(e) => {
                tracing::warn!(tp = %log.topic_partition(), "cannot write producer snapshot: {e}")
            }
        }
    }

    /// Checks a client's batch (see [`ProducerState::check`]).
    pub(crate) fn check(&self, b: &ProducerBatch) -> Result<Verdict, ErrorCode> {
        self.state.check(b)
    }

    /// After a successful append: if it rolled a new segment, snapshots the state as it was
    /// before this batch, named after the new segment's base (Kafka `UnifiedLog.roll`, also
    /// without producers, fsync deferred); then records the batch.
    pub(crate) fn on_append(
        &mut self,
        log: &PartitionLog,
        batch: Option<&ProducerBatch>,
        info: &AppendInfo,
    ) {
        let segment = info.position.segment_base_offset;
        if segment != self.active_segment {
            self.active_segment = segment;
            self.snapshot(log, segment, SnapshotSync::Deferred);
        }
        if let Some(b) = batch {
            self.state.record(b, info.first_offset, info.last_offset);
        }
    }

    /// Periodic work, after retention: snapshots a roll that retention made (it keeps one
    /// empty segment at the log end), deletes snapshots at or below a moved log start offset
    /// (retention, DeleteRecords), and expires idle producers when the check is due. Returns
    /// the roll snapshots still to fsync, for the caller to do once it released the log.
    pub(crate) fn maintain(&mut self, log: &PartitionLog, now: i64) -> UnsyncedSnapshots {
        let tp = log.topic_partition();
        let unsynced = UnsyncedSnapshots(std::mem::take(&mut self.unsynced));
        let active = log.log_end_offset_metadata().segment_base_offset;
        if active != self.active_segment {
            self.active_segment = active;
            self.snapshot(log, active, SnapshotSync::Now);
        }
        let start = log.log_start_offset();
        if start > self.log_start_offset {
            self.log_start_offset = start;
            // Kafka `onLogStartOffsetIncremented`: the latest remaining snapshot, or the log
            // start offset, is what the next one must exceed.
            self.last_snapshot = self.last_snapshot.max(start);
            let deleted =
                SnapshotFiles::list(log.dir()).and_then(|mut f| f.delete_at_or_below(start));
            if let Err(e) = deleted {
                tracing::warn!(%tp, "cannot delete producer snapshots: {e}");
            }
        }
        let expired = self.state.maybe_remove_expired(now);
        if expired > 0 {
            tracing::info!(%tp, expired, "expired idle producer ids");
        }
        unsynced
    }

    /// At clean close: the snapshot at the log end offset (fsynced), so the next start loads
    /// it without replaying (Kafka `UnifiedLog.close`).
    pub(crate) fn close(&mut self, log: &PartitionLog) {
        UnsyncedSnapshots(std::mem::take(&mut self.unsynced)).sync(log.topic_partition());
        self.snapshot(log, log.log_end_offset(), SnapshotSync::Now);
    }
}

/// Roll snapshots written without fsync (Kafka `UnifiedLog.roll` defers it too).
#[derive(Debug)]
#[must_use = "the snapshots must be fsynced"]
pub(crate) struct UnsyncedSnapshots(Vec<PathBuf>);

impl UnsyncedSnapshots {
    /// Fsyncs them; one deleted meanwhile (retention) is skipped. Needs no lock.
    pub(crate) fn sync(self, tp: &TopicPartition) {
        for path in self.0 {
            if let Err(e) = producer_snapshot::sync(&path) {
                tracing::warn!(%tp, "cannot fsync producer snapshot: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use protocol::records::{BatchBuilder, BatchHeader, Compression};
    use storage::log::LogConfig;
    use storage::producer_snapshot::snapshot_path;

    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const EXPIRY: ProducerExpiry = ProducerExpiry {
        expiration_ms: 86_400_000,
        check_interval_ms: 600_000,
    };
    const A: i64 = 1;
    const B: i64 = 2;

    /// A log whose segments hold about three of this module's batches.
    fn log_in(tmp: &tempfile::TempDir) -> PartitionLog {
        let config = LogConfig {
            segment_bytes: 600,
            index_interval_bytes: 64,
            segment_index_bytes: 1024,
            ..LogConfig::default()
        };
        PartitionLog::create(&tmp.path().join("t-0"), None, config, T0).unwrap()
    }

    fn batch(pid: i64, seq: i32) -> (Vec<u8>, ProducerBatch) {
        let mut b = BatchBuilder::new(Compression::None).producer(pid, 0, seq);
        for _ in 0..2 {
            b.append(T0, None, Some(&[b'v'; 60]), &[]).unwrap();
        }
        let bytes = b.build().unwrap().bytes.to_vec();
        let header = BatchHeader::parse(&bytes).unwrap();
        (bytes, ProducerBatch::from_header(&header).unwrap())
    }

    /// Appends as `ReplicaManager::append_one` does; returns the first offset.
    fn append(log: &mut PartitionLog, p: &mut PartitionProducers, pid: i64, seq: i32) -> i64 {
        let (mut bytes, b) = batch(pid, seq);
        assert_eq!(p.check(&b), Ok(Verdict::Append));
        let info = log.append_as_leader(&mut bytes, 0, T0).unwrap();
        p.on_append(log, Some(&b), &info);
        info.first_offset
    }

    fn snapshots(dir: &Path) -> Vec<i64> {
        SnapshotFiles::list(dir).unwrap().offsets().collect()
    }

    /// A's batch at offset 0, then B's until the log has rolled at least 4 times.
    fn written(tmp: &tempfile::TempDir) -> (PartitionLog, PartitionProducers) {
        let mut log = log_in(tmp);
        let mut p = PartitionProducers::load(&log, EXPIRY, T0);
        assert_eq!(append(&mut log, &mut p, A, 0), 0);
        let mut seq = 0;
        while log.segment_base_offsets().len() < 5 {
            append(&mut log, &mut p, B, seq);
            seq += 2;
        }
        (log, p)
    }

    /// B's batches follow A's at offset 0: B's batch k is at offset 2 + 2k with sequence 2k.
    fn b_last_seq(log_end_offset: i64) -> i32 {
        (log_end_offset - 4) as i32
    }

    fn is_duplicate_at(p: &PartitionProducers, pid: i64, seq: i32, offset: i64) -> bool {
        matches!(p.check(&batch(pid, seq).1), Ok(Verdict::Duplicate { first_offset, .. })
            if first_offset == offset)
    }

    #[test]
    fn every_roll_writes_a_snapshot_of_the_state_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, _p) = written(&tmp);
        let bases = log.segment_base_offsets();
        assert_eq!(snapshots(log.dir()), bases[1..].to_vec());
        let first_roll = producer_snapshot::read(&snapshot_path(log.dir(), bases[1])).unwrap();
        assert!(first_roll.iter().all(|e| e.last_offset < bases[1]));
        assert_eq!(first_roll[0].producer_id, A);
    }

    #[test]
    fn close_then_load_uses_the_log_end_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, mut p) = written(&tmp);
        p.close(&log);
        let end = log.log_end_offset();
        assert_eq!(snapshots(log.dir()).last(), Some(&end));
        let p = PartitionProducers::load(&log, EXPIRY, T0);
        assert!(is_duplicate_at(&p, A, 0, 0));
        assert!(
            !is_duplicate_at(&p, B, 0, 2),
            "only B's last batch survives a snapshot"
        );
        assert!(is_duplicate_at(&p, B, b_last_seq(end), end - 2));
        assert_eq!(p.last_snapshot, end);
    }

    #[test]
    fn after_a_crash_the_roll_snapshot_plus_replay_restores_old_producers() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, p) = written(&tmp);
        drop(p); // no close: no snapshot at the log end
        let end = log.log_end_offset();
        let p = PartitionProducers::load(&log, EXPIRY, T0);
        // A wrote only before the last two segments: known through the snapshots.
        assert!(is_duplicate_at(&p, A, 0, 0));
        assert!(is_duplicate_at(&p, B, b_last_seq(end), end - 2));
        // Loading wrote the log-end snapshot.
        assert_eq!(snapshots(log.dir()).last(), Some(&end));
    }

    #[test]
    fn a_corrupt_snapshot_falls_back_to_an_older_one_and_a_longer_replay() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, p) = written(&tmp);
        drop(p);
        let latest = *snapshots(log.dir()).last().unwrap();
        std::fs::write(snapshot_path(log.dir(), latest), b"\x00\x01\x00").unwrap();
        let p = PartitionProducers::load(&log, EXPIRY, T0);
        assert!(is_duplicate_at(&p, A, 0, 0));
    }

    #[test]
    fn without_snapshots_the_last_two_segments_are_replayed() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, p) = written(&tmp);
        drop(p);
        for o in snapshots(log.dir()) {
            std::fs::remove_file(snapshot_path(log.dir(), o)).unwrap();
        }
        let p = PartitionProducers::load(&log, EXPIRY, T0);
        // A is older than the last two segments: unknown, as before snapshots existed.
        assert_eq!(p.check(&batch(A, 17).1), Ok(Verdict::Append));
        let end = log.log_end_offset();
        assert!(is_duplicate_at(&p, B, b_last_seq(end), end - 2));
        assert_eq!(
            p.check(&batch(B, 99).1),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // The replay snapshotted at the last segment base it crossed, and at the log end.
        let last_base = *log.segment_base_offsets().last().unwrap();
        assert_eq!(snapshots(log.dir()), vec![last_base, end]);
    }

    #[test]
    fn load_removes_stray_and_out_of_range_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, p) = written(&tmp);
        drop(p);
        let bases = log.segment_base_offsets();
        let end = log.log_end_offset();
        let entries = [];
        for o in [bases[1] + 1, end + 10] {
            producer_snapshot::write(log.dir(), o, &entries, SnapshotSync::Now).unwrap();
        }
        PartitionProducers::load(&log, EXPIRY, T0);
        let mut want = bases[1..].to_vec();
        want.push(end);
        assert_eq!(snapshots(log.dir()), want);
    }

    #[test]
    fn a_moved_log_start_offset_deletes_the_snapshots_at_or_below_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut log, mut p) = written(&tmp);
        let bases = log.segment_base_offsets();
        let (_, deleted) = log.delete_records_before(bases[2]).unwrap();
        deleted.remove().unwrap();
        let unsynced = p.maintain(&log, T0);
        assert_eq!(snapshots(log.dir()), bases[3..].to_vec());
        assert!(
            p.unsynced.is_empty() && !unsynced.0.is_empty(),
            "maintain hands the roll snapshots over to fsync"
        );
        // Those deleted meanwhile are skipped.
        unsynced.sync(log.topic_partition());
    }
}
