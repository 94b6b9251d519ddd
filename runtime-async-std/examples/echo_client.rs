//! The other half of the echo demo: sends a few messages to an echo server, checks each
//! echo, prints round-trip times, and closes, on smol. The body is `examples/shared/echo_client.rs`.
//!
//! ```text
//! cargo run --release -p tether-async-std --example echo_client -- ws://127.0.0.1:9001
//! ```
//!
//! Exits with status 1 if an echo differs from what was sent.

use std::process::ExitCode;

use tether_async_std as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("echo_client", shared::echo_client::run())
}
