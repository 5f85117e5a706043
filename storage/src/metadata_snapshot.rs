//! KRaft metadata snapshots `<end offset>-<epoch>.checkpoint` in `__cluster_metadata-0`
//! (KIP-630, `docs/formats.md` §13): the snapshot id and its file name, listing the
//! snapshots of a directory (clearing what a crash left behind), writing, reading with
//! validation, deleting, and the rules that decide what start-up loads ([`recovery`]) and
//! which snapshots and log segments retention removes ([`retention`]).
//!
//! Input: the files of the metadata log directory, possibly written by Apache Kafka 3.9
//! (`raft/src/main/java/org/apache/kafka/snapshot/Snapshots.java`, `RecordsSnapshotWriter.java`,
//! `FileRawSnapshotWriter.java`, `core/src/main/scala/kafka/raft/KafkaMetadataLog.scala`).
//! This module moves RecordBatch v2 batches; the metadata records inside the data batches
//! are encoded and decoded by the `metadata` crate (`metadata::snapshot`).

mod reader;
pub mod recovery;
pub mod retention;
mod writer;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{IoContext, Result};
use crate::fs_util;

pub use reader::{read_all, SnapshotContents, SnapshotReader};
pub use writer::SnapshotWriter;

/// Suffix of a complete snapshot.
pub const SNAPSHOT_SUFFIX: &str = ".checkpoint";
/// Suffix of a snapshot being written; such a file is never read, and removed at listing.
pub const PARTIAL_SUFFIX: &str = ".checkpoint.part";
/// Suffix of a snapshot being deleted; removed at listing.
pub const DELETED_SUFFIX: &str = ".checkpoint.deleted";
/// Digits of the end offset in a file name (`Snapshots.OFFSET_WIDTH`).
const OFFSET_WIDTH: usize = 20;
/// Digits of the epoch in a file name (`Snapshots.EPOCH_WIDTH`).
const EPOCH_WIDTH: usize = 10;
/// `<offset>-<epoch>`: the part of every snapshot file name before its suffix.
const ID_WIDTH: usize = OFFSET_WIDTH + 1 + EPOCH_WIDTH;

/// Largest batch in a snapshot: Kafka's Raft client caps every batch, snapshots included, at
/// 8 MiB (`KafkaRaftClient.MAX_BATCH_SIZE_BYTES`), also the FetchSnapshot chunk it serves. A
/// longer `batchLength` is corruption, not a reason to allocate.
pub const SNAPSHOT_BATCH_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Which snapshot: its end offset (exclusive — one past the last offset it contains) and the
/// epoch of that last offset (Kafka's `OffsetAndEpoch`). Ordered by offset, then epoch, as
/// Kafka orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    pub end_offset: i64,
    pub epoch: i32,
}

impl SnapshotId {
    /// The id of a snapshot whose last record is at `last_contained_offset`, written in
    /// `epoch` (an image's provenance).
    pub fn after(last_contained_offset: i64, epoch: i32) -> SnapshotId {
        SnapshotId {
            end_offset: last_contained_offset.saturating_add(1),
            epoch,
        }
    }

    /// The offset of the last record the snapshot reflects.
    pub fn last_contained_offset(&self) -> i64 {
        self.end_offset - 1
    }

    /// `00000000000000004711-0000000007.checkpoint`.
    pub fn file_name(&self) -> String {
        format!("{self}{SNAPSHOT_SUFFIX}")
    }

    /// The snapshot's path in the metadata log directory `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// Only ids with a non-negative offset and epoch have a file name Kafka can parse back.
    fn is_valid(&self) -> bool {
        self.end_offset >= 0 && self.epoch >= 0
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:0ow$}-{:0ew$}",
            self.end_offset,
            self.epoch,
            ow = OFFSET_WIDTH,
            ew = EPOCH_WIDTH
        )
    }
}

/// What state a snapshot file's name says it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFileKind {
    Complete,
    /// `<id>-<digits>.checkpoint.part`: being written, or abandoned by a crash.
    Partial,
    /// `<id>.checkpoint.deleted`: being deleted.
    Deleted,
}

/// Parses a snapshot file name; `None` for a name that is not a snapshot file. Parsed by
/// position, as `Snapshots.parse` does, but strictly: the offset and epoch must be all
/// digits, and a complete or deleted snapshot has nothing else before its suffix.
pub fn parse_file_name(name: &str) -> Option<(SnapshotId, SnapshotFileKind)> {
    let (stem, kind) = if let Some(stem) = name.strip_suffix(PARTIAL_SUFFIX) {
        (stem, SnapshotFileKind::Partial)
    } else if let Some(stem) = name.strip_suffix(DELETED_SUFFIX) {
        (stem, SnapshotFileKind::Deleted)
    } else {
        (
            name.strip_suffix(SNAPSHOT_SUFFIX)?,
            SnapshotFileKind::Complete,
        )
    };
    let id_part = stem.get(..ID_WIDTH).filter(|p| p.is_ascii())?;
    let rest = &stem[ID_WIDTH..];
    let rest_ok = match kind {
        // `Files.createTempFile` appends random digits after a `-`.
        SnapshotFileKind::Partial => rest.is_empty() || rest.starts_with('-'),
        _ => rest.is_empty(),
    };
    let (offset, epoch) = id_part.split_at(OFFSET_WIDTH);
    let epoch = epoch.strip_prefix('-')?;
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !rest_ok || !all_digits(offset) || !all_digits(epoch) {
        return None;
    }
    let id = SnapshotId {
        end_offset: offset.parse().ok()?,
        epoch: epoch.parse().ok()?,
    };
    Some((id, kind))
}

