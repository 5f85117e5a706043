//! The metadata thread: runs the Raft core (`kraft::raft`) and the quorum controller
//! (`kraft::controller`) over the `__cluster_metadata-0` log, executing their actions for
//! real: fsynced appends, the `quorum-state` file, and publishing each committed
//! `MetadataImage` to the broker.
//!
//! One plain thread owns everything here, so the cores need no locks. Controller requests
//! arrive on a channel; every request drained in one round is proposed, then the log is
//! fsynced once (group commit), and only then are the requests answered: nothing is
//! acknowledged before it is durable.
//!
//! Start-up loads the latest metadata snapshot and replays the log from its end; after a
//! committed round the thread takes a snapshot when `SnapshotSchedule` says so, then applies
//! metadata log retention ([`snapshots`]).

mod snapshots;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use kraft::controller::{
    features, ControllerConfig, ControllerResult, QuorumController, TopicDefaults,
};
use kraft::raft::{
    Action, DurableState, ElectionState, Epoch, EpochStarts, Input, Millis, NodeId, Offset,
    QuorumStateVersion, RaftConfig, RaftCore, RaftError,
};
use metadata::snapshot::schedule::{Generator, ScheduleConfig, SnapshotSchedule};
use metadata::{DecodedBatch, MetadataImage, MetadataRecord, MetadataVersion, Provenance};
use protocol::messages::broker_heartbeat_request::BrokerHeartbeatRequest;
use protocol::messages::broker_registration_request::{
    BrokerRegistrationRequest, Feature, Listener,
};
use protocol::{ErrorCode, Uuid};
use storage::log::{FirstBatch, LoadOptions, LogConfig, PartitionLog, Shutdown};
use storage::metadata_snapshot::retention::RetentionConfig;
use tokio::sync::{mpsc, oneshot, watch};

use super::controller_client::{
    ControllerCall, ControllerClient, ControllerRequest, CONTROLLER_QUEUE_MAX,
};
use crate::broker::replica_manager::now_ms;
use crate::config::ServerConfig;

/// `__cluster_metadata`'s fixed topic id (`docs/formats.md` §11.1).
const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/// Largest read while replaying the log at start-up (Kafka's Raft fetch limit).
const REPLAY_READ_BYTES: u64 = 8 * 1024 * 1024;
/// How often metadata retention runs besides after each snapshot (Kafka's
/// `KafkaMetadataLog.maybeClean` schedule).
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Requests handled per group commit round.
const ROUND_REQUESTS_MAX: usize = 256;

/// The running metadata thread.
#[derive(Debug)]
pub(crate) struct QuorumHandle {
    /// The latest committed metadata image.
    pub(crate) image: watch::Receiver<Arc<MetadataImage>>,
    pub(crate) client: ControllerClient,
    stop: mpsc::Sender<ControllerRequest>,
    /// Returns whether the metadata log was closed cleanly.
    thread: std::thread::JoinHandle<bool>,
    /// Fires with the reason if the metadata thread fails; the server then shuts down, as
    /// Kafka exits when its metadata log cannot be written.
    pub(crate) failed: Option<oneshot::Receiver<String>>,
}

impl QuorumHandle {
    /// Stops the thread after the requests already queued; true when the metadata log was
    /// closed cleanly (and, in its own dir, marked so).
    pub(crate) async fn stop(self) -> bool {
        let _ = self.stop.send(ControllerRequest::Shutdown).await;
        let thread = self.thread;
        matches!(
            tokio::task::spawn_blocking(move || thread.join()).await,
            Ok(Ok(true))
        )
    }
}

/// Who keeps the clean-shutdown marker (`.kafka_cleanshutdown`, `docs/formats.md` §4) of the
/// metadata log's dir. After a clean shutdown the metadata log is opened without recovery,
/// as data logs are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MetadataDirMarker {
    /// The dir is the broker's log dir too: the replica manager read (and removed) the
    /// marker, found this, and writes it at shutdown once the metadata log has closed.
    Shared(Shutdown),
    /// `metadata.log.dir` is a dir of its own: the metadata thread reads, removes and
    /// writes its marker.
    Own,
}

