//! PartitionLog tests on real temp dirs: round trips across rolls, restarts, recovery of torn
//! and corrupt tails, retention, DeleteRecords, leader epochs, follower appends, leftovers.

use super::*;
use crate::batch::test_batch::{batch_with, client_batch};
use crate::segment::{
    segment_file_name, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX,
};

fn header(b: &[u8]) -> protocol::records::BatchHeader {
    crate::batch::read_header(b).unwrap().unwrap()
}

pub(super) fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        segment_index_bytes: 1024,
        ..LogConfig::default()
    }
}

pub(super) fn tdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my.topic-name-7");
    (tmp, dir)
}

fn opts(shutdown: Shutdown, recovery_point: i64) -> LoadOptions {
    LoadOptions {
        recovery_point,
        log_start_offset: 0,
        shutdown,
    }
}

/// Appends `batches` client batches of `per` records each; timestamps = 10_000 + offset.
pub(super) fn produce(
    log: &mut PartitionLog,
    batches: usize,
    per: usize,
    epoch: i32,
) -> Vec<AppendInfo> {
    (0..batches)
        .map(|_| {
            let ts = 10_000 + log.log_end_offset();
            let mut b = client_batch(per, ts, 40);
            log.append_as_leader(&mut b, epoch, 0).unwrap()
        })
        .collect()
}

/// The periodic flush in its three steps; whether it fsynced anything.
pub(super) fn flush_if_due(log: &mut PartitionLog, now_ms: i64) -> bool {
    match log.plan_flush_if_due(now_ms).unwrap() {
        Some(job) => log.complete_flush(job.run()).unwrap(),
        None => false,
    }
}

/// Every batch from the log start to the end, as (base offset, last offset, epoch), checking
/// CRCs and contiguity.
fn read_all(log: &PartitionLog) -> Vec<(i64, i64, i32)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let data = log
            .read(next, 700, log.log_end_offset(), FirstBatch::AlwaysWhole)
            .unwrap();
        assert!(!data.is_empty(), "no data at {next}");
        let mut pos = 0;
        while pos < data.len() {
            let h = header(&data[pos..]);
            let size = batch::batch_size(&h) as usize;
            assert!(batch::crc_matches(&data[pos..pos + size]));
            let last = h.last_offset();
            assert!(last >= next);
            out.push((h.base_offset, last, h.partition_leader_epoch));
            next = last + 1;
            pos += size;
        }
    }
    out
}

#[test]
fn append_read_round_trip_across_rolls_and_restarts() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, Some(Uuid([9; 16])), small(), 0).unwrap();
    assert_eq!(
        log.topic_partition(),
        &TopicPartition::new("my.topic-name", 7)
    );
    let infos = produce(&mut log, 60, 3, 0);
    assert_eq!(infos[0].first_offset, 0);
    assert_eq!(infos[59].last_offset, 179);
    assert_eq!(log.log_end_offset(), 180);
    assert!(
        log.segment_base_offsets().len() > 3,
        "rolled by segment.bytes"
    );
    let batches = read_all(&log);
    assert_eq!(batches.len(), 60);
    assert!(batches
        .iter()
        .enumerate()
        .all(|(i, b)| b.0 == i as i64 * 3 && b.1 == b.0 + 2));
    // Inactive segments were trimmed on roll.
    let first = log.segment_base_offsets()[0];
    let idx_len = std::fs::metadata(dir.join(segment_file_name(first, INDEX_FILE_SUFFIX)))
        .unwrap()
        .len();
    assert!(idx_len < 1024 && idx_len % 8 == 0);

    // Clean restart keeps everything and trims every index.
    let cp = log.close().unwrap();
    assert_eq!(cp.recovery_point, 180);
    for base in segment_bases_on_disk(&dir) {
        let idx = std::fs::metadata(dir.join(segment_file_name(base, INDEX_FILE_SUFFIX))).unwrap();
        assert!(idx.len() < 1024, "no zero padding after a clean stop");
    }
    let log =
        PartitionLog::open(&dir, small(), opts(Shutdown::Clean, cp.recovery_point), 0).unwrap();
    assert_eq!(log.log_end_offset(), 180);
    assert_eq!(log.recovery_point(), 180);
    assert_eq!(log.topic_id(), Some(Uuid([9; 16])));
    assert_eq!(read_all(&log), batches);

    // Unclean restart (crash, no close): full recovery gives the same log.
    drop(log);
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!(log.log_end_offset(), 180);
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(read_all(&log), batches);
}

