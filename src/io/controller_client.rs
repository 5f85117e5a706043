//! The broker's handle on the controller: requests that change metadata are sent to the
//! metadata thread (`io::quorum`) and answered once their records are committed.
//!
//! In this single-node KRaft server the controller runs in-process; when the quorum issue adds
//! remote controllers, this becomes the forwarding client (KIP-590) without the broker's
//! handlers changing.

use protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use protocol::messages::create_topics_response::CreatableTopicResult;
use protocol::messages::delete_topics_response::DeletableTopicResult;
use protocol::messages::incremental_alter_configs_response as iac;
use protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterConfigsRequest,
    AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot};

/// Bound on queued controller requests; senders wait when it is full.
pub(crate) const CONTROLLER_QUEUE_MAX: usize = 1024;

/// A request to the controller, with where to send the answer.
#[derive(Debug)]
pub(crate) enum ControllerRequest {
    CreateTopics(CreateTopicsRequest, oneshot::Sender<CreateTopicsResponse>),
    DeleteTopics(DeleteTopicsRequest, oneshot::Sender<DeleteTopicsResponse>),
    CreatePartitions(
        CreatePartitionsRequest,
        oneshot::Sender<CreatePartitionsResponse>,
    ),
    AlterConfigs(AlterConfigsRequest, oneshot::Sender<AlterConfigsResponse>),
    IncrementalAlterConfigs(
        IncrementalAlterConfigsRequest,
        oneshot::Sender<IncrementalAlterConfigsResponse>,
    ),
    AllocateProducerIds(
        AllocateProducerIdsRequest,
        oneshot::Sender<AllocateProducerIdsResponse>,
    ),
    /// Server shutdown: the metadata thread answers what is queued before this and stops.
    /// (Broker handles outlive the thread, so the channel closing cannot be the signal.)
    Shutdown,
}

/// Sends requests to the controller.
#[derive(Debug, Clone)]
pub(crate) struct ControllerClient {
    tx: mpsc::Sender<ControllerRequest>,
}

/// What a client sees when the controller is gone (shutting down).
const UNAVAILABLE: ErrorCode = ErrorCode::NOT_CONTROLLER;

impl ControllerClient {
    pub(crate) fn new(tx: mpsc::Sender<ControllerRequest>) -> Self {
        Self { tx }
    }

    async fn call<Req, Resp>(
        &self,
        req: Req,
        wrap: fn(Req, oneshot::Sender<Resp>) -> ControllerRequest,
    ) -> Option<Resp> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(wrap(req, tx)).await.ok()?;
        rx.await.ok()
    }

    pub(crate) async fn create_topics(&self, req: CreateTopicsRequest) -> CreateTopicsResponse {
        let names: Vec<String> = req.topics.iter().map(|t| t.name.clone()).collect();
        self.call(req, ControllerRequest::CreateTopics)
            .await
            .unwrap_or_else(|| CreateTopicsResponse {
                topics: names
                    .into_iter()
                    .map(|name| CreatableTopicResult {
                        name,
                        error_code: UNAVAILABLE.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
    }

    pub(crate) async fn delete_topics(&self, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
        let topics: Vec<_> = req
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect();
        self.call(req, ControllerRequest::DeleteTopics)
            .await
            .unwrap_or_else(|| DeleteTopicsResponse {
                responses: topics
                    .into_iter()
                    .map(|(name, topic_id)| DeletableTopicResult {
                        name,
                        topic_id,
                        error_code: UNAVAILABLE.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
    }

    pub(crate) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let names: Vec<String> = req.topics.iter().map(|t| t.name.clone()).collect();
        self.call(req, ControllerRequest::CreatePartitions)
            .await
            .unwrap_or_else(|| CreatePartitionsResponse {
                results: names
                    .into_iter()
                    .map(|name| CreatePartitionsTopicResult {
                        name,
                        error_code: UNAVAILABLE.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
    }

    pub(crate) async fn alter_configs(&self, req: AlterConfigsRequest) -> AlterConfigsResponse {
        let resources: Vec<_> = req
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.clone()))
            .collect();
        self.call(req, ControllerRequest::AlterConfigs)
            .await
            .unwrap_or_else(|| AlterConfigsResponse {
                responses: resources
                    .into_iter()
                    .map(
                        |(resource_type, resource_name)| AlterConfigsResourceResponse {
                            error_code: UNAVAILABLE.code(),
                            resource_type,
                            resource_name,
                            ..Default::default()
                        },
                    )
                    .collect(),
                ..Default::default()
            })
    }

    /// A block of producer ids for this broker (KIP-730).
    pub(crate) async fn allocate_producer_ids(
        &self,
        req: AllocateProducerIdsRequest,
    ) -> AllocateProducerIdsResponse {
        self.call(req, ControllerRequest::AllocateProducerIds)
            .await
            .unwrap_or_else(|| AllocateProducerIdsResponse {
                error_code: UNAVAILABLE.code(),
                ..Default::default()
            })
    }

    pub(crate) async fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let resources: Vec<_> = req
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.clone()))
            .collect();
        self.call(req, ControllerRequest::IncrementalAlterConfigs)
            .await
            .unwrap_or_else(|| IncrementalAlterConfigsResponse {
                responses: resources
                    .into_iter()
                    .map(
                        |(resource_type, resource_name)| iac::AlterConfigsResourceResponse {
                            error_code: UNAVAILABLE.code(),
                            resource_type,
                            resource_name,
                            ..Default::default()
                        },
                    )
                    .collect(),
                ..Default::default()
            })
    }
}
