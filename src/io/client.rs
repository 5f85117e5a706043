//! One Kafka client connection to one peer, shared by every task that talks to it: connect
//! with a deadline, ApiVersions negotiation (KIP-511), bounded response frames, several
//! requests in flight matched by correlation id, a timeout per request.
//!
//! [`KafkaClient`] is a cheap handle (clone it into as many tasks as need the peer); the
//! socket belongs to two tasks (`connection`). Input is the peer's bytes: every frame is
//! size-checked before anything is reserved, every body decodes to a `Result` through our own
//! codec (`protocol::header`, `protocol::messages`), and a peer that breaks the protocol gets
//! its connection closed, never a panic. Reconnecting is the caller's choice: a closed client
//! stays closed and says why.
//!
//! Used by `kraftbridge perf`; meant for every connection this process opens to another Kafka
//! node (the Raft network, broker→controller RPCs, forwarding, the replica fetcher).

mod connection;
mod error;
mod frame;
mod versions;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use protocol::header::decode_response;
use protocol::messages::{ApiKey, Message};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Sleep;

use self::connection::{Frame, Outgoing, Shared};
pub(crate) use self::error::ClientError;
use self::versions::{Answer, ApiVersionTable};

/// Frames queued for the writer task; a sender waits when it is full.
const WRITE_QUEUE_MAX: usize = 64;

/// How a connection behaves. Kafka's client keys where there is one.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    /// `client.id`, sent in every request header.
    pub(crate) client_id: String,
    /// Sent in ApiVersions v3+ (KIP-511: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`).
    pub(crate) software_name: &'static str,
    /// `socket.connection.setup.timeout.ms`: how long the TCP connect may take.
    pub(crate) connect_timeout: Duration,
    /// `request.timeout.ms`: how long a request may wait for its response, unless the caller
    /// gives its own timeout.
    pub(crate) request_timeout: Duration,
    /// Largest response frame accepted; a larger size prefix closes the connection.
    pub(crate) response_bytes_max: usize,
    /// Requests in flight at once on this connection; more wait for a slot.
    pub(crate) in_flight_max: usize,
}

impl ClientConfig {
    /// Kafka's client defaults (connect 10 s, request 30 s, `socket.request.max.bytes` as the
    /// frame limit) and room for many tasks' requests in flight.
    pub(crate) fn new(client_id: &str, software_name: &'static str) -> ClientConfig {
        ClientConfig {
            client_id: client_id.to_string(),
            software_name,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            response_bytes_max: 100 * 1024 * 1024,
            in_flight_max: 128,
        }
    }
}

/// A connected, version-negotiated connection to one Kafka node.
#[derive(Debug, Clone)]
pub(crate) struct KafkaClient {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    versions: Arc<ApiVersionTable>,
    request_timeout: Duration,
}

