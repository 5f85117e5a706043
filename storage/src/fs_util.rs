//! Small file-system helpers: Kafka's atomic rewrite (tmp + fsync + rename + fsync dir), and
//! removes and renames that take a missing file as done.
//!
//! Callers are the checkpoint, `partition.metadata` and clean-shutdown writers, and segment
//! deletion.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// `path` with `suffix` appended to its file name (`foo` → `foo.tmp`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `bytes` to `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the parent
/// directory, as Kafka's `CheckpointFile.write` + `Utils.atomicMoveWithFallback` do. A crash
/// leaves either the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .ctx(&tmp)?;
        f.write_all(bytes).ctx(&tmp)?;
        f.sync_all().ctx(&tmp)?;
    }
    fs::rename(&tmp, path).ctx(path)?;
    sync_parent(path)
}

/// Fsyncs the directory holding `path`, so a create, rename or unlink in it is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// Fsyncs a directory.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).ctx(dir)?.sync_all().ctx(dir)
}

/// `path`'s file name in `dir`: where a file of a renamed partition directory now is.
pub(crate) fn moved_to(path: &Path, dir: &Path) -> PathBuf {
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir.to_path_buf(),
    }
}

/// Reads a whole small text/binary file, refusing files above `max_bytes` (`docs/architecture.md`
/// §7.11). `Ok(None)` if the file does not exist.
pub(crate) fn read_small(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut buf = Vec::new();
    f.take(max_bytes + 1).read_to_end(&mut buf).ctx(path)?;
    if buf.len() as u64 > max_bytes {
        return Err(crate::Error::parse(
            path,
            0,
            format!("file is larger than the {max_bytes}-byte limit"),
        ));
    }
    Ok(Some(buf))
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::Error::io(path, e)),
    }
}

/// Renames a file, treating "not there" as success; returns whether it was renamed.
pub(crate) fn rename_if_exists(from: &Path, to: &Path) -> Result<bool> {
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(crate::Error::io(from, e)),
    }
}
