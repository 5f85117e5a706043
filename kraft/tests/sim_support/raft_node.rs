//! The Raft core as a [`sim::Node`]: executes its actions on a simulated disk (the
//! `__cluster_metadata-0` batches plus `quorum-state`, written atomically) and network, as the
//! io layer does for real. It also records what the invariants need: every vote granted and
//! every Fetch sent is checked against the disk at the moment it leaves
//! (`VoteDurableBeforeGrant`, `FollowerAckDurable`). Every message crosses the simulated
//! wire as Kafka bytes (`kraft::raft::wire`, Kafka 3.9's versions and Vote v2), so the
//! conversion is exercised by every seed.

use std::collections::BTreeMap;

use bytes::BytesMut;
use kraft::raft::wire;
use kraft::raft::{
    Action, AppendBatch, DurableState, ElectionState, EpochStarts, InboundId, Input, Millis,
    NodeId, Offset, RaftConfig, RaftCore, RaftMessage, ReplyTo,
};
use protocol::messages::ApiKey;
use sim::{Disk, Io, Rng};

const CLUSTER_ID: &str = "c2ltdWxhdGVkIGNsdXN0ZXI";

/// A Raft message on the simulated wire. Fetches carry a correlation id, so a node takes only
/// the answer to its latest Fetch to a peer, as a request manager does.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub msg: RaftMessage,
    pub fetch_id: u64,
}

/// One simulated controller (or observer).
#[derive(Debug)]
pub(crate) struct RaftNode {
    pub config: RaftConfig,
    pub core: Option<RaftCore>,
    pub disk: Disk<AppendBatch>,
    /// `quorum-state`: written with tmp + fsync + rename, so durable once written.
    pub quorum_state: Option<ElectionState>,
    generation: u64,
    /// `SendAfterPersist` messages waiting for the next fsync.
    held: Vec<(NodeId, Wire)>,
    next_fetch_id: u64,
    /// The id of our latest Fetch to each peer.
    latest_fetch: BTreeMap<NodeId, u64>,
    /// The id of the latest Fetch each peer sent us.
    fetch_from: BTreeMap<NodeId, u64>,
    /// Inbound (observer) requests awaiting an answer: id → (peer, fetch id).
    inbound: BTreeMap<u64, (NodeId, u64)>,
    next_inbound: u64,
    /// `Committed` reports of this incarnation, newest last (cleared by a crash).
    pub commits: Vec<Offset>,
    /// Invariant violations found while executing actions.
    pub violations: Vec<String>,
    /// Whether the latest VoteRequest from each peer was a pre-vote (whose grant binds
    /// nothing, so nothing need be durable before it).
    pre_vote_from: BTreeMap<NodeId, bool>,
}

impl RaftNode {
    pub(crate) fn new(config: RaftConfig, seed: u64) -> RaftNode {
        let core = RaftCore::new(config.clone(), DurableState::default(), seed);
        RaftNode {
            config,
            core: Some(core),
            disk: Disk::default(),
            quorum_state: None,
            generation: 0,
            held: Vec::new(),
            next_fetch_id: 0,
            latest_fetch: BTreeMap::new(),
            fetch_from: BTreeMap::new(),
            inbound: BTreeMap::new(),
            next_inbound: 0,
            commits: Vec::new(),
            violations: Vec::new(),
            pre_vote_from: BTreeMap::new(),
        }
    }

    pub(crate) fn core(&self) -> Option<&RaftCore> {
        self.core.as_ref()
    }

    fn is_voter(&self, id: NodeId) -> bool {
        self.config.voters.contains(&id)
    }

    pub(crate) fn step(&mut self, now: Millis, input: Input, io: &mut Io<Wire>) {
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        core.step(now, input, &mut out)
            .expect("the harness never feeds a bad input");
        self.execute(out, io);
    }

    fn written_end(&self) -> Offset {
        self.disk
            .entries()
            .last()
            .map_or(Offset(0), |b| b.last_offset.plus(1))
    }

    /// The durable end of the log (exclusive).
    pub(crate) fn durable_end(&self) -> Offset {
        self.disk
            .durable()
            .last()
            .map_or(Offset(0), |b| b.last_offset.plus(1))
    }

    fn execute(&mut self, actions: Vec<Action>, io: &mut Io<Wire>) {
        for action in actions {
            match action {
                Action::PersistElection(e) => self.quorum_state = Some(e),
                Action::Append(batch) => {
                    assert_eq!(batch.base_offset, self.written_end(), "AppendsContiguous");
                    self.disk.write(batch);
                    io.sync();
                }
                Action::Truncate { to, generation } => {
                    let keep = self
                        .disk
                        .entries()
                        .iter()
                        .take_while(|b| b.last_offset < to)
                        .count();
                    self.disk.truncate(keep);
                    self.generation = generation;
                    io.sync();
                }
                Action::Send { to, msg } => self.send(to, msg, io),
                Action::SendAfterPersist { to, msg } => {
                    if self.disk.is_synced() {
                        self.send(to, msg, io);
                    } else {
                        let wire = self.wire(to, msg);
                        self.held.push((to, wire));
                        io.sync();
                    }
                }
                Action::Respond { id, msg } => self.respond(id, msg, io),
                Action::ReadLog {
                    reply,
                    mut response,
                    from,
                    max_bytes,
                } => {
                    let mut records = BytesMut::new();
                    for b in self.disk.entries().iter().filter(|b| b.base_offset >= from) {
                        if !records.is_empty() && records.len() + b.bytes.len() > max_bytes as usize
                        {
                            break;
                        }
                        records.extend_from_slice(&b.bytes);
                    }
                    response.records = records.freeze();
                    let msg = RaftMessage::FetchResponse(response);
                    match reply {
                        ReplyTo::Voter(to) => self.send(to, msg, io),
                        ReplyTo::Inbound(id) => self.respond(id, msg, io),
                    }
                }
                Action::Committed { high_watermark } => self.commits.push(high_watermark),
                Action::LeaderChanged { .. } => {}
            }
        }
    }

