//! Differential tests: our generated codec against an independent one, kafka-protocol 0.15.
//!
//! For every message both codecs know (API requests and responses, plus the few data schemas
//! kafka-protocol also generates) and every version in both schemas:
//! - forward: a seeded [`Sample`](protocol::sample::Sample) encoded by ours decodes with
//!   kafka-protocol, consuming every byte, and kafka-protocol's re-encoding equals our bytes;
//! - reverse: kafka-protocol's `Default` value, and hand-built values for the hot APIs, encoded
//!   by kafka-protocol decode with ours, and our re-encoding equals their bytes.
//!
//! A comparison that fails because of a known kafka-protocol bug is listed, by name and with
//! its reason, in [`KNOWN_DIVERGENCES`]; a divergence not listed there fails the test, and so
//! does a listed one that no longer happens (so the list cannot go stale into a silent skip).
//!
//! Seeded: `SEED=n cargo test -p protocol --release --test codec_differential` replays one
//! seed; a failure prints message, version, seed and the first differing byte.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{
    Decodable as KpDecodable, Encodable as KpEncodable, Message as KpMessage,
};
use protocol::messages::Message;
use protocol::sample::SampleRng;

/// Calls `$m!(Name)` for every message that both `protocol::messages` and
/// `kafka_protocol::messages` define under the same name.
macro_rules! shared_messages {
    ($m:ident) => {
        $m!(AddOffsetsToTxnRequest);
        $m!(AddOffsetsToTxnResponse);
        $m!(AddPartitionsToTxnRequest);
        $m!(AddPartitionsToTxnResponse);
        $m!(AllocateProducerIdsRequest);
        $m!(AllocateProducerIdsResponse);
        $m!(AlterConfigsRequest);
        $m!(AlterConfigsResponse);
        $m!(AlterPartitionRequest);
        $m!(AlterPartitionResponse);
        $m!(ApiVersionsRequest);
        $m!(ApiVersionsResponse);
        $m!(BeginQuorumEpochRequest);
        $m!(BeginQuorumEpochResponse);
        $m!(BrokerHeartbeatRequest);
        $m!(BrokerHeartbeatResponse);
        $m!(BrokerRegistrationRequest);
        $m!(BrokerRegistrationResponse);
        $m!(ControlledShutdownRequest);
        $m!(ControlledShutdownResponse);
        $m!(ControllerRegistrationRequest);
        $m!(ControllerRegistrationResponse);
        $m!(CreateAclsRequest);
        $m!(CreateAclsResponse);
        $m!(CreatePartitionsRequest);
        $m!(CreatePartitionsResponse);
        $m!(CreateTopicsRequest);
        $m!(CreateTopicsResponse);
        $m!(DeleteAclsRequest);
        $m!(DeleteAclsResponse);
        $m!(DeleteGroupsRequest);
        $m!(DeleteGroupsResponse);
        $m!(DeleteRecordsRequest);
        $m!(DeleteRecordsResponse);
        $m!(DeleteTopicsRequest);
        $m!(DeleteTopicsResponse);
        $m!(DescribeAclsRequest);
        $m!(DescribeAclsResponse);
        $m!(DescribeClusterRequest);
        $m!(DescribeClusterResponse);
        $m!(DescribeConfigsRequest);
        $m!(DescribeConfigsResponse);
        $m!(DescribeGroupsRequest);
        $m!(DescribeGroupsResponse);
        $m!(DescribeLogDirsRequest);
        $m!(DescribeLogDirsResponse);
        $m!(DescribeProducersRequest);
        $m!(DescribeProducersResponse);
        $m!(DescribeQuorumRequest);
        $m!(DescribeQuorumResponse);
        $m!(DescribeTransactionsRequest);
        $m!(DescribeTransactionsResponse);
        $m!(EndQuorumEpochRequest);
        $m!(EndQuorumEpochResponse);
        $m!(EndTxnRequest);
        $m!(EndTxnResponse);
        $m!(EnvelopeRequest);
        $m!(EnvelopeResponse);
        $m!(FetchRequest);
        $m!(FetchResponse);
        $m!(FetchSnapshotRequest);
        $m!(FetchSnapshotResponse);
        $m!(FindCoordinatorRequest);
        $m!(FindCoordinatorResponse);
        $m!(HeartbeatRequest);
        $m!(HeartbeatResponse);
        $m!(IncrementalAlterConfigsRequest);
        $m!(IncrementalAlterConfigsResponse);
        $m!(InitProducerIdRequest);
        $m!(InitProducerIdResponse);
        $m!(JoinGroupRequest);
        $m!(JoinGroupResponse);
        $m!(LeaderAndIsrRequest);
        $m!(LeaderAndIsrResponse);
        $m!(LeaveGroupRequest);
        $m!(LeaveGroupResponse);
        $m!(ListGroupsRequest);
        $m!(ListGroupsResponse);
        $m!(ListOffsetsRequest);
        $m!(ListOffsetsResponse);
        $m!(ListTransactionsRequest);
        $m!(ListTransactionsResponse);
        $m!(MetadataRequest);
        $m!(MetadataResponse);
        $m!(OffsetCommitRequest);
        $m!(OffsetCommitResponse);
        $m!(OffsetDeleteRequest);
        $m!(OffsetDeleteResponse);
        $m!(OffsetFetchRequest);
        $m!(OffsetFetchResponse);
        $m!(OffsetForLeaderEpochRequest);
        $m!(OffsetForLeaderEpochResponse);
        $m!(ProduceRequest);
        $m!(ProduceResponse);
        $m!(SaslAuthenticateRequest);
        $m!(SaslAuthenticateResponse);
        $m!(SaslHandshakeRequest);
        $m!(SaslHandshakeResponse);
        $m!(StopReplicaRequest);
        $m!(StopReplicaResponse);
        $m!(SyncGroupRequest);
        $m!(SyncGroupResponse);
        $m!(TxnOffsetCommitRequest);
        $m!(TxnOffsetCommitResponse);
        $m!(UnregisterBrokerRequest);
        $m!(UnregisterBrokerResponse);
        $m!(UpdateFeaturesRequest);
        $m!(UpdateFeaturesResponse);
        $m!(UpdateMetadataRequest);
        $m!(UpdateMetadataResponse);
        $m!(VoteRequest);
        $m!(VoteResponse);
        $m!(WriteTxnMarkersRequest);
        $m!(WriteTxnMarkersResponse);
        // Data schemas kafka-protocol also generates.
        $m!(ConsumerProtocolAssignment);
        $m!(ConsumerProtocolSubscription);
        $m!(KRaftVersionRecord);
        $m!(LeaderChangeMessage);
        $m!(SnapshotFooterRecord);
        $m!(SnapshotHeaderRecord);
        $m!(VotersRecord);
    };
}

