//! ListOffsets (earliest, latest, by timestamp via the time index, max timestamp),
//! OffsetForLeaderEpoch (from the leader-epoch cache) and DeleteRecords (moves the log start
//! offset).

use protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use protocol::ErrorCode;

use super::replica_manager::OffsetQuery;
use super::Broker;
use storage::TopicPartition;

impl Broker {
    /// The partition's state if this node leads it, else the error to answer with.
    fn led_partition(&self, topic: &str, partition: i32) -> Result<TopicPartition, ErrorCode> {
        let image = self.image();
        let reg = image
            .topics
            .by_name(topic)
            .and_then(|t| t.partitions.get(&partition))
            .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        if reg.leader != self.settings.node_id {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        Ok(TopicPartition::new(topic, partition))
    }

    pub(super) async fn list_offsets(
        &self,
        req: ListOffsetsRequest,
        version: i16,
    ) -> ListOffsetsResponse {
        let mut topics = Vec::with_capacity(req.topics.len());
        for t in req.topics {
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in t.partitions {
                let mut out = ListOffsetsPartitionResponse {
                    partition_index: p.partition_index,
                    timestamp: -1,
                    offset: -1,
                    ..Default::default()
                };
                let query = match p.timestamp {
                    -2 | -4 => Some(OffsetQuery::Earliest),
                    -1 => Some(OffsetQuery::Latest),
                    -3 if version >= 7 => Some(OffsetQuery::MaxTimestamp),
                    ts if ts >= 0 => Some(OffsetQuery::Timestamp(ts)),
                    _ => None,
                };
                match (self.led_partition(&t.name, p.partition_index), query) {
                    (Err(e), _) => out.error_code = e.code(),
                    (Ok(_), None) => out.error_code = ErrorCode::INVALID_REQUEST.code(),
                    (Ok(tp), Some(q)) => match self.replicas.list_offset(tp, q).await {
                        Ok(found) => {
                            if let Some((offset, timestamp, epoch)) = found {
                                out.offset = offset;
                                out.timestamp = timestamp;
                                // LeaderEpoch is not ignorable: only v4+ may carry it.
                                if version >= 4 {
                                    out.leader_epoch = epoch;
                                }
                            }
                        }
                        Err(e) => out.error_code = e.code(),
                    },
                }
                partitions.push(out);
            }
            topics.push(ListOffsetsTopicResponse {
                name: t.name,
                partitions,
            });
        }
        ListOffsetsResponse {
            topics,
            ..Default::default()
        }
    }

    pub(super) async fn offset_for_leader_epoch(
        &self,
        req: OffsetForLeaderEpochRequest,
    ) -> OffsetForLeaderEpochResponse {
        let mut topics = Vec::with_capacity(req.topics.len());
        for t in req.topics {
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in t.partitions {
                let mut out = EpochEndOffset {
                    partition: p.partition,
                    leader_epoch: -1,
                    end_offset: -1,
                    ..Default::default()
                };
                match self.led_partition(&t.topic, p.partition) {
                    Err(e) => out.error_code = e.code(),
                    Ok(tp) => match self
                        .replicas
                        .end_offset_for_epoch(tp, p.leader_epoch, p.current_leader_epoch)
                        .await
                    {
                        Ok((epoch, offset)) => {
                            out.leader_epoch = epoch;
                            out.end_offset = offset;
                        }
                        Err(e) => out.error_code = e.code(),
                    },
                }
                partitions.push(out);
            }
            topics.push(OffsetForLeaderTopicResult {
                topic: t.topic,
                partitions,
            });
        }
        OffsetForLeaderEpochResponse {
            topics,
            ..Default::default()
        }
    }

    pub(super) async fn delete_records(&self, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
        let mut topics = Vec::with_capacity(req.topics.len());
        for t in req.topics {
            let mut partitions = Vec::with_capacity(t.partitions.len());
            for p in t.partitions {
                let mut out = DeleteRecordsPartitionResult {
                    partition_index: p.partition_index,
                    low_watermark: -1,
                    ..Default::default()
                };
                match self.led_partition(&t.name, p.partition_index) {
                    Err(e) => out.error_code = e.code(),
                    Ok(tp) => match self.replicas.delete_records(tp, p.offset).await {
                        Ok(low) => out.low_watermark = low,
                        Err(e) => out.error_code = e.code(),
                    },
                }
                partitions.push(out);
            }
            topics.push(DeleteRecordsTopicResult {
                name: t.name,
                partitions,
            });
        }
        DeleteRecordsResponse {
            topics,
            ..Default::default()
        }
    }
}
