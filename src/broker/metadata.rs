//! Metadata: brokers, topics and partition leaders from the metadata image, with automatic
//! topic creation (through the controller, like any other topic creation) when enabled.

use protocol::messages::create_topics_request::CreatableTopic;
use protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use protocol::messages::{CreateTopicsRequest, MetadataRequest, MetadataResponse};
use protocol::{ErrorCode, Uuid};

use super::Broker;

/// Kafka's "authorized operations not requested" marker.
const OPERATIONS_OMITTED: i32 = i32::MIN;
/// Bitfield of every topic operation (no authorizer: everything is allowed).
/// Bits: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10,
/// ALTER_CONFIGS 11.
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Topics that Kafka marks as internal.
pub(crate) fn is_internal_topic(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

impl Broker {
    pub(super) async fn metadata(&self, req: MetadataRequest, version: i16) -> MetadataResponse {
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        let requested: Option<Vec<(Option<String>, Uuid)>> = match req.topics {
            None => None,
            Some(t) if t.is_empty() && version == 0 => None,
            Some(t) => Some(t.into_iter().map(|t| (t.name, t.topic_id)).collect()),
        };
        let auto_create =
            self.settings.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
        if let (true, Some(topics)) = (auto_create, &requested) {
            self.auto_create(topics).await;
        }

        let image = self.image();
        let include_ops = req.include_topic_authorized_operations;
        let mut topics = Vec::new();
        match requested {
            None => {
                for t in image.topics.iter() {
                    topics.push(self.describe_topic(&image, t, include_ops));
                }
            }
            Some(list) => {
                for (name, id) in list {
                    let found = match &name {
                        Some(n) => image.topics.by_name(n),
                        None => image.topics.by_id(&id),
                    };
                    match found {
                        Some(t) => topics.push(self.describe_topic(&image, t, include_ops)),
                        None => {
                            let error = match &name {
                                Some(n)
                                    if kraft::controller::topics::validate_topic_name(n)
                                        .is_err() =>
                                {
                                    ErrorCode::INVALID_TOPIC_EXCEPTION
                                }
                                Some(_) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                                None => ErrorCode::UNKNOWN_TOPIC_ID,
                            };
                            topics.push(MetadataResponseTopic {
                                error_code: error.code(),
                                name: name.or_else(|| (version < 12).then(String::new)),
                                topic_id: id,
                                topic_authorized_operations: OPERATIONS_OMITTED,
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
        MetadataResponse {
            brokers: self.alive_brokers(&image),
            cluster_id: Some(self.settings.cluster_id.clone()),
            controller_id: self.settings.node_id,
            topics,
            ..Default::default()
        }
    }

    /// Creates the requested topics that do not exist yet, with the broker defaults.
    async fn auto_create(&self, topics: &[(Option<String>, Uuid)]) {
        let image = self.image();
        let missing: Vec<CreatableTopic> = topics
            .iter()
            .filter_map(|(name, _)| name.as_ref())
            .filter(|n| image.topics.by_name(n).is_none())
            .filter(|n| {
                kraft::controller::topics::validate_topic_name(n).is_ok() && !is_internal_topic(n)
            })
            .map(|n| CreatableTopic {
                name: n.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let req = CreateTopicsRequest {
            topics: missing,
            timeout_ms: 30_000,
            ..Default::default()
        };
        let resp = self.controller.call(req).await;
        self.wait_for_topics(&resp).await;
        for t in resp.topics {
            if t.error_code != 0 && t.error_code != ErrorCode::TOPIC_ALREADY_EXISTS.code() {
                tracing::warn!(topic = %t.name, error = %ErrorCode(t.error_code), "auto topic creation failed");
            }
        }
    }

    /// One topic of `image` (the image the whole response is read from: one snapshot, and
    /// no watch lock taken per topic).
    fn describe_topic(
        &self,
        image: &metadata::MetadataImage,
        t: &metadata::TopicImage,
        include_ops: bool,
    ) -> MetadataResponseTopic {
        // Partitions whose log this node could not create: its replica is offline, as Kafka
        // reports a replica in a failed log directory.
        let offline_here = self.replicas.offline_partitions(&t.name);
        let partitions = t
            .partitions
            .iter()
            .map(|(&index, p)| {
                let offline: Vec<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&r| {
                        !self.is_alive(image, r)
                            || (r == self.settings.node_id && offline_here.contains(&index))
                    })
                    .collect();
                let error = if p.leader < 0 {
                    ErrorCode::LEADER_NOT_AVAILABLE
                } else {
                    ErrorCode::NONE
                };
                MetadataResponsePartition {
                    error_code: error.code(),
                    partition_index: index,
                    leader_id: p.leader,
                    leader_epoch: p.leader_epoch,
                    replica_nodes: p.replicas.clone(),
                    isr_nodes: p.isr.clone(),
                    offline_replicas: offline,
                }
            })
            .collect();
        MetadataResponseTopic {
            error_code: 0,
            name: Some(t.name.clone()),
            topic_id: t.id,
            is_internal: is_internal_topic(&t.name),
            partitions,
            topic_authorized_operations: if include_ops {
                TOPIC_OPERATIONS_ALL
            } else {
                OPERATIONS_OMITTED
            },
        }
    }

    fn is_alive(&self, image: &metadata::MetadataImage, id: i32) -> bool {
        id == self.settings.node_id || image.cluster.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Unfenced brokers with an endpoint on our client listener; always includes this node.
    pub(super) fn alive_brokers(
        &self,
        image: &metadata::MetadataImage,
    ) -> Vec<MetadataResponseBroker> {
        let mut brokers: Vec<MetadataResponseBroker> = image
            .cluster
            .brokers
            .values()
            .filter(|b| !b.fenced && b.id != self.settings.node_id)
            .filter_map(|b| {
                let ep = b.listener(&self.settings.listener_name)?;
                Some(MetadataResponseBroker {
                    node_id: b.id,
                    host: ep.host.clone(),
                    port: i32::from(ep.port),
                    rack: b.rack.clone(),
                })
            })
            .collect();
        brokers.push(MetadataResponseBroker {
            node_id: self.settings.node_id,
            host: self.settings.advertised_host.clone(),
            port: self.settings.advertised_port,
            rack: self.settings.rack.clone(),
        });
        brokers.sort_by_key(|b| b.node_id);
        brokers
    }
}
