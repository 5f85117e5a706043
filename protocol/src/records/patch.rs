//! Rewriting header fields of a batch in place on append (`docs/formats.md` §7.6).
//!
//! The leader keeps a client's batch byte-for-byte and only rewrites the base offset and the
//! partition leader epoch (both outside the CRC, so the CRC stays valid) and, for
//! LogAppendTime topics or a wrong CreateTime maximum, the timestamp type and `maxTimestamp`
//! (inside the CRC, so it is recomputed). Kafka: `DefaultRecordBatch.setLastOffset`,
//! `setPartitionLeaderEpoch`, `setMaxTimestamp`.
//!
//! Every function takes the batch's bytes (`&mut [u8]`, starting at its base offset; bytes
//! after `12 + batchLength` are ignored), checks that they hold a whole v2 batch, and neither
//! allocates nor re-encodes.

use super::{attributes, offsets, RecordsError, Result, BATCH_LENGTH_MIN, LOG_OVERHEAD, MAGIC_V2};

/// Length of the batch at the start of `batch` (`12 + batchLength`), after checking that
/// it is a whole v2 batch.
fn batch_len(batch: &[u8]) -> Result<usize> {
    let Some(head) = batch.get(..offsets::MAGIC + 1) else {
        return Err(RecordsError::Truncated {
            needed: offsets::MAGIC + 1,
            available: batch.len(),
        });
    };
    let at = offsets::BATCH_LENGTH;
    let batch_length = i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    if batch_length < BATCH_LENGTH_MIN {
        return Err(RecordsError::InvalidBatchLength { batch_length });
    }
    let magic = head[offsets::MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(RecordsError::UnsupportedMagic { magic });
    }
    let len = usize::try_from(batch_length).unwrap_or(0) + LOG_OVERHEAD;
    if len > batch.len() {
        return Err(RecordsError::Truncated {
            needed: len,
            available: batch.len(),
        });
    }
    Ok(len)
}

/// Sets `baseOffset` (not covered by the CRC). Kafka writes it as
/// `lastOffset − lastOffsetDelta`; callers pass the log end offset.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<()> {
    batch_len(batch)?;
    batch[offsets::BASE_OFFSET..][..8].copy_from_slice(&base_offset.to_be_bytes());
    Ok(())
}

/// Sets `partitionLeaderEpoch` (not covered by the CRC) to the leader's current epoch.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<()> {
    batch_len(batch)?;
    batch[offsets::PARTITION_LEADER_EPOCH..][..4].copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// Sets `maxTimestamp` of a CreateTime batch to the largest record timestamp actually in it,
/// recomputing the CRC only if the value changed (as Kafka does).
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) -> Result<()> {
    let len = batch_len(batch)?;
    let field = &mut batch[offsets::MAX_TIMESTAMP..][..8];
    if field == max_timestamp.to_be_bytes() {
        return Ok(());
    }
    field.copy_from_slice(&max_timestamp.to_be_bytes());
    write_crc(&mut batch[..len]);
    Ok(())
}

/// Marks the batch LogAppendTime (attributes bit 3) with `maxTimestamp = now`, so every record
/// reads as `now`, and recomputes the CRC. A no-op when already so, like Kafka.
pub fn set_log_append_time(batch: &mut [u8], now: i64) -> Result<()> {
    let len = batch_len(batch)?;
    let at = offsets::ATTRIBUTES;
    let attrs = i16::from_be_bytes([batch[at], batch[at + 1]]);
    let new_attrs = attrs | attributes::TIMESTAMP_TYPE;
    if attrs == new_attrs && batch[offsets::MAX_TIMESTAMP..][..8] == now.to_be_bytes() {
        return Ok(());
    }
    batch[at..at + 2].copy_from_slice(&new_attrs.to_be_bytes());
    batch[offsets::MAX_TIMESTAMP..][..8].copy_from_slice(&now.to_be_bytes());
    write_crc(&mut batch[..len]);
    Ok(())
}

/// Recomputes and stores the CRC32C of bytes [21, end); returns it.
pub fn recompute_crc(batch: &mut [u8]) -> Result<u32> {
    let len = batch_len(batch)?;
    Ok(write_crc(&mut batch[..len]))
}

/// `batch` is exactly one batch of at least 61 bytes.
fn write_crc(batch: &mut [u8]) -> u32 {
    let crc = crc32c::crc32c(&batch[offsets::ATTRIBUTES..]);
    batch[offsets::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
    crc
}
