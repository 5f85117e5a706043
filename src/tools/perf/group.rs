//! `kraftbridge perf group commit | join | load`: the group coordinator's figures (issue 13).
//!
//! * `commit`: OffsetCommit throughput of one client (commits/s, N partitions per commit,
//!   one request in flight as a consumer's `commitSync`), over the wire.
//! * `join`: N members of one new group, each on its own connection as real consumers are,
//!   driven from this process: KIP-394's first join (MEMBER_ID_REQUIRED), the second join,
//!   SyncGroup, then heartbeats (rejoining on REBALANCE_IN_PROGRESS, as a consumer does).
//!   Reports how many rebalance rounds (generations) it took until every member completed the
//!   same one, and the time to Stable, which includes the broker's
//!   `group.initial.rebalance.delay.ms` (3000 by default, as in Kafka): the delay is what
//!   lets N members that join together land in one round.
//! * `load`: in-process, no broker: writes a `__consumer_offsets` partition of N commits with
//!   the storage crate, then times reopening it and replaying it into a fresh coordinator
//!   core with the broker's own loader (`broker::group::load`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use protocol::messages::join_group_request::JoinGroupRequestProtocol;
use protocol::messages::leave_group_request::MemberIdentity;
use protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, SyncGroupRequest, SyncGroupResponse,
};
use protocol::ErrorCode;

use super::report::{per_sec, Histogram, Json};
use super::{admin, connect_bootstrap, delete_topic_after_run, parse_bootstrap};
use super::{describe_error, host_port};
use crate::broker::group::coordinator::{CommittedOffset, CoordinatorConfig, GroupCoordinator};
use crate::broker::group::load::PartitionLoader;
use crate::broker::group::offsets::{self, OffsetsRecord};
use crate::io::client::KafkaClient;

/// Largest `--members`: each is a connection and a task.
const MEMBERS_MAX: usize = 2000;
/// Largest `--commits` of the load benchmark.
const LOAD_COMMITS_MAX: u64 = 100_000_000;
/// Bytes read per step when loading, as the broker does.
const LOAD_READ_BYTES: u64 = 1 << 20;

