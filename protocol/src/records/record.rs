//! Lazy iteration over the records of one batch (`docs/formats.md` §7.3).
//!
//! Records come from client batches, replicas and log segments. Nothing is allocated from a
//! count or length read off the wire: a compressed section is decompressed once (capped by a
//! limit), and each [`Record`] is a zero-copy slice of the batch (or of the decompressed
//! buffer) plus positions of its key, value and headers. The checks are Kafka's
//! (`DefaultRecord.readFrom`, `DefaultRecordBatch.RecordIterator`): the parsed size must equal
//! the length prefix, the section must hold `recordsCount` records ("premature EOF") and no
//! more ("records still remaining"), header counts must be non-negative and fit the bytes
//! left, and header keys must not be null.

use std::ops::Range;

use bytes::Bytes;

use super::varint::Reader;
use super::{
    compression, increment_sequence, Batch, BatchHeader, Compression, RecordsError, Result,
    TimestampType, BATCH_HEADER_LEN,
};

/// The smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength,
/// valueLength and headerCount, one byte each. Used to reject impossible `recordsCount`
/// values before reading a record.
pub(crate) const RECORD_LEN_MIN: usize = 7;

const PREMATURE_EOF: &str = "incorrect declared batch size, premature EOF reached";
const RECORDS_REMAINING: &str = "incorrect declared batch size, records still remaining";

/// One header of a record. Keys are UTF-8 by convention (Kafka decodes them lossily and does
/// not reject invalid UTF-8, so neither do we); a null value is allowed, a null key is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// A decoded record, borrowing nothing: it holds a reference-counted slice of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's body (after its length prefix).
    body: Bytes,
    attributes: i8,
    timestamp: i64,
    timestamp_delta: i64,
    offset: i64,
    offset_delta: i32,
    sequence: i32,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Range<usize>,
    header_count: usize,
}

impl Record {
    /// Record attributes (unused by Kafka, always written as 0).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// Absolute timestamp: `baseTimestamp + timestampDelta`, or the batch's `maxTimestamp`
    /// when the batch is LogAppendTime (§7.2 bit 3).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The stored delta from the batch's `baseTimestamp`.
    pub fn timestamp_delta(&self) -> i64 {
        self.timestamp_delta
    }

    /// Absolute offset: `baseOffset + offsetDelta`.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The stored delta from the batch's `baseOffset`.
    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }

    /// Producer sequence of this record (`baseSequence + offsetDelta`, wrapping), or −1.
    pub fn sequence(&self) -> i32 {
        self.sequence
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.clone().map(|r| &self.body[r])
    }

    /// `None` is a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.clone().map(|r| &self.body[r])
    }

    /// The key as a zero-copy `Bytes`, for callers that keep it past the record.
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.clone().map(|r| self.body.slice(r))
    }

    /// The value as a zero-copy `Bytes`, for callers that keep it past the record.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| self.body.slice(r))
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The headers, decoded as iterated. They were checked when the record was read, so
    /// iteration cannot fail.
    pub fn headers(&self) -> HeaderIter<'_> {
        HeaderIter {
            reader: Reader::new(&self.body[self.headers.clone()], PREMATURE_EOF),
            remaining: self.header_count,
        }
    }
}

/// Iterator over a record's headers; see [`Record::headers`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let header = read_header(&mut self.reader);
        debug_assert!(
            header.is_ok(),
            "headers are validated when the record is read"
        );
        header.ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

fn read_header<'a>(r: &mut Reader<'a>) -> Result<Header<'a>> {
    let key_len = usize::try_from(r.varint()?).map_err(|_| RecordsError::InvalidRecord {
        reason: "null or negative header key length",
    })?;
    let key = r.bytes(key_len)?;
    let value = r.nullable_bytes()?;
    Ok(Header { key, value })
}

/// What every record needs from its batch header.
#[derive(Debug, Clone, Copy)]
struct BatchContext {
    base_offset: i64,
    base_timestamp: i64,
    /// `Some(maxTimestamp)` for LogAppendTime batches.
    log_append_time: Option<i64>,
    base_sequence: i32,
}

