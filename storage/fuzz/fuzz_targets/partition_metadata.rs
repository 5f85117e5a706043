//! Fuzz target: arbitrary bytes as a partition's `partition.metadata`, formatted
//! back and re-parsed.
//!
//! The body is `storage::fuzz::partition_metadata`, shared with
//! `storage/tests/fuzz_corpus.rs`, which replays `corpus/partition_metadata/` on stable.
//! Copy any crash from `artifacts/partition_metadata/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| storage::fuzz::partition_metadata(data));
