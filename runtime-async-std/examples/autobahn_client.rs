//! Runs the Autobahn|Testsuite fuzzing server's cases against tether-async-std's client,
//! under async-std (the smol run is the same adapter on another executor).
//!
//! ```text
//! AUTOBAHN_URL=ws://127.0.0.1:9001 cargo run --release -p tether-async-std --example autobahn_client
//! ```

use std::process::ExitCode;

use tether_async_std as adapter;

/// The agent name in Autobahn's reports.
const AGENT: &str = "tether-async-std";

#[path = "../../examples/shared/autobahn_client.rs"]
mod autobahn_client;
#[path = "../../examples/shared/cli.rs"]
mod cli;

fn main() -> ExitCode {
    cli::init_logging();
    cli::exit(
        "autobahn_client",
        async_std::task::block_on(autobahn_client::run()),
    )
}
