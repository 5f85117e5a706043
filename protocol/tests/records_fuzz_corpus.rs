//! Replays every file of the `batch_validate` fuzz corpus through
//! `protocol::records::fuzz_entry`, the same function the cargo-fuzz target calls, so CI
//! checks the corpus (and every regression committed to it) on stable without libFuzzer.
//!
//! `cargo test -p protocol --test records_fuzz_corpus -- --ignored` rewrites the `seed-*`
//! files from the builder; files found by the fuzzer are kept as they are.

use std::fs;
use std::path::{Path, PathBuf};

use protocol::records::compression::compress;
use protocol::records::{
    fuzz_entry, recompute_crc, BatchBuilder, Compression, ControlRecordType, EndTxnMarker, Header,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/batch_validate")
}

#[test]
fn every_corpus_file_replays_without_panicking() {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("fuzz corpus directory exists")
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the seed corpus is committed ({} files found)",
        files.len()
    );
    for path in files {
        let data = fs::read(&path).expect("readable corpus file");
        if std::panic::catch_unwind(|| fuzz_entry(&data)).is_err() {
            panic!("fuzz_entry panicked on corpus file {}", path.display());
        }
    }
}

const TS: i64 = 1_700_000_000_000;

fn sample(codec: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(codec).producer(5, 0, 0);
    for i in 0..3u8 {
        let header = Header {
            key: b"h",
            value: (i != 1).then_some(&b"x"[..]),
        };
        builder
            .append(
                TS + i64::from(i),
                Some(&[b'k', i]),
                (i != 2).then_some(&b"value"[..]),
                &[header],
            )
            .unwrap();
    }
    builder.build().unwrap().bytes.to_vec()
}

/// Writes the seed corpus: valid batches of every codec and kind, and the hostile shapes the
/// decoders must refuse.
#[test]
#[ignore = "regenerates protocol/fuzz/corpus/batch_validate/seed-*"]
fn write_seed_corpus() {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for codec in Compression::ALL {
        seeds.push((format!("valid-{codec}"), sample(codec)));
    }

    let mut one = BatchBuilder::new(Compression::None);
    one.append(
        TS,
        Some(b"k"),
        Some(b"v"),
        &[Header {
            key: b"h",
            value: Some(b"x"),
        }],
    )
    .unwrap();
    seeds.push((
        "example-one-record".into(),
        one.build().unwrap().bytes.to_vec(),
    ));
    let mut marker = BatchBuilder::new(Compression::None)
        .base_offset(42)
        .partition_leader_epoch(3)
        .producer(1000, 2, -1)
        .transactional()
        .control();
    marker
        .append(
            TS,
            Some(&ControlRecordType::Commit.key()),
            Some(
                &EndTxnMarker {
                    coordinator_epoch: 5,
                }
                .value(),
            ),
            &[],
        )
        .unwrap();
    seeds.push((
        "example-commit-marker".into(),
        marker.build().unwrap().bytes.to_vec(),
    ));
    let mut stamped = BatchBuilder::new(Compression::Lz4).log_append_time(TS);
    stamped.append(TS - 5, None, None, &[]).unwrap();
    seeds.push((
        "log-append-time-lz4".into(),
        stamped.build().unwrap().bytes.to_vec(),
    ));

    // Two batches back to back, then a partial third.
    let mut concatenated = sample(Compression::None);
    concatenated.extend_from_slice(&sample(Compression::Snappy));
    concatenated.extend_from_slice(&sample(Compression::Gzip)[..40]);
    seeds.push(("concatenated-with-partial-tail".into(), concatenated));

    // Raw (librdkafka) snappy instead of xerial.
    let plain = sample(Compression::None);
    let raw = snap::raw::Encoder::new()
        .compress_vec(&plain[61..])
        .unwrap();
    seeds.push((
        "raw-snappy".into(),
        with_section(&plain, Compression::Snappy, &raw, 3),
    ));

    // Hostile shapes.
    seeds.push((
        "huge-count".into(),
        with_section(&plain, Compression::None, &plain[61..], i32::MAX),
    ));
    seeds.push((
        "negative-count".into(),
        with_section(&plain, Compression::None, &plain[61..], -7),
    ));
    let mut bad_crc = plain.clone();
    bad_crc[70] ^= 0x40;
    seeds.push(("bad-crc".into(), bad_crc));
    seeds.push((
        "truncated-xerial-header".into(),
        with_section(&plain, Compression::Snappy, b"\x82SNAPPY\x00\x00\x00", 3),
    ));
    seeds.push((
        "lz4-garbage".into(),
        with_section(
            &plain,
            Compression::Lz4,
            b"\x04\x22\x4d\x18\x40\x40\xc0junk",
            3,
        ),
    ));
    seeds.push((
        "zstd-garbage".into(),
        with_section(
            &plain,
            Compression::Zstd,
            b"\x28\xb5\x2f\xfd\x00\x00garbage",
            3,
        ),
    ));
    let bomb = compress(Compression::Zstd, &vec![0u8; 4 << 20]).unwrap();
    seeds.push((
        "zstd-bomb".into(),
        with_section(&plain, Compression::Zstd, &bomb, 3),
    ));
    seeds.push((
        "negative-lengths".into(),
        with_section(
            &plain,
            Compression::None,
            &[0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01],
            1,
        ),
    ));

    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, data) in seeds {
        fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

/// `batch` with its records section replaced, codec and count set, CRC fixed.
fn with_section(batch: &[u8], codec: Compression, section: &[u8], count: i32) -> Vec<u8> {
    let mut out = batch[..61].to_vec();
    out.extend_from_slice(section);
    let batch_length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    out[21..23].copy_from_slice(&i16::from(codec.id()).to_be_bytes());
    out[23..27].copy_from_slice(&count.wrapping_sub(1).to_be_bytes());
    out[57..61].copy_from_slice(&count.to_be_bytes());
    recompute_crc(&mut out).unwrap();
    out
}
