//! The disk ceilings of `perf suite`: sustained write bytes/s with fdatasync, write bytes/s
//! into the page cache, and the latency of one small append + fdatasync (what a metadata
//! commit costs at least).
//!
//! The sustained write ceiling writes one file in fixed chunks and calls fdatasync every
//! [`SYNC_EVERY_BYTES`] and at the end, so the page cache cannot absorb the run: the clock
//! stops after the last fdatasync returned. The page-cache ceiling writes one file in
//! [`PAGE_CACHE_CHUNK_BYTES`] writes (the size of a producer's default batch, so of one
//! broker append) without any fsync: what appending to one partition's log costs at most,
//! since buffered writes to one file are serialised by the kernel. The disk is shared, so every run is capped in
//! bytes ([`DISK_BYTES_MAX`]) and time, checks the free space first and refuses when less than
//! twice the run plus [`FREE_BYTES_RESERVE`] is free, and deletes its files at the end (also
//! on error, by a drop guard). Plain threads and std::fs: this measures the kernel and the
//! device, not our runtime.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::report::{per_sec, Histogram, Json, LatencySummary, MB};

/// Default bytes written by the write ceiling.
pub(super) const DISK_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// The hard cap on one write-ceiling run, whatever the flag says.
pub(super) const DISK_BYTES_MAX: u64 = 16 * 1024 * 1024 * 1024;
/// Free space left untouched on top of twice the run.
const FREE_BYTES_RESERVE: u64 = 2 * 1024 * 1024 * 1024;
/// Bytes per write() call of the sustained ceiling.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes per write() call of the page-cache ceiling: Kafka's default `batch.size`.
const PAGE_CACHE_CHUNK_BYTES: usize = 16 * 1024;
/// Bytes between two fdatasyncs: a log segment flush's order of magnitude.
const SYNC_EVERY_BYTES: u64 = 64 * 1024 * 1024;
/// Longest write-ceiling run.
const WRITE_TIME_MAX: Duration = Duration::from_secs(60);
/// Bytes appended before each timed fdatasync (a small metadata batch).
const SYNC_SAMPLE_BYTES: usize = 4096;

/// How a write ceiling writes: to the disk (fdatasync every [`SYNC_EVERY_BYTES`]) or into
/// the page cache only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteMode {
    Synced,
    PageCache,
}

impl WriteMode {
    fn chunk_bytes(self) -> usize {
        match self {
            WriteMode::Synced => CHUNK_BYTES,
            WriteMode::PageCache => PAGE_CACHE_CHUNK_BYTES,
        }
    }
}

/// Write throughput of one file, with fdatasync or into the page cache.
#[derive(Debug, Clone, Copy)]
pub(super) struct DiskWrite {
    pub(super) mode: WriteMode,
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
}

impl DiskWrite {
    pub(super) fn bytes_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64, self.elapsed)
    }

    pub(super) fn line(&self) -> String {
        let how = match self.mode {
            WriteMode::Synced => format!(
                "disk write ceiling: {} bytes in {:.3} s with fdatasync every {} MiB",
                self.bytes,
                self.elapsed.as_secs_f64(),
                SYNC_EVERY_BYTES / (1024 * 1024)
            ),
            WriteMode::PageCache => format!(
                "page-cache write ceiling: {} bytes in {:.3} s in {} KiB writes to one file, \
                 no fsync",
                self.bytes,
                self.elapsed.as_secs_f64(),
                PAGE_CACHE_CHUNK_BYTES / 1024
            ),
        };
        format!("{how}, {:.2} MB/sec", self.bytes_per_sec() / MB)
    }

    pub(super) fn to_json(self) -> String {
        let mut j = Json::new();
        j.u64("bytes", self.bytes);
        j.u64("write_bytes", self.mode.chunk_bytes() as u64);
        j.bool("fdatasync", self.mode == WriteMode::Synced);
        j.f64("elapsed_s", self.elapsed.as_secs_f64());
        j.f64("bytes_per_sec", self.bytes_per_sec());
        j.f64("mb_per_sec", self.bytes_per_sec() / MB);
        j.finish()
    }
}

/// Latency of append + fdatasync.
#[derive(Debug, Clone)]
pub(super) struct SyncLatency {
    pub(super) samples: u64,
    pub(super) latency: LatencySummary,
}

impl SyncLatency {
    pub(super) fn line(&self) -> String {
        format!(
            "fsync latency: {} appends of {SYNC_SAMPLE_BYTES} bytes + fdatasync, {:.3} ms 50th, \
             {:.3} ms 99th, {:.3} ms max",
            self.samples, self.latency.p50, self.latency.p99, self.latency.max
        )
    }

    pub(super) fn to_json(&self) -> String {
        let mut j = Json::new();
        j.u64("samples", self.samples);
        j.u64("append_bytes", SYNC_SAMPLE_BYTES as u64);
        j.raw("latency_ms", &self.latency.to_json());
        j.finish()
    }
}

/// A file that is removed when dropped, whatever happened.
#[derive(Debug)]
struct ScratchFile {
    path: PathBuf,
    file: File,
}

