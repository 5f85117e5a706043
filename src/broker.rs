//! The broker: decodes each request frame, dispatches it to the handler for its API, and
//! encodes the answer. Handlers read the current `MetadataImage` and the replica manager;
//! anything that changes metadata goes to the controller as a request and comes back as
//! committed records, so the broker cannot tell which mode (KRaft, legacy) it runs in.

mod acls;
#[cfg(test)]
mod alloc_tests;
mod api_versions;
mod configs;
mod controller_apis;
mod describe;
mod fetch;
mod fetch_session;
pub(crate) mod group;
pub(crate) mod init_producer_id;
mod list_offsets;
pub(crate) mod log_cleaner;
mod metadata;
mod produce;
pub(crate) mod producer_state;
pub(crate) mod replica_manager;
#[cfg(test)]
pub(crate) mod test_broker;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use protocol::header::{encode_response, RequestHeader};
use protocol::messages::{ApiKey, Message, RequestBody};
use protocol::{versions, ErrorCode};
use tokio::sync::watch;

use crate::config::{Listener, ServerConfig};
use crate::io::controller_client::ControllerClient;
use replica_manager::ReplicaManager;

/// Longest a request waits for a committed metadata change to reach the broker's image.
const IMAGE_PROPAGATION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the connection should do after a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Write this response frame.
    Respond(BytesMut),
    /// Write this response frame, given as parts to write in order (records shared with the
    /// log's read buffers, not copied: `fetch::encode_fetch_frame`).
    RespondParts(Vec<Bytes>),
    /// Produce with acks=0: no answer.
    NoResponse,
    /// Close the connection (unparsable request, unknown API), as Kafka does.
    Close,
}

/// The broker-side settings handlers need, taken from the server config at start-up.
#[derive(Debug, Clone)]
pub(crate) struct BrokerSettings {
    pub(crate) node_id: i32,
    pub(crate) cluster_id: String,
    /// The advertised client listener: (name, host, port).
    pub(crate) listener_name: String,
    pub(crate) advertised_host: String,
    pub(crate) advertised_port: i32,
    pub(crate) rack: Option<String>,
    pub(crate) socket_request_max_bytes: usize,
    pub(crate) message_max_bytes: usize,
    pub(crate) auto_create_topics: bool,
    /// `delete.topic.enable`: false refuses every DeleteTopics.
    pub(crate) delete_topic_enable: bool,
    /// `fetch.max.bytes`: the most a Fetch response carries, whatever the client asks.
    pub(crate) fetch_max_bytes: usize,
    /// `offset.metadata.max.bytes`: the longest metadata string an OffsetCommit may store.
    pub(crate) offset_metadata_max_bytes: usize,
    /// Broker configs as DescribeConfigs shows them: (name, value, is_default).
    pub(crate) broker_configs: Vec<(String, Option<String>, bool)>,
}

/// One broker: shared by every connection task.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) settings: BrokerSettings,
    pub(crate) image: watch::Receiver<Arc<::metadata::MetadataImage>>,
    pub(crate) replicas: Arc<ReplicaManager>,
    pub(crate) controller: ControllerClient,
    /// Incremental fetch sessions (KIP-227).
    pub(crate) fetch_sessions: fetch_session::FetchSessions,
    /// The group coordinator (every group: this is a single node).
    pub(crate) groups: group::GroupCoordinatorHandle,
    /// This broker's current block of producer ids (InitProducerId).
    pub(crate) producer_ids: init_producer_id::ProducerIdBlock,
}

