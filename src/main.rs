//! The `kraftbridge` binary: everything is in the library (`lib.rs`).

fn main() -> std::process::ExitCode {
    kraftbridge::run()
}
