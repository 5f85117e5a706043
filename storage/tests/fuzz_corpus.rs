//! Replays every file of every `storage` fuzz corpus (`storage/fuzz/corpus/<target>/`)
//! through the `storage::fuzz` function its cargo-fuzz target calls, so CI checks the corpora
//! (and every regression committed to them) on stable without libFuzzer.
//!
//! `cargo test -p storage --test fuzz_corpus -- --ignored write_seed_corpus` rewrites the
//! `seed-*` files: small valid files as Kafka writes them plus corrupt ones; files found by the
//! fuzzer are kept. Crashes whose fix is still pending live in `storage/fuzz/known-crashes/`
//! (see `known_crashes_are_fixed`).

use std::fs;
use std::path::{Path, PathBuf};

use protocol::records::{
    recompute_crc, BatchBuilder, Compression, ControlRecordType, EndTxnMarker,
};
use storage::checkpoint::{self, EpochEntry, OffsetEntry};
use storage::index::encode_entry as offset_entry;
use storage::meta_properties::{MetaProperties, Uuid};
use storage::metadata_snapshot::{SnapshotId, SnapshotWriter};
use storage::producer_snapshot::{self, SnapshotEntry};
use storage::time_index::encode_entry as time_entry;
use storage::TopicPartition;

/// A `storage::fuzz` entry point: scratch directory, input.
type Entry = fn(&Path, &[u8]);

/// Every target, with the function it runs. Scratch-free decoders ignore the directory.
const TARGETS: &[(&str, Entry)] = &[
    ("checkpoint", storage::fuzz::checkpoint),
    ("clean_shutdown", |_, data| {
        storage::fuzz::clean_shutdown(data)
    }),
    ("index", storage::fuzz::index),
    ("meta_properties", |_, data| {
        storage::fuzz::meta_properties(data)
    }),
    ("metadata_snapshot", storage::fuzz::metadata_snapshot),
    ("partition_metadata", |_, data| {
        storage::fuzz::partition_metadata(data)
    }),
    ("producer_snapshot", storage::fuzz::producer_snapshot),
    ("segment_recovery", storage::fuzz::segment_recovery),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_file_replays_without_panicking() {
    let scratch = tempfile::tempdir().unwrap();
    for &(target, run) in TARGETS {
        let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir(target))
            .unwrap_or_else(|e| panic!("fuzz corpus of {target} exists: {e}"))
            .map(|entry| entry.expect("readable corpus entry").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        assert!(
            files.len() >= 5,
            "the {target} seed corpus is committed ({} files found)",
            files.len()
        );
        for path in files {
            let data = fs::read(&path).expect("readable corpus file");
            if std::panic::catch_unwind(|| run(scratch.path(), &data)).is_err() {
                panic!("storage::fuzz::{target} panicked on {}", path.display());
            }
        }
    }
}

/// Reproducers of crashes not fixed yet, one directory per target (none today). They are
/// kept out of `corpus/` because libFuzzer replays its corpus first and would stop on them.
/// This test runs in CI and fails while any of them still crashes: a known crash is a defect,
/// not a skipped test. Once fixed, move the files into `corpus/<target>/`.
#[test]
fn known_crashes_are_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/known-crashes");
    let scratch = tempfile::tempdir().unwrap();
    let mut crashing = Vec::new();
    for &(target, run) in TARGETS {
        let Ok(entries) = fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            if std::panic::catch_unwind(|| run(scratch.path(), &data)).is_err() {
                crashing.push(path);
            }
        }
    }
    assert!(crashing.is_empty(), "still crashing: {crashing:#?}");
}