/// Our messages with no kafka-protocol counterpart, so no differential comparison: each with
/// the reason. `every_message_is_compared_or_listed` keeps this list and the shared list
/// exactly covering `protocol::for_each_message!`.
const ONLY_OURS: &[(&str, &str)] = {
    const KRAFT: &str = "KRaft __cluster_metadata record: kafka-protocol 0.15 generates none";
    const OFFSETS: &str = "__consumer_offsets key/value schema: kafka-protocol 0.15 has none";
    &[
        ("AbortTransactionRecord", KRAFT),
        ("AccessControlEntryRecord", KRAFT),
        ("BeginTransactionRecord", KRAFT),
        ("BrokerRegistrationChangeRecord", KRAFT),
        ("ClientQuotaRecord", KRAFT),
        ("ConfigRecord", KRAFT),
        ("DelegationTokenRecord", KRAFT),
        ("EndTransactionRecord", KRAFT),
        ("FeatureLevelRecord", KRAFT),
        ("FenceBrokerRecord", KRAFT),
        ("GroupMetadataKey", OFFSETS),
        ("GroupMetadataValue", OFFSETS),
        ("NoOpRecord", KRAFT),
        ("OffsetCommitKey", OFFSETS),
        ("OffsetCommitValue", OFFSETS),
        ("PartitionChangeRecord", KRAFT),
        ("PartitionRecord", KRAFT),
        ("ProducerIdsRecord", KRAFT),
        ("RegisterBrokerRecord", KRAFT),
        ("RegisterControllerRecord", KRAFT),
        ("RemoveAccessControlEntryRecord", KRAFT),
        ("RemoveDelegationTokenRecord", KRAFT),
        ("RemoveTopicRecord", KRAFT),
        ("RemoveUserScramCredentialRecord", KRAFT),
        ("TopicRecord", KRAFT),
        ("UnfenceBrokerRecord", KRAFT),
        ("UnregisterBrokerRecord", KRAFT),
        ("UserScramCredentialRecord", KRAFT),
        ("ZkMigrationStateRecord", KRAFT),
    ]
};

