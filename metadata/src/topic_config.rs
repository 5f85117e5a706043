//! Kafka's topic-level configs (Kafka 3.9 `LogConfig`): names, types, defaults, validators and
//! the broker-level synonyms a topic inherits from (`ServerTopicConfigSynonyms`).
//!
//! Input comes from clients (CreateTopics configs, Incremental/AlterConfigs on topics) and
//! from the ZooKeeper loader; the controller answers a bad entry with INVALID_CONFIG and the
//! message [`validate`] returns, worded like Kafka's `ConfigException` so tools and tests
//! that match on messages keep working:
//!
//! * `Unknown topic config name: x`
//! * `Invalid value abc for configuration retention.ms: Not a number of type LONG`
//! * `Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1`
//! * `Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete`

use std::collections::BTreeMap;
use std::fmt;

/// A config's type (Kafka's `ConfigDef.Type`, the subset topics use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    Int,
    Long,
    Double,
    String,
    List,
}

impl ConfigType {
    /// The `ConfigType` id of DescribeConfigs v3+ (KIP-569): 1 BOOLEAN, 2 STRING, 3 INT,
    /// 5 LONG, 6 DOUBLE, 7 LIST.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }

    /// Kafka's name of the type, as it appears in error messages.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::String => "STRING",
            ConfigType::List => "LIST",
        }
    }
}

/// What values a config accepts beyond its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    None,
    /// `ConfigDef.Range.atLeast`.
    AtLeast(i64),
    /// `ConfigDef.Range.between` (inclusive).
    Between(i64, i64),
    /// `ConfigDef.ValidString.in`.
    OneOf(&'static [&'static str]),
    /// `ConfigDef.ValidList.in`: every element one of these.
    ListOf(&'static [&'static str]),
    /// gzip levels: 1..=9 or −1 (`CompressionType.GZIP.levelValidator`).
    GzipLevel,
    /// `*` or `partition:broker` pairs (`ThrottledReplicaListValidator`).
    ThrottledReplicas,
    /// A Kafka release such as `3.0-IV1` (`MetadataVersionValidator`).
    MessageFormatVersion,
}

/// How a broker-level synonym's value converts to the topic config's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SynonymUnit {
    Same,
    HoursToMs,
    MinutesToMs,
}

impl SynonymUnit {
    /// The unit of a broker synonym, from its name as in Kafka (`log.roll.hours`,
    /// `log.retention.minutes`, …; everything else is in the topic config's unit).
    pub fn of(broker_config: &str) -> SynonymUnit {
        if broker_config.ends_with(".hours") {
            SynonymUnit::HoursToMs
        } else if broker_config.ends_with(".minutes") {
            SynonymUnit::MinutesToMs
        } else {
            SynonymUnit::Same
        }
    }
}

/// One topic-level config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub config_type: ConfigType,
    /// The default as Kafka prints it; `None` has no default.
    pub default: Option<&'static str>,
    pub validator: Validator,
    /// Broker configs to inherit from, most specific first (units: [`SynonymUnit::of`]).
    pub broker_synonyms: &'static [&'static str],
}

const LONG_MAX: &str = "9223372036854775807";
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

macro_rules! def {
    ($name:literal, $kind:ident, $default:expr, $validator:expr, [$($syn:expr),* $(,)?]) => {
        TopicConfigDef {
            name: $name,
            config_type: ConfigType::$kind,
            default: $default,
            validator: $validator,
            broker_synonyms: &[$($syn),*],
        }
    };
}

