//! `kraftbridge storage random-uuid | format | info` (Kafka's `kafka-storage.sh`), and
//! [`check_storage`], the start-up check that refuses to run on unformatted or mismatched
//! log directories.
//!
//! Why formatting is a separate step (Kafka's KRaft README): auto-formatting can hide an
//! error — an unmounted data disk looks blank — and two controllers starting with blank
//! metadata logs could elect a leader with nothing in its log and lose all metadata. So the
//! server never formats; only the operator, through `storage format`, does.
//!
//! Input: the parsed `server.properties` ([`ServerConfig`]) and the `meta.properties` files in
//! its log directories. Behaviour follows Kafka 3.9's `StorageTool` and `Formatter`; output
//! text follows what the Kafka quickstart shows users.
//!
//! Not done here: Kafka's `format` also writes a bootstrap checkpoint (the initial
//! `metadata.version` feature level) and, for `--standalone`, a zero snapshot in
//! `__cluster_metadata-0`. That belongs to the metadata layer; `format` only creates the
//! directories and their `meta.properties`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use rand::RngCore;
use storage::dir_lock::DirLock;
use storage::meta_properties::{
    self, is_reserved_directory_id, meta_properties_path, parse_uuid, MetaProperties,
    MetaPropertiesError, MetaPropertiesVersion, Uuid,
};

use crate::config::{ConfigWarning, ServerConfig};

// ---------------------------------------------------------------------------------------------
// random-uuid
// ---------------------------------------------------------------------------------------------

/// A new cluster id the way Kafka's `Uuid.randomUuid` makes one: a random (version 4) UUID,
/// redrawn while it is reserved or its text starts with '-' (an id starting with '-' looks like
/// a command-line flag).
pub(crate) fn random_uuid(rng: &mut dyn RngCore) -> Uuid {
    loop {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // IETF variant
        let u = Uuid(b);
        if !is_reserved_uuid(&u) && !u.to_string().starts_with('-') {
            return u;
        }
    }
}

/// Kafka's `Uuid.RESERVED`: the zero id and `(0, 1)`, the `__cluster_metadata` topic id.
fn is_reserved_uuid(u: &Uuid) -> bool {
    u.0[..15].iter().all(|b| *b == 0) && u.0[15] <= 1
}

/// A new `directory.id` as Kafka's `Copier.generateValidDirectoryId` makes one: 128 random
/// bits, not a reserved directory id, not starting with '-', and not already `taken`.
fn random_directory_id(rng: &mut dyn RngCore, taken: &[Uuid]) -> Uuid {
    loop {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        let u = Uuid(b);
        if !is_reserved_directory_id(&u) && !u.to_string().starts_with('-') && !taken.contains(&u) {
            return u;
        }
    }
}

/// `kraftbridge storage random-uuid`: print a new cluster id.
pub(crate) fn random_uuid_command(out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "{}", random_uuid(&mut rand::thread_rng()))?;
    Ok(())
}

/// Check a `--cluster-id`: 22 characters of base64url encoding 16 bytes.
pub(crate) fn parse_cluster_id(cluster_id: &str) -> anyhow::Result<Uuid> {
    parse_uuid(cluster_id).map_err(|e| {
        anyhow::anyhow!(
            "Cluster ID string {cluster_id} does not appear to be a valid UUID: {e}. Generate \
             one with `kraftbridge storage random-uuid` and use the same id on every node."
        )
    })
}

// ---------------------------------------------------------------------------------------------
// format
// ---------------------------------------------------------------------------------------------

/// Arguments of `storage format` besides the configuration.
#[derive(Debug, Clone)]
pub(crate) struct FormatOptions {
    /// `-t/--cluster-id`.
    pub(crate) cluster_id: String,
    /// `-g/--ignore-formatted`: skip directories that are already formatted (for this
    /// cluster and node) and format the others.
    pub(crate) ignore_formatted: bool,
}

/// What we found in one directory before formatting.
enum DirState {
    Empty,
    Formatted(MetaProperties),
    Unreadable(MetaPropertiesError),
}

