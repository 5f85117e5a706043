//! One entry point that drives the broker's request decode path on untrusted bytes, for
//! fuzzing (`docs/architecture.md` §7.9).
//!
//! `protocol/fuzz/fuzz_targets/request_decode.rs` runs it under libFuzzer, and
//! `protocol/tests/request_fuzz_corpus.rs` replays the committed corpus
//! (`protocol/fuzz/corpus/request_decode/`) through it as an ordinary test on stable, so a
//! crash found once stays fixed. It lives in the library, not the fuzz crate, so both callers
//! run exactly the same code.

use bytes::{Bytes, BytesMut};

use crate::header::{request_header_version, RequestHeader};
use crate::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, Message,
    MetadataRequest, ProduceRequest, RequestBody,
};

/// Feeds `data`, a request frame without its 4-byte size prefix, through what the broker does
/// with a frame: [`RequestHeader::decode`], then, for a known API at a version the codec has
/// a schema for, [`RequestBody::decode`].
///
/// Returns normally for any input: decode errors are the expected outcome for most of it.
/// Panics only when an invariant of the codec breaks, which is what the fuzzer looks for:
/// - a decoded header re-encodes (at its header version) and decodes to the same header;
/// - for Produce, Fetch, Metadata, ApiVersions, CreateTopics and ListOffsets, a decoded body
///   re-encodes to `encoded_size` bytes, decodes back to an equal value with nothing left
///   over, and re-encoding that gives the same bytes.
pub fn fuzz_request(data: &[u8]) {
    let mut buf = Bytes::copy_from_slice(data);
    let Ok(header) = RequestHeader::decode(&mut buf) else {
        return;
    };
    let Some(api) = ApiKey::from_i16(header.api_key) else {
        return;
    };
    let version = header.api_version;
    check_header(api, &header);

    let (min, max) = api.schema_versions();
    if version < min || version > max {
        return;
    }
    let Ok(body) = RequestBody::decode(api, version, &mut buf) else {
        return;
    };

    /// Round-trips the listed variants; every other API is only checked for not panicking.
    macro_rules! round_trip {
        ($($variant:ident => $ty:ty),* $(,)?) => {
            match &body {
                $(RequestBody::$variant(decoded) => check_body::<$ty>(decoded, version),)*
                _ => {}
            }
        };
    }
    round_trip!(
        Produce => ProduceRequest,
        Fetch => FetchRequest,
        Metadata => MetadataRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        ListOffsets => ListOffsetsRequest,
    );
}

fn check_header(api: ApiKey, header: &RequestHeader) {
    let mut encoded = BytesMut::new();
    header.encode(
        &mut encoded,
        request_header_version(api, header.api_version),
    );
    let mut encoded = encoded.freeze();
    let again = RequestHeader::decode(&mut encoded)
        .unwrap_or_else(|e| panic!("a re-encoded {api:?} request header fails to decode: {e}"));
    assert_eq!(&again, header, "{api:?} request header round trip");
    assert!(encoded.is_empty(), "{api:?} request header: trailing bytes");
}

fn check_body<M: Message>(decoded: &M, version: i16) {
    let mut first = BytesMut::new();
    decoded.encode(&mut first, version);
    assert_eq!(
        first.len(),
        decoded.encoded_size(version),
        "{} v{version}: encoded_size disagrees with encode",
        M::NAME
    );
    let mut bytes = first.clone().freeze();
    let again = M::decode(&mut bytes, version).unwrap_or_else(|e| {
        panic!(
            "{} v{version}: re-encoded body fails to decode: {e}",
            M::NAME
        )
    });
    assert!(bytes.is_empty(), "{} v{version}: trailing bytes", M::NAME);
    assert_eq!(&again, decoded, "{} v{version}: round trip", M::NAME);
    let mut second = BytesMut::new();
    again.encode(&mut second, version);
    assert_eq!(
        first,
        second,
        "{} v{version}: encoding is not stable",
        M::NAME
    );
}
