//! The replica manager: owns the partition logs this node hosts and runs every blocking log
//! operation on the blocking thread pool, never on the tokio workers that serve the network
//! (an append that only writes to the page cache is not blocking in that sense: see `append`).
//!
//! It follows the metadata image: `apply_image` opens a log for each partition assigned to
//! this node, applies topic config overrides, and deletes the logs of partitions that are
//! gone. With a single in-sync replica (this issue), the high watermark is the log end offset
//! after each append.

mod image_apply;
mod parallel;
mod producer_snapshots;
#[cfg(test)]
mod tests;
mod topic_config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use protocol::{records, ErrorCode, Uuid};
use storage::log::{FirstBatch, FlushJob, FlushOutcome, LogCheckpoints, PartitionLog};
use storage::segment::DeletedFiles;
use storage::{LogDir, TopicPartition};
use tokio::sync::{watch, Notify};

use super::producer_state::{ProducerBatch, ProducerExpiry, Verdict};
use parallel::{map_on_threads, Mapped};
use producer_snapshots::PartitionProducers;

pub(crate) use topic_config::{partition_config_from, PartitionConfig};

/// How often housekeeping runs (flush policy, retention, checkpoints are checked against
/// their own intervals on each run).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);
/// Kafka's `log.flush.offset.checkpoint.interval.ms` default.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Largest batch appended on the connection's task: copying a bigger one into the page cache
/// takes long enough (about a millisecond per MiB here) that holding a network thread for it
/// costs more than the hop to the blocking pool.
const INLINE_APPEND_BYTES_MAX: usize = 64 * 1024;

/// Milliseconds since the epoch: log timestamps and time-based roll and retention.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One hosted partition.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) topic_id: Uuid,
    leader_epoch: AtomicI32,
    /// `message.timestamp.type=LogAppendTime` (the topic config can change at runtime).
    log_append_time: AtomicBool,
    /// `cleanup.policy` includes `compact`: appends refuse batches with a keyless record.
    /// Set from the topic config whenever an image changes it, so an append reads a flag
    /// rather than the config.
    compacted: AtomicBool,
    /// Held briefly by page-cache appends on network tasks; rolls and the lookups of reads
    /// take it on blocking threads (a read's `pread` runs after releasing it). The periodic
    /// flush's fsyncs run without it (see `flush_if_due`); only an append reaching
    /// `flush.messages` fsyncs under it (that append waits for its fsync in any case).
    log: Mutex<PartitionLog>,
    /// Idempotent producers and their snapshots; locked only while holding `log`.
    producers: Mutex<PartitionProducers>,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
}

impl Partition {
    fn new(
        topic_id: Uuid,
        leader_epoch: i32,
        config: &PartitionConfig,
        log: PartitionLog,
        producers: PartitionProducers,
    ) -> Self {
        let end = log.log_end_offset();
        let start = log.log_start_offset();
        Self {
            topic_id,
            leader_epoch: AtomicI32::new(leader_epoch),
            log_append_time: AtomicBool::new(config.log_append_time),
            compacted: AtomicBool::new(config.log.cleanup_policy.compacts()),
            log: Mutex::new(log),
            producers: Mutex::new(producers),
            high_watermark: AtomicI64::new(end),
            log_start_offset: AtomicI64::new(start),
        }
    }

    pub(crate) fn log(&self) -> std::sync::MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    fn producers(&self) -> std::sync::MutexGuard<'_, PartitionProducers> {
        self.producers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows a change of the topic's config (the log's own settings are applied apart).
    fn set_config(&self, config: &PartitionConfig) {
        self.log_append_time
            .store(config.log_append_time, Ordering::Release);
        self.compacted
            .store(config.log.cleanup_policy.compacts(), Ordering::Release);
    }
}

/// Whether every record of a batch has a key, as validating it found. A compacted topic
/// refuses a batch with a keyless record (Kafka `LogValidator`: INVALID_RECORD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    All,
    Missing,
}

/// Result of appending one partition's batch.
#[derive(Debug)]
pub(crate) enum AppendOutcome {
    Appended {
        base_offset: i64,
        log_append_time: i64,
        log_start_offset: i64,
    },
    Failed {
        error: ErrorCode,
        message: Option<String>,
    },
}

