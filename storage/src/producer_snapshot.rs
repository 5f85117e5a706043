//! Producer-state snapshot files `<offset>.snapshot` (`docs/formats.md` §9, Kafka 3.9
//! `ProducerStateManager.readSnapshot/writeSnapshot/removeStraySnapshots/truncateAndReload`):
//! the version-1 codec, writing, listing, choosing the latest valid snapshot, and the rules by
//! which Kafka deletes them.
//!
//! Input: the files of a partition directory, possibly written by Apache Kafka. The broker
//! keeps the in-memory producer state; this module only moves its entries to and from disk.
//! A file name's offset is the producer state's "map end offset": the entries reflect every
//! batch below it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{Error, IoContext, Result};
use crate::fs_util;
use crate::segment::{segment_file_name, SNAPSHOT_FILE_SUFFIX};

/// The only version Kafka 3.9 reads or writes (`PRODUCER_SNAPSHOT_VERSION`).
pub const SNAPSHOT_VERSION: i16 = 1;
/// Version (2), CRC (4) and entry count (4).
pub const SNAPSHOT_HEADER_BYTES: usize = 10;
/// One producer entry (§9.1).
pub const SNAPSHOT_ENTRY_BYTES: usize = 46;
/// Largest snapshot file we read (`docs/architecture.md` §7.11): 5.8 M producers, far beyond what
/// one partition holds (Kafka has no limit; a larger file is treated as corrupt and skipped).
pub const SNAPSHOT_BYTES_MAX: u64 = 256 << 20;
/// The CRC covers the bytes from the entry count to the end of the file.
const CRC_COVERED_FROM: usize = 6;

/// One producer's entry (Kafka `ProducerStateEntry` as the snapshot schema stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Last sequence of the producer's last data batch; −1 if none.
    pub last_sequence: i32,
    /// Last offset of that batch; −1 if none (then no batch is restored).
    pub last_offset: i64,
    /// `last_offset − first offset` of that batch; 0 if none.
    pub offset_delta: i32,
    /// Max timestamp of the last batch or marker; drives producer expiry.
    pub timestamp: i64,
    /// Epoch of the transaction coordinator that wrote the last marker; −1 if none.
    pub coordinator_epoch: i32,
    /// First offset of the open transaction; −1 if none.
    pub current_txn_first_offset: i64,
}

/// Whether a write waits for the bytes to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSync {
    /// fsync before returning (clean close, load).
    Now,
    /// Leave it to the caller's later [`sync`]: Kafka does not fsync under the log lock at
    /// roll, it flushes the snapshot from its scheduler with the rolled segment.
    Deferred,
}

/// The file bytes of a snapshot holding `entries` (in the given order; Kafka writes
/// `HashMap` order and readers do not care).
pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + entries.len() * SNAPSHOT_ENTRY_BYTES);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // CRC, filled in below
    let count = i32::try_from(entries.len()).expect("fewer than 2^31 producers");
    out.extend_from_slice(&count.to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.producer_epoch.to_be_bytes());
        out.extend_from_slice(&e.last_sequence.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        out.extend_from_slice(&e.offset_delta.to_be_bytes());
        out.extend_from_slice(&e.timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[CRC_COVERED_FROM..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Big-endian reads that fail instead of panicking past the end.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::corrupt(
                self.path,
                self.pos as u64,
                format!(
                    "file ends inside {field}: {} bytes, {N} needed",
                    self.bytes.len() - self.pos
                ),
            ));
        };
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(out)
    }
    fn i16(&mut self, field: &str) -> Result<i16> {
        self.take(field).map(i16::from_be_bytes)
    }
    fn i32(&mut self, field: &str) -> Result<i32> {
        self.take(field).map(i32::from_be_bytes)
    }
    fn u32(&mut self, field: &str) -> Result<u32> {
        self.take(field).map(u32::from_be_bytes)
    }
    fn i64(&mut self, field: &str) -> Result<i64> {
        self.take(field).map(i64::from_be_bytes)
    }
}

