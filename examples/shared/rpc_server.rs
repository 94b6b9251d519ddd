//! The body of every adapter's `rpc_server` example: a JSON-RPC server with the methods of
//! [`rpc_methods`](super::rpc_methods) (`echo`, `add`, `sleep`, `fail`).
//! `TETHER_MAX_CONNECTIONS=N` raises the connection limits to `N` (see
//! [`cli::admission`](super::cli::admission)).

use std::io::Write;

use super::adapter::rpc::{Server, ServerConfig};
use super::{cli, rpc_methods};

/// Listens on the address in the first argument (default 127.0.0.1:9002; port 0 picks a
/// free one), prints `listening on ws://ADDR` once it accepts connections, and serves
/// until killed.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let config = ServerConfig {
        admission: cli::admission(),
        ..ServerConfig::default()
    };
    let server = rpc_methods::routes(Server::bind(addr, config).await?);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{}", server.local_addr()?)?;
    // Scripts wait for this line; it must not sit in a buffer.
    stdout.flush()?;
    server.serve().await?;
    Ok(())
}
