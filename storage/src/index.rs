//! Offset index `<base>.index` (`docs/formats.md` §8.1): sparse 8-byte entries, big-endian
//! `int32 relativeOffset` (offset − segment base) + `int32 position` (byte position of a batch
//! start in the `.log`), both strictly increasing.
//!
//! Input: the `.index` file of a segment, possibly written by Apache Kafka. Lookups are a
//! binary search with `pread`; the last entry is cached because most fetches read the tail.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::index_file::{be_i32, IndexFile, ENTRY_BYTES_MAX};

/// Bytes per offset-index entry.
pub const OFFSET_INDEX_ENTRY_BYTES: u64 = 8;

/// An offset and the byte position of a batch at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    /// Byte position in the `.log`. Read from disk as int32, so a corrupt file may make it
    /// negative or past the end; callers check.
    pub position: i64,
}

/// Decodes one 8-byte entry of a segment with base offset `base_offset`.
pub fn decode_entry(base_offset: i64, entry: &[u8; 8]) -> OffsetPosition {
    OffsetPosition {
        // Saturating: a corrupt entry in a segment named near i64::MAX must not overflow; the
        // sanity checks then reject the decoded offset and the index is rebuilt.
        offset: base_offset.saturating_add(i64::from(be_i32(entry, 0))),
        position: i64::from(be_i32(entry, 4)),
    }
}

/// Encodes one entry. `relative_offset` and `position` must fit in int32.
pub fn encode_entry(relative_offset: i32, position: i32) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&relative_offset.to_be_bytes());
    e[4..].copy_from_slice(&position.to_be_bytes());
    e
}

#[derive(Debug)]
pub(crate) struct OffsetIndex {
    file: IndexFile,
    base_offset: i64,
    /// Cached last entry; (base, 0) when empty.
    last: OnceLock<OffsetPosition>,
}

impl OffsetIndex {
    /// The partition directory was renamed to `dir`.
    pub(crate) fn set_dir(&mut self, dir: &std::path::Path) {
        self.file.set_dir(dir);
    }

    pub(crate) fn create(path: PathBuf, base_offset: i64, max_bytes: u64) -> Self {
        OffsetIndex {
            file: IndexFile::create(path, OFFSET_INDEX_ENTRY_BYTES, max_bytes),
            base_offset,
            last: OnceLock::from(OffsetPosition {
                offset: base_offset,
                position: 0,
            }),
        }
    }

    pub(crate) fn open_existing(path: PathBuf, base_offset: i64) -> Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::open_existing(path, OFFSET_INDEX_ENTRY_BYTES)?,
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

    pub(crate) fn is_full(&self) -> bool {
        self.file.entries() >= self.file.max_entries()
    }

    /// Kafka `canAppendOffset`: the offset's delta to the base fits in int32.
    pub(crate) fn can_append_offset(&self, offset: i64) -> bool {
        offset
            .checked_sub(self.base_offset)
            .is_some_and(|rel| (0..=i64::from(i32::MAX)).contains(&rel))
    }

    pub(crate) fn entry(&self, slot: u64) -> Result<OffsetPosition> {
        let mut buf = [0u8; ENTRY_BYTES_MAX];
        let raw = self.file.read_entry(slot, &mut buf)?;
        let mut e = [0u8; 8];
        e.copy_from_slice(raw);
        Ok(decode_entry(self.base_offset, &e))
    }

    pub(crate) fn last_entry(&self) -> Result<OffsetPosition> {
        if let Some(l) = self.last.get() {
            return Ok(*l);
        }
        let l = match self.file.entries() {
            0 => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
            n => self.entry(n - 1)?,
        };
        Ok(*self.last.get_or_init(|| l))
    }

    /// Greatest entry with offset ≤ `target`, or `(base, 0)` (Kafka `OffsetIndex.lookup`).
    pub(crate) fn lookup(&self, target: i64) -> Result<OffsetPosition> {
        let last = self.last_entry()?;
        if self.file.entries() > 0 && target >= last.offset {
            return Ok(last);
        }
        let base = self.base_offset;
        let slot = self
            .file
            .lower_bound(|e| i64::from(be_i32(e, 0)), target.saturating_sub(base))?;
        match slot {
            None => Ok(OffsetPosition {
                offset: base,
                position: 0,
            }),
            Some(s) => self.entry(s),
        }
    }