/// One partition of a fetch.
#[derive(Debug, Clone)]
pub(crate) struct ReadRequest {
    pub(crate) tp: TopicPartition,
    pub(crate) fetch_offset: i64,
    pub(crate) max_bytes: usize,
    pub(crate) current_leader_epoch: i32,
}

/// Result of reading one partition.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    Read {
        records: Bytes,
        high_watermark: i64,
        log_start_offset: i64,
    },
    Failed {
        error: ErrorCode,
        high_watermark: i64,
        log_start_offset: i64,
    },
}

/// What ListOffsets asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OffsetQuery {
    Earliest,
    Latest,
    MaxTimestamp,
    Timestamp(i64),
}

/// All partitions of this node, in one log directory.
#[derive(Debug)]
pub(crate) struct ReplicaManager {
    node_id: i32,
    dir: LogDir,
    default_config: PartitionConfig,
    producer_expiry: ProducerExpiry,
    partitions: RwLock<BTreeMap<TopicPartition, Arc<Partition>>>,
    /// Logs found on disk at start-up, adopted by `apply_image` when the image assigns them.
    loaded: Mutex<BTreeMap<TopicPartition, PartitionLog>>,
    /// Partitions the image assigns here whose log could not be created or opened (a full
    /// disk, EMFILE, a permission error), with their topic id. Kafka marks such a replica's
    /// log directory offline: clients get KAFKA_STORAGE_ERROR for it and Metadata lists the
    /// replica as offline, instead of a success that every later request contradicts. The
    /// next image that touches the topic tries again.
    offline: RwLock<BTreeMap<TopicPartition, Uuid>>,
    /// Partitions the image removed while a request or the housekeeping run still held them:
    /// their logs are deleted by the next `maintain` that finds them unused (Kafka also
    /// removes a deleted log's files later, `LogManager.asyncDelete`).
    deleting: Mutex<Vec<Arc<Partition>>>,
    /// Woken on every append, for fetches waiting on `min_bytes`.
    appended: Notify,
}

impl ReplicaManager {
    /// Opens the log directory and loads (and, after a crash, recovers) every partition log in
    /// it. Blocking.
    pub(crate) fn open(
        node_id: i32,
        path: PathBuf,
        default_config: PartitionConfig,
        producer_expiry: ProducerExpiry,
    ) -> anyhow::Result<Self> {
        let dir = LogDir::open(&path)?;
        let mut loaded = BTreeMap::new();
        let now = now_ms();
        for (pd, log) in dir.load_logs(|_| default_config.log.clone(), now)? {
            match log {
                Ok(log) => {
                    loaded.insert(pd.topic_partition, log);
                }
                Err(e) => anyhow::bail!("cannot load partition log {}: {e}", pd.path.display()),
            }
        }
        tracing::info!(dir = %path.display(), partitions = loaded.len(), "loaded partition logs");
        Ok(Self {
            node_id,
            dir,
            default_config,
            producer_expiry,
            partitions: RwLock::new(BTreeMap::new()),
            loaded: Mutex::new(loaded),
            offline: RwLock::new(BTreeMap::new()),
            deleting: Mutex::new(Vec::new()),
            appended: Notify::new(),
        })
    }

    /// How this log dir was shut down last time (its `.kafka_cleanshutdown`, read at open).
    pub(crate) fn last_shutdown(&self) -> storage::log::Shutdown {
        self.dir.shutdown()
    }

    pub(crate) fn log_dir(&self) -> &Path {
        self.dir.path()
    }

    fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .cloned()
    }

    /// The error for a request on a partition this node does not host: KAFKA_STORAGE_ERROR
    /// when its log could not be created here (see `offline`), else NOT_LEADER_OR_FOLLOWER.
    fn not_hosted_error(&self, tp: &TopicPartition) -> ErrorCode {
        let offline = self.offline.read().unwrap_or_else(|e| e.into_inner());
        if offline.contains_key(tp) {
            ErrorCode::KAFKA_STORAGE_ERROR
        } else {
            ErrorCode::NOT_LEADER_OR_FOLLOWER
        }
    }

    /// Indexes of `topic`'s partitions whose log could not be created on this node.
    pub(crate) fn offline_partitions(&self, topic: &str) -> Vec<i32> {
        let offline = self.offline.read().unwrap_or_else(|e| e.into_inner());
        if offline.is_empty() {
            return Vec::new();
        }
        let range = TopicPartition::new(topic.to_string(), i32::MIN)
            ..=TopicPartition::new(topic.to_string(), i32::MAX);
        offline.range(range).map(|(tp, _)| tp.partition).collect()
    }

    /// Deletes the log of a partition the image removed, or, while someone else still holds
    /// the partition, renames its directory out of the way at once (a topic re-created under
    /// the same name needs it) and queues it for `maintain` to remove.
    fn delete_when_unused(&self, p: Arc<Partition>) {
        match Arc::try_unwrap(p) {
            Ok(p) => self.delete(p.log.into_inner().unwrap_or_else(|e| e.into_inner())),
            Err(p) => {
                let mut log = p.log();
                if let Err(e) = self.dir.mark_deleted(&mut log, rand::random()) {
                    let tp = log.topic_partition();
                    tracing::error!(%tp, "cannot rename the deleted partition's directory: {e}");
                }
                drop(log);
                self.deleting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p);
            }
        }
    }

    /// Deletes the queued logs nobody holds any more (`delete_when_unused`).
    fn delete_unused(&self) {
        let queued = std::mem::take(&mut *self.deleting.lock().unwrap_or_else(|e| e.into_inner()));
        for p in queued {
            self.delete_when_unused(p);
        }
    }

    fn delete(&self, log: PartitionLog) {
        let tp = log.topic_partition().clone();
        let unique: [u8; 16] = rand::random();
        match self.dir.delete_log(log, unique) {
            Ok(()) => tracing::info!(%tp, "deleted partition log"),
            Err(e) => tracing::error!(%tp, "cannot delete partition log: {e}"),
        }
    }

    /// Appends each `(partition, batch, keys)` and reports per batch, in order.
    ///
    /// An append that only writes to the page cache runs right here, on the connection's task:
    /// it is one `pwrite` under the partition's lock, as Kafka appends on its request threads,
    /// and a hop to the blocking pool would cost more than the write. From the first append
    /// that would roll a segment or fsync (`flush.messages`), the rest of the request goes to
    /// the blocking pool in one hop, so no network thread waits on the disk.
    pub(crate) async fn append(
        self: &Arc<Self>,
        batches: Vec<(TopicPartition, Bytes, Keys)>,
    ) -> Vec<AppendOutcome> {
        let now = now_ms();
        let mut outcomes = Vec::with_capacity(batches.len());
        let mut pending = batches
            .into_iter()
            .map(|(tp, b, keys)| (tp, owned_batch(b), keys));
        let mut blocked = None;
        for (tp, mut batch, keys) in pending.by_ref() {
            match self.append_one(&tp, &mut batch, keys, now, MayBlock::No) {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    blocked = Some((tp, batch, keys));
                    break;
                }
            }
        }
        if let Some(first) = blocked {
            let rest: Vec<(TopicPartition, BytesMut, Keys)> =
                std::iter::once(first).chain(pending).collect();
            let n = rest.len();
            let me = self.clone();
            let tail = tokio::task::spawn_blocking(move || {
                rest.into_iter()
                    .map(|(tp, mut batch, keys)| {
                        me.append_one(&tp, &mut batch, keys, now, MayBlock::Yes)
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .await
            .map_err(|e| tracing::error!("append task failed: {e}"))
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                (0..n)
                    .map(|_| AppendOutcome::Failed {
                        error: ErrorCode::UNKNOWN_SERVER_ERROR,
                        message: None,
                    })
                    .collect()
            });
            outcomes.extend(tail);
        }
        if !outcomes.is_empty() {
            self.appended.notify_waiters();
        }
        outcomes
    }

    /// Appends one batch, patched in place. With `MayBlock::No`, returns `None` without
    /// touching the log or the producer state when the append would roll or fsync.
    fn append_one(
        &self,
        tp: &TopicPartition,
        batch: &mut BytesMut,
        keys: Keys,
        now: i64,
        may_block: MayBlock,
    ) -> Option<AppendOutcome> {
        let Some(p) = self.get(tp) else {
            return Some(AppendOutcome::Failed {
                error: self.not_hosted_error(tp),
                message: None,
            });
        };
        // Kafka checks the key rule against the log's config when it validates an append
        // (`LogValidator`), before producer state: so do we, with the partition's flag.
        if keys == Keys::Missing && p.compacted.load(Ordering::Acquire) {
            return Some(AppendOutcome::Failed {
                error: ErrorCode::INVALID_RECORD,
                message: None,
            });
        }
        // LogAppendTime topics: the broker's clock stamps the batch (the CRC is recomputed,
        // `docs/formats.md` §7.6), and the producer is told that time. (Idempotent: a batch
        // deferred to the blocking pool is stamped again with the same `now`.)
        let log_append_time = if p.log_append_time.load(Ordering::Acquire) {
            if let Err(e) = records::set_log_append_time(batch, now) {
                return Some(AppendOutcome::Failed {
                    error: ErrorCode(e.error_code()),
                    message: Some(e.to_string()),
                });
            }
            now
        } else {
            -1
        };
        let producer = records::BatchHeader::parse(batch)
            .ok()
            .and_then(|h| ProducerBatch::from_header(&h));
        let mut log = p.log();
        if may_block == MayBlock::No
            && (batch.len() > INLINE_APPEND_BYTES_MAX
                || log.leader_append_may_block(batch, now).unwrap_or(true))
        {
            return None;
        }
        let mut producers = p.producers();
        if let Some(b) = &producer {
            match producers.check(b) {
                Ok(Verdict::Append) => {}
                // A retry of a batch already in the log: not appended again
                // (`docs/formats.md` §7.7).
                Ok(Verdict::Duplicate { first_offset, .. }) => {
                    return Some(AppendOutcome::Appended {
                        base_offset: first_offset,
                        log_append_time: -1,
                        log_start_offset: log.log_start_offset(),
                    })
                }
                Err(error) => {
                    return Some(AppendOutcome::Failed {
                        error,
                        message: None,
                    })
                }
            }
        }
        Some(match log.append_as_leader(batch, p.leader_epoch(), now) {
            Ok(info) => {
                producers.on_append(&log, producer.as_ref(), &info);
                p.high_watermark
                    .store(log.log_end_offset(), Ordering::Release);
                AppendOutcome::Appended {
                    base_offset: info.first_offset,
                    log_append_time,
                    log_start_offset: log.log_start_offset(),
                }
            }
            Err(e) => {
                tracing::error!(%tp, "append failed: {e}");
                AppendOutcome::Failed {
                    error: storage_error_code(&e),
                    message: Some(e.to_string()),
                }
            }
        })
    }

    /// Reads every partition; if fewer than `min_bytes` are available, waits for appends
    /// until `wait` has passed, then reads again.
    pub(crate) async fn read_with_wait(
        self: &Arc<Self>,
        reads: Vec<ReadRequest>,
        response_max_bytes: usize,
        min_bytes: usize,
        wait: Duration,
    ) -> Vec<ReadOutcome> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before reading, so an append between read and wait wakes us.
            let notified = self.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let outcomes = self.read(reads.clone(), response_max_bytes).await;
            let available: usize = outcomes
                .iter()
                .map(|o| match o {
                    ReadOutcome::Read { records, .. } => records.len(),
                    ReadOutcome::Failed { .. } => 0,
                })
                .sum();
            let failed = outcomes
                .iter()
                .any(|o| matches!(o, ReadOutcome::Failed { .. }));
            let now = Instant::now();
            if available >= min_bytes.max(1) || failed || now >= deadline || reads.is_empty() {
                return outcomes;
            }
            if tokio::time::timeout(deadline - now, notified)
                .await
                .is_err()
            {
                return self.read(reads, response_max_bytes).await;
            }
        }
    }

    async fn read(
        self: &Arc<Self>,
        reads: Vec<ReadRequest>,
        response_max_bytes: usize,
    ) -> Vec<ReadOutcome> {
        if reads.is_empty() {
            return Vec::new();
        }
        let me = self.clone();
        let n = reads.len();
        tokio::task::spawn_blocking(move || {
            let mut budget = response_max_bytes;
            let mut first = true;
            reads
                .iter()
                .map(|r| {
                    let out = me.read_one(r, budget, first);
                    if let ReadOutcome::Read { records, .. } = &out {
                        if !records.is_empty() {
                            first = false;
                        }
                        budget = budget.saturating_sub(records.len());
                    }
                    out
                })
                .collect()
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!("read task failed: {e}");
            (0..n)
                .map(|_| ReadOutcome::Failed {
                    error: ErrorCode::UNKNOWN_SERVER_ERROR,
                    high_watermark: -1,
                    log_start_offset: -1,
                })
                .collect()
        })
    }

    fn read_one(&self, r: &ReadRequest, budget: usize, first: bool) -> ReadOutcome {
        let Some(p) = self.get(&r.tp) else {
            return ReadOutcome::Failed {
                error: self.not_hosted_error(&r.tp),
                high_watermark: -1,
                log_start_offset: -1,
            };
        };
        let hw = p.high_watermark.load(Ordering::Acquire);
        let start = p.log_start_offset.load(Ordering::Acquire);
        let failed = |error: ErrorCode| ReadOutcome::Failed {
            error,
            high_watermark: hw,
            log_start_offset: start,
        };
        if let Err(e) = check_leader_epoch(r.current_leader_epoch, p.leader_epoch()) {
            return failed(e);
        }
        if r.fetch_offset < start || r.fetch_offset > hw {
            return failed(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        // Kafka returns at least one whole batch to the first partition with data, even when
        // it is larger than the limits, so a consumer can always make progress.
        let max = r.max_bytes.min(budget);
        let first_batch = if first {
            FirstBatch::AlwaysWhole
        } else {
            FirstBatch::WithinMaxBytes
        };
        if max == 0 && !first {
            return ReadOutcome::Read {
                records: Bytes::new(),
                high_watermark: hw,
                log_start_offset: start,
            };
        }
        // Only the lookup holds the log's lock; the `pread` runs after it is released, so an
        // append (inline on a network task) never waits for a fetch's read.
        let slice = p
            .log()
            .read_slice(r.fetch_offset, max as u64, hw, first_batch);
        match slice.and_then(|s| s.map_or_else(|| Ok(Bytes::new()), |s| s.read())) {
            Ok(records) => ReadOutcome::Read {
                records,
                high_watermark: hw,
                log_start_offset: start,
            },
            Err(storage::Error::OffsetOutOfRange { .. }) => failed(ErrorCode::OFFSET_OUT_OF_RANGE),
            Err(e) => {
                tracing::error!(tp = %r.tp, "read failed: {e}");
                failed(storage_error_code(&e))
            }
        }
    }

    /// ListOffsets for one partition: `(offset, timestamp, leader epoch)`, or `None` when no
    /// record matches (Kafka answers offset -1).
    pub(crate) async fn list_offset(
        self: &Arc<Self>,
        tp: TopicPartition,
        query: OffsetQuery,
    ) -> Result<Option<(i64, i64, i32)>, ErrorCode> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let p = me.get(&tp).ok_or_else(|| me.not_hosted_error(&tp))?;
            let hw = p.high_watermark.load(Ordering::Acquire);
            let log = p.log();
            let epoch_of = |offset: i64| log.epoch_for_offset(offset).unwrap_or(-1);
            let found = match query {
                OffsetQuery::Earliest => {
                    let o = log.log_start_offset();
                    Some((o, -1, epoch_of(o)))
                }
                OffsetQuery::Latest => Some((hw, -1, p.leader_epoch())),
                OffsetQuery::MaxTimestamp => log
                    .max_timestamp()
                    .map_err(|e| storage_error_code(&e))?
                    .map(|t| (t.offset, t.timestamp, epoch_of(t.offset))),
                OffsetQuery::Timestamp(ts) => log
                    .offset_for_timestamp(ts)
                    .map_err(|e| storage_error_code(&e))?
                    .filter(|t| t.offset < hw)
                    .map(|t| (t.offset, t.timestamp, epoch_of(t.offset))),
            };
            Ok(found)
        })
        .await
        .unwrap_or(Err(ErrorCode::UNKNOWN_SERVER_ERROR))
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)` of the largest epoch ≤ `epoch`.
    pub(crate) async fn end_offset_for_epoch(
        self: &Arc<Self>,
        tp: TopicPartition,
        epoch: i32,
        current_leader_epoch: i32,
    ) -> Result<(i32, i64), ErrorCode> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let p = me.get(&tp).ok_or_else(|| me.not_hosted_error(&tp))?;
            check_leader_epoch(current_leader_epoch, p.leader_epoch())?;
            let log = p.log();
            Ok(match log.end_offset_for_epoch(epoch) {
                Some(e) => (e.epoch, e.end_offset),
                None => (-1, -1),
            })
        })
        .await
        .unwrap_or(Err(ErrorCode::UNKNOWN_SERVER_ERROR))
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1 = the high watermark) and
    /// returns the new low watermark.
    pub(crate) async fn delete_records(
        self: &Arc<Self>,
        tp: TopicPartition,
        offset: i64,
    ) -> Result<i64, ErrorCode> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let p = me.get(&tp).ok_or_else(|| me.not_hosted_error(&tp))?;
            let hw = p.high_watermark.load(Ordering::Acquire);
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
            }
            let (start, deleted) = {
                let mut log = p.log();
                log.delete_records_before(target)
                    .map_err(|e| storage_error_code(&e))?
            };
            p.log_start_offset.store(start, Ordering::Release);
            // Unlinked without the log's lock (see `DeletedFiles`); a failure leaves
            // `*.deleted` files that the next start removes.
            if let Err(e) = deleted.remove() {
                tracing::warn!(%tp, "cannot delete the segments below the log start offset: {e}");
            }
            Ok(start)
        })
        .await
        .unwrap_or(Err(ErrorCode::UNKNOWN_SERVER_ERROR))
    }

    /// Size on disk of every hosted partition, for DescribeLogDirs.
    pub(crate) async fn partition_sizes(self: &Arc<Self>) -> Vec<(TopicPartition, u64)> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let partitions = me
                .partitions
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            partitions
                .iter()
                .map(|(tp, p)| (tp.clone(), p.log().size_in_bytes()))
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Every hosted partition, for the log cleaner (it checks each log's policy).
    pub(crate) fn hosted_partitions(&self) -> Vec<(TopicPartition, Arc<Partition>)> {
        let partitions = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        partitions
            .iter()
            .map(|(tp, p)| (tp.clone(), p.clone()))
            .collect()
    }

    pub(crate) fn dir(&self) -> &LogDir {
        &self.dir
    }

    /// Flush policy, retention and producer-state upkeep for every partition, and the
    /// deletions left for later. Blocking. The fsyncs (of rolled segments, of roll snapshots)
    /// and the unlinks of segments past retention run with the partition's log lock
    /// released, so appends and fetches do not wait for them.
    fn maintain(&self, retention_due: bool) {
        self.delete_unused();
        let now = now_ms();
        let partitions: Vec<(TopicPartition, Arc<Partition>)> = self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(tp, p)| (tp.clone(), p.clone()))
            .collect();
        for (tp, p) in partitions {
            flush_if_due(&tp, &p, now, FlushJob::run);
            let (deleted, unsynced) = {
                let mut log = p.log();
                let deleted = retention_due.then(|| {
                    let hw = p.high_watermark.load(Ordering::Acquire);
                    let deleted = log.apply_retention(now, hw);
                    p.log_start_offset
                        .store(log.log_start_offset(), Ordering::Release);
                    deleted
                });
                (deleted, p.producers().maintain(&log, now))
            };
            if let Some(deleted) = deleted {
                remove_past_retention(&tp, deleted);
            }
            unsynced.sync(&tp);
        }
    }

    fn checkpoints(&self) -> Vec<LogCheckpoints> {
        let partitions = self.partitions.read().unwrap_or_else(|e| e.into_inner());
        partitions.values().map(|p| p.log().checkpoints()).collect()
    }

    /// Flushes and closes every log, writes the checkpoints and the clean-shutdown marker so
    /// the next start skips recovery. Blocking. Logs are closed on up to 16 threads, as
    /// Kafka's `LogManager.shutdown` closes them on a pool of `num.recovery.threads.per.data.dir`
    /// threads: each close waits on fsyncs, and concurrent fsyncs overlap (1,000 partitions:
    /// 11–19 s on one thread, 0.4–0.6 s here). As in Kafka, the checkpoints and the marker
    /// are written only if every log closed, and the marker only if `others_clean` (the
    /// metadata log, when it shares this log dir, closed cleanly too).
    pub(crate) fn close(&self, others_clean: bool) -> anyhow::Result<()> {
        self.delete_unused();
        for p in std::mem::take(&mut *self.deleting.lock().unwrap_or_else(|e| e.into_inner())) {
            tracing::warn!(
                topic_id = %p.topic_id,
                "a deleted partition is still in use at shutdown; its log stays on disk"
            );
        }
        let partitions =
            std::mem::take(&mut *self.partitions.write().unwrap_or_else(|e| e.into_inner()));
        let leftovers = std::mem::take(&mut *self.loaded.lock().unwrap_or_else(|e| e.into_inner()));
        let closing: Vec<Closing> = partitions
            .into_iter()
            .map(|(tp, p)| Closing::Hosted(tp, p))
            .chain(
                leftovers
                    .into_values()
                    .map(|log| Closing::Loaded(Box::new(log))),
            )
            .collect();
        let Mapped::All(closed) = map_on_threads(closing, Closing::close) else {
            anyhow::bail!("a thread closing partition logs panicked; no clean shutdown recorded");
        };
        let mut checkpoints = Vec::with_capacity(closed.len());
        let mut failed = 0;
        for result in closed {
            match result {
                Ok(c) => checkpoints.push(c),
                Err(e) => {
                    tracing::error!("{e}");
                    failed += 1;
                }
            }
        }
        anyhow::ensure!(
            failed == 0,
            "{failed} partition logs failed to close; no clean shutdown recorded"
        );
        self.dir.write_checkpoints(&checkpoints)?;
        anyhow::ensure!(
            others_clean,
            "the metadata log did not close cleanly; no clean shutdown recorded"
        );
        self.dir.write_clean_shutdown(-1)?;
        Ok(())
    }
}

/// Kafka's scheduled flush without holding the log's lock across the fsyncs (Kafka
/// `UnifiedLog.flush`): the job is planned under `p`'s log lock, run by `run_job` after it is
/// released, so appends and fetches proceed meanwhile, and completed under the lock again.
/// `run_job` is `FlushJob::run`; tests pass one that appends before running it.
fn flush_if_due(
    tp: &TopicPartition,
    p: &Partition,
    now: i64,
    run_job: impl FnOnce(FlushJob) -> FlushOutcome,
) {
    let job = match p.log().plan_flush_if_due(now) {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(%tp, "flush failed: {e}");
            return;
        }
    };
    let outcome = run_job(job);
    if let Err(e) = p.log().complete_flush(outcome) {
        tracing::error!(%tp, "flush failed: {e}");
    }
}

/// Unlinks the segment files retention renamed to `*.deleted`, after the log's lock was
/// released, and logs the outcome (a failure leaves files that the next start removes).
fn remove_past_retention(tp: &TopicPartition, deleted: storage::Result<DeletedFiles>) {
    match deleted {
        Ok(files) if files.segments() == 0 => {}
        Ok(files) => {
            let segments = files.segments();
            match files.remove() {
                Ok(()) => tracing::info!(%tp, segments, "deleted segments past retention"),
                Err(e) => tracing::error!(%tp, "deleting segments past retention: {e}"),
            }
        }
        Err(e) => tracing::error!(%tp, "retention failed: {e}"),
    }
}

/// A log to close at shutdown.
#[derive(Debug)]
enum Closing {
    /// A hosted partition, with its producer state.
    Hosted(TopicPartition, Arc<Partition>),
    /// A log loaded at start-up that no image assigned.
    Loaded(Box<PartitionLog>),
}

impl Closing {
    /// Closes the log (final producer snapshot, trimmed indexes, everything fsynced) and
    /// returns its checkpoint values.
    fn close(self) -> anyhow::Result<LogCheckpoints> {
        let log = match self {
            Closing::Loaded(log) => *log,
            Closing::Hosted(tp, p) => match Arc::try_unwrap(p) {
                Ok(p) => {
                    let log = p.log.into_inner().unwrap_or_else(|e| e.into_inner());
                    let mut producers = p.producers.into_inner().unwrap_or_else(|e| e.into_inner());
                    producers.close(&log);
                    log
                }
                Err(p) => {
                    // Still referenced by an in-flight request: flush what we can.
                    let mut log = p.log();
                    p.producers().close(&log);
                    log.flush()
                        .map_err(|e| anyhow::anyhow!("cannot flush {tp}: {e}"))?;
                    tracing::warn!(%tp, "log still in use at shutdown; flushed, not closed");
                    return Ok(log.checkpoints());
                }
            },
        };
        let tp = log.topic_partition().clone();
        log.close()
            .map_err(|e| anyhow::anyhow!("cannot close {tp}: {e}"))
    }
}

/// Periodic log maintenance until shutdown: flush policy, retention (every
/// `retention_check_interval`, `log.retention.check.interval.ms`), recovery checkpoints.
pub(crate) async fn housekeeping(
    replicas: Arc<ReplicaManager>,
    retention_check_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_checkpoint = Instant::now();
    let mut last_retention = Instant::now();
    // The first run comes right after start-up, whose metadata replay freed most of what
    // it allocated; later ones return what bursts of traffic freed (`io::heap`).
    let mut first_run = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let retention_due = last_retention.elapsed() >= retention_check_interval;
        if retention_due {
            last_retention = Instant::now();
        }
        let checkpoint_due = last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL;
        if checkpoint_due {
            last_checkpoint = Instant::now();
        }
        let release_heap = std::mem::take(&mut first_run) || checkpoint_due;
        let r = replicas.clone();
        let _ = tokio::task::spawn_blocking(move || {
            r.maintain(retention_due);
            if checkpoint_due {
                if let Err(e) = r.dir.write_checkpoints(&r.checkpoints()) {
                    tracing::error!("writing recovery checkpoints failed: {e}");
                }
            }
            if release_heap {
                crate::io::heap::release_free_memory();
            }
        })
        .await;
    }
}

/// Whether an append may do blocking I/O (segment roll, fsync) on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MayBlock {
    No,
    Yes,
}

/// The batch as a buffer the append may patch in place (base offset, leader epoch). A
/// Produce request for one partition leaves its batch the only reference to the request
/// frame, which is then reused without a copy; a batch sharing its frame with other
/// partitions' batches is copied once.
fn owned_batch(bytes: Bytes) -> BytesMut {
    bytes
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

/// KIP-320: a request's `current_leader_epoch` (-1 = not checked) against ours.
fn check_leader_epoch(requested: i32, ours: i32) -> Result<(), ErrorCode> {
    if requested < 0 || requested == ours {
        Ok(())
    } else if requested < ours {
        Err(ErrorCode::FENCED_LEADER_EPOCH)
    } else {
        Err(ErrorCode::UNKNOWN_LEADER_EPOCH)
    }
}

/// The Kafka error a client sees for a storage failure.
fn storage_error_code(e: &storage::Error) -> ErrorCode {
    match e {
        storage::Error::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
        storage::Error::RecordTooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
        storage::Error::RecordSetTooLarge { .. } => ErrorCode::RECORD_LIST_TOO_LARGE,
        storage::Error::InvalidRecords { .. } => ErrorCode::CORRUPT_MESSAGE,
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    }
}
