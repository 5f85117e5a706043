//! The client against a fake broker on a 127.0.0.1 socket in this process: negotiation,
//! pipelining, and every way a peer can misbehave (truncated, oversized and garbage frames,
//! wrong correlation ids, silence, closing mid-request). None may panic.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use protocol::header::{encode_response, RequestHeader};
use protocol::messages::api_versions_response::ApiVersion;
use protocol::messages::{
    ApiKey, ApiVersionsResponse, HeartbeatRequest, HeartbeatResponse, Message,
};
use protocol::{versions, ErrorCode};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// The broker's end of one connection.
struct Peer(TcpStream);

impl Peer {
    /// Reads one request frame: its header and body.
    async fn request(&mut self) -> (RequestHeader, Bytes) {
        let size = self.0.read_i32().await.expect("request size");
        let mut frame = vec![0u8; size as usize];
        self.0.read_exact(&mut frame).await.expect("request frame");
        let mut frame = Bytes::from(frame);
        let header = RequestHeader::decode(&mut frame).expect("request header");
        (header, frame)
    }

    async fn answer<M: Message>(&mut self, header: &RequestHeader, body: &M) {
        let api = ApiKey::from_i16(header.api_key).expect("known api");
        let frame = encode_response(api, header.api_version, header.correlation_id, body);
        self.0.write_all(&frame).await.expect("answer");
    }

    async fn raw(&mut self, bytes: &[u8]) {
        // The client may already have closed; that is what some tests wait for.
        let _ = self.0.write_all(bytes).await;
    }

    /// Answers ApiVersions with the broker's table.
    async fn negotiate(&mut self) {
        let (header, _) = self.request().await;
        assert_eq!(header.api_key, ApiKey::ApiVersions as i16);
        self.answer(&header, &versions::api_versions_response(ErrorCode::NONE))
            .await;
    }
}

fn config() -> ClientConfig {
    let mut config = ClientConfig::new("test", "kraftbridge-test");
    config.request_timeout = Duration::from_secs(5);
    config.response_bytes_max = 1024 * 1024;
    config
}

/// A client and the broker's end of its connection, past ApiVersions.
async fn connected(config: &ClientConfig) -> (KafkaClient, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let broker = async {
        let mut peer = Peer(listener.accept().await.unwrap().0);
        peer.negotiate().await;
        peer
    };
    let (client, peer) = tokio::join!(KafkaClient::connect(&addr, config), broker);
    (client.expect("connect"), peer)
}

fn heartbeat(generation_id: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        generation_id,
        member_id: "m".into(),
        group_instance_id: None,
    }
}

async fn start_heartbeat(client: &KafkaClient, generation_id: i32) -> Pending<HeartbeatResponse> {
    let version = client.version(ApiKey::Heartbeat, 0..=4).unwrap();
    client
        .start(
            ApiKey::Heartbeat,
            version,
            &heartbeat(generation_id),
            Duration::from_secs(5),
        )
        .await
        .unwrap()
}

fn closed_reason(e: ClientError) -> String {
    match e {
        ClientError::Closed { reason, .. } => reason.to_string(),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn pipelined_requests_are_matched_by_correlation_id() {
    let (client, mut peer) = connected(&config()).await;
    assert_eq!(client.version(ApiKey::Heartbeat, 0..=4).unwrap(), 4);
    let pending = [
        start_heartbeat(&client, 10).await,
        start_heartbeat(&client, 11).await,
        start_heartbeat(&client, 12).await,
    ];
    let mut requests = Vec::new();
    for _ in 0..3 {
        requests.push(peer.request().await);
    }
    // Answered in reverse order: each answer still reaches its own request.
    for (header, mut body) in requests.into_iter().rev() {
        let req = HeartbeatRequest::decode(&mut body, header.api_version).unwrap();
        let resp = HeartbeatResponse {
            throttle_time_ms: req.generation_id,
            error_code: 0,
        };
        peer.answer(&header, &resp).await;
    }
    for (p, generation) in pending.into_iter().zip(10..) {
        let received = p.await.unwrap();
        assert_eq!(received.body.throttle_time_ms, generation);
        assert_eq!(received.wire_bytes, 4 + 4 + 1 + 4 + 2 + 1);
    }
    // Many tasks share one handle.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .send::<_, HeartbeatResponse>(ApiKey::Heartbeat, 4, &heartbeat(i))
                    .await
                    .map(|r| r.throttle_time_ms)
            })
        })
        .collect();
    for _ in 0..8 {
        let (header, mut body) = peer.request().await;
        let req = HeartbeatRequest::decode(&mut body, header.api_version).unwrap();
        let resp = HeartbeatResponse {
            throttle_time_ms: req.generation_id,
            error_code: 0,
        };
        peer.answer(&header, &resp).await;
    }
    for (task, i) in tasks.into_iter().zip(0..) {
        assert_eq!(task.await.unwrap().unwrap(), i);
    }
}

