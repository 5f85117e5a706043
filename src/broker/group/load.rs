//! Replaying `__consumer_offsets` into the coordinator core at start-up (Kafka
//! `GroupMetadataManager.doLoadGroupsAndOffsets`): batches as read from the log go in, the
//! core's groups and offsets come out. Transactional offset commits count only once their
//! COMMIT marker is read. A corrupt batch (bad CRC, unreadable records) or an undecodable
//! record is skipped with a warning naming the partition and offset, and loading goes on.
//! The I/O side (`group.rs`) and `kraftbridge perf group --load-bench` drive it.

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::records::{self, Batch, ControlRecordType};

use super::coordinator::{GroupCoordinator, Millis};
use super::offsets::{self, OffsetsRecord};

/// What a load did, for the log line and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadStats {
    /// Records replayed (offset commits, group metadata, tombstones).
    pub(crate) records: u64,
    pub(crate) skipped_batches: u64,
    pub(crate) skipped_records: u64,
}

/// The replay state of one partition.
#[derive(Debug)]
pub(crate) struct PartitionLoader {
    /// `__consumer_offsets-N`, for warnings.
    partition: String,
    /// Offset commits of open transactions, by producer id.
    pending: BTreeMap<i64, Vec<OffsetsRecord>>,
    pub(crate) stats: LoadStats,
}

/// Why a read could not be replayed past `offset`.
#[derive(Debug)]
pub(crate) struct FramingError {
    partition: String,
    offset: i64,
    error: records::RecordsError,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unframeable batch in {} at offset {}: {}",
            self.partition, self.offset, self.error
        )
    }
}

impl std::error::Error for FramingError {}

impl PartitionLoader {
    pub(crate) fn new(partition: String) -> Self {
        Self {
            partition,
            pending: BTreeMap::new(),
            stats: LoadStats::default(),
        }
    }

    /// Replays the batches of `bytes` (read from offset `from`) into `core`; returns the
    /// offset to read next. A read whose bytes cannot be split into batches at all is an
    /// error (there is no next batch to resume at); a partial last batch just ends the read.
    pub(crate) fn replay(
        &mut self,
        core: &mut GroupCoordinator,
        now: Millis,
        bytes: &Bytes,
        from: i64,
    ) -> Result<i64, FramingError> {
        let mut next = from;
        for batch in records::batches(bytes) {
            let batch = match batch {
                Ok(b) => b,
                // A read may end inside a batch; the next read starts at it.
                Err(records::RecordsError::Truncated { .. }) if next > from => break,
                Err(error) => {
                    if next > from {
                        tracing::warn!(
                            partition = %self.partition,
                            offset = next,
                            "unframeable batch in the middle of a read: {error}"
                        );
                        break;
                    }
                    return Err(FramingError {
                        partition: self.partition.clone(),
                        offset: from,
                        error,
                    });
                }
            };
            let end = batch.header.next_offset();
            if end > from {
                self.replay_batch(core, now, &batch, from);
            }
            next = next.max(end);
        }
        Ok(next)
    }

    fn replay_batch(&mut self, core: &mut GroupCoordinator, now: Millis, batch: &Batch, from: i64) {
        let base = batch.header.base_offset;
        if let Err(e) = batch.verify_crc() {
            tracing::warn!(
                partition = %self.partition,
                offset = base,
                "skipping corrupt batch while loading: {e}"
            );
            self.stats.skipped_batches += 1;
            return;
        }
        let producer_id = batch.header.producer_id;
        if batch.header.is_control() {
            // Kafka: a COMMIT marker makes the producer's pending offsets visible; any
            // marker ends its transaction.
            let committed = batch
                .records()
                .next()
                .and_then(Result::ok)
                .and_then(|r| r.key().map(ControlRecordType::parse_key))
                .is_some_and(|t| matches!(t, Ok(ControlRecordType::Commit)));
            if let Some(records) = self.pending.remove(&producer_id) {
                if committed {
                    for r in records {
                        replay_record(core, now, r);
                    }
                }
            }
            return;
        }
        let transactional = batch.header.is_transactional();
        for record in batch.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        partition = %self.partition,
                        offset = base,
                        "skipping the rest of an unreadable batch while loading: {e}"
                    );
                    self.stats.skipped_batches += 1;
                    return;
                }
            };
            if record.offset() < from {
                continue;
            }
            match offsets::decode_record(record.key(), record.value()) {
                Ok(Some(r)) => {
                    self.stats.records += 1;
                    match (&r, transactional) {
                        (OffsetsRecord::Offset { .. }, true) => {
                            self.pending.entry(producer_id).or_default().push(r);
                        }
                        _ => replay_record(core, now, r),
                    }
                }
                Ok(None) => tracing::warn!(
                    partition = %self.partition,
                    offset = record.offset(),
                    "ignoring a record with an unknown key version while loading"
                ),
                Err(e) => {
                    self.stats.skipped_records += 1;
                    tracing::warn!(
                        partition = %self.partition,
                        offset = record.offset(),
                        "skipping undecodable record while loading: {e}"
                    );
                }
            }
        }
    }
}

