//! Incremental fetch sessions (KIP-227): a client that fetches many partitions sends the full
//! list once, then only what changed; the broker answers with only the partitions that have
//! something new. The cache is bounded (Kafka's `max.incremental.fetch.session.cache.slots`)
//! and evicts the least recently used session; a client whose session was evicted gets
//! FETCH_SESSION_ID_NOT_FOUND and starts a new one, as with Kafka.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use protocol::messages::FetchRequest;
use protocol::{ErrorCode, Uuid};

/// Kafka's default `max.incremental.fetch.session.cache.slots`.
pub(crate) const FETCH_SESSIONS_MAX: usize = 1000;

/// `session_epoch` values with special meaning (KIP-227).
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;

/// A partition as the client names it: by topic id (Fetch v13+) or by name (older).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PartitionKey {
    pub(crate) topic_id: Uuid,
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

/// What the client asked for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    pub(crate) fetch_offset: i64,
    pub(crate) max_bytes: i32,
    pub(crate) current_leader_epoch: i32,
}

/// What the client last heard about a partition, to decide whether an incremental response
/// must include it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LastSent {
    pub(crate) high_watermark: i64,
    pub(crate) log_start_offset: i64,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: BTreeMap<PartitionKey, (PartitionFetch, LastSent)>,
    last_used: Instant,
}

/// The partitions one fetch covers, and how to answer.
#[derive(Debug)]
pub(crate) struct SessionFetch {
    /// Session id for the response (0 = sessionless).
    pub(crate) session_id: i32,
    /// Incremental: answer only partitions with news.
    pub(crate) incremental: bool,
    pub(crate) partitions: Vec<(PartitionKey, PartitionFetch, LastSent)>,
}

/// All sessions of this broker.
#[derive(Debug, Default)]
pub(crate) struct FetchSessions {
    sessions: Mutex<BTreeMap<i32, Session>>,
}

fn requested(req: &FetchRequest) -> Vec<(PartitionKey, PartitionFetch)> {
    let mut out = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            out.push((
                PartitionKey {
                    topic_id: t.topic_id,
                    topic: t.topic.clone(),
                    partition: p.partition,
                },
                PartitionFetch {
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    current_leader_epoch: p.current_leader_epoch,
                },
            ));
        }
    }
    out
}

impl FetchSessions {
    /// Resolves a request into the partitions to read, creating, updating or closing its
    /// session. An error is the whole response's error code.
    pub(crate) fn begin(
        &self,
        req: &FetchRequest,
        version: i16,
    ) -> Result<SessionFetch, ErrorCode> {
        let sessionless = |partitions: Vec<(PartitionKey, PartitionFetch)>| SessionFetch {
            session_id: 0,
            incremental: false,
            partitions: partitions
                .into_iter()
                .map(|(k, f)| (k, f, LastSent::default()))
                .collect(),
        };
        if version < 7 {
            return Ok(sessionless(requested(req)));
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match (req.session_id, req.session_epoch) {
            (0, FINAL_EPOCH) => Ok(sessionless(requested(req))),
            (0, INITIAL_EPOCH) => {
                let partitions = requested(req);
                if sessions.len() >= FETCH_SESSIONS_MAX {
                    let oldest = sessions
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id);
                    if let Some(id) = oldest {
                        sessions.remove(&id);
                    }
                }
                // A fresh random id; with at most 1000 sessions a few draws always find one.
                let id = (0..64)
                    .map(|_| rand::random::<i32>() & i32::MAX)
                    .find(|id| *id != 0 && !sessions.contains_key(id))
                    .unwrap_or(0);
                if id == 0 {
                    return Ok(sessionless(partitions));
                }
                sessions.insert(
                    id,
                    Session {
                        next_epoch: 1,
                        partitions: partitions
                            .iter()
                            .map(|(k, f)| (k.clone(), (f.clone(), LastSent::default())))
                            .collect(),
                        last_used: Instant::now(),
                    },
                );
                Ok(SessionFetch {
                    session_id: id,
                    ..sessionless(partitions)
                })
            }
            (0, _) => Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH),
            (id, FINAL_EPOCH) => {
                sessions.remove(&id);
                Ok(sessionless(requested(req)))
            }
            (id, epoch) => {
                let Some(session) = sessions.get_mut(&id) else {
                    return Err(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
                };
                if epoch != session.next_epoch {
                    return Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
                }
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                session.last_used = Instant::now();
                for (key, fetch) in requested(req) {
                    let last = session
                        .partitions
                        .get(&key)
                        .map(|(_, l)| *l)
                        .unwrap_or_default();
                    session.partitions.insert(key, (fetch, last));
                }
                for t in &req.forgotten_topics_data {
                    for &partition in &t.partitions {
                        let key = PartitionKey {
                            topic_id: t.topic_id,
                            topic: t.topic.clone(),
                            partition,
                        };
                        session.partitions.remove(&key);
                    }
                }
                Ok(SessionFetch {
                    session_id: id,
                    incremental: true,
                    partitions: session
                        .partitions
                        .iter()
                        .map(|(k, (f, l))| (k.clone(), f.clone(), *l))
                        .collect(),
                })
            }
        }
    }

