//! The Kafka network server: accepts TCP connections and runs one task per connection that
//! reads size-prefixed frames, hands each to the broker, and writes the answers back in order.
//!
//! Requests on one connection are handled one at a time, in order (Kafka's "muted channel"
//! rule), so pipelined requests are always answered in the order they were sent. The answer
//! to a pipelined request is written as soon as it is ready but the socket is flushed only
//! when no further whole request is already buffered, so a burst of requests costs one flush.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parts::Parts;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::broker::{Broker, Outcome};

mod parts;

/// Size of each connection's read and write buffers.
const SOCKET_BUFFER_BYTES: usize = 256 * 1024;

/// Shared connection count, enforcing `max.connections`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCount(AtomicUsize);

/// Accepts connections on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let count = Arc::new(ConnectionCount::default());
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
                if count.0.fetch_add(1, Ordering::SeqCst) >= max_connections {
                    count.0.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!(%peer, max_connections, "connection refused: max.connections reached");
                    continue;
                }
                let broker = broker.clone();
                let count = count.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, peer, broker, shutdown).await {
                        tracing::debug!(%peer, "connection closed: {e}");
                    }
                    count.0.fetch_sub(1, Ordering::SeqCst);
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
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
        let frame = tokio::select! {
            frame = read_frame(&mut rd, peer, max_frame) => frame?,
            _ = shutdown.changed() => None,
        };
        let Some(frame) = frame else { break };
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
) -> std::io::Result<Option<Bytes>> {
    let size = match rd.read_i32().await {
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
        if limited.read_buf(&mut frame).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(frame.freeze()))
}
