//! `server.properties` plus `--override key=value` pairs → a validated, typed
//! [`ServerConfig`].
//!
//! Input comes from the operator (a file and command-line arguments) and is untrusted: it
//! decodes to `Result`, never panics. Keys, defaults and the cross-key rules are Apache
//! Kafka's (`KafkaConfig.validateValues`, 3.x), so a Kafka `server.properties` works unchanged:
//!
//! - an invalid value stops start-up with an error naming the key, the value and the reason;
//! - unknown keys come back as [`ConfigWarning`]s for the caller to log one by one;
//! - Kafka keys that we accept but do not act on (the quorum's timers, replication, TLS, SASL,
//!   metrics, ...) come back in [`LoadedConfig::without_effect`], one line each for start-up
//!   to log: "`<key>`: accepted, has no effect in kraftbridge yet";
//! - SSL/SASL listeners are recognised and rejected as unsupported (PLAINTEXT only for now).
//!
//! **Every key does what Kafka's does, or says it doesn't.** A key in the table is either
//! implemented — its value lands in a [`ServerConfig`] field that the server reads — or on
//! `keys::NO_EFFECT_KEYS` / `keys::IGNORED_KEYS` and logged when set. The test
//! `every_key_is_read_or_says_it_is_not` enforces this against the source tree, and
//! `docs/operations.md` lists both kinds (generated from the table; the same test checks it).
//!
//! The key table lives in `config/keys.rs`, address parsing in `config/listener.rs`, and the
//! commented quickstart file in `config/quickstart.rs`.

#[cfg(test)]
mod key_coverage;
mod keys;
mod listener;
pub(crate) mod quickstart;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use storage::meta_properties::java_properties;

use keys::{ConfigKey, ConfigType, Validator};
pub(crate) use listener::{Listener, QuorumVoter, SecurityProtocol};

/// Largest `server.properties` we read. Kafka's own file is about 6 KiB.
pub(crate) const SERVER_PROPERTIES_BYTES_MAX: u64 = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------------------------

