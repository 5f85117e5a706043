//! The immutable metadata image: everything the cluster knows, built only by replaying
//! metadata records ([`crate::MetadataDelta`]) and shared read-only as `Arc<MetadataImage>`.
//!
//! The families mirror Kafka's `org.apache.kafka.image.MetadataImage`: features, cluster
//! (broker and controller registrations), topics, configs, client quotas, producer ids, ACLs,
//! SCRAM credentials and delegation tokens, plus the ZooKeeper migration state (KIP-866) and
//! the provenance (which log offset the image reflects). The cluster id is not in the records
//! (it lives in `meta.properties`), so it is not here either.
//!
//! Large maps sit behind `Arc` so cloning an image, or starting a delta from it, is cheap;
//! a delta copies a family's map on its first change to that family (no structural sharing
//! inside a map yet).

pub mod cluster;
pub mod configs;
mod diff;
pub mod features;
pub mod producer_ids;
pub mod quotas;
pub mod security;
pub mod topics;

pub use cluster::{
    BrokerRegistration, ClusterImage, ControllerRegistration, Endpoint, VersionRange,
};
pub use configs::{ConfigResource, ConfigsImage};
pub use features::{FeaturesImage, ZkMigrationState};
pub use producer_ids::ProducerIdsImage;
pub use quotas::{ClientQuotaEntity, ClientQuotasImage};
pub use security::{
    AclsImage, DelegationTokenData, DelegationTokensImage, ScramCredential, ScramImage, ScramKey,
    StandardAcl,
};
pub use topics::{
    LeaderRecoveryState, PartitionRegistration, TopicImage, TopicsChanges, TopicsImage,
};

/// Which part of the metadata log an image reflects (Kafka's `MetadataProvenance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Provenance {
    /// Offset of the last record replayed into the image; −1 for none.
    pub last_contained_offset: i64,
    /// Raft epoch of that record's batch; −1 for none.
    pub last_contained_epoch: i32,
    /// Append time of that batch; −1 for none.
    pub last_contained_log_time_ms: i64,
}

impl Provenance {
    /// The provenance of an image that has seen no record.
    pub const EMPTY: Provenance = Provenance {
        last_contained_offset: -1,
        last_contained_epoch: -1,
        last_contained_log_time_ms: -1,
    };

    /// The offset a snapshot of this image would be named after: one past the last record
    /// (`docs/formats.md` §13: the snapshot id's end offset is exclusive).
    pub fn snapshot_end_offset(&self) -> i64 {
        self.last_contained_offset + 1
    }
}

impl Default for Provenance {
    fn default() -> Self {
        Provenance::EMPTY
    }
}

/// The cluster metadata at one point of the metadata log. Build it with
/// [`crate::MetadataDelta`]; read it anywhere.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetadataImage {
    pub provenance: Provenance,
    pub features: FeaturesImage,
    pub cluster: ClusterImage,
    pub topics: TopicsImage,
    pub configs: ConfigsImage,
    pub client_quotas: ClientQuotasImage,
    pub producer_ids: ProducerIdsImage,
    pub acls: AclsImage,
    pub scram: ScramImage,
    pub delegation_tokens: DelegationTokensImage,
    /// KIP-866 migration state from the latest ZkMigrationStateRecord.
    pub zk_migration_state: ZkMigrationState,
}

impl MetadataImage {
    /// The image of an empty log.
    pub fn empty() -> MetadataImage {
        MetadataImage::default()
    }

    /// True when no record has been replayed into any family.
    pub fn is_empty(&self) -> bool {
        let without_provenance = MetadataImage {
            provenance: Provenance::EMPTY,
            ..self.clone()
        };
        without_provenance == MetadataImage::default()
    }

    /// The finalized `metadata.version`, if the log has set one.
    pub fn metadata_version(&self) -> Option<crate::MetadataVersion> {
        self.features.metadata_version()
    }
}
