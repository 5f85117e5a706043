//! Log compaction (Kafka `LogCleaner.Cleaner.doClean`): one pass over a compacted log keeps,
//! for every key, only the record with its latest offset, drops tombstones whose delete
//! horizon has passed (KIP-534) and rewrites the segments into `.cleaned` files, grouped up
//! to `segment.bytes`. Offsets are preserved; batches keep their base offset, producer fields
//! and last offset delta.
//!
//! Input: a `CleaningPlan` taken under the log lock (segment paths and sizes). The pass reads
//! the segment files through its own handles and never touches the `PartitionLog`, so
//! appends never wait for it; `PartitionLog::replace_cleaned` swaps the output in under the
//! lock afterwards, or discards it if the log changed meanwhile.
//!
//! Memory is bounded by `dedupe_buffer_bytes`: when the key map is full the pass cleans only
//! up to where the map got, and the next pass resumes there (`end_offset`, the caller's
//! `cleaner-offset-checkpoint`).

mod filter;
mod offset_map;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use protocol::records::Batch;
use tracing::warn;

use crate::batch::crc_matches;
use crate::error::{Error, IoContext, Result};
use crate::log::cleaning::SegmentSnapshot;
use crate::log::CleaningPlan;
use crate::segment::{BatchReader, HeaderScanner, Next, Segment};
use filter::{filter_batch, FilterContext, Filtered};
use offset_map::{OffsetMap, OverBudget, Put};

/// Suffix of a pass's output while it is written (`docs/formats.md` §2.3).
pub(crate) const CLEANED_FILE_SUFFIX: &str = ".cleaned";
/// Suffix of a pass's output about to replace old segments (§2.3).
pub(crate) const SWAP_FILE_SUFFIX: &str = ".swap";

/// Kafka's `log.cleaner.dedupe.buffer.size` default (128 MiB).
pub const DEDUPE_BUFFER_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;
/// Smallest dedupe buffer used: smaller settings are raised to it so that a pass maps a
/// useful number of keys (about 18 000 keys of 5 bytes).
pub const DEDUPE_BUFFER_BYTES_MIN: u64 = 1024 * 1024;
/// Kafka's `log.cleaner.io.buffer.load.factor` default: the map is full at 90 % of the buffer.
const DEDUPE_LOAD_FACTOR: f64 = 0.9;
/// Bytes charged per producer id tracked for `RETAIN_EMPTY`.
const PRODUCER_ENTRY_BYTES: usize = 48;
/// The cleaner appends surviving batches in chunks of about this many bytes (one index entry
/// per chunk at most, so at least `index.interval.bytes` apart as in a live segment).
const WRITE_CHUNK_BYTES_MIN: usize = 4096;
/// Largest input a group may have: an output segment's positions must fit an int32 even if
/// rewriting makes batches a little larger (delete-horizon timestamp deltas).
const GROUP_BYTES_MAX: u64 = (i32::MAX / 2) as u64;

/// Cleaner settings that are broker-wide rather than per topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map.
    pub dedupe_buffer_bytes: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            dedupe_buffer_bytes: DEDUPE_BUFFER_BYTES_DEFAULT,
        }
    }
}

/// What a pass did (Kafka `CleanerStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanerStats {
    /// Bytes of segment files read to build the map.
    pub map_bytes_read: u64,
    /// Bytes of segment files rewritten.
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    pub batches_rewritten: u64,
    pub batches_dropped: u64,
    /// Distinct keys in the map.
    pub keys: u64,
    /// Segments replaced and segments written.
    pub segments_read: u64,
    pub segments_written: u64,
}

/// One output segment and the segments it replaces.
#[derive(Debug)]
pub(crate) struct CleanedGroup {
    pub(crate) replaced: Vec<i64>,
    pub(crate) segment: Segment,
}

/// The `.cleaned` output of a pass, waiting for `PartitionLog::replace_cleaned` (or
/// `discard`).
#[derive(Debug)]
pub struct CleanedLog {
    layout_version: u64,
    /// `(base, size)` of every replaced segment as planned.
    replaced: Vec<(i64, u64)>,
    groups: Vec<CleanedGroup>,
    end_offset: i64,
    stats: CleanerStats,
    latest_delete_horizon: Option<i64>,
}

impl CleanedLog {
    /// The new first dirty offset for `cleaner-offset-checkpoint`.
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    pub fn stats(&self) -> &CleanerStats {
        &self.stats
    }