impl BatchContext {
    fn of(h: &BatchHeader) -> BatchContext {
        BatchContext {
            base_offset: h.base_offset,
            base_timestamp: h.base_timestamp,
            log_append_time: (h.timestamp_type() == TimestampType::LogAppendTime)
                .then_some(h.max_timestamp),
            base_sequence: h.base_sequence,
        }
    }
}

#[derive(Debug)]
enum State {
    /// The compressed records section, decompressed on the first `next()`.
    Compressed {
        section: Bytes,
        codec: Compression,
        limit: usize,
    },
    /// Uncompressed records; `pos` is the start of the next record.
    Plain {
        data: Bytes,
        pos: usize,
    },
    /// An error to yield before ending.
    Failed(RecordsError),
    Done,
}

/// Iterator over a batch's records; see [`Batch::records`].
///
/// Yields `Ok` records in order; the first problem is yielded as `Err` and ends iteration.
#[derive(Debug)]
pub struct RecordIter {
    ctx: BatchContext,
    state: State,
    /// Records still to yield.
    remaining: usize,
}

impl RecordIter {
    pub(crate) fn new(batch: &Batch, decompressed_bytes_max: usize) -> RecordIter {
        let h = &batch.header;
        let ctx = BatchContext::of(h);
        let mut iter = RecordIter {
            ctx,
            state: State::Done,
            remaining: 0,
        };
        let Ok(count) = usize::try_from(h.records_count) else {
            iter.state = State::Failed(RecordsError::InvalidRecord {
                reason: "negative record count",
            });
            return iter;
        };
        // Kafka returns no records for a count of 0 without looking at the section.
        if count == 0 {
            return iter;
        }
        iter.remaining = count;
        let section = batch.bytes.slice(BATCH_HEADER_LEN.min(batch.bytes.len())..);
        iter.state = match h.compression() {
            Err(e) => State::Failed(e),
            Ok(Compression::None) => iter.plain(section),
            Ok(codec) => State::Compressed {
                section,
                codec,
                limit: decompressed_bytes_max,
            },
        };
        iter
    }

    /// Starts iterating an uncompressed section, after checking that it can hold the
    /// announced number of records at all.
    fn plain(&self, data: Bytes) -> State {
        if self.remaining > data.len() / RECORD_LEN_MIN {
            return State::Failed(RecordsError::InvalidRecord {
                reason: PREMATURE_EOF,
            });
        }
        State::Plain { data, pos: 0 }
    }

