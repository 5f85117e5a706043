//! ApiVersions: what we serve, straight from the codec's version table (KIP-511 fallback for
//! unsupported versions is handled before dispatch in `broker.rs`).

use protocol::messages::ApiVersionsResponse;
use protocol::{versions, ErrorCode};

use super::Broker;

impl Broker {
    pub(super) fn api_versions(&self) -> ApiVersionsResponse {
        versions::api_versions_response(ErrorCode::NONE)
    }
}
