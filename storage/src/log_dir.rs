//! One entry of `log.dirs` (`docs/formats.md` §2.1, §2.2, §4): finds the partition directories,
//! loads their logs with the dir's recovery-point / log-start-offset checkpoints and clean-shutdown
//! marker, writes those checkpoints back, and deletes partition directories.
//!
//! Input: the log dir's listing and root files, possibly written by Apache Kafka. Owns no
//! logs: the broker keeps each `PartitionLog` behind its own lock and hands `LogDir` the
//! values to checkpoint.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use protocol::Uuid;
use tracing::{info, warn};

use crate::checkpoint::{
    self, OffsetEntry, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT, REPLICATION_OFFSET_CHECKPOINT,
};
use crate::clean_shutdown::{self, CleanShutdown};
use crate::error::{Error, IoContext, Result};
use crate::fs_util;
use crate::log::{LoadOptions, LogCheckpoints, LogConfig, PartitionLog, Shutdown};
use crate::topic_partition::{parse_log_dir_name, LogDirKind, TopicPartition};

/// KRaft's metadata log lives in a log dir but is not a LogManager log.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Tiered storage's cache directory; not a partition.
const REMOTE_LOG_INDEX_CACHE_DIR: &str = "remote-log-index-cache";
/// Longest file name most file systems allow.
const DIR_NAME_LEN_MAX: usize = 255;

/// A partition directory found in a log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDir {
    pub path: PathBuf,
    pub topic_partition: TopicPartition,
    pub kind: LogDirKind,
}

/// A log dir opened at start-up.
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    clean_shutdown: Option<CleanShutdown>,
    recovery_points: BTreeMap<TopicPartition, i64>,
    log_start_offsets: BTreeMap<TopicPartition, i64>,
}

/// Reads an offset checkpoint; a broken file is logged and treated as empty, as LogManager
/// does (recovery points → 0 means full recovery, which is safe).
fn read_offsets_or_empty(path: &Path) -> Result<BTreeMap<TopicPartition, i64>> {
    match checkpoint::read::<OffsetEntry>(path) {
        Ok(entries) => Ok(entries
            .into_iter()
            .map(|e| (e.topic_partition, e.offset))
            .collect()),
        Err(e @ (Error::Parse { .. } | Error::Corrupt { .. })) => {
            warn!(error = %e, "ignoring unreadable checkpoint");
            Ok(BTreeMap::new())
        }
        Err(e) => Err(e),
    }
}

/// Writes an offset checkpoint from a map (sorted by partition).
fn write_offsets(path: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    let entries: Vec<OffsetEntry> = offsets
        .iter()
        .map(|(tp, &offset)| OffsetEntry {
            topic_partition: tp.clone(),
            offset,
        })
        .collect();
    checkpoint::write(path, &entries)
}

/// `<topic>-<partition>.<32 hex>-delete`, the topic cut so the name stays ≤ 255 bytes (Kafka
/// `LocalLog.logDeleteDirName`).
pub fn delete_dir_name(tp: &TopicPartition, unique_id: [u8; 16]) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(32);
    for b in unique_id {
        let _ = write!(hex, "{b:02x}");
    }
    let suffix = format!("-{}.{hex}{}", tp.partition, LogDirKind::Delete.suffix());
    let mut cut = tp
        .topic
        .len()
        .min(DIR_NAME_LEN_MAX.saturating_sub(suffix.len()));
    while !tp.topic.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &tp.topic[..cut])
}

