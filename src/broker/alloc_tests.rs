//! Issue 14: "no per-record allocation on produce or fetch", checked by counting.
//!
//! How allocations are counted: the test binary's global allocator is `tracking-allocator`'s
//! wrapper of the system allocator (it implements `GlobalAlloc`, which needs `unsafe`; the
//! workspace forbids `unsafe`, so the impl stays in that crate, as in `protocol`'s
//! `codec_alloc` test). Its hook adds one to [`ALLOCATIONS`] for each allocation made on a
//! thread that opted in ([`COUNTED`]): the test's thread while it runs one request, and the
//! blocking-pool threads of the test's own tokio runtime (opted in as they start), where
//! large appends and every log read run. Other tests of the binary run on other threads and
//! are not counted. This lives in the root crate's unit tests, not in an integration test
//! file, because the root crate is a binary: its integration tests cannot reach `Broker`.
//!
//! What is covered: everything from a request frame as a connection hands it over to the
//! response frame (or parts) it writes back, through `Broker::handle_frame`: header and
//! request decoding, the Produce handler (topic and leader checks, batch framing, CRC,
//! record-by-record validation incl. decompression), the replica manager's append (offset and
//! leader epoch patching, the idempotent producer's sequence check and state, the write to a
//! real segment in a temporary directory, index entries), the Fetch handler (sessionless full
//! fetch, log lookup and `pread`), and response encoding, with Fetch's records shared rather
//! than copied. Not covered: the socket reads and writes of `io::net` (per frame, not per
//! record), segment rolls and fsyncs (1 GiB segments and Kafka's `flush.messages` default are
//! not reached), incremental fetch sessions, transactions, and appends small enough to run on
//! the connection's task (the same append code, without the hop to the blocking pool).
//!
//! The comparison: one Produce request carrying one batch of [`FEW`] records against one of
//! [`MANY`], then one Fetch returning each batch. Both batch sizes are above the 64 KiB up to
//! which an append runs on the connection's task, so both go the same way (the blocking
//! pool); values are [`VALUE_BYTES`] long for that. A per-record allocation would add
//! `MANY - FEW` = 9,900 allocations; the difference may be at most [`SLACK`], for every
//! codec.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use bytes::Bytes;
use protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProduceResponse};
use protocol::records::{self, BatchBuilder, Compression, Header};
use protocol::Uuid;
use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};

use super::replica_manager::now_ms;
use super::test_broker::{produce_request, request_frame, response, topic_records, TestBroker};

#[global_allocator]
static GLOBAL: Allocator<std::alloc::System> = Allocator::system();

/// Allocations made so far on counted threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Records per batch of the small and the large request.
const FEW: usize = 100;
const MANY: usize = 10_000;
/// Value size: 100 records are above the inline-append and shared-records limits (64 KiB),
/// compressed or not, so both batch sizes take the same paths.
const VALUE_BYTES: usize = 1_500;
/// The 64 KiB limits of `replica_manager` (inline append) and `fetch` (shared records).
const SAME_PATH_BYTES_MIN: usize = 64 * 1024;
/// Most allocations the large request may make beyond the small one. None: a compressed
/// batch too is decompressed into one buffer that starts at the compressed size, so how
/// often it grows depends on the compression ratio, not on the batch's size
/// (`protocol::records::compression`).
const SLACK: u64 = 0;
/// Produce and Fetch at the newest versions clients send (Fetch by topic id).
const PRODUCE_VERSION: i16 = 11;
const FETCH_VERSION: i16 = 16;
/// Measurements per request size: the figures asserted are the smallest, but every one is
/// printed.
const ROUNDS: usize = 3;

struct CountOnOptedInThreads;

impl AllocationTracker for CountOnOptedInThreads {
    fn allocated(&self, _addr: usize, _size: usize, _wrapped: usize, _group: AllocationGroupId) {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn deallocated(
        &self,
        _addr: usize,
        _size: usize,
        _wrapped: usize,
        _source: AllocationGroupId,
        _current: AllocationGroupId,
    ) {
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        AllocationRegistry::set_global_tracker(CountOnOptedInThreads).expect("one tracker");
        AllocationRegistry::enable_tracking();
    });
}

fn count_this_thread(on: bool) {
    COUNTED.with(|c| c.set(on));
}

/// A current-thread runtime whose blocking-pool threads are counted.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(|| count_this_thread(true))
        .build()
        .expect("runtime")
}

/// Runs `work` to completion and counts the allocations it made, on this thread and on the
/// runtime's blocking threads. The result is dropped after counting.
fn allocations<T>(rt: &tokio::runtime::Runtime, work: impl std::future::Future<Output = T>) -> u64 {
    count_this_thread(true);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let out = rt.block_on(work);
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    count_this_thread(false);
    drop(out);
    after - before
}

/// What the producer sends: its codec, and with idempotence (the Java client's default since
/// Kafka 3.0) its producer id and the next sequence.
#[derive(Debug)]
struct Client {
    codec: Compression,
    idempotent: Option<(i64, i32)>,
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idempotence = if self.idempotent.is_some() {
            "idempotent"
        } else {
            "plain"
        };
        write!(f, "{:>6} {idempotence:<10}", self.codec.name())
    }
}

