//! The shell over a real metadata log directory written with the metadata log's own writer.

use protocol::messages::register_broker_record::BrokerEndpoint;
use protocol::messages::{
    ConfigRecord, FeatureLevelRecord, PartitionRecord, RegisterBrokerRecord, TopicRecord,
    UnfenceBrokerRecord,
};
use protocol::Uuid;

use super::*;
use metadata::{encode_batch, MetadataRecordBody};

const TOPIC_ID: Uuid = Uuid([7; 16]);

fn records() -> Vec<MetadataRecord> {
    use MetadataRecordBody as B;
    vec![
        MetadataRecord::new(
            0,
            B::FeatureLevel(FeatureLevelRecord {
                name: "metadata.version".into(),
                feature_level: 21,
            }),
        ),
        MetadataRecord::new(
            1,
            B::RegisterBroker(RegisterBrokerRecord {
                broker_id: 1,
                incarnation_id: Uuid([1; 16]),
                broker_epoch: 1,
                end_points: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "localhost".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
                ..Default::default()
            }),
        ),
        MetadataRecord::new(0, B::UnfenceBroker(UnfenceBrokerRecord { id: 1, epoch: 1 })),
        MetadataRecord::new(
            0,
            B::Topic(TopicRecord {
                name: "foo".into(),
                topic_id: TOPIC_ID,
            }),
        ),
        MetadataRecord::new(
            0,
            B::Partition(PartitionRecord {
                partition_id: 0,
                topic_id: TOPIC_ID,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                ..Default::default()
            }),
        ),
        MetadataRecord::new(
            0,
            B::Config(ConfigRecord {
                resource_type: 2,
                resource_name: "foo".into(),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            }),
        ),
    ]
}

/// A `__cluster_metadata-0` directory holding one segment: the records in two batches, then
/// a torn write.
fn metadata_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let recs = records();
    let mut log = Vec::new();
    log.extend_from_slice(&encode_batch(0, 1, 1_000, &recs[..3]).unwrap().bytes);
    log.extend_from_slice(&encode_batch(3, 1, 2_000, &recs[3..]).unwrap().bytes);
    log.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0]);
    std::fs::write(dir.path().join("00000000000000000000.log"), log).unwrap();
    dir
}

fn run(dir: &Path, command: &str) -> String {
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    shell_command(
        None,
        Some(dir),
        &words,
        &mut std::io::empty(),
        &mut out,
        &mut err,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn ls_and_cat_show_the_replayed_image() {
    let dir = metadata_dir();
    assert_eq!(run(dir.path(), "ls /topics"), "foo\n");
    assert_eq!(
        run(dir.path(), "ls /brokers/1"),
        "inControlledShutdown\nisFenced\nregistration\n"
    );
    assert_eq!(run(dir.path(), "cat /brokers/1/isFenced"), "false\n");
    assert_eq!(
        run(dir.path(), "cat /topics/foo/0/data"),
        "{\n  \"partitionId\" : 0,\n  \"topicId\" : \"BwcHBwcHBwcHBwcHBwcHBw\",\n  \
         \"replicas\" : [ 1 ],\n  \"isr\" : [ 1 ],\n  \"removingReplicas\" : [ ],\n  \
         \"addingReplicas\" : [ ],\n  \"leader\" : 1,\n  \"leaderEpoch\" : 0,\n  \
         \"partitionEpoch\" : 0\n}\n"
    );
    assert_eq!(
        run(dir.path(), "cat /topicIds/BwcHBwcHBwcHBwcHBwcHBw/name"),
        "foo\n"
    );
    assert_eq!(
        run(dir.path(), "cat /configs/topic/foo/cleanup.policy"),
        "compact\n"
    );
    assert_eq!(run(dir.path(), "cat /features/metadata.version"), "21\n");
    assert_eq!(run(dir.path(), "cat /metadataQuorum/offset"), "5\n");
    assert!(run(dir.path(), "cat /brokers/1/registration").contains("\"brokerId\" : 1,"));
    assert_eq!(run(dir.path(), "ls /topics/*/0"), "data\n");
}

#[test]
fn find_tree_and_errors() {
    let dir = metadata_dir();
    assert_eq!(
        run(dir.path(), "find /topics"),
        "/topics\n/topics/foo\n/topics/foo/0\n/topics/foo/0/data\n/topics/foo/id\n/topics/foo/name\n"
    );
    let tree = run(dir.path(), "tree /features");
    assert_eq!(tree, "/features:\n  metadata.version: 21\n");
    assert_eq!(
        run(dir.path(), "ls /nope"),
        "ls: /nope: no such file or directory.\n"
    );
    assert_eq!(
        run(dir.path(), "cat /topics"),
        "cat: /topics: is a directory.\n"
    );
    assert_eq!(
        run(dir.path(), "frob"),
        "Unknown command `frob`. Type help to get help.\n"
    );
}

#[test]
fn the_interactive_shell_keeps_a_working_directory() {
    let dir = metadata_dir();
    let mut input: &[u8] =
        b"cd /topics/foo\npwd\nls\ncd 0\ncat data\ncd ..\ncd ../..\npwd\nexit\nls\n";
    let (mut out, mut err) = (Vec::new(), Vec::new());
    shell_command(None, Some(dir.path()), &[], &mut input, &mut out, &mut err).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(">> >> /topics/foo\n>> 0\nid\nname\n>> >> {\n"),
        "{out}"
    );
    assert!(out.ends_with(">> >> >> /\n>> "), "{out}");
    // The torn tail of the segment was reported, not fatal.
    assert!(String::from_utf8(err).unwrap().contains("partial batch"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let e = load_dir(empty.path(), &mut Vec::new()).unwrap_err();
    assert!(format!("{e:#}").contains("no snapshot"), "{e:#}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    std::fs::write(
        &path,
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 2, 0],
    )
    .unwrap();
    let e = load_file(&path, &mut Vec::new()).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("00000000000000000000.log") && e.contains("position 0"),
        "{e}"
    );
}
