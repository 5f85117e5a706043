//! Cleaner tests: repeated keys, tombstones and `delete.retention.ms`, producers' last
//! batches, compressed batches, the map budget, crashes at each swap step, idempotence and
//! changes to the log during a pass.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use protocol::records::{batches, BatchBuilder, Compression};

use super::*;
use crate::log::cleaning::SwapStep;
use crate::log::{FirstBatch, LoadOptions, LogConfig, PartitionLog, Shutdown};
use crate::CleanupPolicy;

const T0: i64 = 1_700_000_000_000;

/// A record as read back: offset, key, value.
type Rec = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn config(segment_bytes: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1_000,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn new_log(dir: &Path, segment_bytes: u32) -> PartitionLog {
    PartitionLog::create(&dir.join("t-0"), None, config(segment_bytes), T0).unwrap()
}

/// One batch of `(key, value)` records (`None` value = tombstone).
fn keyed(
    records: &[(&str, Option<&str>)],
    codec: Compression,
    producer: Option<(i64, i32)>,
) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    if let Some((pid, seq)) = producer {
        b = b.producer(pid, 0, seq);
    }
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(T0 + i as i64, Some(k.as_bytes()), v.map(str::as_bytes), &[])
            .unwrap();
    }
    b.build().unwrap().bytes.to_vec()
}

fn append(log: &mut PartitionLog, records: &[(&str, Option<&str>)]) -> i64 {
    let mut b = keyed(records, Compression::None, None);
    log.append_as_leader(&mut b, 0, T0).unwrap().first_offset
}

/// Every record from the log start offset, checking offsets strictly increase.
fn read_all(log: &PartitionLog) -> Vec<Rec> {
    let mut out: Vec<Rec> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(
                offset,
                1 << 20,
                log.log_end_offset(),
                FirstBatch::AlwaysWhole,
            )
            .unwrap();
        if bytes.is_empty() {
            break;
        }
        for batch in batches(&bytes) {
            let batch = batch.unwrap();
            batch.verify_crc().unwrap();
            for r in batch.records() {
                let r = r.unwrap();
                if let Some(last) = out.last() {
                    assert!(r.offset() > last.0, "offsets must increase: {:?}", out);
                }
                out.push((
                    r.offset(),
                    r.key().map(<[u8]>::to_vec),
                    r.value().map(<[u8]>::to_vec),
                ));
            }
            offset = batch.header.next_offset();
        }
    }
    out
}

/// The latest value of every key (tombstones as `None`).
fn latest(records: &[Rec]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    records
        .iter()
        .filter_map(|(_, k, v)| Some((k.clone()?, v.clone())))
        .collect()
}

fn clean(log: &PartitionLog, checkpoint: Option<i64>, now: i64) -> Option<CleanedLog> {
    clean_with(log, checkpoint, now, CleanerConfig::default())
}

fn clean_with(
    log: &PartitionLog,
    checkpoint: Option<i64>,
    now: i64,
    config: CleanerConfig,
) -> Option<CleanedLog> {
    let range = log
        .cleanable_range(checkpoint, log.log_end_offset(), now)
        .unwrap();
    let plan = log.plan_cleaning(&range).unwrap()?;
    match Cleaner::new(config)
        .clean(&plan, now, &AtomicBool::new(false))
        .unwrap()
    {
        CleanOutcome::Cleaned(c) => Some(c),
        CleanOutcome::Stopped => panic!("not stopped"),
    }
}

/// Cleans and swaps; returns the new checkpoint.
fn clean_and_swap(log: &mut PartitionLog, checkpoint: Option<i64>, now: i64) -> i64 {
    let cleaned = clean(log, checkpoint, now).expect("something to clean");
    let end = cleaned.end_offset();
    assert!(log.replace_cleaned(cleaned).unwrap());
    end
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect()
}

fn write_rounds(log: &mut PartitionLog, keys: usize, rounds: usize) {
    for round in 0..rounds {
        for k in 0..keys {
            let key = format!("key-{k}");
            let value = format!("value-{k}-{round}");
            append(log, &[(&key, Some(&value))]);
        }
    }
}

