//! Operator tools that run as subcommands of the one binary.

pub(crate) mod storage;
