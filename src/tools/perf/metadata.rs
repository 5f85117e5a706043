//! `kraftbridge perf metadata`: how fast the metadata path is, as a Kafka client sees it.
//!
//! Phases over the wire, each capped and each stopped early by Ctrl-C (the figures so far are
//! still printed): first the commit latency (3. below) on a topic of its own while the broker
//! is otherwise idle, then
//! 1. **topic creation**: N topics in CreateTopics requests of `--topics-per-request`, sent
//!    over `--concurrency` connections at once; topics/s from the first request to the last
//!    answer. A CreateTopics answer means the records are committed (fsynced) and, on
//!    kraftbridge, the broker's image and partition logs have the topic.
//! 2. **Metadata response time** with those N topics: all topics, and one topic.
//! 3. **commit latency**: IncrementalAlterConfigs on one topic, one request at a time: the
//!    cheapest controller write, one ConfigRecord appended, fsynced and committed before the
//!    answer (Kafka's "metadata commit"), measured first; and here single-topic CreateTopics
//!    one at a time, which adds creating the partition log.
//! 4. **deletion** of every topic the run created (DeleteTopics in the same batches), timed
//!    too. It runs even after a failure or Ctrl-C: a benchmark leaves no topics behind.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::sync::watch;

use super::admin::{self, Created};
use super::report::{self, Histogram, Json, LatencySummary, Progress};
use crate::io::client::KafkaClient;

/// Most topics one run creates.
const TOPICS_MAX: u64 = 100_000;
/// Most topics in one CreateTopics/DeleteTopics request (Kafka's controller caps one request
/// at 10,000 records, `MAX_RECORDS_PER_USER_OP`; a topic is 1 + partitions records).
const TOPICS_PER_REQUEST_MAX: usize = 1000;
/// Most connections creating topics at once.
const CONCURRENCY_MAX: usize = 64;
/// Most partitions per topic.
const PARTITIONS_MAX: i32 = 100;
/// Most samples of one latency phase.
const SAMPLES_MAX: u64 = 100_000;
/// Longest `--request-timeout-ms`.
const REQUEST_TIMEOUT_MS_MAX: u64 = 300_000;
/// The topic config the commit phase sets (any value is valid; every SET writes a record).
const COMMIT_CONFIG: &str = "retention.ms";
/// First `retention.ms` value written (7 days, Kafka's default); each sample adds one.
const COMMIT_CONFIG_BASE: u64 = 604_800_000;

/// Arguments of `kraftbridge perf metadata`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MetadataArgs {
    /// The broker to bootstrap from (HOST:PORT[,HOST:PORT...]).
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    pub(super) bootstrap_server: String,
    /// Topics to create (and delete afterwards), at most 100,000.
    #[arg(long, default_value_t = 10_000)]
    pub(super) topics: u64,
    /// Topics per CreateTopics/DeleteTopics request (1 to 1000).
    #[arg(long = "topics-per-request", default_value_t = 100)]
    pub(super) topics_per_request: usize,
    /// Connections sending CreateTopics requests at once (1 to 64).
    #[arg(long, default_value_t = 4)]
    pub(super) concurrency: usize,
    /// Partitions of each topic (1 to 100).
    #[arg(long, default_value_t = 1)]
    pub(super) partitions: i32,
    /// One-at-a-time commits (IncrementalAlterConfigs) and single-topic CreateTopics timed.
    #[arg(long = "commit-samples", default_value_t = 200)]
    pub(super) commit_samples: u64,
    /// Metadata requests timed, for all topics and for one topic each.
    #[arg(long = "metadata-samples", default_value_t = 20)]
    pub(super) metadata_samples: u64,
    /// Prefix of the topics' names (default: perf-metadata-<pid>-).
    #[arg(long = "topic-prefix")]
    pub(super) topic_prefix: Option<String>,
    /// Give up on a request after this many ms.
    #[arg(long = "request-timeout-ms", default_value_t = 30_000)]
    pub(super) request_timeout_ms: u64,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub(super) json: bool,
}

