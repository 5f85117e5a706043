//! Property test: a response encoded as parts (`encode_response_parts`, large `records` shared,
//! not copied) concatenates to the plain encoding byte for byte, at every Fetch response
//! version (compact and int32 length prefixes), for null, empty, small and large records,
//! whatever the threshold.
//!
//! A failure prints the minimal failing input and is saved under `proptest-regressions/`;
//! `PROPTEST_RNG_SEED=n cargo test -p protocol --test codec_send_builder` replays a seed.

use bytes::Bytes;
use proptest::prelude::*;
use protocol::header::{encode_response, encode_response_parts};
use protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::messages::{ApiKey, FetchResponse, Message};
use protocol::Uuid;

fn records() -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        Just(None),
        Just(Some(Bytes::new())),
        prop::collection::vec(any::<u8>(), 1..300).prop_map(|v| Some(Bytes::from(v))),
    ]
}

/// A response of `version` whose topics hold partitions with these records.
fn response(version: i16, topics: Vec<Vec<Option<Bytes>>>) -> FetchResponse {
    FetchResponse {
        session_id: if version >= 7 { 3 } else { 0 },
        responses: topics
            .into_iter()
            .enumerate()
            .map(|(t, partitions)| FetchableTopicResponse {
                topic: if version <= 12 {
                    format!("topic-{t}")
                } else {
                    String::new()
                },
                topic_id: if version >= 13 {
                    Uuid([t as u8; 16])
                } else {
                    Uuid::ZERO
                },
                partitions: partitions
                    .into_iter()
                    .enumerate()
                    .map(|(p, records)| PartitionData {
                        partition_index: p as i32,
                        high_watermark: 100,
                        records,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn parts_concatenate_to_the_plain_encoding(
        version in FetchResponse::VERSIONS.0..=FetchResponse::VERSIONS.1,
        topics in prop::collection::vec(prop::collection::vec(records(), 0..12), 0..4),
        shared_min in 0usize..320,
    ) {
        let response = response(version, topics);
        let plain = encode_response(ApiKey::Fetch, version, 7, &response);
        let parts = encode_response_parts(ApiKey::Fetch, version, 7, &response, shared_min);
        prop_assert_eq!(parts.concat(), plain.to_vec());
        prop_assert!(parts.iter().all(|p| !p.is_empty()));
        // Exactly the non-empty records at or above the threshold are parts of their own.
        let shared = response
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records.as_ref())
            .filter(|r| !r.is_empty() && r.len() >= shared_min)
            .map(|r| r.as_ptr())
            .collect::<Vec<_>>();
        let records_parts = parts
            .iter()
            .map(|p| p.as_ptr())
            .filter(|p| shared.contains(p))
            .collect::<Vec<_>>();
        prop_assert_eq!(records_parts, shared);
    }
}
