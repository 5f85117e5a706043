//! The metadata thread's snapshot files (KIP-630, `docs/formats.md` §13): which snapshot to
//! start from, writing one of the committed image, and metadata log retention. The decisions
//! are the pure ones of `storage::metadata_snapshot::{recovery, retention}`; this module
//! executes them on the `__cluster_metadata-0` directory.

use std::path::Path;

use anyhow::Context;
use metadata::snapshot::encode_snapshot_batches;
use metadata::{MetadataImage, Provenance};
use storage::log::PartitionLog;
use storage::metadata_snapshot::recovery::{self, LogState};
use storage::metadata_snapshot::retention::{self, RetentionConfig, SegmentMeta, SnapshotMeta};
use storage::metadata_snapshot::{self, SnapshotFile, SnapshotId, SnapshotReader, SnapshotWriter};

/// Applies Kafka's start-up rules for the snapshots in `dir` to `log` (deletes snapshots below
/// the log start, empties a log behind the latest snapshot) and loads the latest snapshot.
/// `None`: no snapshot, replay the log from its start. A snapshot that does not read or replay
/// whole stops start-up, naming the file and the position; nothing is overwritten.
pub(super) fn load_latest(
    dir: &Path,
    log: &mut PartitionLog,
    now_ms: i64,
) -> anyhow::Result<Option<MetadataImage>> {
    let found = metadata_snapshot::list(dir)
        .with_context(|| format!("cannot list the metadata snapshots in {}", dir.display()))?;
    let ids: Vec<SnapshotId> = found.iter().map(|f| f.id).collect();
    let state = LogState {
        log_start_offset: log.log_start_offset(),
        log_end_offset: log.log_end_offset(),
        latest_epoch: log.latest_epoch(),
    };
    let plan =
        recovery::plan(state, &ids).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    for id in &plan.delete_snapshots {
        metadata_snapshot::delete(dir, *id)?;
    }
    if let Some(offset) = plan.truncate_fully_to {
        tracing::warn!(
            offset,
            "the latest metadata snapshot is ahead of the metadata log; emptying the log"
        );
        log.truncate_fully_and_start_at(offset, now_ms)?;
    }
    let Some(id) = plan.load else {
        return Ok(None);
    };
    let path = id.path(dir);
    let contents = metadata_snapshot::read_all(dir, id)
        .with_context(|| format!("refusing the metadata snapshot {}", path.display()))?;
    let provenance = Provenance {
        last_contained_offset: id.last_contained_offset(),
        last_contained_epoch: id.epoch,
        last_contained_log_time_ms: contents.last_contained_log_timestamp_ms,
    };
    let image = MetadataImage::from_snapshot_batches(&contents.batches, provenance)
        .with_context(|| format!("refusing the metadata snapshot {}", path.display()))?;
    tracing::info!(
        snapshot = %path.display(),
        topics = image.topics.len(),
        "loaded the metadata snapshot"
    );
    Ok(Some(image))
}

/// Writes a snapshot of the committed `image`, named from its provenance, unless one already
/// exists for it. Runs on the metadata thread: the fsync of a few MB delays the next round,
/// which Kafka avoids with a separate writer thread (a later step).
pub(super) fn write(
    dir: &Path,
    image: &MetadataImage,
    now_ms: i64,
) -> anyhow::Result<Option<SnapshotFile>> {
    let p = image.provenance;
    if p.last_contained_offset < 0 || p.last_contained_epoch < 0 {
        return Ok(None);
    }
    let id = SnapshotId::after(p.last_contained_offset, p.last_contained_epoch);
    if id.path(dir).exists() {
        return Ok(None);
    }
    let mut writer = SnapshotWriter::create(dir, id, p.last_contained_log_time_ms, now_ms)?;
    let batches =
        encode_snapshot_batches(&image.to_records(), writer.next_offset(), id.epoch, now_ms)
            .context("cannot encode the metadata snapshot")?;
    for batch in &batches {
        writer.append(batch)?;
    }
    Ok(Some(writer.freeze(now_ms)?))
}

/// The retention pass (`metadata.max.retention.*`): moves the log start offset up to a
/// snapshot, deletes the segments below it and the snapshots older than it.
pub(super) fn apply_retention(
    dir: &Path,
    log: &mut PartitionLog,
    config: RetentionConfig,
    now_ms: i64,
) -> anyhow::Result<()> {
    let mut snapshots = Vec::new();
    for file in metadata_snapshot::list(dir)? {
        let reader = SnapshotReader::open(dir, file.id)?;
        snapshots.push(SnapshotMeta {
            id: file.id,
            size_bytes: file.size_bytes,
            last_contained_log_timestamp_ms: reader.last_contained_log_timestamp_ms(),
        });
    }
    let segments: Vec<SegmentMeta> = log
        .segment_sizes()
        .into_iter()
        .map(|(base_offset, size_bytes)| SegmentMeta {
            base_offset,
            size_bytes,
        })
        .collect();
    let plan = retention::plan(
        now_ms,
        config,
        log.log_start_offset(),
        &segments,
        &snapshots,
    );
    if plan.is_empty() && plan.log_start_offset == log.log_start_offset() {
        return Ok(());
    }
    let (start, deleted) = log.delete_records_before(plan.log_start_offset)?;
    let segments = deleted.segments();
    deleted.remove()?;
    for id in &plan.delete_snapshots {
        metadata_snapshot::delete(dir, *id)?;
    }
    tracing::info!(
        log_start_offset = start,
        segments,
        snapshots = plan.delete_snapshots.len(),
        "metadata log retention"
    );
    Ok(())
}
