//! Fetch: read whole batches from each requested partition's log, from the fetch offset up
//! to the high watermark, within the partition and response byte limits; when fewer than
//! `min_bytes` are ready, wait (long poll) until new data arrives or `max_wait_ms` passes.
//! Which partitions a request covers, and which an answer must carry, follow the client's
//! incremental fetch session (KIP-227, `fetch_session.rs`).

use std::time::Duration;

use protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::messages::{FetchRequest, FetchResponse};
use protocol::{versions, ErrorCode};
use storage::TopicPartition;

use super::fetch_session::{LastSent, PartitionKey};
use super::replica_manager::{ReadOutcome, ReadRequest};
use super::Broker;

/// Upper bound on how long one fetch may wait, whatever the client asks.
const FETCH_WAIT_MAX: Duration = Duration::from_secs(30);

impl Broker {
    pub(super) async fn fetch(&self, req: FetchRequest, version: i16) -> FetchResponse {
        let session = match self.fetch_sessions.begin(&req, version) {
            Ok(s) => s,
            Err(code) => {
                return FetchResponse {
                    error_code: code.code(),
                    ..Default::default()
                }
            }
        };
        let image = self.image();
        let unknown = if version >= 13 {
            ErrorCode::UNKNOWN_TOPIC_ID
        } else {
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        };
        // Resolve each partition: (key, what to read or why not, what the client last heard).
        let mut plan = Vec::with_capacity(session.partitions.len());
        for (key, fetch, last) in session.partitions {
            let topic = if version >= 13 {
                image.topics.by_id(&key.topic_id)
            } else {
                image.topics.by_name(&key.topic)
            };
            let read = match topic.map(|t| (t, t.partitions.get(&key.partition))) {
                _ if version < versions::FETCH_MAGIC_V2_MIN => {
                    Err(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT)
                }
                None | Some((_, None)) => Err(unknown),
                Some((_, Some(reg))) if reg.leader != self.settings.node_id => {
                    Err(ErrorCode::NOT_LEADER_OR_FOLLOWER)
                }
                Some((t, Some(_))) => Ok(ReadRequest {
                    tp: TopicPartition::new(t.name.clone(), key.partition),
                    fetch_offset: fetch.fetch_offset,
                    max_bytes: fetch.max_bytes.max(0) as usize,
                    current_leader_epoch: fetch.current_leader_epoch,
                }),
            };
            plan.push((key, read, last));
        }

        let reads: Vec<ReadRequest> = plan
            .iter()
            .filter_map(|(_, r, _)| r.as_ref().ok().cloned())
            .collect();
        let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MAX);
        let max_bytes = req.max_bytes.max(0) as usize;
        let mut outcomes = self
            .replicas
            .read_with_wait(reads, max_bytes, req.min_bytes.max(0) as usize, wait)
            .await
            .into_iter();

        let mut responses: Vec<FetchableTopicResponse> = Vec::new();
        let mut sent: Vec<(PartitionKey, LastSent)> = Vec::new();
        for (key, read, last) in plan {
            let mut data = PartitionData {
                partition_index: key.partition,
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: Some(bytes::Bytes::new()),
                ..Default::default()
            };
            match read {
                Err(error) => data.error_code = error.code(),
                Ok(_) => match outcomes.next() {
                    Some(ReadOutcome::Read {
                        records,
                        high_watermark,
                        log_start_offset,
                    }) => {
                        data.high_watermark = high_watermark;
                        data.last_stable_offset = high_watermark;
                        data.log_start_offset = log_start_offset;
                        data.records = Some(records);
                    }
                    Some(ReadOutcome::Failed {
                        error,
                        high_watermark,
                        log_start_offset,
                    }) => {
                        data.error_code = error.code();
                        data.high_watermark = high_watermark;
                        data.last_stable_offset = high_watermark;
                        data.log_start_offset = log_start_offset;
                    }
                    None => data.error_code = ErrorCode::UNKNOWN_SERVER_ERROR.code(),
                },
            }
            let now = LastSent {
                high_watermark: data.high_watermark,
                log_start_offset: data.log_start_offset,
            };
            let has_news = data.error_code != 0
                || data.records.as_ref().is_some_and(|r| !r.is_empty())
                || now != last;
            if session.incremental && !has_news {
                continue;
            }
            sent.push((key.clone(), now));
            match responses.last_mut() {
                Some(t) if t.topic == key.topic && t.topic_id == key.topic_id => {
                    t.partitions.push(data)
                }
                _ => responses.push(FetchableTopicResponse {
                    topic: key.topic,
                    topic_id: key.topic_id,
                    partitions: vec![data],
                }),
            }
        }
        self.fetch_sessions.sent(session.session_id, sent);
        FetchResponse {
            responses,
            session_id: session.session_id,
            ..Default::default()
        }
    }
}
