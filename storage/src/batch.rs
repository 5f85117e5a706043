//! The RecordBatch v2 facts the log needs (`docs/formats.md` §7.1–§7.3), on top of
//! `protocol::records`: header decoding with the extra sanity a stored batch needs, a CRC check on
//! borrowed slices, and a record-level timestamp search for ListOffsets.
//!
//! Input: batch bytes from segment files (untrusted) or from `append` callers.

use protocol::records::{offsets, Batch, BatchHeader, RecordsError, BATCH_LENGTH_MIN};

/// Decodes the 61-byte header at the start of `b` and checks what offset arithmetic needs:
/// magic 2, a length covering the header, non-negative offsets without overflow. `None` if
/// fewer than 61 bytes are there; `Some(Err(reason))` if it cannot be a stored batch.
pub(crate) fn read_header(b: &[u8]) -> Option<Result<BatchHeader, String>> {
    match BatchHeader::parse(b) {
        Err(RecordsError::Truncated { .. }) => None,
        Err(e) => Some(Err(e.to_string())),
        Ok(h) => Some(check_header(&h).map(|()| h)),
    }
}

fn check_header(h: &BatchHeader) -> Result<(), String> {
    if h.batch_length < BATCH_LENGTH_MIN {
        return Err(format!(
            "batch length {} is below the minimum {BATCH_LENGTH_MIN}",
            h.batch_length
        ));
    }
    if h.base_offset < 0 || h.last_offset_delta < 0 {
        return Err(format!(
            "negative base offset {} or last offset delta {}",
            h.base_offset, h.last_offset_delta
        ));
    }
    if h.base_offset
        .checked_add(i64::from(h.last_offset_delta))
        .is_none()
    {
        return Err(format!("base offset {} overflows", h.base_offset));
    }
    Ok(())
}

/// Total bytes of the batch, header included. Requires a header from `read_header`.
pub(crate) fn batch_size(h: &BatchHeader) -> u64 {
    h.size_in_bytes() as u64
}

/// The CRC32C over attributes..end matches the stored CRC. `batch` is exactly one batch.
/// (`protocol::records::Batch::verify_crc` needs an owned `Bytes`; the log checks borrowed
/// slices of its own buffers, so it computes the same CRC here without a copy.)
pub(crate) fn crc_matches(batch: &[u8]) -> bool {
    let Some(covered) = batch.get(offsets::ATTRIBUTES..) else {
        return false;
    };
    let c = offsets::CRC;
    let stored = u32::from_be_bytes([batch[c], batch[c + 1], batch[c + 2], batch[c + 3]]);
    crc32c::crc32c(covered) == stored
}

