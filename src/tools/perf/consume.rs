//! `kraftbridge perf consume`: Kafka's `kafka-consumer-perf-test`, as a real fetcher.
//!
//! Consumer groups come later, so `--group` is accepted and unused: we find the topic's
//! partitions and leaders (Metadata), their earliest (or, with `--from-latest`, latest)
//! offsets (ListOffsets), and fetch every partition directly, one connection per leader, as a
//! consumer with `assign()` does. Each Fetch response is framed into batches first, so the
//! next Fetch (from the offsets after those batches) is on its way while this one's records
//! are walked; that overlap is what Kafka's consumer does with its prefetch.
//!
//! Records are iterated lazily (`protocol::records`): each batch's CRC is checked (Kafka's
//! `check.crcs=true` default), records are counted, their key and value bytes summed (Kafka's
//! `data.consumed.in.MB`), their offsets checked for gaps, and their timestamps compared with
//! the wall clock on receipt (end-to-end latency; meaningful when the producer runs at the same
//! time, since a record produced a minute earlier is a minute "late").
//!
//! The run ends after `--messages` records, or when `--timeout` ms pass without a new record;
//! falling short of `--messages` is an error (non-zero exit), after the figures are printed.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use protocol::messages::{ApiKey, FetchRequest, FetchResponse};
use protocol::records::{self, Batch, RecordsError};
use protocol::{ErrorCode, Uuid};
use tokio::sync::watch;

use super::admin::{self, TopicLayout, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::ceiling::{self, Ceiling, CeilingLimits};
use super::report::{self, format_utc_millis, Histogram, Json, Progress, MB};
use super::AbortOnDrop;
use crate::io::client::{KafkaClient, Pending};

/// Largest `--fetch-size` / `max.partition.fetch.bytes` and `fetch.max.bytes`: a response is
/// at most about this big, well under [`super::RESPONSE_FRAME_BYTES_MAX`].
const FETCH_BYTES_MAX: i32 = 100 * 1024 * 1024;
/// Longest `fetch.max.wait.ms`.
const FETCH_WAIT_MS_MAX: u64 = 30_000;
/// Longest `--timeout`.
const TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Longest `request.timeout.ms`.
const REQUEST_TIMEOUT_MS_MAX: u64 = 300_000;

/// Arguments of `kraftbridge perf consume`: kafka-consumer-perf-test's flags, plus ours.
#[derive(Debug, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// The broker to bootstrap from (HOST:PORT[,HOST:PORT...]).
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Number of records to read (the run's cap).
    #[arg(long)]
    messages: u64,
    /// Accepted for compatibility; consumer groups are not used yet (partitions are fetched
    /// directly).
    #[arg(long)]
    group: Option<String>,
    /// Bytes fetched per partition per request (max.partition.fetch.bytes).
    #[arg(long = "fetch-size")]
    fetch_size: Option<i32>,
    /// Start at the end of each partition instead of its beginning.
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// Consumer properties file (bootstrap.servers, client.id, fetch.max.bytes,
    /// max.partition.fetch.bytes, fetch.max.wait.ms, fetch.min.bytes, request.timeout.ms,
    /// check.crcs, auto.offset.reset).
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// Accepted for compatibility; consumer metrics are not printed.
    #[arg(long = "print-metrics")]
    print_metrics: bool,
    /// Print a row every --reporting-interval instead of one summary row.
    #[arg(long = "show-detailed-stats")]
    show_detailed_stats: bool,
    /// Interval of --show-detailed-stats rows, in ms.
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval: u64,
    /// Give up after this many ms without a new record.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Do not print the column header.
    #[arg(long = "hide-header")]
    hide_header: bool,
    /// Print one JSON object on stdout instead of Kafka's lines.
    #[arg(long)]
    json: bool,
    /// Measure the loopback TCP ceiling first and quote the result as a fraction of it.
    #[arg(long)]
    ceiling: bool,
    /// Delete the topic at the end (pairs with `perf produce --keep-topic`).
    #[arg(long = "delete-topic")]
    delete_topic: bool,
}

/// The consumer configuration a run uses, with Kafka's defaults.
#[derive(Debug, Clone)]
struct ConsumerSettings {
    bootstrap: Vec<String>,
    client_id: String,
    fetch_max_bytes: i32,
    partition_fetch_bytes: i32,
    fetch_max_wait: Duration,
    fetch_min_bytes: i32,
    request_timeout: Duration,
    check_crcs: bool,
    from_latest: bool,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            bootstrap: Vec::new(),
            client_id: "perf-consumer-client".to_string(),
            fetch_max_bytes: 52_428_800,
            partition_fetch_bytes: 1_048_576,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            request_timeout: Duration::from_millis(30_000),
            check_crcs: true,
            from_latest: false,
        }
    }
}

fn parse_range<T>(key: &str, value: &str, lo: T, hi: T) -> Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match value.trim().parse::<T>() {
        Ok(n) if n >= lo && n <= hi => Ok(n),
        _ => bail!("{key}={value}: expected a whole number from {lo} to {hi}"),
    }
}