    fn fail(&mut self, e: RecordsError) -> Option<Result<Record>> {
        self.state = State::Done;
        Some(Err(e))
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return None,
                State::Failed(e) => return self.fail(e),
                State::Compressed {
                    section,
                    codec,
                    limit,
                } => match compression::decompress(codec, &section, limit) {
                    Ok(data) => self.state = self.plain(Bytes::from(data)),
                    Err(e) => return self.fail(e),
                },
                State::Plain { data, pos } => {
                    if self.remaining == 0 {
                        if pos < data.len() {
                            return self.fail(RecordsError::InvalidRecord {
                                reason: RECORDS_REMAINING,
                            });
                        }
                        return None;
                    }
                    return match read_record(&data, pos, &self.ctx) {
                        Ok((record, next)) => {
                            self.remaining -= 1;
                            self.state = State::Plain { data, pos: next };
                            Some(Ok(record))
                        }
                        Err(e) => self.fail(e),
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // +1 for a possible trailing error.
        (0, self.remaining.checked_add(1))
    }
}

/// Reads the record starting at `pos`; returns it and the position after it.
fn read_record(data: &Bytes, pos: usize, ctx: &BatchContext) -> Result<(Record, usize)> {
    let f = parse_record(data, pos)?;
    let record = Record {
        body: data.slice(f.body.clone()),
        attributes: f.attributes,
        timestamp: ctx.timestamp(f.timestamp_delta),
        timestamp_delta: f.timestamp_delta,
        offset: ctx.base_offset.wrapping_add(i64::from(f.offset_delta)),
        offset_delta: f.offset_delta,
        sequence: increment_sequence(ctx.base_sequence, f.offset_delta),
        key: f.key,
        value: f.value,
        headers: f.headers,
        header_count: f.header_count,
    };
    Ok((record, f.body.end))
}

impl BatchContext {
    /// A record's absolute timestamp (§7.2 bit 3: LogAppendTime batches read as maxTimestamp).
    fn timestamp(&self, timestamp_delta: i64) -> i64 {
        self.log_append_time
            .unwrap_or_else(|| self.base_timestamp.wrapping_add(timestamp_delta))
    }
}

/// One record's fields as positions, parsed and checked without taking a reference to the
/// buffer: what both [`RecordIter`] and the Produce validation ([`walk_records`]) build on.
#[derive(Debug, Clone)]
pub(crate) struct RecordFields {
    /// The body (after the length prefix) within the records section; `body.end` is where the
    /// next record starts.
    pub(crate) body: Range<usize>,
    pub(crate) attributes: i8,
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    /// Key, value and headers, relative to the body.
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    pub(crate) headers: Range<usize>,
    pub(crate) header_count: usize,
}

/// Parses and checks (§7.3, Kafka `DefaultRecord.readFrom`) the record starting at `pos`.
pub(crate) fn parse_record(data: &[u8], pos: usize) -> Result<RecordFields> {
    let mut outer = Reader::new(data.get(pos..).unwrap_or_default(), PREMATURE_EOF);
    let body_len = usize::try_from(outer.varint()?).map_err(|_| RecordsError::InvalidRecord {
        reason: "negative record size",
    })?;
    let body_start = pos + outer.position();
    if body_len > outer.remaining() {
        return Err(RecordsError::InvalidRecord {
            reason: "record size exceeds the bytes left in the batch",
        });
    }
    let body_end = body_start + body_len;
    let body = &data[body_start..body_end];

    // Every field must lie inside the length prefix; running past it is a size mismatch.
    let mut r = Reader::new(body, "record fields run past its length prefix");
    let attributes = r.u8()? as i8;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = nullable_range(&mut r)?;
    let value = nullable_range(&mut r)?;
    let header_count = usize::try_from(r.varint()?).map_err(|_| RecordsError::InvalidRecord {
        reason: "negative header count",
    })?;
    if header_count > r.remaining() {
        return Err(RecordsError::InvalidRecord {
            reason: "header count larger than the bytes left",
        });
    }
    let headers_start = r.position();
    for _ in 0..header_count {
        read_header(&mut r)?;
    }
    if r.remaining() != 0 {
        return Err(RecordsError::InvalidRecord {
            reason: "record size does not match its length prefix",
        });
    }
    Ok(RecordFields {
        body: body_start..body_end,
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: headers_start..body_len,
        header_count,
    })
}

/// Parses every record of a batch in place, handing each to `visit` with its absolute
/// timestamp, with exactly the checks and errors of [`RecordIter`] (count vs bytes, premature
/// EOF, records still remaining) but without a reference-counted slice per record: the
/// Produce validation runs this on every batch. A compressed section is decompressed once,
/// within `decompressed_bytes_max`.
pub(crate) fn walk_records(
    batch: &Batch,
    decompressed_bytes_max: usize,
    mut visit: impl FnMut(&RecordFields, i64),
) -> Result<()> {
    let h = &batch.header;
    let ctx = BatchContext::of(h);
    let count = usize::try_from(h.records_count).map_err(|_| RecordsError::InvalidRecord {
        reason: "negative record count",
    })?;
    if count == 0 {
        return Ok(());
    }
    let section = batch.records_section();
    let decompressed;
    let data = match h.compression()? {
        Compression::None => section,
        codec => {
            decompressed = compression::decompress(codec, section, decompressed_bytes_max)?;
            &decompressed[..]
        }
    };
    if count > data.len() / RECORD_LEN_MIN {
        return Err(RecordsError::InvalidRecord {
            reason: PREMATURE_EOF,
        });
    }
    let mut pos = 0;
    for _ in 0..count {
        let f = parse_record(data, pos)?;
        visit(&f, ctx.timestamp(f.timestamp_delta));
        pos = f.body.end;
    }
    if pos < data.len() {
        return Err(RecordsError::InvalidRecord {
            reason: RECORDS_REMAINING,
        });
    }
    Ok(())
}

/// Reads a nullable length-prefixed field and returns its range within the reader's slice.
fn nullable_range(r: &mut Reader<'_>) -> Result<Option<Range<usize>>> {
    let field = r.nullable_bytes()?;
    Ok(field.map(|f| r.position() - f.len()..r.position()))
}
