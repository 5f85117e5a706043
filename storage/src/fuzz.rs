//! Entry points that drive every decoder of this crate's on-disk files with untrusted bytes,
//! for fuzzing (`docs/architecture.md` §7.9: untrusted bytes never panic; bytes read from disk are
//! input).
//!
//! `storage/fuzz/fuzz_targets/<target>.rs` run them under libFuzzer, one target per decoder
//! family, and `storage/tests/fuzz_corpus.rs` replays the committed corpora
//! (`storage/fuzz/corpus/<target>/`) through them as an ordinary test on stable, so a crash
//! found once stays fixed. They live in the library, not the fuzz crate, so both callers run
//! exactly the same code, and so they can reach the crate-private index and segment types.
//!
//! Each function returns normally for any input (errors are the expected outcome for most of
//! it) and panics only when an invariant breaks, which is what the fuzzer looks for. Those
//! that need files take a `scratch` directory the caller owns (the library has no `tempfile`
//! dependency); they only create and remove entries below it.

use std::fs;
use std::path::Path;

use protocol::records::{recompute_crc, BatchBuilder, Compression};

use crate::batch::{batch_size, crc_matches, read_header};
use crate::checkpoint::{self, CheckpointEntry, EpochEntry, OffsetEntry};
use crate::clean_shutdown;
use crate::index::{self, OffsetIndex, OFFSET_INDEX_ENTRY_BYTES};
use crate::leader_epoch::LeaderEpochCache;
use crate::log::{FirstBatch, LoadOptions, LogConfig, PartitionLog, Shutdown};
use crate::meta_properties::{java_properties, MetaProperties};
use crate::metadata_snapshot::{self, SnapshotId, SnapshotWriter};
use crate::partition_metadata;
use crate::producer_snapshot::{self, SnapshotFiles, SNAPSHOT_ENTRY_BYTES, SNAPSHOT_HEADER_BYTES};
use crate::segment::{
    segment_file_name, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX,
};
use crate::time_index::{self, TimeIndex, NO_TIMESTAMP, TIME_INDEX_ENTRY_BYTES};

/// Target `checkpoint`: `data` as each kind of checkpoint file (`topic partition offset`
/// entries and `epoch startOffset` entries), then as a partition's `leader-epoch-checkpoint`
/// loaded into a [`LeaderEpochCache`].
///
/// Invariants: what parses formats back to text that parses to the same entries; a loaded
/// epoch cache has strictly increasing epochs and start offsets.
pub fn checkpoint(scratch: &Path, data: &[u8]) {
    let path = Path::new("fuzz-checkpoint");
    checkpoint_round_trip::<OffsetEntry>(path, data);
    checkpoint_round_trip::<EpochEntry>(path, data);

    let dir = fresh_dir(scratch, "fuzz-0");
    write(&dir.join(checkpoint::LEADER_EPOCH_CHECKPOINT), data);
    if let Ok(cache) = LeaderEpochCache::load(&dir) {
        for pair in cache.entries().windows(2) {
            assert!(
                pair[0].epoch < pair[1].epoch && pair[0].start_offset < pair[1].start_offset,
                "leader-epoch cache not strictly increasing: {pair:?}"
            );
        }
        assert!(cache
            .entries()
            .iter()
            .all(|e| e.epoch >= 0 && e.start_offset >= 0));
    }
}

fn checkpoint_round_trip<T>(path: &Path, data: &[u8])
where
    T: CheckpointEntry + PartialEq + std::fmt::Debug,
{
    let Ok(entries) = checkpoint::parse::<T>(path, data) else {
        return;
    };
    let text = checkpoint::format(&entries);
    let again = checkpoint::parse::<T>(path, text.as_bytes())
        .unwrap_or_else(|e| panic!("formatted checkpoint {text:?} fails to parse: {e}"));
    assert_eq!(again, entries, "checkpoint round trip through {text:?}");
}

