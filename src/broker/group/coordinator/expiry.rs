//! Removing committed offsets and groups: offset retention (`offsets.retention.minutes`,
//! Kafka 3.x `GroupMetadata.removeExpiredOffsets`), OffsetDelete (`handleDeleteOffsets`) and
//! DeleteGroups (`handleDeleteGroups`). All three end in Kafka's `cleanupGroupMetadata`: an
//! Empty group left without offsets is removed, and tombstones are queued for the removed
//! offsets and (if the group ever had a generation) for the group.

use std::collections::BTreeSet;

use bytes::Buf;
use protocol::ErrorCode;

use super::{
    AfterWrite, CommittedOffset, Group, GroupCoordinator, GroupState, Millis, OffsetsRecord, Write,
};

/// Kafka `ConsumerProtocol.PROTOCOL_TYPE`.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// OffsetDelete's answer: a group error, or one error per asked partition.
pub(crate) type OffsetDeleteResult = Result<Vec<((String, i32), ErrorCode)>, ErrorCode>;

/// The topics of a ConsumerProtocolSubscription, read with the v0 layout that prefixes every
/// version (Kafka `computeSubscribedTopics`: int16 version, then `topics: [string]` and
/// `user_data: nullable bytes`). `None` if the bytes do not parse.
fn subscription_topics(mut b: &[u8]) -> Option<Vec<String>> {
    fn string(b: &mut &[u8]) -> Option<String> {
        let len = usize::try_from(b.try_get_i16().ok()?).ok()?;
        let s = b.get(..len)?;
        let s = std::str::from_utf8(s).ok()?.to_string();
        b.advance(len);
        Some(s)
    }
    b.try_get_i16().ok()?;
    let count = usize::try_from(b.try_get_i32().ok()?).ok()?;
    let mut topics = Vec::with_capacity(count.min(b.len() / 2));
    for _ in 0..count {
        topics.push(string(&mut b)?);
    }
    let user_data = b.try_get_i32().ok()?;
    if user_data > 0 && b.len() < user_data as usize {
        return None;
    }
    Some(topics)
}