/// A message whose versions differ between the two schemas.
struct VersionRangeDifference {
    message: &'static str,
    ours: (i16, i16),
    theirs: (i16, i16),
    reason: &'static str,
}

/// Where the version ranges of the two schemas differ, the comparison covers the intersection;
/// every difference must be listed here. A kafka-protocol upgrade or a schema change on our
/// side that makes one shows up as a test failure until it is listed.
const VERSION_RANGE_DIFFERENCES: &[VersionRangeDifference] = &[
    VersionRangeDifference {
        message: "VoteRequest",
        ours: (0, 2),
        theirs: (0, 1),
        reason: "Vote v2 (KIP-996 PreVote) is Kafka 4.0's; kafka-protocol 0.15 stops at 3.9's v1",
    },
    VersionRangeDifference {
        message: "VoteResponse",
        ours: (0, 2),
        theirs: (0, 1),
        reason: "Vote v2 (KIP-996 PreVote) is Kafka 4.0's; kafka-protocol 0.15 stops at 3.9's v1",
    },
];

fn seeds() -> Vec<u64> {
    match std::env::var("SEED") {
        Ok(s) => vec![s.parse().expect("SEED must be a number")],
        Err(_) => (0..64).collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Our sample, our bytes → kafka-protocol decode → kafka-protocol encode.
    Forward,
    /// kafka-protocol value → kafka-protocol encode → our decode → our encode.
    Reverse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The decoder that was handed the other codec's bytes returned an error.
    DecodeFailed,
    /// The decoder succeeded but left bytes unread.
    TrailingBytes,
    /// An encoder returned an error (kafka-protocol's `Encodable::encode`).
    EncodeFailed,
    /// Re-encoding gave different bytes.
    BytesDiffer,
    /// A codec panicked.
    Panicked,
}

/// One failed comparison.
#[derive(Debug, Clone)]
struct Divergence {
    message: &'static str,
    version: i16,
    /// The sample seed (forward) or the reverse case's name.
    case: String,
    direction: Direction,
    kind: Kind,
    detail: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{} {:?} {:?} ({}): {}",
            self.message, self.version, self.direction, self.kind, self.case, self.detail
        )
    }
}

/// A named, explained exception: a comparison that is known to fail because of a bug or a
/// documented difference in kafka-protocol, not in our codec.
struct KnownDivergence {
    name: &'static str,
    message: &'static str,
    versions: (i16, i16),
    direction: Direction,
    kind: Kind,
    reason: &'static str,
    /// Narrows the exception to the divergences it explains.
    matches: fn(&Divergence) -> bool,
}

/// kafka-protocol 0.15.1's generated `decode` for a message with a field named `Version` reads
/// it with `let version = types::Int16.decode(buf)?;`, shadowing the `version` argument, and
/// then decodes every nested struct at the *field's* value (`types::Struct { version }`): a
/// nested struct fails with "specified version not supported by this message type" unless the
/// field happens to equal the schema version (0 or 1). Kafka writes the field equal to the
/// schema version, so real records decode, but the decoder is wrong. Our samples put an
/// arbitrary int16 in the field. `version_field_equal_to_schema_version_agrees` runs the same
/// comparison with the field set to the schema version, with no exception.
const SHADOWED_VERSION: &str = "kafka-protocol bug: the message's own `Version` field shadows \
    the decode version argument, so nested structs are decoded at the field's value";