#[test]
fn repeated_keys_keep_the_latest_value_and_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1024);
    write_rounds(&mut log, 10, 20);
    log.roll(0, T0).unwrap();
    let before = read_all(&log);
    let size_before = log.size_in_bytes();
    let end = clean_and_swap(&mut log, None, T0);
    assert_eq!(
        end,
        log.log_end_offset(),
        "everything before the active segment is clean"
    );
    let after = read_all(&log);
    assert_eq!(after.len(), 10, "one record per key: {after:?}");
    assert_eq!(latest(&after), latest(&before));
    for (offset, key, value) in &after {
        let original = before.iter().find(|r| r.0 == *offset).unwrap();
        assert_eq!(
            (&original.1, &original.2),
            (key, value),
            "offsets are preserved"
        );
    }
    assert!(log.size_in_bytes() < size_before / 5);
    assert!(leftovers(log.dir()).is_empty());
    // Reopened from disk (indexes rebuilt by the pass), the log reads the same.
    let dir = log.dir().to_path_buf();
    drop(log);
    let opts = LoadOptions {
        recovery_point: 0,
        log_start_offset: 0,
        shutdown: Shutdown::Unclean,
    };
    let log = PartitionLog::open(&dir, config(1024), opts, T0).unwrap();
    assert_eq!(read_all(&log), after);
    assert_eq!(
        log.offset_for_timestamp(0).unwrap().unwrap().offset,
        after[0].0
    );
}

#[test]
fn tombstones_stay_until_their_delete_horizon() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1 << 20);
    append(&mut log, &[("a", Some("1")), ("b", Some("2"))]);
    append(&mut log, &[("a", None)]);
    log.roll(0, T0).unwrap();
    let checkpoint = clean(&log, None, T0).map(|c| {
        assert_eq!(c.latest_delete_horizon(), Some(T0 + 1_000));
        let end = c.end_offset();
        assert!(log.replace_cleaned(c).unwrap());
        end
    });
    let after = read_all(&log);
    assert_eq!(
        after,
        vec![
            (1, Some(b"b".to_vec()), Some(b"2".to_vec())),
            (2, Some(b"a".to_vec()), None)
        ]
    );
    // Before the horizon a pass with nothing dirty keeps the tombstone and its horizon.
    let c = clean(&log, checkpoint, T0 + 999).unwrap();
    assert_eq!(c.latest_delete_horizon(), Some(T0 + 1_000));
    assert!(log.replace_cleaned(c).unwrap());
    assert_eq!(read_all(&log), after);
    // After it, the tombstone goes.
    let c = clean(&log, checkpoint, T0 + 1_000).unwrap();
    assert_eq!(c.latest_delete_horizon(), None);
    assert!(log.replace_cleaned(c).unwrap());
    assert_eq!(
        read_all(&log),
        vec![(1, Some(b"b".to_vec()), Some(b"2".to_vec()))]
    );
}

#[test]
fn a_producers_last_batch_stays_empty_and_keeps_its_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1 << 20);
    for (seq, pid) in [(0, 7), (0, 8), (3, 7)] {
        let mut b = keyed(
            &[("a", Some("x")), ("b", Some("y")), ("c", Some("z"))],
            Compression::None,
            Some((pid, seq)),
        );
        log.append_as_leader(&mut b, 0, T0).unwrap();
    }
    // Plain (non-idempotent) writes supersede every key.
    append(
        &mut log,
        &[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))],
    );
    log.roll(0, T0).unwrap();
    clean_and_swap(&mut log, None, T0);
    let bytes = log
        .read(0, 1 << 20, log.log_end_offset(), FirstBatch::AlwaysWhole)
        .unwrap();
    let headers: Vec<_> = batches(&bytes).map(|b| b.unwrap().header).collect();
    // pid 7's first batch is gone; its last (offsets 6..=8, seq 3) and pid 8's stay empty.
    let summary: Vec<(i64, i64, i32, i32, i32)> = headers
        .iter()
        .map(|h| {
            (
                h.base_offset,
                h.producer_id,
                h.base_sequence,
                h.last_offset_delta,
                h.records_count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(3, 8, 0, 2, 0), (6, 7, 3, 2, 0), (9, -1, -1, 2, 3)]
    );
    assert_eq!(read_all(&log).len(), 3);
}

