//! RecordBatch v2 as bytes: header parsing, framing, validation, in-place patching, lazy record
//! iteration and building.
//!
//! Produce and Fetch carry batches as `Bytes`; the broker never re-encodes records on the hot
//! path. Input comes from clients (Produce), replicas (Fetch responses) and log segments on
//! disk, so everything here decodes to `Result` and never panics on bytes. Layout:
//! `docs/formats.md` §7.
//!
//! The pieces, in the order a batch meets them:
//! - [`batches`] / [`log_batches`] split a buffer into zero-copy [`Batch`] slices (§7.1);
//! - [`validate_client_batch`] applies the Produce checks of §7.7;
//! - [`set_base_offset`], [`set_partition_leader_epoch`], [`set_log_append_time`],
//!   [`set_max_timestamp`] patch a batch in place on append (§7.6);
//! - [`Batch::records`] walks the records lazily, decompressing once (§7.3, §7.8);
//! - [`BatchBuilder`] writes new batches (metadata log, `__consumer_offsets`, perf client).

mod builder;
pub mod compression;
mod control;
mod error;
mod framing;
mod fuzz;
mod patch;
mod record;
mod validate;
mod varint;

use bytes::Bytes;

pub use builder::BatchBuilder;
pub use compression::Compression;
pub use control::{ControlRecordType, EndTxnMarker};
pub use error::{RecordsError, Result};
pub use framing::{batches, log_batches, BatchIter, LogBatchIter, LogScanError};
pub use fuzz::fuzz_entry;
pub use patch::{
    recompute_crc, set_base_offset, set_log_append_time, set_max_timestamp,
    set_partition_leader_epoch,
};
pub use record::{Header, HeaderIter, Record, RecordIter};
pub use validate::{
    check_batch_size, validate_client_batch, validate_client_batch_with, RecordsSummary,
};

/// Size of the RecordBatch v2 header, up to the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// The smallest legal `batchLength`: a header with no records (61 − 12).
pub const BATCH_LENGTH_MIN: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;
/// The only batch format this crate reads or writes.
pub const MAGIC_V2: i8 = 2;
/// `producerId`, `producerEpoch`, `baseSequence` and `partitionLeaderEpoch` use −1 for "none".
pub const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_SEQUENCE: i32 = -1;
/// See [`NO_PRODUCER_ID`].
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a record or batch without one.
pub const NO_TIMESTAMP: i64 = -1;

/// Default cap on a decompressed records section (decompression-bomb protection).
///
/// Kafka itself has no such cap. 64 MiB is 64× the default `max.message.bytes`, far above what
/// real producers send, yet a 1 MiB zstd or gzip bomb stops there instead of expanding to
/// gigabytes. Callers with other needs pass their own limit to [`Batch::records_with_limit`]
/// or [`validate_client_batch_with`].
pub const DECOMPRESSED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Byte offsets of header fields (§7.1).
pub mod offsets {
    pub const BASE_OFFSET: usize = 0;
    pub const BATCH_LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORDS_COUNT: usize = 57;
}

/// Bits of the `attributes` field (§7.2; only the low byte is used).
pub mod attributes {
    /// Bits 0–2: the codec, see [`Compression`](super::Compression).
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Bit 3: LogAppendTime; every record's timestamp then reads as `maxTimestamp`.
    pub const TIMESTAMP_TYPE: i16 = 0x08;
    /// Bit 4: part of a transaction.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Bit 5: control records (§7.5).
    pub const CONTROL: i16 = 0x20;
    /// Bit 6: `baseTimestamp` holds the log cleaner's delete horizon.
    pub const DELETE_HORIZON: i16 = 0x40;
}

/// How record timestamps in a batch are to be read (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamps, stored as deltas from `baseTimestamp`.
    #[default]
    CreateTime,
    /// The broker's append time: every record reads as the batch's `maxTimestamp`.
    LogAppendTime,
}