impl Client {
    /// One batch of `n` keyed records with a header each, as a client builds it. Values are
    /// pseudo-random letters A–Z (as Kafka's perf producer sends), which compress by less
    /// than 2: a compressed batch of [`FEW`] records stays above 64 KiB and takes the same
    /// paths as the large one (append off the network task, records sent without a copy).
    fn batch(&mut self, n: usize) -> Bytes {
        let mut value = vec![0u8; VALUE_BYTES];
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n as u64;
        let mut b = BatchBuilder::with_capacity(self.codec, n * (VALUE_BYTES + 32));
        if let Some((id, sequence)) = &mut self.idempotent {
            b = b.producer(*id, 0, *sequence);
            *sequence += n as i32;
        }
        let now = now_ms();
        for i in 0..n {
            for byte in value.iter_mut() {
                // xorshift64
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = b'A' + (state % 26) as u8;
            }
            let key = format!("key-{i:06}");
            let header = Header {
                key: b"h",
                value: Some(b"1"),
            };
            b.append(now, Some(key.as_bytes()), Some(&value), &[header])
                .expect("append");
        }
        b.build().expect("build").bytes
    }
}

/// A sessionless full fetch of partition 0 from `offset`, for exactly `bytes` bytes.
fn fetch_request(topic: &str, topic_id: Uuid, offset: i64, bytes: usize) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: bytes as i32,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: bytes as i32,
                replica_directory_id: Uuid::ZERO,
            }],
        }],
        ..Default::default()
    }
}

/// Allocation counts of one request size: smallest of [`ROUNDS`], and all of them.
#[derive(Debug)]
struct Counts {
    produce: Vec<u64>,
    fetch: Vec<u64>,
}

/// Produces and fetches batches of `records` records `ROUNDS` times, counting each request.
/// Every answer is checked (outside the count): the right offsets, the batch read back whole.
fn measure(
    rt: &tokio::runtime::Runtime,
    broker: &TestBroker,
    client: &mut Client,
    records: usize,
) -> Counts {
    let (topic, topic_id) = ("t", Uuid([7; 16]));
    let mut counts = Counts {
        produce: Vec::new(),
        fetch: Vec::new(),
    };
    for _ in 0..ROUNDS {
        let batch = client.batch(records);
        assert!(
            batch.len() > SAME_PATH_BYTES_MIN,
            "{client}: {} bytes take another path",
            batch.len()
        );
        let frame = request_frame(
            ApiKey::Produce,
            PRODUCE_VERSION,
            &produce_request(topic, batch.clone()),
        );
        let mut outcome = None;
        let n = allocations(rt, async { outcome = Some(broker.handle(frame).await) });
        counts.produce.push(n);
        let answer: ProduceResponse =
            response(ApiKey::Produce, PRODUCE_VERSION, outcome.expect("handled"));
        let p = &answer.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "produce {records} {client}: {p:?}");
        let base_offset = p.base_offset;

        let frame = request_frame(
            ApiKey::Fetch,
            FETCH_VERSION,
            &fetch_request(topic, topic_id, base_offset, batch.len()),
        );
        let mut outcome = None;
        let n = allocations(rt, async { outcome = Some(broker.handle(frame).await) });
        counts.fetch.push(n);
        let answer: FetchResponse =
            response(ApiKey::Fetch, FETCH_VERSION, outcome.expect("handled"));
        let p = &answer.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {records} {client}: {p:?}");
        let read = records::Batch::from_bytes(p.records.clone().expect("records")).expect("batch");
        assert_eq!(read.header.base_offset, base_offset);
        assert_eq!(read.header.records_count as usize, records);
        assert_eq!(read.bytes.len(), batch.len());
    }
    counts
}

/// A batch of 10,000 records costs no more allocations than one of 100: without idempotence
/// uncompressed, and with it for every codec.
#[test]
fn produce_and_fetch_allocate_nothing_per_record() {
    install();
    let rt = runtime();
    // Sanity: work on the blocking pool is counted.
    let blocking = allocations(&rt, async {
        tokio::task::spawn_blocking(|| drop(std::hint::black_box(vec![0u8; 100])))
            .await
            .expect("blocking task");
    });
    assert!(blocking >= 1, "blocking-pool allocations are not counted");

    let broker = TestBroker::new(&["message.max.bytes=16777216"]);
    broker.commit(topic_records("t", Uuid([7; 16]), 1));
    let plain = Client {
        codec: Compression::None,
        idempotent: None,
    };
    let idempotent = Compression::ALL.map(|codec| Client {
        codec,
        idempotent: Some((1_000 + i64::from(codec.id()), 0)),
    });
    let mut failures = Vec::new();
    for mut client in std::iter::once(plain).chain(idempotent) {
        // Warm-up: the first append writes partition.metadata, the first blocking task
        // starts a thread, fetch sessions, indexes and producer state set up their entries.
        for n in [FEW, MANY] {
            measure(&rt, &broker, &mut client, n);
        }
        let few = measure(&rt, &broker, &mut client, FEW);
        let many = measure(&rt, &broker, &mut client, MANY);
        for (what, few, many) in [
            ("produce", &few.produce, &many.produce),
            ("fetch", &few.fetch, &many.fetch),
        ] {
            let (a, b) = (min(few), min(many));
            println!(
                "{client} {what:<7}: {FEW} records {a} allocations {few:?}, \
                 {MANY} records {b} allocations {many:?}"
            );
            if b > a + SLACK {
                failures.push(format!(
                    "{client} {what}: {MANY} records made {b} allocations, {FEW} made {a} \
                     (slack {SLACK})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn min(counts: &[u64]) -> u64 {
    counts.iter().copied().min().unwrap_or(0)
}
