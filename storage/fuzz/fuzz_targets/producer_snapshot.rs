//! Fuzz target: arbitrary bytes as a partition's producer-state `<offset>.snapshot` file.
//!
//! The body is `storage::fuzz::producer_snapshot`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/producer_snapshot/` on stable.
//! Copy any crash from `artifacts/producer_snapshot/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh scratch dir per input, under $TMPDIR (use a tmpfs: loading may delete and sync).
    let scratch = tempfile::tempdir().expect("scratch dir");
    storage::fuzz::producer_snapshot(scratch.path(), data);
});
