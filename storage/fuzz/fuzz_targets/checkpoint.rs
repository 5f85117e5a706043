//! Fuzz target: arbitrary bytes as the text checkpoint files (offset and leader-epoch
//! entries), formatted back and re-parsed, and as a leader-epoch-checkpoint loaded into the
//! epoch cache.
//!
//! The body is `storage::fuzz::checkpoint`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/checkpoint/` on stable.
//! Copy any crash from `artifacts/checkpoint/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A fresh scratch dir per input, under $TMPDIR (use a tmpfs: the target fsyncs).
    let scratch = tempfile::tempdir().expect("scratch dir");
    storage::fuzz::checkpoint(scratch.path(), data);
});
