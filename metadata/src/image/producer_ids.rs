//! The next producer id block: ProducerIdsRecord (`docs/formats.md` §11.4 key 15, KIP-730).
//!
//! The image keeps only the next unallocated id, as Kafka's `ProducerIdsImage` does; which
//! broker took the last block is history, not state.

use protocol::messages::{MetadataRecordBody, ProducerIdsRecord};

use crate::record::MetadataRecord;

/// The first producer id not yet handed to a broker; −1 before any allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdsImage {
    pub next_producer_id: i64,
}

impl Default for ProducerIdsImage {
    fn default() -> Self {
        ProducerIdsImage {
            next_producer_id: -1,
        }
    }
}

impl ProducerIdsImage {
    pub(crate) fn replay(&mut self, r: &ProducerIdsRecord) {
        self.next_producer_id = r.next_producer_id;
    }

    /// Kafka writes broker id and epoch −1 in snapshots.
    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        if self.next_producer_id >= 0 {
            out.push(MetadataRecord::new(
                0,
                MetadataRecordBody::ProducerIds(ProducerIdsRecord {
                    broker_id: -1,
                    broker_epoch: -1,
                    next_producer_id: self.next_producer_id,
                }),
            ));
        }
    }
}
