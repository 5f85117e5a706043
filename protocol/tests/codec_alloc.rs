//! Hostile input: no decoder panics, and no decoder allocates from a count it read off the wire.
//!
//! A counting global allocator records the largest single allocation made while one decode
//! runs (per thread, so parallel tests do not mix). Every generated message decoder, at every
//! version, gets its seeded samples truncated at every byte, and overwritten or spliced at every
//! offset with counts and lengths of `i32::MAX`, `0x7ffffff0`, the largest varint, compact
//! `0x7ffffff0` and negative values. Each decode must return (no panic, caught with
//! `catch_unwind`) and its largest allocation must stay within the input size plus
//! [`SMALL_INPUT_SLACK`].
//!
//! Why a slack at all: a decoded value is bigger in memory than on the wire (an empty string is
//! 1 or 2 bytes on the wire and a 24-byte `String`; a ProduceResponse v2 partition is 22 bytes
//! on the wire and 88 in memory), so even a valid 40-byte message can need a 150-byte `Vec`.
//! What must never happen is an allocation sized by a claimed count: kafka-protocol 0.15 calls
//! `Vec::with_capacity(count)` before reading an element, which for the 22-byte Metadata
//! request below asks for 0x7ffffff0 topics of tens of bytes each and aborts the process. For
//! large inputs the in-memory growth is proportional to what the input really encodes: see
//! `dense_valid_arrays_grow_with_what_they_encode`.
//!
//! `SEED=n cargo test -p protocol --release --test codec_alloc` replays one sample seed.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use bytes::{BufMut, Bytes, BytesMut};
use protocol::header::RequestHeader;
use protocol::messages::*;
use protocol::sample::SampleRng;
use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};

#[global_allocator]
static GLOBAL: Allocator<std::alloc::System> = Allocator::system();

/// The overshoot tolerated over the input length for the small (sample-sized, < 4 KiB)
/// hostile inputs. Where a hostile count lands on an array of fixed-width structs, the bytes
/// after it really do decode as elements (any 22 bytes are a valid ProduceResponse v1-v2
/// partition), each bigger in memory than on the wire (88 vs 22 bytes), and the `Vec` grows
/// by doubling: the worst case measured over every message, version and mutation with
/// `SEEDS=24` is +1267 bytes (ProduceResponse v1, 141 input bytes, a 16-slot `Vec` of 1408
/// bytes). 4 KiB leaves room above that, and is ~10⁶ times smaller than what a count-sized
/// reservation of 0x7ffffff0 elements would ask for, which is the bug this test exists for.
const SMALL_INPUT_SLACK: usize = 4096;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

struct LargestAllocation;

impl AllocationTracker for LargestAllocation {
    fn allocated(
        &self,
        _addr: usize,
        object_size: usize,
        _wrapped: usize,
        _group: AllocationGroupId,
    ) {
        let _ = ARMED.try_with(|armed| {
            if armed.get() {
                let _ = LARGEST.try_with(|l| l.set(l.get().max(object_size)));
            }
        });
    }

    fn deallocated(
        &self,
        _addr: usize,
        _object_size: usize,
        _wrapped: usize,
        _source: AllocationGroupId,
        _current: AllocationGroupId,
    ) {
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        AllocationRegistry::set_global_tracker(LargestAllocation).expect("one tracker");
        AllocationRegistry::enable_tracking();
    });
}

/// Runs `f`, catching a panic, and returns whether it panicked and the largest single
/// allocation it made (the result is dropped after measuring).
fn measure<R>(f: impl FnOnce() -> R) -> (Result<R, String>, usize) {
    install();
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    ARMED.with(|a| a.set(false));
    let largest = LARGEST.with(|l| l.get());
    let r = r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".into())
    });
    (r, largest)
}

/// Sample seeds: 0..3, or `SEED=n` for one, or `SEEDS=n` for 0..n (a longer search).
fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("SEED") {
        return vec![s.parse().expect("SEED must be a number")];
    }
    let n = std::env::var("SEEDS").map_or(3, |s| s.parse().expect("SEEDS must be a number"));
    (0..n).collect()
}

