//! The body of every adapter's `rpc_client` example: calls each method of `rpc_server`
//! once and prints what came back, then the client's metrics.

use serde_json::{json, Value};

use super::adapter::rpc::{CallError, Client, ClientConfig};

/// Talks to the URL in the first argument (default ws://127.0.0.1:9002).
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9002".into());
    let client = Client::connect(&url, ClientConfig::default()).await?;

    let echoed: Value = client.call("echo", &json!({"hello": [1, 2, 3]})).await?;
    println!("echo  -> {echoed}");
    let sum: i64 = client.call("add", &(40, 2)).await?;
    println!("add   -> {sum}");
    let sum: f64 = client.call("add", &(0.5, 2)).await?;
    println!("add   -> {sum}");
    let slept: u64 = client.call("sleep", &json!({"ms": 100})).await?;
    println!("sleep -> {slept} ms");
    match client.call::<_, Value>("fail", &()).await {
        Err(CallError::Rpc(error)) => println!("fail  -> error {}: {}", error.code, error.message),
        other => println!("fail  -> unexpected {other:?}"),
    }
    match client.call::<_, Value>("nope", &()).await {
        Err(CallError::Rpc(error)) => println!("nope  -> error {}: {}", error.code, error.message),
        other => println!("nope  -> unexpected {other:?}"),
    }
    let metrics = client.metrics().await;
    println!(
        "sent {} messages, received {}, call latency mean {:?}",
        metrics.messages_sent, metrics.messages_received, metrics.call_latency_mean
    );
    client.close().await;
    Ok(())
}
