//! The classic group coordinator's core: group membership, rebalances and committed offsets,
//! sans-I/O. Every input carries `now` (see [`Millis`]); answers that must wait for a
//! rebalance (JoinGroup, SyncGroup) are identified by a [`Token`] and come out of
//! [`GroupCoordinator::take_replies`] when they are ready. The I/O wrapper (`group.rs`) maps
//! tokens to channels and ticks the core with a timer.
//!
//! Records for `__consumer_offsets` that Kafka writes on a state change (GroupMetadataValue
//! after the leader's SyncGroup and when the group becomes Empty, tombstones on expiry and
//! deletion) come out of [`GroupCoordinator::take_writes`] in the order they must be
//! appended; the I/O side appends them and reports back with
//! [`GroupCoordinator::write_done`] (the leader's SyncGroup completes only then, as Kafka's
//! `storeGroup` callback). Persisted state lives in `coordinator/stored.rs` (build and
//! replay of GroupMetadataValue), retention and deletion in `coordinator/expiry.rs`.
//!
//! Group states (Kafka `GroupState`, classic protocol):
//!
//! ```text
//!            join (first member)                all members joined / deadline
//!   Empty ───────────────────────▶ PreparingRebalance ─────────────────────▶ CompletingRebalance
//!     ▲                                 ▲       │ no member left                │   leader's
//!     │ last member leaves / expires    │       ▼                               │   SyncGroup
//!     └─────────────────────────────────┼──── Empty                             ▼
//!                                       └──── join / leave / expiry ────────  Stable
//!                                                         (SyncGroup → Stable once stored)
//!   Empty ── DeleteGroups, or no offsets left after retention/OffsetDelete ──▶ Dead (removed)
//!   loaded from __consumer_offsets: with members → Stable, without → Empty
//! ```

// A deterministic core: no clock, no global randomness, no hash-map iteration (clippy.toml).
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

mod expiry;
mod stored;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use protocol::splitmix::SplitMix64;
use protocol::ErrorCode;

use super::offsets::OffsetsRecord;

/// Milliseconds on the coordinator's clock: since the Unix epoch, like Kafka's
/// `time.milliseconds()`, so that state timestamps persisted in GroupMetadataValue and commit
/// timestamps still compare with it after a restart (the I/O side advances it monotonically
/// from the wall clock at start-up, so timers never jump).
pub(crate) type Millis = i64;
/// Identifies a delayed JoinGroup/SyncGroup answer.
pub(crate) type Token = u64;

/// Kafka's limit on members of one group is `group.max.size` (default unbounded); we bound
/// it so a misbehaving client cannot grow a group without end.
pub(crate) const GROUP_MEMBERS_MAX: usize = 10_000;
/// KIP-394 member ids handed out but not yet used, per group.
const PENDING_MEMBERS_MAX: usize = 10_000;
/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`: a new member waiting in a rebalance is
/// kept this long without heartbeats.
const NEW_MEMBER_JOIN_TIMEOUT_MS: Millis = 5 * 60 * 1000;

/// Settings from the broker config.
#[derive(Debug, Clone)]
pub(crate) struct CoordinatorConfig {
    /// `group.initial.rebalance.delay.ms`.
    pub(crate) initial_rebalance_delay_ms: Millis,
    /// `group.min.session.timeout.ms`.
    pub(crate) min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub(crate) max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`, in milliseconds.
    pub(crate) offsets_retention_ms: Millis,
    /// `group.max.size` (Kafka's default is unbounded; [`GROUP_MEMBERS_MAX`] still applies).
    pub(crate) group_max_size: usize,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            group_max_size: i32::MAX as usize,
        }
    }
}

/// The state of a classic group (Kafka's names, shown by DescribeGroups/ListGroups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request, as the core needs it.
#[derive(Debug, Clone)]
pub(crate) struct JoinRequest {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// KIP-394: JoinGroup v4+ must first obtain a member id.
    pub(crate) require_known_member_id: bool,
    /// JoinGroup v9+: a static leader that rejoins a Stable group can be told it leads
    /// without running the assignor (`SkipAssignment`).
    pub(crate) supports_skipping_assignment: bool,
}

/// One member in the leader's JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinedMember {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinResult {
    pub(crate) error: ErrorCode,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    pub(crate) members: Vec<JoinedMember>,
    /// JoinGroup v9+ `SkipAssignment`: the leader keeps the group's current assignment.
    pub(crate) skip_assignment: bool,
}

impl JoinResult {
    pub(crate) fn error(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyncResult {
    pub(crate) error: ErrorCode,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncResult {
    fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer that is ready.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Join(Token, JoinResult),
    Sync(Token, SyncResult),
}

/// A committed offset, in memory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommittedOffset {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
    pub(crate) commit_timestamp: i64,
    /// OffsetCommit v2–v4 with an explicit `retention_time_ms`: the offset expires then,
    /// whatever the group does (Kafka's pre-2.1 semantics, value v1).
    pub(crate) expire_timestamp: Option<i64>,
}

/// Records to append to the group's `__consumer_offsets` partition, then what to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Write {
    pub(crate) group_id: String,
    pub(crate) records: Vec<OffsetsRecord>,
    pub(crate) then: AfterWrite,
}

/// What the core does once a [`Write`] is appended (or failed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AfterWrite {
    /// Nothing: Kafka only logs a failure (empty group metadata, tombstones).
    Nothing,
    /// The leader's SyncGroup: on success the group becomes Stable with this assignment and
    /// every waiting SyncGroup is answered; on failure they get the error and the group
    /// rebalances (Kafka `doSyncGroup` → `storeGroup` callback).
    CompleteSync {
        generation: i32,
        assignment: BTreeMap<String, Bytes>,
    },
    /// A static member rejoined a Stable group under a new member id without changing the
    /// selected protocol (KIP-345): once the group record naming it is in the log, its
    /// JoinGroup gets the current generation back; on failure the old member id is restored.
    StaticRejoin(Box<StaticRejoin>),
}

/// What [`AfterWrite::StaticRejoin`] needs to answer or undo the rejoin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StaticRejoin {
    token: Token,
    instance_id: String,
    old_member_id: String,
    new_member_id: String,
    /// The leader before the rejoin: what JoinGroup below v9 names, so that a rejoining
    /// leader does not run an assignment a Stable group would not send out.
    leader_before: String,
    supports_skipping_assignment: bool,
    /// The member's settings before the rejoin, restored if the write fails.
    protocols: Vec<(String, Bytes)>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct MemberDescription {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

/// A group as DescribeGroups/ListGroups show it.
#[derive(Debug, Clone)]
pub(crate) struct GroupDescription {
    pub(crate) state: GroupState,
    pub(crate) protocol_type: String,
    pub(crate) protocol_name: String,
    pub(crate) members: Vec<MemberDescription>,
}

#[derive(Debug)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_token: Option<Token>,
    sync_token: Option<Token>,
    /// When the session expires unless a heartbeat (or join/sync) arrives.
    session_deadline: Millis,
    /// Joined but never completed a rebalance.
    is_new: bool,
}