/// Target `index`: `data` as offset-index (8-byte) and time-index (12-byte) entries and as
/// whole `.index` / `.timeindex` files, opened the way a segment load opens them, then looked
/// up, sanity-checked and truncated.
///
/// The first 8 bytes (big-endian, sign bit cleared) are the segment's base offset: it comes
/// from the file name, which the loader accepts for any value in `0..=i64::MAX`. The rest is
/// the file content.
///
/// Invariants: entries re-encode to their bytes; a lookup returns the "nothing indexed" answer
/// or an entry not above the target; truncation never adds entries.
pub fn index(scratch: &Path, data: &[u8]) {
    let (base, content) = match data.split_first_chunk::<8>() {
        Some((b, rest)) => (i64::from_be_bytes(*b) & i64::MAX, rest),
        None => (0, data),
    };

    for chunk in content.chunks_exact(OFFSET_INDEX_ENTRY_BYTES as usize) {
        let entry: &[u8; 8] = chunk.try_into().expect("chunks_exact yields 8 bytes");
        let e = index::decode_entry(base, entry);
        if e.offset == i64::MAX {
            // Saturated: base + relative offset overflows, which the sanity checks reject.
            continue;
        }
        let rel = i32::try_from(e.offset.wrapping_sub(base)).expect("relative offset is int32");
        let pos = i32::try_from(e.position).expect("position is int32");
        assert_eq!(&index::encode_entry(rel, pos), entry, "offset index entry");
    }
    for chunk in content.chunks_exact(TIME_INDEX_ENTRY_BYTES as usize) {
        let entry: &[u8; 12] = chunk.try_into().expect("chunks_exact yields 12 bytes");
        let e = time_index::decode_entry(base, entry);
        if e.offset == i64::MAX {
            continue;
        }
        let rel = i32::try_from(e.offset.wrapping_sub(base)).expect("relative offset is int32");
        assert_eq!(
            &time_index::encode_entry(e.timestamp, rel),
            entry,
            "time index entry"
        );
    }

    let dir = fresh_dir(scratch, "fuzz-0");
    let offset_path = dir.join(segment_file_name(base, INDEX_FILE_SUFFIX));
    let time_path = dir.join(segment_file_name(base, TIME_INDEX_FILE_SUFFIX));
    write(&offset_path, content);
    write(&time_path, content);

    // Targets: around the base, every offset and timestamp the content names, the extremes.
    let mut targets = vec![i64::MIN, -1, 0, base.saturating_sub(1), base, i64::MAX];
    for chunk in content.chunks_exact(4).take(64) {
        let v = i64::from(i32::from_be_bytes(chunk.try_into().expect("4 bytes")));
        targets.push(base.saturating_add(v));
        targets.push(v);
    }
    for chunk in content.chunks_exact(8).take(32) {
        targets.push(i64::from_be_bytes(chunk.try_into().expect("8 bytes")));
    }

    let mut offsets =
        OffsetIndex::open_existing(offset_path, base).expect("an existing index file opens");
    let _ = offsets.last_entry();
    let _ = offsets.sanity_check();
    for &t in &targets {
        if let Ok(found) = offsets.lookup(t) {
            let nothing = found.offset == base && found.position == 0;
            assert!(
                nothing || found.offset <= t,
                "offset index lookup({t}) returned {found:?} above the target"
            );
        }
    }
    let before = offsets.file().entries();
    for &t in targets.iter().rev().take(8) {
        if offsets.truncate_to(t).is_ok() {
            assert!(
                offsets.file().entries() <= before,
                "truncation added entries"
            );
            let _ = offsets.last_entry();
        }
    }

    let mut times =
        TimeIndex::open_existing(time_path, base).expect("an existing time index file opens");
    let _ = times.last_entry();
    let _ = times.sanity_check();
    for &t in &targets {
        if let Ok(found) = times.lookup(t) {
            let nothing = found.timestamp == NO_TIMESTAMP && found.offset == base;
            assert!(
                nothing || found.timestamp <= t,
                "time index lookup({t}) returned {found:?} above the target"
            );
        }
    }
    let before = times.file().entries();
    for &t in targets.iter().rev().take(8) {
        if times.truncate_to(t).is_ok() {
            assert!(times.file().entries() <= before, "truncation added entries");
            let _ = times.last_entry();
        }
    }
}