/// Retention with the renamed files unlinked at once; the number of segments deleted.
fn retention(log: &mut PartitionLog, now_ms: i64, high_watermark: i64) -> usize {
    let deleted = log.apply_retention(now_ms, high_watermark).unwrap();
    let n = deleted.segments();
    deleted.remove().unwrap();
    n
}

/// DeleteRecords with the renamed files unlinked at once; the new log start offset.
pub(super) fn delete_records(log: &mut PartitionLog, offset: i64) -> i64 {
    let (start, deleted) = log.delete_records_before(offset).unwrap();
    deleted.remove().unwrap();
    start
}

/// Files of `dir` renamed for deletion and not yet unlinked.
fn deleted_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy()
                .ends_with(crate::segment::DELETED_FILE_SUFFIX)
        })
        .count()
}

pub(super) fn segment_bases_on_disk(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(LOG_FILE_SUFFIX).map(|b| b.parse().unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_offset_reads_its_batch() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 80, 2, 0);
    for o in 0..log.log_end_offset() {
        let data = log
            .read(o, 1, log.log_end_offset(), FirstBatch::AlwaysWhole)
            .unwrap();
        let h = header(&data);
        assert!(h.base_offset <= o && o <= h.last_offset(), "offset {o}");
        assert_eq!(data.len() as u64, batch::batch_size(&h));
        // Without min-one, one byte is not enough for anything.
        assert!(log
            .read(o, 1, log.log_end_offset(), FirstBatch::WithinMaxBytes)
            .unwrap()
            .is_empty());
    }
    assert!(log
        .read(160, 100, 160, FirstBatch::AlwaysWhole)
        .unwrap()
        .is_empty());
    assert!(matches!(
        log.read(161, 100, 200, FirstBatch::AlwaysWhole),
        Err(Error::OffsetOutOfRange { offset: 161, .. })
    ));
}

#[test]
fn read_respects_max_offset_bound() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, LogConfig::default(), 0).unwrap();
    produce(&mut log, 10, 5, 0);
    // High watermark at 25: batches 0..=4 visible.
    let data = log.read(0, 1 << 20, 25, FirstBatch::AlwaysWhole).unwrap();
    let mut pos = 0;
    let mut last = -1;
    while pos < data.len() {
        let h = header(&data[pos..]);
        last = h.last_offset();
        pos += batch::batch_size(&h) as usize;
    }
    assert_eq!(last, 24);
    assert!(log
        .read(25, 1 << 20, 25, FirstBatch::AlwaysWhole)
        .unwrap()
        .is_empty());
    // Mid-batch bound hides the batch holding it.
    let data = log.read(20, 1 << 20, 27, FirstBatch::AlwaysWhole).unwrap();
    assert_eq!(header(&data).last_offset(), 24);
    assert_eq!(data.len() as u64, batch::batch_size(&header(&data)));
}

