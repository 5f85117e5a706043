//! The scheduler: a queue of timed events over a set of [`Node`]s, the simulated clock, and
//! the faults a harness injects between steps (crash, restart, partition, heal).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use crate::{Millis, NetConfig, NodeId, Rng};

/// Longest simulated fsync, in ms.
const SYNC_DELAY_MAX_MS: i64 = 4;

/// A simulated process: a sans-I/O core plus the harness glue that executes its actions
/// against the simulated disk and network ([`Io`]).
pub trait Node {
    type Msg: Clone + Debug;
    /// When the node next wants [`Node::tick`]; `Millis::MAX` for never.
    fn deadline(&self) -> Millis;
    fn tick(&mut self, now: Millis, io: &mut Io<Self::Msg>);
    fn receive(&mut self, now: Millis, from: NodeId, msg: Self::Msg, io: &mut Io<Self::Msg>);
    /// The fsync requested with [`Io::sync`] completed: sync the disk and go on.
    fn synced(&mut self, now: Millis, io: &mut Io<Self::Msg>);
    /// Power loss: drop all volatile state; the disk keeps what [`crate::Disk::crash`] keeps.
    fn crash(&mut self, rng: &mut Rng);
    /// Start again from the disk, with a fresh seed for the core's own randomness.
    fn restart(&mut self, now: Millis, seed: u64, io: &mut Io<Self::Msg>);
}

/// What a node asks of the world during one callback.
#[derive(Debug)]
pub struct Io<M> {
    sends: Vec<(NodeId, M)>,
    sync: bool,
}

impl<M> Io<M> {
    fn new() -> Io<M> {
        Io {
            sends: Vec::new(),
            sync: false,
        }
    }

    pub fn send(&mut self, to: NodeId, msg: M) {
        self.sends.push((to, msg));
    }

    /// Start an fsync; [`Node::synced`] follows after a disk delay.
    pub fn sync(&mut self) {
        self.sync = true;
    }
}

/// What one [`World::step`] did, for the harness's invariant messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<M> {
    Deliver { from: NodeId, to: NodeId, msg: M },
    Tick(NodeId),
    Synced(NodeId),
}

#[derive(Debug)]
struct Slot<N> {
    node: N,
    up: bool,
    /// Bumped by each crash, so a sync started before it completes nothing.
    incarnation: u64,
    sync_pending: bool,
}

#[derive(Debug)]
enum Queued<M> {
    Deliver { from: NodeId, to: NodeId, msg: M },
    Synced { node: NodeId, incarnation: u64 },
}

/// The simulated cluster.
#[derive(Debug)]
pub struct World<N: Node> {
    now: Millis,
    rng: Rng,
    pub net: NetConfig,
    nodes: BTreeMap<NodeId, Slot<N>>,
    /// By time, then insertion order (events of one millisecond run as queued).
    queue: BTreeMap<(Millis, u64), Queued<N::Msg>>,
    seq: u64,
    /// Directed links that drop everything.
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl<N: Node> World<N> {
    pub fn new(seed: u64, net: NetConfig) -> World<N> {
        World {
            now: Millis(0),
            rng: Rng::new(seed),
            net,
            nodes: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, id: NodeId, node: N) {
        let slot = Slot {
            node,
            up: true,
            incarnation: 0,
            sync_pending: false,
        };
        self.nodes.insert(id, slot);
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// Moves the clock to `t` (no event was due before it).
    pub fn advance_to(&mut self, t: Millis) {
        self.now = self.now.max(t);
    }

    /// The world's RNG, for the harness's own choices (which fault, when).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[&id].node
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &N, bool)> {
        self.nodes.iter().map(|(id, s)| (*id, &s.node, s.up))
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[&id].up
    }

    /// Runs `f` on a running node (a client call, say) and executes what it asked.
    pub fn with_node<R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&mut N, Millis, &mut Io<N::Msg>) -> R,
    ) -> Option<R> {
        let now = self.now;
        let slot = self.nodes.get_mut(&id)?;
        if !slot.up {
            return None;
        }
        let mut io = Io::new();
        let r = f(&mut slot.node, now, &mut io);
        self.execute(id, io);
        Some(r)
    }