fn is_shadowed_version_error(d: &Divergence) -> bool {
    d.detail
        .starts_with("kafka-protocol: specified version not supported by this message type")
}

const KNOWN_DIVERGENCES: &[KnownDivergence] = &[
    KnownDivergence {
        name: "kp-shadowed-version-field/LeaderChangeMessage",
        message: "LeaderChangeMessage",
        versions: (0, 1),
        direction: Direction::Forward,
        kind: Kind::DecodeFailed,
        reason: SHADOWED_VERSION,
        matches: is_shadowed_version_error,
    },
    KnownDivergence {
        name: "kp-shadowed-version-field/VotersRecord",
        message: "VotersRecord",
        versions: (0, 0),
        direction: Direction::Forward,
        kind: Kind::DecodeFailed,
        reason: SHADOWED_VERSION,
        matches: is_shadowed_version_error,
    },
];

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let lo = at.saturating_sub(8);
    format!(
        "lengths {} vs {}, first difference at byte {at}: [{}] vs [{}]",
        a.len(),
        b.len(),
        hex(&a[lo..(at + 8).min(a.len())]),
        hex(&b[lo..(at + 8).min(b.len())])
    )
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// The versions both schemas have; checked against [`VERSION_RANGE_DIFFERENCES`].
fn common_versions<O: Message, T: KpMessage>(problems: &mut Vec<String>) -> (i16, i16) {
    let ours = O::VERSIONS;
    let theirs = (T::VERSIONS.min, T::VERSIONS.max);
    let listed = VERSION_RANGE_DIFFERENCES
        .iter()
        .find(|d| d.message == O::NAME);
    match listed {
        None if ours != theirs => problems.push(format!(
            "{}: versions ours {ours:?} vs kafka-protocol {theirs:?} differ and are not listed \
             in VERSION_RANGE_DIFFERENCES",
            O::NAME
        )),
        Some(d) if (d.ours, d.theirs) != (ours, theirs) => problems.push(format!(
            "{}: VERSION_RANGE_DIFFERENCES says {:?}/{:?} ({}), actual {ours:?}/{theirs:?}",
            O::NAME,
            d.ours,
            d.theirs,
            d.reason
        )),
        _ => {}
    }
    (ours.0.max(theirs.0), ours.1.min(theirs.1))
}

/// Forward: our bytes through kafka-protocol and back.
fn forward_one<O: Message, T: KpEncodable + KpDecodable + fmt::Debug>(
    version: i16,
    seed: u64,
) -> Result<(), Divergence> {
    forward_one_with::<O, T>(version, seed, |_, _| {})
}

/// [`forward_one`] with `fix` applied to the sample before encoding.
fn forward_one_with<O: Message, T: KpEncodable + KpDecodable + fmt::Debug>(
    version: i16,
    seed: u64,
    fix: impl Fn(&mut O, i16),
) -> Result<(), Divergence> {
    let mut rng = SampleRng::new(seed ^ (u64::from(version as u16) << 32));
    let mut ours = O::sample(&mut rng, O::is_flexible(version), version);
    fix(&mut ours, version);
    let mut buf = BytesMut::new();
    ours.encode(&mut buf, version);
    let our_bytes = buf.freeze();
    let div = |kind, detail: String| Divergence {
        message: O::NAME,
        version,
        case: format!("seed {seed}"),
        direction: Direction::Forward,
        kind,
        detail,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut input = our_bytes.clone();
        let theirs = match T::decode(&mut input, version) {
            Ok(t) => t,
            Err(e) => {
                return Err(div(
                    Kind::DecodeFailed,
                    format!(
                        "kafka-protocol: {e:#}; ours: {ours:?}; bytes [{}]",
                        hex(&our_bytes)
                    ),
                ))
            }
        };
        if !input.is_empty() {
            return Err(div(
                Kind::TrailingBytes,
                format!(
                    "{} bytes left; ours: {ours:?}; theirs: {theirs:?}",
                    input.len()
                ),
            ));
        }
        let mut out = BytesMut::new();
        if let Err(e) = theirs.encode(&mut out, version) {
            return Err(div(
                Kind::EncodeFailed,
                format!("kafka-protocol: {e:#}; theirs: {theirs:?}"),
            ));
        }
        if out[..] != our_bytes[..] {
            return Err(div(
                Kind::BytesDiffer,
                format!(
                    "{}; ours: {ours:?}; theirs: {theirs:?}",
                    first_difference(&our_bytes, &out)
                ),
            ));
        }
        Ok(())
    }));
    result.unwrap_or_else(|p| Err(div(Kind::Panicked, panic_text(p))))
}

