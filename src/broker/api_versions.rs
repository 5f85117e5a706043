//! ApiVersions: what we serve, straight from the codec's version table (KIP-511 fallback for
//! unsupported versions is handled before dispatch in `broker.rs`), and from v3 the supported
//! and finalized feature levels (KIP-584) from the metadata image, as Kafka 3.9's broker
//! sends them (`ApiVersionsResponse.createApiVersionsResponse`).

use kraft::controller::features::{KRAFT_VERSION_FEATURE, SUPPORTED_FEATURES};
use metadata::MetadataImage;
use protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use protocol::messages::ApiVersionsResponse;
use protocol::{versions, ErrorCode};

use super::Broker;

impl Broker {
    pub(super) fn api_versions(&self, version: i16) -> ApiVersionsResponse {
        with_features(
            versions::api_versions_response(ErrorCode::NONE),
            &self.image(),
            version,
        )
    }
}

/// Adds the feature fields (tagged, v3+; the encoder leaves them out below v3).
///
/// Below v4, a supported range starting at 0 is sent from 1 and a range 0–0 is left out, and
/// finalized level 0 is left out: clients from before KIP-1022 cannot read a level 0
/// (KAFKA-17011). The finalized levels are the image's, `metadata.version` always, plus
/// `kraft.version` only above 0 (never here: the quorum is static), and the epoch is the
/// offset the image reflects.
fn with_features(
    mut resp: ApiVersionsResponse,
    image: &MetadataImage,
    version: i16,
) -> ApiVersionsResponse {
    let alter_level_0 = version < 4;
    resp.supported_features = SUPPORTED_FEATURES
        .iter()
        .filter(|&&(_, lo, hi)| !(alter_level_0 && lo == 0 && hi == 0))
        .map(|&(name, lo, hi)| SupportedFeatureKey {
            name: name.into(),
            min_version: if alter_level_0 { lo.max(1) } else { lo },
            max_version: hi,
        })
        .collect();
    resp.finalized_features = image
        .features
        .levels
        .iter()
        .filter(|(name, level)| name.as_str() != KRAFT_VERSION_FEATURE && **level > 0)
        .map(|(name, &level)| FinalizedFeatureKey {
            name: name.clone(),
            max_version_level: level,
            min_version_level: level,
        })
        .collect();
    resp.finalized_features_epoch = image.provenance.last_contained_offset;
    resp
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use metadata::image::Provenance;
    use metadata::{MetadataDelta, MetadataVersion};
    use protocol::messages::Message;

    use super::*;

    fn image() -> MetadataImage {
        let mut delta = MetadataDelta::from_image(MetadataImage::empty());
        for r in kraft::controller::features::bootstrap_records(MetadataVersion::IBP_3_9_IV0) {
            delta.replay(&r).unwrap();
        }
        delta.set_provenance(Provenance {
            last_contained_offset: 3,
            last_contained_epoch: 1,
            last_contained_log_time_ms: 0,
        });
        delta.apply()
    }

    /// The tagged fields as Kafka 3.9 encodes them for a v3 request: tags in ascending order,
    /// compact arrays and strings, each entry with an empty tag buffer, `kraft.version`
    /// supported from 1 (KAFKA-17011), and only `metadata.version` finalized.
    #[test]
    fn v3_tagged_fields_are_kafkas_bytes() {
        let resp = with_features(ApiVersionsResponse::default(), &image(), 3);
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 3);
        let mut want = vec![0, 0, 1, 0, 0, 0, 0]; // error, no apis, throttle 0
        want.push(3); // three tagged fields
        want.extend([0, 42, 3]); // tag 0 SupportedFeatures: 42 bytes, 2 entries
        want.extend([14]);
        want.extend(b"kraft.version");
        want.extend([0, 1, 0, 1, 0]);
        want.extend([17]);
        want.extend(b"metadata.version");
        want.extend([0, 1, 0, 21, 0]);
        want.extend([1, 8]); // tag 1 FinalizedFeaturesEpoch
        want.extend(3i64.to_be_bytes());
        want.extend([2, 23, 2, 17]); // tag 2 FinalizedFeatures: 23 bytes, 1 entry
        want.extend(b"metadata.version");
        want.extend([0, 21, 0, 21, 0]);
        assert_eq!(&buf[..], &want[..]);
        let back = ApiVersionsResponse::decode(&mut buf.freeze(), 3).unwrap();
        assert_eq!(back, resp);
    }

    /// v4 sends `kraft.version`'s real minimum 0; v0-2 carry no features at all.
    #[test]
    fn v4_keeps_level_0_and_old_versions_have_no_tags() {
        let v4 = with_features(ApiVersionsResponse::default(), &image(), 4);
        assert_eq!(v4.supported_features[0].min_version, 0);
        let mut buf = BytesMut::new();
        v4.encode(&mut buf, 2);
        assert_eq!(buf.len(), 2 + 4 + 4);
    }
}