/// Target `meta_properties`: `data` as a `meta.properties` file ([`MetaProperties::parse`]),
/// and as Java properties text.
///
/// Invariants: parsed properties written back with [`java_properties::store`] parse to the
/// same pairs; a parsed file written back with [`MetaProperties::to_file_contents`] parses to
/// the same value.
pub fn meta_properties(data: &[u8]) {
    let text = java_properties::decode_bytes(data);
    if let Ok(pairs) = java_properties::parse(&text) {
        let stored = java_properties::store(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["fuzz"],
        );
        let again = java_properties::parse(&stored)
            .unwrap_or_else(|e| panic!("stored properties {stored:?} fail to parse: {e}"));
        assert_eq!(again, pairs, "properties round trip through {stored:?}");
    }

    if let Ok(meta) = MetaProperties::parse(data) {
        let contents = meta.to_file_contents(Some("Thu Jan 01 00:00:00 UTC 1970"));
        let again = MetaProperties::parse(contents.as_bytes())
            .unwrap_or_else(|e| panic!("written meta.properties {contents:?} fails: {e}"));
        assert_eq!(
            again, meta,
            "meta.properties round trip through {contents:?}"
        );
        let _ = meta.to_string();
    }
}

/// Target `partition_metadata`: `data` as a partition's `partition.metadata`.
///
/// Invariant: a parsed topic id written back with [`partition_metadata::format`] parses to
/// the same id (at the version we write).
pub fn partition_metadata(data: &[u8]) {
    let path = Path::new(partition_metadata::PARTITION_METADATA_FILE);
    let Ok(meta) = partition_metadata::parse(path, data) else {
        return;
    };
    assert!(meta.version >= partition_metadata::PARTITION_METADATA_VERSION);
    assert!(!meta.topic_id.is_zero());
    let text = partition_metadata::format(meta.topic_id);
    let again = partition_metadata::parse(path, text.as_bytes())
        .unwrap_or_else(|e| panic!("formatted {text:?} fails to parse: {e}"));
    assert_eq!(
        again.topic_id, meta.topic_id,
        "partition.metadata round trip"
    );
    assert_eq!(
        again.version,
        partition_metadata::PARTITION_METADATA_VERSION
    );
}

/// Target `clean_shutdown`: `data` as a log dir's `.kafka_cleanshutdown` marker.
///
/// Invariant: a parsed broker epoch written back with [`clean_shutdown::format`] parses to the
/// same epoch.
pub fn clean_shutdown(data: &[u8]) {
    if let Some(epoch) = clean_shutdown::parse_broker_epoch(data) {
        let text = clean_shutdown::format(epoch);
        assert_eq!(
            clean_shutdown::parse_broker_epoch(text.as_bytes()),
            Some(epoch),
            "clean shutdown marker round trip through {text:?}"
        );
    }
}

/// Target `producer_snapshot`: `data` as a partition's producer-state snapshot
/// (`<offset>.snapshot`, `docs/formats.md` §9), decoded as bytes and loaded as the only snapshot
/// file of a partition directory; then the same again with the CRC recomputed, so that mutations
/// get past the CRC check into the count and entry layout checks.
///
/// Invariants: decoded entries re-encode to bytes that decode to the same entries, and to
/// the input itself when it holds no bytes after the last entry; loading the file returns
/// exactly what decoding returned, or (when decoding failed) no snapshot, the corrupt file
/// deleted, as Kafka's `loadFromSnapshot` does.
pub fn producer_snapshot(scratch: &Path, data: &[u8]) {
    snapshot_decode_and_load(scratch, data);
    if data.len() >= SNAPSHOT_HEADER_BYTES {
        let mut fixed = data.to_vec();
        let crc = crc32c::crc32c(&fixed[6..]);
        fixed[2..6].copy_from_slice(&crc.to_be_bytes());
        if fixed != data {
            snapshot_decode_and_load(scratch, &fixed);
        }
    }
}

