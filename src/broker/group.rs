//! The group coordinator's I/O side: owns the sans-I/O core (`group/coordinator.rs`) behind a
//! mutex, turns its delayed JoinGroup/SyncGroup answers into oneshot channels, appends the
//! records it asks for to `__consumer_offsets` in order (a writer task), ticks it with a timer
//! (sessions, rebalances, and offset retention every `offsets.retention.check.interval.ms`),
//! creates `__consumer_offsets` through the controller on first use, and follows the metadata
//! image (`group/follow.rs`): it loads groups and committed offsets from that topic's log
//! (`group/load.rs`, `group/offsets.rs`), removes the offsets of deleted topics, and unloads
//! when the offsets topic itself is deleted. The API handlers are in `group/handlers.rs`.
//!
//! This node is the coordinator of every group (single node). Until `__consumer_offsets` is
//! created and loaded, FindCoordinator answers COORDINATOR_NOT_AVAILABLE and the group APIs
//! COORDINATOR_LOAD_IN_PROGRESS.

pub(crate) mod coordinator;
mod follow;
mod handlers;
pub(crate) mod load;
pub(crate) use handlers::RequestClient;
pub(crate) mod offsets;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use protocol::messages::CreateTopicsRequest;
use protocol::ErrorCode;
use storage::TopicPartition;
use tokio::sync::{oneshot, watch, Notify};

use super::replica_manager::Keys;
use super::Broker;
use coordinator::{
    CommittedOffset, CoordinatorConfig, GroupCoordinator, JoinRequest, JoinResult, Millis, Reply,
    SyncResult, Token,
};
use offsets::OFFSETS_TOPIC;

/// How often the timer ticks the core (session expiry, rebalance deadlines).
const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// Bytes read per step while loading `__consumer_offsets`.
const LOAD_READ_BYTES_MAX: usize = 1 << 20;
/// How long FindCoordinator waits for the offsets topic to be created and loaded before it
/// answers COORDINATOR_NOT_AVAILABLE (the client then retries).
const FIND_COORDINATOR_WAIT: Duration = Duration::from_secs(5);

/// Settings for the offsets topic and the core.
#[derive(Debug, Clone)]
pub(crate) struct GroupSettings {
    pub(crate) core: CoordinatorConfig,
    /// `offsets.topic.num.partitions`.
    pub(crate) offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor`.
    pub(crate) offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes`.
    pub(crate) offsets_topic_segment_bytes: i32,
    /// `offsets.retention.check.interval.ms`.
    pub(crate) offsets_retention_check_interval: Duration,
}

#[derive(Debug)]
enum Waiter {
    Join(oneshot::Sender<JoinResult>),
    Sync(oneshot::Sender<SyncResult>),
}

#[derive(Debug)]
struct Inner {
    core: GroupCoordinator,
    waiters: BTreeMap<Token, Waiter>,
}

impl Inner {
    /// Sends every ready answer to its waiting request.
    fn deliver(&mut self) {
        for reply in self.core.take_replies() {
            match reply {
                Reply::Join(t, r) => {
                    if let Some(Waiter::Join(tx)) = self.waiters.remove(&t) {
                        let _ = tx.send(r);
                    }
                }
                Reply::Sync(t, r) => {
                    if let Some(Waiter::Sync(tx)) = self.waiters.remove(&t) {
                        let _ = tx.send(r);
                    }
                }
            }
        }
    }
}

/// The group coordinator shared by all connections.
#[derive(Debug)]
pub(crate) struct GroupCoordinatorHandle {
    settings: GroupSettings,
    /// Seeds the core's member-id generator (mixed with the unload count on `unload`).
    seed: u64,
    /// How often the offsets topic was deleted under the coordinator (`follow.rs`).
    unloads: AtomicU64,
    inner: Mutex<Inner>,
    /// Origin of the core's clock: wall-clock milliseconds at `started`, advanced by the
    /// monotonic clock (timers never jump; timestamps compare with persisted ones).
    started: Instant,
    started_wall_ms: Millis,
    /// Wakes the writer task when the core has records to append.
    write_wake: Notify,
    next_token: AtomicU64,
    /// Set once `__consumer_offsets` exists and every partition has been replayed.
    loaded: watch::Sender<bool>,
    creating: AtomicBool,
    /// Serialises writes to `__consumer_offsets` so that the in-memory state is applied in
    /// log order.
    write_lock: tokio::sync::Mutex<()>,
}

