//! The Kafka network server: accepts TCP connections and runs one task per connection that
//! reads size-prefixed frames, hands each to the broker, and writes the answers back in order.
//!
//! Requests on one connection are handled one at a time, in order (Kafka's "muted channel"
//! rule), so pipelined requests are always answered in the order they were sent. The answer
//! to a pipelined request is written as soon as it is ready but the socket is flushed only
//! when no further request is already buffered, so a burst of requests costs one flush.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::broker::{Broker, Outcome};

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
    let mut rd = BufReader::with_capacity(SOCKET_BUFFER_BYTES, rd);
    let mut wr = BufWriter::with_capacity(SOCKET_BUFFER_BYTES, wr);
    let max_frame = broker.socket_request_max_bytes();
    loop {
        // Wait for the next request, or for shutdown between requests: a request already
        // being handled is always answered first.
        let size = tokio::select! {
            size = rd.read_i32() => match size {
                Ok(size) => size,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            },
            _ = shutdown.changed() => {
                wr.flush().await?;
                return Ok(());
            }
        };
        if size < 0 || size as usize > max_frame {
            tracing::warn!(
                %peer,
                size,
                max = max_frame,
                "closing connection: request frame larger than socket.request.max.bytes or negative"
            );
            return Ok(());
        }
        let mut frame = BytesMut::zeroed(size as usize);
        rd.read_exact(&mut frame).await?;
        match broker.handle_frame(frame.freeze(), peer).await {
            Outcome::Respond(bytes) => wr.write_all(&bytes).await?,
            Outcome::NoResponse => {}
            Outcome::Close => {
                wr.flush().await?;
                return Ok(());
            }
        }
        if rd.buffer().is_empty() {
            wr.flush().await?;
        }
    }
}