fn snapshot_decode_and_load(scratch: &Path, data: &[u8]) {
    let decoded = producer_snapshot::decode(Path::new("fuzz.snapshot"), data);
    if let Ok(entries) = &decoded {
        let bytes = producer_snapshot::encode(entries);
        let again = producer_snapshot::decode(Path::new("re-encoded.snapshot"), &bytes)
            .unwrap_or_else(|e| panic!("re-encoded snapshot fails to decode: {e}"));
        assert_eq!(&again, entries, "snapshot round trip");
        if data.len() == SNAPSHOT_HEADER_BYTES + entries.len() * SNAPSHOT_ENTRY_BYTES {
            assert_eq!(bytes, data, "an exact snapshot re-encodes to its own bytes");
        }
    }

    let dir = fresh_dir(scratch, "fuzz-0");
    let path = producer_snapshot::snapshot_path(&dir, 42);
    write(&path, data);
    let mut files =
        SnapshotFiles::list(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    let loaded = files
        .load_latest(i64::MAX)
        .unwrap_or_else(|e| panic!("a corrupt snapshot is skipped, not an error: {e}"));
    match (decoded, loaded) {
        (Ok(entries), Some(l)) => assert_eq!((l.offset, l.entries), (42, entries)),
        (Err(_), None) => assert!(!path.exists(), "the corrupt snapshot was not deleted"),
        (d, l) => panic!("decode gave {d:?}, loading the file gave {l:?}"),
    }
}

/// Largest segment the `segment_recovery` target loads. Recovery writes an offset index entry
/// every `index.interval.bytes`, so the fuzz config's index files must hold
/// `SEGMENT_FUZZ_BYTES_MAX / SEGMENT_FUZZ_INDEX_INTERVAL` entries; longer inputs are skipped.
const SEGMENT_FUZZ_BYTES_MAX: usize = 256 * 1024;
/// Small, so that even short inputs get index entries.
const SEGMENT_FUZZ_INDEX_INTERVAL: u32 = 128;
/// Room for 2,560 offset-index and 1,706 time-index entries: above
/// `SEGMENT_FUZZ_BYTES_MAX / SEGMENT_FUZZ_INDEX_INTERVAL` = 2,048.
const SEGMENT_FUZZ_INDEX_BYTES: u32 = 20 * 1024;

/// Target `segment_recovery`: `data` as the only segment (`00000000000000000000.log`, no
/// indexes) of a partition directory, opened after an unclean shutdown, so every byte goes
/// through recovery. Then the same again with the CRC of every framed batch recomputed, so
/// that mutated headers and records get past the CRC check into offset validation, reads and
/// record decoding (timestamp lookups).
///
/// Invariants: the open succeeds (recovery truncates at the first bad batch, it does not
/// fail); the segment left on disk is a prefix of the input; reads from the log start to the
/// log end return exactly those bytes as whole batches with valid CRCs and increasing
/// offsets; the recovered log accepts an append; a clean close and reopen, and a second
/// unclean recovery, give the same log.
pub fn segment_recovery(scratch: &Path, data: &[u8]) {
    if data.len() > SEGMENT_FUZZ_BYTES_MAX {
        return;
    }
    recover_and_check(scratch, data);
    let fixed = with_fixed_crcs(data);
    if fixed != data {
        recover_and_check(scratch, &fixed);
    }
}

/// `data` with the CRC of every batch that its length fields frame recomputed.
fn with_fixed_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut pos = 0;
    while let Some(rest) = out.get_mut(pos..) {
        let Some(Ok(header)) = read_header(rest) else {
            break;
        };
        let Ok(size) = usize::try_from(batch_size(&header)) else {
            break;
        };
        if size > rest.len() || recompute_crc(rest).is_err() {
            break;
        }
        pos += size;
    }
    out
}

