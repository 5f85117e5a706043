//! The records a new cluster starts from (`docs/formats.md` §11.6, Kafka's `BootstrapMetadata` and
//! `ActivationRecordsGenerator`).
//!
//! `kafka-storage format` writes [`bootstrap_records`] into `bootstrap.checkpoint`; when the
//! first active controller finds an empty log it appends [`activation_records_for_empty_log`]
//! (the bootstrap records, the initial ZooKeeper migration state, wrapped in a metadata
//! transaction where supported) before handling any request.

use metadata::image::features::ZkMigrationState;
use metadata::{MetadataRecord, MetadataRecordBody, MetadataVersion};
use protocol::messages::{BeginTransactionRecord, EndTransactionRecord, FeatureLevelRecord};

/// The `metadata.version` FeatureLevelRecord for `level` (21 = 3.9-IV0, the 3.9 default).
/// Other 3.9 features (`group.version`, `transaction.version`) default to level 0, which is
/// written as no record; `kraft.version` lives in the snapshot's control records instead.
pub fn bootstrap_records(metadata_version: MetadataVersion) -> Vec<MetadataRecord> {
    vec![MetadataRecord::new(
        0,
        MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
            name: MetadataVersion::FEATURE_NAME.into(),
            feature_level: metadata_version.level(),
        }),
    )]
}

/// What the first active controller appends to an empty log: the bootstrap records, then
/// ZkMigrationStateRecord NONE (or PRE_MIGRATION when migration is enabled) where the
/// metadata.version knows migrations, all inside Begin/EndTransaction from 3.6-IV1.
pub fn activation_records_for_empty_log(
    bootstrap: &[MetadataRecord],
    zk_migration_enabled: bool,
) -> Vec<MetadataRecord> {
    let mv = bootstrap
        .iter()
        .find_map(|r| match &r.body {
            MetadataRecordBody::FeatureLevel(f) if f.name == MetadataVersion::FEATURE_NAME => {
                Some(MetadataVersion(f.feature_level))
            }
            _ => None,
        })
        .unwrap_or(MetadataVersion::MINIMUM_KRAFT);
    let mut records = Vec::new();
    if mv.is_metadata_transaction_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::BeginTransaction(BeginTransactionRecord {
                name: Some("Bootstrap records".into()),
            }),
        ));
    }
    records.extend(bootstrap.iter().cloned());
    if mv.is_migration_supported() {
        let state = if zk_migration_enabled {
            ZkMigrationState::PreMigration
        } else {
            ZkMigrationState::None
        };
        records.extend(state.to_record());
    }
    if mv.is_metadata_transaction_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::EndTransaction(EndTransactionRecord {}),
        ));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_one_metadata_version_record() {
        let b = bootstrap_records(MetadataVersion::IBP_3_9_IV0);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].to_bytes()[..3], [1, 12, 0]);
        let a = activation_records_for_empty_log(&b, false);
        let names: Vec<_> = a.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "BeginTransactionRecord",
                "FeatureLevelRecord",
                "ZkMigrationStateRecord",
                "EndTransactionRecord"
            ]
        );
        let old = activation_records_for_empty_log(
            &bootstrap_records(MetadataVersion::IBP_3_3_IV0),
            true,
        );
        assert_eq!(old.len(), 1);
    }
}