impl ConsumerSettings {
    fn from_props(props: &[(String, String)]) -> Result<(ConsumerSettings, Vec<String>)> {
        let mut s = ConsumerSettings::default();
        let mut notes = Vec::new();
        for (key, value) in props {
            let v = value.as_str();
            match key.as_str() {
                "bootstrap.servers" => s.bootstrap = super::parse_bootstrap(v)?,
                "client.id" => s.client_id = v.to_string(),
                "fetch.max.bytes" => s.fetch_max_bytes = parse_range(key, v, 1, FETCH_BYTES_MAX)?,
                "max.partition.fetch.bytes" => {
                    s.partition_fetch_bytes = parse_range(key, v, 1, FETCH_BYTES_MAX)?
                }
                "fetch.max.wait.ms" => {
                    s.fetch_max_wait =
                        Duration::from_millis(parse_range(key, v, 0, FETCH_WAIT_MS_MAX)?)
                }
                "fetch.min.bytes" => s.fetch_min_bytes = parse_range(key, v, 0, FETCH_BYTES_MAX)?,
                "request.timeout.ms" => {
                    s.request_timeout =
                        Duration::from_millis(parse_range(key, v, 1, REQUEST_TIMEOUT_MS_MAX)?)
                }
                "check.crcs" => match v.trim() {
                    "true" => s.check_crcs = true,
                    "false" => s.check_crcs = false,
                    _ => bail!("check.crcs={v}: expected true or false"),
                },
                "auto.offset.reset" => match v.trim() {
                    "earliest" => s.from_latest = false,
                    "latest" => s.from_latest = true,
                    _ => bail!("auto.offset.reset={v}: expected earliest or latest"),
                },
                "group.id"
                | "enable.auto.commit"
                | "auto.commit.interval.ms"
                | "key.deserializer"
                | "value.deserializer"
                | "session.timeout.ms"
                | "heartbeat.interval.ms"
                | "max.poll.records"
                | "receive.buffer.bytes"
                | "isolation.level"
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
}

/// The shared record budget: `--messages` records in all, across every connection.
#[derive(Debug)]
struct Budget {
    target: u64,
    unclaimed: AtomicU64,
    consumed: AtomicU64,
}

impl Budget {
    fn new(target: u64) -> Budget {
        Budget {
            target,
            unclaimed: AtomicU64::new(target),
            consumed: AtomicU64::new(0),
        }
    }

    /// Takes up to `n` records of the budget; returns how many were granted.
    fn claim(&self, n: u64) -> u64 {
        let prev = self
            .unclaimed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left - left.min(n))
            })
            .unwrap_or(0);
        prev.min(n)
    }

    /// Settles a claim of `granted` records of which `used` were consumed.
    fn settle(&self, granted: u64, used: u64) {
        self.consumed.fetch_add(used, Ordering::AcqRel);
        self.unclaimed.fetch_add(granted - used, Ordering::AcqRel);
    }

    fn done(&self) -> bool {
        self.consumed.load(Ordering::Acquire) >= self.target
    }
}

/// Shared by every connection of a run.
#[derive(Debug)]
struct RunContext {
    settings: ConsumerSettings,
    topic: String,
    topic_id: Uuid,
    budget: Budget,
    progress: Arc<Progress>,
    start: Instant,
    /// µs since `start` at which the last new record arrived (any connection).
    last_record_us: AtomicU64,
    /// Turns true when the run is over for every connection: `--messages` reached (by any
    /// connection) or Ctrl-C. A connection waiting on a long-polling Fetch stops at once.
    finish: watch::Sender<bool>,
    timeout: Duration,
}

/// Per-partition figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartitionStats {
    start_offset: i64,
    first: Option<i64>,
    last: Option<i64>,
    records: u64,
}

/// What one connection measured.
#[derive(Debug, Default)]
struct LaneStats {
    records: u64,
    payload_bytes: u64,
    wire_bytes: u64,
    fetches: u64,
    batches: u64,
    gaps: u64,
    first_gap: Option<String>,
    /// End-to-end latency in ms (record timestamps have ms resolution).
    e2e: Histogram,
    partitions: BTreeMap<i32, PartitionStats>,
    timed_out: bool,
    fatal: Option<String>,
}

impl LaneStats {
    fn merge(&mut self, other: LaneStats) {
        self.records += other.records;
        self.payload_bytes += other.payload_bytes;
        self.wire_bytes += other.wire_bytes;
        self.fetches += other.fetches;
        self.batches += other.batches;
        self.gaps += other.gaps;
        if self.first_gap.is_none() {
            self.first_gap = other.first_gap;
        }
        self.e2e.merge(&other.e2e);
        self.partitions.extend(other.partitions);
        self.timed_out |= other.timed_out;
        if self.fatal.is_none() {
            self.fatal = other.fatal;
        }
    }
}

/// Fetches the partitions one leader has.
#[derive(Debug)]
struct Lane {
    ctx: Arc<RunContext>,
    conn: KafkaClient,
    version: i16,
    /// [`RunContext::finish`].
    finish: watch::Receiver<bool>,
    /// Partition → next offset to fetch (the end of the last complete batch received).
    fetch_offsets: BTreeMap<i32, i64>,
    /// Partition → the offset the next new record must have.
    expected: BTreeMap<i32, i64>,
    request: FetchRequest,
    /// The Fetch requests on the wire (at most one while records are walked, since the next
    /// fetch depends on this one's batches).
    pending: VecDeque<Pending<FetchResponse>>,
    /// Reused: the batches of the response being processed.
    batches: Vec<(i32, Batch)>,
    stats: LaneStats,
}

type Fatal = String;

