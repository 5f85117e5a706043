//! Writing a metadata snapshot (Kafka's `RecordsSnapshotWriter` over `FileRawSnapshotWriter`):
//! a SNAPSHOT_HEADER control batch at offset 0, the caller's data batches at the offsets that
//! follow, a SNAPSHOT_FOOTER control batch, all into `<id>-<n>.checkpoint.part`; then fsync,
//! rename to `<id>.checkpoint` and fsync of the directory (`docs/formats.md` §13).
//!
//! Every batch carries the snapshot's epoch as its partitionLeaderEpoch. The header and
//! footer are written at version 0 with their `Version` field 0, as 3.9 writes them; this
//! writer adds no KRaftVersionRecord or VotersRecord (a static quorum's `kraft.version` is 0).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use protocol::messages::{Message, SnapshotFooterRecord, SnapshotHeaderRecord};
use protocol::records::{Batch, BatchBuilder, Compression, ControlRecordType};

use super::{SnapshotFile, SnapshotId, PARTIAL_SUFFIX, SNAPSHOT_BATCH_BYTES_MAX};
use crate::error::{Error, IoContext, Result};
use crate::fs_util;

/// The SnapshotHeaderRecord / SnapshotFooterRecord version 3.9 writes
/// (`ControlRecordUtils.SNAPSHOT_HEADER_CURRENT_VERSION`, `SNAPSHOT_FOOTER_CURRENT_VERSION`).
pub(super) const CONTROL_VERSION: i16 = 0;

/// Attempts at finding a free `.part` name before giving up (each one is `create_new`).
const PART_NAME_ATTEMPTS_MAX: u32 = 100;

/// A snapshot being written. Dropping it before [`SnapshotWriter::freeze`] removes the
/// partial file, so an abandoned snapshot never becomes visible.
#[derive(Debug)]
pub struct SnapshotWriter {
    id: SnapshotId,
    dir: PathBuf,
    part_path: PathBuf,
    /// `None` once frozen.
    file: Option<BufWriter<File>>,
    next_offset: i64,
    size_bytes: u64,
}

