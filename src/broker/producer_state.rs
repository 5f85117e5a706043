//! Per-partition idempotent producer state (`docs/formats.md` §7.7, §9; Kafka's
//! `ProducerStateManager`, `ProducerAppendInfo`, `ProducerStateEntry`): for each producer id the
//! current epoch, its last 5 batches and the time of its last write, so that a retried batch is
//! recognised and answered with its original offset instead of being appended twice, a gap in
//! sequence numbers is refused, and an idle producer is forgotten after
//! `producer.id.expiration.ms`.
//!
//! Sans-I/O (time is an argument): the replica manager checks a batch before appending it and
//! records it after, under the partition's log lock. `to_snapshot`/`from_snapshot` convert to
//! and from the entries of Kafka's `<offset>.snapshot` files, which
//! `replica_manager::producer_snapshots` reads and writes.

// A deterministic core: no clock, no global randomness, no hash-map iteration (clippy.toml).
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{HashMap, VecDeque};

use protocol::records::{BatchHeader, NO_PRODUCER_EPOCH, NO_SEQUENCE};
use protocol::ErrorCode;
use storage::producer_snapshot::SnapshotEntry;

use crate::config::ServerConfig;

/// Batches retained per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub(crate) const RETAINED_BATCHES: usize = 5;
/// Kafka's "none" values in a producer entry: no last offset, no coordinator epoch, no open
/// transaction.
const NO_OFFSET: i64 = -1;
const NO_COORDINATOR_EPOCH: i32 = -1;
const NO_TXN: i64 = -1;

/// The producer fields of one batch, as the log stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerBatch {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
    /// The batch's max timestamp: the producer's "last timestamp" for expiry (Kafka
    /// `ProducerStateEntry.lastTimestamp`).
    pub(crate) max_timestamp: i64,
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
            max_timestamp: header.max_timestamp,
        })
    }
}

/// `seq + delta`, wrapping from `i32::MAX` to 0 as producers do.
pub(crate) fn add_seq(seq: i32, delta: i32) -> i32 {
    (i64::from(seq) + i64::from(delta)).rem_euclid(i64::from(i32::MAX) + 1) as i32
}

/// `seq − delta`, wrapping below 0 to `i32::MAX` (Kafka `DefaultRecordBatch.decrementSequence`).
fn sub_seq(seq: i32, delta: i32) -> i32 {
    (i64::from(seq) - i64::from(delta)).rem_euclid(i64::from(i32::MAX) + 1) as i32
}

/// `producer.id.expiration.ms` and `producer.id.expiration.check.interval.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerExpiry {
    /// A producer whose last timestamp is at least this old (and has no open transaction) is
    /// forgotten.
    pub(crate) expiration_ms: i64,
    /// How often that is checked.
    pub(crate) check_interval_ms: i64,
}

impl ProducerExpiry {
    pub(crate) fn from_config(c: &ServerConfig) -> Self {
        Self {
            expiration_ms: i64::from(c.producer_id_expiration_ms),
            check_interval_ms: i64::from(c.producer_id_expiration_check_interval_ms),
        }
    }
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
    /// Max timestamp of the last batch (Kafka `lastTimestamp`).
    last_timestamp: i64,
    /// Only ever restored from a snapshot Kafka wrote (we write no transaction markers):
    /// kept so that a snapshot we rewrite says what Kafka's said.
    coordinator_epoch: i32,
    /// As `coordinator_epoch`; −1 = no open transaction. An open one keeps the producer
    /// from expiring, as in Kafka.
    current_txn_first_offset: i64,
}

impl Entry {
    fn is_expired(&self, now: i64, expiration_ms: i64) -> bool {
        self.current_txn_first_offset < 0
            && now.saturating_sub(self.last_timestamp) >= expiration_ms
    }
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
#[derive(Debug)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, Entry>,
    expiry: ProducerExpiry,
    /// When `maybe_remove_expired` next looks (Kafka schedules the check per log, first one
    /// interval after the log is loaded).
    next_expiry_check_ms: i64,
}

impl ProducerState {
    /// No producers; the first expiry check is due one interval after `now`.
    pub(crate) fn new(expiry: ProducerExpiry, now: i64) -> Self {
        Self {
            producers: HashMap::new(),
            expiry,
            next_expiry_check_ms: now.saturating_add(expiry.check_interval_ms),
        }
    }

