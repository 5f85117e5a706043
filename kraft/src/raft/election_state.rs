//! The durable part of Raft's state (KIP-595): epoch, leader, vote, and their file form,
//! `__cluster_metadata-0/quorum-state` (`docs/formats.md` §12).
//!
//! The Raft core emits [`ElectionState`] in `Action::PersistElection`; the io layer writes
//! [`ElectionState::to_quorum_state_json`] to `quorum-state.tmp`, fsyncs and renames it, and
//! at start-up hands [`ElectionState::from_quorum_state_json`] of the file back to the core.
//! The file is input from disk, so parsing rejects anything off-shape with an error naming
//! the field, as Kafka's `FileQuorumStateStore` and generated `QuorumStateDataJsonConverter`
//! do.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use protocol::Uuid;

use super::json::{self, Json, JsonError};
use super::{Epoch, NodeId};

/// `data_version` of the file: 0 for `kraft.version` 0 (static voters), 1 for
/// `kraft.version` 1 (KIP-853, Kafka 3.9 dynamic quorums).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumStateVersion {
    V0,
    V1,
}

/// Epoch, leader and vote: what a voter must never forget across a crash (Raft §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ElectionState {
    pub epoch: Epoch,
    /// The known leader of `epoch`, if any.
    pub leader_id: Option<NodeId>,
    /// Whom this node voted for in `epoch`, if anyone.
    pub voted_id: Option<NodeId>,
    /// The directory id of the voted-for replica (KIP-853); `None` when unknown.
    pub voted_directory_id: Option<Uuid>,
    /// The voter set, only carried by `data_version` 0 files (`currentVoters`).
    pub voters: BTreeSet<NodeId>,
}

