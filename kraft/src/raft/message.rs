//! The Raft RPCs between controllers and observers (KIP-595 Vote, BeginQuorumEpoch,
//! EndQuorumEpoch, Fetch; KIP-630 FetchSnapshot), as the generated wire structs.
//!
//! Honest status: the single-voter core ([`super::RaftCore`]) neither sends nor handles any
//! of these yet; it ignores every `Input::Received`. The multi-voter work (elections,
//! replication to followers, observers fetching) gives them meaning. The enum exists now so
//! the io layer can already route decoded frames to the core with their final type.

use protocol::messages::{
    BeginQuorumEpochRequest, BeginQuorumEpochResponse, EndQuorumEpochRequest,
    EndQuorumEpochResponse, FetchRequest, FetchResponse, FetchSnapshotRequest,
    FetchSnapshotResponse, VoteRequest, VoteResponse,
};

/// A Raft RPC body exchanged with another node.
#[derive(Debug, Clone, PartialEq)]
pub enum RaftMessage {
    VoteRequest(VoteRequest),
    VoteResponse(VoteResponse),
    BeginQuorumEpochRequest(BeginQuorumEpochRequest),
    BeginQuorumEpochResponse(BeginQuorumEpochResponse),
    EndQuorumEpochRequest(EndQuorumEpochRequest),
    EndQuorumEpochResponse(EndQuorumEpochResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
    FetchSnapshotRequest(FetchSnapshotRequest),
    FetchSnapshotResponse(FetchSnapshotResponse),
}
