//! Fuzz target: arbitrary bytes as offset- and time-index entries and as whole `.index`
//! / `.timeindex` files (first 8 bytes: the base offset), looked up, checked and truncated.
//!
//! The body is `storage::fuzz::index`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/index/` on stable.
//! Copy any crash from `artifacts/index/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh scratch dir per input, under $TMPDIR (use a tmpfs: the target fsyncs).
    let scratch = tempfile::tempdir().expect("scratch dir");
    storage::fuzz::index(scratch.path(), data);
});
