//! Controller decisions, request by request: every CreateTopics error code, validate-only,
//! DeleteTopics by name and id, CreatePartitions, configs, broker registration and
//! heartbeats, producer ids. Each test drives a [`QuorumController`] through a small cluster
//! (bootstrap records, registered and unfenced brokers), "commits" the records it returns by
//! replaying them, and checks replies and records. `scenario_transcript` also writes the
//! whole exchange to `tests/testdata/controller_scenario.txt` and compares it with the
//! committed copy (`UPDATE_GOLDEN=1 cargo test -p kraft --test controller` rewrites it).

use std::fmt::Write as _;

use kraft::controller::features::{activation_records_for_empty_log, bootstrap_records};
use kraft::{ControllerConfig, ControllerResult, QuorumController, TopicDefaults};
use metadata::{ConfigResource, MetadataRecord, MetadataRecordBody, MetadataVersion};
use protocol::messages::broker_registration_request::{Feature, Listener};
use protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use protocol::messages::delete_topics_request::DeleteTopicState;
use protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use protocol::messages::*;
use protocol::{ErrorCode, Uuid};

const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";

/// A controller plus the log offset its next records would get.
struct Harness {
    c: QuorumController,
    /// Every committed group of records, as the Raft layer would have batched them.
    log: Vec<protocol::records::Batch>,
    next_offset: i64,
    now: i64,
    transcript: String,
}

fn dir(broker: i32) -> Uuid {
    Uuid([broker as u8 + 100; 16])
}

impl Harness {
    fn new(seed: u64) -> Harness {
        let config = ControllerConfig {
            node_id: 3000,
            cluster_id: CLUSTER_ID.into(),
            topic_defaults: TopicDefaults {
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut h = Harness {
            c: QuorumController::with_config(seed, config),
            log: Vec::new(),
            next_offset: 0,
            now: 1_000,
            transcript: String::new(),
        };
        let bootstrap = activation_records_for_empty_log(
            &bootstrap_records(MetadataVersion::IBP_3_9_IV0),
            false,
        );
        h.commit(&bootstrap);
        h.c.activate(h.now);
        h
    }

    /// "Commits" records: the controller replays them, the log grows.
    fn commit(&mut self, records: &[MetadataRecord]) {
        let failures = self.c.replay_all(records);
        assert!(failures.is_empty(), "own records must replay: {failures:?}");
        if !records.is_empty() {
            let batch = metadata::encode_batch(self.next_offset, 1, self.now, records).unwrap();
            self.log.push(batch);
        }
        self.next_offset += records.len() as i64;
    }

    fn log<T: std::fmt::Debug>(&mut self, what: &str, r: &ControllerResult<T>) {
        let _ = writeln!(self.transcript, "== {what}");
        for rec in &r.records {
            let _ = writeln!(
                self.transcript,
                "  record {} v{}: {:?}",
                rec.name(),
                rec.version,
                rec.body
            );
        }
        let _ = writeln!(self.transcript, "  reply: {:?}", r.reply);
    }

    fn register(&mut self, id: i32) -> i64 {
        let req = BrokerRegistrationRequest {
            broker_id: id,
            cluster_id: CLUSTER_ID.into(),
            incarnation_id: Uuid([id as u8; 16]),
            listeners: vec![Listener {
                name: "PLAINTEXT".into(),
                host: format!("broker{id}"),
                port: 9092,
                security_protocol: 0,
            }],
            features: vec![Feature {
                name: "metadata.version".into(),
                min_supported_version: 1,
                max_supported_version: 21,
            }],
            rack: None,
            log_dirs: vec![dir(id)],
            ..Default::default()
        };
        let r = self.c.register_broker(&req, self.next_offset, self.now);
        assert_eq!(r.reply.error_code, 0, "{:?}", r.reply);
        self.log(&format!("register broker {id}"), &r);
        self.commit(&r.records);
        r.reply.broker_epoch
    }

    fn heartbeat(&mut self, id: i32, epoch: i64, want_shut_down: bool) -> BrokerHeartbeatResponse {
        let req = BrokerHeartbeatRequest {
            broker_id: id,
            broker_epoch: epoch,
            current_metadata_offset: self.next_offset,
            want_fence: false,
            want_shut_down,
            ..Default::default()
        };
        let r = self.c.broker_heartbeat(&req, self.now);
        self.log(
            &format!("heartbeat broker {id} shutdown={want_shut_down}"),
            &r,
        );
        self.commit(&r.records);
        r.reply
    }

    /// `n` registered, unfenced brokers with ids 1..=n; returns their epochs.
    fn with_brokers(seed: u64, n: i32) -> (Harness, Vec<i64>) {
        let mut h = Harness::new(seed);
        let epochs: Vec<i64> = (1..=n).map(|id| h.register(id)).collect();
        for (i, e) in epochs.iter().enumerate() {
            let reply = h.heartbeat(i as i32 + 1, *e, false);
            assert!(!reply.is_fenced);
        }
        (h, epochs)
    }

    fn create(
        &mut self,
        topics: Vec<CreatableTopic>,
        validate_only: bool,
    ) -> ControllerResult<CreateTopicsResponse> {
        let req = CreateTopicsRequest {
            topics,
            timeout_ms: 1000,
            validate_only,
        };
        let r = self.c.create_topics(&req);
        self.log("create topics", &r);
        self.commit(&r.records);
        r
    }
}

fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: rf,
        ..Default::default()
    }
}

