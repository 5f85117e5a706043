//! The fsyncs that make a segment durable, as handles of their own: `log::flush` collects them
//! under the log's lock and runs them after releasing it, so an fsync of a whole segment never
//! holds up an append or a fetch (Kafka `LocalLog.flush` runs outside `UnifiedLog`'s lock).
//!
//! Input: the segment's open `.log` and its index files.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{IoContext, Result};

/// Which file of a segment a [`SyncTarget`] fsyncs; an index carries the version of its
/// content the fsync covers (`IndexFile::mark_synced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentFile {
    Log,
    OffsetIndex(u64),
    TimeIndex(u64),
}

/// One fsync to run. The handle is the target's own (the `.log`'s shared descriptor, or a
/// duplicate of an index's), so it stays valid whatever happens to the segment meanwhile: a
/// segment deleted before the fsync runs is fsynced harmlessly, as an unlinked file.
#[derive(Debug)]
pub(crate) struct SyncTarget {
    pub(crate) segment: i64,
    pub(crate) file: SegmentFile,
    path: PathBuf,
    handle: Arc<File>,
}

impl SyncTarget {
    pub(crate) fn new(segment: i64, file: SegmentFile, path: PathBuf, handle: Arc<File>) -> Self {
        Self {
            segment,
            file,
            path,
            handle,
        }
    }

    /// Fsyncs the file's data (and the metadata needed to read it back, as its length).
    pub(crate) fn sync(&self) -> Result<()> {
        self.handle.sync_data().ctx(&self.path)
    }
}
