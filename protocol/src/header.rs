//! Request headers v0–v2 and response headers v0–v1, and the framing around them.
//!
//! Hand-written rather than generated because Kafka's RequestHeader has one field-level
//! quirk: `ClientId` stays a classic (int16-length) string even in the flexible header v2.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec::{read_tagged_fields, write_uvarint, DecodeResult, Nullable, Sink, Wire};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::messages::{ApiKey, Message};
use crate::send_builder::SendBuilder;

/// A decoded request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The raw key, kept even when it names no API we know, so the caller can log it.
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

/// Request header version for `api` at `version` (Kafka's `ApiKeys.requestHeaderVersion`).
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ControlledShutdown && version == 0 {
        0
    } else if version >= api.flexible_min() {
        2
    } else {
        1
    }
}

/// Response header version for `api` at `version`. ApiVersions always answers with header v0
/// so a client that does not yet know our versions can parse the answer (KIP-511).
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api != ApiKey::ApiVersions && version >= api.flexible_min() {
        1
    } else {
        0
    }
}

impl RequestHeader {
    /// Decodes the header at the start of a request frame. For an API key we do not know
    /// only the fixed v1 fields are read, enough to answer or log.
    pub fn decode(buf: &mut Bytes) -> DecodeResult<RequestHeader> {
        let ctx = |e: DecodeError| e.within("RequestHeader", -1, "");
        if buf.remaining() < 8 {
            return Err(ctx(DecodeError::new(DecodeErrorKind::Truncated {
                needed: 8,
                remaining: buf.remaining(),
            })));
        }
        let api_key = buf.get_i16();
        let api_version = buf.get_i16();
        let correlation_id = buf.get_i32();
        let mut header = RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id: None,
        };
        let header_version = match ApiKey::from_i16(api_key) {
            Some(api) => request_header_version(api, api_version),
            None => 1,
        };
        if header_version >= 1 {
            header.client_id = String::read_nullable(buf, false, 0).map_err(ctx)?;
        }
        if header_version >= 2 {
            read_tagged_fields(buf, |_, _| Ok(false)).map_err(ctx)?;
        }
        Ok(header)
    }

    /// Appends this header as `header_version`.
    pub fn encode(&self, buf: &mut BytesMut, header_version: i16) {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            self.client_id.write(buf, false, 0);
        }
        if header_version >= 2 {
            write_uvarint(buf, 0);
        }
    }
}

/// Encodes a full response frame: 4-byte size, response header, body.
pub fn encode_response<M: Message>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> BytesMut {
    let frame_len = response_frame_len(api, version, body);
    let mut buf = BytesMut::with_capacity(frame_len);
    write_response(&mut buf, api, version, correlation_id, body, frame_len);
    debug_assert_eq!(buf.len(), frame_len, "{} size mismatch", M::NAME);
    buf
}

/// Encodes a full response frame as parts to write in order ([`SendBuilder`]): each `bytes` or
/// `records` value of at least `shared_min` bytes is a part of its own, not copied.
pub fn encode_response_parts<M: Message>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
    shared_min: usize,
) -> Vec<Bytes> {
    let frame_len = response_frame_len(api, version, body);
    // The owned parts take at most the frame; when records are shared, far less.
    let mut parts = SendBuilder::new(shared_min, frame_len.min(shared_min));
    write_response(&mut parts, api, version, correlation_id, body, frame_len);
    let parts = parts.into_parts();
    debug_assert_eq!(
        parts.iter().map(Bytes::len).sum::<usize>(),
        frame_len,
        "{} size mismatch",
        M::NAME
    );
    parts
}

/// Bytes of the whole frame: size prefix, header (correlation id, and tagged fields in v1),
/// body.
fn response_frame_len<M: Message>(api: ApiKey, version: i16, body: &M) -> usize {
    let header_len = if response_header_version(api, version) >= 1 {
        5
    } else {
        4
    };
    4 + header_len + body.encoded_size(version)
}

/// Writes a response frame of `frame_len` bytes (from [`response_frame_len`]).
fn write_response<M: Message, S: Sink>(
    sink: &mut S,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
    frame_len: usize,
) {
    let buf = sink.buf();
    buf.put_i32((frame_len - 4) as i32);
    buf.put_i32(correlation_id);
    if response_header_version(api, version) >= 1 {
        write_uvarint(buf, 0);
    }
    body.encode(sink, version);
}

/// Encodes a full request frame (used by our own clients: perf tools, the Raft and bridge
/// network layers).
pub fn encode_request<M: Message>(header: &RequestHeader, body: &M) -> BytesMut {
    let api = ApiKey::from_i16(header.api_key).expect("encode_request with a known api");
    let header_version = request_header_version(api, header.api_version);
    let mut buf = BytesMut::with_capacity(64 + body.encoded_size(header.api_version));
    buf.put_i32(0);
    header.encode(&mut buf, header_version);
    body.encode(&mut buf, header.api_version);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

/// Decodes a response frame body (after the 4-byte size) for `api` at `version`: returns the
/// correlation id and the body.
pub fn decode_response<M: Message>(
    api: ApiKey,
    version: i16,
    frame: &mut Bytes,
) -> DecodeResult<(i32, M)> {
    let correlation_id = i32::read(frame, false, 0)?;
    if response_header_version(api, version) >= 1 {
        read_tagged_fields(frame, |_, _| Ok(false))?;
    }
    Ok((correlation_id, M::decode(frame, version)?))
}
