//! Fetch: read whole batches from each requested partition's log, from the fetch offset up
//! to the high watermark, within the partition and response byte limits; when fewer than
//! `min_bytes` are ready, wait (long poll) until new data arrives or `max_wait_ms` passes.
//! Which partitions a request covers, and which an answer must carry, follow the client's
//! incremental fetch session (KIP-227, `fetch_session.rs`).

use std::time::Duration;

use bytes::Bytes;
use protocol::header::encode_response_parts;
use protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::messages::{ApiKey, FetchRequest, FetchResponse};
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
        // Kafka bounds a consumer's response by `fetch.max.bytes` too, and `min_bytes` by that.
        let max_bytes = (req.max_bytes.max(0) as usize).min(self.settings.fetch_max_bytes);
        let min_bytes = (req.min_bytes.max(0) as usize).min(max_bytes);
        let mut outcomes = self
            .replicas
            .read_with_wait(reads, max_bytes, min_bytes, wait)
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

/// Records at least this large are written from the log's buffer instead of being copied into
/// the response frame; below it one copy costs less than another part. (The connection's
/// write buffer still copies a whole frame smaller than itself, 256 KiB.)
const SHARED_RECORDS_MIN: usize = 64 * 1024;

/// Encodes a Fetch response frame as parts to write in order: each partition's records of at
/// least [`SHARED_RECORDS_MIN`] bytes are a part of their own, the very `Bytes` read from the
/// log, so they reach the socket without a copy into the frame (Kafka sends them with
/// `transferTo` for the same reason).
pub(super) fn encode_fetch_frame(version: i16, cid: i32, resp: &FetchResponse) -> Vec<Bytes> {
    encode_response_parts(ApiKey::Fetch, version, cid, resp, SHARED_RECORDS_MIN)
}

#[cfg(test)]
mod tests {
    use std::ops::RangeInclusive;

    use super::*;
    use protocol::header::encode_response;
    use protocol::messages::fetch_response::LeaderIdAndEpoch;
    use protocol::Uuid;

    fn records(len: usize, seed: u8) -> Bytes {
        Bytes::from(
            (0..len)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect::<Vec<u8>>(),
        )
    }

    /// A response with one partition per entry of `records`, the first half in one topic and
    /// the rest in another, with fields only where `version` has them (the codec asserts that).
    fn response(version: i16, records: Vec<Option<Bytes>>) -> FetchResponse {
        let partition = |index: usize, records: Option<Bytes>| PartitionData {
            partition_index: index as i32,
            high_watermark: 1_000_000 + index as i64,
            last_stable_offset: 999,
            log_start_offset: if version >= 5 { 3 } else { -1 },
            // A tagged field after the records (flexible versions).
            current_leader: if version >= 12 {
                LeaderIdAndEpoch {
                    leader_id: 1,
                    leader_epoch: index as i32,
                }
            } else {
                LeaderIdAndEpoch::default()
            },
            records,
            ..Default::default()
        };
        let topic = |name: &str, id: u8, partitions| FetchableTopicResponse {
            topic: if version <= 12 {
                name.into()
            } else {
                String::new()
            },
            topic_id: if version >= 13 {
                Uuid([id; 16])
            } else {
                Uuid::ZERO
            },
            partitions,
        };
        let mut partitions: Vec<PartitionData> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| partition(i, r))
            .collect();
        let second = partitions.split_off(partitions.len() / 2);
        FetchResponse {
            session_id: if version >= 7 { 7 } else { 0 },
            responses: vec![topic("orders", 9, partitions), topic("t", 4, second)],
            ..Default::default()
        }
    }

    /// Null, empty, below, at and above the threshold, next to each other.
    fn mixed_records() -> Vec<Option<Bytes>> {
        vec![
            Some(records(SHARED_RECORDS_MIN, 3)),
            None,
            Some(Bytes::new()),
            Some(records(10, 5)),
            Some(records(SHARED_RECORDS_MIN - 1, 9)),
            Some(records(3 * SHARED_RECORDS_MIN + 17, 7)),
            Some(records(SHARED_RECORDS_MIN + 1, 11)),
            None,
        ]
    }

    fn served_versions() -> RangeInclusive<i16> {
        let (min, max) = versions::supported(ApiKey::Fetch).expect("Fetch is served");
        min..=max
    }

    /// The parts concatenate to the plain (copying) encoding, and each records value of at
    /// least [`SHARED_RECORDS_MIN`] bytes is a part of its own: the same buffer, not a copy.
    fn assert_parts_match_the_copied_frame(version: i16, response: &FetchResponse) {
        let whole = encode_response(ApiKey::Fetch, version, 42, response);
        let parts = encode_fetch_frame(version, 42, response);
        assert_eq!(parts.concat(), whole.to_vec(), "v{version}");
        let large = response
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records.as_ref())
            .filter(|r| r.len() >= SHARED_RECORDS_MIN);
        let mut rest = parts.iter();
        for records in large {
            assert!(
                rest.any(|p| p.as_ptr() == records.as_ptr() && p.len() == records.len()),
                "v{version}: {} bytes of records not shared, or out of order",
                records.len()
            );
        }
    }

    #[test]
    fn parts_concatenate_to_the_copied_frame_at_every_version() {
        for version in served_versions() {
            assert_parts_match_the_copied_frame(version, &response(version, mixed_records()));
        }
    }

    #[test]
    fn many_partitions_concatenate_to_the_copied_frame() {
        let shared = records(SHARED_RECORDS_MIN * 2, 13);
        let many = (0..1000)
            .map(|i| match i % 4 {
                0 => Some(shared.clone()),
                1 => None,
                2 => Some(records(i % 300, 17)),
                _ => Some(Bytes::new()),
            })
            .collect::<Vec<_>>();
        for version in served_versions() {
            assert_parts_match_the_copied_frame(version, &response(version, many.clone()));
        }
    }

    #[test]
    fn small_records_stay_in_one_frame() {
        let response = response(12, vec![Some(records(100, 1)), None]);
        let parts = encode_fetch_frame(12, 1, &response);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0], encode_response(ApiKey::Fetch, 12, 1, &response));
    }
}
