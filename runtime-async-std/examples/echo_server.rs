//! Echoes every text and binary message back to its sender, on smol. The body is `examples/shared/echo_server.rs`.
//!
//! ```text
//! cargo run --release -p tether-async-std --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Prints `listening on ws://ADDR` once ready; set `RUST_LOG=debug` to watch connections and
//! `TETHER_DEFLATE=1` to accept permessage-deflate.

use std::process::ExitCode;

use tether_async_std as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("echo_server", shared::echo_server::run())
}