/// Writes the seed corpora of every target.
#[test]
#[ignore = "regenerates storage/fuzz/corpus/*/seed-*"]
fn write_seed_corpus() {
    let corpora = [
        ("checkpoint", checkpoint_seeds()),
        ("clean_shutdown", clean_shutdown_seeds()),
        ("index", index_seeds()),
        ("meta_properties", meta_properties_seeds()),
        ("metadata_snapshot", metadata_snapshot_seeds()),
        ("partition_metadata", partition_metadata_seeds()),
        ("producer_snapshot", producer_snapshot_seeds()),
        ("segment_recovery", segment_seeds()),
    ];
    let scratch = tempfile::tempdir().unwrap();
    for (target, seeds) in corpora {
        let run = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            // Every seed passes its target before it is written.
            run(scratch.path(), &data);
            fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
    }
}

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn checkpoint_seeds() -> Seeds {
    let offsets = checkpoint::format(&[
        OffsetEntry {
            topic_partition: TopicPartition::new("orders", 0),
            offset: 42,
        },
        OffsetEntry {
            topic_partition: TopicPartition::new("__consumer_offsets", 49),
            offset: 1_000_000,
        },
    ]);
    let epochs = checkpoint::format(&[
        EpochEntry {
            epoch: 0,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 3,
            start_offset: 120,
        },
    ]);
    vec![
        ("valid-offsets", offsets.clone().into_bytes()),
        ("valid-epochs", epochs.clone().into_bytes()),
        ("empty", Vec::new()),
        ("version-only", b"0\n".to_vec()),
        ("no-entries", b"0\n0\n".to_vec()),
        ("crlf", epochs.replace('\n', "\r\n").into_bytes()),
        ("no-final-newline", offsets.trim_end().as_bytes().to_vec()),
        (
            "tabs-and-leading-space",
            b"0\n1\n\t orders\t 3  7\n".to_vec(),
        ),
        ("count-too-high", b"0\n3\n1 5\n".to_vec()),
        ("count-huge", b"0\n2147483647\n1 5\n".to_vec()),
        ("count-negative", b"0\n-1\n".to_vec()),
        ("version-1", b"1\n0\n".to_vec()),
        (
            "epochs-not-monotonic",
            b"0\n4\n5 100\n3 50\n7 40\n7 200\n".to_vec(),
        ),
        ("epoch-negative", b"0\n1\n-1 5\n".to_vec()),
        (
            "offset-overflow",
            b"0\n1\nt 0 9223372036854775808\n".to_vec(),
        ),
        ("too-many-fields", b"0\n1\nt 0 1 2\n".to_vec()),
        ("not-utf8", b"0\n1\n\xff 0 1\n".to_vec()),
    ]
}

