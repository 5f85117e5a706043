//! The epoch → start-offset cache of the metadata log (Kafka's `LeaderEpochFileCache`): which
//! offset each epoch's first batch has. The leader answers a follower's
//! `(fetch offset, last fetched epoch)` from it, and a follower told to diverge truncates with
//! it. The io layer rebuilds it from the batches it recovers at start-up
//! ([`super::DurableState::epoch_starts`]).

use protocol::{Epoch, Offset};

use super::message::EpochEnd;

/// Epochs in increasing order with the offset of their first batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EpochStarts(Vec<(Epoch, Offset)>);

impl EpochStarts {
    /// A cache over `(epoch, start offset)` pairs in log order; pairs that do not raise the
    /// epoch are dropped, so any batch-by-batch list may be given.
    pub fn new(pairs: impl IntoIterator<Item = (Epoch, Offset)>) -> EpochStarts {
        let mut starts = EpochStarts::default();
        for (epoch, offset) in pairs {
            starts.observe(epoch, offset);
        }
        starts
    }

    /// Records a batch of `epoch` at `base_offset` appended at the log end.
    pub fn observe(&mut self, epoch: Epoch, base_offset: Offset) {
        match self.0.last() {
            Some(&(last, _)) if last >= epoch => {
                assert!(last == epoch, "the log's epochs never go backwards");
            }
            _ => self.0.push((epoch, base_offset)),
        }
    }

    /// Forgets epochs that start at or after `to` (the log was truncated there).
    pub fn truncate(&mut self, to: Offset) {
        self.0.retain(|&(_, start)| start < to);
    }

    /// The epoch of the last batch, 0 for an empty log.
    pub fn last_epoch(&self) -> Epoch {
        self.0.last().map_or(Epoch(0), |&(e, _)| e)
    }

    /// The largest epoch ≤ `epoch` in the log and the offset where it ends (the next epoch's
    /// start, or `log_end`); epoch 0 ending at 0 when the log has none (KIP-595
    /// `endOffsetForEpoch`).
    pub fn end_offset_for(&self, epoch: Epoch, log_end: Offset) -> EpochEnd {
        let i = self.0.partition_point(|&(e, _)| e <= epoch);
        if i == 0 {
            return EpochEnd {
                epoch: Epoch(0),
                end_offset: Offset(0),
            };
        }
        EpochEnd {
            epoch: self.0[i - 1].0,
            end_offset: self.0.get(i).map_or(log_end, |&(_, start)| start),
        }
    }

    /// The `(epoch, start offset)` pairs, oldest first.
    pub fn entries(&self) -> &[(Epoch, Offset)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_come_from_the_next_epoch_start() {
        let starts = EpochStarts::new([
            (Epoch(1), Offset(0)),
            (Epoch(1), Offset(3)),
            (Epoch(3), Offset(5)),
            (Epoch(4), Offset(9)),
        ]);
        let end = |e| {
            let EpochEnd { epoch, end_offset } = starts.end_offset_for(Epoch(e), Offset(12));
            (epoch.0, end_offset.0)
        };
        assert_eq!(end(0), (0, 0));
        assert_eq!(end(1), (1, 5));
        assert_eq!(end(2), (1, 5));
        assert_eq!(end(3), (3, 9));
        assert_eq!(end(7), (4, 12));
        let mut cut = starts.clone();
        cut.truncate(Offset(9));
        assert_eq!(cut.last_epoch(), Epoch(3));
        cut.truncate(Offset(0));
        assert_eq!(cut.last_epoch(), Epoch(0));
    }
}
