//! Byte-exact checks against the worked examples of `docs/formats.md` §7.4 (produced by
//! kafka-clients 3.9.1), plus framing, validation (§7.7), patching (§7.6) and record iteration
//! (§7.3) on
//! hand-made batches.

use bytes::Bytes;
use protocol::records::{
    attributes, batches, check_batch_size, log_batches, offsets, recompute_crc, set_base_offset,
    set_log_append_time, set_max_timestamp, set_partition_leader_epoch, validate_client_batch,
    validate_client_batch_with, Batch, BatchBuilder, BatchHeader, Compression, ControlRecordType,
    EndTxnMarker, Header, LogScanError, RecordsError, RecordsSummary, TimestampType,
    BATCH_HEADER_LEN,
};

const TS: i64 = 1_700_000_000_000;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A batch from a header and a hand-written records section, with a correct CRC.
fn raw_batch(attrs: i16, records_count: i32, records: &[u8]) -> Batch {
    let header = BatchHeader {
        base_offset: 0,
        batch_length: (BATCH_HEADER_LEN + records.len() - 12) as i32,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: attrs,
        last_offset_delta: records_count - 1,
        base_timestamp: TS,
        max_timestamp: TS,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count,
    };
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(records);
    recompute_crc(&mut bytes).unwrap();
    Batch::from_bytes(Bytes::from(bytes)).unwrap()
}

fn one_record_example() -> Vec<u8> {
    hex(
        "00000000 00000000  0000003e  ffffffff  02  5e93538d  0000  00000000
         0000018b cfe56800  0000018b cfe56800  ffffffff ffffffff  ffff  ffffffff  00000001
         18 00 00 00 02 6b 02 76 02 02 68 02 78",
    )
}

#[test]
fn crc32c_is_castagnoli() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn example_one_record_with_header_is_built_byte_for_byte() {
    let mut builder = BatchBuilder::new(Compression::None);
    builder
        .append(
            TS,
            Some(b"k"),
            Some(b"v"),
            &[Header {
                key: b"h",
                value: Some(b"x"),
            }],
        )
        .unwrap();
    let batch = builder.build().unwrap();
    let expected = one_record_example();
    assert_eq!(expected.len(), 74);
    assert_eq!(batch.bytes.as_ref(), expected.as_slice());

    // And parsed back.
    let parsed = Batch::from_bytes(Bytes::from(expected)).unwrap();
    assert_eq!(parsed, batch);
    assert_eq!(parsed.header.crc, 0x5e93_538d);
    parsed.verify_crc().unwrap();
    validate_client_batch(&parsed).unwrap();
    let records: Vec<_> = parsed.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.offset(), r.timestamp(), r.sequence()), (0, TS, -1));
    assert_eq!((r.key(), r.value()), (Some(&b"k"[..]), Some(&b"v"[..])));
    assert_eq!(
        r.headers().collect::<Vec<_>>(),
        vec![Header {
            key: b"h",
            value: Some(b"x")
        }]
    );
}

#[test]
fn example_null_key_and_value_is_built_byte_for_byte() {
    let mut builder = BatchBuilder::new(Compression::None);
    builder.append(TS, None, None, &[]).unwrap();
    let batch = builder.build().unwrap();
    assert_eq!(batch.size_in_bytes(), 68);
    let mut expected = one_record_example()[..BATCH_HEADER_LEN].to_vec();
    expected[offsets::BATCH_LENGTH..][..4].copy_from_slice(&56i32.to_be_bytes());
    expected.extend_from_slice(&hex("0c 00 00 00 01 01 00"));
    recompute_crc(&mut expected).unwrap();
    assert_eq!(batch.bytes.as_ref(), expected.as_slice());
    let record = batch.records().next().unwrap().unwrap();
    assert_eq!(
        (record.key(), record.value(), record.header_count()),
        (None, None, 0)
    );
}