impl Lane {
    async fn connect(
        ctx: Arc<RunContext>,
        addr: &str,
        start_offsets: BTreeMap<i32, i64>,
    ) -> Result<Lane> {
        let s = &ctx.settings;
        let conn = super::connect(addr, &s.client_id, s.request_timeout).await?;
        // Fetch v4 is the first with RecordBatch v2 and isolation levels.
        let version = conn.version(ApiKey::Fetch, 4..=16)?;
        let max_wait = s.fetch_max_wait.min(ctx.timeout);
        let request = FetchRequest {
            replica_id: -1,
            max_wait_ms: i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: s.fetch_min_bytes,
            max_bytes: s.fetch_max_bytes,
            isolation_level: 0,
            // Session id 0 and epoch −1: a full fetch without a session (KIP-227).
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: ctx.topic.clone(),
                topic_id: ctx.topic_id,
                partitions: Vec::with_capacity(start_offsets.len()),
            }],
            ..Default::default()
        };
        let partitions = start_offsets
            .iter()
            .map(|(&p, &o)| {
                (
                    p,
                    PartitionStats {
                        start_offset: o,
                        first: None,
                        last: None,
                        records: 0,
                    },
                )
            })
            .collect();
        Ok(Lane {
            conn,
            version,
            finish: ctx.finish.subscribe(),
            expected: start_offsets.clone(),
            fetch_offsets: start_offsets,
            request,
            pending: VecDeque::new(),
            batches: Vec::new(),
            stats: LaneStats {
                partitions,
                ..Default::default()
            },
            ctx,
        })
    }

    async fn run(mut self) -> LaneStats {
        if let Err(fatal) = self.drive().await {
            self.stats.fatal = Some(fatal);
        }
        self.stats
    }

    async fn send_fetch(&mut self) -> Result<(), Fatal> {
        let partition_bytes = self.ctx.settings.partition_fetch_bytes;
        let parts = &mut self.request.topics[0].partitions;
        parts.clear();
        parts.extend(
            self.fetch_offsets
                .iter()
                .map(|(&partition, &fetch_offset)| FetchPartition {
                    partition,
                    current_leader_epoch: -1,
                    fetch_offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: partition_bytes,
                    replica_directory_id: Uuid::ZERO,
                }),
        );
        // The broker may hold a Fetch for max.wait.ms before answering.
        let timeout = self.ctx.settings.request_timeout
            + Duration::from_millis(self.request.max_wait_ms.max(0) as u64);
        let response = self
            .conn
            .start(ApiKey::Fetch, self.version, &self.request, timeout)
            .await
            .map_err(|e| format!("{e:#}"))?;
        self.stats.fetches += 1;
        self.pending.push_back(response);
        Ok(())
    }

    async fn drive(&mut self) -> Result<(), Fatal> {
        self.send_fetch().await?;
        loop {
            if *self.finish.borrow() || self.ctx.budget.done() {
                return Ok(());
            }
            let Some(oldest) = self.pending.front_mut() else {
                return Err(format!("no Fetch in flight to {}", self.conn.addr()));
            };
            let answer = tokio::select! {
                answer = oldest => answer.map_err(|e| format!("{e:#}"))?,
                _ = self.finish.changed() => return Ok(()),
            };
            self.pending.pop_front();
            let received = Instant::now();
            let received_wall_ms = wall_clock_ms();
            self.stats.wire_bytes += answer.wire_bytes as u64;
            self.frame_batches(answer.body)?;
            // Ask for the next data before walking this response's records.
            if !self.ctx.budget.done() {
                self.send_fetch().await?;
            }
            let new_records = self.walk_records(received_wall_ms)?;
            if new_records > 0 {
                self.ctx.last_record_us.fetch_max(
                    received
                        .saturating_duration_since(self.ctx.start)
                        .as_micros() as u64,
                    Ordering::AcqRel,
                );
            } else {
                let last = Duration::from_micros(self.ctx.last_record_us.load(Ordering::Acquire));
                if self.ctx.start.elapsed().saturating_sub(last) > self.ctx.timeout {
                    self.stats.timed_out = true;
                    return Ok(());
                }
            }
        }
    }

    /// Checks each partition's error code, frames its records into batches (keeping them in
    /// `self.batches`) and moves its fetch offset past the last complete batch. A partial
    /// batch at the end is normal: the broker cut the data at the size limit.
    fn frame_batches(&mut self, response: FetchResponse) -> Result<(), Fatal> {
        self.batches.clear();
        let topic = &self.ctx.topic;
        if response.error_code != 0 {
            return Err(format!(
                "Fetch from {}: {}",
                self.conn.addr(),
                ErrorCode(response.error_code)
            ));
        }
        for t in response.responses {
            for p in t.partitions {
                let Some(offset) = self.fetch_offsets.get_mut(&p.partition_index) else {
                    return Err(format!(
                        "Fetch from {} answers {topic}-{}, which was not asked for",
                        self.conn.addr(),
                        p.partition_index
                    ));
                };
                if p.error_code != 0 {
                    return Err(format!(
                        "fetching {topic}-{} at offset {offset} from {}: {}{}",
                        p.partition_index,
                        self.conn.addr(),
                        ErrorCode(p.error_code),
                        if p.error_code == ErrorCode::OFFSET_OUT_OF_RANGE.code() {
                            format!(
                                " (log start offset {}, high watermark {})",
                                p.log_start_offset, p.high_watermark
                            )
                        } else {
                            String::new()
                        }
                    ));
                }
                let records: Bytes = p.records.unwrap_or_default();
                let complete =
                    frame_partition(&records, p.partition_index, offset, &mut self.batches)
                        .map_err(|e| {
                            format!(
                                "corrupt data for {topic}-{} from {}: {e}",
                                p.partition_index,
                                self.conn.addr()
                            )
                        })?;
                if complete == 0 && !records.is_empty() {
                    return Err(format!(
                        "the first batch of {topic}-{} at offset {offset} is larger than the \
                         fetch size of {} bytes (raise --fetch-size)",
                        p.partition_index, self.ctx.settings.partition_fetch_bytes
                    ));
                }
            }
        }
        Ok(())
    }

    /// Walks the records of `self.batches`: counts new ones within the budget, checks offsets
    /// for gaps, measures end-to-end latency. Returns how many new records it counted.
    fn walk_records(&mut self, received_wall_ms: i64) -> Result<u64, Fatal> {
        let topic = &self.ctx.topic;
        let mut new_records = 0u64;
        let mut payload = 0u64;
        for (partition, batch) in self.batches.drain(..) {
            self.stats.batches += 1;
            if self.ctx.settings.check_crcs {
                batch.verify_crc().map_err(|e| {
                    format!(
                        "{topic}-{partition} batch at offset {}: {e}",
                        batch.header.base_offset
                    )
                })?;
            }
            let Some(expected) = self.expected.get_mut(&partition) else {
                continue;
            };
            if batch.header.is_control() {
                // Transaction markers take an offset but are no record a consumer sees.
                *expected = (*expected).max(batch.header.next_offset());
                continue;
            }
            if batch.header.last_offset() < *expected {
                continue; // already seen (the broker returns whole batches)
            }
            let granted = self
                .ctx
                .budget
                .claim(u64::try_from(batch.header.records_count).unwrap_or(0));
            let walked = walk_batch(
                (topic, partition),
                &batch,
                expected,
                granted,
                received_wall_ms,
                &mut self.stats,
            );
            // Settle even on error, so other connections see the budget as it is.
            self.ctx.budget.settle(granted, walked.used);
            if self.ctx.budget.done() {
                self.ctx.finish.send_replace(true);
            }
            if let Some(part) = self.stats.partitions.get_mut(&partition) {
                part.records += walked.used;
                if part.first.is_none() {
                    part.first = walked.first;
                }
                if walked.last.is_some() {
                    part.last = walked.last;
                }
            }
            new_records += walked.used;
            payload += walked.payload_bytes;
            if let Some(e) = walked.error {
                return Err(format!(
                    "{topic}-{partition} batch at offset {}: {e}",
                    batch.header.base_offset
                ));
            }
        }
        self.stats.records += new_records;
        self.stats.payload_bytes += payload;
        self.ctx.progress.add(new_records, payload, 0, 0);
        Ok(new_records)
    }
}