    /// The state a snapshot describes, without the producers that expired by `now` (Kafka
    /// `loadFromSnapshot`). Only each producer's last batch was kept in the snapshot, so only
    /// a resend of that one is recognised as a duplicate (as in Kafka); a later batch from
    /// the log is recorded on top by replay.
    pub(crate) fn from_snapshot(
        entries: &[SnapshotEntry],
        expiry: ProducerExpiry,
        now: i64,
    ) -> Self {
        let mut state = Self::new(expiry, now);
        for e in entries {
            let mut batches = VecDeque::with_capacity(RETAINED_BATCHES);
            // Kafka restores batch metadata only when there was a data batch.
            if e.last_offset >= 0 {
                batches.push_back(Retained {
                    first_seq: sub_seq(e.last_sequence, e.offset_delta),
                    last_seq: e.last_sequence,
                    first_offset: e.last_offset.saturating_sub(i64::from(e.offset_delta)),
                    last_offset: e.last_offset,
                });
            }
            let entry = Entry {
                epoch: e.producer_epoch,
                batches,
                last_timestamp: e.timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_first_offset: e.current_txn_first_offset,
            };
            if !entry.is_expired(now, expiry.expiration_ms) {
                state.producers.insert(e.producer_id, entry);
            }
        }
        state
    }