#[test]
fn example_commit_marker_is_built_byte_for_byte() {
    let mut builder = BatchBuilder::new(Compression::None)
        .base_offset(42)
        .partition_leader_epoch(3)
        .producer(1000, 2, -1)
        .transactional()
        .control();
    let key = ControlRecordType::Commit.key();
    let value = EndTxnMarker {
        coordinator_epoch: 5,
    }
    .value();
    builder.append(TS, Some(&key), Some(&value), &[]).unwrap();
    let batch = builder.build().unwrap();
    let expected = hex(
        "00000000 0000002a  00000042  00000003  02  a7d9b82a  0030  00000000
         0000018b cfe56800  0000018b cfe56800  00000000 000003e8  0002  ffffffff  00000001
         20 00 00 00 08 00000001 0c 0000 00000005 00",
    );
    assert_eq!(expected.len(), 78);
    assert_eq!(batch.bytes.as_ref(), expected.as_slice());

    let parsed = Batch::from_bytes(Bytes::from(expected)).unwrap();
    assert!(parsed.header.is_control() && parsed.header.is_transactional());
    let record = parsed.records().next().unwrap().unwrap();
    assert_eq!(record.offset(), 42);
    assert_eq!(
        ControlRecordType::parse_key(record.key().unwrap()),
        Ok(ControlRecordType::Commit)
    );
    assert_eq!(
        EndTxnMarker::parse_value(record.value().unwrap()),
        Ok(EndTxnMarker {
            coordinator_epoch: 5
        })
    );
    // A client may not send it: first because of the base offset, then because it is control.
    assert_eq!(
        validate_client_batch(&parsed),
        Err(RecordsError::BaseOffsetNotZero { base_offset: 42 })
    );
    let mut at_zero = parsed.bytes.to_vec();
    set_base_offset(&mut at_zero, 0).unwrap();
    let at_zero = Batch::from_bytes(Bytes::from(at_zero)).unwrap();
    assert_eq!(
        validate_client_batch(&at_zero),
        Err(RecordsError::ControlBatchFromClient)
    );
}

fn three_records(codec: Compression) -> Batch {
    let mut builder = BatchBuilder::new(codec).producer(9, 1, i32::MAX - 1);
    builder.append(TS + 5, Some(b"a"), Some(b"1"), &[]).unwrap();
    builder
        .append(
            TS,
            None,
            Some(b"2"),
            &[Header {
                key: b"h",
                value: None,
            }],
        )
        .unwrap();
    builder.append(TS + 9, Some(b"c"), None, &[]).unwrap();
    builder.build().unwrap()
}

#[test]
fn every_codec_reads_back_with_absolute_offsets_timestamps_and_sequences() {
    for codec in Compression::ALL {
        let mut bytes = three_records(codec).bytes.to_vec();
        set_base_offset(&mut bytes, 100).unwrap();
        let batch = Batch::from_bytes(Bytes::from(bytes)).unwrap();
        assert_eq!(batch.compression(), Ok(codec));
        assert_eq!(batch.header.max_timestamp, TS + 9);
        assert_eq!(
            batch.header.last_sequence(),
            0,
            "sequence wraps past i32::MAX"
        );
        let records: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.offset(), r.timestamp(), r.sequence()))
            .collect();
        assert_eq!(
            got,
            vec![
                (100, TS + 5, i32::MAX - 1),
                (101, TS, i32::MAX),
                (102, TS + 9, 0)
            ],
            "{codec}"
        );
        assert_eq!(
            records[1].headers().next(),
            Some(Header {
                key: b"h",
                value: None
            })
        );
        assert_eq!(records[2].value(), None);
        assert_eq!(records[0].key_bytes(), Some(Bytes::from_static(b"a")));
    }
}

