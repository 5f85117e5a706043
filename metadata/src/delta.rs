//! [`MetadataDelta`]: the one way metadata changes. Records are replayed into a delta on top
//! of an image, and [`MetadataDelta::apply`] yields the next immutable image.
//!
//! Records come from committed batches of `__cluster_metadata` (KRaft brokers and standby
//! controllers), from the active controller's own proposals, from snapshots, and from the
//! ZooKeeper loader in legacy and migration modes (`docs/architecture.md` §4). A record
//! that does not fit (unknown topic id, stale broker epoch, …) is a [`ReplayError`] and leaves
//! the delta as it was: the caller logs it and carries on, as Kafka's `MetadataLoader` does.
//!
//! The delta also remembers what it touched ([`MetadataDelta::changed_topics`], …), which the
//! broker (replica manager) and the legacy propagator need to act on a change without diffing
//! whole images.

use std::collections::{BTreeMap, BTreeSet};

use protocol::messages::MetadataRecordBody;
use protocol::Uuid;

use crate::batch::MetadataBatch;
use crate::error::ReplayError;
use crate::image::features::ZkMigrationState;
use crate::image::{ConfigResource, MetadataImage, Provenance};
use crate::record::MetadataRecord;

/// A metadata transaction marker (KIP-868). The delta only records the latest one; holding
/// back images while a transaction is open, and discarding an aborted one, is the loader's
/// job and is not done yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionMarker {
    Begin { name: Option<String> },
    End,
    Abort { reason: Option<String> },
}

/// A record of a batch that failed to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFailure {
    pub offset: i64,
    pub record: &'static str,
    pub error: ReplayError,
}

/// Changes on top of a base image.
#[derive(Debug, Clone)]
pub struct MetadataDelta {
    next: MetadataImage,
    /// Topics created by a TopicRecord of this delta (so not in the base image).
    created_topics: BTreeSet<Uuid>,
    changed_topics: BTreeSet<Uuid>,
    deleted_topics: BTreeMap<Uuid, String>,
    changed_brokers: BTreeSet<i32>,
    changed_controllers: BTreeSet<i32>,
    changed_configs: BTreeSet<ConfigResource>,
    features_changed: bool,
    other_changed: bool,
    last_transaction_marker: Option<TransactionMarker>,
    records_replayed: usize,
}

impl MetadataDelta {
    /// An empty delta on top of `base` (cheap: the image's maps are shared, and each family
    /// is copied on its first change).
    pub fn new(base: &MetadataImage) -> MetadataDelta {
        MetadataDelta::from_image(base.clone())
    }

    /// A delta that takes over `base`. When nobody else holds the image's maps, changes are
    /// made in place instead of copying a family first: the controller replays its own
    /// records this way.
    pub fn from_image(base: MetadataImage) -> MetadataDelta {
        MetadataDelta {
            next: base,
            created_topics: BTreeSet::new(),
            changed_topics: BTreeSet::new(),
            deleted_topics: BTreeMap::new(),
            changed_brokers: BTreeSet::new(),
            changed_controllers: BTreeSet::new(),
            changed_configs: BTreeSet::new(),
            features_changed: false,
            other_changed: false,
            last_transaction_marker: None,
            records_replayed: 0,
        }
    }

