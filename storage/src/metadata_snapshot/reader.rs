//! Reading a metadata snapshot and refusing a bad one (KIP-630, `docs/formats.md` §13).
//!
//! Input: a `<id>.checkpoint` file, ours or Kafka's, untrusted. A snapshot is accepted only if
//! every batch has a valid RecordBatch v2 header and CRC, offsets run on from 0 without gaps,
//! the first batch is a control batch starting with SnapshotHeaderRecord (KRaftVersionRecord
//! and VotersRecord may follow it there), the middle holds only data batches, and the last
//! batch is a control batch with SnapshotFooterRecord followed by nothing. A torn file (one
//! that ends inside a batch, or before its footer) is refused. Every refusal is an
//! [`Error::Corrupt`] naming the file and the byte position of the batch at fault.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use protocol::messages::{Message, SnapshotFooterRecord, SnapshotHeaderRecord};
use protocol::records::{Batch, ControlRecordType, BATCH_LENGTH_MIN, LOG_OVERHEAD};

use super::writer::CONTROL_VERSION;
use super::{SnapshotId, SNAPSHOT_BATCH_BYTES_MAX};
use crate::batch::read_header;
use crate::error::{Error, IoContext, Result};

/// A whole snapshot, validated, its data batches in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotContents {
    pub id: SnapshotId,
    /// The header's `LastContainedLogTimestamp`.
    pub last_contained_log_timestamp_ms: i64,
    /// The data batches (CRC checked); their records are metadata records for
    /// `metadata::decode_batch`.
    pub batches: Vec<Batch>,
}

/// Reads and validates snapshot `id` of `dir` whole. Nothing is returned unless the footer
/// was reached, so a caller never replays part of a torn or corrupt snapshot.
pub fn read_all(dir: &Path, id: SnapshotId) -> Result<SnapshotContents> {
    let mut reader = SnapshotReader::open(dir, id)?;
    let mut batches = Vec::new();
    while let Some(batch) = reader.next_batch()? {
        batches.push(batch);
    }
    Ok(SnapshotContents {
        id,
        last_contained_log_timestamp_ms: reader.last_contained_log_timestamp_ms(),
        batches,
    })
}

/// Streams the data batches of one snapshot, validating as it goes. A caller that replays
/// batches as they come must discard what it built if a later call fails.
#[derive(Debug)]
pub struct SnapshotReader {
    id: SnapshotId,
    path: PathBuf,
    file: BufReader<File>,
    /// Byte position of the next batch.
    position: u64,
    /// Offset the next batch must start at.
    next_offset: i64,
    last_contained_log_timestamp_ms: i64,
    /// True once the footer was read and the end of the file checked.
    done: bool,
}

impl SnapshotReader {
    /// Opens snapshot `id` in `dir` and checks its header batch.
    pub fn open(dir: &Path, id: SnapshotId) -> Result<SnapshotReader> {
        let path = id.path(dir);
        let file = File::open(&path).ctx(&path)?;
        let mut reader = SnapshotReader {
            id,
            path,
            file: BufReader::new(file),
            position: 0,
            next_offset: 0,
            last_contained_log_timestamp_ms: -1,
            done: false,
        };
        let Some(batch) = reader.read_batch()? else {
            return Err(reader.corrupt(0, "empty file: no SNAPSHOT_HEADER"));
        };
        reader.last_contained_log_timestamp_ms = reader.check_header(&batch)?;
        Ok(reader)
    }

    pub fn id(&self) -> SnapshotId {
        self.id
    }

    /// The header's `LastContainedLogTimestamp`: the append time of the last record the
    /// snapshot reflects.
    pub fn last_contained_log_timestamp_ms(&self) -> i64 {
        self.last_contained_log_timestamp_ms
    }

