//! `kraftbridge perf produce`: Kafka's `kafka-producer-perf-test`, as a real producer.
//!
//! Flow: parse the producer properties (Kafka's names and defaults), bootstrap (ApiVersions,
//! Metadata), create the topic if `--partitions` asks for it, then run one *lane* per
//! connection to the partitions' leaders, and finally print Kafka's summary line (or JSON) and
//! delete the topic we created.
//!
//! A lane is a small model of Kafka's `RecordAccumulator` + `Sender` on one connection:
//! - records are appended to an open batch ([`BatchBuilder`]) for the current partition; the
//!   partitioner is Kafka's "uniform sticky" one for null keys: stay on a partition until its
//!   batch is full, then move on;
//! - a batch is *ready* when full (`batch.size`) or `linger.ms` old; whenever fewer than
//!   `max.in.flight.requests.per.connection` requests are outstanding, ready batches (one per
//!   partition, up to `max.request.size`) go out in one Produce request;
//! - appends stop while `buffer.memory` bytes are buffered or unacknowledged (Kafka's
//!   `send()` blocks there), and `--throughput` paces them;
//! - the connection's reader task (`io::client`) stamps each response with its arrival time,
//!   and every record's latency is that time minus the moment the record was appended:
//!   Kafka's send-to-callback latency.
//!
//! The hot loop allocates nothing per record: one payload (or a few from `--payload-file`) is
//! reused and append times go into pooled vectors. A batch's bytes are one allocation per
//! batch, and each request's frame one more.
//!
//! Not modelled: retries (a failed batch is counted and reported, not resent), per-topic
//! compression-ratio estimates (`batch.size` applies to the uncompressed batch), idempotence
//! (this client sends no producer ids or sequence numbers, although the broker serves
//! InitProducerId for idempotent producers) and transactions (the broker refuses transactional
//! ids with TRANSACTIONAL_ID_AUTHORIZATION_FAILED until transactions land); asking for either of
//! the last two fails with a message before anything is sent.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use protocol::records::{BatchBuilder, Compression, BATCH_HEADER_LEN};
use protocol::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::admin::{self, Created};
use super::ceiling::{self, Ceiling, CeilingLimits};
use super::describe_error;
use super::report::{self, Histogram, Json, LatencySummary, Progress, MB};
use crate::io::client::{ClientError, KafkaClient, Pending, Received};

/// Most connections one run opens.
const CONNECTIONS_MAX: usize = 64;
/// Most partitions `--partitions` creates.
const PARTITIONS_MAX: i32 = 10_000;
/// Largest `max.in.flight.requests.per.connection`.
const MAX_IN_FLIGHT_MAX: usize = 100;
/// Largest `batch.size`.
const BATCH_SIZE_MAX: usize = 16 * 1024 * 1024;
/// Largest `max.request.size`.
const MAX_REQUEST_SIZE_MAX: usize = 128 * 1024 * 1024;
/// Largest `buffer.memory`.
const BUFFER_MEMORY_MAX: usize = 4 * 1024 * 1024 * 1024;
/// Longest `linger.ms`.
const LINGER_MS_MAX: u64 = 60_000;
/// Longest `request.timeout.ms`.
const REQUEST_TIMEOUT_MS_MAX: u64 = 300_000;
/// Longest `retry.backoff.ms`.
const RETRY_BACKOFF_MS_MAX: u64 = 10_000;
/// Longest `delivery.timeout.ms`.
const DELIVERY_TIMEOUT_MS_MAX: u64 = 600_000;
/// Largest `--payload-file`.
const PAYLOAD_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Records appended between two looks at the socket and the clock-driven work.
const APPEND_CHUNK: usize = 64;
/// Buffers of acknowledged batches kept for reuse: acknowledgements free them about as fast as
/// new batches need them, so a few suffice.
const BATCH_POOL_MAX: usize = 16;
/// Upper bound on a record's encoding beyond its value with a null key and no headers:
/// length (5) + attributes (1) + timestamp delta (10) + offset delta (5) + key length (1) +
/// value length (5) + header count (1).
const RECORD_OVERHEAD_MAX: usize = 28;

/// Arguments of `kraftbridge perf produce`: kafka-producer-perf-test's flags, plus ours.
#[derive(Debug, clap::Args)]
pub(crate) struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long)]
    topic: String,
    /// Number of records to produce (the run's cap).
    #[arg(long = "num-records")]
    num_records: u64,
    /// Bytes of each record's value (random A-Z, the key is null), as Kafka's tool.
    #[arg(long = "record-size", required_unless_present = "payload_file")]
    record_size: Option<usize>,
    /// File of payloads split by --payload-delimiter; each record picks one at random.
    #[arg(long = "payload-file", conflicts_with = "record_size")]
    payload_file: Option<PathBuf>,
    /// Delimiter of --payload-file ("\n" means a newline).
    #[arg(long = "payload-delimiter", default_value = "\\n")]
    payload_delimiter: String,
    /// Records per second to aim at; -1 means as fast as possible.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    throughput: f64,
    /// Producer properties (KEY=VALUE ...): bootstrap.servers, acks, linger.ms, batch.size,
    /// compression.type, max.in.flight.requests.per.connection, client.id, buffer.memory,
    /// request.timeout.ms, max.request.size.
    #[arg(long = "producer-props", num_args = 1.., value_name = "KEY=VALUE")]
    producer_props: Vec<String>,
    /// Producer properties file; --producer-props override it.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Accepted for compatibility; producer metrics are not printed.
    #[arg(long = "print-metrics")]
    print_metrics: bool,
    /// Not supported yet: until transactions land, the broker refuses transactional ids with
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    #[arg(long = "transactional-id")]
    transactional_id: Option<String>,
    /// Not supported yet: see --transactional-id.
    #[arg(long = "transaction-duration-ms")]
    transaction_duration_ms: Option<u64>,
    /// Shortcut for --producer-props bootstrap.servers=HOST:PORT.
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Create the topic with this many partitions if it does not exist (and delete it at the
    /// end unless --keep-topic).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor for a topic we create (-1: the broker's default).
    #[arg(long = "replication-factor", default_value_t = -1, allow_negative_numbers = true)]
    replication_factor: i16,
    /// Connections to each partition leader; records and partitions are split among them.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Keep a topic this run created instead of deleting it at the end.
    #[arg(long = "keep-topic")]
    keep_topic: bool,
    /// Print one JSON object on stdout instead of Kafka's lines.
    #[arg(long)]
    json: bool,
    /// Measure the loopback TCP ceiling first and quote the result as a fraction of it.
    #[arg(long)]
    ceiling: bool,
}

