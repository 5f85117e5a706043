//! Broker lifecycle (KIP-631): BrokerRegistration, BrokerHeartbeat and session expiry, as
//! Kafka's `ClusterControlManager`, `BrokerHeartbeatManager` and the fencing parts of
//! `ReplicationControlManager`.
//!
//! Input: requests from brokers plus the controller's soft session state
//! ([`BrokerSessions`], in memory on the active controller only, like Kafka's heartbeat
//! manager). Output: RegisterBrokerRecord, BrokerRegistrationChangeRecord (or
//! Fence/UnfenceBrokerRecord before metadata.version 3.3-IV2) and the PartitionChangeRecords
//! that fencing implies (leaders moved off the broker, ISRs shrunk).
//!
//! Broker states, as `BrokerHeartbeatManager.calculateNextBrokerState`:
//!
//! ```text
//!            register                      heartbeat, caught up to its registration offset
//!   (none) ───────────► Fenced ─────────────────────────────────────────────► Unfenced
//!                         ▲  │ wantShutDown                                     │  │
//!                         │  └──────────────► ShutdownNow ◄── wantShutDown, ────┘  │
//!              wantFence  │                        ▲          no leaderships        │
//!              or session └────────────────────────┼───────────────────────────────┤
//!              expiry                              │ leaderships gone               │ wantShutDown,
//!                                        ControlledShutdown ◄──────────────────────┘ leads partitions
//! ```

use std::collections::{BTreeMap, BTreeSet};

use metadata::directory_id;
use metadata::image::cluster::{controlled_shutdown_change, fencing_change};
use metadata::image::ConfigResource;
use metadata::{
    BrokerRegistration, MetadataDelta, MetadataImage, MetadataRecord, MetadataRecordBody,
    MetadataVersion,
};
use protocol::messages::register_broker_record::{BrokerEndpoint, BrokerFeature};
use protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationChangeRecord,
    BrokerRegistrationRequest, BrokerRegistrationResponse, FenceBrokerRecord, RegisterBrokerRecord,
    UnfenceBrokerRecord,
};
use protocol::ErrorCode;

use super::partition_change::PartitionChange;
use super::{metadata_version, ApiError, ControllerConfig, ControllerResult};

/// A broker's heartbeat session on the active controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSession {
    pub last_contact_ms: i64,
    /// `CurrentMetadataOffset` of the last heartbeat.
    pub metadata_offset: i64,
    /// In controlled shutdown (kept here too for metadata versions without the record field).
    pub shutting_down: bool,
}

/// Sessions by broker id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerSessions {
    sessions: BTreeMap<i32, BrokerSession>,
}

impl BrokerSessions {
    pub fn get(&self, id: i32) -> Option<&BrokerSession> {
        self.sessions.get(&id)
    }

    /// A new incarnation registered: a fresh session.
    pub fn register(&mut self, id: i32, now: i64) {
        self.sessions.insert(
            id,
            BrokerSession {
                last_contact_ms: now,
                metadata_offset: -1,
                shutting_down: false,
            },
        );
    }

    pub fn touch(&mut self, id: i32, now: i64, metadata_offset: i64) {
        let s = self.sessions.entry(id).or_insert(BrokerSession {
            last_contact_ms: now,
            metadata_offset,
            shutting_down: false,
        });
        s.last_contact_ms = s.last_contact_ms.max(now);
        s.metadata_offset = s.metadata_offset.max(metadata_offset);
    }

