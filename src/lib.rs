//! kraftbridge: a Kafka-compatible server (KRaft mode today; ZooKeeper legacy mode and the
//! ZooKeeper → KRaft migration bridge are planned) and its tools.
//!
//! A library with a thin binary (`main.rs`), so that the broker, the group coordinator and
//! producer state can be driven from integration tests, simulations and the migration tests,
//! not only from the process. Items are `pub(crate)` until a test outside the crate needs them.

// clippy.toml bans the clock, global randomness and hash-map iteration for the deterministic
// cores only: they deny these two lints themselves (group coordinator, producer state).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod broker;
mod cli;
pub mod config;
pub mod io;
pub mod server;
pub mod tools;

pub use cli::run;
