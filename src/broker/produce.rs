//! Produce: validate each partition's batch (CRC, sizes, client rules), append it to the
//! partition's log, answer with the assigned base offset. acks=0 gets no answer; with a
//! single in-sync replica acks=1 and acks=-1 are both satisfied once the batch is in the log.

use bytes::Bytes;
use protocol::messages::produce_request::TopicProduceData;
use protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use protocol::messages::{ProduceRequest, ProduceResponse};
use protocol::records;
use protocol::{versions, ErrorCode};

use super::replica_manager::{AppendOutcome, Keys};
use super::Broker;
use storage::TopicPartition;

impl Broker {
    pub(super) async fn produce(
        &self,
        req: ProduceRequest,
        version: i16,
    ) -> Option<ProduceResponse> {
        let image = self.image();
        // Where each append's answer goes (topic, partition index in the response), and the
        // appends themselves: the batches move to the append (no clone keeps the request
        // frame shared, so a single-partition batch is patched in place there).
        let mut slots = Vec::new();
        let mut batches = Vec::new();
        let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(req.topic_data.len());
        for TopicProduceData {
            name,
            partition_data,
            ..
        } in req.topic_data
        {
            let topic = image.topics.by_name(&name).cloned();
            let mut parts = Vec::with_capacity(partition_data.len());
            for p in partition_data {
                let index = p.index;
                let error = match &topic {
                    _ if version < versions::PRODUCE_MAGIC_V2_MIN => {
                        Some(ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT)
                    }
                    None => Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                    Some(t) if !t.partitions.contains_key(&index) => {
                        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                    }
                    Some(t) if t.partitions[&index].leader != self.settings.node_id => {
                        Some(ErrorCode::NOT_LEADER_OR_FOLLOWER)
                    }
                    Some(_) => match p.records {
                        None => Some(ErrorCode::INVALID_RECORD),
                        Some(bytes) => match self.check_produce_batch(&bytes, version) {
                            Ok(keys) => {
                                slots.push((responses.len(), parts.len()));
                                batches.push((TopicPartition::new(&name, index), bytes, keys));
                                None
                            }
                            Err(code) => Some(code),
                        },
                    },
                };
                parts.push(PartitionProduceResponse {
                    index,
                    error_code: error.unwrap_or(ErrorCode::NONE).code(),
                    ..Default::default()
                });
            }
            responses.push(TopicProduceResponse {
                name,
                partition_responses: parts,
            });
        }

        let outcomes = self.replicas.append(batches).await;
        for ((t, p), outcome) in slots.into_iter().zip(outcomes) {
            let resp = &mut responses[t].partition_responses[p];
            match outcome {
                AppendOutcome::Appended {
                    base_offset,
                    log_append_time,
                    log_start_offset,
                } => {
                    resp.base_offset = base_offset;
                    resp.log_append_time_ms = log_append_time;
                    resp.log_start_offset = log_start_offset;
                }
                AppendOutcome::Failed { error, message } => {
                    resp.error_code = error.code();
                    resp.error_message = message;
                }
            }
        }
        if req.acks == 0 {
            return None;
        }
        Some(ProduceResponse {
            responses,
            ..Default::default()
        })
    }

    /// The checks of `docs/formats.md` §7.7 that need no log state: one well-formed v2 batch per
    /// partition (Produce v3+), valid CRC, record count, size limits, zstd only from v7.
    /// Returns whether every record has a key, for the append to check against the
    /// partition's `cleanup.policy` (Kafka `LogValidator`: INVALID_RECORD if compacted).
    fn check_produce_batch(&self, bytes: &Bytes, version: i16) -> Result<Keys, ErrorCode> {
        if bytes.len() > self.settings.message_max_bytes {
            return Err(ErrorCode::MESSAGE_TOO_LARGE);
        }
        let mut iter = records::batches(bytes);
        let batch = match iter.next() {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(ErrorCode(e.error_code())),
            None => return Err(ErrorCode::INVALID_RECORD),
        };
        if iter.next().is_some() {
            return Err(ErrorCode::INVALID_RECORD);
        }
        let summary = records::validate_client_batch_with(&batch, records::DECOMPRESSED_BYTES_MAX)
            .map_err(|e| ErrorCode(e.error_code()))?;
        let codec = records::Compression::from_attributes(batch.header.attributes)
            .map_err(|e| ErrorCode(e.error_code()))?;
        if codec == records::Compression::Zstd && version < 7 {
            return Err(ErrorCode::UNSUPPORTED_COMPRESSION_TYPE);
        }
        Ok(if summary.all_keyed {
            Keys::All
        } else {
            Keys::Missing
        })
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::ApiKey;
    use protocol::records::{BatchBuilder, Compression};
    use protocol::Uuid;

    use super::*;
    use crate::broker::test_broker::{
        produce_request, topic_config_record, topic_records, TestBroker,
    };

    /// One record, keyed or not.
    fn batch(key: Option<&[u8]>) -> Bytes {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(1_000, key, Some(b"v"), &[]).expect("append");
        b.build().expect("build").bytes
    }

    /// Produces one record to partition 0 of `topic` and returns the error code.
    async fn produce(broker: &TestBroker, topic: &str, key: Option<&[u8]>) -> ErrorCode {
        let request = produce_request(topic, batch(key));
        let response: ProduceResponse = broker.call(ApiKey::Produce, 9, &request).await;
        ErrorCode(response.responses[0].partition_responses[0].error_code)
    }

    /// Kafka `LogValidator`: a compacted topic refuses a keyless record with INVALID_RECORD,
    /// following `cleanup.policy` as the image changes it, and the broker's default.
    #[tokio::test]
    async fn keyless_records_on_compacted_topics_are_invalid() {
        let broker = TestBroker::new(&[]);
        broker.commit(topic_records("t", Uuid([1; 16]), 1));
        let keyless = |b| produce(b, "t", None);
        assert_eq!(keyless(&broker).await, ErrorCode::NONE);
        for (policy, refused) in [
            (Some("compact"), true),
            (Some("delete"), false),
            (Some(" delete, compact "), true),
            (None, false),
        ] {
            broker.commit(vec![topic_config_record("t", "cleanup.policy", policy)]);
            let expected = if refused {
                ErrorCode::INVALID_RECORD
            } else {
                ErrorCode::NONE
            };
            assert_eq!(
                keyless(&broker).await,
                expected,
                "cleanup.policy={policy:?}"
            );
            assert_eq!(
                produce(&broker, "t", Some(b"k")).await,
                ErrorCode::NONE,
                "keyed, cleanup.policy={policy:?}"
            );
        }

        // The broker's `log.cleanup.policy`, for topics without an override.
        let broker = TestBroker::new(&["log.cleanup.policy=compact"]);
        broker.commit(topic_records("c", Uuid([2; 16]), 1));
        assert_eq!(produce(&broker, "c", None).await, ErrorCode::INVALID_RECORD);
        assert_eq!(produce(&broker, "c", Some(b"k")).await, ErrorCode::NONE);
    }
}
