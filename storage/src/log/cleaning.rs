//! The log's side of compaction (Kafka `LogCleanerManager.cleanableOffsets`, `LogToClean`,
//! `LocalLog.replaceSegments`): how dirty a compacted log is, a snapshot of the segments a
//! cleaning pass may rewrite (read later without the log lock), and the short swap step that
//! puts the cleaned segments in place (`docs/formats.md` §2.3, §2.4).
//!
//! Input: the caller's `cleaner-offset-checkpoint` entry and high watermark, and a
//! `CleanedLog` produced by `crate::cleaner` from a plan made here.

use std::path::PathBuf;

use tracing::{info, warn};

use super::PartitionLog;
use crate::cleaner::{CleanedLog, CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX};
use crate::error::Result;
use crate::segment::SegmentConfig;
use crate::topic_partition::TopicPartition;

/// Where the dirty section of a compacted log lies and how big it is (Kafka `LogToClean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableRange {
    /// First offset not yet cleaned: the checkpointed value, or the log start offset when the
    /// checkpoint is missing or out of range.
    pub first_dirty_offset: i64,
    /// Base of the first segment that may not be cleaned: the active segment, the segment
    /// holding the high watermark, or the first dirty segment younger than
    /// `min.compaction.lag.ms`. Never below `first_dirty_offset`.
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments before the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments from the first dirty to the first uncleanable offset.
    pub cleanable_bytes: u64,
    /// A dirty segment's first batch is older than `max.compaction.lag.ms`: clean whatever
    /// the dirty ratio (Kafka `needCompactionNow`).
    pub max_lag_exceeded: bool,
}

impl CleanableRange {
    /// Kafka `cleanableRatio`: dirty bytes over all bytes up to the first uncleanable offset.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / total as f64
        }
    }
}

/// One segment as a cleaning pass reads it: its `.log` path and its size when planned.
/// Non-active segments never grow, so the size is all the pass needs to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentSnapshot {
    pub(crate) base_offset: i64,
    /// Base of the next segment: every offset of this one is below it.
    pub(crate) next_base_offset: i64,
    pub(crate) log_path: PathBuf,
    pub(crate) size: u64,
    pub(crate) last_modified_ms: i64,
}

/// What one cleaning pass may rewrite, taken under the log lock and used without it.
#[derive(Debug, Clone)]
pub struct CleaningPlan {
    pub(crate) dir: PathBuf,
    pub(crate) topic_partition: TopicPartition,
    /// Every segment from the first one up to the first uncleanable offset.
    pub(crate) segments: Vec<SegmentSnapshot>,
    pub(crate) first_dirty_offset: i64,
    pub(crate) first_uncleanable_offset: i64,
    pub(crate) segment_bytes: u64,
    pub(crate) segment_config: SegmentConfig,
    pub(crate) delete_retention_ms: i64,
    pub(crate) layout_version: u64,
}

impl CleaningPlan {
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
    }

    pub fn first_uncleanable_offset(&self) -> i64 {
        self.first_uncleanable_offset
    }
}

/// How far `replace_cleaned` gets; tests stop earlier to leave a crash's files behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SwapStep {
    /// Some (`n`) of the outputs renamed `.cleaned` → `.swap`, highest base first.
    RenamedToSwap(usize),
    /// Every output is `.swap` and the replaced segments are deleted.
    OldDeleted,
    /// The outputs are live segments.
    Done,
}