/// The fixed 61-byte header of a RecordBatch v2, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Decodes the first 61 bytes of `buf`.
    ///
    /// Fails with [`RecordsError::Truncated`] below 61 bytes and with
    /// [`RecordsError::UnsupportedMagic`] when magic is not 2: the fields after magic only mean
    /// what this struct says for v2, and a Produce v3+ request with another magic is answered
    /// with `INVALID_RECORD` (§7.7). `batch_length` is not range-checked here; framing
    /// ([`batches`]) does that, because only it knows how many bytes follow.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        let Some(h) = buf.first_chunk::<BATCH_HEADER_LEN>() else {
            return Err(RecordsError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        };
        let magic = h[offsets::MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordsError::UnsupportedMagic { magic });
        }
        Ok(BatchHeader {
            base_offset: read_i64(h, offsets::BASE_OFFSET),
            batch_length: read_i32(h, offsets::BATCH_LENGTH),
            partition_leader_epoch: read_i32(h, offsets::PARTITION_LEADER_EPOCH),
            magic,
            crc: read_i32(h, offsets::CRC) as u32,
            attributes: read_i16(h, offsets::ATTRIBUTES),
            last_offset_delta: read_i32(h, offsets::LAST_OFFSET_DELTA),
            base_timestamp: read_i64(h, offsets::BASE_TIMESTAMP),
            max_timestamp: read_i64(h, offsets::MAX_TIMESTAMP),
            producer_id: read_i64(h, offsets::PRODUCER_ID),
            producer_epoch: read_i16(h, offsets::PRODUCER_EPOCH),
            base_sequence: read_i32(h, offsets::BASE_SEQUENCE),
            records_count: read_i32(h, offsets::RECORDS_COUNT),
        })
    }

    /// Encodes the header exactly as stored; the inverse of [`BatchHeader::parse`].
    pub fn to_bytes(&self) -> [u8; BATCH_HEADER_LEN] {
        let mut h = [0u8; BATCH_HEADER_LEN];
        h[offsets::BASE_OFFSET..][..8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[offsets::BATCH_LENGTH..][..4].copy_from_slice(&self.batch_length.to_be_bytes());
        h[offsets::PARTITION_LEADER_EPOCH..][..4]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[offsets::MAGIC] = self.magic as u8;
        h[offsets::CRC..][..4].copy_from_slice(&self.crc.to_be_bytes());
        h[offsets::ATTRIBUTES..][..2].copy_from_slice(&self.attributes.to_be_bytes());
        h[offsets::LAST_OFFSET_DELTA..][..4].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        h[offsets::BASE_TIMESTAMP..][..8].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[offsets::MAX_TIMESTAMP..][..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[offsets::PRODUCER_ID..][..8].copy_from_slice(&self.producer_id.to_be_bytes());
        h[offsets::PRODUCER_EPOCH..][..2].copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[offsets::BASE_SEQUENCE..][..4].copy_from_slice(&self.base_sequence.to_be_bytes());
        h[offsets::RECORDS_COUNT..][..4].copy_from_slice(&self.records_count.to_be_bytes());
        h
    }

    /// Total bytes of the batch on the wire or on disk: `batchLength` + 12.
    ///
    /// Only meaningful once framing has checked `batch_length` ≥ [`BATCH_LENGTH_MIN`]; a
    /// negative length reads as [`LOG_OVERHEAD`].
    pub fn size_in_bytes(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// The records' codec, or [`RecordsError::UnsupportedCompression`] for ids 5–7.
    pub fn compression(&self) -> Result<Compression> {
        Compression::from_attributes(self.attributes)
    }

    /// CreateTime or LogAppendTime (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & attributes::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Attributes bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes & attributes::TRANSACTIONAL != 0
    }

    /// Attributes bit 5: the records are control records (§7.5).
    pub fn is_control(&self) -> bool {
        self.attributes & attributes::CONTROL != 0
    }

    /// Attributes bit 6: `base_timestamp` is the cleaner's delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & attributes::DELETE_HORIZON != 0
    }

    /// Kafka's `hasProducerId`: an idempotent or transactional producer wrote the batch.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID
    }

    /// Offset of the last record: `baseOffset + lastOffsetDelta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch, where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Sequence number of the last record, wrapping from 2³¹−1 to 0 like Kafka
    /// (`DefaultRecordBatch.incrementSequence`); −1 when the batch has no sequence.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// A batch as a zero-copy slice of the buffer it arrived in, plus its decoded header.
///
/// Framing ([`batches`], [`log_batches`], [`Batch::from_bytes`]) guarantees
/// `bytes.len() == header.size_in_bytes()` and magic 2; nothing else (not even the CRC) has
/// been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub header: BatchHeader,
    pub bytes: Bytes,
}

