//! A fixed-width-entry index file read with `pread` instead of mmap (the workspace forbids
//! `unsafe`): the storage under `.index` and `.timeindex` (`docs/formats.md` §8.1–§8.4).
//!
//! The file of a new index is created only when first needed, as Kafka's `LazyIndex` does for
//! a rolled segment: when an entry is written, when the index is trimmed (roll, clean close) or
//! when its segment first takes data ([`IndexFile::materialize`]). Until then the index exists
//! in memory only, so an idle new partition costs no index inodes, no `open`/`ftruncate` and no
//! descriptor; a crash in that window leaves a `.log` without indexes, which both loaders
//! rebuild (§2.4 step 3). Kafka itself creates a new log's indexes at load
//! (`resizeIndexes`); a clean close here creates them too, so a cleanly stopped directory has
//! every file Kafka's has.
//!
//! Once created, the file is opened lazily, on the first entry read or written, and kept open
//! from then on: thousands of idle partitions cost a `stat` per index at load and no memory or
//! descriptor until someone looks something up. Creating or resizing the file uses a
//! short-lived handle, so an empty active segment holds only its `.log` descriptor, as Kafka's
//! (whose indexes are mmapped, their file closed). Entry count is the file length divided by
//! the entry size, as Kafka trusts a pre-existing index by length.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, IoContext, Result};
use crate::fs_util::moved_to;

/// Largest entry of any index kind (time index: 12 bytes).
pub(crate) const ENTRY_BYTES_MAX: usize = 12;

#[derive(Debug)]
pub(crate) struct IndexFile {
    path: PathBuf,
    entry_size: u64,
    file: OnceLock<File>,
    entries: u64,
    /// Slots the file currently has room for: file length / entry size.
    max_entries: u64,
    /// We created, resized or wrote the file in this process: a clean close trims it.
    changed: bool,
    /// The file exists; false for a new index until [`IndexFile::materialize`].
    on_disk: bool,
    /// Counts changes of length or content; `synced_version` is the count the last
    /// successful fsync covered. Versions rather than a flag, because the fsync runs after
    /// the log's lock is released (`log::flush`): a change made meanwhile, or a second flush
    /// planned meanwhile, must not be taken as synced by the first one's completion. A file
    /// not created yet has nothing to sync: its creation is its first change.
    version: u64,
    synced_version: u64,
}

impl IndexFile {
    /// A new, empty index of `max_bytes` rounded down to a whole entry. No I/O: the file is
    /// created, or emptied if a stale one is there, and preallocated by
    /// [`IndexFile::materialize`] (Kafka `AbstractIndex.createAndAssignMmap` for a new file).
    pub(crate) fn create(path: PathBuf, entry_size: u64, max_bytes: u64) -> IndexFile {
        IndexFile {
            path,
            entry_size,
            file: OnceLock::new(),
            entries: 0,
            max_entries: max_bytes / entry_size,
            changed: true,
            version: 0,
            synced_version: 0,
            on_disk: false,
        }
    }

    /// Creates (or empties) the file of a new index at its current size, if not done yet.
    /// Sparse: no disk used, no fsync (Kafka flushes an index only when its segment is
    /// flushed, and the segment's first flush fsyncs the directory too). The handle is closed
    /// again: an empty index needs no descriptor. Returns whether the file was created.
    pub(crate) fn materialize(&mut self) -> Result<bool> {
        if self.on_disk {
            return Ok(false);
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)
            .ctx(&self.path)?;
        let len = self.max_entries * self.entry_size;
        if len > 0 {
            file.set_len(len).ctx(&self.path)?;
        }
        self.on_disk = true;
        self.version += 1;
        Ok(true)
    }

    /// Whether the file exists (see [`IndexFile::materialize`]).
    pub(crate) fn is_on_disk(&self) -> bool {
        self.on_disk
    }

    /// Describes an existing file without opening it. Entries = length / entry size; zero
    /// padding left by a crash is counted, exactly as Kafka does (recovery resets it).
    pub(crate) fn open_existing(path: PathBuf, entry_size: u64) -> Result<Self> {
        let len = std::fs::metadata(&path).ctx(&path)?.len();
        let entries = len / entry_size;
        Ok(IndexFile {
            path,
            entry_size,
            file: OnceLock::new(),
            entries,
            max_entries: entries,
            changed: false,
            version: 0,
            synced_version: 0,
            on_disk: true,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The partition directory was renamed to `dir` (the open file stays valid).
    pub(crate) fn set_dir(&mut self, dir: &Path) {
        self.path = moved_to(&self.path, dir);
    }

    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    pub(crate) fn max_entries(&self) -> u64 {
        self.max_entries
    }

    /// Whether this process created, resized or wrote the file (Kafka's close trims those).
    pub(crate) fn was_changed(&self) -> bool {
        self.changed
    }

    /// Whether a descriptor is held (only once an entry was read or written).
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.file.get().is_some()
    }

    fn open_rw(&self) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .ctx(&self.path)
    }

    /// The kept-open handle, opened on first use.
    fn file(&self) -> Result<&File> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = self.open_rw()?;
        Ok(self.file.get_or_init(|| f))
    }

    /// Runs `op` on the kept-open handle if there is one, else on a short-lived one: length
    /// changes and fsyncs do not justify keeping a descriptor.
    fn with_file<T>(&self, op: impl FnOnce(&File) -> std::io::Result<T>) -> Result<T> {
        match self.file.get() {
            Some(f) => op(f).ctx(&self.path),
            None => op(&self.open_rw()?).ctx(&self.path),
        }
    }

