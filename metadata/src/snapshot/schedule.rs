//! When to take a metadata snapshot (Kafka 3.9 `SnapshotGenerator`): after
//! `metadata.log.max.record.bytes.between.snapshots` bytes of committed batches have been
//! replayed since the last snapshot, or, on the next committed batch, once
//! `metadata.log.max.snapshot.interval.ms` has passed since it (0 disables the time rule).
//!
//! Sans-I/O: the metadata thread reports each committed batch it publishes, with its size and
//! the time, and starts writing a snapshot of the published image when told to. Loading a
//! snapshot counts as having taken one. While a snapshot is still being written no new one
//! is asked for, and the counters keep running, so the next batch after it finishes asks
//! again if a limit is still passed.

use std::fmt;

/// The two generation keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// `metadata.log.max.record.bytes.between.snapshots` (default 20 MiB, at least 1).
    pub max_bytes_between_snapshots: u64,
    /// `metadata.log.max.snapshot.interval.ms` (default 1 hour); 0 disables the time rule.
    pub max_interval_ms: i64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            max_bytes_between_snapshots: 20 * 1024 * 1024,
            max_interval_ms: 60 * 60 * 1000,
        }
    }
}

/// Whether a snapshot is being written right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    Idle,
    Busy,
}

/// Why a snapshot is due, worded as Kafka logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotReason {
    Bytes { max_bytes: u64 },
    Interval { max_interval_ms: i64 },
}

impl fmt::Display for SnapshotReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotReason::Bytes { max_bytes } => {
                write!(f, "we have replayed at least {max_bytes} bytes")
            }
            SnapshotReason::Interval { max_interval_ms } => write!(
                f,
                "we have waited at least {} minute(s)",
                max_interval_ms / 60_000
            ),
        }
    }
}

/// The counters since the last snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotSchedule {
    config: ScheduleConfig,
    bytes_since_last: u64,
    last_snapshot_ms: i64,
}

impl SnapshotSchedule {
    /// Counting from `now_ms` (start-up counts as a snapshot, as in Kafka).
    pub fn new(config: ScheduleConfig, now_ms: i64) -> SnapshotSchedule {
        SnapshotSchedule {
            config,
            bytes_since_last: 0,
            last_snapshot_ms: now_ms,
        }
    }

    /// A snapshot was loaded (at start-up, or from FetchSnapshot): start counting again.
    pub fn snapshot_loaded(&mut self, now_ms: i64) {
        self.reset(now_ms);
    }

    /// A committed batch of `bytes` was replayed at `now_ms`. `Some(reason)` when a snapshot
    /// of the image that now results should be taken; the counters restart then.
    pub fn committed(
        &mut self,
        bytes: u64,
        now_ms: i64,
        generator: Generator,
    ) -> Option<SnapshotReason> {
        self.bytes_since_last = self.bytes_since_last.saturating_add(bytes);
        let interval = self.config.max_interval_ms;
        let reason = if self.bytes_since_last >= self.config.max_bytes_between_snapshots {
            SnapshotReason::Bytes {
                max_bytes: self.config.max_bytes_between_snapshots,
            }
        } else if interval > 0 && now_ms.saturating_sub(self.last_snapshot_ms) >= interval {
            SnapshotReason::Interval {
                max_interval_ms: interval,
            }
        } else {
            return None;
        };
        if generator == Generator::Busy {
            return None;
        }
        self.reset(now_ms);
        Some(reason)
    }

    fn reset(&mut self, now_ms: i64) {
        self.bytes_since_last = 0;
        self.last_snapshot_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: ScheduleConfig = ScheduleConfig {
        max_bytes_between_snapshots: 1_000,
        max_interval_ms: 60_000,
    };

    #[test]
    fn bytes_trigger_and_restart_the_count() {
        let mut s = SnapshotSchedule::new(CONFIG, 0);
        assert_eq!(s.committed(600, 1, Generator::Idle), None);
        let due = s.committed(400, 2, Generator::Idle);
        assert_eq!(due, Some(SnapshotReason::Bytes { max_bytes: 1_000 }));
        assert_eq!(
            due.unwrap().to_string(),
            "we have replayed at least 1000 bytes"
        );
        assert_eq!(s.committed(999, 3, Generator::Idle), None);
        assert!(s.committed(1, 4, Generator::Idle).is_some());
    }

    #[test]
    fn time_triggers_only_on_a_committed_batch() {
        let mut s = SnapshotSchedule::new(CONFIG, 1_000);
        assert_eq!(s.committed(1, 60_999, Generator::Idle), None);
        let due = s.committed(1, 61_000, Generator::Idle);
        assert_eq!(
            due,
            Some(SnapshotReason::Interval {
                max_interval_ms: 60_000
            })
        );
        assert_eq!(
            due.unwrap().to_string(),
            "we have waited at least 1 minute(s)"
        );
        assert_eq!(s.committed(1, 61_001, Generator::Idle), None);
        // 0 disables the time rule.
        let mut s = SnapshotSchedule::new(
            ScheduleConfig {
                max_interval_ms: 0,
                ..CONFIG
            },
            0,
        );
        assert_eq!(s.committed(1, i64::MAX, Generator::Idle), None);
    }

    #[test]
    fn a_busy_generator_defers_and_a_loaded_snapshot_resets() {
        let mut s = SnapshotSchedule::new(CONFIG, 0);
        assert_eq!(s.committed(5_000, 1, Generator::Busy), None);
        // Still due once the writer is idle; the bytes were not forgotten.
        assert!(s.committed(0, 2, Generator::Idle).is_some());
        s.committed(900, 3, Generator::Idle);
        s.snapshot_loaded(4);
        assert_eq!(s.committed(900, 5, Generator::Idle), None);
        assert_eq!(s.committed(0, 60_003, Generator::Idle), None);
        assert!(s.committed(0, 60_004, Generator::Idle).is_some());
    }
}
