//! Forward readers over a segment's `.log`: a header-only scanner for offset/timestamp
//! searches and a whole-batch reader for recovery.
//!
//! Input: the `.log` file, untrusted. Both stop quietly at a partial batch at the end (Kafka's
//! `FileLogInputStream` ignores it) and report a structurally broken header as corruption.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use protocol::records::{BatchHeader, BATCH_HEADER_LEN};

use crate::batch::{batch_size, read_header};
use crate::error::{Error, IoContext, Result};

/// Bytes read per `pread` when only headers are needed.
const SCAN_CHUNK_BYTES: usize = 8 * 1024;
/// Initial buffer of the recovery reader; grows to the largest batch met.
const RECOVERY_CHUNK_BYTES: usize = 1 << 20;

/// A batch located in a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchAt {
    pub(crate) position: u64,
    pub(crate) size: u64,
    pub(crate) header: BatchHeader,
}

impl BatchAt {
    pub(crate) fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    pub(crate) fn end(&self) -> u64 {
        self.position + self.size
    }
}

/// Reads batch headers at arbitrary forward positions, one `pread` per 8 KiB.
pub(crate) struct HeaderScanner<'a> {
    file: &'a File,
    path: &'a Path,
    end: u64,
    buf: [u8; SCAN_CHUNK_BYTES],
    buf_pos: u64,
    buf_len: usize,
}

impl<'a> HeaderScanner<'a> {
    pub(crate) fn new(file: &'a File, path: &'a Path, end: u64) -> Self {
        HeaderScanner {
            file,
            path,
            end,
            buf: [0; SCAN_CHUNK_BYTES],
            buf_pos: 0,
            buf_len: 0,
        }
    }

    /// The batch starting at `pos`; `None` if no whole batch fits before the end.
    pub(crate) fn at(&mut self, pos: u64) -> Result<Option<BatchAt>> {
        if pos >= self.end || self.end - pos < BATCH_HEADER_LEN as u64 {
            return Ok(None);
        }
        let cached = self.buf_pos <= pos
            && pos + BATCH_HEADER_LEN as u64 <= self.buf_pos + self.buf_len as u64;
        if !cached {
            let n = (self.end - pos).min(SCAN_CHUNK_BYTES as u64) as usize;
            self.file
                .read_exact_at(&mut self.buf[..n], pos)
                .ctx(self.path)?;
            self.buf_pos = pos;
            self.buf_len = n;
        }
        let off = (pos - self.buf_pos) as usize;
        let Some(header) = read_header(&self.buf[off..self.buf_len]) else {
            return Ok(None);
        };
        let header = header.map_err(|r| Error::corrupt(self.path, pos, r))?;
        let size = batch_size(&header);
        if pos + size > self.end {
            return Ok(None);
        }
        Ok(Some(BatchAt {
            position: pos,
            size,
            header,
        }))
    }
}

/// What the recovery reader found next.
#[derive(Debug)]
pub(crate) enum Next<'b> {
    Batch {
        at: BatchAt,
        bytes: &'b [u8],
    },
    /// Clean end of file.
    End,
    /// Fewer bytes than a whole batch remain: a torn write.
    Torn {
        position: u64,
        reason: String,
    },
    /// A header that cannot be valid.
    Corrupt {
        position: u64,
        reason: String,
    },
}

/// Reads whole batches sequentially from position 0, for recovery and swap-file inspection.
pub(crate) struct BatchReader<'a> {
    file: &'a File,
    path: &'a Path,
    end: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_pos: u64,
}

impl<'a> BatchReader<'a> {
    pub(crate) fn new(file: &'a File, path: &'a Path, end: u64) -> Self {
        BatchReader {
            file,
            path,
            end,
            pos: 0,
            buf: Vec::new(),
            buf_pos: 0,
        }
    }

    /// Ensures `buf` holds `[pos, pos + need)`; `need` ≤ `end - pos`.
    fn fill(&mut self, need: u64) -> Result<()> {
        let have =
            self.buf_pos <= self.pos && self.pos + need <= self.buf_pos + self.buf.len() as u64;
        if have {
            return Ok(());
        }
        let len = need
            .max(RECOVERY_CHUNK_BYTES as u64)
            .min(self.end - self.pos) as usize;
        self.buf.resize(len, 0);
        self.file
            .read_exact_at(&mut self.buf, self.pos)
            .ctx(self.path)?;
        self.buf_pos = self.pos;
        Ok(())
    }

    pub(crate) fn next_batch(&mut self) -> Result<Next<'_>> {
        let remaining = self.end - self.pos;
        if remaining == 0 {
            return Ok(Next::End);
        }
        let position = self.pos;
        if remaining < BATCH_HEADER_LEN as u64 {
            return Ok(Next::Torn {
                position,
                reason: format!("{remaining} trailing bytes are less than a batch header"),
            });
        }
        self.fill(BATCH_HEADER_LEN as u64)?;
        let off = (self.pos - self.buf_pos) as usize;
        let header = match read_header(&self.buf[off..]) {
            None => {
                return Ok(Next::Torn {
                    position,
                    reason: "short header".into(),
                })
            }
            Some(Err(reason)) => return Ok(Next::Corrupt { position, reason }),
            Some(Ok(h)) => h,
        };
        let size = batch_size(&header);
        if size > remaining {
            return Ok(Next::Torn {
                position,
                reason: format!("batch of {size} bytes but only {remaining} bytes remain"),
            });
        }
        self.fill(size)?;
        let off = (self.pos - self.buf_pos) as usize;
        self.pos += size;
        Ok(Next::Batch {
            at: BatchAt {
                position,
                size,
                header,
            },
            bytes: &self.buf[off..off + size as usize],
        })
    }
}