#[test]
fn validation_summarises_records_for_the_append_path() {
    for codec in Compression::ALL {
        let batch = three_records(codec);
        let summary = validate_client_batch_with(&batch, 1 << 20).unwrap();
        assert_eq!(
            summary,
            RecordsSummary {
                max_timestamp: TS + 9,
                offsets_sequential: true,
                all_keyed: false
            }
        );
    }
}

/// Rewrites header fields of a valid batch, keeping its CRC correct.
fn with_header(batch: &Batch, edit: impl FnOnce(&mut BatchHeader)) -> Batch {
    let mut header = batch.header;
    edit(&mut header);
    let mut bytes = batch.bytes.to_vec();
    bytes[..BATCH_HEADER_LEN].copy_from_slice(&header.to_bytes());
    recompute_crc(&mut bytes).unwrap();
    let header = BatchHeader::parse(&bytes).unwrap();
    Batch {
        header,
        bytes: Bytes::from(bytes),
    }
}

#[test]
fn client_validation_follows_section_2_7() {
    let good = three_records(Compression::None);
    validate_client_batch(&good).unwrap();

    let cases: Vec<(Batch, RecordsError, i16)> = vec![
        (
            with_header(&good, |h| h.base_offset = 7),
            RecordsError::BaseOffsetNotZero { base_offset: 7 },
            87,
        ),
        (
            with_header(&good, |h| h.last_offset_delta = 5),
            RecordsError::RecordsCountMismatch {
                records_count: 3,
                last_offset_delta: 5,
            },
            87,
        ),
        (
            with_header(&good, |h| {
                h.records_count = 0;
                h.last_offset_delta = -1;
            }),
            RecordsError::RecordsCountMismatch {
                records_count: 0,
                last_offset_delta: -1,
            },
            87,
        ),
        (
            with_header(&good, |h| h.attributes |= attributes::CONTROL),
            RecordsError::ControlBatchFromClient,
            87,
        ),
        (
            with_header(&good, |h| h.base_sequence = -1),
            RecordsError::MissingSequence {
                producer_id: 9,
                base_sequence: -1,
            },
            87,
        ),
        (
            with_header(&good, |h| h.attributes |= 5),
            RecordsError::UnsupportedCompression { id: 5 },
            76,
        ),
        (
            with_header(&good, |h| {
                h.records_count = 2;
                h.last_offset_delta = 1;
            }),
            RecordsError::InvalidRecord {
                reason: "incorrect declared batch size, records still remaining",
            },
            87,
        ),
        (
            with_header(&good, |h| {
                h.records_count = 4;
                h.last_offset_delta = 3;
            }),
            RecordsError::InvalidRecord {
                reason: "incorrect declared batch size, premature EOF reached",
            },
            87,
        ),
    ];
    for (batch, error, code) in cases {
        assert_eq!(validate_client_batch(&batch), Err(error.clone()));
        assert_eq!(error.error_code(), code, "{error}");
    }

    // Idempotent producer without sequence is fine when producerId is -1.
    let plain = with_header(&good, |h| {
        h.producer_id = -1;
        h.base_sequence = -1;
    });
    validate_client_batch(&plain).unwrap();

    // A flipped record byte breaks the CRC: CORRUPT_MESSAGE.
    let mut bytes = good.bytes.to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    let flipped = Batch::from_bytes(Bytes::from(bytes)).unwrap();
    let error = validate_client_batch(&flipped).unwrap_err();
    assert!(matches!(error, RecordsError::CrcMismatch { .. }));
    assert_eq!(error.error_code(), 2);

    // Magic is checked first (batches built by hand only; framing never yields magic != 2).
    let mut v1 = good.clone();
    v1.header.magic = 1;
    assert_eq!(
        validate_client_batch(&v1),
        Err(RecordsError::UnsupportedMagic { magic: 1 })
    );

    assert_eq!(check_batch_size(&good, good.size_in_bytes()), Ok(()));
    let too_large = check_batch_size(&good, good.size_in_bytes() - 1).unwrap_err();
    assert_eq!(too_large.error_code(), 10);
}

