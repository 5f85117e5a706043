//! Golden tests of `dump-log`: a small metadata log built with the real writers
//! (`metadata::encode_batch`, Raft's LEADER_CHANGE batch), dumped and compared line by line.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kraft::raft::control::leader_change_batch;
use kraft::raft::{Epoch, Millis, NodeId, Offset};
use metadata::{encode_batch, MetadataRecord, MetadataRecordBody};
use protocol::messages::register_broker_record::BrokerEndpoint;
use protocol::messages::{
    Message, PartitionRecord, RegisterBrokerRecord, SnapshotFooterRecord, SnapshotHeaderRecord,
    TopicRecord,
};
use protocol::records::{BatchBuilder, Compression, ControlRecordType};
use protocol::Uuid;

use super::*;

const T0: i64 = 1_700_000_000_000;

fn topic_id() -> Uuid {
    Uuid([7; 16])
}

fn data_records() -> (Vec<MetadataRecord>, Vec<MetadataRecord>) {
    let broker = MetadataRecord::new(
        0,
        MetadataRecordBody::RegisterBroker(RegisterBrokerRecord {
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
    );
    let topic = MetadataRecord::new(
        0,
        MetadataRecordBody::Topic(TopicRecord {
            name: "foo".into(),
            topic_id: topic_id(),
        }),
    );
    let partition = MetadataRecord::new(
        0,
        MetadataRecordBody::Partition(PartitionRecord {
            partition_id: 0,
            topic_id: topic_id(),
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            ..Default::default()
        }),
    );
    (vec![broker], vec![topic, partition])
}

/// LEADER_CHANGE at 0, a RegisterBrokerRecord at 1, a TopicRecord and a PartitionRecord at 2–3.
fn metadata_log() -> Vec<u8> {
    let (broker, topic) = data_records();
    let mut log = Vec::new();
    let leader = leader_change_batch(
        Offset(0),
        Epoch(1),
        Millis(T0),
        NodeId(1),
        [NodeId(1)],
        [NodeId(1)],
    )
    .unwrap();
    log.extend_from_slice(&leader.bytes);
    log.extend_from_slice(&encode_batch(1, 1, T0 + 1, &broker).unwrap().bytes);
    log.extend_from_slice(&encode_batch(2, 1, T0 + 2, &topic).unwrap().bytes);
    log
}

fn dump(name: &str, bytes: Vec<u8>, opts: DumpOptions) -> (anyhow::Result<()>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = dump_file(
        Path::new(name),
        Bytes::from(bytes),
        opts,
        &mut out,
        &mut err,
    );
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn decoder() -> DumpOptions {
    DumpOptions::new(true, false, false, false)
}

#[test]
fn a_metadata_segment_dumps_as_kafka_prints_it() {
    let (r, out, err) = dump("00000000000000000000.log", metadata_log(), decoder());
    r.unwrap();
    assert_eq!(err, "");
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        "Log starting offset: 0",
        "baseOffset: 0 lastOffset: 0 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 \
         producerEpoch: -1 partitionLeaderEpoch: 1 isTransactional: false isControl: true \
         deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1700000000000 size: 91 \
         magic: 2 compresscodec: none crc: 290777849 isvalid: true",
        "| offset: 0 CreateTime: 1700000000000 keySize: 4 valueSize: 19 sequence: -1 \
         headerKeys: [] controlType: LEADER_CHANGE(2)",
        "baseOffset: 1 lastOffset: 1 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 \
         producerEpoch: -1 partitionLeaderEpoch: 1 isTransactional: false isControl: false \
         deleteHorizonMs: OptionalLong.empty position: 91 CreateTime: 1700000000001 size: 130 \
         magic: 2 compresscodec: none crc: 487102084 isvalid: true",
        "| offset: 1 CreateTime: 1700000000001 keySize: -1 valueSize: 61 sequence: -1 \
         headerKeys: [] payload: {\"type\":\"REGISTER_BROKER_RECORD\",\"version\":0,\"data\":\
         {\"brokerId\":1,\"incarnationId\":\"AQEBAQEBAQEBAQEBAQEBAQ\",\"brokerEpoch\":1,\
         \"endPoints\":[{\"name\":\"PLAINTEXT\",\"host\":\"localhost\",\"port\":9092,\
         \"securityProtocol\":0}],\"features\":[],\"rack\":null,\"fenced\":true}}",
        "baseOffset: 2 lastOffset: 3 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 \
         producerEpoch: -1 partitionLeaderEpoch: 1 isTransactional: false isControl: false \
         deleteHorizonMs: OptionalLong.empty position: 221 CreateTime: 1700000000002 size: 147 \
         magic: 2 compresscodec: none crc: 2902030181 isvalid: true",
        "| offset: 2 CreateTime: 1700000000002 keySize: -1 valueSize: 24 sequence: -1 \
         headerKeys: [] payload: {\"type\":\"TOPIC_RECORD\",\"version\":0,\"data\":\
         {\"name\":\"foo\",\"topicId\":\"BwcHBwcHBwcHBwcHBwcHBw\"}}",
        "| offset: 3 CreateTime: 1700000000002 keySize: -1 valueSize: 48 sequence: -1 \
         headerKeys: [] payload: {\"type\":\"PARTITION_RECORD\",\"version\":0,\"data\":\
         {\"partitionId\":0,\"topicId\":\"BwcHBwcHBwcHBwcHBwcHBw\",\"replicas\":[1],\"isr\":[1],\
         \"removingReplicas\":[],\"addingReplicas\":[],\"leader\":1,\"leaderEpoch\":0,\
         \"partitionEpoch\":0}}",
    ];
    assert_eq!(lines, expected, "\n{out}");
}

#[test]
fn skip_record_metadata_and_batch_only_modes() {
    let opts = DumpOptions::new(true, false, false, true);
    let (r, out, _) = dump("00000000000000000000.log", metadata_log(), opts);
    r.unwrap();
    assert!(
        out.contains("\n payload: {\"type\":\"TOPIC_RECORD\""),
        "{out}"
    );
    assert!(!out.contains("| offset"), "{out}");

    let opts = DumpOptions::new(false, false, false, false);
    let (r, out, _) = dump("00000000000000000000.log", metadata_log(), opts);
    r.unwrap();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.lines().skip(1).all(|l| l.starts_with("baseOffset: ")));
}

#[test]
fn a_partial_tail_is_counted_and_corruption_names_file_and_position() {
    let mut log = metadata_log();
    log.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
    let (r, out, _) = dump("00000000000000000000.log", log, decoder());
    r.unwrap();
    assert!(
        out.ends_with("Found 11 invalid bytes at the end of 00000000000000000000.log\n"),
        "{out}"
    );

    // A batchLength below the header size is corruption: an error, after the good batches.
    let mut log = metadata_log();
    let good = log.len();
    log.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0, 2, 0, 0]);
    let (r, out, _) = dump("/d/00000000000000000000.log", log, decoder());
    let e = format!("{:#}", r.unwrap_err());
    assert!(
        e.contains("/d/00000000000000000000.log") && e.contains(&format!("position {good}")),
        "{e}"
    );
    assert!(out.contains("TOPIC_RECORD"), "{out}");

    // A bad CRC is reported per batch (isvalid: false), as Kafka does, and the dump goes on.
    let mut log = metadata_log();
    let crc_of_last_batch = 221 + protocol::records::offsets::CRC;
    log[crc_of_last_batch] ^= 0x55;
    let (r, out, _) = dump("00000000000000000000.log", log, decoder());
    r.unwrap();
    assert!(out.contains("isvalid: false"), "{out}");

    // A value that is not a metadata record is reported in its payload, and the dump goes on.
    let mut b = BatchBuilder::new(Compression::None).base_offset(9);
    b.append(T0, None, Some(&[0x01, 0x63, 0x00]), &[]).unwrap();
    let (r, out, _) = dump(
        "00000000000000000009.log",
        b.build().unwrap().bytes.to_vec(),
        decoder(),
    );
    r.unwrap();
    assert!(
        out.contains("payload: Error at 9, skipping. unknown metadata record type 99"),
        "{out}"
    );
}

