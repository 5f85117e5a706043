//! Loading a partition directory's files (`docs/formats.md` §2.4 steps 1–3): leftover `.deleted`,
//! `.cleaned` and `.swap` files, orphan indexes, then one `Segment` per `.log`.
//!
//! Input: a partition directory, possibly written by Apache Kafka (including its log
//! cleaner's interrupted swaps). Recovery (step 4 on) is done by `PartitionLog::open`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::cleaner::{CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX};
use crate::error::{IoContext, Result};
use crate::fs_util;
use crate::segment::{
    HeaderScanner, Segment, SegmentConfig, DELETED_FILE_SUFFIX, INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX,
    TIME_INDEX_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX,
};

/// KRaft snapshots queued for deletion are handled by the metadata log, not here.
const KRAFT_SNAPSHOT_DELETED_SUFFIX: &str = ".checkpoint.deleted";

/// Kafka `offsetFromFile`: the decimal before the first `.`; `None` if there is none.
pub(crate) fn offset_from_file_name(name: &str) -> Option<i64> {
    let (digits, _) = name.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_index_file(name: &str) -> bool {
    [
        INDEX_FILE_SUFFIX,
        TIME_INDEX_FILE_SUFFIX,
        TXN_INDEX_FILE_SUFFIX,
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// Regular files of `dir`, by name (sorted, so loading is deterministic).
fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).ctx(dir)? {
        let entry = entry.ctx(dir)?;
        if !entry.file_type().ctx(&entry.path())?.is_file() {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) => out.push((name, entry.path())),
            Err(name) => warn!(dir = %dir.display(), ?name, "ignoring file with a non-UTF-8 name"),
        }
    }
    out.sort();
    Ok(out)
}

/// Offset after the last whole batch of a `.log.swap` file (its index is not trusted).
fn swap_next_offset(path: &Path, base_offset: i64) -> Result<i64> {
    let file = fs::File::open(path).ctx(path)?;
    let len = file.metadata().ctx(path)?.len();
    let mut scanner = HeaderScanner::new(&file, path, len);
    let (mut pos, mut next) = (0, base_offset);
    // A corrupt header ends the scan: the renamed segment is recovered later if needed.
    while let Ok(Some(b)) = scanner.at(pos) {
        next = b.last_offset() + 1;
        pos = b.end();
    }
    Ok(next)
}

/// Steps 1–2: delete `*.deleted`; drop `.swap` files of an unfinished split and all
/// `.cleaned` files; complete interrupted swaps by deleting the segments they replace and
/// renaming them into place.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<()> {
    let mut swaps = Vec::new();
    let mut cleaned = Vec::new();
    let mut min_cleaned = i64::MAX;
    for (name, path) in list_files(dir)? {
        if name.ends_with(DELETED_FILE_SUFFIX) && !name.ends_with(KRAFT_SNAPSHOT_DELETED_SUFFIX) {
            fs_util::remove_if_exists(&path)?;
        } else if name.ends_with(CLEANED_FILE_SUFFIX) {
            if let Some(o) = offset_from_file_name(&name) {
                min_cleaned = min_cleaned.min(o);
            }
            cleaned.push(path);
        } else if name.ends_with(SWAP_FILE_SUFFIX) {
            swaps.push((name, path));
        }
    }
    // KAFKA-6264: swaps at or above the smallest .cleaned offset belong to an unfinished split.
    swaps.retain(|(name, path)| {
        let invalid = offset_from_file_name(name).is_some_and(|o| o >= min_cleaned);
        if invalid {
            let _ = fs_util::remove_if_exists(path);
        }
        !invalid
    });
    for path in cleaned {
        fs_util::remove_if_exists(&path)?;
    }
    if swaps.is_empty() {
        return Ok(());
    }
    let (mut min_swap, mut max_swap) = (i64::MAX, i64::MIN);
    for (name, path) in &swaps {
        let is_log = name
            .strip_suffix(SWAP_FILE_SUFFIX)
            .is_some_and(|n| n.ends_with(LOG_FILE_SUFFIX));
        if let (true, Some(base)) = (is_log, offset_from_file_name(name)) {
            info!(file = %path.display(), "completing an interrupted swap by renaming");
            min_swap = min_swap.min(base);
            max_swap = max_swap.max(swap_next_offset(path, base)?);
        }
    }
    for (name, path) in list_files(dir)? {
        if name.ends_with(SWAP_FILE_SUFFIX) {
            continue;
        }
        if offset_from_file_name(&name).is_some_and(|o| o >= min_swap && o < max_swap) {
            info!(file = %path.display(), "deleting a segment file replaced by a swap");
            fs_util::remove_if_exists(&path)?;
        }
    }
    for (name, path) in list_files(dir)? {
        if let Some(target) = name.strip_suffix(SWAP_FILE_SUFFIX) {
            fs::rename(&path, dir.join(target)).ctx(&path)?;
        }
    }
    fs_util::sync_dir(dir)
}

/// Step 3: delete index files without a `.log`, open every segment (no recovery yet).
pub(crate) fn load_segment_files(
    dir: &Path,
    config: SegmentConfig,
    now_ms: i64,
) -> Result<BTreeMap<i64, Segment>> {
    let files = list_files(dir)?;
    let mut segments = BTreeMap::new();
    for (name, path) in &files {
        if is_index_file(name) {
            let has_log = offset_from_file_name(name).is_some_and(|o| {
                dir.join(crate::segment::segment_file_name(o, LOG_FILE_SUFFIX))
                    .exists()
            });
            if !has_log {
                warn!(file = %path.display(), "deleting orphaned index file with no log file");
                fs_util::remove_if_exists(path)?;
            }
        } else if name.ends_with(LOG_FILE_SUFFIX) {
            let Some(base) = offset_from_file_name(name) else {
                warn!(file = %path.display(), "ignoring .log file whose name is not an offset");
                continue;
            };
            if segments.contains_key(&base) {
                warn!(file = %path.display(), "ignoring second .log file for the same base offset");
                continue;
            }
            segments.insert(base, Segment::open(dir, base, config, now_ms)?);
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_from_names() {
        assert_eq!(offset_from_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(
            offset_from_file_name("00000000000000000042.log.swap"),
            Some(42)
        );
        assert_eq!(offset_from_file_name("partition.metadata"), None);
        assert_eq!(offset_from_file_name("leader-epoch-checkpoint"), None);
        assert_eq!(offset_from_file_name("-1.log"), None);
        assert_eq!(offset_from_file_name("99999999999999999999.log"), None);
    }
}
