//! A JSON-RPC server with the methods of the RPC issue (`echo`, `add`, `sleep`, `fail`),
//! on smol.
//!
//! `cargo run --release -p tether-async-std --example rpc_server -- 127.0.0.1:9002`
//! (port 0 picks a free one). Prints `listening on ws://ADDR` once it accepts connections.

use std::io::Write;
use std::process::ExitCode;

use tether_async_std as adapter;
use tether_async_std::rpc::{Server, ServerConfig};

#[path = "../../examples/shared/cli.rs"]
mod cli;
#[path = "../../examples/shared/rpc_methods.rs"]
mod rpc_methods;
#[path = "common/rt.rs"]
mod rt;

fn main() -> ExitCode {
    cli::init_logging();
    cli::exit("rpc_server", smol::block_on(run()))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let server = rpc_methods::routes(Server::bind(addr, ServerConfig::default()).await?);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{}", server.local_addr()?)?;
    // Scripts wait for this line; it must not sit in a buffer.
    stdout.flush()?;
    server.serve().await?;
    Ok(())
}