/// Every topic config, in Kafka's definition order (which is also the order values are
/// checked in, so the first bad one reported matches Kafka's).
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def!(
        "segment.bytes",
        Int,
        Some("1073741824"),
        Validator::AtLeast(14),
        ["log.segment.bytes"]
    ),
    def!(
        "segment.ms",
        Long,
        Some("604800000"),
        Validator::AtLeast(1),
        ["log.roll.ms", "log.roll.hours"]
    ),
    def!(
        "segment.jitter.ms",
        Long,
        Some("0"),
        Validator::AtLeast(0),
        ["log.roll.jitter.ms", "log.roll.jitter.hours",]
    ),
    def!(
        "segment.index.bytes",
        Int,
        Some("10485760"),
        Validator::AtLeast(4),
        ["log.index.size.max.bytes"]
    ),
    def!(
        "flush.messages",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(1),
        ["log.flush.interval.messages"]
    ),
    def!(
        "flush.ms",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        ["log.flush.interval.ms", "log.flush.scheduler.interval.ms",]
    ),
    def!(
        "retention.bytes",
        Long,
        Some("-1"),
        Validator::None,
        ["log.retention.bytes"]
    ),
    def!(
        "retention.ms",
        Long,
        Some("604800000"),
        Validator::AtLeast(-1),
        [
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ]
    ),
    def!(
        "max.message.bytes",
        Int,
        Some("1048588"),
        Validator::AtLeast(0),
        ["message.max.bytes"]
    ),
    def!(
        "index.interval.bytes",
        Int,
        Some("4096"),
        Validator::AtLeast(0),
        ["log.index.interval.bytes"]
    ),
    def!(
        "delete.retention.ms",
        Long,
        Some("86400000"),
        Validator::AtLeast(0),
        ["log.cleaner.delete.retention.ms"]
    ),
    def!(
        "min.compaction.lag.ms",
        Long,
        Some("0"),
        Validator::AtLeast(0),
        ["log.cleaner.min.compaction.lag.ms"]
    ),
    def!(
        "max.compaction.lag.ms",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(1),
        ["log.cleaner.max.compaction.lag.ms"]
    ),
    def!(
        "file.delete.delay.ms",
        Long,
        Some("60000"),
        Validator::AtLeast(0),
        ["log.segment.delete.delay.ms"]
    ),
    def!(
        "min.cleanable.dirty.ratio",
        Double,
        Some("0.5"),
        Validator::Between(0, 1),
        ["log.cleaner.min.cleanable.ratio",]
    ),
    def!(
        "cleanup.policy",
        List,
        Some("delete"),
        Validator::ListOf(&["compact", "delete"]),
        ["log.cleanup.policy"]
    ),
    def!(
        "unclean.leader.election.enable",
        Boolean,
        Some("false"),
        Validator::None,
        ["unclean.leader.election.enable",]
    ),
    def!(
        "min.insync.replicas",
        Int,
        Some("1"),
        Validator::AtLeast(1),
        ["min.insync.replicas"]
    ),
    def!(
        "compression.type",
        String,
        Some("producer"),
        Validator::OneOf(COMPRESSION_TYPES),
        ["compression.type"]
    ),
    def!(
        "compression.gzip.level",
        Int,
        Some("-1"),
        Validator::GzipLevel,
        ["compression.gzip.level"]
    ),
    def!(
        "compression.lz4.level",
        Int,
        Some("9"),
        Validator::Between(1, 17),
        ["compression.lz4.level"]
    ),
    def!(
        "compression.zstd.level",
        Int,
        Some("3"),
        Validator::Between(-131072, 22),
        ["compression.zstd.level"]
    ),
    def!(
        "preallocate",
        Boolean,
        Some("false"),
        Validator::None,
        ["log.preallocate"]
    ),
    def!(
        "message.format.version",
        String,
        Some("3.0-IV1"),
        Validator::MessageFormatVersion,
        ["log.message.format.version",]
    ),
    def!(
        "message.timestamp.type",
        String,
        Some("CreateTime"),
        Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        ["log.message.timestamp.type",]
    ),
    def!(
        "message.timestamp.difference.max.ms",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        ["log.message.timestamp.difference.max.ms",]
    ),
    def!(
        "message.timestamp.before.max.ms",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        ["log.message.timestamp.before.max.ms",]
    ),
    def!(
        "message.timestamp.after.max.ms",
        Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        ["log.message.timestamp.after.max.ms",]
    ),
    def!(
        "leader.replication.throttled.replicas",
        List,
        Some(""),
        Validator::ThrottledReplicas,
        []
    ),
    def!(
        "follower.replication.throttled.replicas",
        List,
        Some(""),
        Validator::ThrottledReplicas,
        []
    ),
    def!(
        "message.downconversion.enable",
        Boolean,
        Some("true"),
        Validator::None,
        ["log.message.downconversion.enable",]
    ),
    def!(
        "remote.storage.enable",
        Boolean,
        Some("false"),
        Validator::None,
        []
    ),
    def!(
        "local.retention.ms",
        Long,
        Some("-2"),
        Validator::AtLeast(-2),
        ["log.local.retention.ms"]
    ),
    def!(
        "local.retention.bytes",
        Long,
        Some("-2"),
        Validator::AtLeast(-2),
        ["log.local.retention.bytes"]
    ),
    def!(
        "remote.log.copy.disable",
        Boolean,
        Some("false"),
        Validator::None,
        []
    ),
    def!(
        "remote.log.delete.on.disable",
        Boolean,
        Some("false"),
        Validator::None,
        []
    ),
];

