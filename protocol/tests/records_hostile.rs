//! Hostile batches: truncations, impossible counts and lengths, bad CRCs, corrupt compressed
//! sections and decompression bombs. Each must give an error (with the right Kafka code),
//! never a panic and never an allocation sized by a number read off the wire.

use bytes::Bytes;
use protocol::records::compression::{compress, decompress};
use protocol::records::{
    batches, fuzz_entry, recompute_crc, validate_client_batch, validate_client_batch_with, Batch,
    BatchBuilder, BatchHeader, Compression, Header, RecordsError, BATCH_HEADER_LEN,
};

const TS: i64 = 1_700_000_000_000;

/// A batch from a header and a raw records section, with a correct CRC.
fn raw_batch(codec: Compression, records_count: i32, section: &[u8]) -> Batch {
    let header = BatchHeader {
        base_offset: 0,
        batch_length: (BATCH_HEADER_LEN + section.len() - 12) as i32,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: codec.id().into(),
        last_offset_delta: records_count.wrapping_sub(1),
        base_timestamp: TS,
        max_timestamp: TS,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count,
    };
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(section);
    recompute_crc(&mut bytes).unwrap();
    Batch::from_bytes(Bytes::from(bytes)).unwrap()
}

fn first_error(batch: &Batch) -> RecordsError {
    batch.records().find_map(Result::err).expect("an error")
}

fn invalid(reason: &'static str) -> RecordsError {
    RecordsError::InvalidRecord { reason }
}

#[test]
fn malformed_records_are_invalid_record() {
    let cases: &[(&[u8], &str)] = &[
        // Length prefix −1.
        (&[0x01, 0, 0, 0, 1, 1, 0], "negative record size"),
        // Length prefix 100 with 6 bytes left.
        (
            &[0xc8, 0x01, 0, 0, 0, 1, 1, 0],
            "record size exceeds the bytes left in the batch",
        ),
        // Length 3, but the fields need 6.
        (
            &[0x06, 0, 0, 0, 1, 1, 0, 0, 0],
            "record fields run past its length prefix",
        ),
        // Length 7: one byte inside the record that no field claims.
        (
            &[0x0e, 0, 0, 0, 1, 1, 0, 9],
            "record size does not match its length prefix",
        ),
        // Header count −1.
        (&[0x0c, 0, 0, 0, 1, 1, 1], "negative header count"),
        // Header count 2³¹−1 with nothing after it.
        (
            &[0x14, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f],
            "header count larger than the bytes left",
        ),
        // Key length 2³¹−1.
        (
            &[0x14, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 0],
            "record fields run past its length prefix",
        ),
        // A six-byte varint as the offset delta.
        (
            &[0x16, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0],
            "varint is too long",
        ),
    ];
    for (section, reason) in cases {
        let batch = raw_batch(Compression::None, 1, section);
        let error = first_error(&batch);
        assert_eq!(error, invalid(reason), "{section:02x?}");
        assert_eq!(error.error_code(), 87);
        assert_eq!(validate_client_batch(&batch), Err(error));
    }
}

