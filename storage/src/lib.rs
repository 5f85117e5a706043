//! Kafka's on-disk formats, byte-compatible with Apache Kafka 3.9: partition logs (segments,
//! offset and time indexes, recovery of torn tails), the text checkpoints, `partition.metadata`,
//! `.kafka_cleanshutdown`, `meta.properties` and KRaft metadata snapshots.
//!
//! Blocking `std::fs` I/O; the broker runs it on dedicated threads. Layout reference:
//! `docs/formats.md` §2–§9 and §13.

// Positional I/O (`pread`/`pwrite`) comes from `std::os::unix::fs::FileExt`.
#[cfg(not(unix))]
compile_error!("storage needs a Unix target (positional file I/O)");

mod batch;
pub mod checkpoint;
pub mod clean_shutdown;
pub mod cleaner;
pub mod dir_lock;
mod error;
mod fs_util;
pub mod fuzz;
pub mod index;
mod index_file;
pub mod leader_epoch;
pub mod log;
pub mod log_dir;
pub mod meta_properties;
pub mod metadata_snapshot;
pub mod partition_metadata;
pub mod producer_snapshot;
pub mod segment;
pub mod time_index;
pub mod topic_partition;

pub use cleaner::{CleanOutcome, CleanedLog, Cleaner, CleanerConfig, CleanerStats};
pub use error::{Error, Result};
pub use log::{
    AppendInfo, CleanableRange, CleaningPlan, CleanupPolicy, FirstBatch, LoadOptions,
    LogCheckpoints, LogConfig, LogOffsetMetadata, PartitionLog, Shutdown,
};
pub use log_dir::{LogDir, PartitionDir};
pub use time_index::TimestampOffset;
pub use topic_partition::{LogDirKind, TopicPartition};
