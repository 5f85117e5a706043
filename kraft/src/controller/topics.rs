//! CreateTopics (here), DeleteTopics ([`delete`]) and CreatePartitions ([`partitions`]):
//! Kafka's `ReplicationControlManager` and the request checks of `ControllerApis`, as pure
//! functions of the image and the request.
//!
//! Input: the decoded request from a client (forwarded by a broker). Output: TopicRecord,
//! ConfigRecord, PartitionRecord and RemoveTopicRecord records plus the response, with
//! Kafka's error codes and messages. Response fields a version lacks (topic id before
//! CreateTopics v7, configs before v5, …) are filled anyway; the encoder drops them.

mod delete;
mod partitions;

pub use delete::delete_topics;
pub use partitions::create_partitions;

use std::collections::{BTreeMap, BTreeSet};

use metadata::image::ConfigResource;
use metadata::topic_config;
use metadata::{MetadataImage, MetadataRecord, MetadataRecordBody};
use protocol::messages::create_topics_request::CreatableTopic;
use protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use protocol::messages::{
    ConfigRecord, CreateTopicsRequest, CreateTopicsResponse, PartitionRecord, TopicRecord,
};
use protocol::{ErrorCode, Uuid};

use super::ids::IdSource;
use super::placement::{self, default_directories, PartitionAssignment};
use super::{metadata_version, ApiError, ControllerResult, TopicDefaults, RECORDS_PER_USER_OP_MAX};

/// The metadata log's own topic name, which clients may not create.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";
/// Kafka's `Topic.MAX_NAME_LENGTH`.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Kafka's `Topic.validate`: non-empty, not `.`/`..`, at most 249 characters of
/// `[a-zA-Z0-9._-]`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.chars().count() > TOPIC_NAME_LENGTH_MAX {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_LENGTH_MAX} characters, Topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// `.` and `_` collide in metric names, so Kafka refuses topics that differ only there.
fn collision_key(name: &str) -> Option<String> {
    (name.contains('.') || name.contains('_')).then(|| name.replace('.', "_"))
}

/// An existing topic whose name collides with `name` (the same [`collision_key`]). Such
/// names share `name`'s prefix up to its first `.` or `_`, so only that range of the name
/// index is read (Kafka keeps a map of them, `topicsWithCollisionChars`).
fn existing_collision(image: &MetadataImage, name: &str, key: &str) -> Option<String> {
    let prefix = &name[..name.find(['.', '_'])?];
    image
        .topics
        .names_starting_with(prefix)
        .filter(|n| collision_key(n).as_deref() == Some(key))
        .last()
        .map(str::to_string)
}

fn error_result(name: &str, e: ApiError) -> CreatableTopicResult {
    CreatableTopicResult {
        name: name.to_string(),
        error_code: e.code.code(),
        error_message: e.message,
        ..Default::default()
    }
}

/// Handles CreateTopics.
pub fn create_topics(
    image: &MetadataImage,
    req: &CreateTopicsRequest,
    defaults: &TopicDefaults,
    node_id: i32,
    ids: &mut impl IdSource,
) -> ControllerResult<CreateTopicsResponse> {
    // ControllerApis: a name given twice is answered once, with INVALID_REQUEST.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &req.topics {
        *seen.entry(t.name.as_str()).or_default() += 1;
    }
    let mut duplicates: Vec<&str> = Vec::new();
    for t in &req.topics {
        if seen[t.name.as_str()] > 1 && !duplicates.contains(&t.name.as_str()) {
            duplicates.push(&t.name);
        }
    }

    // Names with collision characters created by this request; existing ones are looked up
    // per name in the image (`existing_collision`), not collected from every topic on every
    // request.
    let mut colliding: BTreeMap<String, String> = BTreeMap::new();
    let mut used_ids = BTreeSet::new();
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut internal = false;
    for topic in &req.topics {
        if seen[topic.name.as_str()] > 1 {
            continue;
        }
        if topic.name == CLUSTER_METADATA_TOPIC {
            internal = true;
            continue;
        }
        let mut ctx = CreateContext {
            image,
            defaults,
            node_id,
            used_ids: &mut used_ids,
            ids: &mut *ids,
        };
        match create_one(&mut ctx, topic, &colliding, records.len()) {
            Ok((result, topic_records)) => {
                if let Some(k) = collision_key(&topic.name) {
                    colliding.entry(k).or_insert_with(|| topic.name.clone());
                }
                records.extend(topic_records);
                results.push(result);
            }
            Err(e) => results.push(error_result(&topic.name, e)),
        }
    }
    for name in duplicates {
        results.push(error_result(
            name,
            ApiError::new(ErrorCode::INVALID_REQUEST, "Duplicate topic name."),
        ));
    }
    if internal {
        results.push(error_result(
            CLUSTER_METADATA_TOPIC,
            ApiError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."),
            ),
        ));
    }
    if req.validate_only {
        records.clear();
    }
    ControllerResult::new(
        records,
        CreateTopicsResponse {
            throttle_time_ms: 0,
            topics: results,
        },
    )
}

