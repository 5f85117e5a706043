//! IncrementalAlterConfigs (KIP-339) and the legacy AlterConfigs, for topic (type 2) and
//! broker (type 4) resources: Kafka's `ConfigurationControlManager` with the request checks
//! of `ControllerApis` and `ControllerConfigurationValidator`.
//!
//! Input: the decoded request. Output: ConfigRecords (null value = delete the key) and a
//! per-resource response. Topic configs are validated against the topic config table
//! ([`metadata::topic_config`]); broker configs, as in Kafka's controller, only have their
//! resource name checked (`""` = cluster default, else a registered broker or controller id).
//! Broker-logger and client-metrics resources are not handled by this controller.

use std::collections::{BTreeMap, BTreeSet};

use metadata::image::ConfigResource;
use metadata::topic_config;
use metadata::{MetadataImage, MetadataRecord, MetadataRecordBody};
use protocol::messages::alter_configs_response::AlterConfigsResourceResponse as LegacyResourceResponse;
use protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ConfigRecord, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use protocol::ErrorCode;

use super::topics::validate_topic_name;
use super::{ApiError, ControllerResult};

/// `AlterConfigOp.OpType` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigOp {
    Set,
    Delete,
    Append,
    Subtract,
}

impl ConfigOp {
    pub fn from_id(id: i8) -> Option<ConfigOp> {
        match id {
            0 => Some(ConfigOp::Set),
            1 => Some(ConfigOp::Delete),
            2 => Some(ConfigOp::Append),
            3 => Some(ConfigOp::Subtract),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ConfigOp::Set => "SET",
            ConfigOp::Delete => "DELETE",
            ConfigOp::Append => "APPEND",
            ConfigOp::Subtract => "SUBTRACT",
        }
    }
}

/// The operations IncrementalAlterConfigs asks for on one resource, by key.
type KeyOps = BTreeMap<String, (ConfigOp, Option<String>)>;

/// A resource type this controller stores, or the reason it does not.
fn check_resource_type(resource_type: i8) -> Result<(), ApiError> {
    match resource_type {
        ConfigResource::TOPIC | ConfigResource::BROKER => Ok(()),
        ConfigResource::BROKER_LOGGER => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "BROKER_LOGGER resources are applied by each broker, not stored by the controller.",
        )),
        ConfigResource::CLIENT_METRICS => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "CLIENT_METRICS resources are not supported yet.",
        )),
        other => Err(ApiError::new(
            ErrorCode::UNSUPPORTED_VERSION,
            format!("Unknown resource type {other}."),
        )),
    }
}

/// Whether APPEND/SUBTRACT apply: LIST-typed keys (topic configs, and the broker synonyms of
/// LIST topic configs such as `log.cleanup.policy`).
fn is_list(resource: &ConfigResource, key: &str) -> bool {
    match resource.resource_type {
        ConfigResource::TOPIC => topic_config::is_list(key),
        _ => topic_config::topic_config_for_broker_config(key)
            .is_some_and(|d| d.config_type == topic_config::ConfigType::List),
    }
}

fn default_value(resource: &ConfigResource, key: &str) -> Option<&'static str> {
    match resource.resource_type {
        ConfigResource::TOPIC => topic_config::lookup(key).and_then(|d| d.default),
        _ => topic_config::topic_config_for_broker_config(key).and_then(|d| d.default),
    }
}