    /// The snapshot entries of this state: each producer with its last batch only (Kafka
    /// `writeSnapshot`), ordered by producer id so equal states write equal files.
    pub(crate) fn to_snapshot(&self) -> Vec<SnapshotEntry> {
        #[expect(clippy::disallowed_methods, reason = "sorted by producer id below")]
        let mut out: Vec<SnapshotEntry> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| {
                let last = e.batches.back();
                SnapshotEntry {
                    producer_id,
                    producer_epoch: e.epoch,
                    last_sequence: last.map_or(NO_SEQUENCE, |b| b.last_seq),
                    last_offset: last.map_or(NO_OFFSET, |b| b.last_offset),
                    offset_delta: last.map_or(0, |b| {
                        i32::try_from(b.last_offset - b.first_offset).unwrap_or(i32::MAX)
                    }),
                    timestamp: e.last_timestamp,
                    coordinator_epoch: e.coordinator_epoch,
                    current_txn_first_offset: e.current_txn_first_offset,
                }
            })
            .collect();
        out.sort_unstable_by_key(|e| e.producer_id);
        out
    }

    /// Checks a batch a client wants to append (`docs/formats.md` §7.7, Kafka
    /// `ProducerAppendInfo.checkProducerEpoch/checkSequence` and
    /// `ProducerStateEntry.findDuplicateBatch`).
    pub(crate) fn check(&self, b: &ProducerBatch) -> Result<Verdict, ErrorCode> {
        let Some(entry) = self.producers.get(&b.producer_id) else {
            // Unknown producer (new, expired, or its data is gone): any sequence is accepted.
            return Ok(Verdict::Append);
        };
        // Kafka answers a fenced (older) epoch with INVALID_PRODUCER_EPOCH for every Produce
        // version since 2.7 (KIP-588 moved PRODUCER_FENCED to the coordinator APIs).
        if b.epoch < entry.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if b.epoch > entry.epoch {
            return if b.first_seq == 0 || entry.epoch == NO_PRODUCER_EPOCH {
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
        // With no batch in this epoch (restored from a snapshot of a transaction marker),
        // Kafka's last sequence is −1, so the next must be 0.
        let last_seq = entry.batches.back().map_or(NO_SEQUENCE, |r| r.last_seq);
        if b.first_seq == add_seq(last_seq, 1) {
            Ok(Verdict::Append)
        } else {
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
    }

    /// Records a batch that is now in the log at `first_offset..=last_offset` (after a client
    /// append, or when replaying the log).
    pub(crate) fn record(&mut self, b: &ProducerBatch, first_offset: i64, last_offset: i64) {
        let entry = self
            .producers
            .entry(b.producer_id)
            .or_insert_with(|| Entry {
                epoch: b.epoch,
                batches: VecDeque::with_capacity(RETAINED_BATCHES),
                last_timestamp: b.max_timestamp,
                coordinator_epoch: NO_COORDINATOR_EPOCH,
                current_txn_first_offset: NO_TXN,
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
        entry.last_timestamp = b.max_timestamp;
    }

    /// Every `producer.id.expiration.check.interval.ms`, forgets the producers idle for
    /// `producer.id.expiration.ms` (Kafka `removeExpiredProducers`). Returns how many.
    pub(crate) fn maybe_remove_expired(&mut self, now: i64) -> usize {
        if now < self.next_expiry_check_ms {
            return 0;
        }
        self.next_expiry_check_ms = now.saturating_add(self.expiry.check_interval_ms);
        let before = self.producers.len();
        let expiration_ms = self.expiry.expiration_ms;
        self.producers
            .retain(|_, e| !e.is_expired(now, expiration_ms));
        before - self.producers.len()
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

    const HOUR: i64 = 3_600_000;
    const T0: i64 = 1_700_000_000_000;
    const EXPIRY: ProducerExpiry = ProducerExpiry {
        expiration_ms: 24 * HOUR,
        check_interval_ms: HOUR / 6,
    };

    fn state() -> ProducerState {
        ProducerState::new(EXPIRY, T0)
    }

    fn batch(pid: i64, epoch: i16, first: i32, count: i32) -> ProducerBatch {
        batch_at(pid, epoch, first, count, T0)
    }

    fn batch_at(pid: i64, epoch: i16, first: i32, count: i32, ts: i64) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            last_seq: add_seq(first, count - 1),
            max_timestamp: ts,
        }
    }

    /// Appends `b` at `offset` if the check says so; returns the verdict.
    fn append(s: &mut ProducerState, b: ProducerBatch, offset: i64) -> Result<Verdict, ErrorCode> {
        let v = s.check(&b)?;
        if v == Verdict::Append {
            let n = (i64::from(b.last_seq) - i64::from(b.first_seq))
                .rem_euclid(i64::from(i32::MAX) + 1)
                + 1;
            s.record(&b, offset, offset + n - 1);
        }
        Ok(v)
    }

    #[test]
    fn unknown_producer_accepts_any_sequence() {
        let s = state();
        assert_eq!(s.check(&batch(7, 0, 42, 3)), Ok(Verdict::Append));
    }

    #[test]
    fn in_order_batches_append() {
        let mut s = state();
        assert_eq!(append(&mut s, batch(1, 0, 0, 10), 0), Ok(Verdict::Append));
        assert_eq!(append(&mut s, batch(1, 0, 10, 5), 10), Ok(Verdict::Append));
        assert_eq!(append(&mut s, batch(1, 0, 15, 1), 15), Ok(Verdict::Append));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn retry_of_a_recent_batch_is_a_duplicate_with_its_original_offsets() {
        let mut s = state();
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
        let mut s = state();
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
        let mut s = state();
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
        let mut s = state();
        append(&mut s, batch(1, 3, 0, 1), 0).unwrap();
        assert_eq!(
            s.check(&batch(1, 2, 1, 1)),
            Err(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn new_epoch_must_start_at_sequence_zero_and_resets_the_window() {
        let mut s = state();
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
        let mut s = state();
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
        let mut s = state();
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
            max_timestamp: T0,
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

    #[test]
    fn a_snapshot_keeps_the_last_batch_per_producer() {
        let mut s = state();
        append(&mut s, batch(1, 2, 0, 10), 100).unwrap();
        append(&mut s, batch_at(1, 2, 10, 5, T0 + 7), 110).unwrap();
        append(&mut s, batch(9, 0, 0, 1), 115).unwrap();
        let entries = s.to_snapshot();
        assert_eq!(
            entries[0],
            SnapshotEntry {
                producer_id: 1,
                producer_epoch: 2,
                last_sequence: 14,
                last_offset: 114,
                offset_delta: 4,
                timestamp: T0 + 7,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            }
        );
        assert_eq!(entries.len(), 2);

        let r = ProducerState::from_snapshot(&entries, EXPIRY, T0 + HOUR);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.to_snapshot(),
            entries,
            "a loaded snapshot writes back the same"
        );
        // The last batch is still a duplicate with its original offsets, the next sequence
        // is accepted; older batches were not in the snapshot (as in Kafka).
        assert_eq!(
            r.check(&batch(1, 2, 10, 5)),
            Ok(Verdict::Duplicate {
                first_offset: 110,
                last_offset: 114
            })
        );
        assert_eq!(r.check(&batch(1, 2, 15, 3)), Ok(Verdict::Append));
        assert_eq!(
            r.check(&batch(1, 2, 0, 10)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            r.check(&batch(1, 1, 15, 1)),
            Err(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn a_snapshot_across_the_sequence_wrap_restores_the_first_sequence() {
        let mut s = state();
        append(&mut s, batch(1, 0, i32::MAX - 1, 4), 50).unwrap();
        let r = ProducerState::from_snapshot(&s.to_snapshot(), EXPIRY, T0);
        assert!(matches!(
            r.check(&batch(1, 0, i32::MAX - 1, 4)),
            Ok(Verdict::Duplicate {
                first_offset: 50,
                ..
            })
        ));
        assert_eq!(r.check(&batch(1, 0, 2, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn an_entry_without_a_batch_needs_sequence_zero_in_its_epoch() {
        let entry = SnapshotEntry {
            producer_id: 4,
            producer_epoch: 3,
            last_sequence: -1,
            last_offset: -1,
            offset_delta: 0,
            timestamp: T0,
            coordinator_epoch: 5,
            current_txn_first_offset: -1,
        };
        let r = ProducerState::from_snapshot(&[entry], EXPIRY, T0);
        assert_eq!(r.check(&batch(4, 3, 0, 1)), Ok(Verdict::Append));
        assert_eq!(
            r.check(&batch(4, 3, 7, 1)),
            Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(r.to_snapshot(), vec![entry]);
    }

    #[test]
    fn loading_a_snapshot_drops_expired_producers_but_not_open_transactions() {
        let mut s = state();
        append(&mut s, batch_at(1, 0, 0, 1, T0), 0).unwrap();
        append(&mut s, batch_at(2, 0, 0, 1, T0 + HOUR), 1).unwrap();
        let mut entries = s.to_snapshot();
        entries.push(SnapshotEntry {
            producer_id: 3,
            current_txn_first_offset: 0,
            ..entries[0]
        });
        // Producer 1 is exactly 24 h idle (expired: Kafka uses >=), 2 is 23 h idle.
        let r = ProducerState::from_snapshot(&entries, EXPIRY, T0 + 24 * HOUR);
        let ids: Vec<i64> = r.to_snapshot().iter().map(|e| e.producer_id).collect();
        assert_eq!(ids, vec![2, 3]);
    }

    #[test]
    fn idle_producers_expire_at_the_check_interval() {
        let mut s = state();
        // Producer 1's batch carries a 2-day-old CreateTime: expired as soon as checked.
        append(&mut s, batch_at(1, 0, 0, 1, T0 - 48 * HOUR), 0).unwrap();
        append(&mut s, batch_at(2, 0, 0, 1, T0 + 2 * HOUR), 1).unwrap();
        let first_check = T0 + EXPIRY.check_interval_ms;
        assert_eq!(s.maybe_remove_expired(first_check - 1), 0, "not due yet");
        assert_eq!(s.len(), 2);
        assert_eq!(s.maybe_remove_expired(first_check), 1);
        assert_eq!(s.len(), 1);
        // Producer 1 is unknown now: any sequence is accepted again.
        assert_eq!(s.check(&batch(1, 0, 77, 1)), Ok(Verdict::Append));
        // Producer 2 is exactly 24 h idle at T0 + 26 h (Kafka expires at >=).
        assert_eq!(s.maybe_remove_expired(T0 + 26 * HOUR - 1), 0);
        assert_eq!(
            s.maybe_remove_expired(T0 + 26 * HOUR),
            0,
            "checked 1 ms ago"
        );
        let next = T0 + 26 * HOUR - 1 + EXPIRY.check_interval_ms;
        assert_eq!(s.maybe_remove_expired(next), 1);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_write_refreshes_the_last_timestamp() {
        let mut s = state();
        append(&mut s, batch_at(1, 0, 0, 1, T0), 0).unwrap();
        append(&mut s, batch_at(1, 0, 1, 1, T0 + 20 * HOUR), 1).unwrap();
        assert_eq!(s.maybe_remove_expired(T0 + 25 * HOUR), 0);
        assert_eq!(s.len(), 1);
    }
}