fn clean_shutdown_seeds() -> Seeds {
    vec![
        ("kafka-3.9", br#"{"version":0,"brokerEpoch":42}"#.to_vec()),
        (
            "zookeeper-mode",
            br#"{"version":0,"brokerEpoch":-1}"#.to_vec(),
        ),
        ("kafka-3.6-empty", Vec::new()),
        (
            "keys-reordered-spaced",
            b"{ \"brokerEpoch\" : 7 , \"version\" : 0 }\n".to_vec(),
        ),
        (
            "epoch-overflow",
            br#"{"version":0,"brokerEpoch":9223372036854775808}"#.to_vec(),
        ),
        (
            "epoch-minus-only",
            br#"{"version":0,"brokerEpoch":-}"#.to_vec(),
        ),
        ("no-colon", br#"{"brokerEpoch" 5}"#.to_vec()),
        ("not-utf8", b"{\"brokerEpoch\":\xff1}".to_vec()),
    ]
}

fn index_file(base: i64, entries: &[[u8; 8]]) -> Vec<u8> {
    let mut out = base.to_be_bytes().to_vec();
    entries.iter().for_each(|e| out.extend_from_slice(e));
    out
}

fn time_index_file(base: i64, entries: &[[u8; 12]]) -> Vec<u8> {
    let mut out = base.to_be_bytes().to_vec();
    entries.iter().for_each(|e| out.extend_from_slice(e));
    out
}

/// `index` inputs: the base offset (8 bytes, big-endian), then the file content.
fn index_seeds() -> Seeds {
    let sorted: Vec<[u8; 8]> = (1..=20).map(|i| offset_entry(i * 10, i * 4096)).collect();
    let times: Vec<[u8; 12]> = (1..=20)
        .map(|i| time_entry(1_700_000_000_000 + i64::from(i) * 1000, i * 10))
        .collect();
    let mut padded = sorted[..5].to_vec();
    padded.extend([[0u8; 8]; 4]);
    let mut unsorted = sorted.clone();
    unsorted.swap(3, 15);
    let mut torn = index_file(100, &sorted[..3]);
    torn.extend_from_slice(&[0, 0, 1]);
    vec![
        ("offset-index-base-0", index_file(0, &sorted)),
        ("offset-index-base-1000", index_file(1000, &sorted)),
        ("time-index-base-100", time_index_file(100, &times)),
        ("empty", Vec::new()),
        ("base-only", index_file(5, &[])),
        ("crash-zero-padding", index_file(0, &padded)),
        ("unsorted", index_file(0, &unsorted)),
        ("torn-last-entry", torn),
        (
            "negative-entries",
            index_file(0, &[offset_entry(-5, -1), offset_entry(i32::MIN, 7)]),
        ),
        (
            "time-index-backwards",
            time_index_file(0, &[time_entry(50, 1), time_entry(10, 2)]),
        ),
    ]
}

fn meta_properties_seeds() -> Seeds {
    let dir_id = Uuid([7; 16]);
    let kraft = MetaProperties::kraft("MkU3OEVBNTcwNTJENDM2Qk", 1, Some(dir_id))
        .to_file_contents(Some("Thu Nov 28 10:00:00 UTC 2024"));
    vec![
        ("kraft-v1", kraft.clone().into_bytes()),
        (
            "zookeeper-v0",
            b"#\n#Thu Nov 28 10:00:00 UTC 2024\nbroker.id=0\ncluster.id=abc\nversion=0\n".to_vec(),
        ),
        ("no-version", b"broker.id=3\n".to_vec()),
        ("empty", Vec::new()),
        ("crlf", kraft.replace('\n', "\r\n").into_bytes()),
        (
            "separators-and-continuation",
            b"version : 1\nnode.id   2\ncluster.id=Mk\\\n   U3OEVBNTcwNTJENDM2Qk\n! comment\n"
                .to_vec(),
        ),
        (
            "unicode-escapes",
            b"version=1\nnode.id=1\ncluster.id=\\u00fc\\uD83D\\uDE00\n".to_vec(),
        ),
        (
            "malformed-unicode-escape",
            b"version=1\ncluster.id=\\u12g4\n".to_vec(),
        ),
        (
            "unpaired-surrogate",
            b"version=1\ncluster.id=\\uD800x\n".to_vec(),
        ),
        (
            "version-2",
            b"version=2\nnode.id=1\ncluster.id=x\n".to_vec(),
        ),
        ("v1-missing-node-id", b"version=1\ncluster.id=x\n".to_vec()),
        (
            "negative-node-id",
            b"version=1\nnode.id=-1\ncluster.id=x\n".to_vec(),
        ),
        (
            "node-id-overflow",
            b"version=1\nnode.id=2147483648\ncluster.id=x\n".to_vec(),
        ),
        (
            "bad-directory-id",
            b"version=1\nnode.id=1\ncluster.id=x\ndirectory.id=!!\n".to_vec(),
        ),
        ("latin1-bytes", b"version=0\ncluster.id=caf\xe9\n".to_vec()),
        ("trailing-backslash", b"version=0\ncluster.id=x\\".to_vec()),
    ]
}

fn partition_metadata_seeds() -> Seeds {
    let id = Uuid([0x5a; 16]);
    let valid = storage::partition_metadata::format(id);
    vec![
        ("valid", valid.clone().into_bytes()),
        ("trailing-newline", format!("{valid}\n").into_bytes()),
        ("crlf", valid.replace('\n', "\r\n").into_bytes()),
        (
            "version-1",
            format!("version: 1\ntopic_id: {id}").into_bytes(),
        ),
        (
            "version-negative",
            format!("version: -1\ntopic_id: {id}").into_bytes(),
        ),
        (
            "zero-topic-id",
            b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        ),
        ("bad-topic-id", b"version: 0\ntopic_id: not-a-uuid".to_vec()),
        ("missing-topic-id", b"version: 0\n".to_vec()),
        (
            "no-space-after-colon",
            format!("version:0\ntopic_id:{id}").into_bytes(),
        ),
        (
            "two-separators",
            format!("version: 0: 1\ntopic_id: {id}").into_bytes(),
        ),
        ("empty", Vec::new()),
        ("not-utf8", b"version: 0\ntopic_id: \xff".to_vec()),
    ]
}

/// A snapshot entry of producer `pid`: its last batch's sequences and offsets, an open
/// transaction when `txn_first_offset` is not −1.
fn snapshot_entry(pid: i64, last_offset: i64, txn_first_offset: i64) -> SnapshotEntry {
    SnapshotEntry {
        producer_id: pid,
        producer_epoch: 3,
        last_sequence: 41,
        last_offset,
        offset_delta: 4,
        timestamp: 1_700_000_000_000,
        coordinator_epoch: if txn_first_offset == -1 { -1 } else { 7 },
        current_txn_first_offset: txn_first_offset,
    }
}

/// `bytes` with the CRC (bytes 2..6, over 6..end) made to match again.
fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&bytes[6..]);
    bytes[2..6].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A valid snapshot of epoch 3 with two data batches, plus a corrupt variant per rule the
/// reader enforces.
fn metadata_snapshot_seeds() -> Seeds {
    let id = SnapshotId {
        end_offset: 1000,
        epoch: 3,
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut writer = SnapshotWriter::create(scratch.path(), id, 1_700_000_000_000, 5).unwrap();
    for values in [
        &[&b"\x01\x02\x00a"[..], b"\x01\x14\x00\x00"][..],
        &[b"\x01\x0c\x00x"],
    ] {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(writer.next_offset())
            .partition_leader_epoch(id.epoch);
        for v in values {
            b.append(1_700_000_000_000, None, Some(v), &[]).unwrap();
        }
        writer.append(&b.build().unwrap()).unwrap();
    }
    let valid = fs::read(writer.freeze(6).unwrap().path).unwrap();
    let empty = {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotWriter::create(dir.path(), id, 0, 0)
            .unwrap()
            .freeze(0)
            .unwrap();
        fs::read(file.path).unwrap()
    };
    // The header batch comes first and the footer batch last.
    let header_len = 12 + i32::from_be_bytes(valid[8..12].try_into().unwrap()) as usize;
    let footer_len = 12
        + i32::from_be_bytes(empty[header_len + 8..header_len + 12].try_into().unwrap()) as usize;
    let mut bad_crc = valid.clone();
    bad_crc[header_len + 70] ^= 0x40;
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[0; 13]);
    vec![
        ("valid", valid.clone()),
        ("header-and-footer-only", empty.clone()),
        ("bad-crc", bad_crc),
        (
            "torn-in-batch",
            valid[..valid.len() - footer_len - 9].to_vec(),
        ),
        ("no-footer", valid[..valid.len() - footer_len].to_vec()),
        ("no-header", valid[header_len..].to_vec()),
        ("footer-only", empty[header_len..].to_vec()),
        ("trailing-bytes", trailing),
        ("empty", Vec::new()),
    ]
}

fn producer_snapshot_seeds() -> Seeds {
    let one = producer_snapshot::encode(&[snapshot_entry(1000, 99, -1)]);
    let three = producer_snapshot::encode(&[
        snapshot_entry(1000, 99, -1),
        snapshot_entry(2001, 150, 140),
        // A producer whose batches are all gone: no last batch (Kafka writes −1/0).
        SnapshotEntry {
            last_sequence: -1,
            last_offset: -1,
            offset_delta: 0,
            ..snapshot_entry(i64::MAX, -1, -1)
        },
    ]);
    let mut bad_crc = three.clone();
    bad_crc[20] ^= 0x40;
    let mut version_0 = one.clone();
    version_0[..2].copy_from_slice(&0i16.to_be_bytes());
    let mut negative_count = one.clone();
    negative_count[6..10].copy_from_slice(&(-1i32).to_be_bytes());
    let mut count_too_high = three.clone();
    count_too_high[6..10].copy_from_slice(&4i32.to_be_bytes());
    let mut count_huge = one.clone();
    count_huge[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut trailing = three.clone();
    trailing.extend_from_slice(&[0xab; 20]);
    vec![
        ("empty-snapshot", producer_snapshot::encode(&[])),
        // `docs/formats.md` §9.1: an empty snapshot as Kafka writes it.
        (
            "spec-empty",
            vec![0x00, 0x01, 0x48, 0x67, 0x4B, 0xC7, 0, 0, 0, 0],
        ),
        ("one-entry", one.clone()),
        ("three-entries", three.clone()),
        ("empty-file", Vec::new()),
        ("partial-header", one[..5].to_vec()),
        ("truncated-entry", three[..three.len() - 10].to_vec()),
        (
            "truncated-entry-crc-fixed",
            with_crc(three[..three.len() - 10].to_vec()),
        ),
        ("bad-crc", bad_crc),
        ("version-0", version_0),
        ("negative-count", with_crc(negative_count)),
        ("count-too-high", with_crc(count_too_high)),
        ("count-huge", with_crc(count_huge)),
        ("trailing-bytes", with_crc(trailing)),
        ("zeros", vec![0; 56]),
    ]
}

const TS: i64 = 1_700_000_000_000;

/// A batch of `n` records at `base_offset` with `epoch`.
fn batch(base_offset: i64, epoch: i32, n: i64, codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec)
        .base_offset(base_offset)
        .partition_leader_epoch(epoch);
    for i in 0..n {
        b.append(TS + i, Some(b"key"), Some(&[i as u8; 20]), &[])
            .unwrap();
    }
    b.build().unwrap().bytes.to_vec()
}

/// `segment_recovery` inputs: a whole `.log` file.
fn segment_seeds() -> Seeds {
    let one = batch(0, 0, 3, Compression::None);
    let mut several = Vec::new();
    let mut next = 0;
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        several.extend(batch(next, i as i32, 2, codec));
        next += 2;
    }
    // Enough small batches to cross the index interval many times.
    let mut many = Vec::new();
    for i in 0..40 {
        many.extend(batch(i, 1 + (i as i32) / 10, 1, Compression::None));
    }
    let mut torn = several.clone();
    torn.extend_from_slice(&one[..30]);
    let mut bad_crc = one.clone();
    bad_crc.extend(batch(3, 0, 1, Compression::None));
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    bad_crc.extend(batch(4, 0, 1, Compression::None));
    let mut backwards = batch(10, 0, 2, Compression::None);
    backwards.extend(batch(5, 0, 2, Compression::None));
    let mut gap = batch(0, 0, 2, Compression::None);
    gap.extend(batch(100, 2, 2, Compression::Lz4));
    let mut negative_base = batch(0, 0, 1, Compression::None);
    negative_base[..8].copy_from_slice(&(-5i64).to_be_bytes());
    recompute_crc(&mut negative_base).unwrap();
    let mut huge_length = one.clone();
    huge_length[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut offset_overflow = batch(0, 0, 1, Compression::None);
    offset_overflow[..8].copy_from_slice(&(i64::MAX - 1).to_be_bytes());
    recompute_crc(&mut offset_overflow).unwrap();
    let mut delta_past_int32 = batch(0, 0, 1, Compression::None);
    delta_past_int32[..8].copy_from_slice(&i64::from(i32::MAX).to_be_bytes());
    recompute_crc(&mut delta_past_int32).unwrap();
    let mut marker = BatchBuilder::new(Compression::None)
        .base_offset(3)
        .partition_leader_epoch(1)
        .producer(1000, 0, -1)
        .transactional()
        .control();
    marker
        .append(
            TS,
            Some(&ControlRecordType::Commit.key()),
            Some(
                &EndTxnMarker {
                    coordinator_epoch: 0,
                }
                .value(),
            ),
            &[],
        )
        .unwrap();
    let mut txn = one.clone();
    txn.extend_from_slice(&marker.build().unwrap().bytes);
    vec![
        ("empty", Vec::new()),
        ("one-batch", one.clone()),
        ("every-codec", several),
        ("many-small-batches", many),
        ("torn-tail", torn),
        ("partial-header", one[..40].to_vec()),
        ("bad-crc-in-middle", bad_crc),
        ("offsets-go-backwards", backwards),
        ("offset-gap", gap),
        ("negative-base-offset", negative_base),
        ("huge-batch-length", huge_length),
        ("base-offset-near-max", offset_overflow),
        ("offset-past-int32", delta_past_int32),
        ("transaction-marker", txn),
        ("zeros", vec![0; 200]),
    ]
}
