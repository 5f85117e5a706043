//! `__consumer_offsets` records (`docs/formats.md` §10): which partition holds a group, how offset
//! commits and group metadata (and their tombstones) are encoded as record keys/values, and how the
//! records read back from the log at start-up are decoded for replay into the coordinator.

use bytes::{Bytes, BytesMut};
use protocol::messages::{
    GroupMetadataKey, GroupMetadataValue, Message, OffsetCommitKey, OffsetCommitValue,
};
use protocol::records::{self, BatchBuilder, Compression};

use super::coordinator::CommittedOffset;

/// The internal topic holding committed offsets and group metadata.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// §10.6: the key version Kafka 3.9 writes for offset commits.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// §10.6: the value version Kafka 3.9 writes (no explicit retention).
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// §10.6: the value version with `expireTimestamp`, for an explicit retention time.
const OFFSET_COMMIT_VALUE_VERSION_EXPIRE: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// §10.6: the GroupMetadataValue version Kafka 3.9 writes.
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// Java `String.hashCode` over UTF-16 code units, int32 wrap-around.
pub(crate) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// §10.1: `Utils.abs(hash) % partitions` (`Utils.abs(Integer.MIN_VALUE)` is 0).
pub(crate) fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

fn versioned<M: Message>(m: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + m.encoded_size(version));
    buf.extend_from_slice(&version.to_be_bytes());
    m.encode(&mut buf, version);
    buf.freeze()
}

/// Key and value of one offset commit record; `None` value is a tombstone.
pub(crate) fn offset_commit_record(
    group: &str,
    topic: &str,
    partition: i32,
    value: Option<&CommittedOffset>,
) -> (Bytes, Option<Bytes>) {
    let key = OffsetCommitKey {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    };
    let value = value.map(|v| {
        versioned(
            &OffsetCommitValue {
                offset: v.offset,
                leader_epoch: v.leader_epoch,
                metadata: v.metadata.clone(),
                commit_timestamp: v.commit_timestamp,
                expire_timestamp: v.expire_timestamp.unwrap_or(-1),
            },
            if v.expire_timestamp.is_some() {
                OFFSET_COMMIT_VALUE_VERSION_EXPIRE
            } else {
                OFFSET_COMMIT_VALUE_VERSION
            },
        )
    });
    (versioned(&key, OFFSET_COMMIT_KEY_VERSION), value)
}

/// Key of a group's metadata record (its tombstone when the group is deleted).
pub(crate) fn group_metadata_key(group: &str) -> Bytes {
    versioned(
        &GroupMetadataKey {
            group: group.to_string(),
        },
        GROUP_METADATA_KEY_VERSION,
    )
}

/// Key and value (`None`: tombstone) of a record, as Kafka 3.9 writes it.
pub(crate) fn encode_record(r: &OffsetsRecord) -> (Bytes, Option<Bytes>) {
    match r {
        OffsetsRecord::Offset {
            group,
            topic,
            partition,
            value,
        } => offset_commit_record(group, topic, *partition, value.as_ref()),
        OffsetsRecord::Group { group, value } => (
            group_metadata_key(group),
            value
                .as_ref()
                .map(|v| versioned(v, GROUP_METADATA_VALUE_VERSION)),
        ),
    }
}

/// §10.6: one CreateTime batch, no compression, producer id −1 and base sequence 0.
pub(crate) fn build_batch(
    records: &[(Bytes, Option<Bytes>)],
    timestamp: i64,
) -> Result<Bytes, records::RecordsError> {
    let mut b = BatchBuilder::new(Compression::None).producer(-1, -1, 0);
    for (k, v) in records {
        b.append(timestamp, Some(&k[..]), v.as_deref(), &[])?;
    }
    Ok(b.build()?.bytes)
}

/// One record of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        /// `None` for a tombstone.
        value: Option<GroupMetadataValue>,
    },
}

/// Decodes a record of `__consumer_offsets`. Unknown key versions (KIP-848 records,
/// §10.2) give `Ok(None)`; malformed bytes an error message.
pub(crate) fn decode_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Option<OffsetsRecord>, String> {
    let Some(key) = key else {
        return Err("record without a key".into());
    };
    let (version, mut body) = split_version(key, "key")?;
    match version {
        0 | 1 => {
            let k = OffsetCommitKey::decode(&mut body, version).map_err(|e| e.to_string())?;
            let value = match value {
                None => None,
                Some(v) => {
                    let (vv, mut vb) = split_version(v, "value")?;
                    let v = OffsetCommitValue::decode(&mut vb, vv).map_err(|e| e.to_string())?;
                    Some(CommittedOffset {
                        offset: v.offset,
                        leader_epoch: if vv >= 3 { v.leader_epoch } else { -1 },
                        metadata: v.metadata,
                        commit_timestamp: v.commit_timestamp,
                        expire_timestamp: (vv == 1 && v.expire_timestamp != -1)
                            .then_some(v.expire_timestamp),
                    })
                }
            };
            Ok(Some(OffsetsRecord::Offset {
                group: k.group,
                topic: k.topic,
                partition: k.partition,
                value,
            }))
        }
        2 => {
            let k = GroupMetadataKey::decode(&mut body, version).map_err(|e| e.to_string())?;
            let value = match value {
                None => None,
                Some(v) => {
                    let (vv, mut vb) = split_version(v, "value")?;
                    if !(0..=4).contains(&vv) {
                        return Err(format!("unknown group metadata value version {vv}"));
                    }
                    let mut g =
                        GroupMetadataValue::decode(&mut vb, vv).map_err(|e| e.to_string())?;
                    if vv == 0 {
                        // Kafka `readGroupMessageValue`: v0 has no rebalance timeout; the
                        // session timeout stands in for it.
                        for m in &mut g.members {
                            m.rebalance_timeout = m.session_timeout;
                        }
                    }
                    Some(g)
                }
            };
            Ok(Some(OffsetsRecord::Group {
                group: k.group,
                value,
            }))
        }
        _ => Ok(None),
    }
}

