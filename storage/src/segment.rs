//! One log segment (`docs/formats.md` §2.3, §8): `<20-digit base>.log` holding v2 batches back to
//! back, plus its `.index` and `.timeindex`. Append, read whole batches, find by timestamp,
//! truncate, and recover a torn or corrupt tail.
//!
//! Input: segment files (untrusted, possibly written by Apache Kafka) and batch bytes from
//! `PartitionLog`. Not thread-safe for writers; `&self` methods may run concurrently.

mod deletion;
mod scan;
mod sync;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use protocol::records::Batch;
use tracing::{info, warn};

use crate::batch::{self, crc_matches};
use crate::error::{Error, IoContext, Result};
use crate::fs_util;
use crate::index::OffsetIndex;
use crate::index_file::IndexFile;
use crate::time_index::{TimeIndex, TimestampOffset, NO_TIMESTAMP};

pub use deletion::DeletedFiles;
pub(crate) use scan::{BatchReader, HeaderScanner, Next};
pub(crate) use sync::{SegmentFile, SyncTarget};

/// Suffix of segment data files.
pub const LOG_FILE_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_FILE_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_FILE_SUFFIX: &str = ".timeindex";
/// Suffix of transaction index files (not written by us; kept in step with segments).
pub const TXN_INDEX_FILE_SUFFIX: &str = ".txnindex";
/// Suffix of producer-state snapshots (`producer_snapshot`; removed with their segment).
pub const SNAPSHOT_FILE_SUFFIX: &str = ".snapshot";
/// Suffix Kafka gives files queued for deletion.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";

/// `<base offset, 20 digits><suffix>` (Kafka `LogFileUtils.filenamePrefixFromOffset`).
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// Per-segment settings taken from `LogConfig`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentConfig {
    pub(crate) index_interval_bytes: u64,
    pub(crate) max_index_bytes: u64,
}

/// Where a batch sits and how big it is (Kafka `LogOffsetPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLocation {
    pub(crate) position: u64,
    pub(crate) size: u64,
    pub(crate) last_offset: i64,
}

/// Inputs of the roll decision (Kafka `RollParams`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollParams {
    pub(crate) segment_bytes: u64,
    pub(crate) segment_ms: i64,
    pub(crate) messages_size: u64,
    pub(crate) max_timestamp_in_messages: i64,
    pub(crate) max_offset_in_messages: i64,
    pub(crate) now_ms: i64,
}

/// Result of `Segment::recover`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    pub(crate) truncated_bytes: u64,
    pub(crate) next_offset: i64,
}

#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// Shared with [`FileSlice`]s, which read after the log's lock is released.
    log: Arc<File>,
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    config: SegmentConfig,
    bytes_since_last_index_entry: u64,
    /// Largest batch max timestamp and the last offset of its batch; lazily from the time
    /// index, like Kafka's `maxTimestampAndOffsetSoFar`.
    max_timestamp: OnceLock<TimestampOffset>,
    /// Timestamp that drives `segment.ms` (largest timestamp of the first append).
    rolling_based_timestamp: Option<i64>,
    created_ms: i64,
    /// The `.index` file was missing at open: the segment must be recovered.
    needs_recovery: bool,
}

/// A byte range of a segment's `.log` file, cut at batch boundaries when read. It holds the
/// file open, so it stays readable (with the bytes it had) after the log's lock is released,
/// even if the segment is deleted or replaced meanwhile, as Kafka's `FileRecords` slices do.
#[derive(Debug)]
pub struct FileSlice {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: usize,
}

impl FileSlice {
    /// Reads the range, keeping only whole batches (a batch cut by the byte limit is left for
    /// the next fetch).
    pub fn read(&self) -> Result<Bytes> {
        if self.len == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; self.len];
        self.file
            .read_exact_at(&mut buf, self.position)
            .ctx(&self.path)?;
        let whole = whole_batches_len(&buf);
        buf.truncate(whole);
        Ok(Bytes::from(buf))
    }
}

