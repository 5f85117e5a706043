//! Fuzz target: arbitrary bytes as a KRaft metadata snapshot `<offset>-<epoch>.checkpoint`.
//!
//! The body is `storage::fuzz::metadata_snapshot`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/metadata_snapshot/` on stable.
//! Copy any crash from `artifacts/metadata_snapshot/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh scratch dir per input, under $TMPDIR (use a tmpfs: loading may delete and sync).
    let scratch = tempfile::tempdir().expect("scratch dir");
    storage::fuzz::metadata_snapshot(scratch.path(), data);
});