impl ProduceArgs {
    pub(super) fn connections(&self) -> usize {
        self.connections.clamp(1, CONNECTIONS_MAX)
    }
}

/// `acks`: how many replicas must have the batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acks {
    /// acks=0: no answer at all; a record counts as acknowledged once written to the socket.
    None,
    /// acks=1: the leader has appended it.
    Leader,
    /// acks=all (-1): every in-sync replica has it.
    All,
}

impl Acks {
    fn parse(value: &str) -> Result<Acks> {
        match value.trim() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            _ => bail!("acks={value}: expected all, -1, 0 or 1"),
        }
    }

    fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// The producer configuration a run uses, with Kafka 4.0's defaults.
#[derive(Debug, Clone)]
struct ProducerSettings {
    bootstrap: Vec<String>,
    acks: Acks,
    linger: Duration,
    batch_size: usize,
    compression: Compression,
    max_in_flight: usize,
    client_id: String,
    buffer_memory: usize,
    request_timeout: Duration,
    max_request_size: usize,
    retries: u32,
    retry_backoff: Duration,
    delivery_timeout: Duration,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            bootstrap: Vec::new(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            compression: Compression::None,
            max_in_flight: 5,
            // What Kafka's ProducerPerformance sets.
            client_id: "perf-producer-client".to_string(),
            buffer_memory: 32 * 1024 * 1024,
            request_timeout: Duration::from_millis(30_000),
            max_request_size: 1_048_576,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_millis(120_000),
        }
    }
}

fn parse_number<T>(key: &str, value: &str, lo: T, hi: T) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match value.trim().parse::<T>() {
        Ok(n) if n >= lo && n <= hi => Ok(n),
        _ => bail!("{key}={value}: expected a whole number from {lo} to {hi}"),
    }
}

/// Why `enable.idempotence=true` is refused: this client does not model it (the broker serves
/// idempotent producers).
const NOT_SUPPORTED_IDEMPOTENCE: &str = "is not supported yet: this perf producer does not \
     send producer ids and sequence numbers (kraftbridge itself serves idempotent producers: \
     InitProducerId hands out producer ids). Run with enable.idempotence=false (this tool's \
     default)";
/// Why transactions are refused: the broker does not serve them yet.
const NOT_SUPPORTED_TRANSACTIONS: &str = "is not supported yet: kraftbridge does not serve \
     transactions yet, and answers InitProducerId for a transactional id with \
     TRANSACTIONAL_ID_AUTHORIZATION_FAILED";

impl ProducerSettings {
    /// Applies `props` in order over the defaults. Returns notes about properties that are
    /// accepted but have no effect here.
    fn from_props(props: &[(String, String)]) -> Result<(ProducerSettings, Vec<String>)> {
        let mut s = ProducerSettings::default();
        let mut notes = Vec::new();
        for (key, value) in props {
            let v = value.as_str();
            match key.as_str() {
                "bootstrap.servers" => s.bootstrap = super::parse_bootstrap(v)?,
                "acks" => s.acks = Acks::parse(v)?,
                "linger.ms" => {
                    s.linger = Duration::from_millis(parse_number(key, v, 0, LINGER_MS_MAX)?)
                }
                // batch.size=0 disables batching in Kafka: one record per batch.
                "batch.size" => s.batch_size = parse_number(key, v, 0, BATCH_SIZE_MAX)?,
                "compression.type" => {
                    s.compression = Compression::ALL
                        .into_iter()
                        .find(|c| c.name() == v.trim())
                        .ok_or_else(|| {
                            anyhow!(
                                "compression.type={v}: expected none, gzip, snappy, lz4 or zstd"
                            )
                        })?
                }
                "max.in.flight.requests.per.connection" => {
                    s.max_in_flight = parse_number(key, v, 1, MAX_IN_FLIGHT_MAX)?
                }
                "client.id" => s.client_id = v.to_string(),
                "buffer.memory" => s.buffer_memory = parse_number(key, v, 1, BUFFER_MEMORY_MAX)?,
                "request.timeout.ms" => {
                    s.request_timeout =
                        Duration::from_millis(parse_number(key, v, 1, REQUEST_TIMEOUT_MS_MAX)?)
                }
                "max.request.size" => {
                    s.max_request_size = parse_number(key, v, 1, MAX_REQUEST_SIZE_MAX)?
                }
                "enable.idempotence" => match v.trim() {
                    "false" => {}
                    "true" => bail!("enable.idempotence=true {NOT_SUPPORTED_IDEMPOTENCE}"),
                    _ => bail!("enable.idempotence={v}: expected true or false"),
                },
                "transactional.id" => bail!("transactional.id {NOT_SUPPORTED_TRANSACTIONS}"),
                "retries" => s.retries = parse_number(key, v, 0, i32::MAX as u32)?,
                "retry.backoff.ms" => {
                    s.retry_backoff =
                        Duration::from_millis(parse_number(key, v, 0, RETRY_BACKOFF_MS_MAX)?)
                }
                "delivery.timeout.ms" => {
                    s.delivery_timeout =
                        Duration::from_millis(parse_number(key, v, 1, DELIVERY_TIMEOUT_MS_MAX)?)
                }
                "key.serializer"
                | "value.serializer"
                | "partitioner.class"
                | "send.buffer.bytes"
                | "receive.buffer.bytes"
                | "metadata.max.age.ms"
                | "max.block.ms"
                | "compression.gzip.level"
                | "compression.lz4.level"
                | "compression.zstd.level"
                | "security.protocol" => {
                    notes.push(format!("{key}={v} has no effect in this tool; ignored"))
                }
                _ => notes.push(format!(
                    "the configuration '{key}' was supplied but isn't a known config; ignored"
                )),
            }
        }
        Ok((s, notes))
    }

