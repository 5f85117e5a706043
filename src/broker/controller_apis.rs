//! CreateTopics, DeleteTopics, CreatePartitions: validated and decided by the controller,
//! which answers after the resulting records are committed to the metadata log, so a client
//! that sees success then finds the topic in Metadata.

use protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};

use super::Broker;

impl Broker {
    pub(super) async fn create_topics(&self, req: CreateTopicsRequest) -> CreateTopicsResponse {
        // Fields newer than the request's version (topic id, configs, …) are all ignorable:
        // the encoder leaves them out.
        self.controller.create_topics(req).await
    }

    pub(super) async fn delete_topics(
        &self,
        req: DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        // v0-5 name topics in `topic_names`; v6+ in `topics` (by name or by id).
        let mut req = req;
        if version < 6 {
            req.topics = req
                .topic_names
                .drain(..)
                .map(
                    |name| protocol::messages::delete_topics_request::DeleteTopicState {
                        name: Some(name),
                        ..Default::default()
                    },
                )
                .collect();
        }
        self.controller.delete_topics(req).await
    }

    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        self.controller.create_partitions(req).await
    }
}
