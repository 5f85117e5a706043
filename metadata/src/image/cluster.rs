//! Broker and controller registrations: RegisterBrokerRecord, UnregisterBrokerRecord,
//! Fence/UnfenceBrokerRecord, BrokerRegistrationChangeRecord and RegisterControllerRecord
//! (`docs/formats.md` §11.4 keys 0, 1, 7, 8, 17, 27), replayed into [`ClusterImage`].
//!
//! Semantics follow Kafka 3.9's `ClusterDelta`: a registration replaces any earlier one for
//! the id; fence/unfence/change records must name a registered broker and its current epoch.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::messages::register_broker_record::{BrokerEndpoint, BrokerFeature};
use protocol::messages::register_controller_record::{ControllerEndpoint, ControllerFeature};
use protocol::messages::{
    BrokerRegistrationChangeRecord, FenceBrokerRecord, MetadataRecordBody, RegisterBrokerRecord,
    RegisterControllerRecord, UnfenceBrokerRecord, UnregisterBrokerRecord,
};
use protocol::Uuid;

use crate::error::ReplayError;
use crate::record::MetadataRecord;

/// A listener a node advertises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's `SecurityProtocol` id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.
    pub security_protocol: i16,
}

/// An inclusive range of supported feature levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

impl VersionRange {
    pub fn contains(&self, level: i16) -> bool {
        self.min <= level && level <= self.max
    }
}

/// A registered broker (Kafka's `BrokerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerRegistration {
    pub id: i32,
    /// The broker epoch: the offset of the RegisterBrokerRecord that started this incarnation.
    pub epoch: i64,
    pub incarnation_id: Uuid,
    /// In registration order.
    pub listeners: Vec<Endpoint>,
    pub features: BTreeMap<String, VersionRange>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    /// A ZooKeeper-mode broker registered during a migration (KIP-866).
    pub is_migrating_zk_broker: bool,
    /// Log directory ids (KIP-858); empty before metadata.version 3.7-IV2.
    pub directories: Vec<Uuid>,
}

impl BrokerRegistration {
    pub fn from_record(r: &RegisterBrokerRecord) -> BrokerRegistration {
        BrokerRegistration {
            id: r.broker_id,
            epoch: r.broker_epoch,
            incarnation_id: r.incarnation_id,
            listeners: r
                .end_points
                .iter()
                .map(|e| Endpoint {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                })
                .collect(),
            features: r
                .features
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        VersionRange {
                            min: f.min_supported_version,
                            max: f.max_supported_version,
                        },
                    )
                })
                .collect(),
            rack: r.rack.clone(),
            fenced: r.fenced,
            in_controlled_shutdown: r.in_controlled_shutdown,
            is_migrating_zk_broker: r.is_migrating_zk_broker,
            directories: r.log_dirs.clone(),
        }
    }

    /// The record that recreates this registration, at the lowest version carrying it.
    pub fn to_record(&self) -> MetadataRecord {
        let version = if !self.directories.is_empty() {
            3
        } else if self.is_migrating_zk_broker {
            2
        } else if self.in_controlled_shutdown {
            1
        } else {
            0
        };
        MetadataRecord::new(
            version,
            MetadataRecordBody::RegisterBroker(RegisterBrokerRecord {
                broker_id: self.id,
                is_migrating_zk_broker: self.is_migrating_zk_broker,
                incarnation_id: self.incarnation_id,
                broker_epoch: self.epoch,
                end_points: self
                    .listeners
                    .iter()
                    .map(|e| BrokerEndpoint {
                        name: e.name.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        security_protocol: e.security_protocol,
                    })
                    .collect(),
                features: self
                    .features
                    .iter()
                    .map(|(name, r)| BrokerFeature {
                        name: name.clone(),
                        min_supported_version: r.min,
                        max_supported_version: r.max,
                    })
                    .collect(),
                rack: self.rack.clone(),
                fenced: self.fenced,
                in_controlled_shutdown: self.in_controlled_shutdown,
                log_dirs: self.directories.clone(),
            }),
        )
    }

    /// Unfenced and not shutting down: may lead partitions and join new ISRs (Kafka's
    /// `ClusterControlManager.isActive`).
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&Endpoint> {
        self.listeners.iter().find(|l| l.name == name)
    }
}