    /// Latest delete horizon stamped on a batch that still holds tombstones: once it has
    /// passed, another pass removes them even if the log is not dirty (KIP-534).
    pub fn latest_delete_horizon(&self) -> Option<i64> {
        self.latest_delete_horizon
    }

    /// Deletes the `.cleaned` files (the log changed, or the caller gives up).
    pub fn discard(self) -> Result<()> {
        for g in self.groups {
            g.segment.delete_own_files()?;
        }
        Ok(())
    }

    pub(crate) fn layout_version(&self) -> u64 {
        self.layout_version
    }

    pub(crate) fn replaced(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.replaced.iter().copied()
    }

    pub(crate) fn into_groups(self) -> Vec<CleanedGroup> {
        self.groups
    }
}

/// A reusable cleaner: owns the key map so its memory is allocated once.
#[derive(Debug)]
pub struct Cleaner {
    map: OffsetMap,
    producer_last_offsets: BTreeMap<i64, i64>,
}

/// Result of `Cleaner::clean`.
#[derive(Debug)]
pub enum CleanOutcome {
    Cleaned(CleanedLog),
    /// `stop` was set; partial output was deleted.
    Stopped,
}

impl Cleaner {
    pub fn new(config: CleanerConfig) -> Self {
        let bytes = config.dedupe_buffer_bytes.max(DEDUPE_BUFFER_BYTES_MIN) as f64;
        Cleaner {
            map: OffsetMap::new((bytes * DEDUPE_LOAD_FACTOR) as usize),
            producer_last_offsets: BTreeMap::new(),
        }
    }

    /// Runs one pass of `plan`. Blocking I/O, seconds to minutes for a large log: call from a
    /// background thread without holding the log lock. Checks `stop` between batches.
    pub fn clean(
        &mut self,
        plan: &CleaningPlan,
        now_ms: i64,
        stop: &AtomicBool,
    ) -> Result<CleanOutcome> {
        self.map.clear();
        self.producer_last_offsets.clear();
        let mut stats = CleanerStats::default();
        self.scan_producers(plan)?;
        let Some(end_offset) = self.build_offset_map(plan, stop, &mut stats)? else {
            return Ok(CleanOutcome::Stopped);
        };
        stats.keys = self.map.len() as u64;
        let ctx = FilterContext {
            map: &self.map,
            end_offset,
            now_ms,
            delete_retention_ms: plan.delete_retention_ms,
            producer_last_offsets: &self.producer_last_offsets,
        };
        let mut totals = PassTotals {
            stats,
            ..PassTotals::default()
        };
        let mut out = CleanedLog {
            layout_version: plan.layout_version,
            replaced: Vec::new(),
            groups: Vec::new(),
            end_offset,
            stats: CleanerStats::default(),
            latest_delete_horizon: None,
        };
        let in_range: Vec<&SegmentSnapshot> = plan
            .segments
            .iter()
            .filter(|s| s.base_offset < end_offset)
            .collect();
        for group in group_by_size(&in_range, plan.segment_bytes) {
            match clean_group(plan, &ctx, &group, stop, &mut totals) {
                Ok(Some(g)) => out.groups.push(g),
                failed_or_stopped => {
                    if let Err(e) = out.discard() {
                        warn!(error = %e, "cannot delete the output of a cleaning pass");
                    }
                    return failed_or_stopped.map(|_| CleanOutcome::Stopped);
                }
            }
        }
        out.replaced = totals.replaced;
        out.stats = totals.stats;
        out.latest_delete_horizon = totals.latest_delete_horizon;
        Ok(CleanOutcome::Cleaned(out))
    }

    /// Producer id → last offset of its last batch in the planned segments (headers only).
    /// Kafka consults the producer state for active producers; keeping every producer's last
    /// batch in the range is a superset and needs nothing from the broker.
    fn scan_producers(&mut self, plan: &CleaningPlan) -> Result<()> {
        for seg in &plan.segments {
            let file = open(&seg.log_path)?;
            let mut scanner = HeaderScanner::new(&file, &seg.log_path, seg.size);
            let mut pos = 0;
            while let Some(b) = scanner.at(pos)? {
                if b.header.has_producer_id() {
                    let new = self
                        .producer_last_offsets
                        .insert(b.header.producer_id, b.last_offset())
                        .is_none();
                    if new {
                        self.map.charge(PRODUCER_ENTRY_BYTES);
                    }
                }
                pos = b.end();
            }
        }
        Ok(())
    }

