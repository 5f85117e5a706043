//! The persisted side of a classic group (`docs/formats.md` §10.5): the GroupMetadataValue the core
//! asks to write after a completed rebalance or when the group becomes Empty, the replay of that
//! record (and of its tombstone) while `__consumer_offsets` loads, and what happens once a write is
//! appended (Kafka `GroupMetadataManager.storeGroup`/`loadGroup`,
//! `GroupCoordinator.onGroupLoaded`).

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::messages::group_metadata_value::MemberMetadata;
use protocol::messages::GroupMetadataValue;
use protocol::ErrorCode;

use super::{
    AfterWrite, Group, GroupCoordinator, GroupState, JoinResult, Member, Millis, OffsetsRecord,
    Reply, StaticRejoin, SyncResult,
};

/// The GroupMetadataValue of `group` with `assignment` per member (Kafka
/// `groupMetadataValue`: the subscription is each member's metadata for the selected
/// protocol, the assignment the one being stored).
pub(super) fn group_record(
    group_id: &str,
    group: &Group,
    assignment: &BTreeMap<String, Bytes>,
) -> OffsetsRecord {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let value = GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation,
        protocol: group.protocol_name.clone(),
        leader: group.leader.clone(),
        current_state_timestamp: group.current_state_timestamp.unwrap_or(-1),
        members: group
            .members
            .values()
            .map(|m| MemberMetadata {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.metadata_for(&protocol),
                assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect(),
    };
    OffsetsRecord::Group {
        group: group_id.to_string(),
        value: Some(value),
    }
}

impl GroupCoordinator {
    /// Replays a group metadata record read back from `__consumer_offsets` (Kafka
    /// `readGroupMessageValue` + `GroupMetadata.loadGroup`): a group with members comes back
    /// Stable with them and their assignments, one without members Empty; either keeps its
    /// generation and protocol. A tombstone forgets the group's metadata but not its offsets
    /// (a removed group may live on for offset storage only). The last record wins.
    pub(crate) fn replay_group(
        &mut self,
        now: Millis,
        group_id: &str,
        value: Option<GroupMetadataValue>,
    ) {
        let offsets = self
            .groups
            .remove(group_id)
            .map(|g| g.offsets)
            .unwrap_or_default();
        let mut group = Group::new(now);
        group.offsets = offsets;
        if let Some(v) = value {
            group.state = if v.members.is_empty() {
                GroupState::Empty
            } else {
                GroupState::Stable
            };
            group.current_state_timestamp =
                (v.current_state_timestamp != -1).then_some(v.current_state_timestamp);
            group.generation = v.generation;
            group.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
            group.protocol_name = v.protocol;
            group.leader = v.leader;
            let protocol = group.protocol_name.clone().unwrap_or_default();
            for m in v.members {
                if let Some(i) = &m.group_instance_id {
                    group.static_members.insert(i.clone(), m.member_id.clone());
                }
                group.members.insert(
                    m.member_id.clone(),
                    Member {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        session_timeout_ms: m.session_timeout,
                        rebalance_timeout_ms: m.rebalance_timeout,
                        protocols: vec![(protocol.clone(), m.subscription)],
                        assignment: m.assignment,
                        join_token: None,
                        sync_token: None,
                        // Restarted by `finish_load` (Kafka `onGroupLoaded`).
                        session_deadline: now.saturating_add(Millis::from(m.session_timeout)),
                        is_new: false,
                    },
                );
            }
            group.subscribed_topics = group.compute_subscribed_topics(group_id);
        }
        self.groups.insert(group_id.to_string(), group);
    }

    /// Ends a load: drops groups left with neither metadata nor offsets (tombstoned, or
    /// their offsets all deleted) and gives every loaded member a full session from `now`
    /// (Kafka `onGroupLoaded` → `completeAndScheduleNextHeartbeatExpiration`): members that
    /// still run keep their generation by heartbeating; the others expire and the group
    /// rebalances.
    /// Offsets of topics deleted during the load are removed last, with tombstones.
    pub(crate) fn finish_load(&mut self, now: Millis) {
        let deleted = self.deleted_while_loading.take().unwrap_or_default();
        self.groups.retain(|_, g| {
            !(g.state == GroupState::Empty
                && g.generation == 0
                && g.protocol_type.is_none()
                && g.offsets.is_empty())
        });
        let max = self.config.group_max_size;
        let mut over_capacity = Vec::new();
        for (id, g) in self.groups.iter_mut() {
            for m in g.members.values_mut() {
                m.touch(now);
            }
            if g.members.len() > max {
                over_capacity.push(id.clone());
            }
        }
        // Kafka `onGroupLoaded`: a group loaded with more members than `group.max.size`
        // rebalances, so the members can commit before the last ones to rejoin are dropped.
        for id in over_capacity {
            tracing::info!(group = %id, max, "loaded group is over capacity: rebalancing");
            self.maybe_prepare_rebalance(now, &id);
        }
        self.delete_offsets_of_topics(&deleted);
    }

    /// A [`super::Write`] of `group_id` was appended (`Ok`) or failed: finish what waited
    /// for it.
    pub(crate) fn write_done(
        &mut self,
        now: Millis,
        group_id: &str,
        then: AfterWrite,
        result: Result<(), ErrorCode>,
    ) {
        let (generation, assignment) = match then {
            AfterWrite::CompleteSync {
                generation,
                assignment,
            } => (generation, assignment),
            AfterWrite::StaticRejoin(rejoin) => {
                return self.static_rejoin_done(group_id, *rejoin, result);
            }
            AfterWrite::Nothing => {
                if let Err(e) = result {
                    tracing::warn!(group = group_id, "cannot write group records: {}", e.name());
                }
                return;
            }
        };
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        // Another member may have joined meanwhile: only the same pending generation
        // completes (Kafka's callback checks CompletingRebalance and the generation).
        if group.state != GroupState::CompletingRebalance || group.generation != generation {
            return;
        }
        match result {
            Ok(()) => {
                group.transition_to(GroupState::Stable, now);
                let (protocol_type, protocol_name) =
                    (group.protocol_type.clone(), group.protocol_name.clone());
                for (id, m) in group.members.iter_mut() {
                    m.assignment = assignment.get(id).cloned().unwrap_or_default();
                    if let Some(t) = m.sync_token.take() {
                        self.replies.push(Reply::Sync(
                            t,
                            SyncResult {
                                error: ErrorCode::NONE,
                                protocol_type: protocol_type.clone(),
                                protocol_name: protocol_name.clone(),
                                assignment: m.assignment.clone(),
                            },
                        ));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(
                    group = group_id,
                    generation,
                    "cannot store the group assignment: {}",
                    e.name()
                );
                // Kafka `resetAndPropagateAssignmentError`, then `maybePrepareRebalance`.
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                    if let Some(t) = m.sync_token.take() {
                        self.replies.push(Reply::Sync(t, SyncResult::error(e)));
                    }
                }
                self.maybe_prepare_rebalance(now, group_id);
                self.maybe_complete_join(now, group_id);
            }
        }
    }

    /// The group record of a static member's rejoin ([`AfterWrite::StaticRejoin`]) was
    /// appended or failed (Kafka's `storeGroup` callback in `updateStaticMemberAndRebalance`).
    fn static_rejoin_done(
        &mut self,
        group_id: &str,
        rejoin: StaticRejoin,
        result: Result<(), ErrorCode>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        // Answered already if a rebalance started meanwhile (its completion answers it), or
        // if the member was fenced or left.
        let waiting = group
            .members
            .get(&rejoin.new_member_id)
            .is_some_and(|m| m.join_token == Some(rejoin.token));
        if !waiting || group.state != GroupState::Stable {
            return;
        }
        let member = group
            .members
            .get_mut(&rejoin.new_member_id)
            .expect("checked");
        member.join_token = None;
        let reply = match result {
            Ok(()) if rejoin.supports_skipping_assignment => {
                // JoinGroup v9+: the leader learns it leads but keeps the assignment.
                let mut r = super::current_join_result(group, &rejoin.new_member_id);
                r.skip_assignment = r.leader == rejoin.new_member_id;
                r
            }
            Ok(()) => {
                let mut r = super::current_join_result(group, &rejoin.new_member_id);
                r.members.clear();
                r.leader = rejoin.leader_before;
                r
            }
            Err(e) => {
                tracing::warn!(
                    group = group_id,
                    "cannot store the rejoined static member: {}",
                    e.name()
                );
                member.protocols = rejoin.protocols;
                member.session_timeout_ms = rejoin.session_timeout_ms;
                member.rebalance_timeout_ms = rejoin.rebalance_timeout_ms;
                let fenced = super::replace_static_member(
                    group,
                    &rejoin.instance_id,
                    &rejoin.new_member_id,
                    &rejoin.old_member_id,
                );
                debug_assert!(fenced.is_empty(), "the join token was taken above");
                JoinResult {
                    generation_id: group.generation,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    leader: rejoin.leader_before,
                    ..JoinResult::error(e, "")
                }
            }
        };
        self.replies.push(Reply::Join(rejoin.token, reply));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{coordinator, join_new, join_replies, persist, G};
    use super::super::Write;
    use super::*;

    /// One member joins and syncs at `now`; returns its id. The write is left queued.
    fn stable_one(c: &mut GroupCoordinator, now: Millis) -> String {
        let id = join_new(c, now, 1);
        join_replies(c);
        c.sync(
            now,
            2,
            G,
            1,
            &id,
            None,
            None,
            None,
            vec![(id.clone(), Bytes::from("A"))],
        );
        id
    }

    fn value(w: &Write) -> &GroupMetadataValue {
        match &w.records[..] {
            [OffsetsRecord::Group { value: Some(v), .. }] => v,
            other => panic!("expected one group record, got {other:?}"),
        }
    }

    #[test]
    fn leader_sync_is_answered_after_the_group_is_stored() {
        let mut c = coordinator(0);
        let id = stable_one(&mut c, 5);
        assert!(c.take_replies().is_empty(), "no answer before the write");
        assert_eq!(c.state(G), Some(GroupState::CompletingRebalance));
        let writes = c.take_writes();
        assert_eq!(writes.len(), 1);
        let v = value(&writes[0]);
        assert_eq!(v.protocol_type, "consumer");
        assert_eq!(v.generation, 1);
        assert_eq!(v.protocol.as_deref(), Some("range"));
        assert_eq!(v.leader.as_deref(), Some(id.as_str()));
        assert_eq!(v.current_state_timestamp, 5);
        assert_eq!(v.members.len(), 1);
        let m = &v.members[0];
        assert_eq!(
            (m.client_id.as_str(), m.client_host.as_str()),
            ("c", "/127.0.0.1")
        );
        assert_eq!(m.subscription, Bytes::from("meta-range"));
        assert_eq!(m.assignment, Bytes::from("A"));
        assert_eq!((m.session_timeout, m.rebalance_timeout), (10_000, 30_000));
        let w = writes.into_iter().next().unwrap();
        c.write_done(6, G, w.then, Ok(()));
        assert_eq!(c.state(G), Some(GroupState::Stable));
        match &c.take_replies()[..] {
            [Reply::Sync(2, r)] => assert_eq!(r.assignment, Bytes::from("A")),
            other => panic!("unexpected replies {other:?}"),
        }
    }

    #[test]
    fn a_failed_store_fails_the_syncs_and_rebalances() {
        let mut c = coordinator(0);
        let _id = stable_one(&mut c, 0);
        let w = c.take_writes().into_iter().next().unwrap();
        c.write_done(1, G, w.then, Err(ErrorCode::COORDINATOR_NOT_AVAILABLE));
        match &c.take_replies()[..] {
            [Reply::Sync(2, r)] => assert_eq!(r.error, ErrorCode::COORDINATOR_NOT_AVAILABLE),
            other => panic!("unexpected replies {other:?}"),
        }
        assert_eq!(c.state(G), Some(GroupState::PreparingRebalance));
    }

    #[test]
    fn the_last_member_leaving_stores_an_empty_generation() {
        let mut c = coordinator(0);
        let id = stable_one(&mut c, 0);
        persist(&mut c);
        c.take_replies();
        c.leave(50, G, &[(id, None)]);
        let writes = c.take_writes();
        assert_eq!(writes.len(), 1);
        let v = value(&writes[0]);
        assert_eq!((v.generation, v.protocol_type.as_str()), (2, "consumer"));
        assert!(v.members.is_empty() && v.protocol.is_none() && v.leader.is_none());
        assert_eq!(v.current_state_timestamp, 50);
    }

    #[test]
    fn a_restart_brings_members_back_until_their_sessions_expire() {
        let mut c = coordinator(0);
        let id = stable_one(&mut c, 0);
        let stored = persist(&mut c);
        // A new coordinator replays what was written, as after a restart.
        let mut d = coordinator(0);
        for w in stored {
            for r in w.records {
                if let OffsetsRecord::Group { group, value } = r {
                    d.replay_group(1000, &group, value);
                }
            }
        }
        d.finish_load(1000);
        assert_eq!(d.state(G), Some(GroupState::Stable));
        assert_eq!(d.generation(G), 1);
        let desc = d.describe(G).unwrap();
        assert_eq!(desc.members[0].assignment, Bytes::from("A"));
        assert_eq!(desc.members[0].client_id, "c");
        // The member keeps heartbeating at its generation across the restart.
        assert_eq!(d.heartbeat(9000, G, 1, &id, None), ErrorCode::NONE);
        // It stops: its session (10 s) expires and the group empties at generation 2.
        d.tick(19_001);
        assert_eq!(d.state(G), Some(GroupState::Empty));
        assert_eq!(d.generation(G), 2);
        assert_eq!(value(&d.take_writes()[0]).generation, 2);
    }
}
