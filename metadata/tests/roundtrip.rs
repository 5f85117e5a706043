//! Round trips of the metadata layer, driven by proptest:
//!
//! * every record type at every version: frame encode → decode is the identity;
//! * hostile bytes (random, truncated, bit-flipped frames and batches) never panic;
//! * random record sequences → image → `to_records` → replay into an empty image gives the
//!   same image (the snapshot property, KIP-630), however the sequence is split into deltas.
//!
//! Proptest prints the failing input and persists it; the sample generator is seeded, so a
//! failure names its seed.

use bytes::{Bytes, BytesMut};
use metadata::{
    decode_batch, encode_batch, MetadataDelta, MetadataImage, MetadataRecord, Provenance,
};
use proptest::prelude::*;
use protocol::messages::client_quota_record::EntityData;
use protocol::messages::register_broker_record::{BrokerEndpoint, BrokerFeature};
use protocol::messages::*;
use protocol::records::{recompute_crc, Batch};
use protocol::sample::SampleRng;
use protocol::Uuid;

/// Every record type with a generated sample at `version`.
fn samples(seed: u64) -> Vec<MetadataRecord> {
    fn all<T: Message>(
        rng: &mut SampleRng,
        wrap: fn(T) -> MetadataRecordBody,
        out: &mut Vec<MetadataRecord>,
    ) {
        for version in T::VERSIONS.0..=T::VERSIONS.1 {
            let body = T::sample(rng, T::is_flexible(version), version);
            out.push(MetadataRecord::new(version, wrap(body)));
        }
    }
    let mut rng = SampleRng::new(seed);
    let mut out = Vec::new();
    let r = &mut rng;
    use MetadataRecordBody as B;
    all::<AbortTransactionRecord>(r, B::AbortTransaction, &mut out);
    all::<AccessControlEntryRecord>(r, B::AccessControlEntry, &mut out);
    all::<BeginTransactionRecord>(r, B::BeginTransaction, &mut out);
    all::<BrokerRegistrationChangeRecord>(r, B::BrokerRegistrationChange, &mut out);
    all::<ClientQuotaRecord>(r, B::ClientQuota, &mut out);
    all::<ConfigRecord>(r, B::Config, &mut out);
    all::<DelegationTokenRecord>(r, B::DelegationToken, &mut out);
    all::<EndTransactionRecord>(r, B::EndTransaction, &mut out);
    all::<FeatureLevelRecord>(r, B::FeatureLevel, &mut out);
    all::<FenceBrokerRecord>(r, B::FenceBroker, &mut out);
    all::<NoOpRecord>(r, B::NoOp, &mut out);
    all::<PartitionChangeRecord>(r, B::PartitionChange, &mut out);
    all::<PartitionRecord>(r, B::Partition, &mut out);
    all::<ProducerIdsRecord>(r, B::ProducerIds, &mut out);
    all::<RegisterBrokerRecord>(r, B::RegisterBroker, &mut out);
    all::<RegisterControllerRecord>(r, B::RegisterController, &mut out);
    all::<RemoveAccessControlEntryRecord>(r, B::RemoveAccessControlEntry, &mut out);
    all::<RemoveDelegationTokenRecord>(r, B::RemoveDelegationToken, &mut out);
    all::<RemoveTopicRecord>(r, B::RemoveTopic, &mut out);
    all::<RemoveUserScramCredentialRecord>(r, B::RemoveUserScramCredential, &mut out);
    all::<TopicRecord>(r, B::Topic, &mut out);
    all::<UnfenceBrokerRecord>(r, B::UnfenceBroker, &mut out);
    all::<UnregisterBrokerRecord>(r, B::UnregisterBroker, &mut out);
    all::<UserScramCredentialRecord>(r, B::UserScramCredential, &mut out);
    all::<ZkMigrationStateRecord>(r, B::ZkMigrationState, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_record_type_and_version_round_trips(seed in any::<u64>()) {
        let records = samples(seed);
        // 25 types; RegisterBroker has 4 versions, Partition(Change) and
        // BrokerRegistrationChange 3 each.
        prop_assert_eq!(records.len(), 25 + 3 + 2 + 2 + 2);
        for record in &records {
            let bytes = record.to_bytes();
            prop_assert_eq!(bytes.len(), record.encoded_size());
            let decoded = MetadataRecord::decode(bytes.clone());
            prop_assert_eq!(decoded.as_ref(), Ok(record), "seed {} {}", seed, record.name());
            // Every strict prefix is an error, never a panic.
            for cut in 0..bytes.len() {
                let _ = MetadataRecord::decode(bytes.slice(..cut));
            }
        }
        let batch = encode_batch(42, 3, 1_000, &records).unwrap();
        match decode_batch(&batch).unwrap() {
            metadata::DecodedBatch::Data(b) => prop_assert_eq!(b.records, records),
            other => prop_assert!(false, "not a data batch: {:?}", other),
        }
    }

    #[test]
    fn hostile_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                  record_type in 0u8..32, version in 0u8..4) {
        let _ = MetadataRecord::decode(Bytes::from(bytes.clone()));
        let mut framed = vec![1, record_type, version];
        framed.extend_from_slice(&bytes);
        let _ = MetadataRecord::decode(Bytes::from(framed));
    }

    #[test]
    fn corrupted_batches_never_panic(seed in any::<u64>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let records = samples(seed);
        let batch = encode_batch(0, 1, 0, &records).unwrap();
        let mut bytes = BytesMut::from(&batch.bytes[..]);
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x | 1;
        }
        // Fix the CRC so the corruption reaches the record decoder.
        let mut raw = bytes.to_vec();
        let _ = recompute_crc(&mut raw);
        if let Ok(batch) = Batch::from_bytes(Bytes::from(raw)) {
            let _ = decode_batch(&batch);
        }
    }
}

