//! The body of every adapter's `autobahn_client` example: runs the Autobahn|Testsuite
//! fuzzing server's cases against tether's client. The including example provides
//! `adapter` (the tether adapter crate) and `rt::AGENT` (its name in the reports).
//! `TETHER_DEFLATE=1` offers permessage-deflate (Autobahn 12.* and 13.*).
//!
//! Asks the server (`AUTOBAHN_URL`, default ws://127.0.0.1:9001) how many cases there are,
//! echoes every message of each case back until the server closes, then asks it to write
//! its reports.

use super::adapter::{connect, ClientConfig, ConnectError, WebSocket};
use super::cli;
use super::rt::AGENT;

/// Runs every case, then asks for the reports.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');

    let mut ws = open(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.recv().await {
        Some(message) => std::str::from_utf8(message.as_bytes())?.trim().parse()?,
        None => return Err("getCaseCount closed without a count".into()),
    };
    while ws.recv().await.is_some() {}
    println!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        match open(&url).await {
            Ok(ws) => echo(ws).await,
            Err(e) => println!("case {case}: connect failed: {e}"),
        }
        if case % 50 == 0 {
            println!("{case}/{count}");
        }
    }

    let mut ws = open(&format!("{base}/updateReports?agent={AGENT}")).await?;
    while ws.recv().await.is_some() {}
    println!("reports updated");
    Ok(())
}

async fn open(url: &str) -> Result<WebSocket, ConnectError> {
    let config = ClientConfig {
        ws: cli::ws_config(),
        ..ClientConfig::default()
    };
    connect(url, config).await
}

/// Sends every message back until the connection closes; errors only end the case.
async fn echo(mut ws: WebSocket) {
    while let Some(message) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    while ws.recv().await.is_some() {}
}
