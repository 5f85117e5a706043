//! The group coordinator follows the metadata image (Kafka's `GroupCoordinator` hooks that the
//! broker's metadata publisher calls): once `__consumer_offsets` exists it replays the topic's
//! log into the core (`onElection`/`loadGroupsAndOffsets`); when topics are deleted their
//! committed offsets are removed with tombstones (`onPartitionsDeleted`), so a topic
//! re-created under the same name is not read from the old topic's offsets; and when
//! `__consumer_offsets` itself is deleted the coordinator drops everything it held
//! (`onResignation`) and loads again once the topic is back. Today this node leads every
//! partition it hosts; the replication work makes "exists" into "this node leads it".

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metadata::MetadataImage;
use protocol::ErrorCode;
use storage::TopicPartition;

use super::coordinator::GroupCoordinator;
use super::load::{self, PartitionLoader};
use super::offsets::OFFSETS_TOPIC;
use super::{GroupCoordinatorHandle, Inner, LOAD_READ_BYTES_MAX};
use crate::broker::replica_manager::{ReadOutcome, ReadRequest, ReplicaManager};
use crate::broker::Broker;

/// Loads, cleans and unloads the coordinator as the image changes; returns when the image
/// channel closes (shutdown).
pub(super) async fn follow_metadata(broker: &Broker) {
    let mut image_rx = broker.image.clone();
    loop {
        // Wait for the offsets topic.
        let (offsets_id, partitions, mut seen) = loop {
            let image = image_rx.borrow_and_update().clone();
            if let Some(t) = image.topics.by_name(OFFSETS_TOPIC) {
                let partitions: Vec<i32> = t.partitions.keys().copied().collect();
                break (t.id, partitions, image);
            }
            if image_rx.changed().await.is_err() {
                return;
            }
        };
        // Load it, and from then on follow deletions until it is deleted itself.
        let load = load_offsets_topic(broker, &partitions);
        tokio::pin!(load);
        let mut loading = true;
        loop {
            tokio::select! {
                () = &mut load, if loading => loading = false,
                changed = image_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let image = image_rx.borrow_and_update().clone();
                    let removed = image.topics.changes_since(&seen.topics).removed;
                    seen = image;
                    if removed.iter().any(|(id, _)| *id == offsets_id) {
                        tracing::warn!("{OFFSETS_TOPIC} was deleted: every group and committed offset is dropped");
                        broker.groups.unload();
                        break;
                    }
                    let names: BTreeSet<String> = removed.into_iter().map(|(_, n)| n).collect();
                    let count = broker.groups.with_core(|c, _| c.delete_offsets_of_topics(&names));
                    if count > 0 {
                        tracing::info!("removed {count} committed offsets of deleted topics {names:?}");
                    }
                }
            }
        }
    }
}

/// Replays every partition of `__consumer_offsets` into the core, then marks it loaded.
///
/// Offsets of topics the image no longer has are removed at the end: a topic deleted while
/// the broker was down, or before the tombstones of an earlier deletion were appended, must
/// not hand its offsets to a topic re-created under its name (OffsetCommit only accepts
/// partitions the image has, so no live commit can name a missing topic). This relies on
/// the image being caught up with the metadata log when the load starts, as a Kafka
/// broker's publishers are.
async fn load_offsets_topic(broker: &Broker, partitions: &[i32]) {
    let started = Instant::now();
    let mut stats = load::LoadStats::default();
    for p in partitions {
        let tp = TopicPartition::new(OFFSETS_TOPIC, *p);
        let s = load_partition(broker, &tp).await;
        stats.records += s.records;
        stats.skipped_batches += s.skipped_batches;
        stats.skipped_records += s.skipped_records;
    }
    let image = broker.image();
    broker.groups.with_core(|core, now| {
        core.delete_offsets_of_topics(&absent_topics(core, &image));
        core.finish_load(now);
    });
    tracing::info!(
        partitions = partitions.len(),
        records = stats.records,
        skipped_batches = stats.skipped_batches,
        skipped_records = stats.skipped_records,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded {OFFSETS_TOPIC}"
    );
    broker.groups.loaded.send_replace(true);
    // Tombstones queued by the load could not be written before it was marked loaded.
    broker.groups.write_wake.notify_one();
}

/// Topics with committed offsets that `image` does not have.
fn absent_topics(core: &GroupCoordinator, image: &MetadataImage) -> BTreeSet<String> {
    let mut topics = core.topics_with_offsets();
    topics.retain(|t| image.topics.by_name(t).is_none());
    topics
}

impl GroupCoordinatorHandle {
    /// Drops every group and offset (the offsets topic is gone): waiting JoinGroup and
    /// SyncGroup requests are answered COORDINATOR_NOT_AVAILABLE (their channels close) and
    /// the group APIs answer as before the first load until the topic is back and loaded.
    fn unload(&self) {
        let mut inner = self.lock();
        let unloads = self
            .unloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let seed = self.seed ^ unloads.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        *inner = Inner {
            core: GroupCoordinator::new(self.settings.core.clone(), seed),
            waiters: Default::default(),
        };
        self.loaded.send_replace(false);
    }
}

/// Replays one partition of `__consumer_offsets` into the core.
async fn load_partition(broker: &Broker, tp: &TopicPartition) -> load::LoadStats {
    let replicas: &Arc<ReplicaManager> = &broker.replicas;
    let mut loader = PartitionLoader::new(tp.to_string());
    let mut offset = 0i64;
    loop {
        let read = ReadRequest {
            tp: tp.clone(),
            fetch_offset: offset,
            max_bytes: LOAD_READ_BYTES_MAX,
            current_leader_epoch: -1,
        };
        let out = replicas
            .read_with_wait(vec![read], LOAD_READ_BYTES_MAX, 0, Duration::ZERO)
            .await
            .into_iter()
            .next();
        let (bytes, hw) = match out {
            Some(ReadOutcome::Read {
                records,
                high_watermark,
                ..
            }) => (records, high_watermark),
            Some(ReadOutcome::Failed {
                error,
                log_start_offset,
                ..
            }) if error == ErrorCode::OFFSET_OUT_OF_RANGE && log_start_offset > offset => {
                offset = log_start_offset;
                continue;
            }
            Some(ReadOutcome::Failed { error, .. }) => {
                // The replica manager has not opened the log yet (it follows the image on
                // its own task): try again shortly.
                tracing::debug!(%tp, error = error.name(), "offsets partition not readable yet");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            None => return loader.stats,
        };
        if offset >= hw {
            return loader.stats;
        }
        let next = broker
            .groups
            .with_core(|core, now| loader.replay(core, now, &bytes, offset));
        match next {
            Ok(next) if next > offset => offset = next,
            Ok(_) => {
                tracing::error!(%tp, offset, "cannot make progress loading {OFFSETS_TOPIC}; stopping");
                return loader.stats;
            }
            Err(e) => {
                // Nothing after this point can be framed: the rest of the partition is lost
                // to the coordinator (the log's own recovery truncates such tails).
                tracing::error!("{e}; the rest of {tp} is not loaded");
                return loader.stats;
            }
        }
    }
}
