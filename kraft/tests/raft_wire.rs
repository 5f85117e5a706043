//! `kraft::raft::wire`: every Raft message survives encode → decode at every version that can
//! carry it; fields sit where Kafka puts them; bodies from another cluster or for another
//! partition are refused with Kafka's errors before they reach the core.

use bytes::{Buf, Bytes};
use kraft::raft::message::{
    BeginQuorumEpochRequest, EndQuorumEpochRequest, EpochEnd, EpochResponse, FetchRequest,
    FetchResponse, VoteRequest, VoteResponse,
};
use kraft::raft::wire::{self, WireError, METADATA_TOPIC_ID};
use kraft::raft::RaftMessage;
use protocol::messages::{ApiKey, Message};
use protocol::{Epoch, ErrorCode, NodeId, Offset};

const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";

fn vote_request(pre_vote: bool) -> RaftMessage {
    RaftMessage::VoteRequest(VoteRequest {
        candidate_epoch: Epoch(7),
        candidate_id: NodeId(2),
        last_epoch: Epoch(6),
        last_offset: Offset(1234),
        pre_vote,
    })
}

/// Every message shape, with the versions of its API that must carry it.
fn cases() -> Vec<(RaftMessage, std::ops::RangeInclusive<i16>)> {
    let epoch_response = |leader_id| EpochResponse {
        error: ErrorCode::FENCED_LEADER_EPOCH,
        leader_epoch: Epoch(9),
        leader_id,
    };
    vec![
        (vote_request(false), 0..=2),
        (vote_request(true), 2..=2),
        (
            RaftMessage::VoteResponse(VoteResponse {
                error: ErrorCode::NONE,
                leader_epoch: Epoch(7),
                leader_id: None,
                vote_granted: true,
            }),
            0..=2,
        ),
        (
            RaftMessage::VoteResponse(VoteResponse {
                error: ErrorCode::INCONSISTENT_VOTER_SET,
                leader_epoch: Epoch(8),
                leader_id: Some(NodeId(3)),
                vote_granted: false,
            }),
            0..=2,
        ),
        (
            RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                leader_id: NodeId(1),
                leader_epoch: Epoch(4),
            }),
            0..=1,
        ),
        (
            RaftMessage::BeginQuorumEpochResponse(epoch_response(Some(NodeId(1)))),
            0..=1,
        ),
        (
            RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
                leader_id: NodeId(1),
                leader_epoch: Epoch(4),
                preferred_successors: vec![NodeId(3), NodeId(2)],
            }),
            0..=1,
        ),
        (
            RaftMessage::EndQuorumEpochResponse(epoch_response(None)),
            0..=1,
        ),
        (
            RaftMessage::FetchRequest(FetchRequest {
                replica_id: NodeId(3),
                current_leader_epoch: Epoch(4),
                fetch_offset: Offset(99),
                last_fetched_epoch: Epoch(3),
                max_bytes: 8 * 1024 * 1024,
            }),
            12..=17,
        ),
        (
            RaftMessage::FetchResponse(FetchResponse {
                error: ErrorCode::NONE,
                leader_epoch: Epoch(4),
                leader_id: Some(NodeId(1)),
                high_watermark: Some(Offset(90)),
                diverging_epoch: None,
                records: Bytes::from_static(b"batch bytes, opaque here"),
            }),
            12..=17,
        ),
        (
            RaftMessage::FetchResponse(FetchResponse {
                error: ErrorCode::NONE,
                leader_epoch: Epoch(5),
                leader_id: Some(NodeId(2)),
                high_watermark: None,
                diverging_epoch: Some(EpochEnd {
                    epoch: Epoch(3),
                    end_offset: Offset(40),
                }),
                records: Bytes::new(),
            }),
            12..=17,
        ),
        (
            RaftMessage::FetchResponse(FetchResponse {
                error: ErrorCode::NOT_LEADER_OR_FOLLOWER,
                leader_epoch: Epoch(5),
                leader_id: None,
                high_watermark: None,
                diverging_epoch: None,
                records: Bytes::new(),
            }),
            12..=17,
        ),
    ]
}

#[test]
fn every_message_round_trips_at_every_version() {
    for (msg, versions) in cases() {
        let (api, response) = wire::api_of(&msg);
        for version in versions {
            let bytes = wire::encode(&msg, CLUSTER, NodeId(1), version)
                .unwrap_or_else(|e| panic!("{msg:?} v{version}: {e}"));
            let back = wire::decode(api, response, version, bytes, CLUSTER)
                .unwrap_or_else(|e| panic!("{msg:?} v{version}: {e}"));
            assert_eq!(back, msg, "{api:?} v{version}");
        }
    }
}