impl ScratchFile {
    fn create(dir: &Path, name: &str) -> Result<ScratchFile> {
        let path = dir.join(format!("{name}-{}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchFile { path, file })
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bytes free for an unprivileged writer in the file system holding `dir` (`df -Pk`, POSIX
/// output: the fourth column of the second line is the available space in KiB).
pub(super) fn free_bytes(dir: &Path) -> Result<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .with_context(|| format!("running df -Pk {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "df -Pk {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let available = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    match available {
        Some(kib) => Ok(kib.saturating_mul(1024)),
        None => bail!(
            "cannot read the free space of {} from df: {text}",
            dir.display()
        ),
    }
}

/// Refuses a disk-ceiling run of `bytes` beyond [`DISK_BYTES_MAX`], or unless twice that plus
/// the reserve is free in `dir`.
pub(super) fn check_room(dir: &Path, bytes: u64) -> Result<()> {
    if bytes == 0 || bytes > DISK_BYTES_MAX {
        bail!("--disk-bytes {bytes}: expected 1 to {DISK_BYTES_MAX} (the disk is shared)");
    }
    check_free(dir, bytes)
}

/// Refuses to write `bytes` into `dir` unless twice that plus the reserve is free.
pub(super) fn check_free(dir: &Path, bytes: u64) -> Result<()> {
    let free = free_bytes(dir)?;
    let needed = bytes.saturating_mul(2).saturating_add(FREE_BYTES_RESERVE);
    if free < needed {
        bail!(
            "{} has {:.1} GiB free; a {:.1} GiB disk run needs {:.1} GiB (twice the run plus a \
             {} GiB reserve): lower --disk-bytes or free some space",
            dir.display(),
            free as f64 / 1024.0 / MB,
            bytes as f64 / 1024.0 / MB,
            needed as f64 / 1024.0 / MB,
            FREE_BYTES_RESERVE / (1024 * 1024 * 1024)
        );
    }
    Ok(())
}

/// Writes `bytes` (within [`WRITE_TIME_MAX`]) to a scratch file in `dir`, in `mode`: with
/// fdatasync every [`SYNC_EVERY_BYTES`] and at the end, or into the page cache only (keep
/// those runs below the dirty-page limits, or the kernel throttles them to the disk). The
/// file is deleted afterwards (dirty pages of a deleted file are dropped, never written).
pub(super) fn measure_write(dir: &Path, bytes: u64, mode: WriteMode) -> Result<DiskWrite> {
    check_room(dir, bytes)?;
    let mut scratch = ScratchFile::create(dir, "perf-disk-write")?;
    // Non-zero bytes, so no file system can store the run as holes.
    let chunk = vec![0xa5_u8; mode.chunk_bytes()];
    let start = Instant::now();
    let mut written: u64 = 0;
    let mut unsynced: u64 = 0;
    while written < bytes && start.elapsed() < WRITE_TIME_MAX {
        let n = (bytes - written).min(chunk.len() as u64) as usize;
        scratch
            .file
            .write_all(&chunk[..n])
            .with_context(|| format!("writing {}", scratch.path.display()))?;
        written += n as u64;
        unsynced += n as u64;
        if mode == WriteMode::Synced && unsynced >= SYNC_EVERY_BYTES {
            sync(&scratch)?;
            unsynced = 0;
        }
    }
    if mode == WriteMode::Synced {
        sync(&scratch)?;
    }
    Ok(DiskWrite {
        mode,
        bytes: written,
        elapsed: start.elapsed(),
    })
}

/// Times `samples` appends of [`SYNC_SAMPLE_BYTES`] each followed by fdatasync, in a scratch
/// file in `dir` that is deleted afterwards.
pub(super) fn measure_sync_latency(dir: &Path, samples: u64) -> Result<SyncLatency> {
    check_room(dir, samples.max(1) * SYNC_SAMPLE_BYTES as u64)?;
    let mut scratch = ScratchFile::create(dir, "perf-fsync")?;
    let block = vec![0x5a_u8; SYNC_SAMPLE_BYTES];
    let mut histogram = Histogram::default();
    for _ in 0..samples {
        let at = Instant::now();
        scratch
            .file
            .write_all(&block)
            .with_context(|| format!("writing {}", scratch.path.display()))?;
        sync(&scratch)?;
        histogram.record(at.elapsed().as_micros() as u64);
    }
    Ok(SyncLatency {
        samples,
        latency: histogram.summary_ms(),
    })
}

fn sync(scratch: &ScratchFile) -> Result<()> {
    scratch
        .file
        .sync_data()
        .with_context(|| format!("fdatasync of {}", scratch.path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_measure_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [WriteMode::Synced, WriteMode::PageCache] {
            let w = measure_write(dir.path(), 3 * 1024 * 1024 + 5, mode).unwrap();
            assert_eq!(w.bytes, 3 * 1024 * 1024 + 5);
            assert!(w.bytes_per_sec() > 0.0);
            assert!(w.line().contains(match mode {
                WriteMode::Synced => "fdatasync every 64 MiB",
                WriteMode::PageCache => "16 KiB writes",
            }));
        }
        let s = measure_sync_latency(dir.path(), 5).unwrap();
        assert_eq!(s.samples, 5);
        assert!(s.latency.max > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refuses_unbounded_or_oversized_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_room(dir.path(), 0).is_err());
        assert!(check_room(dir.path(), DISK_BYTES_MAX + 1).is_err());
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        if free / 2 <= DISK_BYTES_MAX {
            let e = check_room(dir.path(), free / 2).unwrap_err().to_string();
            assert!(e.contains("free"), "{e}");
        }
    }
}
