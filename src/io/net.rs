//! The Kafka network server: accepts TCP connections and runs one task per connection that
//! reads size-prefixed frames, hands each to the broker, and writes the answers back in order.
//!
//! Requests on one connection are handled one at a time, in order (Kafka's "muted channel"
//! rule), so pipelined requests are always answered in the order they were sent; a reader
//! task reads up to `READ_AHEAD_FRAMES` requests ahead meanwhile. The answer to a pipelined
//! request is written as soon as it is ready but the socket is flushed only when no further
//! request is already read, so a burst of requests costs one flush.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parts::Parts;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

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

/// Frames read ahead of the one being handled, per connection. Bounds a connection's buffered
/// requests to this many times `socket.request.max.bytes`.
const READ_AHEAD_FRAMES: usize = 4;

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let mut wr = BufWriter::with_capacity(SOCKET_BUFFER_BYTES, wr);
    // The reader runs as its own task, so reading and decoding the next requests overlaps
    // with handling (appending) this one, possibly on the other core. Requests are still
    // handled one at a time and answered in order, below.
    let (frames, mut next) = mpsc::channel(READ_AHEAD_FRAMES);
    let max_frame = broker.socket_request_max_bytes();
    let mut reader = AbortOnDrop(tokio::spawn(read_frames(
        BufReader::with_capacity(SOCKET_BUFFER_BYTES, rd),
        peer,
        max_frame,
        frames,
        shutdown,
    )));
    // Frames read before the reader stopped (end of stream, shutdown, a bad frame) are still
    // answered; then the reader's own result closes the connection.
    while let Some(frame) = next.recv().await {
        match broker.handle_frame(frame, peer).await {
            Outcome::Respond(bytes) => wr.write_all(&bytes).await?,
            // Vectored writes: a frame at least as large as the buffer goes to the socket
            // directly (after what is buffered) in one `writev`, its shared records not copied
            // again here; a smaller one is copied into the buffer.
            Outcome::RespondParts(parts) => wr.write_all_buf(&mut Parts::new(parts)).await?,
            Outcome::NoResponse => {}
            Outcome::Close => {
                wr.flush().await?;
                return Ok(());
            }
        }
        // A burst of pipelined requests costs one flush.
        if next.is_empty() {
            wr.flush().await?;
        }
    }
    wr.flush().await?;
    match (&mut reader.0).await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Reads size-prefixed request frames into `frames` until end of stream, shutdown, a frame
/// larger than `socket.request.max.bytes` (the connection is then closed, as Kafka does) or
/// the handler going away.
async fn read_frames(
    mut rd: BufReader<OwnedReadHalf>,
    peer: SocketAddr,
    max_frame: usize,
    frames: mpsc::Sender<Bytes>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        let size = tokio::select! {
            size = rd.read_i32() => match size {
                Ok(size) => size,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            },
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(size) = usize::try_from(size).ok().filter(|&s| s <= max_frame) else {
            tracing::warn!(
                %peer,
                size,
                max = max_frame,
                "closing connection: request frame larger than socket.request.max.bytes or negative"
            );
            return Ok(());
        };
        // Read straight into a buffer of the frame's size: no zero-filling.
        let mut frame = BytesMut::with_capacity(size);
        let mut limited = (&mut rd).take(size as u64);
        while frame.len() < size {
            if limited.read_buf(&mut frame).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        if frames.send(frame.freeze()).await.is_err() {
            return Ok(());
        }
    }
}

/// Aborts the reader task when the connection ends, whichever way.
struct AbortOnDrop(JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
