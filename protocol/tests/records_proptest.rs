//! Property tests: build → frame → validate → iterate yields the same records for every codec,
//! validation and iteration agree on every record error, patching keeps batches valid, and
//! arbitrary or mutated bytes never panic.
//!
//! A failure prints the minimal failing input and is saved under `proptest-regressions/`;
//! `PROPTEST_RNG_SEED=n cargo test -p protocol --test records_proptest` replays a seed.

use bytes::Bytes;
use proptest::prelude::*;
use protocol::records::{
    batches, fuzz_entry, recompute_crc, set_base_offset, set_log_append_time,
    set_partition_leader_epoch, validate_client_batch_with, Batch, BatchBuilder, Compression,
    Header, TimestampType, BATCH_HEADER_LEN,
};

#[derive(Debug, Clone)]
struct NewRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(-1i64),
        1_600_000_000_000i64..1_800_000_000_000,
        any::<i64>(), // extreme deltas must wrap like Java's long arithmetic
    ]
}

fn bytes_up_to(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=len)
}

fn new_record() -> impl Strategy<Value = NewRecord> {
    (
        timestamp(),
        prop::option::of(bytes_up_to(40)),
        prop::option::of(bytes_up_to(300)),
        prop::collection::vec((bytes_up_to(12), prop::option::of(bytes_up_to(20))), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| NewRecord {
            timestamp,
            key,
            value,
            headers,
        })
}

fn build(codec: Compression, records: &[NewRecord], log_append_time: Option<i64>) -> Batch {
    let mut builder = BatchBuilder::new(codec).producer(11, 2, 0);
    if let Some(now) = log_append_time {
        builder = builder.log_append_time(now);
    }
    for r in records {
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        builder
            .append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers)
            .unwrap();
    }
    builder.build().unwrap()
}

fn assert_reads_back(batch: &Batch, records: &[NewRecord], log_append_time: Option<i64>) {
    let got: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), records.len());
    for (i, (got, want)) in got.iter().zip(records).enumerate() {
        assert_eq!(got.offset(), batch.header.base_offset + i as i64);
        assert_eq!(got.timestamp(), log_append_time.unwrap_or(want.timestamp));
        assert_eq!(got.key(), want.key.as_deref());
        assert_eq!(got.value(), want.value.as_deref());
        let headers: Vec<_> = got
            .headers()
            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(headers, want.headers);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn build_then_iterate_round_trips(
        codec in codec(),
        records in prop::collection::vec(new_record(), 1..30),
        log_append_time in prop::option::of(timestamp()),
    ) {
        let batch = build(codec, &records, log_append_time);
        // Framing finds exactly this batch.
        let framed: Vec<_> = batches(&batch.bytes).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&framed, &vec![batch.clone()]);
        let h = batch.header;
        prop_assert_eq!(h.compression(), Ok(codec));
        prop_assert_eq!(h.records_count as usize, records.len());
        prop_assert_eq!(h.base_timestamp, records[0].timestamp);
        let expected_type =
            if log_append_time.is_some() { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
        prop_assert_eq!(h.timestamp_type(), expected_type);

        let summary = validate_client_batch_with(&batch, 1 << 24).unwrap();
        prop_assert!(summary.offsets_sequential);
        prop_assert_eq!(summary.all_keyed, records.iter().all(|r| r.key.is_some()));
        let max = records.iter().map(|r| r.timestamp).fold(-1, i64::max);
        prop_assert_eq!(h.max_timestamp, log_append_time.unwrap_or(max));
        if log_append_time.is_none() {
            prop_assert_eq!(summary.max_timestamp, max);
        }
        assert_reads_back(&batch, &records, log_append_time);
    }

    #[test]
    fn patching_keeps_the_batch_valid(
        codec in codec(),
        records in prop::collection::vec(new_record(), 1..8),
        base_offset in any::<i64>(),
        epoch in any::<i32>(),
        now in any::<i64>(),
    ) {
        let batch = build(codec, &records, None);
        let mut bytes = batch.bytes.to_vec();
        set_base_offset(&mut bytes, base_offset).unwrap();
        set_partition_leader_epoch(&mut bytes, epoch).unwrap();
        let moved = Batch::from_bytes(Bytes::from(bytes.clone())).unwrap();
        prop_assert!(moved.verify_crc().is_ok());
        prop_assert_eq!((moved.header.base_offset, moved.header.partition_leader_epoch), (base_offset, epoch));
        set_log_append_time(&mut bytes, now).unwrap();
        let stamped = Batch::from_bytes(Bytes::from(bytes)).unwrap();
        prop_assert!(stamped.verify_crc().is_ok());
        for (i, r) in stamped.records().enumerate() {
            let r = r.unwrap();
            prop_assert_eq!(r.timestamp(), now);
            prop_assert_eq!(r.offset(), base_offset.wrapping_add(i as i64));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes_up_to(600)) {
        fuzz_entry(&data);
    }

    #[test]
    fn arbitrary_records_sections_never_panic(
        codec in codec(),
        count in prop_oneof![Just(1i32), 0i32..50, any::<i32>()],
        section in bytes_up_to(400),
    ) {
        // A well-framed batch with a correct CRC around random record bytes.
        let mut bytes = build(Compression::None, &[], None).bytes.to_vec();
        bytes.truncate(BATCH_HEADER_LEN);
        bytes.extend_from_slice(&section);
        let batch_length = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&batch_length.to_be_bytes());
        bytes[21..23].copy_from_slice(&i16::from(codec.id()).to_be_bytes());
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        recompute_crc(&mut bytes).unwrap();
        fuzz_entry(&bytes);
    }

    #[test]
    fn validation_finds_the_same_record_errors_as_iteration(
        codec in codec(),
        records in prop::collection::vec(new_record(), 1..6),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        // Only the records section is mutated and the CRC is fixed, so every header check
        // passes: what validation reports comes from its in-place walk of the records, which
        // must agree with the record iterator error for error.
        let mut bytes = build(codec, &records, None).bytes.to_vec();
        let section_len = bytes.len() - BATCH_HEADER_LEN;
        for (at, byte) in mutations {
            bytes[BATCH_HEADER_LEN + at.index(section_len)] = byte;
        }
        recompute_crc(&mut bytes).unwrap();
        let batch = Batch::from_bytes(Bytes::from(bytes)).unwrap();
        let iterated = batch.records_with_limit(1 << 20).find_map(Result::err);
        let validated = validate_client_batch_with(&batch, 1 << 20).err();
        prop_assert_eq!(validated, iterated);
    }

    #[test]
    fn mutated_batches_never_panic(
        codec in codec(),
        records in prop::collection::vec(new_record(), 1..6),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = build(codec, &records, None).bytes.to_vec();
        for (at, byte) in mutations {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        if fix_crc {
            let _ = recompute_crc(&mut bytes);
        }
        fuzz_entry(&bytes);
    }
}