fn replay_record(core: &mut GroupCoordinator, now: Millis, r: OffsetsRecord) {
    match r {
        OffsetsRecord::Offset {
            group,
            topic,
            partition,
            value,
        } => core.replay_offset(now, &group, &topic, partition, value),
        OffsetsRecord::Group { group, value } => core.replay_group(now, &group, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::group::coordinator::{CommittedOffset, CoordinatorConfig, GroupState};
    use protocol::messages::GroupMetadataValue;
    use protocol::records::{BatchBuilder, Compression};

    fn commit(group: &str, offset: i64) -> OffsetsRecord {
        OffsetsRecord::Offset {
            group: group.into(),
            topic: "t".into(),
            partition: 0,
            value: Some(CommittedOffset {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 1,
                expire_timestamp: None,
            }),
        }
    }

    fn batch(base: i64, records: &[OffsetsRecord]) -> Vec<u8> {
        let encoded: Vec<_> = records.iter().map(offsets::encode_record).collect();
        let mut b = BatchBuilder::new(Compression::None).base_offset(base);
        for (k, v) in &encoded {
            b.append(1, Some(&k[..]), v.as_deref(), &[]).unwrap();
        }
        b.build().unwrap().bytes.to_vec()
    }

    #[test]
    fn corrupt_batch_is_skipped_and_loading_goes_on() {
        let mut log = batch(0, &[commit("a", 1)]);
        let mut bad = batch(1, &[commit("b", 2)]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff; // breaks the CRC
        log.extend_from_slice(&bad);
        log.extend_from_slice(&batch(2, &[commit("c", 3)]));
        let mut core = GroupCoordinator::new(CoordinatorConfig::default(), 1);
        let mut l = PartitionLoader::new("__consumer_offsets-0".into());
        let next = l.replay(&mut core, 0, &Bytes::from(log), 0).unwrap();
        core.finish_load(0);
        assert_eq!(next, 3);
        assert_eq!(l.stats.skipped_batches, 1);
        assert_eq!(core.committed("a", "t", 0).map(|o| o.offset), Some(1));
        assert_eq!(core.committed("b", "t", 0), None);
        assert_eq!(core.committed("c", "t", 0).map(|o| o.offset), Some(3));
    }

    #[test]
    fn garbage_at_the_start_of_a_read_is_an_error() {
        let mut core = GroupCoordinator::new(CoordinatorConfig::default(), 1);
        let mut l = PartitionLoader::new("__consumer_offsets-0".into());
        let junk = Bytes::from(vec![0u8; 80]);
        assert!(l.replay(&mut core, 0, &junk, 5).is_err());
    }

    #[test]
    fn group_metadata_and_tombstones_replay_as_kafka_loads_them() {
        let empty_at = |g: &str, generation| OffsetsRecord::Group {
            group: g.into(),
            value: Some(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation,
                current_state_timestamp: 100,
                ..Default::default()
            }),
        };
        let tombstone = |g: &str| OffsetsRecord::Group {
            group: g.into(),
            value: None,
        };
        let log = [
            batch(0, &[empty_at("g", 1)]),
            batch(1, &[commit("g", 5), commit("h", 6)]),
            batch(3, &[empty_at("g", 2)]),
            batch(4, &[empty_at("h", 1), empty_at("gone", 3)]),
        ]
        .concat();
        let mut core = GroupCoordinator::new(CoordinatorConfig::default(), 1);
        let mut l = PartitionLoader::new("__consumer_offsets-0".into());
        assert_eq!(l.replay(&mut core, 0, &Bytes::from(log), 0).unwrap(), 6);
        // A second read: h and gone are removed; h keeps its offsets (offset storage only).
        let more = batch(6, &[tombstone("h"), tombstone("gone")]);
        assert_eq!(l.replay(&mut core, 0, &Bytes::from(more), 6).unwrap(), 8);
        core.finish_load(1000);
        let g = core.describe("g").unwrap();
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.protocol_type, "consumer");
        assert_eq!(core.generation("g"), 2, "the last value wins");
        assert_eq!(core.committed("g", "t", 0).map(|o| o.offset), Some(5));
        assert_eq!(core.describe("h").unwrap().protocol_type, "");
        assert_eq!(core.committed("h", "t", 0).map(|o| o.offset), Some(6));
        assert!(core.describe("gone").is_none());
        assert_eq!(l.stats.records, 8);
    }
}
