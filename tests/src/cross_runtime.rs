//! The halves of the cross-runtime tests (`tests/cross_runtime.rs`): servers that run on a
//! thread of their own with their own executor, and clients that check them, over real
//! loopback sockets. Compiled once per adapter (see [`crate::runtime`]), so a test pairs
//! one adapter's client with the other's server: WebSocket frames and JSON-RPC messages
//! written by one runtime's drivers are read by the other's.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::adapter::rpc::{self, CallError, ErrorObject};
use super::adapter::{
    connect, ClientConfig, CloseCode, Event, Initiator, Message, Server, ServerConfig,
};
use crate::runtime::timeout;
use crate::server_thread::{Channels, Seen, Serving};

/// Bound on each step: a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(20);

/// The code the JSON-RPC server's `fail` answers with.
pub const FAIL_CODE: i64 = 4321;

async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// A WebSocket echo server: binds 127.0.0.1:0, sends its address to `ready`, then serves
/// one connection at a time (nothing spawned: it runs on the executor that polls this
/// future, beside the adapter's drivers) until `stop` closes, reporting each connection's
/// close to `seen`.
pub async fn websocket_server(Channels { ready, seen, stop }: Channels) {
    let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    ready
        .send(server.local_addr().expect("local_addr"))
        .await
        .expect("the test waits for the address");
    let serve = async {
        while let Ok((mut ws, _peer)) = server.accept().await {
            while let Some(message) = ws.recv().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
            let _ = seen.send(Seen::Closed(ws.close_info().cloned())).await;
        }
    };
    futures_lite::future::or(serve, async {
        let _ = stop.recv().await;
    })
    .await;
}

/// A JSON-RPC server: binds 127.0.0.1:0, sends its address to `ready`, then serves `echo`,
/// `add` (two integers), `fail` (the error [`FAIL_CODE`] with data) and `note` (reported
/// to `seen`) until `stop` closes.
pub async fn rpc_server(Channels { ready, seen, stop }: Channels) {
    let server = rpc::Server::bind("127.0.0.1:0", rpc::ServerConfig::default())
        .await
        .expect("bind")
        .route("echo", |params: Value| async move {
            Ok::<_, ErrorObject>(params)
        })
        .route("add", |(a, b): (i64, i64)| async move {
            Ok::<_, ErrorObject>(a + b)
        })
        .route("fail", |_: Value| async move {
            let data =
                serde_json::value::to_raw_value(&json!({"why": "a test"})).expect("raw JSON");
            Err::<Value, _>(ErrorObject {
                data: Some(data),
                ..ErrorObject::new(FAIL_CODE, "failed on purpose")
            })
        })
        .route("note", move |params: Value| {
            let seen = seen.clone();
            async move {
                let _ = seen.send(Seen::Note(params)).await;
                Ok::<_, ErrorObject>(Value::Null)
            }
        });
    ready
        .send(server.local_addr().expect("local_addr"))
        .await
        .expect("the test waits for the address");
    futures_lite::future::or(
        async {
            let _ = server.serve().await;
        },
        async {
            let _ = stop.recv().await;
        },
    )
    .await;
}

