//! `metadata.version` (KIP-778): the feature level that gates which records, and which
//! record versions, a controller may write.
//!
//! The level comes from the `metadata.version` FeatureLevelRecord in the log (first written
//! from `bootstrap.checkpoint`, `docs/formats.md` §11.6). Levels and gates mirror Kafka 3.9's
//! `server-common/.../MetadataVersion.java`; the record versions per level are listed at the
//! end of `docs/formats.md` §11.4.

use std::fmt;

/// A `metadata.version` feature level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetadataVersion(pub i16);

/// Levels whose records differ from the level below (Kafka's `didMetadataChange`): a
/// downgrade across one of them could lose metadata, so UpdateFeatures refuses it.
const METADATA_CHANGED_AT: &[i16] = &[1, 3, 5, 6, 7, 8, 11, 13, 14, 15, 17];

/// Feature levels and Kafka's release names, lowest first.
const RELEASES: &[(i16, &str)] = &[
    (1, "3.0-IV1"),
    (2, "3.1-IV0"),
    (3, "3.2-IV0"),
    (4, "3.3-IV0"),
    (5, "3.3-IV1"),
    (6, "3.3-IV2"),
    (7, "3.3-IV3"),
    (8, "3.4-IV0"),
    (9, "3.5-IV0"),
    (10, "3.5-IV1"),
    (11, "3.5-IV2"),
    (12, "3.6-IV0"),
    (13, "3.6-IV1"),
    (14, "3.6-IV2"),
    (15, "3.7-IV0"),
    (16, "3.7-IV1"),
    (17, "3.7-IV2"),
    (18, "3.7-IV3"),
    (19, "3.7-IV4"),
    (20, "3.8-IV0"),
    (21, "3.9-IV0"),
];

impl MetadataVersion {
    /// The feature's name in FeatureLevelRecord and ApiVersions.
    pub const FEATURE_NAME: &'static str = "metadata.version";

    pub const IBP_3_0_IV1: MetadataVersion = MetadataVersion(1);
    pub const IBP_3_2_IV0: MetadataVersion = MetadataVersion(3);
    pub const IBP_3_3_IV0: MetadataVersion = MetadataVersion(4);
    pub const IBP_3_3_IV1: MetadataVersion = MetadataVersion(5);
    pub const IBP_3_3_IV2: MetadataVersion = MetadataVersion(6);
    pub const IBP_3_3_IV3: MetadataVersion = MetadataVersion(7);
    pub const IBP_3_4_IV0: MetadataVersion = MetadataVersion(8);
    pub const IBP_3_5_IV2: MetadataVersion = MetadataVersion(11);
    pub const IBP_3_6_IV0: MetadataVersion = MetadataVersion(12);
    pub const IBP_3_6_IV1: MetadataVersion = MetadataVersion(13);
    pub const IBP_3_6_IV2: MetadataVersion = MetadataVersion(14);
    pub const IBP_3_7_IV0: MetadataVersion = MetadataVersion(15);
    pub const IBP_3_7_IV2: MetadataVersion = MetadataVersion(17);
    pub const IBP_3_8_IV0: MetadataVersion = MetadataVersion(20);
    pub const IBP_3_9_IV0: MetadataVersion = MetadataVersion(21);

    /// The lowest KRaft level; brokers that announce no range are assumed to support only it.
    pub const MINIMUM_KRAFT: MetadataVersion = MetadataVersion::IBP_3_0_IV1;
    /// The lowest level a new cluster may be bootstrapped at (`MINIMUM_BOOTSTRAP_VERSION`).
    pub const MINIMUM_BOOTSTRAP: MetadataVersion = MetadataVersion::IBP_3_3_IV0;
    /// What Kafka 3.9 formats a new cluster with by default.
    pub const LATEST_PRODUCTION: MetadataVersion = MetadataVersion::IBP_3_9_IV0;

    pub fn level(self) -> i16 {
        self.0
    }

