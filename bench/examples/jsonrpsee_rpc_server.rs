//! A jsonrpsee 0.26 server over WebSocket only, with an `echo` method that answers its
//! params as they came (raw JSON, `null` for none), as the `echo` of tether's `rpc_server`
//! example does. Default settings (a multi-threaded tokio runtime, one worker per core, as
//! tether-tokio's `rpc_server` runs) except the connection limit: jsonrpsee's default of
//! 100 is raised to `TETHER_MAX_CONNECTIONS` when that is set, as tether's examples raise
//! theirs, so that the `runtimes` bench can hold 10 000 idle connections.
//!
//! `cargo run --release -p tether-bench --example jsonrpsee_rpc_server -- 127.0.0.1:0`
//! prints `listening on ws://ADDR` once ready.

use std::io::Write;

use jsonrpsee::server::{Server, ServerConfig};
use jsonrpsee::RpcModule;
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into());
    let mut config = ServerConfig::builder().ws_only();
    if let Some(max) = std::env::var("TETHER_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        config = config.max_connections(max);
    }
    let server = Server::builder()
        .set_config(config.build())
        .build(addr.as_str())
        .await?;
    let mut module = RpcModule::new(());
    module.register_method("echo", |params, _, _| {
        params.parse::<Option<Box<RawValue>>>()
    })?;
    let local = server.local_addr()?;
    let handle = server.start(module);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{local}")?;
    stdout.flush()?;
    handle.stopped().await;
    Ok(())
}