/// `kraftbridge storage format`: write `meta.properties` v1 (with a fresh `directory.id`) into
/// every log directory and the metadata log directory, creating them as needed.
///
/// Refuses, without writing anything, when a directory is already formatted for another
/// cluster or node id (even with `ignore_formatted`: a foreign directory is never overwritten),
/// or when one is formatted and `ignore_formatted` is off. Progress goes to `out`.
pub(crate) fn format(
    config: &ServerConfig,
    opts: &FormatOptions,
    out: &mut dyn Write,
    rng: &mut dyn RngCore,
) -> anyhow::Result<()> {
    if !config.is_kraft() {
        bail!(
            "The configuration file appears to be for a legacy (ZooKeeper) cluster. Formatting \
             is only supported for clusters in KRaft mode (set process.roles)."
        );
    }
    parse_cluster_id(&opts.cluster_id)?;
    let cluster_id = opts.cluster_id.as_str();
    let node_id = config.node_id;

    let dirs: Vec<(PathBuf, DirState)> = config
        .storage_dirs()
        .into_iter()
        .map(|dir| {
            let state = match meta_properties::read(&dir) {
                Ok(None) => DirState::Empty,
                Ok(Some(m)) => DirState::Formatted(m),
                Err(e) => DirState::Unreadable(e),
            };
            (dir, state)
        })
        .collect();

    // Verify everything before writing anything (Kafka `MetaPropertiesEnsemble.verify`).
    let mut taken_ids = Vec::new();
    for (dir, state) in &dirs {
        let DirState::Formatted(m) = state else {
            continue;
        };
        let path = meta_properties_path(dir);
        if m.cluster_id() != Some(cluster_id) {
            bail!(
                "Invalid cluster.id in: {}. Expected {cluster_id}, but read {}. The directory \
                 belongs to another cluster and is never reformatted; use the cluster's id, or \
                 point the configuration at another directory.",
                path.display(),
                m.cluster_id().unwrap_or("nothing")
            );
        }
        if m.node_id() != Some(node_id) {
            bail!(
                "Stored node id {} doesn't match configured node id {node_id} in {}. If you \
                 moved your data, make sure your configured node id matches. If you intend to \
                 create a new node, you should remove all data in your data directories.",
                m.node_id().map_or("(none)".to_string(), |n| n.to_string()),
                path.display()
            );
        }
        if let Some(id) = m.directory_id() {
            taken_ids.push(id);
        }
    }
    let first_formatted = dirs
        .iter()
        .find(|(_, s)| matches!(s, DirState::Formatted(_)));
    if let (Some((dir, _)), false) = (first_formatted, opts.ignore_formatted) {
        bail!(
            "Log directory {} is already formatted. Use --ignore-formatted to ignore this \
             directory and format the others.",
            dir.display()
        );
    }
    for (dir, state) in &dirs {
        if let DirState::Unreadable(e) = state {
            writeln!(
                out,
                "Error reading log directory {}: {e}. Ignoring...",
                dir.display()
            )?;
        }
    }
    let empty: Vec<&PathBuf> = dirs
        .iter()
        .filter(|(_, s)| matches!(s, DirState::Empty))
        .map(|(d, _)| d)
        .collect();
    if empty.is_empty() {
        if first_formatted.is_none() {
            bail!("No available log directories to format.");
        }
        writeln!(out, "All of the log directories are already formatted.")?;
        return Ok(());
    }

    let date = java_date(SystemTime::now());
    for dir in empty {
        writeln!(out, "Formatting {}", dir.display())?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Error while creating log directory {}", dir.display()))?;
        let directory_id = random_directory_id(rng, &taken_ids);
        taken_ids.push(directory_id);
        let props = MetaProperties::kraft(cluster_id, node_id, Some(directory_id));
        meta_properties::write(dir, &props, Some(&date)).with_context(|| {
            format!("Error while writing meta.properties file {}", dir.display())
        })?;
    }
    Ok(())
}

/// Load a configuration for a storage command, printing its warnings to `err`. The storage
/// tool validates the whole configuration, as Kafka's does, so a config that would not start
/// the server is not used to format either.
pub(crate) fn load_config(path: &Path, err: &mut dyn Write) -> anyhow::Result<ServerConfig> {
    let loaded = ServerConfig::load(path, &[])?;
    for ConfigWarning { message, .. } in &loaded.warnings {
        writeln!(err, "WARN {message}")?;
    }
    Ok(loaded.config)
}

/// `kraftbridge storage format -t <cluster-id> -c <config> [--ignore-formatted]`.
pub(crate) fn format_command(
    config_path: &Path,
    cluster_id: &str,
    ignore_formatted: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = load_config(config_path, err)?;
    let opts = FormatOptions {
        cluster_id: cluster_id.to_string(),
        ignore_formatted,
    };
    // Unlike Kafka's, our format refuses to touch directories a running server holds: it
    // would otherwise read (and could write) `meta.properties` under that server. Missing
    // directories are not locked: no server can be using them.
    let _locks = lock_storage_dirs(&config, false)?;
    format(&config, &opts, out, &mut rand::thread_rng())
}