/// Frames one partition's fetched records: appends each complete batch to `out` and moves
/// `offset` past it. A partial batch at the end is normal (the broker may cut the data at the
/// size limit, KIP-74) and ends the framing; any other framing fault is an error. Returns the
/// number of complete batches.
fn frame_partition(
    records: &Bytes,
    partition: i32,
    offset: &mut i64,
    out: &mut Vec<(i32, Batch)>,
) -> Result<usize, RecordsError> {
    let mut complete = 0;
    for batch in records::batches(records) {
        match batch {
            Ok(b) => {
                complete += 1;
                *offset = (*offset).max(b.header.next_offset());
                out.push((partition, b));
            }
            Err(RecordsError::Truncated { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(complete)
}

/// What walking one batch found.
#[derive(Debug, Default)]
struct Walked {
    /// New records counted (within the granted budget).
    used: u64,
    payload_bytes: u64,
    first: Option<i64>,
    last: Option<i64>,
    /// A record that did not decode; the records before it are counted.
    error: Option<RecordsError>,
}

/// Walks one batch's records lazily: skips those before `expected` (a fetch returns whole
/// batches), counts at most `granted` new ones, adds any offsets skipped over to the gap count,
/// and records each record's end-to-end latency (timestamp to `received_wall_ms`). Offsets and
/// timestamps come from the broker, so the arithmetic saturates instead of overflowing.
fn walk_batch(
    (topic, partition): (&str, i32),
    batch: &Batch,
    expected: &mut i64,
    granted: u64,
    received_wall_ms: i64,
    stats: &mut LaneStats,
) -> Walked {
    let mut walked = Walked::default();
    for record in batch.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                walked.error = Some(e);
                break;
            }
        };
        let offset = record.offset();
        if offset < *expected {
            continue;
        }
        if walked.used == granted {
            break;
        }
        if offset > *expected {
            let missing = offset.saturating_sub(*expected);
            stats.gaps = stats
                .gaps
                .saturating_add(u64::try_from(missing).unwrap_or(u64::MAX));
            let from = *expected;
            stats.first_gap.get_or_insert_with(|| {
                format!(
                    "{topic}-{partition}: offsets {from} to {} missing",
                    offset.saturating_sub(1)
                )
            });
        }
        *expected = offset.saturating_add(1);
        walked.used += 1;
        walked.first.get_or_insert(offset);
        walked.last = Some(offset);
        walked.payload_bytes += record.key().map_or(0, |k| k.len() as u64)
            + record.value().map_or(0, |v| v.len() as u64);
        let late_ms = received_wall_ms.saturating_sub(record.timestamp()).max(0);
        stats.e2e.record(u64::try_from(late_ms).unwrap_or(0));
    }
    walked
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `kraftbridge perf consume`.
pub(super) async fn run(args: ConsumeArgs) -> Result<()> {
    let outcome = execute(&args, super::stop_on_ctrl_c()).await?;
    print_report(
        &args,
        &outcome.settings,
        &outcome.report,
        &outcome.stats,
        args.delete_topic && outcome.cleanup_error.is_none(),
    );
    outcome.check(&args)
}

/// A finished (or stopped) consume run: everything its report needs.
#[derive(Debug)]
pub(super) struct ConsumeOutcome {
    settings: ConsumerSettings,
    report: RunReport,
    stats: LaneStats,
    cleanup_error: Option<String>,
}

impl ConsumeOutcome {
    pub(super) fn records(&self) -> u64 {
        self.stats.records
    }

    pub(super) fn records_per_sec(&self) -> f64 {
        report::per_sec(self.stats.records as f64, self.report.elapsed)
    }

    pub(super) fn payload_bytes_per_sec(&self) -> f64 {
        report::per_sec(self.stats.payload_bytes as f64, self.report.elapsed)
    }

    /// The run's failure, if any: a fatal error, missing offsets, Ctrl-C, fewer records than
    /// asked for, or a topic left behind.
    pub(super) fn check(&self, args: &ConsumeArgs) -> Result<()> {
        let (stats, report) = (&self.stats, &self.report);
        if let Some(fatal) = &stats.fatal {
            bail!("the run stopped early: {fatal}");
        }
        if stats.gaps > 0 {
            bail!(
                "{} offsets missing; first: {}",
                stats.gaps,
                stats.first_gap.as_deref().unwrap_or("?")
            );
        }
        if report.interrupted {
            bail!(
                "interrupted after {} of {} records",
                stats.records,
                args.messages
            );
        }
        if stats.records < args.messages {
            bail!(
                "exiting before consuming the expected number of messages: {} of {} read, then \
                 nothing new for {} ms (--timeout); the topic held {} records from the start \
                 offsets when the run began",
                stats.records,
                args.messages,
                args.timeout,
                report.available
            );
        }
        if let Some(e) = &self.cleanup_error {
            bail!("{e}");
        }
        Ok(())
    }
}

/// Runs `perf consume` without printing its report: bad flags and set-up failures are
/// `Err`; what happened during the run is in the outcome (see [`ConsumeOutcome::check`]).
pub(super) async fn execute(
    args: &ConsumeArgs,
    stop: watch::Receiver<bool>,
) -> Result<ConsumeOutcome> {
    let mut props = Vec::new();
    if let Some(path) = &args.consumer_config {
        props.extend(super::read_properties(path)?);
    }
    if let Some(b) = &args.bootstrap_server {
        props.push(("bootstrap.servers".to_string(), b.clone()));
    }
    if let Some(f) = args.fetch_size {
        props.push(("max.partition.fetch.bytes".to_string(), f.to_string()));
    }
    if args.from_latest {
        props.push(("auto.offset.reset".to_string(), "latest".to_string()));
    }
    let (settings, notes) = ConsumerSettings::from_props(&props)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    if args.group.is_some() {
        eprintln!(
            "note: --group is accepted but consumer groups are not used yet; partitions are \
             fetched directly from the {} offset",
            if settings.from_latest {
                "latest"
            } else {
                "earliest"
            }
        );
    }
    if args.print_metrics {
        eprintln!("note: --print-metrics is accepted but consumer metrics are not printed");
    }
    if settings.bootstrap.is_empty() {
        bail!("no broker given: pass --bootstrap-server HOST:PORT");
    }
    if args.messages == 0 {
        bail!("--messages must be at least 1");
    }
    if args.timeout == 0 || args.timeout > TIMEOUT_MS_MAX {
        bail!(
            "--timeout {}: expected 1 to {TIMEOUT_MS_MAX} ms",
            args.timeout
        );
    }
    if args.reporting_interval == 0 {
        bail!("--reporting-interval must be at least 1 ms");
    }

    let request_timeout = settings.request_timeout;
    let admin_conn =
        super::connect_bootstrap(&settings.bootstrap, &settings.client_id, request_timeout).await?;
    let Some(layout) = admin::describe_topic(&admin_conn, &args.topic, request_timeout).await?
    else {
        bail!(
            "topic '{}' does not exist on {} (produce to it first, e.g. `kraftbridge perf \
             produce --topic {} --partitions 3 --keep-topic ...`)",
            args.topic,
            admin_conn.addr(),
            args.topic
        );
    };
    let layout = admin::wait_for_leaders(
        &admin_conn,
        &args.topic,
        Some(layout.leaders.len()),
        request_timeout,
    )
    .await?;
    drop(admin_conn);

    let outcome = consume_from(args, settings.clone(), &layout, stop).await;

    let mut cleanup_error = None;
    if args.delete_topic {
        cleanup_error = super::delete_topic_after_run(
            &settings.bootstrap,
            &settings.client_id,
            &args.topic,
            request_timeout,
        )
        .await;
    }
    let (report, stats) = outcome?;
    Ok(ConsumeOutcome {
        settings,
        report,
        stats,
        cleanup_error,
    })
}

/// Timing and context of a finished run.
#[derive(Debug)]
struct RunReport {
    start_wall_ms: i64,
    end_wall_ms: i64,
    elapsed: Duration,
    connections: usize,
    /// Records between the start offsets and the log end offsets when the run began.
    available: i64,
    ceiling: Option<Ceiling>,
    interrupted: bool,
    intervals: Vec<String>,
}

async fn consume_from(
    args: &ConsumeArgs,
    settings: ConsumerSettings,
    layout: &TopicLayout,
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
    let progress = Arc::new(Progress::default());
    let ctx = Arc::new(RunContext {
        topic: args.topic.clone(),
        topic_id: layout.id,
        budget: Budget::new(args.messages),
        progress: Arc::clone(&progress),
        start: Instant::now(),
        last_record_us: AtomicU64::new(0),
        timeout: Duration::from_millis(args.timeout),
        finish: watch::Sender::new(false),
        settings,
    });
    // Ctrl-C finishes the run too.
    let _forward_stop = {
        let mut stop = stop.clone();
        let finish = ctx.finish.clone();
        AbortOnDrop(tokio::spawn(async move {
            while stop.changed().await.is_ok() {
                if *stop.borrow() {
                    finish.send_replace(true);
                    break;
                }
            }
        }))
    };
    let s = &ctx.settings;

    // One connection per leader, starting from each partition's earliest (or latest) offset.
    let mut lanes = Vec::new();
    let mut available = 0i64;
    for (addr, partitions) in layout.by_leader() {
        let conn = super::connect(&addr, &s.client_id, s.request_timeout).await?;
        let starts = admin::list_offsets(
            &conn,
            &args.topic,
            &partitions,
            if s.from_latest {
                LATEST_TIMESTAMP
            } else {
                EARLIEST_TIMESTAMP
            },
            s.request_timeout,
        )
        .await?;
        let ends = admin::list_offsets(
            &conn,
            &args.topic,
            &partitions,
            LATEST_TIMESTAMP,
            s.request_timeout,
        )
        .await?;
        available += partitions
            .iter()
            .map(|p| ends[p].saturating_sub(starts[p]).max(0))
            .sum::<i64>();
        drop(conn);
        lanes.push(Lane::connect(Arc::clone(&ctx), &addr, starts).await?);
    }

    let start_wall_ms = wall_clock_ms();
    let start = Instant::now();
    // The budget's clock starts now, not at set-up.
    ctx.last_record_us
        .store(ctx.start.elapsed().as_micros() as u64, Ordering::Release);
    let printer = (!args.show_detailed_stats).then(|| {
        super::spawn_progress(Arc::clone(&progress), |prev, now, window| {
            let records = now.records - prev.records;
            format!(
                "{} records consumed, {:.1} records/sec ({:.2} MB/sec)",
                now.records,
                report::per_sec(records as f64, window),
                report::per_sec((now.payload_bytes - prev.payload_bytes) as f64, window) / MB,
            )
        })
    });
    if args.show_detailed_stats && !args.json && !args.hide_header {
        println!("{DETAILED_HEADER}");
    }
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let detailed = args.show_detailed_stats.then(|| {
        spawn_detailed_rows(
            Arc::clone(&progress),
            Duration::from_millis(args.reporting_interval),
            args.json,
            rows_tx,
        )
    });
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|lane| tokio::spawn(lane.run()))
        .collect();
    let connections = handles.len();
    let mut total = LaneStats::default();
    for h in handles {
        match h.await {
            Ok(stats) => total.merge(stats),
            Err(e) => {
                if total.fatal.is_none() {
                    total.fatal = Some(format!("a fetch task failed: {e}"));
                }
            }
        }
    }
    // With a timeout, the run's useful part ended at the last record, not at the timeout.
    let elapsed = if total.timed_out {
        Duration::from_micros(ctx.last_record_us.load(Ordering::Acquire))
            .saturating_sub(start.saturating_duration_since(ctx.start))
    } else {
        start.elapsed()
    };
    drop(printer);
    drop(detailed);
    let mut intervals = Vec::new();
    while let Ok(row) = rows_rx.try_recv() {
        intervals.push(row);
    }
    let end_wall_ms = start_wall_ms + elapsed.as_millis() as i64;
    let interrupted = *stop.borrow();
    Ok((
        RunReport {
            start_wall_ms,
            end_wall_ms,
            elapsed,
            connections,
            available,
            ceiling,
            interrupted,
            intervals,
        },
        total,
    ))
}

/// Kafka's `--show-detailed-stats` rows: printed as they come (text mode) and collected for
/// the JSON report.
fn spawn_detailed_rows(
    progress: Arc<Progress>,
    every: Duration,
    json: bool,
    rows: tokio::sync::mpsc::UnboundedSender<String>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut previous = progress.take();
        let mut at = Instant::now();
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticker.tick().await;
            let now = progress.take();
            let window = at.elapsed();
            at = Instant::now();
            let row = detailed_row(wall_clock_ms(), &previous, &now, window);
            if json {
                let _ = rows.send(row);
            } else {
                println!("{row}");
            }
            previous = now;
        }
    }))
}

