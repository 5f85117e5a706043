//! `PartitionLog`: Kafka's local log of one partition, a `<topic>-<partition>` directory of
//! segments (`docs/formats.md` §2.3–§2.4, §8). Open with recovery, leader/follower append, fetch
//! reads of whole batches, timestamp lookup, retention, DeleteRecords, truncation, flush and the
//! leader-epoch cache.
//!
//! Input: the partition directory (untrusted files, possibly Apache Kafka's), the log dir's
//! recovery-point / log-start-offset checkpoints (`LoadOptions`), batch bytes from the broker.
//! Blocking `std::fs` I/O: call from a storage thread, never an async task. Time comes in as
//! `now_ms` (`docs/architecture.md` §7.2).

pub(crate) mod cleaning;
mod config;
mod flush;
mod loader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use protocol::records::BATCH_HEADER_LEN;
use protocol::Uuid;
use tracing::{info, warn};

use crate::batch::{self, read_header};
use crate::checkpoint::EpochEntry;
use crate::error::{Error, IoContext, Result};
use crate::fs_util;
use crate::leader_epoch::{EpochEndOffset, LeaderEpochCache, UNDEFINED_EPOCH_OFFSET};
use crate::partition_metadata;
use crate::segment::{DeletedFiles, FileSlice, RollParams, Segment};
use crate::time_index::{TimestampOffset, NO_TIMESTAMP};
use crate::topic_partition::{parse_log_dir_name, LogDirKind, TopicPartition};

pub use cleaning::{CleanableRange, CleaningPlan};
pub use config::{
    CleanupPolicy, LogConfig, DELETE_RETENTION_MS_DEFAULT, INDEX_INTERVAL_BYTES_DEFAULT,
    MAX_MESSAGE_BYTES_DEFAULT, MIN_CLEANABLE_DIRTY_RATIO_DEFAULT, RETENTION_BYTES_DEFAULT,
    RETENTION_MS_DEFAULT, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN, SEGMENT_INDEX_BYTES_DEFAULT,
    SEGMENT_MS_DEFAULT,
};
use flush::FlushScope;
pub use flush::{FlushJob, FlushOutcome};

/// How the log dir was shut down last time (from `.kafka_cleanshutdown`, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// The marker was present: trust segments, recovery point = log end offset.
    Clean,
    /// No marker: recover every segment from the recovery point on.
    Unclean,
}

/// What the log dir's checkpoints say about this log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// From `recovery-point-offset-checkpoint`; 0 when absent (full recovery).
    pub recovery_point: i64,
    /// From `log-start-offset-checkpoint`; 0 when absent (then the first segment's base).
    pub log_start_offset: i64,
    pub shutdown: Shutdown,
}

/// Whether a read may exceed its byte limit to return the first batch whole (Kafka
/// `minOneMessage`: true for the first partition of a fetch response, so a consumer can
/// always make progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstBatch {
    /// Return the first batch even if it is larger than `max_bytes`.
    AlwaysWhole,
    /// Return nothing if the first batch does not fit in `max_bytes`.
    WithinMaxBytes,
}

/// A position in the log (Kafka `LogOffsetMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsetMetadata {
    pub message_offset: i64,
    pub segment_base_offset: i64,
    pub relative_position_in_segment: u64,
}

/// Result of an append (the parts of Kafka's `LogAppendInfo` the broker needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// Largest batch `maxTimestamp` appended; `-1` if none carried one.
    pub max_timestamp: i64,
    /// Last offset of the batch carrying `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// Where the append starts.
    pub position: LogOffsetMetadata,
    pub batch_count: usize,
    pub valid_bytes: usize,
    pub log_start_offset: i64,
}

/// What the log-dir checkpoints need from one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheckpoints {
    pub topic_partition: TopicPartition,
    pub recovery_point: i64,
    /// `Some` only when the log start offset is above the first segment's base offset; Kafka
    /// omits the others from `log-start-offset-checkpoint`.
    pub log_start_offset: Option<i64>,
}

/// One partition's log.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    topic_partition: TopicPartition,
    config: LogConfig,
    /// Never empty; the last one is the active segment.
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    log_end_offset: i64,
    recovery_point: i64,
    leader_epochs: LeaderEpochCache,
    topic_id: Option<Uuid>,
    /// `topic_id` is not yet in `partition.metadata`: written by the next append, flush or
    /// scheduler tick, as Kafka's `PartitionMetadataFile.record` + `maybeFlush`.
    topic_id_unflushed: bool,
    last_flush_ms: i64,
    /// Bumped whenever a segment file is created or deleted; the directory needs an fsync
    /// while it is above `dir_synced_version`, the version the last directory fsync covered.
    dir_version: u64,
    dir_synced_version: u64,
    /// Bumped whenever existing segments are deleted, truncated or replaced (not on append or
    /// roll): the log cleaner discards a pass planned under an older layout, and a flush
    /// planned under one does not move the recovery point.
    layout_version: u64,
    /// `create` made the directory and nothing was appended since: it holds no file of an
    /// earlier log, nor snapshots or segments of this one's.
    created_empty: bool,
}

