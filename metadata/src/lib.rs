//! kraftbridge's metadata vocabulary: KRaft metadata records and their frame, batches of
//! them, the immutable [`MetadataImage`], the [`MetadataDelta`] that is the only way to change
//! it, image → records for snapshots, and Kafka's topic config table.
//!
//! Sans-I/O: records come in as bytes or structs from whoever read them (the Raft log, a
//! snapshot file, the ZooKeeper loader, a controller) and leave as values. Nothing here reads
//! a clock, a file or a random source. Formats: `docs/formats.md` §11 (the record frame, the record
//! catalogue, bootstrap records) and §13 (snapshots).

pub mod batch;
pub mod delta;
pub mod directory_id;
pub mod error;
pub mod image;
pub mod record;
pub mod snapshot;
pub mod topic_config;
pub mod version;

pub use batch::{decode_batch, encode_batch, DecodedBatch, MetadataBatch};
pub use delta::{MetadataDelta, ReplayFailure, TransactionMarker};
pub use error::{Error, ReplayError, Result, SnapshotError};
pub use image::{
    BrokerRegistration, ClusterImage, ConfigResource, ControllerRegistration, Endpoint,
    LeaderRecoveryState, MetadataImage, PartitionRegistration, Provenance, TopicImage, TopicsImage,
    VersionRange, ZkMigrationState,
};
pub use record::{record_type_name, MetadataRecord};
pub use version::MetadataVersion;

/// Re-exported so users of this crate name record bodies without depending on the codec's
/// module layout.
pub use protocol::messages::MetadataRecordBody;