fn control_batch(offset: i64, kind: ControlRecordType, value: &[u8]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None)
        .base_offset(offset)
        .partition_leader_epoch(1)
        .control();
    b.append(T0, Some(&kind.key()), Some(value), &[]).unwrap();
    b.build().unwrap().bytes.to_vec()
}

fn encoded<M: Message>(m: &M, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, version);
    buf.to_vec()
}

#[test]
fn a_snapshot_dumps_its_header_records_and_footer() {
    let (broker, _) = data_records();
    let mut file = control_batch(
        0,
        ControlRecordType::SnapshotHeader,
        &encoded(
            &SnapshotHeaderRecord {
                version: 0,
                last_contained_log_timestamp: T0,
            },
            0,
        ),
    );
    file.extend_from_slice(&encode_batch(1, 1, T0, &broker).unwrap().bytes);
    file.extend_from_slice(&control_batch(
        2,
        ControlRecordType::SnapshotFooter,
        &encoded(&SnapshotFooterRecord { version: 0 }, 0),
    ));
    let (r, out, _) = dump(
        "00000000000000000003-0000000001.checkpoint",
        file,
        decoder(),
    );
    r.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Snapshot end offset: 3, epoch: 1");
    assert!(
        lines[2].ends_with(
            "headerKeys: [] SnapshotHeader {\"version\":0,\"lastContainedLogTimestamp\":1700000000000}"
        ),
        "{out}"
    );
    assert!(lines[4].contains("REGISTER_BROKER_RECORD"), "{out}");
    assert!(
        lines[6].ends_with("headerKeys: [] SnapshotFooter {\"version\":0}"),
        "{out}"
    );
}

#[test]
fn unknown_files_are_skipped_and_missing_files_are_errors() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    dump_command(&["x.index"], decoder(), &mut out, &mut err).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "Dumping x.index\n");
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "Ignoring unknown file x.index\n"
    );
    let e = dump_command(
        &["/nonexistent/00000000000000000000.log"],
        decoder(),
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("cannot read /nonexistent"),
        "{e:#}"
    );
}
