//! One entry point that drives every untrusted-input path of this module, for fuzzing.
//!
//! `protocol/fuzz/fuzz_targets/batch_validate.rs` runs it under libFuzzer (nightly), and
//! `protocol/tests/records_fuzz_corpus.rs` replays the committed corpus
//! (`protocol/fuzz/corpus/batch_validate/`) through it as an ordinary test on stable, so a
//! crash found once stays fixed. It lives in the library, not the fuzz crate, so both callers
//! run exactly the same code.

use bytes::Bytes;

use super::compression::{self, Compression};
use super::{
    batches, log_batches, recompute_crc, set_base_offset, set_log_append_time,
    set_partition_leader_epoch, validate_client_batch_with, Batch, BatchBuilder, Header,
    LogScanError, Record, TimestampType,
};

/// Cap on decompressed output while fuzzing, to keep each input fast and small.
const FUZZ_DECOMPRESSED_BYTES_MAX: usize = 1 << 20;

/// Feeds `data` through framing ([`batches`], [`log_batches`]), client validation, record and
/// header iteration, in-place patching and every decompressor.
///
/// Returns normally for any input: errors are the expected outcome for most of it. Panics
/// only when one of this module's own invariants breaks, which is what the fuzzer looks for:
/// - strict and log framing agree on the batches of the valid prefix;
/// - records that decode can be rebuilt with [`BatchBuilder`] and read back identically;
/// - after patching, the CRC verifies.
pub fn fuzz_entry(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);

    let mut strict = Vec::new();
    for batch in batches(&buf) {
        let Ok(batch) = batch else { break };
        exercise_batch(&batch);
        strict.push(batch);
    }

    let mut log = log_batches(&buf);
    for (i, scanned) in log.by_ref().enumerate() {
        match scanned {
            Ok(batch) => assert_eq!(
                strict.get(i),
                Some(&batch),
                "log framing found a batch strict framing did not"
            ),
            Err(
                LogScanError::TruncatedTail { position, .. }
                | LogScanError::Corrupt { position, .. },
            ) => {
                assert_eq!(i, strict.len(), "log framing stopped early");
                assert_eq!(
                    position,
                    strict.iter().map(Batch::size_in_bytes).sum::<usize>()
                );
            }
        }
    }

    // The decompressors on their own: the first byte picks the codec.
    if let Some((&id, rest)) = data.split_first() {
        if let Ok(codec) = Compression::from_id(id % 5) {
            let _ = compression::decompress(codec, rest, FUZZ_DECOMPRESSED_BYTES_MAX);
        }
    }
}

fn exercise_batch(batch: &Batch) {
    let _ = validate_client_batch_with(batch, FUZZ_DECOMPRESSED_BYTES_MAX);
    let _ = batch.verify_crc();

    let mut records = Vec::new();
    let mut all_ok = true;
    for record in batch.records_with_limit(FUZZ_DECOMPRESSED_BYTES_MAX) {
        match record {
            Ok(record) => records.push(record),
            Err(_) => {
                all_ok = false;
                break;
            }
        }
    }
    if all_ok {
        assert_rebuilds_identically(&records);
    }

    let mut copy = batch.bytes.to_vec();
    set_base_offset(&mut copy, 1234).expect("framed batch accepts a base offset");
    set_partition_leader_epoch(&mut copy, 7).expect("framed batch accepts an epoch");
    set_log_append_time(&mut copy, 99).expect("framed batch accepts a timestamp");
    recompute_crc(&mut copy).expect("framed batch accepts a CRC");
    let patched = Batch::from_bytes(Bytes::from(copy)).expect("patching keeps the framing");
    assert_eq!(patched.header.base_offset, 1234);
    assert_eq!(
        patched.header.timestamp_type(),
        TimestampType::LogAppendTime
    );
    assert!(
        patched.verify_crc().is_ok(),
        "CRC must verify after patching"
    );
}

/// Rebuilds decoded records into a new batch and checks they read back the same.
fn assert_rebuilds_identically(records: &[Record]) {
    let mut builder = BatchBuilder::new(Compression::None);
    for record in records {
        let headers: Vec<Header<'_>> = record.headers().collect();
        assert_eq!(headers.len(), record.header_count());
        builder
            .append(record.timestamp(), record.key(), record.value(), &headers)
            .expect("records that fit one batch fit its rebuild");
    }
    let rebuilt = builder.build().expect("rebuild");
    let mut count = 0;
    for (original, again) in records.iter().zip(rebuilt.records()) {
        let again = again.expect("a rebuilt batch decodes");
        assert_eq!(original.timestamp(), again.timestamp());
        assert_eq!(original.key(), again.key());
        assert_eq!(original.value(), again.value());
        assert!(original.headers().eq(again.headers()));
        count += 1;
    }
    assert_eq!(count, records.len());
}
