//! The listener over real loopback sockets and the test broker: shutdown waits for the request
//! a connection is answering and no longer, and `connections.max.idle.ms` closes only idle
//! connections.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use protocol::header::{decode_response, encode_request, RequestHeader};
use protocol::messages::create_topics_request::CreatableTopic;
use protocol::messages::create_topics_response::CreatableTopicResult;
use protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    FetchRequest, FetchResponse, Message,
};
use protocol::{ErrorCode, Uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{serve, ConnectionSettings};
use crate::broker::test_broker::{topic_records, TestBroker};
use crate::io::controller_client::ControllerRequest;

/// Generous bound on anything that should happen promptly (a loaded CI machine is slow).
const PROMPTLY: Duration = Duration::from_secs(10);

/// A listener on an ephemeral loopback port serving `broker`.
struct Server {
    addr: std::net::SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn start(broker: &TestBroker, settings: ConnectionSettings) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, broker.broker.clone(), settings, rx));
    Server {
        addr,
        shutdown,
        task,
    }
}

fn settings(max_idle: Option<Duration>) -> ConnectionSettings {
    ConnectionSettings {
        max_connections: 16,
        max_idle,
        shutdown_grace: Duration::from_secs(60),
    }
}

async fn send<M: Message>(conn: &mut TcpStream, api: ApiKey, version: i16, body: &M) {
    let header = RequestHeader {
        api_key: api as i16,
        api_version: version,
        correlation_id: 11,
        client_id: Some("net-test".into()),
    };
    conn.write_all(&encode_request(&header, body))
        .await
        .unwrap();
}

/// The next response on `conn`, or `None` at end of stream.
async fn receive<M: Message>(conn: &mut TcpStream, api: ApiKey, version: i16) -> Option<M> {
    let size = match conn.read_i32().await {
        Ok(size) => size,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("reading a response: {e}"),
    };
    let mut body = BytesMut::zeroed(usize::try_from(size).unwrap());
    conn.read_exact(&mut body).await.unwrap();
    let (correlation_id, message) =
        decode_response::<M>(api, version, &mut body.freeze()).expect("a well-formed response");
    assert_eq!(correlation_id, 11);
    Some(message)
}

/// One ApiVersions round trip: the connection is open and being served.
async fn round_trip(conn: &mut TcpStream) {
    send(conn, ApiKey::ApiVersions, 0, &ApiVersionsRequest::default()).await;
    let resp: ApiVersionsResponse = receive(conn, ApiKey::ApiVersions, 0)
        .await
        .expect("an ApiVersions answer");
    assert_eq!(resp.error_code, 0);
}

/// Whether the server closed `conn`: it reads end of stream (or a reset) within [`PROMPTLY`].
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(PROMPTLY, conn.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_request_in_flight_and_closes_idle_connections_at_once() {
    let (broker, mut controller) = TestBroker::with_controller(&[]);
    let server = start(&broker, settings(None)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    round_trip(&mut idle).await;

    // A CreateTopics waits for the controller, which this test answers: once the request
    // reaches the controller queue it is in flight, whatever the scheduling.
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    let create = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "t".into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    send(&mut busy, ApiKey::CreateTopics, 7, &create).await;
    let Some(ControllerRequest::CreateTopics(_, reply)) = controller.recv().await else {
        panic!("expected the CreateTopics at the controller");
    };

    server.shutdown.send(true).unwrap();
    assert!(
        closed_by_server(&mut idle).await,
        "an idle connection closes as shutdown starts"
    );
    let mut task = server.task;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut task)
            .await
            .is_err(),
        "the listener must not finish while a request is unanswered"
    );

    let answer = CreateTopicsResponse {
        topics: vec![CreatableTopicResult {
            name: "t".into(),
            error_code: ErrorCode::POLICY_VIOLATION.code(),
            ..Default::default()
        }],
        ..Default::default()
    };
    reply.send(answer).unwrap();
    let resp: CreateTopicsResponse = receive(&mut busy, ApiKey::CreateTopics, 7)
        .await
        .expect("the request in flight is answered during shutdown");
    assert_eq!(
        resp.topics[0].error_code,
        ErrorCode::POLICY_VIOLATION.code()
    );
    assert!(closed_by_server(&mut busy).await, "closed after the answer");
    tokio::time::timeout(PROMPTLY, task)
        .await
        .expect("the listener finishes once its connections have closed")
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_only_idle_connections_does_not_wait() {
    let broker = TestBroker::new(&[]);
    let server = start(&broker, settings(None)).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        round_trip(&mut conn).await;
        conns.push(conn);
    }
    let started = Instant::now();
    server.shutdown.send(true).unwrap();
    tokio::time::timeout(PROMPTLY, server.task)
        .await
        .expect("shutdown does not wait out request.timeout.ms (60 s here) for idle connections")
        .unwrap();
    assert!(started.elapsed() < PROMPTLY);
    for conn in &mut conns {
        assert!(closed_by_server(conn).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_busy_ones_are_not() {
    let broker = TestBroker::new(&[]);
    let topic_id = Uuid([3; 16]);
    broker.commit(topic_records("t", topic_id, 1));
    let max_idle = Duration::from_millis(300);
    let server = start(&broker, settings(Some(max_idle))).await;

    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    // Taken before the round trip: the server's idle time starts after this instant.
    let before_quiet = Instant::now();
    round_trip(&mut idle).await;
    assert!(
        closed_by_server(&mut idle).await,
        "the idle connection is closed"
    );
    assert!(
        before_quiet.elapsed() >= max_idle,
        "not before connections.max.idle.ms"
    );

    // A long poll on an empty partition: the server holds it for max_wait_ms, three times the
    // idle limit. A connection waiting for its answer is not idle.
    let mut polling = TcpStream::connect(server.addr).await.unwrap();
    let fetch = FetchRequest {
        replica_id: -1,
        max_wait_ms: 900,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
            topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let asked = Instant::now();
    send(&mut polling, ApiKey::Fetch, 12, &fetch).await;
    let resp: FetchResponse = receive(&mut polling, ApiKey::Fetch, 12)
        .await
        .expect("the long poll is answered, not cut off as idle");
    assert_eq!(resp.error_code, 0);
    assert!(asked.elapsed() >= Duration::from_millis(900));
    // And the connection is still open afterwards.
    round_trip(&mut polling).await;
    drop(server.shutdown);
}

#[test]
fn settings_follow_kafka_defaults_and_a_negative_idle_limit_disables_it() {
    let config = |overrides: &[&str]| {
        let props = "process.roles=broker,controller\nnode.id=1\n\
                     controller.quorum.voters=1@127.0.0.1:19093\n\
                     listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
                     controller.listener.names=CONTROLLER\nlog.dirs=/tmp/kb-unused\n";
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        crate::config::ServerConfig::parse(props, &overrides)
            .unwrap()
            .config
    };
    let s = ConnectionSettings::from_config(&config(&[]));
    assert_eq!(s.max_idle, Some(Duration::from_secs(600)));
    assert_eq!(s.shutdown_grace, Duration::from_secs(30));
    let s = ConnectionSettings::from_config(&config(&[
        "connections.max.idle.ms=-1",
        "request.timeout.ms=1500",
    ]));
    assert_eq!(s.max_idle, None);
    assert_eq!(s.shutdown_grace, Duration::from_millis(1500));
}
