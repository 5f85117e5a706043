//! Fetch: read whole batches from each requested partition's log, from the fetch offset up
//! to the high watermark, within the partition and response byte limits; when fewer than
//! `min_bytes` are ready, wait (long poll) until new data arrives or `max_wait_ms` passes.
//!
//! Fetch sessions (KIP-227): we answer every fetch as a full, sessionless fetch (session id
//! 0), which KIP-227 allows a broker to do; clients then keep sending full requests.

use std::time::Duration;

use protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::messages::{FetchRequest, FetchResponse};
use protocol::{ErrorCode, Uuid};

use super::replica_manager::{ReadOutcome, ReadRequest};
use super::Broker;
use storage::TopicPartition;

/// Upper bound on how long one fetch may wait, whatever the client asks.
const FETCH_WAIT_MAX: Duration = Duration::from_secs(30);

impl Broker {
    pub(super) async fn fetch(&self, req: FetchRequest, version: i16) -> FetchResponse {
        let image = self.image();
        // Resolve each requested partition: (topic name, topic id, partition, request).
        let mut plan: Vec<(String, Uuid, Vec<(i32, Option<ReadRequest>, ErrorCode)>)> = Vec::new();
        for t in &req.topics {
            let topic = if version >= 13 {
                image.topics.by_id(&t.topic_id)
            } else {
                image.topics.by_name(&t.topic)
            };
            let (name, id) = match topic {
                Some(topic) => (topic.name.clone(), topic.id),
                None => (t.topic.clone(), t.topic_id),
            };
            let unknown = if version >= 13 {
                ErrorCode::UNKNOWN_TOPIC_ID
            } else {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            };
            let mut parts = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let entry = match topic.and_then(|tp| tp.partitions.get(&p.partition)) {
                    None => (p.partition, None, unknown),
                    Some(reg) if reg.leader != self.settings.node_id => {
                        (p.partition, None, ErrorCode::NOT_LEADER_OR_FOLLOWER)
                    }
                    Some(_) => (
                        p.partition,
                        Some(ReadRequest {
                            tp: TopicPartition::new(&name, p.partition),
                            fetch_offset: p.fetch_offset,
                            max_bytes: p.partition_max_bytes.max(0) as usize,
                            current_leader_epoch: p.current_leader_epoch,
                        }),
                        ErrorCode::NONE,
                    ),
                };
                parts.push(entry);
            }
            plan.push((name, id, parts));
        }

        let reads: Vec<ReadRequest> = plan
            .iter()
            .flat_map(|(_, _, ps)| ps.iter().filter_map(|(_, r, _)| r.clone()))
            .collect();
        let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MAX);
        let max_bytes = if version >= 3 {
            req.max_bytes.max(0) as usize
        } else {
            usize::MAX
        };
        let mut outcomes = self
            .replicas
            .read_with_wait(reads, max_bytes, req.min_bytes.max(0) as usize, wait)
            .await
            .into_iter();

        let mut responses = Vec::with_capacity(plan.len());
        for (name, id, parts) in plan {
            let mut partitions = Vec::with_capacity(parts.len());
            for (index, read, error) in parts {
                let mut data = PartitionData {
                    partition_index: index,
                    error_code: error.code(),
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    records: Some(bytes::Bytes::new()),
                    ..Default::default()
                };
                if read.is_some() {
                    match outcomes.next() {
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
                    }
                }
                partitions.push(data);
            }
            responses.push(FetchableTopicResponse {
                topic: name,
                topic_id: id,
                partitions,
            });
        }
        FetchResponse {
            responses,
            session_id: 0,
            ..Default::default()
        }
    }
}