fn with_configs(mut t: CreatableTopic, configs: &[(&str, Option<&str>)]) -> CreatableTopic {
    t.configs = configs
        .iter()
        .map(|(k, v)| CreatableTopicConfig {
            name: (*k).into(),
            value: v.map(Into::into),
        })
        .collect();
    t
}

fn manual(name: &str, assignments: &[&[i32]]) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: assignments
            .iter()
            .enumerate()
            .map(|(i, b)| CreatableReplicaAssignment {
                partition_index: i as i32,
                broker_ids: b.to_vec(),
            })
            .collect(),
        ..Default::default()
    }
}

fn code_and_message(
    r: &protocol::messages::create_topics_response::CreatableTopicResult,
) -> (ErrorCode, String) {
    (
        ErrorCode(r.error_code),
        r.error_message.clone().unwrap_or_default(),
    )
}

#[test]
fn create_topics_places_replicas_and_reports_configs() {
    let (mut h, _) = Harness::with_brokers(1, 3);
    let r = h.create(
        vec![with_configs(
            topic("orders", 3, 2),
            &[
                ("retention.ms", Some("1000")),
                ("cleanup.policy", Some("compact")),
            ],
        )],
        false,
    );
    let res = &r.reply.topics[0];
    assert_eq!(res.error_code, 0);
    assert_eq!(res.error_message, None);
    assert_eq!((res.num_partitions, res.replication_factor), (3, 2));
    assert!(!res.topic_id.is_zero());
    let configs = res.configs.as_ref().unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("1000"), 1)
    );
    let segment = configs.iter().find(|c| c.name == "segment.bytes").unwrap();
    assert_eq!(
        (segment.value.as_deref(), segment.config_source),
        (Some("1073741824"), 5)
    );
    assert!(configs.windows(2).all(|w| w[0].name < w[1].name));

    // TopicRecord, its ConfigRecords (by key), then one PartitionRecord v1 per partition.
    let names: Vec<_> = r.records.iter().map(|r| (r.name(), r.version)).collect();
    assert_eq!(
        names,
        [
            ("TopicRecord", 0),
            ("ConfigRecord", 0),
            ("ConfigRecord", 0),
            ("PartitionRecord", 1),
            ("PartitionRecord", 1),
            ("PartitionRecord", 1)
        ]
    );
    let topic = h.c.image().topics.by_name("orders").unwrap().clone();
    assert_eq!(topic.id, res.topic_id);
    let mut leaders = Vec::new();
    for (p, reg) in &topic.partitions {
        assert_eq!(reg.replicas.len(), 2, "partition {p}");
        assert_eq!(reg.isr, reg.replicas);
        assert_eq!(reg.leader, reg.replicas[0]);
        assert_eq!((reg.leader_epoch, reg.partition_epoch), (0, 0));
        assert_eq!(
            reg.directories,
            reg.replicas.iter().map(|b| dir(*b)).collect::<Vec<_>>()
        );
        assert_ne!(reg.replicas[0], reg.replicas[1]);
        leaders.push(reg.leader);
    }
    leaders.sort_unstable();
    leaders.dedup();
    assert_eq!(leaders.len(), 3, "round robin spreads leaders");
    assert_eq!(
        h.c.image()
            .configs
            .value(&ConfigResource::topic("orders"), "cleanup.policy"),
        Some("compact")
    );
}

#[test]
fn create_topics_defaults_and_validate_only() {
    let (mut h, _) = Harness::with_brokers(2, 3);
    let r = h.create(vec![topic("defaults", -1, -1)], true);
    assert!(r.records.is_empty(), "validate_only writes nothing");
    let res = &r.reply.topics[0];
    assert_eq!(
        (res.error_code, res.num_partitions, res.replication_factor),
        (0, 2, 1)
    );
    assert!(res.configs.as_ref().is_some_and(|c| !c.is_empty()));
    assert!(h.c.image().topics.by_name("defaults").is_none());
    let r = h.create(vec![topic("defaults", -1, -1)], false);
    assert_eq!(r.records.len(), 3);
    assert_eq!(
        h.c.image()
            .topics
            .by_name("defaults")
            .unwrap()
            .partitions
            .len(),
        2
    );
}