    /// Replays one record. On error nothing changes.
    pub fn replay(&mut self, record: &MetadataRecord) -> Result<(), ReplayError> {
        use MetadataRecordBody as B;
        let next = &mut self.next;
        match &record.body {
            B::RegisterBroker(r) => {
                next.cluster.replay_register_broker(r);
                self.changed_brokers.insert(r.broker_id);
            }
            B::UnregisterBroker(r) => {
                next.cluster.replay_unregister_broker(r);
                self.changed_brokers.insert(r.broker_id);
            }
            B::FenceBroker(r) => {
                next.cluster.replay_fence(r)?;
                self.changed_brokers.insert(r.id);
            }
            B::UnfenceBroker(r) => {
                next.cluster.replay_unfence(r)?;
                self.changed_brokers.insert(r.id);
            }
            B::BrokerRegistrationChange(r) => {
                next.cluster.replay_change(r)?;
                self.changed_brokers.insert(r.broker_id);
            }
            B::RegisterController(r) => {
                next.cluster.replay_register_controller(r);
                self.changed_controllers.insert(r.controller_id);
            }
            B::Topic(r) => {
                next.topics.replay_topic(r)?;
                self.created_topics.insert(r.topic_id);
                self.changed_topics.insert(r.topic_id);
            }
            B::Partition(r) => {
                next.topics.replay_partition(r)?;
                self.changed_topics.insert(r.topic_id);
            }
            B::PartitionChange(r) => {
                next.topics.replay_partition_change(r)?;
                self.changed_topics.insert(r.topic_id);
            }
            B::RemoveTopic(r) => {
                let name = next.topics.replay_remove_topic(r)?;
                // Kafka's MetadataDelta drops the topic's configs with it.
                let resource = ConfigResource::topic(name.clone());
                if next.configs.remove_resource(&resource) {
                    self.changed_configs.insert(resource);
                }
                self.changed_topics.remove(&r.topic_id);
                if !self.created_topics.remove(&r.topic_id) {
                    self.deleted_topics.insert(r.topic_id, name);
                }
            }
            B::Config(r) => {
                next.configs.replay(r);
                self.changed_configs.insert(ConfigResource {
                    resource_type: r.resource_type,
                    name: r.resource_name.clone(),
                });
            }
            B::FeatureLevel(r) => {
                next.features.replay(r)?;
                self.features_changed = true;
            }
            B::ZkMigrationState(r) => {
                next.zk_migration_state = ZkMigrationState::replay(r)?;
                self.features_changed = true;
            }
            B::ProducerIds(r) => {
                next.producer_ids.replay(r);
                self.other_changed = true;
            }
            B::ClientQuota(r) => {
                next.client_quotas.replay(r);
                self.other_changed = true;
            }
            B::AccessControlEntry(r) => {
                next.acls.replay(r);
                self.other_changed = true;
            }
            B::RemoveAccessControlEntry(r) => {
                next.acls.replay_remove(r)?;
                self.other_changed = true;
            }
            B::UserScramCredential(r) => {
                next.scram.replay(r);
                self.other_changed = true;
            }
            B::RemoveUserScramCredential(r) => {
                next.scram.replay_remove(r);
                self.other_changed = true;
            }
            B::DelegationToken(r) => {
                next.delegation_tokens.replay(r);
                self.other_changed = true;
            }
            B::RemoveDelegationToken(r) => {
                next.delegation_tokens.replay_remove(r);
                self.other_changed = true;
            }
            B::BeginTransaction(r) => {
                self.last_transaction_marker = Some(TransactionMarker::Begin {
                    name: r.name.clone(),
                });
            }
            B::EndTransaction(_) => self.last_transaction_marker = Some(TransactionMarker::End),
            B::AbortTransaction(r) => {
                self.last_transaction_marker = Some(TransactionMarker::Abort {
                    reason: r.reason.clone(),
                });
            }
            // KIP-835: a heartbeat of the metadata log; it only moves the provenance.
            B::NoOp(_) => {}
        }
        self.records_replayed += 1;
        Ok(())
    }

    /// Replays every record of a committed batch and moves the provenance to its end.
    /// Records that fail are skipped and returned with their offsets, for the caller to log.
    pub fn replay_batch(&mut self, batch: &MetadataBatch) -> Vec<ReplayFailure> {
        let mut failures = Vec::new();
        for (offset, record) in (batch.base_offset..).zip(&batch.records) {
            if let Err(error) = self.replay(record) {
                failures.push(ReplayFailure {
                    offset,
                    record: record.name(),
                    error,
                });
            }
        }
        self.set_provenance(Provenance {
            last_contained_offset: batch.last_offset,
            last_contained_epoch: batch.epoch,
            last_contained_log_time_ms: batch.append_time_ms,
        });
        failures
    }