/// Loads the metadata log, becomes leader of the single-voter quorum, bootstraps a fresh
/// cluster, registers this node as a broker, and starts serving controller requests.
pub(crate) async fn start(
    config: &ServerConfig,
    cluster_id: &str,
    marker: MetadataDirMarker,
) -> anyhow::Result<QuorumHandle> {
    let node_id = config.node_id;
    let config = config.clone();
    let cluster_id = cluster_id.to_string();
    let mut quorum =
        tokio::task::spawn_blocking(move || Quorum::load(&config, &cluster_id, marker)).await??;
    let (image_tx, image_rx) = watch::channel(Arc::new(quorum.controller.image().clone()));
    let (tx, rx) = mpsc::channel(CONTROLLER_QUEUE_MAX);
    let (failed_tx, failed_rx) = oneshot::channel();
    quorum.image_tx = Some(image_tx);
    let thread = std::thread::Builder::new()
        .name("kraftbridge-metadata".into())
        .spawn(move || {
            if let Err(e) = quorum.run(rx) {
                let _ = failed_tx.send(format!("{e:#}"));
                return false;
            }
            match quorum.close(marker) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!("the metadata log did not close cleanly: {e:#}");
                    false
                }
            }
        })
        .context("cannot start the metadata thread")?;
    tokio::spawn(housekeeping_timer(tx.clone()));
    let handle = QuorumHandle {
        image: image_rx,
        client: ControllerClient::new(tx.clone()),
        stop: tx,
        thread,
        failed: Some(failed_rx),
    };
    // Wait until this node is registered, so the first Metadata response lists it.
    let mut image = handle.image.clone();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !image
            .borrow_and_update()
            .cluster
            .brokers
            .contains_key(&node_id)
        {
            if image.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    Ok(handle)
}

struct Quorum {
    node_id: i32,
    cluster_id: String,
    dir: PathBuf,
    log: PartitionLog,
    raft: RaftCore,
    controller: QuorumController,
    /// The requests proposed in this round, answered once the round is durable.
    replies: Vec<Box<dyn FnOnce() + Send>>,
    registration: BrokerRegistrationRequest,
    image_tx: Option<watch::Sender<Arc<MetadataImage>>>,
    started: Instant,
    /// Wall-clock milliseconds at `started`: the Raft core's clock is this plus the monotonic
    /// time since, so batches carry wall-clock append times (as Kafka's do) while timers
    /// never see the wall clock step back.
    started_wall_ms: i64,
    schedule: SnapshotSchedule,
    retention: RetentionConfig,
    /// Bytes appended since the last committed round, for the snapshot schedule.
    round_bytes: u64,
    /// The generation of the last `Truncate` executed, for `Persisted` reports.
    generation: u64,
}

