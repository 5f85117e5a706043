//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (resource type 2) and
//! brokers (resource type 4). Describing reads the metadata image (dynamic configs) over the
//! static broker config and Kafka's defaults; altering goes through the controller.

use metadata::topic_config::{ConfigType, SynonymUnit};
use metadata::ConfigResource;
use protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use protocol::ErrorCode;

use super::Broker;

/// Kafka's `ConfigResource.Type` codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka's `DescribeConfigsResponse.ConfigSource` codes.
mod source {
    pub(super) const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub(super) const DYNAMIC_BROKER_CONFIG: i8 = 2;
    pub(super) const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    pub(super) const STATIC_BROKER_CONFIG: i8 = 4;
    pub(super) const DEFAULT_CONFIG: i8 = 5;
}

/// One described entry before it is shaped for the request's version.
struct Entry {
    name: String,
    value: Option<String>,
    source: i8,
    config_type: i8,
    synonyms: Vec<DescribeConfigsSynonym>,
}

/// A broker value in the topic config's unit (`log.retention.hours=2` → `7200000`).
fn in_topic_unit(value: &str, unit: SynonymUnit) -> String {
    let factor = match unit {
        SynonymUnit::Same => return value.to_string(),
        SynonymUnit::HoursToMs => 3_600_000,
        SynonymUnit::MinutesToMs => 60_000,
    };
    value.trim().parse::<i64>().map_or_else(
        |_| value.to_string(),
        |v| v.saturating_mul(factor).to_string(),
    )
}

/// DescribeConfigs `ConfigType` (v3+) for a topic config type.
fn config_type_code(kind: ConfigType) -> i8 {
    match kind {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

impl Broker {
    pub(super) fn describe_configs(
        &self,
        req: DescribeConfigsRequest,
        version: i16,
    ) -> DescribeConfigsResponse {
        let image = self.image();
        let mut results = Vec::with_capacity(req.resources.len());
        for r in req.resources {
            let entries = match r.resource_type {
                RESOURCE_TOPIC => match image.topics.by_name(&r.resource_name) {
                    Some(_) => Ok(self.topic_entries(&image, &r.resource_name)),
                    None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                },
                RESOURCE_BROKER => {
                    if r.resource_name.is_empty()
                        || r.resource_name == self.settings.node_id.to_string()
                    {
                        Ok(self.broker_entries(&image, &r.resource_name))
                    } else {
                        Err(ErrorCode::INVALID_REQUEST)
                    }
                }
                _ => Err(ErrorCode::INVALID_REQUEST),
            };
            let (error, configs) = match entries {
                Ok(list) => (ErrorCode::NONE, list),
                Err(e) => (e, Vec::new()),
            };
            let configs = configs
                .into_iter()
                .filter(|e| match &r.configuration_keys {
                    Some(keys) if !keys.is_empty() => keys.contains(&e.name),
                    _ => true,
                })
                .map(|e| DescribeConfigsResourceResult {
                    is_default: version == 0 && e.source == source::DEFAULT_CONFIG,
                    config_source: e.source,
                    read_only: r.resource_type == RESOURCE_BROKER,
                    is_sensitive: false,
                    synonyms: if req.include_synonyms {
                        e.synonyms
                    } else {
                        Vec::new()
                    },
                    config_type: e.config_type,
                    documentation: None,
                    name: e.name,
                    value: e.value,
                })
                .collect();
            results.push(DescribeConfigsResult {
                error_code: error.code(),
                error_message: (!error.is_ok()).then(|| error.name().to_string()),
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                configs,
            });
        }
        DescribeConfigsResponse {
            results,
            ..Default::default()
        }
    }

    /// A topic's configs: its overrides, else the broker-level synonym, else Kafka's default.
    fn topic_entries(&self, image: &metadata::MetadataImage, topic: &str) -> Vec<Entry> {
        let overrides = image.configs.topic(topic);
        metadata::topic_config::TOPIC_CONFIGS
            .iter()
            .map(|def| {
                let mut synonyms = Vec::new();
                let topic_value = overrides.and_then(|o| o.get(def.name)).cloned();
                if let Some(v) = &topic_value {
                    synonyms.push(DescribeConfigsSynonym {
                        name: def.name.to_string(),
                        value: Some(v.clone()),
                        source: source::DYNAMIC_TOPIC_CONFIG,
                    });
                }
                // The most specific broker-level synonym set in server.properties, converted to
                // the topic config's unit (log.retention.hours → retention.ms).
                let broker_value = def.broker_synonyms.iter().find_map(|syn| {
                    let (_, v, _) = self
                        .settings
                        .broker_configs
                        .iter()
                        .find(|(n, _, is_default)| n == syn && !is_default)?;
                    Some((
                        syn.to_string(),
                        v.as_deref().map(|v| in_topic_unit(v, SynonymUnit::of(syn))),
                    ))
                });
                if let Some((n, v)) = &broker_value {
                    synonyms.push(DescribeConfigsSynonym {
                        name: n.clone(),
                        value: v.clone(),
                        source: source::STATIC_BROKER_CONFIG,
                    });
                }
                synonyms.push(DescribeConfigsSynonym {
                    name: def.broker_synonyms.first().unwrap_or(&def.name).to_string(),
                    value: def.default.map(str::to_string),
                    source: source::DEFAULT_CONFIG,
                });
                let (value, source) = match (topic_value, broker_value) {
                    (Some(v), _) => (Some(v), source::DYNAMIC_TOPIC_CONFIG),
                    (None, Some((_, v))) => (v, source::STATIC_BROKER_CONFIG),
                    (None, None) => (def.default.map(str::to_string), source::DEFAULT_CONFIG),
                };
                Entry {
                    name: def.name.to_string(),
                    value,
                    source,
                    config_type: config_type_code(def.config_type),
                    synonyms,
                }
            })
            .collect()
    }

    /// This broker's configs: dynamic per-broker, dynamic cluster default, static, default.
    fn broker_entries(&self, image: &metadata::MetadataImage, name: &str) -> Vec<Entry> {
        let per_broker = image
            .configs
            .get(&ConfigResource::broker(self.settings.node_id));
        let cluster = image.configs.get(&ConfigResource::cluster_default());
        let _ = name;
        self.settings
            .broker_configs
            .iter()
            .map(|(n, v, is_default)| {
                let (value, source) = if let Some(v) = per_broker.and_then(|c| c.get(n)) {
                    (Some(v.clone()), source::DYNAMIC_BROKER_CONFIG)
                } else if let Some(v) = cluster.and_then(|c| c.get(n)) {
                    (Some(v.clone()), source::DYNAMIC_DEFAULT_BROKER_CONFIG)
                } else if *is_default {
                    (v.clone(), source::DEFAULT_CONFIG)
                } else {
                    (v.clone(), source::STATIC_BROKER_CONFIG)
                };
                Entry {
                    name: n.clone(),
                    value,
                    source,
                    config_type: 0,
                    synonyms: Vec::new(),
                }
            })
            .collect()
    }

    pub(super) async fn alter_configs(&self, req: AlterConfigsRequest) -> AlterConfigsResponse {
        self.controller.call(req).await
    }

    pub(super) async fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        self.controller.call(req).await
    }
}
