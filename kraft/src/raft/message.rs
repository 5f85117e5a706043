//! The Raft RPCs between controllers and observers (KIP-595 Vote, BeginQuorumEpoch,
//! EndQuorumEpoch, Fetch), in the shape the core reasons about: one partition
//! (`__cluster_metadata-0`), typed ids, `Option` instead of -1.
//!
//! [`super::wire`] converts between these and the generated wire structs of `protocol`
//! (which nest every field under topics and partitions, and carry the cluster id that is
//! checked before a message reaches the core). Records travel as the raw bytes of whole
//! RecordBatch v2 batches, exactly as the leader's log holds them.

use bytes::Bytes;
use protocol::{Epoch, ErrorCode, NodeId, Offset};

/// A Raft RPC exchanged with another node.
#[derive(Debug, Clone, PartialEq)]
pub enum RaftMessage {
    VoteRequest(VoteRequest),
    VoteResponse(VoteResponse),
    BeginQuorumEpochRequest(BeginQuorumEpochRequest),
    BeginQuorumEpochResponse(EpochResponse),
    EndQuorumEpochRequest(EndQuorumEpochRequest),
    EndQuorumEpochResponse(EpochResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
}

/// A candidate asks for a vote in `candidate_epoch` (KIP-595 Vote), or a prospective
/// candidate asks whether it could win one (KIP-996 PreVote, Vote v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRequest {
    /// A candidate's new epoch; a pre-vote's is the sender's current epoch (not bumped).
    pub candidate_epoch: Epoch,
    pub candidate_id: NodeId,
    /// The epoch of the candidate's last batch.
    pub last_epoch: Epoch,
    /// The candidate's log end offset (exclusive), Kafka's `LastOffset`.
    pub last_offset: Offset,
    /// KIP-996: a grant binds nobody and nothing is persisted; only Vote v2 carries it.
    pub pre_vote: bool,
}

/// The answer to a [`VoteRequest`], with what the voter knows of the current epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteResponse {
    pub error: ErrorCode,
    pub leader_epoch: Epoch,
    pub leader_id: Option<NodeId>,
    pub vote_granted: bool,
}

/// A new leader announces itself to the voters (KIP-595 BeginQuorumEpoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginQuorumEpochRequest {
    pub leader_id: NodeId,
    pub leader_epoch: Epoch,
}

/// A leader gives up its epoch (KIP-595 EndQuorumEpoch): resignation or shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndQuorumEpochRequest {
    pub leader_id: NodeId,
    pub leader_epoch: Epoch,
    /// The voters best placed to win the next election, most caught up first; they time out
    /// sooner than the others.
    pub preferred_successors: Vec<NodeId>,
}

/// The answer to BeginQuorumEpoch or EndQuorumEpoch: an error and the sender's epoch view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochResponse {
    pub error: ErrorCode,
    pub leader_epoch: Epoch,
    pub leader_id: Option<NodeId>,
}

/// A follower or observer pulls the log from `fetch_offset` (KIP-595 Fetch). A voter's
/// fetch offset is also its acknowledgement: everything below it is durable on that voter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub replica_id: NodeId,
    /// The epoch the fetcher believes current (`CurrentLeaderEpoch`).
    pub current_leader_epoch: Epoch,
    pub fetch_offset: Offset,
    /// The epoch of the batch just below `fetch_offset` (`LastFetchedEpoch`).
    pub last_fetched_epoch: Epoch,
    pub max_bytes: u32,
}

/// Where the fetcher's log diverges from the leader's: the end of the largest epoch the
/// leader has at or below the fetcher's `LastFetchedEpoch` (`DivergingEpoch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    pub epoch: Epoch,
    pub end_offset: Offset,
}

/// The answer to a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    pub error: ErrorCode,
    pub leader_epoch: Epoch,
    pub leader_id: Option<NodeId>,
    /// The leader's high watermark, `None` while it has not committed in its epoch.
    pub high_watermark: Option<Offset>,
    /// Set when the fetcher must truncate before fetching again.
    pub diverging_epoch: Option<EpochEnd>,
    /// Whole batches from the fetch offset on (filled in by the io layer, see
    /// `Action::ReadLog`).
    pub records: Bytes,
}
