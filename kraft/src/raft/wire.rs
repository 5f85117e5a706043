//! [`RaftMessage`] ⇄ Kafka wire bytes: the Vote, BeginQuorumEpoch, EndQuorumEpoch and Fetch
//! (KRaft form) bodies that controllers exchange, at every version of our schemas, filled in
//! as Kafka's `RaftUtil` fills them.
//!
//! Every body names `__cluster_metadata-0` (by topic id from Fetch v13 on) and carries the
//! cluster id. [`decode`] checks both before anything reaches the core, as Kafka's
//! `KafkaRaftClient` does: a request from another cluster is an [`WireError`] the io layer
//! answers with [`error_response`] (INCONSISTENT_CLUSTER_ID, or INVALID_REQUEST for another
//! partition); a request without a cluster id is accepted, as Kafka accepts it. Requests from
//! outside the voter set reach the core, which answers INCONSISTENT_VOTER_SET itself.
//!
//! Kafka 3.9 controllers negotiate Vote, BeginQuorumEpoch and EndQuorumEpoch v1 and Fetch v17
//! ([`KAFKA_3_9_VERSIONS`]); a pre-vote needs Vote v2 (Kafka 4.0, KIP-996), so encoding one at
//! an older version is an error and the peer does not support pre-vote.

use bytes::{Bytes, BytesMut};
use protocol::messages::{
    begin_quorum_epoch_request as bqe_req, begin_quorum_epoch_response as bqe_resp,
    end_quorum_epoch_request as eqe_req, end_quorum_epoch_response as eqe_resp,
    fetch_request as fetch_req, fetch_response as fetch_resp, vote_request as vote_req,
    vote_response as vote_resp, ApiKey, Message,
};
use protocol::{DecodeError, Epoch, ErrorCode, NodeId, Offset, Uuid};

use super::message::{
    BeginQuorumEpochRequest, EndQuorumEpochRequest, EpochEnd, EpochResponse, FetchRequest,
    FetchResponse, VoteRequest, VoteResponse,
};
use super::{RaftMessage, FETCH_MAX_WAIT_MS};

/// The Raft log's topic and partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const METADATA_PARTITION: i32 = 0;
/// Kafka's `Uuid.METADATA_TOPIC_ID`, which Fetch v13+ names the topic by.
pub const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/// The first Vote version with `PreVote` (KIP-996).
pub const PRE_VOTE_MIN_VERSION: i16 = 2;
/// The first Fetch version with `LastFetchedEpoch`, `DivergingEpoch` and `CurrentLeader`.
pub const FETCH_RAFT_MIN_VERSION: i16 = 12;
/// The versions two Kafka 3.9 controllers negotiate: (Vote, BeginQuorumEpoch,
/// EndQuorumEpoch, Fetch).
pub const KAFKA_3_9_VERSIONS: [(ApiKey, i16); 4] = [
    (ApiKey::Vote, 1),
    (ApiKey::BeginQuorumEpoch, 1),
    (ApiKey::EndQuorumEpoch, 1),
    (ApiKey::Fetch, 17),
];

/// Why a body cannot be turned into a [`RaftMessage`] or the other way round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A request or response from another cluster.
    #[error("cluster id {theirs:?} is not this cluster's")]
    InconsistentClusterId { theirs: String },
    /// The body does not name exactly `__cluster_metadata-0`.
    #[error("the body does not name exactly the partition {METADATA_TOPIC}-{METADATA_PARTITION}")]
    WrongPartition,
    /// A response that carries only a top-level error (Kafka's `handleTopLevelError`).
    #[error("the peer answered {0}")]
    TopLevelError(ErrorCode),
    /// The message cannot be carried at this version (a pre-vote below Vote v2, a Raft
    /// Fetch below v12).
    #[error("{api:?} v{version} cannot carry this message")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot decode the body: {0}")]
    Decode(#[from] DecodeError),
}