impl Broker {
    /// The broker of `config`, answering for `advertised`, serving the applied metadata
    /// `image` from `replicas`, and sending metadata changes to `controller`.
    pub(crate) fn new(
        config: &ServerConfig,
        cluster_id: String,
        advertised: &Listener,
        image: watch::Receiver<Arc<::metadata::MetadataImage>>,
        replicas: Arc<ReplicaManager>,
        controller: ControllerClient,
    ) -> Self {
        Broker {
            settings: BrokerSettings {
                node_id: config.node_id,
                cluster_id,
                listener_name: advertised.name.clone(),
                advertised_host: advertised
                    .host
                    .clone()
                    .unwrap_or_else(|| "localhost".to_string()),
                advertised_port: i32::from(advertised.port),
                rack: config.broker_rack.clone(),
                socket_request_max_bytes: config.socket_request_max_bytes.max(0) as usize,
                message_max_bytes: config.message_max_bytes.max(0) as usize,
                auto_create_topics: config.auto_create_topics_enable,
                delete_topic_enable: config.delete_topic_enable,
                fetch_max_bytes: config.fetch_max_bytes.max(0) as usize,
                offset_metadata_max_bytes: config.offset_metadata_max_bytes.max(0) as usize,
                broker_configs: config
                    .broker_config_entries()
                    .into_iter()
                    .map(|(k, e)| (k.to_string(), e.value, e.is_default))
                    .collect(),
            },
            image,
            replicas,
            controller,
            fetch_sessions: Default::default(),
            producer_ids: Default::default(),
            groups: group::GroupCoordinatorHandle::new(
                group::GroupSettings {
                    core: group::coordinator::CoordinatorConfig {
                        initial_rebalance_delay_ms: i64::from(
                            config.group_initial_rebalance_delay_ms.max(0),
                        ),
                        min_session_timeout_ms: config.group_min_session_timeout_ms,
                        max_session_timeout_ms: config.group_max_session_timeout_ms,
                        offsets_retention_ms: i64::from(config.offsets_retention_minutes)
                            .saturating_mul(60_000),
                        group_max_size: config.group_max_size.max(1) as usize,
                    },
                    offsets_topic_partitions: config.offsets_topic_num_partitions,
                    offsets_topic_replication_factor: config.offsets_topic_replication_factor,
                    offsets_topic_segment_bytes: config.offsets_topic_segment_bytes,
                    offsets_retention_check_interval: std::time::Duration::from_millis(
                        config.offsets_retention_check_interval_ms.max(1) as u64,
                    ),
                },
                rand::random(),
            ),
        }
    }

    pub(crate) fn socket_request_max_bytes(&self) -> usize {
        self.settings.socket_request_max_bytes
    }

    /// The metadata image as of now.
    pub(crate) fn image(&self) -> Arc<::metadata::MetadataImage> {
        self.image.borrow().clone()
    }

    /// Waits (bounded) until the broker's image satisfies `ready`: after the controller
    /// commits a change, the broker applies it a moment later, and a client told "created"
    /// must find the topic in Metadata and its logs ready.
    pub(crate) async fn wait_for_image(&self, ready: impl Fn(&::metadata::MetadataImage) -> bool) {
        let mut image = self.image.clone();
        let _ = tokio::time::timeout(IMAGE_PROPAGATION_WAIT, image.wait_for(|i| ready(i))).await;
    }

