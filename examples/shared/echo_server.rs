//! The body of every adapter's `echo_server` example: echoes every text and binary message
//! back to its sender. The including example provides `adapter` (the tether adapter crate)
//! and `rt`, whose `main` runs it. `TETHER_DEFLATE=1` accepts permessage-deflate;
//! `TETHER_MAX_CONNECTIONS=N` raises the connection limits to `N` (see [`cli::admission`]).

use std::io::Write;

use super::adapter::{Server, ServerConfig, WebSocket};
use super::cli;

/// Listens on the address in the first argument (default 127.0.0.1:9001), prints
/// `listening on ws://ADDR` once ready, and serves until killed.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());

    let config = ServerConfig {
        ws: cli::ws_config(),
        admission: cli::admission(),
        ..ServerConfig::default()
    };
    let server = Server::bind(addr.as_str(), config).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{}", server.local_addr()?)?;
    stdout.flush()?;

    // Each connection's echo runs in the task that drives it (see `Server::serve`).
    server.serve(echo).await?;
    Ok(())
}

async fn echo(mut ws: WebSocket) {
    while let Some(message) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    // Drain to the end so close_info is known.
    while ws.recv().await.is_some() {}
    tracing::debug!(close = ?ws.close_info(), "connection over");
}