impl WireError {
    /// The top-level error a request rejected with this gets ([`error_response`]).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            WireError::InconsistentClusterId { .. } => ErrorCode::INCONSISTENT_CLUSTER_ID,
            WireError::UnsupportedVersion { .. } => ErrorCode::UNSUPPORTED_VERSION,
            WireError::TopLevelError(code) => *code,
            WireError::WrongPartition | WireError::Decode(_) => ErrorCode::INVALID_REQUEST,
        }
    }
}

/// The API a message travels in, and whether it is a response.
pub fn api_of(msg: &RaftMessage) -> (ApiKey, bool) {
    match msg {
        RaftMessage::VoteRequest(_) => (ApiKey::Vote, false),
        RaftMessage::VoteResponse(_) => (ApiKey::Vote, true),
        RaftMessage::BeginQuorumEpochRequest(_) => (ApiKey::BeginQuorumEpoch, false),
        RaftMessage::BeginQuorumEpochResponse(_) => (ApiKey::BeginQuorumEpoch, true),
        RaftMessage::EndQuorumEpochRequest(_) => (ApiKey::EndQuorumEpoch, false),
        RaftMessage::EndQuorumEpochResponse(_) => (ApiKey::EndQuorumEpoch, true),
        RaftMessage::FetchRequest(_) => (ApiKey::Fetch, false),
        RaftMessage::FetchResponse(_) => (ApiKey::Fetch, true),
    }
}

fn leader_or_sentinel(id: Option<NodeId>) -> i32 {
    id.map_or(-1, |id| id.0)
}

fn leader_from_wire(id: i32) -> Option<NodeId> {
    (id >= 0).then_some(NodeId(id))
}

