//! Start-up and shutdown of a server process: configuration, storage checks, the metadata
//! thread, the replica manager, the listeners, and the orderly stop on SIGTERM/Ctrl-C.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::sync::watch;

use storage::dir_lock::DirLock;

use crate::broker::replica_manager::ReplicaManager;
use crate::broker::Broker;
use crate::config::{LoadedConfig, ServerConfig};
use crate::io::{net, quorum};
use crate::tools::storage as storage_tool;

/// `kraftbridge quickstart`: a single combined node in `dir`, formatted on first run.
pub(crate) fn quickstart(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let props = dir.join("server.properties");
    if !props.exists() {
        let text = crate::config::quickstart::quickstart_properties(&dir, 1)?;
        std::fs::write(&props, text)
            .with_context(|| format!("cannot write {}", props.display()))?;
    }
    let loaded = ServerConfig::load(&props, &[])?;
    // Before the first look inside: another process may be formatting or running on it.
    let locks = storage_tool::lock_storage_dirs(&loaded.config, true)?;
    let info = storage_tool::info(&loaded.config);
    if info.metadata.is_none() {
        // First run: every directory is empty, so formatting cannot overwrite anything. A
        // directory that holds another cluster's data is never reformatted: check_storage
        // below refuses to start on it with the command that fixes it.
        let cluster_id = storage_tool::random_uuid(&mut rand::thread_rng()).to_string();
        let opts = storage_tool::FormatOptions {
            cluster_id,
            ignore_formatted: false,
        };
        storage_tool::format(
            &loaded.config,
            &opts,
            &mut std::io::stdout(),
            &mut rand::thread_rng(),
        )?;
    }
    println!("kraftbridge quickstart: configuration {}", props.display());
    println!("Bootstrap server: 127.0.0.1:9092");
    println!("Try:");
    println!("  echo 'hello' | kcat -b 127.0.0.1:9092 -t quickstart-events -P");
    println!("  kcat -b 127.0.0.1:9092 -t quickstart-events -C -o beginning -e");
    run(loaded, locks)
}

/// `kraftbridge server <server.properties> [--override k=v]…`.
pub(crate) fn run_from_file(path: &Path, overrides: &[String]) -> anyhow::Result<()> {
    let loaded = ServerConfig::load(path, overrides)?;
    let locks = storage_tool::lock_storage_dirs(&loaded.config, false)?;
    run(loaded, locks)
}

/// Runs the server on `loaded`, whose storage directories `_locks` hold until it has stopped.
fn run(loaded: LoadedConfig, _locks: Vec<DirLock>) -> anyhow::Result<()> {
    init_logging();
    raise_open_files_limit();
    for w in loaded.warnings.iter().chain(&loaded.without_effect) {
        tracing::warn!("{w}");
    }
    let config = loaded.config;
    if !config.is_kraft() {
        bail!("ZooKeeper (legacy) mode is not implemented yet: set process.roles to run in KRaft mode");
    }
    if !config.is_broker() || !config.is_controller() {
        bail!(
            "process.roles={} is not supported yet: this version runs only combined \
             broker,controller nodes (multi-node quorums come with the KRaft quorum work)",
            config
                .process_roles
                .iter()
                .map(|r| format!("{r:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let meta = storage_tool::check_storage(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cluster_id = meta.cluster_id().unwrap_or_default().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kraftbridge-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, cluster_id))
}

/// Raises the soft open-files limit to the hard one, as operators are told to for Kafka (each
/// partition holds its active segment's `.log` open, plus the indexes once written, and each
/// connection a socket). Logged either way, so an EMFILE later is easy to diagnose.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(
                    "open-files limit raised from {} to {}",
                    show(limit.current),
                    show(limit.maximum)
                );
                return;
            }
            Err(e) => tracing::warn!(
                "cannot raise the open-files limit to {}: {e}",
                show(limit.maximum)
            ),
        }
    }
    tracing::info!("open-files limit: {}", show(limit.current));
}

/// Log lines go to stdout, coloured only when it is a terminal and `NO_COLOR` is not set
/// (no-color.org): a file or a pipe gets plain text.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal() && !no_color)
        .with_writer(std::io::stdout)
        .try_init();
}

