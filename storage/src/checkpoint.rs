//! Kafka's text checkpoint files (`docs/formats.md` §3): `recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `replication-offset-checkpoint`, `cleaner-offset-checkpoint`
//! (entries `topic partition offset`) and `leader-epoch-checkpoint` (entries
//! `epoch startOffset`).
//!
//! Input: files in a log dir or a partition dir, possibly written by Apache Kafka. Layout:
//! version line (`0`), entry-count line, one entry per line, `\n` after every line. Written with
//! tmp + fsync + rename + fsync dir (`CheckpointFile.write`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs_util;
use crate::topic_partition::TopicPartition;

/// `log.dirs` root: recovery point of every log in the dir.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// `log.dirs` root: log start offset of logs whose start is above their first segment.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// `log.dirs` root: high watermarks (written by the replica manager).
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
/// `log.dirs` root: first dirty offset of compacted logs (written by the log cleaner).
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Partition dir: leader epoch → start offset.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// The only checkpoint version Kafka 3.9 reads or writes.
pub const CHECKPOINT_VERSION: i32 = 0;
/// Refuse checkpoint files above this size (`docs/architecture.md` §7.11): 64 MiB is ~1.5 million
/// entries.
pub const CHECKPOINT_BYTES_MAX: u64 = 64 << 20;

/// One line of a checkpoint file.
pub trait CheckpointEntry: Sized {
    /// Whitespace-separated fields per line.
    const FIELDS: usize;
    /// Builds an entry from exactly `FIELDS` fields; `None` if one does not parse.
    fn from_fields(fields: &[&str]) -> Option<Self>;
    /// Appends the line, without its line separator.
    fn write_line(&self, out: &mut String);
}

/// `topic partition offset`: the four offset checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetEntry {
    pub topic_partition: TopicPartition,
    pub offset: i64,
}

/// `epoch startOffset`: `leader-epoch-checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

impl CheckpointEntry for OffsetEntry {
    const FIELDS: usize = 3;

    fn from_fields(f: &[&str]) -> Option<Self> {
        if f[0].is_empty() {
            return None;
        }
        Some(OffsetEntry {
            topic_partition: TopicPartition::new(f[0], f[1].parse().ok()?),
            offset: f[2].parse().ok()?,
        })
    }

    fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        let tp = &self.topic_partition;
        let _ = write!(out, "{} {} {}", tp.topic, tp.partition, self.offset);
    }
}

impl CheckpointEntry for EpochEntry {
    const FIELDS: usize = 2;

    fn from_fields(f: &[&str]) -> Option<Self> {
        Some(EpochEntry {
            epoch: f[0].parse().ok()?,
            start_offset: f[1].parse().ok()?,
        })
    }

    fn write_line(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{} {}", self.epoch, self.start_offset);
    }
}

/// Most fields any entry type has, plus one so that "too many" is detected.
const FIELDS_MAX: usize = 4;

/// Splits like Java's `line.split("\\s+")`: runs of whitespace separate fields, a leading run
/// yields an empty first field, trailing runs yield nothing. Returns the field count (capped at
/// `FIELDS_MAX`).
fn split_fields<'a>(line: &'a str, out: &mut [&'a str; FIELDS_MAX]) -> usize {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let mut n = 0;
    if line.starts_with(is_ws) {
        out[0] = "";
        n = 1;
    }
    for tok in line.split(is_ws).filter(|t| !t.is_empty()) {
        if n == FIELDS_MAX {
            return n;
        }
        out[n] = tok;
        n += 1;
    }
    n
}

/// Splits lines like Java's `BufferedReader.readLine`: `\n`, `\r` or `\r\n` end a line; a final
/// line without a terminator still counts; a terminator at the very end adds no empty line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
        }
    })
}