impl Batch {
    /// Frames `bytes` as exactly one batch: errors if it holds less or more than one.
    pub fn from_bytes(bytes: Bytes) -> Result<Batch> {
        let mut iter = batches(&bytes);
        let batch = iter.next().unwrap_or(Err(RecordsError::Truncated {
            needed: BATCH_HEADER_LEN,
            available: 0,
        }))?;
        if batch.bytes.len() != bytes.len() {
            return Err(RecordsError::CorruptMessage {
                reason: "bytes left over after the batch",
            });
        }
        Ok(batch)
    }

    /// Total size in bytes, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The records section: plain records, or one compressed stream (§7.8).
    pub fn records_section(&self) -> &[u8] {
        self.bytes.get(BATCH_HEADER_LEN..).unwrap_or_default()
    }

    /// The records' codec, or [`RecordsError::UnsupportedCompression`] for ids 5–7.
    pub fn compression(&self) -> Result<Compression> {
        self.header.compression()
    }

    /// CRC32C of bytes [21, end), which is what the header's `crc` must equal.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(self.bytes.get(offsets::ATTRIBUTES..).unwrap_or_default())
    }

    /// Checks the stored CRC; a mismatch is `CORRUPT_MESSAGE` (§7.7).
    pub fn verify_crc(&self) -> Result<()> {
        let computed = self.compute_crc();
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(RecordsError::CrcMismatch {
                stored: self.header.crc,
                computed,
            })
        }
    }

    /// Iterates the records, decompressing at most [`DECOMPRESSED_BYTES_MAX`] bytes.
    ///
    /// Decoding is lazy: a structural error (§7.3) is yielded as an `Err` item when reached, and
    /// the iterator then ends. Once every record is read, leftover bytes are an error too.
    pub fn records(&self) -> RecordIter {
        self.records_with_limit(DECOMPRESSED_BYTES_MAX)
    }

    /// [`Batch::records`] with an explicit cap on the decompressed records section.
    pub fn records_with_limit(&self, decompressed_bytes_max: usize) -> RecordIter {
        RecordIter::new(self, decompressed_bytes_max)
    }
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from 2³¹−1 to 0; −1 stays −1.
pub(crate) fn increment_sequence(base_sequence: i32, delta: i32) -> i32 {
    if base_sequence < 0 {
        return NO_SEQUENCE;
    }
    if delta > 0 && base_sequence > i32::MAX - delta {
        delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence.wrapping_add(delta)
    }
}

fn read_i16(h: &[u8; BATCH_HEADER_LEN], at: usize) -> i16 {
    i16::from_be_bytes([h[at], h[at + 1]])
}

fn read_i32(h: &[u8; BATCH_HEADER_LEN], at: usize) -> i32 {
    i32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

fn read_i64(h: &[u8; BATCH_HEADER_LEN], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    i64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> BatchHeader {
        BatchHeader {
            base_offset: 42,
            batch_length: 66,
            partition_leader_epoch: 3,
            magic: 2,
            crc: 0xa7d9_b82a,
            attributes: attributes::TRANSACTIONAL | attributes::CONTROL,
            last_offset_delta: 0,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_000,
            producer_id: 1000,
            producer_epoch: 2,
            base_sequence: -1,
            records_count: 1,
        }
    }

    #[test]
    fn header_round_trips_through_bytes() {
        let h = sample_header();
        assert_eq!(BatchHeader::parse(&h.to_bytes()), Ok(h));
        assert!(h.is_transactional() && h.is_control() && !h.has_delete_horizon());
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(h.size_in_bytes(), 78);
        assert_eq!(h.last_offset(), 42);
        assert_eq!(h.next_offset(), 43);
    }

    #[test]
    fn header_parse_reports_short_input_and_wrong_magic() {
        let bytes = sample_header().to_bytes();
        assert_eq!(
            BatchHeader::parse(&bytes[..60]),
            Err(RecordsError::Truncated {
                needed: 61,
                available: 60
            })
        );
        let mut v1 = bytes;
        v1[offsets::MAGIC] = 1;
        assert_eq!(
            BatchHeader::parse(&v1),
            Err(RecordsError::UnsupportedMagic { magic: 1 })
        );
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(increment_sequence(-1, 5), -1);
        assert_eq!(increment_sequence(10, 5), 15);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }
}
