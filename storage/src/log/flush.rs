//! Flushing a partition log in three steps, so that the fsyncs run without the caller's lock
//! on the log (Kafka `UnifiedLog.flush`: `localLog.flush(offset)` outside the lock, then
//! `lock synchronized { localLog.markFlushed(offset) }`). After a roll the fsync covers a
//! whole segment, up to 1 GiB: seconds that no append or fetch should wait for the lock.
//!
//! 1. Plan, under the lock ([`PartitionLog::plan_flush_if_due`]): which files to fsync, as
//!    handles of their own, and the offset that makes durable.
//! 2. Run, without the lock ([`FlushJob::run`]): the fsyncs.
//! 3. Complete, under the lock again ([`PartitionLog::complete_flush`]): the recovery point
//!    moves to the job's offset, unless the log was truncated or its segments deleted or
//!    replaced meanwhile (its layout version moved); what was fsynced counts as synced.
//!
//! [`PartitionLog::flush`] and `close` run the three steps at once, under one borrow: every
//! flush takes this path. Input: the log's segments; output: fsyncs and the recovery point.

use std::fs::File;
use std::path::PathBuf;

use tracing::{info, warn};

use super::PartitionLog;
use crate::error::{Error, IoContext, Result};
use crate::segment::{SegmentFile, SyncTarget};

/// Which segments a flush covers besides those holding unflushed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlushScope {
    /// Only the segments holding offsets from the recovery point up to the job's offset.
    Unflushed,
    /// Also every segment whose indexes this process changed (clean close: indexes rebuilt
    /// by recovery, or trimmed, below the recovery point).
    Close,
}

/// The fsyncs of one flush, planned under the log's lock, to run without it.
#[derive(Debug)]
#[must_use = "a planned flush does nothing until it is run and completed"]
pub struct FlushJob {
    /// Every offset below this is durable once the job succeeds.
    offset: i64,
    /// The log's layout version at the plan (see `PartitionLog::layout_version`).
    layout_version: u64,
    targets: Vec<SyncTarget>,
    /// The partition directory, opened at the plan when entries were created or deleted since
    /// its last fsync, with the directory version that fsync covers. An open handle keeps
    /// working if the directory is renamed meanwhile (topic deletion).
    dir: Option<(File, u64)>,
    dir_path: PathBuf,
    /// The `flush.ms` flush this job is, to restart that interval from.
    flush_ms_due_at: Option<i64>,
}

/// What a [`FlushJob`] achieved, for [`PartitionLog::complete_flush`].
#[derive(Debug)]
#[must_use = "a flush's outcome must be completed on the log"]
pub struct FlushOutcome {
    offset: i64,
    layout_version: u64,
    flush_ms_due_at: Option<i64>,
    synced: Vec<(i64, SegmentFile)>,
    dir_synced: Option<u64>,
    errors: Vec<Error>,
}

impl FlushJob {
    /// The offset the job makes durable: the recovery point after it completes.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Runs the fsyncs: every segment file, then the directory (Kafka `LocalLog.flush`).
    /// Blocking; touches nothing the log's lock guards. A failed fsync does not stop the
    /// others; the failures are reported by `complete_flush`.
    pub fn run(self) -> FlushOutcome {
        let mut synced = Vec::with_capacity(self.targets.len());
        let mut errors = Vec::new();
        for target in self.targets {
            match target.sync() {
                Ok(()) => synced.push((target.segment, target.file)),
                Err(e) => errors.push(e),
            }
        }
        let dir_synced = self.dir.and_then(|(dir, version)| {
            dir.sync_all()
                .ctx(&self.dir_path)
                .map_err(|e| errors.push(e))
                .ok()
                .map(|()| version)
        });
        FlushOutcome {
            offset: self.offset,
            layout_version: self.layout_version,
            flush_ms_due_at: self.flush_ms_due_at,
            synced,
            dir_synced,
            errors,
        }
    }
}