struct CreateContext<'a, I> {
    image: &'a MetadataImage,
    defaults: &'a TopicDefaults,
    node_id: i32,
    used_ids: &'a mut BTreeSet<Uuid>,
    ids: &'a mut I,
}

/// One topic, checked in Kafka's order: name, collision, existence, configs, then
/// assignment or replication factor and partition count, then placement.
fn create_one<I: IdSource>(
    ctx: &mut CreateContext<'_, I>,
    topic: &CreatableTopic,
    colliding: &BTreeMap<String, String>,
    records_so_far: usize,
) -> Result<(CreatableTopicResult, Vec<MetadataRecord>), ApiError> {
    let image = ctx.image;
    let name = topic.name.as_str();
    let mut name_error = validate_topic_name(name)
        .err()
        .map(|m| ApiError::new(ErrorCode::INVALID_TOPIC_EXCEPTION, m));
    let other = collision_key(name)
        .and_then(|k| existing_collision(image, name, &k).or_else(|| colliding.get(&k).cloned()));
    if let Some(other) = other {
        name_error = Some(ApiError::new(
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!("Topic '{name}' collides with existing topic: {other}"),
        ));
    }
    if image.topics.id_of(name).is_some() {
        return Err(ApiError::new(
            ErrorCode::TOPIC_ALREADY_EXISTS,
            format!("Topic '{name}' already exists."),
        ));
    }
    if let Some(e) = name_error {
        return Err(e);
    }

    // Configs (Kafka: computeConfigChanges, then the config validator).
    let nulls: Vec<&str> = topic
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ApiError::new(
            ErrorCode::INVALID_CONFIG,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let configs: BTreeMap<String, String> = topic
        .configs
        .iter()
        .filter_map(|c| c.value.clone().map(|v| (c.name.clone(), v)))
        .collect();
    topic_config::validate_all(&configs)
        .map_err(|m| ApiError::new(ErrorCode::INVALID_CONFIG, m))?;

    let assignments = if !topic.assignments.is_empty() {
        manual_assignments(image, topic)?
    } else {
        if topic.replication_factor < -1 || topic.replication_factor == 0 {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if topic.num_partitions < -1 || topic.num_partitions == 0 {
            return Err(ApiError::new(
                ErrorCode::INVALID_PARTITIONS,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        let num_partitions = if topic.num_partitions == -1 {
            ctx.defaults.num_partitions
        } else {
            topic.num_partitions
        };
        let rf = if topic.replication_factor == -1 {
            ctx.defaults.replication_factor
        } else {
            topic.replication_factor
        };
        let count = usize::try_from(num_partitions).unwrap_or(0);
        check_budget(records_so_far + 1 + configs.len(), count)?;
        let placed = placement::place(image, 0, count, rf, ctx.ids).map_err(|m| {
            ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!("Unable to replicate the partition {rf} time(s): {m}"),
            )
        })?;
        placed
            .into_iter()
            .enumerate()
            .map(|(p, a)| (p as i32, a))
            .collect()
    };
    check_budget(records_so_far + 1 + configs.len(), assignments.len())?;

    let topic_id = loop {
        let id = ctx.ids.next_uuid();
        if image.topics.by_id(&id).is_none() && ctx.used_ids.insert(id) {
            break id;
        }
    };
    let mv = metadata_version(image);
    let mut records = vec![MetadataRecord::new(
        0,
        MetadataRecordBody::Topic(TopicRecord {
            name: name.to_string(),
            topic_id,
        }),
    )];
    // ConfigRecords go after the TopicRecord and before the PartitionRecords (Kafka).
    records.extend(configs.iter().map(|(k, v)| {
        MetadataRecord::new(
            0,
            MetadataRecordBody::Config(ConfigRecord {
                resource_type: ConfigResource::TOPIC,
                resource_name: name.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            }),
        )
    }));
    let mut replication_factor = -1;
    for (partition_id, a) in &assignments {
        let isr: Vec<i32> = a
            .replicas
            .iter()
            .copied()
            .filter(|r| image.cluster.is_active(*r))
            .collect();
        let Some(&leader) = isr.first() else {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {} time(s): All brokers are currently fenced or in controlled shutdown.",
                    a.replicas.len()
                ),
            ));
        };
        if replication_factor < 0 {
            replication_factor = i16::try_from(a.replicas.len()).unwrap_or(i16::MAX);
        }
        records.push(partition_record(
            mv.partition_record_version(),
            topic_id,
            *partition_id,
            a,
            isr,
            leader,
        ));
    }

    let node = image
        .configs
        .get(&ConfigResource::broker(ctx.node_id))
        .cloned()
        .unwrap_or_default();
    let cluster = image
        .configs
        .get(&ConfigResource::cluster_default())
        .cloned()
        .unwrap_or_default();
    let effective = topic_config::effective_topic_configs(
        &configs,
        &node,
        &cluster,
        &ctx.defaults.static_broker_configs,
    );
    let result = CreatableTopicResult {
        name: name.to_string(),
        topic_id,
        error_code: ErrorCode::NONE.code(),
        error_message: None,
        topic_config_error_code: ErrorCode::NONE.code(),
        num_partitions: i32::try_from(assignments.len()).unwrap_or(i32::MAX),
        replication_factor,
        configs: Some(
            effective
                .into_iter()
                .map(|e| CreatableTopicConfigs {
                    name: e.name.to_string(),
                    value: e.value,
                    read_only: false,
                    config_source: e.source.id(),
                    is_sensitive: false,
                })
                .collect(),
        ),
    };
    Ok((result, records))
}

pub(crate) fn partition_record(
    version: i16,
    topic_id: Uuid,
    partition_id: i32,
    a: &PartitionAssignment,
    isr: Vec<i32>,
    leader: i32,
) -> MetadataRecord {
    MetadataRecord::new(
        version,
        MetadataRecordBody::Partition(PartitionRecord {
            partition_id,
            topic_id,
            replicas: a.replicas.clone(),
            isr,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader,
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: if version >= 1 {
                a.directories.clone()
            } else {
                Vec::new()
            },
            eligible_leader_replicas: None,
            last_known_elr: None,
        }),
    )
}

pub(crate) fn check_budget(records_before: usize, partitions: usize) -> Result<(), ApiError> {
    if records_before.saturating_add(partitions) > RECORDS_PER_USER_OP_MAX {
        return Err(ApiError::new(
            ErrorCode::INVALID_PARTITIONS,
            format!(
                "Creating {partitions} partition(s) would exceed the limit of {RECORDS_PER_USER_OP_MAX} \
                 metadata records per request."
            ),
        ));
    }
    Ok(())
}

/// CreateTopics with explicit assignments (Kafka's manual-assignment branch of
/// `createTopic`).
fn manual_assignments(
    image: &MetadataImage,
    topic: &CreatableTopic,
) -> Result<BTreeMap<i32, PartitionAssignment>, ApiError> {
    if topic.replication_factor != -1 {
        return Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ));
    }
    if topic.num_partitions != -1 {
        return Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ));
    }
    let mut parts = BTreeMap::new();
    let mut rf: Option<usize> = None;
    for a in &topic.assignments {
        if parts.contains_key(&a.partition_index) {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Found multiple manual partition assignments for partition {}",
                    a.partition_index
                ),
            ));
        }
        validate_manual_assignment(image, &a.broker_ids, rf)?;
        rf = Some(a.broker_ids.len());
        if !a.broker_ids.iter().any(|b| image.cluster.is_active(*b)) {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                    a.partition_index
                ),
            ));
        }
        let directories = default_directories(image, &a.broker_ids);
        parts.insert(
            a.partition_index,
            PartitionAssignment {
                replicas: a.broker_ids.clone(),
                directories,
            },
        );
    }
    for i in 0..parts.len() {
        if !parts.contains_key(&(i as i32)) {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                "partitions should be a consecutive 0-based integer sequence",
            ));
        }
    }
    Ok(parts)
}

