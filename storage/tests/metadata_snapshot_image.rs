//! A metadata image through a snapshot file and back (KIP-630, `docs/formats.md` §13):
//! `MetadataImage::to_records` → `metadata::snapshot::encode_snapshot_batches` →
//! `storage::metadata_snapshot::SnapshotWriter` → `read_all` → `from_snapshot_batches` gives
//! the same image, provenance included. The image is a rich one: features, brokers and a
//! controller, thousands of partitions (so the data spans several batches), configs,
//! quotas, producer ids, ACLs, SCRAM credentials and a delegation token.
//!
//! `metadata` is a dev-dependency only: `storage` itself moves batches, never records.

use bytes::Bytes;
use metadata::snapshot::encode_snapshot_batches;
use metadata::{MetadataDelta, MetadataImage, MetadataRecord, MetadataRecordBody, Provenance};
use protocol::messages::client_quota_record::EntityData;
use protocol::messages::register_broker_record::{BrokerEndpoint, BrokerFeature};
use protocol::messages::*;
use protocol::Uuid;
use storage::metadata_snapshot::{self, SnapshotId, SnapshotWriter};

const GENERATED_TOPICS: u32 = 2_500;
const PARTITIONS_PER_TOPIC: i32 = 4;

fn rich_image() -> MetadataImage {
    use MetadataRecordBody as B;
    let topic_id = |n: u32| {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&(n + 1).to_be_bytes());
        id[15] = 0x5a;
        Uuid(id)
    };
    let mut records = vec![
        (
            0,
            B::FeatureLevel(FeatureLevelRecord {
                name: "metadata.version".into(),
                feature_level: 21,
            }),
        ),
        (
            0,
            B::FeatureLevel(FeatureLevelRecord {
                name: "group.version".into(),
                feature_level: 1,
            }),
        ),
        (
            0,
            B::ZkMigrationState(ZkMigrationStateRecord {
                zk_migration_state: 0,
            }),
        ),
        (
            0,
            B::RegisterController(RegisterControllerRecord {
                controller_id: 3000,
                incarnation_id: Uuid([3; 16]),
                zk_migration_ready: false,
                ..Default::default()
            }),
        ),
    ];
    for broker_id in 1..=3 {
        records.push((
            3,
            B::RegisterBroker(RegisterBrokerRecord {
                broker_id,
                broker_epoch: i64::from(broker_id) * 10,
                incarnation_id: Uuid([broker_id as u8; 16]),
                fenced: broker_id == 3,
                in_controlled_shutdown: false,
                is_migrating_zk_broker: false,
                log_dirs: vec![Uuid([0x40 + broker_id as u8; 16])],
                rack: Some(format!("rack-{broker_id}")),
                end_points: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9090 + broker_id as u16,
                    security_protocol: 0,
                }],
                features: vec![BrokerFeature {
                    name: "metadata.version".into(),
                    min_supported_version: 1,
                    max_supported_version: 21,
                }],
            }),
        ));
    }
    for n in 0..GENERATED_TOPICS {
        records.push((
            0,
            B::Topic(TopicRecord {
                name: format!("topic-{n:05}"),
                topic_id: topic_id(n),
            }),
        ));
        for p in 0..PARTITIONS_PER_TOPIC {
            let replicas: Vec<i32> = (0..3).map(|r| 1 + (p + r) % 3).collect();
            records.push((
                1,
                B::Partition(PartitionRecord {
                    partition_id: p,
                    topic_id: topic_id(n),
                    isr: replicas[..2].to_vec(),
                    leader: replicas[0],
                    leader_epoch: p,
                    partition_epoch: p + 1,
                    directories: replicas
                        .iter()
                        .map(|&b| Uuid([0x40 + b as u8; 16]))
                        .collect(),
                    replicas,
                    ..Default::default()
                }),
            ));
        }
    }
    records.extend([
        (
            0,
            B::Config(ConfigRecord {
                resource_type: 2,
                resource_name: "topic-00007".into(),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            }),
        ),
        (
            0,
            B::Config(ConfigRecord {
                resource_type: 4,
                resource_name: "1".into(),
                name: "log.retention.ms".into(),
                value: Some("3600000".into()),
            }),
        ),
        (
            0,
            B::ClientQuota(ClientQuotaRecord {
                entity: vec![EntityData {
                    entity_type: "user".into(),
                    entity_name: Some("alice".into()),
                }],
                key: "producer_byte_rate".into(),
                value: 1024.0,
                remove: false,
            }),
        ),
        (
            0,
            B::ProducerIds(ProducerIdsRecord {
                broker_id: 2,
                broker_epoch: 20,
                next_producer_id: 5_000,
            }),
        ),
        (
            0,
            B::AccessControlEntry(AccessControlEntryRecord {
                id: Uuid([7; 16]),
                resource_type: 2,
                resource_name: "topic-00001".into(),
                pattern_type: 3,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: 3,
                permission_type: 3,
            }),
        ),
        (
            0,
            B::UserScramCredential(UserScramCredentialRecord {
                name: "alice".into(),
                mechanism: 1,
                salt: Bytes::from_static(b"salt"),
                stored_key: Bytes::from_static(b"stored"),
                server_key: Bytes::from_static(b"server"),
                iterations: 4096,
            }),
        ),
        (
            0,
            B::DelegationToken(DelegationTokenRecord {
                owner: "User:alice".into(),
                requester: "User:alice".into(),
                renewers: vec!["User:bob".into()],
                issue_timestamp: 1,
                max_timestamp: 100,
                expiration_timestamp: 50,
                token_id: "token-1".into(),
            }),
        ),
    ]);
    let mut delta = MetadataDelta::new(&MetadataImage::empty());
    for (version, body) in records {
        let record = MetadataRecord::new(version, body);
        delta
            .replay(&record)
            .unwrap_or_else(|e| panic!("{} replays: {e}", record.name()));
    }
    delta.set_provenance(Provenance {
        last_contained_offset: 123_455,
        last_contained_epoch: 7,
        last_contained_log_time_ms: 1_700_000_000_000,
    });
    delta.apply()
}

