//! Metadata records in RecordBatch v2 batches (`docs/formats.md` §11.1–§11.2).
//!
//! The Raft layer appends what [`encode_batch`] builds to `__cluster_metadata-0` without
//! re-encoding it; readers (the metadata loader, a follower, snapshot loading) turn a batch
//! back into records with [`decode_batch`]. Records have no key; the value is one framed
//! record ([`MetadataRecord`]). The partition leader epoch is the Raft epoch. Control batches
//! (LEADER_CHANGE, snapshot header/footer, KRaft version/voters) belong to the Raft layer:
//! [`decode_batch`] reports them as [`DecodedBatch::Control`] without looking inside.

use bytes::BytesMut;
use protocol::records::{Batch, BatchBuilder, Compression};

use crate::error::{Error, Result};
use crate::record::MetadataRecord;

/// Kafka caps controller batches at 10,000 records (`QuorumController.MAX_RECORDS_PER_BATCH`).
pub const BATCH_RECORDS_MAX: usize = 10_000;
/// Raft batches are at most 8 MiB (`KafkaRaftClient.MAX_BATCH_SIZE_BYTES`), also the fetch
/// size, so a larger batch could never be replicated.
pub const BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;

/// A data batch of the metadata log, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataBatch {
    pub base_offset: i64,
    /// Offset of the last record (`baseOffset + lastOffsetDelta`).
    pub last_offset: i64,
    /// The Raft epoch the batch was written in (`partitionLeaderEpoch`).
    pub epoch: i32,
    /// The leader's append time (`maxTimestamp`), Kafka's `lastContainedLogTimeMs`.
    pub append_time_ms: i64,
    /// The records in offset order; record `i` has offset `base_offset + i`.
    pub records: Vec<MetadataRecord>,
}

/// What a batch of the metadata log holds.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedBatch {
    /// Metadata records, for [`crate::MetadataDelta::replay_batch`].
    Data(MetadataBatch),
    /// A control batch, for the Raft layer; it still occupies offsets
    /// `base_offset..=last_offset`.
    Control {
        base_offset: i64,
        last_offset: i64,
        epoch: i32,
    },
}

/// Encodes `records` as one uncompressed batch at `base_offset`, stamped with the Raft
/// `epoch`; every record gets `append_time_ms` as its timestamp, as Kafka's Raft client does.
///
/// Fails on an empty list, more than [`BATCH_RECORDS_MAX`] records, a record version the
/// schema does not define, or a batch over [`BATCH_BYTES_MAX`].
pub fn encode_batch(
    base_offset: i64,
    epoch: i32,
    append_time_ms: i64,
    records: &[MetadataRecord],
) -> Result<Batch> {
    if records.is_empty() {
        return Err(Error::EmptyBatch);
    }
    if records.len() > BATCH_RECORDS_MAX {
        return Err(Error::TooManyRecords {
            count: records.len(),
            max: BATCH_RECORDS_MAX,
        });
    }
    let mut frames_bytes = 0usize;
    for record in records {
        record.check_version()?;
        frames_bytes = frames_bytes.saturating_add(record.encoded_size());
    }
    // Each record adds at most ~20 bytes of length, deltas and key/header markers.
    if frames_bytes > BATCH_BYTES_MAX {
        return Err(Error::BatchTooLarge {
            size: frames_bytes,
            max: BATCH_BYTES_MAX,
        });
    }
    let mut builder =
        BatchBuilder::with_capacity(Compression::None, frames_bytes + 16 * records.len())
            .base_offset(base_offset)
            .partition_leader_epoch(epoch);
    let mut frame = BytesMut::new();
    for record in records {
        frame.clear();
        record.encode(&mut frame);
        builder.append(append_time_ms, None, Some(&frame), &[])?;
    }
    let batch = builder.build()?;
    if batch.size_in_bytes() > BATCH_BYTES_MAX {
        return Err(Error::BatchTooLarge {
            size: batch.size_in_bytes(),
            max: BATCH_BYTES_MAX,
        });
    }
    Ok(batch)
}

