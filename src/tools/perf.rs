//! `kraftbridge perf produce | consume | ceiling | metadata | suite`: Kafka's
//! `kafka-producer-perf-test` and `kafka-consumer-perf-test` as real Kafka clients over TCP,
//! the metadata path's figures, the machine's ceilings (loopback TCP, disk) that every figure
//! is compared with, and a suite that runs them all against issue 14's targets.
//!
//! The clients speak the wire protocol through our own codec (`protocol::header`,
//! `protocol::messages`, `protocol::records`), negotiate versions from the broker's
//! ApiVersions, and measure what a Kafka client would see: records/s, MB/s, send-to-ack
//! latency per record (produce) and record-timestamp-to-receipt latency (consume). Every run
//! is capped (records, bytes, seconds), and every wait has a deadline. See
//! `docs/performance.md` for the method and the figures.
//!
//! Connections are `io::client::KafkaClient`s, the client every part of kraftbridge uses.
//!
//! Layout: [`admin`] (Metadata,
//! CreateTopics, ListOffsets, DeleteTopics), [`produce`], [`consume`], [`ceiling`],
//! [`metadata`] (topic creation, commit latency, Metadata with many topics), [`disk`] (disk
//! write and fsync ceilings), [`suite`] (everything against the targets), and [`report`]
//! (histogram, Kafka's summary lines, JSON).

mod admin;
mod ceiling;
mod consume;
mod disk;
mod group;
mod metadata;
mod produce;
mod report;
mod suite;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use protocol::ErrorCode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::report::{Progress, ProgressSnapshot};
use crate::io::client::{ClientConfig, KafkaClient};

/// Arguments of `kraftbridge perf`.
#[derive(Debug, clap::Args)]
pub(crate) struct PerfArgs {
    #[command(subcommand)]
    command: PerfCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PerfCommand {
    /// Produce records and report throughput and send-to-ack latency, as Kafka's
    /// kafka-producer-perf-test.sh.
    Produce(produce::ProduceArgs),
    /// Read records back from the start of a topic and report throughput, as Kafka's
    /// kafka-consumer-perf-test.sh.
    Consume(consume::ConsumeArgs),
    /// Measure how many bytes per second one loopback TCP connection carries here.
    Ceiling(ceiling::CeilingArgs),
    /// Group coordinator figures: offset commits, a many-member join, offsets load time.
    Group(group::GroupArgs),
    /// Time topic creation, metadata commits and Metadata responses with many topics.
    Metadata(metadata::MetadataArgs),
    /// Measure the machine's ceilings, then run issue 14's workloads and compare each result
    /// with its ceiling and target.
    Suite(suite::SuiteArgs),
}

/// Runs `kraftbridge perf …`. Errors (bad flags, unreachable broker, failed records, Ctrl-C)
/// come back as `Err` after whatever figures were measured have been printed.
pub(crate) fn run(args: PerfArgs) -> Result<()> {
    match args.command {
        PerfCommand::Ceiling(args) => ceiling::run(args),
        PerfCommand::Produce(args) => {
            let threads = args.connections().saturating_add(1);
            runtime(threads)?.block_on(produce::run(args))
        }
        PerfCommand::Consume(args) => runtime(2)?.block_on(consume::run(args)),
        PerfCommand::Group(args) => group::run(args),
        PerfCommand::Metadata(args) => runtime(2)?.block_on(metadata::run(args)),
        PerfCommand::Suite(args) => runtime(2)?.block_on(suite::run(args)),
    }
}

/// A multi-threaded runtime with at most `threads` workers (never more than the cores): the
/// broker under test usually shares the machine.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.clamp(1, cores))
        .thread_name("perf")
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Largest properties file read (`--producer.config`, `--consumer.config`).
const PROPERTIES_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Parses one `key=value` (as in `--producer-props acks=1`).
fn parse_property(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => bail!("'{text}' is not a property: expected KEY=VALUE, e.g. acks=1"),
    }
}

/// Reads a Java properties file: `key=value` or `key: value` lines, `#` and `!` comments.
/// Escapes and continuation lines are not supported (client configs rarely use them).
fn read_properties(path: &Path) -> Result<Vec<(String, String)>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > PROPERTIES_FILE_BYTES_MAX {
        bail!(
            "{}: {} bytes, more than the {PROPERTIES_FILE_BYTES_MAX} accepted",
            path.display(),
            meta.len()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut props = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).filter(|&i| i > 0);
        let Some(i) = split else {
            bail!("{}:{}: '{line}' is not KEY=VALUE", path.display(), n + 1);
        };
        props.push((
            line[..i].trim().to_string(),
            line[i + 1..].trim().to_string(),
        ));
    }
    Ok(props)
}

/// Splits `bootstrap.servers` (`host:port,host:port`).
fn parse_bootstrap(value: &str) -> Result<Vec<String>> {
    let servers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if servers.is_empty() {
        bail!("bootstrap.servers='{value}': expected host:port[,host:port...]");
    }
    for s in &servers {
        if !s.contains(':') {
            bail!("bootstrap server '{s}' has no port: expected host:port, e.g. 127.0.0.1:9092");
        }
    }
    Ok(servers)
}