#[test]
fn create_topics_error_codes() {
    let (mut h, _) = Harness::with_brokers(3, 3);
    h.create(vec![topic("exists", 1, 1), topic("a.b", 1, 1)], false);
    let long = "x".repeat(250);
    let r = h.create(
        vec![
            topic("", 1, 1),
            topic("bad name", 1, 1),
            topic("..", 1, 1),
            topic(&long, 1, 1),
            topic("exists", 1, 1),
            topic("a_b", 1, 1),
            topic("zero-partitions", 0, 1),
            topic("negative-partitions", -2, 1),
            topic("zero-rf", 1, 0),
            topic("negative-rf", 1, -2),
            topic("too-many-replicas", 1, 4),
            with_configs(
                topic("unknown-config", 1, 1),
                &[("retention.mss", Some("1"))],
            ),
            with_configs(topic("bad-config", 1, 1), &[("retention.ms", Some("abc"))]),
            with_configs(topic("null-config", 1, 1), &[("retention.ms", None)]),
            with_configs(
                topic("bad-ratio", 1, 1),
                &[("min.cleanable.dirty.ratio", Some("1.5"))],
            ),
            manual("unknown-broker", &[&[1, 9]]),
            manual("dup-broker", &[&[1, 1]]),
            manual("uneven", &[&[1, 2], &[3]]),
            manual("empty-replicas", &[&[]]),
            CreatableTopic {
                name: "gap".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![
                    CreatableReplicaAssignment {
                        partition_index: 0,
                        broker_ids: vec![1],
                    },
                    CreatableReplicaAssignment {
                        partition_index: 2,
                        broker_ids: vec![2],
                    },
                ],
                ..Default::default()
            },
            CreatableTopic {
                replication_factor: 2,
                ..manual("manual-with-rf", &[&[1, 2]])
            },
            CreatableTopic {
                num_partitions: 1,
                ..manual("manual-with-count", &[&[1, 2]])
            },
            topic("twice", 1, 1),
            topic("twice", 1, 1),
            topic("__cluster_metadata", 1, 1),
            topic("fine", 1, 1),
        ],
        false,
    );
    let get = |name: &str| {
        let res = r
            .reply
            .topics
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no result for {name}"));
        code_and_message(res)
    };
    use ErrorCode as E;
    assert_eq!(
        get(""),
        (
            E::INVALID_TOPIC_EXCEPTION,
            "Topic name is illegal, it can't be empty".into()
        )
    );
    assert_eq!(get("bad name").0, E::INVALID_TOPIC_EXCEPTION);
    assert_eq!(get("..").0, E::INVALID_TOPIC_EXCEPTION);
    assert_eq!(get(&long).0, E::INVALID_TOPIC_EXCEPTION);
    assert_eq!(
        get("exists"),
        (
            E::TOPIC_ALREADY_EXISTS,
            "Topic 'exists' already exists.".into()
        )
    );
    assert_eq!(
        get("a_b"),
        (
            E::INVALID_TOPIC_EXCEPTION,
            "Topic 'a_b' collides with existing topic: a.b".into()
        )
    );
    assert_eq!(
        get("zero-partitions"),
        (
            E::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.".into()
        )
    );
    assert_eq!(get("negative-partitions").0, E::INVALID_PARTITIONS);
    assert_eq!(
        get("zero-rf"),
        (
            E::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.".into()
        )
    );
    assert_eq!(get("negative-rf").0, E::INVALID_REPLICATION_FACTOR);
    assert_eq!(
        get("too-many-replicas"),
        (
            E::INVALID_REPLICATION_FACTOR,
            "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached \
             because only 3 broker(s) are registered."
                .into()
        )
    );
    assert_eq!(
        get("unknown-config"),
        (
            E::INVALID_CONFIG,
            "Unknown topic config name: retention.mss".into()
        )
    );
    assert_eq!(
        get("bad-config"),
        (
            E::INVALID_CONFIG,
            "Invalid value abc for configuration retention.ms: Not a number of type LONG".into()
        )
    );
    assert_eq!(
        get("null-config"),
        (
            E::INVALID_CONFIG,
            "Null value not supported for topic configs: retention.ms".into()
        )
    );
    assert_eq!(get("bad-ratio").0, E::INVALID_CONFIG);
    assert_eq!(
        get("unknown-broker"),
        (
            E::INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes broker 9, but no such broker is registered."
                .into()
        )
    );
    assert_eq!(get("dup-broker").0, E::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(get("uneven").0, E::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(get("empty-replicas").0, E::INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(
        get("gap"),
        (
            E::INVALID_REPLICA_ASSIGNMENT,
            "partitions should be a consecutive 0-based integer sequence".into()
        )
    );
    assert_eq!(get("manual-with-rf").0, E::INVALID_REQUEST);
    assert_eq!(get("manual-with-count").0, E::INVALID_REQUEST);
    assert_eq!(
        get("twice"),
        (E::INVALID_REQUEST, "Duplicate topic name.".into())
    );
    assert_eq!(
        r.reply.topics.iter().filter(|t| t.name == "twice").count(),
        1
    );
    assert_eq!(get("__cluster_metadata").0, E::INVALID_REQUEST);
    assert_eq!(get("fine").0, E::NONE);
    // Only "fine" was created: its TopicRecord and one PartitionRecord.
    assert_eq!(r.records.len(), 2);
    for res in &r.reply.topics {
        if res.error_code != 0 {
            assert!(
                res.topic_id.is_zero() && res.num_partitions == -1 && res.replication_factor == -1,
                "{res:?}"
            );
        }
    }
}

#[test]
fn colliding_names_in_one_request_are_refused() {
    let (mut h, _) = Harness::with_brokers(4, 1);
    let r = h.create(vec![topic("x.y", 1, 1), topic("x_y", 1, 1)], false);
    assert_eq!(r.reply.topics[0].error_code, 0);
    assert_eq!(
        code_and_message(&r.reply.topics[1]).0,
        ErrorCode::INVALID_TOPIC_EXCEPTION
    );
}

#[test]
fn names_colliding_with_existing_topics_are_refused() {
    let (mut h, _) = Harness::with_brokers(4, 1);
    let r = h.create(vec![topic("x.y", 1, 1), topic("x", 1, 1)], false);
    assert!(r.reply.topics.iter().all(|t| t.error_code == 0), "{r:?}");
    let r = h.create(
        vec![topic("x_y", 1, 1), topic("x_z", 1, 1), topic("x.yy", 1, 1)],
        false,
    );
    assert_eq!(
        code_and_message(&r.reply.topics[0]),
        (
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            "Topic 'x_y' collides with existing topic: x.y".into()
        )
    );
    assert_eq!(r.reply.topics[1].error_code, 0, "{r:?}");
    assert_eq!(r.reply.topics[2].error_code, 0, "{r:?}");
}

#[test]
fn fenced_brokers_are_not_used_for_placement() {
    let mut h = Harness::new(5);
    let r = h.create(vec![topic("nobody", 1, 1)], false);
    assert_eq!(
        code_and_message(&r.reply.topics[0]),
        (
            ErrorCode::INVALID_REPLICATION_FACTOR,
            "Unable to replicate the partition 1 time(s): All brokers are currently fenced.".into()
        )
    );
    let e1 = h.register(1);
    let _e2 = h.register(2);
    h.heartbeat(1, e1, false);
    let r = h.create(vec![topic("two", 1, 2)], false);
    assert_eq!(
        r.reply.topics[0].error_message.as_deref(),
        Some("Unable to replicate the partition 2 time(s): The target replication factor of 2 cannot be reached because only 1 broker(s) are unfenced.")
    );
    let r = h.create(vec![manual("on-fenced", &[&[2]])], false);
    assert_eq!(
        code_and_message(&r.reply.topics[0]).0,
        ErrorCode::INVALID_REPLICA_ASSIGNMENT
    );
}

#[test]
fn delete_topics_by_name_and_by_id() {
    let (mut h, _) = Harness::with_brokers(6, 1);
    h.create(
        vec![
            with_configs(topic("a", 1, 1), &[("retention.ms", Some("5"))]),
            topic("b", 1, 1),
            topic("c", 1, 1),
        ],
        false,
    );
    let id_b = h.c.image().topics.id_of("b").unwrap();
    let id_c = h.c.image().topics.id_of("c").unwrap();
    let req = DeleteTopicsRequest {
        topics: vec![
            DeleteTopicState {
                name: Some("a".into()),
                topic_id: Uuid::ZERO,
            },
            DeleteTopicState {
                name: None,
                topic_id: id_b,
            },
            DeleteTopicState {
                name: Some("missing".into()),
                topic_id: Uuid::ZERO,
            },
            DeleteTopicState {
                name: None,
                topic_id: Uuid([9; 16]),
            },
            DeleteTopicState {
                name: Some("c".into()),
                topic_id: id_c,
            },
            DeleteTopicState {
                name: None,
                topic_id: Uuid::ZERO,
            },
        ],
        ..Default::default()
    };
    let r = h.c.delete_topics(&req);
    h.log("delete topics", &r);
    let find = |name: Option<&str>, id: Uuid| {
        r.reply
            .responses
            .iter()
            .find(|x| x.name.as_deref() == name && x.topic_id == id)
            .map(|x| ErrorCode(x.error_code))
    };
    assert_eq!(
        find(Some("a"), h.c.image().topics.id_of("a").unwrap()),
        Some(ErrorCode::NONE)
    );
    assert_eq!(find(Some("b"), id_b), Some(ErrorCode::NONE));
    assert_eq!(
        find(Some("missing"), Uuid::ZERO),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert_eq!(find(None, Uuid([9; 16])), Some(ErrorCode::UNKNOWN_TOPIC_ID));
    assert_eq!(find(Some("c"), id_c), Some(ErrorCode::INVALID_REQUEST));
    assert_eq!(find(None, Uuid::ZERO), Some(ErrorCode::INVALID_REQUEST));
    assert_eq!(r.reply.responses.len(), 6);
    assert_eq!(r.records.len(), 2);
    assert!(r.records.iter().all(|x| x.name() == "RemoveTopicRecord"));
    h.commit(&r.records);
    let image = h.c.image();
    assert!(image.topics.by_name("a").is_none() && image.topics.by_name("b").is_none());
    assert!(
        image.configs.topic("a").is_none(),
        "a topic's configs go with it"
    );
    assert!(image.topics.by_name("c").is_some());

    // Legacy (v0-5) names and duplicates.
    let req = DeleteTopicsRequest {
        topic_names: vec!["c".into(), "c".into()],
        ..Default::default()
    };
    let r = h.c.delete_topics(&req);
    assert_eq!(r.reply.responses.len(), 1);
    assert_eq!(
        r.reply.responses[0].error_message.as_deref(),
        Some("Duplicate topic name.")
    );
    assert!(r.records.is_empty());
}

#[test]
fn create_partitions() {
    let (mut h, _) = Harness::with_brokers(7, 3);
    h.create(vec![topic("t", 2, 2)], false);
    let grow = |name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>| CreatePartitionsTopic {
        name: name.into(),
        count,
        assignments: assignments.map(|a| {
            a.into_iter()
                .map(|b| CreatePartitionsAssignment { broker_ids: b })
                .collect()
        }),
    };
    let req = CreatePartitionsRequest {
        topics: vec![
            grow("t", 2, None),
            grow("missing", 5, None),
            grow("t", 1, None),
        ],
        timeout_ms: 1000,
        validate_only: false,
    };
    let r = h.c.create_partitions(&req);
    assert_eq!(r.reply.results.len(), 2);
    assert_eq!(
        r.reply.results[0].error_message.as_deref(),
        Some("Duplicate topic name.")
    );
    assert_eq!(
        ErrorCode(r.reply.results[1].error_code),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );

    let same = CreatePartitionsRequest {
        topics: vec![grow("t", 2, None)],
        ..Default::default()
    };
    let r = h.c.create_partitions(&same);
    assert_eq!(
        r.reply.results[0].error_message.as_deref(),
        Some("Topic already has 2 partition(s).")
    );
    let fewer = CreatePartitionsRequest {
        topics: vec![grow("t", 1, None)],
        ..Default::default()
    };
    let r = h.c.create_partitions(&fewer);
    assert_eq!(
        r.reply.results[0].error_message.as_deref(),
        Some("The topic t currently has 2 partition(s); 1 would not be an increase.")
    );
    let wrong = CreatePartitionsRequest {
        topics: vec![grow("t", 4, Some(vec![vec![1, 2]]))],
        ..Default::default()
    };
    let r = h.c.create_partitions(&wrong);
    assert_eq!(
        ErrorCode(r.reply.results[0].error_code),
        ErrorCode::INVALID_REPLICA_ASSIGNMENT
    );
    let bad_rf = CreatePartitionsRequest {
        topics: vec![grow("t", 3, Some(vec![vec![1]]))],
        ..Default::default()
    };
    assert_eq!(
        ErrorCode(h.c.create_partitions(&bad_rf).reply.results[0].error_code),
        ErrorCode::INVALID_REPLICA_ASSIGNMENT
    );

    let dry = CreatePartitionsRequest {
        topics: vec![grow("t", 4, None)],
        validate_only: true,
        ..Default::default()
    };
    let r = h.c.create_partitions(&dry);
    assert_eq!((r.reply.results[0].error_code, r.records.len()), (0, 0));

    let ok = CreatePartitionsRequest {
        topics: vec![grow("t", 4, Some(vec![vec![3, 1], vec![2, 3]]))],
        ..Default::default()
    };
    let r = h.c.create_partitions(&ok);
    h.log("create partitions", &r);
    assert_eq!(r.reply.results[0].error_code, 0);
    h.commit(&r.records);
    let t = h.c.image().topics.by_name("t").unwrap();
    assert_eq!(t.partitions.len(), 4);
    assert_eq!(t.partitions[&2].replicas, vec![3, 1]);
    assert_eq!(t.partitions[&3].leader, 2);
    let auto = CreatePartitionsRequest {
        topics: vec![grow("t", 6, None)],
        ..Default::default()
    };
    let r = h.c.create_partitions(&auto);
    h.commit(&r.records);
    assert!(h
        .c
        .image()
        .topics
        .by_name("t")
        .unwrap()
        .partitions
        .values()
        .all(|p| p.replicas.len() == 2));
}

fn alter(resource_type: i8, name: &str, ops: &[(&str, i8, Option<&str>)]) -> AlterConfigsResource {
    AlterConfigsResource {
        resource_type,
        resource_name: name.into(),
        configs: ops
            .iter()
            .map(|(k, op, v)| AlterableConfig {
                name: (*k).into(),
                config_operation: *op,
                value: v.map(Into::into),
            })
            .collect(),
    }
}

#[test]
fn incremental_alter_configs() {
    let (mut h, _) = Harness::with_brokers(8, 1);
    h.create(vec![topic("t", 1, 1)], false);
    let req = IncrementalAlterConfigsRequest {
        resources: vec![
            alter(
                2,
                "t",
                &[
                    ("retention.ms", 0, Some("100")),
                    ("cleanup.policy", 2, Some("compact")),
                ],
            ),
            alter(2, "nope", &[("retention.ms", 0, Some("1"))]),
            alter(2, "t2", &[("retention.ms", 0, Some("x"))]),
            alter(4, "", &[("log.retention.hours", 0, Some("1"))]),
            alter(4, "1", &[("log.cleanup.policy", 2, Some("compact"))]),
            alter(4, "7", &[("x", 0, Some("1"))]),
            alter(4, "abc", &[("x", 0, Some("1"))]),
            alter(3, "whatever", &[]),
        ],
        validate_only: false,
    };
    let r = h.c.incremental_alter_configs(&req);
    h.log("incremental alter configs", &r);
    let get = |t: i8, n: &str| {
        let x = r
            .reply
            .responses
            .iter()
            .find(|x| x.resource_type == t && x.resource_name == n)
            .unwrap();
        (
            ErrorCode(x.error_code),
            x.error_message.clone().unwrap_or_default(),
        )
    };
    assert_eq!(get(2, "t").0, ErrorCode::NONE);
    assert_eq!(
        get(2, "nope"),
        (
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            "The topic 'nope' does not exist.".into()
        )
    );
    assert_eq!(get(2, "t2").0, ErrorCode::INVALID_CONFIG);
    assert_eq!(get(4, "").0, ErrorCode::NONE);
    assert_eq!(get(4, "1").0, ErrorCode::NONE);
    assert_eq!(
        get(4, "7"),
        (
            ErrorCode::BROKER_ID_NOT_REGISTERED,
            "No broker with id 7 found.".into()
        )
    );
    assert_eq!(get(4, "abc").0, ErrorCode::INVALID_REQUEST);
    assert_eq!(get(3, "whatever").0, ErrorCode::UNSUPPORTED_VERSION);
    h.commit(&r.records);
    let image = h.c.image();
    // APPEND to an unset list starts from the default ("delete").
    assert_eq!(
        image
            .configs
            .value(&ConfigResource::topic("t"), "cleanup.policy"),
        Some("delete,compact")
    );
    assert_eq!(
        image
            .configs
            .value(&ConfigResource::topic("t"), "retention.ms"),
        Some("100")
    );
    assert_eq!(
        image
            .configs
            .value(&ConfigResource::cluster_default(), "log.retention.hours"),
        Some("1")
    );
    assert_eq!(
        image
            .configs
            .value(&ConfigResource::broker(1), "log.cleanup.policy"),
        Some("delete,compact")
    );

    let req = IncrementalAlterConfigsRequest {
        resources: vec![
            alter(
                2,
                "t",
                &[
                    ("cleanup.policy", 3, Some("delete")),
                    ("retention.ms", 1, None),
                ],
            ),
            alter(4, "1", &[("x", 0, Some("1"))]),
            alter(4, "1", &[("y", 0, Some("1"))]),
        ],
        validate_only: false,
    };
    let r = h.c.incremental_alter_configs(&req);
    assert_eq!(
        r.reply
            .responses
            .iter()
            .filter(|x| x.error_message.as_deref() == Some("Duplicate resource."))
            .count(),
        1
    );
    h.commit(&r.records);
    let t = h.c.image().configs.topic("t").unwrap();
    assert_eq!(t.get("cleanup.policy").map(String::as_str), Some("compact"));
    assert!(!t.contains_key("retention.ms"));

    let req = IncrementalAlterConfigsRequest {
        resources: vec![
            alter(2, "t", &[("retention.ms", 2, Some("5"))]),
            alter(2, "t", &[]),
        ],
        validate_only: false,
    };
    // (Second mention makes it a duplicate; check APPEND on a non-list alone.)
    let _ = h.c.incremental_alter_configs(&req);
    let req = IncrementalAlterConfigsRequest {
        resources: vec![alter(2, "t", &[("retention.ms", 2, Some("5"))])],
        validate_only: false,
    };
    let r = h.c.incremental_alter_configs(&req);
    assert_eq!(
        r.reply.responses[0].error_message.as_deref(),
        Some("Can't APPEND to key retention.ms because its type is not LIST.")
    );
    let req = IncrementalAlterConfigsRequest {
        resources: vec![alter(2, "t", &[("retention.ms", 0, Some("9"))])],
        validate_only: true,
    };
    let r = h.c.incremental_alter_configs(&req);
    assert!(r.records.is_empty() && r.reply.responses[0].error_code == 0);
}

#[test]
fn legacy_alter_configs_replaces_the_set() {
    let (mut h, _) = Harness::with_brokers(9, 1);
    h.create(
        vec![with_configs(
            topic("t", 1, 1),
            &[("retention.ms", Some("5")), ("segment.ms", Some("100"))],
        )],
        false,
    );
    let req = AlterConfigsRequest {
        resources: vec![alter_configs_request::AlterConfigsResource {
            resource_type: 2,
            resource_name: "t".into(),
            configs: vec![alter_configs_request::AlterableConfig {
                name: "retention.ms".into(),
                value: Some("6".into()),
            }],
        }],
        validate_only: false,
    };
    let r = h.c.alter_configs(&req);
    h.log("alter configs (legacy)", &r);
    assert_eq!(r.reply.responses[0].error_code, 0);
    h.commit(&r.records);
    let t = h.c.image().configs.topic("t").unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t["retention.ms"], "6");
}

#[test]
fn broker_registration_rules() {
    let (mut h, epochs) = Harness::with_brokers(10, 1);
    let base = BrokerRegistrationRequest {
        broker_id: 1,
        cluster_id: CLUSTER_ID.into(),
        incarnation_id: Uuid([1; 16]),
        features: vec![Feature {
            name: "metadata.version".into(),
            min_supported_version: 1,
            max_supported_version: 21,
        }],
        log_dirs: vec![dir(1)],
        ..Default::default()
    };
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            cluster_id: "other".into(),
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::INCONSISTENT_CLUSTER_ID
    );
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            incarnation_id: Uuid([2; 16]),
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::DUPLICATE_BROKER_REGISTRATION
    );
    // The same incarnation retrying keeps its epoch and its unfenced state.
    let r = h.c.register_broker(&base, h.next_offset, h.now);
    assert_eq!(r.reply.broker_epoch, epochs[0]);
    match &r.records[0].body {
        MetadataRecordBody::RegisterBroker(rec) => assert!(!rec.fenced),
        other => panic!("{other:?}"),
    }
    let old = Feature {
        name: "metadata.version".into(),
        min_supported_version: 1,
        max_supported_version: 20,
    };
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            broker_id: 2,
            features: vec![old],
            log_dirs: vec![dir(2)],
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::UNSUPPORTED_VERSION
    );
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            broker_id: 2,
            features: vec![],
            log_dirs: vec![dir(2)],
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::UNSUPPORTED_VERSION,
        "no range means level 1 only"
    );
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            broker_id: 2,
            log_dirs: vec![],
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::INVALID_REGISTRATION
    );
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            broker_id: 2,
            log_dirs: vec![dir(1)],
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::INVALID_REGISTRATION
    );
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            broker_id: 2,
            is_migrating_zk_broker: true,
            log_dirs: vec![dir(2)],
            ..base.clone()
        },
        h.next_offset,
        h.now,
    );
    assert_eq!(
        ErrorCode(r.reply.error_code),
        ErrorCode::BROKER_ID_NOT_REGISTERED
    );
    // After the session expires another incarnation may take the id, with a new epoch.
    let later = h.now + 10_000;
    let r = h.c.register_broker(
        &BrokerRegistrationRequest {
            incarnation_id: Uuid([2; 16]),
            ..base
        },
        h.next_offset,
        later,
    );
    assert_eq!(
        (r.reply.error_code, r.reply.broker_epoch),
        (0, h.next_offset)
    );
}

