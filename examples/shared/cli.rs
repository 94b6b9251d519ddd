//! What every example does around its work: logs go to stderr (`RUST_LOG` picks the level),
//! and an error becomes one line on stderr and exit status 1.

use std::error::Error;
use std::future::Future;
use std::process::{ExitCode, Termination};

use tracing_subscriber::EnvFilter;

use super::adapter::{Admission, Config, Deflate};
use super::rt;

/// Runs an example's body on the including crate's runtime: logs to stderr, and an error
/// becomes one line on stderr and exit status 1.
pub fn main<T: Termination>(
    name: &str,
    body: impl Future<Output = Result<T, Box<dyn Error>>>,
) -> ExitCode {
    init_logging();
    exit(name, rt::block_on(body))
}

/// Sends `tracing` output to stderr, so stdout carries only what scripts read.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// The exit status for `result`, printing the error as `name: error`.
pub fn exit<T: Termination>(name: &str, result: Result<T, Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(done) => done.report(),
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The connection settings, with permessage-deflate on when `TETHER_DEFLATE` is set to
/// anything but `0` (off by default, like the library). The threshold is 0 so that every
/// message, however short, goes through the compressor (Autobahn's 12.* and 13.* cases).
pub fn ws_config() -> Config {
    let deflate = std::env::var("TETHER_DEFLATE").is_ok_and(|v| !v.is_empty() && v != "0");
    Config {
        compression: deflate.then(|| Deflate {
            threshold: 0,
            ..Deflate::default()
        }),
        ..Config::default()
    }
}

/// The connection limits, with both `max_connections` and `max_connections_per_ip` set to
/// `TETHER_MAX_CONNECTIONS` when that is a number (the library's defaults otherwise), so
/// that a benchmark can hold 10 000 connections from one address (`runtimes`).
pub fn admission() -> Admission {
    let defaults = Admission::default();
    match std::env::var("TETHER_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(max) => Admission {
            max_connections: max,
            max_connections_per_ip: max,
            ..defaults
        },
        None => defaults,
    }
}
