//! `meta.properties`: the per-log-directory identity file that Kafka writes into every log
//! directory (and the metadata log directory), read at start-up and by `storage info`.
//!
//! Two versions exist (`docs/formats.md` §5; Kafka `metadata/properties/MetaProperties.java`):
//!
//! | version | mode      | required                | optional                                  |
//! |---------|-----------|-------------------------|-------------------------------------------|
//! | 0       | ZooKeeper | –                       | `broker.id`, `cluster.id`, `directory.id` |
//! | 1       | KRaft     | `node.id`, `cluster.id` | `directory.id` (KIP-858, Kafka 3.7+)      |
//!
//! The file is a Java properties file as written by `java.util.Properties.store` with an empty
//! comment, so real files start with a `#` line and a `#<date>` line. Input comes from disk and
//! is treated as untrusted: every decode path returns a `Result`, never panics, and the file
//! size is capped ([`META_PROPERTIES_BYTES_MAX`]).
//!
//! Writes are atomic (Kafka `PropertiesUtils.writePropertiesFile`): `meta.properties.tmp`,
//! fsync, rename over `meta.properties`, fsync the directory. This crate never reads the wall
//! clock, so the date comment line is supplied by the caller (the storage tool).
//!
//! The Java properties codec ([`java_properties`]) lives here because this is the first on-disk
//! format that needs it; `server.properties` parsing in the root crate reuses it. UUIDs are
//! `protocol::Uuid`; [`parse_uuid`] adds Java's lenient decoding.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Kafka UUIDs (`directory.id`, cluster ids) are the protocol crate's type.
pub use protocol::Uuid;

/// File name of the identity file inside each log directory.
pub const META_PROPERTIES_FILE: &str = "meta.properties";

/// Name of the temporary file written before the atomic rename.
pub const META_PROPERTIES_TMP_FILE: &str = "meta.properties.tmp";

/// Upper bound on the size of a `meta.properties` file we are willing to read. A real file is
/// about 120 bytes; anything near this limit is not a Kafka identity file.
pub const META_PROPERTIES_BYTES_MAX: u64 = 64 * 1024;

const VERSION_KEY: &str = "version";
const CLUSTER_ID_KEY: &str = "cluster.id";
const BROKER_ID_KEY: &str = "broker.id";
const NODE_ID_KEY: &str = "node.id";
const DIRECTORY_ID_KEY: &str = "directory.id";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Errors reading or writing a `meta.properties` file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("invalid {}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: Problem },
}