    /// Reads slot `slot` into `buf[..entry_size]`.
    pub(crate) fn read_entry<'b>(
        &self,
        slot: u64,
        buf: &'b mut [u8; ENTRY_BYTES_MAX],
    ) -> Result<&'b [u8]> {
        debug_assert!(slot < self.entries);
        let n = self.entry_size as usize;
        self.file()?
            .read_exact_at(&mut buf[..n], slot * self.entry_size)
            .map_err(|e| {
                Error::corrupt(
                    &self.path,
                    slot * self.entry_size,
                    format!("unreadable entry: {e}"),
                )
            })?;
        Ok(&buf[..n])
    }

    /// Writes `entry` into the next free slot. The caller checks `entries < max_entries`.
    pub(crate) fn push(&mut self, entry: &[u8]) -> Result<()> {
        assert_eq!(entry.len() as u64, self.entry_size);
        assert!(
            self.entries < self.max_entries,
            "index {} is full",
            self.path.display()
        );
        self.materialize()?;
        let at = self.entries * self.entry_size;
        self.file()?.write_all_at(entry, at).ctx(&self.path)?;
        self.entries += 1;
        self.changed = true;
        self.version += 1;
        Ok(())
    }

    /// Forgets entries from slot `n` on (the bytes stay until overwritten or trimmed).
    pub(crate) fn truncate_entries(&mut self, n: u64) {
        self.entries = self.entries.min(n);
    }

    /// Keeps only the entries whose relative offset (the big-endian int32 at byte
    /// `relative_offset_at` of each entry) is below `offset` − `base_offset`: both indexes'
    /// `truncateTo`. Entries are sorted by that field (a time index may repeat offsets).
    pub(crate) fn truncate_to_offset(
        &mut self,
        base_offset: i64,
        offset: i64,
        relative_offset_at: usize,
    ) -> Result<()> {
        let below = offset.saturating_sub(base_offset).saturating_sub(1);
        let key = |e: &[u8]| {
            let b = &e[relative_offset_at..relative_offset_at + 4];
            i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let keep = self.lower_bound(key, below)?.map_or(0, |s| s + 1);
        self.truncate_entries(keep);
        Ok(())
    }

    /// Forgets every entry and preallocates `max_bytes` again (Kafka `reset`).
    pub(crate) fn reset(&mut self, max_bytes: u64) -> Result<()> {
        self.truncate_entries(0);
        self.resize(max_bytes)
    }

    /// Sets the file length to `bytes` rounded down to a whole entry (Kafka `resize`); only
    /// the planned length of a file not created yet.
    pub(crate) fn resize(&mut self, bytes: u64) -> Result<()> {
        let len = bytes / self.entry_size * self.entry_size;
        if self.on_disk && len != self.max_entries * self.entry_size {
            self.with_file(|f| f.set_len(len))?;
            self.changed = true;
            self.version += 1;
        }
        self.max_entries = len / self.entry_size;
        self.entries = self.entries.min(self.max_entries);
        Ok(())
    }

    /// Cuts the file to its real entries (Kafka `trimToValidSize`), creating it (empty) if it
    /// was not yet: after a roll or a clean close the index is on disk, as Kafka's.
    pub(crate) fn trim(&mut self) -> Result<()> {
        self.resize(self.entries * self.entry_size)?;
        self.materialize()?;
        Ok(())
    }

    /// If the file changed since its last fsync: a handle to fsync it with (a duplicate of the
    /// kept-open one, or a new one), and the version that fsync covers, for
    /// [`Self::mark_synced`]. Nothing is marked here: until the fsync succeeded the file
    /// stays unsynced, so a failed fsync is retried by the next flush. A file not created yet
    /// has none.
    pub(crate) fn sync_handle(&self) -> Result<Option<(File, u64)>> {
        if self.version == self.synced_version {
            return Ok(None);
        }
        let file = match self.file.get() {
            Some(f) => f.try_clone().ctx(&self.path)?,
            None => self.open_rw()?,
        };
        Ok(Some((file, self.version)))
    }

    /// A fsync through [`Self::sync_handle`] succeeded: changes up to `version` are durable.
    pub(crate) fn mark_synced(&mut self, version: u64) {
        self.synced_version = self.synced_version.max(version.min(self.version));
    }

    /// Largest slot whose key is ≤ `target`; `None` if the index is empty or its first key is
    /// above `target`. One `pread` per probe.
    pub(crate) fn lower_bound(
        &self,
        key: impl Fn(&[u8]) -> i64,
        target: i64,
    ) -> Result<Option<u64>> {
        if self.entries == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; ENTRY_BYTES_MAX];
        if key(self.read_entry(0, &mut buf)?) > target {
            return Ok(None);
        }
        let (mut lo, mut hi) = (0, self.entries - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if key(self.read_entry(mid, &mut buf)?) <= target {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(Some(lo))
    }

    /// Renames the file (segment deletion, cleaner swap), keeping any open handle valid; a
    /// file not created yet only changes its planned path.
    pub(crate) fn rename(&mut self, to: PathBuf) -> Result<()> {
        if self.on_disk {
            std::fs::rename(&self.path, &to).ctx(&self.path)?;
        }
        self.path = to;
        Ok(())
    }
}

pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