#[test]
fn patching_keeps_records_and_a_valid_crc() {
    for codec in Compression::ALL {
        let original = three_records(codec);
        let mut bytes = original.bytes.to_vec();
        set_base_offset(&mut bytes, 5000).unwrap();
        set_partition_leader_epoch(&mut bytes, 12).unwrap();
        // Not covered by the CRC: the stored CRC is untouched and still right.
        assert_eq!(
            bytes[offsets::CRC..][..4],
            original.bytes[offsets::CRC..][..4]
        );
        let moved = Batch::from_bytes(Bytes::from(bytes.clone())).unwrap();
        moved.verify_crc().unwrap();
        assert_eq!(
            (
                moved.header.base_offset,
                moved.header.partition_leader_epoch
            ),
            (5000, 12)
        );
        assert_eq!(
            moved.records_section(),
            original.records_section(),
            "records untouched"
        );

        // Same maximum: nothing changes at all.
        let before = bytes.clone();
        set_max_timestamp(&mut bytes, TS + 9).unwrap();
        assert_eq!(bytes, before);
        set_max_timestamp(&mut bytes, TS + 1000).unwrap();
        let raised = Batch::from_bytes(Bytes::from(bytes.clone())).unwrap();
        raised.verify_crc().unwrap();
        assert_eq!(raised.header.max_timestamp, TS + 1000);

        set_log_append_time(&mut bytes, 42).unwrap();
        let stamped = Batch::from_bytes(Bytes::from(bytes.clone())).unwrap();
        stamped.verify_crc().unwrap();
        assert_eq!(
            stamped.header.timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert_eq!(stamped.compression(), Ok(codec), "codec bits kept");
        assert!(stamped.records().all(|r| r.unwrap().timestamp() == 42));
        assert_eq!(stamped.records().count(), 3);
    }
}

#[test]
fn patching_refuses_what_is_not_a_whole_batch() {
    let good = three_records(Compression::None).bytes.to_vec();
    assert!(matches!(
        set_base_offset(&mut good[..16].to_vec(), 1),
        Err(RecordsError::Truncated { .. })
    ));
    assert!(matches!(
        recompute_crc(&mut good[..good.len() - 1].to_vec()),
        Err(RecordsError::Truncated { .. })
    ));
    let mut v1 = good.clone();
    v1[offsets::MAGIC] = 1;
    assert_eq!(
        set_log_append_time(&mut v1, 1),
        Err(RecordsError::UnsupportedMagic { magic: 1 })
    );
    let mut short_len = good.clone();
    short_len[offsets::BATCH_LENGTH..][..4].copy_from_slice(&48i32.to_be_bytes());
    assert_eq!(
        set_partition_leader_epoch(&mut short_len, 1),
        Err(RecordsError::InvalidBatchLength { batch_length: 48 })
    );
    // Bytes after the batch are neither checked nor covered by the CRC.
    let mut longer = good.clone();
    longer.extend_from_slice(b"next batch");
    recompute_crc(&mut longer).unwrap();
    assert_eq!(&longer[..good.len()], good.as_slice());
}

#[test]
fn framing_splits_concatenated_batches_without_copying() {
    let a = three_records(Compression::Gzip);
    let b = three_records(Compression::None);
    let mut joined = a.bytes.to_vec();
    joined.extend_from_slice(&b.bytes);
    let joined = Bytes::from(joined);
    let got: Vec<Batch> = batches(&joined).collect::<Result<_, _>>().unwrap();
    assert_eq!(got, vec![a.clone(), b.clone()]);
    // Zero-copy: the second batch points into the joined buffer.
    assert_eq!(got[1].bytes.as_ptr(), joined[a.size_in_bytes()..].as_ptr());
    let logged: Vec<Batch> = log_batches(&joined).collect::<Result<_, _>>().unwrap();
    assert_eq!(logged, got);
    assert_eq!(batches(&Bytes::new()).count(), 0);
}

#[test]
fn a_partial_tail_is_truncation_in_a_log_and_an_error_in_a_request() {
    let a = three_records(Compression::None);
    let b = three_records(Compression::Snappy);
    let whole = [a.bytes.as_ref(), b.bytes.as_ref()].concat();
    for cut in a.size_in_bytes() + 1..whole.len() {
        let buf = Bytes::copy_from_slice(&whole[..cut]);
        let mut strict = batches(&buf);
        assert_eq!(strict.next(), Some(Ok(a.clone())));
        assert!(
            matches!(strict.next(), Some(Err(RecordsError::Truncated { .. }))),
            "cut {cut}"
        );
        assert_eq!(strict.next(), None);
        assert_eq!(strict.position(), a.size_in_bytes());

        let mut log = log_batches(&buf);
        assert_eq!(log.next(), Some(Ok(a.clone())));
        let tail = log.next().unwrap().unwrap_err();
        assert!(
            matches!(tail, LogScanError::TruncatedTail { .. }),
            "cut {cut}: {tail}"
        );
        assert_eq!(tail.position(), a.size_in_bytes());
        assert_eq!(log.next(), None);
    }
}

#[test]
fn a_zeroed_or_foreign_tail_is_corruption_in_a_log() {
    let a = three_records(Compression::None);
    // Preallocated segment: zeros after the last batch read as batchLength 0.
    let zeros = Bytes::from([a.bytes.as_ref(), &[0u8; 64]].concat());
    let error = log_batches(&zeros).nth(1).unwrap().unwrap_err();
    assert_eq!(
        error,
        LogScanError::Corrupt {
            position: a.size_in_bytes(),
            error: RecordsError::InvalidBatchLength { batch_length: 0 }
        }
    );
    // A v1 message set is not ours to read.
    let mut v1 = a.bytes.to_vec();
    v1[offsets::MAGIC] = 1;
    let v1 = Bytes::from(v1);
    assert_eq!(
        log_batches(&v1).next(),
        Some(Err(LogScanError::Corrupt {
            position: 0,
            error: RecordsError::UnsupportedMagic { magic: 1 }
        }))
    );
    assert_eq!(
        batches(&v1).next(),
        Some(Err(RecordsError::UnsupportedMagic { magic: 1 }))
    );
}

#[test]
fn records_are_read_with_kafkas_rules() {
    // Two records written by hand: offsets 0 and 1, second has a header with a null value.
    let records = hex("0c 00 00 00 01 01 00   16 00 02 02 02 61 02 62 02 02 68 01");
    let batch = raw_batch(0, 2, &records);
    let got: Vec<_> = batch.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(got[1].timestamp(), TS + 1);
    assert_eq!(
        got[1].headers().collect::<Vec<_>>(),
        vec![Header {
            key: b"h",
            value: None
        }]
    );

    // A null header key is invalid; a negative key length is read as a null key.
    let null_header_key = raw_batch(0, 1, &hex("10 00 00 00 01 01 02 01 01"));
    assert_eq!(
        null_header_key.records().next(),
        Some(Err(RecordsError::InvalidRecord {
            reason: "null or negative header key length"
        }))
    );
    let negative_key = raw_batch(0, 1, &hex("0c 00 00 00 05 01 00"));
    assert_eq!(negative_key.records().next().unwrap().unwrap().key(), None);

    // Count 0: Kafka returns no records without reading the section, even garbage.
    let empty = raw_batch(Compression::Zstd.id().into(), 0, b"garbage");
    assert_eq!(empty.records().count(), 0);

    // Negative count.
    let negative = raw_batch(0, -1, &records);
    assert_eq!(
        negative.records().collect::<Vec<_>>(),
        vec![Err(RecordsError::InvalidRecord {
            reason: "negative record count"
        })]
    );
}
