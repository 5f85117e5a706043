//! Segment unit tests on real files in temp dirs.

use super::*;
use crate::batch::test_batch::batch_with;

fn header(b: &[u8]) -> protocol::records::BatchHeader {
    crate::batch::read_header(b).unwrap().unwrap()
}

const CFG: SegmentConfig = SegmentConfig {
    index_interval_bytes: 200,
    max_index_bytes: 4096,
};

/// Appends `n` one-record batches at offsets base.. with timestamps 1000 + offset.
fn fill(seg: &mut Segment, base: i64, n: i64) -> Vec<(i64, u64)> {
    let mut at = Vec::new();
    for o in base..base + n {
        let b = batch_with(o, 0, &[1000 + o], 50);
        let pos = seg.append(&b, o, 1000 + o, o).unwrap();
        at.push((o, pos));
    }
    at
}

fn no_epochs() -> impl FnMut(i32, i64) -> Result<()> {
    |_, _| Ok(())
}

#[test]
fn append_translate_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 100, CFG, 0).unwrap();
    let at = fill(&mut seg, 100, 50);
    let batch_len = at[1].1 - at[0].1;
    assert!(
        seg.offset_index.entries() > 5,
        "sparse entries every ~200 bytes"
    );
    for &(o, pos) in &at {
        let loc = seg.translate_offset(o, 0).unwrap().unwrap();
        assert_eq!((loc.position, loc.last_offset), (pos, o));
    }
    assert_eq!(seg.translate_offset(99, 0).unwrap().unwrap().position, 0);
    assert_eq!(seg.translate_offset(150, 0).unwrap(), None);
    assert_eq!(seg.read_next_offset().unwrap(), 150);

    // max_bytes cuts at a batch boundary; min-one returns a whole first batch.
    let data = seg
        .read(110, batch_len * 3 + 5, seg.size(), false)
        .unwrap()
        .unwrap();
    assert_eq!(data.len() as u64, batch_len * 3);
    assert_eq!(header(&data).base_offset, 110);
    assert!(seg
        .read(110, 5, seg.size(), false)
        .unwrap()
        .unwrap()
        .is_empty());
    assert_eq!(
        seg.read(110, 5, seg.size(), true).unwrap().unwrap().len() as u64,
        batch_len
    );
    // max_position bounds the read.
    let data = seg.read(100, 1 << 20, at[10].1, false).unwrap().unwrap();
    assert_eq!(data.len() as u64, at[10].1);
    assert_eq!(seg.read(150, 100, seg.size(), true).unwrap(), None);
}

#[test]
fn timestamp_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, CFG, 0).unwrap();
    fill(&mut seg, 0, 40);
    let t = seg.find_offset_by_timestamp(1017, 0).unwrap().unwrap();
    assert_eq!(
        t,
        TimestampOffset {
            timestamp: 1017,
            offset: 17
        }
    );
    let t = seg.find_offset_by_timestamp(0, 5).unwrap().unwrap();
    assert_eq!(t.offset, 5);
    assert_eq!(seg.find_offset_by_timestamp(5000, 0).unwrap(), None);
    assert_eq!(
        seg.max_timestamp_so_far().unwrap(),
        TimestampOffset {
            timestamp: 1039,
            offset: 39
        }
    );
}

#[test]
fn recover_rebuilds_identical_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, CFG, 0).unwrap();
    fill(&mut seg, 0, 60);
    seg.on_become_inactive().unwrap();
    let idx = std::fs::read(dir.path().join("00000000000000000000.index")).unwrap();
    let tidx = std::fs::read(dir.path().join("00000000000000000000.timeindex")).unwrap();
    let r = seg.recover(&mut no_epochs()).unwrap();
    assert_eq!(
        r,
        Recovered {
            truncated_bytes: 0,
            next_offset: 60
        }
    );
    assert_eq!(
        std::fs::read(dir.path().join("00000000000000000000.index")).unwrap(),
        idx
    );
    assert_eq!(
        std::fs::read(dir.path().join("00000000000000000000.timeindex")).unwrap(),
        tidx
    );
}

