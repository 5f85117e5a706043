//! `.kafka_cleanshutdown` (`docs/formats.md` §4): the marker a log dir gets after all its logs were
//! flushed and closed.
//!
//! Kafka 3.7+ writes one line of compact JSON without a newline, `{"version":0,"brokerEpoch":42}`
//! (`-1` in ZooKeeper mode); ≤ 3.6 wrote an empty file. Any existing file means "clean". The
//! marker is deleted at start-up before logs load. Input: the file at a log dir's root.

use std::path::Path;

use crate::error::Result;
use crate::fs_util;

/// File name at the root of a log dir.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const CLEAN_SHUTDOWN_BYTES_MAX: u64 = 4096;

/// What the marker said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanShutdown {
    /// The broker epoch written at shutdown (KIP-966 `PreviousBrokerEpoch`); `None` for the
    /// empty file of Kafka ≤ 3.6 or content we could not parse.
    pub broker_epoch: Option<i64>,
}

/// The marker's content for `broker_epoch`.
pub fn format(broker_epoch: i64) -> String {
    format!("{{\"version\":0,\"brokerEpoch\":{broker_epoch}}}")
}

/// Extracts `brokerEpoch` from the JSON by name (key order is not relied on). Lenient: any
/// oddity yields `None`, as the marker's existence alone is what matters for recovery.
pub fn parse_broker_epoch(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let key = "\"brokerEpoch\"";
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// Reads the marker of `log_dir`; `None` if absent (the last shutdown was not clean).
pub fn read(log_dir: &Path) -> Result<Option<CleanShutdown>> {
    let path = log_dir.join(CLEAN_SHUTDOWN_FILE);
    Ok(fs_util::read_small(&path, CLEAN_SHUTDOWN_BYTES_MAX)
        .or_else(|e| match e {
            // An oversized marker still means "clean".
            crate::Error::Parse { .. } => Ok(Some(Vec::new())),
            e => Err(e),
        })?
        .map(|bytes| CleanShutdown {
            broker_epoch: parse_broker_epoch(&bytes),
        }))
}

/// Writes the marker durably (call only after every log of the dir is flushed and closed).
pub fn write(log_dir: &Path, broker_epoch: i64) -> Result<()> {
    fs_util::write_atomic(
        &log_dir.join(CLEAN_SHUTDOWN_FILE),
        format(broker_epoch).as_bytes(),
    )
}

/// Deletes the marker (at start-up, before logs load) and fsyncs the dir.
pub fn remove(log_dir: &Path) -> Result<()> {
    let path = log_dir.join(CLEAN_SHUTDOWN_FILE);
    if fs_util::remove_if_exists(&path)? {
        fs_util::sync_dir(log_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        assert_eq!(format(42), r#"{"version":0,"brokerEpoch":42}"#);
        assert_eq!(parse_broker_epoch(format(-1).as_bytes()), Some(-1));
        assert_eq!(
            parse_broker_epoch(br#"{"brokerEpoch" : 7, "version":0}"#),
            Some(7)
        );
        assert_eq!(parse_broker_epoch(b""), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), 9).unwrap();
        assert_eq!(
            read(dir.path()).unwrap(),
            Some(CleanShutdown {
                broker_epoch: Some(9)
            })
        );
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
        assert_eq!(
            read(dir.path()).unwrap(),
            Some(CleanShutdown { broker_epoch: None })
        );
        remove(dir.path()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_broker_epoch(&bytes);
        }
    }
}
