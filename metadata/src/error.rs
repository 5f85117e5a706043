//! Errors of the metadata crate: bytes that are not a valid metadata record or batch
//! ([`Error`]), and records that do not apply to the image they are replayed onto
//! ([`ReplayError`]).
//!
//! Both are values, never panics: frames come from the `__cluster_metadata` log on disk, from
//! Raft peers and from snapshot files, and a record that does not fit the image is a fault the
//! caller logs (Kafka's `MetadataLoader` raises a fault and carries on) rather than a reason
//! to crash.

use protocol::records::RecordsError;
use protocol::{DecodeError, Uuid};

/// `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why bytes are not a metadata record or a metadata batch (`docs/formats.md` §11.2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The frame's leading varint is not 1; 0 was the 2.8 preview format.
    #[error("metadata record frame version {0} is not supported (only frame version 1 is)")]
    UnsupportedFrameVersion(u32),
    /// `apiKey` or `version` in the frame is above `i16::MAX` (`AbstractApiMessageSerde`).
    #[error("metadata record frame {field} {value} is above 32767")]
    FrameValueTooLarge { field: &'static str, value: u32 },
    /// A varint of the frame header is cut short or too long.
    #[error("metadata record frame header: {0}")]
    FrameHeader(DecodeError),
    /// The record type is not in the 3.9 catalogue (`docs/formats.md` §11.4).
    #[error("unknown metadata record type {record_type} (version {version})")]
    UnknownRecordType { record_type: i16, version: i16 },
    /// The record type is known but not at this version.
    #[error("{name} version {version} is not supported (versions {min}..={max} are)")]
    UnsupportedVersion {
        name: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    /// The body does not decode at its version.
    #[error("cannot decode {name} version {version}: {source}")]
    Body {
        name: &'static str,
        version: i16,
        source: DecodeError,
    },
    /// Bytes are left over after the body; Kafka rejects such frames too.
    #[error("{count} bytes left over after {name} version {version}")]
    TrailingBytes {
        name: &'static str,
        version: i16,
        count: usize,
    },
    /// The RecordBatch itself is broken (framing, CRC, record layout).
    #[error("metadata batch: {0}")]
    Batch(#[from] RecordsError),
    /// A record of a data batch has a null value, so there is no frame to decode.
    #[error("metadata batch at base offset {base_offset}: record at offset {offset} has no value")]
    MissingValue { base_offset: i64, offset: i64 },
    /// A record at `offset` of the batch failed to decode.
    #[error("metadata batch at base offset {base_offset}: record at offset {offset}: {source}")]
    Record {
        base_offset: i64,
        offset: i64,
        source: Box<Error>,
    },
    /// Nothing to write: Raft never appends an empty data batch.
    #[error("a metadata batch needs at least one record")]
    EmptyBatch,
    /// More records than [`BATCH_RECORDS_MAX`](crate::batch::BATCH_RECORDS_MAX).
    #[error("{count} records exceed the limit of {max} per metadata batch")]
    TooManyRecords { count: usize, max: usize },
    /// The encoded batch is larger than [`BATCH_BYTES_MAX`](crate::batch::BATCH_BYTES_MAX).
    #[error("a metadata batch of {size} bytes exceeds the limit of {max}")]
    BatchTooLarge { size: usize, max: usize },
}

/// Why a snapshot's data batches do not load into an image (`docs/formats.md` §13). A
/// snapshot is loaded whole or not at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A batch or one of its records does not decode.
    #[error("snapshot batch: {0}")]
    Decode(#[from] Error),
    /// A control batch among the data batches (the file layer strips the header and footer).
    #[error("snapshot holds a control batch at offset {base_offset} among its data batches")]
    ControlBatch { base_offset: i64 },
    /// A record that decodes but does not apply to the image built so far.
    #[error("snapshot record {record} at offset {offset} does not replay: {error}")]
    Replay {
        offset: i64,
        record: &'static str,
        error: ReplayError,
    },
}

/// Why a well-formed record does not apply to the image (Kafka's replay throws
/// `IllegalStateException`/`RuntimeException` for these). The delta is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A record names a topic id the image does not have.
    #[error("{record} refers to unknown topic id {topic_id}")]
    UnknownTopicId {
        record: &'static str,
        topic_id: Uuid,
    },
    /// A PartitionChangeRecord names a partition the topic does not have.
    #[error("{record} refers to unknown partition {partition} of topic id {topic_id}")]
    UnknownPartition {
        record: &'static str,
        topic_id: Uuid,
        partition: i32,
    },
    /// A TopicRecord reuses the id of a live topic.
    #[error("TopicRecord for {name} reuses topic id {topic_id}, which belongs to {existing}")]
    TopicIdExists {
        name: String,
        topic_id: Uuid,
        existing: String,
    },
    /// A TopicRecord reuses the name of a live topic.
    #[error(
        "TopicRecord {name} with id {topic_id}: a topic of that name exists with id {existing}"
    )]
    TopicNameExists {
        name: String,
        topic_id: Uuid,
        existing: Uuid,
    },
    /// A broker record names a broker that is not registered.
    #[error("{record} refers to broker {broker_id}, which is not registered")]
    UnknownBroker {
        record: &'static str,
        broker_id: i32,
    },
    /// A broker record carries an epoch other than the registration's (Kafka
    /// `ClusterDelta.getBrokerOrThrow`).
    #[error("{record} for broker {broker_id} has epoch {actual}, the registration has {expected}")]
    BrokerEpochMismatch {
        record: &'static str,
        broker_id: i32,
        expected: i64,
        actual: i64,
    },
    /// A field holds a value its record does not define.
    #[error("{record} has invalid {field} {value}")]
    InvalidValue {
        record: &'static str,
        field: &'static str,
        value: i64,
    },
    /// A partition's directory list does not match its replica list (KIP-858).
    #[error(
        "{record} for partition {partition} of topic id {topic_id} has {directories} \
         directories for {replicas} replicas"
    )]
    DirectoriesMismatch {
        record: &'static str,
        topic_id: Uuid,
        partition: i32,
        replicas: usize,
        directories: usize,
    },
    /// A RemoveAccessControlEntryRecord names an ACL that does not exist.
    #[error("RemoveAccessControlEntryRecord refers to unknown ACL id {id}")]
    UnknownAcl { id: Uuid },
}