#[test]
fn timestamp_lookup_across_segments() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 50, 3, 0); // timestamps 10_000 + offset (per record)
    for target in [0, 10_000, 10_001, 10_050, 10_100, 10_149] {
        let t = log.offset_for_timestamp(target).unwrap().unwrap();
        let want = (target - 10_000).max(0);
        assert_eq!(
            t,
            TimestampOffset {
                timestamp: 10_000 + want,
                offset: want
            },
            "ts {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(10_150).unwrap(), None);
    assert_eq!(
        log.max_timestamp().unwrap(),
        Some(TimestampOffset {
            timestamp: 10_149,
            offset: 149
        })
    );
    // After a restart the time indexes answer the same.
    let cp = log.close().unwrap();
    let log =
        PartitionLog::open(&dir, small(), opts(Shutdown::Clean, cp.recovery_point), 0).unwrap();
    assert_eq!(
        log.offset_for_timestamp(10_077).unwrap().unwrap().offset,
        77
    );
}

#[test]
fn torn_tail_is_truncated_on_unclean_open() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, LogConfig::default(), 0).unwrap();
    produce(&mut log, 10, 4, 0);
    let size = log.size_in_bytes();
    drop(log); // crash
    let seg = dir.join(segment_file_name(0, LOG_FILE_SUFFIX));

    // Garbage appended after the last batch.
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[0xAB; 100]).unwrap();
    drop(f);
    let log =
        PartitionLog::open(&dir, LogConfig::default(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), size);
    drop(log);

    // Last batch cut short.
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(size - 7).unwrap();
    drop(f);
    let mut log =
        PartitionLog::open(&dir, LogConfig::default(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!(log.log_end_offset(), 36);
    assert_eq!(read_all(&log).len(), 9);
    // Appends continue from the recovered end.
    let info = produce(&mut log, 1, 2, 0);
    assert_eq!(info[0].first_offset, 36);
}

#[test]
fn corrupt_crc_in_middle_truncates_there_and_drops_later_segments() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 60, 3, 0);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    let victim = bases[1];
    drop(log);
    // Corrupt the third batch of the second segment.
    let path = dir.join(segment_file_name(victim, LOG_FILE_SUFFIX));
    let mut bytes = std::fs::read(&path).unwrap();
    let mut pos = 0;
    for _ in 0..2 {
        pos += batch::batch_size(&header(&bytes[pos..])) as usize;
    }
    bytes[pos + 80] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    // Recovery point inside the first segment: recovery covers all segments.
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, 1), 0).unwrap();
    assert_eq!(log.log_end_offset(), victim + 6);
    assert_eq!(log.segment_base_offsets(), vec![bases[0], victim]);
    assert_eq!(segment_bases_on_disk(&dir), vec![bases[0], victim]);
    assert_eq!(read_all(&log).len() as i64, (victim + 6) / 3);
}

#[test]
fn recovery_point_skips_flushed_segments() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 60, 3, 0);
    let bases = log.segment_base_offsets();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 180);
    drop(log);
    // Corrupt the first segment, which is below the recovery point: not re-read.
    let path = dir.join(segment_file_name(bases[0], LOG_FILE_SUFFIX));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, bases[2]), 0).unwrap();
    assert_eq!(log.log_end_offset(), 180);
    assert_eq!(log.recovery_point(), bases[2]);
}

#[test]
fn missing_index_is_rebuilt_and_orphans_removed() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 40, 3, 0);
    let bases = log.segment_base_offsets();
    let cp = log.close().unwrap();
    let idx = dir.join(segment_file_name(bases[0], INDEX_FILE_SUFFIX));
    let original = std::fs::read(&idx).unwrap();
    std::fs::remove_file(&idx).unwrap();
    std::fs::remove_file(dir.join(segment_file_name(bases[1], TIME_INDEX_FILE_SUFFIX))).unwrap();
    std::fs::write(
        dir.join(segment_file_name(999_999, INDEX_FILE_SUFFIX)),
        b"x",
    )
    .unwrap();
    std::fs::write(dir.join("00000000000000000003.log.deleted"), b"x").unwrap();
    std::fs::write(dir.join("00000000000000000004.log.cleaned"), b"x").unwrap();
    let log =
        PartitionLog::open(&dir, small(), opts(Shutdown::Clean, cp.recovery_point), 0).unwrap();
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        original,
        "rebuilt index equals the original"
    );
    assert!(!dir
        .join(segment_file_name(999_999, INDEX_FILE_SUFFIX))
        .exists());
    assert!(!dir.join("00000000000000000003.log.deleted").exists());
    assert!(!dir.join("00000000000000000004.log.cleaned").exists());
    assert!(dir
        .join(segment_file_name(bases[1], TIME_INDEX_FILE_SUFFIX))
        .exists());
    assert_eq!(read_all(&log).len(), 40);
}

