//! The admin side of a perf run: find the topic's partitions and their leaders (Metadata),
//! create the topic when asked (CreateTopics), find start offsets (ListOffsets) and delete the
//! topic afterwards (DeleteTopics).
//!
//! Input is the broker's answers through a [`KafkaClient`]; every error code is reported with
//! Kafka's name and the broker's message.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use protocol::messages::create_topics_request::CreatableTopic;
use protocol::messages::delete_topics_request::DeleteTopicState;
use protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use protocol::messages::metadata_request::MetadataRequestTopic;
use protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse,
};
use protocol::{ErrorCode, Uuid};

use super::{describe_error, host_port};
use crate::io::client::KafkaClient;

/// How long to wait for a new topic's partitions to get leaders.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval while waiting for leaders.
const TOPIC_READY_POLL: Duration = Duration::from_millis(100);
/// CreateTopics/DeleteTopics `timeoutMs`.
const ADMIN_OPERATION_TIMEOUT_MS: i32 = 30_000;

/// DescribeConfigs/IncrementalAlterConfigs resource type of a topic (Kafka `ConfigResource.Type`).
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operation SET (Kafka `AlterConfigOp.OpType`).
const CONFIG_OPERATION_SET: i8 = 0;

/// ListOffsets timestamp for the log start offset (Kafka `ListOffsetsRequest.EARLIEST_TIMESTAMP`).
pub(super) const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp for the log end offset (`LATEST_TIMESTAMP`).
pub(super) const LATEST_TIMESTAMP: i64 = -1;

/// A topic's partitions with their leaders' addresses.
#[derive(Debug, Clone)]
pub(super) struct TopicLayout {
    pub(super) id: Uuid,
    /// Partition index → leader address (`host:port`), or `None` while it has no leader.
    pub(super) leaders: BTreeMap<i32, Option<String>>,
}

impl TopicLayout {
    /// True when every partition has a leader that Metadata listed among the brokers.
    pub(super) fn all_led(&self) -> bool {
        !self.leaders.is_empty() && self.leaders.values().all(Option::is_some)
    }

    /// Partitions grouped by leader address (in address order, partitions ascending).
    pub(super) fn by_leader(&self) -> BTreeMap<String, Vec<i32>> {
        let mut groups: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (&p, leader) in &self.leaders {
            if let Some(addr) = leader {
                groups.entry(addr.clone()).or_default().push(p);
            }
        }
        groups
    }
}

/// Metadata for one topic, without asking the broker to auto-create it. `None` when the
/// broker does not know the topic.
pub(super) async fn describe_topic(
    conn: &KafkaClient,
    topic: &str,
    limit: Duration,
) -> Result<Option<TopicLayout>> {
    let version = conn.version(ApiKey::Metadata, 1..=12)?;
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            topic_id: Uuid::ZERO,
            name: Some(topic.to_string()),
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let response: MetadataResponse = conn
        .send_within(ApiKey::Metadata, version, &request, limit)
        .await?;
    let brokers: BTreeMap<i32, String> = response
        .brokers
        .iter()
        .map(|b| (b.node_id, host_port(&b.host, b.port)))
        .collect();
    let Some(t) = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
    else {
        bail!(
            "Metadata from {} does not mention topic '{topic}'",
            conn.addr()
        )
    };
    match ErrorCode(t.error_code) {
        ErrorCode::NONE => {}
        // A topic being created may briefly report no leader: treat as "no leaders yet".
        ErrorCode::LEADER_NOT_AVAILABLE => {
            return Ok(Some(TopicLayout {
                id: t.topic_id,
                leaders: BTreeMap::new(),
            }))
        }
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => return Ok(None),
        ErrorCode::INVALID_TOPIC_EXCEPTION => bail!(
            "'{topic}' is not a valid topic name (Kafka allows up to 249 characters of \
             [a-zA-Z0-9._-])"
        ),
        code => bail!("Metadata for topic '{topic}' from {}: {code}", conn.addr()),
    }
    let leaders = t
        .partitions
        .iter()
        .map(|p| {
            let leader = (p.error_code == 0)
                .then(|| brokers.get(&p.leader_id).cloned())
                .flatten();
            (p.partition_index, leader)
        })
        .collect();
    Ok(Some(TopicLayout {
        id: t.topic_id,
        leaders,
    }))
}

