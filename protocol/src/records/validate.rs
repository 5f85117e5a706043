//! The checks a leader applies to a client's Produce batch before appending it
//! (`docs/formats.md` §7.7).
//!
//! Order and errors follow Kafka: magic (`ProduceRequest.validateRecords`), base offset 0
//! (`UnifiedLog.analyzeAndValidateRecords`), CRC, then `LogValidator.validateBatch` for
//! client origin (offset range vs count, control batches, sequence), then every record must
//! decode exactly. Replicated appends skip all of this. Per-producer checks (epochs,
//! sequences against stored state), timestamps against `message.timestamp.*` and the
//! compacted-topic key rule need broker state or config and live with the caller; the
//! [`RecordsSummary`] returned by [`validate_client_batch_with`] carries what they need.

use super::record::walk_records;
use super::{Batch, RecordsError, Result, DECOMPRESSED_BYTES_MAX, MAGIC_V2, NO_TIMESTAMP};

/// What validating a client batch learned from its records, for the append path (§7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSummary {
    /// Largest record timestamp (−1 if none is larger): the CreateTime `maxTimestamp` Kafka
    /// writes back into the header.
    pub max_timestamp: i64,
    /// Record offset deltas are exactly 0, 1, 2, …. When false, a compressed batch must be
    /// rebuilt rather than appended in place (an uncompressed one is kept as is).
    pub offsets_sequential: bool,
    /// Every record has a key (compacted topics reject keyless records: `INVALID_RECORD`).
    pub all_keyed: bool,
}

/// Validates a client's Produce batch (§7.7), decompressing at most
/// [`DECOMPRESSED_BYTES_MAX`] bytes. See [`validate_client_batch_with`].
pub fn validate_client_batch(batch: &Batch) -> Result<()> {
    validate_client_batch_with(batch, DECOMPRESSED_BYTES_MAX).map(|_| ())
}

/// Validates a client's Produce batch and summarises its records:
///
/// 1. magic 2 → `INVALID_RECORD`;
/// 2. baseOffset 0 → `INVALID_RECORD`;
/// 3. CRC32C over [21, end) → `CORRUPT_MESSAGE`;
/// 4. `recordsCount > 0` and `lastOffsetDelta + 1 == recordsCount` → `INVALID_RECORD`;
/// 5. not a control batch → `INVALID_RECORD`;
/// 6. `producerId ≥ 0` requires `baseSequence ≥ 0` → `INVALID_RECORD`;
/// 7. a known codec → `UNSUPPORTED_COMPRESSION_TYPE`;
/// 8. every record decodes exactly and the count matches (§7.3) → `INVALID_RECORD`, or
///    `CORRUPT_MESSAGE` / `MESSAGE_TOO_LARGE` if the section does not decompress within
///    `decompressed_bytes_max`.
///
/// The batch size against `max.message.bytes` is [`check_batch_size`].
pub fn validate_client_batch_with(
    batch: &Batch,
    decompressed_bytes_max: usize,
) -> Result<RecordsSummary> {
    let h = &batch.header;
    if h.magic != MAGIC_V2 {
        return Err(RecordsError::UnsupportedMagic { magic: h.magic });
    }
    if h.base_offset != 0 {
        return Err(RecordsError::BaseOffsetNotZero {
            base_offset: h.base_offset,
        });
    }
    batch.verify_crc()?;
    if h.records_count <= 0 || i64::from(h.last_offset_delta) + 1 != i64::from(h.records_count) {
        return Err(RecordsError::RecordsCountMismatch {
            records_count: h.records_count,
            last_offset_delta: h.last_offset_delta,
        });
    }
    if h.is_control() {
        return Err(RecordsError::ControlBatchFromClient);
    }
    if h.has_producer_id() && h.base_sequence < 0 {
        return Err(RecordsError::MissingSequence {
            producer_id: h.producer_id,
            base_sequence: h.base_sequence,
        });
    }
    let mut summary = RecordsSummary {
        max_timestamp: NO_TIMESTAMP,
        offsets_sequential: true,
        all_keyed: true,
    };
    // Records are checked in place (no per-record reference count or allocation): this runs
    // on every Produce batch, and Kafka too decodes every record of a client batch
    // (`LogValidator`), whether or not it needs new offsets.
    let mut expected_delta = 0i64;
    walk_records(batch, decompressed_bytes_max, |record, timestamp| {
        summary.max_timestamp = summary.max_timestamp.max(timestamp);
        summary.offsets_sequential &= i64::from(record.offset_delta) == expected_delta;
        summary.all_keyed &= record.key.is_some();
        expected_delta += 1;
    })?;
    Ok(summary)
}

/// Rejects a batch larger than the topic's `max.message.bytes` (`MESSAGE_TOO_LARGE`).
pub fn check_batch_size(batch: &Batch, max_message_bytes: usize) -> Result<()> {
    let size = batch.size_in_bytes();
    if size > max_message_bytes {
        return Err(RecordsError::MessageTooLarge {
            size,
            max: max_message_bytes,
        });
    }
    Ok(())
}