    fn describe(&self) -> String {
        format!(
            "acks={} linger.ms={} batch.size={} compression.type={} \
             max.in.flight.requests.per.connection={} buffer.memory={} enable.idempotence=false",
            self.acks.name(),
            self.linger.as_millis(),
            self.batch_size,
            self.compression,
            self.max_in_flight,
            self.buffer_memory,
        )
    }
}

/// Record values: Kafka's tool uses one random A-Z payload of `--record-size` bytes for every
/// record, or picks one of the `--payload-file` entries per record.
#[derive(Debug)]
enum Payloads {
    Fixed(Vec<u8>),
    Choice(Vec<Vec<u8>>),
}

impl Payloads {
    fn random(size: usize) -> Payloads {
        let mut rng = rand::thread_rng();
        Payloads::Fixed((0..size).map(|_| rng.gen_range(b'A'..=b'Z')).collect())
    }

    fn from_file(path: &std::path::Path, delimiter: &str) -> Result<Payloads> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.len() > PAYLOAD_FILE_BYTES_MAX {
            bail!(
                "--payload-file {}: {} bytes, more than the {PAYLOAD_FILE_BYTES_MAX} accepted",
                path.display(),
                meta.len()
            );
        }
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let delimiter = delimiter.replace("\\n", "\n").replace("\\t", "\t");
        if delimiter.is_empty() {
            bail!("--payload-delimiter must not be empty");
        }
        let entries: Vec<Vec<u8>> = split_bytes(&text, delimiter.as_bytes())
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        if entries.is_empty() {
            bail!("--payload-file {} holds no payloads", path.display());
        }
        Ok(Payloads::Choice(entries))
    }

    fn largest(&self) -> usize {
        match self {
            Payloads::Fixed(p) => p.len(),
            Payloads::Choice(ps) => ps.iter().map(Vec::len).max().unwrap_or(0),
        }
    }

    fn pick(&self, rng: &mut StdRng) -> &[u8] {
        match self {
            Payloads::Fixed(p) => p,
            Payloads::Choice(ps) => &ps[rng.gen_range(0..ps.len())],
        }
    }
}