#[test]
fn heartbeats_unfence_and_shut_down() {
    let mut h = Harness::new(11);
    let e1 = h.register(1);
    let e2 = h.register(2);
    // Not caught up: stays fenced.
    let req = BrokerHeartbeatRequest {
        broker_id: 1,
        broker_epoch: e1,
        current_metadata_offset: e1 - 1,
        ..Default::default()
    };
    let r = h.c.broker_heartbeat(&req, h.now);
    assert!(r.records.is_empty() && r.reply.is_fenced && !r.reply.is_caught_up);
    let stale = BrokerHeartbeatRequest {
        broker_id: 1,
        broker_epoch: e1 + 100,
        ..Default::default()
    };
    assert_eq!(
        ErrorCode(h.c.broker_heartbeat(&stale, h.now).reply.error_code),
        ErrorCode::STALE_BROKER_EPOCH
    );
    assert!(!h.heartbeat(1, e1, false).is_fenced);
    assert!(!h.heartbeat(2, e2, false).is_fenced);
    h.create(vec![manual("t", &[&[1, 2], &[2, 1]])], false);

    // Broker 1 asks to shut down while leading partition 0: controlled shutdown moves the
    // leadership to 2 and takes 1 out of the ISRs.
    let reply = h.heartbeat(1, e1, true);
    assert!(!reply.is_fenced && !reply.should_shut_down);
    let t = h.c.image().topics.by_name("t").unwrap();
    assert_eq!(
        (t.partitions[&0].leader, t.partitions[&0].leader_epoch),
        (2, 1)
    );
    assert_eq!(t.partitions[&0].isr, vec![2]);
    assert_eq!(t.partitions[&1].isr, vec![2]);
    assert!(
        h.c.image()
            .cluster
            .broker(1)
            .unwrap()
            .in_controlled_shutdown
    );
    // Leading nothing now: shut down, fenced.
    let reply = h.heartbeat(1, e1, true);
    assert!(reply.is_fenced && reply.should_shut_down);
    assert!(h.c.image().cluster.broker(1).unwrap().fenced);

    // Broker 2's session expires: it is fenced; the partitions lose their leader but keep
    // their last ISR member.
    h.now += 20_000;
    let r = h.c.maybe_fence_stale_brokers(h.now);
    h.log("fence stale brokers", &r);
    assert_eq!(r.reply, vec![2]);
    h.commit(&r.records);
    let t = h.c.image().topics.by_name("t").unwrap();
    assert_eq!(
        (t.partitions[&0].leader, t.partitions[&0].isr.clone()),
        (-1, vec![2])
    );

    // Broker 2 comes back: unfencing re-elects it for its leaderless partitions.
    let e2b = h.register(2);
    assert_eq!(e2b, e2, "same incarnation keeps its epoch");
    let reply = h.heartbeat(2, e2, false);
    assert!(!reply.is_fenced);
    let t = h.c.image().topics.by_name("t").unwrap();
    assert!(t.partitions.values().all(|p| p.leader == 2), "{t:?}");
}

