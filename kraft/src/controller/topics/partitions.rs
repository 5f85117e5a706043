//! CreatePartitions: Kafka's `ReplicationControlManager.createPartitions` with the
//! duplicate check of `ControllerApis`. Output: PartitionRecords for the new partitions,
//! placed automatically with the existing replication factor or as the request assigns.

use std::collections::{BTreeMap, BTreeSet};

use metadata::{MetadataImage, MetadataRecord};
use protocol::messages::create_partitions_request::CreatePartitionsTopic;
use protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use protocol::ErrorCode;

use super::{check_budget, partition_record, validate_manual_assignment};
use crate::controller::ids::IdSource;
use crate::controller::placement::{self, default_directories, PartitionAssignment};
use crate::controller::{metadata_version, ApiError, ControllerResult};

fn partitions_result(name: &str, e: Option<ApiError>) -> CreatePartitionsTopicResult {
    let (code, message) = match e {
        Some(e) => (e.code, e.message),
        None => (ErrorCode::NONE, None),
    };
    CreatePartitionsTopicResult {
        name: name.to_string(),
        error_code: code.code(),
        error_message: message,
    }
}

/// Handles CreatePartitions.
pub fn create_partitions(
    image: &MetadataImage,
    req: &CreatePartitionsRequest,
    ids: &mut impl IdSource,
) -> ControllerResult<CreatePartitionsResponse> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &req.topics {
        *seen.entry(t.name.as_str()).or_default() += 1;
    }
    let mut results = Vec::new();
    let mut reported = BTreeSet::new();
    for t in &req.topics {
        if seen[t.name.as_str()] > 1 && reported.insert(t.name.as_str()) {
            results.push(partitions_result(
                &t.name,
                Some(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Duplicate topic name.",
                )),
            ));
        }
    }
    let mut records = Vec::new();
    for t in &req.topics {
        if seen[t.name.as_str()] > 1 {
            continue;
        }
        match add_partitions(image, t, records.len(), ids) {
            Ok(new) => {
                records.extend(new);
                results.push(partitions_result(&t.name, None));
            }
            Err(e) => results.push(partitions_result(&t.name, Some(e))),
        }
    }
    if req.validate_only {
        records.clear();
    }
    ControllerResult::new(
        records,
        CreatePartitionsResponse {
            throttle_time_ms: 0,
            results,
        },
    )
}

/// Kafka's `ReplicationControlManager.createPartitions` for one topic.
fn add_partitions(
    image: &MetadataImage,
    t: &CreatePartitionsTopic,
    records_so_far: usize,
    ids: &mut impl IdSource,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let Some(topic) = image.topics.by_name(&t.name) else {
        return Err(ApiError::default_for(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    };
    let current = topic.partitions.len();
    let count = usize::try_from(t.count).unwrap_or(0);
    if t.count >= 0 && count == current {
        return Err(ApiError::new(
            ErrorCode::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if t.count < 0 || count < current {
        return Err(ApiError::new(
            ErrorCode::INVALID_PARTITIONS,
            format!(
                "The topic {} currently has {current} partition(s); {} would not be an increase.",
                t.name, t.count
            ),
        ));
    }
    let additional = count - current;
    if let Some(assignments) = &t.assignments {
        if assignments.len() != additional {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
    }
    check_budget(records_so_far, additional)?;
    let Some(first) = topic.partitions.values().next() else {
        return Err(ApiError::new(
            ErrorCode::UNKNOWN_SERVER_ERROR,
            format!(
                "Invalid state: topic {} appears to have no partitions.",
                t.name
            ),
        ));
    };
    let rf = first.replicas.len();
    let start = i32::try_from(current).unwrap_or(i32::MAX);
    let assignments: Vec<PartitionAssignment> = match &t.assignments {
        Some(manual) => {
            let mut out = Vec::with_capacity(manual.len());
            for (i, a) in manual.iter().enumerate() {
                validate_manual_assignment(image, &a.broker_ids, Some(rf))?;
                if !a.broker_ids.iter().any(|b| image.cluster.is_active(*b)) {
                    return Err(ApiError::new(
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        format!(
                            "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                            current + i
                        ),
                    ));
                }
                out.push(PartitionAssignment {
                    replicas: a.broker_ids.clone(),
                    directories: default_directories(image, &a.broker_ids),
                });
            }
            out
        }
        None => {
            let rf16 = i16::try_from(rf).unwrap_or(i16::MAX);
            placement::place(image, start, additional, rf16, ids)
                .map_err(|m| ApiError::new(ErrorCode::INVALID_REPLICATION_FACTOR, m))?
        }
    };
    let version = metadata_version(image).partition_record_version();
    let mut records = Vec::with_capacity(assignments.len());
    for (i, a) in assignments.iter().enumerate() {
        let isr: Vec<i32> = a
            .replicas
            .iter()
            .copied()
            .filter(|r| image.cluster.is_active(*r))
            .collect();
        let Some(&leader) = isr.first() else {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!("Unable to replicate the partition {rf} time(s): All brokers are currently fenced or in controlled shutdown."),
            ));
        };
        records.push(partition_record(
            version,
            topic.id,
            start + i as i32,
            a,
            isr,
            leader,
        ));
    }
    Ok(records)
}
