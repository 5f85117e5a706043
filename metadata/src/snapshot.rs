//! Image → records, for snapshots (KIP-630) and for the bootstrap of a new log: the records
//! that, replayed into an empty image, give back the same image.
//!
//! The order is Kafka's `MetadataImage.write`: features (`metadata.version` first), the
//! migration state, cluster, topics (each TopicRecord followed by its PartitionRecords),
//! configs, client quotas, producer ids, ACLs, SCRAM, delegation tokens. Each record is
//! written at the lowest version that carries what the image holds (see
//! [`crate::PartitionRegistration::to_record`]), so an image built from v0 records (the ZK
//! migration's) snapshots to v0 records too.

use crate::delta::MetadataDelta;
use crate::error::ReplayError;
use crate::image::{MetadataImage, Provenance};
use crate::record::MetadataRecord;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_image_has_no_records() {
        assert!(MetadataImage::empty().to_records().is_empty());
        assert_eq!(
            MetadataImage::from_records(&[], Provenance::EMPTY),
            Ok(MetadataImage::empty())
        );
    }
}
