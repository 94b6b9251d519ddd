//! A fastwebsockets 0.10 echo server, written as its own `echo_server` example writes one:
//! the upgrade through hyper's HTTP/1.1 server (`fastwebsockets::upgrade`), then a
//! `FragmentCollector` that reads frames and writes text and binary ones back (auto close
//! and auto pong on, their defaults). On a multi-threaded tokio runtime, one worker per
//! core, as tether-tokio's `echo_server` runs; `TCP_NODELAY` on, as tether sets it.
//!
//! `cargo run --release -p tether-bench --example fastwebsockets_echo_server -- 127.0.0.1:0`
//! prints `listening on ws://ADDR` once ready. The `runtimes` bench runs it beside tether's
//! servers.

use std::io::Write;

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn server_upgrade(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    // A connection that ends uncleanly (the bench drops some without a close) is not
    // worth a line on stderr.
    tokio::spawn(async move {
        let _ = echo(fut).await;
    });
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = TcpListener::bind(&addr).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on ws://{}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(server_upgrade))
                .with_upgrades()
                .await;
        });
    }
}