impl MetadataArgs {
    fn validate(&self) -> Result<()> {
        if !(1..=TOPICS_MAX).contains(&self.topics) {
            bail!("--topics {}: expected 1 to {TOPICS_MAX}", self.topics);
        }
        if !(1..=TOPICS_PER_REQUEST_MAX).contains(&self.topics_per_request) {
            bail!(
                "--topics-per-request {}: expected 1 to {TOPICS_PER_REQUEST_MAX}",
                self.topics_per_request
            );
        }
        if !(1..=CONCURRENCY_MAX).contains(&self.concurrency) {
            bail!(
                "--concurrency {}: expected 1 to {CONCURRENCY_MAX}",
                self.concurrency
            );
        }
        if !(1..=PARTITIONS_MAX).contains(&self.partitions) {
            bail!(
                "--partitions {}: expected 1 to {PARTITIONS_MAX}",
                self.partitions
            );
        }
        for (flag, n) in [
            ("--commit-samples", self.commit_samples),
            ("--metadata-samples", self.metadata_samples),
        ] {
            if n > SAMPLES_MAX {
                bail!("{flag} {n}: expected 0 to {SAMPLES_MAX}");
            }
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > REQUEST_TIMEOUT_MS_MAX {
            bail!(
                "--request-timeout-ms {}: expected 1 to {REQUEST_TIMEOUT_MS_MAX}",
                self.request_timeout_ms
            );
        }
        if let Some(p) = &self.topic_prefix {
            let valid = p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if p.is_empty() || p.len() > 200 || !valid {
                bail!(
                    "--topic-prefix '{p}': expected 1 to 200 characters of [a-zA-Z0-9._-] \
                     (Kafka's topic name rules)"
                );
            }
        }
        Ok(())
    }

    fn prefix(&self) -> String {
        self.topic_prefix
            .clone()
            .unwrap_or_else(|| format!("perf-metadata-{}-", std::process::id()))
    }
}

/// Timings of one request type, in microseconds.
#[derive(Debug, Default, Clone)]
pub(super) struct Timed {
    pub(super) histogram: Histogram,
    pub(super) count: u64,
}

impl Timed {
    fn record(&mut self, since: Instant) {
        self.histogram.record(since.elapsed().as_micros() as u64);
        self.count += 1;
    }

    pub(super) fn summary(&self) -> LatencySummary {
        self.histogram.summary_ms()
    }

    fn to_json(&self) -> String {
        let mut j = Json::new();
        j.u64("samples", self.count);
        j.raw("latency_ms", &self.summary().to_json());
        j.finish()
    }
}

/// What a run measured (each phase as far as it got).
#[derive(Debug, Default)]
pub(super) struct MetadataReport {
    pub(super) topics_requested: u64,
    pub(super) topics_per_request: usize,
    pub(super) concurrency: usize,
    pub(super) partitions: i32,
    /// Topics created by the creation phase, and how long it took.
    pub(super) created: u64,
    pub(super) create_requests: u64,
    pub(super) create_elapsed: Duration,
    /// Topics that already existed (not created by us, never deleted by us).
    pub(super) already_existed: u64,
    pub(super) metadata_all: Timed,
    /// Topics listed by the last all-topics Metadata response.
    pub(super) metadata_all_topics: usize,
    pub(super) metadata_one: Timed,
    pub(super) commit: Timed,
    pub(super) create_one: Timed,
    pub(super) deleted: u64,
    pub(super) delete_elapsed: Duration,
    pub(super) interrupted: bool,
    pub(super) error: Option<String>,
    pub(super) cleanup_error: Option<String>,
}

impl MetadataReport {
    pub(super) fn topics_per_sec(&self) -> f64 {
        report::per_sec(self.created as f64, self.create_elapsed)
    }

    fn delete_per_sec(&self) -> f64 {
        report::per_sec(self.deleted as f64, self.delete_elapsed)
    }