/// Decodes one batch of the metadata log: checks its CRC, then decodes every record of a
/// data batch. Any undecodable record fails the whole batch, naming its offset: replaying
/// part of an atomic batch would leave the image in a state no controller wrote.
pub fn decode_batch(batch: &Batch) -> Result<DecodedBatch> {
    batch.verify_crc()?;
    let h = &batch.header;
    if h.is_control() {
        return Ok(DecodedBatch::Control {
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            epoch: h.partition_leader_epoch,
        });
    }
    // The iterator checks the record count against the bytes before yielding anything, so
    // this capacity is bounded by the batch size.
    let mut records = Vec::new();
    for record in batch.records() {
        let record = record?;
        let offset = record.offset();
        let Some(value) = record.value_bytes() else {
            return Err(Error::MissingValue {
                base_offset: h.base_offset,
                offset,
            });
        };
        let decoded = MetadataRecord::decode(value).map_err(|e| Error::Record {
            base_offset: h.base_offset,
            offset,
            source: Box::new(e),
        })?;
        records.push(decoded);
    }
    Ok(DecodedBatch::Data(MetadataBatch {
        base_offset: h.base_offset,
        last_offset: h.last_offset(),
        epoch: h.partition_leader_epoch,
        append_time_ms: h.max_timestamp,
        records,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::messages::{FeatureLevelRecord, MetadataRecordBody, NoOpRecord};
    use protocol::records::{BatchBuilder, ControlRecordType};

    fn records() -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::new(
                0,
                MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
                    name: "metadata.version".into(),
                    feature_level: 21,
                }),
            ),
            MetadataRecord::new(0, MetadataRecordBody::NoOp(NoOpRecord {})),
        ]
    }

    #[test]
    fn batches_round_trip_with_offsets_epoch_and_time() {
        let batch = encode_batch(100, 7, 1_700_000_000_000, &records()).unwrap();
        assert_eq!(batch.header.base_offset, 100);
        assert_eq!(batch.header.last_offset(), 101);
        assert_eq!(batch.header.partition_leader_epoch, 7);
        assert!(!batch.header.is_control());
        for r in batch.records() {
            assert_eq!(r.unwrap().key(), None);
        }
        let decoded = decode_batch(&batch).unwrap();
        assert_eq!(
            decoded,
            DecodedBatch::Data(MetadataBatch {
                base_offset: 100,
                last_offset: 101,
                epoch: 7,
                append_time_ms: 1_700_000_000_000,
                records: records(),
            })
        );
    }

    #[test]
    fn control_batches_are_left_to_raft() {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(5)
            .partition_leader_epoch(2)
            .control();
        b.append(
            0,
            Some(&ControlRecordType::LeaderChange.key()),
            Some(&[0, 0]),
            &[],
        )
        .unwrap();
        let batch = b.build().unwrap();
        assert_eq!(
            decode_batch(&batch),
            Ok(DecodedBatch::Control {
                base_offset: 5,
                last_offset: 5,
                epoch: 2
            })
        );
    }

    #[test]
    fn bad_batches_are_errors() {
        assert_eq!(encode_batch(0, 0, 0, &[]), Err(Error::EmptyBatch));
        let mut bad = records();
        bad[1].version = 3;
        assert!(matches!(
            encode_batch(0, 0, 0, &bad),
            Err(Error::UnsupportedVersion { .. })
        ));

        let batch = encode_batch(0, 1, 0, &records()).unwrap();
        let mut corrupt = batch.bytes.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let corrupt = Batch::from_bytes(corrupt.into()).unwrap();
        assert!(matches!(decode_batch(&corrupt), Err(Error::Batch(_))));

        // A record whose value is not a frame fails the batch and names the offset.
        let mut b = BatchBuilder::new(Compression::None).base_offset(9);
        b.append(0, None, Some(&[0x01, 0x02]), &[]).unwrap();
        let err = decode_batch(&b.build().unwrap()).unwrap_err();
        assert!(matches!(err, Error::Record { offset: 9, .. }), "{err}");
        let mut b = BatchBuilder::new(Compression::None).base_offset(3);
        b.append(0, None, None, &[]).unwrap();
        assert_eq!(
            decode_batch(&b.build().unwrap()),
            Err(Error::MissingValue {
                base_offset: 3,
                offset: 3
            })
        );
    }
}