fn split_bytes<'a>(text: &'a [u8], delimiter: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(delimiter.len()).position(|w| w == delimiter) {
            Some(i) => {
                rest = Some(&r[i + delimiter.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// One lane's share of the run: a connection to `addr` producing `records` records to
/// `partitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LanePlan {
    addr: String,
    partitions: Vec<i32>,
    records: u64,
}

/// Spreads partitions and records over `connections` lanes per leader. Each lane gets the
/// partitions `i, i + n, i + 2n, …` of its leader (or one shared partition when a leader has
/// fewer partitions than lanes); records are split as evenly as possible over all lanes.
fn plan_lanes(
    by_leader: &std::collections::BTreeMap<String, Vec<i32>>,
    connections: usize,
    num_records: u64,
) -> Vec<LanePlan> {
    let mut lanes = Vec::new();
    for (addr, parts) in by_leader {
        for i in 0..connections {
            let mine: Vec<i32> = if parts.len() >= connections {
                parts.iter().skip(i).step_by(connections).copied().collect()
            } else {
                vec![parts[i % parts.len()]]
            };
            lanes.push(LanePlan {
                addr: addr.clone(),
                partitions: mine,
                records: 0,
            });
        }
    }
    let n = lanes.len() as u64;
    for (i, lane) in lanes.iter_mut().enumerate() {
        lane.records = num_records / n + u64::from((i as u64) < num_records % n);
    }
    lanes
}

/// Shared by every lane of a run.
#[derive(Debug)]
struct RunContext {
    settings: ProducerSettings,
    topic: String,
    payloads: Payloads,
    /// Records per second per lane, or `None` for unlimited.
    lane_rate: Option<f64>,
    start: Instant,
    /// Wall-clock ms at `start`, for record timestamps (CreateTime).
    wall_start_ms: i64,
    progress: Arc<Progress>,
}

impl RunContext {
    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_micros() as u64
    }
}

/// What one lane measured.
#[derive(Debug, Default)]
struct LaneStats {
    appended: u64,
    acked: u64,
    failed: u64,
    acked_payload_bytes: u64,
    wire_bytes: u64,
    requests: u64,
    batches: u64,
    retries: u64,
    latency: Histogram,
    /// The first record-level error (a partition's error code).
    first_error: Option<String>,
    /// What ended the lane early (connection lost, timeout, bad response).
    fatal: Option<String>,
}

impl LaneStats {
    fn merge(&mut self, other: LaneStats) {
        self.appended += other.appended;
        self.acked += other.acked;
        self.failed += other.failed;
        self.acked_payload_bytes += other.acked_payload_bytes;
        self.wire_bytes += other.wire_bytes;
        self.requests += other.requests;
        self.batches += other.batches;
        self.retries += other.retries;
        self.latency.merge(&other.latency);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        if self.fatal.is_none() {
            self.fatal = other.fatal;
        }
    }
}

/// A batch being filled.
#[derive(Debug)]
struct OpenBatch {
    partition: i32,
    builder: BatchBuilder,
    created: Instant,
    /// Append time of each record (µs since the run's start).
    append_us: Vec<u64>,
    payload_bytes: u64,
    /// Bytes counted against `buffer.memory`.
    reserved: usize,
}

/// A built batch: waiting for a request, on the wire, or waiting to be retried. Its bytes are
/// kept (a reference count, not a copy) until it is acknowledged, for a retry.
#[derive(Debug)]
struct ReadyBatch {
    partition: i32,
    bytes: Bytes,
    append_us: Vec<u64>,
    payload_bytes: u64,
    reserved: usize,
    /// When the batch was opened: `delivery.timeout.ms` counts from here, as in Kafka.
    created: Instant,
    /// Sends so far.
    attempts: u32,
    /// Not before this instant (`retry.backoff.ms` after a retriable error).
    retry_at: Option<Instant>,
}

#[derive(Debug)]
struct InFlight {
    response: Pending<ProduceResponse>,
    batches: Vec<ReadyBatch>,
}

/// One connection's producer.
#[derive(Debug)]
struct Lane {
    ctx: Arc<RunContext>,
    client: KafkaClient,
    stop: watch::Receiver<bool>,
    version: i16,
    partitions: Vec<i32>,
    sticky: usize,
    to_append: u64,
    rng: StdRng,
    open: Option<OpenBatch>,
    ready: VecDeque<ReadyBatch>,
    /// Batches that failed with a retriable error, in failure order.
    retry: VecDeque<ReadyBatch>,
    /// Bytes appended and not yet acknowledged (Kafka's `buffer.memory` accounting).
    buffered: usize,
    in_flight: VecDeque<InFlight>,
    times_pool: Vec<Vec<u64>>,
    /// Buffers of acknowledged batches, reused for new ones (no allocation and no fresh
    /// pages per batch; at most [`BATCH_POOL_MAX`]).
    batch_pool: Vec<Vec<u8>>,
    /// Reused between requests: one topic whose partition list is refilled each time.
    request: ProduceRequest,
    stats: LaneStats,
}

/// Why a lane stopped early.
type Fatal = String;

impl Lane {
    async fn connect(
        ctx: Arc<RunContext>,
        plan: LanePlan,
        stop: watch::Receiver<bool>,
    ) -> Result<Lane> {
        let s = &ctx.settings;
        let client = super::connect(&plan.addr, &s.client_id, s.request_timeout).await?;
        // Produce v3 is the first with RecordBatch v2; zstd needs v7 (KIP-110).
        let lowest = if s.compression == Compression::Zstd {
            7
        } else {
            3
        };
        let version = client.version(ApiKey::Produce, lowest..=11)?;
        let request = ProduceRequest {
            transactional_id: None,
            acks: s.acks.wire(),
            timeout_ms: i32::try_from(s.request_timeout.as_millis()).unwrap_or(i32::MAX),
            topic_data: vec![TopicProduceData {
                name: ctx.topic.clone(),
                partition_data: Vec::with_capacity(plan.partitions.len()),
            }],
        };
        Ok(Lane {
            client,
            stop,
            version,
            partitions: plan.partitions,
            sticky: 0,
            to_append: plan.records,
            rng: StdRng::from_entropy(),
            open: None,
            ready: VecDeque::new(),
            retry: VecDeque::new(),
            buffered: 0,
            in_flight: VecDeque::new(),
            times_pool: Vec::new(),
            batch_pool: Vec::new(),
            request,
            stats: LaneStats::default(),
            ctx,
        })
    }

    /// Runs until every record is acknowledged (or failed), the connection breaks, or Ctrl-C.
    async fn run(mut self) -> LaneStats {
        if let Err(fatal) = self.drive().await {
            self.stats.fatal = Some(fatal);
        }
        self.stats
    }

    async fn drive(&mut self) -> Result<(), Fatal> {
        let lane_start = Instant::now();
        let max_in_flight = self.ctx.settings.max_in_flight;
        loop {
            // Answers that have already arrived (Kafka answers a connection's requests in
            // order, so only the oldest can be next). A request past `request.timeout.ms`
            // fails here too.
            while let Some(answer) = self.in_flight.front_mut().and_then(|f| f.response.ready()) {
                if let Some(request) = self.in_flight.pop_front() {
                    self.on_response(request, answer)?;
                }
            }
            if *self.stop.borrow() {
                return Ok(());
            }
            let now = Instant::now();
            // Send whenever a request slot is free and something is ready.
            if self.in_flight.len() < max_in_flight {
                self.close_open_if_due(now)?;
                let retry_due = self.retry.front().is_some_and(|b| b.retry_at <= Some(now));
                if retry_due || !self.ready.is_empty() {
                    self.send_request(now).await?;
                    continue;
                }
            }
            if self.to_append == 0
                && self.open.is_none()
                && self.ready.is_empty()
                && self.retry.is_empty()
                && self.in_flight.is_empty()
            {
                return Ok(());
            }
            // Append, unless buffer.memory is used up or the pace says wait.
            let mut pace_wait = None;
            if self.to_append > 0 && self.buffered < self.ctx.settings.buffer_memory {
                match self.next_due(lane_start) {
                    Some(due) if due > now => pace_wait = Some(due),
                    _ => {
                        self.append_chunk(lane_start)?;
                        continue;
                    }
                }
            }
            // Nothing to do until a response (or its timeout), the linger deadline or the pace.
            let mut wake = now + Duration::from_millis(100);
            if self.in_flight.len() < max_in_flight {
                if let Some(open) = &self.open {
                    wake = wake.min(open.created + self.ctx.settings.linger);
                }
            }
            if let Some(due) = pace_wait {
                wake = wake.min(due);
            }
            if let Some(at) = self.retry.front().and_then(|b| b.retry_at) {
                wake = wake.min(at);
            }
            let oldest = async {
                match self.in_flight.front_mut() {
                    Some(front) => (&mut front.response).await,
                    None => std::future::pending().await,
                }
            };
            let stop = &mut self.stop;
            let answer = tokio::select! {
                answer = oldest => Some(answer),
                _ = tokio::time::sleep_until(wake.into()) => None,
                _ = stop.changed() => None,
            };
            if let Some(answer) = answer {
                if let Some(request) = self.in_flight.pop_front() {
                    self.on_response(request, answer)?;
                }
            }
        }
    }

    /// When the next record may be appended under `--throughput`, `None` when unpaced.
    fn next_due(&self, lane_start: Instant) -> Option<Instant> {
        let rate = self.ctx.lane_rate?;
        let index = self.stats.appended as f64;
        Some(lane_start + Duration::from_secs_f64(index / rate))
    }

    /// Appends up to [`APPEND_CHUNK`] records (fewer when paced or when a batch fills).
    fn append_chunk(&mut self, lane_start: Instant) -> Result<(), Fatal> {
        // One reference-count increment per chunk, not per record: the payload is borrowed
        // from the context while the lane's batches change.
        let ctx = Arc::clone(&self.ctx);
        for _ in 0..APPEND_CHUNK {
            if self.to_append == 0 || self.buffered >= ctx.settings.buffer_memory {
                return Ok(());
            }
            let now = Instant::now();
            if self.next_due(lane_start).is_some_and(|due| due > now) {
                return Ok(());
            }
            if self.append_one(&ctx, now)? {
                return Ok(()); // a batch filled: let the loop send it
            }
        }
        Ok(())
    }

    /// Appends one record; true when that filled the batch.
    fn append_one(&mut self, ctx: &RunContext, now: Instant) -> Result<bool, Fatal> {
        let value = ctx.payloads.pick(&mut self.rng);
        let need = value.len() + RECORD_OVERHEAD_MAX;
        let batch_size = ctx.settings.batch_size;
        if let Some(open) = &self.open {
            if !open.builder.is_empty() && open.builder.uncompressed_size() + need > batch_size {
                self.close_open()?;
            }
        }
        let open = self.open.get_or_insert_with(|| {
            let mut append_us = self.times_pool.pop().unwrap_or_default();
            append_us.clear();
            self.buffered += BATCH_HEADER_LEN;
            OpenBatch {
                partition: self.partitions[self.sticky],
                builder: BatchBuilder::with_buffer(
                    ctx.settings.compression,
                    self.batch_pool.pop().unwrap_or_default(),
                    batch_size.max(need),
                ),
                created: now,
                append_us,
                payload_bytes: 0,
                reserved: BATCH_HEADER_LEN,
            }
        });
        let us = ctx.micros(now);
        let timestamp = ctx.wall_start_ms + (us / 1000) as i64;
        open.builder
            .append(timestamp, None, Some(value), &[])
            .map_err(|e| format!("building a batch: {e}"))?;
        open.append_us.push(us);
        open.payload_bytes += value.len() as u64;
        open.reserved += need;
        let full = open.builder.uncompressed_size() + need > batch_size;
        self.buffered += need;
        self.to_append -= 1;
        self.stats.appended += 1;
        if full {
            self.close_open()?;
        }
        Ok(full)
    }

    /// Closes the open batch if `linger.ms` has passed or no records are left to append.
    fn close_open_if_due(&mut self, now: Instant) -> Result<(), Fatal> {
        let due = self.open.as_ref().is_some_and(|open| {
            self.to_append == 0 || now >= open.created + self.ctx.settings.linger
        });
        if due {
            self.close_open()?;
        }
        Ok(())
    }

    /// Builds the open batch (compressing it if asked) and queues it; the sticky partitioner
    /// moves to the next partition.
    fn close_open(&mut self) -> Result<(), Fatal> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let batch = open
            .builder
            .build()
            .map_err(|e| format!("building a batch: {e}"))?;
        self.ready.push_back(ReadyBatch {
            partition: open.partition,
            bytes: batch.bytes,
            append_us: open.append_us,
            payload_bytes: open.payload_bytes,
            reserved: open.reserved,
            created: open.created,
            attempts: 0,
            retry_at: None,
        });
        self.sticky = (self.sticky + 1) % self.partitions.len();
        Ok(())
    }

    /// Sends batches in one Produce request: retries that are due first, then ready batches
    /// in queue order; at most one batch per partition (Produce v3+ takes one per partition)
    /// and within `max.request.size`.
    async fn send_request(&mut self, now: Instant) -> Result<(), Fatal> {
        let max_request_size = self.ctx.settings.max_request_size;
        let mut sent: Vec<ReadyBatch> = Vec::with_capacity(self.partitions.len());
        let mut total = 0usize;
        for queue in [&mut self.retry, &mut self.ready] {
            while let Some(front) = queue.front() {
                let due = front.retry_at.is_none_or(|at| at <= now);
                let taken = sent.iter().any(|b| b.partition == front.partition);
                let too_big = !sent.is_empty() && total + front.bytes.len() > max_request_size;
                if !due || taken || too_big {
                    break;
                }
                let Some(b) = queue.pop_front() else { break };
                total += b.bytes.len();
                sent.push(b);
            }
        }
        let parts = &mut self.request.topic_data[0].partition_data;
        parts.clear();
        for b in &mut sent {
            b.attempts += 1;
            parts.push(PartitionProduceData {
                index: b.partition,
                records: Some(b.bytes.clone()),
            });
        }
        let (api, version) = (ApiKey::Produce, self.version);
        let result = if self.ctx.settings.acks == Acks::None {
            // No answer will come: the write is the acknowledgement (as Kafka's client).
            self.client
                .send_without_response(api, version, &self.request)
                .await
                .map(|wire| (wire, None))
        } else {
            let timeout = self.ctx.settings.request_timeout;
            self.client
                .start(api, version, &self.request, timeout)
                .await
                .map(|response| (response.request_bytes(), Some(response)))
        };
        self.request.topic_data[0].partition_data.clear();
        let (wire, response) = result.map_err(|e| format!("{e:#}"))?;
        self.stats.wire_bytes += wire as u64;
        self.stats.requests += 1;
        self.stats.batches += sent.len() as u64;
        match response {
            Some(response) => self.in_flight.push_back(InFlight {
                response,
                batches: sent,
            }),
            None => {
                let at = self.ctx.micros(Instant::now());
                for b in sent {
                    self.complete(b, at, None);
                }
            }
        }
        Ok(())
    }

    /// Settles the batches of `request` with its answer.
    fn on_response(
        &mut self,
        request: InFlight,
        answer: Result<Received<ProduceResponse>, ClientError>,
    ) -> Result<(), Fatal> {
        let Received {
            body: response, at, ..
        } = answer.map_err(|e| format!("{e:#}"))?;
        let at_us = self.ctx.micros(at);
        let topic = self.ctx.topic.clone();
        for batch in request.batches {
            let answer = response
                .responses
                .iter()
                .filter(|t| t.name == topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == batch.partition);
            let Some(answer) = answer else {
                return Err(format!(
                    "the Produce response from {} has no answer for {topic}-{}",
                    self.client.addr(),
                    batch.partition
                ));
            };
            let code = ErrorCode(answer.error_code);
            let error = (!code.is_ok()).then(|| {
                format!(
                    "{topic}-{}: {}",
                    batch.partition,
                    describe_error(answer.error_code, answer.error_message.as_deref())
                )
            });
            if error.is_some() && self.may_retry(&batch, code, at) {
                self.stats.retries += 1;
                let mut batch = batch;
                batch.retry_at = Some(at + self.ctx.settings.retry_backoff);
                self.retry.push_back(batch);
                continue;
            }
            self.complete(batch, at_us, error);
        }
        Ok(())
    }

    /// Kafka's producer retries retriable errors (`RetriableException`) while `retries` and
    /// `delivery.timeout.ms` allow; so do we. A new topic's leader may, for example, answer
    /// NOT_LEADER_OR_FOLLOWER for a moment after Metadata already names it.
    fn may_retry(&self, batch: &ReadyBatch, code: ErrorCode, now: Instant) -> bool {
        let s = &self.ctx.settings;
        is_retriable(code)
            && batch.attempts <= s.retries
            && now + s.retry_backoff < batch.created + s.delivery_timeout
    }

    /// Records the outcome of one batch acknowledged (or failed) at `at_us`.
    fn complete(&mut self, mut batch: ReadyBatch, at_us: u64, error: Option<String>) {
        let records = batch.append_us.len() as u64;
        match error {
            None => {
                let mut sum = 0u64;
                let mut max = 0u64;
                for &t in &batch.append_us {
                    let latency = at_us.saturating_sub(t);
                    self.stats.latency.record(latency);
                    sum += latency;
                    max = max.max(latency);
                }
                self.stats.acked += records;
                self.stats.acked_payload_bytes += batch.payload_bytes;
                self.ctx
                    .progress
                    .add(records, batch.payload_bytes, sum, max);
            }
            Some(e) => {
                self.stats.failed += records;
                self.stats.first_error.get_or_insert(e);
            }
        }
        self.buffered = self.buffered.saturating_sub(batch.reserved);
        batch.append_us.clear();
        self.times_pool.push(batch.append_us);
        if self.batch_pool.len() < BATCH_POOL_MAX {
            // Unique once the request that carried it is encoded and sent.
            if let Ok(buf) = batch.bytes.try_into_mut() {
                self.batch_pool.push(buf.into());
            }
        }
    }
}

/// Kafka's retriable produce errors (subclasses of `RetriableException`).
fn is_retriable(code: ErrorCode) -> bool {
    [
        ErrorCode::CORRUPT_MESSAGE,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode::LEADER_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::REQUEST_TIMED_OUT,
        ErrorCode::NETWORK_EXCEPTION,
        ErrorCode::NOT_ENOUGH_REPLICAS,
        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode::KAFKA_STORAGE_ERROR,
        ErrorCode::FENCED_LEADER_EPOCH,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
    ]
    .contains(&code)
}

/// `kraftbridge perf produce`.
pub(super) async fn run(args: ProduceArgs) -> Result<()> {
    let outcome = execute(&args, super::stop_on_ctrl_c()).await?;
    print_report(&args, &outcome);
    outcome.check(args.num_records)
}

/// A finished (or stopped) produce run: everything its report needs.
#[derive(Debug)]
pub(super) struct ProduceOutcome {
    settings: ProducerSettings,
    partitions: usize,
    report: RunReport,
    stats: LaneStats,
    topic_deleted: bool,
    cleanup_error: Option<String>,
}

impl ProduceOutcome {
    /// Records acknowledged per second.
    pub(super) fn records_per_sec(&self) -> f64 {
        report::per_sec(self.stats.acked as f64, self.report.elapsed)
    }

    /// Request bytes per second on the wire (what the loopback ceiling bounds).
    pub(super) fn wire_bytes_per_sec(&self) -> f64 {
        report::per_sec(self.stats.wire_bytes as f64, self.report.elapsed)
    }

    /// Request bytes written to the wire.
    pub(super) fn wire_bytes(&self) -> u64 {
        self.stats.wire_bytes
    }

    /// Payload bytes acknowledged per second.
    pub(super) fn payload_bytes_per_sec(&self) -> f64 {
        report::per_sec(self.stats.acked_payload_bytes as f64, self.report.elapsed)
    }

    pub(super) fn acked(&self) -> u64 {
        self.stats.acked
    }

    pub(super) fn latency(&self) -> LatencySummary {
        self.stats.latency.summary_ms()
    }

    /// The run's failure, if any: a fatal error, Ctrl-C, failed records or a topic left
    /// behind.
    pub(super) fn check(&self, num_records: u64) -> Result<()> {
        let stats = &self.stats;
        if let Some(fatal) = &stats.fatal {
            bail!("the run stopped early: {fatal}");
        }
        if self.report.interrupted {
            bail!("interrupted after {} of {num_records} records", stats.acked);
        }
        if stats.failed > 0 {
            bail!(
                "{} records failed; first error: {}",
                stats.failed,
                stats.first_error.as_deref().unwrap_or("?")
            );
        }
        if let Some(e) = &self.cleanup_error {
            bail!("{e}");
        }
        Ok(())
    }
}

/// Runs `perf produce` without printing its report: bad flags and set-up failures are
/// `Err`; what happened during the run is in the outcome (see [`ProduceOutcome::check`]).
pub(super) async fn execute(
    args: &ProduceArgs,
    stop: watch::Receiver<bool>,
) -> Result<ProduceOutcome> {
    // Settings first: a bad flag fails before anything touches the network.
    if args.transactional_id.is_some() || args.transaction_duration_ms.is_some() {
        bail!("--transactional-id/--transaction-duration-ms {NOT_SUPPORTED_TRANSACTIONS}");
    }
    let mut props = Vec::new();
    if let Some(path) = &args.producer_config {
        props.extend(super::read_properties(path)?);
    }
    for p in &args.producer_props {
        props.push(super::parse_property(p)?);
    }
    if let Some(b) = &args.bootstrap_server {
        props.push(("bootstrap.servers".to_string(), b.clone()));
    }
    let (settings, notes) = ProducerSettings::from_props(&props)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    if args.print_metrics {
        eprintln!("note: --print-metrics is accepted but producer metrics are not printed");
    }
    if settings.bootstrap.is_empty() {
        bail!("no broker given: pass --bootstrap-server HOST:PORT or --producer-props bootstrap.servers=HOST:PORT");
    }
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!(
            "--connections {}: expected 1 to {CONNECTIONS_MAX}",
            args.connections
        );
    }
    if let Some(p) = args.partitions {
        if !(1..=PARTITIONS_MAX).contains(&p) {
            bail!("--partitions {p}: expected 1 to {PARTITIONS_MAX}");
        }
    }
    if args.num_records == 0 {
        bail!("--num-records must be at least 1");
    }
    if !(args.throughput == -1.0 || args.throughput > 0.0) || !args.throughput.is_finite() {
        bail!(
            "--throughput {}: expected records per second (> 0) or -1 for unlimited",
            args.throughput
        );
    }
    let payloads = match (&args.payload_file, args.record_size) {
        (Some(path), _) => Payloads::from_file(path, &args.payload_delimiter)?,
        (None, Some(size)) => Payloads::random(size),
        (None, None) => bail!("pass --record-size N or --payload-file FILE"),
    };
    let largest_record = BATCH_HEADER_LEN + payloads.largest() + RECORD_OVERHEAD_MAX;
    if largest_record + 200 > settings.max_request_size {
        bail!(
            "a {}-byte record does not fit max.request.size={} (raise it with --producer-props \
             max.request.size=N; the broker's message.max.bytes applies too)",
            payloads.largest(),
            settings.max_request_size
        );
    }

    let request_timeout = settings.request_timeout;
    let admin_conn =
        super::connect_bootstrap(&settings.bootstrap, &settings.client_id, request_timeout).await?;
    let mut created = None;
    let layout = match admin::describe_topic(&admin_conn, &args.topic, request_timeout).await? {
        Some(layout) => {
            if let Some(p) = args.partitions {
                if layout.leaders.len() != p as usize {
                    eprintln!(
                        "note: topic '{}' already exists with {} partitions; --partitions {p} \
                         ignored",
                        args.topic,
                        layout.leaders.len()
                    );
                }
            }
            admin::wait_for_leaders(&admin_conn, &args.topic, None, request_timeout).await?
        }
        None => {
            let Some(p) = args.partitions else {
                bail!(
                    "topic '{}' does not exist; pass --partitions N to create it",
                    args.topic
                );
            };
            created = Some(
                admin::create_topic(
                    &admin_conn,
                    &args.topic,
                    p,
                    args.replication_factor,
                    request_timeout,
                )
                .await?,
            );
            admin::wait_for_leaders(&admin_conn, &args.topic, Some(p as usize), request_timeout)
                .await?
        }
    };
    drop(admin_conn);
    let we_created = created == Some(Created::Now);

    let outcome = produce_to(args, settings.clone(), payloads, &layout, stop).await;

    // Clean up even when the run failed: a benchmark leaves no topics behind.
    let mut cleanup_error = None;
    if we_created && !args.keep_topic {
        cleanup_error = super::delete_topic_after_run(
            &settings.bootstrap,
            &settings.client_id,
            &args.topic,
            request_timeout,
        )
        .await;
    }
    let (report, stats) = outcome?;
    Ok(ProduceOutcome {
        settings,
        partitions: layout.leaders.len(),
        report,
        stats,
        topic_deleted: we_created && !args.keep_topic && cleanup_error.is_none(),
        cleanup_error,
    })
}