/// What is wrong with the contents of a `meta.properties` file (without the file name, which
/// [`MetaPropertiesError::Invalid`] adds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("file is larger than {META_PROPERTIES_BYTES_MAX} bytes")]
    TooLarge,
    #[error(transparent)]
    Syntax(#[from] java_properties::SyntaxError),
    #[error("unsupported version '{0}' (expected 0 or 1)")]
    UnsupportedVersion(String),
    #[error("{0} was not found")]
    Missing(&'static str),
    #[error("{key} '{value}' is not a base-10 32-bit integer")]
    NotAnInteger { key: &'static str, value: String },
    #[error("{key} {value} is negative")]
    Negative { key: &'static str, value: i32 },
    #[error("directory.id '{value}' is not a valid UUID: {reason}")]
    InvalidDirectoryId { value: String, reason: UuidError },
}

// ---------------------------------------------------------------------------------------------
// The typed file
// ---------------------------------------------------------------------------------------------

/// Version of a `meta.properties` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetaPropertiesVersion {
    /// Written by ZooKeeper-mode brokers on first start.
    V0,
    /// Written by `storage format` for KRaft nodes.
    V1,
}

impl MetaPropertiesVersion {
    /// The number stored under `version=`.
    pub fn number(self) -> u8 {
        match self {
            Self::V0 => 0,
            Self::V1 => 1,
        }
    }
}

/// The typed contents of one `meta.properties` file.
///
/// An enum rather than a struct of options so that a v1 file without `node.id` or
/// `cluster.id` cannot be represented (Kafka's `MetaProperties.Builder.build` rejects it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaProperties {
    /// ZooKeeper mode. A broker writes this at first start; every field may be absent.
    V0 {
        broker_id: Option<i32>,
        cluster_id: Option<String>,
        directory_id: Option<Uuid>,
    },
    /// KRaft mode, written by `storage format`.
    V1 {
        node_id: i32,
        cluster_id: String,
        directory_id: Option<Uuid>,
    },
}

impl MetaProperties {
    /// A KRaft (v1) file.
    pub fn kraft(cluster_id: impl Into<String>, node_id: i32, directory_id: Option<Uuid>) -> Self {
        Self::V1 {
            node_id,
            cluster_id: cluster_id.into(),
            directory_id,
        }
    }

    pub fn version(&self) -> MetaPropertiesVersion {
        match self {
            Self::V0 { .. } => MetaPropertiesVersion::V0,
            Self::V1 { .. } => MetaPropertiesVersion::V1,
        }
    }

    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            Self::V0 { cluster_id, .. } => cluster_id.as_deref(),
            Self::V1 { cluster_id, .. } => Some(cluster_id),
        }
    }

    /// `node.id` for v1, `broker.id` for v0 (the same id space; Kafka treats them as one).
    pub fn node_id(&self) -> Option<i32> {
        match self {
            Self::V0 { broker_id, .. } => *broker_id,
            Self::V1 { node_id, .. } => Some(*node_id),
        }
    }

    pub fn directory_id(&self) -> Option<Uuid> {
        match self {
            Self::V0 { directory_id, .. } | Self::V1 { directory_id, .. } => *directory_id,
        }
    }

    /// The same file with `directory.id` set (KIP-858 assigns one to every directory).
    pub fn with_directory_id(mut self, id: Uuid) -> Self {
        match &mut self {
            Self::V0 { directory_id, .. } | Self::V1 { directory_id, .. } => {
                *directory_id = Some(id)
            }
        }
        self
    }

    /// Build from already-parsed properties, following Kafka's reading rules (§5):
    /// missing `version` means 0; only 0 and 1 are known; v0 takes its id from `broker.id`
    /// (optional), v1 from `node.id` (required); `cluster.id` is required only in v1; a
    /// `directory.id` that is present must be a valid UUID. Other keys are ignored, as Kafka
    /// does.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, Problem> {
        let version = match props.get(VERSION_KEY) {
            None => MetaPropertiesVersion::V0,
            Some(v) => match v.trim() {
                "0" => MetaPropertiesVersion::V0,
                "1" => MetaPropertiesVersion::V1,
                _ => return Err(Problem::UnsupportedVersion(v.clone())),
            },
        };
        let cluster_id = props.get(CLUSTER_ID_KEY).cloned();
        let directory_id = match props.get(DIRECTORY_ID_KEY) {
            None => None,
            Some(v) => {
                Some(
                    parse_uuid(v.trim()).map_err(|reason| Problem::InvalidDirectoryId {
                        value: v.clone(),
                        reason,
                    })?,
                )
            }
        };
        match version {
            MetaPropertiesVersion::V0 => {
                let broker_id = props
                    .get(BROKER_ID_KEY)
                    .map(|v| parse_id(BROKER_ID_KEY, v))
                    .transpose()?;
                Ok(Self::V0 {
                    broker_id,
                    cluster_id,
                    directory_id,
                })
            }
            MetaPropertiesVersion::V1 => {
                let node_id = props
                    .get(NODE_ID_KEY)
                    .ok_or(Problem::Missing(NODE_ID_KEY))
                    .and_then(|v| parse_id(NODE_ID_KEY, v))?;
                let cluster_id = cluster_id.ok_or(Problem::Missing(CLUSTER_ID_KEY))?;
                Ok(Self::V1 {
                    node_id,
                    cluster_id,
                    directory_id,
                })
            }
        }
    }

    /// The key/value pairs Kafka's `MetaProperties.toProperties` produces, in key order
    /// (the order of the example in §5).
    pub fn to_properties(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        out.insert(VERSION_KEY, self.version().number().to_string());
        if let Some(c) = self.cluster_id() {
            out.insert(CLUSTER_ID_KEY, c.to_string());
        }
        match self {
            Self::V0 { broker_id, .. } => {
                if let Some(id) = broker_id {
                    out.insert(BROKER_ID_KEY, id.to_string());
                }
            }
            Self::V1 { node_id, .. } => {
                out.insert(NODE_ID_KEY, node_id.to_string());
            }
        }
        if let Some(d) = self.directory_id() {
            out.insert(DIRECTORY_ID_KEY, d.to_string());
        }
        out
    }

    /// Decode the raw bytes of a `meta.properties` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        if bytes.len() as u64 > META_PROPERTIES_BYTES_MAX {
            return Err(Problem::TooLarge);
        }
        let text = java_properties::decode_bytes(bytes);
        let pairs = java_properties::parse(&text)?;
        // Later duplicates win, as with `java.util.Properties.load`.
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        Self::from_properties(&map)
    }

    /// The file contents as `Properties.store(writer, "")` lays them out: an empty `#` comment
    /// line, then `#<date>` if the caller supplies one, then the sorted entries.
    pub fn to_file_contents(&self, date_comment: Option<&str>) -> String {
        let mut comments = vec![""];
        if let Some(date) = date_comment {
            comments.push(date);
        }
        java_properties::store(
            self.to_properties().iter().map(|(k, v)| (*k, v.as_str())),
            &comments,
        )
    }
}