    /// Kafka `buildOffsetMap`: maps keys of the dirty section until the map is full. Returns
    /// the offset up to which the map is complete (`None` if stopped).
    fn build_offset_map(
        &mut self,
        plan: &CleaningPlan,
        stop: &AtomicBool,
        stats: &mut CleanerStats,
    ) -> Result<Option<i64>> {
        let first_dirty = plan.first_dirty_offset;
        let mut mapped_to = first_dirty;
        for seg in plan
            .segments
            .iter()
            .filter(|s| s.next_base_offset > first_dirty)
        {
            let file = open(&seg.log_path)?;
            let mut reader = BatchReader::new(&file, &seg.log_path, seg.size);
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let Some((position, bytes)) = next_batch(&mut reader, &seg.log_path)? else {
                    break;
                };
                stats.map_bytes_read += bytes.len() as u64;
                let batch = checked_batch(&seg.log_path, position, bytes)?;
                let h = batch.header;
                if h.last_offset() < first_dirty {
                    continue;
                }
                if !h.is_control() {
                    // The first batch of a pass is mapped whole, so a pass always progresses.
                    let budget = if mapped_to == first_dirty {
                        OverBudget::Allow
                    } else {
                        OverBudget::Refuse
                    };
                    for record in batch.records() {
                        let r = record
                            .map_err(|e| Error::corrupt(&seg.log_path, position, e.to_string()))?;
                        let Some(key) = r.key() else { continue };
                        if r.offset() >= first_dirty
                            && self.map.put(key, r.offset(), budget) == Put::Full
                        {
                            return Ok(Some(mapped_to));
                        }
                    }
                }
                mapped_to = mapped_to.max(h.last_offset() + 1);
            }
            mapped_to = mapped_to.max(seg.next_base_offset);
        }
        Ok(Some(mapped_to))
    }
}

/// Kafka `groupSegmentsBySize`: consecutive segments whose total size fits `segment.bytes`
/// and whose offsets fit one segment's int32 relative offsets.
fn group_by_size<'a>(
    segments: &[&'a SegmentSnapshot],
    segment_bytes: u64,
) -> Vec<Vec<&'a SegmentSnapshot>> {
    let limit = segment_bytes.min(GROUP_BYTES_MAX);
    let mut groups: Vec<Vec<&SegmentSnapshot>> = Vec::new();
    let mut size = 0;
    for &seg in segments {
        let fits = groups.last().is_some_and(|g| {
            size + seg.size <= limit
                && seg.next_base_offset - 1 - g[0].base_offset <= i64::from(i32::MAX)
        });
        if fits {
            size += seg.size;
            if let Some(g) = groups.last_mut() {
                g.push(seg);
            }
        } else {
            size = seg.size;
            groups.push(vec![seg]);
        }
    }
    groups
}

/// What the groups of a pass add up to, besides their segments.
#[derive(Debug, Default)]
struct PassTotals {
    stats: CleanerStats,
    replaced: Vec<(i64, u64)>,
    latest_delete_horizon: Option<i64>,
}

/// Writes one group's survivors to `<first base>.log.cleaned` (Kafka `cleanSegments`).
/// `None` if stopped; on error or stop the partial output is deleted.
fn clean_group(
    plan: &CleaningPlan,
    ctx: &FilterContext<'_>,
    group: &[&SegmentSnapshot],
    stop: &AtomicBool,
    totals: &mut PassTotals,
) -> Result<Option<CleanedGroup>> {
    let mut segment = Segment::create_with_suffix(
        &plan.dir,
        group[0].base_offset,
        plan.segment_config,
        ctx.now_ms,
        CLEANED_FILE_SUFFIX,
    )?;
    match fill_group(plan, ctx, group, stop, totals, &mut segment) {
        Ok(true) => Ok(Some(CleanedGroup {
            replaced: group.iter().map(|s| s.base_offset).collect(),
            segment,
        })),
        Ok(false) => {
            segment.delete_own_files()?;
            Ok(None)
        }
        Err(e) => {
            if let Err(d) = segment.delete_own_files() {
                warn!(error = %d, "cannot delete the output of a failed cleaning pass");
            }
            Err(e)
        }
    }
}

