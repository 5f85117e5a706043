//! Log cleaner throughput: writes a compacted log of `MB` megabytes (default 200) with
//! `KEYS` distinct keys (default 10 000) in 10-record batches of 1000-byte values (random
//! letters: they compress to about 60 %, like text), then times one full cleaning pass (map +
//! rewrite + swap) and a second pass over the already clean log, per codec.
//!
//! `cargo run --release -p storage --example cleaner_bench -- [MB] [KEYS]`
//!
//! Prints one row per run: input MB, output MB, seconds, MB/s of input cleaned (segment bytes
//! read by the rewrite; the map pass reads the dirty part once more on top).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use protocol::records::{BatchBuilder, Compression};
use storage::log::{CleanupPolicy, LogConfig, PartitionLog};
use storage::{CleanOutcome, Cleaner, CleanerConfig};

const RECORDS_PER_BATCH: usize = 10;
const VALUE_BYTES: usize = 1000;
const SEGMENT_BYTES: u32 = 64 << 20;
const T0: i64 = 1_700_000_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mb: u64 = args.next().map_or(Ok(200), |a| a.parse())?;
    let keys: u64 = args.next().map_or(Ok(10_000), |a| a.parse())?;
    println!(
        "log cleaner: {mb} MB log, {keys} keys, {VALUE_BYTES}-byte values, \
         {RECORDS_PER_BATCH} records per batch, segment.bytes {SEGMENT_BYTES}"
    );
    println!(
        "{:<8} {:<12} {:>9} {:>9} {:>10} {:>8} {:>9}",
        "codec", "pass", "input MB", "records", "output MB", "seconds", "MB/s"
    );
    for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let tmp = tempfile::tempdir()?;
        let config = LogConfig {
            segment_bytes: SEGMENT_BYTES,
            cleanup_policy: CleanupPolicy::Compact,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::create(&tmp.path().join("bench-0"), None, config, T0)?;
        let mut value = vec![0u8; VALUE_BYTES];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut n = 0u64;
        while log.size_in_bytes() < mb << 20 {
            let mut b = BatchBuilder::new(codec);
            for _ in 0..RECORDS_PER_BATCH {
                // A cheap scramble so keys do not arrive in order.
                let key = format!("key-{:08}", n.wrapping_mul(7919) % keys);
                for byte in &mut value {
                    // xorshift64: a fixed sequence, so every run writes the same log.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    *byte = b'a' + (rng % 26) as u8;
                }
                b.append(T0, Some(key.as_bytes()), Some(&value), &[])?;
                n += 1;
            }
            let mut bytes = b.build()?.bytes.to_vec();
            log.append_as_leader(&mut bytes, 0, T0)?;
        }
        log.roll(0, T0)?;
        let mut cleaner = Cleaner::new(CleanerConfig::default());
        let mut checkpoint = None;
        for pass in ["first", "clean again"] {
            let input = log.size_in_bytes();
            let started = Instant::now();
            let range = log.cleanable_range(checkpoint, log.log_end_offset(), T0)?;
            let Some(plan) = log.plan_cleaning(&range)? else {
                break;
            };
            let CleanOutcome::Cleaned(cleaned) =
                cleaner.clean(&plan, T0, &AtomicBool::new(false))?
            else {
                break;
            };
            checkpoint = Some(cleaned.end_offset());
            let read = cleaned.stats().bytes_read;
            let records = cleaned.stats().records_read;
            log.replace_cleaned(cleaned)?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{:<8} {:<12} {:>9.1} {:>9} {:>10.1} {:>8.2} {:>9.1}",
                codec.name(),
                pass,
                input as f64 / 1e6,
                records,
                log.size_in_bytes() as f64 / 1e6,
                secs,
                read as f64 / 1e6 / secs
            );
        }
    }
    Ok(())
}
