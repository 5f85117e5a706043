//! Feature levels: the records a new cluster starts from (`docs/formats.md` §11.6, Kafka's
//! `BootstrapMetadata` and `ActivationRecordsGenerator`), the levels this node supports, and
//! UpdateFeatures (KIP-584/KIP-778, Kafka's `FeatureControlManager`).
//!
//! `kafka-storage format` writes [`bootstrap_records`] into `bootstrap.checkpoint`; when the
//! first active controller finds an empty log it appends [`activation_records_for_empty_log`]
//! (the bootstrap records, the initial ZooKeeper migration state, wrapped in a metadata
//! transaction where supported) before handling any request.

use metadata::image::features::ZkMigrationState;
use metadata::{MetadataImage, MetadataRecord, MetadataRecordBody, MetadataVersion};
use protocol::messages::update_features_response::UpdatableFeatureResult;
use protocol::messages::{
    BeginTransactionRecord, EndTransactionRecord, FeatureLevelRecord, UpdateFeaturesRequest,
    UpdateFeaturesResponse,
};
use protocol::ErrorCode;

use super::{ApiError, ControllerResult};

/// `kraft.version` (KIP-853): 0 is a static voter set, the only kind this node runs.
pub const KRAFT_VERSION_FEATURE: &str = "kraft.version";

/// `(feature, min, max)` this node supports, as a Kafka 3.9 broker and controller list them
/// (`BrokerFeatures.defaultSupportedFeatures`): `metadata.version` from the first KRaft level
/// to the latest production one, and `kraft.version` 0–1. `group.version` and
/// `transaction.version` have no production level above 0 in 3.9, so they are not listed.
pub const SUPPORTED_FEATURES: &[(&str, i16, i16)] = &[
    (KRAFT_VERSION_FEATURE, 0, 1),
    (
        MetadataVersion::FEATURE_NAME,
        MetadataVersion::MINIMUM_KRAFT.0,
        MetadataVersion::LATEST_PRODUCTION.0,
    ),
];

/// UpdateFeatures' `UpgradeType` (KIP-778): 1 upgrade, 2 safe downgrade, 3 unsafe downgrade.
/// The broker maps v0's `AllowDowngrade` to 2 before the request gets here.
pub const UPGRADE: i8 = 1;
/// See [`UPGRADE`].
pub const SAFE_DOWNGRADE: i8 = 2;
/// See [`UPGRADE`].
pub const UNSAFE_DOWNGRADE: i8 = 3;

/// The `metadata.version` FeatureLevelRecord for `level` (21 = 3.9-IV0, the 3.9 default).
/// Other 3.9 features (`group.version`, `transaction.version`) default to level 0, which is
/// written as no record; `kraft.version` lives in the snapshot's control records instead.
pub fn bootstrap_records(metadata_version: MetadataVersion) -> Vec<MetadataRecord> {
    vec![MetadataRecord::new(
        0,
        MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
            name: MetadataVersion::FEATURE_NAME.into(),
            feature_level: metadata_version.level(),
        }),
    )]
}

/// What the first active controller appends to an empty log: the bootstrap records, then
/// ZkMigrationStateRecord NONE (or PRE_MIGRATION when migration is enabled) where the
/// metadata.version knows migrations, all inside Begin/EndTransaction from 3.6-IV1.
pub fn activation_records_for_empty_log(
    bootstrap: &[MetadataRecord],
    zk_migration_enabled: bool,
) -> Vec<MetadataRecord> {
    let mv = bootstrap
        .iter()
        .find_map(|r| match &r.body {
            MetadataRecordBody::FeatureLevel(f) if f.name == MetadataVersion::FEATURE_NAME => {
                Some(MetadataVersion(f.feature_level))
            }
            _ => None,
        })
        .unwrap_or(MetadataVersion::MINIMUM_KRAFT);
    let mut records = Vec::new();
    if mv.is_metadata_transaction_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::BeginTransaction(BeginTransactionRecord {
                name: Some("Bootstrap records".into()),
            }),
        ));
    }
    records.extend(bootstrap.iter().cloned());
    if mv.is_migration_supported() {
        let state = if zk_migration_enabled {
            ZkMigrationState::PreMigration
        } else {
            ZkMigrationState::None
        };
        records.extend(state.to_record());
    }
    if mv.is_metadata_transaction_supported() {
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::EndTransaction(EndTransactionRecord {}),
        ));
    }
    records
}

