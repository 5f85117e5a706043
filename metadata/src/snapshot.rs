//! Image → records, for snapshots (KIP-630) and for the bootstrap of a new log: the records
//! that, replayed into an empty image, give back the same image.
//!
//! The order is Kafka's `MetadataImage.write`: features (`metadata.version` first), the
//! migration state, cluster, topics (each TopicRecord followed by its PartitionRecords),
//! configs, client quotas, producer ids, ACLs, SCRAM, delegation tokens. Each record is
//! written at the lowest version that carries what the image holds (see
//! [`crate::PartitionRegistration::to_record`]), so an image built from v0 records (the ZK
//! migration's) snapshots to v0 records too.
//!
//! The records travel in RecordBatch v2 data batches ([`encode_snapshot_batches`]) between
//! the snapshot file's header and footer control batches, which `storage::metadata_snapshot`
//! writes and checks; [`MetadataImage::from_snapshot_batches`] turns them back into an image.
//! [`schedule`] decides when to take a snapshot.

pub mod schedule;

use protocol::records::{Batch, BATCH_HEADER_LEN};

use crate::batch::{decode_batch, encode_batch, DecodedBatch, BATCH_BYTES_MAX, BATCH_RECORDS_MAX};
use crate::delta::MetadataDelta;
use crate::error::{ReplayError, Result, SnapshotError};
use crate::image::{MetadataImage, Provenance};
use crate::record::MetadataRecord;

/// The most a record adds to its frame inside a batch: length (≤ 5), attributes (1),
/// timestamp delta (1: every record shares the batch time), offset delta (≤ 3 below 10,000),
/// null key (1), value length (≤ 4 below 8 MiB) and header count (1), rounded up.
const RECORD_OVERHEAD_MAX: usize = 20;

/// Encodes a snapshot's `records` as data batches with consecutive offsets from
/// `first_offset` (the offset after the header batch), all stamped with the snapshot's
/// `epoch` and `append_time_ms`. Kafka's snapshot writer fills batches up to its 8 MiB
/// batch limit; ours also stop at the controller's 10,000 records per batch
/// ([`BATCH_RECORDS_MAX`]), so every batch is one [`encode_batch`] accepts and any reader of
/// the log can read. No records, no batches.
pub fn encode_snapshot_batches(
    records: &[MetadataRecord],
    first_offset: i64,
    epoch: i32,
    append_time_ms: i64,
) -> Result<Vec<Batch>> {
    let budget = BATCH_BYTES_MAX - BATCH_HEADER_LEN;
    let mut batches = Vec::new();
    let mut offset = first_offset;
    let mut start = 0;
    while start < records.len() {
        let mut end = start;
        let mut bytes = 0usize;
        while end < records.len() && end - start < BATCH_RECORDS_MAX {
            let size = records[end].encoded_size() + RECORD_OVERHEAD_MAX;
            // A record too large for any batch goes alone, and encode_batch names the error.
            if end > start && bytes + size > budget {
                break;
            }
            bytes += size;
            end += 1;
        }
        let batch = encode_batch(offset, epoch, append_time_ms, &records[start..end])?;
        offset = batch.header.next_offset();
        batches.push(batch);
        start = end;
    }
    Ok(batches)
}

