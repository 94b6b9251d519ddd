//! The body of every adapter's `echo_client` example: sends a few messages to an echo
//! server, checks each echo, prints round-trip times, and closes. The including example
//! provides `adapter` (the tether adapter crate).

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;

use super::adapter::{connect, ClientConfig, CloseCode, Message};

/// Talks to the URL in the first argument (default ws://127.0.0.1:9001); fails if an echo
/// differs from what was sent.
pub async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());

    let mut ws = connect(&url, ClientConfig::default()).await?;
    println!("connected to {url}");

    let messages = [
        Message::Text("hello, tether".into()),
        Message::Text(String::new()),
        Message::Text("ünïcödé ✓ 🦀".into()),
        Message::Binary((0..=255u8).collect::<Vec<u8>>().into()),
        Message::Text("x".repeat(70_000)),
        Message::Binary(Bytes::from(
            (0..1 << 20)
                .map(|i: u32| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        )),
    ];

    let mut failed = false;
    for message in messages {
        let start = Instant::now();
        ws.send(message.clone()).await?;
        let Some(echo) = ws.recv().await else {
            eprintln!("connection closed before the echo: {:?}", ws.close_info());
            return Ok(ExitCode::FAILURE);
        };
        let elapsed = start.elapsed();
        let kind = match &message {
            Message::Text(_) => "text",
            Message::Binary(_) => "binary",
        };
        let verdict = if echo == message { "ok" } else { "MISMATCH" };
        failed |= echo != message;
        println!(
            "{kind:>6} {:>8} bytes  {elapsed:>10.3?}  {verdict}",
            message.len()
        );
    }

    ws.close(CloseCode::NORMAL, "done").await?;
    while let Some(message) = ws.recv().await {
        eprintln!("unexpected message after close: {} bytes", message.len());
        failed = true;
    }
    match ws.close_info() {
        Some(info) => println!(
            "closed: code {} reason {:?} initiator {:?} clean {}",
            info.code.0, info.reason, info.initiator, info.clean
        ),
        None => println!("closed without close info"),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