impl Member {
    fn touch(&mut self, now: Millis) {
        self.session_deadline = now + Millis::from(self.session_timeout_ms);
    }

    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Kafka `MemberMetadata.shouldKeepAlive`.
    fn keep_alive(&self, now: Millis) -> bool {
        if self.join_token.is_some() {
            return !self.is_new
                || self.session_deadline - Millis::from(self.session_timeout_ms)
                    + NEW_MEMBER_JOIN_TIMEOUT_MS
                    > now;
        }
        self.sync_token.is_some() || self.session_deadline > now
    }
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    /// When the group last changed state (Kafka `currentStateTimestamp`): retention of an
    /// Empty group's offsets counts from here. `None` when loaded from an old value.
    current_state_timestamp: Option<Millis>,
    /// Topics the members subscribe to, from their ConsumerProtocol subscriptions (Kafka
    /// `computeSubscribedTopics`); `None` when unknown (not a consumer group, or unparsable).
    subscribed_topics: Option<BTreeSet<String>>,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: BTreeMap<String, Millis>,
    /// KIP-345: group.instance.id → member id.
    static_members: BTreeMap<String, String>,
    /// When PreparingRebalance ends at the latest.
    rebalance_deadline: Millis,
    /// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms`.
    initial_rebalance: Option<InitialDelay>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    /// The delay cannot extend past this (the rebalance timeout from the start).
    limit: Millis,
}

impl Group {
    fn new(now: Millis) -> Self {
        Self {
            state: GroupState::Empty,
            current_state_timestamp: Some(now),
            subscribed_topics: None,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            rebalance_deadline: 0,
            initial_rebalance: None,
            offsets: BTreeMap::new(),
        }
    }