#[test]
fn interrupted_swap_is_completed() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 40, 3, 0);
    let bases = log.segment_base_offsets();
    let cp = log.close().unwrap();
    // A "cleaned" copy of segments 0 and 1 merged into one swap file.
    let mut merged = std::fs::read(dir.join(segment_file_name(bases[0], LOG_FILE_SUFFIX))).unwrap();
    merged.extend(std::fs::read(dir.join(segment_file_name(bases[1], LOG_FILE_SUFFIX))).unwrap());
    std::fs::write(
        dir.join(format!(
            "{}.swap",
            segment_file_name(bases[0], LOG_FILE_SUFFIX)
        )),
        &merged,
    )
    .unwrap();
    let log =
        PartitionLog::open(&dir, small(), opts(Shutdown::Clean, cp.recovery_point), 0).unwrap();
    assert_eq!(log.segment_base_offsets()[0], bases[0]);
    assert_eq!(log.segment_base_offsets()[1], bases[2]);
    assert_eq!(read_all(&log).len(), 40);
}

#[test]
fn retention_by_bytes_and_time() {
    let (_tmp, dir) = tdir();
    let cfg = LogConfig {
        retention_bytes: 4096,
        ..small()
    };
    let mut log = PartitionLog::create(&dir, None, cfg, 0).unwrap();
    produce(&mut log, 80, 3, 0);
    let before = log.segment_base_offsets();
    // Nothing is deleted above the high watermark.
    assert_eq!(retention(&mut log, 0, 0), 0);
    let renamed = log.apply_retention(0, log.log_end_offset()).unwrap();
    let deleted = renamed.segments();
    assert!(deleted > 0);
    // The files are renamed under the caller's lock and unlinked after it.
    assert_eq!(deleted_files(&dir), deleted * 3);
    renamed.remove().unwrap();
    assert_eq!(deleted_files(&dir), 0);
    assert!(log.size_in_bytes() <= 4096 + 2048);
    let after = log.segment_base_offsets();
    assert_eq!(log.log_start_offset(), after[0]);
    assert_eq!(after[..], before[deleted..]);
    assert_eq!(segment_bases_on_disk(&dir), after);
    assert!(matches!(
        log.read(0, 100, 240, FirstBatch::AlwaysWhole),
        Err(Error::OffsetOutOfRange { .. })
    ));

    // Time: every timestamp is ~10_000; at now = 10_000 + retention all but the active go,
    // and the active one is rolled so it can go too.
    log.set_config(LogConfig {
        retention_bytes: -1,
        retention_ms: 1000,
        ..small()
    })
    .unwrap();
    assert_eq!(retention(&mut log, 10_500, 240), 0);
    let n = log.segment_base_offsets().len();
    assert_eq!(retention(&mut log, 20_000, 240), n);
    assert_eq!(log.segment_base_offsets(), vec![240]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (240, 240));
    let info = produce(&mut log, 1, 1, 0);
    assert_eq!(info[0].first_offset, 240);
}

#[test]
fn delete_records_moves_start_and_deletes_segments() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 60, 3, 0);
    let bases = log.segment_base_offsets();
    let target = bases[2] + 4;
    assert_eq!(delete_records(&mut log, target), target);
    assert_eq!(log.segment_base_offsets()[0], bases[2]);
    assert_eq!(log.log_start_offset(), target);
    assert!(log
        .read(target - 1, 100, 180, FirstBatch::AlwaysWhole)
        .is_err());
    // The batch holding the start offset is returned whole.
    let data = log.read(target, 10, 180, FirstBatch::AlwaysWhole).unwrap();
    assert_eq!(header(&data).base_offset, target - 1);
    assert!(log.delete_records_before(181).is_err());
    assert_eq!(delete_records(&mut log, 1), target, "never moves backwards");
    // Checkpoint carries the start offset; reopening honours it.
    let cp = log.close().unwrap();
    assert_eq!(cp.log_start_offset, Some(target));
    let options = LoadOptions {
        recovery_point: cp.recovery_point,
        log_start_offset: target,
        shutdown: Shutdown::Clean,
    };
    let log = PartitionLog::open(&dir, small(), options, 0).unwrap();
    assert_eq!(log.log_start_offset(), target);
}

