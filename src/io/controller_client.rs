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
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, UpdateFeaturesRequest,
    UpdateFeaturesResponse,
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
    UpdateFeatures(
        UpdateFeaturesRequest,
        oneshot::Sender<UpdateFeaturesResponse>,
    ),
    /// The metadata log's retention pass, due every minute (Kafka's `maybeClean`); sent by
    /// the metadata thread's own timer task.
    Housekeeping,
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

/// A request the controller decides. `failed` is its answer when the decision cannot be
/// carried out: every entry of the request gets `code` (the controller is gone, or its
/// records could not be appended to the metadata log).
pub(crate) trait ControllerCall: Sized {
    type Response: Send + 'static;
    /// The answer that fails every entry of this request with `code`.
    fn failed(&self, code: ErrorCode) -> Self::Response;
    /// This request with where its answer goes, for the metadata thread's queue.
    fn into_request(self, reply: oneshot::Sender<Self::Response>) -> ControllerRequest;
}

impl ControllerClient {
    pub(crate) fn new(tx: mpsc::Sender<ControllerRequest>) -> Self {
        Self { tx }
    }

    /// Sends `req` to the controller and waits for its committed answer.
    pub(crate) async fn call<R: ControllerCall>(&self, req: R) -> R::Response {
        let unavailable = req.failed(UNAVAILABLE);
        let (tx, rx) = oneshot::channel();
        if self.tx.send(req.into_request(tx)).await.is_err() {
            return unavailable;
        }
        rx.await.unwrap_or(unavailable)
    }
}

impl ControllerCall for CreateTopicsRequest {
    type Response = CreateTopicsResponse;
    fn failed(&self, code: ErrorCode) -> CreateTopicsResponse {
        let topics = self
            .topics
            .iter()
            .map(|t| CreatableTopicResult {
                name: t.name.clone(),
                error_code: code.code(),
                ..Default::default()
            })
            .collect();
        CreateTopicsResponse {
            topics,
            ..Default::default()
        }
    }
    fn into_request(self, reply: oneshot::Sender<CreateTopicsResponse>) -> ControllerRequest {
        ControllerRequest::CreateTopics(self, reply)
    }
}

impl ControllerCall for DeleteTopicsRequest {
    type Response = DeleteTopicsResponse;
    fn failed(&self, code: ErrorCode) -> DeleteTopicsResponse {
        let responses = self
            .topics
            .iter()
            .map(|t| DeletableTopicResult {
                name: t.name.clone(),
                topic_id: t.topic_id,
                error_code: code.code(),
                ..Default::default()
            })
            .collect();
        DeleteTopicsResponse {
            responses,
            ..Default::default()
        }
    }
    fn into_request(self, reply: oneshot::Sender<DeleteTopicsResponse>) -> ControllerRequest {
        ControllerRequest::DeleteTopics(self, reply)
    }
}

impl ControllerCall for CreatePartitionsRequest {
    type Response = CreatePartitionsResponse;
    fn failed(&self, code: ErrorCode) -> CreatePartitionsResponse {
        let results = self
            .topics
            .iter()
            .map(|t| CreatePartitionsTopicResult {
                name: t.name.clone(),
                error_code: code.code(),
                ..Default::default()
            })
            .collect();
        CreatePartitionsResponse {
            results,
            ..Default::default()
        }
    }
    fn into_request(self, reply: oneshot::Sender<CreatePartitionsResponse>) -> ControllerRequest {
        ControllerRequest::CreatePartitions(self, reply)
    }
}

impl ControllerCall for AlterConfigsRequest {
    type Response = AlterConfigsResponse;
    fn failed(&self, code: ErrorCode) -> AlterConfigsResponse {
        let responses = self
            .resources
            .iter()
            .map(|r| AlterConfigsResourceResponse {
                error_code: code.code(),
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            })
            .collect();
        AlterConfigsResponse {
            responses,
            ..Default::default()
        }
    }
    fn into_request(self, reply: oneshot::Sender<AlterConfigsResponse>) -> ControllerRequest {
        ControllerRequest::AlterConfigs(self, reply)
    }
}

impl ControllerCall for IncrementalAlterConfigsRequest {
    type Response = IncrementalAlterConfigsResponse;
    fn failed(&self, code: ErrorCode) -> IncrementalAlterConfigsResponse {
        let responses = self
            .resources
            .iter()
            .map(|r| iac::AlterConfigsResourceResponse {
                error_code: code.code(),
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            })
            .collect();
        IncrementalAlterConfigsResponse {
            responses,
            ..Default::default()
        }
    }
    fn into_request(
        self,
        reply: oneshot::Sender<IncrementalAlterConfigsResponse>,
    ) -> ControllerRequest {
        ControllerRequest::IncrementalAlterConfigs(self, reply)
    }
}

/// A block of producer ids for a broker (KIP-730).
impl ControllerCall for AllocateProducerIdsRequest {
    type Response = AllocateProducerIdsResponse;
    fn failed(&self, code: ErrorCode) -> AllocateProducerIdsResponse {
        AllocateProducerIdsResponse {
            error_code: code.code(),
            ..Default::default()
        }
    }
    fn into_request(
        self,
        reply: oneshot::Sender<AllocateProducerIdsResponse>,
    ) -> ControllerRequest {
        ControllerRequest::AllocateProducerIds(self, reply)
    }
}

/// Feature level changes (KIP-584); a failure fails the whole request, as Kafka's does.
impl ControllerCall for UpdateFeaturesRequest {
    type Response = UpdateFeaturesResponse;
    fn failed(&self, code: ErrorCode) -> UpdateFeaturesResponse {
        UpdateFeaturesResponse {
            error_code: code.code(),
            ..Default::default()
        }
    }
    fn into_request(self, reply: oneshot::Sender<UpdateFeaturesResponse>) -> ControllerRequest {
        ControllerRequest::UpdateFeatures(self, reply)
    }
}