/// Kafka's `FeatureControlManager.updateFeatures`: every update is checked in turn and the
/// first refusal fails the whole request (INVALID_UPDATE_VERSION, Kafka's message text,
/// nothing written); otherwise one FeatureLevelRecord per update is written, unless
/// `validate_only`. Only `metadata.version` can change here: `kraft.version` stays 0, as the
/// quorum is static.
pub fn update_features(
    image: &MetadataImage,
    req: &UpdateFeaturesRequest,
    node_id: i32,
) -> ControllerResult<UpdateFeaturesResponse> {
    let mut records = Vec::new();
    for u in &req.feature_updates {
        if let Err(e) = update_feature(
            image,
            &u.feature,
            u.max_version_level,
            u.upgrade_type,
            node_id,
        ) {
            return ControllerResult::reply_only(UpdateFeaturesResponse {
                error_code: e.code.code(),
                error_message: e.message,
                ..Default::default()
            });
        }
        records.push(MetadataRecord::new(
            0,
            MetadataRecordBody::FeatureLevel(FeatureLevelRecord {
                name: u.feature.clone(),
                feature_level: u.max_version_level,
            }),
        ));
    }
    let reply = UpdateFeaturesResponse {
        results: req
            .feature_updates
            .iter()
            .map(|u| UpdatableFeatureResult {
                feature: u.feature.clone(),
                error_code: ErrorCode::NONE.code(),
                error_message: None,
            })
            .collect(),
        ..Default::default()
    };
    if req.validate_only {
        ControllerResult::reply_only(reply)
    } else {
        ControllerResult::new(records, reply)
    }
}

/// One update's checks, in Kafka's order (`FeatureControlManager.updateFeature`).
fn update_feature(
    image: &MetadataImage,
    name: &str,
    level: i16,
    upgrade_type: i8,
    node_id: i32,
) -> Result<(), ApiError> {
    let invalid = |reason: &str| {
        Err(ApiError::new(
            ErrorCode::INVALID_UPDATE_VERSION,
            format!("Invalid update version {level} for feature {name}. {reason}"),
        ))
    };
    if !(UPGRADE..=UNSAFE_DOWNGRADE).contains(&upgrade_type) {
        return invalid("The controller does not support the given upgrade type.");
    }
    let current = match name {
        MetadataVersion::FEATURE_NAME => image
            .features
            .metadata_version()
            .unwrap_or(MetadataVersion::MINIMUM_KRAFT)
            .level(),
        _ => image.features.level(name),
    };
    if level < 0 {
        return invalid("A feature version cannot be less than 0.");
    }
    match SUPPORTED_FEATURES.iter().find(|(f, _, _)| *f == name) {
        None if level > 0 => {
            return invalid(&format!(
                "Local controller {node_id} does not support this feature."
            ))
        }
        Some(&(_, lo, hi)) if !(lo..=hi).contains(&level) => {
            return invalid(&format!(
                "Local controller {node_id} only supports versions {lo}-{hi}"
            ))
        }
        _ => {}
    }
    if level < current && upgrade_type == UPGRADE {
        return invalid(
            "Can't downgrade the version of this feature without setting the upgrade type to \
             either safe or unsafe downgrade.",
        );
    }
    if level > current && upgrade_type != UPGRADE {
        return invalid("Can't downgrade to a newer version.");
    }
    if name == KRAFT_VERSION_FEATURE && level != current {
        return invalid(
            "The quorum's voters are static (controller.quorum.voters), so kraft.version stays 0.",
        );
    }
    if name == MetadataVersion::FEATURE_NAME {
        return check_metadata_version(MetadataVersion(current), level, upgrade_type);
    }
    Ok(())
}

