//! `TopicPartition` and the `<topic>-<partition>` directory-name rules (`docs/formats.md` §2.2).
//!
//! Input comes from directory listings of a log dir and from checkpoint lines.

use std::fmt;

/// Longest legal topic name (Kafka `Topic.MAX_NAME_LENGTH`).
pub const TOPIC_NAME_LEN_MAX: usize = 249;

/// A topic name plus a partition index; displays as `<topic>-<partition>`, Kafka's directory
/// name for the partition's log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses `<topic>-<partition>`, splitting at the **last** `-` (topics may contain `-`
    /// and `.`). `None` unless the topic part is a legal topic name and the partition a
    /// non-negative int32.
    pub fn parse_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if !is_valid_topic(topic) || partition.is_empty() {
            return None;
        }
        // Kafka uses `String.toInt`, which accepts a leading '+'; we only accept digits, which
        // is what Kafka writes.
        if !partition.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        Some(TopicPartition::new(topic, partition))
    }
}

/// What a directory inside a log dir holds (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogDirKind {
    /// `<topic>-<partition>`: a live log.
    Live,
    /// `<topic>-<partition>.<32 hex>-delete`: deleted, to be removed.
    Delete,
    /// `<topic>-<partition>.<32 hex>-future`: a replica being moved between log dirs.
    Future,
    /// `<topic>-<partition>.<32 hex>-stray`: KRaft replica no longer assigned here.
    Stray,
}

impl LogDirKind {
    /// The directory-name suffix, `""` for a live log.
    pub fn suffix(self) -> &'static str {
        match self {
            LogDirKind::Live => "",
            LogDirKind::Delete => "-delete",
            LogDirKind::Future => "-future",
            LogDirKind::Stray => "-stray",
        }
    }
}

/// Parses a partition directory name, with or without a `.<id>-delete|future|stray` suffix
/// (Kafka `UnifiedLog.parseTopicPartitionName`). `None` if it is neither.
pub fn parse_log_dir_name(name: &str) -> Option<(TopicPartition, LogDirKind)> {
    for kind in [LogDirKind::Delete, LogDirKind::Future, LogDirKind::Stray] {
        if let Some(stem) = name.strip_suffix(kind.suffix()) {
            // `^(\S+)-(\S+)\.(\S+)-<suffix>$`: the id after the last '.' must be non-empty and
            // contain no whitespace.
            let (tp, id) = stem.rsplit_once('.')?;
            if id.is_empty() || id.chars().any(char::is_whitespace) {
                return None;
            }
            return TopicPartition::parse_dir_name(tp).map(|tp| (tp, kind));
        }
    }
    TopicPartition::parse_dir_name(name).map(|tp| (tp, LogDirKind::Live))
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Kafka's legal topic names: `[a-zA-Z0-9._-]{1,249}`, and not `.` or `..`.
pub fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= TOPIC_NAME_LEN_MAX
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names() {
        let tp = TopicPartition::parse_dir_name("my-topic.v2-17").unwrap();
        assert_eq!(tp, TopicPartition::new("my-topic.v2", 17));
        assert_eq!(tp.to_string(), "my-topic.v2-17");
        assert_eq!(
            TopicPartition::parse_dir_name("__consumer_offsets-49"),
            Some(TopicPartition::new("__consumer_offsets", 49))
        );
        assert_eq!(
            parse_log_dir_name("a.b-c-3.0123456789abcdef0123456789abcdef-delete"),
            Some((TopicPartition::new("a.b-c", 3), LogDirKind::Delete))
        );
        assert_eq!(
            parse_log_dir_name("t-0.x-future"),
            Some((TopicPartition::new("t", 0), LogDirKind::Future))
        );
        assert_eq!(parse_log_dir_name("t-0-stray"), None);
        assert_eq!(
            TopicPartition::parse_dir_name("t--1"),
            Some(TopicPartition::new("t-", 1))
        );
        assert_eq!(
            parse_log_dir_name("t-0"),
            Some((TopicPartition::new("t", 0), LogDirKind::Live))
        );
        for bad in [
            "",
            "-1",
            "t-",
            "t",
            "t-x",
            "t-+1",
            "a b-0",
            "t-99999999999",
            "..-0",
        ] {
            assert_eq!(TopicPartition::parse_dir_name(bad), None, "{bad}");
        }
    }
}