/// What CreateTopics did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Created {
    /// We created it, so we delete it at the end (unless `--keep-topic`).
    Now,
    /// Someone else created it between our Metadata and our CreateTopics.
    AlreadyExisted,
}

/// CreateTopics for one topic. `replication_factor` −1 asks for the broker's default
/// (KIP-464, CreateTopics v4+); older versions get 1.
pub(super) async fn create_topic(
    conn: &KafkaClient,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    limit: Duration,
) -> Result<Created> {
    let names = [topic.to_string()];
    let mut results = create_topics(conn, &names, partitions, replication_factor, limit).await?;
    match results.pop() {
        Some(Ok(created)) => Ok(created),
        Some(Err(message)) => {
            bail!("creating topic '{topic}' with {partitions} partitions: {message}")
        }
        None => bail!(
            "CreateTopics response from {} does not mention '{topic}'",
            conn.addr()
        ),
    }
}

/// CreateTopics for `topics` in one request, all with `partitions` partitions: one answer
/// per topic, in `topics` order (`Err` holds Kafka's error name and message). A response that
/// leaves a topic out is an error for the whole request.
pub(super) async fn create_topics(
    conn: &KafkaClient,
    topics: &[String],
    partitions: i32,
    replication_factor: i16,
    limit: Duration,
) -> Result<Vec<Result<Created, String>>> {
    let version = conn.version(ApiKey::CreateTopics, 2..=7)?;
    let replication_factor = if replication_factor < 0 && version < 4 {
        1
    } else {
        replication_factor
    };
    let request = CreateTopicsRequest {
        topics: topics
            .iter()
            .map(|name| CreatableTopic {
                name: name.clone(),
                num_partitions: partitions,
                replication_factor,
                ..Default::default()
            })
            .collect(),
        timeout_ms: ADMIN_OPERATION_TIMEOUT_MS,
        validate_only: false,
    };
    let response: CreateTopicsResponse = conn
        .send_within(ApiKey::CreateTopics, version, &request, limit)
        .await?;
    let by_name: BTreeMap<&str, _> = response
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut results = Vec::with_capacity(topics.len());
    for name in topics {
        let Some(result) = by_name.get(name.as_str()) else {
            bail!(
                "CreateTopics response from {} does not mention '{name}'",
                conn.addr()
            )
        };
        results.push(match ErrorCode(result.error_code) {
            ErrorCode::NONE => Ok(Created::Now),
            ErrorCode::TOPIC_ALREADY_EXISTS => Ok(Created::AlreadyExisted),
            _ => Err(describe_error(
                result.error_code,
                result.error_message.as_deref(),
            )),
        });
    }
    Ok(results)
}