/// Kafka's `getParts`: the current (or default) value split on commas, empties dropped.
fn parts(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn config_record(resource: &ConfigResource, key: &str, value: Option<String>) -> MetadataRecord {
    MetadataRecord::new(
        0,
        MetadataRecordBody::Config(ConfigRecord {
            resource_type: resource.resource_type,
            resource_name: resource.name.clone(),
            name: key.to_string(),
            value,
        }),
    )
}

/// `ControllerConfigurationValidator` + the existence check, on the configs a resource
/// would have after the change.
fn validate_resource(
    image: &MetadataImage,
    resource: &ConfigResource,
    after: &BTreeMap<String, String>,
    node_id: i32,
) -> Result<(), ApiError> {
    match resource.resource_type {
        ConfigResource::TOPIC => {
            if resource.name.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Default topic resources are not allowed.",
                ));
            }
            validate_topic_name(&resource.name)
                .map_err(|m| ApiError::new(ErrorCode::INVALID_TOPIC_EXCEPTION, m))?;
            topic_config::validate_all(after)
                .map_err(|m| ApiError::new(ErrorCode::INVALID_CONFIG, m))?;
            if image.topics.id_of(&resource.name).is_none() {
                return Err(ApiError::new(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("The topic '{}' does not exist.", resource.name),
                ));
            }
            Ok(())
        }
        _ => {
            if resource.name.is_empty() {
                return Ok(()); // cluster-wide default
            }
            let id: i32 = resource.name.parse().map_err(|_| {
                ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Unable to parse broker name as a base 10 number.",
                )
            })?;
            if id < 0 {
                return Err(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Invalid negative broker ID.",
                ));
            }
            let known = image.cluster.brokers.contains_key(&id)
                || image.cluster.controllers.contains_key(&id)
                || id == node_id;
            if !known {
                return Err(ApiError::new(
                    ErrorCode::BROKER_ID_NOT_REGISTERED,
                    format!("No broker with id {id} found."),
                ));
            }
            Ok(())
        }
    }
}

/// Records for one resource of IncrementalAlterConfigs (Kafka's
/// `incrementalAlterConfigResource`): a record per key whose value changes, and always for
/// broker resources (KAFKA-14136: brokers reload on the record).
fn incremental_resource(
    image: &MetadataImage,
    resource: &ConfigResource,
    ops: &KeyOps,
    node_id: i32,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let current = image.configs.get(resource).cloned().unwrap_or_default();
    let mut after = current.clone();
    let mut records = Vec::new();
    for (key, (op, value)) in ops {
        let old = current.get(key).cloned();
        let new = match op {
            ConfigOp::Set => value.clone(),
            ConfigOp::Delete => None,
            ConfigOp::Append | ConfigOp::Subtract => {
                if !is_list(resource, key) {
                    return Err(ApiError::new(
                        ErrorCode::INVALID_CONFIG,
                        format!(
                            "Can't {} to key {key} because its type is not LIST.",
                            op.name()
                        ),
                    ));
                }
                let mut list = parts(old.as_deref().or(default_value(resource, key)));
                let items: Vec<&str> = value.as_deref().unwrap_or("").split(',').collect();
                if *op == ConfigOp::Append {
                    for item in items {
                        if !list.iter().any(|l| l == item) {
                            list.push(item.to_string());
                        }
                    }
                } else {
                    list.retain(|l| !items.contains(&l.as_str()));
                }
                Some(list.join(","))
            }
        };
        if new != old || resource.resource_type == ConfigResource::BROKER {
            match &new {
                Some(v) => after.insert(key.clone(), v.clone()),
                None => after.remove(key),
            };
            records.push(config_record(resource, key, new));
        }
    }
    validate_resource(image, resource, &after, node_id)?;
    Ok(records)
}

fn incremental_response(
    resource: &ConfigResource,
    e: Option<ApiError>,
) -> AlterConfigsResourceResponse {
    let (code, message) = e.map_or((ErrorCode::NONE, None), |e| (e.code, e.message));
    AlterConfigsResourceResponse {
        error_code: code.code(),
        error_message: message,
        resource_type: resource.resource_type,
        resource_name: resource.name.clone(),
    }
}