#[test]
fn compressed_batches_are_recompressed_with_their_codec() {
    for codec in Compression::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = new_log(tmp.path(), 1 << 20);
        let mut b = keyed(
            &[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))],
            codec,
            None,
        );
        log.append_as_leader(&mut b, 0, T0).unwrap();
        append(&mut log, &[("b", Some("4"))]);
        log.roll(0, T0).unwrap();
        clean_and_swap(&mut log, None, T0);
        let bytes = log
            .read(0, 1 << 20, log.log_end_offset(), FirstBatch::AlwaysWhole)
            .unwrap();
        let first = batches(&bytes).next().unwrap().unwrap();
        assert_eq!(first.compression().unwrap(), codec);
        assert_eq!(
            first.header.last_offset_delta, 2,
            "{codec}: last offset kept"
        );
        let recs = read_all(&log);
        assert_eq!(
            recs.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 2, 3],
            "{codec}"
        );
    }
}

#[test]
fn a_full_map_cleans_part_of_the_log_and_the_next_pass_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 64 * 1024);
    // 10 KiB keys: the 1 MiB minimum buffer maps about 90 of them per pass.
    let key = |k: usize| format!("{k:0>10240}");
    for round in 0..2 {
        for k in 0..200 {
            append(&mut log, &[(&key(k), Some(&format!("{round}")))]);
        }
    }
    log.roll(0, T0).unwrap();
    let before = latest(&read_all(&log));
    let small = CleanerConfig {
        dedupe_buffer_bytes: DEDUPE_BUFFER_BYTES_MIN,
    };
    let mut checkpoint = None;
    let mut passes = 0;
    while checkpoint != Some(log.log_end_offset()) {
        let c = clean_with(&log, checkpoint, T0, small).unwrap();
        assert!(
            checkpoint.is_none_or(|p| c.end_offset() > p),
            "each pass progresses"
        );
        checkpoint = Some(c.end_offset());
        assert!(log.replace_cleaned(c).unwrap());
        passes += 1;
    }
    assert!(passes >= 3, "{passes} passes");
    let after = read_all(&log);
    assert_eq!(after.len(), 200);
    assert_eq!(latest(&after), before);
}

#[test]
fn cleaning_twice_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 2048);
    write_rounds(&mut log, 7, 9);
    append(&mut log, &[("key-3", None)]);
    log.roll(0, T0).unwrap();
    let end = clean_and_swap(&mut log, None, T0);
    let once = read_all(&log);
    let sizes = log.size_in_bytes();
    clean_and_swap(&mut log, Some(end), T0 + 10);
    assert_eq!(read_all(&log), once);
    assert_eq!(log.size_in_bytes(), sizes);
}

#[test]
fn a_crash_at_every_swap_step_is_recovered_by_the_loader() {
    let steps = [
        None,
        Some(SwapStep::RenamedToSwap(0)),
        Some(SwapStep::RenamedToSwap(1)),
        Some(SwapStep::OldDeleted),
    ];
    for step in steps {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = new_log(tmp.path(), 1024);
        write_rounds(&mut log, 12, 15);
        log.roll(0, T0).unwrap();
        let expected = latest(&read_all(&log));
        let end_offset = log.log_end_offset();
        let cleaned = clean(&log, None, T0).unwrap();
        assert!(
            cleaned.groups.len() >= 2,
            "the test needs several output segments"
        );
        match step {
            // Crash before the swap: only `.cleaned` files are left.
            None => drop(cleaned),
            Some(step) => assert!(log.replace_cleaned_until(cleaned, step).unwrap()),
        }
        let dir = log.dir().to_path_buf();
        drop(log);
        let left = leftovers(&dir);
        let swaps = left.iter().filter(|n| n.ends_with(".swap")).count();
        let expected_swaps = match step {
            None | Some(SwapStep::RenamedToSwap(0)) => 0,
            Some(SwapStep::RenamedToSwap(_)) => 3, // one segment's .log, .index, .timeindex
            Some(_) => left.len(),
        };
        assert_eq!(swaps, expected_swaps, "{step:?}: {left:?}");
        assert!(!left.is_empty(), "{step:?}: the crash leaves files behind");
        let opts = LoadOptions {
            recovery_point: 0,
            log_start_offset: 0,
            shutdown: Shutdown::Unclean,
        };
        let log = PartitionLog::open(&dir, config(1024), opts, T0).unwrap();
        assert!(
            leftovers(&dir).is_empty(),
            "{step:?}: {:?}",
            leftovers(&dir)
        );
        let recs = read_all(&log);
        assert_eq!(latest(&recs), expected, "{step:?}");
        assert_eq!(log.log_end_offset(), end_offset, "{step:?}");
        if step == Some(SwapStep::OldDeleted) {
            assert_eq!(recs.len(), 12, "a completed swap is kept");
        }
    }
}

