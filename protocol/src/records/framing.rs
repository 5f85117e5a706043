//! Splitting a buffer of concatenated batches into zero-copy [`Batch`] slices
//! (`docs/formats.md` §7.1).
//!
//! Two callers, two policies. A Produce request or Fetch response must frame exactly:
//! [`batches`] reports a partial batch at the end as [`RecordsError::Truncated`]. A log
//! segment read during recovery may end in a write cut short by a crash: [`log_batches`]
//! reports that as [`LogScanError::TruncatedTail`], apart from real corruption, with the byte
//! position to truncate at. Neither checks CRCs or records; see [`Batch::verify_crc`] and
//! [`validate_client_batch`](super::validate_client_batch).

use bytes::Bytes;

use super::{offsets, Batch, BatchHeader, RecordsError, Result, BATCH_LENGTH_MIN, LOG_OVERHEAD};

/// Bytes Kafka's file reader needs before it judges a batch: through the magic byte
/// (`FileLogInputStream`, `HEADER_SIZE_UP_TO_MAGIC`).
const HEADER_LEN_UP_TO_MAGIC: usize = offsets::MAGIC + 1;

enum Frame {
    Batch(Batch),
    /// Fewer bytes than the batch needs.
    Short {
        needed: usize,
    },
    Corrupt(RecordsError),
}

/// Frames the batch at `pos`; `buf[pos..]` is non-empty.
fn next_frame(buf: &Bytes, pos: usize) -> Frame {
    let rest = &buf[pos..];
    let Some(len) = rest.get(offsets::BATCH_LENGTH..LOG_OVERHEAD) else {
        return Frame::Short {
            needed: LOG_OVERHEAD,
        };
    };
    let batch_length = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    if batch_length < BATCH_LENGTH_MIN {
        return Frame::Corrupt(RecordsError::InvalidBatchLength { batch_length });
    }
    // batch_length ≥ 49, so the conversion cannot fail and the size covers a whole header.
    let size = usize::try_from(batch_length).unwrap_or(0) + LOG_OVERHEAD;
    if rest.len() < size {
        return Frame::Short { needed: size };
    }
    match BatchHeader::parse(&rest[..size]) {
        Ok(header) => Frame::Batch(Batch {
            header,
            bytes: buf.slice(pos..pos + size),
        }),
        Err(e) => Frame::Corrupt(e),
    }
}

/// Splits `buf` (a Produce partition's records, a Fetch response's) into batches.
///
/// Yields each batch in order; the first framing problem is yielded as `Err` and ends the
/// iteration: a `batchLength` below 49, a batch running past the end of `buf`
/// ([`RecordsError::Truncated`]) or a magic other than 2.
pub fn batches(buf: &Bytes) -> BatchIter {
    BatchIter {
        buf: buf.clone(),
        pos: 0,
        done: false,
    }
}

/// Iterator of [`batches`].
#[derive(Debug, Clone)]
pub struct BatchIter {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl BatchIter {
    /// Byte position of the next batch: after an error, the start of the bad batch.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let available = self.buf.len() - self.pos;
        let result = match next_frame(&self.buf, self.pos) {
            Frame::Batch(batch) => {
                self.pos += batch.bytes.len();
                return Some(Ok(batch));
            }
            Frame::Short { needed } => RecordsError::Truncated { needed, available },
            Frame::Corrupt(e) => e,
        };
        self.done = true;
        Some(Err(result))
    }
}

/// Why [`log_batches`] stopped before the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogScanError {
    /// The segment ends inside a batch (a write cut short by a crash). Kafka's file reader
    /// silently stops here and recovery truncates the segment to `position`.
    #[error("partial batch at byte {position}: {available} bytes left, {needed} needed")]
    TruncatedTail {
        position: usize,
        needed: usize,
        available: usize,
    },
    /// The bytes at `position` are not a batch; recovery also truncates here, but this is
    /// worth a louder log line (and is fatal in any segment but the active one).
    #[error("corrupt batch at byte {position}: {error}")]
    Corrupt {
        position: usize,
        error: RecordsError,
    },
}

impl LogScanError {
    /// Where the bad or partial batch starts: the length of the valid prefix.
    pub fn position(&self) -> usize {
        match self {
            LogScanError::TruncatedTail { position, .. }
            | LogScanError::Corrupt { position, .. } => *position,
        }
    }
}

/// Splits a log segment's bytes into batches, telling a partial tail from corruption.
///
/// Follows Kafka's `FileLogInputStream`: fewer than 17 bytes left, or a batch running past
/// the end, is a truncated tail; a `batchLength` below 49 or a magic other than 2 is
/// corruption. The iteration ends after either.
pub fn log_batches(buf: &Bytes) -> LogBatchIter {
    LogBatchIter {
        buf: buf.clone(),
        pos: 0,
        done: false,
    }
}

/// Iterator of [`log_batches`].
#[derive(Debug, Clone)]
pub struct LogBatchIter {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl LogBatchIter {
    /// Byte position of the next batch: after an error, the start of the bad batch.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for LogBatchIter {
    type Item = Result<Batch, LogScanError>;

    fn next(&mut self) -> Option<Result<Batch, LogScanError>> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let (position, available) = (self.pos, self.buf.len() - self.pos);
        let error = if available < HEADER_LEN_UP_TO_MAGIC {
            LogScanError::TruncatedTail {
                position,
                needed: HEADER_LEN_UP_TO_MAGIC,
                available,
            }
        } else {
            match next_frame(&self.buf, self.pos) {
                Frame::Batch(batch) => {
                    self.pos += batch.bytes.len();
                    return Some(Ok(batch));
                }
                Frame::Short { needed } => LogScanError::TruncatedTail {
                    position,
                    needed,
                    available,
                },
                Frame::Corrupt(error) => LogScanError::Corrupt { position, error },
            }
        };
        self.done = true;
        Some(Err(error))
    }
}