    pub(super) fn to_json(&self) -> String {
        let mut j = Json::new();
        j.str("tool", "metadata");
        j.u64("topics_requested", self.topics_requested);
        j.u64("topics_per_request", self.topics_per_request as u64);
        j.u64("concurrency", self.concurrency as u64);
        j.u64("partitions", self.partitions.max(0) as u64);
        let mut c = Json::new();
        c.u64("topics_created", self.created);
        c.u64("already_existed", self.already_existed);
        c.u64("requests", self.create_requests);
        c.f64("elapsed_s", self.create_elapsed.as_secs_f64());
        c.f64("topics_per_sec", self.topics_per_sec());
        j.raw("create", &c.finish());
        j.raw("metadata_all_topics", &self.metadata_all.to_json());
        j.u64(
            "metadata_all_topics_listed",
            self.metadata_all_topics as u64,
        );
        j.raw("metadata_one_topic", &self.metadata_one.to_json());
        j.raw("commit", &self.commit.to_json());
        j.raw("create_one_topic", &self.create_one.to_json());
        let mut d = Json::new();
        d.u64("topics_deleted", self.deleted);
        d.f64("elapsed_s", self.delete_elapsed.as_secs_f64());
        d.f64("topics_per_sec", self.delete_per_sec());
        j.raw("delete", &d.finish());
        j.bool("interrupted", self.interrupted);
        j.opt_str("error", self.error.as_deref());
        j.opt_str("cleanup_error", self.cleanup_error.as_deref());
        j.finish()
    }

    pub(super) fn table(&self) -> String {
        let mut rows = vec![format!(
            "topic creation: {} topics ({} partition(s) each) in {:.3} s, {:.1} topics/sec \
             ({} requests of up to {} topics over {} connection(s))",
            self.created,
            self.partitions,
            self.create_elapsed.as_secs_f64(),
            self.topics_per_sec(),
            self.create_requests,
            self.topics_per_request,
            self.concurrency
        )];
        let latency = |name: &str, t: &Timed| {
            let s = t.summary();
            format!(
                "{name}: {} requests, {:.2} ms avg, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms max",
                t.count, s.avg, s.p50, s.p99, s.max
            )
        };
        rows.push(latency(
            &format!("Metadata, all topics ({} listed)", self.metadata_all_topics),
            &self.metadata_all,
        ));
        rows.push(latency("Metadata, one topic", &self.metadata_one));
        rows.push(latency(
            "metadata commit (IncrementalAlterConfigs, one at a time, fsynced)",
            &self.commit,
        ));
        rows.push(latency(
            "single-topic CreateTopics (one at a time)",
            &self.create_one,
        ));
        rows.push(format!(
            "topic deletion: {} topics in {:.3} s, {:.1} topics/sec",
            self.deleted,
            self.delete_elapsed.as_secs_f64(),
            self.delete_per_sec()
        ));
        if self.already_existed > 0 {
            rows.push(format!(
                "note: {} topics already existed and were neither timed nor deleted",
                self.already_existed
            ));
        }
        rows.join("\n")
    }
}

/// `kraftbridge perf metadata`.
pub(super) async fn run(args: MetadataArgs) -> Result<()> {
    let stop = super::stop_on_ctrl_c();
    let report = measure(&args, stop).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.table());
    }
    if let Some(e) = &report.error {
        bail!("the run stopped early: {e}");
    }
    if report.interrupted {
        bail!(
            "interrupted after creating {} of {} topics",
            report.created,
            args.topics
        );
    }
    if let Some(e) = &report.cleanup_error {
        bail!("{e}");
    }
    Ok(())
}

/// Runs the four phases. `Err` only for bad flags and a broker that cannot be reached at the
/// start; anything later ends the phases early and is in the report's `error`.
pub(super) async fn measure(
    args: &MetadataArgs,
    stop: watch::Receiver<bool>,
) -> Result<MetadataReport> {
    args.validate()?;
    let servers = super::parse_bootstrap(&args.bootstrap_server)?;
    let limit = Duration::from_millis(args.request_timeout_ms);
    let client_id = "perf-metadata";
    let conn = super::connect_bootstrap(&servers, client_id, limit).await?;
    let prefix = args.prefix();
    let names: Vec<String> = (0..args.topics)
        .map(|i| format!("{prefix}{i:06}"))
        .collect();
    let mut report = MetadataReport {
        topics_requested: args.topics,
        topics_per_request: args.topics_per_request,
        concurrency: args.concurrency,
        partitions: args.partitions,
        ..Default::default()
    };
    // Every topic we created, for the deletion phase.
    let mut ours: Vec<String> = Vec::new();
    let phases = async {
        time_config_commits(&conn, args, &prefix, &mut report, &mut ours, &stop, limit).await?;
        create_all(args, &servers, &names, &mut report, &mut ours, &stop).await?;
        time_metadata(&conn, args, &names, &ours, &mut report, &stop, limit).await?;
        time_single_creates(&conn, args, &prefix, &mut report, &mut ours, &stop, limit).await
    }
    .await;
    if let Err(e) = phases {
        report.error = Some(format!("{e:#}"));
    }
    report.interrupted = *stop.borrow();
    delete_all(args, &servers, &ours, &mut report, limit).await;
    Ok(report)
}

