//! Raft's control batches in `__cluster_metadata` (`docs/formats.md` §7.5, §11.3): the
//! LEADER_CHANGE batch a new leader writes at the start of its epoch.
//!
//! A control batch is not transactional, has producer id/epoch/sequence −1 and
//! `partitionLeaderEpoch` = the Raft epoch; its one record has key `int16 0, int16 type` and
//! the `LeaderChangeMessage` as value, version 0 (which 3.9 still writes), with no version
//! prefix (the `Version` field is inside the message).

use bytes::BytesMut;
use protocol::messages::leader_change_message::Voter;
use protocol::messages::{LeaderChangeMessage, Message};
use protocol::records::{Batch, BatchBuilder, Compression, ControlRecordType, RecordsError};

use super::{Epoch, Millis, NodeId, Offset};

/// The version of LeaderChangeMessage Kafka 3.9 writes.
pub const LEADER_CHANGE_VERSION: i16 = 0;

/// The LEADER_CHANGE control batch for `leader` becoming leader of `epoch` at `offset`,
/// elected by `granting` out of `voters` (Kafka `LeaderState.appendLeaderChangeMessage`).
pub fn leader_change_batch(
    offset: Offset,
    epoch: Epoch,
    now: Millis,
    leader: NodeId,
    voters: impl IntoIterator<Item = NodeId>,
    granting: impl IntoIterator<Item = NodeId>,
) -> Result<Batch, RecordsError> {
    let voter = |voter_id: NodeId| Voter {
        voter_id: voter_id.0,
        ..Default::default()
    };
    let message = LeaderChangeMessage {
        version: LEADER_CHANGE_VERSION,
        leader_id: leader.0,
        voters: voters.into_iter().map(voter).collect(),
        granting_voters: granting.into_iter().map(voter).collect(),
    };
    let mut value = BytesMut::with_capacity(message.encoded_size(LEADER_CHANGE_VERSION));
    message.encode(&mut value, LEADER_CHANGE_VERSION);
    let mut builder = BatchBuilder::new(Compression::None)
        .base_offset(offset.0)
        .partition_leader_epoch(epoch.0)
        .control();
    builder.append(
        now.0,
        Some(&ControlRecordType::LeaderChange.key()),
        Some(&value),
        &[],
    )?;
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_change_matches_the_spec_bytes() {
        let me = NodeId(1);
        let batch =
            leader_change_batch(Offset(7), Epoch(3), Millis(1_000), me, [me], [me]).unwrap();
        let h = &batch.header;
        assert!(h.is_control() && !h.is_transactional());
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.records_count),
            (7, 3, 1)
        );
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (-1, -1, -1)
        );
        batch.verify_crc().unwrap();
        let record = batch.records().next().unwrap().unwrap();
        assert_eq!(record.key(), Some(&[0u8, 0, 0, 2][..]));
        // `docs/formats.md` §7.5: LeaderChange v0 leader 1, voters [1], granting [1].
        let expected: &[u8] = &[0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0, 2, 0, 0, 0, 1, 0, 0];
        assert_eq!(record.value(), Some(expected));
    }
}
