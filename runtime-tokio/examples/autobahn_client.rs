//! Runs the Autobahn|Testsuite fuzzing server's cases against tether's client, on tokio. The body is `examples/shared/autobahn_client.rs`.
//!
//! ```text
//! AUTOBAHN_URL=ws://127.0.0.1:9001 cargo run --release -p tether-tokio --example autobahn_client
//! ```
//!
//! `TETHER_DEFLATE=1` offers permessage-deflate.

use std::process::ExitCode;

use tether_tokio as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("autobahn_client", shared::autobahn_client::run())
}
