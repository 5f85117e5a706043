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
        let validate_only = req.validate_only;
        let resp = self.controller.call(req).await;
        if !validate_only {
            self.wait_for_topics(&resp).await;
        }
        resp
    }

    /// Waits until every topic the controller created is in the broker's image.
    pub(super) async fn wait_for_topics(&self, resp: &CreateTopicsResponse) {
        let created: Vec<&str> = resp
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .map(|t| t.name.as_str())
            .collect();
        if !created.is_empty() {
            self.wait_for_image(|image| created.iter().all(|n| image.topics.by_name(n).is_some()))
                .await;
        }
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
        self.controller.call(req).await
    }

    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        self.controller.call(req).await
    }
}
