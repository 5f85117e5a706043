//! Fuzz target: arbitrary bytes as a log dir's `.kafka_cleanshutdown` marker.
//!
//! The body is `storage::fuzz::clean_shutdown`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/clean_shutdown/` on stable.
//! Copy any crash from `artifacts/clean_shutdown/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| storage::fuzz::clean_shutdown(data));