/// Parses checkpoint text. `path` only names the file in errors. An empty input or a lone
/// version line means "no entries" (Kafka `CheckpointFile.read`).
pub fn parse<T: CheckpointEntry>(path: &Path, bytes: &[u8]) -> Result<Vec<T>> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| Error::parse(path, 0, format!("not UTF-8: {e}")))?;
    let mut it = lines(text).enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, version)) = it.next() else {
        return Ok(Vec::new());
    };
    match version.parse::<i32>() {
        Ok(CHECKPOINT_VERSION) => {}
        Ok(v) => return Err(Error::parse(path, 1, format!("unrecognised version {v}"))),
        Err(_) => {
            return Err(Error::parse(
                path,
                1,
                format!("malformed version line {version:?}"),
            ))
        }
    }
    let Some((_, count)) = it.next() else {
        return Ok(Vec::new());
    };
    let expected: usize = count
        .parse::<i32>()
        .ok()
        .and_then(|c| usize::try_from(c).ok())
        .ok_or_else(|| Error::parse(path, 2, format!("malformed entry count {count:?}")))?;
    // Never reserve from the count line: it is untrusted input.
    let mut entries = Vec::new();
    let mut fields = [""; FIELDS_MAX];
    for (line_no, line) in it {
        let n = split_fields(line, &mut fields);
        let entry = (n == T::FIELDS)
            .then(|| T::from_fields(&fields[..n]))
            .flatten()
            .ok_or_else(|| {
                Error::parse(
                    path,
                    line_no,
                    format!("malformed line {line:?}: expected {} fields", T::FIELDS),
                )
            })?;
        entries.push(entry);
    }
    if entries.len() != expected {
        return Err(Error::parse(
            path,
            2,
            format!("expected {expected} entries but found {}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Formats entries as Kafka writes them.
pub fn format<T: CheckpointEntry>(entries: &[T]) -> String {
    let mut out = String::with_capacity(8 + entries.len() * 32);
    out.push_str("0\n");
    out.push_str(&entries.len().to_string());
    out.push('\n');
    for e in entries {
        e.write_line(&mut out);
        out.push('\n');
    }
    out
}

/// Reads a checkpoint file; a missing file has no entries.
pub fn read<T: CheckpointEntry>(path: &Path) -> Result<Vec<T>> {
    match fs_util::read_small(path, CHECKPOINT_BYTES_MAX)? {
        None => Ok(Vec::new()),
        Some(bytes) => parse(path, &bytes),
    }
}

/// Atomically replaces a checkpoint file (tmp + fsync + rename + fsync dir).
pub fn write<T: CheckpointEntry>(path: &Path, entries: &[T]) -> Result<()> {
    fs_util::write_atomic(path, format(entries).as_bytes())
}

/// Creates an empty (0-byte) checkpoint file if none exists, as Kafka's `CheckpointFile`
/// constructor does (`Files.createFile`, no fsync: an empty or missing file reads as no
/// entries, so a crash loses nothing). When a partition directory is loaded; a directory
/// `PartitionLog::create` makes gets the file with its first entry instead.
pub fn ensure_exists(path: &Path) -> Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("/x/recovery-point-offset-checkpoint")
    }

    #[test]
    fn kafka_examples() {
        let text = "0\n3\norders 0 195\norders 1 88\n__consumer_offsets 12 4031\n";
        let e: Vec<OffsetEntry> = parse(p(), text.as_bytes()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[2].topic_partition,
            TopicPartition::new("__consumer_offsets", 12)
        );
        assert_eq!(e[2].offset, 4031);
        assert_eq!(format(&e), text);

        let e: Vec<EpochEntry> = parse(p(), b"0\n2\n0 0\n3 76\n").unwrap();
        assert_eq!(
            e,
            vec![
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 76
                }
            ]
        );
        assert_eq!(format(&e), "0\n2\n0 0\n3 76\n");
    }

    #[test]
    fn reader_rules() {
        // Empty file and lone version line: no entries.
        assert!(parse::<EpochEntry>(p(), b"").unwrap().is_empty());
        assert!(parse::<EpochEntry>(p(), b"0\n").unwrap().is_empty());
        // Tabs, multiple spaces and CRLF are accepted by Kafka's reader.
        let e: Vec<EpochEntry> = parse(p(), b"0\r\n1\r\n5 \t 9\r\n").unwrap();
        assert_eq!(
            e,
            vec![EpochEntry {
                epoch: 5,
                start_offset: 9
            }]
        );
        // Errors name file and line.
        let err = parse::<EpochEntry>(p(), b"1\n0\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("version 1"), "{err}");
        let err = parse::<EpochEntry>(p(), b"0\n2\n1 1\n2 x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("recovery-point-offset-checkpoint") && err.contains("line 4"),
            "{err}"
        );
        let err = parse::<EpochEntry>(p(), b"0\n2\n1 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected 2 entries"), "{err}");
        assert!(parse::<EpochEntry>(p(), b"0\n1\n1 1 1\n").is_err());
        assert!(parse::<EpochEntry>(p(), b"0\n1\n 1 1\n").is_err());
        assert!(parse::<EpochEntry>(p(), b"0\n-1\n").is_err());
        assert!(parse::<OffsetEntry>(p(), b"0\n1\nt 0\n").is_err());
        assert!(parse::<OffsetEntry>(p(), b"0\n1\n\n").is_err());
        assert!(parse::<OffsetEntry>(p(), b"0\n1\nt 0 1\n\n").is_err());
        assert!(parse::<OffsetEntry>(p(), b"\xff\n").is_err());
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        assert!(read::<EpochEntry>(&path).unwrap().is_empty());
        ensure_exists(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let entries = vec![EpochEntry {
            epoch: 1,
            start_offset: 10,
        }];
        write(&path, &entries).unwrap();
        assert_eq!(read::<EpochEntry>(&path).unwrap(), entries);
        assert!(!fs_util::with_suffix(&path, ".tmp").exists());
    }

    fn topic() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._-]{1,40}"
    }

    proptest! {
        #[test]
        fn offset_round_trip(v in proptest::collection::vec((topic(), any::<i32>(), any::<i64>()), 0..20)) {
            let entries: Vec<OffsetEntry> = v.into_iter()
                .map(|(t, p, o)| OffsetEntry { topic_partition: TopicPartition::new(t, p), offset: o })
                .collect();
            let text = format(&entries);
            prop_assert_eq!(parse::<OffsetEntry>(p(), text.as_bytes()).unwrap(), entries);
        }

        #[test]
        fn epoch_round_trip(v in proptest::collection::vec((any::<i32>(), any::<i64>()), 0..20)) {
            let entries: Vec<EpochEntry> = v.into_iter()
                .map(|(epoch, start_offset)| EpochEntry { epoch, start_offset })
                .collect();
            let text = format(&entries);
            prop_assert_eq!(parse::<EpochEntry>(p(), text.as_bytes()).unwrap(), entries);
        }

        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse::<OffsetEntry>(p(), &bytes);
            let _ = parse::<EpochEntry>(p(), &bytes);
        }

        #[test]
        fn hostile_text_never_panics(s in "[0-9 \n\r\t-]{0,60}") {
            let _ = parse::<OffsetEntry>(p(), s.as_bytes());
            let _ = parse::<EpochEntry>(p(), s.as_bytes());
        }
    }
}