#[test]
fn kafka_3_9_versions_carry_everything_but_pre_vote() {
    for (msg, _) in cases() {
        let (api, _) = wire::api_of(&msg);
        let (_, version) = wire::KAFKA_3_9_VERSIONS
            .iter()
            .copied()
            .find(|&(a, _)| a == api)
            .unwrap();
        let result = wire::encode(&msg, CLUSTER, NodeId(1), version);
        if msg == vote_request(true) {
            assert_eq!(
                result.unwrap_err(),
                WireError::UnsupportedVersion {
                    api: ApiKey::Vote,
                    version: 1
                }
            );
        } else {
            result.unwrap();
        }
    }
    // A Raft Fetch needs LastFetchedEpoch (v12+).
    let fetch = cases()
        .into_iter()
        .find(|(m, _)| matches!(m, RaftMessage::FetchRequest(_)));
    assert!(wire::encode(&fetch.unwrap().0, CLUSTER, NodeId(1), 11).is_err());
}

/// Reads a compact string (length + 1 as an unsigned varint; the lengths here fit one byte).
fn compact_string(buf: &mut Bytes) -> String {
    let len = buf.get_u8() as usize - 1;
    String::from_utf8(buf.split_to(len).to_vec()).unwrap()
}

#[test]
fn vote_v2_fields_sit_where_kafka_puts_them() {
    let mut b = wire::encode(&vote_request(true), CLUSTER, NodeId(3), 2).unwrap();
    assert_eq!(compact_string(&mut b), CLUSTER); // ClusterId
    assert_eq!(b.get_i32(), 3); // VoterId: the receiver
    assert_eq!(b.get_u8(), 2); // one topic
    assert_eq!(compact_string(&mut b), "__cluster_metadata");
    assert_eq!(b.get_u8(), 2); // one partition
    assert_eq!(b.get_i32(), 0); // PartitionIndex
    assert_eq!(b.get_i32(), 7); // ReplicaEpoch
    assert_eq!(b.get_i32(), 2); // ReplicaId
    assert_eq!(b.split_to(32).as_ref(), &[0u8; 32]); // Replica/VoterDirectoryId
    assert_eq!(b.get_i32(), 6); // LastOffsetEpoch
    assert_eq!(b.get_i64(), 1234); // LastOffset
    assert_eq!(b.get_u8(), 1); // PreVote
    assert_eq!(b.as_ref(), &[0, 0, 0]); // tagged fields: partition, topic, request
}

#[test]
fn fetch_v17_names_the_replica_in_replica_state_and_the_topic_by_id() {
    let (msg, _) = cases()
        .into_iter()
        .find(|(m, _)| matches!(m, RaftMessage::FetchRequest(_)))
        .unwrap();
    let bytes = wire::encode(&msg, CLUSTER, NodeId(1), 17).unwrap();
    let m = protocol::messages::FetchRequest::decode(&mut bytes.clone(), 17).unwrap();
    assert_eq!(m.cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(m.replica_state.replica_id, 3);
    assert_eq!(m.replica_state.replica_epoch, -1);
    assert_eq!(m.max_wait_ms, 500);
    assert_eq!(m.topics[0].topic_id, METADATA_TOPIC_ID);
    let p = &m.topics[0].partitions[0];
    assert_eq!(
        (p.current_leader_epoch, p.fetch_offset, p.last_fetched_epoch),
        (4, 99, 3)
    );
    // v14 still names the fetcher in the top-level ReplicaId and the topic by name.
    let bytes = wire::encode(&msg, CLUSTER, NodeId(1), 12).unwrap();
    let m = protocol::messages::FetchRequest::decode(&mut bytes.clone(), 12).unwrap();
    assert_eq!(m.replica_id, 3);
    assert_eq!(m.topics[0].topic, "__cluster_metadata");
}

#[test]
fn end_quorum_epoch_v0_and_v1_carry_successors_in_their_own_fields() {
    let msg = RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
        leader_id: NodeId(1),
        leader_epoch: Epoch(4),
        preferred_successors: vec![NodeId(3), NodeId(2)],
    });
    let v0 = wire::encode(&msg, CLUSTER, NodeId(2), 0).unwrap();
    let m = protocol::messages::EndQuorumEpochRequest::decode(&mut v0.clone(), 0).unwrap();
    assert_eq!(m.topics[0].partitions[0].preferred_successors, vec![3, 2]);
    let v1 = wire::encode(&msg, CLUSTER, NodeId(2), 1).unwrap();
    let m = protocol::messages::EndQuorumEpochRequest::decode(&mut v1.clone(), 1).unwrap();
    let ids: Vec<i32> = m.topics[0].partitions[0]
        .preferred_candidates
        .iter()
        .map(|c| c.candidate_id)
        .collect();
    assert_eq!(ids, vec![3, 2]);
}