    /// Kafka's name for the level, e.g. `3.9-IV0`; `None` for a level 3.9 does not know.
    pub fn release(self) -> Option<&'static str> {
        RELEASES
            .iter()
            .find(|(l, _)| *l == self.0)
            .map(|(_, name)| *name)
    }

    /// Parses `3.9-IV0`, or a bare release `3.9` (its highest IV, as Kafka's
    /// `MetadataVersion.fromVersionString` does).
    pub fn from_release(s: &str) -> Option<MetadataVersion> {
        let s = s.trim();
        if let Some(&(level, _)) = RELEASES.iter().find(|(_, name)| *name == s) {
            return Some(MetadataVersion(level));
        }
        RELEASES
            .iter()
            .rev()
            .find(|(_, name)| name.split('-').next() == Some(s))
            .map(|&(level, _)| MetadataVersion(level))
    }

    /// True when a change between `self` and `other` (either way) crosses a level whose
    /// records differ from the level below (Kafka's `MetadataVersion.checkIfMetadataChanged`).
    pub fn metadata_changed_between(self, other: MetadataVersion) -> bool {
        let (low, high) = if self.0 <= other.0 {
            (self.0, other.0)
        } else {
            (other.0, self.0)
        };
        METADATA_CHANGED_AT.iter().any(|&l| low < l && l <= high)
    }

    pub fn is_at_least(self, other: MetadataVersion) -> bool {
        self.0 >= other.0
    }

    /// Leader recovery state in partition records (KIP-704).
    pub fn is_leader_recovery_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_2_IV0)
    }

    /// BrokerRegistrationChangeRecord replaces Fence/UnfenceBrokerRecord.
    pub fn is_broker_registration_change_record_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_3_IV2)
    }

    /// Brokers may be marked in controlled shutdown (RegisterBrokerRecord v1+).
    pub fn is_in_controlled_shutdown_state_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_3_IV3)
    }

    /// ZkMigrationStateRecord may be written (KIP-866).
    pub fn is_migration_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_4_IV0)
    }

    /// Before 3.6 brokers needed a leader epoch bump whenever the ISR shrank (KAFKA-15021).
    pub fn is_leader_epoch_bump_required_on_isr_shrink(self) -> bool {
        !self.is_at_least(Self::IBP_3_6_IV0)
    }

    /// Begin/End/AbortTransactionRecord (KIP-868).
    pub fn is_metadata_transaction_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_6_IV1)
    }

    /// RegisterControllerRecord (KIP-919).
    pub fn is_controller_registration_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_7_IV0)
    }

    /// Directory ids in registrations and partitions (KIP-858).
    pub fn is_directory_assignment_supported(self) -> bool {
        self.is_at_least(Self::IBP_3_7_IV2)
    }

    pub fn register_broker_record_version(self) -> i16 {
        if self.is_directory_assignment_supported() {
            3
        } else if self.is_at_least(Self::IBP_3_4_IV0) {
            2
        } else if self.is_at_least(Self::IBP_3_3_IV3) {
            1
        } else {
            0
        }
    }

    /// PartitionRecord version; 2 (ELR) needs 4.0-IV0, which 3.9 does not offer.
    pub fn partition_record_version(self) -> i16 {
        if self.is_directory_assignment_supported() {
            1
        } else {
            0
        }
    }

    /// PartitionChangeRecord version, as [`MetadataVersion::partition_record_version`].
    pub fn partition_change_record_version(self) -> i16 {
        self.partition_record_version()
    }
}

impl Default for MetadataVersion {
    fn default() -> Self {
        MetadataVersion::LATEST_PRODUCTION
    }
}

impl fmt::Display for MetadataVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.release() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "level {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3.9-IV0 and 3.8-IV0 changed no records, so 21 → 18 is lossless; 17 (JBOD) did.
    #[test]
    fn metadata_changes_follow_kafka_3_9() {
        let mv = MetadataVersion;
        assert!(!mv(21).metadata_changed_between(mv(18)));
        assert!(mv(21).metadata_changed_between(mv(16)));
        assert!(mv(16).metadata_changed_between(mv(21)));
        assert!(!mv(21).metadata_changed_between(mv(21)));
        assert!(!mv(12).metadata_changed_between(mv(11)));
    }

    #[test]
    fn names_and_gates_follow_kafka_3_9() {
        assert_eq!(MetadataVersion::LATEST_PRODUCTION.level(), 21);
        assert_eq!(MetadataVersion(21).to_string(), "3.9-IV0");
        assert_eq!(
            MetadataVersion::from_release("3.7-IV2"),
            Some(MetadataVersion(17))
        );
        assert_eq!(
            MetadataVersion::from_release("3.7"),
            Some(MetadataVersion(19))
        );
        assert_eq!(MetadataVersion::from_release("2.8"), None);
        assert_eq!(MetadataVersion(16).register_broker_record_version(), 2);
        assert_eq!(MetadataVersion(17).register_broker_record_version(), 3);
        assert_eq!(MetadataVersion(7).register_broker_record_version(), 1);
        assert_eq!(MetadataVersion(21).partition_record_version(), 1);
        assert!(MetadataVersion(11).is_leader_epoch_bump_required_on_isr_shrink());
        assert!(!MetadataVersion(12).is_leader_epoch_bump_required_on_isr_shrink());
    }
}
