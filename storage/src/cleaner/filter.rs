//! Which records of one batch survive compaction and the batch that carries them (Kafka
//! `LogCleaner.shouldRetainRecord`, `checkBatchRetention`, `MemoryRecords.filterTo` and
//! `buildRetainedRecordsInto`).
//!
//! Input: a batch read from a segment (CRC already checked) and the pass's offset map. Output:
//! the original bytes, a rebuilt batch (same base offset, producer id/epoch/base sequence,
//! leader epoch, codec and timestamp type; only the surviving records; last offset delta kept
//! so the producer's last sequence survives), an empty batch, or nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::records::{
    offsets, Batch, BatchBuilder, BatchHeader, Compression, Header, TimestampType,
    BATCH_HEADER_LEN, LOG_OVERHEAD,
};

use super::offset_map::OffsetMap;

/// What a pass knows when it filters batches.
#[derive(Debug)]
pub(crate) struct FilterContext<'a> {
    pub(crate) map: &'a OffsetMap,
    /// The map covers the dirty section up to here; records at or after it are kept.
    pub(crate) end_offset: i64,
    pub(crate) now_ms: i64,
    pub(crate) delete_retention_ms: i64,
    /// Producer id → last offset of its last batch in the cleaned range: that batch stays,
    /// emptied if need be (Kafka `RETAIN_EMPTY`).
    pub(crate) producer_last_offsets: &'a BTreeMap<i64, i64>,
}

/// The outcome for one batch.
#[derive(Debug)]
pub(crate) enum Filtered {
    /// Every record survives and the batch needs no delete horizon: copy the bytes.
    Original,
    /// A new batch holding the survivors (possibly none: a producer's retained last batch).
    Rewritten(Batch),
    /// Nothing survives.
    Dropped,
}

/// Counters of one batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FilterCounts {
    pub(crate) records_read: u64,
    pub(crate) records_kept: u64,
    /// Delete horizon stamped on a batch that keeps tombstones, if any.
    pub(crate) horizon_set: Option<i64>,
}

/// Kafka `shouldRetainRecord` for a v2 batch.
fn keep_record(
    ctx: &FilterContext<'_>,
    horizon: Option<i64>,
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> bool {
    if offset >= ctx.end_offset {
        return true;
    }
    // Kafka drops keyless records from compacted logs as invalid.
    let Some(key) = key else { return false };
    let latest = ctx.map.get(key).is_none_or(|o| offset >= o);
    // KIP-534: a tombstone lives until its batch's delete horizon has passed.
    let value_kept = value.is_some() || horizon.is_none_or(|h| ctx.now_ms < h);
    latest && value_kept
}

/// Filters one non-control batch. `Err(reason)` if its records do not decode.
pub(crate) fn filter_batch(
    ctx: &FilterContext<'_>,
    batch: &Batch,
) -> Result<(Filtered, FilterCounts), String> {
    let h = &batch.header;
    let horizon = h.has_delete_horizon().then_some(h.base_timestamp);
    let mut counts = FilterCounts::default();
    let mut kept = Vec::new();
    let mut keeps_tombstone = false;
    for record in batch.records() {
        let r = record.map_err(|e| e.to_string())?;
        counts.records_read += 1;
        if keep_record(ctx, horizon, r.offset(), r.key(), r.value()) {
            keeps_tombstone |= r.value().is_none();
            kept.push(r);
        }
    }
    counts.records_kept = kept.len() as u64;
    let new_horizon = (keeps_tombstone && horizon.is_none())
        .then(|| ctx.now_ms.saturating_add(ctx.delete_retention_ms));
    counts.horizon_set = new_horizon.or(horizon.filter(|_| keeps_tombstone));
    if kept.len() as u64 == counts.records_read && new_horizon.is_none() {
        return Ok((Filtered::Original, counts));
    }
    if kept.is_empty() {
        let last_of_producer = h.has_producer_id()
            && ctx.producer_last_offsets.get(&h.producer_id) == Some(&h.last_offset());
        return Ok(if last_of_producer {
            (Filtered::Rewritten(empty_batch(h)), counts)
        } else {
            (Filtered::Dropped, counts)
        });
    }
    let codec = h.compression().map_err(|e| e.to_string())?;
    let mut b = BatchBuilder::new(codec)
        .base_offset(h.base_offset)
        .partition_leader_epoch(h.partition_leader_epoch)
        .producer(h.producer_id, h.producer_epoch, h.base_sequence);
    if h.is_transactional() {
        b = b.transactional();
    }
    if h.timestamp_type() == TimestampType::LogAppendTime {
        b = b.log_append_time(h.max_timestamp);
    }
    if let Some(horizon) = new_horizon.or(horizon) {
        b = b.delete_horizon(horizon);
    }
    let mut headers: Vec<Header<'_>> = Vec::new();
    for r in &kept {
        headers.clear();
        headers.extend(r.headers());
        b.append_with_offset(r.offset(), r.timestamp(), r.key(), r.value(), &headers)
            .map_err(|e| e.to_string())?;
    }
    b.override_last_offset(h.last_offset());
    let rebuilt = b.build().map_err(|e| e.to_string())?;
    Ok((Filtered::Rewritten(rebuilt), counts))
}

/// A batch with no records that keeps the original's offsets, producer fields and max
/// timestamp (Kafka `DefaultRecordBatch.writeEmptyHeader`): uncompressed, no records section.
fn empty_batch(h: &BatchHeader) -> Batch {
    let ts_attr = h.attributes & protocol::records::attributes::TIMESTAMP_TYPE;
    let txn_attr = h.attributes & protocol::records::attributes::TRANSACTIONAL;
    let mut header = BatchHeader {
        base_offset: h.base_offset,
        batch_length: (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32,
        partition_leader_epoch: h.partition_leader_epoch,
        magic: h.magic,
        crc: 0,
        attributes: ts_attr | txn_attr | i16::from(Compression::None.id()),
        last_offset_delta: h.last_offset_delta,
        base_timestamp: h.max_timestamp,
        max_timestamp: h.max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        records_count: 0,
    };
    let mut bytes = header.to_bytes();
    header.crc = crc32c::crc32c(&bytes[offsets::ATTRIBUTES..]);
    bytes[offsets::CRC..offsets::CRC + 4].copy_from_slice(&header.crc.to_be_bytes());
    Batch {
        header,
        bytes: Bytes::copy_from_slice(&bytes),
    }
}
