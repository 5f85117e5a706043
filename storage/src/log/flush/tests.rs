//! The flush as plan / run / complete: what happens to the log between the plan and the
//! completion (appends, truncation, segment deletion) and what the completion then claims.

use super::*;
use crate::log::tests::{delete_records, produce, segment_bases_on_disk, small, tdir};
use crate::log::LogConfig;

/// A config under which every flush is due at once (`flush.ms` = 0).
fn flush_always() -> LogConfig {
    LogConfig {
        flush_ms: 0,
        ..small()
    }
}

fn due_job(log: &mut PartitionLog) -> FlushJob {
    log.plan_flush_if_due(1).unwrap().expect("a flush is due")
}

/// The job owns what it fsyncs: the log is free (here: mutably borrowable; in the broker:
/// unlocked) between the plan and the completion, and an append made then is not claimed.
#[test]
fn append_between_plan_and_run_is_not_claimed_flushed() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, flush_always(), 0).unwrap();
    produce(&mut log, 3, 3, 0);
    let job = due_job(&mut log);
    assert_eq!(job.offset(), 9);

    produce(&mut log, 2, 3, 0);
    let outcome = job.run();
    produce(&mut log, 1, 3, 0);
    assert!(log.complete_flush(outcome).unwrap());
    assert_eq!(log.recovery_point(), 9, "only what the job planned");
    assert_eq!(log.unflushed_messages(), 9);

    let job = due_job(&mut log);
    assert_eq!(job.offset(), 18);
    assert!(log.complete_flush(job.run()).unwrap());
    assert_eq!(log.recovery_point(), 18);
}

/// A truncation between the plan and the completion (follower, unclean leader change) may be
/// followed by new, unfsynced appends below the job's offset: the recovery point stays.
#[test]
fn truncation_between_plan_and_complete_keeps_the_recovery_point() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, flush_always(), 0).unwrap();
    produce(&mut log, 4, 3, 0);
    let job = due_job(&mut log);
    assert_eq!(job.offset(), 12);
    let outcome = job.run();

    assert!(log.truncate_to(4, 0).unwrap());
    produce(&mut log, 2, 3, 0);
    assert_eq!(log.log_end_offset(), 10);
    assert!(!log.complete_flush(outcome).unwrap());
    assert_eq!(log.recovery_point(), 0);
    assert!(log.recovery_point() <= log.log_end_offset());

    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 10);
}

/// Retention deleting a segment the job holds: fsyncing its unlinked files is harmless, and
/// the completion neither fails nor resurrects anything.
#[test]
fn deleted_segment_in_a_job_is_fsynced_harmlessly() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 30, 3, 0);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "{bases:?}");
    // Nothing is due but the rolled segments: the job covers them all.
    let job = log.plan_flush_if_due(0).unwrap().expect("rolled segments");
    let active = *bases.last().unwrap();
    assert_eq!(job.offset(), active);

    delete_records(&mut log, bases[1]);
    assert_eq!(segment_bases_on_disk(&dir), bases[1..]);
    let outcome = job.run();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(!log.complete_flush(outcome).unwrap(), "the layout changed");
    assert_eq!(log.recovery_point(), bases[1]);
    assert_eq!(segment_bases_on_disk(&dir), bases[1..]);

    // The surviving rolled segments are fsynced by the next flush.
    let job = log
        .plan_flush_if_due(0)
        .unwrap()
        .expect("rolled segments left");
    assert_eq!(job.offset(), active);
    assert!(log.complete_flush(job.run()).unwrap());
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

/// Which files a planned job fsyncs, as (segment, file kind).
fn planned(job: &FlushJob) -> Vec<(i64, &'static str)> {
    job.targets
        .iter()
        .map(|t| {
            let kind = match t.file {
                SegmentFile::Log => "log",
                SegmentFile::OffsetIndex(_) => "index",
                SegmentFile::TimeIndex(_) => "timeindex",
            };
            (t.segment, kind)
        })
        .collect()
}

/// An index changed after the plan, or whose fsync failed, stays unsynced: the next flush
/// fsyncs it again. Nothing is taken as synced before its fsync succeeded.
#[test]
fn index_changed_meanwhile_or_failed_stays_unsynced() {
    let (_t, dir) = tdir();
    // Every append after the first writes index entries.
    let config = LogConfig {
        index_interval_bytes: 1,
        ..flush_always()
    };
    let mut log = PartitionLog::create(&dir, None, config, 0).unwrap();
    let all_files = [(0, "log"), (0, "index"), (0, "timeindex")];
    let unsynced = |log: &PartitionLog| {
        let job = log.plan_flush(log.log_end_offset(), FlushScope::Close, None);
        planned(&job.unwrap().expect("segment 0 was changed"))
    };
    produce(&mut log, 2, 3, 0);
    let job = due_job(&mut log);
    assert_eq!(planned(&job), all_files);
    assert!(log.complete_flush(job.run()).unwrap());
    assert_eq!(unsynced(&log), [(0, "log")], "indexes synced");

    // Index entries written between the plan and the completion.
    produce(&mut log, 1, 3, 0);
    let job = due_job(&mut log);
    produce(&mut log, 1, 3, 0);
    assert!(log.complete_flush(job.run()).unwrap());
    assert_eq!(unsynced(&log), all_files);

    // The offset index's fsync fails: reported, recovery point kept, fsynced again next.
    let before = log.recovery_point();
    let job = due_job(&mut log);
    assert_eq!(planned(&job), all_files);
    let mut outcome = job.run();
    outcome
        .synced
        .retain(|(_, f)| !matches!(f, SegmentFile::OffsetIndex(_)));
    let injected = std::io::Error::other("injected fsync failure");
    outcome.errors.push(Error::io(&dir, injected));
    assert!(log.complete_flush(outcome).is_err());
    assert_eq!(log.recovery_point(), before);
    assert_eq!(planned(&due_job(&mut log)), [(0, "log"), (0, "index")]);
}

/// A roll's new segment file is made durable by the directory fsync of the next flush, and
/// a failed directory fsync is retried.
#[test]
fn directory_fsync_follows_segment_creation() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    assert!(log.plan_flush_if_due(0).unwrap().is_none());
    log.flush().unwrap();
    produce(&mut log, 12, 3, 0);
    let job = log.plan_flush_if_due(0).unwrap().expect("a roll");
    assert!(job.dir.is_some());
    let mut outcome = job.run();
    assert!(outcome.dir_synced.take().is_some());
    outcome
        .errors
        .push(Error::io(&dir, std::io::Error::other("injected")));
    assert!(log.complete_flush(outcome).is_err());
    let job = log.plan_flush_if_due(0).unwrap().expect("retried");
    assert!(job.dir.is_some());
    assert!(log.complete_flush(job.run()).unwrap());
    assert!(log.plan_flush_if_due(0).unwrap().is_none());
}
