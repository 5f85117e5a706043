//! Per-partition idempotent producer state (spec §2.7, Kafka's `ProducerStateManager`,
//! `ProducerAppendInfo`, `ProducerStateEntry`): for each producer id the current epoch and its
//! last 5 batches, so that a retried batch is recognised and answered with its original offset
//! instead of being appended twice, and a gap in sequence numbers is refused.
//!
//! Sans-I/O: the replica manager checks a batch before appending it and records it after,
//! under the partition's log lock, and rebuilds this state from the log's batch headers when
//! the log is opened. Kafka's `<offset>.snapshot` files are not written: state is rebuilt by
//! scanning (see `ReplicaManager`).

use std::collections::{HashMap, VecDeque};

use protocol::records::BatchHeader;
use protocol::ErrorCode;

/// Batches retained per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub(crate) const RETAINED_BATCHES: usize = 5;

/// The producer fields of one batch, as the log stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerBatch {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
}

impl ProducerBatch {
    /// The producer fields of `header`; `None` for batches without a producer id
    /// (non-idempotent producers) and for control batches (transaction markers), which carry
    /// no sequence.
    pub(crate) fn from_header(header: &BatchHeader) -> Option<Self> {
        const CONTROL_FLAG: i16 = 0x20;
        if header.producer_id < 0 || header.attributes & CONTROL_FLAG != 0 {
            return None;
        }
        Some(Self {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_seq: header.base_sequence,
            last_seq: add_seq(header.base_sequence, header.last_offset_delta),
        })
    }
}

/// `seq + delta`, wrapping from `i32::MAX` to 0 as producers do.
pub(crate) fn add_seq(seq: i32, delta: i32) -> i32 {
    ((i64::from(seq) + i64::from(delta)) % (i64::from(i32::MAX) + 1)) as i32
}

/// One retained batch: its sequence range and where it went in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retained {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct Entry {
    epoch: i16,
    batches: VecDeque<Retained>,
}

/// What to do with a batch that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it.
    Append,
    /// Already in the log: do not append; answer with the original base offset.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// The producer state of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, Entry>,
}

impl ProducerState {
    /// Checks a batch a client wants to append (spec §2.7).
    pub(crate) fn check(&self, b: &ProducerBatch) -> Result<Verdict, ErrorCode> {
        let Some(entry) = self.producers.get(&b.producer_id) else {
            // Unknown producer (new, or its state is gone): any sequence is accepted.
            return Ok(Verdict::Append);
        };
        if b.epoch < entry.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if b.epoch > entry.epoch {
            return if b.first_seq == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|r| r.first_seq == b.first_seq && r.last_seq == b.last_seq)
        {
            return Ok(Verdict::Duplicate {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset,
            });
        }
        match entry.batches.back() {
            Some(last) if b.first_seq != add_seq(last.last_seq, 1) => {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            }
            _ => Ok(Verdict::Append),
        }
    }

