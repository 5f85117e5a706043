//! The log cleaner's driver (Kafka `LogCleaner` + `LogCleanerManager`, one cleaner thread):
//! every `log.cleaner.backoff.ms` it picks the dirtiest hosted log whose `cleanup.policy`
//! includes `compact`, runs one `storage::Cleaner` pass on its own thread without holding the
//! partition's log lock, swaps the output in under the lock, and records the new first dirty
//! offset in `cleaner-offset-checkpoint`.
//!
//! Input: the replica manager's partitions and the server config. Work per pass is bounded by
//! one partition and the dedupe buffer (a full key map cleans part of the log; the next pass
//! resumes from the checkpoint). `log.cleaner.io.max.bytes.per.second` is not honoured: a pass
//! reads and writes at disk speed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use storage::{CleanOutcome, Cleaner, CleanerConfig, TopicPartition};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::replica_manager::{now_ms, Partition, ReplicaManager};
use crate::config::ServerConfig;

/// The broker-wide cleaner settings (`log.cleaner.*`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanerSettings {
    /// `log.cleaner.enable`.
    pub(crate) enable: bool,
    /// `log.cleaner.backoff.ms`: sleep between passes.
    pub(crate) backoff: Duration,
    /// `log.cleaner.dedupe.buffer.size`.
    pub(crate) dedupe_buffer_bytes: u64,
}

pub(crate) fn settings_from(c: &ServerConfig) -> CleanerSettings {
    CleanerSettings {
        enable: c.log_cleaner_enable,
        backoff: Duration::from_millis(c.log_cleaner_backoff_ms.max(0) as u64),
        dedupe_buffer_bytes: c.log_cleaner_dedupe_buffer_size.max(0) as u64,
    }
}

/// Starts the cleaner thread; the returned task ends once the thread has stopped after
/// `shutdown` (a pass in progress is abandoned between batches, its output deleted).
pub(crate) fn start(
    replicas: Arc<ReplicaManager>,
    settings: CleanerSettings,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !settings.enable {
            tracing::info!("log cleaner disabled (log.cleaner.enable=false)");
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (wake_tx, wake_rx) = mpsc::channel::<()>();
        let driver = Driver::new(replicas, settings, stop.clone());
        let thread = std::thread::Builder::new()
            .name("log-cleaner".into())
            .spawn(move || driver.run(&wake_rx));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot start the log cleaner thread: {e}");
                return;
            }
        };
        let _ = shutdown.wait_for(|stopping| *stopping).await;
        stop.store(true, Ordering::Relaxed);
        drop(wake_tx);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    })
}

/// The chosen log of a pass.
#[derive(Debug)]
struct Candidate {
    tp: TopicPartition,
    partition: Arc<Partition>,
    /// Dirty ratio, or 0 when only an expired delete horizon makes it worth cleaning.
    score: f64,
}

#[derive(Debug)]
struct Driver {
    replicas: Arc<ReplicaManager>,
    settings: CleanerSettings,
    stop: Arc<AtomicBool>,
    cleaner: Cleaner,
    /// `cleaner-offset-checkpoint`: first dirty offset per log.
    first_dirty: BTreeMap<TopicPartition, i64>,
    /// Latest delete horizon of tombstones a pass kept (Kafka `latestDeleteHorizon`): once it
    /// passes, the log is cleaned again even if it is not dirty.
    delete_horizons: BTreeMap<TopicPartition, i64>,
    /// Logs whose pass failed (a corrupt segment): skipped until restart, as Kafka marks
    /// them uncleanable.
    uncleanable: BTreeSet<TopicPartition>,
}

impl Driver {
    fn new(
        replicas: Arc<ReplicaManager>,
        settings: CleanerSettings,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let first_dirty = replicas.dir().read_cleaner_offsets().unwrap_or_else(|e| {
            tracing::warn!("cannot read the cleaner checkpoint, cleaning from the start: {e}");
            BTreeMap::new()
        });
        // Kafka creates the file at start-up.
        if let Err(e) = replicas.dir().write_cleaner_offsets(&first_dirty) {
            tracing::error!("cannot write the cleaner checkpoint: {e}");
        }
        Driver {
            replicas,
            settings,
            stop,
            cleaner: Cleaner::new(CleanerConfig {
                dedupe_buffer_bytes: settings.dedupe_buffer_bytes,
            }),
            first_dirty,
            delete_horizons: BTreeMap::new(),
            uncleanable: BTreeSet::new(),
        }
    }

    fn run(mut self, wake: &mpsc::Receiver<()>) {
        tracing::info!(
            backoff_ms = self.settings.backoff.as_millis() as u64,
            "log cleaner started"
        );
        // Nothing is ever sent: the channel only disconnects, at shutdown.
        while let Err(RecvTimeoutError::Timeout) = wake.recv_timeout(self.settings.backoff) {
            // Clean logs back to back while there is work, as Kafka's cleaner thread does.
            while !self.stop.load(Ordering::Relaxed) && self.clean_dirtiest() {}
        }
        tracing::info!("log cleaner stopped");
    }