impl GroupCoordinatorHandle {
    pub(crate) fn new(settings: GroupSettings, seed: u64) -> Self {
        let core = GroupCoordinator::new(settings.core.clone(), seed);
        Self {
            settings,
            seed,
            unloads: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                core,
                waiters: BTreeMap::new(),
            }),
            started: Instant::now(),
            started_wall_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as Millis),
            write_wake: Notify::new(),
            next_token: AtomicU64::new(1),
            loaded: watch::channel(false).0,
            creating: AtomicBool::new(false),
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn now(&self) -> Millis {
        self.started_wall_ms + self.started.elapsed().as_millis() as Millis
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Runs `f` on the core with the current time, then delivers ready answers and wakes
    /// the writer if records are waiting.
    fn with_core<R>(&self, f: impl FnOnce(&mut GroupCoordinator, Millis) -> R) -> R {
        let now = self.now();
        let mut inner = self.lock();
        let r = f(&mut inner.core, now);
        self.after_core(&mut inner);
        r
    }

    fn after_core(&self, inner: &mut Inner) {
        inner.deliver();
        if inner.core.has_writes() {
            self.write_wake.notify_one();
        }
    }

    /// Reads the core without changing it.
    fn read_core<R>(&self, f: impl FnOnce(&GroupCoordinator) -> R) -> R {
        f(&self.lock().core)
    }

    async fn join(&self, req: JoinRequest) -> JoinResult {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let member_id = req.member_id.clone();
        let (tx, rx) = oneshot::channel();
        {
            let now = self.now();
            let mut inner = self.lock();
            inner.waiters.insert(token, Waiter::Join(tx));
            inner.core.join(now, token, req);
            self.after_core(&mut inner);
        }
        let _guard = DropWaiter {
            handle: self,
            token,
        };
        rx.await
            .unwrap_or_else(|_| JoinResult::error(ErrorCode::COORDINATOR_NOT_AVAILABLE, &member_id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let now = self.now();
            let mut inner = self.lock();
            inner.waiters.insert(token, Waiter::Sync(tx));
            inner.core.sync(
                now,
                token,
                group_id,
                generation,
                member_id,
                instance_id,
                protocol_type,
                protocol_name,
                assignments,
            );
            self.after_core(&mut inner);
        }
        let _guard = DropWaiter {
            handle: self,
            token,
        };
        rx.await.unwrap_or(SyncResult {
            error: ErrorCode::COORDINATOR_NOT_AVAILABLE,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        })
    }

    fn tick(&self) {
        // Sessions of loaded members start when the load is done (Kafka `onGroupLoaded`):
        // no expiry while the groups are still being replayed.
        if self.is_loaded() {
            self.with_core(|core, now| core.tick(now));
        }
    }
}

/// Forgets a waiter whose request went away (connection closed) before its answer.
struct DropWaiter<'a> {
    handle: &'a GroupCoordinatorHandle,
    token: Token,
}

impl Drop for DropWaiter<'_> {
    fn drop(&mut self) {
        self.handle.lock().waiters.remove(&self.token);
    }
}

/// Starts the coordinator's timer, writer and loader tasks; all stop on shutdown.
pub(crate) fn start(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let b = broker.clone();
    let mut sd = shutdown.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK_INTERVAL);
        let mut retention = tokio::time::interval_at(
            tokio::time::Instant::now() + b.groups.settings.offsets_retention_check_interval,
            b.groups.settings.offsets_retention_check_interval,
        );
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => b.groups.tick(),
                _ = retention.tick() => b.expire_offsets().await,
                _ = sd.changed() => return,
            }
        }
    });
    let b = broker.clone();
    let mut sd = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = b.groups.write_wake.notified() => b.flush_group_writes().await,
                _ = sd.changed() => return,
            }
        }
    });
    tokio::spawn(async move {
        tokio::select! {
            _ = follow::follow_metadata(&broker) => {}
            _ = shutdown.changed() => {}
        }
    });
}

impl Broker {
    /// Ready to coordinate: `Ok(partition count of __consumer_offsets)`, or the error a group
    /// API answers with.
    fn group_coordinator_ready(&self) -> Result<i32, ErrorCode> {
        let image = self.image();
        let Some(t) = image.topics.by_name(OFFSETS_TOPIC) else {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        };
        if !self.groups.is_loaded() {
            return Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
        }
        Ok(t.partitions.len() as i32)
    }

