//! A tokio-tungstenite echo server, written as its `autobahn-server` example writes one, so
//! the Autobahn|Testsuite can time the same cases against it and against tether:
//! `cargo run --release -p tether-bench --example tungstenite_echo_server -- 127.0.0.1:9002`
//! prints `listening on ws://ADDR` once ready. `TCP_NODELAY` is on, as tether sets it, so
//! that the `runtimes` bench compares the same socket settings.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
