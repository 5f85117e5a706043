//! How the replica manager follows the metadata image: open a log for each partition assigned
//! to this node, apply topic config overrides, and delete the logs of partitions that are
//! gone.
//!
//! Input is each committed image together with the one applied before it. Only the topics
//! that differ between the two (by their shared topic image, or by their config overrides) are
//! looked at, so applying an image costs what changed rather than the number of topics: with
//! 10,000 topics created 100 at a time, walking every topic on every image made creation
//! quadratic. New logs (each a directory and a `.log`) are created before the partition map is
//! write-locked, so appends and fetches to other partitions never wait on them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use metadata::{ConfigResource, MetadataImage, TopicImage};
use protocol::Uuid;
use storage::TopicPartition;

use super::parallel::{map_on_threads, Mapped};
use super::topic_config::{self, PartitionConfig};
use super::{now_ms, Partition, PartitionProducers, ReplicaManager};

/// A partition this node should host: its topic id, leader epoch and config.
type Wanted = BTreeMap<TopicPartition, (Uuid, i32, PartitionConfig)>;
/// A partition to open: as in [`Wanted`].
type ToCreate = (TopicPartition, Uuid, i32, PartitionConfig);

impl ReplicaManager {
    /// Makes the hosted partitions match `image`. `previous` is the image applied last
    /// (`None` the first time, when every topic is looked at). Blocking.
    pub(crate) fn apply_image(&self, previous: Option<&MetadataImage>, image: &MetadataImage) {
        let scope = previous.map(|prev| changed_topic_names(prev, image));
        if scope.as_ref().is_some_and(BTreeSet::is_empty) {
            return;
        }
        let topics: Box<dyn Iterator<Item = &TopicImage>> = match &scope {
            None => Box::new(image.topics.iter()),
            Some(names) => Box::new(names.iter().filter_map(|n| image.topics.by_name(n))),
        };
        let wanted = self.wanted(image, topics);

        // Partitions that are gone, or whose topic was recreated under a new id.
        let stale: Vec<Arc<Partition>> = {
            let mut partitions = self.partitions.write().unwrap_or_else(|e| e.into_inner());
            let in_scope: Vec<TopicPartition> = match &scope {
                None => partitions.keys().cloned().collect(),
                Some(names) => names
                    .iter()
                    .flat_map(|n| {
                        let range = TopicPartition::new(n.clone(), i32::MIN)
                            ..=TopicPartition::new(n.clone(), i32::MAX);
                        partitions.range(range).map(|(tp, _)| tp.clone())
                    })
                    .collect(),
            };
            let stale: Vec<TopicPartition> = in_scope
                .into_iter()
                .filter(|tp| {
                    let hosted = partitions.get(tp).map(|p| p.topic_id);
                    wanted.get(tp).map(|(id, _, _)| *id) != hosted
                })
                .collect();
            stale
                .iter()
                .filter_map(|tp| partitions.remove(tp))
                .collect()
        };
        for p in stale {
            self.delete_when_unused(p);
        }

        // Forget failed creations of partitions that are gone or were recreated: the next
        // creation (below) decides anew.
        {
            let mut offline = self.offline.write().unwrap_or_else(|e| e.into_inner());
            offline.retain(|tp, id| {
                let in_scope = scope.as_ref().is_none_or(|names| names.contains(&tp.topic));
                !in_scope
                    || wanted
                        .get(tp)
                        .is_some_and(|(wanted_id, _, _)| wanted_id == id)
            });
        }

        // Update the partitions we host; create the others without holding the map's lock.
        let mut create = Vec::new();
        {
            let partitions = self.partitions.read().unwrap_or_else(|e| e.into_inner());
            for (tp, (topic_id, epoch, config)) in wanted {
                let Some(p) = partitions.get(&tp) else {
                    create.push((tp, topic_id, epoch, config));
                    continue;
                };
                p.leader_epoch.store(epoch, Ordering::Release);
                p.set_config(&config);
                let mut log = p.log();
                if *log.config() != config.log {
                    if let Err(e) = log.set_config(config.log) {
                        tracing::warn!(%tp, "topic config not applied: {e}");
                    }
                }
            }
        }
        let created = self.open_partitions(&create);
        let mut partitions = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        partitions.extend(created);
    }

