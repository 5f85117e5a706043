//! Keys and transaction-marker values of control records (`docs/formats.md` §7.5).
//!
//! Control batches are written by the transaction coordinator (COMMIT/ABORT markers) and by
//! Raft (LEADER_CHANGE, snapshot header/footer, KRaft version and voters). Their records'
//! keys are `int16 version (0)` + `int16 type`; the values of types 2–6 are metadata-log
//! messages encoded elsewhere. Readers are lenient like Kafka's: longer keys and values are
//! fine, unknown types map to [`ControlRecordType::Unknown`].

use super::{RecordsError, Result};

/// The type in a control record's key (`ControlRecordType.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
    LeaderChange,
    SnapshotHeader,
    SnapshotFooter,
    KraftVersion,
    KraftVoters,
    /// A type this version does not know; Kafka ignores such records.
    Unknown(i16),
}

impl ControlRecordType {
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    pub fn from_id(id: i16) -> ControlRecordType {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// The 4-byte record key: version 0, then the type.
    pub fn key(self) -> [u8; 4] {
        let [a, b] = self.id().to_be_bytes();
        [0, 0, a, b]
    }

    /// Reads a control record key: at least 4 bytes, version ≥ 0 (`ControlRecordType.parse`).
    pub fn parse_key(key: &[u8]) -> Result<ControlRecordType> {
        let Some([v0, v1, t0, t1]) = key.first_chunk::<4>().copied() else {
            return Err(RecordsError::InvalidRecord {
                reason: "control record key shorter than 4 bytes",
            });
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return Err(RecordsError::InvalidRecord {
                reason: "negative control record key version",
            });
        }
        Ok(ControlRecordType::from_id(i16::from_be_bytes([t0, t1])))
    }
}

/// Value of a COMMIT or ABORT marker: `int16 version (0)` + `int32 coordinatorEpoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The 6-byte value, version 0.
    pub fn value(self) -> [u8; 6] {
        let [a, b, c, d] = self.coordinator_epoch.to_be_bytes();
        [0, 0, a, b, c, d]
    }

    /// Reads a marker value: at least 6 bytes, version ≥ 0; higher versions are read as
    /// version 0 (`EndTransactionMarker.deserializeValue`).
    pub fn parse_value(value: &[u8]) -> Result<EndTxnMarker> {
        let Some([v0, v1, a, b, c, d]) = value.first_chunk::<6>().copied() else {
            return Err(RecordsError::InvalidRecord {
                reason: "end transaction marker shorter than 6 bytes",
            });
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return Err(RecordsError::InvalidRecord {
                reason: "negative end transaction marker version",
            });
        }
        Ok(EndTxnMarker {
            coordinator_epoch: i32::from_be_bytes([a, b, c, d]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        for id in -1..8 {
            let t = ControlRecordType::from_id(id);
            assert_eq!(t.id(), id);
            assert_eq!(ControlRecordType::parse_key(&t.key()), Ok(t));
        }
        assert_eq!(ControlRecordType::Commit.key(), [0, 0, 0, 1]);
        let marker = EndTxnMarker {
            coordinator_epoch: 5,
        };
        assert_eq!(marker.value(), [0, 0, 0, 0, 0, 5]);
        assert_eq!(EndTxnMarker::parse_value(&marker.value()), Ok(marker));
        assert!(ControlRecordType::parse_key(&[0, 0, 1]).is_err());
        assert!(ControlRecordType::parse_key(&[0xff, 0xff, 0, 1]).is_err());
        assert!(EndTxnMarker::parse_value(&[0, 1, 0, 0, 0]).is_err());
    }
}
