//! Our JSON-RPC client against our server over loopback TCP: typed calls and their
//! errors, many calls at once on one connection, deadlines and cancellation, and a server
//! that goes away. Compiled once per adapter (see [`crate::runtime`]) and run by
//! `tests/rpc_loopback.rs`; the server serves the `rpc_server` example's methods.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::adapter;
use super::adapter::rpc::{
    CallError, Client, ClientConfig, ErrorObject, RpcConfig, Server, ServerConfig,
};
use super::rt;
use crate::runtime::timeout;

#[path = "../../examples/shared/rpc_methods.rs"]
mod rpc_methods;

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(scenario: impl std::future::Future<Output = T>) -> T {
    timeout(LIMIT, scenario).await.expect("scenario timed out")
}

/// Params of `tag`.
#[derive(Debug, Deserialize)]
struct Tag {
    n: u64,
}

/// Answers `n` after 0 to 9 ms, picked from `n`, so answers overtake each other.
async fn tag(Tag { n }: Tag) -> Result<u64, ErrorObject> {
    rt::sleep(Duration::from_millis(n.wrapping_mul(7919) % 10)).await;
    Ok(n)
}

/// The example's server (plus `tag`) on a free port, serving in the background; its URL.
async fn start() -> String {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    let server = rpc_methods::routes(server).route("tag", tag);
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    rt::spawn(async move {
        let _ = server.serve().await;
    });
    url
}

fn error_code<T: std::fmt::Debug>(result: Result<T, CallError>) -> i64 {
    match result {
        Err(CallError::Rpc(error)) => error.code,
        other => panic!("expected an error object, got {other:?}"),
    }
}

/// Every method of the example answers, with results typed on our side; server errors,
/// unknown methods and bad params are error objects; params and results that do not fit
/// are caught here; after `close`, calls are refused.
pub async fn typed_calls_errors_and_notifications() {
    within(async {
        let client = Client::connect(&start().await, ClientConfig::default())
            .await
            .expect("connect");
        let value = json!({"list": [1, "two", null], "nested": {"ok": true}});
        assert_eq!(
            client.call::<_, Value>("echo", &value).await.expect("echo"),
            value
        );
        assert_eq!(
            client.call::<_, i64>("add", &(40, 2)).await.expect("add"),
            42
        );
        assert_eq!(
            client.call::<_, f64>("add", &(0.25, 1)).await.expect("add"),
            1.25
        );
        let slept: u64 = client
            .call("sleep", &json!({"ms": 5}))
            .await
            .expect("sleep");
        assert_eq!(slept, 5);

        let failed = client.call::<_, Value>("fail", &()).await;
        assert_eq!(error_code(failed), rpc_methods::FAIL_CODE);
        let unknown = client.call::<_, Value>("nope", &()).await;
        assert_eq!(error_code(unknown), ErrorObject::METHOD_NOT_FOUND);
        let bad = client.call::<_, Value>("add", &["a", "b"]).await;
        assert_eq!(error_code(bad), ErrorObject::INVALID_PARAMS);
        assert!(matches!(
            client.call::<_, Value>("echo", &"not structured").await,
            Err(CallError::Params(_))
        ));
        assert!(matches!(
            client.call::<_, bool>("add", &(1, 1)).await,
            Err(CallError::Result(_))
        ));

        client
            .notify("sleep", &json!({"ms": 1}))
            .await
            .expect("notify");
        client
            .notify("nope", &())
            .await
            .expect("notify an unknown method");
        assert_eq!(
            client.call::<_, Value>("echo", &[3]).await.expect("echo"),
            json!([3])
        );
        assert_eq!(client.metrics().await.in_flight, 0);

        client.close().await;
        assert!(matches!(
            client.call::<_, Value>("echo", &[4]).await,
            Err(CallError::Closed)
        ));
    })
    .await;
}

/// Two thousand calls from as many tasks share one connection; answers come back out of
/// order and each caller gets its own.
pub async fn many_concurrent_calls_each_get_their_own_answer() {
    const CALLS: u64 = 2_000;
    within(async {
        let config = ClientConfig {
            rpc: RpcConfig {
                max_in_flight: CALLS as usize,
                ..Default::default()
            },
            ..Default::default()
        };
        let client = Client::connect(&start().await, config).await.expect("connect");
        let (answers, arrived) = async_channel::unbounded();
        for n in 0..CALLS {
            let client = client.clone();
            let answers = answers.clone();
            rt::spawn(async move {
                let answer = client.call::<_, u64>("tag", &json!({ "n": n })).await;
                let _ = answers.send((n, answer)).await;
            });
        }
        let mut seen = vec![false; CALLS as usize];
        let mut out_of_order = 0;
        for place in 0..CALLS {
            let (n, answer) = arrived.recv().await.expect("an answer");
            assert_eq!(answer.expect("tag"), n, "a caller got someone else's answer");
            assert!(!seen[n as usize], "answer {n} delivered twice");
            seen[n as usize] = true;
            out_of_order += u64::from(place != n);
        }
        assert!(
            out_of_order > CALLS / 10,
            "answers came back nearly in order ({out_of_order} out of place): the test proves little"
        );
        assert_eq!(client.metrics().await.in_flight, 0);
    })
    .await;
}

/// A call past its own deadline ends `Timeout`, a call whose future is dropped is
/// cancelled and frees its slot, and the connection carries on.
pub async fn deadlines_and_cancels_end_calls_and_keep_the_connection() {
    within(async {
        let client = Client::connect(&start().await, ClientConfig::default())
            .await
            .expect("connect");
        let late = client
            .call_with_timeout::<_, u64>("sleep", &json!({"ms": 500}), Duration::from_millis(30))
            .await;
        assert!(matches!(late, Err(CallError::Timeout)), "{late:?}");

        let dropped = timeout(
            Duration::from_millis(30),
            client.call::<_, u64>("sleep", &json!({"ms": 500})),
        )
        .await;
        assert!(dropped.is_err(), "the call should still have been waiting");
        // The cancel reaches the driver asynchronously.
        while client.metrics().await.in_flight != 0 {
            rt::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            client.call::<_, Value>("echo", &[1]).await.expect("echo"),
            json!([1])
        );
    })
    .await;
}

/// A server that drops the connection with a call outstanding: the call ends
/// `ConnectionLost` and says it was sent.
pub async fn a_server_that_goes_away_ends_calls_with_connection_lost() {
    within(async {
        let mut server = adapter::Server::bind("127.0.0.1:0", adapter::ServerConfig::default())
            .await
            .expect("bind");
        let url = format!("ws://{}", server.local_addr().expect("local_addr"));
        rt::spawn(async move {
            if let Ok((mut ws, _)) = server.accept().await {
                // Read the request, then vanish without answering.
                let _ = ws.recv().await;
                drop(ws);
            }
        });
        let client = Client::connect(&url, ClientConfig::default())
            .await
            .expect("connect");
        let lost = client.call::<_, Value>("echo", &[1]).await;
        assert!(
            matches!(lost, Err(CallError::ConnectionLost { sent: true })),
            "{lost:?}"
        );
    })
    .await;
}
