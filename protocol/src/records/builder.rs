//! Writing new RecordBatch v2 batches (`docs/formats.md` §7.1–§7.5), as Kafka's
//! `MemoryRecordsBuilder` does.
//!
//! Used by the metadata log writer, the `__consumer_offsets` writer, transaction markers and
//! the perf client. Records are encoded straight into one growing buffer behind a 61-byte
//! header placeholder: appending computes the record's size first (its length prefix comes
//! before it), then writes the fields, with no per-record allocation. A compressed batch is
//! compressed once in [`BatchBuilder::build`].

use bytes::Bytes;

use super::record::Header;
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};
use super::{
    attributes, compression, offsets, Batch, BatchHeader, Compression, RecordsError, Result,
    BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};

/// The largest batch the format can describe: `batchLength` is an int32.
const BATCH_SIZE_MAX: usize = i32::MAX as usize + LOG_OVERHEAD;

/// Builds one batch. Offsets are sequential from the base offset (offset delta = index), as
/// every Kafka writer produces them.
///
/// ```
/// use protocol::records::{BatchBuilder, Compression};
///
/// let mut builder = BatchBuilder::new(Compression::Lz4).producer(7, 0, 0);
/// builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[])?;
/// let batch = builder.build()?;
/// assert_eq!(batch.header.records_count, 1);
/// # Ok::<(), protocol::records::RecordsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    base_offset: i64,
    partition_leader_epoch: i32,
    /// Flags other than the codec: transactional, control, timestamp type.
    flags: i16,
    log_append_time: Option<i64>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    records_count: i32,
    /// Offset delta of the last appended record (−1 before the first), or the override.
    last_offset_delta: i32,
    /// Header placeholder, then the uncompressed records.
    buf: Vec<u8>,
}