/// Decodes the bytes of snapshot file `path` (named in every error). As Kafka's reader: the
/// version must be 1, the CRC32C of bytes [6, end) must match, the entry count must be
/// non-negative and fit the file; bytes after the last entry are covered by the CRC and
/// otherwise ignored.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<SnapshotEntry>> {
    let mut r = Reader {
        path,
        bytes,
        pos: 0,
    };
    let version = r.i16("the version")?;
    if version != SNAPSHOT_VERSION {
        return Err(Error::corrupt(
            path,
            0,
            format!("unknown snapshot version {version} (only {SNAPSHOT_VERSION} exists)"),
        ));
    }
    let stored_crc = r.u32("the CRC")?;
    let count = r.i32("the entry count")?;
    let computed_crc = crc32c::crc32c(&bytes[CRC_COVERED_FROM..]);
    if stored_crc != computed_crc {
        return Err(Error::corrupt(
            path,
            2,
            format!("CRC mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"),
        ));
    }
    let Ok(count) = usize::try_from(count) else {
        return Err(Error::corrupt(
            path,
            6,
            format!("negative entry count {count}"),
        ));
    };
    let room = (bytes.len() - SNAPSHOT_HEADER_BYTES) / SNAPSHOT_ENTRY_BYTES;
    if count > room {
        return Err(Error::corrupt(
            path,
            6,
            format!("{count} entries announced, the file has room for {room}"),
        ));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(SnapshotEntry {
            producer_id: r.i64("producer_id")?,
            producer_epoch: r.i16("producer_epoch")?,
            last_sequence: r.i32("last_sequence")?,
            last_offset: r.i64("last_offset")?,
            offset_delta: r.i32("offset_delta")?,
            timestamp: r.i64("timestamp")?,
            coordinator_epoch: r.i32("coordinator_epoch")?,
            current_txn_first_offset: r.i64("current_txn_first_offset")?,
        });
    }
    Ok(entries)
}

/// `<dir>/<offset, 20 digits>.snapshot` (Kafka `LogFileUtils.producerSnapshotFile`).
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(segment_file_name(offset, SNAPSHOT_FILE_SUFFIX))
}

/// Writes the snapshot of `entries` at `offset` in `dir` and returns its path. Kafka opens the
/// file with CREATE and WRITE, without a temporary file: a torn write fails the CRC at load
/// and the next older snapshot is used. We also truncate, so that rewriting a longer file
/// with fewer entries cannot leave stale bytes under the CRC (Kafka never rewrites one).
pub fn write(
    dir: &Path,
    offset: i64,
    entries: &[SnapshotEntry],
    sync: SnapshotSync,
) -> Result<PathBuf> {
    let path = snapshot_path(dir, offset);
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .ctx(&path)?;
    f.write_all(&encode(entries)).ctx(&path)?;
    if sync == SnapshotSync::Now {
        f.sync_all().ctx(&path)?;
    }
    Ok(path)
}

/// fsyncs a snapshot written with [`SnapshotSync::Deferred`]; one deleted meanwhile (by
/// retention) is fine (Kafka `Utils.flushFileIfExists`).
pub fn sync(path: &Path) -> Result<()> {
    match fs::File::open(path) {
        Ok(f) => f.sync_all().ctx(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A snapshot read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot {
    pub offset: i64,
    pub path: PathBuf,
    pub entries: Vec<SnapshotEntry>,
}

/// Reads and decodes one snapshot file.
pub fn read(path: &Path) -> Result<Vec<SnapshotEntry>> {
    match fs_util::read_small(path, SNAPSHOT_BYTES_MAX)? {
        Some(bytes) => decode(path, &bytes),
        None => Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "snapshot file vanished"),
        )),
    }
}

/// The snapshot files of one partition directory, listed once (Kafka's `snapshots` map), with
/// the operations that choose and delete among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFiles {
    files: BTreeMap<i64, PathBuf>,
}

