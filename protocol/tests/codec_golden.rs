//! Golden bytes: request frames captured from real clients decode with our codec.
//!
//! The fixtures in `tests/golden/*.bin` are whole request frames (4-byte size prefix included)
//! sent by kcat (librdkafka 2.0.2), kafka-python 3.0 and confluent-kafka 2.16 (librdkafka
//! 2.16) to the fake broker of `tests/golden/capture.py`; `tests/golden/README.md` says how to
//! re-capture them. Each frame must decode (header, then body at the header's version) with no
//! byte left over, carry the field values below, and re-encode to exactly the bytes the client
//! sent. Produce batches are framed, CRC-checked and read record by record with
//! `protocol::records`, one fixture per client and codec.

use std::path::PathBuf;

use bytes::{Buf, Bytes, BytesMut};
use protocol::header::{request_header_version, RequestHeader};
use protocol::messages::*;
use protocol::records::{batches, validate_client_batch, Compression};

const TOPIC: &str = "golden";
/// The topic id capture.py's Metadata answer gives `golden` (uuid 6a0ee3c1-8a2b-4d3e-9f10-…).
const TOPIC_ID: [u8; 16] = [
    0x6a, 0x0e, 0xe3, 0xc1, 0x8a, 0x2b, 0x4d, 0x3e, 0x9f, 0x10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
];

/// One real client and what it sends to a broker advertising kraftbridge's versions.
struct Client {
    /// Fixture file prefix.
    name: &'static str,
    client_id: &'static str,
    /// ApiVersions v3+ `ClientSoftwareName` / `ClientSoftwareVersion`.
    software: (&'static str, &'static str),
    api_versions_version: i16,
    metadata_version: i16,
    /// The topics its first Metadata request names (`None` = all topics).
    metadata_topics: Option<&'static [&'static str]>,
    produce_version: i16,
    /// Idempotent producers carry a producer id and sequence in the batch header.
    idempotent: bool,
    fetch_version: i16,
}

const CLIENTS: &[Client] = &[
    Client {
        name: "kcat",
        client_id: "kcat-golden",
        software: ("librdkafka", "2.0.2"),
        api_versions_version: 3,
        metadata_version: 4,
        metadata_topics: Some(&[TOPIC]),
        produce_version: 7,
        idempotent: false,
        fetch_version: 11,
    },
    Client {
        name: "kafka_python",
        client_id: "kafka-python-golden",
        software: ("kafka-python", "3.0.12"),
        api_versions_version: 4,
        metadata_version: 12,
        // kafka-python bootstraps with a Metadata request for no topic at all.
        metadata_topics: Some(&[]),
        produce_version: 9,
        idempotent: true,
        fetch_version: 12,
    },
    Client {
        name: "confluent",
        client_id: "confluent-golden",
        software: ("confluent-kafka-python", "2.16.1-rdkafka-2.16.0"),
        api_versions_version: 3,
        metadata_version: 12,
        metadata_topics: Some(&[TOPIC]),
        produce_version: 10,
        idempotent: false,
        fetch_version: 16,
    },
];

fn fixture(name: &str) -> Bytes {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Bytes::from(raw)
}

/// Splits a frame into its header and body, checking the size prefix.
fn open_frame(name: &str) -> (RequestHeader, Bytes, Bytes) {
    let mut frame = fixture(name);
    assert!(frame.len() >= 4, "{name}: no size prefix");
    let size = frame.get_i32();
    assert_eq!(
        size as usize,
        frame.len(),
        "{name}: size prefix vs file length"
    );
    let whole = frame.clone();
    let header =
        RequestHeader::decode(&mut frame).unwrap_or_else(|e| panic!("{name}: header: {e}"));
    let header_bytes = whole.slice(..whole.len() - frame.len());
    (header, header_bytes, frame)
}

/// Decodes the body as `M` at the header's version, requiring every byte to be consumed and
/// our re-encoding of header and body to equal the client's bytes.
fn decode_body<M: Message>(
    name: &str,
    header: &RequestHeader,
    header_bytes: &Bytes,
    body: Bytes,
) -> M {
    let version = header.api_version;
    let mut rest = body.clone();
    let msg = M::decode(&mut rest, version).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        rest.is_empty(),
        "{name}: {} bytes after the {} body",
        rest.len(),
        M::NAME
    );
    let mut again = BytesMut::new();
    msg.encode(&mut again, version);
    assert_eq!(
        &again[..],
        &body[..],
        "{name}: our re-encoding of {} differs",
        M::NAME
    );
    let api = ApiKey::from_i16(header.api_key).expect("known api");
    let mut head = BytesMut::new();
    header.encode(&mut head, request_header_version(api, version));
    assert_eq!(
        &head[..],
        &header_bytes[..],
        "{name}: our re-encoding of the header differs"
    );
    msg
}