impl PartitionLog {
    /// Kafka `cleanableOffsets` and the byte counts of `LogToClean`. `checkpoint` is this
    /// log's `cleaner-offset-checkpoint` entry; nothing at or above `high_watermark` is
    /// cleanable (Kafka stops at the last stable offset; there are no transactions here).
    pub fn cleanable_range(
        &self,
        checkpoint: Option<i64>,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<CleanableRange> {
        let first_dirty = match checkpoint {
            Some(c) if c >= self.log_start_offset && c <= self.log_end_offset => c,
            Some(c) => {
                warn!(
                    tp = %self.topic_partition,
                    checkpoint = c,
                    log_start_offset = self.log_start_offset,
                    log_end_offset = self.log_end_offset,
                    "cleaner checkpoint is out of range; cleaning from the log start offset"
                );
                self.log_start_offset
            }
            None => self.log_start_offset,
        };
        let lag_ms = self.config.min_compaction_lag_ms;
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut first_uncleanable = *bases.last().expect("a log always has an active segment");
        for (i, (&base, seg)) in self.segments.iter().enumerate() {
            let Some(&next) = bases.get(i + 1) else {
                break; // the active segment
            };
            let dirty = next > first_dirty;
            let too_young =
                lag_ms > 0 && dirty && largest_timestamp(seg)? > now_ms.saturating_sub(lag_ms);
            if next > high_watermark || too_young {
                first_uncleanable = base;
                break;
            }
        }
        let first_uncleanable = first_uncleanable.max(first_dirty);
        let max_lag_exceeded = self.max_compaction_lag_exceeded(first_dirty, now_ms)?;
        let bytes_overlapping = |from: i64, to: i64| -> u64 {
            let mut total = 0;
            for (i, (&base, seg)) in self.segments.iter().enumerate() {
                let next = bases.get(i + 1).copied().unwrap_or(i64::MAX);
                if base < to && next > from {
                    total += seg.size();
                }
            }
            total
        };
        Ok(CleanableRange {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes: bytes_overlapping(i64::MIN, first_dirty),
            cleanable_bytes: if first_uncleanable > first_dirty {
                bytes_overlapping(first_dirty, first_uncleanable)
            } else {
                0
            },
            max_lag_exceeded,
        })
    }

    /// Kafka `maxCompactionDelay > 0`: the earliest first-batch timestamp of the dirty
    /// non-active segments is older than `now − max.compaction.lag.ms`. Reads one batch
    /// header per dirty segment, only when the lag is set.
    fn max_compaction_lag_exceeded(&self, first_dirty: i64, now_ms: i64) -> Result<bool> {
        let lag_ms = self.config.max_compaction_lag_ms;
        if lag_ms == i64::MAX {
            return Ok(false);
        }
        let clean_until = now_ms.saturating_sub(lag_ms);
        let active_base = self.active().base_offset();
        let from = self
            .segments
            .range(..=first_dirty)
            .next_back()
            .map_or(first_dirty, |(b, _)| *b);
        for seg in self.segments.range(from..active_base).map(|(_, s)| s) {
            if seg
                .first_batch_timestamp()?
                .is_some_and(|ts| ts > 0 && ts < clean_until)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The segments a pass over `range` reads: all from the first up to the first
    /// uncleanable offset (Kafka rewrites the clean section too, deduplicating it against
    /// the dirty one and dropping tombstones past their delete horizon, so a pass is useful
    /// even with nothing dirty). `None` if no segment lies below the first uncleanable offset.
    pub fn plan_cleaning(&self, range: &CleanableRange) -> Result<Option<CleaningPlan>> {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut segments = Vec::new();
        for (i, (&base, seg)) in self.segments.iter().enumerate() {
            if base >= range.first_uncleanable_offset {
                break;
            }
            let Some(&next) = bases.get(i + 1) else {
                break;
            };
            segments.push(SegmentSnapshot {
                base_offset: base,
                next_base_offset: next,
                log_path: seg.log_path().to_path_buf(),
                size: seg.size(),
                last_modified_ms: seg.last_modified_ms()?,
            });
        }
        if segments.is_empty() {
            return Ok(None);
        }
        Ok(Some(CleaningPlan {
            dir: self.dir.clone(),
            topic_partition: self.topic_partition.clone(),
            segments,
            first_dirty_offset: range.first_dirty_offset,
            first_uncleanable_offset: range.first_uncleanable_offset,
            segment_bytes: u64::from(self.config.segment_bytes),
            segment_config: self.config.segment_config(),
            delete_retention_ms: self.config.delete_retention_ms,
            layout_version: self.layout_version,
        }))
    }

    /// Puts a pass's output in place (Kafka `replaceSegments`), under the caller's log lock.
    /// Returns false, deleting the output, if the segments it replaces changed since the plan
    /// (retention, truncation, another pass): appends never wait for a pass, so the pass
    /// checks instead. Crash safety: outputs go `.cleaned` → `.swap` (highest first, so an
    /// interrupted rename leaves only what the loader discards), the old segments are
    /// deleted, then `.swap` → live; the loader completes or discards any prefix (§2.4).
    pub fn replace_cleaned(&mut self, cleaned: CleanedLog) -> Result<bool> {
        self.replace_cleaned_until(cleaned, SwapStep::Done)
    }

    pub(crate) fn replace_cleaned_until(
        &mut self,
        cleaned: CleanedLog,
        stop: SwapStep,
    ) -> Result<bool> {
        let unchanged = cleaned.layout_version() == self.layout_version
            && cleaned.replaced().all(|(base, size)| {
                self.segments.get(&base).is_some_and(|s| s.size() == size)
                    && self.segments.range(base + 1..).next().is_some()
            });
        if !unchanged {
            info!(tp = %self.topic_partition, "log changed during the cleaning pass; discarding it");
            cleaned.discard()?;
            return Ok(false);
        }
        let mut groups = cleaned.into_groups();
        for (n, group) in groups.iter_mut().rev().enumerate() {
            if stop == SwapStep::RenamedToSwap(n) {
                return Ok(true);
            }
            group
                .segment
                .change_file_suffixes(CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX)?;
        }
        self.sync_dir()?;
        self.layout_version += 1;
        for group in &groups {
            for base in &group.replaced {
                if let Some(old) = self.segments.remove(base) {
                    old.delete_replaced()?;
                }
            }
        }
        self.sync_dir()?;
        if stop == SwapStep::OldDeleted {
            return Ok(true);
        }
        for mut group in groups {
            group.segment.change_file_suffixes(SWAP_FILE_SUFFIX, "")?;
            self.segments
                .insert(group.segment.base_offset(), group.segment);
        }
        self.sync_dir()?;
        Ok(true)
    }
}

/// Kafka `LogSegment.largestTimestamp`: the largest batch timestamp, or the file's
/// modification time when no batch carries one.
fn largest_timestamp(seg: &crate::segment::Segment) -> Result<i64> {
    let ts = seg.max_timestamp_so_far()?.timestamp;
    if ts >= 0 {
        Ok(ts)
    } else {
        seg.last_modified_ms()
    }
}
