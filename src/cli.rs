//! The `kraftbridge` command line (clap): the server, the quickstart and the tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{server, tools};

#[derive(Debug, Parser)]
#[command(
    name = "kraftbridge",
    version,
    about = "A Kafka-compatible server: KRaft mode, ZooKeeper mode, and the bridge between them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a single-node KRaft server (broker and controller) on 127.0.0.1:9092, formatting
    /// DIR on its first run.
    Quickstart {
        /// Where the configuration and data live; reused on later runs.
        #[arg(long, default_value = "kraftbridge-data")]
        dir: PathBuf,
    },
    /// Run a server from a server.properties file (Apache Kafka's keys).
    Server {
        /// The server.properties file.
        config: PathBuf,
        /// Override a property: --override key=value (repeatable), as kafka-server-start.sh.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Performance tools, as Kafka's kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh.
    Perf(tools::perf::PerfArgs),
    /// Print the batches and records of log segments and KRaft snapshots, as Kafka's
    /// kafka-dump-log.sh.
    DumpLog(DumpLogArgs),
    /// Browse the KRaft metadata of a snapshot or a __cluster_metadata-0 directory, as
    /// Kafka's kafka-metadata-shell.sh. Runs COMMAND if given, else reads commands from stdin.
    MetadataShell {
        /// A snapshot (`*.checkpoint`) or log segment (`*.log`) to load.
        #[arg(
            short = 's',
            long,
            conflicts_with = "dir",
            required_unless_present = "dir"
        )]
        snapshot: Option<PathBuf>,
        /// A `__cluster_metadata-0` directory: its latest snapshot and the log after it.
        #[arg(short = 'd', long)]
        dir: Option<PathBuf>,
        /// One command to run (ls, cat, cd, pwd, find, tree, help) instead of a session.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Storage tool, as Kafka's kafka-storage.sh.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
}

/// kafka-dump-log.sh's options (the log and snapshot ones; not the index ones).
#[derive(Debug, clap::Args)]
struct DumpLogArgs {
    /// Comma-separated files to dump (`*.log` segments, `*.checkpoint` snapshots).
    #[arg(long, value_delimiter = ',')]
    files: Vec<PathBuf>,
    /// More files, positionally.
    #[arg(value_name = "FILE")]
    more_files: Vec<PathBuf>,
    /// Decode `__cluster_metadata` records as JSON (implies --deep-iteration).
    #[arg(long)]
    cluster_metadata_decoder: bool,
    /// Print keys and values as text (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
    /// Print every record, not only every batch.
    #[arg(long)]
    deep_iteration: bool,
    /// Leave out the offset, timestamp and sizes of each record.
    #[arg(long)]
    skip_record_metadata: bool,
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Print a new random cluster id.
    RandomUuid,
    /// Format the log directories of a KRaft node.
    Format {
        /// The cluster id (from `storage random-uuid`).
        #[arg(short = 't', long = "cluster-id")]
        cluster_id: String,
        /// The server.properties file.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// Skip directories that are already formatted.
        #[arg(short = 'g', long = "ignore-formatted")]
        ignore_formatted: bool,
    },
    /// Describe the state of the storage directories.
    Info {
        /// The server.properties file.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
}

/// Parses the command line and runs what it names.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let result = match cli.command {
        Command::Quickstart { dir } => server::quickstart(&dir),
        Command::Server { config, overrides } => server::run_from_file(&config, &overrides),
        Command::Perf(args) => tools::perf::run(args),
        Command::DumpLog(args) => {
            let opts = tools::dump_log::DumpOptions::new(
                args.cluster_metadata_decoder,
                args.print_data_log,
                args.deep_iteration,
                args.skip_record_metadata,
            );
            let files: Vec<PathBuf> = args.files.into_iter().chain(args.more_files).collect();
            tools::dump_log::dump_command(&files, opts, &mut out, &mut err)
        }
        Command::MetadataShell {
            snapshot,
            dir,
            command,
        } => tools::metadata_shell::shell_command(
            snapshot.as_deref(),
            dir.as_deref(),
            &command,
            &mut std::io::stdin().lock(),
            &mut out,
            &mut err,
        ),
        Command::Storage { command } => match command {
            StorageCommand::RandomUuid => tools::storage::random_uuid_command(&mut out),
            StorageCommand::Format {
                cluster_id,
                config,
                ignore_formatted,
            } => tools::storage::format_command(
                &config,
                &cluster_id,
                ignore_formatted,
                &mut out,
                &mut err,
            ),
            StorageCommand::Info { config } => {
                match tools::storage::info_command(&config, &mut out, &mut err) {
                    Ok(true) => Ok(()),
                    Ok(false) => return ExitCode::FAILURE,
                    Err(e) => Err(e),
                }
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
