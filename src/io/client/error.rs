//! What a caller of [`super::KafkaClient`] can be told went wrong. Each error names the peer,
//! and the request where there is one, so a log line or a tool's message needs no context.

use std::sync::Arc;
use std::time::Duration;

use protocol::messages::ApiKey;
use protocol::ErrorCode;

/// An error of one Kafka client connection.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("connecting to {addr}: no answer within {} ms", .timeout.as_millis())]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: Arc<str> },
    /// The connection is closed; every request in flight on it failed with this. `reason`
    /// says why: the peer closed it, sent bytes that are not a Kafka response, a request
    /// timed out, or every handle was dropped.
    #[error("the connection to {addr} is closed: {reason}")]
    Closed { addr: String, reason: Arc<str> },
    /// No response within the request's timeout. Kafka's `NetworkClient` closes the
    /// connection then (a late answer could not be told from a wrong one), and so do we.
    #[error(
        "no {api:?} response from {addr} within {} ms (request.timeout.ms); the connection \
         is closed",
        .timeout.as_millis()
    )]
    Timeout {
        addr: String,
        api: ApiKey,
        timeout: Duration,
    },
    #[error("cannot decode {response} v{version} from {addr}: {detail}")]
    Decode {
        addr: String,
        response: &'static str,
        version: i16,
        detail: String,
    },
    #[error("the broker at {addr} does not serve {api:?} (not listed in its ApiVersions)")]
    ApiNotServed { addr: String, api: ApiKey },
    #[error(
        "the broker at {addr} serves {api:?} v{broker_min}-{broker_max}; this client needs \
         v{min}-{max}"
    )]
    NoCommonVersion {
        addr: String,
        api: ApiKey,
        broker_min: i16,
        broker_max: i16,
        min: i16,
        max: i16,
    },
    #[error("ApiVersions to {addr} failed: {code}")]
    ApiVersions { addr: String, code: ErrorCode },
    #[error("{request} request of {bytes} bytes is too large to send to {addr}")]
    RequestTooLarge {
        addr: String,
        request: &'static str,
        bytes: usize,
    },
}