fn recover_and_check(scratch: &Path, data: &[u8]) {
    let dir = fresh_dir(scratch, "fuzz-0");
    let log_path = dir.join(segment_file_name(0, LOG_FILE_SUFFIX));
    write(&log_path, data);
    let config = LogConfig {
        index_interval_bytes: SEGMENT_FUZZ_INDEX_INTERVAL,
        segment_index_bytes: SEGMENT_FUZZ_INDEX_BYTES,
        ..LogConfig::default()
    };
    let unclean = LoadOptions {
        recovery_point: 0,
        log_start_offset: 0,
        shutdown: Shutdown::Unclean,
    };
    let mut log = PartitionLog::open(&dir, config.clone(), unclean, 0)
        .unwrap_or_else(|e| panic!("unclean open must recover the segment, not fail: {e}"));

    assert_eq!(log.segment_base_offsets(), vec![0]);
    let size = log.size_in_bytes();
    let kept = usize::try_from(size).expect("segment size fits usize");
    assert!(kept <= data.len(), "recovery grew the segment");
    let on_disk = fs::read(&log_path).expect("recovered segment readable");
    assert_eq!(on_disk.len(), kept, "size_in_bytes disagrees with the file");
    assert!(on_disk == data[..kept], "recovery changed bytes it kept");
    assert_eq!(log.log_start_offset(), 0);
    let end = log.log_end_offset();
    assert!(end >= 0);
    assert!(log.recovery_point() <= end);

    // Read everything back, batch by batch, and compare with what recovery kept.
    let mut next = log.log_start_offset();
    let mut read_back = Vec::with_capacity(kept);
    while next < end {
        let chunk = log
            .read(next, size, end, FirstBatch::AlwaysWhole)
            .unwrap_or_else(|e| panic!("read at {next} below the log end {end}: {e}"));
        assert!(
            !chunk.is_empty(),
            "nothing read at {next} below the log end {end}"
        );
        let mut pos = 0;
        while pos < chunk.len() {
            let header = read_header(&chunk[pos..])
                .expect("a whole batch header")
                .expect("a recovered batch header is valid");
            let batch_len = usize::try_from(batch_size(&header)).expect("batch size fits");
            let batch = chunk
                .get(pos..pos + batch_len)
                .expect("a read returns whole batches");
            assert!(crc_matches(batch), "a recovered batch fails its CRC");
            assert!(
                header.last_offset() >= next,
                "offsets go backwards at {next}"
            );
            next = header.last_offset() + 1;
            pos += batch_len;
        }
        read_back.extend_from_slice(&chunk);
    }
    assert_eq!(
        next, end,
        "the last batch does not end at the log end offset"
    );
    assert!(
        read_back == on_disk,
        "reads do not return the recovered segment"
    );
    // Decodes records: an error (records that do not decode) is fine, a panic is not.
    for t in [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX] {
        let _ = log.offset_for_timestamp(t);
    }
    log.max_timestamp()
        .unwrap_or_else(|e| panic!("max timestamp after recovery: {e}"));
    for pair in log.epoch_entries().windows(2) {
        assert!(pair[0].epoch < pair[1].epoch && pair[0].start_offset < pair[1].start_offset);
    }

    // The recovered log takes new data.
    let mut batch = BatchBuilder::new(Compression::None);
    batch
        .append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[])
        .expect("one record fits a batch");
    let mut batch = batch.build().expect("batch builds").bytes.to_vec();
    let epoch = log.latest_epoch().unwrap_or(0);
    let info = log
        .append_as_leader(&mut batch, epoch, 0)
        .unwrap_or_else(|e| panic!("append after recovery: {e}"));
    assert_eq!(info.first_offset, end);
    let end = log.log_end_offset();
    let size = log.size_in_bytes();

    // Clean close and reopen: the same log, and recovering it again changes nothing.
    let checkpoints = log.close().expect("clean close");
    let clean = LoadOptions {
        recovery_point: checkpoints.recovery_point,
        log_start_offset: 0,
        shutdown: Shutdown::Clean,
    };
    let log = PartitionLog::open(&dir, config.clone(), clean, 0)
        .unwrap_or_else(|e| panic!("clean reopen after recovery: {e}"));
    assert_eq!((log.log_end_offset(), log.size_in_bytes()), (end, size));
    drop(log);
    let log = PartitionLog::open(&dir, config, unclean, 0)
        .unwrap_or_else(|e| panic!("second unclean open: {e}"));
    assert_eq!(
        (log.log_end_offset(), log.size_in_bytes()),
        (end, size),
        "a second recovery changed the log"
    );
}