#[test]
fn leader_epochs_follow_appends_truncation_and_restart() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 5, 2, 1); // offsets 0..10 at epoch 1
    produce(&mut log, 5, 2, 1);
    log.assign_epoch_start_offset(3, log.log_end_offset())
        .unwrap(); // elected at 20
    produce(&mut log, 5, 2, 3); // 20..30
    let e = |epoch, start_offset| EpochEntry {
        epoch,
        start_offset,
    };
    assert_eq!(log.epoch_entries(), &[e(1, 0), e(3, 20)]);
    assert_eq!(
        std::fs::read_to_string(dir.join("leader-epoch-checkpoint")).unwrap(),
        "0\n2\n1 0\n3 20\n"
    );
    assert_eq!(
        log.end_offset_for_epoch(1),
        Some(EpochEndOffset {
            epoch: 1,
            end_offset: 20
        })
    );
    assert_eq!(
        log.end_offset_for_epoch(2),
        Some(EpochEndOffset {
            epoch: 1,
            end_offset: 20
        })
    );
    assert_eq!(
        log.end_offset_for_epoch(3),
        Some(EpochEndOffset {
            epoch: 3,
            end_offset: 30
        })
    );
    assert_eq!(log.end_offset_for_epoch(4), None);
    assert_eq!(log.epoch_for_offset(25), Some(3));
    assert!(read_all(&log)
        .iter()
        .all(|b| b.2 == if b.0 < 20 { 1 } else { 3 }));

    // Lost leadership: truncate to 20 removes epoch 3.
    assert!(log.truncate_to(20, 0).unwrap());
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.epoch_entries(), &[e(1, 0)]);
    assert_eq!(read_all(&log).len(), 10);

    // A crash and full recovery rebuilds the epochs from the batches too.
    produce(&mut log, 2, 2, 5);
    drop(log);
    std::fs::write(dir.join("leader-epoch-checkpoint"), "").unwrap();
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!(log.epoch_entries(), &[e(1, 0), e(5, 20)]);
    assert_eq!(log.log_end_offset(), 24);
}

#[test]
fn truncate_below_first_segment_restarts_the_log() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 60, 3, 0);
    let bases = log.segment_base_offsets();
    delete_records(&mut log, bases[2]);
    assert!(log.truncate_to(bases[1], 0).unwrap());
    assert_eq!(log.segment_base_offsets(), vec![bases[1]]);
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (bases[1], bases[1])
    );
    assert!(!log.truncate_to(1000, 0).unwrap());
}

#[test]
fn follower_append_checks_offsets_and_crc() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    let mut records = batch_with(0, 2, &[1, 2, 3], 10);
    records.extend(batch_with(3, 2, &[4], 10));
    let info = log.append_as_follower(&records, 0).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.batch_count),
        (0, 3, 2)
    );
    // A gap (compacted leader) is fine; going backwards is not.
    log.append_as_follower(&batch_with(10, 2, &[5], 10), 0)
        .unwrap();
    assert_eq!(log.log_end_offset(), 11);
    assert!(matches!(
        log.append_as_follower(&batch_with(5, 2, &[6], 10), 0),
        Err(Error::UnexpectedAppendOffset {
            first_offset: 5,
            log_end_offset: 11,
            ..
        })
    ));
    let mut bad = batch_with(11, 2, &[7], 10);
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(
        log.append_as_follower(&bad, 0),
        Err(Error::InvalidRecords { .. })
    ));
    let mut twisted = batch_with(11, 2, &[7], 10);
    twisted.extend(batch_with(11, 2, &[7], 10));
    assert!(log.append_as_follower(&twisted, 0).is_err());
    assert_eq!(
        log.epoch_entries(),
        &[EpochEntry {
            epoch: 2,
            start_offset: 0
        }]
    );
    assert_eq!(log.log_end_offset(), 11);
}

