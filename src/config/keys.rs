//! The table of broker configuration keys kraftbridge understands: Apache Kafka's names, types,
//! defaults and value validators (Kafka `KafkaConfig`/`ServerLogConfigs`/`KRaftConfigs`
//! `ConfigDef`s, 3.x), plus the Kafka keys we accept without acting on them.
//!
//! One table drives three things: type-checking every supplied value before start-up, the typed
//! getters that build [`super::ServerConfig`], and the DescribeConfigs view
//! ([`super::ServerConfig::broker_config_entries`]). Defaults are written the way Kafka's
//! `ConfigDef.convertToString` shows them, because DescribeConfigs returns exactly that text.
//!
//! The rule: **no key is accepted silently while doing nothing.** Every key is in exactly one
//! of three places:
//!
//! - [`KEYS`] and not [`NO_EFFECT_KEYS`]: implemented. Its value lands in a
//!   [`super::ServerConfig`] field that code outside the config module reads.
//! - [`KEYS`] and [`NO_EFFECT_KEYS`]: typed and validated like Kafka's (a bad value still
//!   stops start-up, DescribeConfigs shows it), but nothing acts on it yet.
//! - [`IGNORED_KEYS`] / [`IGNORED_PREFIXES`]: Kafka keys we neither type nor act on.
//!
//! Keys of the last two kinds are logged at start-up by name, one line each, when they are set
//! ([`no_effect_message`]), so a Kafka `server.properties` starts and the operator is told
//! what it does not do. The coverage test in `config.rs` (`every_key_is_read_or_says_it_is_not`)
//! enforces the split by reading the source tree: an implemented key must have a reader
//! outside the config module's own tests, and a no-effect key must not.

/// How a value is parsed. Names follow Kafka's `ConfigDef.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigType {
    Bool,
    /// Java `int` (32-bit).
    Int,
    /// Java `short` (16-bit).
    Short,
    /// Java `long` (64-bit).
    Long,
    String,
    /// Comma-separated list; blanks around commas are dropped, empty entries skipped.
    List,
}

impl ConfigType {
    /// The DescribeConfigs `ConfigType` code (KIP-569): BOOLEAN=1, STRING=2, INT=3, SHORT=4,
    /// LONG=5, LIST=7.
    pub(crate) fn describe_configs_code(self) -> i8 {
        match self {
            Self::Bool => 1,
            Self::String => 2,
            Self::Int => 3,
            Self::Short => 4,
            Self::Long => 5,
            Self::List => 7,
        }
    }
}

/// Extra constraint on a parsed value (Kafka `ConfigDef.Range.atLeast`, `ValidString.in`,
/// `ValidList.in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validator {
    None,
    AtLeast(i64),
    OneOf(&'static [&'static str]),
    /// A non-empty list whose every entry is one of these.
    ListOf(&'static [&'static str]),
}

/// One known key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConfigKey {
    pub(crate) name: &'static str,
    pub(crate) ty: ConfigType,
    /// Kafka's default as text; `None` is Kafka's `null` (no default, or derived elsewhere).
    pub(crate) default: Option<&'static str>,
    pub(crate) validator: Validator,
}

const fn key(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
) -> ConfigKey {
    ConfigKey {
        name,
        ty,
        default,
        validator,
    }
}

use ConfigType::{Bool, Int, List, Long, Short, String as Str};
use Validator::{AtLeast, ListOf, None as Any, OneOf};

/// Kafka's default `listener.security.protocol.map` (each security protocol mapped to itself),
/// in the order Kafka's documentation prints it.
pub(crate) const DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP: &str =
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";

const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";

