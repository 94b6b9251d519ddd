//! What every example does around its work: logs go to stderr (`RUST_LOG` picks the level),
//! and an error becomes one line on stderr and exit status 1.

use std::error::Error;
use std::process::{ExitCode, Termination};

use tracing_subscriber::EnvFilter;

/// Sends `tracing` output to stderr, so stdout carries only what scripts read.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// The exit status for `result`, printing the error as `name: error`.
#[allow(dead_code)] // the rpc examples return their errors from `main` instead
pub fn exit<T: Termination>(name: &str, result: Result<T, Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(done) => done.report(),
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
