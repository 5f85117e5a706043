//! What can be wrong with a record batch, and the Kafka error code a broker answers for it.
//!
//! Kafka splits batch problems in two: a batch that cannot be framed or fails its CRC is
//! `CORRUPT_MESSAGE` (`CorruptRecordException`), while a well-framed batch whose contents break
//! the rules is `INVALID_RECORD` (`InvalidRecordException`, KIP-467). `docs/formats.md` §7.7.

use super::compression::Compression;
use super::BATCH_LENGTH_MIN;

/// `Result` of this module.
pub type Result<T, E = RecordsError> = std::result::Result<T, E>;

// Kafka error codes (`org.apache.kafka.common.protocol.Errors`).
const UNKNOWN_SERVER_ERROR: i16 = -1;
const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const INVALID_RECORD: i16 = 87;

/// Why a batch was rejected. Each variant maps to one Kafka error code via
/// [`RecordsError::error_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// The input ends inside a header or batch.
    #[error("input ends early: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    /// `batchLength` is smaller than a header without records.
    #[error("batchLength {batch_length} is below the minimum {BATCH_LENGTH_MIN}")]
    InvalidBatchLength { batch_length: i32 },
    /// Not a RecordBatch v2; older formats are not supported.
    #[error("magic {magic} is not supported; only RecordBatch v2 (magic 2) is")]
    UnsupportedMagic { magic: i8 },
    /// The CRC32C over attributes..end does not match the header.
    #[error("CRC32C mismatch: header says {stored:#010x}, bytes give {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// The batch framing is broken in a way not covered by a more specific variant.
    #[error("corrupt batch: {reason}")]
    CorruptMessage { reason: &'static str },
    /// A record inside the batch does not decode exactly (§7.3), or the record count is wrong.
    #[error("invalid record: {reason}")]
    InvalidRecord { reason: &'static str },
    /// A client batch must start at offset 0 (`UnifiedLog.analyzeAndValidateRecords`).
    #[error("baseOffset of a client batch must be 0, not {base_offset}")]
    BaseOffsetNotZero { base_offset: i64 },
    /// `recordsCount` must be positive and equal `lastOffsetDelta + 1`.
    #[error(
        "recordsCount {records_count} does not match lastOffsetDelta {last_offset_delta} + 1, \
         or is not positive"
    )]
    RecordsCountMismatch {
        records_count: i32,
        last_offset_delta: i32,
    },
    /// Clients may not write control batches; only coordinators and Raft do.
    #[error("clients may not write control batches")]
    ControlBatchFromClient,
    /// An idempotent batch (producerId ≥ 0) needs a sequence number.
    #[error("producerId {producer_id} requires baseSequence >= 0, not {base_sequence}")]
    MissingSequence {
        producer_id: i64,
        base_sequence: i32,
    },
    /// Attributes name a codec id this broker does not know (5–7).
    #[error("unsupported compression type id {id}")]
    UnsupportedCompression { id: u8 },
    /// The records section is not a valid stream of its codec.
    #[error("{codec} decompression failed: {detail}")]
    Decompress { codec: Compression, detail: String },
    /// The records section decompresses to more than the caller's limit.
    #[error("{codec} records section decompresses to more than {limit} bytes")]
    DecompressedTooLarge { codec: Compression, limit: usize },
    /// An encoder failed (writing to memory cannot fail in practice).
    #[error("{codec} compression failed: {detail}")]
    Compress { codec: Compression, detail: String },
    /// The batch is larger than `max.message.bytes`, or than a batch can be (2³¹−1).
    #[error("batch of {size} bytes exceeds the maximum of {max}")]
    MessageTooLarge { size: usize, max: usize },
}

impl RecordsError {
    /// The Kafka error code a broker answers with for this problem (§7.7).
    pub fn error_code(&self) -> i16 {
        match self {
            RecordsError::Truncated { .. }
            | RecordsError::InvalidBatchLength { .. }
            | RecordsError::CrcMismatch { .. }
            | RecordsError::CorruptMessage { .. }
            | RecordsError::Decompress { .. } => CORRUPT_MESSAGE,
            RecordsError::UnsupportedMagic { .. }
            | RecordsError::InvalidRecord { .. }
            | RecordsError::BaseOffsetNotZero { .. }
            | RecordsError::RecordsCountMismatch { .. }
            | RecordsError::ControlBatchFromClient
            | RecordsError::MissingSequence { .. } => INVALID_RECORD,
            RecordsError::UnsupportedCompression { .. } => UNSUPPORTED_COMPRESSION_TYPE,
            RecordsError::DecompressedTooLarge { .. } | RecordsError::MessageTooLarge { .. } => {
                MESSAGE_TOO_LARGE
            }
            RecordsError::Compress { .. } => UNKNOWN_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_follow_kafka() {
        let crc = RecordsError::CrcMismatch {
            stored: 1,
            computed: 2,
        };
        assert_eq!(crc.error_code(), 2);
        assert_eq!(RecordsError::InvalidRecord { reason: "x" }.error_code(), 87);
        assert_eq!(
            RecordsError::UnsupportedCompression { id: 5 }.error_code(),
            76
        );
        assert_eq!(
            RecordsError::MessageTooLarge { size: 2, max: 1 }.error_code(),
            10
        );
        assert_eq!(RecordsError::UnsupportedMagic { magic: 1 }.error_code(), 87);
    }
}