#[test]
fn fetch_response_current_leader_and_diverging_epoch_are_tagged_fields() {
    let (msg, _) = cases()
        .into_iter()
        .find(|(m, _)| matches!(m, RaftMessage::FetchResponse(r) if r.diverging_epoch.is_some()))
        .unwrap();
    let bytes = wire::encode(&msg, CLUSTER, NodeId(1), 17).unwrap();
    let m = protocol::messages::FetchResponse::decode(&mut bytes.clone(), 17).unwrap();
    let p = &m.responses[0].partitions[0];
    assert_eq!(
        (p.current_leader.leader_id, p.current_leader.leader_epoch),
        (2, 5)
    );
    assert_eq!(
        (p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
        (3, 40)
    );
    assert_eq!(p.high_watermark, -1);
    assert_eq!(m.responses[0].topic_id, METADATA_TOPIC_ID);
}

#[test]
fn requests_from_another_cluster_get_inconsistent_cluster_id() {
    for (msg, versions) in cases() {
        let (api, response) = wire::api_of(&msg);
        let version = *versions.end();
        let bytes = wire::encode(&msg, "another-cluster", NodeId(1), version).unwrap();
        let result = wire::decode(api, response, version, bytes, CLUSTER);
        if response {
            // Responses carry no cluster id.
            assert!(result.is_ok(), "{api:?}");
            continue;
        }
        let err = result.unwrap_err();
        assert_eq!(
            err.error_code(),
            ErrorCode::INCONSISTENT_CLUSTER_ID,
            "{api:?}"
        );
        // The answer carries only the top-level error, and the sender reads it as such.
        let answer = wire::error_response(api, version, err.error_code()).unwrap();
        assert_eq!(
            wire::decode(api, true, version, answer, CLUSTER).unwrap_err(),
            WireError::TopLevelError(ErrorCode::INCONSISTENT_CLUSTER_ID)
        );
    }
}

#[test]
fn a_request_without_a_cluster_id_is_accepted_as_kafka_does() {
    let body = protocol::messages::BeginQuorumEpochRequest {
        cluster_id: None,
        topics: vec![protocol::messages::begin_quorum_epoch_request::TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![Default::default()],
        }],
        ..Default::default()
    };
    let mut buf = bytes::BytesMut::new();
    body.encode(&mut buf, 1);
    let msg = wire::decode(ApiKey::BeginQuorumEpoch, false, 1, buf.freeze(), CLUSTER).unwrap();
    assert!(matches!(msg, RaftMessage::BeginQuorumEpochRequest(_)));
}

#[test]
fn another_partition_or_garbage_is_invalid_request() {
    let body = protocol::messages::VoteRequest {
        cluster_id: Some(CLUSTER.into()),
        topics: vec![protocol::messages::vote_request::TopicData {
            topic_name: "__consumer_offsets".into(),
            partitions: vec![Default::default()],
        }],
        ..Default::default()
    };
    let mut buf = bytes::BytesMut::new();
    body.encode(&mut buf, 1);
    let err = wire::decode(ApiKey::Vote, false, 1, buf.freeze(), CLUSTER).unwrap_err();
    assert_eq!(err, WireError::WrongPartition);
    assert_eq!(err.error_code(), ErrorCode::INVALID_REQUEST);
    // Two partitions are refused too (Kafka treats it as multi-raft, which it lacks).
    let body = protocol::messages::VoteRequest {
        topics: vec![protocol::messages::vote_request::TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![Default::default(), Default::default()],
        }],
        ..Default::default()
    };
    let mut buf = bytes::BytesMut::new();
    body.encode(&mut buf, 1);
    assert_eq!(
        wire::decode(ApiKey::Vote, false, 1, buf.freeze(), CLUSTER).unwrap_err(),
        WireError::WrongPartition
    );
    let err = wire::decode(
        ApiKey::Fetch,
        false,
        17,
        Bytes::from_static(&[1, 2, 3]),
        CLUSTER,
    )
    .unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::INVALID_REQUEST);
}
