//! Time index `<base>.timeindex` (`docs/formats.md` §8.2): sparse 12-byte entries, big-endian
//! `int64 timestamp` + `int32 relativeOffset`. Entry meaning: every record with a timestamp
//! above `timestamp` is at an offset after `relativeOffset`. Timestamps strictly increase,
//! offsets never decrease; one slot is reserved for the entry written at roll/close.
//!
//! Input: the `.timeindex` file of a segment, possibly written by Apache Kafka.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::index_file::{be_i32, be_i64, IndexFile, ENTRY_BYTES_MAX};

/// Bytes per time-index entry.
pub const TIME_INDEX_ENTRY_BYTES: u64 = 12;
/// Kafka `RecordBatch.NO_TIMESTAMP`.
pub use protocol::records::NO_TIMESTAMP;

/// A timestamp and an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// Decodes one 12-byte entry of a segment with base offset `base_offset`.
pub fn decode_entry(base_offset: i64, entry: &[u8; 12]) -> TimestampOffset {
    TimestampOffset {
        timestamp: be_i64(entry, 0),
        // Saturating for the same reason as the offset index's `decode_entry`.
        offset: base_offset.saturating_add(i64::from(be_i32(entry, 8))),
    }
}

/// Encodes one entry.
pub fn encode_entry(timestamp: i64, relative_offset: i32) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[..8].copy_from_slice(&timestamp.to_be_bytes());
    e[8..].copy_from_slice(&relative_offset.to_be_bytes());
    e
}

#[derive(Debug)]
pub(crate) struct TimeIndex {
    file: IndexFile,
    base_offset: i64,
    /// Cached last entry; `(NO_TIMESTAMP, base)` when empty.
    last: OnceLock<TimestampOffset>,
}

impl TimeIndex {
    /// The partition directory was renamed to `dir`.
    pub(crate) fn set_dir(&mut self, dir: &std::path::Path) {
        self.file.set_dir(dir);
    }

