//! One Kafka client connection for the perf tools: connect with a deadline, negotiate versions
//! with ApiVersions, then send requests and read size-prefixed response frames.
//!
//! Input is the broker's bytes, so every frame is size-checked before anything is reserved and
//! every body decodes to a `Result` through our own codec (`protocol::header`,
//! `protocol::messages`); a bad answer becomes an error naming the broker, the API and the
//! version, never a panic. Every wait here has a deadline: a broker that stops answering ends
//! the run with an error instead of hanging it.
//!
//! The connection splits into a [`FrameReader`] and a [`FrameWriter`] so the producer can keep
//! up to `max.in.flight.requests.per.connection` requests outstanding (Kafka answers the
//! requests of one connection in order, so responses are matched to requests FIFO).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use protocol::header::{decode_response, request_header_version, RequestHeader};
use protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, Message};
use protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long a TCP connect may take. Kafka's `socket.connection.setup.timeout.ms` is 10 s; a
/// benchmark against an absent broker should fail faster than that.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response frame we accept: twice the largest fetch we ask for plus room for the
/// response's own fields. A bigger size prefix means a confused or hostile peer.
pub(super) const RESPONSE_FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Read buffer of each connection, as the broker's own (`io::net`).
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The client software name and version sent in ApiVersions v3+ (KIP-511 requires
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`).
const CLIENT_SOFTWARE_NAME: &str = "kraftbridge-perf";

/// Per API, the version range the broker advertised in ApiVersions.
#[derive(Debug, Clone, Default)]
pub(super) struct Versions {
    by_key: BTreeMap<i16, (i16, i16)>,
    addr: String,
}

impl Versions {
    /// The highest version both sides speak: the broker's range ∩ `ours` ∩ our codec's schema.
    pub(super) fn pick(&self, api: ApiKey, ours: (i16, i16)) -> Result<i16> {
        let (schema_lo, schema_hi) = api.schema_versions();
        let lo = ours.0.max(schema_lo);
        let hi = ours.1.min(schema_hi);
        let Some(&(broker_lo, broker_hi)) = self.by_key.get(&(api as i16)) else {
            bail!(
                "the broker at {} does not serve {api:?} (not listed in its ApiVersions)",
                self.addr
            )
        };
        let version = hi.min(broker_hi);
        if version < lo.max(broker_lo) {
            bail!(
                "the broker at {} serves {api:?} v{broker_lo}-{broker_hi}; this client needs \
                 v{lo}-{hi}",
                self.addr
            );
        }
        Ok(version)
    }
}

/// Reads response frames (4-byte size, then the frame) from one connection.
pub(super) struct FrameReader {
    rd: BufReader<OwnedReadHalf>,
    addr: String,
}

impl fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// The next frame (after its size prefix), reading straight into a buffer of exactly
    /// that size: no zero-filling and no copy. Not bounded in time; see [`Self::read_frame_within`].
    pub(super) async fn read_frame(&mut self) -> Result<Bytes> {
        let size = match self.rd.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                bail!("the broker at {} closed the connection", self.addr)
            }
            Err(e) => return Err(e).with_context(|| format!("reading from {}", self.addr)),
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= RESPONSE_FRAME_BYTES_MAX)
            .ok_or_else(|| {
                anyhow!(
                    "the broker at {} sent a response frame of {size} bytes (accepted: 0 to \
                     {RESPONSE_FRAME_BYTES_MAX}); is that port really a Kafka listener?",
                    self.addr
                )
            })?;
        let mut frame = BytesMut::with_capacity(size);
        let mut limited = (&mut self.rd).take(size as u64);
        while frame.len() < size {
            let n = limited
                .read_buf(&mut frame)
                .await
                .with_context(|| format!("reading from {}", self.addr))?;
            if n == 0 {
                bail!(
                    "the broker at {} closed the connection in the middle of a {size}-byte \
                     response ({} bytes read)",
                    self.addr,
                    frame.len()
                );
            }
        }
        Ok(frame.freeze())
    }

    /// [`Self::read_frame`] with a deadline.
    pub(super) async fn read_frame_within(&mut self, limit: Duration, what: &str) -> Result<Bytes> {
        match tokio::time::timeout(limit, self.read_frame()).await {
            Ok(frame) => frame,
            Err(_) => bail!(
                "no {what} response from {} within {} ms (request.timeout.ms)",
                self.addr,
                limit.as_millis()
            ),
        }
    }
}

/// Encodes requests into one reused buffer and writes them.
pub(super) struct FrameWriter {
    wr: OwnedWriteHalf,
    buf: BytesMut,
    client_id: String,
    next_correlation_id: i32,
    addr: String,
}

impl fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameWriter")
            .field("addr", &self.addr)
            .field("next_correlation_id", &self.next_correlation_id)
            .finish_non_exhaustive()
    }
}

impl FrameWriter {
    /// Encodes `body` as a request frame and writes it. Returns the correlation id and the
    /// bytes written (size prefix included). The encoding buffer is kept for the next request,
    /// so a steady stream of requests allocates nothing here.
    pub(super) async fn send<M: Message>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &M,
    ) -> Result<(i32, usize)> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader {
            api_key: api as i16,
            api_version: version,
            correlation_id,
            client_id: Some(self.client_id.clone()),
        };
        self.buf.clear();
        self.buf.reserve(64 + body.encoded_size(version));
        self.buf.put_i32(0);
        header.encode(&mut self.buf, request_header_version(api, version));
        body.encode(&mut self.buf, version);
        let len = i32::try_from(self.buf.len() - 4).map_err(|_| {
            anyhow!(
                "{} request of {} bytes is too large",
                M::NAME,
                self.buf.len()
            )
        })?;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.wr
            .write_all(&self.buf)
            .await
            .with_context(|| format!("sending {} to {}", M::NAME, self.addr))?;
        Ok((correlation_id, self.buf.len()))
    }
}

/// A connected, version-negotiated connection to one broker.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) reader: FrameReader,
    pub(super) writer: FrameWriter,
    pub(super) versions: Versions,
    pub(super) addr: String,
}

impl Connection {
    /// Connects to `addr` (host:port) within [`CONNECT_TIMEOUT`] and runs ApiVersions.
    pub(super) async fn connect(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
    ) -> Result<Connection> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Err(_) => bail!(
                "connecting to {addr}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
            Ok(Err(e)) => bail!("connecting to {addr}: {e}"),
            Ok(Ok(stream)) => stream,
        };
        // Requests are whole frames written at once; Nagle would only add delay.
        stream
            .set_nodelay(true)
            .with_context(|| format!("setting TCP_NODELAY on {addr}"))?;
        let (rd, wr) = stream.into_split();
        let mut conn = Connection {
            reader: FrameReader {
                rd: BufReader::with_capacity(READ_BUFFER_BYTES, rd),
                addr: addr.to_string(),
            },
            writer: FrameWriter {
                wr,
                buf: BytesMut::with_capacity(64 * 1024),
                client_id: client_id.to_string(),
                next_correlation_id: 1,
                addr: addr.to_string(),
            },
            versions: Versions {
                by_key: BTreeMap::new(),
                addr: addr.to_string(),
            },
            addr: addr.to_string(),
        };
        conn.negotiate(request_timeout).await?;
        Ok(conn)
    }

    /// ApiVersions at the newest version our codec has; if the broker does not speak it, it
    /// answers UNSUPPORTED_VERSION in the v0 layout with its own range (KIP-511), and we retry
    /// at the highest version it named.
    async fn negotiate(&mut self, request_timeout: Duration) -> Result<()> {
        let request = ApiVersionsRequest {
            client_software_name: CLIENT_SOFTWARE_NAME.to_string(),
            client_software_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let mut version = ApiKey::ApiVersions.schema_versions().1;
        for _attempt in 0..2 {
            let (correlation_id, _) = self
                .writer
                .send(ApiKey::ApiVersions, version, &request)
                .await?;
            let frame = self
                .reader
                .read_frame_within(request_timeout, "ApiVersions")
                .await?;
            let answer = decode::<ApiVersionsResponse>(
                ApiKey::ApiVersions,
                version,
                correlation_id,
                frame.clone(),
                &self.addr,
            );
            let response = match answer {
                Ok(r) if r.error_code == 0 => r,
                _ => {
                    let v0: ApiVersionsResponse =
                        decode(ApiKey::ApiVersions, 0, correlation_id, frame, &self.addr)?;
                    let code = ErrorCode(v0.error_code);
                    let theirs = v0
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::ApiVersions as i16);
                    match theirs {
                        Some(k)
                            if code == ErrorCode::UNSUPPORTED_VERSION
                                && k.max_version < version =>
                        {
                            version = k.max_version;
                            continue;
                        }
                        _ => bail!("ApiVersions to {} failed: {code}", self.addr),
                    }
                }
            };
            self.versions.by_key = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok(());
        }
        bail!("ApiVersions to {}: no version both sides speak", self.addr)
    }

    /// Sends one request and waits (at most `limit`) for its response.
    pub(super) async fn request<Req: Message, Resp: Message>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
        limit: Duration,
    ) -> Result<Resp> {
        let (correlation_id, _) = self.writer.send(api, version, body).await?;
        let frame = self.reader.read_frame_within(limit, Req::NAME).await?;
        decode(api, version, correlation_id, frame, &self.addr)
    }
}

/// Decodes a response frame, checking that it answers `correlation_id`.
pub(super) fn decode<M: Message>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
    addr: &str,
) -> Result<M> {
    let (got, body) = decode_response::<M>(api, version, &mut frame)
        .map_err(|e| anyhow!("cannot decode {} v{version} from {addr}: {e}", M::NAME))?;
    if got != correlation_id {
        bail!(
            "{} from {addr} answers correlation id {got}, expected {correlation_id} (responses \
             out of order)",
            M::NAME
        );
    }
    Ok(body)
}

/// `ERROR_NAME (code): message` for a Kafka error code with its optional message.
pub(super) fn describe_error(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {m}", ErrorCode(code)),
        _ => ErrorCode(code).to_string(),
    }
}

/// `host:port`, bracketing IPv6 literals.
pub(super) fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(entries: &[(ApiKey, i16, i16)]) -> Versions {
        Versions {
            by_key: entries
                .iter()
                .map(|&(k, lo, hi)| (k as i16, (lo, hi)))
                .collect(),
            addr: "b:9092".into(),
        }
    }

    #[test]
    fn picks_the_highest_common_version() {
        let v = versions(&[(ApiKey::Produce, 3, 11), (ApiKey::Fetch, 4, 16)]);
        assert_eq!(v.pick(ApiKey::Produce, (3, 11)).unwrap(), 11);
        assert_eq!(v.pick(ApiKey::Produce, (3, 9)).unwrap(), 9);
        assert_eq!(v.pick(ApiKey::Fetch, (4, 12)).unwrap(), 12);
    }

    #[test]
    fn names_the_gap_when_ranges_do_not_meet() {
        let v = versions(&[(ApiKey::Produce, 3, 4)]);
        let e = v.pick(ApiKey::Produce, (7, 11)).unwrap_err().to_string();
        assert!(e.contains("v3-4") && e.contains("v7-11"), "{e}");
        let e = v.pick(ApiKey::Fetch, (4, 12)).unwrap_err().to_string();
        assert!(e.contains("does not serve Fetch"), "{e}");
    }

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("127.0.0.1", 9092), "127.0.0.1:9092");
        assert_eq!(host_port("::1", 9092), "[::1]:9092");
    }
}