async fn serve(config: ServerConfig, cluster_id: String) -> anyhow::Result<()> {
    let node_id = config.node_id;
    let client_listeners: Vec<_> = config
        .listeners
        .iter()
        .filter(|l| !config.controller_listener_names.contains(&l.name))
        .cloned()
        .collect();
    let advertised = config
        .advertised_listeners
        .first()
        .cloned()
        .context("no client listener: set listeners (e.g. PLAINTEXT://127.0.0.1:9092)")?;

    let log_dir = config
        .log_dirs
        .first()
        .cloned()
        .context("log.dirs is empty")?;
    // The broker's log dir is opened first: it reads (and removes) the clean-shutdown marker,
    // which covers the metadata log too when that lives in the same dir.
    let replicas = Arc::new(
        tokio::task::spawn_blocking({
            let log_dir = log_dir.clone();
            let log_config = crate::broker::replica_manager::partition_config_from(&config);
            let expiry = crate::broker::producer_state::ProducerExpiry::from_config(&config);
            move || ReplicaManager::open(node_id, log_dir, log_config, expiry)
        })
        .await??,
    );
    let metadata_shares_dir = config.metadata_log_dir == log_dir;
    let metadata_marker = if metadata_shares_dir {
        quorum::MetadataDirMarker::Shared(replicas.last_shutdown())
    } else {
        quorum::MetadataDirMarker::Own
    };
    let mut quorum = quorum::start(&config, &cluster_id, metadata_marker).await?;
    let metadata_failed = quorum.failed.take();
    let image_rx = follow_image(replicas.clone(), quorum.image.clone());

    let broker = Arc::new(Broker::new(
        &config,
        cluster_id.clone(),
        &advertised,
        image_rx,
        replicas.clone(),
        quorum.client.clone(),
    ));

    // Two stages: the listeners stop first and their connections answer what they are
    // handling (which may need the group coordinator), then the background tasks stop.
    let (stop_serving_tx, stop_serving_rx) = watch::channel(false);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let connection_settings = net::ConnectionSettings::from_config(&config);
    let mut servers = Vec::new();
    for l in &client_listeners {
        let host = l.host.clone().unwrap_or_else(|| "0.0.0.0".to_string());
        let listener = TcpListener::bind((host.as_str(), l.port))
            .await
            .with_context(|| format!("cannot listen on {l}"))?;
        tracing::info!("listening for clients on {l}");
        servers.push(tokio::spawn(net::serve(
            listener,
            broker.clone(),
            connection_settings,
            stop_serving_rx.clone(),
        )));
    }
    crate::broker::group::start(broker.clone(), shutdown_rx.clone());
    let housekeeping = tokio::spawn(crate::broker::replica_manager::housekeeping(
        replicas.clone(),
        Duration::from_millis(config.log_retention_check_interval_ms.max(1) as u64),
        shutdown_rx.clone(),
    ));
    let log_cleaner = crate::broker::log_cleaner::start(
        replicas.clone(),
        crate::broker::log_cleaner::settings_from(&config),
        shutdown_rx.clone(),
    );
    tracing::info!(node_id, %cluster_id, "kraftbridge started");

    let failure = tokio::select! {
        _ = wait_for_signal() => None,
        reason = metadata_failure(metadata_failed) => Some(reason),
    };
    if let Some(reason) = &failure {
        tracing::error!("the metadata log failed, shutting down: {reason}");
    }
    tracing::info!("shutting down");
    let _ = stop_serving_tx.send(true);
    // Each listener returns once its connections have answered their requests and closed,
    // or after request.timeout.ms.
    for s in servers {
        let _ = s.await;
    }
    let _ = shutdown_tx.send(true);
    let _ = housekeeping.await;
    let _ = log_cleaner.await;
    // The metadata log closes first, so the broker's marker is written only after it.
    let metadata_clean = quorum.stop().await || !metadata_shares_dir;
    tokio::task::spawn_blocking(move || replicas.close(metadata_clean)).await??;
    if let Some(reason) = failure {
        bail!("stopped because the metadata log failed: {reason}");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Applies every committed metadata image to the replica manager (opens and deletes logs),
/// then publishes it to the broker's handlers: a client that sees a partition in Metadata
/// finds its log ready to take a Produce. Each image is applied as a change from the one
/// applied before it, so the cost follows what changed, not the number of topics.
fn follow_image(
    replicas: Arc<ReplicaManager>,
    mut committed: watch::Receiver<Arc<metadata::MetadataImage>>,
) -> watch::Receiver<Arc<metadata::MetadataImage>> {
    let (applied_tx, applied_rx) = watch::channel(committed.borrow().clone());
    tokio::spawn(async move {
        let mut previous: Option<Arc<metadata::MetadataImage>> = None;
        loop {
            let current = committed.borrow_and_update().clone();
            let r = replicas.clone();
            let (image, before) = (current.clone(), previous.take());
            let applied =
                tokio::task::spawn_blocking(move || r.apply_image(before.as_deref(), &image));
            match applied.await {
                Ok(()) => previous = Some(current.clone()),
                // Start over from scratch next time: the next image is applied in full.
                Err(e) => tracing::error!("applying the metadata image failed: {e}"),
            }
            applied_tx.send_replace(current);
            if committed.changed().await.is_err() {
                return;
            }
        }
    });
    applied_rx
}

/// Resolves with the reason when the metadata thread fails; never otherwise.
async fn metadata_failure(failed: Option<tokio::sync::oneshot::Receiver<String>>) -> String {
    match failed {
        Some(rx) => match rx.await {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
