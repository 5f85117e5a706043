//! Which metadata snapshots and `__cluster_metadata` segments may be deleted, by
//! `metadata.max.retention.bytes` and `metadata.max.retention.ms` (Kafka 3.9
//! `KafkaMetadataLog.maybeClean`, `cleanSnapshots`, `deleteBeforeSnapshot`). Pure: the caller
//! lists the files, asks [`plan`], then deletes what it says and moves the log start offset.
//!
//! The rules, as Kafka applies them:
//! - Snapshots are visited oldest first, in pairs (a snapshot and the next one). When the
//!   older one breaks a limit, the log start offset moves up to the newer one's end offset:
//!   every snapshot older than the newer one goes, and every segment that lies wholly below
//!   the new log start offset (its successor's base offset is at or below it) goes. The first
//!   snapshot that breaks no limit stops the pass. So the latest snapshot is never deleted,
//!   the active (last) segment is never deleted, and no record above the latest snapshot is
//!   ever dropped.
//! - Size: while the log's segments plus the snapshots still counted exceed the limit, the
//!   oldest snapshot is dropped from the count and cleaned.
//! - Time: a snapshot whose last contained record was appended more than the limit ago is
//!   cleaned.
//! - Size first, then time; a negative limit disables its rule.

use super::SnapshotId;

/// The two retention keys; a negative value is unlimited, as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `metadata.max.retention.bytes` (default 100 MiB).
    pub max_retention_bytes: i64,
    /// `metadata.max.retention.ms` (default 7 days).
    pub max_retention_ms: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_retention_bytes: 100 * 1024 * 1024,
            max_retention_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// What retention needs to know about one complete snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub id: SnapshotId,
    pub size_bytes: u64,
    /// The header's `LastContainedLogTimestamp` ([`super::SnapshotReader`]).
    pub last_contained_log_timestamp_ms: i64,
}

/// One segment of the metadata log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    pub base_offset: i64,
    pub size_bytes: u64,
}

/// What to delete, and where the log now starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CleanPlan {
    /// The new log start offset (unchanged when nothing is cleaned).
    pub log_start_offset: i64,
    /// Base offsets of the segments to delete, oldest first.
    pub delete_segments: Vec<i64>,
    /// Snapshots to delete, oldest first.
    pub delete_snapshots: Vec<SnapshotId>,
}

impl CleanPlan {
    pub fn is_empty(&self) -> bool {
        self.delete_segments.is_empty() && self.delete_snapshots.is_empty()
    }
}

/// The retention pass at `now_ms` over the log's `segments` (in offset order, the last one
/// active) and its complete `snapshots` (any order).
pub fn plan(
    now_ms: i64,
    config: RetentionConfig,
    log_start_offset: i64,
    segments: &[SegmentMeta],
    snapshots: &[SnapshotMeta],
) -> CleanPlan {
    let mut snapshots = snapshots.to_vec();
    snapshots.sort_by_key(|s| s.id);
    let mut state = State {
        plan: CleanPlan {
            log_start_offset,
            ..CleanPlan::default()
        },
        segments: segments.to_vec(),
        snapshots,
    };
    if let Ok(limit) = u64::try_from(config.max_retention_bytes) {
        let mut counted: u64 = state.snapshots.iter().map(|s| s.size_bytes).sum();
        state.clean(|snapshot, log_bytes| {
            if log_bytes.saturating_add(counted) > limit {
                counted -= snapshot.size_bytes;
                true
            } else {
                false
            }
        });
    }
    if config.max_retention_ms >= 0 {
        state.clean(|snapshot, _| {
            now_ms.saturating_sub(snapshot.last_contained_log_timestamp_ms)
                > config.max_retention_ms
        });
    }
    state.plan
}

struct State {
    plan: CleanPlan,
    /// Segments not deleted yet.
    segments: Vec<SegmentMeta>,
    /// Snapshots not deleted yet, oldest first.
    snapshots: Vec<SnapshotMeta>,
}