impl KafkaClient {
    /// Connects to `addr` (host:port) within the connect timeout and runs ApiVersions.
    pub(crate) async fn connect(
        addr: &str,
        config: &ClientConfig,
    ) -> Result<KafkaClient, ClientError> {
        let stream =
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(ClientError::ConnectTimeout {
                        addr: addr.to_string(),
                        timeout: config.connect_timeout,
                    })
                }
                Ok(Err(e)) => {
                    return Err(ClientError::Connect {
                        addr: addr.to_string(),
                        reason: e.to_string().into(),
                    })
                }
                Ok(Ok(stream)) => stream,
            };
        // Requests are whole frames written at once; Nagle would only add delay.
        stream.set_nodelay(true).map_err(|e| ClientError::Connect {
            addr: addr.to_string(),
            reason: format!("setting TCP_NODELAY: {e}").into(),
        })?;
        let shared = Arc::new(Shared::new(addr, &config.client_id, config.in_flight_max));
        let (outgoing, queue) = mpsc::channel(WRITE_QUEUE_MAX);
        let (rd, wr) = stream.into_split();
        connection::spawn(&shared, rd, wr, queue, config.response_bytes_max);
        let mut client = KafkaClient {
            shared,
            outgoing,
            versions: Arc::default(),
            request_timeout: config.request_timeout,
        };
        client.versions = Arc::new(client.negotiate(config.software_name).await?);
        Ok(client)
    }

    /// ApiVersions at the newest version our codec has, then (KIP-511) at the highest one the
    /// peer named if it does not speak ours.
    async fn negotiate(&self, software_name: &str) -> Result<ApiVersionTable, ClientError> {
        let request = versions::request(software_name);
        let mut version = versions::first_version();
        loop {
            let pending = self
                .start_frame(ApiKey::ApiVersions, version, &request, self.request_timeout)
                .await?;
            let frame = pending.await?;
            match versions::read_answer(&self.shared.addr, version, frame.bytes)? {
                Answer::Table(table) => return Ok(table),
                // `read_answer` only retries at a lower version, so this ends.
                Answer::RetryAt(lower) => version = lower,
            }
        }
    }

    /// The peer's address, as given to [`Self::connect`].
    pub(crate) fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// The highest version of `api` both sides speak within `ours` (and our codec's schema),
    /// or an error naming both ranges.
    pub(crate) fn version(
        &self,
        api: ApiKey,
        ours: RangeInclusive<i16>,
    ) -> Result<i16, ClientError> {
        self.versions.pick(&self.shared.addr, api, ours)
    }

    /// Sends a request and waits for its response, within the configured request timeout.
    pub(crate) async fn send<Req: Message, Resp: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp, ClientError> {
        self.send_within(api, version, body, self.request_timeout)
            .await
    }

    /// [`Self::send`] with this request's own timeout.
    pub(crate) async fn send_within<Req: Message, Resp: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        Ok(self.start(api, version, body, timeout).await?.await?.body)
    }

    /// Queues a request and returns at once with a [`Pending`] response, so one task can keep
    /// several requests in flight. Waits only for an in-flight slot and room in the write
    /// queue. The timeout runs from now.
    pub(crate) async fn start<Req: Message, Resp: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
        timeout: Duration,
    ) -> Result<Pending<Resp>, ClientError> {
        self.versions.check(&self.shared.addr, api, version)?;
        let frame = self.start_frame(api, version, body, timeout).await?;
        Ok(Pending {
            frame,
            version,
            _response: PhantomData,
        })
    }

    /// Sends a request that gets no response (Produce with acks=0) and returns once it is
    /// written, with the bytes written.
    pub(crate) async fn send_without_response<Req: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<usize, ClientError> {
        self.versions.check(&self.shared.addr, api, version)?;
        self.shared.check_open()?;
        let correlation_id = self.shared.next_correlation_id();
        let frame = self.encode(api, version, correlation_id, body)?;
        let bytes = frame.len();
        let queued = self.outgoing.reserve().await.map_err(|_| self.closed())?;
        let (tx, written) = oneshot::channel();
        queued.send(Outgoing {
            frame,
            written: Some(tx),
        });
        written.await.map_err(|_| self.closed())??;
        Ok(bytes)
    }

    /// Registers a request, queues its frame, and returns its raw pending response.
    async fn start_frame<Req: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
        timeout: Duration,
    ) -> Result<PendingFrame, ClientError> {
        self.shared.check_open()?;
        let slot = self.shared.slot().await?;
        let correlation_id = self.shared.next_correlation_id();
        let frame = self.encode(api, version, correlation_id, body)?;
        let request_bytes = frame.len();
        // Reserve room in the queue first: between registering the request and queueing its
        // frame there is no `.await`, so a caller that gives up cannot leave a request
        // registered that was never sent.
        let queued = self.outgoing.reserve().await.map_err(|_| self.closed())?;
        let (reply, response) = oneshot::channel();
        self.shared.register(correlation_id, reply, slot)?;
        queued.send(Outgoing {
            frame,
            written: None,
        });
        Ok(PendingFrame {
            client: self.clone(),
            response,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            api,
            request_bytes,
        })
    }

    fn encode<M: Message>(
        &self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        body: &M,
    ) -> Result<bytes::Bytes, ClientError> {
        frame::encode(
            &self.shared.addr,
            api,
            version,
            correlation_id,
            &self.shared.client_id,
            body,
        )
    }

    /// The error for a connection whose tasks are gone.
    fn closed(&self) -> ClientError {
        self.shared.check_open().err().unwrap_or_else(|| {
            self.shared
                .closed_error("the connection's tasks stopped".into())
        })
    }
}

/// A response and what the caller may want to know about its arrival.
#[derive(Debug)]
pub(crate) struct Received<M> {
    pub(crate) body: M,
    /// When the reader task read the frame (before the caller got to it).
    pub(crate) at: Instant,
    /// Bytes of the response on the wire, size prefix included.
    pub(crate) wire_bytes: usize,
}

/// The raw answer to one request in flight.
#[derive(Debug)]
struct PendingFrame {
    /// Keeps the connection open while the answer is awaited.
    client: KafkaClient,
    response: oneshot::Receiver<Result<Frame, ClientError>>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    api: ApiKey,
    request_bytes: usize,
}

impl Future for PendingFrame {
    type Output = Result<Frame, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(answer) = Pin::new(&mut self.response).poll(cx) {
            return Poll::Ready(answer.unwrap_or_else(|_| Err(self.client.closed())));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let error = ClientError::Timeout {
                addr: self.client.shared.addr.clone(),
                api: self.api,
                timeout: self.timeout,
            };
            self.client.shared.close(&error.to_string());
            return Poll::Ready(Err(error));
        }
        Poll::Pending
    }
}

/// The typed answer to one request in flight: a future of [`Received`]. Dropping it abandons
/// the answer (the connection stays usable).
#[derive(Debug)]
pub(crate) struct Pending<M> {
    frame: PendingFrame,
    version: i16,
    _response: PhantomData<fn() -> M>,
}

impl<M: Message> Pending<M> {
    /// Bytes of the request on the wire, size prefix included.
    pub(crate) fn request_bytes(&self) -> usize {
        self.frame.request_bytes
    }

    /// The answer if it has already arrived (or failed), without waiting. Once it has given
    /// the answer, the `Pending` is spent: like a completed future, it must not be asked again.
    pub(crate) fn ready(&mut self) -> Option<Result<Received<M>, ClientError>> {
        match Pin::new(self).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(answer) => Some(answer),
            Poll::Pending => None,
        }
    }
}

impl<M: Message> Future for Pending<M> {
    type Output = Result<Received<M>, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let frame = match Pin::new(&mut self.frame).poll(cx) {
            Poll::Ready(Ok(frame)) => frame,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let wire_bytes = frame.bytes.len() + 4;
        let mut bytes = frame.bytes;
        let version = self.version;
        let decoded = decode_response::<M>(self.frame.api, version, &mut bytes).map_err(|e| {
            ClientError::Decode {
                addr: self.frame.client.shared.addr.clone(),
                response: M::NAME,
                version,
                detail: e.to_string(),
            }
        });
        Poll::Ready(decoded.map(|(_, body)| Received {
            body,
            at: frame.received,
            wire_bytes,
        }))
    }
}