/// A complete snapshot found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub id: SnapshotId,
    pub path: PathBuf,
    pub size_bytes: u64,
}

/// The complete snapshots in `dir`, oldest first. Partial and deleted snapshot files are
/// removed (a crash interrupted their writing or deletion; Kafka's `recoverSnapshots` does the
/// same); a file that ends in `.checkpoint` but whose name does not parse is left alone and
/// warned about. The contents are not read: [`SnapshotReader`] validates a snapshot when it
/// is loaded.
pub fn list(dir: &Path) -> Result<Vec<SnapshotFile>> {
    let mut found = Vec::new();
    let mut removed = false;
    for entry in fs::read_dir(dir).ctx(dir)? {
        let entry = entry.ctx(dir)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let looks_like_snapshot = [SNAPSHOT_SUFFIX, PARTIAL_SUFFIX, DELETED_SUFFIX]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        match parse_file_name(&name) {
            Some((id, SnapshotFileKind::Complete)) => {
                let size_bytes = entry.metadata().ctx(&path)?.len();
                found.push(SnapshotFile {
                    id,
                    path,
                    size_bytes,
                });
            }
            Some((id, kind)) => {
                info!(file = %path.display(), snapshot = %id, ?kind, "removing leftover snapshot file");
                removed |= fs_util::remove_if_exists(&path)?;
            }
            None if looks_like_snapshot => {
                warn!(
                    file = %path.display(),
                    "ignoring a file whose name is not <20-digit offset>-<10-digit epoch>.checkpoint"
                );
            }
            None => {}
        }
    }
    if removed {
        fs_util::sync_dir(dir)?;
    }
    found.sort_by_key(|f| f.id);
    Ok(found)
}

/// Deletes snapshot `id` from `dir`: renamed to `.checkpoint.deleted` first (a crash between
/// the two steps leaves a file [`list`] removes, never a snapshot that looks complete but is
/// half gone), then removed. A reader that already opened the file keeps reading it. Returns
/// whether the snapshot existed.
pub fn delete(dir: &Path, id: SnapshotId) -> Result<bool> {
    let path = id.path(dir);
    let deleted = dir.join(format!("{id}{DELETED_SUFFIX}"));
    let renamed = fs_util::rename_if_exists(&path, &deleted)?;
    if renamed {
        fs_util::sync_dir(dir)?;
    }
    let removed = fs_util::remove_if_exists(&deleted)?;
    if removed {
        info!(file = %path.display(), "deleted metadata snapshot");
    }
    Ok(renamed || removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas() {
        let id = SnapshotId {
            end_offset: 4711,
            epoch: 7,
        };
        assert_eq!(id.file_name(), "00000000000000004711-0000000007.checkpoint");
        assert_eq!(id.last_contained_offset(), 4710);
        assert_eq!(SnapshotId::after(4710, 7), id);
        assert_eq!(
            parse_file_name("00000000000000004711-0000000007.checkpoint"),
            Some((id, SnapshotFileKind::Complete))
        );
        assert_eq!(
            parse_file_name("00000000000000004711-0000000007-123456789.checkpoint.part"),
            Some((id, SnapshotFileKind::Partial))
        );
        assert_eq!(
            parse_file_name("00000000000000004711-0000000007.checkpoint.deleted"),
            Some((id, SnapshotFileKind::Deleted))
        );
        let max = SnapshotId {
            end_offset: i64::MAX,
            epoch: i32::MAX,
        };
        assert_eq!(
            parse_file_name(&max.file_name()),
            Some((max, SnapshotFileKind::Complete))
        );
        for bad in [
            "bootstrap.checkpoint",
            "00000000000000004711-0000000007x.checkpoint",
            "0000000000000000471-0000000007.checkpoint",
            "00000000000000004711_0000000007.checkpoint",
            "+0000000000000004711-0000000007.checkpoint",
            "00000000000000004711-000000000é.checkpoint",
            "0000000000000000471é-000000000.checkpoint",
            "99999999999999999999-0000000007.checkpoint",
            "00000000000000004711-9999999999.checkpoint",
            "00000000000000004711.log",
            "leader-epoch-checkpoint",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
        assert!(
            SnapshotId {
                end_offset: 1,
                epoch: 0
            } < SnapshotId {
                end_offset: 2,
                epoch: 0
            }
        );
    }

    #[test]
    fn listing_clears_leftovers_and_skips_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = SnapshotId {
            end_offset: 10,
            epoch: 1,
        };
        let b = SnapshotId {
            end_offset: 20,
            epoch: 2,
        };
        for name in [
            b.file_name(),
            a.file_name(),
            format!("{a}-42{PARTIAL_SUFFIX}"),
            format!("{b}{DELETED_SUFFIX}"),
            "garbage.checkpoint".into(),
            "00000000000000000000.log".into(),
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        let listed = list(d).unwrap();
        assert_eq!(listed.iter().map(|f| f.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(listed[0].size_bytes, 1);
        assert!(!d.join(format!("{a}-42{PARTIAL_SUFFIX}")).exists());
        assert!(!d.join(format!("{b}{DELETED_SUFFIX}")).exists());
        assert!(d.join("garbage.checkpoint").exists());
        assert!(d.join("00000000000000000000.log").exists());

        assert!(delete(d, a).unwrap());
        assert!(!delete(d, a).unwrap());
        assert_eq!(list(d).unwrap().len(), 1);
    }
}
