//! Replica placement for new partitions: round robin over the active brokers (unfenced, not
//! in controlled shutdown) sorted by id, from a random starting broker.
//!
//! Simpler than Kafka's rack-aware `StripedReplicaPlacer`, and stricter: Kafka may place
//! replicas on fenced brokers (leaving them out of the ISR); we only use active ones, so a
//! replication factor above the active broker count is refused. Racks are not considered
//! yet.

use metadata::{directory_id, MetadataImage};
use protocol::Uuid;

use super::ids::IdSource;
use super::metadata_version;

/// One partition's replicas (leader first) and their directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionAssignment {
    pub replicas: Vec<i32>,
    pub directories: Vec<Uuid>,
}

/// Places `count` partitions numbered from `first_partition` with `replication_factor`
/// replicas each. The error is the reason Kafka gives after "Unable to replicate the
/// partition N time(s): ".
pub fn place(
    image: &MetadataImage,
    first_partition: i32,
    count: usize,
    replication_factor: i16,
    ids: &mut impl IdSource,
) -> Result<Vec<PartitionAssignment>, String> {
    let rf = usize::try_from(replication_factor)
        .ok()
        .filter(|rf| *rf > 0)
        .ok_or_else(|| format!("Invalid replication factor {replication_factor}: the replication factor must be positive."))?;
    // Kafka's "usable" brokers exclude those in controlled shutdown.
    let usable: Vec<_> = image
        .cluster
        .brokers
        .values()
        .filter(|b| !b.in_controlled_shutdown)
        .collect();
    let active: Vec<i32> = usable.iter().filter(|b| !b.fenced).map(|b| b.id).collect();
    if active.is_empty() {
        return Err("All brokers are currently fenced.".into());
    }
    if rf > usable.len() {
        return Err(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
            usable.len()
        ));
    }
    if rf > active.len() {
        return Err(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) are unfenced.",
            active.len()
        ));
    }
    let n = active.len();
    let start = ids.next_below(n);
    let offset = usize::try_from(first_partition).unwrap_or(0);
    Ok((0..count)
        .map(|p| {
            let first = (start + offset + p) % n;
            let replicas: Vec<i32> = (0..rf).map(|j| active[(first + j) % n]).collect();
            let directories = default_directories(image, &replicas);
            PartitionAssignment {
                replicas,
                directories,
            }
        })
        .collect())
}

/// Directory ids for new replicas (Kafka's `ClusterControlManager.defaultDir`): a broker's
/// only directory, `MIGRATING` if it reported none, else `UNASSIGNED` (it will tell us);
/// empty before metadata.version 3.7-IV2, where records carry no directories.
pub fn default_directories(image: &MetadataImage, replicas: &[i32]) -> Vec<Uuid> {
    if !metadata_version(image).is_directory_assignment_supported() {
        return Vec::new();
    }
    replicas
        .iter()
        .map(|r| match image.cluster.broker(*r) {
            None => directory_id::UNASSIGNED,
            Some(b) if b.directories.is_empty() => directory_id::MIGRATING,
            Some(b) if b.directories.len() == 1 => b.directories[0],
            Some(_) => directory_id::UNASSIGNED,
        })
        .collect()
}
