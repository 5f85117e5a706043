//! What start-up does with the metadata snapshots it finds (Kafka 3.9
//! `KafkaMetadataLog.recoverSnapshots` and `truncateToLatestSnapshot`). Pure: the caller
//! lists the snapshots ([`super::list`], which has already removed `.part` and `.deleted`
//! files), describes the recovered log, and gets back what to delete, whether the log must be
//! emptied, and which snapshot to load before replaying the log from its end offset.

use super::SnapshotId;

/// The recovered `__cluster_metadata-0` log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// The first offset the log holds (its first segment's base offset).
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// The epoch of the log's last batch; `None` for an empty log.
    pub latest_epoch: Option<i32>,
}

/// What to do before loading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryPlan {
    /// Snapshots no longer needed, oldest first.
    pub delete_snapshots: Vec<SnapshotId>,
    /// `Some(offset)`: the latest snapshot is ahead of the log (a follower crashed after
    /// fetching a snapshot but before truncating), so the log must be emptied and restarted
    /// at `offset`.
    pub truncate_fully_to: Option<i64>,
    /// The snapshot to load (the latest); the log is then replayed from its end offset.
    /// `None`: replay the log from its start.
    pub load: Option<SnapshotId>,
}

/// The log starts above offset 0 but no snapshot covers the records below its start, so the
/// metadata cannot be rebuilt. Kafka refuses to start in this state too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "inconsistent metadata snapshots: the metadata log starts at offset {log_start_offset}, but \
     the latest snapshot is {latest:?}; a snapshot at or after the log start is required"
)]
pub struct InconsistentSnapshots {
    pub log_start_offset: i64,
    pub latest: Option<SnapshotId>,
}

/// The start-up plan for `log` and the complete `snapshots` found beside it (any order).
pub fn plan(
    log: LogState,
    snapshots: &[SnapshotId],
) -> Result<RecoveryPlan, InconsistentSnapshots> {
    let mut snapshots = snapshots.to_vec();
    snapshots.sort_unstable();
    let (mut delete, retained): (Vec<_>, Vec<_>) = snapshots
        .into_iter()
        .partition(|s| s.end_offset < log.log_start_offset);
    let latest = retained.last().copied();
    if log.log_start_offset > 0 && latest.is_none_or(|s| s.end_offset < log.log_start_offset) {
        return Err(InconsistentSnapshots {
            log_start_offset: log.log_start_offset,
            latest,
        });
    }
    let mut truncate_fully_to = None;
    if let Some(latest) = latest {
        let log_epoch = log.latest_epoch.unwrap_or(0);
        if latest.epoch > log_epoch
            || (latest.epoch == log_epoch && latest.end_offset > log.log_end_offset)
        {
            truncate_fully_to = Some(latest.end_offset);
            delete.extend(retained.iter().copied().filter(|s| *s < latest));
        }
    }
    Ok(RecoveryPlan {
        delete_snapshots: delete,
        truncate_fully_to,
        load: latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(end_offset: i64, epoch: i32) -> SnapshotId {
        SnapshotId { end_offset, epoch }
    }

    fn log(start: i64, end: i64, epoch: Option<i32>) -> LogState {
        LogState {
            log_start_offset: start,
            log_end_offset: end,
            latest_epoch: epoch,
        }
    }

    #[test]
    fn a_whole_log_without_snapshots_replays_from_the_start() {
        assert_eq!(plan(log(0, 0, None), &[]), Ok(RecoveryPlan::default()));
        assert_eq!(plan(log(0, 500, Some(3)), &[]), Ok(RecoveryPlan::default()));
    }

    #[test]
    fn the_latest_snapshot_is_loaded_and_older_ones_below_the_start_go() {
        let p = plan(log(100, 500, Some(3)), &[id(300, 3), id(50, 1), id(120, 2)]).unwrap();
        assert_eq!(
            p,
            RecoveryPlan {
                delete_snapshots: vec![id(50, 1)],
                truncate_fully_to: None,
                load: Some(id(300, 3)),
            }
        );
    }

    #[test]
    fn a_snapshot_ahead_of_the_log_replaces_it() {
        // Same epoch, past the end.
        let p = plan(log(0, 200, Some(3)), &[id(150, 3), id(400, 3)]).unwrap();
        assert_eq!(p.truncate_fully_to, Some(400));
        assert_eq!(p.delete_snapshots, vec![id(150, 3)]);
        assert_eq!(p.load, Some(id(400, 3)));
        // A later epoch, even below the end: the log may have diverged.
        let p = plan(log(0, 900, Some(3)), &[id(400, 4)]).unwrap();
        assert_eq!(p.truncate_fully_to, Some(400));
        // An empty log counts as epoch 0.
        let p = plan(log(0, 0, None), &[id(0, 0)]).unwrap();
        assert_eq!(p.truncate_fully_to, None);
        assert_eq!(p.load, Some(id(0, 0)));
    }

    #[test]
    fn a_log_cut_without_a_covering_snapshot_is_refused() {
        let err = plan(log(100, 500, Some(3)), &[id(99, 2)]).unwrap_err();
        assert_eq!(
            err,
            InconsistentSnapshots {
                log_start_offset: 100,
                latest: None
            }
        );
        assert!(err.to_string().contains("starts at offset 100"));
        assert!(plan(log(100, 500, Some(3)), &[]).is_err());
        assert!(plan(log(100, 500, Some(3)), &[id(100, 2)]).is_ok());
    }
}