fn parse_id(key: &'static str, value: &str) -> Result<i32, Problem> {
    let id: i32 = value.trim().parse().map_err(|_| Problem::NotAnInteger {
        key,
        value: value.to_string(),
    })?;
    if id < 0 {
        return Err(Problem::Negative { key, value: id });
    }
    Ok(id)
}

impl fmt::Display for MetaProperties {
    /// Java's `TreeMap.toString` of the properties, which is what `kafka-storage info` prints
    /// after "Found metadata: ", e.g. `{cluster.id=x, node.id=1, version=1}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.to_properties().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        f.write_str("}")
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// `<dir>/meta.properties`.
pub fn meta_properties_path(dir: &Path) -> PathBuf {
    dir.join(META_PROPERTIES_FILE)
}

/// Read `<dir>/meta.properties`. `Ok(None)` when the file (or the directory) does not exist:
/// that is an unformatted directory, which callers report in their own words.
pub fn read(dir: &Path) -> Result<Option<MetaProperties>, MetaPropertiesError> {
    let path = meta_properties_path(dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(MetaPropertiesError::Read { path, source }),
    };
    // Read one byte past the cap so an oversized file is detected without reading all of it.
    let mut bytes = Vec::new();
    file.take(META_PROPERTIES_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| MetaPropertiesError::Read {
            path: path.clone(),
            source,
        })?;
    MetaProperties::parse(&bytes)
        .map(Some)
        .map_err(|problem| MetaPropertiesError::Invalid { path, problem })
}

/// Atomically write `<dir>/meta.properties`: write and fsync `meta.properties.tmp`, rename it
/// over the target, then fsync the directory so the rename itself is durable. A crash leaves
/// either the old file or the new one, never a torn one. The directory must exist.
pub fn write(
    dir: &Path,
    props: &MetaProperties,
    date_comment: Option<&str>,
) -> Result<(), MetaPropertiesError> {
    let tmp = dir.join(META_PROPERTIES_TMP_FILE);
    let target = meta_properties_path(dir);
    let contents = props.to_file_contents(date_comment);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MetaPropertiesError::Write { path, source }
    };

