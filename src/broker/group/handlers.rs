//! The classic group APIs as `Broker` methods: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
//! OffsetDelete.
//! Each translates its request for the coordinator core (`coordinator.rs`) and sets in the
//! response only the fields that the negotiated version has.

use bytes::Bytes;
use protocol::messages::delete_groups_response::DeletableGroupResult;
use protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use protocol::messages::find_coordinator_response::Coordinator;
use protocol::messages::join_group_response::JoinGroupResponseMember;
use protocol::messages::leave_group_response::MemberResponse;
use protocol::messages::list_groups_response::ListedGroup;
use protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use protocol::ErrorCode;

use super::coordinator::{CommittedOffset, JoinRequest};
use super::offsets;
use super::PendingCommit;
use crate::broker::Broker;

/// FindCoordinator key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Who sent a request: the header's client id and the peer address (Kafka's
/// `RequestContext.clientId`/`clientAddress`), kept in a member for DescribeGroups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestClient<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) peer: std::net::SocketAddr,
}

impl RequestClient<'_> {
    /// Kafka shows `InetAddress.toString()`: `/` and the address.
    fn host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// One partition whose committed offset is asked for, or every partition (`None`).
type FetchTopics = Option<Vec<(String, Vec<i32>)>>;

impl Broker {
    pub(crate) async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let error = match req.key_type {
            KEY_TYPE_GROUP => self.ensure_group_coordinator().await,
            // Transactions are not implemented yet. A retriable error here (say
            // COORDINATOR_NOT_AVAILABLE) keeps a transactional client looking for a coordinator
            // until its timeout; this error is fatal to every client at once, and is what Kafka
            // answers a client that may not use the transactional id. InitProducerId refuses
            // transactional ids the same way.
            KEY_TYPE_TRANSACTION => Err(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            // Kafka's `CoordinatorType.forId` rejects an unknown type as an invalid request.
            _ => Err(ErrorCode::INVALID_REQUEST),
        };
        let (node_id, host, port) = match error {
            Ok(()) => (
                self.settings.node_id,
                self.settings.advertised_host.clone(),
                self.settings.advertised_port,
            ),
            Err(_) => (-1, String::new(), -1),
        };
        let code = error.err().unwrap_or(ErrorCode::NONE);
        if version >= 4 {
            FindCoordinatorResponse {
                coordinators: req
                    .coordinator_keys
                    .into_iter()
                    .map(|key| Coordinator {
                        key,
                        node_id,
                        host: host.clone(),
                        port,
                        error_code: code.code(),
                        error_message: None,
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            FindCoordinatorResponse {
                error_code: code.code(),
                error_message: None,
                node_id,
                host,
                port,
                ..Default::default()
            }
        }
    }

    pub(crate) async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: RequestClient<'_>,
    ) -> JoinGroupResponse {
        let result = match self.group_coordinator_ready() {
            Err(e) => super::coordinator::JoinResult::error(e, &req.member_id),
            Ok(_) => {
                self.groups
                    .join(JoinRequest {
                        group_id: req.group_id,
                        member_id: req.member_id,
                        group_instance_id: req.group_instance_id,
                        client_id: client.client_id.to_string(),
                        client_host: client.host(),
                        session_timeout_ms: req.session_timeout_ms,
                        rebalance_timeout_ms: if version >= 1 {
                            req.rebalance_timeout_ms
                        } else {
                            -1
                        },
                        protocol_type: req.protocol_type,
                        protocols: req
                            .protocols
                            .into_iter()
                            .map(|p| (p.name, p.metadata))
                            .collect(),
                        require_known_member_id: version >= 4,
                        supports_skipping_assignment: version >= 9,
                    })
                    .await
            }
        };
        JoinGroupResponse {
            error_code: result.error.code(),
            generation_id: result.generation_id,
            protocol_type: result.protocol_type,
            protocol_name: if version >= 7 {
                result.protocol_name
            } else {
                Some(result.protocol_name.unwrap_or_default())
            },
            leader: result.leader,
            skip_assignment: result.skip_assignment,
            member_id: result.member_id,
            members: result
                .members
                .into_iter()
                .map(|m| JoinGroupResponseMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    metadata: m.metadata,
                })
                .collect(),
            ..Default::default()
        }
    }

    pub(crate) async fn sync_group(
        &self,
        req: SyncGroupRequest,
        _version: i16,
    ) -> SyncGroupResponse {
        let result = match self.group_coordinator_ready() {
            Err(e) => super::coordinator::SyncResult {
                error: e,
                protocol_type: None,
                protocol_name: None,
                assignment: Bytes::new(),
            },
            Ok(_) => {
                self.groups
                    .sync(
                        &req.group_id,
                        req.generation_id,
                        &req.member_id,
                        req.group_instance_id.as_deref(),
                        req.protocol_type.as_deref(),
                        req.protocol_name.as_deref(),
                        req.assignments
                            .into_iter()
                            .map(|a| (a.member_id, a.assignment))
                            .collect(),
                    )
                    .await
            }
        };
        SyncGroupResponse {
            error_code: result.error.code(),
            protocol_type: result.protocol_type,
            protocol_name: result.protocol_name,
            assignment: result.assignment,
            ..Default::default()
        }
    }

    pub(crate) fn heartbeat(&self, req: HeartbeatRequest) -> HeartbeatResponse {
        let error = match self.group_coordinator_ready() {
            // Kafka `handleHeartbeat`: while the group is still loading, answer blindly; the
            // loaded member's session starts once the load is done.
            Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS) => ErrorCode::NONE,
            Err(e) => e,
            Ok(_) => self.groups.with_core(|core, now| {
                core.heartbeat(
                    now,
                    &req.group_id,
                    req.generation_id,
                    &req.member_id,
                    req.group_instance_id.as_deref(),
                )
            }),
        };
        HeartbeatResponse {
            error_code: error.code(),
            ..Default::default()
        }
    }

