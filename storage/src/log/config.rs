//! `LogConfig`: the topic-level settings a partition log obeys, with Apache Kafka's names and
//! defaults (`server-common/.../ServerLogConfigs.java`, `storage/.../LogConfig.java`).
//!
//! Input: the broker's `server.properties` defaults overridden by topic configs; parsing lives
//! in the root crate, validation here.

use crate::error::{Error, Result};

/// `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// `delete` (default): time and size retention apply.
    Delete,
    /// `compact`: the log cleaner keeps the latest record per key; no time or size retention.
    Compact,
    /// `compact,delete`.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether retention by time and size deletes segments.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// Whether the log cleaner compacts the log.
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
}

/// Per-log settings. Field = Kafka topic key with `_` for `.`. (`PartialEq` only: the
/// dirty ratio is a float, as in Kafka.)
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this. Default 1 GiB.
    pub segment_bytes: u32,
    /// `segment.ms`: roll a non-empty segment this long after its first timestamp (or its
    /// creation). Default 7 days.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose largest timestamp is older; −1 = forever.
    /// Default 7 days.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; −1 = unlimited.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes between offset/time index entries. Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: preallocated size of each index of the active segment.
    /// Default 10 MiB.
    pub segment_index_bytes: u32,
    /// `flush.messages`: fsync after this many unflushed messages. Default `i64::MAX` (never;
    /// rely on replication and the OS).
    pub flush_interval_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this. Default `i64::MAX`.
    pub flush_ms: i64,
    /// `max.message.bytes`: largest batch accepted from a leader append. Default 1048588.
    pub max_message_bytes: u32,
    /// `cleanup.policy`. Default `delete`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long the cleaner keeps a tombstone after it first marked its
    /// batch with a delete horizon (KIP-534). Default 1 day.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a segment whose largest timestamp is younger than this is not
    /// compacted yet. Default 0.
    pub min_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean only when dirty bytes / cleanable bytes exceed this.
    /// Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `max.compaction.lag.ms`: a dirty segment whose first batch is older than this is
    /// cleaned whatever the dirty ratio. Default `i64::MAX` (never forced).
    pub max_compaction_lag_ms: i64,
}

/// Kafka's defaults.
pub const SEGMENT_BYTES_DEFAULT: u32 = 1 << 30;
pub const SEGMENT_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;
pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;
pub const RETENTION_BYTES_DEFAULT: i64 = -1;
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
pub const SEGMENT_INDEX_BYTES_DEFAULT: u32 = 10 * 1024 * 1024;
pub const MAX_MESSAGE_BYTES_DEFAULT: u32 = 1024 * 1024 + 12;
pub const DELETE_RETENTION_MS_DEFAULT: i64 = 24 * 60 * 60 * 1000;
pub const MIN_CLEANABLE_DIRTY_RATIO_DEFAULT: f64 = 0.5;
/// Kafka's lower bound for `segment.bytes` (`LEGACY_RECORD_OVERHEAD_V0`).
pub const SEGMENT_BYTES_MIN: u32 = 14;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: SEGMENT_MS_DEFAULT,
            retention_ms: RETENTION_MS_DEFAULT,
            retention_bytes: RETENTION_BYTES_DEFAULT,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            segment_index_bytes: SEGMENT_INDEX_BYTES_DEFAULT,
            flush_interval_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: MAX_MESSAGE_BYTES_DEFAULT,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: DELETE_RETENTION_MS_DEFAULT,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: MIN_CLEANABLE_DIRTY_RATIO_DEFAULT,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

impl LogConfig {
    /// Checks the ranges Kafka's `LogConfig` enforces. Errors name the key and the value.
    pub fn validate(&self) -> Result<()> {
        fn bad(key: &'static str, value: impl ToString, reason: &'static str) -> Result<()> {
            Err(Error::InvalidConfig {
                key,
                value: value.to_string(),
                reason,
            })
        }
        if self.segment_bytes < SEGMENT_BYTES_MIN || self.segment_bytes > i32::MAX as u32 {
            return bad(
                "segment.bytes",
                self.segment_bytes,
                "must be in [14, 2147483647]",
            );
        }
        if self.segment_ms < 1 {
            return bad("segment.ms", self.segment_ms, "must be at least 1");
        }
        if self.retention_ms < -1 {
            return bad(
                "retention.ms",
                self.retention_ms,
                "must be -1 (forever) or at least 0",
            );
        }
        if self.segment_index_bytes < 4 || self.segment_index_bytes > i32::MAX as u32 {
            return bad(
                "segment.index.bytes",
                self.segment_index_bytes,
                "must be in [4, 2147483647]",
            );
        }
        if self.index_interval_bytes > i32::MAX as u32 {
            return bad(
                "index.interval.bytes",
                self.index_interval_bytes,
                "must fit in int32",
            );
        }
        if self.flush_interval_messages < 1 {
            return bad(
                "flush.messages",
                self.flush_interval_messages,
                "must be at least 1",
            );
        }
        if self.flush_ms < 0 {
            return bad("flush.ms", self.flush_ms, "must be at least 0");
        }
        if self.delete_retention_ms < 0 {
            return bad(
                "delete.retention.ms",
                self.delete_retention_ms,
                "must be at least 0",
            );
        }
        if self.min_compaction_lag_ms < 0 {
            return bad(
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms,
                "must be at least 0",
            );
        }
        if self.max_compaction_lag_ms < 1 {
            return bad(
                "max.compaction.lag.ms",
                self.max_compaction_lag_ms,
                "must be at least 1",
            );
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad(
                "min.cleanable.dirty.ratio",
                self.min_cleanable_dirty_ratio,
                "must be in [0, 1]",
            );
        }
        if self.max_message_bytes > i32::MAX as u32 {
            return bad(
                "max.message.bytes",
                self.max_message_bytes,
                "must fit in int32",
            );
        }
        Ok(())
    }

    pub(crate) fn segment_config(&self) -> crate::segment::SegmentConfig {
        crate::segment::SegmentConfig {
            index_interval_bytes: u64::from(self.index_interval_bytes),
            max_index_bytes: u64::from(self.segment_index_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_key() {
        LogConfig::default().validate().unwrap();
        let err = LogConfig {
            segment_bytes: 3,
            ..LogConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("segment.bytes=3"), "{err}");
        let err = LogConfig {
            retention_ms: -2,
            ..LogConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("retention.ms"), "{err}");
    }
}