/// Every key we parse, validate and show in DescribeConfigs, grouped as Kafka's docs group them.
#[rustfmt::skip] // one key per line reads as a table
pub(crate) const KEYS: &[ConfigKey] = &[
    // --- KRaft ---
    key("process.roles", List, Some(""), Any),
    key("node.id", Int, Some("-1"), Any),
    key("broker.id", Int, Some("-1"), Any),
    key("controller.quorum.voters", List, Some(""), Any),
    key("controller.quorum.bootstrap.servers", List, Some(""), Any),
    key("controller.listener.names", List, None, Any),
    key("controller.quorum.election.timeout.ms", Int, Some("1000"), Any),
    key("controller.quorum.fetch.timeout.ms", Int, Some("2000"), Any),
    key("controller.quorum.election.backoff.max.ms", Int, Some("1000"), Any),
    key("controller.quorum.append.linger.ms", Int, Some("25"), Any),
    key("controller.quorum.request.timeout.ms", Int, Some("2000"), Any),
    key("controller.quorum.retry.backoff.ms", Int, Some("20"), Any),
    key("broker.heartbeat.interval.ms", Int, Some("2000"), Any),
    key("broker.session.timeout.ms", Int, Some("9000"), Any),
    key("initial.broker.registration.timeout.ms", Int, Some("60000"), Any),
    key("metadata.log.dir", Str, None, Any),
    key("metadata.log.segment.bytes", Int, Some("1073741824"), AtLeast(12)),
    key("metadata.log.segment.ms", Long, Some("604800000"), Any),
    key("metadata.max.retention.bytes", Long, Some("104857600"), Any),
    key("metadata.max.retention.ms", Long, Some("604800000"), Any),
    key("metadata.log.max.record.bytes.between.snapshots", Long, Some("20971520"), AtLeast(1)),
    key("metadata.log.max.snapshot.interval.ms", Long, Some("3600000"), AtLeast(0)),
    key("metadata.max.idle.interval.ms", Int, Some("500"), AtLeast(0)),
    // --- Socket server ---
    key("listeners", List, Some("PLAINTEXT://:9092"), Any),
    key("advertised.listeners", List, None, Any),
    key(
        "listener.security.protocol.map",
        Str,
        Some(DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP),
        Any,
    ),
    key("inter.broker.listener.name", Str, None, Any),
    key("security.inter.broker.protocol", Str, Some("PLAINTEXT"), OneOf(SECURITY_PROTOCOLS)),
    key("socket.request.max.bytes", Int, Some("104857600"), AtLeast(1)),
    key("socket.send.buffer.bytes", Int, Some("102400"), Any),
    key("socket.receive.buffer.bytes", Int, Some("102400"), Any),
    key("max.connections", Int, Some(INT_MAX), AtLeast(0)),
    key("max.connections.per.ip", Int, Some(INT_MAX), AtLeast(0)),
    key("connections.max.idle.ms", Long, Some("600000"), Any),
    key("request.timeout.ms", Int, Some("30000"), Any),
    key("num.network.threads", Int, Some("3"), AtLeast(1)),
    key("num.io.threads", Int, Some("8"), AtLeast(1)),
    key("queued.max.requests", Int, Some("500"), AtLeast(1)),
    // --- Log ---
    key("log.dirs", Str, None, Any),
    key("log.dir", Str, Some("/tmp/kafka-logs"), Any),
    key("num.partitions", Int, Some("1"), AtLeast(1)),
    key("default.replication.factor", Int, Some("1"), Any),
    key("auto.create.topics.enable", Bool, Some("true"), Any),
    key("delete.topic.enable", Bool, Some("true"), Any),
    key("min.insync.replicas", Int, Some("1"), AtLeast(1)),
    key("unclean.leader.election.enable", Bool, Some("false"), Any),
    key("broker.rack", Str, None, Any),
    // LegacyRecord.RECORD_OVERHEAD_V0 = 14 is Kafka's lower bound for a segment.
    key("log.segment.bytes", Int, Some("1073741824"), AtLeast(14)),
    key("log.roll.ms", Long, None, Any),
    key("log.roll.hours", Int, Some("168"), AtLeast(1)),
    key("log.roll.jitter.ms", Long, None, Any),
    key("log.roll.jitter.hours", Int, Some("0"), AtLeast(0)),
    key("log.retention.ms", Long, None, Any),
    key("log.retention.minutes", Int, None, Any),
    key("log.retention.hours", Int, Some("168"), Any),
    key("log.retention.bytes", Long, Some("-1"), Any),
    key("log.retention.check.interval.ms", Long, Some("300000"), AtLeast(1)),
    key("log.segment.delete.delay.ms", Long, Some("60000"), AtLeast(0)),
    key("log.cleanup.policy", List, Some("delete"), ListOf(&["compact", "delete"])),
    key("log.cleaner.enable", Bool, Some("true"), Any),
    key("log.cleaner.backoff.ms", Long, Some("15000"), AtLeast(0)),
    key("log.cleaner.dedupe.buffer.size", Long, Some("134217728"), Any),
    key("log.cleaner.delete.retention.ms", Long, Some("86400000"), AtLeast(0)),
    key("log.cleaner.min.compaction.lag.ms", Long, Some("0"), AtLeast(0)),
    key("log.cleaner.max.compaction.lag.ms", Long, Some(LONG_MAX), AtLeast(1)),
    key("log.flush.interval.messages", Long, Some(LONG_MAX), AtLeast(1)),
    key("log.flush.interval.ms", Long, None, Any),
    key("log.flush.scheduler.interval.ms", Long, Some(LONG_MAX), Any),
    key("log.index.interval.bytes", Int, Some("4096"), AtLeast(0)),
    key("log.index.size.max.bytes", Int, Some("10485760"), AtLeast(4)),
    key("log.preallocate", Bool, Some("false"), Any),
    key(
        "log.message.timestamp.type",
        Str,
        Some("CreateTime"),
        OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    key("compression.type", Str, Some("producer"), OneOf(COMPRESSION_TYPES)),
    // 1 MiB plus Records.LOG_OVERHEAD (12).
    key("message.max.bytes", Int, Some("1048588"), AtLeast(0)),
    key("num.recovery.threads.per.data.dir", Int, Some("1"), AtLeast(1)),
    // --- Replication ---
    key("replica.lag.time.max.ms", Long, Some("30000"), Any),
    key("replica.fetch.max.bytes", Int, Some("1048576"), AtLeast(0)),
    key("replica.fetch.wait.max.ms", Int, Some("500"), Any),
    key("replica.fetch.min.bytes", Int, Some("1"), Any),
    key("num.replica.fetchers", Int, Some("1"), Any),
    key("fetch.max.bytes", Int, Some("57671680"), AtLeast(1024)),
    key("inter.broker.protocol.version", Str, None, Any),
    // --- Group coordinator ---
    key("group.initial.rebalance.delay.ms", Int, Some("3000"), Any),
    key("group.min.session.timeout.ms", Int, Some("6000"), Any),
    key("group.max.session.timeout.ms", Int, Some("1800000"), Any),
    key("group.max.size", Int, Some(INT_MAX), AtLeast(1)),
    key("offsets.topic.replication.factor", Short, Some("3"), AtLeast(1)),
    key("offsets.topic.num.partitions", Int, Some("50"), AtLeast(1)),
    key("offsets.topic.segment.bytes", Int, Some("104857600"), AtLeast(1)),
    key("offsets.retention.minutes", Int, Some("10080"), AtLeast(1)),
    key("offsets.retention.check.interval.ms", Long, Some("600000"), AtLeast(1)),
    key("offset.metadata.max.bytes", Int, Some("4096"), Any),
    // --- Transactions ---
    key("transaction.state.log.replication.factor", Short, Some("3"), AtLeast(1)),
    key("transaction.state.log.min.isr", Int, Some("2"), AtLeast(1)),
    key("transaction.state.log.num.partitions", Int, Some("50"), AtLeast(1)),
    key("transaction.state.log.segment.bytes", Int, Some("104857600"), AtLeast(1)),
    key("transactional.id.expiration.ms", Int, Some("604800000"), AtLeast(1)),
    key("transaction.max.timeout.ms", Int, Some("900000"), AtLeast(1)),
    key("producer.id.expiration.ms", Int, Some("86400000"), AtLeast(1)),
    // Internal in Kafka (`defineInternal`), but settable; tests shorten it.
    key("producer.id.expiration.check.interval.ms", Int, Some("600000"), AtLeast(1)),
    // --- ZooKeeper (legacy mode and the migration bridge) ---
    key("zookeeper.connect", Str, None, Any),
    key("zookeeper.session.timeout.ms", Int, Some("18000"), Any),
    key("zookeeper.connection.timeout.ms", Int, None, Any),
    key("zookeeper.metadata.migration.enable", Bool, Some("false"), Any),
];

/// Look a key up in [`KEYS`].
pub(crate) fn lookup(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Keys of [`KEYS`] that are parsed and validated but act on nothing yet (the comments say why):
/// multi-node settings (replication, the Raft quorum's timers), transactions, ZooKeeper mode,
/// and thread/buffer tuning our runtime does not have.
#[rustfmt::skip] // one key per line reads as a table
pub(crate) const NO_EFFECT_KEYS: &[&str] = &[
    // A dynamic quorum (KIP-853) is refused when it is the only quorum setting; the Raft core
    // appends each proposal at once (no linger batching yet); no-op records are not
    // written. The other controller.quorum.* timers configure the Raft core.
    "controller.quorum.bootstrap.servers",
    "controller.quorum.append.linger.ms",
    // The combined node's broker registers in-process, not over the network.
    "broker.heartbeat.interval.ms",
    "initial.broker.registration.timeout.ms",
    "metadata.max.idle.interval.ms",
    // Validated as Kafka validates them; one node has no inter-broker traffic.
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "inter.broker.protocol.version",
    // The async runtime sizes its own threads and buffers.
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "max.connections.per.ip",
    "num.network.threads",
    "num.io.threads",
    "queued.max.requests",
    "num.recovery.threads.per.data.dir",
    // Replication: one node, replication factor 1, the ISR is the leader.
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "replica.lag.time.max.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.wait.max.ms",
    "replica.fetch.min.bytes",
    "num.replica.fetchers",
    // Log behaviour not built yet: segments roll without jitter, are deleted at once, are not
    // preallocated, and batches are stored as the producer compressed them.
    "log.roll.jitter.ms",
    "log.roll.jitter.hours",
    "log.segment.delete.delay.ms",
    "log.preallocate",
    "compression.type",
    // Transactions (InitProducerId with a transactional id is refused).
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "transaction.state.log.num.partitions",
    "transaction.state.log.segment.bytes",
    "transactional.id.expiration.ms",
    "transaction.max.timeout.ms",
    // ZooKeeper mode is refused at start-up; in KRaft mode these are unused.
    "zookeeper.connect",
    "zookeeper.session.timeout.ms",
    "zookeeper.connection.timeout.ms",
    "zookeeper.metadata.migration.enable",
];

/// Kafka broker keys that kraftbridge accepts without typing or acting on them (security,
/// metrics, quotas, tiered storage, tuning we do not have). They are not "unknown": a Kafka
/// `server.properties` starts kraftbridge, and each one set is logged with
/// [`no_effect_message`].
pub(crate) const IGNORED_KEYS: &[&str] = &[
    "alter.config.policy.class.name",
    "alter.log.dirs.replication.quota.window.num",
    "alter.log.dirs.replication.quota.window.size.seconds",
    "authorizer.class.name",
    "auto.include.jmx.reporter",
    "auto.leader.rebalance.enable",
    "background.threads",
    "broker.id.generation.enable",
    "client.quota.callback.class",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "connection.failed.authentication.delay.ms",
    "connections.max.reauth.ms",
    "control.plane.listener.name",
    "controlled.shutdown.enable",
    "controlled.shutdown.max.retries",
    "controlled.shutdown.retry.backoff.ms",
    "controller.quorum.auto.join.enable",
    "controller.quota.window.num",
    "controller.quota.window.size.seconds",
    "controller.socket.timeout.ms",
    "create.topic.policy.class.name",
    "delete.records.purgatory.purge.interval.requests",
    "early.start.listeners",
    "eligible.leader.replicas.enable",
    "fetch.purgatory.purge.interval.requests",
    "follower.replication.throttled.rate",
    "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage",
    "leader.replication.throttled.rate",
    // The log cleaner: one thread, no I/O throttling; the ratio (a double) only per topic.
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.threads",
    "log.dir.failure.timeout.ms",
    "log.initial.task.delay.ms",
    "log.message.downconversion.enable",
    "log.message.format.version",
    "log.message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.difference.max.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.flush.start.offset.checkpoint.interval.ms",
    "max.connection.creation.rate",
    "max.connections.per.ip.overrides",
    "max.incremental.fetch.session.cache.slots",
    "max.request.partition.size.limit",
    "metadata.log.segment.min.bytes",
    "metric.reporters",
    "num.replica.alter.log.dirs.threads",
    "offsets.commit.required.acks",
    "offsets.commit.timeout.ms",
    "offsets.load.buffer.size",
    "offsets.topic.compression.codec",
    "principal.builder.class",
    "producer.purgatory.purge.interval.requests",
    "queued.max.request.bytes",
    "quota.window.num",
    "quota.window.size.seconds",
    "replica.fetch.backoff.ms",
    "replica.fetch.response.max.bytes",
    "replica.high.watermark.checkpoint.interval.ms",
    "replica.selector.class",
    "replica.socket.receive.buffer.bytes",
    "replica.socket.timeout.ms",
    "replication.quota.window.num",
    "replication.quota.window.size.seconds",
    "reserved.broker.max.id",
    "security.providers",
    "socket.connection.setup.timeout.max.ms",
    "socket.connection.setup.timeout.ms",
    "socket.listen.backlog.size",
    "super.users",
    "telemetry.max.bytes",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transaction.partition.verification.enable",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "transaction.state.log.load.buffer.size",
    "unclean.leader.election.interval.ms",
    "unstable.api.versions.enable",
    "unstable.feature.versions.enable",
    "zookeeper.clientCnxnSocket",
    "zookeeper.max.in.flight.requests",
    "zookeeper.set.acl",
    "zookeeper.sync.time.ms",
];

/// Families of Kafka keys with open-ended or very many names (per-listener overrides, TLS,
/// SASL, tiered storage, metrics). Accepted and ignored like [`IGNORED_KEYS`].
pub(crate) const IGNORED_PREFIXES: &[&str] = &[
    "config.providers",
    "delegation.token.",
    "group.consumer.",
    "group.coordinator.",
    "group.share.",
    "kafka.metrics.",
    "listener.name.",
    "log.local.retention.",
    "metrics.",
    "password.encoder.",
    "remote.log.",
    "sasl.",
    "share.",
    "ssl.",
    "zookeeper.ssl.",
];

/// Whether `name` is a Kafka key we accept without typing it (and without acting on it).
pub(crate) fn is_ignored(name: &str) -> bool {
    IGNORED_KEYS.contains(&name) || IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether setting `name` changes nothing in kraftbridge today: a typed key on
/// [`NO_EFFECT_KEYS`] or an ignored one.
pub(crate) fn has_no_effect(name: &str) -> bool {
    NO_EFFECT_KEYS.contains(&name) || is_ignored(name)
}

/// What start-up logs for a key that is set but has no effect.
pub(crate) fn no_effect_message(name: &str) -> String {
    format!("{name}: accepted, has no effect in kraftbridge yet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn table_has_no_duplicates_and_no_overlap_with_ignored() {
        let mut seen = BTreeSet::new();
        for k in KEYS {
            assert!(seen.insert(k.name), "duplicate key {}", k.name);
            assert!(!is_ignored(k.name), "{} is both known and ignored", k.name);
        }
        let mut seen = BTreeSet::new();
        for k in IGNORED_KEYS {
            assert!(seen.insert(*k), "duplicate ignored key {k}");
        }
        let mut seen = BTreeSet::new();
        for k in NO_EFFECT_KEYS {
            assert!(seen.insert(*k), "duplicate no-effect key {k}");
            assert!(lookup(k).is_some(), "no-effect key {k} is not in KEYS");
        }
    }
}