    /// Handles one request frame (without its size prefix).
    pub(crate) async fn handle_frame(&self, mut frame: Bytes, peer: SocketAddr) -> Outcome {
        let header = match RequestHeader::decode(&mut frame) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%peer, "closing connection: bad request header: {e}");
                return Outcome::Close;
            }
        };
        let Some(api) = ApiKey::from_i16(header.api_key) else {
            tracing::warn!(%peer, api_key = header.api_key, "closing connection: unknown api key");
            return Outcome::Close;
        };
        let version = header.api_version;
        if !versions::is_supported(api, version) {
            if api == ApiKey::ApiVersions {
                // KIP-511: answer at v0 with our versions so the client can pick one.
                let body = versions::api_versions_response(ErrorCode::UNSUPPORTED_VERSION);
                return Outcome::Respond(encode_response(api, 0, header.correlation_id, &body));
            }
            tracing::warn!(
                %peer,
                api = api.name(),
                version,
                client_id = header.client_id.as_deref().unwrap_or(""),
                "closing connection: unsupported api version"
            );
            return Outcome::Close;
        }
        let body = match RequestBody::decode(api, version, &mut frame) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%peer, "closing connection: malformed request: {e}");
                return Outcome::Close;
            }
        };
        let client = group::RequestClient {
            client_id: header.client_id.as_deref().unwrap_or(""),
            peer,
        };
        // What is left of the frame is empty; dropping it leaves a Produce batch the only
        // reference to the frame's buffer (see `ReplicaManager::append`).
        drop(frame);
        self.dispatch(api, version, header.correlation_id, client, body)
            .await
    }

    async fn dispatch(
        &self,
        api: ApiKey,
        version: i16,
        cid: i32,
        client: group::RequestClient<'_>,
        body: RequestBody,
    ) -> Outcome {
        fn respond<M: Message>(api: ApiKey, version: i16, cid: i32, m: &M) -> Outcome {
            Outcome::Respond(encode_response(api, version, cid, m))
        }
        match body {
            RequestBody::ApiVersions(_) => respond(api, version, cid, &self.api_versions(version)),
            RequestBody::Metadata(r) => {
                respond(api, version, cid, &self.metadata(r, version).await)
            }
            RequestBody::Produce(r) => match self.produce(r, version).await {
                Some(resp) => respond(api, version, cid, &resp),
                None => Outcome::NoResponse,
            },
            RequestBody::Fetch(r) => Outcome::RespondParts(fetch::encode_fetch_frame(
                version,
                cid,
                &self.fetch(r, version).await,
            )),
            RequestBody::ListOffsets(r) => {
                respond(api, version, cid, &self.list_offsets(r, version).await)
            }
            RequestBody::OffsetForLeaderEpoch(r) => {
                respond(api, version, cid, &self.offset_for_leader_epoch(r).await)
            }
            RequestBody::CreateTopics(r) => {
                respond(api, version, cid, &self.create_topics(r).await)
            }
            RequestBody::DeleteTopics(r) => {
                respond(api, version, cid, &self.delete_topics(r, version).await)
            }
            RequestBody::CreatePartitions(r) => {
                respond(api, version, cid, &self.create_partitions(r).await)
            }
            RequestBody::DeleteRecords(r) => {
                respond(api, version, cid, &self.delete_records(r).await)
            }
            RequestBody::DescribeConfigs(r) => {
                respond(api, version, cid, &self.describe_configs(r, version))
            }
            RequestBody::AlterConfigs(r) => {
                respond(api, version, cid, &self.alter_configs(r).await)
            }
            RequestBody::IncrementalAlterConfigs(r) => {
                respond(api, version, cid, &self.incremental_alter_configs(r).await)
            }
            RequestBody::DescribeCluster(r) => {
                respond(api, version, cid, &self.describe_cluster(r, version))
            }
            RequestBody::DescribeLogDirs(r) => {
                respond(api, version, cid, &self.describe_log_dirs(r).await)
            }
            RequestBody::FindCoordinator(r) => {
                respond(api, version, cid, &self.find_coordinator(r, version).await)
            }
            RequestBody::JoinGroup(r) => respond(
                api,
                version,
                cid,
                &self.join_group(r, version, client).await,
            ),
            RequestBody::SyncGroup(r) => {
                respond(api, version, cid, &self.sync_group(r, version).await)
            }
            RequestBody::Heartbeat(r) => respond(api, version, cid, &self.heartbeat(r)),
            RequestBody::LeaveGroup(r) => respond(api, version, cid, &self.leave_group(r, version)),
            RequestBody::OffsetCommit(r) => {
                respond(api, version, cid, &self.offset_commit(r, version).await)
            }
            RequestBody::OffsetFetch(r) => {
                respond(api, version, cid, &self.offset_fetch(r, version))
            }
            RequestBody::ListGroups(r) => respond(api, version, cid, &self.list_groups(r, version)),
            RequestBody::DescribeGroups(r) => {
                respond(api, version, cid, &self.describe_groups(r, version))
            }
            RequestBody::DeleteGroups(r) => {
                respond(api, version, cid, &self.delete_groups(r).await)
            }
            RequestBody::OffsetDelete(r) => {
                respond(api, version, cid, &self.offset_delete(r).await)
            }
            RequestBody::InitProducerId(r) => {
                respond(api, version, cid, &self.init_producer_id(r).await)
            }
            RequestBody::UpdateFeatures(r) => {
                respond(api, version, cid, &self.update_features(r, version).await)
            }
            RequestBody::DescribeAcls(r) => respond(api, version, cid, &self.describe_acls(r)),
            RequestBody::CreateAcls(r) => respond(api, version, cid, &self.create_acls(r)),
            RequestBody::DeleteAcls(r) => respond(api, version, cid, &self.delete_acls(r)),
            other => {
                // The version table admits only the APIs above; reaching here means the table
                // and this match disagree, which tests catch. Clients never see a panic.
                tracing::error!(
                    "no handler for {:?} although the version table lists it",
                    api
                );
                drop(other);
                Outcome::Close
            }
        }
    }
}