    /// Records a batch that is now in the log at `first_offset..=last_offset` (after a client
    /// append, or when rebuilding from the log).
    pub(crate) fn record(&mut self, b: &ProducerBatch, first_offset: i64, last_offset: i64) {
        let entry = self
            .producers
            .entry(b.producer_id)
            .or_insert_with(|| Entry {
                epoch: b.epoch,
                batches: VecDeque::with_capacity(RETAINED_BATCHES),
            });
        if b.epoch != entry.epoch {
            entry.epoch = b.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == RETAINED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(Retained {
            first_seq: b.first_seq,
            last_seq: b.last_seq,
            first_offset,
            last_offset,
        });
    }

    /// Number of producers with state.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, first: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            last_seq: add_seq(first, count - 1),
        }
    }

    /// Appends `b` at `offset` if the check says so; returns the verdict.
    fn append(s: &mut ProducerState, b: ProducerBatch, offset: i64) -> Result<Verdict, ErrorCode> {
        let v = s.check(&b)?;
        if v == Verdict::Append {
            let n = i64::from(b.last_seq.wrapping_sub(b.first_seq).rem_euclid(i32::MAX)) + 1;
            s.record(&b, offset, offset + n - 1);
        }
        Ok(v)
    }

    #[test]
    fn unknown_producer_accepts_any_sequence() {
        let s = ProducerState::default();
        assert_eq!(s.check(&batch(7, 0, 42, 3)), Ok(Verdict::Append));
    }

    #[test]
    fn in_order_batches_append() {
        let mut s = ProducerState::default();
        assert_eq!(append(&mut s, batch(1, 0, 0, 10), 0), Ok(Verdict::Append));
        assert_eq!(append(&mut s, batch(1, 0, 10, 5), 10), Ok(Verdict::Append));
        assert_eq!(append(&mut s, batch(1, 0, 15, 1), 15), Ok(Verdict::Append));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn retry_of_a_recent_batch_is_a_duplicate_with_its_original_offsets() {
        let mut s = ProducerState::default();
        append(&mut s, batch(1, 0, 0, 10), 100).unwrap();
        append(&mut s, batch(1, 0, 10, 5), 110).unwrap();
        assert_eq!(
            s.check(&batch(1, 0, 0, 10)),
            Ok(Verdict::Duplicate {
                first_offset: 100,
                last_offset: 109
            })
        );
        assert_eq!(
            s.check(&batch(1, 0, 10, 5)),
            Ok(Verdict::Duplicate {
                first_offset: 110,
                last_offset: 114
            })
        );
    }

    #[test]
    fn only_the_last_five_batches_are_retained() {
        let mut s = ProducerState::default();
        for i in 0..6 {
            append(&mut s, batch(1, 0, i, 1), i64::from(i)).unwrap();
        }
        // Sequence 0 fell out of the window: it is out of order now, not a duplicate.
        assert_eq!(
            s.check(&batch(1, 0, 0, 1)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert!(matches!(
            s.check(&batch(1, 0, 1, 1)),
            Ok(Verdict::Duplicate {
                first_offset: 1,
                ..
            })
        ));
    }

    #[test]
    fn gaps_and_partial_overlaps_are_out_of_order() {
        let mut s = ProducerState::default();
        append(&mut s, batch(1, 0, 0, 10), 0).unwrap();
        assert_eq!(
            s.check(&batch(1, 0, 11, 1)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            s.check(&batch(1, 0, 5, 10)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // Same first sequence, different length: not the same batch.
        assert_eq!(
            s.check(&batch(1, 0, 0, 3)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn older_epoch_is_fenced() {
        let mut s = ProducerState::default();
        append(&mut s, batch(1, 3, 0, 1), 0).unwrap();
        assert_eq!(
            s.check(&batch(1, 2, 1, 1)),
            Err(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn new_epoch_must_start_at_sequence_zero_and_resets_the_window() {
        let mut s = ProducerState::default();
        append(&mut s, batch(1, 0, 0, 5), 0).unwrap();
        assert_eq!(
            s.check(&batch(1, 1, 5, 1)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(append(&mut s, batch(1, 1, 0, 2), 5), Ok(Verdict::Append));
        // Epoch 0 is now stale, and epoch 1 continues from its own sequence.
        assert_eq!(
            s.check(&batch(1, 0, 5, 1)),
            Err(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(s.check(&batch(1, 1, 2, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn sequence_wraps_from_i32_max_to_zero() {
        assert_eq!(add_seq(i32::MAX, 1), 0);
        assert_eq!(add_seq(i32::MAX - 1, 3), 1);
        let mut s = ProducerState::default();
        let b = batch(1, 0, i32::MAX - 1, 2);
        assert_eq!(b.last_seq, i32::MAX);
        append(&mut s, b, 0).unwrap();
        assert_eq!(s.check(&batch(1, 0, 0, 1)), Ok(Verdict::Append));
        assert_eq!(
            s.check(&batch(1, 0, 1, 1)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
    }

    #[test]
    fn producers_are_independent() {
        let mut s = ProducerState::default();
        append(&mut s, batch(1, 0, 0, 1), 0).unwrap();
        append(&mut s, batch(2, 0, 7, 1), 1).unwrap();
        assert_eq!(s.check(&batch(1, 0, 1, 1)), Ok(Verdict::Append));
        assert_eq!(s.check(&batch(2, 0, 8, 1)), Ok(Verdict::Append));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn headers_without_producer_or_control_batches_are_skipped() {
        let mut h = BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 4,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: 5,
        };
        assert_eq!(ProducerBatch::from_header(&h), None);
        h.producer_id = 9;
        h.producer_epoch = 1;
        h.base_sequence = 10;
        assert_eq!(ProducerBatch::from_header(&h), Some(batch(9, 1, 10, 5)));
        h.attributes = 0x20 | 0x10;
        assert_eq!(ProducerBatch::from_header(&h), None);
    }
}