fn check_header(name: &str, header: &RequestHeader, client: &Client, api: ApiKey, version: i16) {
    assert_eq!(header.api_key, api as i16, "{name}: api key");
    assert_eq!(header.api_version, version, "{name}: api version");
    assert_eq!(
        header.client_id.as_deref(),
        Some(client.client_id),
        "{name}: client id"
    );
    // The generic path the broker takes must agree with the typed one.
    assert!(version >= api.schema_versions().0 && version <= api.schema_versions().1);
}

#[test]
fn api_versions_requests() {
    for c in CLIENTS {
        let name = format!("{}_api_versions.bin", c.name);
        let (header, head, body) = open_frame(&name);
        check_header(
            &name,
            &header,
            c,
            ApiKey::ApiVersions,
            c.api_versions_version,
        );
        let req: ApiVersionsRequest = decode_body(&name, &header, &head, body.clone());
        assert_eq!(req.client_software_name, c.software.0, "{name}");
        assert_eq!(req.client_software_version, c.software.1, "{name}");
        let mut b = body;
        let generic = RequestBody::decode(ApiKey::ApiVersions, header.api_version, &mut b).unwrap();
        assert_eq!(
            generic,
            RequestBody::ApiVersions(req),
            "{name}: RequestBody::decode"
        );
    }
}

#[test]
fn metadata_requests() {
    for c in CLIENTS {
        let name = format!("{}_metadata.bin", c.name);
        let (header, head, body) = open_frame(&name);
        check_header(&name, &header, c, ApiKey::Metadata, c.metadata_version);
        let req: MetadataRequest = decode_body(&name, &header, &head, body);
        let names: Option<Vec<&str>> = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| t.name.as_deref().unwrap_or("<null>"))
                .collect()
        });
        assert_eq!(
            names,
            c.metadata_topics.map(|t| t.to_vec()),
            "{name}: topics"
        );
        for t in req.topics.iter().flatten() {
            assert!(t.topic_id.is_zero(), "{name}: clients ask by name");
        }
        assert!(
            req.allow_auto_topic_creation,
            "{name}: auto-create (librdkafka/kafka-python default)"
        );
        assert!(!req.include_topic_authorized_operations, "{name}");
    }
}

#[test]
fn produce_requests_with_every_compression() {
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for c in CLIENTS {
        for (codec_name, codec) in codecs {
            let name = format!("{}_produce_{codec_name}.bin", c.name);
            let (header, head, body) = open_frame(&name);
            check_header(&name, &header, c, ApiKey::Produce, c.produce_version);
            let req: ProduceRequest = decode_body(&name, &header, &head, body.clone());
            assert_eq!(req.transactional_id, None, "{name}");
            assert_eq!(req.acks, -1, "{name}: acks=all is every client's default");
            assert_eq!(req.topic_data.len(), 1, "{name}");
            let topic = &req.topic_data[0];
            assert_eq!(topic.name, TOPIC, "{name}");
            assert_eq!(topic.partition_data.len(), 1, "{name}");
            let partition = &topic.partition_data[0];
            assert_eq!(partition.index, 0, "{name}");
            let records = partition.records.clone().expect("records");
            // Zero copy: the records are a slice of the request body, not a copy.
            let body_range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
            assert!(
                body_range.contains(&(records.as_ptr() as usize)),
                "{name}: records copied"
            );

            let all: Vec<_> = batches(&records).collect();
            assert_eq!(all.len(), 1, "{name}: one batch");
            let batch = all
                .into_iter()
                .next()
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(batch.size_in_bytes(), records.len(), "{name}");
            let h = &batch.header;
            assert_eq!(
                h.compression(),
                Ok(codec),
                "{name}: codec in the batch attributes"
            );
            assert_eq!(
                h.records_count, 3,
                "{name}: record count in the batch header"
            );
            assert_eq!(h.last_offset_delta, 2, "{name}");
            assert_eq!(h.base_offset, 0, "{name}");
            assert_eq!(
                h.has_producer_id(),
                c.idempotent,
                "{name}: producer id {}",
                h.producer_id
            );
            if c.idempotent {
                assert_eq!(
                    h.producer_id, 4242,
                    "{name}: the id capture.py's InitProducerId gave"
                );
                assert_eq!(h.base_sequence, 0, "{name}");
            }
            validate_client_batch(&batch).unwrap_or_else(|e| panic!("{name}: {e}"));
            let recs: Vec<_> = batch
                .records()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(recs.len(), 3, "{name}");
            for (i, r) in recs.iter().enumerate() {
                let n = i + 1;
                assert_eq!(r.offset_delta(), i as i32, "{name}");
                assert_eq!(r.key(), Some(format!("k{n}").as_bytes()), "{name}: key {i}");
                let value = format!("golden-{n} {}", "kraftbridge ".repeat(20));
                assert_eq!(r.value(), Some(value.as_bytes()), "{name}: value {i}");
                assert_eq!(r.header_count(), 0, "{name}");
            }
        }
    }
}

