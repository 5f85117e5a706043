//! Finalized feature levels (KIP-584, KIP-778): FeatureLevelRecord (key 12), and the ZooKeeper
//! migration state of ZkMigrationStateRecord (key 21, KIP-866); `docs/formats.md` §11.4, §11.5.
//!
//! Following Kafka's `FeaturesDelta`, a level of 0 removes a feature, except
//! `metadata.version`, whose level must be at least 1.

use std::collections::BTreeMap;

use protocol::messages::{FeatureLevelRecord, MetadataRecordBody, ZkMigrationStateRecord};

use crate::error::ReplayError;
use crate::record::MetadataRecord;
use crate::version::MetadataVersion;

/// Finalized feature levels by name, `metadata.version` included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeaturesImage {
    pub levels: BTreeMap<String, i16>,
}

impl FeaturesImage {
    /// The finalized `metadata.version`, if set.
    pub fn metadata_version(&self) -> Option<MetadataVersion> {
        self.levels
            .get(MetadataVersion::FEATURE_NAME)
            .map(|l| MetadataVersion(*l))
    }

    /// A feature's finalized level; 0 (disabled) if it is not set.
    pub fn level(&self, name: &str) -> i16 {
        self.levels.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn replay(&mut self, r: &FeatureLevelRecord) -> Result<(), ReplayError> {
        if r.name == MetadataVersion::FEATURE_NAME {
            if r.feature_level < MetadataVersion::MINIMUM_KRAFT.level() {
                return Err(ReplayError::InvalidValue {
                    record: "FeatureLevelRecord",
                    field: "metadata.version FeatureLevel",
                    value: r.feature_level.into(),
                });
            }
            self.levels.insert(r.name.clone(), r.feature_level);
        } else if r.feature_level == 0 {
            self.levels.remove(&r.name);
        } else {
            self.levels.insert(r.name.clone(), r.feature_level);
        }
        Ok(())
    }

    /// `metadata.version` first (the first data record of any log or snapshot,
    /// `docs/formats.md` §11.6), then the other features by name.
    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        let record = |name: &str, level: i16| {
            MetadataRecord::new(
                0,
                MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
                    name: name.to_string(),
                    feature_level: level,
                }),
            )
        };
        if let Some(mv) = self.levels.get(MetadataVersion::FEATURE_NAME) {
            out.push(record(MetadataVersion::FEATURE_NAME, *mv));
        }
        for (name, level) in &self.levels {
            if name != MetadataVersion::FEATURE_NAME {
                out.push(record(name, *level));
            }
        }
    }
}

/// Where a cluster stands in the ZooKeeper → KRaft migration (KIP-866, `docs/formats.md` §11.5).
///
/// ```text
///   Uninitialized ──(KRaft bootstrap)──► None
///   Uninitialized ──(bootstrap, migration enabled)──► PreMigration ──► Migration ──► PostMigration
/// ```
///
/// `Uninitialized` is in-memory only: the log has no ZkMigrationStateRecord (a log from
/// before 3.4). The others are the record's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ZkMigrationState {
    #[default]
    Uninitialized,
    /// A cluster created in KRaft mode (or one whose migration was never started).
    None,
    /// Metadata has been copied from ZooKeeper; dual writes are on.
    Migration,
    /// Waiting for ZK brokers to register before copying metadata.
    PreMigration,
    /// Migration finalized; ZooKeeper is no longer written.
    PostMigration,
}

impl ZkMigrationState {
    /// The record value; `None` for `Uninitialized`, which is never written.
    pub fn value(self) -> Option<i8> {
        match self {
            ZkMigrationState::Uninitialized => None,
            ZkMigrationState::None => Some(0),
            ZkMigrationState::Migration => Some(1),
            ZkMigrationState::PreMigration => Some(2),
            ZkMigrationState::PostMigration => Some(3),
        }
    }

    /// The state a record value stands for (3.5+ numbering; 3.4 swapped 1 and 2).
    pub fn from_value(value: i8) -> Option<ZkMigrationState> {
        match value {
            0 => Some(ZkMigrationState::None),
            1 => Some(ZkMigrationState::Migration),
            2 => Some(ZkMigrationState::PreMigration),
            3 => Some(ZkMigrationState::PostMigration),
            _ => None,
        }
    }

    pub(crate) fn replay(r: &ZkMigrationStateRecord) -> Result<ZkMigrationState, ReplayError> {
        ZkMigrationState::from_value(r.zk_migration_state).ok_or(ReplayError::InvalidValue {
            record: "ZkMigrationStateRecord",
            field: "ZkMigrationState",
            value: r.zk_migration_state.into(),
        })
    }

    /// The record for this state, or `None` for `Uninitialized`.
    pub fn to_record(self) -> Option<MetadataRecord> {
        let value = self.value()?;
        Some(MetadataRecord::new(
            0,
            MetadataRecordBody::ZkMigrationState(ZkMigrationStateRecord {
                zk_migration_state: value,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_zero_removes_but_not_for_metadata_version() {
        let mut f = FeaturesImage::default();
        let rec = |n: &str, l: i16| FeatureLevelRecord {
            name: n.into(),
            feature_level: l,
        };
        f.replay(&rec("metadata.version", 21)).unwrap();
        f.replay(&rec("group.version", 1)).unwrap();
        assert_eq!(f.level("group.version"), 1);
        f.replay(&rec("group.version", 0)).unwrap();
        assert!(!f.levels.contains_key("group.version"));
        assert!(f.replay(&rec("metadata.version", 0)).is_err());
        assert_eq!(f.metadata_version(), Some(MetadataVersion(21)));
    }
}