#[test]
fn appends_during_a_pass_are_kept_and_other_changes_discard_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1024);
    write_rounds(&mut log, 5, 10);
    log.roll(0, T0).unwrap();
    // Appends (and rolls) while the pass runs do not invalidate it.
    let cleaned = clean(&log, None, T0).unwrap();
    write_rounds(&mut log, 5, 3);
    let end = log.log_end_offset();
    assert!(log.replace_cleaned(cleaned).unwrap());
    let recs = read_all(&log);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        recs.iter().filter(|r| r.0 >= 50).count(),
        15,
        "new appends intact"
    );
    assert_eq!(recs.len(), 20);
    // Truncation during a pass discards it, and its files.
    let cleaned = clean(&log, None, T0).unwrap();
    log.truncate_to(55, T0).unwrap();
    assert!(!log.replace_cleaned(cleaned).unwrap());
    assert!(leftovers(log.dir()).is_empty());
    assert_eq!(read_all(&log).last().unwrap().0, 54);
    // A pass that is stopped leaves nothing behind.
    let range = log.cleanable_range(None, log.log_end_offset(), T0).unwrap();
    let plan = log.plan_cleaning(&range).unwrap().unwrap();
    let outcome = Cleaner::new(CleanerConfig::default())
        .clean(&plan, T0, &AtomicBool::new(true))
        .unwrap();
    assert!(matches!(outcome, CleanOutcome::Stopped));
    assert!(leftovers(log.dir()).is_empty());
}

#[test]
fn dirty_ratio_high_watermark_and_compaction_lag_bound_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1024);
    write_rounds(&mut log, 10, 10);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4);
    let r = log.cleanable_range(None, log.log_end_offset(), T0).unwrap();
    assert_eq!(r.first_dirty_offset, 0);
    assert_eq!(
        r.first_uncleanable_offset,
        *bases.last().unwrap(),
        "active segment"
    );
    assert_eq!(r.clean_bytes, 0);
    assert!((r.dirty_ratio() - 1.0).abs() < f64::EPSILON);
    // The segment holding the high watermark is not cleanable.
    let r = log.cleanable_range(None, bases[2] + 1, T0).unwrap();
    assert_eq!(r.first_uncleanable_offset, bases[2]);
    // A checkpoint splits clean and dirty bytes.
    let r = log
        .cleanable_range(Some(bases[1]), log.log_end_offset(), T0)
        .unwrap();
    assert!(r.clean_bytes > 0 && r.dirty_ratio() < 1.0);
    // A checkpoint beyond the log end is ignored.
    let r = log
        .cleanable_range(Some(1 << 40), log.log_end_offset(), T0)
        .unwrap();
    assert_eq!(r.first_dirty_offset, 0);
    // Records stamped T0.. are younger than a one-hour lag at T0 + 1 s: nothing cleanable.
    let mut c = config(1024);
    c.min_compaction_lag_ms = 3_600_000;
    log.set_config(c).unwrap();
    let r = log
        .cleanable_range(None, log.log_end_offset(), T0 + 1_000)
        .unwrap();
    assert_eq!((r.first_uncleanable_offset, r.cleanable_bytes), (0, 0));
    assert!(log.plan_cleaning(&r).unwrap().is_none());
    let r = log
        .cleanable_range(None, log.log_end_offset(), T0 + 3_600_000 + 1_000)
        .unwrap();
    assert_eq!(r.first_uncleanable_offset, *bases.last().unwrap());
    assert!(
        !r.max_lag_exceeded,
        "max.compaction.lag.ms is off by default"
    );
    // A dirty segment older than max.compaction.lag.ms forces cleaning.
    let mut c = config(1024);
    c.max_compaction_lag_ms = 1_000;
    log.set_config(c).unwrap();
    let end = log.log_end_offset();
    assert!(
        log.cleanable_range(None, end, T0 + 2_000)
            .unwrap()
            .max_lag_exceeded
    );
    assert!(
        !log.cleanable_range(None, end, T0 + 500)
            .unwrap()
            .max_lag_exceeded
    );
    let active = *bases.last().unwrap();
    let r = log.cleanable_range(Some(active), end, T0 + 2_000).unwrap();
    assert!(
        !r.max_lag_exceeded,
        "nothing dirty outside the active segment"
    );
}