/// First record of `batch` with timestamp ≥ `target` and offset ≥ `starting_offset`, as
/// `(timestamp, offset)` (Kafka `FileRecords.searchForTimestamp`, per batch). Compressed
/// batches are decompressed by `protocol::records`. `Err` if the records do not decode.
pub(crate) fn search_for_timestamp(
    batch: &Batch,
    target: i64,
    starting_offset: i64,
) -> Result<Option<(i64, i64)>, String> {
    for record in batch.records() {
        let r = record.map_err(|e| e.to_string())?;
        if r.timestamp() >= target && r.offset() >= starting_offset {
            return Ok(Some((r.timestamp(), r.offset())));
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod test_batch {
    //! Test batches built with `protocol::records::BatchBuilder`.

    use protocol::records::{BatchBuilder, Compression};

    /// A batch at `base_offset` with one record per timestamp (null key, `value_len` value
    /// bytes, no headers). `log_append_time` makes it LogAppendTime at the max timestamp.
    pub(crate) fn build(
        base_offset: i64,
        leader_epoch: i32,
        timestamps: &[i64],
        value_len: usize,
        compression: Compression,
        log_append_time: bool,
    ) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression)
            .base_offset(base_offset)
            .partition_leader_epoch(leader_epoch);
        if log_append_time {
            b = b.log_append_time(*timestamps.iter().max().unwrap());
        }
        for (i, &ts) in timestamps.iter().enumerate() {
            let value: Vec<u8> = (0..value_len).map(|j| (i + j) as u8).collect();
            b.append(ts, None, Some(&value), &[]).unwrap();
        }
        b.build().unwrap().bytes.to_vec()
    }

    /// An uncompressed CreateTime batch.
    pub(crate) fn batch_with(
        base_offset: i64,
        leader_epoch: i32,
        timestamps: &[i64],
        value_len: usize,
    ) -> Vec<u8> {
        build(
            base_offset,
            leader_epoch,
            timestamps,
            value_len,
            Compression::None,
            false,
        )
    }

    /// A client-style batch (base offset 0, epoch −1) of `n` records at `ts`, `ts+1`, ….
    pub(crate) fn client_batch(n: usize, ts: i64, value_len: usize) -> Vec<u8> {
        let tss: Vec<i64> = (0..n as i64).map(|i| ts + i).collect();
        batch_with(0, -1, &tss, value_len)
    }
}

#[cfg(test)]
mod tests {
    use super::test_batch::*;
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use protocol::records::Compression;

    fn header(b: &[u8]) -> BatchHeader {
        read_header(b).unwrap().unwrap()
    }

    fn framed(b: &[u8]) -> Batch {
        Batch::from_bytes(Bytes::copy_from_slice(b)).unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn kafka_client_batches_from_the_spec() {
        // §7.4, produced by kafka-clients 3.9.1: one record with key, value and header.
        let b = hex(
            "00000000 00000000 0000003e ffffffff 02 5e93538d 0000 00000000 \
             0000018b cfe56800 0000018b cfe56800 ffffffff ffffffff ffff ffffffff 00000001 \
             18 00 00 00 02 6b 02 76 02 02 68 02 78",
        );
        assert_eq!(b.len(), 74);
        let h = header(&b);
        assert_eq!(batch_size(&h), 74);
        assert!(crc_matches(&b));
        let ts = 1_700_000_000_000;
        assert_eq!(search_for_timestamp(&framed(&b), ts, 0), Ok(Some((ts, 0))));
        // COMMIT marker at offset 42, leader epoch 3 (78 bytes).
        let m = hex(
            "00000000 0000002a 00000042 00000003 02 a7d9b82a 0030 00000000 \
             0000018b cfe56800 0000018b cfe56800 00000000 000003e8 0002 ffffffff 00000001 \
             20 00 00 00 08 00000001 0c 0000 00000005 00",
        );
        assert_eq!(m.len(), 78);
        let h = header(&m);
        assert!(crc_matches(&m));
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.last_offset()),
            (42, 3, 42)
        );
    }

    #[test]
    fn header_sanity() {
        let mut b = batch_with(0, 0, &[1], 0);
        assert!(read_header(&b[..60]).is_none());
        b[16] = 1; // magic
        assert!(read_header(&b).unwrap().is_err());
        let mut b = batch_with(0, 0, &[1], 0);
        b[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(read_header(&b).unwrap().is_err());
        let mut b = batch_with(0, 0, &[1], 0);
        b[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
        b[23..27].copy_from_slice(&5i32.to_be_bytes());
        assert!(read_header(&b).unwrap().is_err());
    }

    #[test]
    fn timestamp_search() {
        let b = batch_with(100, 0, &[10, 30, 20, 40], 3);
        let b = framed(&b);
        assert_eq!(search_for_timestamp(&b, 0, 0), Ok(Some((10, 100))));
        assert_eq!(search_for_timestamp(&b, 25, 0), Ok(Some((30, 101))));
        assert_eq!(search_for_timestamp(&b, 25, 102), Ok(Some((40, 103))));
        assert_eq!(search_for_timestamp(&b, 41, 0), Ok(None));
        let lat = build(100, 0, &[10, 30], 3, Compression::None, true);
        assert_eq!(
            search_for_timestamp(&framed(&lat), 15, 101),
            Ok(Some((30, 101)))
        );
        let gz = build(100, 0, &[10, 30, 20, 40], 3, Compression::Gzip, false);
        assert!(crc_matches(&gz));
        assert_eq!(
            search_for_timestamp(&framed(&gz), 25, 0),
            Ok(Some((30, 101)))
        );
    }

    proptest! {
        #[test]
        fn hostile_batches_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(Ok(_)) = read_header(&bytes) {
                let _ = crc_matches(&bytes);
                if let Ok(b) = Batch::from_bytes(Bytes::from(bytes)) {
                    let _ = search_for_timestamp(&b, 0, 0);
                }
            }
        }

        #[test]
        fn corrupted_records_never_panic(idx in 61usize..80, byte in any::<u8>()) {
            let mut b = batch_with(0, 0, &[1, 2, 3], 2);
            let i = idx.min(b.len() - 1);
            b[i] = byte;
            let _ = search_for_timestamp(&framed(&b), 2, 0);
        }
    }
}