/// The definition of a topic config.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// True for LIST configs, the only ones IncrementalAlterConfigs may APPEND/SUBTRACT.
pub fn is_list(name: &str) -> bool {
    lookup(name).is_some_and(|d| d.config_type == ConfigType::List)
}

/// The topic config that a broker config is a synonym of, e.g. `log.retention.hours` →
/// `retention.ms`.
pub fn topic_config_for_broker_config(broker_config: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.broker_synonyms.contains(&broker_config))
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    String(String),
    List(Vec<String>),
}

impl fmt::Display for ConfigValue {
    /// As Kafka prints the value in DescribeConfigs / CreateTopics responses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Boolean(b) => write!(f, "{b}"),
            ConfigValue::Int(n) => write!(f, "{n}"),
            ConfigValue::Long(n) => write!(f, "{n}"),
            ConfigValue::Double(d) => f.write_str(&java_double(*d)),
            ConfigValue::String(s) => f.write_str(s),
            ConfigValue::List(items) => f.write_str(&items.join(",")),
        }
    }
}

/// Java's `Double.toString`, close enough for config values: `2.0`, `0.5`, `1.0E10`.
fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let abs = d.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        return format!("{d:?}");
    }
    let s = format!("{d:E}");
    match s.split_once('E') {
        Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0E{exp}"),
        _ => s,
    }
}

/// Java's `String.trim`: strips everything at or below U+0020.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn invalid(name: &str, value: impl fmt::Display, message: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {message}")
}