/// §10.2: every key and value starts with its int16 schema version; returns it and the
/// bytes after it.
fn split_version(bytes: &[u8], what: &str) -> Result<(i16, Bytes), String> {
    match bytes {
        [hi, lo, body @ ..] => Ok((i16::from_be_bytes([*hi, *lo]), Bytes::copy_from_slice(body))),
        _ => Err(format!("{what} shorter than its version")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_choice_matches_kafka() {
        // `docs/formats.md` §10.1 examples.
        assert_eq!(java_string_hash("my-group"), -1906497762);
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("console-consumer-12345", 50), 6);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("", 50), 0);
    }

    #[test]
    fn offset_commit_record_matches_spec_example() {
        let v = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: String::new(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: None,
        };
        let (k, val) = offset_commit_record("my-group", "orders", 0, Some(&v));
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&k), "000100086d792d67726f757000066f726465727300000000");
        assert_eq!(
            hex(val.as_ref().unwrap()),
            "0003000000000000002a0000000300000000018bcfe56800"
        );
        let back = decode_record(Some(&k), val.as_deref()).unwrap().unwrap();
        assert_eq!(
            back,
            OffsetsRecord::Offset {
                group: "my-group".into(),
                topic: "orders".into(),
                partition: 0,
                value: Some(v)
            }
        );
        let tomb = decode_record(Some(&k), None).unwrap().unwrap();
        assert!(matches!(tomb, OffsetsRecord::Offset { value: None, .. }));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_record(None, None).is_err());
        assert!(decode_record(Some(&[0]), None).is_err());
        assert!(decode_record(Some(&[0, 1, 0xff]), None).is_err());
        assert!(decode_record(Some(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), Some(&[0, 9, 1])).is_err());
        assert_eq!(decode_record(Some(&[0, 7, 1, 2]), None), Ok(None));
        let k = group_metadata_key("g");
        assert_eq!(
            decode_record(Some(&k), None),
            Ok(Some(OffsetsRecord::Group {
                group: "g".into(),
                value: None
            }))
        );
        assert!(decode_record(Some(&k), Some(&[0, 9, 0])).is_err());
        assert!(decode_record(Some(&k), Some(&[0, 3, 0, 0, 0])).is_err());
    }

    #[test]
    fn explicit_retention_writes_value_v1() {
        let v = CommittedOffset {
            offset: 7,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: Some(61_000),
        };
        let (k, val) = offset_commit_record("g", "t", 1, Some(&v));
        let val = val.unwrap();
        assert_eq!(&val[..2], &[0, 1], "value v1");
        let back = decode_record(Some(&k), Some(&val)).unwrap().unwrap();
        // v1 has no leader epoch.
        let expected = CommittedOffset {
            leader_epoch: -1,
            ..v
        };
        assert!(matches!(back, OffsetsRecord::Offset { value: Some(ref b), .. } if *b == expected));
    }

    #[test]
    fn group_metadata_round_trips_at_v3() {
        use protocol::messages::group_metadata_value::MemberMetadata;
        let g = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("c-1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![MemberMetadata {
                member_id: "c-1".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let r = OffsetsRecord::Group {
            group: "g".into(),
            value: Some(g),
        };
        let (k, v) = encode_record(&r);
        let v = v.unwrap();
        assert_eq!(&k[..2], &[0, 2]);
        assert_eq!(&v[..2], &[0, 3]);
        assert_eq!(decode_record(Some(&k), Some(&v)), Ok(Some(r)));
        // An Empty group (§10.5): protocol type kept, no members, null protocol/leader.
        let empty = OffsetsRecord::Group {
            group: "g".into(),
            value: Some(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 5,
                current_state_timestamp: 9,
                ..Default::default()
            }),
        };
        let (k, v) = encode_record(&empty);
        assert_eq!(decode_record(Some(&k), v.as_deref()), Ok(Some(empty)));
    }
}