    /// Sets where in the log the resulting image stands.
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.next.provenance = provenance;
    }

    /// The state so far, as [`MetadataDelta::apply`] would return it.
    pub fn image(&self) -> &MetadataImage {
        &self.next
    }

    /// Records replayed successfully so far.
    pub fn records_replayed(&self) -> usize {
        self.records_replayed
    }

    /// Topics created or changed by this delta that still exist.
    pub fn changed_topics(&self) -> &BTreeSet<Uuid> {
        &self.changed_topics
    }

    /// Topics of the base image that this delta removed, with their names.
    pub fn deleted_topics(&self) -> &BTreeMap<Uuid, String> {
        &self.deleted_topics
    }

    /// Brokers registered, unregistered, fenced, unfenced or otherwise changed.
    pub fn changed_brokers(&self) -> &BTreeSet<i32> {
        &self.changed_brokers
    }

    /// Controllers (re)registered.
    pub fn changed_controllers(&self) -> &BTreeSet<i32> {
        &self.changed_controllers
    }

    /// Config resources set or cleared (including those of deleted topics).
    pub fn changed_configs(&self) -> &BTreeSet<ConfigResource> {
        &self.changed_configs
    }

    /// True if a feature level or the migration state was replayed.
    pub fn features_changed(&self) -> bool {
        self.features_changed
    }

    /// The latest Begin/End/AbortTransactionRecord replayed, if any.
    pub fn last_transaction_marker(&self) -> Option<&TransactionMarker> {
        self.last_transaction_marker.as_ref()
    }

    /// True if nothing but NoOp records (or nothing at all) was replayed.
    pub fn is_empty(&self) -> bool {
        self.changed_topics.is_empty()
            && self.deleted_topics.is_empty()
            && self.changed_brokers.is_empty()
            && self.changed_controllers.is_empty()
            && self.changed_configs.is_empty()
            && !self.features_changed
            && !self.other_changed
    }

    /// The next image.
    pub fn apply(self) -> MetadataImage {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::messages::{ConfigRecord, PartitionChangeRecord, RemoveTopicRecord, TopicRecord};

    fn rec(body: MetadataRecordBody) -> MetadataRecord {
        MetadataRecord::new(0, body)
    }

    #[test]
    fn remove_topic_drops_its_configs_and_is_reported() {
        let id = Uuid([3; 16]);
        let mut d = MetadataDelta::new(&MetadataImage::empty());
        d.replay(&rec(MetadataRecordBody::Topic(TopicRecord {
            name: "t".into(),
            topic_id: id,
        })))
        .unwrap();
        d.replay(&rec(MetadataRecordBody::Config(ConfigRecord {
            resource_type: 2,
            resource_name: "t".into(),
            name: "retention.ms".into(),
            value: Some("1".into()),
        })))
        .unwrap();
        let image = d.apply();
        assert!(image.configs.topic("t").is_some());

        let mut d = MetadataDelta::new(&image);
        d.replay(&rec(MetadataRecordBody::RemoveTopic(RemoveTopicRecord {
            topic_id: id,
        })))
        .unwrap();
        assert_eq!(d.deleted_topics().get(&id).map(String::as_str), Some("t"));
        assert!(d.changed_configs().contains(&ConfigResource::topic("t")));
        let image = d.apply();
        assert!(image.is_empty());
    }

    #[test]
    fn unknown_topic_is_an_error_that_changes_nothing() {
        let mut d = MetadataDelta::new(&MetadataImage::empty());
        let change = PartitionChangeRecord {
            topic_id: Uuid([9; 16]),
            partition_id: 0,
            ..Default::default()
        };
        let err = d
            .replay(&rec(MetadataRecordBody::PartitionChange(change)))
            .unwrap_err();
        assert!(matches!(
            err,
            ReplayError::UnknownTopicId {
                record: "PartitionChangeRecord",
                ..
            }
        ));
        assert!(d.is_empty());
        assert_eq!(d.records_replayed(), 0);
        assert_eq!(d.apply(), MetadataImage::empty());
    }
}
