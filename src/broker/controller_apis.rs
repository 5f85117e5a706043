//! CreateTopics, DeleteTopics, CreatePartitions, UpdateFeatures: validated and decided by the controller,
//! which answers after the resulting records are committed to the metadata log, so a client
//! that sees success then finds the topic in Metadata.

use kraft::controller::features;
use protocol::messages::delete_topics_response::DeletableTopicResult;
use protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use protocol::ErrorCode;

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
        if !self.settings.delete_topic_enable {
            return deletion_disabled(&req, version);
        }
        self.controller.call(req).await
    }

    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        self.controller.call(req).await
    }

    /// v0 says "downgrade allowed" with a flag where v1 names the upgrade type; the
    /// controller sees only the type (a v0 downgrade is a safe one, as in Kafka's admin
    /// client). A change is answered once this broker's image has the new levels, so the
    /// next ApiVersions shows them.
    pub(super) async fn update_features(
        &self,
        req: UpdateFeaturesRequest,
        version: i16,
    ) -> UpdateFeaturesResponse {
        let mut req = req;
        if version == 0 {
            for u in &mut req.feature_updates {
                u.upgrade_type = if u.allow_downgrade {
                    features::SAFE_DOWNGRADE
                } else {
                    features::UPGRADE
                };
            }
        }
        let wanted: Vec<(String, i16)> = req
            .feature_updates
            .iter()
            .map(|u| (u.feature.clone(), u.max_version_level))
            .collect();
        let validate_only = req.validate_only;
        let resp = self.controller.call(req).await;
        if resp.error_code == ErrorCode::NONE.code() && !validate_only {
            self.wait_for_image(|image| {
                wanted
                    .iter()
                    .all(|(name, level)| image.features.level(name) == *level)
            })
            .await;
        }
        resp
    }
}

/// `delete.topic.enable=false`: every topic of the request fails, untouched. Kafka's
/// `ControllerApis.deleteTopics` throws before looking at the topics — TOPIC_DELETION_DISABLED,
/// or INVALID_REQUEST for v0-2, which predate that code — and `DeleteTopicsRequest
/// .getErrorResponse` answers each topic as given (name, id) with the code and no message.
fn deletion_disabled(req: &DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let code = if version < 3 {
        ErrorCode::INVALID_REQUEST
    } else {
        ErrorCode::TOPIC_DELETION_DISABLED
    };
    DeleteTopicsResponse {
        responses: req
            .topics
            .iter()
            .map(|t| DeletableTopicResult {
                name: t.name.clone(),
                topic_id: t.topic_id,
                error_code: code.code(),
                error_message: None,
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::delete_topics_request::DeleteTopicState;
    use protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse};
    use protocol::{ErrorCode, Uuid};

    use crate::broker::test_broker::TestBroker;

    /// `delete.topic.enable=false` refuses every topic, by name (v0-5 and v6) and by id (v6),
    /// without reaching the controller (the test broker has none).
    #[tokio::test]
    async fn delete_topic_enable_false_refuses_every_topic() {
        let b = TestBroker::new(&["delete.topic.enable=false"]);
        let id = Uuid([7; 16]);
        for version in [1, 2, 3, 5, 6] {
            let req = if version < 6 {
                DeleteTopicsRequest {
                    topic_names: vec!["a".into(), "b".into()],
                    timeout_ms: 1000,
                    ..Default::default()
                }
            } else {
                DeleteTopicsRequest {
                    topics: vec![
                        DeleteTopicState {
                            name: Some("a".into()),
                            topic_id: Uuid::ZERO,
                        },
                        DeleteTopicState {
                            name: None,
                            topic_id: id,
                        },
                    ],
                    timeout_ms: 1000,
                    ..Default::default()
                }
            };
            let resp: DeleteTopicsResponse = b.call(ApiKey::DeleteTopics, version, &req).await;
            let expected = if version < 3 {
                ErrorCode::INVALID_REQUEST
            } else {
                ErrorCode::TOPIC_DELETION_DISABLED
            };
            let got: Vec<(Option<String>, i16)> = resp
                .responses
                .iter()
                .map(|r| (r.name.clone(), r.error_code))
                .collect();
            let second = if version < 6 { Some("b".into()) } else { None };
            assert_eq!(
                got,
                vec![
                    (Some("a".into()), expected.code()),
                    (second, expected.code())
                ],
                "v{version}"
            );
            if version >= 6 {
                assert_eq!(resp.responses[1].topic_id, id);
            }
            assert!(resp.responses.iter().all(|r| r.error_message.is_none()));
        }
    }
}
