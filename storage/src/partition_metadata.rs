//! `partition.metadata` (`docs/formats.md` §6): the topic id of a partition directory.
//!
//! Content is exactly `version: 0\ntopic_id: <Uuid>` with no trailing newline, written with
//! tmp + fsync + rename. Input: the file in a partition dir, possibly written by Apache Kafka.

use std::path::Path;

use protocol::Uuid;

use crate::error::{Error, Result};
use crate::fs_util;

/// File name inside a partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// Version Kafka 3.9 writes; readers accept any version ≥ 0.
pub const PARTITION_METADATA_VERSION: i32 = 0;
/// The real file is ~45 bytes; refuse anything far larger (`docs/architecture.md` §7.11).
const PARTITION_METADATA_BYTES_MAX: u64 = 4096;

/// Parsed `partition.metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub version: i32,
    pub topic_id: Uuid,
}

/// Splits `key: value` like Java's `line.split(":\\s+")`, requiring exactly two parts: one
/// `:` followed by whitespace, and a non-empty value after it.
fn value_of(line: &str) -> Option<&str> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let mut seps = line
        .match_indices(':')
        .filter(|(i, _)| line[i + 1..].starts_with(is_ws));
    let (i, _) = seps.next()?;
    if seps.next().is_some() {
        return None;
    }
    let value = line[i + 1..].trim_start_matches(is_ws);
    (!value.is_empty()).then_some(value)
}

/// Parses the file content. `path` only names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<PartitionMetadata> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| Error::parse(path, 0, format!("not UTF-8: {e}")))?;
    let mut lines = text.split(['\n', '\r']).filter(|l| !l.is_empty());
    let version_line = lines.next().unwrap_or("");
    let version: i32 = value_of(version_line)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::parse(path, 1, format!("malformed line {version_line:?}")))?;
    // Newer versions are accepted for downgrade compatibility, as Kafka does.
    if version < PARTITION_METADATA_VERSION {
        return Err(Error::parse(
            path,
            1,
            format!("unrecognised version {version}"),
        ));
    }
    let id_line = lines.next().unwrap_or("");
    let id = value_of(id_line)
        .ok_or_else(|| Error::parse(path, 2, format!("malformed line {id_line:?}")))?;
    let topic_id =
        Uuid::parse(id).ok_or_else(|| Error::parse(path, 2, format!("invalid topic id {id:?}")))?;
    if topic_id.is_zero() {
        return Err(Error::parse(path, 2, "topic id is the zero UUID"));
    }
    Ok(PartitionMetadata { version, topic_id })
}

/// The bytes Kafka writes for `topic_id`.
pub fn format(topic_id: Uuid) -> String {
    format!("version: {PARTITION_METADATA_VERSION}\ntopic_id: {topic_id}")
}

/// Reads `<dir>/partition.metadata`; `Ok(None)` if it does not exist.
pub fn read(dir: &Path) -> Result<Option<PartitionMetadata>> {
    let path = dir.join(PARTITION_METADATA_FILE);
    match fs_util::read_small(&path, PARTITION_METADATA_BYTES_MAX)? {
        None => Ok(None),
        Some(bytes) => parse(&path, &bytes).map(Some),
    }
}

/// Atomically writes `<dir>/partition.metadata`.
pub fn write(dir: &Path, topic_id: Uuid) -> Result<()> {
    fs_util::write_atomic(
        &dir.join(PARTITION_METADATA_FILE),
        format(topic_id).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("/d/t-0/partition.metadata")
    }

    #[test]
    fn kafka_format() {
        let id = Uuid::parse("H3KKO4NTRPaCWtEmm3vW7A").unwrap();
        let text = format(id);
        assert_eq!(text, "version: 0\ntopic_id: H3KKO4NTRPaCWtEmm3vW7A");
        let m = parse(p(), text.as_bytes()).unwrap();
        assert_eq!(
            m,
            PartitionMetadata {
                version: 0,
                topic_id: id
            }
        );
        // Newer version, trailing newline and extra spaces are accepted.
        let m = parse(p(), b"version: 3\ntopic_id:   H3KKO4NTRPaCWtEmm3vW7A\n").unwrap();
        assert_eq!(m.version, 3);
    }

    #[test]
    fn rejects() {
        for bad in [
            &b""[..],
            b"version: -1\ntopic_id: H3KKO4NTRPaCWtEmm3vW7A",
            b"version:0\ntopic_id: H3KKO4NTRPaCWtEmm3vW7A",
            b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA",
            b"version: 0\ntopic_id: short",
            b"version: 0\n",
            b"version: 0\ntopic_id: a: b",
        ] {
            let err = parse(p(), bad).unwrap_err().to_string();
            assert!(err.contains("partition.metadata"), "{err}");
        }
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let id = Uuid([7; 16]);
        write(dir.path(), id).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap().topic_id, id);
        let raw = std::fs::read(dir.path().join(PARTITION_METADATA_FILE)).unwrap();
        assert!(!raw.ends_with(b"\n"));
    }

    proptest! {
        #[test]
        fn round_trip(id in any::<[u8; 16]>()) {
            prop_assume!(id != [0; 16]);
            let text = format(Uuid(id));
            prop_assert_eq!(parse(p(), text.as_bytes()).unwrap().topic_id, Uuid(id));
        }

        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse(p(), &bytes);
        }

        #[test]
        fn hostile_text_never_panics(s in "[a-z_: \n\tA-Z0-9-]{0,60}") {
            let _ = parse(p(), s.as_bytes());
        }
    }
}
