//! A broker for tests: the real `Broker` with a real replica manager and partition logs in a
//! temporary directory, following a metadata image built from records here (no controller,
//! no quorum, no sockets). Requests go through `Broker::handle_frame` as the frames a
//! connection reads do (`io::net`), so a test covers decoding, the handler, the logs and the
//! response encoding.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use metadata::{ConfigResource, MetadataDelta, MetadataImage, MetadataRecord, MetadataRecordBody};
use protocol::header::{decode_response, encode_request, RequestHeader};
use protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::messages::{
    ApiKey, ConfigRecord, Message, PartitionRecord, ProduceRequest, TopicRecord,
};
use protocol::Uuid;
use tokio::sync::{mpsc, watch};

use super::producer_state::ProducerExpiry;
use super::replica_manager::{partition_config_from, ReplicaManager};
use super::{Broker, Outcome};
use crate::config::ServerConfig;
use crate::io::controller_client::{ControllerClient, ControllerRequest};

/// The node id of the test broker (the leader of every partition it creates).
const NODE_ID: i32 = 1;

/// A single-node broker over a temporary log directory.
#[derive(Debug)]
pub(crate) struct TestBroker {
    pub(crate) broker: Arc<Broker>,
    image: watch::Sender<Arc<MetadataImage>>,
    _dir: tempfile::TempDir,
}

impl TestBroker {
    /// A broker with Kafka's defaults, changed by `overrides` (`key=value`, as
    /// `--override`).
    pub(crate) fn new(overrides: &[&str]) -> Self {
        // Nothing here answers for the controller: its requests fail as when it is gone.
        Self::with_controller(overrides).0
    }

    /// [`TestBroker::new`], with the queue on which its requests to the controller arrive,
    /// for the test to answer (or to hold a request in flight).
    pub(crate) fn with_controller(overrides: &[&str]) -> (Self, mpsc::Receiver<ControllerRequest>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let props = format!(
            "process.roles=broker,controller\nnode.id={NODE_ID}\n\
             controller.quorum.voters={NODE_ID}@127.0.0.1:19093\n\
             listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n\
             controller.listener.names=CONTROLLER\nlog.dirs={}\n",
            data.display()
        );
        let overrides: Vec<String> = overrides.iter().map(|o| o.to_string()).collect();
        let config = ServerConfig::parse(&props, &overrides)
            .expect("valid config")
            .config;
        let replicas = ReplicaManager::open(
            NODE_ID,
            data,
            partition_config_from(&config),
            ProducerExpiry::from_config(&config),
        )
        .expect("open the log directory");
        let (image, image_rx) = watch::channel(Arc::new(MetadataImage::empty()));
        let (controller_tx, controller_rx) = mpsc::channel(1);
        let controller = ControllerClient::new(controller_tx);
        let broker = Broker::new(
            &config,
            "test-cluster".into(),
            &config.advertised_listeners[0],
            image_rx,
            Arc::new(replicas),
            controller,
        );
        let test_broker = Self {
            broker: Arc::new(broker),
            image,
            _dir: dir,
        };
        (test_broker, controller_rx)
    }

    /// Commits `records` and applies the next image to the logs before the handlers see it,
    /// as `server::follow_image` does.
    pub(crate) fn commit(&self, records: Vec<MetadataRecordBody>) {
        let previous = self.image.borrow().clone();
        let next = Arc::new(next_image(&previous, records));
        self.broker.replicas.apply_image(Some(&previous), &next);
        self.image.send_replace(next);
    }

    /// Handles `frame` as a connection's task does.
    pub(crate) async fn handle(&self, frame: Bytes) -> Outcome {
        let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
        self.broker.handle_frame(frame, peer).await
    }

    /// Sends `body` and decodes the answer.
    pub(crate) async fn call<Req: Message, Resp: Message>(
        &self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let outcome = self.handle(request_frame(api, version, body)).await;
        response::<Resp>(api, version, outcome)
    }
}

/// `body` as the frame a connection hands to `handle_frame`: without its size prefix, in a
/// buffer of exactly its size (`io::net::read_frames`).
pub(crate) fn request_frame<M: Message>(api: ApiKey, version: i16, body: &M) -> Bytes {
    let header = RequestHeader {
        api_key: api as i16,
        api_version: version,
        correlation_id: 7,
        client_id: Some("test".into()),
    };
    let encoded = encode_request(&header, body);
    let mut frame = BytesMut::with_capacity(encoded.len() - 4);
    frame.extend_from_slice(&encoded[4..]);
    frame.freeze()
}

/// The response body of `outcome` (whole frame or parts).
pub(crate) fn response<M: Message>(api: ApiKey, version: i16, outcome: Outcome) -> M {
    let frame = match outcome {
        Outcome::Respond(frame) => frame.freeze(),
        Outcome::RespondParts(parts) => Bytes::from(parts.concat()),
        other => panic!("expected a response, got {other:?}"),
    };
    let mut body = frame.slice(4..);
    let (correlation_id, message) = decode_response::<M>(api, version, &mut body).expect("decode");
    assert_eq!(correlation_id, 7);
    message
}

/// `image` with `records` replayed.
pub(crate) fn next_image(image: &MetadataImage, records: Vec<MetadataRecordBody>) -> MetadataImage {
    let mut delta = MetadataDelta::new(image);
    for r in records {
        delta.replay(&MetadataRecord::new(0, r)).expect("replay");
    }
    delta.apply()
}

/// The records that create topic `name` with id `id` and `partitions` partitions, each led
/// by the test broker's node.
pub(crate) fn topic_records(name: &str, id: Uuid, partitions: i32) -> Vec<MetadataRecordBody> {
    let mut records = vec![MetadataRecordBody::Topic(TopicRecord {
        name: name.into(),
        topic_id: id,
    })];
    records.extend((0..partitions).map(|p| {
        MetadataRecordBody::Partition(PartitionRecord {
            partition_id: p,
            topic_id: id,
            replicas: vec![NODE_ID],
            isr: vec![NODE_ID],
            leader: NODE_ID,
            ..Default::default()
        })
    }));
    records
}

/// The record that sets (or, with `None`, removes) a topic config override.
pub(crate) fn topic_config_record(
    topic: &str,
    name: &str,
    value: Option<&str>,
) -> MetadataRecordBody {
    MetadataRecordBody::Config(ConfigRecord {
        resource_type: ConfigResource::TOPIC,
        resource_name: topic.into(),
        name: name.into(),
        value: value.map(Into::into),
    })
}

/// A Produce (`acks=-1`) of `batch` to partition 0 of `topic`.
pub(crate) fn produce_request(topic: &str, batch: Bytes) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch),
            }],
        }],
    }
}
