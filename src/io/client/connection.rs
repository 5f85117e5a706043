//! The two tasks behind a [`super::KafkaClient`] and the state they share.
//!
//! The writer task owns the socket's write half: it takes encoded frames from a bounded
//! queue and writes them, coalescing a burst into one flush. The reader task owns the read
//! half: it reads bounded frames and hands each to the request whose correlation id it
//! carries. A request is registered (with an in-flight slot) before its frame is queued, so
//! its answer always finds it. Anything that ends the connection — the peer closing, an I/O
//! error, an oversized frame, an unknown correlation id, a request timing out, every handle
//! dropped — goes through [`Shared::close`], which fails every request in flight with the
//! reason and stops both tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use super::{frame, ClientError};

/// Read buffer of each connection, as the broker's own (`io::net`).
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Write buffer: a burst of small requests goes out in one write; a larger frame bypasses it.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// A response frame (after its size prefix) and when it was read.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) bytes: Bytes,
    pub(super) received: Instant,
}

/// Where the reader delivers the answer to one request.
pub(super) type Reply = oneshot::Sender<Result<Frame, ClientError>>;

/// A frame for the writer, with whom to tell once it is written (requests that get no
/// response: Produce with acks=0).
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) frame: Bytes,
    pub(super) written: Option<oneshot::Sender<Result<(), ClientError>>>,
}

/// A request waiting for its response. Holding the slot here, not in the caller's future,
/// bounds the table even when callers stop waiting.
#[derive(Debug)]
struct Waiter {
    reply: Reply,
    _slot: OwnedSemaphorePermit,
}

#[derive(Debug, Default)]
struct State {
    /// Correlation id → the request waiting for it. Only looked up, never iterated in an
    /// order that reaches the peer.
    waiters: HashMap<i32, Waiter>,
    /// Why the connection closed, once it has.
    closed: Option<Arc<str>>,
    tasks: Vec<AbortHandle>,
}

/// What the handles and both tasks of one connection share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) addr: String,
    pub(super) client_id: String,
    next_correlation_id: AtomicI32,
    /// One permit per request that may be in flight (`in_flight_max`).
    slots: Arc<Semaphore>,
    state: Mutex<State>,
}

