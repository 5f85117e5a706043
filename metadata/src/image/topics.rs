//! Topics and partitions: TopicRecord, PartitionRecord, PartitionChangeRecord and
//! RemoveTopicRecord (`docs/formats.md` §11.4 keys 2, 3, 5, 9), replayed into [`TopicsImage`].
//!
//! Partition semantics follow Kafka 3.9's `PartitionRegistration`: a PartitionChangeRecord
//! is merged field by field (null = unchanged, Leader −2 = unchanged, LeaderRecoveryState −1
//! = unchanged); **every** change record bumps the partition epoch, and any Leader other than
//! −2 bumps the leader epoch, even if it names the current leader (that is how controllers
//! force an epoch bump, e.g. on ISR shrink before 3.6). Missing directory ids (records before
//! KIP-858) read as `MIGRATING`, one per replica.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::messages::{
    MetadataRecordBody, PartitionChangeRecord, PartitionRecord, RemoveTopicRecord, TopicRecord,
};
use protocol::Uuid;

use crate::directory_id;
use crate::error::ReplayError;
use crate::image::diff::{self, Change};
use crate::record::MetadataRecord;

/// `Leader` of a partition without one.
pub const NO_LEADER: i32 = -1;
/// `Leader` of a PartitionChangeRecord that keeps the current leader.
pub const NO_LEADER_CHANGE: i32 = -2;

/// Whether the leader's log is known complete (KIP-704).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LeaderRecoveryState {
    /// The normal state.
    #[default]
    Recovered,
    /// After an unclean election, until the new leader has recovered its log.
    Recovering,
}

impl LeaderRecoveryState {
    pub fn value(self) -> i8 {
        match self {
            LeaderRecoveryState::Recovered => 0,
            LeaderRecoveryState::Recovering => 1,
        }
    }

    pub fn from_value(value: i8) -> Option<LeaderRecoveryState> {
        match value {
            0 => Some(LeaderRecoveryState::Recovered),
            1 => Some(LeaderRecoveryState::Recovering),
            _ => None,
        }
    }
}

/// One partition's replicas and leadership (Kafka's `PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PartitionRegistration {
    pub replicas: Vec<i32>,
    /// One directory id per replica (KIP-858); `MIGRATING` (all zero) when unknown.
    pub directories: Vec<Uuid>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// The leader's broker id, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_recovery_state: LeaderRecoveryState,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// KIP-966 eligible leader replicas (only written at metadata.version 4.0+).
    pub eligible_leader_replicas: Vec<i32>,
    /// KIP-966 last known ELR.
    pub last_known_elr: Vec<i32>,
}

impl PartitionRegistration {
    /// The registration a PartitionRecord describes.
    pub fn from_record(r: &PartitionRecord) -> Result<PartitionRegistration, ReplayError> {
        let leader_recovery_state = recovery_state("PartitionRecord", r.leader_recovery_state)?;
        let directories = directories_for(
            "PartitionRecord",
            r.topic_id,
            r.partition_id,
            &r.directories,
            &r.replicas,
        )?;
        Ok(PartitionRegistration {
            replicas: r.replicas.clone(),
            directories,
            isr: r.isr.clone(),
            removing_replicas: r.removing_replicas.clone(),
            adding_replicas: r.adding_replicas.clone(),
            leader: r.leader,
            leader_recovery_state,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            eligible_leader_replicas: r.eligible_leader_replicas.clone().unwrap_or_default(),
            last_known_elr: r.last_known_elr.clone().unwrap_or_default(),
        })
    }