fn detailed_row(
    now_ms: i64,
    previous: &report::ProgressSnapshot,
    now: &report::ProgressSnapshot,
    window: Duration,
) -> String {
    let interval_mb = (now.payload_bytes - previous.payload_bytes) as f64 / MB;
    let interval_records = (now.records - previous.records) as f64;
    let mb_sec = report::per_sec(interval_mb, window);
    let records_sec = report::per_sec(interval_records, window);
    format!(
        "{}, 0, {:.4}, {mb_sec:.4}, {}, {records_sec:.4}, 0, {}, {mb_sec:.4}, {records_sec:.4}",
        format_utc_millis(now_ms),
        now.payload_bytes as f64 / MB,
        now.records,
        window.as_millis(),
    )
}

const SUMMARY_HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, \
     data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, \
     fetch.nMsg.sec";
const DETAILED_HEADER: &str = "time, threadId, data.consumed.in.MB, MB.sec, \
     data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, \
     fetch.nMsg.sec";

fn print_report(
    args: &ConsumeArgs,
    settings: &ConsumerSettings,
    report: &RunReport,
    stats: &LaneStats,
    topic_deleted: bool,
) {
    let mb = stats.payload_bytes as f64 / MB;
    let mb_sec = report::per_sec(mb, report.elapsed);
    let records_sec = report::per_sec(stats.records as f64, report.elapsed);
    let wire_rate = report::per_sec(stats.wire_bytes as f64, report.elapsed);
    let ratio = report.ceiling.map(|c| c.ratio(wire_rate));
    let e2e = stats.e2e.summary_in_ms(1.0);
    let contiguous = stats.partitions.values().all(|p| match (p.first, p.last) {
        (Some(f), Some(l)) => l - f + 1 == p.records as i64,
        _ => p.records == 0,
    });
    if args.json {
        let mut j = Json::new();
        j.str("tool", "consume");
        j.str("topic", &args.topic);
        j.str("start_time", &format_utc_millis(report.start_wall_ms));
        j.str("end_time", &format_utc_millis(report.end_wall_ms));
        j.f64("data_consumed_in_mb", mb);
        j.f64("mb_sec", mb_sec);
        j.u64("data_consumed_in_nmsg", stats.records);
        j.f64("nmsg_sec", records_sec);
        j.u64("rebalance_time_ms", 0);
        j.u64("fetch_time_ms", report.elapsed.as_millis() as u64);
        j.f64("fetch_mb_sec", mb_sec);
        j.f64("fetch_nmsg_sec", records_sec);
        j.u64("messages_requested", args.messages);
        j.u64("records", stats.records);
        j.u64("payload_bytes", stats.payload_bytes);
        j.u64("wire_bytes", stats.wire_bytes);
        j.f64("wire_mb_per_sec", wire_rate / MB);
        j.u64("fetches", stats.fetches);
        j.u64("batches", stats.batches);
        j.f64("elapsed_s", report.elapsed.as_secs_f64());
        j.u64("offset_gaps", stats.gaps);
        j.opt_str("first_gap", stats.first_gap.as_deref());
        j.bool("offsets_contiguous", contiguous && stats.gaps == 0);
        let parts = stats.partitions.iter().map(|(p, s)| {
            let mut o = Json::new();
            o.i64("partition", i64::from(*p));
            o.i64("start_offset", s.start_offset);
            o.opt_i64("first_offset", s.first);
            o.opt_i64("last_offset", s.last);
            o.u64("records", s.records);
            o.finish()
        });
        j.raw("partitions", &report::json_array(parts));
        j.raw("e2e_latency_ms", &e2e.to_json());
        let mut s = Json::new();
        s.str("client_id", &settings.client_id);
        s.u64("fetch_size", settings.partition_fetch_bytes as u64);
        s.u64("fetch_max_bytes", settings.fetch_max_bytes as u64);
        s.u64(
            "fetch_max_wait_ms",
            settings.fetch_max_wait.as_millis() as u64,
        );
        s.u64("fetch_min_bytes", settings.fetch_min_bytes as u64);
        s.bool("check_crcs", settings.check_crcs);
        s.str(
            "start",
            if settings.from_latest {
                "latest"
            } else {
                "earliest"
            },
        );
        s.u64("connections", report.connections as u64);
        j.raw("settings", &s.finish());
        j.raw(
            "ceiling",
            &report.ceiling.map_or("null".to_string(), Ceiling::to_json),
        );
        match ratio {
            Some(r) => j.f64("wire_ratio_to_ceiling", r),
            None => j.raw("wire_ratio_to_ceiling", "null"),
        }
        if args.show_detailed_stats {
            j.raw(
                "intervals",
                &report::json_array(report.intervals.iter().map(|r| report::json_string(r))),
            );
        }
        j.bool("timed_out", stats.timed_out);
        j.bool("interrupted", report.interrupted);
        j.opt_str("fatal", stats.fatal.as_deref());
        j.bool("topic_deleted", topic_deleted);
        println!("{}", j.finish());
        return;
    }
    if !args.show_detailed_stats {
        if !args.hide_header {
            println!("{SUMMARY_HEADER}");
        }
        println!(
            "{}, {}, {mb:.4}, {mb_sec:.4}, {}, {records_sec:.4}, 0, {}, {mb_sec:.4}, \
             {records_sec:.4}",
            format_utc_millis(report.start_wall_ms),
            format_utc_millis(report.end_wall_ms),
            stats.records,
            report.elapsed.as_millis(),
        );
    }
    let ceiling = match (report.ceiling, ratio) {
        (Some(c), Some(r)) => format!(
            ", {:.1}% of the loopback TCP ceiling ({:.2} MB/sec)",
            r * 100.0,
            c.bytes_per_sec() / MB
        ),
        _ => String::new(),
    };
    println!(
        "end-to-end latency (record timestamp to receipt): {:.0} ms 50th, {:.0} ms 99th, {:.0} ms \
         max; offset gaps: {}; wire: {} bytes in {} Fetch responses, {:.2} MB/sec{ceiling}; \
         fetch.size={} fetch.max.bytes={} from {} over {} connection(s)",
        e2e.p50,
        e2e.p99,
        e2e.max,
        stats.gaps,
        stats.wire_bytes,
        stats.fetches,
        wire_rate / MB,
        settings.partition_fetch_bytes,
        settings.fetch_max_bytes,
        if settings.from_latest {
            "latest"
        } else {
            "earliest"
        },
        report.connections,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_grants_exactly_the_target() {
        let b = Budget::new(10);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(8), 6);
        assert_eq!(b.claim(1), 0);
        b.settle(4, 4);
        assert!(!b.done());
        b.settle(6, 2); // 4 unused go back
        assert_eq!(b.claim(10), 4);
        b.settle(4, 4);
        assert!(b.done());
    }

    #[test]
    fn settings_from_props() {
        let props: Vec<(String, String)> = [
            ("bootstrap.servers", "h:1"),
            ("fetch.max.bytes", "1000"),
            ("max.partition.fetch.bytes", "500"),
            ("check.crcs", "false"),
            ("auto.offset.reset", "latest"),
            ("group.id", "g"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (s, notes) = ConsumerSettings::from_props(&props).unwrap();
        assert_eq!(s.fetch_max_bytes, 1000);
        assert_eq!(s.partition_fetch_bytes, 500);
        assert!(!s.check_crcs && s.from_latest);
        assert_eq!(notes.len(), 1);
        let bad = vec![("fetch.max.bytes".to_string(), "0".to_string())];
        assert!(ConsumerSettings::from_props(&bad)
            .unwrap_err()
            .to_string()
            .contains("fetch.max.bytes=0"));
    }

    fn batch_at(base_offset: i64, values: &[&[u8]], timestamp: i64) -> Bytes {
        let mut b = records::BatchBuilder::new(records::Compression::None).base_offset(base_offset);
        for v in values {
            b.append(timestamp, None, Some(v), &[]).unwrap();
        }
        b.build().unwrap().bytes
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        parts
            .iter()
            .flat_map(|p| p.iter().copied())
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn framing_moves_the_offset_and_tolerates_a_cut_batch() {
        let a = batch_at(0, &[b"a", b"b"], 1000);
        let b = batch_at(2, &[b"c"], 1000);
        let data = concat(&[a.clone(), b.clone()]);
        let mut offset = 0;
        let mut out = Vec::new();
        assert_eq!(frame_partition(&data, 7, &mut offset, &mut out).unwrap(), 2);
        assert_eq!(offset, 3);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|(p, _)| *p == 7));
        // The broker cut the second batch at the size limit: one complete batch, no error.
        let cut = data.slice(..a.len() + 20);
        let (mut offset, mut out) = (0, Vec::new());
        assert_eq!(frame_partition(&cut, 0, &mut offset, &mut out).unwrap(), 1);
        assert_eq!(offset, 2);
        // A bad batchLength is corruption, not a cut.
        let mut bad = a.to_vec();
        bad[8..12].copy_from_slice(&3i32.to_be_bytes());
        assert!(frame_partition(&Bytes::from(bad), 0, &mut 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn walking_counts_skips_seen_records_and_finds_gaps() {
        let mut stats = LaneStats::default();
        let first = records::batches(&batch_at(0, &[b"k1", b"v22"], 1000))
            .next()
            .unwrap()
            .unwrap();
        // Offset 1 was already read: only offset 1 onwards counts.
        let mut expected = 1;
        let w = walk_batch(("t", 0), &first, &mut expected, 10, 1500, &mut stats);
        assert_eq!(
            (w.used, w.payload_bytes, w.first, w.last),
            (1, 3, Some(1), Some(1))
        );
        assert_eq!(expected, 2);
        assert_eq!(stats.e2e.summary_in_ms(1.0).max, 500.0);
        // The next batch starts at 5: offsets 2..4 are missing.
        let later = records::batches(&batch_at(5, &[b"x", b"y", b"z"], 1000))
            .next()
            .unwrap()
            .unwrap();
        let w = walk_batch(("t", 0), &later, &mut expected, 2, 1000, &mut stats);
        assert_eq!(
            (w.used, w.first, w.last),
            (2, Some(5), Some(6)),
            "the budget stops at 2"
        );
        assert_eq!(stats.gaps, 3);
        assert_eq!(
            stats.first_gap.as_deref(),
            Some("t-0: offsets 2 to 4 missing")
        );
        assert_eq!(expected, 7);
    }

    /// Fetched bytes come from the broker: random and mutated input must give errors or
    /// counts, never a panic (overflow checks are on in the CI profile).
    #[test]
    fn hostile_fetch_data_never_panics() {
        use rand::{Rng, RngCore, SeedableRng};
        let seed = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| rand::thread_rng().gen::<u64>());
        println!("seed {seed}; repro: SEED={seed} cargo test -p kraftbridge -- hostile_fetch_data");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let good = concat(&[
            batch_at(0, &[b"a", b"bb"], 1),
            batch_at(i64::MAX - 1, &[b"c"], i64::MIN),
        ]);
        for _ in 0..2000 {
            let mut data = good.to_vec();
            if rng.gen_bool(0.2) {
                data.resize(rng.gen_range(0..200), 0);
                rng.fill_bytes(&mut data);
            } else {
                for _ in 0..rng.gen_range(1..6) {
                    let i = rng.gen_range(0..data.len());
                    data[i] = rng.gen();
                }
            }
            let data = Bytes::from(data);
            let mut offset = rng.gen_range(-5..5);
            let mut out = Vec::new();
            let _ = frame_partition(&data, 0, &mut offset, &mut out);
            let mut stats = LaneStats::default();
            let mut expected = if rng.gen_bool(0.5) { i64::MIN } else { 0 };
            for (_, batch) in &out {
                let _ = batch.verify_crc();
                let _ = walk_batch(
                    ("t", 0),
                    batch,
                    &mut expected,
                    u64::MAX,
                    i64::MAX,
                    &mut stats,
                );
            }
        }
    }

    #[test]
    fn detailed_row_reads_like_kafkas() {
        let prev = report::ProgressSnapshot::default();
        let now = report::ProgressSnapshot {
            records: 1000,
            payload_bytes: 1024 * 1024,
            ..Default::default()
        };
        let row = detailed_row(0, &prev, &now, Duration::from_secs(2));
        assert_eq!(
            row,
            "1970-01-01 00:00:00:000, 0, 1.0000, 0.5000, 1000, 500.0000, 0, 2000, 0.5000, 500.0000"
        );
    }
}