#[tokio::test]
async fn falls_back_to_the_apiversions_version_the_broker_names() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let broker = async {
        let mut peer = Peer(listener.accept().await.unwrap().0);
        let (first, _) = peer.request().await;
        assert_eq!(first.api_version, super::versions::first_version());
        // KIP-511: UNSUPPORTED_VERSION, in the v0 layout, naming our ApiVersions range.
        let refusal = ApiVersionsResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION.0,
            api_keys: vec![ApiVersion {
                api_key: ApiKey::ApiVersions as i16,
                min_version: 0,
                max_version: 2,
            }],
            ..Default::default()
        };
        let frame = encode_response(ApiKey::ApiVersions, 0, first.correlation_id, &refusal);
        peer.raw(&frame).await;
        let (second, _) = peer.request().await;
        assert_eq!(second.api_version, 2);
        let table = ApiVersionsResponse {
            api_keys: vec![ApiVersion {
                api_key: ApiKey::Heartbeat as i16,
                min_version: 0,
                max_version: 2,
            }],
            ..Default::default()
        };
        peer.answer(&second, &table).await;
        peer
    };
    let config = config();
    let (client, _peer) = tokio::join!(KafkaClient::connect(&addr, &config), broker);
    let client = client.unwrap();
    assert_eq!(client.version(ApiKey::Heartbeat, 0..=4).unwrap(), 2);
    let e = client.version(ApiKey::Heartbeat, 3..=4).unwrap_err();
    assert!(matches!(e, ClientError::NoCommonVersion { .. }), "{e}");
    let e = client.version(ApiKey::Fetch, 4..=16).unwrap_err();
    assert!(e.to_string().contains("does not serve Fetch"), "{e}");
    // A request at a version the broker did not advertise is refused before it is sent.
    let e = client
        .send::<_, HeartbeatResponse>(ApiKey::Heartbeat, 4, &heartbeat(1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("v0-2"), "{e}");
}

#[tokio::test]
async fn an_apiversions_error_is_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let broker = async {
        let mut peer = Peer(listener.accept().await.unwrap().0);
        let (header, _) = peer.request().await;
        let refusal = ApiVersionsResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
            ..Default::default()
        };
        peer.raw(&encode_response(
            ApiKey::ApiVersions,
            0,
            header.correlation_id,
            &refusal,
        ))
        .await;
        peer
    };
    let config = config();
    let (client, _peer) = tokio::join!(KafkaClient::connect(&addr, &config), broker);
    let e = client.unwrap_err();
    assert!(matches!(e, ClientError::ApiVersions { .. }), "{e}");
}

#[tokio::test]
async fn a_refused_connect_names_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let e = KafkaClient::connect(&addr, &config()).await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    assert!(e.to_string().contains(&addr), "{e}");
}

#[tokio::test]
async fn a_truncated_frame_fails_the_request_and_closes() {
    let (client, mut peer) = connected(&config()).await;
    let pending = start_heartbeat(&client, 1).await;
    let (header, _) = peer.request().await;
    let mut frame = BytesMut::new();
    frame.put_i32(100);
    frame.put_i32(header.correlation_id);
    frame.put_slice(&[0; 6]);
    peer.raw(&frame).await;
    drop(peer);
    let reason = closed_reason(pending.await.unwrap_err());
    assert!(
        reason.contains("in the middle of a 100-byte response"),
        "{reason}"
    );
    let e = client
        .send::<_, HeartbeatResponse>(ApiKey::Heartbeat, 4, &heartbeat(2))
        .await
        .unwrap_err();
    assert!(closed_reason(e).contains("100-byte"));
}