/// Parses `value` as `def`'s type (Kafka's `ConfigDef.parseType`), without validating it.
pub fn parse(def: &TopicConfigDef, value: &str) -> Result<ConfigValue, String> {
    let trimmed = java_trim(value);
    let not_a_number = || {
        invalid(
            def.name,
            value,
            &format!("Not a number of type {}", def.config_type.name()),
        )
    };
    Ok(match def.config_type {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                ConfigValue::Boolean(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                ConfigValue::Boolean(false)
            } else {
                return Err(invalid(
                    def.name,
                    value,
                    "Expected value to be either true or false",
                ));
            }
        }
        ConfigType::Int => ConfigValue::Int(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::Long => ConfigValue::Long(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::Double => ConfigValue::Double(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::String => ConfigValue::String(trimmed.to_string()),
        ConfigType::List => {
            if trimmed.is_empty() {
                ConfigValue::List(Vec::new())
            } else {
                // `COMMA_WITH_WHITESPACE.split(trimmed, -1)`: empty items are kept.
                ConfigValue::List(
                    trimmed
                        .split(',')
                        .map(|s| java_trim(s).to_string())
                        .collect(),
                )
            }
        }
    })
}

fn check(def: &TopicConfigDef, v: &ConfigValue) -> Result<(), String> {
    let number = match v {
        ConfigValue::Int(n) => Some(f64::from(*n)),
        ConfigValue::Long(n) => Some(*n as f64),
        ConfigValue::Double(d) => Some(*d),
        _ => None,
    };
    match def.validator {
        Validator::None => Ok(()),
        Validator::AtLeast(min) => match number {
            Some(n) if n < min as f64 => Err(invalid(
                def.name,
                v,
                &format!("Value must be at least {min}"),
            )),
            _ => Ok(()),
        },
        Validator::Between(min, max) => match number {
            Some(n) if n < min as f64 => Err(invalid(
                def.name,
                v,
                &format!("Value must be at least {min}"),
            )),
            Some(n) if n > max as f64 => Err(invalid(
                def.name,
                v,
                &format!("Value must be no more than {max}"),
            )),
            _ => Ok(()),
        },
        Validator::GzipLevel => match v {
            ConfigValue::Int(n) if *n > 9 || (*n < 1 && *n != -1) => Err(invalid(
                def.name,
                v,
                "Value must be between 1 and 9 or equal to -1",
            )),
            _ => Ok(()),
        },
        Validator::OneOf(allowed) => match v {
            ConfigValue::String(s) if !allowed.contains(&s.as_str()) => Err(invalid(
                def.name,
                s,
                &format!("String must be one of: {}", allowed.join(", ")),
            )),
            _ => Ok(()),
        },
        Validator::ListOf(allowed) => match v {
            ConfigValue::List(items) => match items.iter().find(|i| !allowed.contains(&i.as_str()))
            {
                Some(bad) => Err(invalid(
                    def.name,
                    bad,
                    &format!("String must be one of: {}", allowed.join(", ")),
                )),
                None => Ok(()),
            },
            _ => Ok(()),
        },
        Validator::ThrottledReplicas => match v {
            ConfigValue::List(items) => {
                let pair = |s: &str| match s.split_once(':') {
                    Some((p, b)) => {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    }
                    None => s.is_empty(),
                };
                if items.iter().all(|s| pair(s)) || items.concat() == "*" {
                    Ok(())
                } else {
                    Err(invalid(
                        def.name,
                        format!("[{}]", items.join(", ")),
                        &format!(
                            "{} must be the literal '*' or a list of replicas in the following format: \
                             [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                            def.name
                        ),
                    ))
                }
            }
            _ => Ok(()),
        },
        Validator::MessageFormatVersion => match v {
            ConfigValue::String(s) if !is_release_version(s) => Err(invalid(
                def.name,
                s,
                &format!("Version {s} is not a valid version"),
            )),
            _ => Ok(()),
        },
    }
}

/// `0.10.2`, `2.8-IV1`, `3.0`, `3.0-IV1`: digits.digits[.digits][-IVn].
fn is_release_version(s: &str) -> bool {
    let (release, iv) = match s.split_once("-IV") {
        Some((r, iv)) => (r, Some(iv)),
        None => (s, None),
    };
    let parts: Vec<&str> = release.split('.').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| digits(p)) && iv.is_none_or(digits)
}

/// Validates one topic config: a known name, a value of its type, within its validator.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(def) = lookup(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    check(def, &parse(def, value)?)
}

/// Validates a topic's whole override set: every entry ([`validate`], unknown names first,
/// then values in definition order), then the cross-config rules of Kafka's
/// `LogConfig.validate` that apply without tiered storage.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(unknown) = configs.keys().find(|k| lookup(k).is_none()) {
        return Err(format!("Unknown topic config name: {unknown}"));
    }
    for def in TOPIC_CONFIGS {
        if let Some(value) = configs.get(def.name) {
            check(def, &parse(def, value)?)?;
        }
    }
    let long = |name: &str| -> i64 {
        match (lookup(name), configs.get(name).map(String::as_str)) {
            (Some(def), v) => match parse(def, v.or(def.default).unwrap_or("0")) {
                Ok(ConfigValue::Long(n)) => n,
                _ => 0,
            },
            (None, _) => 0,
        }
    };
    let (min_lag, max_lag) = (long("min.compaction.lag.ms"), long("max.compaction.lag.ms"));
    if min_lag > max_lag {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        ));
    }
    if let Some(v) = configs.get("remote.storage.enable") {
        if java_trim(v).eq_ignore_ascii_case("true") {
            // kraftbridge has no tiered storage, so the broker-wide switch is always off.
            return Err("Tiered Storage functionality is disabled in the broker. \
                        Topic cannot be configured with remote log storage."
                .into());
        }
    }
    Ok(())
}

