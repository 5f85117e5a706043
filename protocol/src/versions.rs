//! The one table of what kraftbridge serves: per API, the versions the broker implements.
//!
//! ApiVersions is built from this table, so nothing is advertised that the broker does not
//! handle. Minimums follow Kafka 4.0's baseline (KIP-896) where old versions are gone, but
//! keep what librdkafka 2.0 (Debian's kcat) and kafka-python still send.

use crate::error_code::ErrorCode;
use crate::messages::api_versions_response::ApiVersion;
use crate::messages::{ApiKey, ApiVersionsResponse};

/// The first Produce and Fetch versions that carry RecordBatch v2 (magic 2), the only format
/// kraftbridge stores. Older versions are advertised (see [`SUPPORTED`]) but every partition
/// of such a request is answered UNSUPPORTED_FOR_MESSAGE_FORMAT.
pub const PRODUCE_MAGIC_V2_MIN: i16 = 3;
/// See [`PRODUCE_MAGIC_V2_MIN`].
pub const FETCH_MAGIC_V2_MIN: i16 = 4;

/// `(api, min, max)` for every API the broker serves.
///
/// Produce and Fetch start at v0, below Kafka 4.0's v3/v4 (KIP-896): librdkafka 2.0 (Debian's
/// kcat) derives codec support from these ranges and silently stops compressing gzip and
/// snappy when the old versions are missing (measured: `test_kcat_compression_is_stored_as_sent`).
/// Clients pick their highest common version, so none that can read our batches negotiates
/// the old ones; one that does gets a per-partition error, never bytes in a format it does
/// not expect (`test_pre_v2_batch_versions_get_a_clear_error`).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 0, 16),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::UpdateFeatures, 0, 1),
    // Without an authorizer: answered SECURITY_DISABLED (Kafka 4.0's range).
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// The versions of `api` that we serve, if any.
pub fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(a, _, _)| *a == api)
        .map(|&(_, lo, hi)| (lo, hi))
}

/// True when we serve `api` at `version`.
pub fn is_supported(api: ApiKey, version: i16) -> bool {
    supported(api).is_some_and(|(lo, hi)| (lo..=hi).contains(&version))
}

/// The ApiVersions response body listing everything in [`SUPPORTED`], with `error`
/// (UNSUPPORTED_VERSION for the KIP-511 fallback).
pub fn api_versions_response(error: ErrorCode) -> ApiVersionsResponse {
    let mut api_keys: Vec<ApiVersion> = SUPPORTED
        .iter()
        .map(|&(api, min_version, max_version)| ApiVersion {
            api_key: api as i16,
            min_version,
            max_version,
        })
        .collect();
    api_keys.sort_by_key(|a| a.api_key);
    ApiVersionsResponse {
        error_code: error.code(),
        api_keys,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_the_schemas() {
        for &(api, lo, hi) in SUPPORTED {
            let (slo, shi) = api.schema_versions();
            assert!(
                slo <= lo && lo <= hi && hi <= shi,
                "{api:?} {lo}-{hi} vs schema {slo}-{shi}"
            );
        }
    }
}