impl Group {
    /// Kafka `computeSubscribedTopics`: for a consumer group with members and a selected
    /// protocol, the union of the members' subscriptions; the empty set for a memberless
    /// consumer group; `None` otherwise or when a subscription does not parse.
    pub(super) fn compute_subscribed_topics(&self, group_id: &str) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for m in self.members.values() {
            match subscription_topics(&m.metadata_for(protocol)) {
                Some(topics) => all.extend(topics),
                None => {
                    tracing::warn!(
                        group = group_id,
                        member = %m.member_id,
                        "cannot parse the consumer protocol subscription: subscribed topics unknown"
                    );
                    return None;
                }
            }
        }
        Some(all)
    }

    fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_some_and(|t| t.contains(topic))
    }

    /// Kafka 3.x `removeExpiredOffsets`: which offsets have expired at `now`.
    fn expired_offsets(&self, now: Millis, retention_ms: Millis) -> Vec<(String, i32)> {
        let expired = |base: &dyn Fn(&CommittedOffset) -> Millis,
                       skip: &dyn Fn(&str) -> bool|
         -> Vec<(String, i32)> {
            self.offsets
                .iter()
                .filter(|((t, _), o)| {
                    !skip(t)
                        && match o.expire_timestamp {
                            // Value v1 (explicit retention): the old per-offset expiry.
                            Some(at) => now >= at,
                            None => now.saturating_sub(base(o)) >= retention_ms,
                        }
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        match (self.protocol_type.as_deref(), self.state) {
            // No member left: retention counts from when the group became Empty (from the
            // commit for groups loaded from an old value without that timestamp).
            (Some(_), GroupState::Empty) => expired(
                &|o| self.current_state_timestamp.unwrap_or(o.commit_timestamp),
                &|_| false,
            ),
            // A stable consumer group: offsets of topics it no longer subscribes to expire
            // from their commit.
            (Some(CONSUMER_PROTOCOL_TYPE), GroupState::Stable)
                if self.subscribed_topics.is_some() =>
            {
                expired(&|o| o.commit_timestamp, &|t| self.is_subscribed_to(t))
            }
            // Standalone (simple) consumer: offset storage only.
            (None, _) => expired(&|o| o.commit_timestamp, &|_| false),
            _ => Vec::new(),
        }
    }
}

impl GroupCoordinator {
    /// Expires offsets past retention in every group and removes groups left Empty without
    /// offsets (Kafka `cleanupGroupMetadata`, run every `offsets.retention.check.interval.ms`).
    /// Returns how many offsets expired.
    pub(crate) fn expire_offsets(&mut self, now: Millis) -> usize {
        let retention_ms = self.config.offsets_retention_ms;
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        let mut count = 0;
        for id in ids {
            let expired = match self.groups.get(&id) {
                Some(g) => g.expired_offsets(now, retention_ms),
                None => continue,
            };
            count += expired.len();
            if !expired.is_empty() {
                tracing::debug!(group = %id, "expired offsets: {expired:?}");
            }
            self.cleanup(&id, expired);
        }
        count
    }

    /// OffsetDelete for `partitions` of `group_id` (Kafka `handleDeleteOffsets`). A consumer
    /// group with members keeps the offsets of topics it subscribes to
    /// (GROUP_SUBSCRIBED_TO_TOPIC); any other group with members refuses (NON_EMPTY_GROUP).
    pub(crate) fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> OffsetDeleteResult {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let Some(group) = self.groups.get(group_id) else {
            return Err(ErrorCode::GROUP_ID_NOT_FOUND);
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut eligible = Vec::new();
        match group.state {
            GroupState::Dead => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
            GroupState::Empty => eligible = partitions,
            _ if group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => {
                for tp in partitions {
                    if group.is_subscribed_to(&tp.0) {
                        results.push((tp, ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC));
                    } else {
                        eligible.push(tp);
                    }
                }
            }
            _ => return Err(ErrorCode::NON_EMPTY_GROUP),
        }
        if !eligible.is_empty() {
            let removed: Vec<(String, i32)> = eligible
                .iter()
                .filter(|tp| group.offsets.contains_key(*tp))
                .cloned()
                .collect();
            results.extend(eligible.into_iter().map(|tp| (tp, ErrorCode::NONE)));
            self.cleanup(group_id, removed);
        }
        Ok(results)
    }

    /// Topics were deleted (Kafka `GroupCoordinator.onPartitionsDeleted`, called by the
    /// metadata publisher): their committed offsets go from every group, with tombstones, so
    /// that a topic re-created under the same name is read from `auto.offset.reset` instead
    /// of from the old topic's offsets. Groups left Empty without offsets are removed.
    /// During a load the topics are remembered and handled by `finish_load`: unlike Kafka,
    /// which cleans only the groups already loaded, a group still being replayed loses them
    /// too. Returns how many offsets were removed (0 while loading).
    pub(crate) fn delete_offsets_of_topics(&mut self, topics: &BTreeSet<String>) -> usize {
        if let Some(pending) = self.deleted_while_loading.as_mut() {
            pending.extend(topics.iter().cloned());
            return 0;
        }
        if topics.is_empty() {
            return 0;
        }
        let affected: Vec<(String, Vec<(String, i32)>)> = self
            .groups
            .iter()
            .map(|(id, g)| {
                let gone = g.offsets.keys().filter(|(t, _)| topics.contains(t));
                (id.clone(), gone.cloned().collect::<Vec<_>>())
            })
            .filter(|(_, gone)| !gone.is_empty())
            .collect();
        let mut count = 0;
        for (id, gone) in affected {
            count += gone.len();
            self.cleanup(&id, gone);
        }
        count
    }

    /// The topics that have committed offsets in any group.
    pub(crate) fn topics_with_offsets(&self) -> BTreeSet<String> {
        self.groups
            .values()
            .flat_map(|g| g.offsets.keys().map(|(t, _)| t.clone()))
            .collect()
    }

    /// DeleteGroups for one group (Kafka `handleDeleteGroups`): only an Empty group; its
    /// offsets and the group go, with tombstones.
    pub(crate) fn delete_group(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        let group = self.groups.get_mut(group_id);
        match group {
            None => Err(ErrorCode::GROUP_ID_NOT_FOUND),
            Some(g) if g.state == GroupState::Dead => Err(ErrorCode::GROUP_ID_NOT_FOUND),
            Some(g) if g.state != GroupState::Empty => Err(ErrorCode::NON_EMPTY_GROUP),
            Some(g) => {
                g.state = GroupState::Dead;
                let all: Vec<(String, i32)> = g.offsets.keys().cloned().collect();
                self.cleanup(group_id, all);
                Ok(())
            }
        }
    }

    /// Kafka `cleanupGroupMetadata`: removes `offsets` from the group; an Empty (or Dead)
    /// group without offsets is removed. Queues the tombstones: one per removed offset, and
    /// the group's unless its generation is 0 (a group used only for offset storage never
    /// wrote metadata).
    fn cleanup(&mut self, group_id: &str, offsets: Vec<(String, i32)>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let mut records: Vec<OffsetsRecord> = Vec::with_capacity(offsets.len() + 1);
        for (topic, partition) in offsets {
            if group.offsets.remove(&(topic.clone(), partition)).is_some() {
                records.push(OffsetsRecord::Offset {
                    group: group_id.to_string(),
                    topic,
                    partition,
                    value: None,
                });
            }
        }
        let dead = matches!(group.state, GroupState::Empty | GroupState::Dead)
            && group.offsets.is_empty()
            && group.members.is_empty();
        if dead {
            let generation = group.generation;
            tracing::info!(group = group_id, generation, "group transitioned to Dead");
            self.groups.remove(group_id);
            if generation > 0 {
                records.push(OffsetsRecord::Group {
                    group: group_id.to_string(),
                    value: None,
                });
            }
        }
        if !records.is_empty() {
            self.writes.push(Write {
                group_id: group_id.to_string(),
                records,
                then: AfterWrite::Nothing,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_topics_reads_the_v0_prefix() {
        // version 1, topics ["a", "bc"], user_data null, then v1 owned partitions (ignored).
        let mut b = vec![
            0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff, 0xff, 0xff, 0xff,
        ];
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            subscription_topics(&b),
            Some(vec!["a".to_string(), "bc".to_string()])
        );
        assert_eq!(subscription_topics(&b[..8]), None);
        assert_eq!(subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscription_topics(&[]), None);
    }

    use super::super::tests::{coordinator, join_replies, persist, G};
    use bytes::Bytes;

    const RETENTION: Millis = 7 * 24 * 60 * 60 * 1000;

    fn commit(
        c: &mut GroupCoordinator,
        group: &str,
        topic: &str,
        at: Millis,
        expire: Option<Millis>,
    ) {
        let v = CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: at,
            expire_timestamp: expire,
        };
        c.replay_offset(at, group, topic, 0, Some(v));
    }

    /// Tombstoned offsets and whether the group's tombstone was queued.
    fn tombstones(c: &mut GroupCoordinator) -> (Vec<String>, bool) {
        let mut offsets = Vec::new();
        let mut group = false;
        for w in c.take_writes() {
            for r in w.records {
                match r {
                    OffsetsRecord::Offset {
                        topic, value: None, ..
                    } => offsets.push(topic),
                    OffsetsRecord::Group { value: None, .. } => group = true,
                    other => panic!("unexpected record {other:?}"),
                }
            }
        }
        (offsets, group)
    }

    /// A consumer group whose one member subscribes to `topics` (ConsumerProtocol v0).
    fn consumer_member(c: &mut GroupCoordinator, now: Millis, topics: &[&str]) -> String {
        let mut sub = vec![0u8, 0];
        sub.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            sub.extend_from_slice(&(t.len() as i16).to_be_bytes());
            sub.extend_from_slice(t.as_bytes());
        }
        sub.extend_from_slice(&(-1i32).to_be_bytes());
        let mut r = super::super::tests::join_req("", &["range"]);
        r.protocols = vec![("range".into(), Bytes::from(sub))];
        c.join(now, 1, r.clone());
        let id = join_replies(c)[&1].member_id.clone();
        r.member_id = id.clone();
        c.join(now, 1, r);
        join_replies(c);
        c.sync(now, 2, G, 1, &id, None, None, None, vec![]);
        persist(c);
        c.take_replies();
        id
    }

    #[test]
    fn standalone_offsets_expire_from_their_commit() {
        let mut c = coordinator(0);
        commit(&mut c, "simple", "t", 1000, None);
        assert_eq!(c.expire_offsets(1000 + RETENTION - 1), 0);
        assert_eq!(c.expire_offsets(1000 + RETENTION), 1);
        // Generation 0: used for offset storage only, no group tombstone.
        assert_eq!(tombstones(&mut c), (vec!["t".to_string()], false));
        assert!(c.describe("simple").is_none());
    }

    #[test]
    fn an_empty_group_keeps_its_offsets_for_retention_after_it_empties() {
        let mut c = coordinator(0);
        let id = consumer_member(&mut c, 0, &["t"]);
        commit(&mut c, G, "t", 10, None);
        // Stable and subscribed: never expires.
        assert_eq!(c.expire_offsets(10 + 2 * RETENTION), 0);
        let left = 20 + 2 * RETENTION;
        c.leave(left, G, &[(id, None)]);
        c.take_writes();
        assert_eq!(
            c.expire_offsets(left + RETENTION - 1),
            0,
            "counts from Empty"
        );
        assert_eq!(c.expire_offsets(left + RETENTION), 1);
        assert_eq!(tombstones(&mut c), (vec!["t".to_string()], true));
        assert!(c.describe(G).is_none());
    }

    #[test]
    fn a_stable_consumer_group_loses_offsets_of_unsubscribed_topics() {
        let mut c = coordinator(0);
        consumer_member(&mut c, 0, &["t"]);
        commit(&mut c, G, "t", 0, None);
        commit(&mut c, G, "old", 0, None);
        assert_eq!(c.expire_offsets(RETENTION), 1);
        assert_eq!(tombstones(&mut c), (vec!["old".to_string()], false));
        assert!(c.committed(G, "t", 0).is_some());
    }

    #[test]
    fn explicit_expire_timestamp_wins() {
        let mut c = coordinator(0);
        commit(&mut c, "simple", "t", 0, Some(60_000));
        assert_eq!(c.expire_offsets(59_999), 0);
        assert_eq!(c.expire_offsets(60_000), 1);
    }

    fn topics(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn deleted_topics_lose_their_offsets_in_every_group() {
        let mut c = coordinator(0);
        c.finish_load(0);
        let member = consumer_member(&mut c, 0, &["gone", "kept"]);
        commit(&mut c, G, "gone", 10, None);
        commit(&mut c, G, "kept", 10, None);
        commit(&mut c, "simple", "gone", 10, None);
        assert_eq!(c.delete_offsets_of_topics(&topics(&["gone", "never"])), 2);
        let (gone, group_tombstone) = tombstones(&mut c);
        assert_eq!(gone, vec!["gone".to_string(), "gone".to_string()]);
        // The stable group stays (it has members and an offset); the storage-only group had
        // nothing else and generation 0: removed without a group tombstone.
        assert!(!group_tombstone);
        assert!(c.committed(G, "gone", 0).is_none());
        assert!(c.committed(G, "kept", 0).is_some());
        assert!(c.describe("simple").is_none());
        assert_eq!(
            c.state(G),
            Some(GroupState::Stable),
            "member {member} undisturbed"
        );
        assert_eq!(c.topics_with_offsets(), topics(&["kept"]));
    }

    #[test]
    fn topics_deleted_during_the_load_are_removed_when_it_ends() {
        let mut c = coordinator(0);
        commit(&mut c, "simple", "gone", 10, None);
        assert_eq!(
            c.delete_offsets_of_topics(&topics(&["gone"])),
            0,
            "held back"
        );
        // A commit replayed after the deletion was seen is still the old topic's.
        commit(&mut c, "simple", "gone", 20, None);
        assert!(c.take_writes().is_empty());
        c.finish_load(30);
        assert_eq!(tombstones(&mut c), (vec!["gone".to_string()], false));
        assert!(c.describe("simple").is_none());
        assert_eq!(
            c.delete_offsets_of_topics(&topics(&["gone"])),
            0,
            "nothing left"
        );
    }

    #[test]
    fn offset_delete_follows_kafka() {
        let mut c = coordinator(0);
        assert_eq!(
            c.delete_offsets("", vec![]),
            Err(ErrorCode::INVALID_GROUP_ID)
        );
        assert_eq!(
            c.delete_offsets("nope", vec![]),
            Err(ErrorCode::GROUP_ID_NOT_FOUND)
        );
        let _id = consumer_member(&mut c, 0, &["t"]);
        commit(&mut c, G, "t", 0, None);
        commit(&mut c, G, "u", 0, None);
        let r = c.delete_offsets(G, vec![("t".into(), 0), ("u".into(), 0), ("v".into(), 0)]);
        assert_eq!(
            r,
            Ok(vec![
                (("t".into(), 0), ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC),
                (("u".into(), 0), ErrorCode::NONE),
                (("v".into(), 0), ErrorCode::NONE),
            ])
        );
        assert_eq!(tombstones(&mut c), (vec!["u".to_string()], false));
        // A group of another protocol type with members refuses.
        let mut d = coordinator(0);
        let mut r = super::super::tests::join_req("", &["range"]);
        r.protocol_type = "connect".into();
        r.require_known_member_id = false;
        d.join(0, 1, r);
        assert_eq!(join_replies(&mut d)[&1].error, ErrorCode::NONE);
        assert_eq!(d.delete_offsets(G, vec![]), Err(ErrorCode::NON_EMPTY_GROUP));
    }

    #[test]
    fn delete_group_queues_tombstones_for_offsets_and_group() {
        let mut c = coordinator(0);
        let id = consumer_member(&mut c, 0, &["t"]);
        commit(&mut c, G, "t", 0, None);
        assert_eq!(c.delete_group(G), Err(ErrorCode::NON_EMPTY_GROUP));
        c.leave(1, G, &[(id, None)]);
        c.take_writes();
        assert_eq!(c.delete_group(G), Ok(()));
        assert_eq!(tombstones(&mut c), (vec!["t".to_string()], true));
        assert_eq!(c.delete_group(G), Err(ErrorCode::GROUP_ID_NOT_FOUND));
    }
}
