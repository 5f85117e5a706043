//! Fuzz target: arbitrary bytes as a request frame body (after the 4-byte size) through the
//! request header, every request body decoder, and the re-encode round trip of the main
//! request types.
//!
//! The body is `protocol::request_fuzz::fuzz_request`, shared with
//! `protocol/tests/request_fuzz_corpus.rs`, which replays `corpus/request_decode/` on stable.
//! Copy any crash from `artifacts/request_decode/` into the corpus once fixed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::request_fuzz::fuzz_request(data));