    /// Opens (adopts or creates) the partitions of `create`, on several threads when there are
    /// many. Creating one is a `mkdir` and an `open` (no fsync: `PartitionLog::create`), whose
    /// cost is the file system allocating the two inodes, so threads let every core do that.
    fn open_partitions(&self, create: &[ToCreate]) -> Vec<(TopicPartition, Arc<Partition>)> {
        let open = |(tp, topic_id, epoch, config): &ToCreate| {
            let p = self.open_partition(tp, *topic_id, *epoch, config.clone())?;
            Some((tp.clone(), Arc::new(p)))
        };
        // Logs loaded at start-up are adopted without I/O: no thread pays for itself there
        // (and each thread would leave a malloc arena behind in an idle broker).
        let (adopt, new): (Vec<&ToCreate>, Vec<&ToCreate>) = {
            let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            create.iter().partition(|c| loaded.contains_key(&c.0))
        };
        let mut opened: Vec<_> = adopt.into_iter().filter_map(open).collect();
        let (Mapped::All(created) | Mapped::Partial(created)) = map_on_threads(new, open);
        opened.extend(created.into_iter().flatten());
        opened
    }

    /// The partitions of `topics` this node hosts, with their configs.
    fn wanted<'a>(
        &self,
        image: &MetadataImage,
        topics: impl Iterator<Item = &'a TopicImage>,
    ) -> Wanted {
        let mut wanted = Wanted::new();
        for topic in topics {
            let config = topic_config::for_topic(&self.default_config, image, &topic.name);
            for (&index, reg) in &topic.partitions {
                if reg.replicas.contains(&self.node_id) {
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), index),
                        (topic.id, reg.leader_epoch, config.clone()),
                    );
                }
            }
        }
        wanted
    }

    /// Adopts the log found on disk for `tp` at start-up, or creates it. `None` (logged) if
    /// the log cannot be created.
    fn open_partition(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        epoch: i32,
        config: PartitionConfig,
    ) -> Option<Partition> {
        let now = now_ms();
        let adopted = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tp);
        let log = match adopted {
            Some(log) if log.topic_id().is_none_or(|id| id == topic_id) => Ok(log),
            Some(old) => {
                // A log left from an earlier topic of the same name: Kafka deletes it.
                self.delete(old);
                self.dir
                    .create_log(tp, Some(topic_id), config.log.clone(), now)
            }
            None => self
                .dir
                .create_log(tp, Some(topic_id), config.log.clone(), now),
        };
        let offline = || self.offline.write().unwrap_or_else(|e| e.into_inner());
        let mut log = match log {
            Ok(log) => {
                offline().remove(tp);
                log
            }
            Err(e) => {
                tracing::error!(
                    %tp,
                    "cannot create the partition log: {e}; the partition answers \
                     KAFKA_STORAGE_ERROR until a later metadata change creates it"
                );
                offline().insert(tp.clone(), topic_id);
                return None;
            }
        };
        if log.topic_id().is_none() {
            if let Err(e) = log.set_topic_id(topic_id) {
                tracing::warn!(%tp, "cannot write partition.metadata: {e}");
            }
        }
        if let Err(e) = log.set_config(config.log.clone()) {
            tracing::warn!(%tp, "topic config not applied: {e}");
        }
        let producers = PartitionProducers::load(&log, self.producer_expiry, now);
        Some(Partition::new(topic_id, epoch, &config, log, producers))
    }
}

/// Names of the topics that differ between `previous` and `image`: created, changed or
/// removed topics, and topics whose config overrides changed.
fn changed_topic_names(previous: &MetadataImage, image: &MetadataImage) -> BTreeSet<String> {
    let topics = image.topics.changes_since(&previous.topics);
    let mut names: BTreeSet<String> = topics.removed.into_iter().map(|(_, n)| n).collect();
    names.extend(
        topics
            .upserted
            .iter()
            .filter_map(|id| image.topics.by_id(id))
            .map(|t| t.name.clone()),
    );
    names.extend(
        image
            .configs
            .changes_since(&previous.configs)
            .into_iter()
            .filter(|r| r.resource_type == ConfigResource::TOPIC)
            .map(|r| r.name),
    );
    names
}

#[cfg(test)]
mod tests {
    use metadata::MetadataRecordBody;
    use protocol::messages::RemoveTopicRecord;
    use protocol::ErrorCode;
    use storage::log::LogConfig;

    use super::super::tests::{manager, topic};
    use super::*;
    use crate::broker::test_broker::{next_image, topic_config_record};

    fn hosted(m: &ReplicaManager) -> Vec<(String, i32, Uuid)> {
        let partitions = m.partitions.read().expect("lock");
        partitions
            .iter()
            .map(|(tp, p)| (tp.topic.clone(), tp.partition, p.topic_id))
            .collect()
    }

    #[test]
    fn follows_images_by_what_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = manager(dir.path(), LogConfig::default());
        let first = next_image(&MetadataImage::empty(), topic("a", 1, 2));
        m.apply_image(None, &first);
        let a = |id: u8, p: i32| ("a".to_string(), p, Uuid([id; 16]));
        assert_eq!(hosted(&m), vec![a(1, 0), a(1, 1)]);