/// Arguments of `kraftbridge perf group`.
#[derive(Debug, clap::Args)]
pub(crate) struct GroupArgs {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// OffsetCommit throughput from one client.
    Commit(CommitArgs),
    /// N members joining one new group: one rebalance round, time to Stable.
    Join(JoinArgs),
    /// Time to load a `__consumer_offsets` partition of N commits (in-process, no broker).
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct Wire {
    /// host:port[,host:port...] of the broker.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// Deadline of each request.
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Print one JSON object instead of the summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CommitArgs {
    #[command(flatten)]
    wire: Wire,
    /// OffsetCommit requests to send.
    #[arg(long, default_value_t = 10_000)]
    commits: u64,
    /// Partitions per commit (the topic is created with this many).
    #[arg(long, default_value_t = 10)]
    partitions: i32,
}

#[derive(Debug, clap::Args)]
struct JoinArgs {
    #[command(flatten)]
    wire: Wire,
    /// Members of the group, one connection each.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// session.timeout.ms of every member.
    #[arg(long, default_value_t = 45_000)]
    session_timeout_ms: i32,
    /// max.poll.interval.ms (the rebalance timeout) of every member.
    #[arg(long, default_value_t = 300_000)]
    rebalance_timeout_ms: i32,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Offset commit records in the partition.
    #[arg(long, default_value_t = 1_000_000)]
    commits: u64,
    /// Distinct (group, topic, partition) keys the commits cycle through.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Records per batch (1: each commit of one partition is its own batch, the worst case).
    #[arg(long, default_value_t = 1)]
    records_per_batch: u64,
    /// Directory for the partition (default: a new one under the system temp dir, removed
    /// afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object instead of the summary line.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: GroupArgs) -> Result<()> {
    match args.mode {
        Mode::Commit(a) => super::runtime(2)?.block_on(commit(a)),
        Mode::Join(a) => super::runtime(2)?.block_on(join(a)),
        Mode::Load(a) => load(a),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// FindCoordinator for `group`, then a connection to the coordinator.
async fn coordinator_for(wire: &Wire, group: &str, client_id: &str) -> Result<KafkaClient> {
    let limit = Duration::from_millis(wire.request_timeout_ms);
    let servers = parse_bootstrap(&wire.bootstrap_server)?;
    let deadline = Instant::now() + limit;
    loop {
        let conn = connect_bootstrap(&servers, client_id, limit).await?;
        let version = conn.version(ApiKey::FindCoordinator, 0..=4)?;
        let req = if version >= 4 {
            FindCoordinatorRequest {
                coordinator_keys: vec![group.to_string()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: group.to_string(),
                ..Default::default()
            }
        };
        // Connected with `limit` as the request timeout.
        let r: FindCoordinatorResponse = conn.send(ApiKey::FindCoordinator, version, &req).await?;
        let (code, host, port) = match r.coordinators.first() {
            Some(c) if version >= 4 => (c.error_code, c.host.clone(), c.port),
            _ => (r.error_code, r.host, r.port),
        };
        match ErrorCode(code) {
            ErrorCode::NONE => {
                let addr = host_port(&host, port);
                return if servers.contains(&addr) {
                    Ok(conn)
                } else {
                    super::connect(&addr, client_id, limit).await
                };
            }
            // The broker creates and loads `__consumer_offsets` on first use.
            ErrorCode::COORDINATOR_NOT_AVAILABLE | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => bail!(
                "FindCoordinator for '{group}': {}",
                describe_error(code, None)
            ),
        }
    }
}

async fn delete_group(conn: &KafkaClient, group: &str, limit: Duration) -> Result<()> {
    let version = conn.version(ApiKey::DeleteGroups, 0..=2)?;
    let req = DeleteGroupsRequest {
        groups_names: vec![group.to_string()],
    };
    let r: DeleteGroupsResponse = conn
        .send_within(ApiKey::DeleteGroups, version, &req, limit)
        .await?;
    match r.results.first().map(|g| g.error_code) {
        Some(0) => Ok(()),
        Some(code) => bail!("deleting group '{group}': {}", describe_error(code, None)),
        None => bail!("DeleteGroups does not mention '{group}'"),
    }
}

fn print(json: bool, j: Json, line: String) {
    if json {
        println!("{}", j.finish());
    } else {
        println!("{line}");
    }
}

// ---------------------------------------------------------------------------------------
// commit
// ---------------------------------------------------------------------------------------

async fn commit(args: CommitArgs) -> Result<()> {
    if args.commits == 0 || args.partitions < 1 {
        bail!("--commits and --partitions must be at least 1");
    }
    let limit = Duration::from_millis(args.wire.request_timeout_ms);
    let servers = parse_bootstrap(&args.wire.bootstrap_server)?;
    let client_id = "perf-group-commit";
    let topic = unique("perf-group-commit");
    let group = unique("perf-group");
    {
        let conn = connect_bootstrap(&servers, client_id, limit).await?;
        admin::create_topic(&conn, &topic, args.partitions, -1, limit).await?;
        admin::wait_for_leaders(&conn, &topic, Some(args.partitions as usize), limit).await?;
    }
    let result = commit_loop(&args, &topic, &group, client_id, limit).await;
    let topic_error = delete_topic_after_run(&servers, client_id, &topic, limit).await;
    let (elapsed, latency) = result?;
    let rate = per_sec(args.commits as f64, elapsed);
    let mut j = Json::new();
    j.str("tool", "group-commit");
    j.u64("commits", args.commits);
    j.i64("partitions_per_commit", i64::from(args.partitions));
    j.f64("elapsed_s", elapsed.as_secs_f64());
    j.f64("commits_per_sec", rate);
    j.f64(
        "partition_offsets_per_sec",
        rate * f64::from(args.partitions),
    );
    j.raw("latency_ms", &latency.summary_ms().to_json());
    j.bool("topic_deleted", topic_error.is_none());
    let lat = latency.summary_ms();
    let line = format!(
        "{} commits of {} partitions in {:.2} s: {rate:.1} commits/s ({:.1} offsets/s), \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.commits,
        args.partitions,
        elapsed.as_secs_f64(),
        rate * f64::from(args.partitions),
        lat.p50,
        lat.p99,
        lat.max
    );
    print(args.wire.json, j, line);
    Ok(())
}

async fn commit_loop(
    args: &CommitArgs,
    topic: &str,
    group: &str,
    client_id: &str,
    limit: Duration,
) -> Result<(Duration, Histogram)> {
    let conn = coordinator_for(&args.wire, group, client_id).await?;
    let version = conn.version(ApiKey::OffsetCommit, 2..=9)?;
    let mut latency = Histogram::default();
    let started = Instant::now();
    for n in 0..args.commits {
        // A "simple" commit (generation −1, no member): the group stays Empty, as a consumer
        // with manual assignment commits.
        let req = OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: -1,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: topic.to_string(),
                partitions: (0..args.partitions)
                    .map(|p| OffsetCommitRequestPartition {
                        partition_index: p,
                        committed_offset: n as i64,
                        committed_leader_epoch: -1,
                        committed_metadata: Some(String::new()),
                        ..Default::default()
                    })
                    .collect(),
            }],
            ..Default::default()
        };
        let sent = Instant::now();
        let r: OffsetCommitResponse = conn
            .send_within(ApiKey::OffsetCommit, version, &req, limit)
            .await?;
        latency.record(sent.elapsed().as_micros() as u64);
        for p in r.topics.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                bail!(
                    "commit {n}, partition {}: {}",
                    p.partition_index,
                    describe_error(p.error_code, None)
                );
            }
        }
    }
    let elapsed = started.elapsed();
    delete_group(&conn, group, limit).await?;
    Ok((elapsed, latency))
}