/// Takes the exclusive lock on every storage directory (`storage::dir_lock`) before anything
/// in them is read or written; the locks are held until the returned values drop. With
/// `create_missing` a missing directory is created first (quickstart, which owns its data
/// directory); otherwise it is skipped, for `format` to create or `check_storage` to report.
pub(crate) fn lock_storage_dirs(
    config: &ServerConfig,
    create_missing: bool,
) -> anyhow::Result<Vec<DirLock>> {
    let mut locks: Vec<DirLock> = Vec::new();
    let mut locked: Vec<PathBuf> = Vec::new();
    for dir in config.storage_dirs() {
        if create_missing {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("Error while creating log directory {}", dir.display()))?;
        } else if !dir.is_dir() {
            continue;
        }
        // The same directory named twice (a trailing slash, a symlink) is locked once: a
        // second flock from this process would conflict with the first.
        let canonical = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        if locked.contains(&canonical) {
            continue;
        }
        locks.push(DirLock::acquire(&dir)?);
        locked.push(canonical);
    }
    Ok(locks)
}

// ---------------------------------------------------------------------------------------------
// info
// ---------------------------------------------------------------------------------------------

/// What `storage info` found, printed in Kafka's layout by `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StorageInfo {
    /// Number of directories the configuration names.
    pub(crate) directories: usize,
    /// The ones that exist.
    pub(crate) found: Vec<PathBuf>,
    /// The first `meta.properties` read successfully.
    pub(crate) metadata: Option<MetaProperties>,
    pub(crate) problems: Vec<String>,
}