impl MetadataImage {
    /// The records that rebuild this image from empty. The provenance is not a record; a
    /// snapshot carries it in its file name (`docs/formats.md` §13).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        self.features.write(&mut out);
        out.extend(self.zk_migration_state.to_record());
        self.cluster.write(&mut out);
        self.topics.write(&mut out);
        self.configs.write(&mut out);
        self.client_quotas.write(&mut out);
        self.producer_ids.write(&mut out);
        self.acls.write(&mut out);
        self.scram.write(&mut out);
        self.delegation_tokens.write(&mut out);
        out
    }

    /// Replays `records` into an empty image, stopping at the first record that does not
    /// apply (its index and error). Snapshot loading uses this: a snapshot that does not
    /// replay cleanly is corrupt.
    pub fn from_records(
        records: &[MetadataRecord],
        provenance: Provenance,
    ) -> Result<MetadataImage, (usize, ReplayError)> {
        let mut delta = MetadataDelta::new(&MetadataImage::empty());
        for (i, record) in records.iter().enumerate() {
            delta.replay(record).map_err(|e| (i, e))?;
        }
        delta.set_provenance(provenance);
        Ok(delta.apply())
    }

    /// Replays a snapshot's data batches into an empty image standing at `provenance` (the
    /// snapshot id's offset − 1 and epoch, and the header's timestamp). Any batch that does
    /// not decode, or record that does not apply, refuses the whole snapshot, naming the
    /// offset: a snapshot is the state at one offset, so a partial replay is no state at all.
    pub fn from_snapshot_batches<'a>(
        batches: impl IntoIterator<Item = &'a Batch>,
        provenance: Provenance,
    ) -> Result<MetadataImage, SnapshotError> {
        let mut delta = MetadataDelta::new(&MetadataImage::empty());
        for batch in batches {
            let data = match decode_batch(batch)? {
                DecodedBatch::Data(data) => data,
                DecodedBatch::Control { base_offset, .. } => {
                    return Err(SnapshotError::ControlBatch { base_offset });
                }
            };
            if let Some(failure) = delta.replay_batch(&data).into_iter().next() {
                return Err(SnapshotError::Replay {
                    offset: failure.offset,
                    record: failure.record,
                    error: failure.error,
                });
            }
        }
        delta.set_provenance(provenance);
        Ok(delta.apply())
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::{MetadataRecordBody, NoOpRecord, PartitionRecord};
    use protocol::records::{BatchBuilder, Compression, ControlRecordType};

    use super::*;

    #[test]
    fn empty_image_has_no_records() {
        assert!(MetadataImage::empty().to_records().is_empty());
        assert_eq!(
            MetadataImage::from_records(&[], Provenance::EMPTY),
            Ok(MetadataImage::empty())
        );
    }

    #[test]
    fn snapshot_batches_are_capped_and_consecutive() {
        let noop = MetadataRecord::new(0, MetadataRecordBody::NoOp(NoOpRecord {}));
        let records = vec![noop; 2 * BATCH_RECORDS_MAX + 5];
        let batches = encode_snapshot_batches(&records, 1, 4, 77).unwrap();
        let counts: Vec<_> = batches.iter().map(|b| b.header.records_count).collect();
        assert_eq!(counts, [10_000, 10_000, 5]);
        let bases: Vec<_> = batches.iter().map(|b| b.header.base_offset).collect();
        assert_eq!(bases, [1, 10_001, 20_001]);
        assert!(batches
            .iter()
            .all(|b| b.header.partition_leader_epoch == 4 && b.header.max_timestamp == 77));
        assert!(encode_snapshot_batches(&[], 1, 4, 77).unwrap().is_empty());
        let image = MetadataImage::from_snapshot_batches(&batches, Provenance::EMPTY).unwrap();
        assert!(image.is_empty());
    }

    #[test]
    fn a_snapshot_that_does_not_replay_is_refused() {
        let orphan = MetadataRecord::new(
            0,
            MetadataRecordBody::Partition(PartitionRecord {
                topic_id: protocol::Uuid([9; 16]),
                ..Default::default()
            }),
        );
        let batches = encode_snapshot_batches(&[orphan], 1, 0, 0).unwrap();
        let err = MetadataImage::from_snapshot_batches(&batches, Provenance::EMPTY).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Replay { offset: 1, .. }),
            "{err}"
        );

        let mut control = BatchBuilder::new(Compression::None)
            .base_offset(3)
            .control();
        control
            .append(
                0,
                Some(&ControlRecordType::SnapshotFooter.key()),
                Some(&[0, 0, 0]),
                &[],
            )
            .unwrap();
        let control = control.build().unwrap();
        assert_eq!(
            MetadataImage::from_snapshot_batches([&control], Provenance::EMPTY),
            Err(SnapshotError::ControlBatch { base_offset: 3 })
        );
    }
}