#[test]
fn leader_append_rejects_bad_input_and_oversize() {
    let (_tmp, dir) = tdir();
    let cfg = LogConfig {
        max_message_bytes: 200,
        ..small()
    };
    let mut log = PartitionLog::create(&dir, None, cfg, 0).unwrap();
    assert!(log.append_as_leader(&mut [], 0, 0).is_err());
    assert!(log.append_as_leader(&mut [0u8; 30], 0, 0).is_err());
    let mut big = client_batch(10, 0, 50);
    assert!(matches!(
        log.append_as_leader(&mut big, 0, 0),
        Err(Error::RecordTooLarge { .. })
    ));
    let mut cut = client_batch(1, 0, 10);
    cut.pop();
    assert!(log.append_as_leader(&mut cut, 0, 0).is_err());
    assert_eq!(log.log_end_offset(), 0);
    let mut ok = client_batch(2, 0, 10);
    let info = log.append_as_leader(&mut ok, 7, 0).unwrap();
    assert_eq!(info.position.relative_position_in_segment, 0);
    let h = header(&ok);
    assert_eq!((h.base_offset, h.partition_leader_epoch), (0, 7));
}

#[test]
fn segment_ms_rolls_by_timestamp() {
    let (_tmp, dir) = tdir();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::create(&dir, None, cfg, 0).unwrap();
    let mut b = client_batch(1, 5_000, 10);
    log.append_as_leader(&mut b, 0, 0).unwrap();
    let mut b = client_batch(1, 5_900, 10);
    log.append_as_leader(&mut b, 0, 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0]);
    let mut b = client_batch(1, 6_001, 10);
    log.append_as_leader(&mut b, 0, 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    // The rolled segment is fsynced by the periodic flush.
    assert_eq!(log.recovery_point(), 0);
    assert!(flush_if_due(&mut log, 0));
    assert_eq!(log.recovery_point(), 2);
}

