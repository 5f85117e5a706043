//! DeleteTopics by name (all versions) and by topic id (v6+): the request checks of Kafka's
//! `ControllerApis.deleteTopics` and `ReplicationControlManager.deleteTopic`. Output: one
//! RemoveTopicRecord per topic (replaying it drops the topic's configs too).

use metadata::{MetadataImage, MetadataRecord, MetadataRecordBody};
use protocol::messages::delete_topics_response::DeletableTopicResult;
use protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, RemoveTopicRecord};
use protocol::{ErrorCode, Uuid};

use crate::controller::{ApiError, ControllerResult};

fn deletable(name: Option<String>, topic_id: Uuid, e: Option<ApiError>) -> DeletableTopicResult {
    let (code, message) = match e {
        Some(e) => (e.code, e.message),
        None => (ErrorCode::NONE, None),
    };
    DeletableTopicResult {
        name,
        topic_id,
        error_code: code.code(),
        error_message: message,
    }
}

/// Handles DeleteTopics, by name (all versions) and by topic id (v6+), with
/// `ControllerApis.deleteTopics`' checks. Responses come in a fixed order (Kafka shuffles
/// them; clients match by name or id).
pub fn delete_topics(
    image: &MetadataImage,
    req: &DeleteTopicsRequest,
) -> ControllerResult<DeleteTopicsResponse> {
    let mut responses = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut dup_names: Vec<String> = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    let mut dup_ids: Vec<Uuid> = Vec::new();
    let add_name = |name: &str, names: &mut Vec<String>, dup_names: &mut Vec<String>| {
        if dup_names.iter().any(|n| n == name) {
            return;
        }
        if let Some(i) = names.iter().position(|n| n == name) {
            names.remove(i);
            dup_names.push(name.to_string());
        } else {
            names.push(name.to_string());
        }
    };
    for name in &req.topic_names {
        add_name(name, &mut names, &mut dup_names);
    }
    for t in &req.topics {
        match (&t.name, t.topic_id.is_zero()) {
            (None, true) => responses.push(deletable(
                None,
                Uuid::ZERO,
                Some(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Neither topic name nor id were specified.",
                )),
            )),
            (None, false) => {
                if dup_ids.contains(&t.topic_id) {
                    continue;
                }
                if let Some(i) = ids.iter().position(|id| *id == t.topic_id) {
                    ids.remove(i);
                    dup_ids.push(t.topic_id);
                } else {
                    ids.push(t.topic_id);
                }
            }
            (Some(name), true) => add_name(name, &mut names, &mut dup_names),
            (Some(name), false) => responses.push(deletable(
                Some(name.clone()),
                t.topic_id,
                Some(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    "You may not specify both topic name and topic id.",
                )),
            )),
        }
    }
    for name in &dup_names {
        responses.push(deletable(
            Some(name.clone()),
            Uuid::ZERO,
            Some(ApiError::new(
                ErrorCode::INVALID_REQUEST,
                "Duplicate topic name.",
            )),
        ));
    }
    for id in &dup_ids {
        responses.push(deletable(
            None,
            *id,
            Some(ApiError::new(
                ErrorCode::INVALID_REQUEST,
                "Duplicate topic id.",
            )),
        ));
    }
    // Resolve ids to names, then names to ids; `to_delete` keeps request order.
    let mut to_delete: Vec<(Uuid, String)> = Vec::new();
    for id in ids {
        match image.topics.by_id(&id) {
            Some(t) => to_delete.push((id, t.name.clone())),
            None => responses.push(deletable(
                None,
                id,
                Some(ApiError::default_for(ErrorCode::UNKNOWN_TOPIC_ID)),
            )),
        }
    }
    for name in names {
        match image.topics.id_of(&name) {
            None => responses.push(deletable(
                Some(name),
                Uuid::ZERO,
                Some(ApiError::default_for(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)),
            )),
            Some(id) if dup_ids.contains(&id) || to_delete.iter().any(|(i, _)| *i == id) => {
                // The same topic named both by id and by name.
                to_delete.retain(|(i, _)| *i != id);
                responses.push(deletable(
                    Some(name),
                    id,
                    Some(ApiError::new(
                        ErrorCode::INVALID_REQUEST,
                        "The provided topic name maps to an ID that was already supplied.",
                    )),
                ));
            }
            Some(id) => to_delete.push((id, name)),
        }
    }
    let mut records = Vec::new();
    for (id, name) in to_delete {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::RemoveTopic(RemoveTopicRecord { topic_id: id }),
        ));
        responses.push(deletable(Some(name), id, None));
    }
    ControllerResult::new(
        records,
        DeleteTopicsResponse {
            throttle_time_ms: 0,
            responses,
        },
    )
}