/// Why a `quorum-state` file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumStateError {
    #[error("quorum-state: {0}")]
    Json(#[from] JsonError),
    #[error("quorum-state is not a JSON object")]
    NotAnObject,
    #[error("quorum-state has no data_version field")]
    MissingDataVersion,
    #[error("quorum-state data_version {0} is not within the supported 0..=1")]
    UnsupportedDataVersion(i64),
    #[error("quorum-state (data_version {version}) is missing mandatory field '{field}'")]
    MissingField { version: i64, field: &'static str },
    #[error("quorum-state field '{field}' has the wrong type or an out-of-range value")]
    InvalidField { field: &'static str },
}

impl ElectionState {
    /// One line of compact JSON, no trailing newline, keys in `QuorumStateData` schema order
    /// then `data_version`, as Kafka writes it.
    pub fn to_quorum_state_json(&self, version: QuorumStateVersion) -> String {
        let mut out = String::from("{");
        let leader = self.leader_id.map_or(-1, |id| id.0);
        let voted = self.voted_id.map_or(-1, |id| id.0);
        match version {
            QuorumStateVersion::V0 => {
                let _ = write!(
                    out,
                    "\"clusterId\":\"\",\"leaderId\":{leader},\"leaderEpoch\":{},\"votedId\":{voted},\
                     \"appliedOffset\":0,\"currentVoters\":[",
                    self.epoch
                );
                for (i, v) in self.voters.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{{\"voterId\":{v}}}");
                }
                out.push_str("],\"data_version\":0}");
            }
            QuorumStateVersion::V1 => {
                let dir = self.voted_directory_id.unwrap_or(Uuid::ZERO);
                let _ = write!(
                    out,
                    "\"leaderId\":{leader},\"leaderEpoch\":{},\"votedId\":{voted},\"votedDirectoryId\":",
                    self.epoch
                );
                json::write_string(&mut out, &dir.to_string());
                out.push_str(",\"data_version\":1}");
            }
        }
        out
    }

    /// Reads the first line of a `quorum-state` file.
    pub fn from_quorum_state_json(
        text: &str,
    ) -> Result<(ElectionState, QuorumStateVersion), QuorumStateError> {
        let line = text.split('\n').next().unwrap_or("");
        let doc = json::parse(line)?;
        if !matches!(doc, Json::Object(_)) {
            return Err(QuorumStateError::NotAnObject);
        }
        let data_version = match doc.get("data_version") {
            None => return Err(QuorumStateError::MissingDataVersion),
            Some(Json::Int(v)) => *v,
            Some(_) => {
                return Err(QuorumStateError::InvalidField {
                    field: "data_version",
                })
            }
        };
        let version = match data_version {
            0 => QuorumStateVersion::V0,
            1 => QuorumStateVersion::V1,
            other => return Err(QuorumStateError::UnsupportedDataVersion(other)),
        };
        let int32 = |field: &'static str| -> Result<i32, QuorumStateError> {
            match doc.get(field) {
                None => Err(QuorumStateError::MissingField {
                    version: data_version,
                    field,
                }),
                Some(Json::Int(v)) => {
                    i32::try_from(*v).map_err(|_| QuorumStateError::InvalidField { field })
                }
                Some(_) => Err(QuorumStateError::InvalidField { field }),
            }
        };
        let epoch = Epoch(int32("leaderEpoch")?);
        let leader = int32("leaderId")?;
        let voted = int32("votedId")?;
        let mut state = ElectionState {
            epoch,
            leader_id: (leader != -1).then_some(NodeId(leader)),
            voted_id: (voted != -1).then_some(NodeId(voted)),
            voted_directory_id: None,
            voters: BTreeSet::new(),
        };
        match version {
            QuorumStateVersion::V0 => {
                match doc.get("clusterId") {
                    Some(Json::Str(_)) => {}
                    None => {
                        return Err(QuorumStateError::MissingField {
                            version: 0,
                            field: "clusterId",
                        })
                    }
                    Some(_) => return Err(QuorumStateError::InvalidField { field: "clusterId" }),
                }
                match doc.get("appliedOffset") {
                    Some(Json::Int(_)) => {}
                    None => {
                        return Err(QuorumStateError::MissingField {
                            version: 0,
                            field: "appliedOffset",
                        })
                    }
                    Some(_) => {
                        return Err(QuorumStateError::InvalidField {
                            field: "appliedOffset",
                        })
                    }
                }
                match doc.get("currentVoters") {
                    None => {
                        return Err(QuorumStateError::MissingField {
                            version: 0,
                            field: "currentVoters",
                        })
                    }
                    Some(Json::Null) => {}
                    Some(Json::Array(items)) => {
                        for item in items {
                            match item.get("voterId") {
                                Some(Json::Int(v)) => {
                                    let id = i32::try_from(*v).map_err(|_| {
                                        QuorumStateError::InvalidField { field: "voterId" }
                                    })?;
                                    state.voters.insert(NodeId(id));
                                }
                                None => {
                                    return Err(QuorumStateError::MissingField {
                                        version: 0,
                                        field: "voterId",
                                    })
                                }
                                Some(_) => {
                                    return Err(QuorumStateError::InvalidField { field: "voterId" })
                                }
                            }
                        }
                    }
                    Some(_) => {
                        return Err(QuorumStateError::InvalidField {
                            field: "currentVoters",
                        })
                    }
                }
            }
            QuorumStateVersion::V1 => match doc.get("votedDirectoryId") {
                Some(Json::Str(s)) => {
                    let dir = Uuid::parse(s).ok_or(QuorumStateError::InvalidField {
                        field: "votedDirectoryId",
                    })?;
                    state.voted_directory_id = (!dir.is_zero()).then_some(dir);
                }
                None => {
                    return Err(QuorumStateError::MissingField {
                        version: 1,
                        field: "votedDirectoryId",
                    })
                }
                Some(_) => {
                    return Err(QuorumStateError::InvalidField {
                        field: "votedDirectoryId",
                    })
                }
            },
        }
        Ok((state, version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_kafkas_exact_lines() {
        let s = ElectionState {
            epoch: Epoch(5),
            leader_id: Some(NodeId(1)),
            voted_id: None,
            voted_directory_id: None,
            voters: [NodeId(1)].into_iter().collect(),
        };
        // `docs/formats.md` §12 examples.
        assert_eq!(
            s.to_quorum_state_json(QuorumStateVersion::V0),
            r#"{"clusterId":"","leaderId":1,"leaderEpoch":5,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1}],"data_version":0}"#
        );
        let dir = Uuid::parse("J8aAPcfLQt2bqs1JT_rMgQ").unwrap();
        let s = ElectionState {
            epoch: Epoch(6),
            leader_id: None,
            voted_id: Some(NodeId(2)),
            voted_directory_id: Some(dir),
            voters: BTreeSet::new(),
        };
        assert_eq!(
            s.to_quorum_state_json(QuorumStateVersion::V1),
            r#"{"leaderId":-1,"leaderEpoch":6,"votedId":2,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}"#
        );
    }

    #[test]
    fn round_trips_both_versions() {
        let s = ElectionState {
            epoch: Epoch(9),
            leader_id: Some(NodeId(3)),
            voted_id: Some(NodeId(3)),
            voted_directory_id: None,
            voters: [1, 2, 3].into_iter().map(NodeId).collect(),
        };
        for v in [QuorumStateVersion::V0, QuorumStateVersion::V1] {
            let text = s.to_quorum_state_json(v);
            let (back, version) = ElectionState::from_quorum_state_json(&text).unwrap();
            assert_eq!(version, v);
            let mut expected = s.clone();
            if v == QuorumStateVersion::V1 {
                expected.voters.clear();
            }
            assert_eq!(back, expected);
        }
        // Only the first line counts; unknown members are ignored like Jackson does.
        let text = "{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":-1,\"votedDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"extra\":[1],\"data_version\":1}\ngarbage";
        let (back, _) = ElectionState::from_quorum_state_json(text).unwrap();
        assert_eq!(back.leader_id, Some(NodeId(1)));
        assert_eq!(back.voted_directory_id, None);
    }

    #[test]
    fn hostile_files_are_errors() {
        use QuorumStateError as E;
        type Check = fn(&E) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, E::Json(_))),
            ("[]", |e| matches!(e, E::NotAnObject)),
            ("{\"leaderId\":1}", |e| matches!(e, E::MissingDataVersion)),
            ("{\"data_version\":2}", |e| matches!(e, E::UnsupportedDataVersion(2))),
            ("{\"data_version\":-1}", |e| matches!(e, E::UnsupportedDataVersion(-1))),
            ("{\"data_version\":\"1\"}", |e| matches!(e, E::InvalidField { field: "data_version" })),
            ("{\"data_version\":1}", |e| matches!(e, E::MissingField { field: "leaderEpoch", .. })),
            (
                "{\"leaderId\":1,\"leaderEpoch\":4294967296,\"votedId\":-1,\"data_version\":1}",
                |e| matches!(e, E::InvalidField { field: "leaderEpoch" }),
            ),
            (
                "{\"leaderId\":1,\"leaderEpoch\":1,\"votedId\":-1,\"data_version\":1}",
                |e| matches!(e, E::MissingField { field: "votedDirectoryId", .. }),
            ),
            (
                "{\"leaderId\":1,\"leaderEpoch\":1,\"votedId\":-1,\"votedDirectoryId\":\"nope\",\"data_version\":1}",
                |e| matches!(e, E::InvalidField { field: "votedDirectoryId" }),
            ),
            (
                "{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":1,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":[{\"id\":1}],\"data_version\":0}",
                |e| matches!(e, E::MissingField { field: "voterId", .. }),
            ),
            (
                "{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":1,\"votedId\":-1,\"currentVoters\":null,\"data_version\":0}",
                |e| matches!(e, E::MissingField { field: "appliedOffset", .. }),
            ),
            ("{\"data_version\":1,\"data_version\":1}", |e| matches!(e, E::Json(_))),
            ("{\"data_version\":1.0}", |e| matches!(e, E::Json(_))),
        ];
        for (text, check) in cases {
            let err = ElectionState::from_quorum_state_json(text).unwrap_err();
            assert!(check(&err), "{text}: unexpected {err:?}");
        }
        // v0 with null voters is fine.
        let ok = "{\"clusterId\":\"x\",\"leaderId\":-1,\"leaderEpoch\":0,\"votedId\":-1,\"appliedOffset\":0,\"currentVoters\":null,\"data_version\":0}";
        assert!(ElectionState::from_quorum_state_json(ok).is_ok());
    }
}