/// A registered controller (KIP-919, Kafka's `ControllerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControllerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    pub zk_migration_ready: bool,
    pub listeners: Vec<Endpoint>,
    pub features: BTreeMap<String, VersionRange>,
}

impl ControllerRegistration {
    pub fn from_record(r: &RegisterControllerRecord) -> ControllerRegistration {
        ControllerRegistration {
            id: r.controller_id,
            incarnation_id: r.incarnation_id,
            zk_migration_ready: r.zk_migration_ready,
            listeners: r
                .end_points
                .iter()
                .map(|e| Endpoint {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                })
                .collect(),
            features: r
                .features
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        VersionRange {
                            min: f.min_supported_version,
                            max: f.max_supported_version,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn to_record(&self) -> MetadataRecord {
        MetadataRecord::new(
            0,
            MetadataRecordBody::RegisterController(RegisterControllerRecord {
                controller_id: self.id,
                incarnation_id: self.incarnation_id,
                zk_migration_ready: self.zk_migration_ready,
                end_points: self
                    .listeners
                    .iter()
                    .map(|e| ControllerEndpoint {
                        name: e.name.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        security_protocol: e.security_protocol,
                    })
                    .collect(),
                features: self
                    .features
                    .iter()
                    .map(|(name, r)| ControllerFeature {
                        name: name.clone(),
                        min_supported_version: r.min,
                        max_supported_version: r.max,
                    })
                    .collect(),
            }),
        )
    }
}

/// Broker and controller registrations by node id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterImage {
    pub brokers: Arc<BTreeMap<i32, BrokerRegistration>>,
    pub controllers: Arc<BTreeMap<i32, ControllerRegistration>>,
}

/// `Fenced` of a BrokerRegistrationChangeRecord (Kafka's `BrokerRegistrationFencingChange`).
pub mod fencing_change {
    pub const UNFENCE: i8 = -1;
    pub const NONE: i8 = 0;
    pub const FENCE: i8 = 1;
}

/// `InControlledShutdown` of a BrokerRegistrationChangeRecord.
pub mod controlled_shutdown_change {
    pub const NONE: i8 = 0;
    pub const IN_CONTROLLED_SHUTDOWN: i8 = 1;
}

impl ClusterImage {
    pub fn broker(&self, id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&id)
    }

    /// Registered brokers that are unfenced, in id order.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Unfenced and not in controlled shutdown.
    pub fn is_active(&self, id: i32) -> bool {
        self.broker(id).is_some_and(BrokerRegistration::is_active)
    }

    pub(crate) fn replay_register_broker(&mut self, r: &RegisterBrokerRecord) {
        Arc::make_mut(&mut self.brokers).insert(r.broker_id, BrokerRegistration::from_record(r));
    }

    pub(crate) fn replay_unregister_broker(&mut self, r: &UnregisterBrokerRecord) {
        if self.brokers.contains_key(&r.broker_id) {
            Arc::make_mut(&mut self.brokers).remove(&r.broker_id);
        }
    }

    pub(crate) fn replay_fence(&mut self, r: &FenceBrokerRecord) -> Result<(), ReplayError> {
        let b = self.broker_mut("FenceBrokerRecord", r.id, r.epoch)?;
        b.fenced = true;
        Ok(())
    }

    pub(crate) fn replay_unfence(&mut self, r: &UnfenceBrokerRecord) -> Result<(), ReplayError> {
        let b = self.broker_mut("UnfenceBrokerRecord", r.id, r.epoch)?;
        b.fenced = false;
        Ok(())
    }

    pub(crate) fn replay_change(
        &mut self,
        r: &BrokerRegistrationChangeRecord,
    ) -> Result<(), ReplayError> {
        const RECORD: &str = "BrokerRegistrationChangeRecord";
        let fenced = match r.fenced {
            fencing_change::UNFENCE => Some(false),
            fencing_change::NONE => None,
            fencing_change::FENCE => Some(true),
            other => {
                return Err(ReplayError::InvalidValue {
                    record: RECORD,
                    field: "Fenced",
                    value: other.into(),
                })
            }
        };
        let in_controlled_shutdown = match r.in_controlled_shutdown {
            controlled_shutdown_change::NONE => None,
            controlled_shutdown_change::IN_CONTROLLED_SHUTDOWN => Some(true),
            other => {
                return Err(ReplayError::InvalidValue {
                    record: RECORD,
                    field: "InControlledShutdown",
                    value: other.into(),
                })
            }
        };
        // Check before copying the map, so an error leaves the image untouched.
        self.check_broker(RECORD, r.broker_id, r.broker_epoch)?;
        let b = self.broker_mut(RECORD, r.broker_id, r.broker_epoch)?;
        if let Some(fenced) = fenced {
            b.fenced = fenced;
        }
        if let Some(ics) = in_controlled_shutdown {
            b.in_controlled_shutdown = ics;
        }
        if !r.log_dirs.is_empty() {
            b.directories = r.log_dirs.clone();
        }
        Ok(())
    }

    pub(crate) fn replay_register_controller(&mut self, r: &RegisterControllerRecord) {
        Arc::make_mut(&mut self.controllers)
            .insert(r.controller_id, ControllerRegistration::from_record(r));
    }

    fn check_broker(&self, record: &'static str, id: i32, epoch: i64) -> Result<(), ReplayError> {
        match self.brokers.get(&id) {
            None => Err(ReplayError::UnknownBroker {
                record,
                broker_id: id,
            }),
            Some(b) if b.epoch != epoch => Err(ReplayError::BrokerEpochMismatch {
                record,
                broker_id: id,
                expected: b.epoch,
                actual: epoch,
            }),
            Some(_) => Ok(()),
        }
    }

    fn broker_mut(
        &mut self,
        record: &'static str,
        id: i32,
        epoch: i64,
    ) -> Result<&mut BrokerRegistration, ReplayError> {
        self.check_broker(record, id, epoch)?;
        Arc::make_mut(&mut self.brokers)
            .get_mut(&id)
            .ok_or(ReplayError::UnknownBroker {
                record,
                broker_id: id,
            })
    }

    /// Broker registrations, then controller registrations, in id order.
    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        out.extend(self.brokers.values().map(BrokerRegistration::to_record));
        out.extend(
            self.controllers
                .values()
                .map(ControllerRegistration::to_record),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(id: i32, epoch: i64) -> RegisterBrokerRecord {
        RegisterBrokerRecord {
            broker_id: id,
            broker_epoch: epoch,
            fenced: true,
            ..Default::default()
        }
    }

    #[test]
    fn fencing_needs_the_current_epoch() {
        let mut c = ClusterImage::default();
        c.replay_register_broker(&register(1, 10));
        let unfence = BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 10,
            fenced: -1,
            ..Default::default()
        };
        c.replay_change(&unfence).unwrap();
        assert!(c.is_active(1));
        let stale = FenceBrokerRecord { id: 1, epoch: 9 };
        assert!(matches!(
            c.replay_fence(&stale),
            Err(ReplayError::BrokerEpochMismatch { expected: 10, .. })
        ));
        assert!(c.is_active(1));
        let unknown = UnfenceBrokerRecord { id: 2, epoch: 10 };
        assert!(matches!(
            c.replay_unfence(&unknown),
            Err(ReplayError::UnknownBroker { broker_id: 2, .. })
        ));
        let shutdown = BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 10,
            in_controlled_shutdown: 1,
            ..Default::default()
        };
        c.replay_change(&shutdown).unwrap();
        assert!(!c.is_active(1) && !c.broker(1).unwrap().fenced);
        let bad = BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 10,
            fenced: 5,
            ..Default::default()
        };
        assert!(matches!(
            c.replay_change(&bad),
            Err(ReplayError::InvalidValue {
                field: "Fenced",
                ..
            })
        ));
    }
}
