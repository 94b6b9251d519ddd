//! Echoes every text and binary message back to its sender.
//!
//! ```text
//! cargo run --release -p tether-tokio --example echo_server -- 127.0.0.1:9001
//! ```
//!
//! Prints `listening on ws://ADDR` once ready; set `RUST_LOG=debug` to watch connections and
//! `TETHER_DEFLATE=1` to accept permessage-deflate.

use std::io::Write;
use std::process::ExitCode;

use tether_tokio::{Server, ServerConfig, WebSocket};

#[path = "common/cli.rs"]
mod cli;

#[tokio::main]
async fn main() -> ExitCode {
    cli::init_logging();
    cli::exit("echo_server", run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());

    let config = ServerConfig {
        ws: cli::ws_config(),
        ..ServerConfig::default()
    };
    let mut server = Server::bind(addr.as_str(), config).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{}", server.local_addr()?)?;
    stdout.flush()?;

    loop {
        match server.accept().await {
            Ok((ws, peer)) => {
                tracing::debug!(%peer, "accepted");
                tokio::spawn(echo(ws));
            }
            // The listener itself is in trouble (e.g. out of file descriptors); the
            // connections already open are not, so keep serving them.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
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