fn fill_group(
    plan: &CleaningPlan,
    ctx: &FilterContext<'_>,
    group: &[&SegmentSnapshot],
    stop: &AtomicBool,
    totals: &mut PassTotals,
    cleaned: &mut Segment,
) -> Result<bool> {
    let chunk_bytes =
        (plan.segment_config.index_interval_bytes as usize).max(WRITE_CHUNK_BYTES_MIN);
    let stats = &mut totals.stats;
    let mut chunk = Chunk::default();
    for seg in group {
        totals.replaced.push((seg.base_offset, seg.size));
        stats.segments_read += 1;
        let file = open(&seg.log_path)?;
        let mut reader = BatchReader::new(&file, &seg.log_path, seg.size);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let Some((position, bytes)) = next_batch(&mut reader, &seg.log_path)? else {
                break;
            };
            stats.bytes_read += bytes.len() as u64;
            let batch = checked_batch(&seg.log_path, position, bytes)?;
            if batch.header.is_control() {
                // No transactions here: markers stay (Kafka removes them once the
                // transaction's data is gone and the delete horizon passed).
                chunk.push(&batch);
                continue;
            }
            let (filtered, counts) = filter_batch(ctx, &batch)
                .map_err(|reason| Error::corrupt(&seg.log_path, position, reason))?;
            stats.records_read += counts.records_read;
            stats.records_kept += counts.records_kept;
            if let Some(h) = counts.horizon_set {
                totals.latest_delete_horizon =
                    Some(totals.latest_delete_horizon.map_or(h, |l| l.max(h)));
            }
            match filtered {
                Filtered::Original => chunk.push(&batch),
                Filtered::Rewritten(b) => {
                    stats.batches_rewritten += 1;
                    chunk.push(&b);
                }
                Filtered::Dropped => stats.batches_dropped += 1,
            }
            if chunk.bytes.len() >= chunk_bytes {
                stats.bytes_written += chunk.write_to(cleaned)?;
            }
        }
    }
    stats.bytes_written += chunk.write_to(cleaned)?;
    cleaned.on_become_inactive()?;
    cleaned.flush()?;
    if let Some(last) = group.last() {
        cleaned.set_last_modified_ms(last.last_modified_ms)?;
    }
    stats.segments_written += 1;
    Ok(true)
}

/// Surviving batches waiting to be appended to the output segment.
#[derive(Debug, Default)]
struct Chunk {
    bytes: Vec<u8>,
    last_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
}

impl Chunk {
    fn push(&mut self, batch: &Batch) {
        let h = &batch.header;
        if self.bytes.is_empty() {
            self.max_timestamp = -1;
            self.offset_of_max_timestamp = -1;
        }
        self.bytes.extend_from_slice(&batch.bytes);
        self.last_offset = h.last_offset();
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
    }

    /// Appends the chunk (one index entry at most) and empties it. Returns the bytes written.
    fn write_to(&mut self, segment: &mut Segment) -> Result<u64> {
        if self.bytes.is_empty() {
            return Ok(0);
        }
        segment.append(
            &self.bytes,
            self.last_offset,
            self.max_timestamp,
            self.offset_of_max_timestamp,
        )?;
        let n = self.bytes.len() as u64;
        self.bytes.clear();
        Ok(n)
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).ctx(path)
}

/// The next whole batch of a segment being read, as `(position, bytes)`. A torn or corrupt
/// batch in a non-active segment is an error naming the file and position.
fn next_batch<'r>(reader: &'r mut BatchReader<'_>, path: &Path) -> Result<Option<(u64, &'r [u8])>> {
    match reader.next_batch()? {
        Next::End => Ok(None),
        Next::Batch { at, bytes } => Ok(Some((at.position, bytes))),
        Next::Torn { position, reason } | Next::Corrupt { position, reason } => {
            Err(Error::corrupt(path, position, reason))
        }
    }
}

/// The batch at `position`, its CRC checked: a key decoded from a damaged batch could drop
/// a live record of the same key.
fn checked_batch(path: &Path, position: u64, bytes: &[u8]) -> Result<Batch> {
    if !crc_matches(bytes) {
        return Err(Error::corrupt(path, position, "CRC32C mismatch"));
    }
    Batch::from_bytes(Bytes::copy_from_slice(bytes))
        .map_err(|e| Error::corrupt(path, position, e.to_string()))
}

#[cfg(test)]
mod tests;