#[test]
fn an_image_survives_a_snapshot_file() {
    let image = rich_image();
    assert_eq!(image.cluster.brokers.len(), 3);
    assert_eq!(image.topics.len(), GENERATED_TOPICS as usize);
    assert_eq!(image.producer_ids.next_producer_id, 5_000);
    assert_eq!(
        image.metadata_version().map(|v| v.to_string()),
        Some("3.9-IV0".into())
    );

    let dir = tempfile::tempdir().unwrap();
    let p = image.provenance;
    let id = SnapshotId::after(p.last_contained_offset, p.last_contained_epoch);
    assert_eq!(id.file_name(), "00000000000000123456-0000000007.checkpoint");
    let now_ms = 1_700_000_000_500;
    let mut writer =
        SnapshotWriter::create(dir.path(), id, p.last_contained_log_time_ms, now_ms).unwrap();
    let records = image.to_records();
    let batches =
        encode_snapshot_batches(&records, writer.next_offset(), id.epoch, now_ms).unwrap();
    assert!(
        batches.len() >= 2,
        "{} records fill more than one batch",
        records.len()
    );
    for batch in &batches {
        writer.append(batch).unwrap();
    }
    let file = writer.freeze(now_ms).unwrap();

    let listed = metadata_snapshot::list(dir.path()).unwrap();
    assert_eq!(listed, vec![file]);
    let contents = metadata_snapshot::read_all(dir.path(), id).unwrap();
    assert_eq!(contents.batches, batches);
    let provenance = Provenance {
        last_contained_offset: contents.id.last_contained_offset(),
        last_contained_epoch: contents.id.epoch,
        last_contained_log_time_ms: contents.last_contained_log_timestamp_ms,
    };
    let loaded = MetadataImage::from_snapshot_batches(&contents.batches, provenance).unwrap();
    assert_eq!(loaded, image);
}