impl LogDir {
    /// Opens a log dir at start-up: creates it if missing, reads and then deletes
    /// `.kafka_cleanshutdown` (§4), reads the recovery-point and log-start-offset
    /// checkpoints, and creates the empty checkpoint files Kafka creates.
    pub fn open(path: &Path) -> Result<Self> {
        fs::create_dir_all(path).ctx(path)?;
        let clean_shutdown = clean_shutdown::read(path)?;
        clean_shutdown::remove(path)?;
        let recovery_points = read_offsets_or_empty(&path.join(RECOVERY_POINT_CHECKPOINT))?;
        let log_start_offsets = read_offsets_or_empty(&path.join(LOG_START_OFFSET_CHECKPOINT))?;
        for name in [
            RECOVERY_POINT_CHECKPOINT,
            LOG_START_OFFSET_CHECKPOINT,
            REPLICATION_OFFSET_CHECKPOINT,
        ] {
            checkpoint::ensure_exists(&path.join(name))?;
        }
        Ok(LogDir {
            path: path.to_path_buf(),
            clean_shutdown,
            recovery_points,
            log_start_offsets,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the previous shutdown left the clean-shutdown marker.
    pub fn shutdown(&self) -> Shutdown {
        if self.clean_shutdown.is_some() {
            Shutdown::Clean
        } else {
            Shutdown::Unclean
        }
    }

    /// Broker epoch from the marker (KIP-966 `PreviousBrokerEpoch`).
    pub fn previous_broker_epoch(&self) -> Option<i64> {
        self.clean_shutdown.and_then(|c| c.broker_epoch)
    }

    /// Checkpointed values for one partition, for `PartitionLog::open`.
    pub fn load_options(&self, tp: &TopicPartition) -> LoadOptions {
        LoadOptions {
            recovery_point: self.recovery_points.get(tp).copied().unwrap_or(0),
            log_start_offset: self.log_start_offsets.get(tp).copied().unwrap_or(0),
            shutdown: self.shutdown(),
        }
    }

    /// Partition directories, sorted by name. Skips files, `__cluster_metadata-0` and the
    /// remote index cache; any other directory that is not a partition is an error, as in
    /// Kafka (it would otherwise be silently ignored data).
    pub fn scan(&self) -> Result<Vec<PartitionDir>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.path).ctx(&self.path)? {
            let entry = entry.ctx(&self.path)?;
            let path = entry.path();
            if !entry.file_type().ctx(&path)?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let name = name.to_str().unwrap_or("");
            if name == REMOTE_LOG_INDEX_CACHE_DIR {
                continue;
            }
            let (topic_partition, kind) = parse_log_dir_name(name)
                .ok_or_else(|| Error::InvalidPartitionDir { path: path.clone() })?;
            if topic_partition.topic == METADATA_TOPIC {
                continue;
            }
            out.push(PartitionDir {
                path,
                topic_partition,
                kind,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Loads every partition directory: `-delete` directories are removed, the rest opened
    /// (live, `-future` and `-stray` alike; the caller decides what to do with the latter).
    /// Each log's result is returned separately so one corrupt partition does not hide the
    /// others; the outer error is a failure to list the dir.
    pub fn load_logs(
        &self,
        mut config_for: impl FnMut(&TopicPartition) -> LogConfig,
        now_ms: i64,
    ) -> Result<Vec<(PartitionDir, Result<PartitionLog>)>> {
        let mut out = Vec::new();
        for pd in self.scan()? {
            if pd.kind == LogDirKind::Delete {
                info!(dir = %pd.path.display(), "removing deleted partition directory");
                fs::remove_dir_all(&pd.path).ctx(&pd.path)?;
                fs_util::sync_dir(&self.path)?;
                continue;
            }
            let log = PartitionLog::open(
                &pd.path,
                config_for(&pd.topic_partition),
                self.load_options(&pd.topic_partition),
                now_ms,
            );
            out.push((pd, log));
        }
        Ok(out)
    }

    /// Creates the directory and first segment of a new partition log here.
    pub fn create_log(
        &self,
        tp: &TopicPartition,
        topic_id: Option<Uuid>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<PartitionLog> {
        PartitionLog::create(&self.path.join(tp.to_string()), topic_id, config, now_ms)
    }

    /// Writes `recovery-point-offset-checkpoint` (every log) and `log-start-offset-checkpoint`
    /// (logs whose start is above their first segment) for the logs of this dir.
    pub fn write_checkpoints(&self, logs: &[LogCheckpoints]) -> Result<()> {
        let mut sorted: Vec<&LogCheckpoints> = logs.iter().collect();
        sorted.sort_by(|a, b| a.topic_partition.cmp(&b.topic_partition));
        let recovery: Vec<OffsetEntry> = sorted
            .iter()
            .map(|l| OffsetEntry {
                topic_partition: l.topic_partition.clone(),
                offset: l.recovery_point,
            })
            .collect();
        let starts: Vec<OffsetEntry> = sorted
            .iter()
            .filter_map(|l| {
                l.log_start_offset.map(|offset| OffsetEntry {
                    topic_partition: l.topic_partition.clone(),
                    offset,
                })
            })
            .collect();
        checkpoint::write(&self.path.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
        checkpoint::write(&self.path.join(LOG_START_OFFSET_CHECKPOINT), &starts)
    }

    /// High watermarks from `replication-offset-checkpoint` (written by the replica manager).
    pub fn read_high_watermarks(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        read_offsets_or_empty(&self.path.join(REPLICATION_OFFSET_CHECKPOINT))
    }

    /// Writes `replication-offset-checkpoint`.
    pub fn write_high_watermarks(
        &self,
        high_watermarks: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        write_offsets(
            &self.path.join(REPLICATION_OFFSET_CHECKPOINT),
            high_watermarks,
        )
    }

    /// First dirty offsets from `cleaner-offset-checkpoint` (written by the log cleaner); an
    /// unreadable file means "clean everything again", which is safe.
    pub fn read_cleaner_offsets(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        read_offsets_or_empty(&self.path.join(CLEANER_OFFSET_CHECKPOINT))
    }

    /// Writes `cleaner-offset-checkpoint`.
    pub fn write_cleaner_offsets(&self, first_dirty: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        write_offsets(&self.path.join(CLEANER_OFFSET_CHECKPOINT), first_dirty)
    }

    /// Deletes a partition's log: [`LogDir::mark_deleted`], then removes the directory.
    /// `unique_id` is the caller's random UUID (`docs/architecture.md` §7.2).
    pub fn delete_log(&self, mut log: PartitionLog, unique_id: [u8; 16]) -> Result<()> {
        self.mark_deleted(&mut log, unique_id)?;
        let dir = log.dir().to_path_buf();
        drop(log);
        fs::remove_dir_all(&dir).ctx(&dir)?;
        fs_util::sync_dir(&self.path)
    }

    /// Renames a deleted partition's directory to `<topic>-<partition>.<id>-delete` at once,
    /// as Kafka's `LogManager.asyncDelete` does: the name is free for a topic re-created
    /// while a request still holds the old log (which keeps working in the renamed
    /// directory until it is removed), and a crash before the removal leaves a directory
    /// the next start removes. A log marked already stays where it is.
    pub fn mark_deleted(&self, log: &mut PartitionLog, unique_id: [u8; 16]) -> Result<()> {
        if is_marked_deleted(log) {
            return Ok(());
        }
        let to = self
            .path
            .join(delete_dir_name(log.topic_partition(), unique_id));
        log.rename_dir(to)?;
        fs_util::sync_dir(&self.path)
    }

    /// Writes `.kafka_cleanshutdown` after every log of the dir was closed and the checkpoints
    /// were written.
    pub fn write_clean_shutdown(&self, broker_epoch: i64) -> Result<()> {
        clean_shutdown::write(&self.path, broker_epoch)
    }
}

/// Whether `log`'s directory already carries the `-delete` suffix.
fn is_marked_deleted(log: &PartitionLog) -> bool {
    log.dir()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_log_dir_name)
        .is_some_and(|(_, kind)| kind == LogDirKind::Delete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::test_batch::client_batch;
    use crate::log::FirstBatch;

    #[test]
    fn delete_dir_names() {
        let tp = TopicPartition::new("orders", 3);
        let name = delete_dir_name(&tp, [0xab; 16]);
        assert_eq!(name, format!("orders-3.{}-delete", "ab".repeat(16)));
        assert_eq!(parse_log_dir_name(&name), Some((tp, LogDirKind::Delete)));
        let long = TopicPartition::new("t".repeat(249), 12345);
        let name = delete_dir_name(&long, [1; 16]);
        assert!(name.len() <= 255);
        assert_eq!(parse_log_dir_name(&name).unwrap().1, LogDirKind::Delete);
    }

    fn produce(log: &mut PartitionLog, batches: usize) {
        for _ in 0..batches {
            let mut b = client_batch(2, 1_000, 30);
            log.append_as_leader(&mut b, 0, 0).unwrap();
        }
    }

    /// A deleted log still held by a request frees its directory name at once; it keeps
    /// working in the renamed directory (a roll and a clean close write nothing under the old
    /// name, where a re-created topic now lives) until the deletion removes it.
    #[test]
    fn a_log_marked_deleted_keeps_working_elsewhere() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = LogDir::open(tmp.path()).unwrap();
        let cfg = LogConfig {
            segment_bytes: 1024,
            ..LogConfig::default()
        };
        let tp = TopicPartition::new("t", 0);
        let mut old = dir
            .create_log(&tp, Some(Uuid([1; 16])), cfg.clone(), 0)
            .unwrap();
        produce(&mut old, 3);
        dir.mark_deleted(&mut old, [7; 16]).unwrap();
        let marked = old.dir().to_path_buf();
        assert_eq!(marked, tmp.path().join(delete_dir_name(&tp, [7; 16])));
        let live = tmp.path().join("t-0");
        assert!(!live.exists(), "the name is free");

        let mut new = dir.create_log(&tp, Some(Uuid([2; 16])), cfg, 0).unwrap();
        produce(&mut old, 20);
        assert!(old.segment_base_offsets().len() > 1, "rolled");
        produce(&mut new, 1);
        let names = |d: &Path| {
            let mut n: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        let before = names(&live);
        assert!(names(&marked).len() > before.len(), "{:?}", names(&marked));
        dir.delete_log(old, [8; 16]).unwrap();
        assert!(!marked.exists(), "removed, not renamed twice");
        assert_eq!(
            names(&live),
            before,
            "the new topic's directory is untouched"
        );
        assert_eq!(new.log_end_offset(), 2, "one batch of two records");
    }

    #[test]
    fn broker_lifecycle() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("kafka-logs");
        let cfg = LogConfig {
            segment_bytes: 1024,
            ..LogConfig::default()
        };
        let dir = LogDir::open(&root).unwrap();
        assert_eq!(dir.shutdown(), Shutdown::Unclean);
        for name in [
            RECOVERY_POINT_CHECKPOINT,
            LOG_START_OFFSET_CHECKPOINT,
            REPLICATION_OFFSET_CHECKPOINT,
        ] {
            assert_eq!(
                fs::read(root.join(name)).unwrap(),
                b"",
                "{name} created empty"
            );
        }
        let tp_a = TopicPartition::new("a.b-c", 0);
        let tp_b = TopicPartition::new("__consumer_offsets", 3);
        let mut a = dir
            .create_log(&tp_a, Some(Uuid([1; 16])), cfg.clone(), 0)
            .unwrap();
        let mut b = dir.create_log(&tp_b, None, cfg.clone(), 0).unwrap();
        produce(&mut a, 20);
        produce(&mut b, 30);
        let b_start = b.segment_base_offsets()[1] + 2;
        let (_, deleted) = b.delete_records_before(b_start).unwrap();
        deleted.remove().unwrap();
        fs::create_dir(root.join("__cluster_metadata-0")).unwrap();
        let stale = root.join(format!("gone-1.{}-delete", "0".repeat(32)));
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("00000000000000000000.log"), b"x").unwrap();
        let mut hw = BTreeMap::new();
        hw.insert(tp_a.clone(), 40);
        dir.write_high_watermarks(&hw).unwrap();

        // Clean shutdown: close logs, checkpoints, then the marker.
        let cps = vec![a.close().unwrap(), b.close().unwrap()];
        dir.write_checkpoints(&cps).unwrap();
        dir.write_clean_shutdown(42).unwrap();
        assert_eq!(
            fs::read_to_string(root.join(RECOVERY_POINT_CHECKPOINT)).unwrap(),
            "0\n2\n__consumer_offsets 3 60\na.b-c 0 40\n"
        );
        assert_eq!(
            fs::read_to_string(root.join(LOG_START_OFFSET_CHECKPOINT)).unwrap(),
            format!("0\n1\n__consumer_offsets 3 {b_start}\n")
        );

        let dir = LogDir::open(&root).unwrap();
        assert_eq!(dir.shutdown(), Shutdown::Clean);
        assert_eq!(dir.previous_broker_epoch(), Some(42));
        assert!(!root.join(clean_shutdown::CLEAN_SHUTDOWN_FILE).exists());
        assert_eq!(dir.read_high_watermarks().unwrap(), hw);
        assert!(dir.read_cleaner_offsets().unwrap().is_empty());
        dir.write_cleaner_offsets(&hw).unwrap();
        assert_eq!(
            fs::read_to_string(root.join(CLEANER_OFFSET_CHECKPOINT)).unwrap(),
            "0\n1\na.b-c 0 40\n"
        );
        assert_eq!(dir.read_cleaner_offsets().unwrap(), hw);
        let loaded = dir.load_logs(|_| cfg.clone(), 0).unwrap();
        assert!(!stale.exists(), "-delete dirs are removed at load");
        assert_eq!(loaded.len(), 2);
        let mut logs: BTreeMap<TopicPartition, PartitionLog> = loaded
            .into_iter()
            .map(|(pd, log)| (pd.topic_partition, log.unwrap()))
            .collect();
        let b = &logs[&tp_b];
        assert_eq!(
            (b.log_start_offset(), b.log_end_offset(), b.recovery_point()),
            (b_start, 60, 60)
        );
        let data = b
            .read(b_start, 1 << 20, 60, FirstBatch::AlwaysWhole)
            .unwrap();
        assert!(!data.is_empty());
        let a = logs.remove(&tp_a).unwrap();
        assert_eq!(
            (a.log_end_offset(), a.topic_id()),
            (40, Some(Uuid([1; 16])))
        );

        // Deleting a partition removes its directory.
        let a_dir = a.dir().to_path_buf();
        dir.delete_log(a, [7; 16]).unwrap();
        assert!(!a_dir.exists());
        assert_eq!(dir.scan().unwrap().len(), 1);

        // Anything else in the log dir stops loading, naming the directory.
        fs::create_dir(root.join("lost+found")).unwrap();
        let err = dir.scan().unwrap_err().to_string();
        assert!(err.contains("lost+found"), "{err}");
    }

    #[test]
    fn broken_checkpoints_mean_full_recovery() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(RECOVERY_POINT_CHECKPOINT), "garbage").unwrap();
        let dir = LogDir::open(tmp.path()).unwrap();
        let opts = dir.load_options(&TopicPartition::new("t", 0));
        assert_eq!((opts.recovery_point, opts.log_start_offset), (0, 0));
    }
}