// ---------------------------------------------------------------------------------------
// join
// ---------------------------------------------------------------------------------------

/// ConsumerProtocolSubscription v0: the topic list and no user data.
fn subscription(topic: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(-1);
    b.freeze()
}

/// How often a member that completed a round heartbeats (to learn of the next rebalance).
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// What the members share: per member, the generation it completed (SyncGroup answered) and
/// when, or `None` while it is in a rebalance; and every generation a JoinGroup answered.
#[derive(Debug, Default)]
struct Rounds {
    synced: Vec<Option<(i32, Instant)>>,
    generations: BTreeSet<i32>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Rounds>>;

fn rounds(shared: &Shared) -> std::sync::MutexGuard<'_, Rounds> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one member saw.
#[derive(Debug)]
struct Joined {
    member_id: String,
    /// The first join came back MEMBER_ID_REQUIRED (KIP-394).
    member_id_required: bool,
    /// When its last JoinGroup was sent.
    join_sent: Instant,
    /// When its last JoinGroup was answered.
    joined: Instant,
}

async fn join(args: JoinArgs) -> Result<()> {
    if args.members == 0 || args.members > MEMBERS_MAX {
        bail!("--members must be 1..={MEMBERS_MAX}");
    }
    let limit = Duration::from_millis(args.wire.request_timeout_ms).max(Duration::from_millis(
        args.rebalance_timeout_ms.max(0) as u64,
    ));
    let group = unique("perf-group-join");
    let topic = "perf-group-join-topic";
    // Connect everyone first: the figure is the rebalance, not the connection set-up.
    let mut conns = Vec::with_capacity(args.members);
    for i in 0..args.members {
        conns.push(coordinator_for(&args.wire, &group, &format!("perf-member-{i}")).await?);
    }
    let shared: Shared = Default::default();
    rounds(&shared).synced = vec![None; args.members];
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.members);
    for (i, conn) in conns.into_iter().enumerate() {
        let m = Member {
            index: i,
            group: group.clone(),
            subscription: subscription(topic),
            session_timeout_ms: args.session_timeout_ms,
            rebalance_timeout_ms: args.rebalance_timeout_ms,
            limit,
            shared: shared.clone(),
            done: done_rx.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let r = m.run(&conn).await;
            (conn, r)
        }));
    }
    // Stable: every member completed the same generation.
    let deadline = Instant::now() + limit;
    let stable = loop {
        {
            let r = rounds(&shared);
            let gens: BTreeSet<i32> = r.synced.iter().flatten().map(|(g, _)| *g).collect();
            if gens.len() == 1 && r.synced.iter().all(Option::is_some) {
                break r.synced.iter().flatten().map(|(_, t)| *t).max();
            }
        }
        if Instant::now() >= deadline || tasks.iter().any(|t| t.is_finished()) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let _ = done_tx.send(true);
    let mut conns = Vec::with_capacity(args.members);
    let mut joined = Vec::with_capacity(args.members);
    for t in tasks {
        let (conn, r) = t.await.context("member task")?;
        conns.push(conn);
        joined.push(r?);
    }
    let Some(stable) = stable else {
        bail!(
            "the group did not become stable within {} s",
            limit.as_secs()
        );
    };
    let generations = rounds(&shared).generations.clone();
    let required = joined.iter().filter(|j| j.member_id_required).count();
    let last_join_sent = joined.iter().map(|j| j.join_sent).max().unwrap_or(started);
    let last_joined = joined.iter().map(|j| j.joined).max().unwrap_or(started);
    // Leave in one batched LeaveGroup, then delete the group.
    let admin_conn = conns.swap_remove(0);
    leave_all(&admin_conn, &group, &joined, limit).await?;
    delete_group(&admin_conn, &group, limit).await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let one_round = generations.len() == 1;
    let mut j = Json::new();
    j.str("tool", "group-join");
    j.u64("members", args.members as u64);
    j.u64("member_id_required", required as u64);
    j.raw(
        "generations",
        &super::report::json_array(generations.iter().map(|g| g.to_string())),
    );
    j.bool("one_rebalance_round", one_round);
    j.f64("time_to_stable_ms", ms(stable - started));
    j.f64(
        "last_join_to_join_response_ms",
        ms(last_joined - last_join_sent),
    );
    j.f64("join_response_to_stable_ms", ms(stable - last_joined));
    let line = format!(
        "{} members, {} MEMBER_ID_REQUIRED, {} rebalance round(s) (generations {generations:?}): \
         stable after {:.1} ms ({:.1} ms from the last JoinGroup sent to its answer, {:.1} ms \
         from there to every SyncGroup answer)",
        args.members,
        required,
        generations.len(),
        ms(stable - started),
        ms(last_joined - last_join_sent),
        ms(stable - last_joined)
    );
    print(args.wire.json, j, line);
    Ok(())
}