    /// Kafka `grabFilthiestCompactedLog`: the compacted log with the highest dirty ratio
    /// among those above their `min.cleanable.dirty.ratio` or past `max.compaction.lag.ms`,
    /// else one whose delete horizon has passed.
    fn dirtiest(&self, now: i64) -> Option<Candidate> {
        let mut best: Option<Candidate> = None;
        for (tp, partition) in self.replicas.hosted_partitions() {
            if self.uncleanable.contains(&tp) {
                continue;
            }
            let log = partition.log();
            if !log.config().cleanup_policy.compacts() {
                continue;
            }
            let range = log.cleanable_range(
                self.first_dirty.get(&tp).copied(),
                partition.high_watermark(),
                now,
            );
            let range = match range {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(%tp, "cannot size the dirty section: {e}");
                    continue;
                }
            };
            let ratio = range.dirty_ratio();
            let dirty = range.cleanable_bytes > 0
                && (range.max_lag_exceeded || ratio > log.config().min_cleanable_dirty_ratio);
            let horizon_due = self.delete_horizons.get(&tp).is_some_and(|&h| h <= now);
            drop(log);
            let score = match (dirty, horizon_due) {
                (true, _) => ratio,
                (false, true) => 0.0,
                (false, false) => continue,
            };
            if best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(Candidate {
                    tp,
                    partition,
                    score,
                });
            }
        }
        best
    }

    /// One pass over the dirtiest log. Returns whether it cleaned something.
    fn clean_dirtiest(&mut self) -> bool {
        let now = now_ms();
        let Some(Candidate { tp, partition, .. }) = self.dirtiest(now) else {
            return false;
        };
        let plan = {
            let log = partition.log();
            log.cleanable_range(
                self.first_dirty.get(&tp).copied(),
                partition.high_watermark(),
                now,
            )
            .and_then(|range| log.plan_cleaning(&range))
        };
        let plan = match plan {
            Ok(Some(plan)) => plan,
            Ok(None) => {
                self.delete_horizons.remove(&tp);
                return false;
            }
            Err(e) => {
                tracing::warn!(%tp, "cannot plan cleaning: {e}");
                self.uncleanable.insert(tp);
                return false;
            }
        };
        // Hold no strong reference while the pass runs: deleting the topic must not wait.
        let weak: Weak<Partition> = Arc::downgrade(&partition);
        drop(partition);
        let started = Instant::now();
        let outcome = self.cleaner.clean(&plan, now, &self.stop);
        let partition = weak.upgrade();
        let cleaned = match (outcome, &partition) {
            (Ok(CleanOutcome::Cleaned(c)), Some(_)) => c,
            (Ok(CleanOutcome::Cleaned(c)), None) => {
                let _ = c.discard();
                return false;
            }
            (Ok(CleanOutcome::Stopped), _) | (Err(_), None) => return false,
            (Err(e), Some(_)) => {
                tracing::error!(%tp, "log cleaning failed; the log is not cleaned again until restart: {e}");
                self.uncleanable.insert(tp);
                return false;
            }
        };
        let Some(partition) = partition else {
            return false;
        };
        let end_offset = cleaned.end_offset();
        let stats = *cleaned.stats();
        let horizon = cleaned.latest_delete_horizon();
        let swapped = partition.log().replace_cleaned(cleaned);
        match swapped {
            Ok(true) => {}
            // The log changed under the pass; the next backoff tries again.
            Ok(false) => return false,
            Err(e) => {
                tracing::error!(%tp, "cannot swap in cleaned segments: {e}");
                self.uncleanable.insert(tp);
                return false;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            %tp,
            first_dirty_offset = plan.first_dirty_offset(),
            end_offset,
            segments_read = stats.segments_read,
            segments_written = stats.segments_written,
            bytes_read = stats.bytes_read,
            bytes_written = stats.bytes_written,
            records_read = stats.records_read,
            records_kept = stats.records_kept,
            keys = stats.keys,
            seconds = secs,
            mb_per_s = (stats.bytes_read + stats.map_bytes_read) as f64 / 1e6 / secs.max(1e-9),
            "cleaned log"
        );
        match horizon {
            Some(h) => self.delete_horizons.insert(tp.clone(), h),
            None => self.delete_horizons.remove(&tp),
        };
        self.first_dirty.insert(tp, end_offset);
        self.write_checkpoint();
        true
    }

    /// Rewrites `cleaner-offset-checkpoint`, dropping logs this node no longer hosts.
    fn write_checkpoint(&mut self) {
        let hosted: BTreeSet<TopicPartition> = self
            .replicas
            .hosted_partitions()
            .into_iter()
            .map(|(tp, _)| tp)
            .collect();
        self.first_dirty.retain(|tp, _| hosted.contains(tp));
        if let Err(e) = self.replicas.dir().write_cleaner_offsets(&self.first_dirty) {
            tracing::error!("cannot write the cleaner checkpoint: {e}");
        }
    }
}