/// Timing and context of a finished run.
#[derive(Debug)]
struct RunReport {
    elapsed: Duration,
    lanes: usize,
    ceiling: Option<Ceiling>,
    interrupted: bool,
}

/// Runs the lanes and collects their figures.
async fn produce_to(
    args: &ProduceArgs,
    settings: ProducerSettings,
    payloads: Payloads,
    layout: &admin::TopicLayout,
    stop: watch::Receiver<bool>,
) -> Result<(RunReport, LaneStats)> {
    let ceiling = if args.ceiling {
        let c = tokio::task::spawn_blocking(|| ceiling::measure(CeilingLimits::default()))
            .await
            .context("the ceiling measurement panicked")??;
        eprintln!("{}", c.line());
        Some(c)
    } else {
        None
    };
    let plans = plan_lanes(&layout.by_leader(), args.connections(), args.num_records);
    let lane_rate = (args.throughput > 0.0).then(|| args.throughput / plans.len() as f64);
    let wall_start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let progress = Arc::new(Progress::default());
    let ctx = Arc::new(RunContext {
        settings,
        topic: args.topic.clone(),
        payloads,
        lane_rate,
        start: Instant::now(),
        wall_start_ms,
        progress: Arc::clone(&progress),
    });

    let mut lanes = Vec::with_capacity(plans.len());
    for plan in &plans {
        lanes.push(Lane::connect(Arc::clone(&ctx), plan.clone(), stop.clone()).await?);
    }
    let start = Instant::now();
    let printer = super::spawn_progress(progress, |prev, now, window| {
        let records = now.records - prev.records;
        let avg = if records > 0 {
            now.window_latency_sum_us as f64 / records as f64 / 1000.0
        } else {
            0.0
        };
        format!(
            "{records} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, \
             {:.1} ms max latency.",
            report::per_sec(records as f64, window),
            report::per_sec((now.payload_bytes - prev.payload_bytes) as f64, window) / MB,
            avg,
            now.window_latency_max_us as f64 / 1000.0,
        )
    });
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|lane| tokio::spawn(lane.run()))
        .collect();
    let mut total = LaneStats::default();
    for h in handles {
        match h.await {
            Ok(stats) => total.merge(stats),
            Err(e) => {
                if total.fatal.is_none() {
                    total.fatal = Some(format!("a producer task failed: {e}"));
                }
            }
        }
    }
    let elapsed = start.elapsed();
    drop(printer);
    let interrupted = *stop.borrow();
    Ok((
        RunReport {
            elapsed,
            lanes: plans.len(),
            ceiling,
            interrupted,
        },
        total,
    ))
}