impl BatchBuilder {
    /// An empty batch at base offset 0, no producer, CreateTime.
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder::with_capacity(compression, 0)
    }

    /// Like [`BatchBuilder::new`], reserving room for `records_bytes` of encoded records.
    pub fn with_capacity(compression: Compression, records_bytes: usize) -> BatchBuilder {
        BatchBuilder::with_buffer(compression, Vec::new(), records_bytes)
    }

    /// Like [`BatchBuilder::with_capacity`], building in `buf` (its contents are discarded):
    /// a client that recycles the buffers of acknowledged batches allocates none per batch.
    pub fn with_buffer(
        compression: Compression,
        mut buf: Vec<u8>,
        records_bytes: usize,
    ) -> BatchBuilder {
        buf.clear();
        buf.reserve(BATCH_HEADER_LEN + records_bytes);
        buf.resize(BATCH_HEADER_LEN, 0);
        BatchBuilder {
            compression,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            flags: 0,
            log_append_time: None,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
            records_count: 0,
            last_offset_delta: -1,
            buf,
        }
    }

    /// Offset of the first record (clients send 0; the leader assigns the real one).
    pub fn base_offset(mut self, base_offset: i64) -> BatchBuilder {
        self.base_offset = base_offset;
        self
    }

    /// Leader epoch to stamp (−1 by default, as clients send).
    pub fn partition_leader_epoch(mut self, epoch: i32) -> BatchBuilder {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Producer id, epoch and the first record's sequence (all −1 by default).
    pub fn producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch transactional (attributes bit 4).
    pub fn transactional(mut self) -> BatchBuilder {
        self.flags |= attributes::TRANSACTIONAL;
        self
    }

    /// Marks the batch as control records (attributes bit 5); see
    /// [`ControlRecordType`](super::ControlRecordType) for keys.
    pub fn control(mut self) -> BatchBuilder {
        self.flags |= attributes::CONTROL;
        self
    }

    /// Makes the batch LogAppendTime with `maxTimestamp = now` (attributes bit 3).
    pub fn log_append_time(mut self, now: i64) -> BatchBuilder {
        self.flags |= attributes::TIMESTAMP_TYPE;
        self.log_append_time = Some(now);
        self
    }

    /// KIP-534: marks the batch with a delete horizon (attributes bit 6): `baseTimestamp`
    /// becomes `horizon_ms` and record timestamps are stored relative to it. Only the log
    /// cleaner sets it; call before the first append.
    pub fn delete_horizon(mut self, horizon_ms: i64) -> BatchBuilder {
        self.flags |= attributes::DELETE_HORIZON;
        self.base_timestamp = Some(horizon_ms);
        self
    }

    /// Makes `lastOffsetDelta` cover `last_offset` even if the last record kept is earlier
    /// (Kafka `overrideLastOffset`: the log cleaner keeps a batch's last offset so the
    /// producer's last sequence survives compaction). Call after the last append.
    pub fn override_last_offset(&mut self, last_offset: i64) {
        let delta = last_offset.saturating_sub(self.base_offset);
        self.last_offset_delta = i32::try_from(delta)
            .unwrap_or(i32::MAX)
            .max(self.last_offset_delta);
    }

    /// Records appended so far.
    pub fn records_count(&self) -> usize {
        usize::try_from(self.records_count).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.records_count == 0
    }

    /// Bytes of the batch so far if it were built uncompressed (header included); for
    /// callers that stop at a size such as `max.message.bytes` or a fetch size.
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record with the next offset. `timestamp` is absolute (−1 for none); a null
    /// `value` is a tombstone. Fails only if the batch would exceed 2³¹−1 bytes.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<()> {
        let offset = self
            .base_offset
            .wrapping_add(i64::from(self.last_offset_delta) + 1);
        self.append_with_offset(offset, timestamp, key, value, headers)
    }

    /// Appends a record at an explicit `offset` above the previous record's (Kafka
    /// `appendWithOffset`; the log cleaner keeps surviving records at their offsets, leaving
    /// gaps). Fails with `InvalidRecord` if the offset does not increase or its delta from the
    /// base offset does not fit an int32.
    pub fn append_with_offset(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<()> {
        let offset_delta = match i32::try_from(offset.wrapping_sub(self.base_offset)) {
            Ok(d) if d > self.last_offset_delta && offset >= self.base_offset => d,
            _ => {
                return Err(RecordsError::InvalidRecord {
                    reason: "record offset does not increase within the batch",
                })
            }
        };
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        // Java computes the delta in wrapping long arithmetic; so do we, so it round-trips.
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);

        let mut body_len = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
        body_len = body_len
            .saturating_add(field_len(key))
            .saturating_add(field_len(value));
        body_len = body_len.saturating_add(varint_len(len_i32(headers.len())));
        for h in headers {
            body_len = body_len
                .saturating_add(field_len(Some(h.key)))
                .saturating_add(field_len(h.value));
        }
        let size = self
            .buf
            .len()
            .saturating_add(varint_len(len_i32(body_len)))
            .saturating_add(body_len);
        let body_len_i32 = match i32::try_from(body_len) {
            Ok(n) if size <= BATCH_SIZE_MAX && self.records_count < i32::MAX => n,
            _ => {
                return Err(RecordsError::MessageTooLarge {
                    size,
                    max: BATCH_SIZE_MAX,
                })
            }
        };

        let start = self.buf.len();
        let buf = &mut self.buf;
        put_varint(buf, body_len_i32);
        buf.push(0); // record attributes: unused, always 0
        put_varlong(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_field(buf, key);
        put_field(buf, value);
        put_varint(buf, len_i32(headers.len()));
        for h in headers {
            put_field(buf, Some(h.key));
            put_field(buf, h.value);
        }
        debug_assert_eq!(buf.len() - start, varint_len(body_len_i32) + body_len);

        self.base_timestamp = Some(base_timestamp);
        self.records_count += 1;
        self.last_offset_delta = offset_delta;
        // Kafka's max starts at NO_TIMESTAMP (−1) and only grows.
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Finishes the batch: compresses the records section if asked, writes the header and
    /// the CRC. An empty builder gives a batch with `recordsCount` 0 and timestamps −1.
    pub fn build(mut self) -> Result<Batch> {
        let buf = std::mem::take(&mut self.buf);
        let bytes = match self.compression {
            Compression::None => buf,
            codec => {
                let records = &buf[BATCH_HEADER_LEN..];
                let mut out = Vec::with_capacity(BATCH_HEADER_LEN + records.len() / 2);
                out.resize(BATCH_HEADER_LEN, 0);
                compression::compress_into(codec, records, &mut out)?;
                out
            }
        };
        self.finish(bytes)
    }

    fn finish(&self, mut bytes: Vec<u8>) -> Result<Batch> {
        let batch_length = i32::try_from(bytes.len() - LOG_OVERHEAD).map_err(|_| {
            RecordsError::MessageTooLarge {
                size: bytes.len(),
                max: BATCH_SIZE_MAX,
            }
        })?;
        let mut header = BatchHeader {
            base_offset: self.base_offset,
            batch_length,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: self.flags | i16::from(self.compression.id()),
            last_offset_delta: self.last_offset_delta.max(0),
            base_timestamp: self.base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp: self.log_append_time.unwrap_or(self.max_timestamp),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: self.records_count,
        };
        bytes[..BATCH_HEADER_LEN].copy_from_slice(&header.to_bytes());
        header.crc = crc32c::crc32c(&bytes[offsets::ATTRIBUTES..]);
        bytes[offsets::CRC..][..4].copy_from_slice(&header.crc.to_be_bytes());
        Ok(Batch {
            header,
            bytes: Bytes::from(bytes),
        })
    }
}

/// Slice lengths fit an i32 here: the batch size check (≤ 2³¹−1 bytes) runs before any
/// length is written, and a longer field makes that check fail.
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn field_len(field: Option<&[u8]>) -> usize {
    match field {
        None => 1,
        Some(b) => varint_len(len_i32(b.len())).saturating_add(b.len()),
    }
}

fn put_field(buf: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, len_i32(b.len()));
            buf.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_offsets_delete_horizon_and_last_offset_override() {
        let mut b = BatchBuilder::new(Compression::Gzip)
            .base_offset(100)
            .producer(7, 1, 10)
            .delete_horizon(5_000);
        b.append_with_offset(101, 1_000, Some(b"a"), None, &[])
            .unwrap();
        b.append_with_offset(104, 2_000, Some(b"b"), Some(b"v"), &[])
            .unwrap();
        assert!(b.append_with_offset(104, 0, None, None, &[]).is_err());
        assert!(b.append_with_offset(99, 0, None, None, &[]).is_err());
        b.override_last_offset(107);
        let batch = b.build().unwrap();
        let h = batch.header;
        assert!(h.has_delete_horizon());
        assert_eq!(
            (
                h.base_timestamp,
                h.max_timestamp,
                h.last_offset(),
                h.records_count
            ),
            (5_000, 2_000, 107, 2)
        );
        assert_eq!(h.last_sequence(), 17);
        batch.verify_crc().unwrap();
        let recs: Vec<_> = batch.records().map(Result::unwrap).collect();
        let seen: Vec<_> = recs
            .iter()
            .map(|r| (r.offset(), r.timestamp(), r.sequence(), r.value().is_none()))
            .collect();
        assert_eq!(seen, vec![(101, 1_000, 11, true), (104, 2_000, 14, false)]);
        // Plain appends still number records 0, 1, 2, … after the base offset.
        let mut b = BatchBuilder::new(Compression::None).base_offset(5);
        for _ in 0..3 {
            b.append(1, None, Some(b"x"), &[]).unwrap();
        }
        assert_eq!(b.build().unwrap().header.last_offset(), 7);
    }
}