#[test]
fn producer_id_blocks() {
    let (mut h, epochs) = Harness::with_brokers(12, 1);
    let req = AllocateProducerIdsRequest {
        broker_id: 1,
        broker_epoch: epochs[0],
    };
    let r = h.c.allocate_producer_ids(&req);
    assert_eq!(
        (r.reply.producer_id_start, r.reply.producer_id_len),
        (0, 1000)
    );
    h.commit(&r.records);
    let r = h.c.allocate_producer_ids(&req);
    assert_eq!(r.reply.producer_id_start, 1000);
    h.commit(&r.records);
    assert_eq!(h.c.image().producer_ids.next_producer_id, 2000);
    let stale = AllocateProducerIdsRequest {
        broker_id: 1,
        broker_epoch: 0,
    };
    assert_eq!(
        ErrorCode(h.c.allocate_producer_ids(&stale).reply.error_code),
        ErrorCode::STALE_BROKER_EPOCH
    );
}

#[test]
fn same_seed_same_decisions() {
    let run = |seed| {
        let (mut h, _) = Harness::with_brokers(seed, 3);
        h.create(vec![topic("a", 4, 2), topic("b", 3, 3)], false);
        h.transcript
    };
    assert_eq!(run(13), run(13));
    assert_ne!(run(13), run(14), "topic ids and placement follow the seed");
}

