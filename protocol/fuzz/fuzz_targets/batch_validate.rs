//! Fuzz target: arbitrary bytes through record-batch framing, client validation, record and
//! header iteration, in-place patching and every decompressor.
//!
//! The body is `protocol::records::fuzz_entry`, shared with
//! `protocol/tests/records_fuzz_corpus.rs`, which replays `corpus/batch_validate/` on stable.
//! Copy any crash from `artifacts/batch_validate/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::records::fuzz_entry(data));
