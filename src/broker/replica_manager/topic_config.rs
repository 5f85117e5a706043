//! The `LogConfig` of a partition: the broker's `log.*` settings, overridden by the topic's
//! dynamic configs from the metadata image (`retention.ms`, `segment.bytes`, …).

use metadata::MetadataImage;
use storage::log::{CleanupPolicy, LogConfig};

use crate::config::{self, ServerConfig};

/// The settings of a partition that the log and the append path need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionConfig {
    pub(crate) log: LogConfig,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps batches on append.
    pub(crate) log_append_time: bool,
}

/// The broker-wide defaults every topic starts from.
pub(crate) fn partition_config_from(c: &ServerConfig) -> PartitionConfig {
    PartitionConfig {
        log: log_config_from(c),
        log_append_time: c.log_message_timestamp_type == config::TimestampType::LogAppendTime,
    }
}

fn log_config_from(c: &ServerConfig) -> LogConfig {
    let compact = c
        .log_cleanup_policy
        .contains(&config::CleanupPolicy::Compact);
    let delete = c
        .log_cleanup_policy
        .contains(&config::CleanupPolicy::Delete);
    LogConfig {
        segment_bytes: c.log_segment_bytes.max(0) as u32,
        segment_ms: c.log_roll_ms,
        retention_ms: c.log_retention_ms,
        retention_bytes: c.log_retention_bytes,
        index_interval_bytes: c.log_index_interval_bytes.max(0) as u32,
        segment_index_bytes: c.log_index_size_max_bytes.max(0) as u32,
        flush_interval_messages: c.log_flush_interval_messages,
        flush_ms: c.log_flush_interval_ms,
        max_message_bytes: c.message_max_bytes.max(0) as u32,
        cleanup_policy: cleanup_policy(compact, delete),
        delete_retention_ms: c.log_cleaner_delete_retention_ms,
        min_compaction_lag_ms: c.log_cleaner_min_compaction_lag_ms,
        max_compaction_lag_ms: c.log_cleaner_max_compaction_lag_ms,
        // `log.cleaner.min.cleanable.ratio` is a double the config table does not type yet:
        // Kafka's default, overridable per topic.
        min_cleanable_dirty_ratio: storage::log::MIN_CLEANABLE_DIRTY_RATIO_DEFAULT,
    }
}

fn cleanup_policy(compact: bool, delete: bool) -> CleanupPolicy {
    match (compact, delete) {
        (true, true) => CleanupPolicy::CompactDelete,
        (true, false) => CleanupPolicy::Compact,
        _ => CleanupPolicy::Delete,
    }
}

/// A `cleanup.policy` value: a comma-separated list of `compact` and `delete`.
fn parse_cleanup_policy(value: &str) -> CleanupPolicy {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    cleanup_policy(parts.contains(&"compact"), parts.contains(&"delete"))
}

/// `base` with the topic's overrides applied. Values were validated by the controller
/// before they were committed; one that still does not parse keeps the broker's value.
pub(crate) fn for_topic(
    base: &PartitionConfig,
    image: &MetadataImage,
    topic: &str,
) -> PartitionConfig {
    let mut out = base.clone();
    let Some(overrides) = image.configs.topic(topic) else {
        return out;
    };
    let c = &mut out.log;
    for (key, value) in overrides {
        let v = value.trim();
        match key.as_str() {
            "message.timestamp.type" => out.log_append_time = v == "LogAppendTime",
            "segment.bytes" => set(&mut c.segment_bytes, v),
            "segment.ms" => set(&mut c.segment_ms, v),
            "retention.ms" => set(&mut c.retention_ms, v),
            "retention.bytes" => set(&mut c.retention_bytes, v),
            "index.interval.bytes" => set(&mut c.index_interval_bytes, v),
            "segment.index.bytes" => set(&mut c.segment_index_bytes, v),
            "flush.messages" => set(&mut c.flush_interval_messages, v),
            "flush.ms" => set(&mut c.flush_ms, v),
            "max.message.bytes" => set(&mut c.max_message_bytes, v),
            "delete.retention.ms" => set(&mut c.delete_retention_ms, v),
            "min.compaction.lag.ms" => set(&mut c.min_compaction_lag_ms, v),
            "max.compaction.lag.ms" => set(&mut c.max_compaction_lag_ms, v),
            "min.cleanable.dirty.ratio" => set(&mut c.min_cleanable_dirty_ratio, v),
            "cleanup.policy" => c.cleanup_policy = parse_cleanup_policy(v),
            _ => {}
        }
    }
    out
}

fn set<T: std::str::FromStr>(field: &mut T, value: &str) {
    if let Ok(v) = value.parse() {
        *field = v;
    }
}