impl PartitionLog {
    /// The periodic flush (Kafka's scheduler), as a job to run outside the log's lock: up to
    /// the log end offset when `flush.messages` or `flush.ms` is due, else up to the active
    /// segment when segments were rolled since the last flush (Kafka `flushUptoOffsetExclusive`
    /// after a roll). `None` when nothing is due. Writes a pending `partition.metadata` first
    /// (a small atomic rewrite, once per partition).
    pub fn plan_flush_if_due(&mut self, now_ms: i64) -> Result<Option<FlushJob>> {
        self.flush_topic_id()?;
        let unflushed = self.unflushed_messages();
        let due = unflushed >= self.config.flush_interval_messages
            || (unflushed > 0 && now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms);
        if due {
            return self.plan_flush(self.log_end_offset, FlushScope::Unflushed, Some(now_ms));
        }
        let active_base = self.active().base_offset();
        if self.recovery_point < active_base {
            return self.plan_flush(active_base, FlushScope::Unflushed, None);
        }
        Ok(None)
    }

    /// The fsyncs that make every offset below `offset` durable: the `.log` and changed
    /// indexes of each segment from the one holding the recovery point up to `offset` (with
    /// `FlushScope::Close`, also of each segment whose indexes changed), and the directory if
    /// segment files were created or deleted. `None` if there is nothing to do.
    pub(super) fn plan_flush(
        &self,
        offset: i64,
        scope: FlushScope,
        flush_ms_due_at: Option<i64>,
    ) -> Result<Option<FlushJob>> {
        let from = if offset > self.recovery_point {
            self.segments
                .range(..=self.recovery_point)
                .next_back()
                .map_or(i64::MIN, |(b, _)| *b)
        } else {
            offset
        };
        let mut targets = Vec::new();
        for (&base, seg) in &self.segments {
            let unflushed = base >= from && base < offset;
            if unflushed || (scope == FlushScope::Close && seg.indexes_changed()) {
                seg.sync_targets(&mut targets)?;
            }
        }
        let dir = if self.dir_version != self.dir_synced_version {
            let dir = File::open(&self.dir).ctx(&self.dir)?;
            Some((dir, self.dir_version))
        } else {
            None
        };
        if targets.is_empty() && dir.is_none() {
            return Ok(None);
        }
        Ok(Some(FlushJob {
            offset,
            layout_version: self.layout_version,
            targets,
            dir,
            dir_path: self.dir.clone(),
            flush_ms_due_at,
        }))
    }

    /// Applies a job's outcome: each fsynced file counts as synced, and, if every fsync
    /// succeeded, the recovery point moves up to the job's offset. Returns whether it moved:
    /// not if the log was truncated or had segments deleted or replaced since the plan (an
    /// append after a truncation may sit below the job's offset unsynced, and a segment now
    /// at a planned base may be another one; the next flush covers them). The first failed
    /// fsync is the error (the others are logged); its file stays unsynced, so the next
    /// flush retries it.
    pub fn complete_flush(&mut self, outcome: FlushOutcome) -> Result<bool> {
        if let Some(version) = outcome.dir_synced {
            self.dir_synced_version = self.dir_synced_version.max(version);
        }
        let same_layout = outcome.layout_version == self.layout_version;
        if same_layout {
            for (base, file) in outcome.synced {
                if let Some(seg) = self.segments.get_mut(&base) {
                    seg.mark_synced(file);
                }
            }
        }
        let mut errors = outcome.errors.into_iter();
        if let Some(first) = errors.next() {
            for e in errors {
                warn!(dir = %self.dir.display(), "flush failed as well: {e}");
            }
            return Err(first);
        }
        if !same_layout {
            info!(
                dir = %self.dir.display(),
                offset = outcome.offset,
                "log truncated or segments deleted during a flush; recovery point kept"
            );
            return Ok(false);
        }
        assert!(
            outcome.offset <= self.log_end_offset,
            "flush to {} beyond the log end offset {} without a layout change",
            outcome.offset,
            self.log_end_offset
        );
        self.recovery_point = self.recovery_point.max(outcome.offset);
        if let Some(now_ms) = outcome.flush_ms_due_at {
            self.last_flush_ms = now_ms;
        }
        Ok(true)
    }

    /// Plans, runs and completes a flush under the caller's borrow (the append path's
    /// `flush.messages`, `flush`, `close`).
    pub(super) fn flush_to(&mut self, offset: i64, scope: FlushScope) -> Result<()> {
        if let Some(job) = self.plan_flush(offset, scope, None)? {
            self.complete_flush(job.run())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