#[test]
fn recover_truncates_torn_tail_and_corrupt_crc() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("00000000000000000000.log");
    let mut seg = Segment::create(dir.path(), 0, CFG, 0).unwrap();
    let at = fill(&mut seg, 0, 20);
    let full = seg.size();
    drop(seg);

    // Torn tail: half a batch at the end.
    let mut bytes = std::fs::read(&log_path).unwrap();
    bytes.extend_from_slice(&batch_with(20, 0, &[1], 50)[..40]);
    std::fs::write(&log_path, &bytes).unwrap();
    let mut seg = Segment::open(dir.path(), 0, CFG, 0).unwrap();
    let r = seg.recover(&mut no_epochs()).unwrap();
    assert_eq!(
        r,
        Recovered {
            truncated_bytes: 40,
            next_offset: 20
        }
    );
    assert_eq!(std::fs::metadata(&log_path).unwrap().len(), full);
    drop(seg);

    // Flip a byte inside batch 7: truncated at its start.
    let mut bytes = std::fs::read(&log_path).unwrap();
    bytes[at[7].1 as usize + 70] ^= 0xff;
    std::fs::write(&log_path, &bytes).unwrap();
    let mut seg = Segment::open(dir.path(), 0, CFG, 0).unwrap();
    let r = seg.recover(&mut no_epochs()).unwrap();
    assert_eq!(r.next_offset, 7);
    assert_eq!(seg.size(), at[7].1);
    assert_eq!(seg.read_next_offset().unwrap(), 7);
    assert_eq!(
        seg.translate_offset(6, 0).unwrap().unwrap().position,
        at[6].1
    );
}

#[test]
fn truncate_to_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, CFG, 0).unwrap();
    let at = fill(&mut seg, 0, 30);
    let cut = seg.truncate_to(12, 5).unwrap();
    assert_eq!(seg.size(), at[12].1);
    assert_eq!(cut, at[29].1 + (at[1].1 - at[0].1) - at[12].1);
    assert_eq!(seg.read_next_offset().unwrap(), 12);
    assert_eq!(
        seg.max_timestamp_so_far().unwrap(),
        TimestampOffset {
            timestamp: 1011,
            offset: 11
        }
    );
    // Appending continues from there with valid index entries.
    fill(&mut seg, 12, 10);
    assert_eq!(seg.read_next_offset().unwrap(), 22);
    assert_eq!(
        seg.translate_offset(15, 0).unwrap().unwrap().last_offset,
        15
    );
    assert_eq!(seg.truncate_to(100, 5).unwrap(), 0);
}

#[test]
fn garbage_index_falls_back_to_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, CFG, 0).unwrap();
    let at = fill(&mut seg, 0, 30);
    seg.on_become_inactive().unwrap();
    drop(seg);
    // An index entry claiming offset 10 is at a position in the middle of a batch.
    let mut idx = crate::index::encode_entry(10, at[10].1 as i32 + 3).to_vec();
    idx.extend(crate::index::encode_entry(20, i32::MAX));
    std::fs::write(dir.path().join("00000000000000000000.index"), &idx).unwrap();
    let seg = Segment::open(dir.path(), 0, CFG, 0).unwrap();
    for o in [0, 10, 15, 25, 29] {
        let loc = seg.translate_offset(o, 0).unwrap().unwrap();
        assert_eq!(loc.position, at[o as usize].1, "offset {o}");
    }
}

#[test]
fn whole_batches() {
    let a = batch_with(0, 0, &[1], 10);
    let b = batch_with(1, 0, &[1], 10);
    let mut both = a.clone();
    both.extend(&b);
    assert_eq!(whole_batches_len(&both), both.len());
    assert_eq!(whole_batches_len(&both[..both.len() - 1]), a.len());
    assert_eq!(whole_batches_len(&both[..30]), 0);
    assert_eq!(whole_batches_len(&[0xff; 100]), 0);
}

#[test]
fn file_names() {
    assert_eq!(
        segment_file_name(0, LOG_FILE_SUFFIX),
        "00000000000000000000.log"
    );
    assert_eq!(
        segment_file_name(1234, INDEX_FILE_SUFFIX),
        "00000000000000001234.index"
    );
}
