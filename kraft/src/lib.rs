//! KRaft: the Raft core of the `__cluster_metadata` quorum ([`raft`], KIP-595) and the quorum
//! controller core ([`controller`], KIP-631).
//!
//! Both are sans-I/O state machines (`docs/architecture.md` §3): they take the time and
//! inputs from the io layer and return actions or records; they never touch sockets, files,
//! clocks or a global RNG. `kraft` knows nothing of ZooKeeper; the migration reaches it only
//! as records (ZkMigrationStateRecord and the copied metadata).

pub mod controller;
pub mod raft;

pub use controller::{ControllerConfig, ControllerResult, QuorumController, TopicDefaults};
pub use raft::{Action, Input, RaftConfig, RaftCore, RaftError};
