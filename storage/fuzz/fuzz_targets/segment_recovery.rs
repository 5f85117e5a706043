//! Fuzz target: arbitrary bytes as the only `.log` segment of a partition, opened
//! after an unclean shutdown (recovery must truncate, never panic), then read, appended to,
//! closed and reopened; then the same with every batch's CRC recomputed.
//!
//! The body is `storage::fuzz::segment_recovery`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/segment_recovery/` on stable.
//! Copy any crash from `artifacts/segment_recovery/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh scratch dir per input, under $TMPDIR (use a tmpfs: the target fsyncs).
    let scratch = tempfile::tempdir().expect("scratch dir");
    storage::fuzz::segment_recovery(scratch.path(), data);
});
