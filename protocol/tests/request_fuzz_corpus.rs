//! Replays every file of the `request_decode` fuzz corpus through
//! `protocol::request_fuzz::fuzz_request`, the same function the cargo-fuzz target calls, so
//! CI checks the corpus (and every regression committed to it) on stable without libFuzzer.
//!
//! `cargo test -p protocol --test request_fuzz_corpus -- --ignored` rewrites the `seed-*`
//! files from sample requests; files found by the fuzzer are kept as they are.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::BufMut;
use protocol::header::{encode_request, RequestHeader};
use protocol::messages::*;
use protocol::request_fuzz::fuzz_request;
use protocol::sample::SampleRng;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request_decode")
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
        files.len() >= 100,
        "the seed corpus is committed ({} files found)",
        files.len()
    );
    for path in files {
        let data = fs::read(&path).expect("readable corpus file");
        if std::panic::catch_unwind(|| fuzz_request(&data)).is_err() {
            panic!("fuzz_request panicked on corpus file {}", path.display());
        }
    }
}

/// The APIs whose bodies `fuzz_request` round-trips: seeded at every version. Every other
/// request is seeded at its lowest and highest version only, to keep the corpus small.
const EVERY_VERSION: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::ListOffsets,
];

/// A request frame body (no 4-byte size) of a sample `M` at `version`.
fn frame<M: Message>(version: i16, seed: u64) -> Vec<u8> {
    let mut rng = SampleRng::new(seed);
    let body = M::sample(&mut rng, M::is_flexible(version), version);
    let header = RequestHeader {
        api_key: M::KEY,
        api_version: version,
        correlation_id: 7,
        client_id: Some("fuzz-seed".into()),
    };
    encode_request(&header, &body)[4..].to_vec()
}

fn seeds_of<M: Message>(seeds: &mut Vec<(String, Vec<u8>)>) {
    if !M::NAME.ends_with("Request") {
        return;
    }
    let Some(api) = ApiKey::from_i16(M::KEY) else {
        return;
    };
    let (min, max) = M::VERSIONS;
    let versions: Vec<i16> = if EVERY_VERSION.contains(&api) {
        (min..=max).collect()
    } else if min == max {
        vec![min]
    } else {
        vec![min, max]
    };
    for version in versions {
        let data = frame::<M>(version, 0x5eed ^ u64::from(version as u16));
        // The frame decodes and survives the entry point before it becomes a seed.
        fuzz_request(&data);
        seeds.push((format!("{}-v{version}", api.name()), data));
    }
}

/// Writes the seed corpus: sample requests of every API, then hostile frames around them.
#[test]
#[ignore = "regenerates protocol/fuzz/corpus/request_decode/seed-*"]
fn write_seed_corpus() {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    macro_rules! collect {
        ($t:ident) => {
            seeds_of::<$t>(&mut seeds);
        };
    }
    protocol::for_each_message!(collect);

    let produce = frame::<ProduceRequest>(ProduceRequest::VERSIONS.1, 1);
    let fetch = frame::<FetchRequest>(FetchRequest::VERSIONS.1, 2);
    let metadata_v0 = frame::<MetadataRequest>(0, 3);
    seeds.push(("hostile-empty".into(), Vec::new()));
    seeds.push(("hostile-short-header".into(), produce[..5].to_vec()));
    seeds.push((
        "hostile-truncated-body".into(),
        produce[..produce.len() / 2].to_vec(),
    ));
    let mut unknown_api = fetch.clone();
    unknown_api[..2].copy_from_slice(&i16::MAX.to_be_bytes());
    seeds.push(("hostile-unknown-api".into(), unknown_api));
    let mut future_version = fetch.clone();
    future_version[2..4].copy_from_slice(&(FetchRequest::VERSIONS.1 + 1).to_be_bytes());
    seeds.push(("hostile-unsupported-version".into(), future_version));
    let mut negative_version = fetch;
    negative_version[2..4].copy_from_slice(&(-1i16).to_be_bytes());
    seeds.push(("hostile-negative-version".into(), negative_version));
    // Metadata v0: header (8 + 2 + "fuzz-seed"), then the int32 topic count.
    let count_at = 8 + 2 + "fuzz-seed".len();
    let mut huge_count = metadata_v0[..count_at].to_vec();
    huge_count.put_i32(i32::MAX);
    seeds.push(("hostile-huge-array-count".into(), huge_count));
    let mut negative_count = metadata_v0[..count_at].to_vec();
    negative_count.put_i32(-2);
    seeds.push(("hostile-negative-array-count".into(), negative_count));
    let mut huge_client_id = metadata_v0[..8].to_vec();
    huge_client_id.put_i16(i16::MAX);
    huge_client_id.extend_from_slice(b"abc");
    seeds.push(("hostile-huge-client-id".into(), huge_client_id));
    let mut bad_tagged = frame::<ApiVersionsRequest>(ApiVersionsRequest::VERSIONS.1, 4);
    let tags_at = 8 + 2 + "fuzz-seed".len();
    bad_tagged.truncate(tags_at);
    bad_tagged.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    seeds.push(("hostile-header-tagged-count".into(), bad_tagged));

    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, data) in seeds {
        fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}
