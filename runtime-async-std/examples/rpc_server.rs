//! A JSON-RPC server with the methods `echo`, `add`, `sleep`, `fail`, on smol. The body is `examples/shared/rpc_server.rs`.
//!
//! ```text
//! cargo run --release -p tether-async-std --example rpc_server -- 127.0.0.1:9002
//! ```
//!
//! Port 0 picks a free one. Prints `listening on ws://ADDR` once it accepts connections.

use std::process::ExitCode;

use tether_async_std as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("rpc_server", shared::rpc_server::run())
}