    pub(crate) fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect()
        } else {
            vec![(req.member_id.clone(), None)]
        };
        let errors = match self.group_coordinator_ready() {
            Err(e) => {
                return LeaveGroupResponse {
                    error_code: e.code(),
                    ..Default::default()
                }
            }
            Ok(_) => self
                .groups
                .with_core(|core, now| core.leave(now, &req.group_id, &leaving)),
        };
        if version >= 3 {
            LeaveGroupResponse {
                error_code: ErrorCode::NONE.code(),
                members: leaving
                    .into_iter()
                    .zip(errors)
                    .map(|((member_id, group_instance_id), e)| MemberResponse {
                        member_id,
                        group_instance_id,
                        error_code: e.code(),
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            LeaveGroupResponse {
                error_code: errors.first().copied().unwrap_or(ErrorCode::NONE).code(),
                ..Default::default()
            }
        }
    }

    pub(crate) async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        let image = self.image();
        let now_wall = crate::broker::replica_manager::now_ms();
        // OffsetCommit v2–v4 may set a retention time (−1: the broker's); the offset then
        // expires at commit time + retention (Kafka `GroupCoordinatorAdapter.commitOffsets`).
        let expire_timestamp = ((2..=4).contains(&version) && req.retention_time_ms != -1)
            .then(|| now_wall.saturating_add(req.retention_time_ms));
        // Per-partition errors from the request alone, and the commits to write.
        let mut topics: Vec<OffsetCommitResponseTopic> = Vec::with_capacity(req.topics.len());
        let mut commits: Vec<(usize, usize, PendingCommit)> = Vec::new();
        for t in &req.topics {
            let known = image.topics.by_name(&t.name);
            let mut parts = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let metadata = p.committed_metadata.clone().unwrap_or_default();
                let error = if known.is_none_or(|k| !k.partitions.contains_key(&p.partition_index))
                {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                } else if metadata.len() > self.settings.offset_metadata_max_bytes {
                    ErrorCode::OFFSET_METADATA_TOO_LARGE
                } else {
                    commits.push((
                        topics.len(),
                        parts.len(),
                        (
                            t.name.clone(),
                            p.partition_index,
                            CommittedOffset {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata,
                                commit_timestamp: now_wall,
                                expire_timestamp,
                            },
                        ),
                    ));
                    ErrorCode::NONE
                };
                parts.push(OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: error.code(),
                });
            }
            topics.push(OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: parts,
            });
        }
        let fail_all = |topics: &mut Vec<OffsetCommitResponseTopic>, e: ErrorCode| {
            for t in topics.iter_mut() {
                for p in t.partitions.iter_mut() {
                    if p.error_code == ErrorCode::NONE.code() {
                        p.error_code = e.code();
                    }
                }
            }
        };
        let result = self.commit_offsets(&req, &commits).await;
        if let Err(e) = result {
            fail_all(&mut topics, e);
        }
        OffsetCommitResponse {
            topics,
            ..Default::default()
        }
    }

    /// Validates the commit against the group, appends it to `__consumer_offsets`, then
    /// applies it in memory.
    async fn commit_offsets(
        &self,
        req: &OffsetCommitRequest,
        commits: &[(usize, usize, PendingCommit)],
    ) -> Result<(), ErrorCode> {
        let partitions = self.group_coordinator_ready()?;
        let _write = self.groups.write_lock.lock().await;
        self.groups.with_core(|core, now| {
            core.validate_commit(
                now,
                &req.group_id,
                req.generation_id_or_member_epoch,
                &req.member_id,
                req.group_instance_id.as_deref(),
            )
        })?;
        if commits.is_empty() {
            return Ok(());
        }
        let records: Vec<_> = commits
            .iter()
            .map(|(_, _, (topic, p, v))| {
                offsets::offset_commit_record(&req.group_id, topic, *p, Some(v))
            })
            .collect();
        self.append_offsets_records(&req.group_id, partitions, &records)
            .await
            .map_err(super::commit_error)?;
        self.groups.with_core(|core, now| {
            for (_, _, (topic, p, v)) in commits {
                core.replay_offset(now, &req.group_id, topic, *p, Some(v.clone()));
            }
        });
        Ok(())
    }

    pub(crate) fn offset_fetch(
        &self,
        req: OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        let ready = self.group_coordinator_ready().err();
        if version >= 8 {
            let groups = req
                .groups
                .into_iter()
                .map(|g| {
                    let topics: FetchTopics = g.topics.map(|ts| {
                        ts.into_iter()
                            .map(|t| (t.name, t.partition_indexes))
                            .collect()
                    });
                    if let Some(e) = ready {
                        return OffsetFetchResponseGroup {
                            group_id: g.group_id,
                            topics: Vec::new(),
                            error_code: e.code(),
                        };
                    }
                    let found = self.fetch_committed(&g.group_id, topics);
                    OffsetFetchResponseGroup {
                        group_id: g.group_id,
                        topics: found
                            .into_iter()
                            .map(|(name, parts)| OffsetFetchResponseTopics {
                                name,
                                partitions: parts
                                    .into_iter()
                                    .map(|(partition_index, o)| OffsetFetchResponsePartitions {
                                        partition_index,
                                        committed_offset: o.offset,
                                        committed_leader_epoch: o.leader_epoch,
                                        metadata: Some(o.metadata),
                                        error_code: ErrorCode::NONE.code(),
                                    })
                                    .collect(),
                            })
                            .collect(),
                        error_code: ErrorCode::NONE.code(),
                    }
                })
                .collect();
            return OffsetFetchResponse {
                groups,
                ..Default::default()
            };
        }
        let topics: FetchTopics = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect()
        });
        if let Some(e) = ready {
            // v1 has no top-level error: every asked partition carries it.
            let topics = if version < 2 {
                topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, ps)| OffsetFetchResponseTopic {
                        name,
                        partitions: ps
                            .into_iter()
                            .map(|p| OffsetFetchResponsePartition {
                                partition_index: p,
                                committed_offset: -1,
                                committed_leader_epoch: -1,
                                metadata: Some(String::new()),
                                error_code: e.code(),
                            })
                            .collect(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            return OffsetFetchResponse {
                topics,
                error_code: e.code(),
                ..Default::default()
            };
        }
        let found = self.fetch_committed(&req.group_id, topics);
        OffsetFetchResponse {
            topics: found
                .into_iter()
                .map(|(name, parts)| OffsetFetchResponseTopic {
                    name,
                    partitions: parts
                        .into_iter()
                        .map(|(partition_index, o)| OffsetFetchResponsePartition {
                            partition_index,
                            committed_offset: o.offset,
                            committed_leader_epoch: o.leader_epoch,
                            metadata: Some(o.metadata),
                            error_code: ErrorCode::NONE.code(),
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Committed offsets of `group`: for the asked partitions (offset −1 where none), or
    /// every committed partition when `topics` is `None`.
    fn fetch_committed(
        &self,
        group: &str,
        topics: FetchTopics,
    ) -> Vec<(String, Vec<(i32, CommittedOffset)>)> {
        let none = || CommittedOffset {
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: -1,
            expire_timestamp: None,
        };
        self.groups.read_core(|core| match topics {
            Some(ts) => ts
                .into_iter()
                .map(|(name, ps)| {
                    let parts = ps
                        .into_iter()
                        .map(|p| {
                            (
                                p,
                                core.committed(group, &name, p)
                                    .cloned()
                                    .unwrap_or_else(none),
                            )
                        })
                        .collect();
                    (name, parts)
                })
                .collect(),
            None => {
                let mut out: Vec<(String, Vec<(i32, CommittedOffset)>)> = Vec::new();
                for (t, p, o) in core.all_committed(group) {
                    match out.last_mut() {
                        Some((name, parts)) if *name == t => parts.push((p, o)),
                        _ => out.push((t, vec![(p, o)])),
                    }
                }
                out
            }
        })
    }

    pub(crate) fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        if let Err(e) = self.group_coordinator_ready() {
            if e == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS {
                return ListGroupsResponse {
                    error_code: e.code(),
                    ..Default::default()
                };
            }
            // No offsets topic yet: no groups.
            return ListGroupsResponse::default();
        }
        let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
        let types_ok = req.types_filter.is_empty()
            || req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case("classic"));
        let groups = if !types_ok {
            Vec::new()
        } else {
            self.groups.read_core(|core| {
                core.list()
                    .into_iter()
                    .filter(|(_, _, s)| {
                        states.is_empty() || states.contains(&s.name().to_lowercase())
                    })
                    .map(|(group_id, protocol_type, state)| ListedGroup {
                        group_id,
                        protocol_type,
                        group_state: if version >= 4 {
                            state.name().to_string()
                        } else {
                            String::new()
                        },
                        group_type: if version >= 5 {
                            "classic".to_string()
                        } else {
                            String::new()
                        },
                    })
                    .collect()
            })
        };
        ListGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    pub(crate) fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        _version: i16,
    ) -> DescribeGroupsResponse {
        let ready = self.group_coordinator_ready().err();
        let groups = req
            .groups
            .into_iter()
            .map(|group_id| {
                if let Some(e) = ready {
                    return DescribedGroup {
                        error_code: e.code(),
                        group_id,
                        ..Default::default()
                    };
                }
                match self.groups.read_core(|core| core.describe(&group_id)) {
                    // Kafka describes an unknown group as Dead, without an error.
                    None => DescribedGroup {
                        group_id,
                        group_state: "Dead".to_string(),
                        ..Default::default()
                    },
                    Some(d) => DescribedGroup {
                        error_code: ErrorCode::NONE.code(),
                        group_id,
                        group_state: d.state.name().to_string(),
                        protocol_type: d.protocol_type,
                        protocol_data: d.protocol_name,
                        members: d
                            .members
                            .into_iter()
                            .map(|m| DescribedGroupMember {
                                member_id: m.member_id,
                                group_instance_id: m.group_instance_id,
                                client_id: m.client_id,
                                client_host: m.client_host,
                                member_metadata: m.metadata,
                                member_assignment: m.assignment,
                            })
                            .collect(),
                        ..Default::default()
                    },
                }
            })
            .collect();
        DescribeGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    pub(crate) async fn delete_groups(&self, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut results = Vec::with_capacity(req.groups_names.len());
        for group_id in req.groups_names {
            let error = match self.delete_group(&group_id).await {
                Ok(()) => ErrorCode::NONE,
                Err(e) => e,
            };
            results.push(DeletableGroupResult {
                group_id,
                error_code: error.code(),
            });
        }
        DeleteGroupsResponse {
            results,
            ..Default::default()
        }
    }

    /// Kafka `handleDeleteGroups` for one group: the core forgets it and queues the
    /// tombstones, which are appended before the answer (their failure is only logged, as in
    /// Kafka's `cleanupGroupMetadata`).
    async fn delete_group(&self, group_id: &str) -> Result<(), ErrorCode> {
        self.group_coordinator_ready()?;
        let _write = self.groups.write_lock.lock().await;
        self.groups
            .with_core(|core, _| core.delete_group(group_id))?;
        self.flush_group_writes_locked().await;
        Ok(())
    }

    /// OffsetDelete (KIP-496): unknown topics and partitions are answered here, the rest by
    /// the core (Kafka `KafkaApis.handleOffsetDeleteRequest` + `handleDeleteOffsets`). A
    /// group error answers with no partitions.
    pub(crate) async fn offset_delete(&self, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
        let group_error = |e: ErrorCode| OffsetDeleteResponse {
            error_code: e.code(),
            ..Default::default()
        };
        if let Err(e) = self.group_coordinator_ready() {
            return group_error(e);
        }
        let image = self.image();
        let mut answers: Vec<((String, i32), ErrorCode)> = Vec::new();
        let mut asked: Vec<(String, i32)> = Vec::new();
        for t in req.topics {
            let known = image.topics.by_name(&t.name);
            for p in t.partitions {
                let tp = (t.name.clone(), p.partition_index);
                if known.is_some_and(|k| k.partitions.contains_key(&p.partition_index)) {
                    asked.push(tp);
                } else {
                    answers.push((tp, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
                }
            }
        }
        let _write = self.groups.write_lock.lock().await;
        let result = self
            .groups
            .with_core(|core, _| core.delete_offsets(&req.group_id, asked));
        match result {
            Err(e) => group_error(e),
            Ok(deleted) => {
                self.flush_group_writes_locked().await;
                answers.extend(deleted);
                let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
                for ((name, partition_index), e) in answers {
                    let partition = OffsetDeleteResponsePartition {
                        partition_index,
                        error_code: e.code(),
                    };
                    match topics.iter_mut().find(|t| t.name == name) {
                        Some(t) => t.partitions.push(partition),
                        None => topics.push(OffsetDeleteResponseTopic {
                            name,
                            partitions: vec![partition],
                        }),
                    }
                }
                OffsetDeleteResponse {
                    topics,
                    ..Default::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use protocol::messages::{
        ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest,
        OffsetCommitResponse,
    };
    use protocol::{ErrorCode, Uuid};

    use crate::broker::test_broker::{topic_records, TestBroker};

    /// Transactional ids get TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a fatal error for every
    /// client, per key in the batched form (v4+) and in the single form (v1–3); an unknown
    /// key type is an invalid request.
    #[tokio::test]
    async fn find_coordinator_refuses_transactional_ids() {
        let broker = TestBroker::new(&[]);
        let batched = FindCoordinatorRequest {
            key_type: 1,
            coordinator_keys: vec!["txn-a".into(), "txn-b".into()],
            ..Default::default()
        };
        let r: FindCoordinatorResponse = broker.call(ApiKey::FindCoordinator, 4, &batched).await;
        let keys: Vec<_> = r.coordinators.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["txn-a", "txn-b"]);
        for c in &r.coordinators {
            assert_eq!(
                ErrorCode(c.error_code),
                ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
            );
            assert_eq!((c.node_id, c.port), (-1, -1));
        }

        for version in 1..=3 {
            let single = FindCoordinatorRequest {
                key: "txn-a".into(),
                key_type: 1,
                ..Default::default()
            };
            let r: FindCoordinatorResponse =
                broker.call(ApiKey::FindCoordinator, version, &single).await;
            assert_eq!(
                ErrorCode(r.error_code),
                ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "v{version}"
            );
            assert_eq!((r.node_id, r.port), (-1, -1), "v{version}");
        }

        let unknown = FindCoordinatorRequest {
            key_type: 7,
            coordinator_keys: vec!["x".into()],
            ..Default::default()
        };
        let r: FindCoordinatorResponse = broker.call(ApiKey::FindCoordinator, 4, &unknown).await;
        assert_eq!(
            ErrorCode(r.coordinators[0].error_code),
            ErrorCode::INVALID_REQUEST
        );
    }

    /// `offset.metadata.max.bytes` bounds the metadata string of each committed offset.
    #[tokio::test]
    async fn offset_metadata_longer_than_the_configured_limit_is_refused() {
        let b = TestBroker::new(&["offset.metadata.max.bytes=10"]);
        b.commit(topic_records("t", Uuid([3; 16]), 2));
        let partition = |index: i32, metadata: &str| OffsetCommitRequestPartition {
            partition_index: index,
            committed_offset: 5,
            committed_metadata: Some(metadata.into()),
            ..Default::default()
        };
        let req = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![partition(0, "0123456789"), partition(1, "0123456789a")],
            }],
            ..Default::default()
        };
        let resp: OffsetCommitResponse = b.call(ApiKey::OffsetCommit, 8, &req).await;
        let codes: Vec<i16> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect();
        let too_large = ErrorCode::OFFSET_METADATA_TOO_LARGE.code();
        // Partition 0 is within the limit: whatever the (test) coordinator says, not that.
        assert_ne!(codes[0], too_large, "{resp:?}");
        assert_eq!(codes[1], too_large, "{resp:?}");
    }
}
