//! `kraftbridge`: a Kafka-compatible server (KRaft mode today; ZooKeeper legacy mode and the
//! ZooKeeper → KRaft migration bridge are planned) and its tools.

// clippy.toml bans the clock, global randomness and hash-map iteration for the deterministic
// cores only: they deny these two lints themselves (group coordinator, producer state).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod broker;
mod config;
mod io;
mod server;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Storage tool, as Kafka's kafka-storage.sh.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let result = match cli.command {
        Command::Quickstart { dir } => server::quickstart(&dir),
        Command::Server { config, overrides } => server::run_from_file(&config, &overrides),
        Command::Perf(args) => tools::perf::run(args),
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
