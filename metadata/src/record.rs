//! One KRaft metadata record and its frame (`docs/formats.md` §11.2).
//!
//! Records arrive as the values of `__cluster_metadata` batches (from the local log, a Raft
//! leader's Fetch response, or a snapshot file) and are produced by the controllers and the
//! ZooKeeper loader. A frame is Kafka's `AbstractApiMessageSerde` layout:
//!
//! ```text
//! uvarint frameVersion (= 1) | uvarint apiKey (record type) | uvarint version | body
//! ```
//!
//! where the body is the record serialized with the generated codec at `version` (every
//! metadata record is flexible from v0). Decoding rejects frame versions other than 1,
//! `apiKey`/`version` above 32767, unknown record types (naming the type), versions the
//! schema does not define and trailing bytes.

use bytes::{Buf, Bytes, BytesMut};
use protocol::codec::{read_uvarint, uvarint_size, write_uvarint};
use protocol::messages::*;

use crate::error::{Error, Result};

/// The only frame version Kafka reads and writes (`AbstractApiMessageSerde`); 0 was the 2.8
/// preview format.
pub const FRAME_VERSION: u32 = 1;

/// A metadata record: its body and the schema version it is (or will be) encoded at.
///
/// The record type is implied by the body's variant ([`MetadataRecord::record_type`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRecord {
    pub version: i16,
    pub body: MetadataRecordBody,
}

/// Calls `$f` with the record struct inside any [`MetadataRecordBody`] variant, with `$T`
/// bound to its type, so one line covers all 25 record types.
macro_rules! with_body {
    ($body:expr, |$r:ident: $T:ident| $e:expr) => {{
        use MetadataRecordBody as B;
        match $body {
            B::AbortTransaction($r) => {
                type $T = AbortTransactionRecord;
                $e
            }
            B::AccessControlEntry($r) => {
                type $T = AccessControlEntryRecord;
                $e
            }
            B::BeginTransaction($r) => {
                type $T = BeginTransactionRecord;
                $e
            }
            B::BrokerRegistrationChange($r) => {
                type $T = BrokerRegistrationChangeRecord;
                $e
            }
            B::ClientQuota($r) => {
                type $T = ClientQuotaRecord;
                $e
            }
            B::Config($r) => {
                type $T = ConfigRecord;
                $e
            }
            B::DelegationToken($r) => {
                type $T = DelegationTokenRecord;
                $e
            }
            B::EndTransaction($r) => {
                type $T = EndTransactionRecord;
                $e
            }
            B::FeatureLevel($r) => {
                type $T = FeatureLevelRecord;
                $e
            }
            B::FenceBroker($r) => {
                type $T = FenceBrokerRecord;
                $e
            }
            B::NoOp($r) => {
                type $T = NoOpRecord;
                $e
            }
            B::PartitionChange($r) => {
                type $T = PartitionChangeRecord;
                $e
            }
            B::Partition($r) => {
                type $T = PartitionRecord;
                $e
            }
            B::ProducerIds($r) => {
                type $T = ProducerIdsRecord;
                $e
            }
            B::RegisterBroker($r) => {
                type $T = RegisterBrokerRecord;
                $e
            }
            B::RegisterController($r) => {
                type $T = RegisterControllerRecord;
                $e
            }
            B::RemoveAccessControlEntry($r) => {
                type $T = RemoveAccessControlEntryRecord;
                $e
            }
            B::RemoveDelegationToken($r) => {
                type $T = RemoveDelegationTokenRecord;
                $e
            }
            B::RemoveTopic($r) => {
                type $T = RemoveTopicRecord;
                $e
            }
            B::RemoveUserScramCredential($r) => {
                type $T = RemoveUserScramCredentialRecord;
                $e
            }
            B::Topic($r) => {
                type $T = TopicRecord;
                $e
            }
            B::UnfenceBroker($r) => {
                type $T = UnfenceBrokerRecord;
                $e
            }
            B::UnregisterBroker($r) => {
                type $T = UnregisterBrokerRecord;
                $e
            }
            B::UserScramCredential($r) => {
                type $T = UserScramCredentialRecord;
                $e
            }
            B::ZkMigrationState($r) => {
                type $T = ZkMigrationStateRecord;
                $e
            }
        }
    }};
}