impl StorageInfo {
    /// `storage info` exits 1 when there are problems, as Kafka's does.
    pub(crate) fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Inspect the configured directories without changing anything (Kafka
/// `StorageTool.infoCommand`).
pub(crate) fn info(config: &ServerConfig) -> StorageInfo {
    let dirs = config.storage_dirs();
    let mut problems = Vec::new();
    let mut found = Vec::new();
    let mut first: Option<MetaProperties> = None;
    for dir in &dirs {
        if !dir.is_dir() {
            problems.push(if dir.exists() {
                format!("{} is not a directory", dir.display())
            } else {
                format!("{} does not exist", dir.display())
            });
            continue;
        }
        found.push(dir.clone());
        match meta_properties::read(dir) {
            Ok(None) => problems.push(format!("{} is not formatted.", dir.display())),
            Ok(Some(m)) => match &first {
                None => first = Some(m),
                Some(prev) if prev.cluster_id() != m.cluster_id() => {
                    problems.push("Mismatched cluster IDs between storage directories.".into())
                }
                Some(prev) if prev.node_id() != m.node_id() => {
                    problems.push("Mismatched node IDs between storage directories.".into())
                }
                Some(_) => {}
            },
            Err(MetaPropertiesError::Invalid { path, problem }) => {
                problems.push(format!("Error loading {}: {problem}", path.display()))
            }
            Err(MetaPropertiesError::Read { path, source })
            | Err(MetaPropertiesError::Write { path, source }) => {
                problems.push(format!("Error loading {}: {source}", path.display()))
            }
        }
    }
    if let Some(m) = &first {
        match (config.is_kraft(), m.version()) {
            (true, MetaPropertiesVersion::V0) => problems.push(
                "The kafka configuration file appears to be for a cluster in KRaft mode, but \
                 the directories are formatted for legacy mode."
                    .into(),
            ),
            (false, MetaPropertiesVersion::V1) => problems.push(
                "The kafka configuration file appears to be for a legacy cluster, but the \
                 directories are formatted for a cluster in KRaft mode."
                    .into(),
            ),
            _ => {}
        }
    }
    StorageInfo {
        directories: dirs.len(),
        found,
        metadata: first,
        problems,
    }
}

impl fmt::Display for StorageInfo {
    /// Kafka's output, e.g.
    ///
    /// ```text
    /// Found log directory:
    ///   /tmp/kraft-combined-logs
    ///
    /// Found metadata: {cluster.id=..., directory.id=..., node.id=1, version=1}
    ///
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.directories == 0 {
            return writeln!(f, "No directories specified.");
        }
        if !self.found.is_empty() {
            let noun = if self.found.len() == 1 {
                "directory"
            } else {
                "directories"
            };
            writeln!(f, "Found log {noun}:")?;
            for d in &self.found {
                writeln!(f, "  {}", d.display())?;
            }
            writeln!(f)?;
        }
        if let Some(m) = &self.metadata {
            writeln!(f, "Found metadata: {m}")?;
            writeln!(f)?;
        }
        if !self.problems.is_empty() {
            let noun = if self.problems.len() == 1 {
                "problem"
            } else {
                "problems"
            };
            writeln!(f, "Found {noun}:")?;
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// `kraftbridge storage info -c <config>`: print the report; `Ok(false)` means problems were
/// found (exit status 1, as Kafka).
pub(crate) fn info_command(
    config_path: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let config = load_config(config_path, err)?;
    let report = info(&config);
    write!(out, "{report}")?;
    Ok(report.is_ok())
}

// ---------------------------------------------------------------------------------------------
// Start-up check
// ---------------------------------------------------------------------------------------------

/// Why the server must not start on these directories. Each message says which command
/// fixes it.
#[derive(Debug)]
pub(crate) enum StartupError {
    /// `check_storage` is for KRaft mode; ZooKeeper-mode brokers write v0 files themselves.
    NotKRaft,
    /// A configured path exists but is a file.
    NotADirectory { dir: PathBuf },
    /// Directories without `meta.properties` (or missing entirely).
    NotFormatted { dirs: Vec<PathBuf>, fix: String },
    /// A `meta.properties` that cannot be read or parsed.
    Unreadable(MetaPropertiesError),
    /// A v0 file without `cluster.id` or `broker.id`.
    Incomplete {
        path: PathBuf,
        missing: &'static str,
    },
    ClusterIdMismatch {
        first: PathBuf,
        first_id: String,
        other: PathBuf,
        other_id: String,
    },
    NodeIdMismatch {
        path: PathBuf,
        stored: i32,
        configured: i32,
    },
    DuplicateDirectoryId {
        id: Uuid,
        first: PathBuf,
        other: PathBuf,
    },
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotKRaft => write!(
                f,
                "storage check applies to KRaft mode (process.roles set); ZooKeeper-mode \
                 brokers create meta.properties on first start"
            ),
            Self::NotADirectory { dir } => write!(
                f,
                "log directory {} is not a directory: move the file away or fix log.dirs",
                dir.display()
            ),
            Self::NotFormatted { dirs, fix } => {
                let list = dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                if dirs.len() == 1 {
                    write!(f, "log directory {list} is not formatted: run `{fix}`")
                } else {
                    write!(f, "log directories {list} are not formatted: run `{fix}`")
                }
            }
            Self::Unreadable(e) => write!(
                f,
                "{e}: repair the file, or move the directory aside and run `kraftbridge storage \
                 format` with --ignore-formatted"
            ),
            Self::Incomplete { path, missing } => write!(
                f,
                "{} has no {missing}; a KRaft node needs both cluster.id and a node id \
                 (node.id, or broker.id in a v0 file)",
                path.display()
            ),
            Self::ClusterIdMismatch {
                first,
                first_id,
                other,
                other_id,
            } => write!(
                f,
                "log directories belong to different clusters: {} has cluster.id {first_id} but \
                 {} has {other_id}; remove the directory that does not belong to this node \
                 from log.dirs",
                first.display(),
                other.display()
            ),
            Self::NodeIdMismatch {
                path,
                stored,
                configured,
            } => write!(
                f,
                "Stored node id {stored} doesn't match configured node id {configured} in {}. \
                 If you moved your data, set node.id={stored}; to create a new node, use empty \
                 directories and run `kraftbridge storage format`.",
                path.display()
            ),
            Self::DuplicateDirectoryId { id, first, other } => write!(
                f,
                "directory.id {id} appears in both {} and {}; one of them is a copy: give it \
                 a new directory.id or remove it from log.dirs",
                first.display(),
                other.display()
            ),
        }
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreadable(e) => Some(e),
            _ => None,
        }
    }
}

/// The storage check the server runs before anything else in KRaft mode: every log directory
/// and the metadata log directory must exist and hold a readable `meta.properties` with the
/// same `cluster.id`, a node id equal to `node.id`, and distinct `directory.id`s. Reads only;
/// never formats or rewrites anything.
///
/// Returns the metadata log directory's `meta.properties` (its cluster id and directory id
/// are what the Raft layer needs). Unlike Kafka, which assigns a missing `directory.id` at
/// start-up, this leaves v0/pre-3.7 files without one untouched.
pub(crate) fn check_storage(config: &ServerConfig) -> Result<MetaProperties, StartupError> {
    if !config.is_kraft() {
        return Err(StartupError::NotKRaft);
    }
    let mut unformatted = Vec::new();
    let mut formatted: Vec<(PathBuf, MetaProperties)> = Vec::new();
    for dir in config.storage_dirs() {
        if dir.exists() && !dir.is_dir() {
            return Err(StartupError::NotADirectory { dir });
        }
        match meta_properties::read(&dir).map_err(StartupError::Unreadable)? {
            None => unformatted.push(dir),
            Some(m) => formatted.push((dir, m)),
        }
    }

    // Every file must carry both ids; then they must agree.
    for (dir, m) in &formatted {
        let missing = if m.cluster_id().is_none() {
            Some("cluster.id")
        } else if m.node_id().is_none() {
            Some("broker.id")
        } else {
            None
        };
        if let Some(missing) = missing {
            return Err(StartupError::Incomplete {
                path: meta_properties_path(dir),
                missing,
            });
        }
    }
    if let Some((first, first_m)) = formatted.first() {
        let first_id = first_m.cluster_id().unwrap_or_default();
        if let Some((other, other_m)) = formatted
            .iter()
            .find(|(_, m)| m.cluster_id() != Some(first_id))
        {
            return Err(StartupError::ClusterIdMismatch {
                first: first.clone(),
                first_id: first_id.to_string(),
                other: other.clone(),
                other_id: other_m.cluster_id().unwrap_or_default().to_string(),
            });
        }
    }
    for (dir, m) in &formatted {
        if let Some(stored) = m.node_id().filter(|n| *n != config.node_id) {
            return Err(StartupError::NodeIdMismatch {
                path: meta_properties_path(dir),
                stored,
                configured: config.node_id,
            });
        }
    }
    for (i, (dir, m)) in formatted.iter().enumerate() {
        let Some(id) = m.directory_id() else { continue };
        if let Some((other, _)) = formatted[i + 1..]
            .iter()
            .find(|(_, o)| o.directory_id() == Some(id))
        {
            return Err(StartupError::DuplicateDirectoryId {
                id,
                first: dir.clone(),
                other: other.clone(),
            });
        }
    }

    if !unformatted.is_empty() {
        let known_cluster = formatted.first().and_then(|(_, m)| m.cluster_id());
        return Err(StartupError::NotFormatted {
            fix: format_command_line(config, known_cluster),
            dirs: unformatted,
        });
    }
    formatted
        .into_iter()
        .find(|(dir, _)| *dir == config.metadata_log_dir)
        .map(|(_, m)| m)
        // `storage_dirs` always includes the metadata log dir, so it was read above.
        .ok_or(StartupError::NotFormatted {
            dirs: vec![config.metadata_log_dir.clone()],
            fix: format_command_line(config, None),
        })
}

/// The `storage format` command that fixes unformatted directories: with the cluster id of
/// the directories already formatted (and --ignore-formatted) when there are some.
fn format_command_line(config: &ServerConfig, known_cluster: Option<&str>) -> String {
    let config_arg = config
        .config_path
        .as_ref()
        .map_or("<server.properties>".to_string(), |p| {
            p.display().to_string()
        });
    match known_cluster {
        Some(id) => {
            format!("kraftbridge storage format -t {id} -c {config_arg} --ignore-formatted")
        }
        None => format!("kraftbridge storage format -t <cluster-id> -c {config_arg}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The date comment
// ---------------------------------------------------------------------------------------------

/// `java.util.Date.toString()` in UTC (`EEE MMM dd HH:mm:ss zzz yyyy`), the second comment line
/// `Properties.store` writes into `meta.properties`. Readers ignore it; it only tells an
/// operator when the directory was formatted.
fn java_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian
/// (H. Hinnant, "chrono-compatible low-level date algorithms").
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::fs;
    use std::time::Duration;

    const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";
    const OTHER_CLUSTER: &str = "xtzWWN4bTjitpL3kfd9s5g";

    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        config_path: PathBuf,
    }

    impl Fixture {
        /// A combined node with two data dirs and a separate metadata dir under a temp root.
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_path_buf();
            let config_path = root.join("server.properties");
            let text = format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:9093\n\
                 listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
                 controller.listener.names=CONTROLLER\n\
                 log.dirs={0}/a,{0}/b\nmetadata.log.dir={0}/meta\n",
                root.display()
            );
            fs::write(&config_path, text).unwrap();
            Self {
                _tmp: tmp,
                root,
                config_path,
            }
        }

        fn config(&self) -> ServerConfig {
            ServerConfig::load(&self.config_path, &[]).unwrap().config
        }

        fn config_with(&self, overrides: &[&str]) -> ServerConfig {
            let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
            ServerConfig::load(&self.config_path, &o).unwrap().config
        }

        fn dir(&self, name: &str) -> PathBuf {
            self.root.join(name)
        }

        fn format(
            &self,
            config: &ServerConfig,
            cluster: &str,
            ignore: bool,
        ) -> anyhow::Result<String> {
            let mut out = Vec::new();
            let opts = FormatOptions {
                cluster_id: cluster.to_string(),
                ignore_formatted: ignore,
            };
            format(config, &opts, &mut out, &mut StdRng::seed_from_u64(7))?;
            Ok(String::from_utf8(out).unwrap())
        }
    }