    /// Adds `(offset, position)`; offsets must strictly increase (Kafka `OffsetIndex.append`).
    pub(crate) fn append(&mut self, offset: i64, position: u64) -> Result<()> {
        let last = self.last_entry()?;
        if self.file.entries() > 0 && offset <= last.offset {
            return Err(Error::corrupt(
                self.file.path(),
                self.file.entries() * OFFSET_INDEX_ENTRY_BYTES,
                format!(
                    "offset {offset} is not above the last indexed offset {}",
                    last.offset
                ),
            ));
        }
        assert!(
            self.can_append_offset(offset),
            "offset {offset} overflows the index"
        );
        if self.is_full() {
            // Only possible when recovery re-indexes a segment written under a larger
            // `segment.index.bytes`: skip, as the time index does (entries are an
            // optimisation; lookups stay correct, only less precise).
            return Ok(());
        }
        let position = i32::try_from(position).expect("segment positions fit in int32");
        let rel = (offset - self.base_offset) as i32;
        self.file.push(&encode_entry(rel, position))?;
        self.last = OnceLock::from(OffsetPosition {
            offset,
            position: i64::from(position),
        });
        Ok(())
    }

    /// Drops entries with offset ≥ `offset` (Kafka `truncateTo`).
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.file.truncate_to_offset(self.base_offset, offset, 0)?;
        self.last = OnceLock::new();
        Ok(())
    }

    /// Empties the index and preallocates it again (Kafka `reset`).
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

    /// Kafka's offset-index sanity check (run by tools, not by 3.9 at load): a non-empty index
    /// ends above the base offset. (Length is a whole number of entries by construction.) Zero
    /// padding left by a crash fails this check.
    pub(crate) fn sanity_check(&self) -> Result<()> {
        let last = self.last_entry()?;
        if self.file.entries() > 0 && last.offset <= self.base_offset {
            return Err(Error::corrupt(
                self.file.path(),
                (self.file.entries() - 1) * OFFSET_INDEX_ENTRY_BYTES,
                format!(
                    "non-empty index whose last offset {} is not above the base offset {}",
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
        let path = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::create(path.clone(), 100, 10 * 1024 * 1024);
        assert!(!path.exists(), "a new index is created when first needed");
        assert_eq!(
            idx.lookup(150).unwrap(),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        for i in 1..=100 {
            idx.append(100 + i * 10, (i * 1000) as u64).unwrap();
        }
        // The first entry created it, preallocated as Kafka's.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10 * 1024 * 1024);
        assert!(idx.append(1100, 1).is_err(), "non-increasing offset");
        assert_eq!(
            idx.lookup(99).unwrap(),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(
            idx.lookup(109).unwrap(),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        assert_eq!(
            idx.lookup(110).unwrap(),
            OffsetPosition {
                offset: 110,
                position: 1000
            }
        );
        assert_eq!(
            idx.lookup(555).unwrap(),
            OffsetPosition {
                offset: 550,
                position: 45000
            }
        );
        assert_eq!(
            idx.lookup(5000).unwrap(),
            OffsetPosition {
                offset: 1100,
                position: 100000
            }
        );
        idx.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 800);

        // Reopen by length and look up without the cache.
        let idx2 = OffsetIndex::open_existing(path.clone(), 100).unwrap();
        assert_eq!(idx2.entries(), 100);
        assert_eq!(
            idx2.lookup(555).unwrap(),
            OffsetPosition {
                offset: 550,
                position: 45000
            }
        );
        idx2.sanity_check().unwrap();

        idx.truncate_to(550).unwrap();
        assert_eq!(idx.entries(), 44);
        assert_eq!(idx.last_entry().unwrap().offset, 540);
        idx.truncate_to(545).unwrap();
        assert_eq!(idx.entries(), 44);
        idx.truncate_to(0).unwrap();
        assert_eq!(idx.entries(), 0);
        let mut empty = OffsetIndex::create(path.clone(), 0, 8);
        empty.trim().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "trimming a new index creates it empty, replacing the old file"
        );
    }

    #[test]
    fn hostile_index_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
                let path = dir.path().join("00000000000000000005.index");
                std::fs::write(&path, &bytes).unwrap();
                let idx = OffsetIndex::open_existing(path, 5).unwrap();
                prop_assert_eq!(idx.entries(), bytes.len() as u64 / 8);
                for t in [-1, 0, 5, 6, 1 << 20, i64::MAX, i64::MIN] {
                    let _ = idx.lookup(t);
                }
                let _ = idx.sanity_check();
                Ok(())
            })
            .unwrap();
    }

    proptest! {
        #[test]
        fn entry_round_trip(base in 0i64..1 << 40, rel in 0i32..=i32::MAX, pos in 0i32..=i32::MAX) {
            let e = decode_entry(base, &encode_entry(rel, pos));
            prop_assert_eq!(e, OffsetPosition { offset: base + i64::from(rel), position: i64::from(pos) });
        }

        #[test]
        fn decode_any_bytes(base in any::<i32>(), bytes in any::<[u8; 8]>()) {
            let _ = decode_entry(i64::from(base), &bytes);
        }
    }
}