    fn wire(&mut self, to: NodeId, msg: RaftMessage) -> Wire {
        let fetch_id = match &msg {
            RaftMessage::FetchRequest(_) => {
                self.next_fetch_id += 1;
                self.latest_fetch.insert(to, self.next_fetch_id);
                self.next_fetch_id
            }
            RaftMessage::FetchResponse(_) => self.fetch_from.get(&to).copied().unwrap_or(0),
            _ => 0,
        };
        Wire { msg, fetch_id }
    }

    fn send(&mut self, to: NodeId, msg: RaftMessage, io: &mut Io<Wire>) {
        let wire = self.wire(to, msg);
        self.transmit(to, wire, io);
    }

    /// The moment a message leaves: the durability invariants are checked here.
    fn transmit(&mut self, to: NodeId, mut wire: Wire, io: &mut Io<Wire>) {
        wire.msg = through_kafka_bytes(&wire.msg, to);
        match &wire.msg {
            RaftMessage::VoteResponse(v)
                if v.vote_granted && self.pre_vote_from.get(&to) != Some(&true) =>
            {
                let durable = self.quorum_state.as_ref();
                if !durable.is_some_and(|e| e.epoch == v.leader_epoch && e.voted_id == Some(to)) {
                    self.violations.push(format!(
                        "VoteDurableBeforeGrant: vote for {to} in epoch {} sent, quorum-state {durable:?}",
                        v.leader_epoch
                    ));
                }
            }
            RaftMessage::FetchRequest(f)
                if self.is_voter(self.config.node_id) && f.fetch_offset > self.durable_end() =>
            {
                self.violations.push(format!(
                    "FollowerAckDurable: Fetch at {} sent with the log durable to {}",
                    f.fetch_offset,
                    self.durable_end()
                ));
            }
            _ => {}
        }
        io.send(to, wire);
    }

    fn respond(&mut self, id: InboundId, msg: RaftMessage, io: &mut Io<Wire>) {
        if let Some((to, fetch_id)) = self.inbound.remove(&id.0) {
            self.transmit(to, Wire { msg, fetch_id }, io);
        }
    }

    fn durable_state(&self) -> DurableState {
        let batches = self.disk.entries();
        DurableState {
            election: self.quorum_state.clone().unwrap_or_default(),
            log_end_offset: self.written_end(),
            epoch_starts: EpochStarts::new(batches.iter().map(|b| (b.epoch, b.base_offset))),
        }
    }
}

impl sim::Node for RaftNode {
    type Msg = Wire;

    fn deadline(&self) -> Millis {
        self.core.as_ref().map_or(Millis::MAX, RaftCore::deadline)
    }

    fn tick(&mut self, now: Millis, io: &mut Io<Wire>) {
        self.step(now, Input::Tick, io);
    }

    fn receive(&mut self, now: Millis, from: NodeId, wire: Wire, io: &mut Io<Wire>) {
        if let RaftMessage::VoteRequest(v) = &wire.msg {
            self.pre_vote_from.insert(from, v.pre_vote);
        }
        if let RaftMessage::FetchResponse(_) = wire.msg {
            if self.latest_fetch.get(&from) != Some(&wire.fetch_id) {
                return; // the answer to an older Fetch
            }
        }
        let input = if self.is_voter(from) {
            if let RaftMessage::FetchRequest(_) = wire.msg {
                self.fetch_from.insert(from, wire.fetch_id);
            }
            Input::Received {
                from,
                msg: wire.msg,
            }
        } else {
            self.next_inbound += 1;
            self.inbound
                .insert(self.next_inbound, (from, wire.fetch_id));
            Input::Request {
                id: InboundId(self.next_inbound),
                msg: wire.msg,
            }
        };
        self.step(now, input, io);
    }

    fn synced(&mut self, now: Millis, io: &mut Io<Wire>) {
        self.disk.sync();
        for (to, wire) in std::mem::take(&mut self.held) {
            self.transmit(to, wire, io);
        }
        let end = self.durable_end();
        let generation = self.generation;
        self.step(now, Input::Persisted { end, generation }, io);
    }

    fn crash(&mut self, rng: &mut Rng) {
        self.disk.crash(rng);
        self.core = None;
        self.held.clear();
        self.inbound.clear();
        self.latest_fetch.clear();
        self.fetch_from.clear();
        self.commits.clear();
        self.generation = 0;
    }

    fn restart(&mut self, now: Millis, seed: u64, io: &mut Io<Wire>) {
        // Recovery fsyncs what it found before the core may count it as durable.
        self.disk.sync();
        self.core = Some(RaftCore::new(
            self.config.clone(),
            self.durable_state(),
            seed,
        ));
        self.step(now, Input::Tick, io);
    }
}

/// `msg` encoded as the body Kafka sends and decoded again; it must come back unchanged.
fn through_kafka_bytes(msg: &RaftMessage, to: NodeId) -> RaftMessage {
    let (api, response) = wire::api_of(msg);
    let version = match api {
        ApiKey::Vote => wire::PRE_VOTE_MIN_VERSION,
        _ => {
            let (_, v) = wire::KAFKA_3_9_VERSIONS
                .iter()
                .find(|(a, _)| *a == api)
                .expect("a Raft API");
            *v
        }
    };
    let bytes = wire::encode(msg, CLUSTER_ID, to, version).expect("encodes");
    let back = wire::decode(api, response, version, bytes, CLUSTER_ID).expect("decodes");
    assert_eq!(&back, msg, "WireRoundTrip");
    back
}
