//! Operator tools that run as subcommands of the one binary.

pub(crate) mod dump_log;
pub(crate) mod metadata_shell;
pub(crate) mod perf;
pub(crate) mod storage;