impl State {
    fn log_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size_bytes).sum()
    }

    /// Kafka's `cleanSnapshots`: over the pairs of the snapshots present when it starts.
    fn clean(&mut self, mut breaks_limit: impl FnMut(&SnapshotMeta, u64) -> bool) {
        let pairs = self.snapshots.clone();
        for pair in pairs.windows(2) {
            if !breaks_limit(&pair[0], self.log_bytes()) || !self.delete_before(pair[1].id) {
                return;
            }
        }
    }

    /// Kafka's `deleteBeforeSnapshot`: moves the log start offset up to `id`, then deletes
    /// the segments wholly below it and the snapshots older than `id`. False when the log
    /// already starts there (nothing to do, and the pass stops).
    fn delete_before(&mut self, id: SnapshotId) -> bool {
        if self.plan.log_start_offset >= id.end_offset {
            return false;
        }
        self.plan.log_start_offset = id.end_offset;
        while self.segments.len() > 1 && self.segments[1].base_offset <= id.end_offset {
            let gone = self.segments.remove(0);
            self.plan.delete_segments.push(gone.base_offset);
        }
        while self.snapshots.first().is_some_and(|s| s.id < id) {
            let gone = self.snapshots.remove(0);
            self.plan.delete_snapshots.push(gone.id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(end_offset: i64, size_bytes: u64, ts: i64) -> SnapshotMeta {
        SnapshotMeta {
            id: SnapshotId {
                end_offset,
                epoch: 1,
            },
            size_bytes,
            last_contained_log_timestamp_ms: ts,
        }
    }

    fn seg(base_offset: i64, size_bytes: u64) -> SegmentMeta {
        SegmentMeta {
            base_offset,
            size_bytes,
        }
    }

    fn id(end_offset: i64) -> SnapshotId {
        SnapshotId {
            end_offset,
            epoch: 1,
        }
    }

    const UNLIMITED: RetentionConfig = RetentionConfig {
        max_retention_bytes: -1,
        max_retention_ms: -1,
    };

    #[test]
    fn nothing_goes_within_the_limits_or_with_one_snapshot() {
        let segments = [seg(0, 100), seg(100, 100), seg(200, 10)];
        let snapshots = [snap(150, 50, 0), snap(250, 50, 0)];
        assert!(plan(10, RetentionConfig::default(), 0, &segments, &snapshots).is_empty());
        assert!(plan(i64::MAX, UNLIMITED, 0, &segments, &snapshots).is_empty());
        // One snapshot is never deleted, however old or large.
        let tight = RetentionConfig {
            max_retention_bytes: 0,
            max_retention_ms: 0,
        };
        let p = plan(1_000, tight, 0, &segments, &snapshots[..1]);
        assert!(p.is_empty());
        assert_eq!(p.log_start_offset, 0);
    }

    #[test]
    fn time_cleans_old_snapshots_and_the_segments_below_the_next() {
        let segments = [seg(0, 100), seg(100, 100), seg(200, 100), seg(300, 10)];
        let snapshots = [
            snap(250, 5, 2_000),
            snap(120, 5, 1_000),
            snap(310, 5, 3_000),
        ];
        let config = RetentionConfig {
            max_retention_bytes: -1,
            max_retention_ms: 1_500,
        };
        // At 3_000 only the snapshot at 120 (age 2_000) is too old: the log moves to 250.
        let p = plan(3_000, config, 0, &segments, &snapshots);
        assert_eq!(
            p,
            CleanPlan {
                log_start_offset: 250,
                delete_segments: vec![0, 100],
                delete_snapshots: vec![id(120)],
            }
        );
        // Much later both older snapshots are too old; the latest stays, and so does the
        // segment holding the records after it.
        let p = plan(100_000, config, 0, &segments, &snapshots);
        assert_eq!(p.log_start_offset, 310);
        assert_eq!(p.delete_segments, vec![0, 100, 200]);
        assert_eq!(p.delete_snapshots, vec![id(120), id(250)]);
    }

    #[test]
    fn size_counts_the_log_and_the_snapshots() {
        let segments = [seg(0, 400), seg(100, 400), seg(200, 100)];
        let snapshots = [snap(100, 50, 0), snap(200, 50, 0), snap(250, 50, 0)];
        let config = |bytes| RetentionConfig {
            max_retention_bytes: bytes,
            max_retention_ms: -1,
        };
        // 900 + 150 = 1050 ≤ 1050: nothing.
        assert!(plan(0, config(1_050), 0, &segments, &snapshots).is_empty());
        // Over by one: the oldest snapshot goes and the log starts at 200, which frees the
        // first two segments; then 100 + 100 fits.
        let p = plan(0, config(1_049), 0, &segments, &snapshots);
        assert_eq!(p.log_start_offset, 200);
        assert_eq!(p.delete_segments, vec![0, 100]);
        assert_eq!(p.delete_snapshots, vec![id(100)]);
        // A limit nothing can meet cleans up to the latest snapshot and stops there.
        let p = plan(0, config(0), 0, &segments, &snapshots);
        assert_eq!(p.log_start_offset, 250);
        assert_eq!(p.delete_snapshots, vec![id(100), id(200)]);
        assert_eq!(p.delete_segments, vec![0, 100]);
    }

    #[test]
    fn a_log_already_past_the_next_snapshot_stops_the_pass() {
        let segments = [seg(300, 10)];
        let snapshots = [snap(100, 5, 0), snap(200, 5, 0), snap(300, 5, 0)];
        let config = RetentionConfig {
            max_retention_bytes: 0,
            max_retention_ms: -1,
        };
        // Kafka's deleteBeforeSnapshot refuses to move the start offset backwards.
        assert!(plan(0, config, 300, &segments, &snapshots).is_empty());
    }
}
