//! The KRaft quorum controller core (KIP-631), sans-I/O.
//!
//! Requests come from brokers and clients via the io layer (CreateTopics, DeleteTopics,
//! CreatePartitions, Incremental/AlterConfigs, BrokerRegistration, BrokerHeartbeat,
//! AllocateProducerIds, UpdateFeatures). Every handler reads the current [`MetadataImage`] and returns a
//! [`ControllerResult`]: the records to append and the response to send **once those records
//! are committed**. Handlers never change state; only [`QuorumController::replay`] does, so
//! the active controller (which replays its own records as it proposes them), standbys
//! (which replay committed batches), snapshot loading and the ZooKeeper migration all take
//! the same path (Kafka's `QuorumController` / `ControllerResult`, `docs/architecture.md` §3.4).
//!
//! Controller-private state that is not in the log: the seeded id generator (topic ids,
//! placement offsets) and the brokers' heartbeat sessions, which Kafka also keeps only in the
//! active controller's memory (`BrokerHeartbeatManager`).
//!
//! The families live in submodules: [`topics`] (create/delete topics, create partitions,
//! replica [`placement`]), [`configs`], [`brokers`] (registration, heartbeats, fencing, with
//! [`partition_change`] for the leader and ISR updates that fencing causes), [`features`]
//! (bootstrap records, supported levels, UpdateFeatures) and [`producer_ids`].

pub mod brokers;
pub mod configs;
pub mod features;
pub mod ids;
pub mod partition_change;
pub mod placement;
pub mod producer_ids;
pub mod topics;

use std::collections::BTreeMap;

use metadata::image::Provenance;
use metadata::{
    MetadataBatch, MetadataDelta, MetadataImage, MetadataRecord, MetadataVersion, ReplayError,
    ReplayFailure,
};
use protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterConfigsRequest,
    AlterConfigsResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse,
    BrokerRegistrationRequest, BrokerRegistrationResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use protocol::ErrorCode;

pub use brokers::{BrokerSession, BrokerSessions};
pub use ids::{IdSource, SeededIds};

/// Kafka caps the records one request may generate (`MAX_RECORDS_PER_USER_OP`).
pub const RECORDS_PER_USER_OP_MAX: usize = 10_000;

/// Records to append and the reply to send once they are committed.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerResult<T> {
    pub records: Vec<MetadataRecord>,
    pub reply: T,
}

impl<T> ControllerResult<T> {
    pub fn new(records: Vec<MetadataRecord>, reply: T) -> ControllerResult<T> {
        ControllerResult { records, reply }
    }

    /// A reply that changes nothing (validation failures, validate-only requests).
    pub fn reply_only(reply: T) -> ControllerResult<T> {
        ControllerResult {
            records: Vec::new(),
            reply,
        }
    }
}

/// A Kafka error answer: code and message (Kafka's `ApiError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: Some(message.into()),
        }
    }

    /// Kafka's default message for codes answered without a specific one.
    pub fn default_for(code: ErrorCode) -> ApiError {
        let message = match code {
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                "This server does not host this topic-partition."
            }
            ErrorCode::UNKNOWN_TOPIC_ID => "This server does not host this topic ID.",
            _ => {
                return ApiError {
                    code,
                    message: None,
                }
            }
        };
        ApiError::new(code, message)
    }
}

/// Defaults for topics created without explicit settings (`num.partitions`,
/// `default.replication.factor`) and the static broker configs (`server.properties`) that
/// topic configs fall back to (`log.retention.hours`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub static_broker_configs: BTreeMap<String, String>,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            num_partitions: 1,
            replication_factor: 1,
            static_broker_configs: BTreeMap::new(),
        }
    }
}

/// The controller's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// This controller's `node.id`.
    pub node_id: i32,
    /// The cluster id from `meta.properties`; registrations with another id are refused.
    pub cluster_id: String,
    pub topic_defaults: TopicDefaults,
    /// `zookeeper.metadata.migration.enable` (KIP-866): ZK brokers may register.
    pub zk_migration_enabled: bool,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: i64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_id: 0,
            cluster_id: String::new(),
            topic_defaults: TopicDefaults::default(),
            zk_migration_enabled: false,
            broker_session_timeout_ms: 9_000,
        }
    }
}

/// The metadata.version the controller acts under: the finalized one, or Kafka's minimum
/// before the bootstrap records have been replayed.
pub fn metadata_version(image: &MetadataImage) -> MetadataVersion {
    image
        .metadata_version()
        .unwrap_or(MetadataVersion::MINIMUM_KRAFT)
}

/// The quorum controller: the image its decisions are based on (including its own records
/// not yet committed), plus its private id source and broker sessions.
#[derive(Debug, Clone)]
pub struct QuorumController {
    config: ControllerConfig,
    image: MetadataImage,
    ids: SeededIds,
    sessions: BrokerSessions,
}

impl QuorumController {
    /// A controller with default configuration and ids seeded by `seed`.
    pub fn new(seed: u64) -> QuorumController {
        QuorumController::with_config(seed, ControllerConfig::default())
    }

    pub fn with_config(seed: u64, config: ControllerConfig) -> QuorumController {
        QuorumController {
            config,
            image: MetadataImage::empty(),
            ids: SeededIds::new(seed),
            sessions: BrokerSessions::default(),
        }
    }