impl SnapshotFiles {
    /// The snapshot files in `dir`. Names that do not parse as `<digits>.snapshot` are
    /// skipped with a warning (they are not ours to delete).
    pub fn list(dir: &Path) -> Result<Self> {
        let mut files = BTreeMap::new();
        for entry in fs::read_dir(dir).ctx(dir)? {
            let entry = entry.ctx(dir)?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(digits) = name.strip_suffix(SNAPSHOT_FILE_SUFFIX) else {
                continue;
            };
            if !entry.file_type().ctx(&path)?.is_file() {
                continue;
            }
            match digits.parse::<i64>() {
                Ok(offset) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                    files.insert(offset, path);
                }
                _ => warn!(
                    file = %path.display(),
                    "ignoring a .snapshot file whose name is not an offset"
                ),
            }
        }
        Ok(Self { files })
    }

    /// Offsets of the listed snapshots, ascending.
    pub fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.files.keys().copied()
    }

    /// The latest snapshot whose offset is at most `at_most`, as Kafka's `loadFromSnapshot`:
    /// one that fails the version, CRC or layout checks (or exceeds [`SNAPSHOT_BYTES_MAX`]) is
    /// deleted with a warning and the next older one is tried. I/O errors other than
    /// corruption are returned.
    pub fn load_latest(&mut self, at_most: i64) -> Result<Option<LoadedSnapshot>> {
        while let Some((&offset, path)) = self.files.range(..=at_most).next_back() {
            match read(path) {
                Ok(entries) => {
                    return Ok(Some(LoadedSnapshot {
                        offset,
                        path: path.clone(),
                        entries,
                    }))
                }
                Err(e @ (Error::Corrupt { .. } | Error::Parse { .. })) => {
                    warn!("deleting an unreadable producer snapshot: {e}");
                    self.delete_where(|o| o == offset)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Deletes the snapshots `doomed` selects; returns how many.
    fn delete_where(&mut self, mut doomed: impl FnMut(i64) -> bool) -> Result<usize> {
        let offsets: Vec<i64> = self.offsets().filter(|&o| doomed(o)).collect();
        for offset in &offsets {
            if let Some(path) = self.files.remove(offset) {
                if fs_util::remove_if_exists(&path)? {
                    info!(file = %path.display(), "deleted producer snapshot");
                }
            }
        }
        Ok(offsets.len())
    }

    /// Deletes snapshots above `log_end_offset` (after truncation; Kafka
    /// `truncateAndReload`).
    pub fn delete_above(&mut self, log_end_offset: i64) -> Result<usize> {
        self.delete_where(|o| o > log_end_offset)
    }

    /// Deletes snapshots at or below `log_start_offset` (Kafka `truncateAndReload`: they
    /// describe data that is gone).
    pub fn delete_at_or_below(&mut self, log_start_offset: i64) -> Result<usize> {
        self.delete_where(|o| o <= log_start_offset)
    }

    /// Kafka `removeStraySnapshots`: deletes every snapshot whose offset is not a segment
    /// base, except the largest such one when it is above the last segment base (the one a
    /// clean shutdown wrote at the log end offset).
    pub fn remove_stray(&mut self, segment_bases: &[i64]) -> Result<usize> {
        let bases: BTreeSet<i64> = segment_bases.iter().copied().collect();
        let last_base = bases.last().copied();
        let keep_stray = self
            .offsets()
            .filter(|o| !bases.contains(o))
            .max()
            .filter(|&o| last_base.is_none_or(|b| o > b));
        self.delete_where(|o| !bases.contains(&o) && Some(o) != keep_stray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(pid: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id: pid,
            producer_epoch: 3,
            last_sequence: 41,
            last_offset: pid.wrapping_add(1000),
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }
    }

    fn names(dir: &Path) -> Vec<i64> {
        SnapshotFiles::list(dir).unwrap().offsets().collect()
    }

    fn files(dir: &Path) -> SnapshotFiles {
        SnapshotFiles::list(dir).unwrap()
    }

    fn touch_snapshots(dir: &Path, offsets: &[i64]) {
        for &o in offsets {
            write(dir, o, &[entry(o)], SnapshotSync::Deferred).unwrap();
        }
    }

    #[test]
    fn empty_snapshot_is_the_ten_bytes_of_the_spec() {
        let bytes = encode(&[]);
        assert_eq!(bytes, [0x00, 0x01, 0x48, 0x67, 0x4B, 0xC7, 0, 0, 0, 0]);
        assert_eq!(decode(Path::new("x"), &bytes).unwrap(), vec![]);
    }

    #[test]
    fn entries_round_trip_with_46_bytes_each() {
        let entries = vec![entry(1), entry(7), entry(i64::MAX)];
        let bytes = encode(&entries);
        assert_eq!(
            bytes.len(),
            SNAPSHOT_HEADER_BYTES + 3 * SNAPSHOT_ENTRY_BYTES
        );
        assert_eq!(&bytes[6..10], &3i32.to_be_bytes());
        // Field layout of the first entry (§9.1 offsets).
        let e = &bytes[10..56];
        assert_eq!(&e[0..8], &1i64.to_be_bytes());
        assert_eq!(&e[8..10], &3i16.to_be_bytes());
        assert_eq!(&e[10..14], &41i32.to_be_bytes());
        assert_eq!(&e[14..22], &1001i64.to_be_bytes());
        assert_eq!(&e[22..26], &4i32.to_be_bytes());
        assert_eq!(&e[26..34], &1_700_000_000_000i64.to_be_bytes());
        assert_eq!(&e[34..38], &(-1i32).to_be_bytes());
        assert_eq!(&e[38..46], &(-1i64).to_be_bytes());
        assert_eq!(decode(Path::new("x"), &bytes).unwrap(), entries);
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file() {
        let path = Path::new("/d/00000000000000000042.snapshot");
        let good = encode(&[entry(5)]);
        let mut flipped = good.clone();
        flipped[20] ^= 1;
        let mut version = good.clone();
        version[1] = 2;
        let mut too_many = encode(&[]);
        too_many[6..10].copy_from_slice(&1i32.to_be_bytes());
        let crc = crc32c::crc32c(&too_many[6..]);
        too_many[2..6].copy_from_slice(&crc.to_be_bytes());
        let mut negative = encode(&[]);
        negative[6..10].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = crc32c::crc32c(&negative[6..]);
        negative[2..6].copy_from_slice(&crc.to_be_bytes());
        for (what, bytes) in [
            ("empty", &[][..]),
            ("cut in the header", &good[..5]),
            ("cut in an entry", &good[..30]),
            ("bit flip", &flipped[..]),
            ("version 2", &version[..]),
            ("count beyond the file", &too_many[..]),
            ("negative count", &negative[..]),
        ] {
            let err = decode(path, bytes).expect_err(what).to_string();
            assert!(
                err.contains("00000000000000000042.snapshot"),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn trailing_bytes_under_the_crc_are_ignored_as_kafka_does() {
        let mut bytes = encode(&[entry(5)]);
        bytes.extend_from_slice(&[9, 9, 9]);
        let crc = crc32c::crc32c(&bytes[6..]);
        bytes[2..6].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(decode(Path::new("x"), &bytes).unwrap(), vec![entry(5)]);
    }

    /// A proptest runner seeded from `SEED` (else the clock), printing the seed and a repro
    /// line first (`docs/architecture.md` §7.18).
    fn seeded_runner(test: &str, cases: u32) -> proptest::test_runner::TestRunner {
        use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
        let seed: u64 = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
        println!("seed {seed}; repro: SEED={seed} cargo test -p storage -- {test}");
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        TestRunner::new_with_rng(
            ProptestConfig::with_cases(cases),
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        )
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut runner = seeded_runner("producer_snapshot::tests::random_bytes_never_panic", 4000);
        let strategy = (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
            any::<u8>(),
        );
        let decoded = std::cell::Cell::new(0);
        runner
            .run(&strategy, |(mut bytes, plausible, count)| {
                // Half the cases get the version, an entry count near what fits (sometimes
                // one too many) and a valid CRC, so that entry decoding is reached too.
                if plausible && bytes.len() >= SNAPSHOT_HEADER_BYTES {
                    let room = (bytes.len() - SNAPSHOT_HEADER_BYTES) / SNAPSHOT_ENTRY_BYTES;
                    let count = i32::from(count) % (room as i32 + 2);
                    bytes[0..2].copy_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
                    bytes[6..10].copy_from_slice(&count.to_be_bytes());
                    let crc = crc32c::crc32c(&bytes[6..]);
                    bytes[2..6].copy_from_slice(&crc.to_be_bytes());
                }
                if let Ok(entries) = decode(Path::new("fuzz.snapshot"), &bytes) {
                    decoded.set(decoded.get() + 1);
                    let again = encode(&entries);
                    prop_assert_eq!(decode(Path::new("again"), &again).unwrap(), entries);
                }
                Ok(())
            })
            .unwrap();
        let decoded = decoded.get();
        assert!(
            decoded > 100,
            "only {decoded} inputs decoded: the generator misses"
        );
    }

    #[test]
    fn any_entries_round_trip() {
        let mut runner = seeded_runner("producer_snapshot::tests::any_entries_round_trip", 500);
        let field = (
            (any::<i64>(), any::<i16>(), any::<i32>(), any::<i64>()),
            (any::<i32>(), any::<i64>(), any::<i32>(), any::<i64>()),
        );
        runner
            .run(&proptest::collection::vec(field, 0..20), |raw| {
                let entries: Vec<SnapshotEntry> = raw
                    .into_iter()
                    .map(
                        |((pid, epoch, seq, offset), (delta, ts, coord, txn))| SnapshotEntry {
                            producer_id: pid,
                            producer_epoch: epoch,
                            last_sequence: seq,
                            last_offset: offset,
                            offset_delta: delta,
                            timestamp: ts,
                            coordinator_epoch: coord,
                            current_txn_first_offset: txn,
                        },
                    )
                    .collect();
                prop_assert_eq!(decode(Path::new("x"), &encode(&entries)).unwrap(), entries);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn write_then_load_latest_at_most_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        touch_snapshots(dir.path(), &[10, 20, 30]);
        assert!(dir.path().join("00000000000000000020.snapshot").is_file());
        let got = files(dir.path()).load_latest(25).unwrap().unwrap();
        assert_eq!((got.offset, got.entries), (20, vec![entry(20)]));
        assert_eq!(
            files(dir.path()).load_latest(30).unwrap().unwrap().offset,
            30
        );
        assert_eq!(files(dir.path()).load_latest(9).unwrap(), None);
    }

    #[test]
    fn a_corrupt_latest_snapshot_is_deleted_and_the_next_older_used() {
        let dir = tempfile::tempdir().unwrap();
        touch_snapshots(dir.path(), &[10, 20]);
        fs::write(snapshot_path(dir.path(), 30), b"\x00\x01garbage").unwrap();
        fs::write(snapshot_path(dir.path(), 20), &encode(&[entry(1)])[..12]).unwrap();
        let got = files(dir.path()).load_latest(i64::MAX).unwrap().unwrap();
        assert_eq!(got.offset, 10);
        assert_eq!(names(dir.path()), vec![10]);
    }

    #[test]
    fn rewriting_a_snapshot_with_fewer_entries_leaves_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 5, &[entry(1), entry(2)], SnapshotSync::Now).unwrap();
        let path = write(dir.path(), 5, &[], SnapshotSync::Deferred).unwrap();
        sync(&path).unwrap();
        assert_eq!(read(&path).unwrap(), vec![]);
    }

    #[test]
    fn listing_ignores_other_files_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        touch_snapshots(dir.path(), &[7]);
        for name in [
            "00000000000000000007.snapshot.deleted",
            "00000000000000000007.log",
            "abc.snapshot",
            "-1.snapshot",
            "+5.snapshot",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(names(dir.path()), vec![7]);
    }

    #[test]
    fn deletion_rules() {
        let dir = tempfile::tempdir().unwrap();
        touch_snapshots(dir.path(), &[0, 10, 20, 30, 40]);
        let mut f = files(dir.path());
        assert_eq!(f.delete_above(30).unwrap(), 1);
        assert_eq!(f.delete_at_or_below(10).unwrap(), 2);
        assert_eq!(f.offsets().collect::<Vec<_>>(), vec![20, 30]);
        assert_eq!(names(dir.path()), vec![20, 30]);
    }

    #[test]
    fn stray_snapshots_go_except_the_largest_above_the_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        touch_snapshots(dir.path(), &[5, 10, 15, 20, 25, 27]);
        // Segments at 10 and 20: 5 and 15 are strays, 25 is a stray but below 27, which is
        // the largest and above the last base (a clean-shutdown snapshot).
        assert_eq!(files(dir.path()).remove_stray(&[10, 20]).unwrap(), 3);
        assert_eq!(names(dir.path()), vec![10, 20, 27]);
        // No stray above the last base: all strays go.
        assert_eq!(files(dir.path()).remove_stray(&[10, 20, 30]).unwrap(), 1);
        assert_eq!(names(dir.path()), vec![10, 20]);
        // No segments at all: only the largest stray survives.
        assert_eq!(files(dir.path()).remove_stray(&[]).unwrap(), 1);
        assert_eq!(names(dir.path()), vec![20]);
    }
}
