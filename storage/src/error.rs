//! `storage::Error`: every fault the storage layer reports, each naming the file involved.
//!
//! Bytes read from disk are input (`docs/architecture.md` §7.10): a torn or corrupt file is an
//! `Error` naming the file and the byte position or line, never a panic.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `storage`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a named file or directory.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A text file (checkpoint, `partition.metadata`, `.kafka_cleanshutdown`) failed to parse.
    #[error("{path}: line {line}: {reason}")]
    Parse {
        path: PathBuf,
        /// 1-based line number; 0 when the problem is the file as a whole.
        line: usize,
        reason: String,
    },
    /// A binary file (segment, index) holds bytes that cannot be valid.
    #[error("corrupt {path} at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// The caller asked for an offset the log does not hold (Kafka `OFFSET_OUT_OF_RANGE`).
    #[error(
        "offset {offset} is out of range for {log}: log start offset {log_start_offset}, \
         log end offset {log_end_offset}"
    )]
    OffsetOutOfRange {
        log: PathBuf,
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Bytes handed to `append` are not a sequence of whole v2 batches (Kafka `CORRUPT_MESSAGE`
    /// / `INVALID_RECORD`).
    #[error("invalid record set for {log} at byte {position} of the input: {reason}")]
    InvalidRecords {
        log: PathBuf,
        position: usize,
        reason: String,
    },
    /// One batch exceeds `max.message.bytes` (Kafka `MESSAGE_TOO_LARGE`).
    #[error(
        "batch of {size} bytes exceeds max.message.bytes={max_message_bytes} for {log}; \
         raise max.message.bytes or send smaller batches"
    )]
    RecordTooLarge {
        log: PathBuf,
        size: usize,
        max_message_bytes: u32,
    },
    /// The whole append exceeds `segment.bytes` (Kafka `RECORD_LIST_TOO_LARGE`).
    #[error(
        "record set of {size} bytes exceeds segment.bytes={segment_bytes} for {log}; \
         raise segment.bytes or send smaller batches"
    )]
    RecordSetTooLarge {
        log: PathBuf,
        size: usize,
        segment_bytes: u32,
    },
    /// A follower/raft append whose offsets do not follow the log end offset.
    #[error(
        "append to {log} starts at offset {first_offset}, below the log end offset \
         {log_end_offset} (offsets must increase)"
    )]
    UnexpectedAppendOffset {
        log: PathBuf,
        first_offset: i64,
        log_end_offset: i64,
    },
    /// A directory inside a log dir that is not `<topic>-<partition>[.<id>-<suffix>]`.
    #[error(
        "unexpected directory {path} in log dir: expected <topic>-<partition> \
         (optionally .<32 hex>-delete|-future|-stray); move it out of the log dir"
    )]
    InvalidPartitionDir { path: PathBuf },
    /// `partition.metadata` names a different topic id than the caller expects (Kafka
    /// `InconsistentTopicIdException`).
    #[error("{log} belongs to topic id {stored}, not {requested}")]
    InconsistentTopicId {
        log: PathBuf,
        stored: String,
        requested: String,
    },
    /// A metadata snapshot cannot be written as asked (it exists already, a batch does not
    /// fit the snapshot); nothing was overwritten.
    #[error("metadata snapshot {path}: {reason}")]
    Snapshot { path: PathBuf, reason: String },
    /// A `LogConfig` value outside what Kafka accepts.
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, position: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            position,
            reason: reason.into(),
        }
    }

    pub(crate) fn parse(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }
}

/// Attaches a path to a raw `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