#[test]
fn flush_interval_messages_fsyncs_on_append() {
    let (_tmp, dir) = tdir();
    let cfg = LogConfig {
        flush_interval_messages: 5,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::create(&dir, None, cfg, 0).unwrap();
    produce(&mut log, 1, 3, 0);
    assert_eq!(log.recovery_point(), 0);
    produce(&mut log, 1, 3, 0);
    assert_eq!(log.recovery_point(), 6);
    log.set_config(LogConfig {
        flush_ms: 100,
        ..LogConfig::default()
    })
    .unwrap();
    produce(&mut log, 1, 1, 0);
    assert!(!flush_if_due(&mut log, 50));
    assert!(flush_if_due(&mut log, 150));
    assert_eq!(log.recovery_point(), 7);
}

#[test]
fn log_end_below_checkpointed_start_resets_the_log() {
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    produce(&mut log, 4, 3, 0);
    drop(log);
    let options = LoadOptions {
        recovery_point: 0,
        log_start_offset: 500,
        shutdown: Shutdown::Unclean,
    };
    let log = PartitionLog::open(&dir, small(), options, 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    assert_eq!(segment_bases_on_disk(&dir), vec![500]);
}

#[test]
fn hostile_segment_files_never_panic() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..400),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(log_bytes, idx, tidx, clean)| {
            let (_tmp, dir) = tdir();
            std::fs::create_dir_all(&dir).unwrap();
            // A valid batch followed by garbage, so recovery has something to keep.
            let mut bytes = batch_with(0, 0, &[1, 2], 10);
            bytes.extend(&log_bytes);
            std::fs::write(dir.join(segment_file_name(0, LOG_FILE_SUFFIX)), &bytes).unwrap();
            std::fs::write(dir.join(segment_file_name(0, INDEX_FILE_SUFFIX)), &idx).unwrap();
            std::fs::write(
                dir.join(segment_file_name(0, TIME_INDEX_FILE_SUFFIX)),
                &tidx,
            )
            .unwrap();
            let shutdown = if clean {
                Shutdown::Clean
            } else {
                Shutdown::Unclean
            };
            if let Ok(mut log) = PartitionLog::open(&dir, small(), opts(shutdown, 0), 0) {
                let end = log.log_end_offset();
                for o in 0..end.min(5) {
                    let _ = log.read(o, 100, end, FirstBatch::AlwaysWhole);
                }
                let _ = log.offset_for_timestamp(1);
                let _ = log.max_timestamp();
                if !clean {
                    prop_assert!(end >= 2, "the valid first batch survives recovery");
                    prop_assert_eq!(read_all(&log)[0], (0, 1, 0));
                }
                let mut b = client_batch(1, 5, 5);
                let _ = log.append_as_leader(&mut b, 0, 0);
                let _ = log.close();
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn timestamp_lookup_in_compressed_batches() {
    use crate::batch::test_batch::build;
    use protocol::records::Compression;
    let (_tmp, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, LogConfig::default(), 0).unwrap();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let base = 100 * log.log_end_offset();
        let mut b = build(0, -1, &[base + 10, base + 30, base + 20], 8, codec, false);
        let info = log.append_as_leader(&mut b, 0, 0).unwrap();
        let t = log.offset_for_timestamp(base + 25).unwrap().unwrap();
        assert_eq!(
            t,
            TimestampOffset {
                timestamp: base + 30,
                offset: info.first_offset + 1
            },
            "{codec:?}"
        );
    }
}

/// Kafka's creation path: `partition.metadata` is recorded, not written, until an append,
/// a flush or the scheduler tick (`flush_if_due`); a crash before that leaves a directory
/// without it, which loads with no topic id and adopts the id assigned next.
#[test]
fn partition_metadata_is_written_lazily_and_a_crash_before_loads() {
    let (_t, dir) = tdir();
    let id = Uuid([5; 16]);
    let meta = dir.join(crate::partition_metadata::PARTITION_METADATA_FILE);

    // Crash (no flush, no close) right after creation.
    let log = PartitionLog::create(&dir, Some(id), small(), 0).unwrap();
    assert_eq!(log.topic_id(), Some(id));
    assert!(!meta.exists(), "written on the creation path");
    drop(log);
    let mut log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!(log.topic_id(), None);
    assert_eq!(log.log_end_offset(), 0);
    log.set_topic_id(id).unwrap();
    assert!(!meta.exists());

    // The scheduler tick writes it even with nothing to flush.
    assert!(!flush_if_due(&mut log, 1));
    assert_eq!(
        crate::partition_metadata::read(&dir)
            .unwrap()
            .unwrap()
            .topic_id,
        id
    );
    assert!(!dir.join("partition.metadata.tmp").exists());
    assert!(log.set_topic_id(Uuid([6; 16])).is_err());

    // An append writes it before any data.
    let (_t2, dir2) = tdir();
    let mut log = PartitionLog::create(&dir2, Some(id), small(), 0).unwrap();
    let b = client_batch(1, 10_000, 40);
    assert!(
        log.leader_append_may_block(&b, 0).unwrap(),
        "the write fsyncs"
    );
    produce(&mut log, 1, 1, 0);
    assert_eq!(
        crate::partition_metadata::read(&dir2)
            .unwrap()
            .unwrap()
            .topic_id,
        id
    );
    drop(log);
    let log = PartitionLog::open(&dir2, small(), opts(Shutdown::Unclean, 0), 0).unwrap();
    assert_eq!((log.topic_id(), log.log_end_offset()), (Some(id), 1));

    // A clean close writes it too.
    let (_t3, dir3) = tdir();
    let log = PartitionLog::create(&dir3, Some(id), small(), 0).unwrap();
    log.close().unwrap();
    assert_eq!(
        crate::partition_metadata::read(&dir3)
            .unwrap()
            .unwrap()
            .topic_id,
        id
    );
}

/// A new or reloaded idle partition keeps only its `.log` open. A new one has no index files
/// until its first append or a clean close (Kafka's `LazyIndex`); a reloaded one has them
/// preallocated (Kafka's load resizes the active segment's), without descriptors.
#[test]
fn idle_partition_holds_no_index_descriptor() {
    let (_t, dir) = tdir();
    let index_lens = |dir: &Path| {
        [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX].map(|s| {
            std::fs::metadata(dir.join(segment_file_name(0, s)))
                .unwrap()
                .len()
        })
    };
    let log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    assert_eq!(log.active().index_files_open(), [false, false]);
    for s in [INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX] {
        assert!(
            !dir.join(segment_file_name(0, s)).exists(),
            "{s} created early"
        );
    }
    assert!(
        !dir.join(crate::checkpoint::LEADER_EPOCH_CHECKPOINT)
            .exists(),
        "written with the first epoch"
    );
    log.close().unwrap();
    assert_eq!(
        index_lens(&dir),
        [0, 0],
        "created, trimmed, at a clean close"
    );

    let mut log = PartitionLog::open(&dir, small(), opts(Shutdown::Clean, 0), 0).unwrap();
    assert_eq!(log.active().index_files_open(), [false, false]);
    assert_eq!(
        index_lens(&dir),
        [1024, 1020],
        "the active segment's are extended again"
    );
    // The first index entries open them (index_interval_bytes is 256).
    produce(&mut log, 4, 5, 0);
    assert_eq!(log.active().index_files_open(), [true, true]);
    log.close().unwrap();
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Clean, 0), 0).unwrap();
    assert_eq!(read_all(&log).len(), 4);
}