/// Kafka's schema name of a record type (`TopicRecord`, …), or `None` outside the 3.9
/// catalogue. Used in error messages and dumps.
pub fn record_type_name(record_type: i16) -> Option<&'static str> {
    Some(match record_type {
        0 => RegisterBrokerRecord::NAME,
        1 => UnregisterBrokerRecord::NAME,
        2 => TopicRecord::NAME,
        3 => PartitionRecord::NAME,
        4 => ConfigRecord::NAME,
        5 => PartitionChangeRecord::NAME,
        7 => FenceBrokerRecord::NAME,
        8 => UnfenceBrokerRecord::NAME,
        9 => RemoveTopicRecord::NAME,
        10 => DelegationTokenRecord::NAME,
        11 => UserScramCredentialRecord::NAME,
        12 => FeatureLevelRecord::NAME,
        14 => ClientQuotaRecord::NAME,
        15 => ProducerIdsRecord::NAME,
        17 => BrokerRegistrationChangeRecord::NAME,
        18 => AccessControlEntryRecord::NAME,
        19 => RemoveAccessControlEntryRecord::NAME,
        20 => NoOpRecord::NAME,
        21 => ZkMigrationStateRecord::NAME,
        22 => RemoveUserScramCredentialRecord::NAME,
        23 => BeginTransactionRecord::NAME,
        24 => EndTransactionRecord::NAME,
        25 => AbortTransactionRecord::NAME,
        26 => RemoveDelegationTokenRecord::NAME,
        27 => RegisterControllerRecord::NAME,
        _ => return None,
    })
}

/// The (lowest, highest) versions of a record type, or `None` outside the catalogue.
pub fn record_versions(record_type: i16) -> Option<(i16, i16)> {
    // The constants live on the record types; a default body reaches them through the same
    // dispatch macro as everything else, so the table of types stays in one place.
    let body = default_body(record_type)?;
    Some(with_body!(&body, |_r: T| T::VERSIONS))
}

fn default_body(record_type: i16) -> Option<MetadataRecordBody> {
    use MetadataRecordBody as B;
    Some(match record_type {
        0 => B::RegisterBroker(Default::default()),
        1 => B::UnregisterBroker(Default::default()),
        2 => B::Topic(Default::default()),
        3 => B::Partition(Default::default()),
        4 => B::Config(Default::default()),
        5 => B::PartitionChange(Default::default()),
        7 => B::FenceBroker(Default::default()),
        8 => B::UnfenceBroker(Default::default()),
        9 => B::RemoveTopic(Default::default()),
        10 => B::DelegationToken(Default::default()),
        11 => B::UserScramCredential(Default::default()),
        12 => B::FeatureLevel(Default::default()),
        14 => B::ClientQuota(Default::default()),
        15 => B::ProducerIds(Default::default()),
        17 => B::BrokerRegistrationChange(Default::default()),
        18 => B::AccessControlEntry(Default::default()),
        19 => B::RemoveAccessControlEntry(Default::default()),
        20 => B::NoOp(Default::default()),
        21 => B::ZkMigrationState(Default::default()),
        22 => B::RemoveUserScramCredential(Default::default()),
        23 => B::BeginTransaction(Default::default()),
        24 => B::EndTransaction(Default::default()),
        25 => B::AbortTransaction(Default::default()),
        26 => B::RemoveDelegationToken(Default::default()),
        27 => B::RegisterController(Default::default()),
        _ => return None,
    })
}

impl MetadataRecord {
    /// A record of `body` to be encoded at `version`.
    pub fn new(version: i16, body: MetadataRecordBody) -> MetadataRecord {
        MetadataRecord { version, body }
    }

    /// The record type: Kafka's `apiKey` of the record schema (`docs/formats.md` §11.4).
    pub fn record_type(&self) -> i16 {
        self.body.record_type()
    }

