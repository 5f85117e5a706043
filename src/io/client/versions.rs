//! ApiVersions on connect and per-API version selection.
//!
//! The client asks at the newest ApiVersions version our codec has, with its software name
//! and version (KIP-511, v3+). A broker that does not speak that version answers
//! UNSUPPORTED_VERSION in the v0 layout, listing its own ApiVersions range; the client then
//! asks again at the highest version it named, as Kafka's `NetworkClient` does.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use bytes::Bytes;
use protocol::header::decode_response;
use protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use protocol::ErrorCode;

use super::ClientError;

/// Per API, the version range the peer advertised in ApiVersions.
#[derive(Debug, Clone, Default)]
pub(super) struct ApiVersionTable {
    by_key: BTreeMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// The highest version both sides speak: the peer's range ∩ `ours` ∩ our codec's schema.
    pub(super) fn pick(
        &self,
        addr: &str,
        api: ApiKey,
        ours: RangeInclusive<i16>,
    ) -> Result<i16, ClientError> {
        let (schema_min, schema_max) = api.schema_versions();
        let min = (*ours.start()).max(schema_min);
        let max = (*ours.end()).min(schema_max);
        let &(broker_min, broker_max) =
            self.by_key
                .get(&(api as i16))
                .ok_or_else(|| ClientError::ApiNotServed {
                    addr: addr.to_string(),
                    api,
                })?;
        let version = max.min(broker_max);
        if version < min.max(broker_min) {
            return Err(ClientError::NoCommonVersion {
                addr: addr.to_string(),
                api,
                broker_min,
                broker_max,
                min,
                max,
            });
        }
        Ok(version)
    }

    /// Checks that `version` of `api` is one both sides speak (a request at any other version
    /// would make a Kafka broker close the connection).
    pub(super) fn check(&self, addr: &str, api: ApiKey, version: i16) -> Result<(), ClientError> {
        self.pick(addr, api, version..=version).map(|_| ())
    }
}

/// The ApiVersions request this client sends (the two fields exist from v3 on).
pub(super) fn request(software_name: &str) -> ApiVersionsRequest {
    ApiVersionsRequest {
        client_software_name: software_name.to_string(),
        client_software_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The first ApiVersions version to try: the newest our codec has.
pub(super) fn first_version() -> i16 {
    ApiKey::ApiVersions.schema_versions().1
}

/// What an ApiVersions answer says.
#[derive(Debug)]
pub(super) enum Answer {
    Table(ApiVersionTable),
    /// The peer does not speak our version; ask again at this one (KIP-511).
    RetryAt(i16),
}

/// Reads the answer to an ApiVersions request sent at `version`.
pub(super) fn read_answer(addr: &str, version: i16, frame: Bytes) -> Result<Answer, ClientError> {
    match decode(addr, version, frame.clone()) {
        Ok(r) if r.error_code == 0 => Ok(Answer::Table(ApiVersionTable {
            by_key: r
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
        })),
        // An error answer is in the v0 layout whatever version was asked (KIP-511).
        _ => {
            let v0 = decode(addr, 0, frame)?;
            let code = ErrorCode(v0.error_code);
            let theirs = v0
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map(|k| k.max_version);
            match theirs {
                Some(max)
                    if code == ErrorCode::UNSUPPORTED_VERSION && (0..version).contains(&max) =>
                {
                    Ok(Answer::RetryAt(max))
                }
                _ => Err(ClientError::ApiVersions {
                    addr: addr.to_string(),
                    code,
                }),
            }
        }
    }
}

fn decode(addr: &str, version: i16, mut frame: Bytes) -> Result<ApiVersionsResponse, ClientError> {
    decode_response::<ApiVersionsResponse>(ApiKey::ApiVersions, version, &mut frame)
        .map(|(_, body)| body)
        .map_err(|e| ClientError::Decode {
            addr: addr.to_string(),
            response: "ApiVersionsResponse",
            version,
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(ApiKey, i16, i16)]) -> ApiVersionTable {
        ApiVersionTable {
            by_key: entries
                .iter()
                .map(|&(k, lo, hi)| (k as i16, (lo, hi)))
                .collect(),
        }
    }

    #[test]
    fn picks_the_highest_common_version() {
        let v = table(&[(ApiKey::Produce, 3, 11), (ApiKey::Fetch, 4, 16)]);
        assert_eq!(v.pick("b:9092", ApiKey::Produce, 3..=11).unwrap(), 11);
        assert_eq!(v.pick("b:9092", ApiKey::Produce, 3..=9).unwrap(), 9);
        assert_eq!(v.pick("b:9092", ApiKey::Fetch, 4..=12).unwrap(), 12);
        assert!(v.check("b:9092", ApiKey::Fetch, 16).is_ok());
        assert!(v.check("b:9092", ApiKey::Fetch, 3).is_err());
    }

    #[test]
    fn names_the_gap_when_ranges_do_not_meet() {
        let v = table(&[(ApiKey::Produce, 3, 4)]);
        let e = v
            .pick("b:9092", ApiKey::Produce, 7..=11)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("v3-4") && e.contains("v7-11") && e.contains("b:9092"),
            "{e}"
        );
        let e = v
            .pick("b:9092", ApiKey::Fetch, 4..=12)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not serve Fetch"), "{e}");
    }
}