    #[test]
    fn random_uuids_are_kafka_shaped() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..2000 {
            let u = random_uuid(&mut rng);
            let s = u.to_string();
            assert_eq!(s.len(), 22);
            assert!(!s.starts_with('-'));
            assert!(!is_reserved_uuid(&u));
            assert_eq!(u.0[6] >> 4, 4);
            assert_eq!(Uuid::parse(&s), Some(u));
        }
        let mut out = Vec::new();
        random_uuid_command(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.trim_end().len(), 22);
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn cluster_id_validation() {
        assert!(parse_cluster_id(CLUSTER).is_ok());
        let e = parse_cluster_id("not-a-uuid").unwrap_err().to_string();
        assert!(e.contains("does not appear to be a valid UUID"), "{e}");
        assert!(e.contains("random-uuid"), "{e}");
        let f = Fixture::new();
        assert!(f.format(&f.config(), "short", false).is_err());
        assert!(
            !f.dir("a").exists(),
            "nothing is created for a bad cluster id"
        );
    }

    #[test]
    fn format_then_info_then_check() {
        let f = Fixture::new();
        let config = f.config();
        let out = f.format(&config, CLUSTER, false).unwrap();
        assert_eq!(
            out,
            format!(
                "Formatting {}\nFormatting {}\nFormatting {}\n",
                f.dir("a").display(),
                f.dir("b").display(),
                f.dir("meta").display()
            )
        );
        let mut ids = Vec::new();
        for d in ["a", "b", "meta"] {
            let m = meta_properties::read(&f.dir(d)).unwrap().unwrap();
            assert_eq!(m.version(), MetaPropertiesVersion::V1);
            assert_eq!(m.cluster_id(), Some(CLUSTER));
            assert_eq!(m.node_id(), Some(1));
            let id = m.directory_id().unwrap();
            assert!(!ids.contains(&id));
            ids.push(id);
            let text = fs::read_to_string(meta_properties_path(&f.dir(d))).unwrap();
            assert!(text.starts_with("#\n#"), "{text}");
            assert!(text.lines().nth(1).unwrap().contains(" UTC "), "{text}");
        }
        // format never touches __cluster_metadata-0: the server creates it.
        assert!(!f.dir("meta").join("__cluster_metadata-0").exists());

        let report = info(&config);
        assert!(report.is_ok(), "{report}");
        let first = meta_properties::read(&f.dir("a")).unwrap().unwrap();
        assert_eq!(
            report.to_string(),
            format!(
                "Found log directories:\n  {}\n  {}\n  {}\n\nFound metadata: {first}\n\n",
                f.dir("a").display(),
                f.dir("b").display(),
                f.dir("meta").display()
            )
        );
        assert!(first.to_string().contains("node.id=1, version=1}"));

        let m = check_storage(&config).unwrap();
        assert_eq!(m, meta_properties::read(&f.dir("meta")).unwrap().unwrap());
    }

