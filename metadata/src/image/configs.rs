//! Dynamic configs: ConfigRecord (`docs/formats.md` §11.4 key 4), replayed into [`ConfigsImage`].
//!
//! A record sets one key of one resource; a null value deletes the key, and a resource with
//! no keys left disappears. Removing a topic removes its configs too (Kafka's
//! `MetadataDelta.replay(RemoveTopicRecord)`).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::messages::{ConfigRecord, MetadataRecordBody};

use crate::image::diff::{self, Change};
use crate::record::MetadataRecord;

/// What a config belongs to (Kafka's `ConfigResource`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    /// 2 topic, 4 broker, 8 broker logger, 16 client metrics.
    pub resource_type: i8,
    /// The topic name; the broker id in decimal, or `""` for the cluster-wide default.
    pub name: String,
}

impl ConfigResource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
    pub const BROKER_LOGGER: i8 = 8;
    pub const CLIENT_METRICS: i8 = 16;

    pub fn topic(name: impl Into<String>) -> ConfigResource {
        ConfigResource {
            resource_type: Self::TOPIC,
            name: name.into(),
        }
    }

    /// A broker's own dynamic configs.
    pub fn broker(id: i32) -> ConfigResource {
        ConfigResource {
            resource_type: Self::BROKER,
            name: id.to_string(),
        }
    }

    /// The cluster-wide dynamic broker defaults (`<default>` in ZooKeeper).
    pub fn cluster_default() -> ConfigResource {
        ConfigResource {
            resource_type: Self::BROKER,
            name: String::new(),
        }
    }
}

/// Dynamic configs by resource, each a key → value map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigsImage {
    pub resources: Arc<BTreeMap<ConfigResource, BTreeMap<String, String>>>,
}

impl ConfigsImage {
    /// The configs of `resource` (empty if it has none).
    pub fn get(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        self.resources.get(resource)
    }

    /// One config value.
    pub fn value(&self, resource: &ConfigResource, key: &str) -> Option<&str> {
        self.get(resource)?.get(key).map(String::as_str)
    }

    /// A topic's dynamic overrides.
    pub fn topic(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.get(&ConfigResource::topic(name))
    }

    /// The resources whose configs differ from `older` (added, changed or removed), in
    /// order; nothing to compare when both share one map.
    pub fn changes_since(&self, older: &ConfigsImage) -> Vec<ConfigResource> {
        let mut out = Vec::new();
        if Arc::ptr_eq(&self.resources, &older.resources) {
            return out;
        }
        diff::changes(
            &older.resources,
            &self.resources,
            PartialEq::eq,
            |c| match c {
                Change::Upserted(r, _) | Change::Removed(r, _) => out.push(r.clone()),
            },
        );
        out
    }

    pub(crate) fn replay(&mut self, r: &ConfigRecord) {
        let resource = ConfigResource {
            resource_type: r.resource_type,
            name: r.resource_name.clone(),
        };
        match &r.value {
            Some(value) => {
                Arc::make_mut(&mut self.resources)
                    .entry(resource)
                    .or_default()
                    .insert(r.name.clone(), value.clone());
            }
            None => {
                let Some(configs) = self.resources.get(&resource) else {
                    return;
                };
                if !configs.contains_key(&r.name) {
                    return;
                }
                let resources = Arc::make_mut(&mut self.resources);
                if let Some(configs) = resources.get_mut(&resource) {
                    configs.remove(&r.name);
                    if configs.is_empty() {
                        resources.remove(&resource);
                    }
                }
            }
        }
    }

    /// Drops every config of `resource`; true if it had any.
    pub(crate) fn remove_resource(&mut self, resource: &ConfigResource) -> bool {
        if !self.resources.contains_key(resource) {
            return false;
        }
        Arc::make_mut(&mut self.resources).remove(resource);
        true
    }

    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for (resource, configs) in self.resources.iter() {
            for (name, value) in configs {
                out.push(MetadataRecord::new(
                    0,
                    MetadataRecordBody::Config(ConfigRecord {
                        resource_type: resource.resource_type,
                        resource_name: resource.name.clone(),
                        name: name.clone(),
                        value: Some(value.clone()),
                    }),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_value_deletes_and_empty_resources_vanish() {
        let mut c = ConfigsImage::default();
        let set = |v: Option<&str>| ConfigRecord {
            resource_type: 2,
            resource_name: "t".into(),
            name: "retention.ms".into(),
            value: v.map(Into::into),
        };
        c.replay(&set(Some("1000")));
        assert_eq!(
            c.value(&ConfigResource::topic("t"), "retention.ms"),
            Some("1000")
        );
        c.replay(&set(None));
        assert_eq!(c, ConfigsImage::default());
        c.replay(&set(None));
        assert_eq!(c, ConfigsImage::default());
    }
}
