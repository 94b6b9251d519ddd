//! The other half of the echo demo, on smol: sends a few messages to an echo server,
//! checks each echo, prints round-trip times, and closes.
//!
//! ```text
//! cargo run --release -p tether-async-std --example echo_server -- 127.0.0.1:9001 &
//! cargo run --release -p tether-async-std --example echo_client -- ws://127.0.0.1:9001
//! ```
//!
//! Exits with status 1 if an echo differs from what was sent.

use std::process::ExitCode;

use tether_async_std as adapter;

#[path = "../../examples/shared/cli.rs"]
mod cli;
#[path = "../../examples/shared/echo_client.rs"]
mod echo_client;

fn main() -> ExitCode {
    cli::init_logging();
    cli::exit("echo_client", smol::block_on(echo_client::run()))
}