    /// Kafka's `PartitionRegistration.merge`: the registration after `r`.
    pub fn merge(&self, r: &PartitionChangeRecord) -> Result<PartitionRegistration, ReplayError> {
        const RECORD: &str = "PartitionChangeRecord";
        let replicas = r.replicas.clone().unwrap_or_else(|| self.replicas.clone());
        let directories = match &r.directories {
            Some(dirs) => directories_for(RECORD, r.topic_id, r.partition_id, dirs, &replicas)?,
            None => carry_directories(&self.replicas, &self.directories, &replicas),
        };
        let (leader, leader_epoch) = if r.leader == NO_LEADER_CHANGE {
            (self.leader, self.leader_epoch)
        } else {
            (r.leader, self.leader_epoch.wrapping_add(1))
        };
        let leader_recovery_state = if r.leader_recovery_state == -1 {
            self.leader_recovery_state
        } else {
            recovery_state(RECORD, r.leader_recovery_state)?
        };
        Ok(PartitionRegistration {
            replicas,
            directories,
            isr: r.isr.clone().unwrap_or_else(|| self.isr.clone()),
            removing_replicas: r
                .removing_replicas
                .clone()
                .unwrap_or_else(|| self.removing_replicas.clone()),
            adding_replicas: r
                .adding_replicas
                .clone()
                .unwrap_or_else(|| self.adding_replicas.clone()),
            leader,
            leader_recovery_state,
            leader_epoch,
            partition_epoch: self.partition_epoch.wrapping_add(1),
            eligible_leader_replicas: r
                .eligible_leader_replicas
                .clone()
                .unwrap_or_else(|| self.eligible_leader_replicas.clone()),
            last_known_elr: r
                .last_known_elr
                .clone()
                .unwrap_or_else(|| self.last_known_elr.clone()),
        })
    }

    /// The PartitionRecord that recreates this registration, at the lowest version that
    /// carries all of it: v2 with ELR, v1 with directory ids, else v0 (what the ZK migration
    /// and pre-3.7 controllers write, `docs/formats.md` §11.4).
    pub fn to_record(&self, topic_id: Uuid, partition_id: i32) -> MetadataRecord {
        let has_elr = !self.eligible_leader_replicas.is_empty() || !self.last_known_elr.is_empty();
        let has_dirs = self
            .directories
            .iter()
            .any(|d| *d != directory_id::MIGRATING);
        let version = if has_elr {
            2
        } else if has_dirs {
            1
        } else {
            0
        };
        MetadataRecord::new(
            version,
            MetadataRecordBody::Partition(PartitionRecord {
                partition_id,
                topic_id,
                replicas: self.replicas.clone(),
                isr: self.isr.clone(),
                removing_replicas: self.removing_replicas.clone(),
                adding_replicas: self.adding_replicas.clone(),
                leader: self.leader,
                leader_recovery_state: self.leader_recovery_state.value(),
                leader_epoch: self.leader_epoch,
                partition_epoch: self.partition_epoch,
                directories: if version >= 1 {
                    self.directories.clone()
                } else {
                    Vec::new()
                },
                eligible_leader_replicas: (!self.eligible_leader_replicas.is_empty())
                    .then(|| self.eligible_leader_replicas.clone()),
                last_known_elr: (!self.last_known_elr.is_empty())
                    .then(|| self.last_known_elr.clone()),
            }),
        )
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// The first replica: where a preferred leader election moves leadership.
    pub fn preferred_replica(&self) -> Option<i32> {
        self.replicas.first().copied()
    }

    /// True if a reassignment is in progress (KIP-455).
    pub fn is_reassigning(&self) -> bool {
        !self.removing_replicas.is_empty() || !self.adding_replicas.is_empty()
    }

    /// The directory of `broker`'s replica, if it hosts one.
    pub fn directory(&self, broker: i32) -> Option<Uuid> {
        let i = self.replicas.iter().position(|r| *r == broker)?;
        self.directories.get(i).copied()
    }
}

fn recovery_state(record: &'static str, value: i8) -> Result<LeaderRecoveryState, ReplayError> {
    LeaderRecoveryState::from_value(value).ok_or(ReplayError::InvalidValue {
        record,
        field: "LeaderRecoveryState",
        value: value.into(),
    })
}

/// Directory ids of a record: empty means unknown (`MIGRATING` per replica); otherwise one
/// per replica (Kafka's `checkDirectories`).
fn directories_for(
    record: &'static str,
    topic_id: Uuid,
    partition: i32,
    dirs: &[Uuid],
    replicas: &[i32],
) -> Result<Vec<Uuid>, ReplayError> {
    if dirs.is_empty() {
        return Ok(vec![directory_id::MIGRATING; replicas.len()]);
    }
    if dirs.len() != replicas.len() {
        return Err(ReplayError::DirectoriesMismatch {
            record,
            topic_id,
            partition,
            replicas: replicas.len(),
            directories: dirs.len(),
        });
    }
    Ok(dirs.to_vec())
}

/// Directories after a replica change that named none: each kept replica keeps its
/// directory, a new one gets `MIGRATING` if every old one was, else `UNASSIGNED`.
fn carry_directories(old_replicas: &[i32], old_dirs: &[Uuid], new_replicas: &[i32]) -> Vec<Uuid> {
    if old_replicas == new_replicas && old_dirs.len() == new_replicas.len() {
        return old_dirs.to_vec();
    }
    let all_migrating = old_dirs.iter().all(|d| *d == directory_id::MIGRATING);
    if all_migrating {
        return vec![directory_id::MIGRATING; new_replicas.len()];
    }
    new_replicas
        .iter()
        .map(|r| {
            old_replicas
                .iter()
                .position(|o| o == r)
                .and_then(|i| old_dirs.get(i).copied())
                .unwrap_or(directory_id::UNASSIGNED)
        })
        .collect()
}

/// A topic: its name, id and partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// The topics that differ between two images ([`TopicsImage::changes_since`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicsChanges {
    /// Topics new in the newer image or changed in it, by id.
    pub upserted: Vec<Uuid>,
    /// Topics of the older image that the newer one lacks: id and name.
    pub removed: Vec<(Uuid, String)>,
}

