//! Fuzz target: arbitrary bytes as `meta.properties` and as Java properties text,
//! written back and re-parsed.
//!
//! The body is `storage::fuzz::meta_properties`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/meta_properties/` on stable.
//! Copy any crash from `artifacts/meta_properties/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| storage::fuzz::meta_properties(data));