/// Where an effective config value comes from (`DescribeConfigsResponse.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// A dynamic config of this node.
    DynamicBroker,
    /// A cluster-wide dynamic broker default.
    DynamicDefaultBroker,
    /// `server.properties`.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
}

impl ConfigSource {
    /// The wire id in CreateTopics / DescribeConfigs responses.
    pub fn id(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// A topic config's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
}

fn convert(def: &TopicConfigDef, synonym: &str, raw: &str) -> Option<String> {
    let value = match SynonymUnit::of(synonym) {
        SynonymUnit::Same => raw.to_string(),
        SynonymUnit::HoursToMs => java_trim(raw)
            .parse::<i64>()
            .ok()?
            .saturating_mul(3_600_000)
            .to_string(),
        SynonymUnit::MinutesToMs => java_trim(raw)
            .parse::<i64>()
            .ok()?
            .saturating_mul(60_000)
            .to_string(),
    };
    parse(def, &value).ok().map(|v| v.to_string())
}

/// Every topic config's effective value for a topic with overrides `topic`, resolved as
/// Kafka's `KafkaConfigSchema.resolveEffectiveTopicConfigs` does: the topic's own value, then
/// each synonym among this node's dynamic configs, then the cluster-wide dynamic defaults,
/// then the static `server.properties`, then the default. Sorted by name.
pub fn effective_topic_configs(
    topic: &BTreeMap<String, String>,
    node_dynamic: &BTreeMap<String, String>,
    cluster_dynamic: &BTreeMap<String, String>,
    node_static: &BTreeMap<String, String>,
) -> Vec<EffectiveConfig> {
    let mut out: Vec<EffectiveConfig> = TOPIC_CONFIGS
        .iter()
        .map(|def| {
            if let Some(v) = topic.get(def.name) {
                let value = parse(def, v)
                    .map(|p| p.to_string())
                    .unwrap_or_else(|_| v.clone());
                return EffectiveConfig {
                    name: def.name,
                    value: Some(value),
                    source: ConfigSource::DynamicTopic,
                };
            }
            let layers = [
                (node_dynamic, ConfigSource::DynamicBroker),
                (cluster_dynamic, ConfigSource::DynamicDefaultBroker),
                (node_static, ConfigSource::StaticBroker),
            ];
            for (layer, source) in layers {
                for syn in def.broker_synonyms {
                    if let Some(value) = layer.get(*syn).and_then(|raw| convert(def, syn, raw)) {
                        return EffectiveConfig {
                            name: def.name,
                            value: Some(value),
                            source,
                        };
                    }
                }
            }
            let value = def.default.map(|d| {
                parse(def, d)
                    .map(|p| p.to_string())
                    .unwrap_or_else(|_| d.to_string())
            });
            EffectiveConfig {
                name: def.name,
                value,
                source: ConfigSource::Default,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kafka() {
        assert_eq!(
            validate("nope", "1"),
            Err("Unknown topic config name: nope".into())
        );
        assert_eq!(
            validate("retention.ms", "abc"),
            Err(
                "Invalid value abc for configuration retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert_eq!(
            validate("retention.ms", "-2"),
            Err(
                "Invalid value -2 for configuration retention.ms: Value must be at least -1".into()
            )
        );
        assert_eq!(
            validate("min.cleanable.dirty.ratio", "2"),
            Err("Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1".into())
        );
        assert_eq!(
            validate("min.cleanable.dirty.ratio", "-0.5"),
            Err("Invalid value -0.5 for configuration min.cleanable.dirty.ratio: Value must be at least 0".into())
        );
        assert_eq!(
            validate("cleanup.policy", "compact,nope"),
            Err("Invalid value nope for configuration cleanup.policy: String must be one of: compact, delete".into())
        );
        assert_eq!(
            validate("compression.type", "brotli"),
            Err(
                "Invalid value brotli for configuration compression.type: String must be one of: \
                 uncompressed, zstd, lz4, snappy, gzip, producer"
                    .into()
            )
        );
        assert_eq!(
            validate("preallocate", "yes"),
            Err("Invalid value yes for configuration preallocate: Expected value to be either true or false".into())
        );
        assert_eq!(
            validate("max.message.bytes", "99999999999"),
            Err("Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT".into())
        );
        assert!(validate("compression.gzip.level", "0").is_err());
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "0:1, 1:2").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "*").is_ok());
        assert!(validate("leader.replication.throttled.replicas", "0-1").is_err());
        assert!(validate("message.format.version", "3.0-IV1").is_ok());
        assert!(validate("message.format.version", "banana").is_err());
    }

    #[test]
    fn good_values_pass() {
        for (k, v) in [
            ("retention.ms", " 1000 "),
            ("retention.ms", "-1"),
            ("cleanup.policy", "compact, delete"),
            ("cleanup.policy", ""),
            ("compression.type", "zstd"),
            ("min.cleanable.dirty.ratio", "0"),
            ("min.cleanable.dirty.ratio", "1"),
            ("unclean.leader.election.enable", "TRUE"),
            ("message.timestamp.type", "LogAppendTime"),
            ("segment.bytes", "14"),
            ("local.retention.ms", "-2"),
        ] {
            assert_eq!(validate(k, v), Ok(()), "{k}={v}");
        }
        for def in TOPIC_CONFIGS {
            if let Some(d) = def.default {
                assert_eq!(validate(def.name, d), Ok(()), "default of {}", def.name);
            }
        }
    }

    #[test]
    fn cross_checks() {
        let m = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_all(&m(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5")
        ]))
        .is_err());
        assert!(validate_all(&m(&[("remote.storage.enable", "true")])).is_err());
        assert!(validate_all(&m(&[("retention.ms", "5"), ("cleanup.policy", "compact")])).is_ok());
        assert_eq!(
            validate_all(&m(&[("x", "1")])),
            Err("Unknown topic config name: x".into())
        );
    }

