//! Echoes every text and binary message back to its sender, on smol.
//!
//! ```text
//! cargo run --release -p tether-async-std --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Prints `listening on ws://ADDR` once ready; set `RUST_LOG=debug` to watch connections.

use std::process::ExitCode;

use tether_async_std as adapter;

#[path = "../../examples/shared/cli.rs"]
mod cli;
#[path = "../../examples/shared/echo_server.rs"]
mod echo_server;
#[path = "common/rt.rs"]
mod rt;

fn main() -> ExitCode {
    cli::init_logging();
    cli::exit("echo_server", smol::block_on(echo_server::run()))
}
