//! A JSON-RPC server with the methods of the RPC issue: `echo`, `add`, `sleep`, `fail`.
//!
//! `cargo run --release -p tether-tokio --example rpc_server -- 127.0.0.1:9002`
//! (port 0 picks a free one). Prints `listening on ws://ADDR` once it accepts connections.

use std::io::Write;

use tether_tokio::rpc::{Server, ServerConfig};

#[path = "common/rpc_methods.rs"]
mod rpc_methods;

#[path = "common/cli.rs"]
mod cli;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    cli::init_logging();
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