// ---- random valid-ish record sequences for the snapshot property ----

fn id(n: u8) -> Uuid {
    Uuid([n + 1; 16])
}

fn ints(max: i32) -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(0..max, 0..4)
}

fn record() -> impl Strategy<Value = MetadataRecord> {
    use MetadataRecordBody as B;
    let name = prop_oneof![Just("a"), Just("b"), Just("c.d"), Just("c_d")].prop_map(String::from);
    let dirs = prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec((0u8..3).prop_map(|n| Uuid([n; 16])), 0..4)
    ];
    prop_oneof![
        3 => (0u8..4, name.clone()).prop_map(|(i, n)| (0, B::Topic(TopicRecord { name: n, topic_id: id(i) }))),
        6 => (0u8..4, 0i32..3, ints(4), ints(4), -1i32..4, 0i32..5, 0i32..5, 0i8..2, dirs.clone(), 0u8..3).prop_map(
            |(t, p, replicas, isr, leader, le, pe, lrs, dirs, v)| {
                let directories = if dirs.len() == replicas.len() { dirs } else { Vec::new() };
                (
                    i16::from(v.min(1)),
                    B::Partition(PartitionRecord {
                        partition_id: p,
                        topic_id: id(t),
                        replicas,
                        isr,
                        leader,
                        leader_epoch: le,
                        partition_epoch: pe,
                        leader_recovery_state: lrs,
                        directories,
                        ..Default::default()
                    }),
                )
            }
        ),
        6 => (0u8..4, 0i32..3, proptest::option::of(ints(4)), -2i32..4, proptest::option::of(ints(4)), -1i8..2, proptest::option::of(dirs))
            .prop_map(|(t, p, isr, leader, replicas, lrs, dirs)| {
                let directories = match (&replicas, dirs) {
                    (Some(r), Some(d)) if r.len() == d.len() => Some(d),
                    _ => None,
                };
                (
                    1,
                    B::PartitionChange(PartitionChangeRecord {
                        partition_id: p,
                        topic_id: id(t),
                        isr,
                        leader,
                        replicas,
                        leader_recovery_state: lrs,
                        directories,
                        ..Default::default()
                    }),
                )
            }),
        1 => (0u8..4).prop_map(|t| (0, B::RemoveTopic(RemoveTopicRecord { topic_id: id(t) }))),
        1 => (prop_oneof![Just(2i8), Just(4i8)], name.clone(), prop_oneof![Just("retention.ms"), Just("cleanup.policy")],
            proptest::option::of(prop_oneof![Just("1"), Just("compact")]))
            .prop_map(|(rt, rn, k, v)| (0, B::Config(ConfigRecord {
                resource_type: rt, resource_name: rn, name: k.into(), value: v.map(Into::into) }))),
        2 => (0i32..3, 0i64..3, any::<bool>(), any::<bool>(), any::<bool>(), proptest::collection::vec((0u8..2).prop_map(|n| Uuid([n + 7; 16])), 0..2))
            .prop_map(|(b, e, fenced, ics, zk, dirs)| (3, B::RegisterBroker(RegisterBrokerRecord {
                broker_id: b,
                broker_epoch: e,
                incarnation_id: id(b as u8),
                fenced,
                in_controlled_shutdown: ics,
                is_migrating_zk_broker: zk,
                log_dirs: dirs,
                rack: (b == 1).then(|| "r1".into()),
                end_points: vec![BrokerEndpoint { name: "PLAINTEXT".into(), host: "h".into(), port: 9092, security_protocol: 0 }],
                features: vec![BrokerFeature { name: "metadata.version".into(), min_supported_version: 1, max_supported_version: 21 }],
            }))),
        1 => (0i32..3, 0i64..3).prop_map(|(b, e)| (0, B::UnregisterBroker(UnregisterBrokerRecord { broker_id: b, broker_epoch: e }))),
        2 => (0i32..3, 0i64..3, -1i8..2, 0i8..2).prop_map(|(b, e, f, c)| (1, B::BrokerRegistrationChange(
            BrokerRegistrationChangeRecord { broker_id: b, broker_epoch: e, fenced: f, in_controlled_shutdown: c, ..Default::default() }))),
        1 => (0i32..3, 0i64..3).prop_map(|(b, e)| (0, B::FenceBroker(FenceBrokerRecord { id: b, epoch: e }))),
        1 => (0i32..3, 0i64..3).prop_map(|(b, e)| (0, B::UnfenceBroker(UnfenceBrokerRecord { id: b, epoch: e }))),
        1 => (prop_oneof![Just("metadata.version"), Just("group.version")], 0i16..22)
            .prop_map(|(n, l)| (0, B::FeatureLevel(FeatureLevelRecord { name: n.into(), feature_level: l }))),
        1 => (0i8..4).prop_map(|s| (0, B::ZkMigrationState(ZkMigrationStateRecord { zk_migration_state: s }))),
        1 => (0i64..5000).prop_map(|n| (0, B::ProducerIds(ProducerIdsRecord { broker_id: 1, broker_epoch: 2, next_producer_id: n }))),
        1 => (proptest::option::of(Just("alice")), any::<bool>(), 0u32..100, any::<bool>()).prop_map(|(user, client, v, remove)| {
            let mut entity = vec![EntityData { entity_type: "user".into(), entity_name: user.map(Into::into) }];
            if client {
                entity.push(EntityData { entity_type: "client-id".into(), entity_name: Some("c".into()) });
            }
            (0, B::ClientQuota(ClientQuotaRecord { entity, key: "producer_byte_rate".into(), value: f64::from(v), remove }))
        }),
        1 => (0u8..3, 0i8..4).prop_map(|(i, op)| (0, B::AccessControlEntry(AccessControlEntryRecord {
            id: id(i), resource_type: 2, resource_name: "t".into(), pattern_type: 3, principal: "User:x".into(),
            host: "*".into(), operation: op, permission_type: 3 }))),
        1 => (0u8..3).prop_map(|i| (0, B::RemoveAccessControlEntry(RemoveAccessControlEntryRecord { id: id(i) }))),
        1 => (name.clone(), 1i8..3, 1i32..5).prop_map(|(n, m, it)| (0, B::UserScramCredential(UserScramCredentialRecord {
            name: n, mechanism: m, salt: Bytes::from_static(b"s"), stored_key: Bytes::from_static(b"k"),
            server_key: Bytes::from_static(b"v"), iterations: it }))),
        1 => (name.clone(), 1i8..3).prop_map(|(n, m)| (0, B::RemoveUserScramCredential(RemoveUserScramCredentialRecord { name: n, mechanism: m }))),
        1 => (name.clone(), 0i64..3).prop_map(|(t, ts)| (0, B::DelegationToken(DelegationTokenRecord {
            owner: "User:o".into(), requester: "User:r".into(), renewers: vec!["User:n".into()],
            issue_timestamp: ts, max_timestamp: ts + 10, expiration_timestamp: ts + 5, token_id: t }))),
        1 => name.clone().prop_map(|t| (0, B::RemoveDelegationToken(RemoveDelegationTokenRecord { token_id: t }))),
        1 => (0i32..3, any::<bool>()).prop_map(|(c, ready)| (0, B::RegisterController(RegisterControllerRecord {
            controller_id: c, incarnation_id: id(c as u8), zk_migration_ready: ready, ..Default::default() }))),
        1 => Just((0, B::NoOp(NoOpRecord {}))),
        1 => Just((0, B::BeginTransaction(BeginTransactionRecord { name: Some("x".into()) }))),
        1 => Just((0, B::EndTransaction(EndTransactionRecord {}))),
    ]
    .prop_map(|(version, body)| MetadataRecord::new(version, body))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn image_to_records_replays_to_the_same_image(
        records in proptest::collection::vec(record(), 0..120),
        splits in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        // Build the image in several deltas (exercises copy-on-write of the shared maps),
        // skipping records that do not apply, as the loader would.
        let mut cuts: Vec<usize> = splits.iter().map(|s| s % (records.len() + 1)).collect();
        cuts.push(records.len());
        cuts.sort_unstable();
        let mut image = MetadataImage::empty();
        let mut start = 0;
        for cut in cuts {
            let mut delta = MetadataDelta::new(&image);
            for r in &records[start..cut] {
                let _ = delta.replay(r);
            }
            image = delta.apply();
            start = cut;
        }
        // The same records in one delta give the same image.
        let mut one = MetadataDelta::new(&MetadataImage::empty());
        for r in &records {
            let _ = one.replay(r);
        }
        prop_assert_eq!(&one.apply(), &image);

        let snapshot = image.to_records();
        if std::env::var("ROUNDTRIP_STATS").is_ok() {
            let parts: usize = image.topics.iter().map(|t| t.partitions.len()).sum();
            eprintln!("records {} snapshot {} topics {} partitions {} brokers {}", records.len(), snapshot.len(), image.topics.len(), parts, image.cluster.brokers.len());
        }
        let rebuilt = MetadataImage::from_records(&snapshot, Provenance::EMPTY);
        prop_assert_eq!(rebuilt.as_ref(), Ok(&image));

        // And through bytes: the snapshot's records survive a batch round trip.
        if !snapshot.is_empty() {
            let batch = encode_batch(0, 0, 0, &snapshot).unwrap();
            match decode_batch(&batch).unwrap() {
                metadata::DecodedBatch::Data(b) => prop_assert_eq!(b.records, snapshot),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