    pub fn set_shutting_down(&mut self, id: i32, shutting_down: bool) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.shutting_down = shutting_down;
        }
    }

    /// Kafka's `hasValidSession`: heard from within the session timeout.
    pub fn is_valid(&self, id: i32, now: i64, timeout_ms: i64) -> bool {
        self.sessions
            .get(&id)
            .is_some_and(|s| now.saturating_sub(s.last_contact_ms) < timeout_ms)
    }

    /// Unfenced brokers whose session expired, in id order.
    pub fn stale(&self, image: &MetadataImage, now: i64, timeout_ms: i64) -> Vec<i32> {
        image
            .cluster
            .unfenced_brokers()
            .filter(|b| {
                self.sessions
                    .get(&b.id)
                    .is_none_or(|s| now.saturating_sub(s.last_contact_ms) >= timeout_ms)
            })
            .map(|b| b.id)
            .collect()
    }

    /// When the first unfenced broker's session expires.
    pub fn next_expiry(&self, image: &MetadataImage, timeout_ms: i64) -> Option<i64> {
        image
            .cluster
            .unfenced_brokers()
            .filter_map(|b| {
                self.sessions
                    .get(&b.id)
                    .map(|s| s.last_contact_ms.saturating_add(timeout_ms))
            })
            .min()
    }
}

/// Where a broker stands, per heartbeat (Kafka's `BrokerControlState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerControlState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

impl BrokerControlState {
    pub fn fenced(self) -> bool {
        matches!(
            self,
            BrokerControlState::Fenced | BrokerControlState::ShutdownNow
        )
    }

    pub fn in_controlled_shutdown(self) -> bool {
        self == BrokerControlState::ControlledShutdown
    }

    pub fn should_shut_down(self) -> bool {
        self == BrokerControlState::ShutdownNow
    }
}

fn registration_error(e: ApiError) -> ControllerResult<BrokerRegistrationResponse> {
    ControllerResult::reply_only(BrokerRegistrationResponse {
        throttle_time_ms: 0,
        error_code: e.code.code(),
        broker_epoch: -1,
    })
}

/// Handles BrokerRegistration (Kafka's `ClusterControlManager.registerBroker`).
/// `next_offset` is the offset the RegisterBrokerRecord will get: the new broker epoch.
/// `session_valid`: the id's current holder heartbeated within the session timeout.
pub fn register_broker(
    image: &MetadataImage,
    req: &BrokerRegistrationRequest,
    config: &ControllerConfig,
    next_offset: i64,
    session_valid: bool,
) -> ControllerResult<BrokerRegistrationResponse> {
    match registration_record(image, req, config, next_offset, session_valid) {
        Ok(record) => {
            let epoch = record.broker_epoch;
            let version = metadata_version(image).register_broker_record_version();
            ControllerResult::new(
                vec![MetadataRecord::new(
                    version,
                    MetadataRecordBody::RegisterBroker(record),
                )],
                BrokerRegistrationResponse {
                    throttle_time_ms: 0,
                    error_code: ErrorCode::NONE.code(),
                    broker_epoch: epoch,
                },
            )
        }
        Err(e) => registration_error(e),
    }
}