/// `scratch/name`, emptied.
/// Target `metadata_snapshot`: `data` as the only KRaft metadata snapshot
/// (`<offset>-<epoch>.checkpoint`, `docs/formats.md` §13) of a metadata log directory, listed and
/// read with validation; then the same again with every framed batch's CRC recomputed, so that
/// mutations get past the CRC check into the header/footer/offset checks.
///
/// Invariants: listing finds exactly that snapshot; a snapshot that is accepted, written
/// again through [`SnapshotWriter`] (when its data batches carry the snapshot's epoch, as the
/// writer requires), reads back to the same header timestamp and the same data batches.
pub fn metadata_snapshot(scratch: &Path, data: &[u8]) {
    metadata_snapshot_read(scratch, data);
    let mut fixed = data.to_vec();
    let mut pos = 0usize;
    while let Some(Ok(h)) = fixed.get(pos..).and_then(read_header) {
        let end = pos.saturating_add(batch_size(&h) as usize);
        let Some(batch) = fixed.get_mut(pos..end) else {
            break;
        };
        let _ = recompute_crc(batch);
        pos = end;
    }
    if fixed != data {
        metadata_snapshot_read(scratch, &fixed);
    }
}

fn metadata_snapshot_read(scratch: &Path, data: &[u8]) {
    const ID: SnapshotId = SnapshotId {
        end_offset: 1000,
        epoch: 3,
    };
    let dir = fresh_dir(scratch, "__cluster_metadata-0");
    write(&ID.path(&dir), data);
    let listed =
        metadata_snapshot::list(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    assert_eq!(listed.len(), 1, "one snapshot listed");
    assert_eq!(listed[0].size_bytes, data.len() as u64);
    let Ok(contents) = metadata_snapshot::read_all(&dir, ID) else {
        return;
    };
    if contents
        .batches
        .iter()
        .any(|b| b.header.partition_leader_epoch != ID.epoch)
    {
        return;
    }
    let again_dir = fresh_dir(scratch, "again");
    let mut writer =
        SnapshotWriter::create(&again_dir, ID, contents.last_contained_log_timestamp_ms, 0)
            .unwrap_or_else(|e| panic!("cannot start the rewrite: {e}"));
    for batch in &contents.batches {
        writer
            .append(batch)
            .unwrap_or_else(|e| panic!("an accepted batch is refused by the writer: {e}"));
    }
    writer.freeze(0).unwrap_or_else(|e| panic!("freeze: {e}"));
    let again = metadata_snapshot::read_all(&again_dir, ID)
        .unwrap_or_else(|e| panic!("a rewritten snapshot is refused: {e}"));
    assert_eq!(again, contents, "snapshot rewrite round trip");
}

fn fresh_dir(scratch: &Path, name: &str) -> std::path::PathBuf {
    let dir = scratch.join(name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot empty scratch dir {}: {e}", dir.display()),
    }
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", dir.display()));
    dir
}

fn write(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