/// Polls Metadata until every partition of `topic` has a leader (and, when `partitions` is
/// given, that many partitions exist), for at most [`TOPIC_READY_TIMEOUT`].
pub(super) async fn wait_for_leaders(
    conn: &KafkaClient,
    topic: &str,
    partitions: Option<usize>,
    limit: Duration,
) -> Result<TopicLayout> {
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let layout = describe_topic(conn, topic, limit).await?;
        let last = match layout {
            Some(l) if l.all_led() && partitions.is_none_or(|n| l.leaders.len() == n) => {
                return Ok(l)
            }
            Some(l) => format!(
                "{} partitions, {} with a leader",
                l.leaders.len(),
                l.leaders.values().filter(|v| v.is_some()).count()
            ),
            None => "the topic is not listed yet".to_string(),
        };
        if Instant::now() >= deadline {
            bail!(
                "topic '{topic}' has no leader for every partition after {} s ({last})",
                TOPIC_READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(TOPIC_READY_POLL).await;
    }
}

/// DeleteTopics for one topic, by name.
pub(super) async fn delete_topic(conn: &KafkaClient, topic: &str, limit: Duration) -> Result<()> {
    delete_topics(conn, &[topic.to_string()], limit).await
}

/// DeleteTopics for `topics` in one request, by name; the first failure is the error.
pub(super) async fn delete_topics(
    conn: &KafkaClient,
    topics: &[String],
    limit: Duration,
) -> Result<()> {
    let version = conn.version(ApiKey::DeleteTopics, 1..=6)?;
    let mut request = DeleteTopicsRequest {
        timeout_ms: ADMIN_OPERATION_TIMEOUT_MS,
        ..Default::default()
    };
    if version >= 6 {
        request.topics = topics
            .iter()
            .map(|name| DeleteTopicState {
                name: Some(name.clone()),
                topic_id: Uuid::ZERO,
            })
            .collect();
    } else {
        request.topic_names = topics.to_vec();
    }
    let response: DeleteTopicsResponse = conn
        .send_within(ApiKey::DeleteTopics, version, &request, limit)
        .await?;
    for r in &response.responses {
        if r.error_code != 0 {
            bail!(
                "deleting topic '{}': {}",
                r.name.as_deref().unwrap_or("?"),
                describe_error(r.error_code, r.error_message.as_deref())
            );
        }
    }
    Ok(())
}

/// IncrementalAlterConfigs SET of one config of one topic: the cheapest controller write
/// (one ConfigRecord, committed and fsynced before the answer).
pub(super) async fn set_topic_config(
    conn: &KafkaClient,
    topic: &str,
    name: &str,
    value: &str,
    limit: Duration,
) -> Result<()> {
    let version = conn.version(ApiKey::IncrementalAlterConfigs, 0..=1)?;
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TYPE_TOPIC,
            resource_name: topic.to_string(),
            configs: vec![AlterableConfig {
                name: name.to_string(),
                config_operation: CONFIG_OPERATION_SET,
                value: Some(value.to_string()),
            }],
        }],
        validate_only: false,
    };
    let response: IncrementalAlterConfigsResponse = conn
        .send_within(ApiKey::IncrementalAlterConfigs, version, &request, limit)
        .await?;
    for r in &response.responses {
        if r.error_code != 0 {
            bail!(
                "setting {name}={value} on topic '{topic}': {}",
                describe_error(r.error_code, r.error_message.as_deref())
            );
        }
    }
    Ok(())
}

/// Metadata for `topics` (`None`: every topic) without auto-creation; returns the number of
/// topics listed. Used to time the Metadata path itself.
pub(super) async fn metadata_topic_count(
    conn: &KafkaClient,
    topics: Option<&[String]>,
    limit: Duration,
) -> Result<usize> {
    let version = conn.version(ApiKey::Metadata, 1..=12)?;
    let request = MetadataRequest {
        topics: topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic {
                    topic_id: Uuid::ZERO,
                    name: Some(n.clone()),
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let response: MetadataResponse = conn
        .send_within(ApiKey::Metadata, version, &request, limit)
        .await?;
    if let Some(t) = response.topics.iter().find(|t| t.error_code != 0) {
        bail!(
            "Metadata from {} for topic '{}': {}",
            conn.addr(),
            t.name.as_deref().unwrap_or("?"),
            ErrorCode(t.error_code)
        );
    }
    Ok(response.topics.len())
}

/// ListOffsets (earliest or latest) for `partitions` of `topic`, sent to their leader.
pub(super) async fn list_offsets(
    conn: &KafkaClient,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
    limit: Duration,
) -> Result<BTreeMap<i32, i64>> {
    let version = conn.version(ApiKey::ListOffsets, 1..=9)?;
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: partitions
                .iter()
                .map(|&p| ListOffsetsPartition {
                    partition_index: p,
                    current_leader_epoch: -1,
                    timestamp,
                    max_num_offsets: 1,
                })
                .collect(),
        }],
    };
    let response: ListOffsetsResponse = conn
        .send_within(ApiKey::ListOffsets, version, &request, limit)
        .await?;
    let mut offsets = BTreeMap::new();
    for t in response.topics.iter().filter(|t| t.name == topic) {
        for p in &t.partitions {
            if p.error_code != 0 {
                bail!(
                    "ListOffsets for {topic}-{} from {}: {}",
                    p.partition_index,
                    conn.addr(),
                    ErrorCode(p.error_code)
                );
            }
            offsets.insert(p.partition_index, p.offset);
        }
    }
    if let Some(p) = partitions.iter().find(|p| !offsets.contains_key(p)) {
        bail!(
            "ListOffsets response from {} has no answer for {topic}-{p}",
            conn.addr()
        );
    }
    Ok(offsets)
}