    /// Kafka's schema name, e.g. `PartitionChangeRecord`.
    pub fn name(&self) -> &'static str {
        with_body!(&self.body, |_r: T| T::NAME)
    }

    /// Checks that the schema defines [`MetadataRecord::version`]; encoding at another
    /// version would write bytes no reader accepts.
    pub fn check_version(&self) -> Result<()> {
        let (min, max) = with_body!(&self.body, |_r: T| T::VERSIONS);
        if self.version < min || self.version > max {
            return Err(Error::UnsupportedVersion {
                name: self.name(),
                version: self.version,
                min,
                max,
            });
        }
        Ok(())
    }

    /// Bytes of the whole frame.
    pub fn encoded_size(&self) -> usize {
        let body = with_body!(&self.body, |r: T| <T as Message>::encoded_size(
            r,
            self.version
        ));
        uvarint_size(FRAME_VERSION)
            + uvarint_size(self.record_type() as u16 as u32)
            + uvarint_size(self.version as u16 as u32)
            + body
    }

    /// Appends the frame. The version must be valid ([`MetadataRecord::check_version`]);
    /// [`crate::batch::encode_batch`] checks that before calling this.
    pub fn encode(&self, buf: &mut BytesMut) {
        write_uvarint(buf, FRAME_VERSION);
        write_uvarint(buf, self.record_type() as u16 as u32);
        write_uvarint(buf, self.version as u16 as u32);
        with_body!(&self.body, |r: T| <T as Message>::encode(
            r,
            buf,
            self.version
        ));
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_size());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes exactly one frame; `bytes` must hold nothing else.
    pub fn decode(mut bytes: Bytes) -> Result<MetadataRecord> {
        let frame_version = read_uvarint(&mut bytes).map_err(Error::FrameHeader)?;
        if frame_version != FRAME_VERSION {
            return Err(Error::UnsupportedFrameVersion(frame_version));
        }
        let record_type = read_short(&mut bytes, "apiKey")?;
        let version = read_short(&mut bytes, "version")?;
        let Some(name) = record_type_name(record_type) else {
            return Err(Error::UnknownRecordType {
                record_type,
                version,
            });
        };
        let body = match MetadataRecordBody::decode(record_type, version, &mut bytes) {
            None => {
                return Err(Error::UnknownRecordType {
                    record_type,
                    version,
                })
            }
            Some(Ok(body)) => body,
            Some(Err(source)) => {
                let (min, max) = record_versions(record_type).unwrap_or((0, -1));
                if version < min || version > max {
                    return Err(Error::UnsupportedVersion {
                        name,
                        version,
                        min,
                        max,
                    });
                }
                return Err(Error::Body {
                    name,
                    version,
                    source,
                });
            }
        };
        if bytes.has_remaining() {
            return Err(Error::TrailingBytes {
                name,
                version,
                count: bytes.remaining(),
            });
        }
        Ok(MetadataRecord { version, body })
    }
}

fn read_short(bytes: &mut Bytes, field: &'static str) -> Result<i16> {
    let value = read_uvarint(bytes).map_err(Error::FrameHeader)?;
    i16::try_from(value).map_err(|_| Error::FrameValueTooLarge { field, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Uuid;

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::new(
            0,
            MetadataRecordBody::Topic(TopicRecord {
                name: name.into(),
                topic_id: Uuid([7; 16]),
            }),
        )
    }

    #[test]
    fn topic_record_frame_matches_the_spec_example() {
        // `docs/formats.md` §11.2: a TopicRecord v0 starts `01 02 00`, then the name, the
        // uuid and `00`.
        let bytes = topic("ab").to_bytes();
        let mut expected = vec![0x01, 0x02, 0x00, 0x03, b'a', b'b'];
        expected.extend_from_slice(&[7; 16]);
        expected.push(0x00);
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(topic("ab").encoded_size(), expected.len());
        assert_eq!(MetadataRecord::decode(bytes), Ok(topic("ab")));
    }

    #[test]
    fn noop_record_is_four_bytes() {
        let r = MetadataRecord::new(0, MetadataRecordBody::NoOp(NoOpRecord {}));
        assert_eq!(&r.to_bytes()[..], &[0x01, 20, 0x00, 0x00]);
    }

    #[test]
    fn frame_errors_name_the_problem() {
        let good = topic("ab").to_bytes();
        let mut v0 = good.to_vec();
        v0[0] = 0;
        assert_eq!(
            MetadataRecord::decode(v0.into()),
            Err(Error::UnsupportedFrameVersion(0))
        );

        let unknown = Bytes::from_static(&[0x01, 6, 0x00, 0x00]);
        let err = MetadataRecord::decode(unknown).unwrap_err();
        assert_eq!(
            err,
            Error::UnknownRecordType {
                record_type: 6,
                version: 0
            }
        );
        assert!(err.to_string().contains("unknown metadata record type 6"));

        let huge_key = Bytes::from_static(&[0x01, 0x80, 0x80, 0x02, 0x00]);
        assert!(matches!(
            MetadataRecord::decode(huge_key),
            Err(Error::FrameValueTooLarge {
                field: "apiKey",
                value: 32768
            })
        ));

        let bad_version = Bytes::from_static(&[0x01, 2, 0x05, 0x01, 0x00]);
        assert!(matches!(
            MetadataRecord::decode(bad_version),
            Err(Error::UnsupportedVersion {
                name: "TopicRecord",
                version: 5,
                ..
            })
        ));

        let mut trailing = good.to_vec();
        trailing.push(0);
        assert!(matches!(
            MetadataRecord::decode(trailing.into()),
            Err(Error::TrailingBytes { count: 1, .. })
        ));

        for cut in 0..good.len() {
            assert!(
                MetadataRecord::decode(good.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn check_version_rejects_versions_outside_the_schema() {
        let mut r = topic("x");
        assert!(r.check_version().is_ok());
        r.version = 1;
        assert!(r.check_version().is_err());
        assert_eq!(record_versions(3), Some((0, 2)));
        assert_eq!(record_versions(6), None);
    }
}