/// Handles IncrementalAlterConfigs.
pub fn incremental_alter_configs(
    image: &MetadataImage,
    req: &IncrementalAlterConfigsRequest,
    node_id: i32,
) -> ControllerResult<IncrementalAlterConfigsResponse> {
    let mut responses = Vec::new();
    // (resource, ops) in request order; a resource named twice is refused once.
    let mut changes: Vec<(ConfigResource, Result<KeyOps, ApiError>)> = Vec::new();
    let mut duplicates = BTreeSet::new();
    for r in &req.resources {
        let resource = ConfigResource {
            resource_type: r.resource_type,
            name: r.resource_name.clone(),
        };
        if let Err(e) = check_resource_type(r.resource_type) {
            responses.push(incremental_response(&resource, Some(e)));
            continue;
        }
        if duplicates.contains(&resource) {
            continue;
        }
        if let Some(i) = changes.iter().position(|(res, _)| *res == resource) {
            let _ = changes.remove(i);
            duplicates.insert(resource.clone());
            responses.push(incremental_response(
                &resource,
                Some(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Duplicate resource.",
                )),
            ));
            continue;
        }
        let mut ops = BTreeMap::new();
        let mut bad_op = None;
        for c in &r.configs {
            match ConfigOp::from_id(c.config_operation) {
                Some(op) => {
                    ops.insert(c.name.clone(), (op, c.value.clone()));
                }
                None => {
                    bad_op = Some(ApiError::new(
                        ErrorCode::INVALID_REQUEST,
                        format!(
                            "Unknown config operation {} for key {}.",
                            c.config_operation, c.name
                        ),
                    ));
                }
            }
        }
        changes.push((resource, bad_op.map_or(Ok(ops), Err)));
    }
    let mut records = Vec::new();
    for (resource, ops) in changes {
        let outcome = ops.and_then(|ops| incremental_resource(image, &resource, &ops, node_id));
        match outcome {
            Ok(new) => {
                records.extend(new);
                responses.push(incremental_response(&resource, None));
            }
            Err(e) => responses.push(incremental_response(&resource, Some(e))),
        }
    }
    if req.validate_only {
        records.clear();
    }
    ControllerResult::new(
        records,
        IncrementalAlterConfigsResponse {
            throttle_time_ms: 0,
            responses,
        },
    )
}

fn legacy_response(resource: &ConfigResource, e: Option<ApiError>) -> LegacyResourceResponse {
    let (code, message) = e.map_or((ErrorCode::NONE, None), |e| (e.code, e.message));
    LegacyResourceResponse {
        error_code: code.code(),
        error_message: message,
        resource_type: resource.resource_type,
        resource_name: resource.name.clone(),
    }
}

/// Handles the legacy AlterConfigs: each resource's configs are **replaced** by the given
/// set (keys not named are deleted; a null value deletes too).
pub fn alter_configs(
    image: &MetadataImage,
    req: &AlterConfigsRequest,
    node_id: i32,
) -> ControllerResult<AlterConfigsResponse> {
    let mut responses = Vec::new();
    let mut changes: Vec<(ConfigResource, BTreeMap<String, Option<String>>)> = Vec::new();
    let mut duplicates = BTreeSet::new();
    for r in &req.resources {
        let resource = ConfigResource {
            resource_type: r.resource_type,
            name: r.resource_name.clone(),
        };
        if let Err(e) = check_resource_type(r.resource_type) {
            responses.push(legacy_response(&resource, Some(e)));
            continue;
        }
        if duplicates.contains(&resource) {
            continue;
        }
        if let Some(i) = changes.iter().position(|(res, _)| *res == resource) {
            changes.remove(i);
            duplicates.insert(resource.clone());
            responses.push(legacy_response(
                &resource,
                Some(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Duplicate resource.",
                )),
            ));
            continue;
        }
        let configs = r
            .configs
            .iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect();
        changes.push((resource, configs));
    }
    let mut records = Vec::new();
    for (resource, new_configs) in changes {
        let current = image.configs.get(&resource).cloned().unwrap_or_default();
        let mut altered = Vec::new();
        let mut after = BTreeMap::new();
        for (key, value) in &new_configs {
            if let Some(v) = value {
                after.insert(key.clone(), v.clone());
            }
            if current.get(key) != value.as_ref()
                || resource.resource_type == ConfigResource::BROKER
            {
                altered.push(config_record(&resource, key, value.clone()));
            }
        }
        let deleted = current
            .keys()
            .filter(|k| !new_configs.contains_key(*k))
            .map(|k| config_record(&resource, k, None));
        let deleted: Vec<_> = deleted.collect();
        match validate_resource(image, &resource, &after, node_id) {
            Ok(()) => {
                records.extend(altered);
                records.extend(deleted);
                responses.push(legacy_response(&resource, None));
            }
            Err(e) => responses.push(legacy_response(&resource, Some(e))),
        }
    }
    if req.validate_only {
        records.clear();
    }
    ControllerResult::new(
        records,
        AlterConfigsResponse {
            throttle_time_ms: 0,
            responses,
        },
    )
}