#[test]
fn impossible_record_counts_fail_before_any_work() {
    // 2³¹−1 records announced in 7 bytes: rejected up front, nothing sized by the count.
    let one_record = [0x0c, 0, 0, 0, 1, 1, 0];
    let huge = raw_batch(Compression::None, i32::MAX, &one_record);
    let premature = invalid("incorrect declared batch size, premature EOF reached");
    assert_eq!(
        huge.records().collect::<Vec<_>>(),
        vec![Err(premature.clone())]
    );
    assert_eq!(validate_client_batch(&huge), Err(premature.clone()));

    // The same behind compression: checked against the decompressed size.
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let section = compress(codec, &one_record).unwrap();
        let huge = raw_batch(codec, i32::MAX, &section);
        assert_eq!(
            huge.records().collect::<Vec<_>>(),
            vec![Err(premature.clone())],
            "{codec}"
        );
    }

    // Fewer records than announced, but not impossibly many: premature EOF when reached.
    let short = raw_batch(
        Compression::None,
        2,
        &[0x0c, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let got: Vec<_> = short.records().collect();
    assert!(got[0].is_ok());
    assert_eq!(got.len(), 2);
    assert!(got[1].is_err());

    let negative = raw_batch(Compression::None, i32::MIN, &one_record);
    assert_eq!(first_error(&negative), invalid("negative record count"));
}

#[test]
fn corrupt_compressed_sections_are_corrupt_message() {
    let garbage: &[&[u8]] = &[
        b"\x00\x01\x02\x03",
        &[0xff; 40],
        // xerial magic with its header cut short
        &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0],
        // lz4 magic, then nothing
        &[0x04, 0x22, 0x4d, 0x18],
        // zstd magic, then nothing
        &[0x28, 0xb5, 0x2f, 0xfd],
        // gzip magic, then nothing
        &[0x1f, 0x8b, 0x08],
    ];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        for section in garbage {
            let batch = raw_batch(codec, 1, section);
            let error = first_error(&batch);
            assert!(
                matches!(&error, RecordsError::Decompress { codec: c, .. } if *c == codec)
                    || error == invalid("incorrect declared batch size, premature EOF reached"),
                "{codec} {section:02x?}: {error}"
            );
            assert!(matches!(error.error_code(), 2 | 87));
        }
    }
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    let ten_mib = vec![0u8; 10 << 20];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let bomb = compress(codec, &ten_mib).unwrap();
        assert!(bomb.len() < 1 << 20, "{codec} compresses zeros well");
        let batch = raw_batch(codec, 1, &bomb);
        let error = batch
            .records_with_limit(1 << 20)
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            error,
            RecordsError::DecompressedTooLarge {
                codec,
                limit: 1 << 20
            }
        );
        assert_eq!(error.error_code(), 10);
        assert_eq!(validate_client_batch_with(&batch, 1 << 20), Err(error));
        assert_eq!(decompress(codec, &bomb, 10 << 20).unwrap().len(), 10 << 20);
    }
}

#[test]
fn an_unknown_codec_is_unsupported_compression() {
    let mut batch = raw_batch(Compression::None, 1, &[0x0c, 0, 0, 0, 1, 1, 0]);
    let mut bytes = batch.bytes.to_vec();
    bytes[22] = 6;
    recompute_crc(&mut bytes).unwrap();
    batch = Batch::from_bytes(Bytes::from(bytes)).unwrap();
    let error = first_error(&batch);
    assert_eq!(error, RecordsError::UnsupportedCompression { id: 6 });
    assert_eq!(error.error_code(), 76);
}

#[test]
fn framing_rejects_short_and_overlong_lengths() {
    let good = {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(TS, Some(b"k"), Some(b"v"), &[]).unwrap();
        b.build().unwrap()
    };
    for (len, expected) in [
        (-1i32, RecordsError::InvalidBatchLength { batch_length: -1 }),
        (
            i32::MIN,
            RecordsError::InvalidBatchLength {
                batch_length: i32::MIN,
            },
        ),
        (48, RecordsError::InvalidBatchLength { batch_length: 48 }),
        (
            i32::MAX,
            RecordsError::Truncated {
                needed: i32::MAX as usize + 12,
                available: good.size_in_bytes(),
            },
        ),
    ] {
        let mut bytes = good.bytes.to_vec();
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        let bytes = Bytes::from(bytes);
        assert_eq!(batches(&bytes).next(), Some(Err(expected.clone())));
        assert_eq!(expected.error_code(), 2);
    }
    // Every strict prefix of a batch is an error, never a panic.
    for cut in 1..good.size_in_bytes() {
        let prefix = good.bytes.slice(..cut);
        assert!(matches!(
            batches(&prefix).next(),
            Some(Err(RecordsError::Truncated { .. }))
        ));
    }
}

/// Every prefix and many single-byte corruptions of valid batches (one per codec, with
/// headers, nulls and several records) go through the fuzz entry point without panicking.
#[test]
fn mutated_valid_batches_never_panic() {
    for codec in Compression::ALL {
        let mut builder = BatchBuilder::new(codec).producer(3, 0, 0);
        for i in 0..4u8 {
            let header = Header {
                key: b"trace",
                value: (i % 2 == 0).then_some(&b"on"[..]),
            };
            builder
                .append(
                    TS + i64::from(i),
                    Some(&[i; 3]),
                    (i != 2).then_some(&[i; 20][..]),
                    &[header],
                )
                .unwrap();
        }
        let batch = builder.build().unwrap();
        let bytes = batch.bytes.to_vec();
        for cut in 0..=bytes.len() {
            fuzz_entry(&bytes[..cut]);
        }
        for at in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut mutated = bytes.clone();
                mutated[at] ^= mask;
                fuzz_entry(&mutated);
                // With the CRC fixed up, mutations reach the record and codec decoders too.
                if at >= BATCH_HEADER_LEN {
                    let _ = recompute_crc(&mut mutated);
                    fuzz_entry(&mutated);
                }
            }
        }
    }
}