    /// Power loss on `id`; it stays down until [`World::restart`].
    pub fn crash(&mut self, id: NodeId) {
        let slot = self.nodes.get_mut(&id).expect("known node");
        if slot.up {
            slot.up = false;
            slot.incarnation += 1;
            slot.sync_pending = false;
            slot.node.crash(&mut self.rng);
        }
    }

    pub fn restart(&mut self, id: NodeId) {
        let seed = self.rng.next_u64();
        let now = self.now;
        let slot = self.nodes.get_mut(&id).expect("known node");
        if slot.up {
            return;
        }
        slot.up = true;
        let mut io = Io::new();
        slot.node.restart(now, seed, &mut io);
        self.execute(id, io);
    }

    /// Cuts every link between nodes of different `groups` (both directions).
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a {
                    for &y in b {
                        self.cut.insert((x, y));
                        self.cut.insert((y, x));
                    }
                }
            }
        }
    }

    /// Cuts the link `from` → `to` only.
    pub fn cut_link(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs the next event (a delivery, a completed fsync, or the earliest node timer), and
    /// advances the clock to it. `None` when nothing is left to do before `until`.
    pub fn step(&mut self, until: Millis) -> Option<Event<N::Msg>> {
        let timer = self
            .nodes
            .iter()
            .filter(|(_, s)| s.up)
            .map(|(id, s)| (s.node.deadline().max(self.now), *id))
            .min();
        let queued = self.queue.keys().next().copied();
        let run_timer = match (timer, queued) {
            (Some((t, _)), Some((q, _))) => t <= q,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if run_timer {
            let (at, id) = timer.expect("checked");
            if at > until {
                return None;
            }
            self.now = at;
            let slot = self.nodes.get_mut(&id).expect("known");
            let mut io = Io::new();
            slot.node.tick(at, &mut io);
            self.execute(id, io);
            return Some(Event::Tick(id));
        }
        let (at, seq) = queued?;
        if at > until {
            return None;
        }
        let queued = self.queue.remove(&(at, seq)).expect("present");
        self.now = at;
        match queued {
            Queued::Deliver { from, to, msg } => {
                let slot = self.nodes.get_mut(&to).expect("known");
                if slot.up {
                    let mut io = Io::new();
                    slot.node.receive(at, from, msg.clone(), &mut io);
                    self.execute(to, io);
                }
                Some(Event::Deliver { from, to, msg })
            }
            Queued::Synced { node, incarnation } => {
                let slot = self.nodes.get_mut(&node).expect("known");
                if slot.up && slot.incarnation == incarnation {
                    slot.sync_pending = false;
                    let mut io = Io::new();
                    slot.node.synced(at, &mut io);
                    self.execute(node, io);
                }
                Some(Event::Synced(node))
            }
        }
    }

    fn push(&mut self, at: Millis, event: Queued<N::Msg>) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn execute(&mut self, from: NodeId, io: Io<N::Msg>) {
        for (to, msg) in io.sends {
            if self.cut.contains(&(from, to)) || self.rng.chance(self.net.loss_percent) {
                continue;
            }
            let copies = if self.rng.chance(self.net.duplicate_percent) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self
                    .rng
                    .between(self.net.delay_min_ms, self.net.delay_max_ms);
                let at = self.now.plus(delay);
                self.push(
                    at,
                    Queued::Deliver {
                        from,
                        to,
                        msg: msg.clone(),
                    },
                );
            }
        }
        let slot = self.nodes.get_mut(&from).expect("known");
        if io.sync && !slot.sync_pending {
            slot.sync_pending = true;
            let incarnation = slot.incarnation;
            let at = self.now.plus(self.rng.between(0, SYNC_DELAY_MAX_MS));
            self.push(
                at,
                Queued::Synced {
                    node: from,
                    incarnation,
                },
            );
        }
    }
}