    /// FindCoordinator for groups: creates `__consumer_offsets` if needed and waits (bounded)
    /// for it to be loaded.
    async fn ensure_group_coordinator(&self) -> Result<(), ErrorCode> {
        if self.image().topics.by_name(OFFSETS_TOPIC).is_none()
            && !self.groups.creating.swap(true, Ordering::AcqRel)
        {
            let s = &self.groups.settings;
            let req = CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: OFFSETS_TOPIC.to_string(),
                    num_partitions: s.offsets_topic_partitions,
                    replication_factor: s.offsets_topic_replication_factor,
                    assignments: Vec::new(),
                    configs: vec![
                        config("cleanup.policy", "compact"),
                        config("compression.type", "producer"),
                        config("segment.bytes", &s.offsets_topic_segment_bytes.to_string()),
                    ],
                }],
                timeout_ms: 30_000,
                validate_only: false,
            };
            let resp = self.controller.call(req).await;
            self.groups.creating.store(false, Ordering::Release);
            for t in resp.topics {
                match ErrorCode(t.error_code) {
                    ErrorCode::NONE => tracing::info!("created {OFFSETS_TOPIC}"),
                    ErrorCode::TOPIC_ALREADY_EXISTS => {}
                    e => {
                        tracing::warn!(
                            "cannot create {OFFSETS_TOPIC}: {} {}",
                            e.name(),
                            t.error_message.unwrap_or_default()
                        );
                        return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
                    }
                }
            }
        }
        let mut loaded = self.groups.loaded.subscribe();
        let ok = matches!(
            tokio::time::timeout(FIND_COORDINATOR_WAIT, loaded.wait_for(|l| *l)).await,
            Ok(Ok(_))
        );
        if ok {
            Ok(())
        } else {
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        }
    }

    /// Appends records to the group's `__consumer_offsets` partition; the error is the
    /// append's own (see `commit_error`, `store_group_error`).
    async fn append_offsets_records(
        &self,
        group_id: &str,
        partitions: i32,
        records: &[(Bytes, Option<Bytes>)],
    ) -> Result<(), ErrorCode> {
        let tp = TopicPartition::new(OFFSETS_TOPIC, offsets::partition_for(group_id, partitions));
        let batch = offsets::build_batch(records, super::replica_manager::now_ms())
            .map_err(|_| ErrorCode::RECORD_LIST_TOO_LARGE)?;
        // Offset and group metadata records are always keyed (`__consumer_offsets` compacts).
        let outcome = self
            .replicas
            .append(vec![(tp.clone(), batch, Keys::All)])
            .await;
        match outcome.into_iter().next() {
            Some(super::replica_manager::AppendOutcome::Appended { .. }) => Ok(()),
            Some(super::replica_manager::AppendOutcome::Failed { error, message }) => {
                tracing::warn!(%tp, "offsets append failed: {} {}", error.name(), message.unwrap_or_default());
                Err(error)
            }
            None => Err(ErrorCode::UNKNOWN_SERVER_ERROR),
        }
    }

    /// Appends the records the core queued, in order, and reports each result back to it.
    /// Holding `write_lock` keeps them in order with commits and with each other.
    async fn flush_group_writes(&self) {
        let _write = self.groups.write_lock.lock().await;
        self.flush_group_writes_locked().await;
    }

    async fn flush_group_writes_locked(&self) {
        let Ok(partitions) = self.group_coordinator_ready() else {
            return;
        };
        loop {
            let writes = self.groups.lock().core.take_writes();
            if writes.is_empty() {
                return;
            }
            for w in writes {
                let records: Vec<_> = w.records.iter().map(offsets::encode_record).collect();
                let result = self
                    .append_offsets_records(&w.group_id, partitions, &records)
                    .await
                    .map_err(store_group_error);
                self.groups
                    .with_core(|core, now| core.write_done(now, &w.group_id, w.then, result));
            }
        }
    }

    /// Offset retention (Kafka `cleanupGroupMetadata`), with no commit in flight.
    async fn expire_offsets(&self) {
        if self.group_coordinator_ready().is_err() {
            return;
        }
        let _write = self.groups.write_lock.lock().await;
        let started = Instant::now();
        let expired = self.groups.with_core(|core, now| core.expire_offsets(now));
        self.flush_group_writes_locked().await;
        if expired > 0 {
            tracing::info!(
                "removed {expired} expired offsets in {} ms",
                started.elapsed().as_millis()
            );
        }
    }
}

/// Kafka `storeOffsets`: the error a committer sees for a failed append.
fn commit_error(append: ErrorCode) -> ErrorCode {
    match append {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::NOT_ENOUGH_REPLICAS
        | ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | ErrorCode::REQUEST_TIMED_OUT => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::KAFKA_STORAGE_ERROR => {
            ErrorCode::NOT_COORDINATOR
        }
        ErrorCode::MESSAGE_TOO_LARGE
        | ErrorCode::RECORD_LIST_TOO_LARGE
        | ErrorCode::INVALID_FETCH_SIZE => ErrorCode::INVALID_COMMIT_OFFSET_SIZE,
        other => other,
    }
}

/// Kafka `storeGroup`: the error a SyncGroup sees for a failed group metadata append.
fn store_group_error(append: ErrorCode) -> ErrorCode {
    match append {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::NOT_ENOUGH_REPLICAS
        | ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::KAFKA_STORAGE_ERROR => {
            ErrorCode::NOT_COORDINATOR
        }
        ErrorCode::REQUEST_TIMED_OUT => ErrorCode::REBALANCE_IN_PROGRESS,
        ErrorCode::MESSAGE_TOO_LARGE
        | ErrorCode::RECORD_LIST_TOO_LARGE
        | ErrorCode::INVALID_FETCH_SIZE => ErrorCode::UNKNOWN_SERVER_ERROR,
        other => other,
    }
}

fn config(name: &str, value: &str) -> CreatableTopicConfig {
    CreatableTopicConfig {
        name: name.to_string(),
        value: Some(value.to_string()),
    }
}

/// A committed offset to be written.
pub(crate) type PendingCommit = (String, i32, CommittedOffset);