/// Kafka's `validateManualPartitionAssignment`.
pub(crate) fn validate_manual_assignment(
    image: &MetadataImage,
    replicas: &[i32],
    rf: Option<usize>,
) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::new(ErrorCode::INVALID_REPLICA_ASSIGNMENT, m));
    if replicas.is_empty() {
        return bad("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for b in sorted {
        if image.cluster.broker(b).is_none() {
            return bad(format!("The manual partition assignment includes broker {b}, but no such broker is registered."));
        }
        if previous == Some(b) {
            return bad(format!(
                "The manual partition assignment includes the broker {b} more than once."
            ));
        }
        previous = Some(b);
    }
    if let Some(rf) = rf {
        if replicas.len() != rf {
            return bad(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not \
                 consistent with previous partitions, which have {rf} replica(s).",
                replicas.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka() {
        assert!(validate_topic_name("good.name_1-x").is_ok());
        assert_eq!(
            validate_topic_name("").unwrap_err(),
            "Topic name is illegal, it can't be empty"
        );
        assert_eq!(
            validate_topic_name("..").unwrap_err(),
            "Topic name cannot be \".\" or \"..\""
        );
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250))
            .unwrap_err()
            .contains("can't be longer than 249"));
        assert!(validate_topic_name("a b")
            .unwrap_err()
            .contains("contains a character other than"));
        assert!(validate_topic_name("é").is_err());
        assert_eq!(collision_key("a.b"), Some("a_b".into()));
        assert_eq!(collision_key("ab"), None);
    }
}
