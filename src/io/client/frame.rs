//! Request frames out, response frames in: a 4-byte size, then the frame. The size comes from
//! the peer, so it is checked against the connection's limit before anything is reserved.

use bytes::{Bytes, BytesMut};
use protocol::header::{encode_request, RequestHeader};
use protocol::messages::{ApiKey, Message};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ClientError;

/// A request header's fixed part: size prefix, api key, version, correlation id, the client
/// id's length, tagged fields.
const HEADER_FIXED_BYTES: usize = 16;

/// Encodes one request frame, size prefix included.
pub(super) fn encode<M: Message>(
    addr: &str,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &M,
) -> Result<Bytes, ClientError> {
    let bytes = body
        .encoded_size(version)
        .saturating_add(HEADER_FIXED_BYTES + client_id.len());
    if bytes > i32::MAX as usize {
        return Err(ClientError::RequestTooLarge {
            addr: addr.to_string(),
            request: M::NAME,
            bytes,
        });
    }
    let header = RequestHeader {
        api_key: api as i16,
        api_version: version,
        correlation_id,
        client_id: Some(client_id.to_string()),
    };
    Ok(encode_request(&header, body).freeze())
}

/// Reads the next response frame (after its size prefix). `Ok(None)` when the peer closed the
/// connection between frames; `Err(reason)` for anything else that ends the connection.
///
/// The buffer is reserved at the frame's size (at most `bytes_max`) and read into directly:
/// no zero-filling and no copy. A size prefix above `bytes_max`, or negative, is refused
/// before any allocation.
pub(super) async fn read<R: AsyncRead + Unpin>(
    rd: &mut R,
    bytes_max: usize,
) -> Result<Option<Bytes>, String> {
    let size = match rd.read_i32().await {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("reading: {e}")),
    };
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= bytes_max)
        .ok_or_else(|| {
            format!(
                "the peer sent a response frame of {size} bytes (accepted: 0 to {bytes_max}); \
                 is that port really a Kafka listener?"
            )
        })?;
    let mut frame = BytesMut::with_capacity(size);
    let mut limited = rd.take(size as u64);
    while frame.len() < size {
        match limited.read_buf(&mut frame).await {
            Ok(0) => {
                return Err(format!(
                    "the peer closed the connection in the middle of a {size}-byte response \
                     ({} bytes read)",
                    frame.len()
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
    }
    Ok(Some(frame.freeze()))
}
