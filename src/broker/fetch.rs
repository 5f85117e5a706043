//! Fetch: read whole batches from each requested partition's log, from the fetch offset up
//! to the high watermark, within the partition and response byte limits; when fewer than
//! `min_bytes` are ready, wait (long poll) until new data arrives or `max_wait_ms` passes.
//! Which partitions a request covers, and which an answer must carry, follow the client's
//! incremental fetch session (KIP-227, `fetch_session.rs`).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use protocol::codec::write_uvarint;
use protocol::header::encode_response;
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

/// Records at least this large are written from the log's buffer instead of being copied into
/// the response frame; below it one copy costs less than an extra write. (The connection's
/// write buffer still copies parts smaller than itself, 256 KiB.)
const SHARED_RECORDS_MIN: usize = 64 * 1024;

/// Encodes a Fetch response frame as parts to write in order, the size prefix first: each
/// partition's records of at least [`SHARED_RECORDS_MIN`] bytes are a part of their own, the
/// very `Bytes` read from the log, so they reach the socket without a copy into the frame
/// (Kafka sends them with `transferTo` for the same reason).
///
/// The frame is encoded by the generated codec with each such records field replaced by a
/// random 16-byte marker; the frame is then cut at the markers (found in order, in the few
/// bytes between two partitions' records) and each marker with its length prefix becomes the
/// real length prefix plus the records.
pub(super) fn encode_fetch_frame(version: i16, cid: i32, mut resp: FetchResponse) -> Vec<Bytes> {
    let marker = Bytes::copy_from_slice(&rand::random::<[u8; 16]>());
    let mut shared = Vec::new();
    for p in resp
        .responses
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut())
    {
        if p.records
            .as_ref()
            .is_some_and(|r| r.len() >= SHARED_RECORDS_MIN)
        {
            shared.extend(p.records.replace(marker.clone()));
        }
    }
    let frame = encode_response(ApiKey::Fetch, version, cid, &resp).freeze();
    if shared.is_empty() {
        return vec![frame];
    }
    // Where each marker is: in order, each after the previous one.
    let mut at = Vec::with_capacity(shared.len());
    let mut from = 4;
    for _ in &shared {
        match frame[from..]
            .windows(marker.len())
            .position(|w| w == marker)
        {
            Some(i) => {
                at.push(from + i);
                from += i + marker.len();
            }
            None => {
                // Unreachable (the codec wrote every marker), but a frame must never be wrong:
                // put the records back and send them copied.
                tracing::error!("fetch response marker not found; sending the records copied");
                let mut records = shared.into_iter();
                for p in resp
                    .responses
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    if p.records.as_ref() == Some(&marker) {
                        p.records = records.next();
                    }
                }
                return vec![encode_response(ApiKey::Fetch, version, cid, &resp).freeze()];
            }
        }
    }
    let flex = version >= ApiKey::Fetch.flexible_min();
    // The marker's own length prefix: compact bytes (uvarint length + 1) or int32 length.
    let marker_prefix = if flex { 1 } else { 4 };
    let mut parts = Vec::with_capacity(3 * shared.len() + 2);
    parts.push(Bytes::new()); // the size prefix, once known
    let mut size = frame.len() - 4;
    let mut from = 4;
    for (records, at) in shared.into_iter().zip(at) {
        parts.push(frame.slice(from..at - marker_prefix));
        let mut prefix = BytesMut::with_capacity(5);
        if flex {
            write_uvarint(&mut prefix, records.len() as u32 + 1);
        } else {
            prefix.put_i32(records.len() as i32);
        }
        size = size - marker_prefix - marker.len() + prefix.len() + records.len();
        parts.push(prefix.freeze());
        parts.push(records);
        from = at + marker.len();
    }
    parts.push(frame.slice(from..));
    parts[0] = Bytes::copy_from_slice(&(size as i32).to_be_bytes());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Uuid;

    fn records(len: usize, seed: u8) -> Option<Bytes> {
        Some(Bytes::from(
            (0..len)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect::<Vec<u8>>(),
        ))
    }

    /// A response with fields only where `version` has them (the codec asserts that).
    fn response(version: i16) -> FetchResponse {
        let partition = |index: i32, records: Option<Bytes>| PartitionData {
            partition_index: index,
            high_watermark: 1_000_000 + i64::from(index),
            last_stable_offset: 999,
            log_start_offset: if version >= 5 { 3 } else { -1 },
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
        FetchResponse {
            session_id: if version >= 7 { 7 } else { 0 },
            responses: vec![
                topic(
                    "orders",
                    9,
                    vec![
                        partition(0, records(SHARED_RECORDS_MIN, 3)),
                        partition(1, None),
                        partition(2, records(10, 5)),
                        partition(3, records(3 * SHARED_RECORDS_MIN + 17, 7)),
                    ],
                ),
                topic(
                    "t",
                    4,
                    vec![partition(5, records(SHARED_RECORDS_MIN + 1, 11))],
                ),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn parts_concatenate_to_the_copied_frame_at_every_version() {
        for version in versions::FETCH_MAGIC_V2_MIN..=16 {
            let response = response(version);
            let whole = encode_response(ApiKey::Fetch, version, 42, &response);
            let parts = encode_fetch_frame(version, 42, response);
            assert_eq!(parts.len(), 2 + 3 * 3, "v{version}: three records shared");
            assert_eq!(parts.concat(), whole.to_vec(), "v{version}");
        }
    }

    #[test]
    fn small_records_stay_in_one_frame() {
        let response = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![PartitionData {
                    records: records(100, 1),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let parts = encode_fetch_frame(12, 1, response.clone());
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0], encode_response(ApiKey::Fetch, 12, 1, &response));
    }
}