/// One member, as a consumer's coordinator client: JoinGroup (twice per KIP-394), SyncGroup
/// (the leader assigns nothing meaningful: the figure is the protocol's, not an assignor's),
/// then heartbeats; REBALANCE_IN_PROGRESS sends it back to JoinGroup. Runs until `done`.
#[derive(Debug)]
struct Member {
    index: usize,
    group: String,
    subscription: Bytes,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    limit: Duration,
    shared: Shared,
    done: tokio::sync::watch::Receiver<bool>,
}

impl Member {
    async fn run(mut self, conn: &KafkaClient) -> Result<Joined> {
        let jv = conn.version(ApiKey::JoinGroup, 0..=9)?;
        let sv = conn.version(ApiKey::SyncGroup, 0..=5)?;
        let hv = conn.version(ApiKey::Heartbeat, 0..=4)?;
        let mut req = JoinGroupRequest {
            group_id: self.group.clone(),
            session_timeout_ms: self.session_timeout_ms,
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            protocol_type: "consumer".to_string(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".to_string(),
                metadata: self.subscription.clone(),
            }],
            ..Default::default()
        };
        let mut member_id_required = false;
        loop {
            let join_sent = Instant::now();
            let resp: JoinGroupResponse = conn
                .send_within(ApiKey::JoinGroup, jv, &req, self.limit)
                .await?;
            match ErrorCode(resp.error_code) {
                ErrorCode::MEMBER_ID_REQUIRED if !member_id_required => {
                    member_id_required = true;
                    req.member_id = resp.member_id;
                    continue;
                }
                ErrorCode::NONE => {}
                _ => bail!("JoinGroup: {}", describe_error(resp.error_code, None)),
            }
            let joined = Instant::now();
            rounds(&self.shared).generations.insert(resp.generation_id);
            req.member_id = resp.member_id.clone();
            let sync = SyncGroupRequest {
                group_id: self.group.clone(),
                generation_id: resp.generation_id,
                member_id: resp.member_id.clone(),
                protocol_type: Some("consumer".to_string()),
                protocol_name: resp.protocol_name.clone(),
                assignments: resp
                    .members
                    .iter()
                    .map(|m| SyncGroupRequestAssignment {
                        member_id: m.member_id.clone(),
                        assignment: Bytes::new(),
                    })
                    .collect(),
                ..Default::default()
            };
            let s: SyncGroupResponse = conn
                .send_within(ApiKey::SyncGroup, sv, &sync, self.limit)
                .await?;
            match ErrorCode(s.error_code) {
                ErrorCode::NONE => {}
                ErrorCode::REBALANCE_IN_PROGRESS => continue,
                _ => bail!("SyncGroup: {}", describe_error(s.error_code, None)),
            }
            rounds(&self.shared).synced[self.index] = Some((resp.generation_id, Instant::now()));
            let hb = HeartbeatRequest {
                group_id: self.group.clone(),
                generation_id: resp.generation_id,
                member_id: resp.member_id.clone(),
                ..Default::default()
            };
            loop {
                tokio::select! {
                    _ = self.done.wait_for(|d| *d) => {
                        return Ok(Joined {
                            member_id: resp.member_id,
                            member_id_required,
                            join_sent,
                            joined,
                        });
                    }
                    _ = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
                }
                let h: HeartbeatResponse = conn
                    .send_within(ApiKey::Heartbeat, hv, &hb, self.limit)
                    .await?;
                match ErrorCode(h.error_code) {
                    ErrorCode::NONE => {}
                    ErrorCode::REBALANCE_IN_PROGRESS => break,
                    _ => bail!("Heartbeat: {}", describe_error(h.error_code, None)),
                }
            }
            rounds(&self.shared).synced[self.index] = None;
        }
    }
}