    /// The next data batch; `Ok(None)` once the footer has been read and found last.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        if self.done {
            return Ok(None);
        }
        let start = self.position;
        let Some(batch) = self.read_batch()? else {
            return Err(self.corrupt(
                start,
                "the file ends without a SNAPSHOT_FOOTER (torn write?)",
            ));
        };
        if !batch.header.is_control() {
            return Ok(Some(batch));
        }
        let kinds = self.control_types(start, &batch)?;
        if kinds.first() != Some(&ControlRecordType::SnapshotFooter) {
            return Err(self.corrupt(
                start,
                format!(
                    "control batch {kinds:?} where only data batches or the SNAPSHOT_FOOTER may be"
                ),
            ));
        }
        if kinds.len() != 1 {
            return Err(self.corrupt(start, format!("footer batch holds {kinds:?}")));
        }
        self.decode_control::<SnapshotFooterRecord>(start, &batch)?;
        let mut probe = [0u8; 1];
        match self.file.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                return Err(self.corrupt(self.position, "bytes after the SNAPSHOT_FOOTER"));
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        }
        self.done = true;
        Ok(None)
    }

    /// Checks the first batch; returns the header's `LastContainedLogTimestamp`.
    fn check_header(&self, batch: &Batch) -> Result<i64> {
        if !batch.header.is_control() {
            return Err(self.corrupt(
                0,
                "the first batch is a data batch, not the SNAPSHOT_HEADER",
            ));
        }
        let kinds = self.control_types(0, batch)?;
        let rest_allowed = kinds.iter().skip(1).all(|k| {
            matches!(
                k,
                ControlRecordType::KraftVersion | ControlRecordType::KraftVoters
            )
        });
        if kinds.first() != Some(&ControlRecordType::SnapshotHeader) || !rest_allowed {
            return Err(self.corrupt(
                0,
                format!("the first batch holds {kinds:?}, not a SNAPSHOT_HEADER"),
            ));
        }
        let header = self.decode_control::<SnapshotHeaderRecord>(0, batch)?;
        Ok(header.last_contained_log_timestamp)
    }

    /// The control types of `batch`'s records, in order.
    fn control_types(&self, position: u64, batch: &Batch) -> Result<Vec<ControlRecordType>> {
        let mut kinds = Vec::new();
        for record in batch.records() {
            let record = record.map_err(|e| self.corrupt(position, e.to_string()))?;
            let kind = ControlRecordType::parse_key(record.key().unwrap_or_default())
                .map_err(|e| self.corrupt(position, e.to_string()))?;
            kinds.push(kind);
        }
        Ok(kinds)
    }

    /// Decodes the first record's value of a control batch as `M` at version 0, as 3.9's
    /// `ControlRecordUtils` does (later versions only add tagged fields, which v0 skips).
    fn decode_control<M: Message>(&self, position: u64, batch: &Batch) -> Result<M> {
        let value = batch
            .records()
            .next()
            .and_then(|r| r.ok())
            .and_then(|r| r.value_bytes())
            .ok_or_else(|| self.corrupt(position, format!("{} without a value", M::NAME)))?;
        let mut buf: Bytes = value;
        M::decode(&mut buf, CONTROL_VERSION)
            .map_err(|e| self.corrupt(position, format!("{}: {e}", M::NAME)))
    }

    /// Reads the next batch: `Ok(None)` at a clean end of file. Checks the length, the header,
    /// the CRC and that its offsets follow the previous batch.
    fn read_batch(&mut self) -> Result<Option<Batch>> {
        let start = self.position;
        let mut prefix = [0u8; LOG_OVERHEAD];
        match read_full(&mut self.file, &mut prefix).ctx(&self.path)? {
            0 => return Ok(None),
            n if n < LOG_OVERHEAD => {
                return Err(self.corrupt(start, "the file ends inside a batch header (torn write)"));
            }
            _ => {}
        }
        let batch_length = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        let size = usize::try_from(batch_length)
            .ok()
            .filter(|_| batch_length >= BATCH_LENGTH_MIN)
            .map(|len| len + LOG_OVERHEAD)
            .filter(|&size| size <= SNAPSHOT_BATCH_BYTES_MAX);
        let Some(size) = size else {
            return Err(self.corrupt(
                start,
                format!(
                    "batch length {batch_length} outside {BATCH_LENGTH_MIN}..={}",
                    SNAPSHOT_BATCH_BYTES_MAX - LOG_OVERHEAD
                ),
            ));
        };
        let mut bytes = vec![0u8; size];
        bytes[..LOG_OVERHEAD].copy_from_slice(&prefix);
        let body_read = read_full(&mut self.file, &mut bytes[LOG_OVERHEAD..]).ctx(&self.path)?;
        if body_read < size - LOG_OVERHEAD {
            return Err(self.corrupt(start, "the file ends inside a batch (torn write)"));
        }
        match read_header(&bytes) {
            Some(Ok(_)) => {}
            Some(Err(reason)) => return Err(self.corrupt(start, reason)),
            None => return Err(self.corrupt(start, "batch shorter than its header")),
        }
        let batch =
            Batch::from_bytes(bytes.into()).map_err(|e| self.corrupt(start, e.to_string()))?;
        batch
            .verify_crc()
            .map_err(|e| self.corrupt(start, e.to_string()))?;
        if batch.header.base_offset != self.next_offset {
            return Err(self.corrupt(
                start,
                format!(
                    "batch starts at offset {}, expected {}",
                    batch.header.base_offset, self.next_offset
                ),
            ));
        }
        self.next_offset = batch.header.next_offset();
        self.position += size as u64;
        Ok(Some(batch))
    }

    fn corrupt(&self, position: u64, reason: impl Into<String>) -> Error {
        Error::corrupt(&self.path, position, reason)
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use protocol::records::{recompute_crc, BatchBuilder, Compression};

    use super::*;
    use crate::metadata_snapshot::{list, SnapshotWriter, PARTIAL_SUFFIX};

    const ID: SnapshotId = SnapshotId {
        end_offset: 4711,
        epoch: 7,
    };

    fn data_batch(base_offset: i64, epoch: i32, values: &[&[u8]]) -> Batch {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(base_offset)
            .partition_leader_epoch(epoch);
        for v in values {
            b.append(1_000, None, Some(v), &[]).unwrap();
        }
        b.build().unwrap()
    }

    /// A snapshot with three data batches; returns the batches' byte ranges in the file.
    fn write(dir: &Path) -> (Vec<Batch>, Vec<std::ops::Range<usize>>) {
        let mut w = SnapshotWriter::create(dir, ID, 1_700_000_000_000, 5).unwrap();
        let mut batches = Vec::new();
        let mut ranges = Vec::new();
        let mut pos = 0usize;
        for values in [&[&b"a"[..], b"bb"][..], &[b"ccc"], &[b"d", b"e", b"f"]] {
            let batch = data_batch(w.next_offset(), ID.epoch, values);
            w.append(&batch).unwrap();
            batches.push(batch);
        }
        let file = w.freeze(6).unwrap();
        assert_eq!(file.path, ID.path(dir));
        let bytes = fs::read(&file.path).unwrap();
        assert_eq!(file.size_bytes, bytes.len() as u64);
        while pos < bytes.len() {
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
            ranges.push(pos..pos + 12 + len);
            pos += 12 + len;
        }
        (batches, ranges)
    }

    fn refused(dir: &Path, bytes: &[u8], position: u64, needle: &str) {
        fs::write(ID.path(dir), bytes).unwrap();
        match read_all(dir, ID) {
            Err(Error::Corrupt {
                path,
                position: p,
                reason,
            }) => {
                assert_eq!(path, ID.path(dir));
                assert_eq!(p, position, "{reason}");
                assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
            }
            other => panic!("expected a refusal with {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn written_snapshots_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (batches, ranges) = write(dir.path());
        let contents = read_all(dir.path(), ID).unwrap();
        assert_eq!(contents.id, ID);
        assert_eq!(contents.last_contained_log_timestamp_ms, 1_700_000_000_000);
        assert_eq!(contents.batches, batches);
        assert_eq!(ranges.len(), 5, "header, three data batches, footer");

        // The header and footer are Kafka's control batches at the snapshot's epoch.
        let bytes = fs::read(ID.path(dir.path())).unwrap();
        let header = Batch::from_bytes(Bytes::copy_from_slice(&bytes[ranges[0].clone()])).unwrap();
        assert!(header.header.is_control());
        assert_eq!(
            (
                header.header.base_offset,
                header.header.partition_leader_epoch
            ),
            (0, 7)
        );
        let record = header.records().next().unwrap().unwrap();
        assert_eq!(record.key(), Some(&[0u8, 0, 0, 3][..]));
        // SnapshotHeaderRecord v0: Version 0, LastContainedLogTimestamp, no tagged fields.
        let mut expected = vec![0u8, 0];
        expected.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        expected.push(0);
        assert_eq!(record.value(), Some(&expected[..]));
        let footer = Batch::from_bytes(Bytes::copy_from_slice(&bytes[ranges[4].clone()])).unwrap();
        assert_eq!(footer.header.base_offset, 7);
        let record = footer.records().next().unwrap().unwrap();
        assert_eq!(record.key(), Some(&[0u8, 0, 0, 4][..]));
        assert_eq!(record.value(), Some(&[0u8, 0, 0][..]));
    }

    #[test]
    fn bad_snapshots_are_refused_naming_the_position() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_, r) = write(d);
        let good = fs::read(ID.path(d)).unwrap();
        let at = |i: usize| r[i].start as u64;

        // A flipped byte in a data batch's records: CRC.
        let mut bad = good.clone();
        bad[r[2].end - 1] ^= 0x40;
        refused(d, &bad, at(2), "CRC");
        // Torn: the file ends inside a batch, or before the footer.
        refused(d, &good[..r[3].end + 20], at(4), "torn");
        refused(d, &good[..r[4].start + 5], at(4), "torn");
        refused(d, &good[..r[4].start], at(4), "without a SNAPSHOT_FOOTER");
        refused(d, &[], 0, "empty file");
        // Bytes after the footer.
        let mut long = good.clone();
        long.push(0);
        refused(d, &long, good.len() as u64, "after the SNAPSHOT_FOOTER");
        // No header: the file starts with a data batch.
        let mut no_header: Vec<u8> = [&good[r[1].clone()], &good[r[4].clone()]].concat();
        no_header[..8].copy_from_slice(&0i64.to_be_bytes());
        refused(d, &no_header, 0, "not the SNAPSHOT_HEADER");
        // The footer in the middle.
        let footer_early: Vec<u8> =
            [&good[..r[1].end], &good[r[4].clone()], &good[r[2].clone()]].concat();
        refused(d, &footer_early, at(2), "expected");
        // The header twice (offsets renumbered and CRCs fixed so only the order is wrong).
        let mut twice: Vec<u8> = [&good[r[0].clone()], &good[r[0].clone()]].concat();
        let second = r[0].len();
        twice[second..second + 8].copy_from_slice(&1i64.to_be_bytes());
        recompute_crc(&mut twice[second..]).unwrap();
        twice.extend_from_slice(&good[r[4].clone()]);
        refused(d, &twice, second as u64, "SnapshotHeader");
        // A gap in the offsets.
        let gap: Vec<u8> = [&good[..r[1].end], &good[r[3].clone()], &good[r[4].clone()]].concat();
        refused(d, &gap, at(2), "expected 3");
        // A batch length no snapshot can hold, and one below the header size.
        let mut huge = good.clone();
        huge[r[1].start + 8..r[1].start + 12].copy_from_slice(&i32::MAX.to_be_bytes());
        refused(d, &huge, at(1), "batch length");
        let mut tiny = good.clone();
        tiny[r[1].start + 8..r[1].start + 12].copy_from_slice(&3i32.to_be_bytes());
        refused(d, &tiny, at(1), "batch length");
        // A header record that does not decode.
        let mut garbled = good.clone();
        let h = r[0].clone();
        garbled[h.end - 2] = 0xff;
        recompute_crc(&mut garbled[h]).unwrap();
        refused(d, &garbled, 0, "SnapshotHeaderRecord");
    }

    #[test]
    fn the_writer_refuses_what_a_reader_would() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut w = SnapshotWriter::create(d, ID, 0, 0).unwrap();
        for bad in [
            data_batch(5, ID.epoch, &[b"x"]),
            data_batch(1, ID.epoch + 1, &[b"x"]),
        ] {
            assert!(matches!(w.append(&bad), Err(Error::Snapshot { .. })));
        }
        let mut control = BatchBuilder::new(Compression::None)
            .base_offset(1)
            .partition_leader_epoch(ID.epoch)
            .control();
        control
            .append(
                0,
                Some(&ControlRecordType::LeaderChange.key()),
                Some(&[0, 0]),
                &[],
            )
            .unwrap();
        assert!(w.append(&control.build().unwrap()).is_err());
        // Abandoned: the partial file goes with the writer.
        let part_files = || {
            fs::read_dir(d)
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(PARTIAL_SUFFIX)
                })
                .count()
        };
        assert_eq!(part_files(), 1);
        drop(w);
        assert_eq!(part_files(), 0);
        assert!(list(d).unwrap().is_empty());

        // An empty snapshot (header and footer only) is valid; a second one is refused.
        SnapshotWriter::create(d, ID, 9, 0)
            .unwrap()
            .freeze(0)
            .unwrap();
        let contents = read_all(d, ID).unwrap();
        assert!(contents.batches.is_empty());
        assert!(matches!(
            SnapshotWriter::create(d, ID, 9, 0),
            Err(Error::Snapshot { .. })
        ));
        let negative = SnapshotId {
            end_offset: 0,
            epoch: -1,
        };
        assert!(SnapshotWriter::create(d, negative, 0, 0).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Flipped bytes and cuts of a valid snapshot are refused or read, never a panic, and
        /// what is read survives a rewrite (the fuzz target's invariants).
        #[test]
        fn mutated_snapshots_never_panic(
            flips in proptest::collection::vec((0usize..4096, 0u8..=255), 0..6),
            cut in 0usize..4096,
        ) {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path());
            let mut bytes = fs::read(ID.path(dir.path())).unwrap();
            let len = bytes.len();
            for (at, xor) in flips {
                bytes[at % len] ^= xor;
            }
            bytes.truncate(len - cut % (len / 4));
            crate::fuzz::metadata_snapshot(dir.path(), &bytes);
        }
    }
}