#[test]
fn fetch_requests() {
    for c in CLIENTS {
        let name = format!("{}_fetch.bin", c.name);
        let (header, head, body) = open_frame(&name);
        check_header(&name, &header, c, ApiKey::Fetch, c.fetch_version);
        let version = header.api_version;
        let req: FetchRequest = decode_body(&name, &header, &head, body);
        // A consumer: replica id -1, in the field (v ≤ 14) or the tagged ReplicaState (v15+).
        assert_eq!(req.replica_id, -1, "{name}");
        assert_eq!(req.replica_state.replica_id, -1, "{name}");
        assert!(req.max_wait_ms > 0 && req.min_bytes >= 1, "{name}");
        assert_eq!(req.topics.len(), 1, "{name}");
        let topic = &req.topics[0];
        if version >= 13 {
            assert_eq!(
                topic.topic_id.0, TOPIC_ID,
                "{name}: v13+ fetches by topic id"
            );
            assert_eq!(topic.topic, "", "{name}");
        } else {
            assert_eq!(topic.topic, TOPIC, "{name}");
        }
        assert_eq!(topic.partitions.len(), 1, "{name}");
        let p = &topic.partitions[0];
        assert_eq!(p.partition, 0, "{name}");
        assert_eq!(p.fetch_offset, 0, "{name}");
        assert!(p.partition_max_bytes > 0, "{name}");
        assert!(req.forgotten_topics_data.is_empty(), "{name}");
    }
}

/// The same real frames through the independent codec: kafka-protocol 0.15 decodes each body
/// and re-encodes the client's bytes exactly, as ours does (`decode_body`).
#[test]
fn kafka_protocol_agrees_on_the_golden_frames() {
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn same<T: Decodable + Encodable>(name: &str) {
        let (header, _, body) = open_frame(name);
        let mut rest = body.clone();
        let msg = T::decode(&mut rest, header.api_version)
            .unwrap_or_else(|e| panic!("{name}: kafka-protocol: {e:#}"));
        assert!(
            rest.is_empty(),
            "{name}: kafka-protocol left {} bytes",
            rest.len()
        );
        let mut again = BytesMut::new();
        msg.encode(&mut again, header.api_version)
            .expect("kafka-protocol encode");
        assert_eq!(
            &again[..],
            &body[..],
            "{name}: kafka-protocol's re-encoding differs"
        );
    }
    for c in CLIENTS {
        same::<kp::ApiVersionsRequest>(&format!("{}_api_versions.bin", c.name));
        same::<kp::MetadataRequest>(&format!("{}_metadata.bin", c.name));
        same::<kp::FetchRequest>(&format!("{}_fetch.bin", c.name));
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            same::<kp::ProduceRequest>(&format!("{}_produce_{codec}.bin", c.name));
        }
    }
}

/// Every fixture in the directory is one this test reads (no stray or misnamed capture).
#[test]
fn every_fixture_is_checked() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden"]
        .iter()
        .collect();
    let mut expected: Vec<String> = Vec::new();
    for c in CLIENTS {
        for what in ["api_versions", "metadata", "fetch"] {
            expected.push(format!("{}_{what}.bin", c.name));
        }
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            expected.push(format!("{}_produce_{codec}.bin", c.name));
        }
    }
    expected.sort();
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    found.sort();
    assert_eq!(found, expected);
}