impl Quorum {
    fn load(
        config: &ServerConfig,
        cluster_id: &str,
        marker: MetadataDirMarker,
    ) -> anyhow::Result<Quorum> {
        let dir = config.metadata_log_dir.join("__cluster_metadata-0");
        let log_config = LogConfig {
            segment_bytes: config.metadata_log_segment_bytes.max(14) as u32,
            segment_ms: config.metadata_log_segment_ms,
            // Metadata retention goes by snapshots (`snapshots::apply_retention`), never by
            // the data-log rules.
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let now = now_ms();
        let shutdown = match marker {
            MetadataDirMarker::Shared(shutdown) => shutdown,
            MetadataDirMarker::Own => {
                let log_dir = &config.metadata_log_dir;
                let found = storage::clean_shutdown::read(log_dir)?;
                storage::clean_shutdown::remove(log_dir)?;
                if found.is_some() {
                    Shutdown::Clean
                } else {
                    Shutdown::Unclean
                }
            }
        };
        let mut log = open_log(&dir, log_config, shutdown, now)
            .with_context(|| format!("cannot open the metadata log {}", dir.display()))?;
        let seed = u64::from_le_bytes(rand::random::<[u8; 8]>());
        let controller_config = ControllerConfig {
            node_id: config.node_id,
            cluster_id: cluster_id.to_string(),
            topic_defaults: TopicDefaults {
                num_partitions: config.num_partitions,
                replication_factor: config.default_replication_factor as i16,
                static_broker_configs: config
                    .broker_config_entries()
                    .into_iter()
                    .filter(|(_, e)| !e.is_default)
                    .filter_map(|(k, e)| Some((k.to_string(), e.value?)))
                    .collect(),
            },
            zk_migration_enabled: false,
            broker_session_timeout_ms: i64::from(config.broker_session_timeout_ms),
        };
        let (mut controller, replay_from) = match snapshots::load_latest(&dir, &mut log, now)? {
            Some(image) => {
                let from = image.provenance.last_contained_offset + 1;
                (
                    QuorumController::from_image(seed, controller_config, image),
                    from,
                )
            }
            None => (
                QuorumController::with_config(seed, controller_config),
                log.log_start_offset(),
            ),
        };
        let epoch_starts = replay_log(&log, replay_from, &mut controller)?;
        let election = read_quorum_state(&dir)?;
        // The recovered log counts as durable only once fsynced (a crash may have left
        // written but unsynced batches that recovery kept).
        log.flush()
            .context("fsync of the recovered metadata log failed")?;
        let durable = DurableState {
            election,
            log_end_offset: Offset(log.log_end_offset()),
            epoch_starts,
        };
        let voters: BTreeSet<NodeId> = config
            .controller_quorum_voters
            .iter()
            .map(|v| NodeId(v.id))
            .collect();
        let raft = RaftCore::new(raft_config(config, voters), durable, rand::random());
        tracing::info!(
            records_end = log.log_end_offset(),
            topics = controller.image().topics.len(),
            "loaded the metadata log"
        );
        Ok(Quorum {
            node_id: config.node_id,
            cluster_id: cluster_id.to_string(),
            registration: registration_request(config, cluster_id)?,
            dir,
            log,
            raft,
            controller,
            replies: Vec::new(),
            image_tx: None,
            started: Instant::now(),
            started_wall_ms: now_ms(),
            schedule: SnapshotSchedule::new(
                ScheduleConfig {
                    max_bytes_between_snapshots: config
                        .metadata_log_max_record_bytes_between_snapshots
                        .max(1) as u64,
                    max_interval_ms: config.metadata_log_max_snapshot_interval_ms,
                },
                now,
            ),
            retention: RetentionConfig {
                max_retention_bytes: config.metadata_max_retention_bytes,
                max_retention_ms: config.metadata_max_retention_ms,
            },
            round_bytes: 0,
            generation: 0,
        })
    }

    /// Closes the metadata log after the thread stopped: everything fsynced, indexes trimmed,
    /// so the next start need not recover it; writes the marker of a dir of its own.
    fn close(self, marker: MetadataDirMarker) -> anyhow::Result<()> {
        self.log.close()?;
        if let MetadataDirMarker::Own = marker {
            storage::clean_shutdown::write(
                self.dir
                    .parent()
                    .context("the metadata log has a parent dir")?,
                -1,
            )?;
        }
        Ok(())
    }

    /// Milliseconds on the clock the Raft core runs on (and stamps batches with):
    /// wall-clock time at start plus monotonic time since.
    fn now(&self) -> Millis {
        Millis(self.started_wall_ms + self.started.elapsed().as_millis() as i64)
    }

    fn run(&mut self, mut rx: mpsc::Receiver<ControllerRequest>) -> anyhow::Result<()> {
        self.become_active()?;
        let mut stopping = false;
        while let Some(first) = rx.blocking_recv() {
            stopping |= self.handle(first);
            for _ in 1..ROUND_REQUESTS_MAX {
                match rx.try_recv() {
                    Ok(req) => stopping |= self.handle(req),
                    Err(_) => break,
                }
            }
            self.persist_round()?;
            if stopping {
                break;
            }
        }
        tracing::info!("metadata thread stopped");
        Ok(())
    }

    /// Becomes leader of the single-voter quorum, bootstraps an empty log, and registers and
    /// unfences this node's broker.
    fn become_active(&mut self) -> anyhow::Result<()> {
        // Become leader (single voter) and make the LEADER_CHANGE batch durable.
        let mut actions = Vec::new();
        self.raft.step(self.now(), Input::Tick, &mut actions)?;
        self.execute(actions)?;
        self.persist_round()?;

        if self.controller.image().metadata_version().is_none() {
            let bootstrap = features::bootstrap_records(MetadataVersion::LATEST_PRODUCTION);
            let records = features::activation_records_for_empty_log(&bootstrap, false);
            self.propose(records)?;
            self.persist_round()?;
            tracing::info!(
                "bootstrapped a new cluster at metadata.version {}",
                MetadataVersion::LATEST_PRODUCTION.release().unwrap_or("?")
            );
        }
        self.register_self()?;
        // Sessions for every registered broker start now (after our own registration, which
        // a session left over from our previous incarnation would otherwise refuse).
        self.controller.activate(now_ms());
        Ok(())
    }

    /// Registers this node's broker (a new incarnation every start, as Kafka's broker does)
    /// and unfences it with a first heartbeat.
    fn register_self(&mut self) -> anyhow::Result<()> {
        let now = now_ms();
        self.registration.incarnation_id = random_uuid();
        let next = self.raft.log_end_offset().0;
        let result = self
            .controller
            .register_broker(&self.registration, next, now);
        if result.reply.error_code != 0 {
            anyhow::bail!(
                "this node could not register as a broker: {}",
                ErrorCode(result.reply.error_code)
            );
        }
        let broker_epoch = result.reply.broker_epoch;
        self.propose(result.records)?;
        self.persist_round()?;
        let heartbeat = BrokerHeartbeatRequest {
            broker_id: self.node_id,
            broker_epoch,
            current_metadata_offset: self.raft.log_end_offset().0,
            want_fence: false,
            want_shut_down: false,
            ..Default::default()
        };
        let result = self.controller.broker_heartbeat(&heartbeat, now);
        self.propose(result.records)?;
        self.persist_round()?;
        tracing::info!(broker_epoch, cluster_id = %self.cluster_id, "registered and unfenced this broker");
        Ok(())
    }

    /// Decides one request, proposes its records, and queues its reply for after the fsync.
    /// Returns true for the shutdown request.
    fn handle(&mut self, req: ControllerRequest) -> bool {
        match req {
            ControllerRequest::Shutdown => return true,
            ControllerRequest::Housekeeping => self.apply_retention(now_ms()),
            ControllerRequest::CreateTopics(r, tx) => {
                let result = self.controller.create_topics(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::DeleteTopics(r, tx) => {
                let result = self.controller.delete_topics(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::CreatePartitions(r, tx) => {
                let result = self.controller.create_partitions(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::AlterConfigs(r, tx) => {
                let result = self.controller.alter_configs(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::IncrementalAlterConfigs(r, tx) => {
                let result = self.controller.incremental_alter_configs(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::UpdateFeatures(r, tx) => {
                let result = self.controller.update_features(&r);
                self.decide(&r, result, tx);
            }
            ControllerRequest::AllocateProducerIds(r, tx) => {
                let result = self.controller.allocate_producer_ids(&r);
                self.decide(&r, result, tx);
            }
        }
        false
    }

    fn decide<R: ControllerCall>(
        &mut self,
        req: &R,
        result: ControllerResult<R::Response>,
        tx: oneshot::Sender<R::Response>,
    ) {
        let mut reply = result.reply;
        if !result.records.is_empty() {
            if let Err(e) = self.propose(result.records) {
                tracing::warn!("controller proposal failed: {e:#}");
                reply = req.failed(propose_error_code(&e));
            }
        }
        self.replies.push(Box::new(move || {
            let _ = tx.send(reply);
        }));
    }

    /// Appends `records` through Raft and replays them into the controller's image (the
    /// controller decides the next request on top of its own uncommitted records, as Kafka's
    /// does).
    fn propose(&mut self, records: Vec<MetadataRecord>) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut actions = Vec::new();
        let now = self.now();
        self.raft
            .step(now, Input::Propose(records.clone()), &mut actions)?;
        for (i, e) in self.controller.replay_all(&records) {
            tracing::error!("controller record {i} did not replay: {e}");
        }
        // Executing the batch's `Append` moves the image's provenance to it, as replaying the
        // batch after a restart would: ApiVersions reports that offset as the finalized
        // features epoch, as Kafka's broker does.
        self.execute(actions)
    }

    /// Fsyncs what was appended, reports it to Raft, and once committed publishes the image
    /// and answers the round's requests.
    fn persist_round(&mut self) -> anyhow::Result<()> {
        self.log
            .flush()
            .context("fsync of the metadata log failed")?;
        let mut actions = Vec::new();
        self.raft.step(
            self.now(),
            Input::Persisted {
                end: Offset(self.log.log_end_offset()),
                generation: self.generation,
            },
            &mut actions,
        )?;
        self.execute(actions)?;
        // A round whose requests appended nothing (a refused CreateTopics, say) moves no high
        // watermark, so Raft reports no commit: its answers are due now all the same, since
        // everything they were decided on is committed.
        if !self.replies.is_empty()
            && self.raft.high_watermark() == Some(self.raft.log_end_offset())
        {
            self.answer_round();
        }
        Ok(())
    }

    fn execute(&mut self, actions: Vec<Action>) -> anyhow::Result<()> {
        for action in actions {
            match action {
                Action::PersistElection(e) => write_quorum_state(&self.dir, &e)?,
                Action::Append(batch) => {
                    self.log
                        .append_as_follower(&batch.bytes, now_ms())
                        .context("metadata log append failed")?;
                    self.round_bytes += batch.bytes.len() as u64;
                    // The controller's image already holds the batch's records (replayed when
                    // proposed); it now stands at the batch's end.
                    let log_time_ms = protocol::records::batches(&batch.bytes)
                        .next()
                        .and_then(Result::ok)
                        .map_or(-1, |b| b.header.max_timestamp);
                    self.controller.set_provenance(Provenance {
                        last_contained_offset: batch.last_offset.0,
                        last_contained_epoch: batch.epoch.0,
                        last_contained_log_time_ms: log_time_ms,
                    });
                }
                Action::Truncate { to, generation } => {
                    self.log.truncate_to(to.0, now_ms())?;
                    self.generation = generation;
                }
                Action::Send { to, .. } | Action::SendAfterPersist { to, .. } => {
                    tracing::debug!(
                        %to,
                        "no Raft network in a single-voter quorum; message dropped"
                    );
                }
                Action::Respond { .. } | Action::ReadLog { .. } => {
                    tracing::debug!("no Raft network in a single-voter quorum; answer dropped");
                }
                Action::Committed { high_watermark } => self.committed(high_watermark),
                Action::LeaderChanged { epoch, leader_id } => {
                    tracing::info!(%epoch, ?leader_id, "metadata quorum leader");
                }
            }
        }
        Ok(())
    }

    fn committed(&mut self, high_watermark: Offset) {
        // Single voter: a round is committed as a whole, so the controller's image (which
        // includes every proposal so far) is the committed image once the high watermark
        // reaches the log end.
        if high_watermark < self.raft.log_end_offset() {
            return;
        }
        self.answer_round();
    }

    /// Publishes the committed image, answers the round's requests, and takes a snapshot of
    /// the image when one is due.
    fn answer_round(&mut self) {
        if let Some(tx) = &self.image_tx {
            let _ = tx.send(Arc::new(self.controller.image().clone()));
        }
        for reply in self.replies.drain(..) {
            reply();
        }
        let bytes = std::mem::take(&mut self.round_bytes);
        let now = now_ms();
        if let Some(reason) = self.schedule.committed(bytes, now, Generator::Idle) {
            self.snapshot(&reason.to_string(), now);
        }
    }

    /// Writes a snapshot of the controller's image, committed as a whole on the single
    /// node, then applies retention. A failure is logged, not fatal: the log still holds
    /// everything, as in Kafka.
    fn snapshot(&mut self, reason: &str, now: i64) {
        match snapshots::write(&self.dir, self.controller.image(), now) {
            Ok(Some(file)) => {
                tracing::info!(snapshot = %file.path.display(), "wrote a metadata snapshot because {reason}");
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!("writing a metadata snapshot failed: {e:#}");
                return;
            }
        }
        self.apply_retention(now);
    }

    fn apply_retention(&mut self, now: i64) {
        if let Err(e) = snapshots::apply_retention(&self.dir, &mut self.log, self.retention, now) {
            tracing::error!("metadata log retention failed: {e:#}");
        }
    }
}

/// Asks the metadata thread for a retention pass every [`RETENTION_INTERVAL`] until it has
/// stopped. A full queue skips one pass: the next comes a minute later.
async fn housekeeping_timer(tx: mpsc::Sender<ControllerRequest>) {
    let mut interval = tokio::time::interval(RETENTION_INTERVAL);
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(mpsc::error::TrySendError::Closed(_)) =
            tx.try_send(ControllerRequest::Housekeeping)
        {
            return;
        }
    }
}

/// Opens `__cluster_metadata-0`: created when missing, recovered after an unclean shutdown,
/// trusted (bar the active segment's tail check) after a clean one.
fn open_log(
    dir: &Path,
    config: LogConfig,
    shutdown: Shutdown,
    now: i64,
) -> storage::Result<PartitionLog> {
    if shutdown == Shutdown::Unclean || !dir.exists() {
        return PartitionLog::create(dir, Some(METADATA_TOPIC_ID), config, now);
    }
    let options = LoadOptions {
        recovery_point: 0,
        log_start_offset: 0,
        shutdown,
    };
    let mut log = PartitionLog::open(dir, config, options, now)?;
    log.set_topic_id(METADATA_TOPIC_ID)?;
    Ok(log)
}

/// Replays the log's data batches from `from` (the loaded snapshot's end, or the log start)
/// into the controller, moving its image's provenance along; returns the epoch → start offset
/// of the log's batches.
fn replay_log(
    log: &PartitionLog,
    from: i64,
    controller: &mut QuorumController,
) -> anyhow::Result<EpochStarts> {
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset().max(from);
    let mut epochs = EpochStarts::default();
    // The epochs of the log's batches a snapshot covers (not replayed) still count for
    // Raft's epoch bookkeeping; the replay observes the rest.
    for e in log
        .epoch_entries()
        .iter()
        .filter(|e| e.start_offset < offset)
    {
        epochs.observe(Epoch(e.epoch), Offset(e.start_offset));
    }
    while offset < end {
        let bytes = log.read(offset, REPLAY_READ_BYTES, end, FirstBatch::AlwaysWhole)?;
        if bytes.is_empty() {
            break;
        }
        for batch in protocol::records::batches(&bytes) {
            let batch = batch.context("corrupt batch in the metadata log")?;
            let log_time_ms = batch.header.max_timestamp;
            match metadata::decode_batch(&batch).context("undecodable metadata batch")? {
                DecodedBatch::Data(b) => {
                    for f in controller.replay_batch(&b) {
                        tracing::warn!(
                            offset = f.offset,
                            "metadata record {} skipped: {}",
                            f.record,
                            f.error
                        );
                    }
                    epochs.observe(Epoch(b.epoch), Offset(b.base_offset));
                    offset = b.last_offset + 1;
                }
                DecodedBatch::Control {
                    base_offset,
                    last_offset,
                    epoch,
                } => {
                    epochs.observe(Epoch(epoch), Offset(base_offset));
                    controller.set_provenance(Provenance {
                        last_contained_offset: last_offset,
                        last_contained_epoch: epoch,
                        last_contained_log_time_ms: log_time_ms,
                    });
                    offset = last_offset + 1;
                }
            }
        }
    }
    Ok(epochs)
}

/// The Raft core's settings from Kafka's `controller.quorum.*` keys.
fn raft_config(config: &ServerConfig, voters: BTreeSet<NodeId>) -> RaftConfig {
    RaftConfig {
        election_timeout_ms: i64::from(config.controller_quorum_election_timeout_ms),
        fetch_timeout_ms: i64::from(config.controller_quorum_fetch_timeout_ms),
        election_backoff_max_ms: i64::from(config.controller_quorum_election_backoff_max_ms),
        request_timeout_ms: i64::from(config.controller_quorum_request_timeout_ms),
        retry_backoff_ms: i64::from(config.controller_quorum_retry_backoff_ms),
        ..RaftConfig::new(NodeId(config.node_id), voters)
    }
}

fn read_quorum_state(dir: &Path) -> anyhow::Result<ElectionState> {
    let path = dir.join("quorum-state");
    match std::fs::read_to_string(&path) {
        Ok(text) => ElectionState::from_quorum_state_json(&text)
            .map(|(e, _)| e)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ElectionState::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `quorum-state` as Kafka does: tmp file, fsync, rename, fsync the directory.
fn write_quorum_state(dir: &Path, e: &ElectionState) -> anyhow::Result<()> {
    use std::io::Write;
    let path = dir.join("quorum-state");
    let tmp = dir.join("quorum-state.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    // data_version 0, as Kafka 3.9 writes it for a static quorum (kraft.version 0, the
    // voters from controller.quorum.voters); both versions are read.
    f.write_all(e.to_quorum_state_json(QuorumStateVersion::V0).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn random_uuid() -> Uuid {
    Uuid(rand::random())
}

/// This node's BrokerRegistration: its client listeners, supported features, log dirs.
fn registration_request(
    config: &ServerConfig,
    cluster_id: &str,
) -> anyhow::Result<BrokerRegistrationRequest> {
    let listeners = config
        .advertised_listeners
        .iter()
        .map(|l| Listener {
            name: l.name.clone(),
            host: l.host.clone().unwrap_or_else(|| "localhost".into()),
            port: l.port,
            security_protocol: l.security_protocol.id(),
        })
        .collect();
    let mut log_dirs = Vec::new();
    for dir in &config.log_dirs {
        let meta = storage::meta_properties::read(dir)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("{} is not formatted", dir.display()))?;
        if let Some(id) = meta.directory_id() {
            log_dirs.push(id);
        }
    }
    Ok(BrokerRegistrationRequest {
        broker_id: config.node_id,
        cluster_id: cluster_id.to_string(),
        listeners,
        features: vec![Feature {
            name: MetadataVersion::FEATURE_NAME.into(),
            min_supported_version: MetadataVersion::MINIMUM_KRAFT.level(),
            max_supported_version: MetadataVersion::LATEST_PRODUCTION.level(),
        }],
        rack: config.broker_rack.clone(),
        log_dirs,
        ..Default::default()
    })
}

fn propose_error_code(e: &anyhow::Error) -> ErrorCode {
    e.downcast_ref::<RaftError>()
        .map_or(ErrorCode::UNKNOWN_SERVER_ERROR, RaftError::error_code)
}

#[cfg(test)]
mod tests {
    use protocol::messages::create_topics_request::CreatableTopic;
    use protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use protocol::messages::{
        CreateTopicsRequest, CreateTopicsResponse, IncrementalAlterConfigsRequest,
    };

    use super::*;
    use crate::tools::storage::{format, FormatOptions};

    const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qg";

    fn config(dir: &Path) -> ServerConfig {
        config_with(dir, "")
    }

    fn config_with(dir: &Path, extra: &str) -> ServerConfig {
        let props = format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:19093\n\
             listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
             controller.listener.names=CONTROLLER\nlog.dirs={}\n{extra}",
            dir.join("data").display()
        );
        ServerConfig::parse(&props, &[])
            .expect("valid config")
            .config
    }

    /// Runs one request through the thread's round: decide, propose, fsync, answer.
    fn round<T>(q: &mut Quorum, make: impl FnOnce(oneshot::Sender<T>) -> ControllerRequest) -> T {
        let (tx, mut rx) = oneshot::channel();
        q.handle(make(tx));
        q.persist_round().expect("fsync");
        rx.try_recv().expect("answered once durable")
    }

    /// Acceptance (issue 12): the image rebuilt from `__cluster_metadata` after a restart
    /// equals the one before it, on real files.
    #[test]
    fn image_rebuilt_from_the_log_equals_the_one_before_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path());
        let opts = FormatOptions {
            cluster_id: CLUSTER_ID.into(),
            ignore_formatted: false,
        };
        format(&config, &opts, &mut Vec::new(), &mut rand::thread_rng()).expect("format");

        let mut q = Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("load");
        q.become_active().expect("active");
        // The leader's quorum-state, as Kafka 3.9 writes it for a static quorum.
        let state = std::fs::read_to_string(q.dir.join("quorum-state")).expect("quorum-state");
        let epoch = q.raft.epoch();
        assert_eq!(
            state,
            format!(
                "{{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":{epoch},\"votedId\":-1,\
                 \"appliedOffset\":0,\"currentVoters\":[{{\"voterId\":1}}],\"data_version\":0}}"
            )
        );
        let created = create_topics(&mut q, &["orders", "payments"], 3);
        assert!(
            created.topics.iter().all(|t| t.error_code == 0),
            "{created:?}"
        );
        let altered = round(&mut q, |tx| {
            let resources = vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "orders".into(),
                configs: vec![AlterableConfig {
                    name: "retention.ms".into(),
                    config_operation: 0,
                    value: Some("60000".into()),
                }],
            }];
            let req = IncrementalAlterConfigsRequest {
                resources,
                ..Default::default()
            };
            ControllerRequest::IncrementalAlterConfigs(req, tx)
        });
        assert!(
            altered.responses.iter().all(|r| r.error_code == 0),
            "{altered:?}"
        );
        // A round that appends nothing (the topic exists) is answered all the same.
        let again = create_topics(&mut q, &["orders"], 1);
        assert_eq!(
            again.topics[0].error_code,
            protocol::ErrorCode::TOPIC_ALREADY_EXISTS.code()
        );
        let before = q.controller.image().clone();
        assert_eq!(before.topics.len(), 2);
        drop(q);

        let reloaded = Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("reload");
        assert_eq!(reloaded.controller.image(), &before);
    }

    /// A formatted node, loaded and active.
    fn active_quorum(config: &ServerConfig) -> Quorum {
        let opts = FormatOptions {
            cluster_id: CLUSTER_ID.into(),
            ignore_formatted: false,
        };
        format(config, &opts, &mut Vec::new(), &mut rand::thread_rng()).expect("format");
        let mut q = Quorum::load(config, CLUSTER_ID, MetadataDirMarker::Own).expect("load");
        q.become_active().expect("active");
        q
    }

    /// One CreateTopics round for `names`, each with `partitions` partitions.
    fn create_topics(q: &mut Quorum, names: &[&str], partitions: i32) -> CreateTopicsResponse {
        let topics = names
            .iter()
            .map(|name| CreatableTopic {
                name: name.to_string(),
                num_partitions: partitions,
                replication_factor: 1,
                ..Default::default()
            })
            .collect();
        round(q, |tx| {
            ControllerRequest::CreateTopics(
                CreateTopicsRequest {
                    topics,
                    ..Default::default()
                },
                tx,
            )
        })
    }

    fn create_topic(q: &mut Quorum, name: &str) {
        let created = create_topics(q, &[name], 2);
        assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    }

    fn snapshot_ids(dir: &Path) -> Vec<storage::metadata_snapshot::SnapshotId> {
        storage::metadata_snapshot::list(dir)
            .expect("list")
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    /// Snapshots are taken as `metadata.log.max.record.bytes.between.snapshots` says, named
    /// from the committed image's provenance, and a restart from the latest gives back the
    /// same image, batches stamped with wall-clock time.
    #[test]
    fn snapshots_are_taken_and_a_restart_loads_the_latest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_with(
            dir.path(),
            "metadata.log.max.record.bytes.between.snapshots=2048\n",
        );
        let before_start = now_ms();
        let mut q = active_quorum(&config);
        for i in 0..20 {
            create_topic(&mut q, &format!("t{i}"));
        }
        let ids = snapshot_ids(&q.dir);
        assert!(!ids.is_empty(), "no snapshot written");
        let latest = *ids.last().expect("one");
        assert!(latest.end_offset <= q.log.log_end_offset());
        let before = q.controller.image().clone();
        let p = before.provenance;
        assert_eq!(p.last_contained_offset + 1, q.log.log_end_offset());
        assert!(
            p.last_contained_log_time_ms >= before_start
                && p.last_contained_log_time_ms <= now_ms(),
            "batches carry wall-clock time: {p:?}"
        );
        drop(q);

        let mut reloaded =
            Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("reload");
        assert_eq!(reloaded.controller.image(), &before);

        // A second epoch on top of the snapshot, and a restart again: the epochs below the
        // snapshot and those replayed after it make one history.
        reloaded.become_active().expect("active again");
        for i in 0..5 {
            create_topic(&mut reloaded, &format!("u{i}"));
        }
        let before = reloaded.controller.image().clone();
        drop(reloaded);
        let again = Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("reload");
        assert_eq!(again.controller.image(), &before);
    }

    /// `metadata.max.retention.bytes` deletes the snapshots and segments below the latest
    /// snapshot; a restart still gives back the whole image.
    #[test]
    fn retention_deletes_segments_and_snapshots_below_the_latest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_with(
            dir.path(),
            "metadata.log.max.record.bytes.between.snapshots=1024
             metadata.log.segment.bytes=2048
metadata.max.retention.bytes=0
",
        );
        let mut q = active_quorum(&config);
        for i in 0..30 {
            create_topic(&mut q, &format!("t{i}"));
        }
        let ids = snapshot_ids(&q.dir);
        assert_eq!(ids.len(), 1, "older snapshots kept: {ids:?}");
        let start = q.log.log_start_offset();
        assert!(start > 0, "the log start did not move");
        assert_eq!(start, ids[0].end_offset);
        let first_segment = q.log.segment_base_offsets()[0];
        assert!(
            first_segment > 0 && first_segment <= start,
            "{first_segment}"
        );
        let before = q.controller.image().clone();
        drop(q);

        let reloaded = Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("reload");
        assert_eq!(reloaded.controller.image(), &before);
        drop(reloaded);

        // Without the snapshot, the records below the log start are gone: start-up refuses.
        storage::metadata_snapshot::delete(&dir.path().join("data/__cluster_metadata-0"), ids[0])
            .expect("delete");
        let err = match Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own) {
            Ok(_) => panic!("started without the records below the log start"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("inconsistent metadata snapshots"), "{err}");
    }

    /// The minute's housekeeping request runs the retention pass without a new snapshot.
    #[test]
    fn housekeeping_applies_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_with(
            dir.path(),
            "metadata.log.max.record.bytes.between.snapshots=1024
             metadata.log.segment.bytes=2048
",
        );
        let mut q = active_quorum(&config);
        for i in 0..30 {
            create_topic(&mut q, &format!("t{i}"));
        }
        let ids = snapshot_ids(&q.dir);
        assert!(ids.len() > 1, "{ids:?}");
        assert_eq!(q.log.log_start_offset(), 0);
        q.retention.max_retention_bytes = 0;
        assert!(!q.handle(ControllerRequest::Housekeeping));
        assert_eq!(snapshot_ids(&q.dir), ids[ids.len() - 1..]);
        assert_eq!(q.log.log_start_offset(), ids[ids.len() - 1].end_offset);
    }

    /// Start-up loads the snapshot and replays only the log after it: a topic the snapshot
    /// lacks (though the log below it has it) stays absent, one created after it is there.
    #[test]
    fn restart_replays_the_log_only_after_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path());
        let mut q = active_quorum(&config);
        create_topic(&mut q, "before");
        create_topic(&mut q, "dropped");
        let image = q.controller.image().clone();
        let dropped = image.topics.by_name("dropped").expect("created").id;
        let mut records = image.to_records();
        records.push(MetadataRecord::new(
            0,
            metadata::MetadataRecordBody::RemoveTopic(protocol::messages::RemoveTopicRecord {
                topic_id: dropped,
            }),
        ));
        let doctored = MetadataImage::from_records(&records, image.provenance).expect("replays");
        snapshots::write(&q.dir, &doctored, now_ms())
            .expect("write")
            .expect("a new snapshot");
        create_topic(&mut q, "after");
        drop(q);

        let reloaded = Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own).expect("reload");
        let topics = &reloaded.controller.image().topics;
        assert!(topics.by_name("before").is_some());
        assert!(topics.by_name("after").is_some());
        assert!(
            topics.by_name("dropped").is_none(),
            "the log below the snapshot was replayed"
        );
    }

    /// A snapshot that does not read back whole refuses start-up, naming the file and the
    /// position, and is left as it was.
    #[test]
    fn a_corrupt_snapshot_refuses_start_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path());
        let mut q = active_quorum(&config);
        create_topic(&mut q, "orders");
        let file = snapshots::write(&q.dir, q.controller.image(), now_ms())
            .expect("write")
            .expect("a new snapshot");
        drop(q);
        let mut bytes = std::fs::read(&file.path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&file.path, &bytes).expect("corrupt");

        let err = match Quorum::load(&config, CLUSTER_ID, MetadataDirMarker::Own) {
            Ok(_) => panic!("a corrupt snapshot was loaded"),
            Err(e) => format!("{e:#}"),
        };
        let name = file.path.file_name().expect("name").to_string_lossy();
        assert!(err.contains(name.as_ref()), "{err}");
        assert!(err.contains(" at byte "), "no position named: {err}");
        assert_eq!(std::fs::read(&file.path).expect("read"), bytes);
    }
}