async fn leave_all(
    conn: &KafkaClient,
    group: &str,
    members: &[Joined],
    limit: Duration,
) -> Result<()> {
    let version = conn.version(ApiKey::LeaveGroup, 3..=5)?;
    let req = LeaveGroupRequest {
        group_id: group.to_string(),
        members: members
            .iter()
            .map(|m| MemberIdentity {
                member_id: m.member_id.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let r: LeaveGroupResponse = conn
        .send_within(ApiKey::LeaveGroup, version, &req, limit)
        .await?;
    if r.error_code != 0 {
        bail!("LeaveGroup: {}", describe_error(r.error_code, None));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// load
// ---------------------------------------------------------------------------------------

fn load(args: LoadArgs) -> Result<()> {
    if args.commits == 0 || args.commits > LOAD_COMMITS_MAX {
        bail!("--commits must be 1..={LOAD_COMMITS_MAX}");
    }
    if args.keys == 0 || args.records_per_batch == 0 {
        bail!("--keys and --records-per-batch must be at least 1");
    }
    let (root, remove) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(unique("kraftbridge-load-bench")),
            true,
        ),
    };
    let dir = root.join(format!("{}-0", offsets::OFFSETS_TOPIC));
    if dir.exists() {
        bail!(
            "{} already exists: give --dir an empty directory",
            dir.display()
        );
    }
    let result = load_in(&args, &dir);
    if remove {
        let _ = std::fs::remove_dir_all(&root);
    }
    let r = result?;
    let records_per_sec = per_sec(r.records as f64, r.open + r.replay);
    let mut j = Json::new();
    j.str("tool", "group-load");
    j.u64("commits", args.commits);
    j.u64("keys", args.keys);
    j.u64("records_per_batch", args.records_per_batch);
    j.u64("log_bytes", r.bytes);
    j.f64("write_s", r.write.as_secs_f64());
    j.f64("open_ms", r.open.as_secs_f64() * 1000.0);
    j.f64("replay_ms", r.replay.as_secs_f64() * 1000.0);
    j.f64("load_ms", (r.open + r.replay).as_secs_f64() * 1000.0);
    j.f64("records_per_sec", records_per_sec);
    j.u64("records_replayed", r.records);
    j.u64("groups_loaded", r.groups);
    j.u64("offsets_loaded", r.offsets);
    let line = format!(
        "loaded {} commits ({:.1} MB, {} keys) in {:.0} ms (open {:.0} ms, replay {:.0} ms): \
         {records_per_sec:.0} records/s; {} groups, {} offsets in memory",
        r.records,
        r.bytes as f64 / 1e6,
        args.keys,
        (r.open + r.replay).as_secs_f64() * 1000.0,
        r.open.as_secs_f64() * 1000.0,
        r.replay.as_secs_f64() * 1000.0,
        r.groups,
        r.offsets
    );
    print(args.json, j, line);
    Ok(())
}

#[derive(Debug)]
struct LoadFigures {
    bytes: u64,
    write: Duration,
    open: Duration,
    replay: Duration,
    records: u64,
    groups: u64,
    offsets: u64,
}

/// Groups the benchmark's keys spread over (each with `keys / GROUPS` partitions).
const GROUPS: u64 = 100;

fn load_in(args: &LoadArgs, dir: &std::path::Path) -> Result<LoadFigures> {
    let now = crate::broker::replica_manager::now_ms();
    let config = storage::LogConfig {
        segment_bytes: 100 * 1024 * 1024,
        ..Default::default()
    };
    let started = Instant::now();
    let mut log = storage::PartitionLog::create(dir, None, config.clone(), now)
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0u64;
    while written < args.commits {
        let n = args.records_per_batch.min(args.commits - written);
        let records: Vec<_> = (written..written + n)
            .map(|i| {
                let key = i % args.keys;
                offsets::encode_record(&OffsetsRecord::Offset {
                    group: format!("group-{}", key % GROUPS),
                    topic: "topic".to_string(),
                    partition: (key / GROUPS) as i32,
                    value: Some(CommittedOffset {
                        offset: i as i64,
                        leader_epoch: 0,
                        metadata: String::new(),
                        commit_timestamp: now,
                        expire_timestamp: None,
                    }),
                })
            })
            .collect();
        let batch = offsets::build_batch(&records, now).context("building a batch")?;
        let mut bytes = batch.to_vec();
        log.append_as_leader(&mut bytes, 0, now)
            .with_context(|| format!("appending to {}", dir.display()))?;
        written += n;
    }
    let bytes = log.size_in_bytes();
    let written_end = log.log_end_offset();
    log.close().context("closing the log")?;
    let write = started.elapsed();

    // What the broker does at start-up after a clean shutdown: open the log, then replay it.
    let t0 = Instant::now();
    let options = storage::LoadOptions {
        recovery_point: written_end,
        log_start_offset: 0,
        shutdown: storage::Shutdown::Clean,
    };
    let log = storage::PartitionLog::open(dir, config, options, now)
        .with_context(|| format!("opening {}", dir.display()))?;
    let open = t0.elapsed();
    let t1 = Instant::now();
    let mut core = GroupCoordinator::new(CoordinatorConfig::default(), 1);
    let mut loader = PartitionLoader::new(format!("{}-0", offsets::OFFSETS_TOPIC));
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let bytes = log
            .read(
                offset,
                LOAD_READ_BYTES,
                end,
                storage::FirstBatch::AlwaysWhole,
            )
            .with_context(|| format!("reading {} at {offset}", dir.display()))?;
        let next = loader.replay(&mut core, now, &bytes, offset)?;
        if next <= offset {
            bail!("no progress loading {} at offset {offset}", dir.display());
        }
        offset = next;
    }
    core.finish_load(now);
    let replay = t1.elapsed();
    let (groups, offsets) = core.counts();
    Ok(LoadFigures {
        bytes,
        write,
        open,
        replay,
        records: loader.stats.records,
        groups: groups as u64,
        offsets: offsets as u64,
    })
}
