//! InitProducerId for idempotent (non-transactional) producers: hands out producer ids from
//! blocks the controller allocates to this broker (AllocateProducerIds, KIP-730), epoch 0.
//!
//! Transactions are not supported: a request with a transactional id is refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which every client treats as fatal and reports,
//! instead of a retriable coordinator error that would make it retry until it times out.

use protocol::messages::{
    AllocateProducerIdsRequest, InitProducerIdRequest, InitProducerIdResponse,
};
use protocol::ErrorCode;

use super::Broker;

/// The unused part of this broker's current block: `next..end`.
#[derive(Debug, Default)]
pub(crate) struct ProducerIdBlock {
    range: tokio::sync::Mutex<(i64, i64)>,
}

impl Broker {
    pub(super) async fn init_producer_id(
        &self,
        req: InitProducerIdRequest,
    ) -> InitProducerIdResponse {
        let fail = |code: ErrorCode| InitProducerIdResponse {
            error_code: code.code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        match req.transactional_id.as_deref() {
            None => {}
            Some("") => return fail(ErrorCode::INVALID_REQUEST),
            Some(_) => return fail(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        }
        // Without a transactional id Kafka always gives a new producer id at epoch 0, also
        // when a v3+ client sends its current id and epoch to bump the epoch (KIP-360).
        match self.next_producer_id().await {
            Ok(producer_id) => InitProducerIdResponse {
                error_code: ErrorCode::NONE.code(),
                producer_id,
                producer_epoch: 0,
                ..Default::default()
            },
            Err(code) => fail(code),
        }
    }

    /// Takes the next id of the current block, asking the controller for a new block when
    /// it is used up.
    async fn next_producer_id(&self) -> Result<i64, ErrorCode> {
        let mut range = self.producer_ids.range.lock().await;
        if range.0 >= range.1 {
            let broker_epoch = self
                .image()
                .cluster
                .broker(self.settings.node_id)
                .map(|b| b.epoch)
                .ok_or(ErrorCode::COORDINATOR_NOT_AVAILABLE)?;
            let resp = self
                .controller
                .call(AllocateProducerIdsRequest {
                    broker_id: self.settings.node_id,
                    broker_epoch,
                })
                .await;
            if resp.error_code != 0 || resp.producer_id_len <= 0 {
                tracing::warn!(
                    error = %ErrorCode(resp.error_code),
                    "could not allocate a producer id block"
                );
                // Retriable for clients: they ask again.
                return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
            }
            *range = (
                resp.producer_id_start,
                resp.producer_id_start + i64::from(resp.producer_id_len),
            );
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}