#[tokio::test]
async fn an_oversized_or_negative_size_is_refused_before_reading() {
    for size in [i32::MAX, 1024 * 1024 + 1, -1] {
        let (client, mut peer) = connected(&config()).await;
        let pending = start_heartbeat(&client, 1).await;
        peer.request().await;
        // Only the size prefix: the client must not wait for (or reserve) the rest.
        peer.raw(&size.to_be_bytes()).await;
        let reason = closed_reason(pending.await.unwrap_err());
        assert!(
            reason.contains(&format!("frame of {size} bytes (accepted: 0 to 1048576)")),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_frame_too_short_for_a_correlation_id_closes() {
    let (client, mut peer) = connected(&config()).await;
    let pending = start_heartbeat(&client, 1).await;
    peer.request().await;
    peer.raw(&[0, 0, 0, 2, 0, 0]).await;
    let reason = closed_reason(pending.await.unwrap_err());
    assert!(reason.contains("too short"), "{reason}");
}

#[tokio::test]
async fn an_unknown_correlation_id_closes_and_fails_every_request() {
    let (client, mut peer) = connected(&config()).await;
    let first = start_heartbeat(&client, 1).await;
    let second = start_heartbeat(&client, 2).await;
    let (header, _) = peer.request().await;
    peer.request().await;
    let wrong = RequestHeader {
        correlation_id: 9999,
        ..header
    };
    let resp = HeartbeatResponse::default();
    peer.answer(&wrong, &resp).await;
    for pending in [first, second] {
        let reason = closed_reason(pending.await.unwrap_err());
        assert!(reason.contains("correlation id 9999"), "{reason}");
    }
}

#[tokio::test]
async fn a_slow_response_times_out_and_closes() {
    let (client, mut peer) = connected(&config()).await;
    let version = client.version(ApiKey::Heartbeat, 0..=4).unwrap();
    let other = start_heartbeat(&client, 2).await;
    let started = Instant::now();
    let e = client
        .send_within::<_, HeartbeatResponse>(
            ApiKey::Heartbeat,
            version,
            &heartbeat(1),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("no Heartbeat response"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(4));
    // The other request in flight fails with the reason; the peer's late answer reaches no one.
    let reason = closed_reason(other.await.unwrap_err());
    assert!(reason.contains("within 100 ms"), "{reason}");
    let (header, _) = peer.request().await;
    peer.answer(&header, &HeartbeatResponse::default()).await;
    assert!(client
        .send::<_, HeartbeatResponse>(ApiKey::Heartbeat, version, &heartbeat(3))
        .await
        .is_err());
}

#[tokio::test]
async fn the_peer_closing_fails_every_request_in_flight() {
    let (client, mut peer) = connected(&config()).await;
    let first = start_heartbeat(&client, 1).await;
    let second = start_heartbeat(&client, 2).await;
    peer.request().await;
    peer.request().await;
    drop(peer);
    for pending in [first, second] {
        let reason = closed_reason(pending.await.unwrap_err());
        assert_eq!(reason, "the peer closed the connection");
    }
}

#[tokio::test]
async fn a_garbage_body_is_a_decode_error_and_the_connection_stays() {
    let (client, mut peer) = connected(&config()).await;
    let pending = start_heartbeat(&client, 1).await;
    let (header, _) = peer.request().await;
    let mut frame = BytesMut::new();
    frame.put_i32(4 + 1 + 1);
    frame.put_i32(header.correlation_id);
    frame.put_slice(&[0, 0xff]); // empty tagged fields, then one byte of a 6-byte body
    peer.raw(&frame).await;
    let e = pending.await.unwrap_err();
    assert!(matches!(e, ClientError::Decode { .. }), "{e}");
    let next = start_heartbeat(&client, 2).await;
    let (header, _) = peer.request().await;
    peer.answer(&header, &HeartbeatResponse::default()).await;
    assert_eq!(next.await.unwrap().body, HeartbeatResponse::default());
}

#[tokio::test]
async fn a_request_without_response_is_written() {
    let (client, mut peer) = connected(&config()).await;
    let written = client
        .send_without_response(ApiKey::Heartbeat, 4, &heartbeat(7))
        .await
        .unwrap();
    let (header, mut body) = peer.request().await;
    assert_eq!(header.api_key, ApiKey::Heartbeat as i16);
    let req = HeartbeatRequest::decode(&mut body, 4).unwrap();
    assert_eq!(req.generation_id, 7);
    assert!(written > 4);
}

#[tokio::test]
async fn random_bytes_never_panic() {
    for seed in 0..64u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (client, mut peer) = connected(&config()).await;
        let pending = start_heartbeat(&client, 1).await;
        let (header, _) = peer.request().await;
        let len = rng.gen_range(0..64usize);
        let mut frame = BytesMut::new();
        frame.put_i32(rng.gen_range(-8..80));
        // Half the time, the right correlation id, so the body reaches the decoder.
        if rng.gen_bool(0.5) {
            frame.put_i32(header.correlation_id);
        }
        frame.extend((0..len).map(|_| rng.gen::<u8>()));
        peer.raw(&frame).await;
        drop(peer);
        // Any answer will do, as long as there is one and nothing panicked.
        let _ = pending.await;
    }
}