fn registration_record(
    image: &MetadataImage,
    req: &BrokerRegistrationRequest,
    config: &ControllerConfig,
    next_offset: i64,
    session_valid: bool,
) -> Result<RegisterBrokerRecord, ApiError> {
    if req.cluster_id != config.cluster_id {
        return Err(ApiError::new(
            ErrorCode::INCONSISTENT_CLUSTER_ID,
            format!(
                "Expected cluster ID {}, but got cluster ID {}",
                config.cluster_id, req.cluster_id
            ),
        ));
    }
    let mv = metadata_version(image);
    let existing = image.cluster.broker(req.broker_id);
    if let Some(b) = existing {
        if session_valid && b.incarnation_id != req.incarnation_id {
            return Err(ApiError::new(
                ErrorCode::DUPLICATE_BROKER_REGISTRATION,
                "Another broker is registered with that broker id.",
            ));
        }
    }
    let zk_allowed = config.zk_migration_enabled && mv.is_migration_supported();
    if req.is_migrating_zk_broker && !zk_allowed {
        return Err(ApiError::new(
            ErrorCode::BROKER_ID_NOT_REGISTERED,
            "Controller does not support registering ZK brokers.",
        ));
    }
    if !req.is_migrating_zk_broker
        && image.zk_migration_state == metadata::ZkMigrationState::PreMigration
    {
        return Err(ApiError::new(
            ErrorCode::BROKER_ID_NOT_REGISTERED,
            "Controller is in pre-migration mode and cannot register KRaft brokers until the metadata migration is complete.",
        ));
    }
    if mv.is_directory_assignment_supported() {
        let invalid = |m: String| Err(ApiError::new(ErrorCode::INVALID_REGISTRATION, m));
        if req.log_dirs.is_empty() {
            return invalid("No directories specified in request".into());
        }
        if req.log_dirs.iter().any(directory_id::is_reserved) {
            return invalid("Reserved directory ID in request".into());
        }
        if req.log_dirs.iter().collect::<BTreeSet<_>>().len() != req.log_dirs.len() {
            return invalid("Duplicate directory ID in request".into());
        }
        for dir in &req.log_dirs {
            let owner = image
                .cluster
                .brokers
                .values()
                .find(|b| b.id != req.broker_id && b.directories.contains(dir));
            if let Some(owner) = owner {
                return invalid(format!(
                    "Broker {} is already registered with directory {dir}",
                    owner.id
                ));
            }
        }
    }

    // Every feature the broker announces must include the finalized level; a broker that
    // announces no metadata.version range supports only the first KRaft level; and every
    // finalized feature the broker does not announce must be at level 0.
    let finalized = |name: &str| -> i16 {
        let default = if name == MetadataVersion::FEATURE_NAME {
            MetadataVersion::MINIMUM_KRAFT.level()
        } else {
            0
        };
        image.features.levels.get(name).copied().unwrap_or(default)
    };
    let check = |name: &str, min: i16, max: i16| -> Result<(), ApiError> {
        let level = finalized(name);
        if level < min || level > max {
            return Err(ApiError::new(
                ErrorCode::UNSUPPORTED_VERSION,
                format!(
                    "Unable to register because the broker does not support finalized version {level} of {name}. \
                     The broker wants a version between {min} and {max}, inclusive."
                ),
            ));
        }
        Ok(())
    };
    let mut features = Vec::new();
    for f in &req.features {
        check(&f.name, f.min_supported_version, f.max_supported_version)?;
        features.push(BrokerFeature {
            name: f.name.clone(),
            min_supported_version: f.min_supported_version,
            max_supported_version: f.max_supported_version,
        });
    }
    if !req
        .features
        .iter()
        .any(|f| f.name == MetadataVersion::FEATURE_NAME)
    {
        let min = MetadataVersion::MINIMUM_KRAFT.level();
        check(MetadataVersion::FEATURE_NAME, min, min)?;
        features.push(BrokerFeature {
            name: MetadataVersion::FEATURE_NAME.into(),
            min_supported_version: min,
            max_supported_version: min,
        });
    }
    for (name, level) in &image.features.levels {
        if *level != 0
            && !req.features.iter().any(|f| f.name == *name)
            && name != MetadataVersion::FEATURE_NAME
        {
            check(name, 0, 0)?;
        }
    }

    let same_incarnation = existing.filter(|b| b.incarnation_id == req.incarnation_id);
    // A retried registration of the same incarnation keeps its epoch and state.
    let (epoch, fenced, in_controlled_shutdown) = match same_incarnation {
        Some(b) => (b.epoch, b.fenced, b.in_controlled_shutdown),
        None => (next_offset, true, false),
    };
    Ok(RegisterBrokerRecord {
        broker_id: req.broker_id,
        is_migrating_zk_broker: req.is_migrating_zk_broker,
        incarnation_id: req.incarnation_id,
        broker_epoch: epoch,
        end_points: req
            .listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.clone(),
                host: l.host.clone(),
                port: l.port,
                security_protocol: l.security_protocol,
            })
            .collect(),
        features,
        rack: req.rack.clone(),
        fenced,
        in_controlled_shutdown,
        log_dirs: if mv.is_directory_assignment_supported() {
            req.log_dirs.clone()
        } else {
            Vec::new()
        },
    })
}

fn current_state(b: &BrokerRegistration, session: Option<&BrokerSession>) -> BrokerControlState {
    if b.fenced {
        BrokerControlState::Fenced
    } else if b.in_controlled_shutdown || session.is_some_and(|s| s.shutting_down) {
        BrokerControlState::ControlledShutdown
    } else {
        BrokerControlState::Unfenced
    }
}

