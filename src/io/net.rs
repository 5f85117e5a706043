//! The Kafka network server: accepts TCP connections and runs one task per connection that
//! reads size-prefixed frames, hands each to the broker, and writes the answers back in order.
//!
//! Requests on one connection are handled one at a time, in order (Kafka's "muted channel"
//! rule), so pipelined requests are always answered in the order they were sent. The answer
//! to a pipelined request is written as soon as it is ready but the socket is flushed only
//! when no further whole request is already buffered, so a burst of requests costs one flush.
//!
//! A connection from which nothing arrives for `connections.max.idle.ms` is closed (Kafka's
//! `Selector` does the same); one whose request is being handled is not idle. On shutdown the
//! listener stops accepting, idle connections close at once, and each busy one answers the
//! request it is handling and then closes; the listener returns when all have closed, or
//! after `request.timeout.ms`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parts::Parts;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::{Broker, Outcome};
use crate::config::ServerConfig;

mod parts;

#[cfg(test)]
mod tests;

/// Size of each connection's read and write buffers.
const SOCKET_BUFFER_BYTES: usize = 256 * 1024;

/// How a listener treats its connections, from the server configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    /// `max.connections` (per listener here).
    pub(crate) max_connections: usize,
    /// `connections.max.idle.ms`: a connection from which nothing arrives for this long is
    /// closed; `None` (a negative value) never, as in Kafka's `Selector`.
    pub(crate) max_idle: Option<Duration>,
    /// `request.timeout.ms`: how long shutdown waits for connections to answer the requests
    /// they are handling before it closes them anyway.
    pub(crate) shutdown_grace: Duration,
}

impl ConnectionSettings {
    pub(crate) fn from_config(config: &ServerConfig) -> Self {
        ConnectionSettings {
            max_connections: config.max_connections.max(1) as usize,
            max_idle: u64::try_from(config.connections_max_idle_ms)
                .ok()
                .map(Duration::from_millis),
            shutdown_grace: Duration::from_millis(config.request_timeout_ms.max(0) as u64),
        }
    }
}

/// Accepts connections on `listener` until `shutdown` turns true; then stops accepting and
/// returns once every connection has answered the request it was handling and closed (idle
/// ones close at once), or when `settings.shutdown_grace` has passed.
pub(crate) async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    settings: ConnectionSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                // Forget the connections that have closed, so they are not counted.
                while connections.try_join_next().is_some() {}
                if connections.len() >= settings.max_connections {
                    tracing::warn!(%peer, max_connections = settings.max_connections, "connection refused: max.connections reached");
                    continue;
                }
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    if let Err(e) = serve_connection(stream, peer, broker, settings.max_idle, shutdown).await {
                        tracing::debug!(%peer, "connection closed: {e}");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while connections.try_join_next().is_some() {}
    if connections.is_empty() {
        return;
    }
    let open = connections.len();
    tracing::info!(
        open,
        "closing connections once they have answered their current request"
    );
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            busy = connections.len(),
            "closing connections still handling a request after request.timeout.ms={}",
            settings.shutdown_grace.as_millis()
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    max_idle: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let mut wr = BufWriter::with_capacity(SOCKET_BUFFER_BYTES, wr);
    let mut rd = BufReader::with_capacity(SOCKET_BUFFER_BYTES, rd);
    let max_frame = broker.socket_request_max_bytes();
    // One task reads, handles and answers: a request costs no hand-over to another task (and
    // so no wake-up of another thread, which on a busy machine waits for a CPU: that wait,
    // not the work, made the latency tail). Pipelined requests arrive together in one read
    // of the buffered reader.
    loop {
        // Between requests: shutdown closes the connection at once (checked first, so a
        // pipelined request already buffered is not started), and so does the idle limit.
        let more = tokio::select! {
            biased;
            _ = shutdown.changed() => false,
            more = idle_bounded(max_idle, async { Ok(!rd.fill_buf().await?.is_empty()) }) => more?,
        };
        if !more {
            break;
        }
        // A request has begun: it is read, handled and answered even if shutdown starts
        // meanwhile (the server waits, at most `request.timeout.ms`).
        let Some(frame) = read_frame(&mut rd, peer, max_frame, max_idle).await? else {
            break;
        };
        match broker.handle_frame(frame, peer).await {
            Outcome::Respond(bytes) => wr.write_all(&bytes).await?,
            // Vectored writes: a frame at least as large as the buffer goes to the socket
            // directly (after what is buffered) in one `writev`, its shared records not copied
            // again here; a smaller one is copied into the buffer.
            Outcome::RespondParts(parts) => wr.write_all_buf(&mut Parts::new(parts)).await?,
            Outcome::NoResponse => {}
            Outcome::Close => break,
        }
        // A burst of pipelined requests costs one flush: flush once no whole request waits.
        if !holds_whole_frame(rd.buffer()) {
            wr.flush().await?;
        }
    }
    wr.flush().await
}

/// `read`, failed with `TimedOut` when it has not completed within `max_idle`: Kafka closes a
/// connection on which nothing has happened for `connections.max.idle.ms`.
async fn idle_bounded<T>(
    max_idle: Option<Duration>,
    read: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    let Some(max_idle) = max_idle else {
        return read.await;
    };
    // `timeout` polls `read` first: a read served from the buffer starts no timer.
    tokio::time::timeout(max_idle, read)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("idle for connections.max.idle.ms={}", max_idle.as_millis()),
            ))
        })
}

/// Whether `buffered` starts with a whole size-prefixed frame.
fn holds_whole_frame(buffered: &[u8]) -> bool {
    match buffered.first_chunk::<4>() {
        Some(size) => {
            usize::try_from(i32::from_be_bytes(*size)).is_ok_and(|size| buffered.len() - 4 >= size)
        }
        None => false,
    }
}

/// Reads the next size-prefixed request frame; `None` at end of stream or for a frame larger
/// than `socket.request.max.bytes` (the connection is then closed, as Kafka does).
async fn read_frame(
    rd: &mut BufReader<OwnedReadHalf>,
    peer: SocketAddr,
    max_frame: usize,
    max_idle: Option<Duration>,
) -> std::io::Result<Option<Bytes>> {
    let size = match idle_bounded(max_idle, rd.read_i32()).await {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(size) = usize::try_from(size).ok().filter(|&s| s <= max_frame) else {
        tracing::warn!(
            %peer,
            size,
            max = max_frame,
            "closing connection: request frame larger than socket.request.max.bytes or negative"
        );
        return Ok(None);
    };
    // Read straight into a buffer of the frame's size: no zero-filling.
    let mut frame = BytesMut::with_capacity(size);
    let mut limited = rd.take(size as u64);
    while frame.len() < size {
        if idle_bounded(max_idle, limited.read_buf(&mut frame)).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(frame.freeze()))
}