#[test]
fn appends_from_another_thread_proceed_while_passes_run() {
    use std::sync::{Arc, Mutex};
    let tmp = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(new_log(tmp.path(), 2048)));
    write_rounds(&mut log.lock().unwrap(), 20, 10);
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 0..400 {
                let key = format!("key-{}", i % 20);
                let value = format!("late-{i}");
                append(&mut log.lock().unwrap(), &[(&key, Some(&value))]);
            }
        })
    };
    let mut checkpoint = None;
    let mut swapped = 0;
    while !writer.is_finished() || swapped == 0 {
        // Only planning and swapping hold the lock; the pass itself runs without it.
        let plan = {
            let l = log.lock().unwrap();
            let range = l
                .cleanable_range(checkpoint, l.log_end_offset(), T0)
                .unwrap();
            l.plan_cleaning(&range).unwrap()
        };
        let Some(plan) = plan else { continue };
        let outcome = Cleaner::new(CleanerConfig::default())
            .clean(&plan, T0, &AtomicBool::new(false))
            .unwrap();
        let CleanOutcome::Cleaned(cleaned) = outcome else {
            panic!("not stopped")
        };
        let end = cleaned.end_offset();
        if log.lock().unwrap().replace_cleaned(cleaned).unwrap() {
            checkpoint = Some(end);
            swapped += 1;
        }
    }
    writer.join().unwrap();
    let log = log.lock().unwrap();
    let recs = read_all(&log);
    assert_eq!(log.log_end_offset(), 600);
    let latest = latest(&recs);
    assert_eq!(latest.len(), 20);
    for i in 380..400 {
        let key = format!("key-{}", i % 20).into_bytes();
        assert_eq!(latest[&key], Some(format!("late-{i}").into_bytes()));
    }
    assert!(
        recs.len() < 600,
        "{} records after {swapped} passes",
        recs.len()
    );
}

#[test]
fn a_corrupt_segment_fails_the_pass_naming_file_and_position() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(tmp.path(), 1024);
    write_rounds(&mut log, 5, 10);
    log.roll(0, T0).unwrap();
    let first = log.dir().join(crate::segment::segment_file_name(0, ".log"));
    let mut bytes = std::fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // the last batch's value: its CRC no longer matches
    std::fs::write(&first, &bytes).unwrap();
    let range = log.cleanable_range(None, log.log_end_offset(), T0).unwrap();
    let plan = log.plan_cleaning(&range).unwrap().unwrap();
    let err = Cleaner::new(CleanerConfig::default())
        .clean(&plan, T0, &AtomicBool::new(false))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("00000000000000000000.log") && text.contains("CRC32C"),
        "{text}"
    );
    assert!(
        leftovers(log.dir()).is_empty(),
        "{:?}",
        leftovers(log.dir())
    );
}