    /// Records what a session's response told the client about each partition.
    pub(crate) fn sent(&self, session_id: i32, sent: Vec<(PartitionKey, LastSent)>) {
        if session_id == 0 {
            return;
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = sessions.get_mut(&session_id) {
            for (key, last) in sent {
                if let Some((_, l)) = session.partitions.get_mut(&key) {
                    *l = last;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};

    use super::*;

    fn req(
        session_id: i32,
        session_epoch: i32,
        partitions: &[i32],
        forget: &[i32],
    ) -> FetchRequest {
        FetchRequest {
            session_id,
            session_epoch,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: partitions
                    .iter()
                    .map(|&p| FetchPartition {
                        partition: p,
                        fetch_offset: 5,
                        partition_max_bytes: 100,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            forgotten_topics_data: if forget.is_empty() {
                Vec::new()
            } else {
                vec![ForgottenTopic {
                    topic: "t".into(),
                    partitions: forget.to_vec(),
                    ..Default::default()
                }]
            },
            ..Default::default()
        }
    }

    #[test]
    fn session_lifecycle_follows_kip_227() {
        let cache = FetchSessions::default();
        let full = cache.begin(&req(0, -1, &[0, 1], &[]), 12).unwrap();
        assert_eq!(
            (full.session_id, full.incremental, full.partitions.len()),
            (0, false, 2)
        );

        let created = cache.begin(&req(0, 0, &[0, 1], &[]), 12).unwrap();
        let id = created.session_id;
        assert!(id > 0 && !created.incremental);

        // Incremental: nothing new in the request, both partitions still fetched.
        let inc = cache.begin(&req(id, 1, &[], &[]), 12).unwrap();
        assert!(inc.incremental);
        assert_eq!(inc.partitions.len(), 2);
        // Add partition 2, forget partition 0.
        let inc = cache.begin(&req(id, 2, &[2], &[0]), 12).unwrap();
        let parts: Vec<i32> = inc.partitions.iter().map(|(k, _, _)| k.partition).collect();
        assert_eq!(parts, vec![1, 2]);

        assert_eq!(
            cache.begin(&req(id, 2, &[], &[]), 12).unwrap_err(),
            ErrorCode::INVALID_FETCH_SESSION_EPOCH
        );
        assert_eq!(
            cache.begin(&req(id + 1, 1, &[], &[]), 12).unwrap_err(),
            ErrorCode::FETCH_SESSION_ID_NOT_FOUND
        );

        // Closing the session, then it is gone.
        let closed = cache.begin(&req(id, -1, &[0], &[]), 12).unwrap();
        assert_eq!(closed.session_id, 0);
        assert_eq!(
            cache.begin(&req(id, 3, &[], &[]), 12).unwrap_err(),
            ErrorCode::FETCH_SESSION_ID_NOT_FOUND
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = FetchSessions::default();
        for _ in 0..FETCH_SESSIONS_MAX + 10 {
            cache.begin(&req(0, 0, &[0], &[]), 12).unwrap();
        }
        assert_eq!(cache.sessions.lock().unwrap().len(), FETCH_SESSIONS_MAX);
    }
}