    /// KIP-345: a static member's request with a member id that is not the instance's
    /// current one is from a fenced (replaced) instance.
    fn is_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    /// Protocols every member supports (the candidates of Kafka's vote).
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// Kafka `GroupMetadata.selectProtocol`: each member votes for its first protocol that
    /// all members support; the most votes win (ties: the earliest in the first member's list).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                *votes.entry(n).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates
            .into_iter()
            .find(|c| votes.get(c) == Some(&best))
            .cloned()
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.join_token.is_some())
    }

    fn max_rebalance_timeout(&self) -> Millis {
        self.members
            .values()
            .map(|m| Millis::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Kafka `GroupMetadata.transitionTo`: the state and its timestamp change together.
    fn transition_to(&mut self, state: GroupState, now: Millis) {
        self.state = state;
        self.current_state_timestamp = Some(now);
    }
}

/// All groups this node coordinates.
#[derive(Debug)]
pub(crate) struct GroupCoordinator {
    config: CoordinatorConfig,
    groups: BTreeMap<String, Group>,
    replies: Vec<Reply>,
    /// Records to append, in order (see [`Write`]).
    writes: Vec<Write>,
    /// Seeded generator for member ids (Kafka: clientId-UUID).
    rng: SplitMix64,
    /// `Some` until `finish_load`: topics deleted while `__consumer_offsets` is being
    /// replayed, whose offsets are removed once the replay is complete (see
    /// [`GroupCoordinator::delete_offsets_of_topics`]).
    deleted_while_loading: Option<BTreeSet<String>>,
}

impl GroupCoordinator {
    pub(crate) fn new(config: CoordinatorConfig, seed: u64) -> Self {
        Self {
            config,
            groups: BTreeMap::new(),
            replies: Vec::new(),
            writes: Vec::new(),
            rng: SplitMix64::new(seed | 1),
            deleted_while_loading: Some(BTreeSet::new()),
        }
    }

    /// Answers that became ready since the last call.
    pub(crate) fn take_replies(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.replies)
    }

    /// Records to append since the last call, in append order.
    pub(crate) fn take_writes(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.writes)
    }

    pub(crate) fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        let a = a.to_be_bytes();
        let b = b.to_be_bytes();
        let hex = |s: &[u8]| s.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!(
            "{client_id}-{}-{}-{}-{}-{}",
            hex(&a[0..4]),
            hex(&a[4..6]),
            hex(&a[6..8]),
            hex(&b[0..2]),
            hex(&b[2..8])
        )
    }

    // ------------------------------------------------------------------------------------
    // JoinGroup
    // ------------------------------------------------------------------------------------

    /// Handles a JoinGroup; the answer comes out of `take_replies` under `token`.
    pub(crate) fn join(&mut self, now: Millis, token: Token, req: JoinRequest) {
        if req.group_id.is_empty() {
            return self.reply_join(token, JoinResult::error(ErrorCode::INVALID_GROUP_ID, ""));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::INVALID_SESSION_TIMEOUT, &req.member_id),
            );
        }
        let known = !req.member_id.is_empty();
        if !self.groups.contains_key(&req.group_id) {
            if known {
                return self.reply_join(
                    token,
                    JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &req.member_id),
                );
            }
            self.groups.insert(req.group_id.clone(), Group::new(now));
        }
        if !self.accept_joining_member(&req.group_id, &req.member_id) {
            // Kafka removes a member it refuses (one not yet rejoined beyond the size).
            if self.groups[&req.group_id]
                .members
                .contains_key(&req.member_id)
            {
                self.remove_member(&req.group_id, &req.member_id);
                self.after_members_removed(now, &req.group_id);
            }
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""),
            );
        }
        let group = &self.groups[&req.group_id];
        if group.state == GroupState::Dead {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::COORDINATOR_NOT_AVAILABLE, &req.member_id),
            );
        }
        if !group.supports(&req.protocol_type, &req.protocols) {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &req.member_id),
            );
        }
        if known {
            self.join_known(now, token, req)
        } else {
            self.join_unknown(now, token, req)
        }
    }

    /// Kafka `acceptJoiningMember` (`group.max.size`): while preparing a rebalance, members
    /// that already rejoined count (a shrunk limit then drops the last ones to rejoin);
    /// otherwise the group's size does. Existing members are always let back in outside a
    /// rebalance.
    fn accept_joining_member(&self, group_id: &str, member_id: &str) -> bool {
        let Some(g) = self.groups.get(group_id) else {
            return true;
        };
        let max = self.config.group_max_size;
        match g.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                g.members
                    .get(member_id)
                    .is_some_and(|m| m.join_token.is_some())
                    || g.members
                        .values()
                        .filter(|m| m.join_token.is_some())
                        .count()
                        < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.members.contains_key(member_id) || g.members.len() < max
            }
        }
    }

    fn join_unknown(&mut self, now: Millis, token: Token, req: JoinRequest) {
        let member_id = self.new_member_id(&req.client_id);
        let group = self.groups.get_mut(&req.group_id).expect("checked");
        if group.members.len() >= GROUP_MEMBERS_MAX {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""),
            );
        }
        if let Some(instance) = req.group_instance_id.clone() {
            let known = group.static_members.get(&instance).cloned();
            if let Some(old) = known.filter(|old| group.members.contains_key(old)) {
                return self.update_static_member_and_rebalance(now, token, old, member_id, req);
            }
            group.static_members.insert(instance, member_id.clone());
        } else if req.require_known_member_id {
            // KIP-394: hand out an id; the member must come back with it.
            if group.pending_members.len() >= PENDING_MEMBERS_MAX {
                return self.reply_join(
                    token,
                    JoinResult::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""),
                );
            }
            group.pending_members.insert(
                member_id.clone(),
                now + Millis::from(req.session_timeout_ms),
            );
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &member_id),
            );
        }
        self.add_member_and_rebalance(now, token, member_id, req);
    }

    /// KIP-345 (Kafka `updateStaticMemberAndRebalance`): a static member rejoining with an
    /// unknown member id takes over its old member, assignment included, under a new id; the
    /// old id's waiting requests are fenced. A Stable group whose selected protocol stays the
    /// same does not rebalance: only its record is rewritten, and the JoinGroup is answered
    /// with the current generation once that is in the log (`write_done`).
    fn update_static_member_and_rebalance(
        &mut self,
        now: Millis,
        token: Token,
        old_member_id: String,
        new_member_id: String,
        req: JoinRequest,
    ) {
        let group_id = req.group_id.clone();
        let group = self.groups.get_mut(&group_id).expect("checked");
        let instance_id = req.group_instance_id.clone().expect("a static member");
        let leader_before = group.leader.clone().unwrap_or_default();
        let fenced = replace_static_member(group, &instance_id, &old_member_id, &new_member_id);
        self.replies.extend(fenced);
        let group = self.groups.get_mut(&group_id).expect("checked");
        let member = group
            .members
            .get_mut(&new_member_id)
            .expect("just replaced");
        let before = StaticRejoin {
            token,
            instance_id,
            old_member_id,
            new_member_id: new_member_id.clone(),
            leader_before,
            supports_skipping_assignment: req.supports_skipping_assignment,
            protocols: std::mem::replace(&mut member.protocols, req.protocols),
            session_timeout_ms: std::mem::replace(
                &mut member.session_timeout_ms,
                req.session_timeout_ms,
            ),
            rebalance_timeout_ms: member.rebalance_timeout_ms,
        };
        if req.rebalance_timeout_ms > 0 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        member.join_token = Some(token);
        member.touch(now);
        tracing::info!(
            group = %group_id,
            instance = %before.instance_id,
            old = %before.old_member_id,
            new = %new_member_id,
            "static member rejoined with a new member id"
        );
        match group.state {
            GroupState::Stable if group.select_protocol() == group.protocol_name => {
                let assignment: BTreeMap<String, Bytes> = group
                    .members
                    .values()
                    .map(|m| (m.member_id.clone(), m.assignment.clone()))
                    .collect();
                let record = stored::group_record(&group_id, group, &assignment);
                self.writes.push(Write {
                    group_id,
                    records: vec![record],
                    then: AfterWrite::StaticRejoin(Box::new(before)),
                });
            }
            // A protocol change, or an assignment under way that may already name the old
            // id: rebalance (Kafka `prepareRebalance` for CompletingRebalance).
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now, &group_id);
                self.maybe_complete_join(now, &group_id);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now, &group_id),
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member has members")
            }
        }
    }

    fn join_known(&mut self, now: Millis, token: Token, req: JoinRequest) {
        let group = self.groups.get_mut(&req.group_id).expect("checked");
        let member_id = req.member_id.clone();
        if group.is_fenced(&member_id, req.group_instance_id.as_deref()) {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, &member_id),
            );
        }
        if group.pending_members.remove(&member_id).is_some() {
            return self.add_member_and_rebalance(now, token, member_id, req);
        }
        let Some(member) = group.members.get(&member_id) else {
            return self.reply_join(
                token,
                JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &member_id),
            );
        };
        let unchanged = member.protocols == req.protocols;
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now, token, req);
            }
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(group.state == GroupState::Stable && is_leader) =>
            {
                // A rejoin that changes nothing gets the current generation back (Kafka
                // `doCurrentMemberJoinGroup`).
                let result = current_join_result(group, &member_id);
                if let Some(m) = group.members.get_mut(&member_id) {
                    m.touch(now);
                }
                self.reply_join(token, result);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(now, token, req);
            }
            GroupState::Empty | GroupState::Dead => self.reply_join(
                token,
                JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &member_id),
            ),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        now: Millis,
        token: Token,
        member_id: String,
        req: JoinRequest,
    ) {
        let group_id = req.group_id.clone();
        let group = self.groups.get_mut(&group_id).expect("checked");
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        let rebalance_timeout_ms = if req.rebalance_timeout_ms > 0 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let mut member = Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            join_token: Some(token),
            sync_token: None,
            session_deadline: 0,
            is_new: true,
        };
        member.touch(now);
        group.members.insert(member_id, member);
        if let Some(delay) = group.initial_rebalance {
            if group.state == GroupState::PreparingRebalance {
                // Kafka `InitialDelayedJoin`: each new member during the initial delay
                // extends it, up to the rebalance timeout.
                group.rebalance_deadline =
                    (now + self.config.initial_rebalance_delay_ms).min(delay.limit);
            }
        }
        self.maybe_prepare_rebalance(now, &group_id);
        self.maybe_complete_join(now, &group_id);
    }

    fn update_member_and_rebalance(&mut self, now: Millis, token: Token, req: JoinRequest) {
        let group = self.groups.get_mut(&req.group_id).expect("checked");
        if let Some(m) = group.members.get_mut(&req.member_id) {
            if let Some(old) = m.join_token.replace(token) {
                self.replies.push(Reply::Join(
                    old,
                    JoinResult::error(ErrorCode::REBALANCE_IN_PROGRESS, &req.member_id),
                ));
            }
            m.protocols = req.protocols;
            m.session_timeout_ms = req.session_timeout_ms;
            if req.rebalance_timeout_ms > 0 {
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            m.touch(now);
        }
        self.maybe_prepare_rebalance(now, &req.group_id);
        self.maybe_complete_join(now, &req.group_id);
    }

    /// Moves the group to PreparingRebalance (from Empty, CompletingRebalance or Stable).
    fn maybe_prepare_rebalance(&mut self, now: Millis, group_id: &str) {
        let delay = self.config.initial_rebalance_delay_ms;
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        match group.state {
            GroupState::PreparingRebalance | GroupState::Dead => return,
            GroupState::CompletingRebalance => {
                // Assignments of this generation never took effect: waiting syncs learn of
                // the new rebalance.
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                    if let Some(t) = m.sync_token.take() {
                        self.replies.push(Reply::Sync(
                            t,
                            SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS),
                        ));
                    }
                }
            }
            GroupState::Empty | GroupState::Stable => {}
        }
        let timeout = group.max_rebalance_timeout();
        if group.state == GroupState::Empty {
            let limit = now + timeout;
            group.initial_rebalance = Some(InitialDelay { limit });
            group.rebalance_deadline = (now + delay).min(limit);
        } else {
            group.initial_rebalance = None;
            group.rebalance_deadline = now + timeout;
        }
        group.transition_to(GroupState::PreparingRebalance, now);
    }

    fn maybe_complete_join(&mut self, now: Millis, group_id: &str) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        if group.state != GroupState::PreparingRebalance {
            return;
        }
        let ready = if group.initial_rebalance.is_some() {
            now >= group.rebalance_deadline
        } else {
            group.all_joined() || now >= group.rebalance_deadline
        };
        if ready {
            self.complete_join(now, group_id);
        }
    }

    /// Kafka `onCompleteJoin`: drop members that did not rejoin, start the next generation
    /// and answer every waiting JoinGroup (the leader gets the member list).
    fn complete_join(&mut self, now: Millis, group_id: &str) {
        let group = self.groups.get_mut(group_id).expect("caller checked");
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_token.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            group.members.remove(&id);
        }
        // KIP-394 member ids handed out but not yet used stay valid across the round (Kafka
        // keeps `pendingMembers` until they join or their session expires): a member between
        // its two joins must not be told UNKNOWN_MEMBER_ID.
        group.initial_rebalance = None;
        group.generation = group.generation.wrapping_add(1);
        if group.members.is_empty() {
            // Kafka `initNextGeneration` + `onCompleteJoin`: an empty generation is persisted
            // so that a restart brings the group back Empty at this generation.
            group.transition_to(GroupState::Empty, now);
            group.protocol_name = None;
            group.leader = None;
            group.subscribed_topics = group.compute_subscribed_topics(group_id);
            let record = stored::group_record(group_id, group, &BTreeMap::new());
            self.writes.push(Write {
                group_id: group_id.to_string(),
                records: vec![record],
                then: AfterWrite::Nothing,
            });
            return;
        }
        group.protocol_name = group.select_protocol();
        group.subscribed_topics = group.compute_subscribed_topics(group_id);
        let leader_ok = group
            .leader
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(|m| m.join_token.is_some());
        if !leader_ok {
            group.leader = group
                .members
                .values()
                .find(|m| m.join_token.is_some())
                .or_else(|| group.members.values().next())
                .map(|m| m.member_id.clone());
        }
        group.transition_to(GroupState::CompletingRebalance, now);
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let result = current_join_result(group, &id);
            let m = group.members.get_mut(&id).expect("listed");
            m.is_new = false;
            m.touch(now);
            if let Some(t) = m.join_token.take() {
                self.replies.push(Reply::Join(t, result));
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // SyncGroup, Heartbeat, LeaveGroup
    // ------------------------------------------------------------------------------------

    /// Handles a SyncGroup; the answer comes out of `take_replies` under `token`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sync(
        &mut self,
        now: Millis,
        token: Token,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return self.reply_sync(token, SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID));
        };
        if group.is_fenced(member_id, instance_id) {
            return self.reply_sync(token, SyncResult::error(ErrorCode::FENCED_INSTANCE_ID));
        }
        if !group.members.contains_key(member_id) {
            return self.reply_sync(token, SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID));
        }
        if generation != group.generation {
            return self.reply_sync(token, SyncResult::error(ErrorCode::ILLEGAL_GENERATION));
        }
        if protocol_type.is_some_and(|t| group.protocol_type.as_deref() != Some(t))
            || protocol_name.is_some_and(|n| group.protocol_name.as_deref() != Some(n))
        {
            return self.reply_sync(
                token,
                SyncResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL),
            );
        }
        let ok = |group: &Group, assignment: Bytes| SyncResult {
            error: ErrorCode::NONE,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            assignment,
        };
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                self.reply_sync(token, SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID))
            }
            GroupState::PreparingRebalance => {
                self.reply_sync(token, SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS))
            }
            GroupState::Stable => {
                let m = group.members.get_mut(member_id).expect("checked");
                m.touch(now);
                let assignment = m.assignment.clone();
                let r = ok(group, assignment);
                self.reply_sync(token, r)
            }
            GroupState::CompletingRebalance => {
                let m = group.members.get_mut(member_id).expect("checked");
                m.touch(now);
                if let Some(old) = m.sync_token.replace(token) {
                    self.replies.push(Reply::Sync(
                        old,
                        SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS),
                    ));
                }
                if group.leader.as_deref() != Some(member_id) {
                    return;
                }
                // Kafka fills members the leader left out with an empty assignment, persists
                // the group, and answers the syncs once that is in the log (`write_done`).
                let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                let assignment: BTreeMap<String, Bytes> = group
                    .members
                    .keys()
                    .map(|id| (id.clone(), given.remove(id).unwrap_or_default()))
                    .collect();
                let record = stored::group_record(group_id, group, &assignment);
                self.writes.push(Write {
                    group_id: group_id.to_string(),
                    records: vec![record],
                    then: AfterWrite::CompleteSync {
                        generation: group.generation,
                        assignment,
                    },
                });
            }
        }
    }

    /// Handles a Heartbeat.
    pub(crate) fn heartbeat(
        &mut self,
        now: Millis,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        let Some(group) = self.groups.get_mut(group_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if group.is_fenced(member_id, instance_id) {
            return ErrorCode::FENCED_INSTANCE_ID;
        }
        match group.state {
            GroupState::Dead => return ErrorCode::COORDINATOR_NOT_AVAILABLE,
            GroupState::Empty => return ErrorCode::UNKNOWN_MEMBER_ID,
            _ => {}
        }
        let state = group.state;
        let gen = group.generation;
        let Some(m) = group.members.get_mut(member_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if generation != gen {
            return ErrorCode::ILLEGAL_GENERATION;
        }
        m.touch(now);
        if state == GroupState::PreparingRebalance {
            ErrorCode::REBALANCE_IN_PROGRESS
        } else {
            ErrorCode::NONE
        }
    }

    /// Handles a LeaveGroup for `(member id, group.instance.id)` pairs: one error per member.
    pub(crate) fn leave(
        &mut self,
        now: Millis,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> Vec<ErrorCode> {
        let mut errors = Vec::with_capacity(leaving.len());
        let mut removed = Vec::new();
        {
            let Some(group) = self.groups.get_mut(group_id) else {
                return vec![ErrorCode::UNKNOWN_MEMBER_ID; leaving.len()];
            };
            for (member_id, instance_id) in leaving {
                let target = match instance_id {
                    Some(i) => match group.static_members.get(i) {
                        None => Err(ErrorCode::UNKNOWN_MEMBER_ID),
                        // KIP-345: "" means "whoever holds this instance id".
                        Some(cur) if !member_id.is_empty() && cur != member_id => {
                            Err(ErrorCode::FENCED_INSTANCE_ID)
                        }
                        Some(cur) => Ok(cur.clone()),
                    },
                    None => Ok(member_id.clone()),
                };
                match target {
                    Err(e) => errors.push(e),
                    Ok(id) => {
                        if group.pending_members.remove(&id).is_some() {
                            errors.push(ErrorCode::NONE);
                        } else if group.members.contains_key(&id) {
                            removed.push(id);
                            errors.push(ErrorCode::NONE);
                        } else {
                            errors.push(ErrorCode::UNKNOWN_MEMBER_ID);
                        }
                    }
                }
            }
        }
        if !removed.is_empty() {
            for id in &removed {
                self.remove_member(group_id, id);
            }
            self.after_members_removed(now, group_id);
        }
        errors
    }

    fn remove_member(&mut self, group_id: &str, member_id: &str) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(m) = group.members.remove(member_id) else {
            return;
        };
        if let Some(i) = &m.group_instance_id {
            if group.static_members.get(i).map(String::as_str) == Some(member_id) {
                group.static_members.remove(i);
            }
        }
        if group.leader.as_deref() == Some(member_id) {
            group.leader = None;
        }
        if let Some(t) = m.join_token {
            self.replies.push(Reply::Join(
                t,
                JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id),
            ));
        }
        if let Some(t) = m.sync_token {
            self.replies.push(Reply::Sync(
                t,
                SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID),
            ));
        }
    }

    fn after_members_removed(&mut self, now: Millis, group_id: &str) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now, group_id);
                self.maybe_complete_join(now, group_id);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now, group_id),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Expires sessions and pending member ids; completes rebalances whose time is up.
    pub(crate) fn tick(&mut self, now: Millis) {
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for group_id in ids {
            let group = self.groups.get_mut(&group_id).expect("listed");
            group.pending_members.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| !m.keep_alive(now))
                .map(|m| m.member_id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %group_id, member = %id, "member session expired");
                self.remove_member(&group_id, id);
            }
            if !expired.is_empty() {
                self.after_members_removed(now, &group_id);
            }
            self.maybe_complete_join(now, &group_id);
        }
    }

    fn reply_join(&mut self, token: Token, r: JoinResult) {
        self.replies.push(Reply::Join(token, r));
    }

    fn reply_sync(&mut self, token: Token, r: SyncResult) {
        self.replies.push(Reply::Sync(token, r));
    }

    // ------------------------------------------------------------------------------------
    // Offsets
    // ------------------------------------------------------------------------------------

    /// Kafka `validateOffsetCommit` (classic groups): may the commit go ahead? A commit with
    /// generation < 0 is a "simple" commit (no group membership), allowed while the group is
    /// Empty; it creates the group if needed.
    pub(crate) fn validate_commit(
        &mut self,
        now: Millis,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            if generation < 0 {
                self.groups.insert(group_id.to_string(), Group::new(now));
                return Ok(());
            }
            return Err(ErrorCode::ILLEGAL_GENERATION);
        };
        if group.state == GroupState::Dead {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if group.is_fenced(member_id, instance_id) {
            return Err(ErrorCode::FENCED_INSTANCE_ID);
        }
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if group.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        let gen = group.generation;
        let Some(m) = group.members.get_mut(member_id) else {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if generation != gen {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        m.touch(now);
        Ok(())
    }

    /// Records committed offsets (after they are in the log), or deletes them (`None`, only
    /// while loading: a group left without offsets is dropped by `finish_load`).
    pub(crate) fn replay_offset(
        &mut self,
        now: Millis,
        group_id: &str,
        topic: &str,
        partition: i32,
        value: Option<CommittedOffset>,
    ) {
        match value {
            Some(v) => {
                let group = self
                    .groups
                    .entry(group_id.to_string())
                    .or_insert_with(|| Group::new(now));
                group.offsets.insert((topic.to_string(), partition), v);
            }
            None => {
                if let Some(group) = self.groups.get_mut(group_id) {
                    group.offsets.remove(&(topic.to_string(), partition));
                }
            }
        }
    }

    /// The committed offset of one partition.
    pub(crate) fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&CommittedOffset> {
        self.groups
            .get(group_id)?
            .offsets
            .get(&(topic.to_string(), partition))
    }

    /// Every committed offset of a group, by topic.
    pub(crate) fn all_committed(&self, group_id: &str) -> Vec<(String, i32, CommittedOffset)> {
        self.groups
            .get(group_id)
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|((t, p), o)| (t.clone(), *p, o.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    // ------------------------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------------------------

    /// How many groups and committed offsets are in memory (load benchmark, logs).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let offsets = self.groups.values().map(|g| g.offsets.len()).sum();
        (self.groups.len(), offsets)
    }

    /// Every group id with its protocol type and state.
    pub(crate) fn list(&self) -> Vec<(String, String, GroupState)> {
        self.groups
            .iter()
            .map(|(id, g)| {
                (
                    id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect()
    }

    pub(crate) fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let show_metadata =
            g.state == GroupState::Stable || g.state == GroupState::CompletingRebalance;
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if show_metadata {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if show_metadata {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if g.state == GroupState::Stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// The state of a group, if it exists.
    #[cfg(test)]
    pub(crate) fn state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Members and generation, for tests and logs.
    #[cfg(test)]
    pub(crate) fn generation(&self, group_id: &str) -> i32 {
        self.groups[group_id].generation
    }
}

/// The JoinGroup answer for a member of the current generation.
/// Kafka `GroupMetadata.replaceStaticMember`: the member of `instance_id` continues under
/// `new` (assignment, metadata and leadership kept). Returns the FENCED_INSTANCE_ID answers
/// for the requests the old id was waiting on.
fn replace_static_member(group: &mut Group, instance_id: &str, old: &str, new: &str) -> Vec<Reply> {
    let mut member = group.members.remove(old).expect("caller checked");
    let mut fenced = Vec::new();
    if let Some(t) = member.join_token.take() {
        fenced.push(Reply::Join(
            t,
            JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, old),
        ));
    }
    if let Some(t) = member.sync_token.take() {
        fenced.push(Reply::Sync(
            t,
            SyncResult::error(ErrorCode::FENCED_INSTANCE_ID),
        ));
    }
    member.member_id = new.to_string();
    group.members.insert(new.to_string(), member);
    if group.leader.as_deref() == Some(old) {
        group.leader = Some(new.to_string());
    }
    group
        .static_members
        .insert(instance_id.to_string(), new.to_string());
    fenced
}

fn current_join_result(group: &Group, member_id: &str) -> JoinResult {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let leader = group.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        group
            .members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        error: ErrorCode::NONE,
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader,
        member_id: member_id.to_string(),
        members,
        skip_assignment: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const G: &str = "g";

    pub(super) fn coordinator(delay: Millis) -> GroupCoordinator {
        GroupCoordinator::new(
            CoordinatorConfig {
                initial_rebalance_delay_ms: delay,
                ..Default::default()
            },
            42,
        )
    }

    pub(super) fn join_req(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            group_id: G.into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
            supports_skipping_assignment: true,
        }
    }

    /// Appends every queued write successfully (the I/O side's part).
    pub(super) fn persist(c: &mut GroupCoordinator) -> Vec<Write> {
        let writes = c.take_writes();
        for w in &writes {
            c.write_done(0, &w.group_id, w.then.clone(), Ok(()));
        }
        writes
    }

    pub(super) fn join_replies(c: &mut GroupCoordinator) -> BTreeMap<Token, JoinResult> {
        c.take_replies()
            .into_iter()
            .filter_map(|r| match r {
                Reply::Join(t, j) => Some((t, j)),
                Reply::Sync(..) => None,
            })
            .collect()
    }

    /// KIP-394 round trip: returns the member id after the second join (whose answer is
    /// pending or in the replies).
    pub(super) fn join_new(c: &mut GroupCoordinator, now: Millis, token: Token) -> String {
        c.join(now, token, join_req("", &["range"]));
        let r = join_replies(c);
        let first = &r[&token];
        assert_eq!(first.error, ErrorCode::MEMBER_ID_REQUIRED);
        let id = first.member_id.clone();
        assert!(id.starts_with("c-"));
        c.join(now, token, join_req(&id, &["range"]));
        id
    }

    #[test]
    fn single_member_with_zero_delay_becomes_stable() {
        let mut c = coordinator(0);
        let id = join_new(&mut c, 0, 1);
        let r = join_replies(&mut c);
        let j = &r[&1];
        assert_eq!(j.error, ErrorCode::NONE);
        assert_eq!(j.generation_id, 1);
        assert_eq!(j.leader, id);
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        assert_eq!(j.members.len(), 1);
        assert_eq!(c.state(G), Some(GroupState::CompletingRebalance));
        c.sync(
            0,
            2,
            G,
            1,
            &id,
            None,
            None,
            None,
            vec![(id.clone(), Bytes::from("a"))],
        );
        persist(&mut c);
        let replies = c.take_replies();
        assert_eq!(
            replies,
            vec![Reply::Sync(
                2,
                SyncResult {
                    error: ErrorCode::NONE,
                    protocol_type: Some("consumer".into()),
                    protocol_name: Some("range".into()),
                    assignment: Bytes::from("a"),
                }
            )]
        );
        assert_eq!(c.state(G), Some(GroupState::Stable));
        assert_eq!(c.heartbeat(100, G, 1, &id, None), ErrorCode::NONE);
        assert_eq!(
            c.heartbeat(100, G, 0, &id, None),
            ErrorCode::ILLEGAL_GENERATION
        );
        assert_eq!(
            c.heartbeat(100, G, 1, "nope", None),
            ErrorCode::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn initial_delay_holds_the_join_until_ticked() {
        let mut c = coordinator(3000);
        let _a = join_new(&mut c, 0, 1);
        assert!(join_replies(&mut c).is_empty());
        let _b = join_new(&mut c, 1000, 2);
        assert!(
            join_replies(&mut c).is_empty(),
            "second join extends the delay"
        );
        c.tick(3999);
        assert!(join_replies(&mut c).is_empty());
        c.tick(4000);
        let r = join_replies(&mut c);
        assert_eq!(r.len(), 2);
        assert!(r
            .values()
            .all(|j| j.generation_id == 1 && j.error == ErrorCode::NONE));
        let leaders: Vec<_> = r.values().filter(|j| !j.members.is_empty()).collect();
        assert_eq!(leaders.len(), 1, "only the leader gets the member list");
        assert_eq!(leaders[0].members.len(), 2);
    }

    #[test]
    fn second_member_rebalances_a_stable_group() {
        let mut c = coordinator(0);
        let a = join_new(&mut c, 0, 1);
        join_replies(&mut c);
        c.sync(0, 2, G, 1, &a, None, None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        let b = join_new(&mut c, 10, 3);
        assert!(join_replies(&mut c).is_empty());
        assert_eq!(c.state(G), Some(GroupState::PreparingRebalance));
        assert_eq!(
            c.heartbeat(20, G, 1, &a, None),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
        // The old member rejoins: everybody is in, the rebalance completes at once.
        c.join(30, 4, join_req(&a, &["range"]));
        let r = join_replies(&mut c);
        assert_eq!(r.len(), 2);
        assert_eq!(r[&4].leader, a, "the leader stays");
        assert_eq!(r[&4].members.len(), 2);
        assert_eq!(r[&3].members.len(), 0);
        assert_eq!(c.generation(G), 2);
        // The follower's sync waits for the leader's.
        c.sync(40, 5, G, 2, &b, None, None, None, vec![]);
        persist(&mut c);
        assert!(c.take_replies().is_empty());
        c.sync(
            41,
            6,
            G,
            2,
            &a,
            None,
            None,
            None,
            vec![(a.clone(), Bytes::from("A")), (b.clone(), Bytes::from("B"))],
        );
        persist(&mut c);
        let mut got: Vec<_> = c
            .take_replies()
            .into_iter()
            .map(|r| match r {
                Reply::Sync(t, s) => (t, s.assignment),
                Reply::Join(..) => panic!("unexpected join reply"),
            })
            .collect();
        got.sort_by_key(|(t, _)| *t);
        assert_eq!(got, vec![(5, Bytes::from("B")), (6, Bytes::from("A"))]);
    }

    #[test]
    fn session_expiry_removes_member_and_rebalances() {
        let mut c = coordinator(0);
        let a = join_new(&mut c, 0, 1);
        join_replies(&mut c);
        c.sync(0, 2, G, 1, &a, None, None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        let b = join_new(&mut c, 0, 3);
        c.join(0, 4, join_req(&a, &["range"]));
        join_replies(&mut c);
        c.sync(0, 5, G, 2, &a, None, None, None, vec![]);
        persist(&mut c);
        c.sync(0, 6, G, 2, &b, None, None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        assert_eq!(c.state(G), Some(GroupState::Stable));
        // a keeps heartbeating, b goes silent.
        for t in (1000..10_000).step_by(1000) {
            assert_eq!(c.heartbeat(t, G, 2, &a, None), ErrorCode::NONE, "at {t}");
            c.tick(t);
        }
        assert_eq!(c.state(G), Some(GroupState::Stable));
        c.tick(10_000);
        // b expired at 10_000: a rebalance started, a learns of it.
        assert_eq!(c.state(G), Some(GroupState::PreparingRebalance));
        assert_eq!(
            c.heartbeat(12_500, G, 2, &a, None),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
        c.join(12_600, 7, join_req(&a, &["range"]));
        let r = join_replies(&mut c);
        assert_eq!(r[&7].generation_id, 3);
        assert_eq!(r[&7].members.len(), 1);
        assert_eq!(
            c.heartbeat(12_700, G, 3, &b, None),
            ErrorCode::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let mut c = coordinator(0);
        let a = join_new(&mut c, 0, 1);
        join_replies(&mut c);
        c.sync(0, 2, G, 1, &a, None, None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        let _b = join_new(&mut c, 100, 3);
        // a heartbeats (gets REBALANCE_IN_PROGRESS) but never rejoins.
        for t in (1000..30_000).step_by(1000) {
            c.heartbeat(t, G, 1, &a, None);
            c.tick(t);
            assert!(join_replies(&mut c).is_empty(), "at {t}");
        }
        c.tick(30_100);
        let r = join_replies(&mut c);
        assert_eq!(r[&3].generation_id, 2);
        assert_eq!(r[&3].members.len(), 1, "a was removed");
    }

    #[test]
    fn leave_empties_group_and_simple_commits_are_allowed_again() {
        let mut c = coordinator(0);
        let a = join_new(&mut c, 0, 1);
        join_replies(&mut c);
        assert_eq!(
            c.validate_commit(0, G, -1, "", None),
            Err(ErrorCode::REBALANCE_IN_PROGRESS)
        );
        c.sync(0, 2, G, 1, &a, None, None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        assert_eq!(c.validate_commit(0, G, 1, &a, None), Ok(()));
        assert_eq!(
            c.validate_commit(0, G, 0, &a, None),
            Err(ErrorCode::ILLEGAL_GENERATION)
        );
        assert_eq!(
            c.validate_commit(0, G, 1, "x", None),
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        let errs = c.leave(10, G, &[(a.clone(), None), ("x".into(), None)]);
        assert_eq!(errs, vec![ErrorCode::NONE, ErrorCode::UNKNOWN_MEMBER_ID]);
        assert_eq!(c.state(G), Some(GroupState::Empty));
        assert_eq!(c.generation(G), 2);
        assert_eq!(c.validate_commit(10, G, -1, "", None), Ok(()));
        assert_eq!(c.validate_commit(10, "other", -1, "", None), Ok(()));
        assert_eq!(
            c.validate_commit(10, "third", 3, "m", None),
            Err(ErrorCode::ILLEGAL_GENERATION)
        );
    }

    #[test]
    fn a_member_between_its_two_joins_survives_a_completed_round() {
        let mut c = coordinator(0);
        c.join(0, 1, join_req("", &["range"]));
        c.join(0, 2, join_req("", &["range"]));
        let r = join_replies(&mut c);
        let (a, b) = (r[&1].member_id.clone(), r[&2].member_id.clone());
        // a comes back first: with no initial delay its round completes without b.
        c.join(1, 3, join_req(&a, &["range"]));
        assert_eq!(join_replies(&mut c)[&3].generation_id, 1);
        c.join(2, 4, join_req(&b, &["range"]));
        assert!(join_replies(&mut c).is_empty(), "b joins the next round");
        assert_eq!(c.state(G), Some(GroupState::PreparingRebalance));
        c.join(3, 5, join_req(&a, &["range"]));
        let r = join_replies(&mut c);
        assert_eq!((r[&4].generation_id, r[&5].generation_id), (2, 2));
    }

    #[test]
    fn group_max_size_refuses_new_members() {
        let mut c = GroupCoordinator::new(
            CoordinatorConfig {
                initial_rebalance_delay_ms: 0,
                group_max_size: 1,
                ..Default::default()
            },
            42,
        );
        let a = join_new(&mut c, 0, 1);
        assert_eq!(join_replies(&mut c)[&1].error, ErrorCode::NONE);
        c.join(1, 2, join_req("", &["range"]));
        let r = join_replies(&mut c);
        assert_eq!(
            (r[&2].error, r[&2].member_id.as_str()),
            (ErrorCode::GROUP_MAX_SIZE_REACHED, "")
        );
        // The member already in the group is let back in.
        c.join(2, 3, join_req(&a, &["range"]));
        assert_eq!(join_replies(&mut c)[&3].error, ErrorCode::NONE);
    }

    #[test]
    fn pending_member_ids_expire() {
        let mut c = coordinator(0);
        c.join(0, 1, join_req("", &["range"]));
        let id = join_replies(&mut c)[&1].member_id.clone();
        c.tick(10_001);
        c.join(10_002, 2, join_req(&id, &["range"]));
        assert_eq!(join_replies(&mut c)[&2].error, ErrorCode::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn inconsistent_protocols_and_bad_session_timeouts_are_refused() {
        let mut c = coordinator(0);
        let _a = join_new(&mut c, 0, 1);
        join_replies(&mut c);
        c.join(0, 2, join_req("", &["roundrobin"]));
        assert_eq!(
            join_replies(&mut c)[&2].error,
            ErrorCode::INCONSISTENT_GROUP_PROTOCOL
        );
        let mut r = join_req("", &["range"]);
        r.session_timeout_ms = 1;
        c.join(0, 3, r);
        assert_eq!(
            join_replies(&mut c)[&3].error,
            ErrorCode::INVALID_SESSION_TIMEOUT
        );
    }

    #[test]
    fn static_member_replacement_fences_the_old_id() {
        let mut c = coordinator(0);
        let mut r = join_req("", &["range"]);
        r.group_instance_id = Some("i1".into());
        c.join(0, 1, r.clone());
        let first = join_replies(&mut c)[&1].clone();
        assert_eq!(first.error, ErrorCode::NONE, "static members skip KIP-394");
        let old = first.member_id;
        c.sync(0, 2, G, 1, &old, Some("i1"), None, None, vec![]);
        persist(&mut c);
        c.take_replies();
        c.join(10, 3, r);
        assert!(
            join_replies(&mut c).is_empty(),
            "answered once the group record is written"
        );
        persist(&mut c);
        let second = join_replies(&mut c)[&3].clone();
        assert_ne!(second.member_id, old);
        assert_eq!(
            c.heartbeat(20, G, second.generation_id, &old, Some("i1")),
            ErrorCode::FENCED_INSTANCE_ID
        );
    }

    /// Two static members that joined within the initial rebalance delay of `c`, stable with
    /// an assignment ("A" for the leader, "B" for the other). Returns (instance id, member id)
    /// of the leader, then of the follower.
    fn two_static_members(c: &mut GroupCoordinator) -> [(&'static str, String); 2] {
        for (token, instance) in [(1, "i1"), (2, "i2")] {
            let mut r = join_req("", &["range"]);
            r.group_instance_id = Some(instance.into());
            c.join(0, token, r);
        }
        c.tick(60_000);
        let replies = join_replies(c);
        let (i1, i2) = (replies[&1].member_id.clone(), replies[&2].member_id.clone());
        let [leader, follower] = if replies[&1].leader == i1 {
            [("i1", i1), ("i2", i2)]
        } else {
            [("i2", i2), ("i1", i1)]
        };
        let assignment = vec![
            (leader.1.clone(), Bytes::from("A")),
            (follower.1.clone(), Bytes::from("B")),
        ];
        c.sync(
            0,
            3,
            G,
            1,
            &follower.1,
            Some(follower.0),
            None,
            None,
            vec![],
        );
        c.sync(
            0,
            4,
            G,
            1,
            &leader.1,
            Some(leader.0),
            None,
            None,
            assignment,
        );
        persist(c);
        c.take_replies();
        assert_eq!(c.state(G), Some(GroupState::Stable));
        [leader, follower]
    }

    fn rejoin(c: &mut GroupCoordinator, token: Token, instance: &str, v9: bool) {
        let mut r = join_req("", &["range"]);
        r.group_instance_id = Some(instance.into());
        r.supports_skipping_assignment = v9;
        c.join(100, token, r);
    }

    /// KIP-345: a static member that rejoins a Stable group with unchanged protocols takes
    /// over its old member id without a rebalance; only the group record is rewritten.
    #[test]
    fn static_rejoin_of_a_stable_group_does_not_rebalance() {
        let mut c = coordinator(50);
        let [(leader_instance, leader), (follower_instance, follower)] = two_static_members(&mut c);
        rejoin(&mut c, 10, follower_instance, false);
        let writes = persist(&mut c);
        assert_eq!(writes.len(), 1, "the group record only");
        let r = join_replies(&mut c)[&10].clone();
        assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, 1));
        assert_ne!(r.member_id, follower);
        assert_eq!(r.leader, leader);
        assert_eq!(c.state(G), Some(GroupState::Stable), "no rebalance");
        // The other member heartbeats on undisturbed; the new id syncs its old assignment.
        assert_eq!(
            c.heartbeat(110, G, 1, &leader, Some(leader_instance)),
            ErrorCode::NONE
        );
        c.sync(
            110,
            11,
            G,
            1,
            &r.member_id,
            Some(follower_instance),
            None,
            None,
            vec![],
        );
        let Reply::Sync(_, s) = c.take_replies().remove(0) else {
            panic!("a sync answer")
        };
        assert_eq!((s.error, s.assignment), (ErrorCode::NONE, Bytes::from("B")));

        // The leader rejoining: below v9 it is not told it leads (it would assign for
        // nothing); from v9 it is, with SkipAssignment.
        rejoin(&mut c, 12, leader_instance, false);
        persist(&mut c);
        let old_style = join_replies(&mut c)[&12].clone();
        assert_eq!(old_style.leader, leader, "the old leader id");
        assert!(old_style.members.is_empty() && !old_style.skip_assignment);
        rejoin(&mut c, 13, leader_instance, true);
        persist(&mut c);
        let v9 = join_replies(&mut c)[&13].clone();
        assert_eq!(v9.leader, v9.member_id);
        assert!(v9.skip_assignment);
        assert_eq!(v9.members.len(), 2);
        assert_eq!(c.state(G), Some(GroupState::Stable));
        assert_eq!(c.generation(G), 1);
    }

    #[test]
    fn a_failed_static_rejoin_restores_the_old_member_id() {
        let mut c = coordinator(50);
        let [_, (follower_instance, follower)] = two_static_members(&mut c);
        rejoin(&mut c, 10, follower_instance, true);
        for w in c.take_writes() {
            c.write_done(100, &w.group_id, w.then, Err(ErrorCode::NOT_COORDINATOR));
        }
        let r = join_replies(&mut c)[&10].clone();
        assert_eq!(r.error, ErrorCode::NOT_COORDINATOR);
        assert_eq!(
            c.heartbeat(110, G, 1, &follower, Some(follower_instance)),
            ErrorCode::NONE
        );
    }

    /// A static member rejoining while the leader computes an assignment rebalances: the
    /// assignment may name its old id (Kafka `updateStaticMemberAndRebalance`).
    #[test]
    fn a_static_rejoin_during_an_assignment_rebalances() {
        let mut c = coordinator(50);
        for (token, instance) in [(1, "i1"), (2, "i2")] {
            let mut r = join_req("", &["range"]);
            r.group_instance_id = Some(instance.into());
            c.join(0, token, r);
        }
        c.tick(60_000);
        join_replies(&mut c);
        assert_eq!(c.state(G), Some(GroupState::CompletingRebalance));
        rejoin(&mut c, 10, "i2", true);
        assert!(c.take_writes().is_empty());
        assert_eq!(c.state(G), Some(GroupState::PreparingRebalance));
    }

    #[test]
    fn offsets_replay_and_tombstones() {
        let mut c = coordinator(0);
        let v = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: String::new(),
            commit_timestamp: 1,
            expire_timestamp: None,
        };
        c.replay_offset(0, G, "t", 0, Some(v.clone()));
        assert_eq!(c.committed(G, "t", 0), Some(&v));
        assert_eq!(c.state(G), Some(GroupState::Empty));
        c.replay_offset(0, G, "t", 0, None);
        assert_eq!(c.committed(G, "t", 0), None);
        c.finish_load(0);
        assert_eq!(
            c.state(G),
            None,
            "an empty group without offsets or metadata is forgotten"
        );
    }
}