    pub(crate) fn create(path: PathBuf, base_offset: i64, max_bytes: u64) -> Self {
        TimeIndex {
            file: IndexFile::create(path, TIME_INDEX_ENTRY_BYTES, max_bytes),
            base_offset,
            last: OnceLock::from(TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: base_offset,
            }),
        }
    }

    pub(crate) fn open_existing(path: PathBuf, base_offset: i64) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::open_existing(path, TIME_INDEX_ENTRY_BYTES)?,
            base_offset,
            last: OnceLock::new(),
        })
    }

    pub(crate) fn file(&self) -> &IndexFile {
        &self.file
    }

    pub(crate) fn file_mut(&mut self) -> &mut IndexFile {
        &mut self.file
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> u64 {
        self.file.entries()
    }

    /// Full one entry early: the last slot is kept for the roll/close entry (Kafka
    /// `TimeIndex.isFull`).
    pub(crate) fn is_full(&self) -> bool {
        self.file.entries() + 1 >= self.file.max_entries()
    }

    pub(crate) fn entry(&self, slot: u64) -> Result<TimestampOffset> {
        let mut buf = [0u8; ENTRY_BYTES_MAX];
        let mut e = [0u8; 12];
        e.copy_from_slice(self.file.read_entry(slot, &mut buf)?);
        Ok(decode_entry(self.base_offset, &e))
    }

    pub(crate) fn last_entry(&self) -> Result<TimestampOffset> {
        if let Some(l) = self.last.get() {
            return Ok(*l);
        }
        let l = match self.file.entries() {
            0 => TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            },
            n => self.entry(n - 1)?,
        };
        Ok(*self.last.get_or_init(|| l))
    }

    /// Greatest entry with timestamp ≤ `target`, or `(NO_TIMESTAMP, base)` (Kafka
    /// `TimeIndex.lookup`).
    pub(crate) fn lookup(&self, target: i64) -> Result<TimestampOffset> {
        match self.file.lower_bound(|e| be_i64(e, 0), target)? {
            None => Ok(TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            }),
            Some(s) => self.entry(s),
        }
    }

    /// Appends `(timestamp, offset)` if `timestamp` is above the last entry's (Kafka
    /// `TimeIndex.maybeAppend`). `skip_full_check` uses the reserved slot (roll/close).
    pub(crate) fn maybe_append(
        &mut self,
        timestamp: i64,
        offset: i64,
        skip_full_check: bool,
    ) -> Result<()> {
        let last = self.last_entry()?;
        let n = self.file.entries();
        if n != 0 && offset < last.offset {
            return Err(Error::corrupt(
                self.file.path(),
                n * TIME_INDEX_ENTRY_BYTES,
                format!(
                    "offset {offset} is below the last indexed offset {}",
                    last.offset
                ),
            ));
        }
        if n != 0 && timestamp < last.timestamp {
            return Err(Error::corrupt(
                self.file.path(),
                n * TIME_INDEX_ENTRY_BYTES,
                format!(
                    "timestamp {timestamp} is below the last indexed timestamp {}",
                    last.timestamp
                ),
            ));
        }
        if timestamp <= last.timestamp {
            return Ok(());
        }
        if n >= self.file.max_entries() || (!skip_full_check && self.is_full()) {
            // The reserved slot is gone too: nothing to do but skip (the entry is an
            // optimisation; lookups stay correct, only less precise).
            return Ok(());
        }
        let rel = i32::try_from(offset - self.base_offset).map_err(|_| {
            Error::corrupt(
                self.file.path(),
                n * TIME_INDEX_ENTRY_BYTES,
                format!(
                    "offset {offset} does not fit base offset {}",
                    self.base_offset
                ),
            )
        })?;
        self.file.push(&encode_entry(timestamp, rel))?;
        self.last = OnceLock::from(TimestampOffset { timestamp, offset });
        Ok(())
    }

    /// Drops entries with offset ≥ `offset` (Kafka `TimeIndex.truncateTo`). Offsets may repeat
    /// in a time index, so this keeps exactly the entries below `offset`.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.file.truncate_to_offset(self.base_offset, offset, 8)?;
        self.last = OnceLock::new();
        Ok(())
    }

    /// Empties the index and preallocates it again.
    pub(crate) fn reset(&mut self, max_bytes: u64) -> Result<()> {
        self.file.reset(max_bytes)?;
        self.last = OnceLock::new();
        Ok(())
    }

    pub(crate) fn resize(&mut self, max_bytes: u64) -> Result<()> {
        self.file.resize(max_bytes)
    }

    pub(crate) fn trim(&mut self) -> Result<()> {
        self.file.trim()
    }

    /// Kafka's time-index sanity check: last timestamp ≥ first, last offset ≥ base.
    pub(crate) fn sanity_check(&self) -> Result<()> {
        if self.file.entries() == 0 {
            return Ok(());
        }
        let last = self.last_entry()?;
        let first = self.entry(0)?;
        let at = (self.file.entries() - 1) * TIME_INDEX_ENTRY_BYTES;
        if last.timestamp < first.timestamp {
            return Err(Error::corrupt(
                self.file.path(),
                at,
                format!(
                    "last timestamp {} is below the first timestamp {}",
                    last.timestamp, first.timestamp
                ),
            ));
        }
        if last.offset < self.base_offset {
            return Err(Error::corrupt(
                self.file.path(),
                at,
                format!(
                    "last offset {} is below the base offset {}",
                    last.offset, self.base_offset
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn append_lookup_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000010.timeindex");
        let mut idx = TimeIndex::create(path.clone(), 10, 10 * 1024 * 1024);
        assert!(!path.exists(), "a new index is created when first needed");
        let none = TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: 10,
        };
        assert_eq!(idx.lookup(5).unwrap(), none);
        idx.maybe_append(100, 12, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10_485_756);
        idx.maybe_append(100, 13, false).unwrap(); // same timestamp: skipped
        idx.maybe_append(200, 20, false).unwrap();
        idx.maybe_append(300, 20, false).unwrap(); // same offset, newer ts: kept
        assert!(idx.maybe_append(400, 19, false).is_err());
        assert_eq!(idx.entries(), 3);
        assert_eq!(idx.lookup(99).unwrap(), none);
        assert_eq!(
            idx.lookup(150).unwrap(),
            TimestampOffset {
                timestamp: 100,
                offset: 12
            }
        );
        assert_eq!(
            idx.lookup(1000).unwrap(),
            TimestampOffset {
                timestamp: 300,
                offset: 20
            }
        );
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 36);
        assert!(idx.is_full());
        let reopened = TimeIndex::open_existing(path, 10).unwrap();
        assert_eq!(
            reopened.last_entry().unwrap(),
            TimestampOffset {
                timestamp: 300,
                offset: 20
            }
        );
        reopened.sanity_check().unwrap();
        idx.truncate_to(20).unwrap();
        assert_eq!(idx.entries(), 1);
        idx.truncate_to(13).unwrap();
        assert_eq!(idx.entries(), 1);
        idx.truncate_to(12).unwrap();
        assert_eq!(idx.entries(), 0);
    }

    #[test]
    fn full_keeps_reserved_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::create(dir.path().join("0.timeindex"), 0, 36);
        idx.maybe_append(1, 1, false).unwrap();
        idx.maybe_append(2, 2, false).unwrap();
        assert!(idx.is_full());
        idx.maybe_append(3, 3, false).unwrap(); // skipped: reserved
        assert_eq!(idx.entries(), 2);
        idx.maybe_append(3, 3, true).unwrap();
        assert_eq!(idx.entries(), 3);
    }

    #[test]
    fn hostile_index_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
                let path = dir.path().join("00000000000000000005.timeindex");
                std::fs::write(&path, &bytes).unwrap();
                let mut idx = TimeIndex::open_existing(path, 5).unwrap();
                prop_assert_eq!(idx.entries(), bytes.len() as u64 / 12);
                for t in [-1, 0, 5, 1 << 40, i64::MAX, i64::MIN] {
                    let _ = idx.lookup(t);
                }
                let _ = idx.sanity_check();
                let _ = idx.truncate_to(7);
                Ok(())
            })
            .unwrap();
    }

    proptest! {
        #[test]
        fn entry_round_trip(base in 0i64..1 << 40, ts in any::<i64>(), rel in 0i32..=i32::MAX) {
            let e = decode_entry(base, &encode_entry(ts, rel));
            prop_assert_eq!(e, TimestampOffset { timestamp: ts, offset: base + i64::from(rel) });
        }
    }
}