    let result = (|| {
        let mut f = File::create(&tmp).map_err(write_err(&tmp))?;
        f.write_all(contents.as_bytes()).map_err(write_err(&tmp))?;
        f.sync_all().map_err(write_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(write_err(&target))
    })();
    if result.is_err() {
        // Best effort: do not leave a stray temp file behind; the original error matters more.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(dir).map_err(write_err(dir))
}

/// fsync a directory so that a rename inside it survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Kafka UUIDs: Java-compatible parsing and reserved ids
// ---------------------------------------------------------------------------------------------

/// Why a string is not a Kafka UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UuidError {
    #[error("expected 22 base64url characters (16 bytes), found {0} characters")]
    WrongLength(usize),
    #[error("'{0}' is not a base64url character (A-Z, a-z, 0-9, '-', '_')")]
    InvalidCharacter(char),
}

fn base64url_value(c: char) -> Option<u8> {
    let v = match c {
        'A'..='Z' => u32::from(c) - u32::from('A'),
        'a'..='z' => u32::from(c) - u32::from('a') + 26,
        '0'..='9' => u32::from(c) - u32::from('0') + 52,
        '-' => 62,
        '_' => 63,
        _ => return None,
    };
    u8::try_from(v).ok()
}

/// Parse a UUID's text form as Kafka's `Uuid.fromString` does, with Java's
/// `Base64.getUrlDecoder`: the unused low bits of the last character are ignored and a `==`
/// padded 24-character form is accepted. [`Uuid::parse`] is stricter (canonical text only);
/// this leniency matters because Kafka's own docs use the cluster id
/// `MkU3OEVBNTcwNTJENDM2Qk`, whose last character has non-zero unused bits, and real
/// clusters were formatted with it.
pub fn parse_uuid(s: &str) -> Result<Uuid, UuidError> {
    let s = s.strip_suffix("==").filter(|t| t.len() == 22).unwrap_or(s);
    let mut values = [0u8; 22];
    let mut n = 0;
    for c in s.chars() {
        let v = base64url_value(c).ok_or(UuidError::InvalidCharacter(c))?;
        if let Some(slot) = values.get_mut(n) {
            *slot = v;
        }
        n += 1;
    }
    if n != values.len() {
        return Err(UuidError::WrongLength(n));
    }
    let mut out = [0u8; 16];
    for group in 0..5 {
        let v = &values[group * 4..group * 4 + 4];
        let bits = (u32::from(v[0]) << 18)
            | (u32::from(v[1]) << 12)
            | (u32::from(v[2]) << 6)
            | u32::from(v[3]);
        out[group * 3..group * 3 + 3].copy_from_slice(&bits.to_be_bytes()[1..]);
    }
    out[15] = (values[20] << 2) | (values[21] >> 4);
    Ok(Uuid(out))
}

/// Java's `getMostSignificantBits` / `getLeastSignificantBits`: signed halves.
fn java_halves(id: &Uuid) -> (i64, i64) {
    let mut msb = [0u8; 8];
    let mut lsb = [0u8; 8];
    msb.copy_from_slice(&id.0[..8]);
    lsb.copy_from_slice(&id.0[8..]);
    (i64::from_be_bytes(msb), i64::from_be_bytes(lsb))
}

/// Kafka's `DirectoryId.reserved`: most significant half zero and least significant half
/// below 100, compared as a signed long as Java does (UNASSIGNED, LOST, MIGRATING and room for
/// more). Never used as a `directory.id`.
pub fn is_reserved_directory_id(id: &Uuid) -> bool {
    let (msb, lsb) = java_halves(id);
    msb == 0 && lsb < 100
}

// ---------------------------------------------------------------------------------------------
// Java properties codec
// ---------------------------------------------------------------------------------------------

/// The `java.util.Properties` text format, as `Properties.load` reads it and
/// `Properties.store` writes it. Shared by `meta.properties` and `server.properties`.
///
/// Reading rules (Javadoc of `Properties.load(Reader)`):
/// - lines end at `\n`, `\r` or `\r\n`; leading spaces, tabs and form feeds are skipped;
/// - a line whose first non-blank character is `#` or `!` is a comment;
/// - a line ending in an odd number of backslashes continues on the next line, whose leading
///   blanks are skipped (comment lines are never continued);
/// - the key ends at the first unescaped `=`, `:` or blank; blanks, then at most one `=`/`:`,
///   then blanks separate it from the value; trailing blanks of the value are kept;
/// - escapes `\t \n \r \f \uXXXX`; any other escaped character stands for itself.
///
/// The one input Java rejects is a malformed `\uXXXX`; so do we. We also reject a `\u`
/// escape that leaves half a UTF-16 surrogate pair, which a Rust `String` cannot hold.
pub mod java_properties {
    use std::borrow::Cow;
    use std::fmt;

    /// A malformed `\uXXXX` escape, with the 1-based line where its logical line starts.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SyntaxError {
        pub line: usize,
        pub kind: SyntaxErrorKind,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SyntaxErrorKind {
        /// `\u` not followed by four hex digits.
        MalformedUnicodeEscape,
        /// A `\uD800`-`\uDFFF` escape that is not half of a valid surrogate pair.
        UnpairedSurrogate,
    }