fn print_report(args: &ProduceArgs, outcome: &ProduceOutcome) {
    let ProduceOutcome {
        settings,
        partitions,
        report,
        stats,
        topic_deleted,
        ..
    } = outcome;
    let (partitions, topic_deleted) = (*partitions, *topic_deleted);
    let latency: LatencySummary = stats.latency.summary_ms();
    let wire_rate = report::per_sec(stats.wire_bytes as f64, report.elapsed);
    let ratio = report.ceiling.map(|c| c.ratio(wire_rate));
    if args.json {
        let mut j = Json::new();
        j.str("tool", "produce");
        j.str("topic", &args.topic);
        j.u64("partitions", partitions as u64);
        j.u64("num_records", args.num_records);
        match args.record_size {
            Some(n) => j.u64("record_size", n as u64),
            None => j.raw("record_size", "null"),
        }
        j.f64("throughput_target", args.throughput);
        j.u64("records_sent", stats.appended);
        j.u64("records_acked", stats.acked);
        j.u64("records_failed", stats.failed);
        j.f64("elapsed_s", report.elapsed.as_secs_f64());
        j.f64(
            "records_per_sec",
            report::per_sec(stats.acked as f64, report.elapsed),
        );
        j.u64("payload_bytes", stats.acked_payload_bytes);
        j.f64(
            "mb_per_sec",
            report::per_sec(stats.acked_payload_bytes as f64, report.elapsed) / MB,
        );
        j.u64("wire_bytes", stats.wire_bytes);
        j.f64("wire_mb_per_sec", wire_rate / MB);
        j.u64("requests", stats.requests);
        j.u64("batches", stats.batches);
        j.u64("retries", stats.retries);
        j.raw("latency_ms", &latency.to_json());
        let mut s = Json::new();
        s.str("acks", settings.acks.name());
        s.u64("linger_ms", settings.linger.as_millis() as u64);
        s.u64("batch_size", settings.batch_size as u64);
        s.str("compression_type", settings.compression.name());
        s.u64(
            "max_in_flight_requests_per_connection",
            settings.max_in_flight as u64,
        );
        s.u64("buffer_memory", settings.buffer_memory as u64);
        s.str("client_id", &settings.client_id);
        s.bool("enable_idempotence", false);
        s.u64("connections", report.lanes as u64);
        j.raw("settings", &s.finish());
        j.raw(
            "ceiling",
            &report.ceiling.map_or("null".to_string(), Ceiling::to_json),
        );
        match ratio {
            Some(r) => j.f64("wire_ratio_to_ceiling", r),
            None => j.raw("wire_ratio_to_ceiling", "null"),
        }
        j.bool("interrupted", report.interrupted);
        j.opt_str("first_error", stats.first_error.as_deref());
        j.opt_str("fatal", stats.fatal.as_deref());
        j.bool("topic_deleted", topic_deleted);
        println!("{}", j.finish());
    } else {
        println!(
            "{}",
            report::producer_summary_line(
                stats.acked,
                report.elapsed,
                stats.acked_payload_bytes,
                &latency
            )
        );
        let ceiling = match (report.ceiling, ratio) {
            (Some(c), Some(r)) => format!(
                ", {:.1}% of the loopback TCP ceiling ({:.2} MB/sec)",
                r * 100.0,
                c.bytes_per_sec() / MB
            ),
            _ => String::new(),
        };
        println!(
            "wire: {} bytes in {} Produce requests ({} batches, {} retried), {:.2} \
             MB/sec{ceiling}; {} over {} connection(s) to {} partition(s)",
            stats.wire_bytes,
            stats.requests,
            stats.batches,
            stats.retries,
            wire_rate / MB,
            settings.describe(),
            report.lanes,
            partitions,
        );
        if stats.failed > 0 {
            println!(
                "{} records failed; first error: {}",
                stats.failed,
                stats.first_error.as_deref().unwrap_or("?")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_kafkas() {
        let (s, notes) = ProducerSettings::from_props(&[]).unwrap();
        assert_eq!(s.acks, Acks::All);
        assert_eq!(s.linger, Duration::from_millis(5));
        assert_eq!(s.batch_size, 16_384);
        assert_eq!(s.max_in_flight, 5);
        assert_eq!(s.compression, Compression::None);
        assert!(notes.is_empty());
    }

    #[test]
    fn props_apply_in_order() {
        let (s, notes) = ProducerSettings::from_props(&props(&[
            ("bootstrap.servers", "h:1"),
            ("acks", "1"),
            ("acks", "0"),
            ("linger.ms", "0"),
            ("batch.size", "65536"),
            ("compression.type", "zstd"),
            ("max.in.flight.requests.per.connection", "1"),
            ("client.id", "me"),
            ("enable.idempotence", "false"),
            ("key.serializer", "x"),
            ("no.such", "1"),
        ]))
        .unwrap();
        assert_eq!(s.bootstrap, vec!["h:1"]);
        assert_eq!(s.acks, Acks::None);
        assert_eq!(s.linger, Duration::ZERO);
        assert_eq!(s.batch_size, 65_536);
        assert_eq!(s.compression, Compression::Zstd);
        assert_eq!(s.max_in_flight, 1);
        assert_eq!(s.client_id, "me");
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn bad_props_name_key_and_value() {
        let e = |p: &[(&str, &str)]| {
            ProducerSettings::from_props(&props(p))
                .unwrap_err()
                .to_string()
        };
        assert!(e(&[("acks", "2")]).contains("acks=2"));
        assert!(e(&[("compression.type", "brotli")]).contains("compression.type=brotli"));
        assert!(e(&[("linger.ms", "-1")]).contains("linger.ms=-1"));
        assert!(e(&[("max.in.flight.requests.per.connection", "0")]).contains("from 1"));
        assert!(e(&[("enable.idempotence", "true")]).contains("not supported yet"));
        assert!(e(&[("transactional.id", "t")]).contains("not supported yet"));
    }

    #[test]
    fn lanes_split_partitions_and_records() {
        let leaders: BTreeMap<String, Vec<i32>> = [("a:1".to_string(), vec![0, 1, 2, 3, 4])]
            .into_iter()
            .collect();
        let lanes = plan_lanes(&leaders, 2, 11);
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0].partitions, vec![0, 2, 4]);
        assert_eq!(lanes[1].partitions, vec![1, 3]);
        assert_eq!(lanes[0].records + lanes[1].records, 11);
        assert_eq!(lanes[0].records, 6);
        let lanes = plan_lanes(&leaders, 7, 3);
        assert_eq!(lanes.len(), 7);
        assert_eq!(lanes[6].partitions, vec![1]);
        assert_eq!(lanes.iter().map(|l| l.records).sum::<u64>(), 3);
    }

    #[test]
    fn payload_file_splits_on_the_delimiter() {
        let parts: Vec<&[u8]> = split_bytes(b"a\nbb\n\nccc", b"\n").collect();
        assert_eq!(parts, vec![&b"a"[..], b"bb", b"", b"ccc"]);
        let parts: Vec<&[u8]> = split_bytes(b"x--y", b"--").collect();
        assert_eq!(parts, vec![&b"x"[..], b"y"]);
    }

    #[test]
    fn random_payload_is_upper_case_letters() {
        let Payloads::Fixed(p) = Payloads::random(1000) else {
            panic!("fixed")
        };
        assert_eq!(p.len(), 1000);
        assert!(p.iter().all(u8::is_ascii_uppercase));
    }
}