/// Reverse: a kafka-protocol value through ours and back.
fn reverse_one<O: Message, T: KpEncodable + fmt::Debug>(
    theirs: &T,
    version: i16,
    case: &str,
) -> Result<(), Divergence> {
    let div = |kind, detail: String| Divergence {
        message: O::NAME,
        version,
        case: case.to_string(),
        direction: Direction::Reverse,
        kind,
        detail,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut buf = BytesMut::new();
        if let Err(e) = theirs.encode(&mut buf, version) {
            return Err(div(
                Kind::EncodeFailed,
                format!("kafka-protocol: {e:#}; theirs: {theirs:?}"),
            ));
        }
        let their_bytes: Bytes = buf.freeze();
        let mut input = their_bytes.clone();
        let ours = match O::decode(&mut input, version) {
            Ok(o) => o,
            Err(e) => {
                return Err(div(
                    Kind::DecodeFailed,
                    format!(
                        "ours: {e}; theirs: {theirs:?}; bytes [{}]",
                        hex(&their_bytes)
                    ),
                ))
            }
        };
        if !input.is_empty() {
            return Err(div(
                Kind::TrailingBytes,
                format!(
                    "{} bytes left; theirs: {theirs:?}; ours: {ours:?}",
                    input.len()
                ),
            ));
        }
        let mut out = BytesMut::new();
        ours.encode(&mut out, version);
        if out[..] != their_bytes[..] {
            return Err(div(
                Kind::BytesDiffer,
                format!(
                    "{}; theirs: {theirs:?}; ours: {ours:?}",
                    first_difference(&their_bytes, &out)
                ),
            ));
        }
        Ok(())
    }));
    result.unwrap_or_else(|p| Err(div(Kind::Panicked, panic_text(p))))
}

/// Counts of what was compared, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    messages: usize,
    versions: usize,
    comparisons: usize,
}

fn compare<O, T>(tally: &mut Tally, divergences: &mut Vec<Divergence>, problems: &mut Vec<String>)
where
    O: Message,
    T: KpMessage + KpEncodable + KpDecodable + Default + fmt::Debug,
{
    let (lo, hi) = common_versions::<O, T>(problems);
    tally.messages += 1;
    for version in lo..=hi {
        tally.versions += 1;
        for seed in seeds() {
            tally.comparisons += 1;
            if let Err(d) = forward_one::<O, T>(version, seed) {
                divergences.push(d);
            }
        }
        tally.comparisons += 1;
        if let Err(d) = reverse_one::<O, T>(&T::default(), version, "Default") {
            divergences.push(d);
        }
    }
}

/// Splits divergences into explained (by exception name) and unexplained.
fn triage(divergences: Vec<Divergence>) -> (Vec<(usize, Divergence)>, Vec<Divergence>) {
    let mut explained = Vec::new();
    let mut unexplained = Vec::new();
    for d in divergences {
        let hit = KNOWN_DIVERGENCES.iter().position(|k| {
            k.message == d.message
                && (k.versions.0..=k.versions.1).contains(&d.version)
                && k.direction == d.direction
                && k.kind == d.kind
                && (k.matches)(&d)
        });
        match hit {
            Some(i) => explained.push((i, d)),
            None => unexplained.push(d),
        }
    }
    (explained, unexplained)
}