/// Encodes `msg`, bound for node `to`, as the body (no header) of its API at `version`.
pub fn encode(
    msg: &RaftMessage,
    cluster_id: &str,
    to: NodeId,
    version: i16,
) -> Result<Bytes, WireError> {
    let (api, _) = api_of(msg);
    let unsupported = WireError::UnsupportedVersion { api, version };
    let cluster = Some(cluster_id.to_string());
    let mut buf = BytesMut::new();
    match msg {
        RaftMessage::VoteRequest(r) => {
            if r.pre_vote && version < PRE_VOTE_MIN_VERSION {
                return Err(unsupported);
            }
            let body = protocol::messages::VoteRequest {
                cluster_id: cluster,
                voter_id: to.0,
                topics: vec![vote_req::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![vote_req::PartitionData {
                        partition_index: METADATA_PARTITION,
                        replica_epoch: r.candidate_epoch.0,
                        replica_id: r.candidate_id.0,
                        last_offset_epoch: r.last_epoch.0,
                        last_offset: r.last_offset.0,
                        pre_vote: r.pre_vote,
                        ..Default::default()
                    }],
                }],
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::VoteResponse(r) => {
            let body = protocol::messages::VoteResponse {
                topics: vec![vote_resp::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![vote_resp::PartitionData {
                        partition_index: METADATA_PARTITION,
                        error_code: r.error.0,
                        leader_id: leader_or_sentinel(r.leader_id),
                        leader_epoch: r.leader_epoch.0,
                        vote_granted: r.vote_granted,
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::BeginQuorumEpochRequest(r) => {
            let body = protocol::messages::BeginQuorumEpochRequest {
                cluster_id: cluster,
                voter_id: to.0,
                topics: vec![bqe_req::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![bqe_req::PartitionData {
                        partition_index: METADATA_PARTITION,
                        leader_id: r.leader_id.0,
                        leader_epoch: r.leader_epoch.0,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::EndQuorumEpochRequest(r) => {
            let body = protocol::messages::EndQuorumEpochRequest {
                cluster_id: cluster,
                topics: vec![eqe_req::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![eqe_req::PartitionData {
                        partition_index: METADATA_PARTITION,
                        leader_id: r.leader_id.0,
                        leader_epoch: r.leader_epoch.0,
                        // v0 names successors by id, v1 by id and directory; only the one
                        // of the version is encoded.
                        preferred_successors: r.preferred_successors.iter().map(|n| n.0).collect(),
                        preferred_candidates: r
                            .preferred_successors
                            .iter()
                            .map(|n| eqe_req::ReplicaInfo {
                                candidate_id: n.0,
                                candidate_directory_id: Uuid::ZERO,
                            })
                            .collect(),
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::BeginQuorumEpochResponse(r) => {
            let body = protocol::messages::BeginQuorumEpochResponse {
                topics: vec![bqe_resp::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![bqe_resp::PartitionData {
                        partition_index: METADATA_PARTITION,
                        error_code: r.error.0,
                        leader_id: leader_or_sentinel(r.leader_id),
                        leader_epoch: r.leader_epoch.0,
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::EndQuorumEpochResponse(r) => {
            let body = protocol::messages::EndQuorumEpochResponse {
                topics: vec![eqe_resp::TopicData {
                    topic_name: METADATA_TOPIC.into(),
                    partitions: vec![eqe_resp::PartitionData {
                        partition_index: METADATA_PARTITION,
                        error_code: r.error.0,
                        leader_id: leader_or_sentinel(r.leader_id),
                        leader_epoch: r.leader_epoch.0,
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::FetchRequest(r) => {
            if version < FETCH_RAFT_MIN_VERSION {
                return Err(unsupported);
            }
            let max_bytes = i32::try_from(r.max_bytes).unwrap_or(i32::MAX);
            let body = protocol::messages::FetchRequest {
                cluster_id: cluster,
                // v0-14 name the fetcher in ReplicaId, v15+ in ReplicaState.
                replica_id: if version < 15 { r.replica_id.0 } else { -1 },
                replica_state: fetch_req::ReplicaState {
                    replica_id: if version < 15 { -1 } else { r.replica_id.0 },
                    replica_epoch: -1,
                },
                max_wait_ms: FETCH_MAX_WAIT_MS as i32,
                min_bytes: 0,
                max_bytes,
                topics: vec![fetch_req::FetchTopic {
                    topic: METADATA_TOPIC.into(),
                    topic_id: METADATA_TOPIC_ID,
                    partitions: vec![fetch_req::FetchPartition {
                        partition: METADATA_PARTITION,
                        current_leader_epoch: r.current_leader_epoch.0,
                        fetch_offset: r.fetch_offset.0,
                        last_fetched_epoch: r.last_fetched_epoch.0,
                        partition_max_bytes: max_bytes,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
        RaftMessage::FetchResponse(r) => {
            if version < FETCH_RAFT_MIN_VERSION {
                return Err(unsupported);
            }
            let mut partition = fetch_resp::PartitionData {
                partition_index: METADATA_PARTITION,
                error_code: r.error.0,
                high_watermark: r.high_watermark.map_or(-1, |hw| hw.0),
                log_start_offset: 0,
                records: Some(r.records.clone()),
                ..Default::default()
            };
            partition.current_leader = fetch_resp::LeaderIdAndEpoch {
                leader_id: leader_or_sentinel(r.leader_id),
                leader_epoch: r.leader_epoch.0,
            };
            if let Some(d) = r.diverging_epoch {
                partition.diverging_epoch = fetch_resp::EpochEndOffset {
                    epoch: d.epoch.0,
                    end_offset: d.end_offset.0,
                };
            }
            let body = protocol::messages::FetchResponse {
                responses: vec![fetch_resp::FetchableTopicResponse {
                    topic: METADATA_TOPIC.into(),
                    topic_id: METADATA_TOPIC_ID,
                    partitions: vec![partition],
                }],
                ..Default::default()
            };
            checked_encode(&body, version, &mut buf)?;
        }
    }
    Ok(buf.freeze())
}

/// Encodes `body` when `version` is one of its schema's.
fn checked_encode<M: Message>(body: &M, version: i16, buf: &mut BytesMut) -> Result<(), WireError> {
    if version < M::VERSIONS.0 || version > M::VERSIONS.1 {
        return Err(WireError::UnsupportedVersion {
            api: ApiKey::from_i16(M::KEY).expect("a Raft API's schema has its API key"),
            version,
        });
    }
    body.encode(buf, version);
    Ok(())
}

/// Requests carry a cluster id that must be ours, or none (Kafka `hasValidClusterId`).
fn check_cluster(theirs: &Option<String>, ours: &str) -> Result<(), WireError> {
    match theirs {
        Some(id) if id != ours => Err(WireError::InconsistentClusterId { theirs: id.clone() }),
        _ => Ok(()),
    }
}

fn check_top_level(error_code: i16) -> Result<(), WireError> {
    match ErrorCode(error_code) {
        ErrorCode::NONE => Ok(()),
        e => Err(WireError::TopLevelError(e)),
    }
}

/// The single partition of a body that must name exactly `__cluster_metadata-0` (Kafka
/// `RaftUtil.hasValidTopicPartition`).
fn single<T>(items: Vec<T>) -> Result<T, WireError> {
    let mut items = items.into_iter();
    match (items.next(), items.next()) {
        (Some(item), None) => Ok(item),
        _ => Err(WireError::WrongPartition),
    }
}

fn expect(ok: bool) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(WireError::WrongPartition)
    }
}

/// Decodes the body of `api` at `version` (a response when `response`) into the message the
/// core takes, checking cluster id and partition on the way.
pub fn decode(
    api: ApiKey,
    response: bool,
    version: i16,
    mut body: Bytes,
    cluster_id: &str,
) -> Result<RaftMessage, WireError> {
    let buf = &mut body;
    let msg = match (api, response) {
        (ApiKey::Vote, false) => {
            let m = protocol::messages::VoteRequest::decode(buf, version)?;
            check_cluster(&m.cluster_id, cluster_id)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            RaftMessage::VoteRequest(VoteRequest {
                candidate_epoch: Epoch(p.replica_epoch),
                candidate_id: NodeId(p.replica_id),
                last_epoch: Epoch(p.last_offset_epoch),
                last_offset: Offset(p.last_offset),
                pre_vote: p.pre_vote,
            })
        }
        (ApiKey::Vote, true) => {
            let m = protocol::messages::VoteResponse::decode(buf, version)?;
            check_top_level(m.error_code)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            RaftMessage::VoteResponse(VoteResponse {
                error: ErrorCode(p.error_code),
                leader_epoch: Epoch(p.leader_epoch),
                leader_id: leader_from_wire(p.leader_id),
                vote_granted: p.vote_granted,
            })
        }
        (ApiKey::BeginQuorumEpoch, false) => {
            let m = protocol::messages::BeginQuorumEpochRequest::decode(buf, version)?;
            check_cluster(&m.cluster_id, cluster_id)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                leader_id: NodeId(p.leader_id),
                leader_epoch: Epoch(p.leader_epoch),
            })
        }
        (ApiKey::EndQuorumEpoch, false) => {
            let m = protocol::messages::EndQuorumEpochRequest::decode(buf, version)?;
            check_cluster(&m.cluster_id, cluster_id)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            let preferred_successors = if version >= 1 {
                p.preferred_candidates
                    .iter()
                    .map(|c| NodeId(c.candidate_id))
                    .collect()
            } else {
                p.preferred_successors.iter().copied().map(NodeId).collect()
            };
            RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
                leader_id: NodeId(p.leader_id),
                leader_epoch: Epoch(p.leader_epoch),
                preferred_successors,
            })
        }
        (ApiKey::BeginQuorumEpoch, true) => {
            let m = protocol::messages::BeginQuorumEpochResponse::decode(buf, version)?;
            check_top_level(m.error_code)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            RaftMessage::BeginQuorumEpochResponse(epoch_response(
                p.error_code,
                p.leader_epoch,
                p.leader_id,
            ))
        }
        (ApiKey::EndQuorumEpoch, true) => {
            let m = protocol::messages::EndQuorumEpochResponse::decode(buf, version)?;
            check_top_level(m.error_code)?;
            let t = single(m.topics)?;
            expect(t.topic_name == METADATA_TOPIC)?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            RaftMessage::EndQuorumEpochResponse(epoch_response(
                p.error_code,
                p.leader_epoch,
                p.leader_id,
            ))
        }
        (ApiKey::Fetch, false) => {
            if version < FETCH_RAFT_MIN_VERSION {
                return Err(WireError::UnsupportedVersion { api, version });
            }
            let m = protocol::messages::FetchRequest::decode(buf, version)?;
            check_cluster(&m.cluster_id, cluster_id)?;
            let t = single(m.topics)?;
            expect(named_metadata_topic(&t.topic, t.topic_id, version))?;
            let p = single(t.partitions)?;
            expect(p.partition == METADATA_PARTITION)?;
            let replica_id = if version >= 15 {
                m.replica_state.replica_id
            } else {
                m.replica_id
            };
            RaftMessage::FetchRequest(FetchRequest {
                replica_id: NodeId(replica_id),
                current_leader_epoch: Epoch(p.current_leader_epoch),
                fetch_offset: Offset(p.fetch_offset),
                last_fetched_epoch: Epoch(p.last_fetched_epoch),
                max_bytes: u32::try_from(m.max_bytes).unwrap_or(0),
            })
        }
        (ApiKey::Fetch, true) => {
            if version < FETCH_RAFT_MIN_VERSION {
                return Err(WireError::UnsupportedVersion { api, version });
            }
            let m = protocol::messages::FetchResponse::decode(buf, version)?;
            check_top_level(m.error_code)?;
            let t = single(m.responses)?;
            expect(named_metadata_topic(&t.topic, t.topic_id, version))?;
            let p = single(t.partitions)?;
            expect(p.partition_index == METADATA_PARTITION)?;
            let d = p.diverging_epoch;
            RaftMessage::FetchResponse(FetchResponse {
                error: ErrorCode(p.error_code),
                leader_epoch: Epoch(p.current_leader.leader_epoch),
                leader_id: leader_from_wire(p.current_leader.leader_id),
                high_watermark: (p.high_watermark >= 0).then_some(Offset(p.high_watermark)),
                // Kafka `isPartitionDiverged`: either half set means diverged.
                diverging_epoch: (d.epoch >= 0).then_some(EpochEnd {
                    epoch: Epoch(d.epoch),
                    end_offset: Offset(d.end_offset),
                }),
                records: p.records.unwrap_or_default(),
            })
        }
        _ => return Err(WireError::UnsupportedVersion { api, version }),
    };
    Ok(msg)
}

fn named_metadata_topic(name: &str, id: Uuid, version: i16) -> bool {
    if version >= 13 {
        id == METADATA_TOPIC_ID
    } else {
        name == METADATA_TOPIC
    }
}

fn epoch_response(error: i16, epoch: i32, leader: i32) -> EpochResponse {
    EpochResponse {
        error: ErrorCode(error),
        leader_epoch: Epoch(epoch),
        leader_id: leader_from_wire(leader),
    }
}

/// The response to a request of `api` that was rejected before the core saw it: only the
/// top-level error, as Kafka answers INCONSISTENT_CLUSTER_ID and INVALID_REQUEST.
pub fn error_response(api: ApiKey, version: i16, error: ErrorCode) -> Result<Bytes, WireError> {
    use protocol::messages::{
        BeginQuorumEpochResponse, EndQuorumEpochResponse, FetchResponse, VoteResponse,
    };
    /// `M` with nothing but its top-level error code, at `version`.
    fn encoded<M: Message + Default>(
        set_error: impl FnOnce(&mut M),
        version: i16,
    ) -> Result<Bytes, WireError> {
        let mut body = M::default();
        set_error(&mut body);
        let mut buf = BytesMut::new();
        checked_encode(&body, version, &mut buf)?;
        Ok(buf.freeze())
    }
    let code = error.0;
    match api {
        ApiKey::Vote => encoded(|m: &mut VoteResponse| m.error_code = code, version),
        ApiKey::BeginQuorumEpoch => encoded(
            |m: &mut BeginQuorumEpochResponse| m.error_code = code,
            version,
        ),
        ApiKey::EndQuorumEpoch => encoded(
            |m: &mut EndQuorumEpochResponse| m.error_code = code,
            version,
        ),
        ApiKey::Fetch => encoded(|m: &mut FetchResponse| m.error_code = code, version),
        _ => Err(WireError::UnsupportedVersion { api, version }),
    }
}