/// Counts and lengths a hostile peer would send, as they appear on the wire.
const PATTERNS: &[(&str, &[u8])] = &[
    ("i32::MAX", &[0x7f, 0xff, 0xff, 0xff]),
    ("0x7ffffff0", &[0x7f, 0xff, 0xff, 0xf0]),
    ("largest uvarint", &[0xff, 0xff, 0xff, 0xff, 0x0f]),
    ("compact 0x7ffffff0", &[0xf1, 0xff, 0xff, 0xff, 0x07]),
    ("overlong varint", &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ("i16::MAX", &[0x7f, 0xff]),
    ("i16 -2", &[0xff, 0xfe]),
    ("i32 -2", &[0xff, 0xff, 0xff, 0xfe]),
    ("i32::MIN", &[0x80, 0x00, 0x00, 0x00]),
];

/// The worst allocation seen, for the summary.
#[derive(Debug, Default)]
struct Worst {
    excess: isize,
    ratio: f64,
    what: String,
}

#[derive(Debug, Default)]
struct Stats {
    decodes: usize,
    input_max: usize,
    worst_excess: Worst,
    failures: Vec<String>,
}

fn check_one<M: Message>(stats: &mut Stats, version: i16, input: Bytes, what: impl Fn() -> String) {
    let len = input.len();
    let (r, largest) = measure(|| {
        let mut b = input;
        M::decode(&mut b, version).map(|_| ())
    });
    stats.decodes += 1;
    stats.input_max = stats.input_max.max(len);
    if let Err(p) = r {
        stats
            .failures
            .push(format!("{} v{version} {}: panicked: {p}", M::NAME, what()));
        return;
    }
    let excess = largest as isize - len as isize;
    if std::env::var("ALLOC_DEBUG").is_ok_and(|w| what().contains(&w)) {
        println!(
            "{} v{version} {}: {len} bytes, largest allocation {largest}",
            M::NAME,
            what()
        );
    }
    if excess > stats.worst_excess.excess {
        stats.worst_excess = Worst {
            excess,
            ratio: largest as f64 / len.max(1) as f64,
            what: format!(
                "{} v{version} {} ({len} input bytes, {largest} allocated)",
                M::NAME,
                what()
            ),
        };
    }
    if largest > len + SMALL_INPUT_SLACK {
        stats.failures.push(format!(
            "{} v{version} {}: largest allocation {largest} > input {len} + {SMALL_INPUT_SLACK}",
            M::NAME,
            what()
        ));
    }
}

fn hostile<M: Message>(stats: &mut Stats) {
    for version in M::VERSIONS.0..=M::VERSIONS.1 {
        for seed in seeds() {
            let mut rng = SampleRng::new(seed ^ (u64::from(version as u16) << 32));
            let msg = M::sample(&mut rng, M::is_flexible(version), version);
            let mut buf = BytesMut::new();
            msg.encode(&mut buf, version);
            let valid = buf.freeze();
            check_one::<M>(stats, version, valid.clone(), || {
                format!("seed {seed} valid")
            });
            for cut in 0..valid.len() {
                check_one::<M>(stats, version, valid.slice(..cut), || {
                    format!("seed {seed} truncated to {cut}")
                });
            }
            for at in 0..=valid.len() {
                for (name, p) in PATTERNS {
                    // Overwrite in place: a field's bytes become the hostile value.
                    if at < valid.len() {
                        let mut b = BytesMut::from(&valid[..]);
                        for (i, byte) in p.iter().enumerate() {
                            if at + i < b.len() {
                                b[at + i] = *byte;
                            }
                        }
                        check_one::<M>(stats, version, b.freeze(), || {
                            format!("seed {seed} {name} written at {at}")
                        });
                    }
                    // Splice: the hostile value is inserted, the rest follows intact.
                    let mut b = BytesMut::with_capacity(valid.len() + p.len());
                    b.put_slice(&valid[..at]);
                    b.put_slice(p);
                    b.put_slice(&valid[at..]);
                    check_one::<M>(stats, version, b.freeze(), || {
                        format!("seed {seed} {name} inserted at {at}")
                    });
                }
            }
        }
    }
}

#[test]
fn hostile_counts_and_lengths_never_allocate_beyond_the_input() {
    let mut stats = Stats::default();
    macro_rules! check {
        ($t:ident) => {
            hostile::<$t>(&mut stats);
        };
    }
    protocol::for_each_message!(check);
    println!(
        "{} decodes of inputs up to {} bytes; worst allocation over input: +{} bytes ({:.2}x) \
         at {}",
        stats.decodes,
        stats.input_max,
        stats.worst_excess.excess,
        stats.worst_excess.ratio,
        stats.worst_excess.what
    );
    let n = stats.failures.len();
    stats.failures.truncate(30);
    assert!(
        n == 0,
        "{n} failures (repro: SEED=n …), first ones:\n{}",
        stats.failures.join("\n")
    );
}

/// The 22-byte request: a Metadata v1 frame whose topic array claims 0x7ffffff0
/// entries and ends right after the count.
#[test]
fn metadata_request_of_22_bytes_claiming_0x7ffffff0_topics() {
    let frame: [u8; 22] = [
        0x00, 0x00, 0x00, 0x12, // size: 18
        0x00, 0x03, // api key: Metadata
        0x00, 0x01, // version 1
        0x00, 0x00, 0x00, 0x07, // correlation id
        0x00, 0x04, b'k', b'c', b'a', b't', // client id
        0x7f, 0xff, 0xff, 0xf0, // topics: 0x7ffffff0 entries, none present
    ];
    // Cloned once before measuring: the first split of a `Bytes` made from a `Vec` allocates
    // the `bytes` crate's 24-byte shared control block, which a frame the network layer hands
    // over already has.
    let input = Bytes::from(frame[4..].to_vec());
    let _shared = input.clone();
    let (r, largest) = measure(|| {
        let mut b = input;
        let header = RequestHeader::decode(&mut b).expect("header");
        let api = ApiKey::from_i16(header.api_key).expect("metadata");
        (header, RequestBody::decode(api, 1, &mut b))
    });
    let (header, body) = r.expect("no panic");
    assert_eq!(header.client_id.as_deref(), Some("kcat"));
    let err = body.expect_err("a count past the input is an error");
    assert_eq!((err.message, err.field), ("MetadataRequest", "Topics"));
    // The only allocation is the 4-byte client id.
    assert_eq!(
        largest,
        4,
        "largest allocation for a {}-byte frame",
        frame.len()
    );
}

/// A Produce request whose topic array claims ~2³¹ entries, at every Produce version, with a
/// short tail: the decode fails without reserving for the count.
#[test]
fn produce_request_with_a_huge_topic_count() {
    for version in ProduceRequest::VERSIONS.0..=ProduceRequest::VERSIONS.1 {
        let flex = ProduceRequest::is_flexible(version);
        let counts: &[&[u8]] = if flex {
            &[
                &[0xff, 0xff, 0xff, 0xff, 0x0f],
                &[0xf1, 0xff, 0xff, 0xff, 0x07],
            ]
        } else {
            &[&[0x7f, 0xff, 0xff, 0xff], &[0x7f, 0xff, 0xff, 0xf0]]
        };
        for count in counts {
            let mut b = BytesMut::new();
            if version >= 3 {
                b.put_slice(if flex { &[0x00] } else { &[0xff, 0xff] }); // transactional id: null
            }
            b.put_i16(-1); // acks
            b.put_i32(30_000); // timeout
            b.put_slice(count);
            b.put_slice(b"golden and a few bytes of a topic that never completes");
            let input = b.freeze();
            let len = input.len();
            let (r, largest) = measure(|| {
                let mut i = input;
                ProduceRequest::decode(&mut i, version)
            });
            let err = r.expect("no panic").expect_err("must not decode");
            assert_eq!(err.message, "ProduceRequest", "v{version}: {err}");
            assert!(
                largest <= len + SMALL_INPUT_SLACK,
                "Produce v{version}: largest allocation {largest} for {len} input bytes"
            );
        }
    }
}

/// The other side of the bound. A count larger than the bytes that remain is rejected before
/// anything is read (every element takes at least one byte), so the largest count a decoder
/// acts on is the remaining length. Here the topic array claims exactly that many entries and
/// is followed by 1 MiB of bytes that *do* decode, as empty topics (classic: a 2-byte empty
/// name and a 4-byte empty partition array; flexible: 1, 1 and a 1-byte tag section), so
/// decoding runs to the end of the input and fails there. Nothing is reserved beyond what the
/// remaining input could fill, but the topics really are there and each is a 48-byte
/// `TopicProduceData` in memory, so the `Vec` grows (by doubling) to a multiple of the input:
/// the single-allocation-below-the-input-size property cannot hold for dense arrays of structs
/// that are bigger in memory than on the wire. The test pins the bound (twice the in-memory
/// size of the elements the input encodes) so count-sized reservation, or a change in growth,
/// shows up; Kafka's request size limit (`socket.request.max.bytes`) bounds the input.
#[test]
fn dense_valid_arrays_grow_with_what_they_encode() {
    const FILL: usize = 1 << 20;
    let elem = std::mem::size_of::<produce_request::TopicProduceData>();
    for (version, topic) in [(7i16, &[0u8, 0, 0, 0, 0, 0][..]), (9i16, &[1u8, 1, 0][..])] {
        let flex = ProduceRequest::is_flexible(version);
        let encoded = FILL / topic.len();
        let mut b = BytesMut::new();
        b.put_slice(if flex { &[0x00] } else { &[0xff, 0xff] }); // transactional id: null
        b.put_i16(-1);
        b.put_i32(30_000);
        let count = encoded * topic.len(); // = the bytes that follow: the most accepted
        if flex {
            protocol::codec::write_uvarint(&mut b, count as u32 + 1);
        } else {
            b.put_i32(count as i32);
        }
        for _ in 0..encoded {
            b.put_slice(topic);
        }
        let input = b.freeze();
        let len = input.len();
        let (r, largest) = measure(|| {
            let mut i = input;
            ProduceRequest::decode(&mut i, version)
        });
        let err = r
            .expect("no panic")
            .expect_err("the count is never reached");
        assert_eq!(err.message, "ProduceRequest", "{err}");
        // Doubling from the initial reservation overshoots by less than 2x.
        let bound = 2 * encoded * elem;
        println!(
            "Produce v{version}: {len} input bytes encoding {encoded} empty topics ({elem} bytes \
             each in memory): largest allocation {largest} ({:.1}x the input; bound {bound})",
            largest as f64 / len as f64
        );
        assert!(
            largest >= encoded * elem,
            "v{version}: the measurement missed the topics Vec"
        );
        assert!(largest <= bound, "v{version}: {largest} > {bound}");
    }
}