#[test]
fn scenario_transcript() {
    let (mut h, epochs) = Harness::with_brokers(2024, 3);
    h.create(
        vec![
            with_configs(
                topic("payments", 3, 3),
                &[("min.insync.replicas", Some("2"))],
            ),
            topic("bad name", 1, 1),
        ],
        false,
    );
    let req = IncrementalAlterConfigsRequest {
        resources: vec![alter(
            2,
            "payments",
            &[("retention.ms", 0, Some("3600000"))],
        )],
        validate_only: false,
    };
    let r = h.c.incremental_alter_configs(&req);
    h.log("incremental alter configs", &r);
    h.commit(&r.records);
    let req = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "payments".into(),
            count: 4,
            assignments: None,
        }],
        ..Default::default()
    };
    let r = h.c.create_partitions(&req);
    h.log("create partitions", &r);
    h.commit(&r.records);
    h.heartbeat(3, epochs[2], true);
    let req = AllocateProducerIdsRequest {
        broker_id: 1,
        broker_epoch: epochs[0],
    };
    let r = h.c.allocate_producer_ids(&req);
    h.log("allocate producer ids", &r);
    h.commit(&r.records);
    let id = h.c.image().topics.id_of("payments").unwrap();
    let r = h.c.delete_topics(&DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: None,
            topic_id: id,
        }],
        ..Default::default()
    });
    h.log("delete topics", &r);
    h.commit(&r.records);

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/controller_scenario.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &h.transcript).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        h.transcript, expected,
        "controller decisions changed; review and UPDATE_GOLDEN=1 if intended"
    );
}

#[test]
fn a_standby_replaying_the_log_reaches_the_active_image() {
    let (mut h, epochs) = Harness::with_brokers(15, 3);
    h.create(
        vec![
            topic("a", 3, 2),
            with_configs(topic("b", 2, 3), &[("retention.ms", Some("1"))]),
        ],
        false,
    );
    h.heartbeat(2, epochs[1], true);
    let mut standby = QuorumController::new(99);
    for batch in &h.log {
        match metadata::decode_batch(batch).unwrap() {
            metadata::DecodedBatch::Data(b) => assert!(standby.replay_batch(&b).is_empty()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        standby.image().provenance.last_contained_offset,
        h.next_offset - 1
    );
    let mut active = h.c.image().clone();
    active.provenance = standby.image().provenance;
    assert_eq!(standby.image(), &active);
    // And a snapshot of it rebuilds the same image.
    let rebuilt =
        metadata::MetadataImage::from_records(&active.to_records(), active.provenance).unwrap();
    assert_eq!(rebuilt, active);
}