impl SnapshotWriter {
    /// Starts snapshot `id` in the metadata log directory `dir` and writes its header.
    /// `last_contained_log_timestamp_ms` is the append time of the last record it reflects
    /// (the header's `LastContainedLogTimestamp`, which `metadata.max.retention.ms` measures);
    /// `now_ms` stamps the control batches.
    ///
    /// Refuses an id with a negative offset or epoch, and a snapshot that already exists:
    /// nothing is overwritten.
    pub fn create(
        dir: &Path,
        id: SnapshotId,
        last_contained_log_timestamp_ms: i64,
        now_ms: i64,
    ) -> Result<SnapshotWriter> {
        let final_path = id.path(dir);
        if !id.is_valid() {
            return Err(Error::Snapshot {
                path: final_path,
                reason: format!("snapshot id {id:?} has a negative offset or epoch"),
            });
        }
        if final_path.exists() {
            return Err(Error::Snapshot {
                path: final_path,
                reason: "the snapshot already exists".into(),
            });
        }
        let (part_path, file) = create_part_file(dir, id)?;
        let mut writer = SnapshotWriter {
            id,
            dir: dir.to_path_buf(),
            part_path,
            file: Some(BufWriter::new(file)),
            next_offset: 0,
            size_bytes: 0,
        };
        let header = SnapshotHeaderRecord {
            version: CONTROL_VERSION,
            last_contained_log_timestamp: last_contained_log_timestamp_ms,
        };
        writer.write_control(ControlRecordType::SnapshotHeader, &header, now_ms)?;
        Ok(writer)
    }

    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// The offset (inside the snapshot) the next data batch must start at.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Appends one data batch, byte for byte. It must be a data (not control) batch starting
    /// at [`SnapshotWriter::next_offset`], stamped with the snapshot's epoch and no larger than
    /// [`SNAPSHOT_BATCH_BYTES_MAX`]; anything else is refused, as a reader would refuse it.
    pub fn append(&mut self, batch: &Batch) -> Result<()> {
        let h = &batch.header;
        let problem = if h.is_control() {
            Some("a control batch cannot be appended as data".to_string())
        } else if h.base_offset != self.next_offset {
            Some(format!(
                "batch starts at offset {}, expected {}",
                h.base_offset, self.next_offset
            ))
        } else if h.partition_leader_epoch != self.id.epoch {
            Some(format!(
                "batch has epoch {}, the snapshot's epoch is {}",
                h.partition_leader_epoch, self.id.epoch
            ))
        } else if batch.size_in_bytes() > SNAPSHOT_BATCH_BYTES_MAX {
            Some(format!(
                "batch of {} bytes exceeds the {SNAPSHOT_BATCH_BYTES_MAX}-byte limit",
                batch.size_in_bytes()
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            return Err(Error::Snapshot {
                path: self.part_path.clone(),
                reason,
            });
        }
        self.write_batch(batch)
    }

    /// Writes the footer, makes the file durable and gives it its final name. After this
    /// returns, the snapshot survives a crash; the returned file describes it.
    pub fn freeze(mut self, now_ms: i64) -> Result<SnapshotFile> {
        let footer = SnapshotFooterRecord {
            version: CONTROL_VERSION,
        };
        self.write_control(ControlRecordType::SnapshotFooter, &footer, now_ms)?;
        let file = self.file.take().expect("a writer is frozen once");
        let file = file
            .into_inner()
            .map_err(|e| Error::io(&self.part_path, e.into_error()))?;
        file.sync_all().ctx(&self.part_path)?;
        drop(file);
        let path = self.id.path(&self.dir);
        // Checked again: another writer of the same id may have finished meanwhile.
        if path.exists() {
            return Err(Error::Snapshot {
                path,
                reason: "the snapshot already exists".into(),
            });
        }
        fs::rename(&self.part_path, &path).ctx(&path)?;
        fs_util::sync_dir(&self.dir)?;
        Ok(SnapshotFile {
            id: self.id,
            path,
            size_bytes: self.size_bytes,
        })
    }

    /// One control batch holding one record of `kind` whose value is `message` at version 0.
    fn write_control<M: Message>(
        &mut self,
        kind: ControlRecordType,
        message: &M,
        now_ms: i64,
    ) -> Result<()> {
        let mut value = BytesMut::with_capacity(message.encoded_size(CONTROL_VERSION));
        message.encode(&mut value, CONTROL_VERSION);
        let mut builder = BatchBuilder::new(Compression::None)
            .base_offset(self.next_offset)
            .partition_leader_epoch(self.id.epoch)
            .control();
        let built = builder
            .append(now_ms, Some(&kind.key()), Some(&value), &[])
            .and_then(|()| builder.build());
        let batch = built.map_err(|e| Error::Snapshot {
            path: self.part_path.clone(),
            reason: format!("cannot build the {kind:?} control batch: {e}"),
        })?;
        self.write_batch(&batch)
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<()> {
        let file = self.file.as_mut().expect("not frozen");
        file.write_all(&batch.bytes).ctx(&self.part_path)?;
        self.next_offset = batch.header.next_offset();
        self.size_bytes += batch.size_in_bytes() as u64;
        Ok(())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Abandoned: the `.part` file must not linger. A failure here leaves it for
            // `list` to remove at the next start.
            let _ = fs_util::remove_if_exists(&self.part_path);
        }
    }
}

/// Creates `<id>-<n>.checkpoint.part` with a name no other file has (Kafka uses
/// `Files.createTempFile`; `create_new` gives the same guarantee without a random source).
fn create_part_file(dir: &Path, id: SnapshotId) -> Result<(PathBuf, File)> {
    let first = std::process::id();
    for n in 0..PART_NAME_ATTEMPTS_MAX {
        let path = dir.join(format!("{id}-{}{PARTIAL_SUFFIX}", first.wrapping_add(n)));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Err(Error::Snapshot {
        path: id.path(dir),
        reason: format!("{PART_NAME_ATTEMPTS_MAX} partial files of this snapshot already exist"),
    })
}