/// A crash between a new partition's creation and its first append leaves a directory with
/// an empty `.log` and nothing else (the state Kafka's own crash after a roll leaves). Both
/// loaders open it: ours recreates the indexes (preallocated, the segment is active) and the
/// log takes appends as if nothing happened.
#[test]
fn a_new_partition_crashed_before_its_first_append_loads() {
    let (_t, dir) = tdir();
    let log = PartitionLog::create(&dir, Some(Uuid([7; 16])), small(), 0).unwrap();
    drop(log);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, vec![segment_file_name(0, LOG_FILE_SUFFIX)]);

    for shutdown in [Shutdown::Unclean, Shutdown::Clean] {
        let mut log = PartitionLog::open(&dir, small(), opts(shutdown, 0), 0).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        for (s, len) in [(INDEX_FILE_SUFFIX, 1024), (TIME_INDEX_FILE_SUFFIX, 1020)] {
            let path = dir.join(segment_file_name(0, s));
            assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "{s}");
        }
        assert_eq!(log.topic_id(), None, "partition.metadata was never written");
        if shutdown == Shutdown::Clean {
            produce(&mut log, 20, 3, 1);
            assert_eq!(read_all(&log).len(), 20);
        }
    }
}

/// The first append to a new log goes to the blocking path, creates the index files
/// preallocated (Kafka's `LazyIndex` on first use) and marks the directory for the next
/// flush's fsync; a reload after that flush needs no recovery.
#[test]
fn the_first_append_creates_the_index_files() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    let b = client_batch(1, 10_000, 40);
    assert!(
        log.leader_append_may_block(&b, 0).unwrap(),
        "creating files is blocking I/O"
    );
    produce(&mut log, 1, 1, 0);
    for (s, len) in [(INDEX_FILE_SUFFIX, 1024), (TIME_INDEX_FILE_SUFFIX, 1020)] {
        let path = dir.join(segment_file_name(0, s));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "{s}");
    }
    assert!(log.dir_version > log.dir_synced_version);
    assert!(
        !log.leader_append_may_block(&b, 0).unwrap(),
        "later appends stay inline"
    );
    log.flush().unwrap();
    assert_eq!(log.dir_version, log.dir_synced_version);
    let end = log.log_end_offset();
    drop(log);
    let log = PartitionLog::open(&dir, small(), opts(Shutdown::Unclean, end), 0).unwrap();
    assert_eq!(read_all(&log).len(), 1);
}

/// Deleting a segment whose index files were never created deletes its `.log` only.
#[test]
fn a_segment_without_index_files_is_deleted() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    log.truncate_fully_and_start_at(5, 0).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("leader-epoch-checkpoint"))
        .collect();
    files.sort();
    assert_eq!(files, vec![segment_file_name(5, LOG_FILE_SUFFIX)]);
    produce(&mut log, 2, 1, 0);
    assert_eq!(log.log_end_offset(), 7);
}

/// `created_empty` tells the producer-state loader it may skip listing the directory: true
/// only for a directory `create` made, until the first append.
#[test]
fn created_empty_holds_until_the_first_append() {
    let (_t, dir) = tdir();
    let mut log = PartitionLog::create(&dir, None, small(), 0).unwrap();
    assert!(log.created_empty());
    produce(&mut log, 1, 1, 0);
    assert!(!log.created_empty());
    drop(log);
    let again = PartitionLog::create(&dir, None, small(), 0).unwrap();
    assert!(!again.created_empty(), "an existing directory is opened");
    assert_eq!(again.log_end_offset(), 1);
}
