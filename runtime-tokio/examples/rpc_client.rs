//! Calls each method of `rpc_server` once and prints what came back, then the client's
//! metrics, on tokio. The body is `examples/shared/rpc_client.rs`.
//!
//! ```text
//! cargo run --release -p tether-tokio --example rpc_client -- ws://127.0.0.1:9002
//! ```

use std::process::ExitCode;

use tether_tokio as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("rpc_client", shared::rpc_client::run())
}