/// How long a TCP connect may take. Kafka's `socket.connection.setup.timeout.ms` is 10 s; a
/// benchmark against an absent broker should fail faster than that.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response frame accepted: twice the largest fetch we ask for plus room for the
/// response's own fields. A bigger size prefix means a confused or hostile peer.
const RESPONSE_FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Requests one perf connection may have in flight: the producer's
/// `max.in.flight.requests.per.connection` is at most 100; the other tools send one or two.
const IN_FLIGHT_MAX: usize = 128;

/// The client software name sent in ApiVersions (KIP-511).
const CLIENT_SOFTWARE_NAME: &str = "kraftbridge-perf";

/// Connects to `addr` (host:port) and negotiates versions; `request_timeout` is each
/// request's default timeout.
async fn connect(addr: &str, client_id: &str, request_timeout: Duration) -> Result<KafkaClient> {
    let mut config = ClientConfig::new(client_id, CLIENT_SOFTWARE_NAME);
    config.connect_timeout = CONNECT_TIMEOUT;
    config.request_timeout = request_timeout;
    config.response_bytes_max = RESPONSE_FRAME_BYTES_MAX;
    config.in_flight_max = IN_FLIGHT_MAX;
    Ok(KafkaClient::connect(addr, &config).await?)
}

/// `ERROR_NAME (code): message` for a Kafka error code with its optional message.
fn describe_error(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {m}", ErrorCode(code)),
        _ => ErrorCode(code).to_string(),
    }
}

/// `host:port`, bracketing IPv6 literals.
fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Deletes `topic` at the end of a run (a benchmark leaves no topics behind). A failure is
/// printed as a warning and returned, so the run's report can say the topic is still there.
async fn delete_topic_after_run(
    servers: &[String],
    client_id: &str,
    topic: &str,
    request_timeout: Duration,
) -> Option<String> {
    let deleted = async {
        let conn = connect_bootstrap(servers, client_id, request_timeout).await?;
        admin::delete_topic(&conn, topic, request_timeout).await
    }
    .await;
    let message = format!("could not delete topic '{topic}': {:#}", deleted.err()?);
    eprintln!("warning: {message}");
    Some(message)
}

/// Connects to the first bootstrap server that answers ApiVersions.
async fn connect_bootstrap(
    servers: &[String],
    client_id: &str,
    request_timeout: Duration,
) -> Result<KafkaClient> {
    let mut failures = Vec::new();
    for server in servers {
        match connect(server, client_id, request_timeout).await {
            Ok(conn) => return Ok(conn),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    bail!(
        "no bootstrap server answered ({}). Is the broker running? (`kraftbridge quickstart` \
         listens on 127.0.0.1:9092)",
        failures.join("; ")
    )
}

/// A `watch` that turns true on the first Ctrl-C; a second Ctrl-C exits at once (130).
fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping (press Ctrl-C again to exit at once)");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    rx
}

/// Aborts a task when dropped, so no helper task outlives the run that started it.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Prints `line(previous, now, window)` on stderr once a second from one second in, so runs
/// shorter than a second print nothing.
fn spawn_progress<F>(progress: Arc<Progress>, line: F) -> AbortOnDrop
where
    F: Fn(&ProgressSnapshot, &ProgressSnapshot, Duration) -> String + Send + 'static,
{
    const EVERY: Duration = Duration::from_secs(1);
    AbortOnDrop(tokio::spawn(async move {
        let mut previous = progress.take();
        let mut at = Instant::now();
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
        loop {
            ticker.tick().await;
            let now = progress.take();
            let window = at.elapsed();
            at = Instant::now();
            eprintln!("{}", line(&previous, &now, window));
            previous = now;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse() {
        assert_eq!(
            parse_property("acks=all").unwrap(),
            ("acks".into(), "all".into())
        );
        assert_eq!(
            parse_property("bootstrap.servers=a:1,b:2").unwrap().1,
            "a:1,b:2".to_string()
        );
        assert!(parse_property("acks").is_err());
        assert!(parse_property("=1").is_err());
    }

    #[test]
    fn properties_file() {
        let dir = std::env::temp_dir().join(format!("perf-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.properties");
        std::fs::write(&path, "# c\n! c\n\nacks = 1\nlinger.ms: 7\nclient.id=x=y\n").unwrap();
        let props = read_properties(&path).unwrap();
        assert_eq!(
            props,
            vec![
                ("acks".into(), "1".into()),
                ("linger.ms".into(), "7".into()),
                ("client.id".into(), "x=y".into())
            ]
        );
        std::fs::write(&path, "novalue\n").unwrap();
        assert!(read_properties(&path)
            .unwrap_err()
            .to_string()
            .contains(":1:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("127.0.0.1", 9092), "127.0.0.1:9092");
        assert_eq!(host_port("::1", 9092), "[::1]:9092");
    }

    #[test]
    fn bootstrap_lists() {
        assert_eq!(parse_bootstrap(" a:1 , b:2,").unwrap(), vec!["a:1", "b:2"]);
        assert!(parse_bootstrap("").is_err());
        assert!(parse_bootstrap("localhost")
            .unwrap_err()
            .to_string()
            .contains("no port"));
    }
}