    impl fmt::Display for SyntaxError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.kind {
                SyntaxErrorKind::MalformedUnicodeEscape => write!(
                    f,
                    "line {}: malformed \\uxxxx escape (expected four hex digits)",
                    self.line
                ),
                SyntaxErrorKind::UnpairedSurrogate => write!(
                    f,
                    "line {}: \\u escape is half of a UTF-16 surrogate pair",
                    self.line
                ),
            }
        }
    }

    impl std::error::Error for SyntaxError {}

    /// Decode file bytes to text. Java reads properties streams as ISO-8859-1, but operators
    /// write UTF-8 today; valid UTF-8 is taken as such, anything else as ISO-8859-1 (every
    /// byte is a character), so decoding never fails.
    pub fn decode_bytes(bytes: &[u8]) -> Cow<'_, str> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
        }
    }

    fn is_blank(c: char) -> bool {
        c == ' ' || c == '\t' || c == '\x0c'
    }

    /// Parse properties text into `(key, value)` pairs in file order. Duplicates are kept;
    /// callers that build a map let the later one win, as `Properties.load` does.
    pub fn parse(text: &str) -> Result<Vec<(String, String)>, SyntaxError> {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut i = 0;
        let mut line = 1;
        let mut out = Vec::new();
        loop {
            // Skip blanks and empty lines up to the start of the next logical line.
            while i < n && (is_blank(chars[i]) || chars[i] == '\n' || chars[i] == '\r') {
                if chars[i] == '\n' || (chars[i] == '\r' && chars.get(i + 1) != Some(&'\n')) {
                    line += 1;
                }
                i += 1;
            }
            if i >= n {
                break;
            }
            let start_line = line;
            if chars[i] == '#' || chars[i] == '!' {
                while i < n && chars[i] != '\n' && chars[i] != '\r' {
                    i += 1;
                }
                continue;
            }
            // Gather one logical line, joining continuations.
            let mut logical: Vec<char> = Vec::new();
            loop {
                let seg_start = logical.len();
                while i < n && chars[i] != '\n' && chars[i] != '\r' {
                    logical.push(chars[i]);
                    i += 1;
                }
                let trailing_backslashes = logical[seg_start..]
                    .iter()
                    .rev()
                    .take_while(|&&c| c == '\\')
                    .count();
                // Consume the line terminator, if any.
                if i < n {
                    if chars[i] == '\r' && chars.get(i + 1) == Some(&'\n') {
                        i += 1;
                    }
                    i += 1;
                    line += 1;
                }
                if trailing_backslashes % 2 == 1 {
                    logical.pop();
                    if i >= n {
                        break;
                    }
                    while i < n && is_blank(chars[i]) {
                        i += 1;
                    }
                    continue;
                }
                break;
            }
            out.push(split_key_value(&logical, start_line)?);
        }
        Ok(out)
    }

    fn split_key_value(line: &[char], line_no: usize) -> Result<(String, String), SyntaxError> {
        let limit = line.len();
        let mut key_len = 0;
        let mut value_start = limit;
        let mut has_sep = false;
        let mut preceding_backslash = false;
        while key_len < limit {
            let c = line[key_len];
            if (c == '=' || c == ':') && !preceding_backslash {
                value_start = key_len + 1;
                has_sep = true;
                break;
            } else if is_blank(c) && !preceding_backslash {
                value_start = key_len + 1;
                break;
            }
            preceding_backslash = c == '\\' && !preceding_backslash;
            key_len += 1;
        }
        while value_start < limit {
            let c = line[value_start];
            if !is_blank(c) {
                if !has_sep && (c == '=' || c == ':') {
                    has_sep = true;
                } else {
                    break;
                }
            }
            value_start += 1;
        }
        let key = unescape(&line[..key_len], line_no)?;
        let value = unescape(&line[value_start.min(limit)..], line_no)?;
        Ok((key, value))
    }

    fn unescape(s: &[char], line: usize) -> Result<String, SyntaxError> {
        let err = |kind| SyntaxError { line, kind };
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        // A pending high surrogate from a `\uD8xx` escape, waiting for its low half.
        let mut high: Option<u16> = None;
        while i < s.len() {
            let c = s[i];
            i += 1;
            if c != '\\' {
                if high.is_some() {
                    return Err(err(SyntaxErrorKind::UnpairedSurrogate));
                }
                out.push(c);
                continue;
            }
            // A lone trailing backslash cannot survive line joining, but be total anyway.
            let Some(&e) = s.get(i) else { break };
            i += 1;
            if e == 'u' {
                // Exactly four hex digits (`from_str_radix` alone would also take a sign).
                let unit = s
                    .get(i..i + 4)
                    .filter(|h| h.iter().all(char::is_ascii_hexdigit))
                    .and_then(|h| u16::from_str_radix(&h.iter().collect::<String>(), 16).ok())
                    .ok_or(err(SyntaxErrorKind::MalformedUnicodeEscape))?;
                i += 4;
                match (high.take(), unit) {
                    (None, 0xD800..=0xDBFF) => high = Some(unit),
                    (None, 0xDC00..=0xDFFF) => return Err(err(SyntaxErrorKind::UnpairedSurrogate)),
                    (None, _) => out.push(
                        char::from_u32(u32::from(unit))
                            .ok_or(err(SyntaxErrorKind::UnpairedSurrogate))?,
                    ),
                    (Some(h), 0xDC00..=0xDFFF) => {
                        let cp =
                            0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                        out.push(
                            char::from_u32(cp).ok_or(err(SyntaxErrorKind::UnpairedSurrogate))?,
                        );
                    }
                    (Some(_), _) => return Err(err(SyntaxErrorKind::UnpairedSurrogate)),
                }
                continue;
            }
            if high.is_some() {
                return Err(err(SyntaxErrorKind::UnpairedSurrogate));
            }
            out.push(match e {
                't' => '\t',
                'r' => '\r',
                'n' => '\n',
                'f' => '\x0c',
                other => other,
            });
        }
        if high.is_some() {
            return Err(err(SyntaxErrorKind::UnpairedSurrogate));
        }
        Ok(out)
    }

    /// Escape a key as `Properties.store` does (every space escaped).
    pub fn escape_key(s: &str) -> String {
        escape(s, true)
    }

    /// Escape a value as `Properties.store` does (only a leading space escaped).
    pub fn escape_value(s: &str) -> String {
        escape(s, false)
    }

    // `Properties.saveConvert`. Non-ASCII and control characters become `\uXXXX` (what
    // `store(OutputStream)` does), so the file is ASCII and reads the same whether the reader
    // assumes UTF-8 or ISO-8859-1.
    fn escape(s: &str, escape_space: bool) -> String {
        let mut out = String::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            match c {
                ' ' if i == 0 || escape_space => out.push_str("\\ "),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\x0c' => out.push_str("\\f"),
                '=' | ':' | '#' | '!' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                ' '..='~' => out.push(c),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
        }
        out
    }

    /// Write pairs in the given order, each comment as a `#` line first (line breaks inside
    /// a comment start new `#` lines). Lines end with `\n`.
    pub fn store<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        comments: &[&str],
    ) -> String {
        let mut out = String::new();
        for comment in comments {
            for line in comment.split(['\n', '\r']) {
                out.push('#');
                out.push_str(line);
                out.push('\n');
            }
        }
        for (k, v) in pairs {
            out.push_str(&escape_key(k));
            out.push('=');
            out.push_str(&escape_value(v));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::java_properties::{self, SyntaxErrorKind};
    use super::*;
    use proptest::prelude::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        java_properties::parse(text).unwrap()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    /// A fresh directory under the system temp dir, removed on drop. (The storage crate has no
    /// `tempfile` dev-dependency.)
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("kraftbridge-meta-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_the_spec_example() {
        let text = "#\n#Tue Jan 02 10:00:00 UTC 2024\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n\
                    directory.id=3Db5QLSqSZieL3rJBUUegA\nnode.id=3000\nversion=1\n";
        let m = MetaProperties::parse(text.as_bytes()).unwrap();
        assert_eq!(m.version(), MetaPropertiesVersion::V1);
        assert_eq!(m.cluster_id(), Some("MkU3OEVBNTcwNTJENDM2Qk"));
        assert_eq!(m.node_id(), Some(3000));
        assert_eq!(
            m.directory_id().unwrap().to_string(),
            "3Db5QLSqSZieL3rJBUUegA"
        );
        assert_eq!(
            m.to_string(),
            "{cluster.id=MkU3OEVBNTcwNTJENDM2Qk, directory.id=3Db5QLSqSZieL3rJBUUegA, \
             node.id=3000, version=1}"
        );
    }

    #[test]
    fn writes_the_layout_kafka_writes() {
        let m = MetaProperties::kraft(
            "MkU3OEVBNTcwNTJENDM2Qk",
            3000,
            Some(parse_uuid("3Db5QLSqSZieL3rJBUUegA").unwrap()),
        );
        assert_eq!(
            m.to_file_contents(Some("Tue Jan 02 10:00:00 UTC 2024")),
            "#\n#Tue Jan 02 10:00:00 UTC 2024\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n\
             directory.id=3Db5QLSqSZieL3rJBUUegA\nnode.id=3000\nversion=1\n"
        );
    }

    #[test]
    fn v0_rules() {
        // Missing version means 0; every field optional.
        assert_eq!(
            MetaProperties::parse(b"").unwrap(),
            MetaProperties::V0 {
                broker_id: None,
                cluster_id: None,
                directory_id: None
            }
        );
        let m = MetaProperties::parse(b"version=0\nbroker.id=7\ncluster.id=abc\n").unwrap();
        assert_eq!(m.node_id(), Some(7));
        assert_eq!(m.cluster_id(), Some("abc"));
        // v0 ignores node.id; v1 ignores broker.id.
        let m = MetaProperties::parse(b"version=0\nnode.id=7\n").unwrap();
        assert_eq!(m.node_id(), None);
        assert_eq!(
            MetaProperties::parse(b"version=1\nbroker.id=7\ncluster.id=x\n"),
            Err(Problem::Missing("node.id"))
        );
    }

    #[test]
    fn v1_requires_node_and_cluster() {
        assert_eq!(
            MetaProperties::parse(b"version=1\ncluster.id=x\n"),
            Err(Problem::Missing("node.id"))
        );
        assert_eq!(
            MetaProperties::parse(b"version=1\nnode.id=1\n"),
            Err(Problem::Missing("cluster.id"))
        );
        assert!(matches!(
            MetaProperties::parse(b"version=1\nnode.id=one\ncluster.id=x\n"),
            Err(Problem::NotAnInteger { key: "node.id", .. })
        ));
        assert!(matches!(
            MetaProperties::parse(b"version=1\nnode.id=-3\ncluster.id=x\n"),
            Err(Problem::Negative {
                key: "node.id",
                value: -3
            })
        ));
        assert_eq!(
            MetaProperties::parse(b"version=2\n"),
            Err(Problem::UnsupportedVersion("2".into()))
        );
        assert!(matches!(
            MetaProperties::parse(b"version=1\nnode.id=1\ncluster.id=x\ndirectory.id=nope\n"),
            Err(Problem::InvalidDirectoryId { .. })
        ));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = TempDir::new("errname");
        fs::write(meta_properties_path(&dir.0), "version=1\ncluster.id=x\n").unwrap();
        let err = read(&dir.0).unwrap_err().to_string();
        assert!(
            err.contains(&meta_properties_path(&dir.0).display().to_string()),
            "{err}"
        );
        assert!(err.contains("node.id was not found"), "{err}");
    }

    #[test]
    fn read_missing_is_none_and_write_is_atomic() {
        let dir = TempDir::new("rw");
        assert_eq!(read(&dir.0).unwrap(), None);
        assert_eq!(read(&dir.0.join("does-not-exist")).unwrap(), None);
        let m = MetaProperties::kraft("abc", 1, Some(Uuid([7; 16])));
        write(&dir.0, &m, Some("Mon Jan 01 00:00:00 UTC 2024")).unwrap();
        assert_eq!(read(&dir.0).unwrap(), Some(m.clone()));
        assert!(!dir.0.join(META_PROPERTIES_TMP_FILE).exists());
        // Overwrite replaces the whole file.
        let m2 = MetaProperties::kraft("abc", 1, None);
        write(&dir.0, &m2, None).unwrap();
        assert_eq!(read(&dir.0).unwrap(), Some(m2));
    }

    #[test]
    fn write_into_missing_dir_fails_cleanly() {
        let dir = TempDir::new("nodir");
        let err = write(
            &dir.0.join("absent"),
            &MetaProperties::kraft("a", 1, None),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, MetaPropertiesError::Write { .. }), "{err}");
    }

    #[test]
    fn oversized_file_is_rejected() {
        let dir = TempDir::new("big");
        let big = "#".repeat(META_PROPERTIES_BYTES_MAX as usize + 10);
        fs::write(meta_properties_path(&dir.0), big).unwrap();
        assert!(matches!(
            read(&dir.0),
            Err(MetaPropertiesError::Invalid {
                problem: Problem::TooLarge,
                ..
            })
        ));
    }

    #[test]
    fn uuid_text_form() {
        let metadata_topic_id = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(metadata_topic_id.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(
            parse_uuid("AAAAAAAAAAAAAAAAAAAAAQ").unwrap(),
            metadata_topic_id
        );
        let low = |n: u8| Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]);
        assert!(is_reserved_directory_id(&low(99)));
        assert!(!is_reserved_directory_id(&low(100)));
        // Java compares the low half as a signed long: a negative one is "below 100".
        assert!(is_reserved_directory_id(&Uuid([
            0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0
        ])));
        assert!(!is_reserved_directory_id(&Uuid([1; 16])));
        // Kafka's documented example id has non-zero unused bits; Java accepts it.
        let u = parse_uuid("MkU3OEVBNTcwNTJENDM2Qk").unwrap();
        assert_eq!(u.to_string(), "MkU3OEVBNTcwNTJENDM2Qg");
        assert_eq!(parse_uuid("MkU3OEVBNTcwNTJENDM2Qg==").unwrap(), u);
        assert_eq!(parse_uuid("abc"), Err(UuidError::WrongLength(3)));
        assert_eq!(
            parse_uuid("MkU3OEVBNTcwNTJENDM2Q+"),
            Err(UuidError::InvalidCharacter('+'))
        );
        assert!(matches!(
            parse_uuid("MkU3OEVBNTcwNTJENDMé"),
            Err(UuidError::InvalidCharacter('é'))
        ));
    }

    #[test]
    fn properties_syntax() {
        assert_eq!(pairs("a=b"), vec![kv("a", "b")]);
        assert_eq!(pairs("a:b"), vec![kv("a", "b")]);
        assert_eq!(pairs("a b"), vec![kv("a", "b")]);
        assert_eq!(pairs("  a  =  b  "), vec![kv("a", "b  ")]);
        assert_eq!(pairs("a = = b"), vec![kv("a", "= b")]);
        assert_eq!(pairs("a"), vec![kv("a", "")]);
        assert_eq!(pairs("a="), vec![kv("a", "")]);
        assert_eq!(
            pairs("# c\n! c\n  # c\na=1\n\n\nb=2"),
            vec![kv("a", "1"), kv("b", "2")]
        );
        // Continuations, with the next line's leading blanks dropped, across CR, LF, CRLF.
        assert_eq!(
            pairs("a=one\\\n    two\\\r\n three\\\r four"),
            vec![kv("a", "onetwothreefour")]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(pairs("a=x\\\\\nb=y"), vec![kv("a", "x\\"), kv("b", "y")]);
        // A comment is never continued.
        assert_eq!(pairs("# c \\\na=1"), vec![kv("a", "1")]);
        // A continuation line starting with '#' is not a comment.
        assert_eq!(pairs("a=1\\\n#2"), vec![kv("a", "1#2")]);
        // Trailing backslash at EOF is dropped.
        assert_eq!(pairs("a=1\\"), vec![kv("a", "1")]);
        // Escapes in keys and values.
        assert_eq!(
            pairs("k\\=x\\ y=v\\tw\\u0041\\q"),
            vec![kv("k=x y", "v\twAq")]
        );
        assert_eq!(pairs("a=\\uD83D\\uDE00"), vec![kv("a", "😀")]);
        assert_eq!(
            pairs("a=b\nc=d\na=e"),
            vec![kv("a", "b"), kv("c", "d"), kv("a", "e")]
        );
    }

    #[test]
    fn properties_syntax_errors_carry_the_line() {
        let e = java_properties::parse("a=1\n\nb=\\u12").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.kind, SyntaxErrorKind::MalformedUnicodeEscape);
        assert!(e.to_string().starts_with("line 3:"), "{e}");
        let e = java_properties::parse("x=\\uD83D!").unwrap_err();
        assert_eq!(e.kind, SyntaxErrorKind::UnpairedSurrogate);
        let e = java_properties::parse("x=\\u+123").unwrap_err();
        assert_eq!(e.kind, SyntaxErrorKind::MalformedUnicodeEscape);
        let e = java_properties::parse("x=\\uDE00").unwrap_err();
        assert_eq!(e.kind, SyntaxErrorKind::UnpairedSurrogate);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(java_properties::decode_bytes(b"a=\xe9"), "a=é");
        assert_eq!(java_properties::decode_bytes("a=é".as_bytes()), "a=é");
    }

    fn arb_meta() -> impl Strategy<Value = MetaProperties> {
        let dir = proptest::option::of(any::<[u8; 16]>().prop_map(Uuid));
        prop_oneof![
            (0..=i32::MAX, "\\PC{0,30}", dir.clone())
                .prop_map(|(n, c, d)| MetaProperties::kraft(c, n, d)),
            (
                proptest::option::of(0..=i32::MAX),
                proptest::option::of("\\PC{0,30}"),
                dir
            )
                .prop_map(|(b, c, d)| MetaProperties::V0 {
                    broker_id: b,
                    cluster_id: c,
                    directory_id: d
                }),
        ]
    }

    proptest! {
        #[test]
        fn meta_properties_round_trip(
            m in arb_meta(),
            date in proptest::option::of("[ -~]{0,40}"),
        ) {
            let text = m.to_file_contents(date.as_deref());
            prop_assert_eq!(MetaProperties::parse(text.as_bytes()), Ok(m));
        }

        #[test]
        fn properties_round_trip(
            entries in proptest::collection::vec((any::<String>(), any::<String>()), 0..8),
        ) {
            let text = java_properties::store(
                entries.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &["a comment", "two\nlines"],
            );
            prop_assert!(text.is_ascii());
            prop_assert_eq!(java_properties::parse(&text).unwrap(), entries);
        }

        #[test]
        fn uuid_round_trip(bytes in any::<[u8; 16]>()) {
            let u = Uuid(bytes);
            let s = u.to_string();
            prop_assert_eq!(s.len(), 22);
            prop_assert_eq!(parse_uuid(&s), Ok(u));
        }

        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = MetaProperties::parse(&bytes);
            let _ = java_properties::parse(&java_properties::decode_bytes(&bytes));
        }

        #[test]
        fn hostile_text_never_panics(text in "[a-z=:#! \\\\\t\r\nu0-9DFEA.]{0,200}") {
            let _ = MetaProperties::parse(text.as_bytes());
        }

        #[test]
        fn hostile_uuid_never_panics(s in "\\PC{0,30}") {
            let _ = parse_uuid(&s);
        }
    }
}
