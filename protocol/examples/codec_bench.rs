//! Codec throughput against a plain memcpy of the same bytes, measured in the same run.
//!
//! `cargo run --release -p protocol --example codec_bench` prints one row per operation:
//! (a) decoding a 1 MiB Produce request (header + body; the records stay a `Bytes` slice of
//!     the frame, so this should cost far less than copying them);
//! (b) validating a 1 MiB uncompressed batch as a leader does before appending it (CRC32C,
//!     header checks, every record walked: `records::validate_client_batch`), and patching its
//!     base offset and partition leader epoch in place;
//! (c) encoding a Fetch response carrying 1 MiB of records (one copy of the records into the
//!     response buffer, so ~1× memcpy is the floor).
//!
//! Each figure is the median of several timed rounds, each round long enough (≥ 50 ms) for
//! `Instant` to be precise. GB/s is 10⁹ bytes per second of the operation's payload.

// A benchmark measures wall time; protocol/clippy.toml bans the clock for the codec itself.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use protocol::header::{encode_request, RequestHeader};
use protocol::messages::*;
use protocol::records::{
    set_base_offset, set_partition_leader_epoch, validate_client_batch, BatchBuilder, Compression,
};

const MIB: usize = 1 << 20;
const ROUNDS: usize = 7;
const ROUND_MIN: Duration = Duration::from_millis(50);

/// Median time per iteration of `f`, over `ROUNDS` rounds of at least `ROUND_MIN`.
fn time_per_iter(mut f: impl FnMut()) -> Duration {
    // Warm up and find an iteration count that fills a round.
    let mut iters: u32 = 1;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        if start.elapsed() >= ROUND_MIN {
            break;
        }
        iters = iters.saturating_mul(2);
    }
    let mut per_iter: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    per_iter.sort();
    per_iter[ROUNDS / 2]
}

/// A 1 MiB (just under) uncompressed batch of 1 KiB records, as a client sends it.
fn batch_of(target: usize) -> Bytes {
    let value = vec![b'x'; 1000];
    let mut builder = BatchBuilder::with_capacity(Compression::None, target);
    let mut n = 0u64;
    while builder.uncompressed_size() + 1100 < target {
        let key = format!("key-{n}");
        builder
            .append(
                1_700_000_000_000 + n as i64,
                Some(key.as_bytes()),
                Some(&value),
                &[],
            )
            .expect("append");
        n += 1;
    }
    builder.build().expect("build").bytes
}

struct Row {
    name: &'static str,
    bytes: usize,
    time: Duration,
}

fn main() {
    let batch = batch_of(MIB);
    let mut rows = Vec::new();

    // Baseline: memcpy of the same 1 MiB.
    let src = batch.to_vec();
    let mut dst = vec![0u8; src.len()];
    let memcpy = time_per_iter(|| {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    });
    rows.push(Row {
        name: "memcpy of the records (baseline)",
        bytes: src.len(),
        time: memcpy,
    });

    // (a) Decode a Produce request frame (after the size prefix) carrying the batch.
    let version = 9;
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce_request::TopicProduceData {
            name: "bench".into(),
            partition_data: vec![produce_request::PartitionProduceData {
                index: 0,
                records: Some(batch.clone()),
            }],
        }],
        ..Default::default()
    };
    let header = RequestHeader {
        api_key: ApiKey::Produce as i16,
        api_version: version,
        correlation_id: 1,
        client_id: Some("codec-bench".into()),
    };
    let frame = encode_request(&header, &request).freeze().slice(4..);
    let decode = time_per_iter(|| {
        let mut b = black_box(&frame).clone();
        let h = RequestHeader::decode(&mut b).expect("header");
        let req = ProduceRequest::decode(&mut b, h.api_version).expect("body");
        black_box(req);
    });
    rows.push(Row {
        name: "(a) decode 1 MiB Produce request",
        bytes: frame.len(),
        time: decode,
    });

    // (b) Validate the batch (CRC32C, header checks, records) and patch it in place.
    let framed = protocol::records::Batch::from_bytes(batch.clone()).expect("one batch");
    let validate = time_per_iter(|| {
        validate_client_batch(black_box(&framed)).expect("valid");
    });
    rows.push(Row {
        name: "(b) validate 1 MiB batch",
        bytes: batch.len(),
        time: validate,
    });
    let mut log_copy = batch.to_vec();
    let mut offset = 0i64;
    let patch = time_per_iter(|| {
        offset += 1;
        set_base_offset(black_box(&mut log_copy), offset).expect("patch");
        set_partition_leader_epoch(black_box(&mut log_copy), 7).expect("patch");
    });
    rows.push(Row {
        name: "(b) patch base offset + leader epoch",
        bytes: batch.len(),
        time: patch,
    });
    let crc_only = time_per_iter(|| {
        black_box(framed.verify_crc()).expect("crc");
    });
    rows.push(Row {
        name: "    of which CRC32C alone",
        bytes: batch.len(),
        time: crc_only,
    });

    // (c) Encode a Fetch response frame carrying the batch.
    let response = FetchResponse {
        responses: vec![fetch_response::FetchableTopicResponse {
            topic_id: protocol::Uuid([7; 16]),
            partitions: vec![fetch_response::PartitionData {
                partition_index: 0,
                high_watermark: 1000,
                last_stable_offset: 1000,
                log_start_offset: 0,
                aborted_transactions: None,
                records: Some(batch.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let encode = time_per_iter(|| {
        let out: BytesMut =
            protocol::header::encode_response(ApiKey::Fetch, 16, 1, black_box(&response));
        black_box(out);
    });
    rows.push(Row {
        name: "(c) encode Fetch response, 1 MiB records",
        bytes: batch.len(),
        time: encode,
    });

    println!(
        "codec_bench: {} bytes of records ({} records of ~1 KiB)",
        batch.len(),
        {
            let b = protocol::records::Batch::from_bytes(batch.clone()).expect("batch");
            b.header.records_count
        }
    );
    println!(
        "{:<44} {:>10} {:>12} {:>10} {:>14}",
        "operation", "bytes", "time/iter", "GB/s", "time / memcpy"
    );
    for r in &rows {
        let secs = r.time.as_secs_f64();
        let gbps = if secs > 0.0 {
            r.bytes as f64 / secs / 1e9
        } else {
            f64::INFINITY
        };
        println!(
            "{:<44} {:>10} {:>12} {:>10.2} {:>14.4}",
            r.name,
            r.bytes,
            format!("{:.2?}", r.time),
            gbps,
            secs / memcpy.as_secs_f64()
        );
    }
}
