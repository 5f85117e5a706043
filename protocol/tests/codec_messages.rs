//! Round trips and hostile input for every generated message at every version.
//!
//! Seeded: a failure prints the message, version and seed; `SEED=n cargo test -p protocol
//! --test codec_messages` replays one seed.

use bytes::{Bytes, BytesMut};
use protocol::messages::*;
use protocol::sample::SampleRng;
use protocol::send_builder::SendBuilder;

fn seeds() -> Vec<u64> {
    match std::env::var("SEED") {
        Ok(s) => vec![s.parse().expect("SEED must be a number")],
        Err(_) => (0..24).collect(),
    }
}

fn round_trip<M: Message>() {
    for version in M::VERSIONS.0..=M::VERSIONS.1 {
        for seed in seeds() {
            let mut rng = SampleRng::new(seed ^ (u64::from(version as u16) << 32));
            let msg = M::sample(&mut rng, M::is_flexible(version), version);
            let mut buf = BytesMut::new();
            msg.encode(&mut buf, version);
            assert_eq!(
                buf.len(),
                msg.encoded_size(version),
                "{} v{version} seed {seed}: size",
                M::NAME
            );
            // Sharing every non-empty `bytes` value leaves the encoding unchanged.
            let mut parts = SendBuilder::new(1, 0);
            msg.encode(&mut parts, version);
            assert_eq!(
                parts.into_parts().concat(),
                buf.to_vec(),
                "{} v{version} seed {seed}: parts",
                M::NAME
            );
            let mut bytes = buf.freeze();
            let whole = bytes.clone();
            let back = M::decode(&mut bytes, version)
                .unwrap_or_else(|e| panic!("{} v{version} seed {seed}: {e}", M::NAME));
            assert_eq!(back, msg, "{} v{version} seed {seed}: round trip", M::NAME);
            assert!(
                bytes.is_empty(),
                "{} v{version} seed {seed}: trailing bytes",
                M::NAME
            );
            // Every strict prefix must fail cleanly (or decode a shorter valid message), never panic.
            for cut in 0..whole.len() {
                let mut prefix = whole.slice(..cut);
                let _ = M::decode(&mut prefix, version);
            }
        }
    }
}

#[test]
fn every_message_round_trips_at_every_version() {
    macro_rules! check {
        ($t:ident) => {
            round_trip::<$t>();
        };
    }
    protocol::for_each_message!(check);
}

fn hostile<M: Message>() {
    // Counts of i32::MAX, the largest varint and negative lengths, at every offset of a valid
    // encoding: every decode must fail or succeed without panicking.
    let patterns: [&[u8]; 5] = [
        &[0x7f, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0x80, 0x00, 0x00, 0x00],
        &[0xff, 0xfe],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for version in M::VERSIONS.0..=M::VERSIONS.1 {
        let mut rng = SampleRng::new(7);
        let msg = M::sample(&mut rng, M::is_flexible(version), version);
        let mut buf = BytesMut::new();
        msg.encode(&mut buf, version);
        for at in 0..buf.len() {
            for p in patterns {
                let mut b = buf.clone();
                for (i, byte) in p.iter().enumerate() {
                    if at + i < b.len() {
                        b[at + i] = *byte;
                    }
                }
                let mut bytes = b.freeze();
                let _ = M::decode(&mut bytes, version);
            }
        }
    }
}

#[test]
fn hostile_lengths_never_panic() {
    macro_rules! check {
        ($t:ident) => {
            hostile::<$t>();
        };
    }
    protocol::for_each_message!(check);
}

#[test]
fn huge_array_count_is_an_error_naming_the_field() {
    // Metadata v1: topics array with count 0x7ffffff0 and nothing after it.
    let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xf0]);
    let err = MetadataRequest::decode(&mut b, 1).unwrap_err();
    assert_eq!(err.message, "MetadataRequest");
    assert_eq!(err.field, "Topics");
    assert!(err.to_string().contains("exceeds"), "{err}");
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    // ApiVersionsRequest v3: two strings, then a tagged section with one unknown tag 9.
    let mut b = Bytes::from_static(&[2, b'k', 2, b'1', 1, 9, 2, 0xaa, 0xbb]);
    let req = ApiVersionsRequest::decode(&mut b, 3).unwrap();
    assert_eq!(req.client_software_name, "k");
    assert!(b.is_empty());
}

#[test]
fn default_tagged_fields_are_not_encoded() {
    let resp = ApiVersionsResponse::default();
    let mut buf = BytesMut::new();
    resp.encode(&mut buf, 3);
    // error_code(2) + compact empty array(1) + throttle(4) + empty tagged section(1)
    assert_eq!(&buf[..], &[0, 0, 1, 0, 0, 0, 0, 0]);
}