fn leads_partitions(image: &MetadataImage, broker: i32) -> bool {
    image
        .topics
        .iter()
        .any(|t| t.partitions.values().any(|p| p.leader == broker))
}

/// Handles BrokerHeartbeat (Kafka's `processBrokerHeartbeat`). Returns the result and the
/// broker's next state (`None` when the heartbeat was refused), which the caller records in
/// the broker's session.
pub fn broker_heartbeat(
    image: &MetadataImage,
    req: &BrokerHeartbeatRequest,
    session: Option<&BrokerSession>,
    zk_migration_enabled: bool,
) -> (
    ControllerResult<BrokerHeartbeatResponse>,
    Option<BrokerControlState>,
) {
    let refuse = || {
        let reply = BrokerHeartbeatResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::STALE_BROKER_EPOCH.code(),
            is_caught_up: false,
            is_fenced: true,
            should_shut_down: false,
        };
        (ControllerResult::reply_only(reply), None)
    };
    let Some(broker) = image.cluster.broker(req.broker_id) else {
        return refuse();
    };
    if broker.epoch != req.broker_epoch {
        return refuse();
    }
    // The registration record's offset is the broker epoch.
    let caught_up = req.current_metadata_offset >= broker.epoch;
    let current = current_state(broker, session);
    use BrokerControlState as S;
    let next = match current {
        S::Fenced if req.want_shut_down => S::ShutdownNow,
        S::Fenced if !req.want_fence && caught_up => S::Unfenced,
        S::Fenced => S::Fenced,
        S::Unfenced if req.want_fence && req.want_shut_down => S::ShutdownNow,
        S::Unfenced if req.want_fence => S::Fenced,
        S::Unfenced if req.want_shut_down && leads_partitions(image, req.broker_id) => {
            S::ControlledShutdown
        }
        S::Unfenced if req.want_shut_down => S::ShutdownNow,
        S::Unfenced => S::Unfenced,
        // Kafka also waits for every active broker to pass the shutdown offset; we let the
        // broker go once it leads nothing.
        S::ControlledShutdown if leads_partitions(image, req.broker_id) => S::ControlledShutdown,
        S::ControlledShutdown | S::ShutdownNow => S::ShutdownNow,
    };
    let mut records = Vec::new();
    if current != next {
        match next {
            S::Fenced | S::ShutdownNow => {
                handle_fenced(image, req.broker_id, zk_migration_enabled, &mut records)
            }
            S::Unfenced => handle_unfenced(
                image,
                req.broker_id,
                req.broker_epoch,
                zk_migration_enabled,
                &mut records,
            ),
            S::ControlledShutdown => handle_controlled_shutdown(
                image,
                req.broker_id,
                req.broker_epoch,
                zk_migration_enabled,
                &mut records,
            ),
        }
    }
    let reply = BrokerHeartbeatResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::NONE.code(),
        is_caught_up: caught_up,
        is_fenced: next.fenced(),
        should_shut_down: next.should_shut_down(),
    };
    (ControllerResult::new(records, reply), Some(next))
}

/// Fences several brokers (session expiry), each change computed on the state after the
/// previous ones. The reply lists the brokers fenced.
pub fn fence_brokers(
    image: &MetadataImage,
    brokers: &[i32],
    zk_migration_enabled: bool,
) -> ControllerResult<Vec<i32>> {
    let mut delta = MetadataDelta::new(image);
    let mut records = Vec::new();
    let mut fenced = Vec::new();
    for id in brokers {
        if delta.image().cluster.broker(*id).is_none_or(|b| b.fenced) {
            continue;
        }
        let mut these = Vec::new();
        handle_fenced(delta.image(), *id, zk_migration_enabled, &mut these);
        for r in &these {
            // Our own records always apply to the image they were computed from.
            let _ = delta.replay(r);
        }
        records.extend(these);
        fenced.push(*id);
    }
    ControllerResult::new(records, fenced)
}

