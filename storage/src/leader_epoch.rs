//! Leader-epoch cache backed by `leader-epoch-checkpoint` (`docs/formats.md` §3.3): leader epoch →
//! first offset written in it, epochs and start offsets strictly increasing. Answers
//! OffsetsForLeaderEpoch (`end_offset_for`).
//!
//! Input: the checkpoint file of a partition dir, possibly written by Apache Kafka, plus epochs
//! of appended and recovered batches. Every change is written with tmp + fsync + rename
//! (Kafka writes synchronously on assign; we also write truncations synchronously).

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::checkpoint::{self, EpochEntry, LEADER_EPOCH_CHECKPOINT};
use crate::error::{Error, Result};

/// Kafka `OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka `OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Answer to "where does epoch E end?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// Largest known epoch ≤ the requested one.
    pub epoch: i32,
    /// Start offset of the next higher epoch, or the log end offset for the latest epoch.
    pub end_offset: i64,
}

/// In-memory leader-epoch entries plus their checkpoint file.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    /// Sorted; epochs and start offsets strictly increase.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// The partition directory was renamed to `dir`.
    pub(crate) fn set_dir(&mut self, dir: &Path) {
        self.path = crate::fs_util::moved_to(&self.path, dir);
    }

    /// Loads `<partition dir>/leader-epoch-checkpoint` (missing = empty), creating an empty
    /// file if there is none, as Kafka does with the log. Entries are replayed through
    /// `assign`, so non-monotonic ones are dropped as in Kafka's constructor.
    pub fn load(partition_dir: &Path) -> Result<Self> {
        let path = partition_dir.join(LEADER_EPOCH_CHECKPOINT);
        let loaded: Vec<EpochEntry> = checkpoint::read(&path)?;
        let mut cache = LeaderEpochCache {
            path,
            entries: Vec::new(),
        };
        for (i, e) in loaded.iter().enumerate() {
            if e.epoch < 0 || e.start_offset < 0 {
                return Err(Error::parse(
                    &cache.path,
                    i + 3,
                    format!(
                        "negative epoch {} or start offset {}",
                        e.epoch, e.start_offset
                    ),
                ));
            }
            cache.assign_in_memory(*e);
        }
        checkpoint::ensure_exists(&cache.path)?;
        Ok(cache)
    }

    /// The empty cache of a partition directory created just now. Its file is written with
    /// the first entry: an absent `leader-epoch-checkpoint` reads as empty here and in Kafka
    /// (whose `CheckpointFile` creates it when it opens the log), so an idle new partition
    /// needs no inode for it.
    pub fn new_empty(partition_dir: &Path) -> Self {
        LeaderEpochCache {
            path: partition_dir.join(LEADER_EPOCH_CHECKPOINT),
            entries: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset` (Kafka `LeaderEpochFileCache.assign`):
    /// no-op if it is already the latest epoch with an earlier or equal start; otherwise
    /// removes conflicting entries from the end and appends. Writes the checkpoint on change.
    /// Returns whether anything changed. Negative values are ignored with a warning.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool> {
        if epoch < 0 || start_offset < 0 {
            warn!(path = %self.path.display(), epoch, start_offset, "ignoring invalid leader epoch entry");
            return Ok(false);
        }
        let changed = self.assign_in_memory(EpochEntry {
            epoch,
            start_offset,
        });
        if changed {
            self.write()?;
        }
        Ok(changed)
    }

    fn assign_in_memory(&mut self, new: EpochEntry) -> bool {
        let needed = self
            .entries
            .last()
            .is_none_or(|l| new.epoch != l.epoch || new.start_offset < l.start_offset);
        if !needed {
            return false;
        }
        let mut removed = 0;
        while let Some(l) = self.entries.last() {
            if l.epoch >= new.epoch || l.start_offset >= new.start_offset {
                if l.start_offset != new.start_offset {
                    removed += 1;
                }
                self.entries.pop();
            } else {
                break;
            }
        }
        if removed > 0 {
            warn!(
                path = %self.path.display(),
                epoch = new.epoch,
                start_offset = new.start_offset,
                removed,
                "new leader epoch entry truncated conflicting entries"
            );
        }
        self.entries.push(new);
        true
    }

    /// Kafka `endOffsetFor`: for OffsetsForLeaderEpoch and follower truncation.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> EpochEndOffset {
        let undefined = EpochEndOffset {
            epoch: UNDEFINED_EPOCH,
            end_offset: UNDEFINED_EPOCH_OFFSET,
        };
        if requested_epoch == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return EpochEndOffset {
                epoch: requested_epoch,
                end_offset: log_end_offset,
            };
        }
        let higher = self.entries.iter().find(|e| e.epoch > requested_epoch);
        let floor = self
            .entries
            .iter()
            .rev()
            .find(|e| e.epoch <= requested_epoch);
        match (floor, higher) {
            (_, None) => undefined,
            (None, Some(h)) => EpochEndOffset {
                epoch: requested_epoch,
                end_offset: h.start_offset,
            },
            (Some(f), Some(h)) => EpochEndOffset {
                epoch: f.epoch,
                end_offset: h.start_offset,
            },
        }
    }

    /// Epoch whose range holds `offset` (Kafka `epochForOffset`).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let mut previous = None;
        for e in &self.entries {
            if e.start_offset == offset {
                return Some(e.epoch);
            }
            if e.start_offset > offset {
                return previous;
            }
            previous = Some(e.epoch);
        }
        previous
    }

    /// Removes entries starting at or after `end_offset` (log truncation).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<()> {
        let before = self.entries.len();
        if end_offset >= 0 {
            while self
                .entries
                .last()
                .is_some_and(|e| e.start_offset >= end_offset)
            {
                self.entries.pop();
            }
        }
        if self.entries.len() != before {
            self.write()?;
        }
        Ok(())
    }

    /// Collapses entries starting at or below `start_offset` into one entry (the latest of
    /// them) starting at `start_offset` (log start offset moved).
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<()> {
        let n = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if n == 0 {
            return Ok(());
        }
        let kept = EpochEntry {
            epoch: self.entries[n - 1].epoch,
            start_offset,
        };
        if n == 1 && self.entries[0] == kept {
            return Ok(());
        }
        self.entries.drain(..n);
        self.entries.insert(0, kept);
        self.write()
    }

    /// Removes every entry and writes the empty checkpoint.
    pub fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        self.write()
    }

    /// Writes the checkpoint now.
    pub fn write(&self) -> Result<()> {
        checkpoint::write(&self.path, &self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            epoch,
            start_offset,
        }
    }

    #[test]
    fn assign_truncate_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(std::fs::read(c.path()).unwrap(), b"");
        assert!(c.assign(0, 0).unwrap());
        assert!(!c.assign(0, 5).unwrap());
        assert!(c.assign(2, 10).unwrap());
        assert!(c.assign(4, 20).unwrap());
        assert_eq!(c.entries(), &[e(0, 0), e(2, 10), e(4, 20)]);
        assert_eq!(
            std::fs::read_to_string(c.path()).unwrap(),
            "0\n3\n0 0\n2 10\n4 20\n"
        );

        assert_eq!(
            c.end_offset_for(4, 30),
            EpochEndOffset {
                epoch: 4,
                end_offset: 30
            }
        );
        assert_eq!(
            c.end_offset_for(3, 30),
            EpochEndOffset {
                epoch: 2,
                end_offset: 20
            }
        );
        assert_eq!(
            c.end_offset_for(0, 30),
            EpochEndOffset {
                epoch: 0,
                end_offset: 10
            }
        );
        assert_eq!(
            c.end_offset_for(5, 30),
            EpochEndOffset {
                epoch: -1,
                end_offset: -1
            }
        );
        assert_eq!(
            c.end_offset_for(-1, 30),
            EpochEndOffset {
                epoch: -1,
                end_offset: -1
            }
        );
        assert_eq!(c.epoch_for_offset(15), Some(2));
        assert_eq!(c.epoch_for_offset(20), Some(4));

        // A new leader at a lower offset removes the conflicting tail.
        assert!(c.assign(5, 15).unwrap());
        assert_eq!(c.entries(), &[e(0, 0), e(2, 10), e(5, 15)]);

        c.truncate_from_start(12).unwrap();
        assert_eq!(c.entries(), &[e(2, 12), e(5, 15)]);
        assert_eq!(
            c.end_offset_for(1, 30),
            EpochEndOffset {
                epoch: 1,
                end_offset: 12
            }
        );
        c.truncate_from_end(15).unwrap();
        assert_eq!(c.entries(), &[e(2, 12)]);

        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), &[e(2, 12)]);
    }

    #[test]
    fn load_rejects_garbage_and_drops_non_monotonic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        std::fs::write(&path, "0\n3\n1 0\n3 10\n2 20\n").unwrap();
        let c = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(c.entries(), &[e(1, 0), e(2, 20)]);
        std::fs::write(&path, "0\n1\n-1 0\n").unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());
        std::fs::write(&path, "garbage").unwrap();
        let err = LeaderEpochCache::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("leader-epoch-checkpoint"), "{err}");
    }
}