impl Shared {
    pub(super) fn new(addr: &str, client_id: &str, in_flight_max: usize) -> Shared {
        Shared {
            addr: addr.to_string(),
            client_id: client_id.to_string(),
            next_correlation_id: AtomicI32::new(1),
            slots: Arc::new(Semaphore::new(in_flight_max.max(1))),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be our bug; the state is still consistent
        // (every change is one insert or remove), so carry on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn next_correlation_id(&self) -> i32 {
        self.next_correlation_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The error every use of a closed connection gets.
    pub(super) fn closed_error(&self, reason: Arc<str>) -> ClientError {
        ClientError::Closed {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// `Err` once the connection is closed.
    pub(super) fn check_open(&self) -> Result<(), ClientError> {
        match &self.state().closed {
            Some(reason) => Err(self.closed_error(reason.clone())),
            None => Ok(()),
        }
    }

    /// Waits for an in-flight slot.
    pub(super) async fn slot(&self) -> Result<OwnedSemaphorePermit, ClientError> {
        match Arc::clone(&self.slots).acquire_owned().await {
            Ok(slot) => Ok(slot),
            // Closing closes the semaphore, so waiters wake with the reason.
            Err(_) => Err(self
                .check_open()
                .err()
                .unwrap_or_else(|| self.closed_error("the connection is closing".into()))),
        }
    }

    /// Registers the request with `correlation_id`; fails when the connection is closed.
    pub(super) fn register(
        &self,
        correlation_id: i32,
        reply: Reply,
        slot: OwnedSemaphorePermit,
    ) -> Result<(), ClientError> {
        let mut state = self.state();
        if let Some(reason) = &state.closed {
            return Err(self.closed_error(reason.clone()));
        }
        state
            .waiters
            .insert(correlation_id, Waiter { reply, _slot: slot });
        Ok(())
    }

    /// Hands a response frame to its request. An id no request is waiting for means the peer
    /// is confused (or answering a request we never sent): that closes the connection.
    fn deliver(&self, correlation_id: i32, frame: Frame) -> Result<(), String> {
        let waiter = self.state().waiters.remove(&correlation_id);
        match waiter {
            // A caller that stopped waiting has dropped its receiver; nothing to do.
            Some(waiter) => {
                let _ = waiter.reply.send(Ok(frame));
                Ok(())
            }
            None => Err(format!(
                "the peer answered correlation id {correlation_id}, which no request in flight \
                 has"
            )),
        }
    }

    /// Closes the connection (the first reason wins): fails every request in flight with
    /// `reason`, wakes callers waiting for a slot, and stops both tasks (dropping the socket).
    pub(super) fn close(&self, reason: &str) {
        let (waiters, tasks, reason) = {
            let mut state = self.state();
            if state.closed.is_some() {
                return;
            }
            let reason: Arc<str> = reason.into();
            state.closed = Some(reason.clone());
            (
                std::mem::take(&mut state.waiters),
                std::mem::take(&mut state.tasks),
                reason,
            )
        };
        self.slots.close();
        for (_, waiter) in waiters {
            let _ = waiter.reply.send(Err(self.closed_error(reason.clone())));
        }
        for task in tasks {
            task.abort();
        }
    }

    /// Keeps the tasks' abort handles so `close` can stop them; stops them at once if the
    /// connection closed before they were handed over.
    fn adopt(&self, tasks: Vec<AbortHandle>) {
        let mut state = self.state();
        if state.closed.is_some() {
            tasks.iter().for_each(AbortHandle::abort);
        } else {
            state.tasks = tasks;
        }
    }
}

/// Starts the reader and writer tasks of a connected socket.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    outgoing: mpsc::Receiver<Outgoing>,
    response_bytes_max: usize,
) {
    let reader = tokio::spawn(read_loop(Arc::clone(shared), rd, response_bytes_max));
    let writer = tokio::spawn(write_loop(Arc::clone(shared), wr, outgoing));
    shared.adopt(vec![reader.abort_handle(), writer.abort_handle()]);
}

async fn read_loop(shared: Arc<Shared>, rd: OwnedReadHalf, response_bytes_max: usize) {
    let mut rd = BufReader::with_capacity(READ_BUFFER_BYTES, rd);
    let reason = loop {
        let bytes = match frame::read(&mut rd, response_bytes_max).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => break "the peer closed the connection".to_string(),
            Err(reason) => break reason,
        };
        let received = Instant::now();
        let Some(id) = bytes.get(..4) else {
            break format!(
                "the peer sent a {}-byte response frame, too short for a correlation id",
                bytes.len()
            );
        };
        let correlation_id = i32::from_be_bytes([id[0], id[1], id[2], id[3]]);
        if let Err(reason) = shared.deliver(correlation_id, Frame { bytes, received }) {
            break reason;
        }
    };
    shared.close(&reason);
}

async fn write_loop(
    shared: Arc<Shared>,
    wr: OwnedWriteHalf,
    mut outgoing: mpsc::Receiver<Outgoing>,
) {
    let mut wr = BufWriter::with_capacity(WRITE_BUFFER_BYTES, wr);
    let mut written = Vec::new();
    while let Some(first) = outgoing.recv().await {
        // Write what is queued, then flush once.
        let mut next = Some(first);
        let mut result = Ok(());
        while let Some(out) = next.take() {
            written.extend(out.written);
            result = wr.write_all(&out.frame).await;
            if result.is_err() {
                break;
            }
            next = outgoing.try_recv().ok();
        }
        if result.is_ok() {
            result = wr.flush().await;
        }
        if let Err(e) = result {
            let reason = format!("writing: {e}");
            shared.close(&reason);
            for tx in written.drain(..) {
                let _ = tx.send(Err(shared.closed_error(reason.as_str().into())));
            }
            return;
        }
        for tx in written.drain(..) {
            let _ = tx.send(Ok(()));
        }
    }
    // Every handle (and every pending request, which holds one) is gone.
    shared.close("the client was dropped");
}
