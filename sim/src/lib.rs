//! A deterministic simulator for sans-I/O cores (TigerBeetle's VOPR, FoundationDB's
//! simulation): one thread, one seeded RNG, a simulated clock, a network that loses,
//! duplicates, delays, reorders and partitions messages, disks whose crash loses unsynced
//! writes (and may keep a random part of them, the torn tail being what recovery drops), and
//! nodes that crash and restart.
//!
//! It knows nothing of Raft or controllers: a harness implements [`Node`] for the core it
//! tests (in that crate's `tests/`), drives a [`World`] and checks its invariants after every
//! [`World::step`]. The same seed replays the same run.

mod disk;
mod net;
mod rng;
mod world;

pub use disk::Disk;
pub use net::NetConfig;
pub use protocol::{Millis, NodeId};
pub use rng::Rng;
pub use world::{Event, Io, Node, World};