/// Why a configuration cannot be used. Every message names the key (or file) and the value.
#[derive(Debug)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The file is larger than [`SERVER_PROPERTIES_BYTES_MAX`].
    TooLarge { path: PathBuf },
    /// The one Java properties syntax error (a malformed `\uXXXX`).
    Syntax {
        path: Option<PathBuf>,
        source: java_properties::SyntaxError,
    },
    /// An `--override` argument that is not `key=value`.
    Override { arg: String },
    /// A value that does not parse or is out of range.
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// A required key is unset.
    Missing { key: &'static str, reason: String },
    /// A rule that ties several keys together (Kafka's `require(...)` checks).
    Rule { message: String },
    /// Valid for Kafka, not supported by kraftbridge yet.
    Unsupported {
        key: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            Self::TooLarge { path } => write!(
                f,
                "config file {} is larger than {SERVER_PROPERTIES_BYTES_MAX} bytes",
                path.display()
            ),
            Self::Syntax { path, source } => match path {
                Some(p) => write!(f, "{}: {source}", p.display()),
                None => write!(f, "{source}"),
            },
            Self::Override { arg } => {
                write!(f, "invalid --override '{arg}': expected key=value")
            }
            Self::InvalidValue { key, value, reason } => {
                write!(f, "invalid value '{value}' for {key}: {reason}")
            }
            Self::Missing { key, reason } => write!(f, "missing {key}: {reason}"),
            Self::Rule { message } => f.write_str(message),
            Self::Unsupported { key, value, reason } => {
                write!(f, "unsupported value '{value}' for {key}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Syntax { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn rule(message: impl Into<String>) -> ConfigError {
    ConfigError::Rule {
        message: message.into(),
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Something the operator should see but that does not stop start-up. The caller logs each
/// one (`tracing::warn!("{w}")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigWarning {
    pub(crate) key: String,
    pub(crate) message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------------

/// A KRaft role (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ProcessRole {
    Broker,
    Controller,
}

/// `log.cleanup.policy` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum CleanupPolicy {
    Delete,
    Compact,
}

/// `log.message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A validated broker/controller configuration.
///
/// Fields hold effective values: precedence rules (`log.retention.ms` over `.minutes` over
/// `.hours`, `log.dirs` over `log.dir`, `node.id`/`broker.id`) are already applied. Node ids
/// are `i32` because Kafka's are Java ints; -1 means "unset" (ZooKeeper mode only).
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    /// The file this came from, for messages that tell the operator which command to run.
    pub(crate) config_path: Option<PathBuf>,

    // --- Mode and identity ---
    /// Empty in ZooKeeper (legacy) mode; `broker`, `controller` or both in KRaft mode.
    pub(crate) process_roles: BTreeSet<ProcessRole>,
    /// `node.id` (alias `broker.id`); always >= 0 in KRaft mode.
    pub(crate) node_id: i32,
    pub(crate) broker_rack: Option<String>,

    // --- KRaft quorum (KIP-595) ---
    pub(crate) controller_quorum_voters: Vec<QuorumVoter>,
    pub(crate) controller_quorum_election_timeout_ms: i32,
    pub(crate) controller_quorum_fetch_timeout_ms: i32,
    pub(crate) controller_quorum_election_backoff_max_ms: i32,
    pub(crate) controller_quorum_request_timeout_ms: i32,
    pub(crate) controller_quorum_retry_backoff_ms: i32,
    pub(crate) broker_session_timeout_ms: i32,
    pub(crate) metadata_log_segment_bytes: i32,
    pub(crate) metadata_log_segment_ms: i64,
    pub(crate) metadata_log_max_record_bytes_between_snapshots: i64,
    pub(crate) metadata_log_max_snapshot_interval_ms: i64,
    pub(crate) metadata_max_retention_bytes: i64,
    pub(crate) metadata_max_retention_ms: i64,

    // --- Listeners ---
    /// Everything this process binds, controller listeners included.
    pub(crate) listeners: Vec<Listener>,
    /// What a broker advertises to clients: `advertised.listeners` (or `listeners` when unset)
    /// without the controller listeners. Empty on a controller-only node.
    pub(crate) advertised_listeners: Vec<Listener>,
    pub(crate) controller_listener_names: Vec<String>,
    pub(crate) socket_request_max_bytes: i32,
    pub(crate) max_connections: i32,
    /// A connection that sends nothing for this long is closed; negative: never (Kafka).
    pub(crate) connections_max_idle_ms: i64,
    /// How long shutdown waits for connections to answer the requests they are handling.
    pub(crate) request_timeout_ms: i32,

    // --- Log ---
    pub(crate) log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir`, or the first log dir (Kafka's default).
    pub(crate) metadata_log_dir: PathBuf,
    pub(crate) num_partitions: i32,
    pub(crate) default_replication_factor: i32,
    pub(crate) auto_create_topics_enable: bool,
    pub(crate) delete_topic_enable: bool,
    pub(crate) log_segment_bytes: i32,
    pub(crate) log_roll_ms: i64,
    /// -1 means unlimited.
    pub(crate) log_retention_ms: i64,
    /// -1 means unlimited.
    pub(crate) log_retention_bytes: i64,
    pub(crate) log_retention_check_interval_ms: i64,
    pub(crate) log_cleanup_policy: BTreeSet<CleanupPolicy>,
    pub(crate) log_cleaner_enable: bool,
    pub(crate) log_cleaner_backoff_ms: i64,
    pub(crate) log_cleaner_dedupe_buffer_size: i64,
    pub(crate) log_cleaner_delete_retention_ms: i64,
    pub(crate) log_cleaner_min_compaction_lag_ms: i64,
    pub(crate) log_cleaner_max_compaction_lag_ms: i64,
    pub(crate) log_flush_interval_messages: i64,
    /// `log.flush.interval.ms`, or `log.flush.scheduler.interval.ms` when unset (Kafka).
    pub(crate) log_flush_interval_ms: i64,
    pub(crate) log_index_interval_bytes: i32,
    pub(crate) log_index_size_max_bytes: i32,
    pub(crate) log_message_timestamp_type: TimestampType,
    pub(crate) message_max_bytes: i32,
    pub(crate) fetch_max_bytes: i32,

    // --- Group coordinator, offsets, transactions ---
    pub(crate) group_initial_rebalance_delay_ms: i32,
    pub(crate) group_min_session_timeout_ms: i32,
    pub(crate) group_max_session_timeout_ms: i32,
    pub(crate) group_max_size: i32,
    pub(crate) offsets_topic_replication_factor: i16,
    pub(crate) offsets_topic_num_partitions: i32,
    pub(crate) offsets_topic_segment_bytes: i32,
    pub(crate) offsets_retention_minutes: i32,
    pub(crate) offsets_retention_check_interval_ms: i64,
    pub(crate) offset_metadata_max_bytes: i32,
    pub(crate) producer_id_expiration_ms: i32,
    pub(crate) producer_id_expiration_check_interval_ms: i32,

    /// The supplied key/value pairs (trimmed; `node.id`/`broker.id` mirrored), for
    /// DescribeConfigs.
    originals: BTreeMap<String, String>,
}

/// A configuration plus what the operator should be told about it.
#[derive(Debug, Clone)]
pub(crate) struct LoadedConfig {
    pub(crate) config: ServerConfig,
    /// Unknown keys and other non-fatal findings, one log line each.
    pub(crate) warnings: Vec<ConfigWarning>,
    /// One line per key that is set but has no effect in kraftbridge (`keys::NO_EFFECT_KEYS`,
    /// `keys::IGNORED_KEYS`), for start-up to log. Storage commands do not print these.
    pub(crate) without_effect: Vec<ConfigWarning>,
}

/// One row of the broker's DescribeConfigs view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerConfigEntry {
    /// The value as text; `None` is Kafka's `null`.
    pub(crate) value: Option<String>,
    /// True when the value is Kafka's default (DescribeConfigs `DEFAULT_CONFIG` source);
    /// false when it came from the file or `--override` (`STATIC_BROKER_CONFIG`).
    pub(crate) is_default: bool,
    /// DescribeConfigs `ConfigType` code (v3+).
    pub(crate) config_type: i8,
}

/// Parse one `--override key=value` argument (`kafka-server-start.sh --override`).
pub(crate) fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConfigError::Override {
            arg: arg.to_string(),
        }),
    }
}

impl ServerConfig {
    /// Read `path`, apply `overrides` (`key=value` each, later wins) and validate.
    pub(crate) fn load(path: &Path, overrides: &[String]) -> Result<LoadedConfig, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(SERVER_PROPERTIES_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > SERVER_PROPERTIES_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = java_properties::decode_bytes(&bytes);
        let mut loaded = Self::parse_with_path(&text, overrides, Some(path))?;
        loaded.config.config_path = Some(path.to_path_buf());
        Ok(loaded)
    }

    /// Parse properties text (no file), apply overrides and validate.
    #[cfg(test)]
    pub(crate) fn parse(text: &str, overrides: &[String]) -> Result<LoadedConfig, ConfigError> {
        Self::parse_with_path(text, overrides, None)
    }

    fn parse_with_path(
        text: &str,
        overrides: &[String],
        path: Option<&Path>,
    ) -> Result<LoadedConfig, ConfigError> {
        let pairs = java_properties::parse(text).map_err(|source| ConfigError::Syntax {
            path: path.map(Path::to_path_buf),
            source,
        })?;
        let mut warnings = Vec::new();
        let mut originals = BTreeMap::new();
        for (k, v) in pairs {
            let v = v.trim().to_string();
            if let Some(previous) = originals.insert(k.clone(), v.clone()) {
                warnings.push(ConfigWarning {
                    message: format!(
                        "{k} is set more than once; using the last value '{v}' \
                         (ignoring '{previous}')"
                    ),
                    key: k,
                });
            }
        }
        for arg in overrides {
            let (k, v) = parse_override(arg)?;
            originals.insert(k, v.trim().to_string());
        }
        Self::from_originals(originals, warnings)
    }

    /// Validate already-collected key/value pairs.
    fn from_originals(
        mut originals: BTreeMap<String, String>,
        mut warnings: Vec<ConfigWarning>,
    ) -> Result<LoadedConfig, ConfigError> {
        // Pass 1: every known key must have a well-typed value; classify the rest.
        let mut without_effect = Vec::new();
        for (k, v) in &originals {
            match keys::lookup(k) {
                Some(def) => {
                    check_value(def, v).map_err(|reason| invalid(k, v, reason))?;
                }
                None if keys::is_ignored(k) => {}
                None => warnings.push(ConfigWarning {
                    key: k.clone(),
                    message: format!("ignoring unknown configuration key '{k}'"),
                }),
            }
            if keys::has_no_effect(k) {
                without_effect.push(ConfigWarning {
                    key: k.clone(),
                    message: keys::no_effect_message(k),
                });
            }
        }
        mirror_node_id_and_broker_id(&mut originals)?;

        let v = Values {
            originals: &originals,
        };
        let config = build(&v, &mut warnings)?;
        Ok(LoadedConfig {
            config: ServerConfig {
                originals,
                ..config
            },
            warnings,
            without_effect,
        })
    }

    /// KRaft mode: `process.roles` is set.
    pub(crate) fn is_kraft(&self) -> bool {
        !self.process_roles.is_empty()
    }

    /// Serves clients: the broker role in KRaft mode, always in ZooKeeper mode.
    pub(crate) fn is_broker(&self) -> bool {
        !self.is_kraft() || self.process_roles.contains(&ProcessRole::Broker)
    }

    pub(crate) fn is_controller(&self) -> bool {
        self.process_roles.contains(&ProcessRole::Controller)
    }

    /// Every directory that holds a `meta.properties`: `log.dirs` plus `metadata.log.dir`,
    /// deduplicated and sorted as Kafka's storage tool sorts them (by the path text).
    pub(crate) fn storage_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.log_dirs.clone();
        dirs.push(self.metadata_log_dir.clone());
        dirs.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        dirs.dedup();
        dirs
    }

    /// The broker-level configs as Kafka's DescribeConfigs shows them for this node: every
    /// key kraftbridge knows, with its current value and whether it is the default.
    pub(crate) fn broker_config_entries(&self) -> BTreeMap<&'static str, BrokerConfigEntry> {
        keys::KEYS
            .iter()
            .map(|k| {
                let config_type = k.ty.describe_configs_code();
                let entry = match self.originals.get(k.name) {
                    Some(v) => BrokerConfigEntry {
                        value: Some(v.clone()),
                        is_default: false,
                        config_type,
                    },
                    None => BrokerConfigEntry {
                        value: k.default.map(str::to_string),
                        is_default: true,
                        config_type,
                    },
                };
                (k.name, entry)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsing
// ---------------------------------------------------------------------------------------------

fn parse_bool(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_string())
    }
}

/// Parse an integer of the given width. Distinguishes "not a number" from "too big" so the
/// operator knows which to fix.
fn parse_integer(value: &str, ty: ConfigType) -> Result<i64, String> {
    let (min, max, what) = match ty {
        ConfigType::Short => (i64::from(i16::MIN), i64::from(i16::MAX), "a 16-bit integer"),
        ConfigType::Int => (i64::from(i32::MIN), i64::from(i32::MAX), "a 32-bit integer"),
        _ => (i64::MIN, i64::MAX, "a 64-bit integer"),
    };
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected an integer".to_string());
    }
    match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("out of range for {what} ({min} to {max})")),
    }
}

/// Type-check and validate one value against its key definition.
fn check_value(def: &ConfigKey, value: &str) -> Result<(), String> {
    match def.ty {
        ConfigType::Bool => parse_bool(value).map(|_| ()),
        ConfigType::Int | ConfigType::Short | ConfigType::Long => {
            let n = parse_integer(value, def.ty)?;
            match def.validator {
                Validator::AtLeast(min) if n < min => Err(format!("must be at least {min}")),
                _ => Ok(()),
            }
        }
        ConfigType::String => match def.validator {
            Validator::OneOf(options) if !options.contains(&value) => {
                Err(format!("expected one of: {}", options.join(", ")))
            }
            _ => Ok(()),
        },
        ConfigType::List => match def.validator {
            Validator::ListOf(options) => {
                let items = listener::split_csv(value);
                if items.is_empty() {
                    return Err(format!("expected one or more of: {}", options.join(", ")));
                }
                match items.iter().find(|i| !options.contains(&i.as_str())) {
                    Some(bad) => Err(format!("'{bad}' is not one of: {}", options.join(", "))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        },
    }
}

/// Kafka treats `broker.id` and `node.id` as synonyms (`KafkaConfig.populateSynonyms`): if one
/// is set the other takes its value; if both are set they must agree.
fn mirror_node_id_and_broker_id(
    originals: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let node = originals.get("node.id").cloned();
    let broker = originals.get("broker.id").cloned();
    match (node, broker) {
        (Some(n), Some(b)) => {
            // Both already passed the Int check.
            if parse_integer(&n, ConfigType::Int) != parse_integer(&b, ConfigType::Int) {
                return Err(rule(format!(
                    "node.id ({n}) and broker.id ({b}) must be the same: broker.id is an alias \
                     of node.id; set only node.id"
                )));
            }
        }
        (Some(n), None) => {
            originals.insert("broker.id".to_string(), n);
        }
        (None, Some(b)) => {
            originals.insert("node.id".to_string(), b);
        }
        (None, None) => {}
    }
    Ok(())
}

/// Typed access to supplied-or-default values. Pass 1 has type-checked every supplied value
/// and the defaults are well-formed (a unit test builds the all-defaults config), so these
/// getters fail only on broken invariants; they still return errors rather than panic.
struct Values<'a> {
    originals: &'a BTreeMap<String, String>,
}

impl Values<'_> {
    fn def(&self, name: &str) -> Result<&'static ConfigKey, ConfigError> {
        keys::lookup(name)
            .ok_or_else(|| rule(format!("internal error: {name} is not in the key table")))
    }

    /// The supplied value, or the default; `None` for an unset key without a default.
    fn text(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        let def = self.def(name)?;
        Ok(self.originals.get(name).map(String::as_str).or(def.default))
    }

    fn is_set(&self, name: &str) -> bool {
        self.originals.contains_key(name)
    }

    fn opt_integer(&self, name: &str) -> Result<Option<i64>, ConfigError> {
        let def = self.def(name)?;
        match self.text(name)? {
            None => Ok(None),
            Some(t) => parse_integer(t, def.ty)
                .map(Some)
                .map_err(|reason| invalid(name, t, reason)),
        }
    }

    fn integer(&self, name: &'static str) -> Result<i64, ConfigError> {
        self.opt_integer(name)?.ok_or(ConfigError::Missing {
            key: name,
            reason: "no value and no default".to_string(),
        })
    }

    fn int(&self, name: &'static str) -> Result<i32, ConfigError> {
        let n = self.integer(name)?;
        i32::try_from(n).map_err(|_| invalid(name, &n.to_string(), "out of range"))
    }

    fn opt_int(&self, name: &'static str) -> Result<Option<i32>, ConfigError> {
        self.opt_integer(name)?
            .map(|n| i32::try_from(n).map_err(|_| invalid(name, &n.to_string(), "out of range")))
            .transpose()
    }

    fn short(&self, name: &'static str) -> Result<i16, ConfigError> {
        let n = self.integer(name)?;
        i16::try_from(n).map_err(|_| invalid(name, &n.to_string(), "out of range"))
    }

    fn long(&self, name: &'static str) -> Result<i64, ConfigError> {
        self.integer(name)
    }

    fn opt_long(&self, name: &'static str) -> Result<Option<i64>, ConfigError> {
        self.opt_integer(name)
    }

    fn bool(&self, name: &'static str) -> Result<bool, ConfigError> {
        let t = self.text(name)?.unwrap_or("false");
        parse_bool(t).map_err(|reason| invalid(name, t, reason))
    }

    /// A string value; empty counts as unset.
    fn opt_string(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        Ok(self
            .text(name)?
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    fn string(&self, name: &'static str) -> Result<String, ConfigError> {
        Ok(self.text(name)?.unwrap_or("").to_string())
    }

    fn list(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .text(name)?
            .map(listener::split_csv)
            .unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------------------------
// Building and cross-key validation
// ---------------------------------------------------------------------------------------------

fn parse_roles(v: &Values<'_>) -> Result<BTreeSet<ProcessRole>, ConfigError> {
    let raw = v.string("process.roles")?;
    let mut roles = BTreeSet::new();
    for name in listener::split_csv(&raw) {
        let role = match name.as_str() {
            "broker" => ProcessRole::Broker,
            "controller" => ProcessRole::Controller,
            other => {
                return Err(invalid(
                    "process.roles",
                    &raw,
                    format!("unknown role '{other}' (the roles are 'broker' and 'controller')"),
                ))
            }
        };
        if !roles.insert(role) {
            return Err(invalid(
                "process.roles",
                &raw,
                format!("role '{name}' is listed twice"),
            ));
        }
    }
    Ok(roles)
}

/// `log.retention.ms` > `log.retention.minutes` > `log.retention.hours`; negative means
/// unlimited (-1); zero is rejected (Kafka `logRetentionTimeMillis` and its `require`).
fn retention_ms(v: &Values<'_>) -> Result<i64, ConfigError> {
    let (key, ms) = if let Some(ms) = v.opt_long("log.retention.ms")? {
        ("log.retention.ms", ms)
    } else if let Some(min) = v.opt_int("log.retention.minutes")? {
        ("log.retention.minutes", i64::from(min) * 60_000)
    } else {
        (
            "log.retention.hours",
            i64::from(v.int("log.retention.hours")?) * 3_600_000,
        )
    };
    if ms == 0 {
        let shown = v.text(key)?.unwrap_or("0").to_string();
        return Err(invalid(
            key,
            &shown,
            "retention must be unlimited (-1) or at least 1 ms",
        ));
    }
    Ok(if ms < 0 { -1 } else { ms })
}

/// `log.roll.ms` > `log.roll.hours` (same for the jitter pair).
fn millis_or_hours(
    v: &Values<'_>,
    ms_key: &'static str,
    hours_key: &'static str,
) -> Result<i64, ConfigError> {
    match v.opt_long(ms_key)? {
        Some(ms) => Ok(ms),
        None => Ok(i64::from(v.int(hours_key)?) * 3_600_000),
    }
}

fn build(v: &Values<'_>, warnings: &mut Vec<ConfigWarning>) -> Result<ServerConfig, ConfigError> {
    let process_roles = parse_roles(v)?;
    let kraft = !process_roles.is_empty();
    let is_broker = !kraft || process_roles.contains(&ProcessRole::Broker);
    let is_controller = process_roles.contains(&ProcessRole::Controller);
    let node_id = v.int("node.id")?;
    let zookeeper_connect = v.opt_string("zookeeper.connect")?;

    if kraft && node_id < 0 {
        return Err(ConfigError::Missing {
            key: "node.id",
            reason: "it is required when process.roles is set (KRaft mode); give this node a \
                     unique non-negative id"
                .to_string(),
        });
    }
    if !kraft && zookeeper_connect.is_none() {
        return Err(ConfigError::Missing {
            key: "zookeeper.connect",
            reason: "set process.roles (KRaft mode, e.g. process.roles=broker,controller) or \
                     zookeeper.connect (ZooKeeper mode)"
                .to_string(),
        });
    }

    // --- Log directories ---
    let log_dirs_text = match v.opt_string("log.dirs")? {
        Some(dirs) => dirs,
        None => v.string("log.dir")?,
    };
    let log_dirs: Vec<PathBuf> = listener::split_csv(&log_dirs_text)
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let Some(first_log_dir) = log_dirs.first().cloned() else {
        return Err(rule(
            "At least one log directory must be defined via log.dirs or log.dir.",
        ));
    };
    let metadata_log_dir = v
        .opt_string("metadata.log.dir")?
        .map(PathBuf::from)
        .unwrap_or(first_log_dir);

    // --- Time-based log settings ---
    let log_retention_ms = retention_ms(v)?;
    let log_roll_ms = millis_or_hours(v, "log.roll.ms", "log.roll.hours")?;
    if log_roll_ms < 1 {
        return Err(invalid(
            "log.roll.ms",
            &log_roll_ms.to_string(),
            "must be at least 1",
        ));
    }
    // Validated as Kafka does; segments roll without jitter (`keys::NO_EFFECT_KEYS`).
    let log_roll_jitter_ms = millis_or_hours(v, "log.roll.jitter.ms", "log.roll.jitter.hours")?;
    if log_roll_jitter_ms < 0 {
        return Err(invalid(
            "log.roll.jitter.ms",
            &log_roll_jitter_ms.to_string(),
            "must be at least 0",
        ));
    }
    let log_flush_interval_ms = match v.opt_long("log.flush.interval.ms")? {
        Some(ms) => ms,
        None => v.long("log.flush.scheduler.interval.ms")?,
    };

    // --- Listeners ---
    let controller_listener_names: Vec<String> = v
        .list("controller.listener.names")?
        .into_iter()
        .map(|n| n.to_ascii_uppercase())
        .collect();
    if kraft && controller_listener_names.is_empty() {
        // Checked before parsing listeners: without it the controller listener has no
        // security protocol, and that error would hide the real cause.
        return Err(ConfigError::Missing {
            key: "controller.listener.names",
            reason: if is_controller {
                "it must contain at least one value appearing in the 'listeners' configuration \
                 when running the KRaft controller role (e.g. CONTROLLER)"
                    .to_string()
            } else {
                "it must contain at least one value when running KRaft with just the broker \
                 role (the listener name the controllers use)"
                    .to_string()
            },
        });
    }
    let listeners_text = v.string("listeners")?;
    let protocol_map =
        effective_protocol_map(v, kraft, &controller_listener_names, &listeners_text)?;
    let listeners = listener::parse_listeners(&listeners_text, &protocol_map, true)
        .map_err(|reason| invalid("listeners", &listeners_text, reason))?;
    let advertised_text = v.opt_string("advertised.listeners")?;
    let advertised_all = match &advertised_text {
        Some(text) => listener::parse_listeners(text, &protocol_map, false)
            .map_err(|reason| invalid("advertised.listeners", text, reason))?,
        None => listeners.clone(),
    };
    let is_controller_name = |l: &Listener| controller_listener_names.contains(&l.name);
    let advertised_listeners: Vec<Listener> = if is_broker {
        advertised_all
            .iter()
            .filter(|l| !is_controller_name(l))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let inter_broker_listener_name = inter_broker_listener(v, &protocol_map)?;

    // --- Quorum ---
    let voters_text = v.string("controller.quorum.voters")?;
    let controller_quorum_voters = listener::parse_voters(&voters_text)
        .map_err(|reason| invalid("controller.quorum.voters", &voters_text, reason))?;
    let bootstrap_text = v.string("controller.quorum.bootstrap.servers")?;
    let controller_quorum_bootstrap_servers = listener::parse_bootstrap_servers(&bootstrap_text)
        .map_err(|reason| {
            invalid(
                "controller.quorum.bootstrap.servers",
                &bootstrap_text,
                reason,
            )
        })?;

    if kraft {
        validate_kraft(&KraftCheck {
            roles: &process_roles,
            node_id,
            voters: &controller_quorum_voters,
            bootstrap_servers_set: !controller_quorum_bootstrap_servers.is_empty(),
            listeners: &listeners,
            controller_listener_names: &controller_listener_names,
            protocol_map: &protocol_map,
        })?;
        if !is_controller && controller_listener_names.len() > 1 {
            warnings.push(ConfigWarning {
                key: "controller.listener.names".to_string(),
                message: format!(
                    "controller.listener.names has several entries ({}); a broker-only node \
                     uses only the first",
                    controller_listener_names.join(",")
                ),
            });
        }
    }
    if is_broker {
        validate_broker_listeners(
            &listeners,
            &advertised_listeners,
            &inter_broker_listener_name,
            &controller_listener_names,
        )?;
    }
    // Kafka rejects 0.0.0.0 in what is advertised; a controller listener inherited from
    // `listeners` may bind 0.0.0.0 (Kafka 3.9 drops the host when advertising it).
    let checked_for_wildcard = if advertised_text.is_some() {
        &advertised_all
    } else {
        &advertised_listeners
    };
    if let Some(l) = checked_for_wildcard
        .iter()
        .find(|l| l.host.as_deref() == Some("0.0.0.0"))
    {
        return Err(invalid(
            "advertised.listeners",
            &l.to_string(),
            "cannot use the nonroutable meta-address 0.0.0.0; use a routable IP address",
        ));
    }
    reject_unsupported_protocols(
        &listeners,
        &advertised_all,
        &controller_listener_names,
        &protocol_map,
        is_controller,
    )?;

    let log_cleanup_policy = v
        .list("log.cleanup.policy")?
        .iter()
        .map(|p| match p.as_str() {
            "compact" => CleanupPolicy::Compact,
            _ => CleanupPolicy::Delete,
        })
        .collect();
    let log_message_timestamp_type = match v.string("log.message.timestamp.type")?.as_str() {
        "LogAppendTime" => TimestampType::LogAppendTime,
        _ => TimestampType::CreateTime,
    };

    Ok(ServerConfig {
        config_path: None,
        process_roles,
        node_id,
        broker_rack: v.opt_string("broker.rack")?,
        controller_quorum_voters,
        controller_quorum_election_timeout_ms: v.int("controller.quorum.election.timeout.ms")?,
        controller_quorum_fetch_timeout_ms: v.int("controller.quorum.fetch.timeout.ms")?,
        controller_quorum_election_backoff_max_ms: v
            .int("controller.quorum.election.backoff.max.ms")?,
        controller_quorum_request_timeout_ms: v.int("controller.quorum.request.timeout.ms")?,
        controller_quorum_retry_backoff_ms: v.int("controller.quorum.retry.backoff.ms")?,
        broker_session_timeout_ms: v.int("broker.session.timeout.ms")?,
        metadata_log_segment_bytes: v.int("metadata.log.segment.bytes")?,
        metadata_log_segment_ms: v.long("metadata.log.segment.ms")?,
        metadata_log_max_record_bytes_between_snapshots: v
            .long("metadata.log.max.record.bytes.between.snapshots")?,
        metadata_log_max_snapshot_interval_ms: v.long("metadata.log.max.snapshot.interval.ms")?,
        metadata_max_retention_bytes: v.long("metadata.max.retention.bytes")?,
        metadata_max_retention_ms: v.long("metadata.max.retention.ms")?,
        listeners,
        advertised_listeners,
        controller_listener_names,
        socket_request_max_bytes: v.int("socket.request.max.bytes")?,
        max_connections: v.int("max.connections")?,
        connections_max_idle_ms: v.long("connections.max.idle.ms")?,
        request_timeout_ms: v.int("request.timeout.ms")?,
        log_dirs,
        metadata_log_dir,
        num_partitions: v.int("num.partitions")?,
        default_replication_factor: v.int("default.replication.factor")?,
        auto_create_topics_enable: v.bool("auto.create.topics.enable")?,
        delete_topic_enable: v.bool("delete.topic.enable")?,
        log_segment_bytes: v.int("log.segment.bytes")?,
        log_roll_ms,
        log_retention_ms,
        log_retention_bytes: v.long("log.retention.bytes")?,
        log_retention_check_interval_ms: v.long("log.retention.check.interval.ms")?,
        log_cleanup_policy,
        log_cleaner_enable: v.bool("log.cleaner.enable")?,
        log_cleaner_backoff_ms: v.long("log.cleaner.backoff.ms")?,
        log_cleaner_dedupe_buffer_size: v.long("log.cleaner.dedupe.buffer.size")?,
        log_cleaner_delete_retention_ms: v.long("log.cleaner.delete.retention.ms")?,
        log_cleaner_min_compaction_lag_ms: v.long("log.cleaner.min.compaction.lag.ms")?,
        log_cleaner_max_compaction_lag_ms: v.long("log.cleaner.max.compaction.lag.ms")?,
        log_flush_interval_messages: v.long("log.flush.interval.messages")?,
        log_flush_interval_ms,
        log_index_interval_bytes: v.int("log.index.interval.bytes")?,
        log_index_size_max_bytes: v.int("log.index.size.max.bytes")?,
        log_message_timestamp_type,
        message_max_bytes: v.int("message.max.bytes")?,
        fetch_max_bytes: v.int("fetch.max.bytes")?,
        group_initial_rebalance_delay_ms: v.int("group.initial.rebalance.delay.ms")?,
        group_min_session_timeout_ms: v.int("group.min.session.timeout.ms")?,
        group_max_session_timeout_ms: v.int("group.max.session.timeout.ms")?,
        group_max_size: v.int("group.max.size")?,
        offsets_topic_replication_factor: v.short("offsets.topic.replication.factor")?,
        offsets_topic_num_partitions: v.int("offsets.topic.num.partitions")?,
        offsets_topic_segment_bytes: v.int("offsets.topic.segment.bytes")?,
        offsets_retention_minutes: v.int("offsets.retention.minutes")?,
        offsets_retention_check_interval_ms: v.long("offsets.retention.check.interval.ms")?,
        offset_metadata_max_bytes: v.int("offset.metadata.max.bytes")?,
        producer_id_expiration_ms: v.int("producer.id.expiration.ms")?,
        producer_id_expiration_check_interval_ms: v
            .int("producer.id.expiration.check.interval.ms")?,
        originals: BTreeMap::new(),
    })
}

/// `listener.security.protocol.map`, plus Kafka's KRaft convenience: when the map is not set
/// explicitly and no SSL/SASL listener is in sight, controller listener names map to
/// PLAINTEXT (`KafkaConfig.effectiveListenerSecurityProtocolMap`).
fn effective_protocol_map(
    v: &Values<'_>,
    kraft: bool,
    controller_listener_names: &[String],
    listeners_text: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let text = v.string("listener.security.protocol.map")?;
    let mut map = listener::parse_security_protocol_map(&text)
        .map_err(|reason| invalid("listener.security.protocol.map", &text, reason))?;
    if kraft && !v.is_set("listener.security.protocol.map") {
        let secure = |name: &str| matches!(name, "SSL" | "SASL_SSL" | "SASL_PLAINTEXT");
        let any_secure = controller_listener_names.iter().any(|n| secure(n))
            || listener::split_csv(listeners_text)
                .iter()
                .filter_map(|e| listener::listener_name_of(e))
                .any(|n| secure(&n));
        if !any_secure {
            for name in controller_listener_names {
                map.entry(name.clone())
                    .or_insert(SecurityProtocol::Plaintext);
            }
        }
    }
    Ok(map)
}

/// `inter.broker.listener.name`, or the listener named after `security.inter.broker.protocol`.
fn inter_broker_listener(
    v: &Values<'_>,
    protocol_map: &BTreeMap<String, SecurityProtocol>,
) -> Result<String, ConfigError> {
    match v.opt_string("inter.broker.listener.name")? {
        Some(_) if v.is_set("security.inter.broker.protocol") => Err(rule(
            "Only one of inter.broker.listener.name and security.inter.broker.protocol should \
             be set.",
        )),
        Some(name) => {
            let name = name.to_ascii_uppercase();
            if !protocol_map.contains_key(&name) {
                return Err(invalid(
                    "inter.broker.listener.name",
                    &name,
                    "not found in listener.security.protocol.map",
                ));
            }
            Ok(name)
        }
        None => Ok(v.string("security.inter.broker.protocol")?),
    }
}

struct KraftCheck<'a> {
    roles: &'a BTreeSet<ProcessRole>,
    node_id: i32,
    voters: &'a [QuorumVoter],
    bootstrap_servers_set: bool,
    listeners: &'a [Listener],
    controller_listener_names: &'a [String],
    protocol_map: &'a BTreeMap<String, SecurityProtocol>,
}

/// The KRaft rules of `KafkaConfig.validateValues`, with Kafka's wording where it names keys.
fn validate_kraft(c: &KraftCheck<'_>) -> Result<(), ConfigError> {
    let is_controller = c.roles.contains(&ProcessRole::Controller);
    let is_broker = c.roles.contains(&ProcessRole::Broker);
    let voter_ids: BTreeSet<i32> = c.voters.iter().map(|v| v.id).collect();
    let voter_ids_text = format!(
        "[{}]",
        voter_ids
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let listener_names: BTreeSet<&str> = c.listeners.iter().map(|l| l.name.as_str()).collect();

    if c.voters.is_empty() {
        return Err(if c.bootstrap_servers_set {
            ConfigError::Unsupported {
                key: "controller.quorum.bootstrap.servers".to_string(),
                value: "(set without controller.quorum.voters)".to_string(),
                reason: "dynamic KRaft quorums (KIP-853) are not supported yet; list the \
                         controllers in controller.quorum.voters as id@host:port,..."
                    .to_string(),
            }
        } else {
            ConfigError::Missing {
                key: "controller.quorum.voters",
                reason: "every KRaft node needs the controller quorum, as \
                         id1@host1:port1,id2@host2:port2,..."
                    .to_string(),
            }
        });
    }
    if is_controller {
        if !voter_ids.contains(&c.node_id) {
            return Err(rule(format!(
                "If process.roles contains the 'controller' role, the node id {} must be \
                 included in the set of voters controller.quorum.voters={voter_ids_text}",
                c.node_id
            )));
        }
        if let Some(missing) = c
            .controller_listener_names
            .iter()
            .find(|n| !listener_names.contains(n.as_str()))
        {
            return Err(rule(format!(
                "controller.listener.names must only contain values appearing in the \
                 'listeners' configuration when running the KRaft controller role: {missing} \
                 is not in listeners"
            )));
        }
        if !is_broker {
            if let Some(l) = c
                .listeners
                .iter()
                .find(|l| !c.controller_listener_names.contains(&l.name))
            {
                return Err(rule(format!(
                    "The listeners config must only contain KRaft controller listeners from \
                     controller.listener.names when process.roles=controller: {} is not a \
                     controller listener",
                    l.name
                )));
            }
        }
    } else {
        // Broker-only.
        if voter_ids.contains(&c.node_id) {
            return Err(rule(format!(
                "If process.roles contains just the 'broker' role, the node id {} must not be \
                 included in the set of voters controller.quorum.voters={voter_ids_text}",
                c.node_id
            )));
        }
        if let Some(name) = c
            .controller_listener_names
            .iter()
            .find(|n| listener_names.contains(n.as_str()))
        {
            return Err(rule(format!(
                "controller.listener.names must not contain a value appearing in the \
                 'listeners' configuration when running KRaft with just the broker role: \
                 remove {name} from listeners (controllers serve it, this broker only \
                 connects to it)"
            )));
        }
        if let Some(name) = c
            .controller_listener_names
            .iter()
            .find(|n| !c.protocol_map.contains_key(n.as_str()))
        {
            return Err(rule(format!(
                "Controller listener with name {name} defined in controller.listener.names not \
                 found in listener.security.protocol.map (an explicit security mapping for each \
                 controller listener is required if listener.security.protocol.map is set)"
            )));
        }
    }
    Ok(())
}

/// Rules for every node with the broker role (and every ZooKeeper-mode broker).
fn validate_broker_listeners(
    listeners: &[Listener],
    advertised: &[Listener],
    inter_broker_listener_name: &str,
    controller_listener_names: &[String],
) -> Result<(), ConfigError> {
    let names = |ls: &[Listener]| ls.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    if advertised.is_empty() {
        return Err(rule(if controller_listener_names.is_empty() {
            "There must be at least one broker advertised listener: set listeners (and \
             advertised.listeners)"
                .to_string()
        } else {
            "There must be at least one broker advertised listener. Perhaps all listeners \
             appear in controller.listener.names?"
                .to_string()
        }));
    }
    if !advertised
        .iter()
        .any(|l| l.name == inter_broker_listener_name)
    {
        return Err(rule(format!(
            "inter.broker.listener.name must be a listener name defined in \
             advertised.listeners. The valid options based on currently configured listeners \
             are {} (inter.broker.listener.name is {inter_broker_listener_name})",
            names(advertised).join(",")
        )));
    }
    let listener_names = names(listeners);
    if let Some(l) = advertised
        .iter()
        .find(|l| !listener_names.contains(&l.name))
    {
        return Err(rule(format!(
            "advertised.listeners listener names must be equal to or a subset of the ones \
             defined in listeners. Found {}. The valid options based on the current \
             configuration are {}",
            l.name,
            listener_names.join(",")
        )));
    }
    Ok(())
}

/// kraftbridge serves PLAINTEXT only: any listener this node binds, advertises or uses to reach
/// the controllers with another protocol is a start-up error, not a silent downgrade.
fn reject_unsupported_protocols(
    listeners: &[Listener],
    advertised: &[Listener],
    controller_listener_names: &[String],
    protocol_map: &BTreeMap<String, SecurityProtocol>,
    is_controller: bool,
) -> Result<(), ConfigError> {
    let unsupported = |key: &str, what: String, p: SecurityProtocol| ConfigError::Unsupported {
        key: key.to_string(),
        value: what,
        reason: format!(
            "security protocol {p} is not supported yet; kraftbridge serves PLAINTEXT only"
        ),
    };
    for (key, list) in [
        ("listeners", listeners),
        ("advertised.listeners", advertised),
    ] {
        if let Some(l) = list
            .iter()
            .find(|l| l.security_protocol != SecurityProtocol::Plaintext)
        {
            return Err(unsupported(key, l.to_string(), l.security_protocol));
        }
    }
    if !is_controller {
        // A broker-only node dials the controllers with the first controller listener.
        if let Some((name, p)) = controller_listener_names
            .first()
            .and_then(|n| protocol_map.get(n).map(|p| (n, *p)))
            .filter(|(_, p)| *p != SecurityProtocol::Plaintext)
        {
            return Err(unsupported("controller.listener.names", name.clone(), p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The single-node KRaft quickstart, as the quickstart generator writes it.
    const COMBINED: &str = "\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kb/data
";

    fn load(text: &str) -> LoadedConfig {
        ServerConfig::parse(text, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn load_err(text: &str) -> String {
        match ServerConfig::parse(text, &[]) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn with(extra: &str) -> String {
        format!("{COMBINED}{extra}\n")
    }

    /// COMBINED with the lines starting with `key=` removed.
    fn without(keys: &[&str]) -> String {
        COMBINED
            .lines()
            .filter(|l| !keys.iter().any(|k| l.starts_with(&format!("{k}="))))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn combined_quickstart_and_kafka_defaults() {
        let loaded = load(COMBINED);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = loaded.config;
        assert!(c.is_kraft() && c.is_broker() && c.is_controller());
        assert_eq!(c.node_id, 1);
        assert_eq!(
            c.controller_quorum_voters,
            vec![QuorumVoter {
                id: 1,
                host: "127.0.0.1".into(),
                port: 9093
            }]
        );
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.advertised_listeners.len(), 1);
        assert_eq!(c.advertised_listeners[0].name, "PLAINTEXT");
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kb/data")]);
        assert_eq!(c.metadata_log_dir, PathBuf::from("/tmp/kb/data"));
        // Kafka's defaults.
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.default_replication_factor, 1);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.log_segment_bytes, 1_073_741_824);
        assert_eq!(c.log_roll_ms, 168 * 3_600_000);
        assert_eq!(c.log_retention_ms, 168 * 3_600_000);
        assert_eq!(c.log_retention_bytes, -1);
        assert_eq!(c.log_flush_interval_messages, i64::MAX);
        assert_eq!(c.log_flush_interval_ms, i64::MAX);
        assert_eq!(c.log_index_interval_bytes, 4096);
        assert_eq!(c.log_index_size_max_bytes, 10_485_760);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.offsets_topic_replication_factor, 3);
        assert_eq!(c.offsets_topic_num_partitions, 50);
        assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
        assert_eq!(c.max_connections, i32::MAX);
        assert_eq!(
            c.log_cleanup_policy,
            BTreeSet::from([CleanupPolicy::Delete])
        );
        assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
        assert!(c.delete_topic_enable);
        assert_eq!(c.log_retention_check_interval_ms, 300_000);
        assert_eq!(c.fetch_max_bytes, 57_671_680);
        assert_eq!(c.offset_metadata_max_bytes, 4096);
    }

    #[test]
    fn every_default_parses() {
        // Building uses every getter against Kafka's defaults; a malformed default in the
        // table would fail here.
        for k in keys::KEYS {
            if let Some(d) = k.default {
                check_value(k, d).unwrap_or_else(|e| panic!("default of {}: {e}", k.name));
            }
        }
        load(COMBINED);
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let c = ServerConfig::parse(
            COMBINED,
            &["num.partitions=3".into(), "log.dirs = /a, /b ".into()],
        )
        .unwrap()
        .config;
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.metadata_log_dir, PathBuf::from("/a"));
        let e = ServerConfig::parse(COMBINED, &["num.partitions".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid --override 'num.partitions': expected key=value"
        );
        let e = ServerConfig::parse(COMBINED, &["num.partitions=x".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value 'x' for num.partitions: expected an integer"
        );
        // Values may contain '='.
        let (k, v) = parse_override("a=b=c").unwrap();
        assert_eq!((k.as_str(), v.as_str()), ("a", "b=c"));
    }

    #[test]
    fn invalid_values_name_key_value_and_reason() {
        assert_eq!(
            load_err(&with("log.segment.bytes=abc")),
            "invalid value 'abc' for log.segment.bytes: expected an integer"
        );
        assert_eq!(
            load_err(&with("log.segment.bytes=10")),
            "invalid value '10' for log.segment.bytes: must be at least 14"
        );
        assert_eq!(
            load_err(&with("log.segment.bytes=3000000000")),
            "invalid value '3000000000' for log.segment.bytes: out of range for a 32-bit \
             integer (-2147483648 to 2147483647)"
        );
        assert_eq!(
            load_err(&with("offsets.topic.replication.factor=40000")),
            "invalid value '40000' for offsets.topic.replication.factor: out of range for a \
             16-bit integer (-32768 to 32767)"
        );
        assert_eq!(
            load_err(&with("auto.create.topics.enable=yes")),
            "invalid value 'yes' for auto.create.topics.enable: expected true or false"
        );
        assert_eq!(
            load_err(&with("log.message.timestamp.type=createtime")),
            "invalid value 'createtime' for log.message.timestamp.type: expected one of: \
             CreateTime, LogAppendTime"
        );
        assert_eq!(
            load_err(&with("log.cleanup.policy=delete,forever")),
            "invalid value 'delete,forever' for log.cleanup.policy: 'forever' is not one of: \
             compact, delete"
        );
        assert_eq!(
            load_err(&with("process.roles=broker,zookeeper")),
            "invalid value 'broker,zookeeper' for process.roles: unknown role 'zookeeper' (the \
             roles are 'broker' and 'controller')"
        );
        assert!(load_err(&with("process.roles=broker,broker")).contains("listed twice"));
        // A bad value for a key we ignore semantically but type-check still stops start-up.
        assert!(load_err(&with("num.io.threads=0")).contains("must be at least 1"));
        // Booleans are case-insensitive, as in Kafka.
        assert!(
            !load(&with("auto.create.topics.enable=FALSE"))
                .config
                .auto_create_topics_enable
        );
    }

    #[test]
    fn unknown_keys_warn_by_name_and_keys_without_effect_say_so() {
        let loaded = load(&with(
            "foo.bar=1\nssl.keystore.location=/x\nsocket.send.buffer.bytes=102400\n\
             listener.name.controller.sasl.enabled.mechanisms=PLAIN\nauthorizer.class.name=\n\
             num.partitons=3\ncontroller.quorum.linger.ms=5",
        ));
        let keys: Vec<&str> = loaded.warnings.iter().map(|w| w.key.as_str()).collect();
        // `controller.quorum.linger.ms` is not a Kafka key (Kafka's is
        // `controller.quorum.append.linger.ms`).
        assert_eq!(
            keys,
            vec!["controller.quorum.linger.ms", "foo.bar", "num.partitons"]
        );
        assert_eq!(
            loaded.warnings[1].to_string(),
            "ignoring unknown configuration key 'foo.bar'"
        );
        // One line per key set that does nothing: typed ones (socket.send.buffer.bytes, and
        // COMBINED's inter.broker.listener.name) and untyped ones alike.
        let keys: Vec<&str> = loaded
            .without_effect
            .iter()
            .map(|w| w.key.as_str())
            .collect();
        assert_eq!(
            keys,
            vec![
                "authorizer.class.name",
                "inter.broker.listener.name",
                "listener.name.controller.sasl.enabled.mechanisms",
                "socket.send.buffer.bytes",
                "ssl.keystore.location"
            ]
        );
        assert_eq!(
            loaded.without_effect[3].to_string(),
            "socket.send.buffer.bytes: accepted, has no effect in kraftbridge yet"
        );
        // Not set, not logged: Kafka's defaults of no-effect keys say nothing.
        let loaded = load(&without(&["inter.broker.listener.name"]));
        assert!(
            loaded.without_effect.is_empty(),
            "{:?}",
            loaded.without_effect
        );
    }

    #[test]
    fn java_properties_syntax_in_server_properties() {
        let text = "\
! Kafka files use both comment styles
# and both separators
process.roles : broker,controller
node.id 1
controller.quorum.voters=1@127.0.0.1:9093
listeners = PLAINTEXT://127.0.0.1:9092,\\
            CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROL\\u004CER\r
log.dirs=/tmp/with\\ space  \n\
num.partitions=\\
   7
";
        let c = load(text).config;
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.controller_listener_names, vec!["CONTROLLER"]);
        // Trailing blanks are trimmed from values, escaped inner ones kept.
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/with space")]);
        assert_eq!(c.num_partitions, 7);
    }

    #[test]
    fn duplicate_keys_warn_and_last_wins() {
        let loaded = load(&with("num.partitions=2\nnum.partitions=4"));
        assert_eq!(loaded.config.num_partitions, 4);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].message.contains("set more than once"));
    }

    #[test]
    fn retention_and_roll_precedence() {
        let c = load(COMBINED).config;
        assert_eq!(c.log_retention_ms, 604_800_000);
        let c = load(&with("log.retention.hours=1")).config;
        assert_eq!(c.log_retention_ms, 3_600_000);
        let c = load(&with("log.retention.hours=1\nlog.retention.minutes=2")).config;
        assert_eq!(c.log_retention_ms, 120_000);
        let c = load(&with("log.retention.minutes=2\nlog.retention.ms=5")).config;
        assert_eq!(c.log_retention_ms, 5);
        let c = load(&with("log.retention.ms=-5")).config;
        assert_eq!(c.log_retention_ms, -1);
        assert_eq!(
            load_err(&with("log.retention.ms=0")),
            "invalid value '0' for log.retention.ms: retention must be unlimited (-1) or at \
             least 1 ms"
        );
        let c = load(&with("log.roll.hours=2")).config;
        assert_eq!(c.log_roll_ms, 7_200_000);
        let c = load(&with("log.roll.hours=2\nlog.roll.ms=10")).config;
        assert_eq!(c.log_roll_ms, 10);
        assert!(load_err(&with("log.roll.ms=0")).contains("log.roll.ms"));
        let c = load(&with("log.flush.interval.ms=1000")).config;
        assert_eq!(c.log_flush_interval_ms, 1000);
    }

    #[test]
    fn log_dir_fallbacks() {
        let c = load(&without(&["log.dirs"])).config;
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
        let c = load(&format!("{}log.dir=/one\n", without(&["log.dirs"]))).config;
        assert_eq!(c.log_dirs, vec![PathBuf::from("/one")]);
        let c = load(&with("log.dir=/ignored\nmetadata.log.dir=/meta")).config;
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kb/data")]);
        assert_eq!(c.metadata_log_dir, PathBuf::from("/meta"));
        assert_eq!(
            c.storage_dirs(),
            vec![PathBuf::from("/meta"), PathBuf::from("/tmp/kb/data")]
        );
        assert_eq!(
            load_err(&format!("{}log.dirs= , \n", without(&["log.dirs"]))),
            "At least one log directory must be defined via log.dirs or log.dir."
        );
    }

    #[test]
    fn node_id_rules() {
        assert_eq!(
            load_err(&without(&["node.id"])),
            "missing node.id: it is required when process.roles is set (KRaft mode); give this \
             node a unique non-negative id"
        );
        // broker.id is an alias.
        let c = load(&format!("{}broker.id=1\n", without(&["node.id"]))).config;
        assert_eq!(c.node_id, 1);
        assert_eq!(
            c.broker_config_entries()["node.id"],
            BrokerConfigEntry {
                value: Some("1".into()),
                is_default: false,
                config_type: 3
            }
        );
        assert!(load_err(&with("broker.id=2")).contains("node.id (1) and broker.id (2)"));
        load(&with("broker.id=01"));
    }

    #[test]
    fn voters_rules() {
        assert_eq!(
            load_err(&format!(
                "{}controller.quorum.voters=2@h:9093,3@h:9094\n",
                without(&["controller.quorum.voters"])
            )),
            "If process.roles contains the 'controller' role, the node id 1 must be included \
             in the set of voters controller.quorum.voters=[2, 3]"
        );
        assert!(load_err(&without(&["controller.quorum.voters"]))
            .starts_with("missing controller.quorum.voters"));
        assert!(load_err(&format!(
            "{}controller.quorum.bootstrap.servers=h:9093\n",
            without(&["controller.quorum.voters"])
        ))
        .contains("KIP-853"));
        assert_eq!(
            load_err(&format!(
                "{}controller.quorum.voters=1@h:9093,x\n",
                without(&["controller.quorum.voters"])
            )),
            "invalid value '1@h:9093,x' for controller.quorum.voters: voter 'x' is not in the \
             form id@host:port"
        );
    }

    const BROKER_ONLY: &str = "\
process.roles=broker
node.id=4
controller.quorum.voters=1@c1:9093,2@c2:9093,3@c3:9093
listeners=PLAINTEXT://:9092
controller.listener.names=CONTROLLER
";

    #[test]
    fn broker_only_node() {
        let c = load(BROKER_ONLY).config;
        assert!(c.is_broker() && !c.is_controller());
        assert_eq!(c.listeners[0].host, None);
        // Loads without an explicit map: Kafka's implicit CONTROLLER:PLAINTEXT mapping.
        assert_eq!(
            load_err(&format!(
                "{BROKER_ONLY}listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
            )),
            "controller.listener.names must not contain a value appearing in the 'listeners' \
             configuration when running KRaft with just the broker role: remove CONTROLLER \
             from listeners (controllers serve it, this broker only connects to it)"
        );
        assert!(load_err(&format!("{BROKER_ONLY}node.id=2\n"))
            .contains("must not be included in the set of voters"));
        assert!(
            load_err(&BROKER_ONLY.replace("controller.listener.names=CONTROLLER\n", ""))
                .starts_with("missing controller.listener.names")
        );
        // Explicit map without the controller listener.
        assert!(load_err(&format!(
            "{BROKER_ONLY}listener.security.protocol.map=PLAINTEXT:PLAINTEXT\n"
        ))
        .contains("Controller listener with name CONTROLLER"));
        // Several controller listener names: warning.
        let loaded = load(&format!(
            "{BROKER_ONLY}controller.listener.names=CONTROLLER,C2\n"
        ));
        assert_eq!(loaded.warnings[0].key, "controller.listener.names");
    }

    #[test]
    fn controller_only_node() {
        let text = "process.roles=controller\nnode.id=1\n\
                    controller.quorum.voters=1@c1:9093\nlisteners=CONTROLLER://c1:9093\n\
                    controller.listener.names=CONTROLLER\n";
        let c = load(text).config;
        assert!(c.advertised_listeners.is_empty());
        assert_eq!(c.listeners.len(), 1);
        assert!(load_err(&format!(
            "{text}listeners=CONTROLLER://c1:9093,PLAINTEXT://:9092\n"
        ))
        .contains("PLAINTEXT is not a controller listener"));
        assert!(load_err(&format!("{text}listeners=PLAINTEXT://:9092\n"))
            .contains("CONTROLLER is not in listeners"));
        assert!(
            load_err(&text.replace("controller.listener.names=CONTROLLER\n", ""))
                .starts_with("missing controller.listener.names")
        );
    }

    #[test]
    fn listener_validation() {
        assert!(load_err(&with("listeners=PLAINTEXT://127.0.0.1:9092"))
            .contains("CONTROLLER is not in listeners"));
        assert_eq!(
            load_err(&with("advertised.listeners=PLAINTEXT://0.0.0.0:9092")),
            "invalid value 'PLAINTEXT://0.0.0.0:9092' for advertised.listeners: cannot use the \
             nonroutable meta-address 0.0.0.0; use a routable IP address"
        );
        assert!(load_err(&with("inter.broker.listener.name=INTERNAL"))
            .contains("not found in listener.security.protocol.map"));
        assert!(load_err(&with("security.inter.broker.protocol=PLAINTEXT"))
            .contains("Only one of inter.broker.listener.name"));
        assert!(
            load_err(&with("listeners=PLAINTEXT://:9092,CONTROLLER://:9092"))
                .contains("different port")
        );
        assert!(load_err(&with("advertised.listeners=EXTERNAL://h:1"))
            .contains("no security protocol defined for listener EXTERNAL"));
        // Advertised names must be a subset of listener names.
        assert!(load_err(&with(
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,\
             EXTERNAL:PLAINTEXT\nadvertised.listeners=PLAINTEXT://h:1,EXTERNAL://h:2"
        ))
        .contains("subset of the ones defined in listeners"));
    }

    #[test]
    fn ssl_and_sasl_listeners_are_unsupported() {
        let e = load_err(&with(
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,SSL://:9094\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
        ));
        assert_eq!(
            e,
            "unsupported value 'SSL://:9094' for listeners: security protocol SSL is not \
             supported yet; kraftbridge serves PLAINTEXT only"
        );
        let e = load_err(&format!(
            "{BROKER_ONLY}listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL\n"
        ));
        assert!(
            e.contains("controller.listener.names") && e.contains("SASL_SSL"),
            "{e}"
        );
    }

    #[test]
    fn zookeeper_mode_is_accepted() {
        let c = load("zookeeper.connect=zk:2181/kafka\nbroker.id=0\nlisteners=PLAINTEXT://:9092\n")
            .config;
        assert!(!c.is_kraft());
        assert!(c.is_broker());
        assert_eq!(c.node_id, 0);
        assert!(load_err("listeners=PLAINTEXT://:9092\n").starts_with("missing zookeeper.connect"));
    }

    #[test]
    fn broker_config_entries_show_values_and_defaults() {
        let c = load(&with("num.partitions=3")).config;
        let entries = c.broker_config_entries();
        assert_eq!(
            entries["num.partitions"],
            BrokerConfigEntry {
                value: Some("3".into()),
                is_default: false,
                config_type: 3
            }
        );
        assert_eq!(
            entries["log.segment.bytes"],
            BrokerConfigEntry {
                value: Some("1073741824".into()),
                is_default: true,
                config_type: 3
            }
        );
        assert_eq!(
            entries["log.retention.ms"],
            BrokerConfigEntry {
                value: None,
                is_default: true,
                config_type: 5
            }
        );
        for key in [
            "process.roles",
            "node.id",
            "controller.quorum.voters",
            "controller.quorum.bootstrap.servers",
            "listeners",
            "advertised.listeners",
            "listener.security.protocol.map",
            "controller.listener.names",
            "inter.broker.listener.name",
            "log.dirs",
            "log.dir",
            "metadata.log.dir",
            "num.partitions",
            "default.replication.factor",
            "auto.create.topics.enable",
            "log.segment.bytes",
            "log.roll.ms",
            "log.roll.hours",
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
            "log.retention.bytes",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.index.interval.bytes",
            "log.index.size.max.bytes",
            "message.max.bytes",
            "socket.request.max.bytes",
            "offsets.topic.replication.factor",
            "offsets.topic.num.partitions",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "group.initial.rebalance.delay.ms",
            "num.network.threads",
            "num.io.threads",
            "max.connections",
            "zookeeper.connect",
            "broker.id",
            "log.cleanup.policy",
            "log.message.timestamp.type",
        ] {
            assert!(
                entries.contains_key(key),
                "{key} missing from broker_config_entries"
            );
        }
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, format!("{COMBINED}bad=\\u12zz\n")).unwrap();
        let e = ServerConfig::load(&path, &[]).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("line 10"), "{e}");
        let e = ServerConfig::load(&dir.path().join("absent"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read config file"), "{e}");
        std::fs::write(&path, COMBINED).unwrap();
        let loaded = ServerConfig::load(&path, &[]).unwrap();
        assert_eq!(loaded.config.config_path.as_deref(), Some(path.as_path()));
    }

    /// Garbage in, `Result` out. Deterministic pseudo-random inputs; the seed is printed so a
    /// failure can be replayed with `SEED=<n> cargo test --lib -- config::tests`.
    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let seed: u64 = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x6b62);
        println!("SEED={seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        const PIECES: &[&str] = &[
            "=",
            ":",
            "\\",
            "\\u",
            "\n",
            "\r\n",
            "#",
            "!",
            " ",
            ",",
            "@",
            "://",
            "[",
            "]",
            "process.roles",
            "broker",
            "controller",
            "node.id",
            "1",
            "-1",
            "99999999999",
            "listeners",
            "PLAINTEXT",
            "CONTROLLER",
            "SSL",
            "controller.quorum.voters",
            "controller.listener.names",
            "log.dirs",
            "log.retention.ms",
            "0",
            "é",
            "\u{0}",
            "advertised.listeners",
            "listener.security.protocol.map",
            "9093",
            "0.0.0.0",
            "zookeeper.connect",
            "broker.id",
            "log.cleanup.policy",
            "delete",
        ];
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..rng.gen_range(0..40) {
                if rng.gen_bool(0.1) {
                    text.push(char::from(rng.gen::<u8>()));
                } else {
                    text.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
                }
            }
            let _ = ServerConfig::parse(&text, &[]);
            let _ = ServerConfig::parse(COMBINED, &[text.clone()]);
        }
    }
}