/// Kafka's `FeatureControlManager.updateMetadataVersion`: no level below the first one that
/// can be bootstrapped, and no downgrade across a level whose records changed.
fn check_metadata_version(
    current: MetadataVersion,
    level: i16,
    upgrade_type: i8,
) -> Result<(), ApiError> {
    let invalid = |reason: &str| {
        Err(ApiError::new(
            ErrorCode::INVALID_UPDATE_VERSION,
            format!("Invalid metadata.version {level}. {reason}"),
        ))
    };
    let new = MetadataVersion(level);
    if new < MetadataVersion::MINIMUM_BOOTSTRAP {
        return invalid(&format!(
            "Unable to set a metadata.version less than {}",
            MetadataVersion::MINIMUM_BOOTSTRAP
        ));
    }
    if new < current && current.metadata_changed_between(new) {
        return if upgrade_type == UNSAFE_DOWNGRADE {
            invalid("Unsafe metadata downgrade is not supported in this version.")
        } else {
            invalid(
                "Refusing to perform the requested downgrade because it might delete metadata \
                 information.",
            )
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_one_metadata_version_record() {
        let b = bootstrap_records(MetadataVersion::IBP_3_9_IV0);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].to_bytes()[..3], [1, 12, 0]);
        let a = activation_records_for_empty_log(&b, false);
        let names: Vec<_> = a.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "BeginTransactionRecord",
                "FeatureLevelRecord",
                "ZkMigrationStateRecord",
                "EndTransactionRecord"
            ]
        );
        let old = activation_records_for_empty_log(
            &bootstrap_records(MetadataVersion::IBP_3_3_IV0),
            true,
        );
        assert_eq!(old.len(), 1);
    }

    fn image_at(level: i16) -> MetadataImage {
        let mut delta = metadata::MetadataDelta::from_image(MetadataImage::empty());
        for r in bootstrap_records(MetadataVersion(level)) {
            delta.replay(&r).unwrap();
        }
        delta.apply()
    }

    fn request(
        feature: &str,
        level: i16,
        upgrade_type: i8,
        validate_only: bool,
    ) -> UpdateFeaturesRequest {
        UpdateFeaturesRequest {
            feature_updates: vec![
                protocol::messages::update_features_request::FeatureUpdateKey {
                    feature: feature.into(),
                    max_version_level: level,
                    upgrade_type,
                    ..Default::default()
                },
            ],
            validate_only,
            ..Default::default()
        }
    }

    fn refusal(at: i16, feature: &str, level: i16, upgrade_type: i8) -> String {
        let r = update_features(
            &image_at(at),
            &request(feature, level, upgrade_type, false),
            1,
        );
        assert!(r.records.is_empty(), "a refusal stores nothing");
        assert_eq!(r.reply.error_code, ErrorCode::INVALID_UPDATE_VERSION.code());
        assert!(r.reply.results.is_empty());
        r.reply.error_message.unwrap()
    }

    #[test]
    fn metadata_version_upgrades_within_the_supported_range() {
        let r = update_features(
            &image_at(20),
            &request("metadata.version", 21, UPGRADE, false),
            1,
        );
        assert_eq!(r.reply.error_code, 0);
        assert_eq!(r.reply.results[0].feature, "metadata.version");
        assert_eq!(r.records.len(), 1);
        assert_eq!(
            r.records[0].to_bytes(),
            bootstrap_records(MetadataVersion(21))[0].to_bytes()
        );
        let v = update_features(
            &image_at(20),
            &request("metadata.version", 21, UPGRADE, true),
            1,
        );
        assert_eq!(v.reply, r.reply);
        assert!(v.records.is_empty(), "validate_only stores nothing");
        // 21 → 18 crosses no level whose records changed: a safe downgrade, as in Kafka.
        let d = update_features(
            &image_at(21),
            &request("metadata.version", 18, SAFE_DOWNGRADE, false),
            1,
        );
        assert_eq!((d.reply.error_code, d.records.len()), (0, 1));
    }

    #[test]
    fn refusals_carry_kafkas_messages() {
        let mv = "metadata.version";
        assert_eq!(
            refusal(21, mv, 20, UPGRADE),
            "Invalid update version 20 for feature metadata.version. Can't downgrade the version \
             of this feature without setting the upgrade type to either safe or unsafe downgrade."
        );
        assert_eq!(
            refusal(21, mv, 14, SAFE_DOWNGRADE),
            "Invalid metadata.version 14. Refusing to perform the requested downgrade because it \
             might delete metadata information."
        );
        assert_eq!(
            refusal(21, mv, 14, UNSAFE_DOWNGRADE),
            "Invalid metadata.version 14. Unsafe metadata downgrade is not supported in this version."
        );
        assert_eq!(
            refusal(21, mv, 22, UPGRADE),
            "Invalid update version 22 for feature metadata.version. Local controller 1 only \
             supports versions 1-21"
        );
        assert_eq!(
            refusal(21, mv, 3, SAFE_DOWNGRADE),
            "Invalid metadata.version 3. Unable to set a metadata.version less than 3.3-IV0"
        );
        assert_eq!(
            refusal(20, mv, 21, SAFE_DOWNGRADE),
            "Invalid update version 21 for feature metadata.version. Can't downgrade to a newer version."
        );
        assert_eq!(
            refusal(21, mv, 21, 0),
            "Invalid update version 21 for feature metadata.version. The controller does not \
             support the given upgrade type."
        );
        assert_eq!(
            refusal(21, "no.such.feature", 1, UPGRADE),
            "Invalid update version 1 for feature no.such.feature. Local controller 1 does not \
             support this feature."
        );
        assert!(refusal(21, KRAFT_VERSION_FEATURE, 1, UPGRADE).contains("kraft.version stays 0"));
        assert_eq!(
            refusal(21, mv, -1, SAFE_DOWNGRADE),
            "Invalid update version -1 for feature metadata.version. A feature version cannot be less than 0."
        );
    }
}