    #[test]
    fn already_formatted_and_ignore_formatted() {
        let f = Fixture::new();
        let config = f.config();
        f.format(&config, CLUSTER, false).unwrap();
        let before = fs::read(meta_properties_path(&f.dir("a"))).unwrap();

        let e = f.format(&config, CLUSTER, false).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "Log directory {} is already formatted. Use --ignore-formatted to ignore this \
                 directory and format the others.",
                f.dir("a").display()
            )
        );
        let out = f.format(&config, CLUSTER, true).unwrap();
        assert_eq!(out, "All of the log directories are already formatted.\n");

        // A new directory joins: --ignore-formatted formats only it.
        fs::remove_dir_all(f.dir("b")).unwrap();
        let out = f.format(&config, CLUSTER, true).unwrap();
        assert_eq!(out, format!("Formatting {}\n", f.dir("b").display()));
        assert_eq!(fs::read(meta_properties_path(&f.dir("a"))).unwrap(), before);
        check_storage(&config).unwrap();
    }

    #[test]
    fn foreign_directories_are_never_overwritten() {
        let f = Fixture::new();
        let config = f.config();
        fs::create_dir_all(f.dir("b")).unwrap();
        meta_properties::write(
            &f.dir("b"),
            &MetaProperties::kraft(OTHER_CLUSTER, 1, None),
            None,
        )
        .unwrap();
        let before = fs::read(meta_properties_path(&f.dir("b"))).unwrap();
        for ignore in [false, true] {
            let e = f.format(&config, CLUSTER, ignore).unwrap_err().to_string();
            assert!(e.starts_with("Invalid cluster.id in:"), "{e}");
            assert!(
                e.contains(&format!("Expected {CLUSTER}, but read {OTHER_CLUSTER}")),
                "{e}"
            );
        }
        assert_eq!(fs::read(meta_properties_path(&f.dir("b"))).unwrap(), before);
        assert!(
            !f.dir("a").exists(),
            "verification happens before any write"
        );

        // Same cluster, other node.
        meta_properties::write(&f.dir("b"), &MetaProperties::kraft(CLUSTER, 2, None), None)
            .unwrap();
        let e = f.format(&config, CLUSTER, true).unwrap_err().to_string();
        assert!(
            e.starts_with("Stored node id 2 doesn't match configured node id 1"),
            "{e}"
        );
    }

    #[test]
    fn legacy_config_is_not_formatted() {
        let f = Fixture::new();
        let config = ServerConfig::parse(
            &format!(
                "zookeeper.connect=zk:2181\nbroker.id=0\nlog.dirs={}/z\n",
                f.root.display()
            ),
            &[],
        )
        .unwrap()
        .config;
        let e = f.format(&config, CLUSTER, false).unwrap_err().to_string();
        assert!(e.contains("legacy (ZooKeeper) cluster"), "{e}");
        assert!(matches!(
            check_storage(&config),
            Err(StartupError::NotKRaft)
        ));
    }

    #[test]
    fn info_reports_problems_like_kafka() {
        let f = Fixture::new();
        let config = f.config();
        let report = info(&config);
        assert!(!report.is_ok());
        assert_eq!(
            report.to_string(),
            format!(
                "Found problems:\n  {} does not exist\n  {} does not exist\n  {} does not \
                 exist\n\n",
                f.dir("a").display(),
                f.dir("b").display(),
                f.dir("meta").display()
            )
        );

        fs::create_dir_all(f.dir("a")).unwrap();
        fs::create_dir_all(f.dir("b")).unwrap();
        fs::write(f.dir("meta"), "a file").unwrap();
        meta_properties::write(&f.dir("b"), &MetaProperties::kraft(CLUSTER, 1, None), None)
            .unwrap();
        let report = info(&config);
        assert_eq!(
            report.to_string(),
            format!(
                "Found log directories:\n  {a}\n  {b}\n\n\
                 Found metadata: {{cluster.id={CLUSTER}, node.id=1, version=1}}\n\n\
                 Found problems:\n  {a} is not formatted.\n  {m} is not a directory\n\n",
                a = f.dir("a").display(),
                b = f.dir("b").display(),
                m = f.dir("meta").display()
            )
        );

        // Single directory, single problem: singular nouns, as in the seeds.
        let single = f.config_with(&[
            &format!("log.dirs={}", f.dir("a").display()),
            "metadata.log.dir=",
        ]);
        assert_eq!(
            info(&single).to_string(),
            format!(
                "Found log directory:\n  {a}\n\nFound problem:\n  {a} is not formatted.\n\n",
                a = f.dir("a").display()
            )
        );

        // Mismatches and legacy files.
        meta_properties::write(
            &f.dir("a"),
            &MetaProperties::kraft(OTHER_CLUSTER, 1, None),
            None,
        )
        .unwrap();
        fs::remove_file(f.dir("meta")).unwrap();
        let report = info(&config);
        assert!(report
            .problems
            .contains(&"Mismatched cluster IDs between storage directories.".to_string()));
        meta_properties::write(
            &f.dir("a"),
            &MetaProperties::V0 {
                broker_id: Some(1),
                cluster_id: Some(CLUSTER.into()),
                directory_id: None,
            },
            None,
        )
        .unwrap();
        let report = info(&single);
        assert!(
            report.problems[0].contains("formatted for legacy mode"),
            "{report}"
        );

        // A corrupt file is reported with its path.
        fs::write(meta_properties_path(&f.dir("a")), "version=7\n").unwrap();
        let report = info(&single);
        assert_eq!(
            report.problems[0],
            format!(
                "Error loading {}: unsupported version '7' (expected 0 or 1)",
                meta_properties_path(&f.dir("a")).display()
            )
        );
    }

    #[test]
    fn check_storage_errors_say_how_to_fix() {
        let f = Fixture::new();
        let config = f.config();
        let e = check_storage(&config).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "log directories {}, {}, {} are not formatted: run `kraftbridge storage format \
                 -t <cluster-id> -c {}`",
                f.dir("a").display(),
                f.dir("b").display(),
                f.dir("meta").display(),
                f.config_path.display()
            )
        );

        f.format(&config, CLUSTER, false).unwrap();
        // A directory added later: the fix reuses the cluster id.
        let more = f.config_with(&[&format!(
            "log.dirs={},{},{}",
            f.dir("a").display(),
            f.dir("b").display(),
            f.dir("c").display()
        )]);
        let e = check_storage(&more).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "log directory {} is not formatted: run `kraftbridge storage format -t {CLUSTER} \
                 -c {} --ignore-formatted`",
                f.dir("c").display(),
                f.config_path.display()
            )
        );

        // Configured node id differs from the stored one.
        let other_node = f.config_with(&["node.id=2", "controller.quorum.voters=2@127.0.0.1:9093"]);
        let e = check_storage(&other_node).unwrap_err();
        assert!(matches!(
            e,
            StartupError::NodeIdMismatch {
                stored: 1,
                configured: 2,
                ..
            }
        ));
        assert!(e.to_string().contains("set node.id=1"), "{e}");

        // A directory from another cluster.
        meta_properties::write(
            &f.dir("b"),
            &MetaProperties::kraft(OTHER_CLUSTER, 1, None),
            None,
        )
        .unwrap();
        let e = check_storage(&config).unwrap_err();
        assert!(matches!(e, StartupError::ClusterIdMismatch { .. }), "{e}");
        assert!(e.to_string().contains(OTHER_CLUSTER));

        // A copied directory (same directory.id twice).
        let a = meta_properties::read(&f.dir("a")).unwrap().unwrap();
        fs::copy(
            meta_properties_path(&f.dir("a")),
            meta_properties_path(&f.dir("b")),
        )
        .unwrap();
        let e = check_storage(&config).unwrap_err();
        let duplicate = match &e {
            StartupError::DuplicateDirectoryId { id, .. } => Some(*id),
            _ => None,
        };
        assert_eq!(duplicate, a.directory_id(), "{e}");

        // Corrupt file.
        fs::write(meta_properties_path(&f.dir("b")), "version=1\nnode.id=1\n").unwrap();
        let e = check_storage(&config).unwrap_err().to_string();
        assert!(
            e.contains("cluster.id was not found") && e.contains("repair the file"),
            "{e}"
        );

        // v0 files (a migrated ZooKeeper broker) are accepted when complete.
        for d in ["a", "b", "meta"] {
            meta_properties::write(
                &f.dir(d),
                &MetaProperties::V0 {
                    broker_id: Some(1),
                    cluster_id: Some(CLUSTER.into()),
                    directory_id: None,
                },
                None,
            )
            .unwrap();
        }
        assert_eq!(
            check_storage(&config).unwrap().version(),
            MetaPropertiesVersion::V0
        );
        meta_properties::write(
            &f.dir("a"),
            &MetaProperties::V0 {
                broker_id: None,
                cluster_id: Some(CLUSTER.into()),
                directory_id: None,
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            check_storage(&config),
            Err(StartupError::Incomplete {
                missing: "broker.id",
                ..
            })
        ));
    }

    #[test]
    fn check_storage_never_writes() {
        let f = Fixture::new();
        let config = f.config();
        let _ = check_storage(&config);
        assert!(!f.dir("a").exists() && !f.dir("meta").exists());
    }

    #[test]
    fn format_command_and_info_command_read_the_config_file() {
        let f = Fixture::new();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        format_command(&f.config_path, CLUSTER, false, &mut out, &mut err).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("Formatting "));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(info_command(&f.config_path, &mut out, &mut err).unwrap());
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("Found log directories:\n"));
        // Config warnings go to the error stream.
        fs::write(
            &f.config_path,
            format!(
                "{}bogus.key=1\n",
                fs::read_to_string(&f.config_path).unwrap()
            ),
        )
        .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        info_command(&f.config_path, &mut out, &mut err).unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "WARN ignoring unknown configuration key 'bogus.key'\n"
        );
        // An invalid config stops the tool with the config error.
        fs::write(&f.config_path, "process.roles=broker\n").unwrap();
        let e = format_command(
            &f.config_path,
            CLUSTER,
            false,
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("missing node.id"), "{e}");
    }

    #[test]
    fn java_date_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_704_189_600); // 2024-01-02 10:00:00 UTC
        assert_eq!(java_date(t), "Tue Jan 02 10:00:00 UTC 2024");
        assert_eq!(java_date(UNIX_EPOCH), "Thu Jan 01 00:00:00 UTC 1970");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(java_date(leap), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
