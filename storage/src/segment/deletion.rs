//! Segment files queued for deletion: renamed to `*.deleted` under the log's lock, unlinked
//! after it is released (Kafka `LocalLog.deleteSegmentFiles` renames under the lock and
//! deletes on its scheduler, `file.delete.delay.ms` later). Unlinking a large `.log` frees
//! its blocks, which can take long enough to stall the appends waiting on that lock.
//!
//! Input: the renamed paths. A crash before the unlink leaves `*.deleted` files, which the
//! next load removes (`docs/formats.md` §2.4 step 1).

use std::path::PathBuf;

use crate::error::Result;
use crate::fs_util;

/// Files renamed to `*.deleted`, of `segments` segments, still to unlink.
#[derive(Debug, Default)]
#[must_use = "renamed segment files stay on disk until removed"]
pub struct DeletedFiles {
    segments: usize,
    paths: Vec<PathBuf>,
}

impl DeletedFiles {
    pub(crate) fn of_segment(paths: Vec<PathBuf>) -> Self {
        Self { segments: 1, paths }
    }

    pub(crate) fn extend(&mut self, other: DeletedFiles) {
        self.segments += other.segments;
        self.paths.extend(other.paths);
    }

    /// How many segments the files belong to.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Unlinks the files (blocking; needs no lock). One already gone is fine.
    pub fn remove(self) -> Result<()> {
        for path in self.paths {
            fs_util::remove_if_exists(&path)?;
        }
        Ok(())
    }
}