    #[test]
    fn effective_configs_resolve_synonyms_in_order() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let eff = effective_topic_configs(
            &m(&[("cleanup.policy", "compact")]),
            &m(&[]),
            &m(&[("log.segment.bytes", "1000")]),
            &m(&[("log.retention.hours", "1"), ("log.segment.bytes", "2000")]),
        );
        let get = |n: &str| eff.iter().find(|e| e.name == n).unwrap().clone();
        assert_eq!(get("cleanup.policy").source, ConfigSource::DynamicTopic);
        assert_eq!(get("retention.ms").value.as_deref(), Some("3600000"));
        assert_eq!(get("retention.ms").source, ConfigSource::StaticBroker);
        assert_eq!(get("segment.bytes").value.as_deref(), Some("1000"));
        assert_eq!(
            get("segment.bytes").source,
            ConfigSource::DynamicDefaultBroker
        );
        assert_eq!(
            get("min.cleanable.dirty.ratio").value.as_deref(),
            Some("0.5")
        );
        assert_eq!(
            get("min.cleanable.dirty.ratio").source,
            ConfigSource::Default
        );
        assert!(eff.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(eff.len(), TOPIC_CONFIGS.len());
        assert_eq!(
            topic_config_for_broker_config("log.retention.hours").map(|d| d.name),
            Some("retention.ms")
        );
    }
}