fn report(tally: &Tally, divergences: Vec<Divergence>, mut problems: Vec<String>) {
    let (explained, unexplained) = triage(divergences);
    println!(
        "compared {} messages, {} message versions, {} comparisons; {} known divergences hit",
        tally.messages,
        tally.versions,
        tally.comparisons,
        explained.len()
    );
    for (i, k) in KNOWN_DIVERGENCES.iter().enumerate() {
        let hits: Vec<&Divergence> = explained
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|(_, d)| d)
            .collect();
        println!(
            "  exception {:<40} {:>5} hits  {} v{}-{} {:?} {:?}: {}",
            k.name,
            hits.len(),
            k.message,
            k.versions.0,
            k.versions.1,
            k.direction,
            k.kind,
            k.reason
        );
        if let Some(d) = hits.first() {
            println!("      e.g. {d}");
        }
        if hits.is_empty() && std::env::var("SEED").is_err() {
            problems.push(format!(
                "known divergence {} no longer happens: remove it from KNOWN_DIVERGENCES",
                k.name
            ));
        }
    }
    // Group what is left by (message, direction, kind): one line each, with one example.
    type Group<'a> = ((&'a str, Direction, Kind), Vec<&'a Divergence>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for d in &unexplained {
        let key = (d.message, d.direction, d.kind);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(d),
            None => groups.push((key, vec![d])),
        }
    }
    for ((message, direction, kind), ds) in &groups {
        let mut versions: Vec<i16> = ds.iter().map(|d| d.version).collect();
        versions.dedup();
        problems.push(format!(
            "unexplained: {message} {direction:?} {kind:?}, {} cases at versions {versions:?}; \
             e.g. {}",
            ds.len(),
            ds[0]
        ));
    }
    if !problems.is_empty() {
        panic!(
            "{} problems (repro one seed: SEED=n cargo test -p protocol --release --test \
             codec_differential):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

#[test]
fn ours_and_kafka_protocol_agree_on_every_shared_message_and_version() {
    let mut tally = Tally::default();
    let mut divergences = Vec::new();
    let mut problems = Vec::new();
    macro_rules! check {
        ($t:ident) => {
            compare::<protocol::messages::$t, kafka_protocol::messages::$t>(
                &mut tally,
                &mut divergences,
                &mut problems,
            );
        };
    }
    shared_messages!(check);
    report(&tally, divergences, problems);
}

#[test]
fn every_message_is_compared_or_listed() {
    let mut ours = Vec::new();
    macro_rules! ours {
        ($t:ident) => {
            ours.push(<protocol::messages::$t as Message>::NAME);
        };
    }
    protocol::for_each_message!(ours);
    let mut shared = Vec::new();
    macro_rules! shared {
        ($t:ident) => {
            shared.push(stringify!($t));
        };
    }
    shared_messages!(shared);
    for name in &ours {
        let in_shared = shared.contains(name);
        let in_only = ONLY_OURS.iter().any(|(n, _)| n == name);
        assert!(
            in_shared != in_only,
            "{name}: must be in exactly one of shared_messages! and ONLY_OURS"
        );
    }
    for (name, _) in ONLY_OURS {
        assert!(
            ours.contains(name),
            "ONLY_OURS lists {name}, which protocol does not generate"
        );
    }
    // Every API request and response must be compared, none only listed.
    for name in &ours {
        if name.ends_with("Request") || name.ends_with("Response") {
            assert!(
                shared.contains(name),
                "{name} is an API message but is not compared"
            );
        }
    }
}

#[test]
fn version_field_equal_to_schema_version_agrees() {
    // The messages of `SHADOWED_VERSION`, written as Kafka writes them: no exception applies.
    let mut failures = Vec::new();
    for version in 0..=1 {
        for seed in seeds() {
            let r = forward_one_with::<
                protocol::messages::LeaderChangeMessage,
                kafka_protocol::messages::LeaderChangeMessage,
            >(version, seed, |m, v| m.version = v);
            failures.extend(r.err());
        }
    }
    for seed in seeds() {
        let r = forward_one_with::<
            protocol::messages::VotersRecord,
            kafka_protocol::messages::VotersRecord,
        >(0, seed, |m, v| m.version = v);
        failures.extend(r.err());
    }
    let text: Vec<String> = failures.iter().map(|d| d.to_string()).collect();
    assert!(failures.is_empty(), "{}", text.join("\n"));
}

/// Reverse direction with values built through kafka-protocol's builders for the APIs on the
/// hot path, each at versions that carry every field set.
#[test]
fn kafka_protocol_builder_values_decode_with_ours() {
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::StrBytes;

    fn s(x: &'static str) -> StrBytes {
        StrBytes::from_static_str(x)
    }
    let topic_id = uuid::Uuid::from_bytes([7; 16]);
    let batch = Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00not-a-real-batch");
    let mut failures: Vec<Divergence> = Vec::new();
    let mut check = |r: Result<(), Divergence>| failures.extend(r.err());

    for v in 3..=4 {
        let req = kp::ApiVersionsRequest::default()
            .with_client_software_name(s("librdkafka"))
            .with_client_software_version(s("2.0.2"));
        check(reverse_one::<protocol::messages::ApiVersionsRequest, _>(
            &req, v, "builder",
        ));
    }
    for v in 0..=4 {
        let mut resp = kp::ApiVersionsResponse::default().with_api_keys(vec![
            kp::api_versions_response::ApiVersion::default()
                .with_api_key(0)
                .with_min_version(3)
                .with_max_version(11),
            kp::api_versions_response::ApiVersion::default()
                .with_api_key(18)
                .with_max_version(4),
        ]);
        if v >= 1 {
            resp = resp.with_throttle_time_ms(5);
        }
        if v >= 3 {
            resp = resp
                .with_supported_features(vec![
                    kp::api_versions_response::SupportedFeatureKey::default()
                        .with_name(s("metadata.version"))
                        .with_min_version(1)
                        .with_max_version(21),
                ])
                .with_finalized_features_epoch(9)
                .with_zk_migration_ready(true);
        }
        check(reverse_one::<protocol::messages::ApiVersionsResponse, _>(
            &resp, v, "builder",
        ));
    }
    for v in 1..=12 {
        let mut topic = kp::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(s("golden").into()));
        if v >= 10 {
            topic = topic.with_topic_id(topic_id);
        }
        let mut req = kp::MetadataRequest::default().with_topics(Some(vec![topic]));
        if v >= 4 {
            req = req.with_allow_auto_topic_creation(false);
        }
        if v >= 8 {
            req = req.with_include_topic_authorized_operations(true);
        }
        check(reverse_one::<protocol::messages::MetadataRequest, _>(
            &req, v, "builder",
        ));
        let all = kp::MetadataRequest::default().with_topics(None);
        check(reverse_one::<protocol::messages::MetadataRequest, _>(
            &all,
            v,
            "builder: all topics",
        ));
    }
    for v in 0..=12 {
        let mut broker = kp::metadata_response::MetadataResponseBroker::default()
            .with_node_id(1.into())
            .with_host(s("127.0.0.1"))
            .with_port(9092);
        if v >= 1 {
            broker = broker.with_rack(Some(s("r1")));
        }
        let mut partition = kp::metadata_response::MetadataResponsePartition::default()
            .with_leader_id(1.into())
            .with_replica_nodes(vec![1.into(), 2.into()])
            .with_isr_nodes(vec![1.into()]);
        if v >= 7 {
            partition = partition.with_leader_epoch(3);
        }
        if v >= 5 {
            partition = partition.with_offline_replicas(vec![2.into()]);
        }
        let mut topic = kp::metadata_response::MetadataResponseTopic::default()
            .with_name(Some(s("golden").into()))
            .with_partitions(vec![partition]);
        if v >= 10 {
            topic = topic.with_topic_id(topic_id);
        }
        if v >= 8 {
            topic = topic.with_topic_authorized_operations(0x0ff8);
        }
        let mut resp = kp::MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_topics(vec![topic]);
        if v >= 2 {
            resp = resp.with_cluster_id(Some(s("kraftbridge")));
        }
        if v >= 1 {
            resp = resp.with_controller_id(1.into());
        }
        check(reverse_one::<protocol::messages::MetadataResponse, _>(
            &resp, v, "builder",
        ));
    }
    for v in 0..=11 {
        let mut req = kp::ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![kp::produce_request::TopicProduceData::default()
                .with_name(s("golden").into())
                .with_partition_data(vec![
                    kp::produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch.clone())),
                ])]);
        if v >= 3 {
            req = req.with_transactional_id(Some(s("txn").into()));
        }
        check(reverse_one::<protocol::messages::ProduceRequest, _>(
            &req, v, "builder",
        ));
    }
    for v in 4..=17 {
        let mut partition = kp::fetch_request::FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(42)
            .with_partition_max_bytes(1 << 20);
        if v >= 5 {
            partition = partition.with_log_start_offset(0);
        }
        if v >= 9 {
            partition = partition.with_current_leader_epoch(3);
        }
        if v >= 12 {
            partition = partition.with_last_fetched_epoch(2);
        }
        if v >= 17 {
            partition = partition.with_replica_directory_id(topic_id);
        }
        let mut topic = kp::fetch_request::FetchTopic::default().with_partitions(vec![partition]);
        topic = if v >= 13 {
            topic.with_topic_id(topic_id)
        } else {
            topic.with_topic(s("golden").into())
        };
        let mut req = kp::FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_isolation_level(1)
            .with_topics(vec![topic]);
        if v >= 7 {
            req = req.with_session_id(0).with_session_epoch(-1);
        }
        if v >= 11 {
            req = req.with_rack_id(s("r1"));
        }
        if v >= 12 {
            req = req.with_cluster_id(Some(s("cluster")));
        }
        if v >= 15 {
            req = req.with_replica_state(
                kp::fetch_request::ReplicaState::default()
                    .with_replica_id(2.into())
                    .with_replica_epoch(7),
            );
        } else {
            req = req.with_replica_id(2.into());
        }
        check(reverse_one::<protocol::messages::FetchRequest, _>(
            &req, v, "builder",
        ));

        let mut partition = kp::fetch_response::PartitionData::default()
            .with_high_watermark(100)
            .with_last_stable_offset(90)
            .with_aborted_transactions(Some(vec![kp::fetch_response::AbortedTransaction::default(
            )
            .with_producer_id(5.into())
            .with_first_offset(10)]))
            .with_records(Some(batch.clone()));
        if v >= 5 {
            partition = partition.with_log_start_offset(1);
        }
        if v >= 11 {
            partition = partition.with_preferred_read_replica(2.into());
        }
        if v >= 12 {
            partition = partition
                .with_diverging_epoch(
                    kp::fetch_response::EpochEndOffset::default()
                        .with_epoch(1)
                        .with_end_offset(50),
                )
                .with_current_leader(
                    kp::fetch_response::LeaderIdAndEpoch::default()
                        .with_leader_id(1.into())
                        .with_leader_epoch(3),
                );
        }
        let mut topic =
            kp::fetch_response::FetchableTopicResponse::default().with_partitions(vec![partition]);
        topic = if v >= 13 {
            topic.with_topic_id(topic_id)
        } else {
            topic.with_topic(s("golden").into())
        };
        let mut resp = kp::FetchResponse::default()
            .with_throttle_time_ms(1)
            .with_responses(vec![topic]);
        if v >= 7 {
            resp = resp.with_session_id(77);
        }
        if v >= 16 {
            resp = resp.with_node_endpoints(vec![kp::fetch_response::NodeEndpoint::default()
                .with_node_id(1.into())
                .with_host(s("127.0.0.1"))
                .with_port(9092)]);
        }
        check(reverse_one::<protocol::messages::FetchResponse, _>(
            &resp, v, "builder",
        ));
    }
    let text: Vec<String> = failures.iter().map(|d| d.to_string()).collect();
    assert!(failures.is_empty(), "{}", text.join("\n"));
}