/// Against [`websocket_server`]: text, binary, an 8 MiB message and a ping
/// echoed, then a clean close seen clean by both sides.
pub async fn websocket_client(server: Serving) {
    let url = format!("ws://{}/", server.addr);
    let mut ws = bounded("connect", connect(&url, ClientConfig::default()))
        .await
        .expect("connect");
    let big: Vec<u8> = (0..8 << 20).map(|i: u32| (i * 31 + 7) as u8).collect();
    let messages = [
        Message::Text("hello from the other runtime".into()),
        Message::Binary(Bytes::from_static(&[0, 1, 2, 254, 255])),
        Message::Text("é ✓ 🦀".into()),
        Message::Binary(Bytes::from(big)),
        Message::Text(String::new()),
    ];
    for message in messages {
        bounded("send", ws.send(message.clone()))
            .await
            .expect("send");
        let echo = bounded("the echo", ws.recv()).await;
        assert_eq!(echo.as_ref().map(Message::len), Some(message.len()));
        assert!(echo == Some(message), "the echo differs");
    }
    bounded("ping", ws.ping(Bytes::from_static(b"there?")))
        .await
        .expect("ping");
    assert_eq!(
        bounded("the pong", ws.recv_event()).await,
        Some(Event::Pong(Bytes::from_static(b"there?")))
    );

    bounded("close", ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close");
    match bounded("Closed", ws.recv_event()).await {
        Some(Event::Closed(info)) => {
            assert_eq!(info.code, CloseCode::NORMAL);
            assert_eq!(info.initiator, Initiator::Local);
            assert!(info.clean, "{info:?}");
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(bounded("the end", ws.recv_event()).await, None);
    match bounded("the server's close", server.seen.recv()).await {
        Ok(Seen::Closed(Some(info))) => {
            assert_eq!(info.code, CloseCode::NORMAL);
            assert_eq!(info.reason, "done");
            assert_eq!(info.initiator, Initiator::Remote);
            assert!(info.clean, "{info:?}");
        }
        other => panic!("the server saw {other:?}"),
    }
}

/// Against [`rpc_server`]: calls typed both ways (a large one too), calls at
/// once, a notification that reaches the handler, an error object with its code, message
/// and data, an unknown method, then a clean close.
pub async fn rpc_client(server: Serving) {
    let url = format!("ws://{}/", server.addr);
    let client = bounded(
        "connect",
        rpc::Client::connect(&url, rpc::ClientConfig::default()),
    )
    .await
    .expect("connect");

    let value = json!({"list": [1, "two", null, 2.5], "nested": {"ok": true}, "text": "é ✓"});
    let echoed: Value = bounded("echo", client.call("echo", &value))
        .await
        .expect("echo");
    assert_eq!(echoed, value);
    let long = json!({ "text": "x".repeat(1 << 20) });
    let echoed: Value = bounded("a large echo", client.call("echo", &long))
        .await
        .expect("a large echo");
    assert_eq!(echoed, long);
    let sum: i64 = bounded("add", client.call("add", &(40, 2)))
        .await
        .expect("add");
    assert_eq!(sum, 42);
    let sums = futures_lite::future::zip(
        client.call::<_, i64>("add", &(1, 2)),
        client.call::<_, i64>("add", &(3, 4)),
    );
    let (a, b) = bounded("two calls at once", sums).await;
    assert_eq!((a.expect("add"), b.expect("add")), (3, 7));

    bounded("notify", client.notify("note", &json!({"n": 7})))
        .await
        .expect("notify");
    match bounded("the notification at the server", server.seen.recv()).await {
        Ok(Seen::Note(params)) => assert_eq!(params, json!({"n": 7})),
        other => panic!("the server saw {other:?}"),
    }

    match bounded("fail", client.call::<_, Value>("fail", &())).await {
        Err(CallError::Rpc(error)) => {
            assert_eq!(error.code, FAIL_CODE);
            assert_eq!(error.message, "failed on purpose");
            let data: Option<Value> = error
                .data
                .map(|raw| serde_json::from_str(raw.get()).expect("JSON data"));
            assert_eq!(data, Some(json!({"why": "a test"})));
        }
        other => panic!("expected an error object, got {other:?}"),
    }
    match bounded("unknown", client.call::<_, Value>("no/such/method", &())).await {
        Err(CallError::Rpc(error)) => assert_eq!(error.code, ErrorObject::METHOD_NOT_FOUND),
        other => panic!("expected an error object, got {other:?}"),
    }

    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!((metrics.in_flight, metrics.reconnections), (0, 0));
    bounded("close", client.close()).await;
    assert_eq!(client.state(), rpc::State::Disconnected);
}