/// Phase 1: `names` in requests of `topics_per_request` over `concurrency` connections.
async fn create_all(
    args: &MetadataArgs,
    servers: &[String],
    names: &[String],
    report: &mut MetadataReport,
    ours: &mut Vec<String>,
    stop: &watch::Receiver<bool>,
) -> Result<()> {
    let limit = Duration::from_millis(args.request_timeout_ms);
    let chunks: Arc<Vec<Vec<String>>> = Arc::new(
        names
            .chunks(args.topics_per_request)
            .map(<[String]>::to_vec)
            .collect(),
    );
    let mut conns = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency.min(chunks.len()) {
        conns.push(super::connect_bootstrap(servers, "perf-metadata", limit).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let existed = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress::default());
    let printer = super::spawn_progress(Arc::clone(&progress), |prev, now, window| {
        format!(
            "{} topics created, {:.1} topics/sec.",
            now.records,
            report::per_sec((now.records - prev.records) as f64, window)
        )
    });
    let start = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let (chunks, next, requests) = (chunks.clone(), next.clone(), requests.clone());
            let (created, existed, progress) = (created.clone(), existed.clone(), progress.clone());
            let (stop, partitions) = (stop.clone(), args.partitions);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else {
                        return Ok(());
                    };
                    if *stop.borrow() {
                        return Ok(());
                    }
                    let results = admin::create_topics(&conn, chunk, partitions, -1, limit).await?;
                    requests.fetch_add(1, Ordering::Relaxed);
                    let mut mine = created.lock().unwrap_or_else(|e| e.into_inner());
                    for (name, result) in chunk.iter().zip(results) {
                        match result {
                            Ok(Created::Now) => {
                                mine.push(name.clone());
                                progress.add(1, 0, 0, 0);
                            }
                            Ok(Created::AlreadyExisted) => {
                                existed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => bail!("creating topic '{name}': {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut first_error = None;
    for w in workers {
        let outcome = match w.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("a CreateTopics task failed: {e}")),
        };
        if let Err(e) = outcome {
            // Stop the other connections at their next request.
            next.store(chunks.len(), Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
    report.create_elapsed = start.elapsed();
    drop(printer);
    report.create_requests = requests.load(Ordering::Relaxed);
    report.already_existed = existed.load(Ordering::Relaxed);
    let mut mine = std::mem::take(&mut *created.lock().unwrap_or_else(|e| e.into_inner()));
    report.created = mine.len() as u64;
    ours.append(&mut mine);
    first_error.map_or(Ok(()), Err)
}

/// Phase 2: Metadata for every topic, then for one topic, `metadata_samples` times each.
async fn time_metadata(
    conn: &KafkaClient,
    args: &MetadataArgs,
    names: &[String],
    ours: &[String],
    report: &mut MetadataReport,
    stop: &watch::Receiver<bool>,
    limit: Duration,
) -> Result<()> {
    let one: Vec<String> = ours
        .first()
        .or(names.first())
        .cloned()
        .into_iter()
        .collect();
    for _ in 0..args.metadata_samples {
        if *stop.borrow() {
            return Ok(());
        }
        let at = Instant::now();
        report.metadata_all_topics = admin::metadata_topic_count(conn, None, limit).await?;
        report.metadata_all.record(at);
    }
    for _ in 0..args.metadata_samples {
        if *stop.borrow() {
            return Ok(());
        }
        let at = Instant::now();
        admin::metadata_topic_count(conn, Some(&one), limit).await?;
        report.metadata_one.record(at);
    }
    Ok(())
}

/// Commit latency: one-at-a-time IncrementalAlterConfigs on a topic of its own, before the
/// bulk creation, so that the figure is the commit itself and not the disk still writing back
/// thousands of new partitions.
async fn time_config_commits(
    conn: &KafkaClient,
    args: &MetadataArgs,
    prefix: &str,
    report: &mut MetadataReport,
    ours: &mut Vec<String>,
    stop: &watch::Receiver<bool>,
    limit: Duration,
) -> Result<()> {
    if args.commit_samples == 0 {
        return Ok(());
    }
    let topic = format!("{prefix}commit");
    if admin::create_topic(conn, &topic, 1, -1, limit).await? == Created::Now {
        ours.push(topic.clone());
    }
    for i in 0..args.commit_samples {
        if *stop.borrow() {
            return Ok(());
        }
        let value = (COMMIT_CONFIG_BASE + i).to_string();
        let at = Instant::now();
        admin::set_topic_config(conn, &topic, COMMIT_CONFIG, &value, limit).await?;
        report.commit.record(at);
    }
    Ok(())
}

/// Single-topic CreateTopics one at a time, with the bulk topics in place.
async fn time_single_creates(
    conn: &KafkaClient,
    args: &MetadataArgs,
    prefix: &str,
    report: &mut MetadataReport,
    ours: &mut Vec<String>,
    stop: &watch::Receiver<bool>,
    limit: Duration,
) -> Result<()> {
    for i in 0..args.commit_samples {
        if *stop.borrow() {
            return Ok(());
        }
        let name = format!("{prefix}single-{i:06}");
        let at = Instant::now();
        let created = admin::create_topic(conn, &name, args.partitions, -1, limit).await?;
        report.create_one.record(at);
        if created == Created::Now {
            ours.push(name);
        }
    }
    Ok(())
}

/// Phase 4: deletes `ours` in requests of `topics_per_request`. Failures go into the
/// report's `cleanup_error` (and on stderr), naming how many topics are left.
async fn delete_all(
    args: &MetadataArgs,
    servers: &[String],
    ours: &[String],
    report: &mut MetadataReport,
    limit: Duration,
) {
    if ours.is_empty() {
        return;
    }
    let start = Instant::now();
    let outcome = async {
        let conn = super::connect_bootstrap(servers, "perf-metadata", limit).await?;
        for chunk in ours.chunks(args.topics_per_request) {
            admin::delete_topics(&conn, chunk, limit).await?;
            report.deleted += chunk.len() as u64;
        }
        anyhow::Ok(())
    }
    .await;
    report.delete_elapsed = start.elapsed();
    if let Err(e) = outcome {
        let message = format!(
            "could not delete {} of the {} topics this run created (names start with '{}'): \
             {e:#}",
            ours.len() as u64 - report.deleted,
            ours.len(),
            args.prefix()
        );
        eprintln!("warning: {message}");
        report.cleanup_error = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> MetadataArgs {
        MetadataArgs {
            bootstrap_server: "127.0.0.1:9092".into(),
            topics: 10,
            topics_per_request: 5,
            concurrency: 2,
            partitions: 1,
            commit_samples: 3,
            metadata_samples: 2,
            topic_prefix: None,
            request_timeout_ms: 1000,
            json: false,
        }
    }

    #[test]
    fn flags_are_bounded() {
        assert!(args().validate().is_ok());
        let bad = [
            MetadataArgs {
                topics: 0,
                ..args()
            },
            MetadataArgs {
                topics_per_request: TOPICS_PER_REQUEST_MAX + 1,
                ..args()
            },
            MetadataArgs {
                concurrency: 0,
                ..args()
            },
            MetadataArgs {
                partitions: PARTITIONS_MAX + 1,
                ..args()
            },
            MetadataArgs {
                topic_prefix: Some("no spaces".into()),
                ..args()
            },
        ];
        for a in bad {
            assert!(a.validate().is_err(), "{a:?}");
        }
    }

    #[test]
    fn report_prints_every_phase() {
        let mut r = MetadataReport {
            created: 4,
            create_elapsed: Duration::from_secs(2),
            ..Default::default()
        };
        r.commit.histogram.record(1500);
        r.commit.count = 1;
        assert!((r.topics_per_sec() - 2.0).abs() < 1e-9);
        let table = r.table();
        assert!(table.contains("4 topics"), "{table}");
        assert!(table.contains("1.50 ms 50th"), "{table}");
        let json = r.to_json();
        assert!(json.contains("\"topics_per_sec\":2"), "{json}");
        assert!(json.contains("\"interrupted\":false"), "{json}");
    }
}