        // Many topics at once are created on several threads.
        let many = next_image(
            &first,
            (0..40u8)
                .flat_map(|i| topic(&format!("t{i:02}"), 10 + i, 1))
                .collect(),
        );
        m.apply_image(Some(&first), &many);
        assert_eq!(hosted(&m).len(), 42);
        assert!(dir.path().join("t39-0").is_dir());

        // A config override reaches the hosted partitions of its topic only.
        let configured = next_image(
            &many,
            vec![topic_config_record("a", "retention.ms", Some("1000"))],
        );
        m.apply_image(Some(&many), &configured);
        let retention = |name: &str| {
            let tp = TopicPartition::new(name, 0);
            m.get(&tp).expect("hosted").log().config().retention_ms
        };
        assert_eq!(retention("a"), 1000);
        assert_ne!(retention("t00"), 1000);

        // The topic deleted and created again under a new id, with fewer partitions.
        let mut records = vec![MetadataRecordBody::RemoveTopic(RemoveTopicRecord {
            topic_id: Uuid([1; 16]),
        })];
        records.extend(topic("a", 99, 1));
        let recreated = next_image(&configured, records);
        m.apply_image(Some(&configured), &recreated);
        let now = hosted(&m);
        assert_eq!(now.len(), 41);
        assert!(now.contains(&a(99, 0)) && !now.iter().any(|t| t.2 == Uuid([1; 16])));

        // An image that changed no topic costs nothing and changes nothing.
        m.apply_image(Some(&recreated), &recreated);
        assert_eq!(hosted(&m), now);
    }

    #[test]
    fn a_log_that_cannot_be_created_is_offline_until_a_later_image_creates_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = manager(dir.path(), LogConfig::default());
        // A file where the partition's directory must go: creating the log fails.
        let blocker = dir.path().join("b-1");
        std::fs::write(&blocker, b"not a directory").expect("write");
        let first = next_image(&MetadataImage::empty(), topic("b", 2, 2));
        m.apply_image(None, &first);
        let tp = |p: i32| TopicPartition::new("b", p);
        assert!(m.get(&tp(0)).is_some() && m.get(&tp(1)).is_none());
        assert_eq!(m.offline_partitions("b"), vec![1]);
        assert_eq!(m.not_hosted_error(&tp(1)), ErrorCode::KAFKA_STORAGE_ERROR);
        assert!(m.offline_partitions("a").is_empty());
        assert_eq!(
            m.not_hosted_error(&TopicPartition::new("a", 0)),
            ErrorCode::NOT_LEADER_OR_FOLLOWER
        );

        // The cause removed, the next image touching the topic creates the log.
        std::fs::remove_file(&blocker).expect("remove");
        let configured = next_image(
            &first,
            vec![topic_config_record("b", "retention.ms", Some("1000"))],
        );
        m.apply_image(Some(&first), &configured);
        assert!(m.get(&tp(1)).is_some());
        assert!(m.offline_partitions("b").is_empty());

        // A failed partition of a deleted topic is forgotten with the topic.
        std::fs::remove_dir_all(dir.path().join("b-1")).expect("remove dir");
        let c = next_image(&configured, topic("c", 3, 1));
        std::fs::write(dir.path().join("c-0"), b"x").expect("write");
        m.apply_image(Some(&configured), &c);
        assert_eq!(m.offline_partitions("c"), vec![0]);
        let deleted = next_image(
            &c,
            vec![MetadataRecordBody::RemoveTopic(RemoveTopicRecord {
                topic_id: Uuid([3; 16]),
            })],
        );
        m.apply_image(Some(&c), &deleted);
        assert!(m.offline_partitions("c").is_empty());
    }

    /// A partition deleted while a request holds it keeps its log, renamed at once to a
    /// `-delete` directory so the name is free for a re-created topic, until the housekeeping
    /// run after the request let go; then that directory is removed.
    #[test]
    fn a_deleted_partition_in_use_is_deleted_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = manager(dir.path(), LogConfig::default());
        let first = next_image(&MetadataImage::empty(), topic("a", 1, 1));
        m.apply_image(None, &first);
        let held = m.get(&TopicPartition::new("a", 0)).expect("hosted");
        let removed = next_image(
            &first,
            vec![MetadataRecordBody::RemoveTopic(RemoveTopicRecord {
                topic_id: Uuid([1; 16]),
            })],
        );
        m.apply_image(Some(&first), &removed);
        assert!(hosted(&m).is_empty());
        let marked = held.log().dir().to_path_buf();
        assert!(!dir.path().join("a-0").exists(), "the name is free");
        assert!(marked.is_dir(), "in use: not deleted yet");
        assert!(marked.to_string_lossy().ends_with("-delete"), "{marked:?}");
        m.maintain(false);
        assert!(marked.is_dir(), "still in use");
        drop(held);
        m.maintain(false);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n.to_string_lossy().starts_with("a-0"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