/// All topics, by id with an index by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicsImage {
    by_id: Arc<BTreeMap<Uuid, Arc<TopicImage>>>,
    by_name: Arc<BTreeMap<String, Uuid>>,
}

impl TopicsImage {
    pub fn by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.by_id.get(id).map(|t| &**t)
    }

    pub fn by_name(&self, name: &str) -> Option<&TopicImage> {
        self.by_name.get(name).and_then(|id| self.by_id(id))
    }

    /// The id of the topic called `name`.
    pub fn id_of(&self, name: &str) -> Option<Uuid> {
        self.by_name.get(name).copied()
    }

    pub fn partition(&self, id: &Uuid, partition: i32) -> Option<&PartitionRegistration> {
        self.by_id(id)?.partitions.get(&partition)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Topics in id order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicImage> {
        self.by_id.values().map(|t| &**t)
    }

    /// Names that start with `prefix`, in order: a range of the name index, not a scan.
    pub fn names_starting_with<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> {
        self.by_name
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(n, _)| n.as_str())
            .take_while(move |n| n.starts_with(prefix))
    }

    /// Topics in name order.
    pub fn iter_by_name(&self) -> impl Iterator<Item = &TopicImage> {
        self.by_name.values().filter_map(|id| self.by_id(id))
    }

    /// The topics that differ from `older`. A delta copies a topic on its first change and
    /// shares every other one with its base image, so topics are compared by allocation, not
    /// by content: one pointer comparison per topic, none when the whole family is shared. A
    /// topic copied but left equal is reported as changed; callers re-apply it, harmlessly.
    pub fn changes_since(&self, older: &TopicsImage) -> TopicsChanges {
        let mut out = TopicsChanges::default();
        if Arc::ptr_eq(&self.by_id, &older.by_id) {
            return out;
        }
        diff::changes(&older.by_id, &self.by_id, Arc::ptr_eq, |c| match c {
            Change::Upserted(id, _) => out.upserted.push(*id),
            Change::Removed(id, t) => out.removed.push((*id, t.name.clone())),
        });
        out
    }

    pub(crate) fn replay_topic(&mut self, r: &TopicRecord) -> Result<(), ReplayError> {
        if let Some(existing) = self.by_id(&r.topic_id) {
            return Err(ReplayError::TopicIdExists {
                name: r.name.clone(),
                topic_id: r.topic_id,
                existing: existing.name.clone(),
            });
        }
        if let Some(existing) = self.id_of(&r.name) {
            return Err(ReplayError::TopicNameExists {
                name: r.name.clone(),
                topic_id: r.topic_id,
                existing,
            });
        }
        let topic = TopicImage {
            name: r.name.clone(),
            id: r.topic_id,
            partitions: BTreeMap::new(),
        };
        Arc::make_mut(&mut self.by_id).insert(r.topic_id, Arc::new(topic));
        Arc::make_mut(&mut self.by_name).insert(r.name.clone(), r.topic_id);
        Ok(())
    }

    pub(crate) fn replay_partition(&mut self, r: &PartitionRecord) -> Result<(), ReplayError> {
        let registration = PartitionRegistration::from_record(r)?;
        let topic = self.topic_mut("PartitionRecord", r.topic_id)?;
        topic.partitions.insert(r.partition_id, registration);
        Ok(())
    }

    pub(crate) fn replay_partition_change(
        &mut self,
        r: &PartitionChangeRecord,
    ) -> Result<(), ReplayError> {
        const RECORD: &str = "PartitionChangeRecord";
        let Some(current) = self.partition(&r.topic_id, r.partition_id) else {
            if self.by_id(&r.topic_id).is_none() {
                return Err(ReplayError::UnknownTopicId {
                    record: RECORD,
                    topic_id: r.topic_id,
                });
            }
            return Err(ReplayError::UnknownPartition {
                record: RECORD,
                topic_id: r.topic_id,
                partition: r.partition_id,
            });
        };
        let next = current.merge(r)?;
        self.topic_mut(RECORD, r.topic_id)?
            .partitions
            .insert(r.partition_id, next);
        Ok(())
    }

    /// Removes the topic and returns its name (its configs go too, see the delta).
    pub(crate) fn replay_remove_topic(
        &mut self,
        r: &RemoveTopicRecord,
    ) -> Result<String, ReplayError> {
        let Some(topic) = Arc::make_mut(&mut self.by_id).remove(&r.topic_id) else {
            return Err(ReplayError::UnknownTopicId {
                record: "RemoveTopicRecord",
                topic_id: r.topic_id,
            });
        };
        Arc::make_mut(&mut self.by_name).remove(&topic.name);
        Ok(topic.name.clone())
    }

    fn topic_mut(
        &mut self,
        record: &'static str,
        id: Uuid,
    ) -> Result<&mut TopicImage, ReplayError> {
        if !self.by_id.contains_key(&id) {
            return Err(ReplayError::UnknownTopicId {
                record,
                topic_id: id,
            });
        }
        let topic =
            Arc::make_mut(&mut self.by_id)
                .get_mut(&id)
                .ok_or(ReplayError::UnknownTopicId {
                    record,
                    topic_id: id,
                })?;
        Ok(Arc::make_mut(topic))
    }

    /// TopicRecord then PartitionRecords for every topic, in id order (Kafka's
    /// `TopicsImage.write`).
    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for topic in self.iter() {
            out.push(MetadataRecord::new(
                0,
                MetadataRecordBody::Topic(TopicRecord {
                    name: topic.name.clone(),
                    topic_id: topic.id,
                }),
            ));
            for (partition_id, p) in &topic.partitions {
                out.push(p.to_record(topic.id, *partition_id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition_record() -> PartitionRecord {
        PartitionRecord {
            partition_id: 0,
            topic_id: Uuid([1; 16]),
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            ..Default::default()
        }
    }

    fn topic_record(name: &str, id: u8) -> TopicRecord {
        TopicRecord {
            name: name.into(),
            topic_id: Uuid([id; 16]),
        }
    }

    #[test]
    fn changes_since_finds_what_a_delta_touched() {
        let mut base = TopicsImage::default();
        base.replay_topic(&topic_record("a", 1)).unwrap();
        base.replay_topic(&topic_record("b", 2)).unwrap();
        base.replay_topic(&topic_record("c", 3)).unwrap();
        assert_eq!(base.changes_since(&base.clone()), TopicsChanges::default());

        // As a delta does: start from a shared copy, change one topic, add and remove one.
        let mut next = base.clone();
        next.replay_partition(&PartitionRecord {
            topic_id: Uuid([2; 16]),
            ..partition_record()
        })
        .unwrap();
        next.replay_topic(&topic_record("d", 4)).unwrap();
        next.replay_remove_topic(&RemoveTopicRecord {
            topic_id: Uuid([3; 16]),
        })
        .unwrap();
        let changes = next.changes_since(&base);
        assert_eq!(changes.upserted, vec![Uuid([2; 16]), Uuid([4; 16])]);
        assert_eq!(changes.removed, vec![(Uuid([3; 16]), "c".to_string())]);
        // And the other way round.
        let back = base.changes_since(&next);
        assert_eq!(back.upserted, vec![Uuid([2; 16]), Uuid([3; 16])]);
        assert_eq!(back.removed, vec![(Uuid([4; 16]), "d".to_string())]);
    }

    #[test]
    fn merge_follows_kafka_epoch_rules() {
        let p = PartitionRegistration::from_record(&partition_record()).unwrap();
        assert_eq!(p.directories, vec![directory_id::MIGRATING; 3]);

        // ISR-only change: partition epoch bumps, leader epoch does not.
        let shrink = PartitionChangeRecord {
            isr: Some(vec![1, 2]),
            ..Default::default()
        };
        let q = p.merge(&shrink).unwrap();
        assert_eq!((q.leader, q.leader_epoch, q.partition_epoch), (1, 0, 1));
        assert_eq!(q.isr, vec![1, 2]);

        // Leader change: both bump.
        let lead = PartitionChangeRecord {
            leader: 2,
            ..Default::default()
        };
        let r = q.merge(&lead).unwrap();
        assert_eq!((r.leader, r.leader_epoch, r.partition_epoch), (2, 1, 2));

        // Leader "set" to the same broker still bumps the leader epoch (forced bump).
        let same = PartitionChangeRecord {
            leader: 2,
            ..Default::default()
        };
        let s = r.merge(&same).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.partition_epoch), (2, 2, 3));

        // -1 means "no leader", not "unchanged".
        let none = PartitionChangeRecord {
            leader: -1,
            ..Default::default()
        };
        assert_eq!(s.merge(&none).unwrap().leader, NO_LEADER);

        // Recovery state -1 is unchanged; 1 is RECOVERING; 7 is invalid.
        let rec = PartitionChangeRecord {
            leader_recovery_state: 1,
            ..Default::default()
        };
        assert_eq!(
            s.merge(&rec).unwrap().leader_recovery_state,
            LeaderRecoveryState::Recovering
        );
        let bad = PartitionChangeRecord {
            leader_recovery_state: 7,
            ..Default::default()
        };
        assert!(s.merge(&bad).is_err());
    }

    #[test]
    fn directories_follow_replica_changes() {
        let mut rec = partition_record();
        let d = |b: u8| Uuid([b; 16]);
        rec.directories = vec![d(1), d(2), d(3)];
        let p = PartitionRegistration::from_record(&rec).unwrap();
        let change = PartitionChangeRecord {
            replicas: Some(vec![3, 4]),
            ..Default::default()
        };
        assert_eq!(
            p.merge(&change).unwrap().directories,
            vec![d(3), directory_id::UNASSIGNED]
        );
        rec.directories = vec![d(1)];
        assert!(matches!(
            PartitionRegistration::from_record(&rec),
            Err(ReplayError::DirectoriesMismatch {
                replicas: 3,
                directories: 1,
                ..
            })
        ));
    }

    #[test]
    fn to_record_picks_the_smallest_version() {
        let p = PartitionRegistration::from_record(&partition_record()).unwrap();
        assert_eq!(p.to_record(Uuid([1; 16]), 0).version, 0);
        let mut q = p.clone();
        q.directories[0] = Uuid([9; 16]);
        assert_eq!(q.to_record(Uuid([1; 16]), 0).version, 1);
        q.last_known_elr = vec![2];
        assert_eq!(q.to_record(Uuid([1; 16]), 0).version, 2);
    }
}