impl Segment {
    /// The segment's `.log`, `.index` and `.timeindex` paths, each with `extra` appended
    /// (`""` for a live segment, `.cleaned`/`.swap` for the cleaner's output, §2.3).
    fn paths(dir: &Path, base_offset: i64, extra: &str) -> (PathBuf, PathBuf, PathBuf) {
        let name = |suffix: &str| segment_file_name(base_offset, &format!("{suffix}{extra}"));
        (
            dir.join(name(LOG_FILE_SUFFIX)),
            dir.join(name(INDEX_FILE_SUFFIX)),
            dir.join(name(TIME_INDEX_FILE_SUFFIX)),
        )
    }

    /// Creates an empty segment: its `.log` now (any stale file of that base is replaced),
    /// its indexes, sized `segment.index.bytes`, when first needed (`IndexFile::materialize`).
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
    ) -> Result<Self> {
        Self::create_with_suffix(dir, base_offset, config, now_ms, "")
    }

    /// Like `create`, with `extra` appended to every file name (the log cleaner writes
    /// `<base>.log.cleaned` etc., Kafka `LogCleaner.createNewCleanedSegment`).
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
        extra: &str,
    ) -> Result<Self> {
        let (log_path, index_path, time_path) = Self::paths(dir, base_offset, extra);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .ctx(&log_path)?;
        Ok(Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size: 0,
            offset_index: OffsetIndex::create(index_path, base_offset, config.max_index_bytes),
            time_index: TimeIndex::create(time_path, base_offset, config.max_index_bytes),
            config,
            bytes_since_last_index_entry: 0,
            max_timestamp: OnceLock::from(TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: base_offset,
            }),
            rolling_based_timestamp: None,
            created_ms: now_ms,
            needs_recovery: false,
        })
    }

    /// Opens an existing segment. Indexes are not read. A missing `.index` (a crash before a
    /// new segment's first append leaves none) is created empty and the segment flagged for
    /// recovery; a missing `.timeindex` is created empty (§2.4 step 3, as Kafka's loader).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        config: SegmentConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let (log_path, index_path, time_path) = Self::paths(dir, base_offset, "");
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .ctx(&log_path)?;
        let size = log.metadata().ctx(&log_path)?.len();
        if size > i32::MAX as u64 {
            return Err(Error::corrupt(
                &log_path,
                i32::MAX as u64,
                format!("segment is {size} bytes, above the 2 GiB segment limit"),
            ));
        }
        let mut needs_recovery = false;
        let offset_index = if index_path.exists() {
            OffsetIndex::open_existing(index_path, base_offset)?
        } else {
            info!(log = %log_path.display(), "offset index missing; segment will be recovered");
            needs_recovery = true;
            let mut index = OffsetIndex::create(index_path, base_offset, 0);
            index.file_mut().materialize()?;
            index
        };
        let time_index = if time_path.exists() {
            TimeIndex::open_existing(time_path, base_offset)?
        } else {
            let mut index = TimeIndex::create(time_path, base_offset, 0);
            index.file_mut().materialize()?;
            index
        };
        Ok(Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size,
            offset_index,
            time_index,
            config,
            bytes_since_last_index_entry: 0,
            max_timestamp: OnceLock::new(),
            rolling_based_timestamp: None,
            created_ms: now_ms,
            needs_recovery,
        })
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The partition directory was renamed to `dir`: later renames, deletions and lazily
    /// created index files go there (Kafka `LogSegment.updateParentDir`).
    pub(crate) fn set_dir(&mut self, dir: &Path) {
        self.log_path = crate::fs_util::moved_to(&self.log_path, dir);
        self.offset_index.set_dir(dir);
        self.time_index.set_dir(dir);
    }

    pub(crate) fn needs_recovery(&self) -> bool {
        self.needs_recovery
    }

    pub(crate) fn can_append_offset(&self, offset: i64) -> bool {
        self.offset_index.can_append_offset(offset)
    }

    /// Largest timestamp in the segment and the last offset of its batch; `NO_TIMESTAMP` if
    /// none.
    pub(crate) fn max_timestamp_so_far(&self) -> Result<TimestampOffset> {
        if let Some(t) = self.max_timestamp.get() {
            return Ok(*t);
        }
        let t = self.time_index.last_entry()?;
        Ok(*self.max_timestamp.get_or_init(|| t))
    }

    /// Appends whole, offset-assigned batches at the end of the `.log` (Kafka
    /// `LogSegment.append`): one `pwrite`, so the bytes are in the page cache on return.
    /// Adds an index entry when more than `index.interval.bytes` were appended since the last
    /// one. Returns the byte position the append starts at.
    pub(crate) fn append(
        &mut self,
        records: &[u8],
        largest_offset: i64,
        largest_timestamp: i64,
        offset_of_max_timestamp: i64,
    ) -> Result<u64> {
        let position = self.size;
        if records.is_empty() {
            return Ok(position);
        }
        assert!(
            self.can_append_offset(largest_offset),
            "offset {largest_offset} does not fit segment {} (roll first)",
            self.base_offset
        );
        assert!(
            position + records.len() as u64 <= i32::MAX as u64,
            "segment over 2 GiB"
        );
        if position == 0 {
            self.rolling_based_timestamp = Some(largest_timestamp);
        }
        self.materialize_indexes()?;
        if let Err(e) = self.log.write_all_at(records, position) {
            // Drop whatever part of the write landed, so the file ends on a batch boundary.
            let _ = self.log.set_len(position);
            return Err(Error::io(&self.log_path, e));
        }
        self.size += records.len() as u64;
        let max = self.max_timestamp_so_far()?;
        if largest_timestamp > max.timestamp {
            self.max_timestamp = OnceLock::from(TimestampOffset {
                timestamp: largest_timestamp,
                offset: offset_of_max_timestamp,
            });
        }
        if self.bytes_since_last_index_entry > self.config.index_interval_bytes {
            self.offset_index.append(largest_offset, position)?;
            let max = self.max_timestamp_so_far()?;
            self.time_index
                .maybe_append(max.timestamp, max.offset, false)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += records.len() as u64;
        Ok(position)
    }

    /// Modification time of the `.log` in ms since the epoch (Kafka's fallback "largest
    /// timestamp" for retention when no batch carries a timestamp).
    pub(crate) fn last_modified_ms(&self) -> Result<i64> {
        let modified = self
            .log
            .metadata()
            .and_then(|m| m.modified())
            .ctx(&self.log_path)?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Kafka `shouldRoll`.
    pub(crate) fn should_roll(&mut self, p: &RollParams) -> Result<bool> {
        let size_full = self.size + p.messages_size > p.segment_bytes;
        let reached_roll_ms = self.size > 0 && self.time_waited_for_roll(p)? > p.segment_ms;
        Ok(size_full
            || reached_roll_ms
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || !self.can_append_offset(p.max_offset_in_messages))
    }

    fn time_waited_for_roll(&mut self, p: &RollParams) -> Result<i64> {
        if self.rolling_based_timestamp.is_none() {
            let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
            if let Some(first) = scanner.at(0)? {
                self.rolling_based_timestamp = Some(first.header.max_timestamp);
            }
        }
        Ok(match self.rolling_based_timestamp {
            Some(ts) if ts >= 0 => p.max_timestamp_in_messages.saturating_sub(ts),
            _ => p.now_ms.saturating_sub(self.created_ms),
        })
    }

    /// First batch at or after byte `from` whose last offset ≥ `offset` (Kafka
    /// `FileRecords.searchForOffsetWithSize`).
    fn search_for_offset(&self, offset: i64, from: u64) -> Result<Option<BatchLocation>> {
        let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
        let mut pos = from;
        while let Some(b) = scanner.at(pos)? {
            if b.last_offset() >= offset {
                return Ok(Some(BatchLocation {
                    position: b.position,
                    size: b.size,
                    last_offset: b.last_offset(),
                }));
            }
            pos = b.end();
        }
        Ok(None)
    }

    /// Position of the first batch whose last offset ≥ `offset`: index lookup, then a forward
    /// scan (Kafka `translateOffset`). An index entry pointing outside the file or at garbage
    /// is distrusted: the scan restarts from `starting_position` with a warning.
    pub(crate) fn translate_offset(
        &self,
        offset: i64,
        starting_position: u64,
    ) -> Result<Option<BatchLocation>> {
        let mapping = self.offset_index.lookup(offset)?;
        let indexed = u64::try_from(mapping.position)
            .ok()
            .filter(|&p| p <= self.size);
        let distrust = || {
            warn!(
                index = %self.offset_index.file().path().display(),
                offset,
                position = mapping.position,
                "offset index entry does not point at a batch; scanning the segment"
            );
        };
        match indexed {
            Some(p) if p > starting_position => match self.search_for_offset(offset, p) {
                Err(Error::Corrupt { .. }) => {
                    distrust();
                    self.search_for_offset(offset, starting_position)
                }
                found => found,
            },
            Some(_) => self.search_for_offset(offset, starting_position),
            None => {
                distrust();
                self.search_for_offset(offset, starting_position)
            }
        }
    }

    /// Where the whole batches from the first one holding `start_offset` lie: at most
    /// `max_bytes` (or the first batch whole if `min_one_batch`), never past byte
    /// `max_position` (Kafka `LogSegment.read`). `None` if no batch in this segment has an
    /// offset ≥ `start_offset`. Only index lookups happen here; the bytes are read by
    /// [`FileSlice::read`], which needs no access to the segment.
    pub(crate) fn slice(
        &self,
        start_offset: i64,
        max_bytes: u64,
        max_position: u64,
        min_one_batch: bool,
    ) -> Result<Option<FileSlice>> {
        let Some(first) = self.translate_offset(start_offset, 0)? else {
            return Ok(None);
        };
        let limit = if min_one_batch {
            max_bytes.max(first.size)
        } else {
            max_bytes
        };
        let max_position = max_position.min(self.size);
        let len = if limit == 0 || first.position >= max_position {
            0
        } else {
            (max_position - first.position).min(limit) as usize
        };
        Ok(Some(FileSlice {
            file: Arc::clone(&self.log),
            path: self.log_path.clone(),
            position: first.position,
            len,
        }))
    }

    /// [`Segment::slice`] read at once.
    #[cfg(test)]
    pub(crate) fn read(
        &self,
        start_offset: i64,
        max_bytes: u64,
        max_position: u64,
        min_one_batch: bool,
    ) -> Result<Option<Bytes>> {
        self.slice(start_offset, max_bytes, max_position, min_one_batch)?
            .map(|s| s.read())
            .transpose()
    }

    /// Kafka `findOffsetByTimestamp`: first record with timestamp ≥ `timestamp` and offset ≥
    /// `starting_offset`.
    pub(crate) fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<TimestampOffset>> {
        let ts_entry = self.time_index.lookup(timestamp)?;
        let target = ts_entry.offset.max(starting_offset);
        let position = self
            .translate_offset(target, 0)?
            .map_or(self.size, |l| l.position);
        let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
        let mut pos = position;
        while let Some(b) = scanner.at(pos)? {
            pos = b.end();
            if b.header.max_timestamp < timestamp || b.last_offset() < starting_offset {
                continue;
            }
            let mut bytes = vec![0u8; b.size as usize];
            self.log
                .read_exact_at(&mut bytes, b.position)
                .ctx(&self.log_path)?;
            let framed = Batch::from_bytes(Bytes::from(bytes))
                .map_err(|e| Error::corrupt(&self.log_path, b.position, e.to_string()))?;
            match batch::search_for_timestamp(&framed, timestamp, starting_offset) {
                Ok(Some((ts, offset))) => {
                    return Ok(Some(TimestampOffset {
                        timestamp: ts,
                        offset,
                    }))
                }
                Ok(None) => {}
                Err(reason) => return Err(Error::corrupt(&self.log_path, b.position, reason)),
            }
        }
        Ok(None)
    }

    /// Max timestamp of the first batch (Kafka `getFirstBatchTimestamp`); `None` if empty.
    pub(crate) fn first_batch_timestamp(&self) -> Result<Option<i64>> {
        let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
        Ok(scanner.at(0)?.map(|b| b.header.max_timestamp))
    }

    /// Offset after the last batch, or the base offset if empty (Kafka `readNextOffset`):
    /// scans from the last offset-index entry to the end.
    pub(crate) fn read_next_offset(&self) -> Result<i64> {
        let last = self.offset_index.last_entry()?;
        let start = u64::try_from(last.position)
            .ok()
            .filter(|&p| p <= self.size)
            .unwrap_or(0);
        let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
        let mut pos = start;
        let mut next = self.base_offset;
        while let Some(b) = scanner.at(pos)? {
            next = b.last_offset() + 1;
            pos = b.end();
        }
        Ok(next)
    }

    /// Rebuilds both indexes from the `.log`, validating every batch (header sanity, CRC32C,
    /// offsets increasing and within the segment), and truncates the file at the first bad
    /// or torn batch with a warning naming the file and byte position (Kafka
    /// `LogSegment.recover`). `on_epoch(partition_leader_epoch, base_offset)` sees every valid
    /// batch so the leader-epoch cache can be rebuilt.
    pub(crate) fn recover(
        &mut self,
        on_epoch: &mut dyn FnMut(i32, i64) -> Result<()>,
    ) -> Result<Recovered> {
        let max_index_bytes = self.config.max_index_bytes;
        self.offset_index.reset(max_index_bytes)?;
        self.time_index.reset(max_index_bytes)?;
        let mut max = TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: self.base_offset,
        };
        let mut valid: u64 = 0;
        let mut last_index_entry: u64 = 0;
        let mut prev_last_offset: Option<i64> = None;
        let mut problem: Option<(u64, String)> = None;
        {
            let mut reader = BatchReader::new(&self.log, &self.log_path, self.size);
            loop {
                let (at, bytes) = match reader.next_batch()? {
                    Next::End => break,
                    Next::Torn { position, reason } | Next::Corrupt { position, reason } => {
                        problem = Some((position, reason));
                        break;
                    }
                    Next::Batch { at, bytes } => (at, bytes),
                };
                let last = at.last_offset();
                let bad = if !crc_matches(bytes) {
                    Some("CRC32C mismatch".to_string())
                } else if !self.offset_index.can_append_offset(last)
                    || at.header.base_offset < self.base_offset
                {
                    Some(format!(
                        "offsets {}..={last} do not fit segment base {}",
                        at.header.base_offset, self.base_offset
                    ))
                } else if prev_last_offset.is_some_and(|p| at.header.base_offset <= p) {
                    Some(format!(
                        "base offset {} does not follow the previous batch's last offset {}",
                        at.header.base_offset,
                        prev_last_offset.unwrap_or_default()
                    ))
                } else {
                    None
                };
                if let Some(reason) = bad {
                    problem = Some((at.position, reason));
                    break;
                }
                if at.header.max_timestamp > max.timestamp {
                    max = TimestampOffset {
                        timestamp: at.header.max_timestamp,
                        offset: last,
                    };
                }
                if valid - last_index_entry > self.config.index_interval_bytes {
                    self.offset_index.append(last, valid)?;
                    self.time_index
                        .maybe_append(max.timestamp, max.offset, false)?;
                    last_index_entry = valid;
                }
                valid += at.size;
                prev_last_offset = Some(last);
                on_epoch(at.header.partition_leader_epoch, at.header.base_offset)?;
            }
        }
        let truncated_bytes = self.size - valid;
        if let Some((position, reason)) = &problem {
            warn!(
                file = %self.log_path.display(),
                position,
                truncated_bytes,
                "invalid batch in log segment during recovery ({reason}); truncating the segment there"
            );
        }
        if truncated_bytes > 0 {
            self.log.set_len(valid).ctx(&self.log_path)?;
            self.size = valid;
        }
        self.offset_index.trim()?;
        self.max_timestamp = OnceLock::from(max);
        self.time_index
            .maybe_append(max.timestamp, max.offset, true)?;
        self.time_index.trim()?;
        self.bytes_since_last_index_entry = 0;
        self.rolling_based_timestamp = None;
        self.needs_recovery = false;
        Ok(Recovered {
            truncated_bytes,
            next_offset: prev_last_offset.map_or(self.base_offset, |o| o + 1),
        })
    }

    /// Removes batches holding offsets ≥ `offset` and the index entries for them; the segment
    /// becomes the active one, so indexes are preallocated again (Kafka `truncateTo`).
    /// Returns the bytes removed.
    pub(crate) fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<u64> {
        let mapping = self.translate_offset(offset, 0)?;
        self.offset_index.truncate_to(offset)?;
        self.time_index.truncate_to(offset)?;
        self.offset_index.resize(self.config.max_index_bytes)?;
        self.time_index.resize(self.config.max_index_bytes)?;
        let truncated = match mapping {
            Some(m) => {
                let cut = self.size - m.position;
                self.log.set_len(m.position).ctx(&self.log_path)?;
                self.size = m.position;
                cut
            }
            None => 0,
        };
        if self.size == 0 {
            self.created_ms = now_ms;
            self.rolling_based_timestamp = None;
        }
        self.bytes_since_last_index_entry = 0;
        let max = self.read_largest_timestamp()?;
        self.max_timestamp = OnceLock::from(max);
        Ok(truncated)
    }

    /// Max timestamp from the last time-index entry plus a scan of the batches after it
    /// (Kafka `readLargestTimestamp`).
    fn read_largest_timestamp(&self) -> Result<TimestampOffset> {
        let last = self.time_index.last_entry()?;
        let pos = u64::try_from(self.offset_index.lookup(last.offset)?.position)
            .ok()
            .filter(|&p| p <= self.size)
            .unwrap_or(0);
        let mut best = last;
        let mut scanner = HeaderScanner::new(&self.log, &self.log_path, self.size);
        let mut at = pos;
        while let Some(b) = scanner.at(at)? {
            if b.header.max_timestamp > best.timestamp {
                best = TimestampOffset {
                    timestamp: b.header.max_timestamp,
                    offset: b.last_offset(),
                };
            }
            at = b.end();
        }
        Ok(best)
    }

    /// Kafka `onBecomeInactiveSegment`: final time-index entry, both indexes trimmed.
    pub(crate) fn on_become_inactive(&mut self) -> Result<()> {
        let max = self.max_timestamp_so_far()?;
        self.time_index
            .maybe_append(max.timestamp, max.offset, true)?;
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// Whether the offset and time index hold a descriptor.
    #[cfg(test)]
    pub(crate) fn index_files_open(&self) -> [bool; 2] {
        [
            self.offset_index.file().is_open(),
            self.time_index.file().is_open(),
        ]
    }

    /// Whether both index files exist (a new segment's are created by its first append).
    pub(crate) fn indexes_on_disk(&self) -> bool {
        self.offset_index.file().is_on_disk() && self.time_index.file().is_on_disk()
    }

    /// Creates the index files of a new segment (Kafka's `LazyIndex.get` on the first append);
    /// returns whether any file was created, so the caller knows its directory changed.
    pub(crate) fn materialize_indexes(&mut self) -> Result<bool> {
        let offsets = self.offset_index.file_mut().materialize()?;
        let times = self.time_index.file_mut().materialize()?;
        Ok(offsets || times)
    }

    /// Extends both indexes to `segment.index.bytes` again (load, active segment).
    pub(crate) fn resize_indexes_to_max(&mut self) -> Result<()> {
        self.offset_index.resize(self.config.max_index_bytes)?;
        self.time_index.resize(self.config.max_index_bytes)
    }

    /// Index sanity checks (§8.5). 3.9 skips them at load; we run them on the active segment
    /// after a clean shutdown and recover it if they fail.
    pub(crate) fn sanity_check(&self) -> Result<()> {
        self.offset_index.sanity_check()?;
        self.time_index.sanity_check()
    }

    /// The fsyncs that make this segment durable: its `.log`, and each index changed since
    /// its last fsync. Nothing counts as synced until [`Self::mark_synced`] hears that the
    /// fsync succeeded, so a failed or superseded one is simply done again by the next flush.
    pub(crate) fn sync_targets(&self, out: &mut Vec<SyncTarget>) -> Result<()> {
        let base = self.base_offset;
        out.push(SyncTarget::new(
            base,
            SegmentFile::Log,
            self.log_path.clone(),
            Arc::clone(&self.log),
        ));
        let mut add = |index: &IndexFile, file: fn(u64) -> SegmentFile| -> Result<()> {
            if let Some((handle, version)) = index.sync_handle()? {
                let path = index.path().to_path_buf();
                out.push(SyncTarget::new(base, file(version), path, Arc::new(handle)));
            }
            Ok(())
        };
        add(self.offset_index.file(), SegmentFile::OffsetIndex)?;
        add(self.time_index.file(), SegmentFile::TimeIndex)?;
        Ok(())
    }

    /// `file` of this segment was fsynced (a `.log` keeps no state: the log's recovery point
    /// says what is durable).
    pub(crate) fn mark_synced(&mut self, file: SegmentFile) {
        match file {
            SegmentFile::Log => {}
            SegmentFile::OffsetIndex(version) => self.offset_index.file_mut().mark_synced(version),
            SegmentFile::TimeIndex(version) => self.time_index.file_mut().mark_synced(version),
        }
    }

    /// Fsyncs the `.log` and any index changed since its last fsync, at once (a segment no
    /// lock guards: the log cleaner's output).
    pub(crate) fn flush(&mut self) -> Result<()> {
        let mut targets = Vec::new();
        self.sync_targets(&mut targets)?;
        for t in &targets {
            t.sync()?;
        }
        for t in targets {
            self.mark_synced(t.file);
        }
        Ok(())
    }

    /// Whether this process created, resized or wrote either index (a clean close trims
    /// those, and fsyncs their segment).
    pub(crate) fn indexes_changed(&self) -> bool {
        self.offset_index.file().was_changed() || self.time_index.file().was_changed()
    }

    /// Clean close (Kafka `LogSegment.close`): final time-index entry and trimmed indexes for
    /// every index we touched, so no zero padding is left after a clean stop. The caller
    /// fsyncs the segment (`PartitionLog::close`).
    pub(crate) fn close(&mut self) -> Result<()> {
        if !self.indexes_changed() {
            return Ok(());
        }
        if self.max_timestamp.get().is_some() {
            let max = self.max_timestamp_so_far()?;
            self.time_index
                .maybe_append(max.timestamp, max.offset, true)?;
        }
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// Renames every file of the segment from `<name><from>` to `<name><to>` (Kafka
    /// `changeFileSuffixes`: `.cleaned` → `.swap` → live). Open handles stay valid. The
    /// caller fsyncs the directory.
    pub(crate) fn change_file_suffixes(&mut self, from: &str, to: &str) -> Result<()> {
        let rename = |path: &Path| -> Option<PathBuf> {
            let name = path.file_name()?.to_str()?;
            let stem = name.strip_suffix(from)?;
            Some(path.with_file_name(format!("{stem}{to}")))
        };
        let target = rename(&self.log_path).ok_or_else(|| {
            Error::corrupt(
                &self.log_path,
                0,
                format!("file name does not end in {from:?}"),
            )
        })?;
        std::fs::rename(&self.log_path, &target).ctx(&self.log_path)?;
        self.log_path = target;
        for idx in [self.offset_index.file_mut(), self.time_index.file_mut()] {
            if let Some(target) = rename(idx.path()) {
                idx.rename(target)?;
            }
        }
        Ok(())
    }

    /// Sets the `.log`'s modification time (the cleaner gives its output the time of the
    /// newest segment it replaces, as Kafka does, so time-based decisions do not restart).
    pub(crate) fn set_last_modified_ms(&self, ms: i64) -> Result<()> {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.log.set_modified(t).ctx(&self.log_path)
    }

    /// Deletes the segment's files: each is first renamed to `*.deleted` (so a crash midway
    /// leaves only files that load removes), then unlinked. Also removes a `.txnindex` and the
    /// producer snapshot named after the base offset, as Kafka does with the segment.
    pub(crate) fn delete(self) -> Result<()> {
        self.mark_deleted()?.remove()
    }

    /// [`Self::delete`] without the unlinks, for a caller to run after releasing the log's
    /// lock (Kafka renames under the lock too, and deletes later).
    pub(crate) fn mark_deleted(self) -> Result<DeletedFiles> {
        self.rename_to_deleted(&[TXN_INDEX_FILE_SUFFIX, SNAPSHOT_FILE_SUFFIX])
    }

    /// Deletes a segment the log cleaner replaced: like `delete`, but the producer snapshot
    /// stays (it describes an offset, not this segment's bytes; Kafka's `replaceSegments`
    /// keeps it too).
    pub(crate) fn delete_replaced(self) -> Result<()> {
        self.rename_to_deleted(&[TXN_INDEX_FILE_SUFFIX])?.remove()
    }

    /// Deletes only this segment's own files (a discarded `.cleaned` output: the live
    /// segment of the same base keeps its `.txnindex` and snapshot).
    pub(crate) fn delete_own_files(self) -> Result<()> {
        self.rename_to_deleted(&[])?.remove()
    }

    /// Renames the `.log`, the indexes and the files of this base with the `also` suffixes
    /// (those that exist) to `*.deleted`, and closes the segment's handles.
    fn rename_to_deleted(mut self, also: &[&str]) -> Result<DeletedFiles> {
        let dir = self
            .log_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let base = self.base_offset;
        let mut doomed = Vec::new();
        let log_deleted = fs_util::with_suffix(&self.log_path, DELETED_FILE_SUFFIX);
        std::fs::rename(&self.log_path, &log_deleted).ctx(&self.log_path)?;
        doomed.push(log_deleted);
        for idx in [self.offset_index.file_mut(), self.time_index.file_mut()] {
            if !idx.is_on_disk() {
                continue;
            }
            let to = fs_util::with_suffix(idx.path(), DELETED_FILE_SUFFIX);
            match idx.rename(to.clone()) {
                Ok(()) => doomed.push(to),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        drop(self);
        for suffix in also {
            let from = dir.join(segment_file_name(base, suffix));
            let to = fs_util::with_suffix(&from, DELETED_FILE_SUFFIX);
            if fs_util::rename_if_exists(&from, &to)? {
                doomed.push(to);
            }
        }
        Ok(DeletedFiles::of_segment(doomed))
    }
}

/// Length of the longest prefix of `buf` made of whole batches (by their length fields).
pub(crate) fn whole_batches_len(buf: &[u8]) -> usize {
    use protocol::records::{offsets, BATCH_HEADER_LEN, LOG_OVERHEAD};
    let mut pos = 0usize;
    while buf.len() - pos >= BATCH_HEADER_LEN {
        let at = pos + offsets::BATCH_LENGTH;
        let len = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let Ok(len) = usize::try_from(len) else { break };
        let size = len + LOG_OVERHEAD;
        if size < BATCH_HEADER_LEN || buf.len() - pos < size {
            break;
        }
        pos += size;
    }
    pos
}

#[cfg(test)]
mod tests;