fn unclean_allowed(image: &MetadataImage, topic: &str) -> bool {
    let key = "unclean.leader.election.enable";
    let value = image
        .configs
        .value(&ConfigResource::topic(topic), key)
        .or_else(|| image.configs.value(&ConfigResource::cluster_default(), key));
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// PartitionChangeRecords for every partition whose ISR contains `remove` (taking it out,
/// moving leadership off it), or, with `remove` = None, for every leaderless partition
/// (electing a leader, `add` being acceptable though not yet unfenced in the image).
fn leader_and_isr_updates(
    image: &MetadataImage,
    remove: Option<i32>,
    add: Option<i32>,
    zk_migration_enabled: bool,
    records: &mut Vec<MetadataRecord>,
) {
    let mv = metadata_version(image);
    for topic in image.topics.iter() {
        let unclean = unclean_allowed(image, &topic.name);
        for (partition_id, p) in &topic.partitions {
            let relevant = match remove {
                Some(b) => p.isr.contains(&b),
                None => !p.has_leader(),
            };
            if !relevant {
                continue;
            }
            let target_isr: Vec<i32> = p
                .isr
                .iter()
                .copied()
                .filter(|r| Some(*r) != remove)
                .collect();
            let change = PartitionChange {
                topic_id: topic.id,
                partition_id: *partition_id,
                partition: p,
                target_isr,
                acceptable_leader: |r: i32| {
                    Some(r) != remove && (Some(r) == add || image.cluster.is_active(r))
                },
                unclean,
                metadata_version: mv,
                zk_migration_enabled,
            };
            records.extend(change.build());
        }
    }
}

/// Kafka's `handleBrokerFenced`: leadership and ISR membership go, then the fence record.
fn handle_fenced(image: &MetadataImage, broker: i32, zk: bool, records: &mut Vec<MetadataRecord>) {
    let Some(b) = image.cluster.broker(broker) else {
        return;
    };
    if b.fenced {
        return;
    }
    leader_and_isr_updates(image, Some(broker), None, zk, records);
    if metadata_version(image).is_broker_registration_change_record_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: broker,
                broker_epoch: b.epoch,
                fenced: fencing_change::FENCE,
                ..Default::default()
            }),
        ));
    } else {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::FenceBroker(FenceBrokerRecord {
                id: broker,
                epoch: b.epoch,
            }),
        ));
    }
}

/// Kafka's `handleBrokerUnfenced`: the unfence record, then leaders for leaderless
/// partitions the broker can lead.
fn handle_unfenced(
    image: &MetadataImage,
    broker: i32,
    epoch: i64,
    zk: bool,
    records: &mut Vec<MetadataRecord>,
) {
    if metadata_version(image).is_broker_registration_change_record_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: broker,
                broker_epoch: epoch,
                fenced: fencing_change::UNFENCE,
                ..Default::default()
            }),
        ));
    } else {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::UnfenceBroker(UnfenceBrokerRecord { id: broker, epoch }),
        ));
    }
    leader_and_isr_updates(image, None, Some(broker), zk, records);
}

/// Kafka's `handleBrokerInControlledShutdown`: mark it (metadata.version 3.3-IV3+), then
/// move its leaderships and ISR memberships away.
fn handle_controlled_shutdown(
    image: &MetadataImage,
    broker: i32,
    epoch: i64,
    zk: bool,
    records: &mut Vec<MetadataRecord>,
) {
    let already = image
        .cluster
        .broker(broker)
        .is_some_and(|b| b.in_controlled_shutdown);
    if metadata_version(image).is_in_controlled_shutdown_state_supported() && !already {
        records.push(MetadataRecord::new(
            1,
            MetadataRecordBody::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                broker_id: broker,
                broker_epoch: epoch,
                in_controlled_shutdown: controlled_shutdown_change::IN_CONTROLLED_SHUTDOWN,
                ..Default::default()
            }),
        ));
    }
    leader_and_isr_updates(image, Some(broker), None, zk, records);
}