    /// A controller whose image starts as `image` (a metadata snapshot loaded at start-up);
    /// from there on, only replay changes it.
    pub fn from_image(
        seed: u64,
        config: ControllerConfig,
        image: MetadataImage,
    ) -> QuorumController {
        QuorumController {
            image,
            ..QuorumController::with_config(seed, config)
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The image the next decision is based on.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Replays one record into the controller's image. The only way its state changes.
    pub fn replay(&mut self, record: &MetadataRecord) -> Result<(), ReplayError> {
        self.replay_all(std::slice::from_ref(record))
            .into_iter()
            .next()
            .map_or(Ok(()), |(_, e)| Err(e))
    }

    /// Replays records in order in one delta, skipping (and returning, with their index)
    /// those that do not apply.
    pub fn replay_all(&mut self, records: &[MetadataRecord]) -> Vec<(usize, ReplayError)> {
        let mut delta = MetadataDelta::from_image(std::mem::take(&mut self.image));
        let mut failures = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if let Err(e) = delta.replay(record) {
                failures.push((i, e));
            }
        }
        self.image = delta.apply();
        failures
    }

    /// Replays a committed batch (log replay at start-up, a standby following the log) and
    /// moves the image's provenance to the batch's last offset. Records that do not apply are
    /// skipped and returned with their offsets.
    pub fn replay_batch(&mut self, batch: &MetadataBatch) -> Vec<ReplayFailure> {
        let mut delta = MetadataDelta::from_image(std::mem::take(&mut self.image));
        let failures = delta.replay_batch(batch);
        self.image = delta.apply();
        failures
    }

    /// Records where the image stands in the log, e.g. after the active controller's own
    /// records were appended at `last_offset` (they were replayed before they had offsets).
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.image.provenance = provenance;
    }

    /// Starts acting as the active controller at `now`: every registered broker gets a
    /// fresh session, as Kafka's `BrokerHeartbeatManager` does on activation.
    pub fn activate(&mut self, now: i64) {
        self.sessions = BrokerSessions::default();
        for id in self.image.cluster.brokers.keys() {
            self.sessions.touch(*id, now, -1);
        }
    }

    pub fn create_topics(
        &mut self,
        req: &CreateTopicsRequest,
    ) -> ControllerResult<CreateTopicsResponse> {
        topics::create_topics(
            &self.image,
            req,
            &self.config.topic_defaults,
            self.config.node_id,
            &mut self.ids,
        )
    }

    pub fn delete_topics(
        &self,
        req: &DeleteTopicsRequest,
    ) -> ControllerResult<DeleteTopicsResponse> {
        topics::delete_topics(&self.image, req)
    }

    pub fn create_partitions(
        &mut self,
        req: &CreatePartitionsRequest,
    ) -> ControllerResult<CreatePartitionsResponse> {
        topics::create_partitions(&self.image, req, &mut self.ids)
    }

    pub fn incremental_alter_configs(
        &self,
        req: &IncrementalAlterConfigsRequest,
    ) -> ControllerResult<IncrementalAlterConfigsResponse> {
        configs::incremental_alter_configs(&self.image, req, self.config.node_id)
    }

    pub fn alter_configs(
        &self,
        req: &AlterConfigsRequest,
    ) -> ControllerResult<AlterConfigsResponse> {
        configs::alter_configs(&self.image, req, self.config.node_id)
    }

    /// `next_offset` is where the first record of the result will be appended (the Raft
    /// log end offset); it becomes the new broker epoch.
    pub fn register_broker(
        &mut self,
        req: &BrokerRegistrationRequest,
        next_offset: i64,
        now: i64,
    ) -> ControllerResult<BrokerRegistrationResponse> {
        let session_valid =
            self.sessions
                .is_valid(req.broker_id, now, self.config.broker_session_timeout_ms);
        let result =
            brokers::register_broker(&self.image, req, &self.config, next_offset, session_valid);
        if result.reply.error_code == ErrorCode::NONE.code() {
            self.sessions.register(req.broker_id, now);
        }
        result
    }

    pub fn broker_heartbeat(
        &mut self,
        req: &BrokerHeartbeatRequest,
        now: i64,
    ) -> ControllerResult<BrokerHeartbeatResponse> {
        let session = self.sessions.get(req.broker_id).cloned();
        let (result, next) = brokers::broker_heartbeat(
            &self.image,
            req,
            session.as_ref(),
            self.config.zk_migration_enabled,
        );
        if let Some(next) = next {
            self.sessions
                .touch(req.broker_id, now, req.current_metadata_offset);
            self.sessions.set_shutting_down(
                req.broker_id,
                next == brokers::BrokerControlState::ControlledShutdown,
            );
        }
        result
    }

    /// Fences unfenced brokers whose session expired (Kafka's `maybeFenceStaleBrokers`).
    pub fn maybe_fence_stale_brokers(&mut self, now: i64) -> ControllerResult<Vec<i32>> {
        let stale = self
            .sessions
            .stale(&self.image, now, self.config.broker_session_timeout_ms);
        brokers::fence_brokers(&self.image, &stale, self.config.zk_migration_enabled)
    }

    /// When [`QuorumController::maybe_fence_stale_brokers`] next has work.
    pub fn next_session_deadline(&self) -> Option<i64> {
        self.sessions
            .next_expiry(&self.image, self.config.broker_session_timeout_ms)
    }

    pub fn update_features(
        &self,
        req: &UpdateFeaturesRequest,
    ) -> ControllerResult<UpdateFeaturesResponse> {
        features::update_features(&self.image, req, self.config.node_id)
    }

    pub fn allocate_producer_ids(
        &self,
        req: &AllocateProducerIdsRequest,
    ) -> ControllerResult<AllocateProducerIdsResponse> {
        producer_ids::allocate_producer_ids(&self.image, req.broker_id, req.broker_epoch)
    }
}
