//! The exclusive lock on a data directory: an `flock` on `<dir>/.lock`, held for the life of
//! the process, as Kafka's `LogManager` and `KafkaRaftManager` hold theirs, so that two
//! processes never read and write the same logs.
//!
//! The holder writes its process id into the file as text, so that a second process can name
//! it. Kafka leaves the file empty; an empty or unreadable file only means the holder is not
//! named. A process that fails to take the lock changes nothing: it opens the file without
//! truncating it and writes only once it holds the lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// The lock file's name in each directory (Kafka `LogManager.LockFileName`).
pub const LOCK_FILE_NAME: &str = ".lock";

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    /// Another process holds the lock: it is using the directory.
    #[error(
        "cannot lock {}: it is in use by {}. Only one kraftbridge (or Kafka) process may use \
         a data directory; stop that process or give this one other directories",
        dir.display(),
        holder.map_or_else(|| "another process".to_string(), |pid| format!("process {pid}"))
    )]
    Held {
        dir: PathBuf,
        /// The holder's process id, when its lock file names one.
        holder: Option<u32>,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A held directory lock; released when dropped (the file is closed) or the process exits.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the exclusive lock on `dir`, which must exist, without waiting, and records this
    /// process's id in the lock file.
    pub fn acquire(dir: &Path) -> Result<DirLock, DirLockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io_error = |source| DirLockError::Io {
            path: path.clone(),
            source,
        };
        // No truncation here: the holder's pid stays readable when the lock is taken.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(DirLockError::Held {
                    dir: dir.to_path_buf(),
                    holder: read_holder(&file),
                });
            }
            Err(e) => return Err(io_error(e.into())),
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io_error)?;
        Ok(DirLock { _file: file })
    }
}

/// The process id a lock file names, if it holds one (Kafka's holds nothing).
fn read_holder(file: &File) -> Option<u32> {
    let mut text = String::new();
    Read::take(file, 64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let lock_file = dir.path().join(LOCK_FILE_NAME);
        let pid_text = std::fs::read(&lock_file).unwrap();
        assert_eq!(pid_text, format!("{}\n", std::process::id()).into_bytes());

        // flock locks belong to an open file: a second open, even in this process, conflicts.
        let err = DirLock::acquire(dir.path()).unwrap_err();
        match &err {
            DirLockError::Held { dir: d, holder } => {
                assert_eq!(d, dir.path());
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
        assert_eq!(
            std::fs::read(&lock_file).unwrap(),
            pid_text,
            "the refused process left the holder's pid in place"
        );

        drop(first);
        let again = DirLock::acquire(dir.path()).expect("free once the holder is gone");
        drop(again);
    }

    #[test]
    fn a_kafka_lock_file_is_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let lock_file = dir.path().join(LOCK_FILE_NAME);
        // Kafka's .lock is empty; a stale one from an earlier holder is just taken over.
        std::fs::write(&lock_file, b"").unwrap();
        let holder = File::open(&lock_file).unwrap();
        flock(&holder, FlockOperation::NonBlockingLockExclusive).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(err, DirLockError::Held { holder: None, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        assert_eq!(std::fs::read(&lock_file).unwrap(), b"");

        drop(holder);
        std::fs::write(
            &lock_file,
            b"not a pid, longer than the stale text it replaces",
        )
        .unwrap();
        let _lock = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&lock_file).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let err = DirLock::acquire(&missing).unwrap_err();
        assert!(matches!(err, DirLockError::Io { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&missing.join(LOCK_FILE_NAME).display().to_string()),
            "{err}"
        );
    }
}