/// Where the validated batches of an append are.
struct Analyzed {
    first_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    batch_count: usize,
}

fn topic_partition_of(dir: &Path) -> Result<(TopicPartition, LogDirKind)> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_log_dir_name)
        .ok_or_else(|| Error::InvalidPartitionDir {
            path: dir.to_path_buf(),
        })
}

/// Recovers one segment, re-adding leader epochs of batches above the latest known epoch
/// (Kafka `LogSegment.recover` with the epoch cache).
fn recover_segment(
    seg: &mut Segment,
    epochs: &mut LeaderEpochCache,
) -> Result<crate::segment::Recovered> {
    seg.recover(&mut |epoch, base_offset| {
        if epoch >= 0 && epochs.latest_epoch().is_none_or(|l| epoch > l) {
            epochs.assign(epoch, base_offset)?;
        }
        Ok(())
    })
}

impl PartitionLog {
    /// Creates the directory of a new log, records the topic id when given, and starts it with
    /// an empty first segment at offset 0. An existing directory is opened with full recovery
    /// instead.
    ///
    /// A directory made here is empty, so nothing is read or listed: a new partition costs a
    /// `mkdir` and the `.log`'s `open`. Its other files come when needed — the indexes with the
    /// first append (or a clean close), `leader-epoch-checkpoint` with the first epoch,
    /// `partition.metadata` as below — which Kafka's loader and ours both accept (an absent
    /// index is rebuilt, an absent checkpoint reads as empty).
    ///
    /// Durability is Kafka's (`UnifiedLog.apply`, `LogSegment.open`): no fsync here. The
    /// directory and segment files become durable with the first flush that covers them
    /// (Kafka `LocalLog.flush` fsyncs the directory then), and `partition.metadata` is written
    /// (tmp + fsync + rename) before the first append, at a flush or the next scheduler tick
    /// (`UnifiedLog.initializeTopicId` schedules `maybeFlushMetadataFile`). A crash before
    /// that loses at most an empty directory, or leaves one without `partition.metadata`,
    /// which loads with no topic id and is adopted by the next `set_topic_id`.
    pub fn create(
        dir: &Path,
        topic_id: Option<Uuid>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let (topic_partition, _) = topic_partition_of(dir)?;
        config.validate()?;
        let made = match std::fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                true
            }
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut log = if made {
            Self::new_empty(dir, topic_partition, config, now_ms)?
        } else {
            // A directory that already existed may hold unflushed data: recover it.
            let options = LoadOptions {
                recovery_point: 0,
                log_start_offset: 0,
                shutdown: Shutdown::Unclean,
            };
            Self::open(dir, config, options, now_ms)?
        };
        if let Some(id) = topic_id {
            log.set_topic_id(id)?;
        }
        Ok(log)
    }

    /// The log of a directory just made: what `open` finds in an empty directory, without
    /// looking.
    fn new_empty(
        dir: &Path,
        topic_partition: TopicPartition,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Self> {
        let segment = Segment::create(dir, 0, config.segment_config(), now_ms)?;
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            topic_partition,
            config,
            segments: BTreeMap::from([(0, segment)]),
            log_start_offset: 0,
            log_end_offset: 0,
            recovery_point: 0,
            leader_epochs: LeaderEpochCache::new_empty(dir),
            topic_id: None,
            topic_id_unflushed: false,
            last_flush_ms: now_ms,
            // The directory and its `.log` are new.
            dir_version: 1,
            dir_synced_version: 0,
            layout_version: 0,
            created_empty: true,
        })
    }

    /// Loads an existing partition directory (§2.4): removes leftovers, opens segments,
    /// recovers those from the recovery point on after an unclean shutdown (truncating a torn
    /// or corrupt tail and deleting later segments), and fixes up the log start offset and
    /// leader-epoch cache.
    pub fn open(dir: &Path, config: LogConfig, options: LoadOptions, now_ms: i64) -> Result<Self> {
        config.validate()?;
        let (topic_partition, kind) = topic_partition_of(dir)?;
        let seg_config = config.segment_config();
        loader::remove_leftovers(dir)?;
        let mut segments = loader::load_segment_files(dir, seg_config, now_ms)?;
        let mut epochs = LeaderEpochCache::load(dir)?;
        let topic_id = partition_metadata::read(dir)?.map(|m| m.topic_id);

        // Step 4: which segments recovery covers (from the one holding the recovery point).
        let recover_from = match (options.shutdown, kind) {
            (Shutdown::Unclean, k) if k != LogDirKind::Delete => Some(
                segments
                    .range(..=options.recovery_point)
                    .next_back()
                    .map_or(i64::MIN, |(b, _)| *b),
            ),
            _ => None,
        };
        // Step 3 tail: a segment without `.index` is recovered on its own.
        for seg in segments.values_mut() {
            let covered = recover_from.is_some_and(|from| seg.base_offset() >= from);
            if seg.needs_recovery() && !covered {
                recover_segment(seg, &mut epochs)?;
            }
        }
        if let Some(from) = recover_from {
            let bases: Vec<i64> = segments.range(from..).map(|(b, _)| *b).collect();
            for (i, base) in bases.iter().enumerate() {
                let Some(seg) = segments.get_mut(base) else {
                    continue;
                };
                info!(file = %seg.log_path().display(), "recovering unflushed segment");
                let r = recover_segment(seg, &mut epochs)?;
                if r.truncated_bytes > 0 {
                    for later in &bases[i + 1..] {
                        if let Some(s) = segments.remove(later) {
                            warn!(file = %s.log_path().display(), "deleting segment after a corrupt one");
                            s.delete()?;
                        }
                    }
                    break;
                }
            }
        } else if let Some(seg) = segments.values_mut().next_back() {
            // Clean shutdown: 3.9 trusts the files; we still check the active segment's
            // indexes and tail (cheap, one segment) and recover it if they are wrong.
            let bad = seg
                .sanity_check()
                .err()
                .or_else(|| seg.read_next_offset().err());
            if let Some(e) = bad {
                warn!(file = %seg.log_path().display(), error = %e, "active segment failed its sanity check; recovering it");
                recover_segment(seg, &mut epochs)?;
            }
        }

        let mut end = match segments.values().next_back() {
            Some(s) => Some(s.read_next_offset()?),
            None => None,
        };
        if end.is_some_and(|e| e < options.log_start_offset) {
            warn!(
                dir = %dir.display(),
                log_end_offset = end,
                log_start_offset = options.log_start_offset,
                "deleting all segments: the log end offset is below the checkpointed log start offset"
            );
            while let Some((_, s)) = segments.pop_first() {
                s.delete()?;
            }
            epochs.clear()?;
            end = None;
        }
        // Step 5. Kafka creates this segment without an fsync; the next flush fsyncs the
        // directory (`dir_version`).
        let mut dir_version = 0;
        if segments.is_empty() {
            let base = options.log_start_offset.max(0);
            segments.insert(base, Segment::create(dir, base, seg_config, now_ms)?);
            dir_version = 1;
        }
        let Some((_, active)) = segments.iter_mut().next_back() else {
            unreachable!("a segment was just ensured")
        };
        active.resize_indexes_to_max()?;
        let log_end_offset = match end {
            Some(e) => e,
            None => active.read_next_offset()?,
        };
        let recovery_point = match (options.shutdown, end) {
            (Shutdown::Clean, Some(e)) => e,
            _ => options.recovery_point.min(log_end_offset),
        };
        // Step 6.
        let first_base = *segments.keys().next().unwrap_or(&0);
        let log_start_offset = options.log_start_offset.max(first_base);
        epochs.truncate_from_end(log_end_offset)?;
        epochs.truncate_from_start(log_start_offset)?;

        let log = PartitionLog {
            dir: dir.to_path_buf(),
            topic_partition,
            config,
            segments,
            log_start_offset,
            log_end_offset,
            recovery_point,
            leader_epochs: epochs,
            topic_id,
            topic_id_unflushed: false,
            last_flush_ms: now_ms,
            dir_version,
            dir_synced_version: 0,
            layout_version: 0,
            created_empty: false,
        };
        Ok(log)
    }

    fn sync_dir(&mut self) -> Result<()> {
        fs_util::sync_dir(&self.dir)?;
        self.dir_synced_version = self.dir_version;
        Ok(())
    }

    /// A segment file was created or deleted: the next flush fsyncs the directory.
    fn dir_changed(&mut self) {
        self.dir_version += 1;
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Renames the partition directory to `to` (same file system) and keeps using it there:
    /// every later file operation of this log, a roll or a lazily created index included,
    /// happens under the new name (Kafka `LocalLog.renameDir`). The caller fsyncs the parent.
    pub fn rename_dir(&mut self, to: PathBuf) -> Result<()> {
        std::fs::rename(&self.dir, &to).ctx(&self.dir)?;
        for segment in self.segments.values_mut() {
            segment.set_dir(&to);
        }
        self.leader_epochs.set_dir(&to);
        self.dir = to;
        Ok(())
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies a topic config change; index sizes take effect at the next roll.
    pub fn set_config(&mut self, config: LogConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    pub fn topic_id(&self) -> Option<Uuid> {
        self.topic_id
    }

    /// Whether [`Self::create`] made this log's directory in this process and nothing was
    /// appended since: it holds no producer snapshot or other file of an earlier log, so
    /// loaders of such files can skip listing it.
    pub fn created_empty(&self) -> bool {
        self.created_empty
    }

    /// Records the topic id (once; a different id is an error, as Kafka's
    /// `InconsistentTopicIdException`). `partition.metadata` is written later, by
    /// [`Self::flush_topic_id`], as Kafka's `assignTopicId` defers it to its scheduler.
    pub fn set_topic_id(&mut self, topic_id: Uuid) -> Result<()> {
        match self.topic_id {
            Some(id) if id == topic_id => Ok(()),
            Some(id) => Err(Error::InconsistentTopicId {
                log: self.dir.clone(),
                stored: id.to_string(),
                requested: topic_id.to_string(),
            }),
            None => {
                self.topic_id = Some(topic_id);
                self.topic_id_unflushed = true;
                Ok(())
            }
        }
    }

    /// Writes a recorded topic id to `partition.metadata` if not done yet (Kafka
    /// `maybeFlushMetadataFile`). Called before every append, so no data is durable without
    /// its topic id, and by `flush` and `plan_flush_if_due` (Kafka's scheduled flush).
    pub fn flush_topic_id(&mut self) -> Result<()> {
        if let (true, Some(id)) = (self.topic_id_unflushed, self.topic_id) {
            partition_metadata::write(&self.dir, id)?;
            self.topic_id_unflushed = false;
        }
        Ok(())
    }

    /// First offset a consumer may fetch.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// First offset not known to be fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Messages appended since the last flush (Kafka `unflushedMessages`).
    pub fn unflushed_messages(&self) -> i64 {
        self.log_end_offset - self.recovery_point
    }

    /// Bytes in all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// Base offset and size of each segment, oldest first (metadata log retention).
    pub fn segment_sizes(&self) -> Vec<(i64, u64)> {
        self.segments.iter().map(|(b, s)| (*b, s.size())).collect()
    }

    /// Where the next append will go (Kafka `logEndOffsetMetadata`).
    pub fn log_end_offset_metadata(&self) -> LogOffsetMetadata {
        let active = self.active();
        LogOffsetMetadata {
            message_offset: self.log_end_offset,
            segment_base_offset: active.base_offset(),
            relative_position_in_segment: active.size(),
        }
    }

    /// Values for the log dir's checkpoint files.
    pub fn checkpoints(&self) -> LogCheckpoints {
        let first_base = *self.segments.keys().next().unwrap_or(&0);
        LogCheckpoints {
            topic_partition: self.topic_partition.clone(),
            recovery_point: self.recovery_point,
            log_start_offset: (self.log_start_offset > first_base).then_some(self.log_start_offset),
        }
    }

    // ---- append -------------------------------------------------------------------------

    fn invalid(&self, position: usize, reason: impl Into<String>) -> Error {
        Error::InvalidRecords {
            log: self.dir.clone(),
            position,
            reason: reason.into(),
        }
    }

    /// Walks whole batches in `records`, calling `visit(position, header, bytes)` for each.
    fn walk_batches(
        &self,
        records: &[u8],
        mut visit: impl FnMut(usize, &protocol::records::BatchHeader) -> Result<()>,
    ) -> Result<usize> {
        if records.is_empty() {
            return Err(self.invalid(0, "empty record set"));
        }
        let mut pos = 0;
        let mut count = 0;
        while pos < records.len() {
            let h = read_header(&records[pos..])
                .ok_or_else(|| self.invalid(pos, "fewer bytes than a batch header"))?
                .map_err(|r| self.invalid(pos, r))?;
            let size = batch::batch_size(&h);
            if size > (records.len() - pos) as u64 {
                return Err(self.invalid(pos, format!("batch of {size} bytes is cut short")));
            }
            visit(pos, &h)?;
            pos += size as usize;
            count += 1;
        }
        Ok(count)
    }

    /// Appends batches from a client produce (the broker has validated them, §7.7):
    /// assigns offsets from the log end offset and stamps `leader_epoch` by patching each
    /// batch header in place (neither field is covered by the CRC), then writes the bytes
    /// unchanged. Returns once the bytes are in the page cache; fsyncs only per
    /// `flush.messages`.
    pub fn append_as_leader(
        &mut self,
        records: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let max_message_bytes = self.config.max_message_bytes;
        let mut next = self.log_end_offset;
        let mut a = Analyzed {
            first_offset: next,
            last_offset: next - 1,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: -1,
            batch_count: 0,
        };
        // First pass: validate shape and sizes without touching the bytes.
        let mut sizes_ok = Ok(());
        a.batch_count = self.walk_batches(records, |pos, h| {
            let size = batch::batch_size(h);
            if size > u64::from(max_message_bytes) && sizes_ok.is_ok() {
                sizes_ok = Err((pos, size as usize));
            }
            Ok(())
        })?;
        if let Err((_, size)) = sizes_ok {
            return Err(Error::RecordTooLarge {
                log: self.dir.clone(),
                size,
                max_message_bytes,
            });
        }
        // Second pass: assign offsets in place.
        let mut pos = 0;
        while pos < records.len() {
            let Some(Ok(h)) = read_header(&records[pos..]) else {
                break;
            };
            let size = batch::batch_size(&h) as usize;
            let batch_bytes = &mut records[pos..pos + size];
            protocol::records::set_base_offset(batch_bytes, next)
                .and_then(|()| {
                    protocol::records::set_partition_leader_epoch(batch_bytes, leader_epoch)
                })
                .map_err(|e| Error::InvalidRecords {
                    log: self.dir.clone(),
                    position: pos,
                    reason: e.to_string(),
                })?;
            let last = next + i64::from(h.last_offset_delta);
            if h.max_timestamp > a.max_timestamp {
                a.max_timestamp = h.max_timestamp;
                a.offset_of_max_timestamp = last;
            }
            a.last_offset = last;
            next = last + 1;
            pos += size;
        }
        self.append_analyzed(records, a, now_ms)
    }

    /// Appends batches whose offsets were assigned elsewhere (follower fetch, Raft): checks
    /// each batch's CRC32C and that offsets increase from the log end offset (gaps allowed,
    /// as after compaction), then writes the bytes unchanged.
    pub fn append_as_follower(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let mut a = Analyzed {
            first_offset: -1,
            last_offset: -1,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: -1,
            batch_count: 0,
        };
        let log_end_offset = self.log_end_offset;
        let dir = &self.dir;
        a.batch_count = self.walk_batches(records, |pos, h| {
            let size = batch::batch_size(h) as usize;
            let invalid = |reason: String| Error::InvalidRecords {
                log: dir.clone(),
                position: pos,
                reason,
            };
            if !batch::crc_matches(&records[pos..pos + size]) {
                return Err(invalid("CRC32C mismatch".into()));
            }
            if a.first_offset < 0 {
                if h.base_offset < log_end_offset {
                    return Err(Error::UnexpectedAppendOffset {
                        log: dir.clone(),
                        first_offset: h.base_offset,
                        log_end_offset,
                    });
                }
                a.first_offset = h.base_offset;
            } else if h.base_offset <= a.last_offset {
                return Err(invalid(format!(
                    "base offset {} does not follow the previous batch's last offset {}",
                    h.base_offset, a.last_offset
                )));
            }
            let last = h.last_offset();
            if h.max_timestamp > a.max_timestamp {
                a.max_timestamp = h.max_timestamp;
                a.offset_of_max_timestamp = last;
            }
            a.last_offset = last;
            Ok(())
        })?;
        self.append_analyzed(records, a, now_ms)
    }

    fn append_analyzed(&mut self, records: &[u8], a: Analyzed, now_ms: i64) -> Result<AppendInfo> {
        // Kafka `UnifiedLog.append`: the topic id is on disk before any data is.
        self.flush_topic_id()?;
        if records.len() as u64 > u64::from(self.config.segment_bytes) {
            return Err(Error::RecordSetTooLarge {
                log: self.dir.clone(),
                size: records.len(),
                segment_bytes: self.config.segment_bytes,
            });
        }
        // Only a follower can trip this: offsets spanning more than int32 in one append would
        // not fit even a fresh segment's index (Kafka `LogSegmentOffsetOverflowException`).
        let roll_base = a.first_offset.max(self.log_end_offset);
        if a.last_offset - roll_base > i64::from(i32::MAX) {
            return Err(self.invalid(
                0,
                format!(
                    "offsets {}..={} span more than one segment can index; append them separately",
                    a.first_offset, a.last_offset
                ),
            ));
        }
        self.maybe_roll(records.len() as u64, &a, now_ms)?;
        self.created_empty = false;
        let active = self.active_mut();
        // A new segment's index files are created by its first append; the next flush makes
        // them durable with the data (Kafka's `LazyIndex`, `LocalLog.flush`).
        if active.materialize_indexes()? {
            self.dir_changed();
        }
        let active = self.active_mut();
        let segment_base_offset = active.base_offset();
        let position = active.append(
            records,
            a.last_offset,
            a.max_timestamp,
            a.offset_of_max_timestamp,
        )?;
        self.log_end_offset = a.last_offset + 1;
        // Leader epochs: a batch with a higher epoch than the latest starts a new entry.
        let mut pos = 0;
        while records.len() - pos >= BATCH_HEADER_LEN {
            let Some(Ok(h)) = read_header(&records[pos..]) else {
                break;
            };
            let epoch = h.partition_leader_epoch;
            if epoch >= 0 && self.leader_epochs.latest_epoch().is_none_or(|l| epoch > l) {
                self.leader_epochs.assign(epoch, h.base_offset)?;
            }
            pos += batch::batch_size(&h) as usize;
        }
        if self.unflushed_messages() >= self.config.flush_interval_messages {
            self.flush()?;
            self.last_flush_ms = now_ms;
        }
        Ok(AppendInfo {
            first_offset: a.first_offset,
            last_offset: a.last_offset,
            max_timestamp: a.max_timestamp,
            offset_of_max_timestamp: a.offset_of_max_timestamp,
            position: LogOffsetMetadata {
                message_offset: a.first_offset,
                segment_base_offset,
                relative_position_in_segment: position,
            },
            batch_count: a.batch_count,
            valid_bytes: records.len(),
            log_start_offset: self.log_start_offset,
        })
    }

    /// Whether [`Self::append_as_leader`] of `records` now would do more than write to the
    /// page cache: roll a new segment (creates files), create the active segment's index files
    /// (its first append), write `partition.metadata` or reach `flush.messages` (fsync). A caller serving the network runs the others inline and
    /// these on a blocking thread (Kafka appends on its request threads too; the fsync is
    /// what must not stall them). Malformed input answers false: the append then rejects it
    /// before any I/O.
    pub fn leader_append_may_block(&mut self, records: &[u8], now_ms: i64) -> Result<bool> {
        let mut last_offset = self.log_end_offset - 1;
        let mut max_timestamp = NO_TIMESTAMP;
        let mut pos = 0;
        while let Some(Ok(h)) = records.get(pos..).and_then(read_header) {
            last_offset += i64::from(h.last_offset_delta) + 1;
            max_timestamp = max_timestamp.max(h.max_timestamp);
            pos += batch::batch_size(&h) as usize;
        }
        if pos != records.len() || last_offset < self.log_end_offset {
            return Ok(false);
        }
        if self.topic_id_unflushed || !self.active().indexes_on_disk() {
            return Ok(true);
        }
        if last_offset + 1 - self.recovery_point >= self.config.flush_interval_messages {
            return Ok(true);
        }
        let params = self.roll_params(records.len() as u64, max_timestamp, last_offset, now_ms);
        self.active_mut().should_roll(&params)
    }

    fn roll_params(
        &self,
        messages_size: u64,
        max_timestamp: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> RollParams {
        RollParams {
            segment_bytes: u64::from(self.config.segment_bytes),
            segment_ms: self.config.segment_ms,
            messages_size,
            max_timestamp_in_messages: max_timestamp,
            max_offset_in_messages: last_offset,
            now_ms,
        }
    }

    fn maybe_roll(&mut self, messages_size: u64, a: &Analyzed, now_ms: i64) -> Result<()> {
        let params = self.roll_params(messages_size, a.max_timestamp, a.last_offset, now_ms);
        if self.active_mut().should_roll(&params)? {
            let new_base = a.first_offset.max(self.log_end_offset);
            self.roll(new_base, now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at `max(new_base, log end offset)` (Kafka `LocalLog.roll`);
    /// a base above the log end offset moves the log end offset there. The old segment's
    /// indexes are trimmed; it is fsynced later by `plan_flush_if_due`, as Kafka flushes it
    /// asynchronously after a roll.
    pub fn roll(&mut self, new_base: i64, now_ms: i64) -> Result<()> {
        let new_base = new_base.max(self.log_end_offset);
        let active = self.active_mut();
        if active.base_offset() == new_base && active.size() == 0 {
            return Ok(());
        }
        assert!(
            new_base > active.base_offset(),
            "roll to {new_base} at or below the active segment {}",
            active.base_offset()
        );
        active.on_become_inactive()?;
        let seg = Segment::create(&self.dir, new_base, self.config.segment_config(), now_ms)?;
        self.segments.insert(new_base, seg);
        self.dir_changed();
        // Offsets between the old end and the new base (a follower gap) are simply absent.
        self.log_end_offset = self.log_end_offset.max(new_base);
        Ok(())
    }

    // ---- read ---------------------------------------------------------------------------

    fn out_of_range(&self, offset: i64) -> Error {
        Error::OffsetOutOfRange {
            log: self.dir.clone(),
            offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
        }
    }

    /// Reads whole batches starting with the one holding `fetch_offset`, up to `max_bytes`
    /// (see `FirstBatch`), exposing only batches whose last offset is below `max_offset`
    /// (the high watermark, last stable offset or log end offset). Like Kafka, a read never
    /// spans two segments; the consumer fetches again. Empty if nothing is visible yet.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: u64,
        max_offset: i64,
        first_batch: FirstBatch,
    ) -> Result<Bytes> {
        match self.read_slice(fetch_offset, max_bytes, max_offset, first_batch)? {
            Some(slice) => slice.read(),
            None => Ok(Bytes::new()),
        }
    }

    /// [`Self::read`] without reading: where the bytes are, as a [`FileSlice`] to read after
    /// releasing whatever lock guards this log (a fetch's `pread` then never delays an
    /// append). `None` when there is nothing to read.
    pub fn read_slice(
        &self,
        fetch_offset: i64,
        max_bytes: u64,
        max_offset: i64,
        first_batch: FirstBatch,
    ) -> Result<Option<FileSlice>> {
        if fetch_offset < self.log_start_offset || fetch_offset > self.log_end_offset {
            return Err(self.out_of_range(fetch_offset));
        }
        let max_offset = max_offset.min(self.log_end_offset);
        if fetch_offset >= max_offset {
            return Ok(None);
        }
        let start = self
            .segments
            .range(..=fetch_offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let mut it = self.segments.range(start..).peekable();
        while let Some((base, seg)) = it.next() {
            if *base >= max_offset {
                break;
            }
            let next_base = it.peek().map(|(b, _)| **b);
            let bound_in_segment = match next_base {
                Some(n) => max_offset < n,
                None => max_offset < self.log_end_offset,
            };
            let max_position = if bound_in_segment {
                seg.translate_offset(max_offset, 0)?
                    .map_or(seg.size(), |l| l.position)
            } else {
                seg.size()
            };
            let min_one = first_batch == FirstBatch::AlwaysWhole;
            if let Some(slice) = seg.slice(fetch_offset, max_bytes, max_position, min_one)? {
                return Ok(Some(slice));
            }
        }
        Ok(None)
    }

    /// First record with timestamp ≥ `timestamp` at or after the log start offset (ListOffsets
    /// with a real timestamp; the caller maps −1 latest / −2 earliest itself, and −3 to
    /// `max_timestamp`). Searches the first segment whose largest timestamp is ≥ `timestamp`.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        for seg in self.segments.values() {
            if seg.max_timestamp_so_far()?.timestamp >= timestamp {
                return seg.find_offset_by_timestamp(timestamp, self.log_start_offset);
            }
        }
        Ok(None)
    }

    /// Largest batch timestamp in the log and the last offset of its batch (ListOffsets
    /// `MAX_TIMESTAMP`); `None` if no batch carries a timestamp.
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        let mut best: Option<TimestampOffset> = None;
        for seg in self.segments.values() {
            let t = seg.max_timestamp_so_far()?;
            if t.timestamp >= 0 && best.is_none_or(|b| t.timestamp > b.timestamp) {
                best = Some(t);
            }
        }
        Ok(best)
    }

    // ---- leader epochs -----------------------------------------------------------------

    pub fn latest_epoch(&self) -> Option<i32> {
        self.leader_epochs.latest_epoch()
    }

    pub fn epoch_entries(&self) -> &[EpochEntry] {
        self.leader_epochs.entries()
    }

    /// A new leader epoch begins at `start_offset` (leader election: Kafka
    /// `maybeAssignEpochStartOffset(epoch, logEndOffset)`).
    pub fn assign_epoch_start_offset(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        self.leader_epochs.assign(epoch, start_offset).map(|_| ())
    }

    /// OffsetsForLeaderEpoch: the end offset of `epoch` (Kafka `endOffsetForEpoch`); `None`
    /// when unknown (`UNDEFINED_EPOCH_OFFSET`).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<EpochEndOffset> {
        let r = self
            .leader_epochs
            .end_offset_for(epoch, self.log_end_offset);
        (r.end_offset != UNDEFINED_EPOCH_OFFSET).then_some(r)
    }

    /// Leader epoch of the batch holding `offset`, per the cache.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.leader_epochs.epoch_for_offset(offset)
    }

    // ---- deletion and truncation ------------------------------------------------------

    fn maybe_increment_log_start_offset(&mut self, new_start: i64) -> Result<()> {
        if new_start > self.log_start_offset {
            self.log_start_offset = new_start;
            self.leader_epochs.truncate_from_start(new_start)?;
        }
        Ok(())
    }

    /// DeleteRecords: moves the log start offset up to `offset` (the caller checks it is at
    /// most the high watermark) and deletes the segments wholly below it. Returns the new log
    /// start offset, and the deleted segments' files to unlink (see [`DeletedFiles`]).
    pub fn delete_records_before(&mut self, offset: i64) -> Result<(i64, DeletedFiles)> {
        if offset > self.log_end_offset || offset < 0 {
            return Err(self.out_of_range(offset));
        }
        self.maybe_increment_log_start_offset(offset)?;
        let lso = self.log_start_offset;
        let deleted =
            self.delete_old_segments(i64::MAX, 0, |_, next| Ok(next.is_some_and(|n| n <= lso)))?;
        Ok((self.log_start_offset, deleted))
    }

    /// Retention (Kafka `deleteOldSegments`): segments wholly below the log start offset, then
    /// with `cleanup.policy` delete, oldest segments while the log exceeds `retention.bytes`
    /// and segments whose largest timestamp is older than `retention.ms`. Never deletes data
    /// at or above `high_watermark`. Returns the deleted segments' files, renamed to
    /// `*.deleted`, for the caller to unlink after releasing its lock on the log.
    pub fn apply_retention(&mut self, now_ms: i64, high_watermark: i64) -> Result<DeletedFiles> {
        let lso = self.log_start_offset;
        let mut deleted = self.delete_old_segments(high_watermark, now_ms, |_, next| {
            Ok(next.is_some_and(|n| n <= lso))
        })?;
        if !self.config.cleanup_policy.deletes() {
            return Ok(deleted);
        }
        let retention_bytes = self.config.retention_bytes;
        let size = self.size_in_bytes() as i64;
        if retention_bytes >= 0 && size >= retention_bytes {
            let mut diff = size - retention_bytes;
            let by_size = self.delete_old_segments(high_watermark, now_ms, |seg, _| {
                let s = seg.size() as i64;
                Ok(if diff - s >= 0 {
                    diff -= s;
                    true
                } else {
                    false
                })
            })?;
            deleted.extend(by_size);
        }
        let retention_ms = self.config.retention_ms;
        if retention_ms >= 0 {
            let by_time = self.delete_old_segments(high_watermark, now_ms, |seg, _| {
                let ts = seg.max_timestamp_so_far()?.timestamp;
                let largest = if ts >= 0 { ts } else { seg.last_modified_ms()? };
                Ok(now_ms.saturating_sub(largest) > retention_ms)
            })?;
            deleted.extend(by_time);
        }
        Ok(deleted)
    }

    /// Deletes the longest prefix of segments matching `predicate(segment, next_base)` whose
    /// offsets are all below `high_watermark`; rolls first if that is every segment. The
    /// files are only renamed to `*.deleted` here; the caller unlinks them.
    fn delete_old_segments(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
        mut predicate: impl FnMut(&Segment, Option<i64>) -> Result<bool>,
    ) -> Result<DeletedFiles> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut deletable = 0;
        for (i, base) in bases.iter().enumerate() {
            let seg = &self.segments[base];
            let next = bases.get(i + 1).copied();
            let last_and_empty = next.is_none() && seg.size() == 0;
            let upper = next.unwrap_or(self.log_end_offset);
            if high_watermark >= upper && !last_and_empty && predicate(seg, next)? {
                deletable += 1;
            } else {
                break;
            }
        }
        let mut deleted = DeletedFiles::default();
        if deletable == 0 {
            return Ok(deleted);
        }
        self.layout_version += 1;
        if deletable == bases.len() {
            // Keep at least one segment: a new empty active segment at the log end.
            let end = self.log_end_offset;
            self.roll(end, now_ms)?;
        }
        for base in &bases[..deletable] {
            if let Some(seg) = self.segments.remove(base) {
                info!(file = %seg.log_path().display(), "deleting segment");
                deleted.extend(seg.mark_deleted()?);
            }
        }
        self.dir_changed();
        let first = *self.segments.keys().next().expect("a segment remains");
        self.maybe_increment_log_start_offset(first)?;
        self.recovery_point = self.recovery_point.max(first);
        Ok(deleted)
    }

    /// Removes every record at or above `offset` (follower truncation after a leader change,
    /// Kafka `UnifiedLog.truncateTo`). Returns false if `offset` ≥ log end offset (no-op).
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<bool> {
        assert!(offset >= 0, "truncate to negative offset {offset}");
        if offset >= self.log_end_offset {
            return Ok(false);
        }
        info!(dir = %self.dir.display(), offset, "truncating log");
        self.layout_version += 1;
        let first_base = *self.segments.keys().next().expect("a segment exists");
        if offset < first_base {
            self.truncate_fully_and_start_at(offset, now_ms)?;
            return Ok(true);
        }
        let doomed: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete()?;
                self.dir_changed();
            }
        }
        self.active_mut().truncate_to(offset, now_ms)?;
        self.log_end_offset = offset;
        self.recovery_point = self.recovery_point.min(offset);
        self.leader_epochs.truncate_from_end(offset)?;
        self.log_start_offset = self.log_start_offset.min(offset);
        Ok(true)
    }

    /// Deletes everything and restarts the log empty at `offset` (Kafka
    /// `truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64, now_ms: i64) -> Result<()> {
        assert!(offset >= 0, "restart at negative offset {offset}");
        self.layout_version += 1;
        while let Some((_, seg)) = self.segments.pop_first() {
            seg.delete()?;
        }
        let seg = Segment::create(&self.dir, offset, self.config.segment_config(), now_ms)?;
        self.segments.insert(offset, seg);
        self.dir_changed();
        self.leader_epochs.clear()?;
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.recovery_point = offset;
        self.sync_dir()
    }

    // ---- durability ---------------------------------------------------------------------

    /// Fsyncs every segment holding unflushed data (and the directory if segments were
    /// created or deleted); the recovery point becomes the log end offset. Runs the fsyncs
    /// under the caller's borrow: a caller holding a lock others wait on runs
    /// [`Self::plan_flush_if_due`]'s job outside it instead (see `log::flush`).
    pub fn flush(&mut self) -> Result<()> {
        self.flush_topic_id()?;
        self.flush_to(self.log_end_offset, FlushScope::Unflushed)
    }

    /// Clean close: final time-index entries, indexes trimmed (no zero padding left), all data
    /// and every changed index fsynced. Returns the values for the log dir's checkpoints,
    /// which the caller writes before `.kafka_cleanshutdown`.
    pub fn close(mut self) -> Result<LogCheckpoints> {
        for seg in self.segments.values_mut() {
            seg.close()?;
        }
        self.flush_topic_id()?;
        self.flush_to(self.log_end_offset, FlushScope::Close)?;
        Ok(self.checkpoints())
    }
}

#[cfg(test)]
mod tests;
