//! AllocateProducerIds (KIP-730): hands a broker the next block of 1000 producer ids by
//! writing a ProducerIdsRecord with the new "next" id (Kafka's `ProducerIdControlManager`).

use metadata::{MetadataImage, MetadataRecord, MetadataRecordBody};
use protocol::messages::{AllocateProducerIdsResponse, ProducerIdsRecord};
use protocol::ErrorCode;

use super::ControllerResult;

/// Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

fn error(code: ErrorCode) -> ControllerResult<AllocateProducerIdsResponse> {
    ControllerResult::reply_only(AllocateProducerIdsResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

/// The next block for `broker_id`, which must be registered with `broker_epoch`.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> ControllerResult<AllocateProducerIdsResponse> {
    match image.cluster.broker(broker_id) {
        Some(b) if b.epoch == broker_epoch => {}
        _ => return error(ErrorCode::STALE_BROKER_EPOCH),
    }
    // Before any allocation the image says −1; the first block starts at 0.
    let start = image.producer_ids.next_producer_id.max(0);
    let Some(next) = start.checked_add(PRODUCER_ID_BLOCK_SIZE) else {
        // "Exhausted all producerIds as the next block's end producerId has exceeded the
        // int64 type limit".
        return error(ErrorCode::UNKNOWN_SERVER_ERROR);
    };
    let record = ProducerIdsRecord {
        broker_id,
        broker_epoch,
        next_producer_id: next,
    };
    ControllerResult::new(
        vec![MetadataRecord::new(
            0,
            MetadataRecordBody::ProducerIds(record),
        )],
        AllocateProducerIdsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE.code(),
            producer_id_start: start,
            producer_id_len: PRODUCER_ID_BLOCK_SIZE as i32,
        },
    )
}
