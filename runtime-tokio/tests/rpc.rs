//! Our JSON-RPC client against our server over loopback TCP: typed calls, many calls at
//! once on one connection, slow handlers, deadlines, cancellation, and a server that dies.
//! (Reconnects, heartbeats and giving up are in `session.rs`.)
//! Every scenario runs under a time limit, so a bug fails instead of hanging.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use tether_tokio::rpc::{
    Backoff, CallError, Client, ClientConfig, ErrorObject, RpcConfig, Server, ServerConfig, State,
};
use tether_tokio::{ConnectError, Message};

#[path = "../examples/common/rpc_methods.rs"]
mod rpc_methods;

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(scenario: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("scenario timed out")
}

/// Params of `tag`: a number the caller picks, echoed back after a while.
#[derive(Debug, Deserialize)]
struct Tag {
    n: u64,
}

/// Waits 0 to 20 ms, chosen from `n` so that neighbours wait differently, then returns `n`:
/// answers come back in another order than the calls went out.
async fn tag(Tag { n }: Tag) -> Result<u64, ErrorObject> {
    let ms = n.wrapping_mul(2_654_435_761) % 21;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(n)
}

/// Starts the example's server (plus `tag`) on a free port; returns its URL.
async fn start(config: ServerConfig) -> String {
    let server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let server = rpc_methods::routes(server).route("tag", tag);
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    tokio::spawn(server.serve());
    url
}

async fn connect(url: &str) -> Client {
    Client::connect(url, ClientConfig::default())
        .await
        .expect("connect")
}

fn rpc_code<T: std::fmt::Debug>(result: Result<T, CallError>) -> i64 {
    match result {
        Err(CallError::Rpc(error)) => error.code,
        other => panic!("expected an error object, got {other:?}"),
    }
}

/// Polls `metrics().in_flight` until it is 0: cancels reach the driver asynchronously.
async fn no_calls_in_flight(client: &Client) {
    while client.metrics().await.in_flight != 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls until the client has read `n` more bytes than `since`: late answers are read,
/// and dropped by the core without a trace in the metrics but their bytes. (The heartbeat's
/// first ping is 5 s away, so these bytes are answers.)
async fn received(client: &Client, since: u64, n: u64) {
    while client.metrics().await.bytes_received < since + n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn example_methods_answer_typed_calls() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;

        let value = json!({"a": [1, 2.5, "x", null], "b": {"c": true}});
        let echoed: Value = client.call("echo", &value).await.expect("echo");
        assert_eq!(echoed, value);
        let echoed: Value = client.call("echo", &()).await.expect("echo without params");
        assert_eq!(echoed, Value::Null);

        let sum: Value = client.call("add", &(40, 2)).await.expect("add ints");
        assert_eq!(sum, json!(42));
        assert!(sum.is_i64(), "integers stay integers");
        let sum: f64 = client.call("add", &(0.5, 2)).await.expect("add floats");
        assert_eq!(sum, 2.5);
        let sum: Value = client.call("add", &(i64::MAX, 1)).await.expect("overflow");
        assert!(sum.is_f64(), "an i64 overflow adds as f64");

        let slept: u64 = client
            .call("sleep", &json!({"ms": 10}))
            .await
            .expect("sleep");
        assert_eq!(slept, 10);

        let failed = client.call::<_, Value>("fail", &()).await;
        assert_eq!(rpc_code(failed), rpc_methods::FAIL_CODE);
        let unknown = client.call::<_, Value>("no/such/method", &()).await;
        assert_eq!(rpc_code(unknown), ErrorObject::METHOD_NOT_FOUND);
        let bad = client.call::<_, Value>("add", &["one", "two"]).await;
        assert_eq!(rpc_code(bad), ErrorObject::INVALID_PARAMS);
        let bad = client.call::<_, Value>("sleep", &()).await;
        assert_eq!(rpc_code(bad), ErrorObject::INVALID_PARAMS);

        // Caught on our side, nothing sent: params must be structured, results must fit.
        assert!(matches!(
            client.call::<_, Value>("echo", &5).await,
            Err(CallError::Params(_))
        ));
        assert!(matches!(
            client.call::<_, String>("add", &(1, 2)).await,
            Err(CallError::Result(_))
        ));
        client
            .notify("sleep", &json!({"ms": 1}))
            .await
            .expect("notify");
        client
            .notify("no/such/method", &())
            .await
            .expect("notify unknown");
        let forever = client.call_with_timeout::<_, Value>("echo", &[0], Duration::MAX);
        assert_eq!(forever.await.expect("no deadline overflow"), json!([0]));
        let echoed: Value = client.call("echo", &[7]).await.expect("still usable");
        assert_eq!(echoed, json!([7]));
        assert_eq!(client.metrics().await.in_flight, 0);
        client.close().await;
        assert!(matches!(
            client.call::<_, Value>("echo", &[1]).await,
            Err(CallError::Closed)
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls_on_one_connection_each_get_their_own_answer() {
    const CALLS: u64 = 10_000;
    within(async {
        let url = start(ServerConfig::default()).await;
        let config = ClientConfig {
            rpc: RpcConfig {
                max_in_flight: CALLS as usize,
                ..Default::default()
            },
            ..Default::default()
        };
        let client = Client::connect(&url, config).await.expect("connect");
        let finished = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..CALLS {
            let client = client.clone();
            let finished = finished.clone();
            calls.spawn(async move {
                let answer: u64 = client.call("tag", &json!({ "n": n })).await.expect("tag");
                (n, answer, finished.fetch_add(1, Ordering::Relaxed))
            });
        }
        let mut seen = vec![false; CALLS as usize];
        let mut out_of_order = 0;
        while let Some(joined) = calls.join_next().await {
            let (n, answer, place) = joined.expect("call task");
            assert_eq!(answer, n, "a caller got someone else's answer");
            assert!(!seen[n as usize], "answer {n} delivered twice");
            seen[n as usize] = true;
            if place as u64 != n {
                out_of_order += 1;
            }
        }
        assert!(seen.iter().all(|&s| s), "answers lost");
        assert!(
            out_of_order > CALLS / 10,
            "answers came back nearly in order ({out_of_order} out of place): the test proves little"
        );
        let metrics = client.metrics().await;
        assert_eq!(metrics.in_flight, 0);
        assert_eq!(metrics.messages_received, CALLS);
        assert_eq!(metrics.reconnections, 0);
    })
    .await;
}

#[tokio::test]
async fn a_slow_handler_does_not_block_a_fast_one_on_the_same_connection() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;
        let slow = {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &json!({"ms": 1500})).await })
        };
        // Let the slow request reach the server first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let echoed: Value = client.call("echo", &["fast"]).await.expect("echo");
        assert_eq!(echoed, json!(["fast"]));
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(!slow.is_finished(), "the slow call should still be running");
        assert_eq!(slow.await.expect("slow task").expect("slow call"), 1500);
    })
    .await;
}

#[tokio::test]
async fn handlers_past_the_bound_wait_instead_of_being_refused() {
    within(async {
        let config = ServerConfig {
            max_handlers_per_connection: 2,
            ..Default::default()
        };
        let client = connect(&start(config).await).await;
        let started = Instant::now();
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let client = client.clone();
            calls.spawn(async move { client.call::<_, u64>("sleep", &json!({"ms": 200})).await });
        }
        while let Some(joined) = calls.join_next().await {
            assert_eq!(joined.expect("task").expect("sleep"), 200);
        }
        // Two at a time: two rounds of 200 ms.
        assert!(started.elapsed() >= Duration::from_millis(400));
    })
    .await;
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out_and_the_connection_stays_usable() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;
        let late = client
            .call_with_timeout::<_, u64>("sleep", &json!({"ms": 300}), Duration::from_millis(50))
            .await;
        assert!(matches!(late, Err(CallError::Timeout)), "{late:?}");
        assert_eq!(client.metrics().await.in_flight, 0);

        let sum: i64 = client
            .call("add", &(1, 2))
            .await
            .expect("add after timeout");
        assert_eq!(sum, 3);
        // The late answer arrives, matches nothing, and is dropped.
        let before = client.metrics().await;
        received(&client, before.bytes_received, 1).await;
        assert_eq!(
            client.metrics().await.messages_received,
            before.messages_received
        );
        let sum: i64 = client
            .call("add", &(2, 2))
            .await
            .expect("add after late answer");
        assert_eq!(sum, 4);
    })
    .await;
}

#[tokio::test]
async fn dropping_a_call_future_cancels_the_call() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;
        let params = json!({"ms": 500});
        for _ in 0..100 {
            tokio::select! {
                result = client.call::<_, u64>("sleep", &params) => {
                    panic!("the call should have been dropped, got {result:?}")
                }
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
        // Nothing leaks: every dropped call gives its slot back.
        no_calls_in_flight(&client).await;
        let echoed: Value = client.call("echo", &["after"]).await.expect("echo");
        assert_eq!(echoed, json!(["after"]));
        // Their late answers (over 50 bytes each, with a 36-character id) are read and
        // dropped, not handed to anyone. A call whose cancel reached the client's task
        // before the call itself was never sent, so count those that were.
        let before = client.metrics().await;
        let sent = before.messages_sent - 1;
        assert!(sent <= 100, "{before:?}");
        received(&client, before.bytes_received, sent * 50).await;
        assert_eq!(
            client.metrics().await.messages_received,
            before.messages_received
        );
        let echoed: Value = client.call("echo", &["later"]).await.expect("echo");
        assert_eq!(echoed, json!(["later"]));
    })
    .await;
}

#[tokio::test]
async fn a_batch_is_answered_as_one_array() {
    within(async {
        let url = start(ServerConfig::default()).await;
        let mut ws = tether_tokio::connect(&url, Default::default())
            .await
            .expect("connect");
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "sleep", "params": {"ms": 30}},
            {"jsonrpc": "2.0", "method": "echo", "params": [0]},
            {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [1, 2]},
            {"jsonrpc": "2.0", "id": 3, "method": "no/such/method"},
        ]);
        ws.send(batch.to_string()).await.expect("send");
        let Some(Message::Text(text)) = ws.recv().await else {
            panic!("no answer");
        };
        let answer: Value = serde_json::from_str(&text).expect("json");
        let mut answers = answer.as_array().expect("an array").clone();
        answers.sort_by_key(|a| a["id"].as_i64());
        assert_eq!(
            Value::Array(answers),
            json!([
                {"jsonrpc": "2.0", "id": 1, "result": 30},
                {"jsonrpc": "2.0", "id": 2, "result": 3},
                {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "Method not found"}},
            ])
        );
    })
    .await;
}

/// Runs a server in a runtime of its own, so the test can kill it with every connection.
fn start_killable() -> (String, std::sync::mpsc::Sender<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Multi-threaded: its worker runs the server while this thread waits for the kill.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let url = runtime.block_on(async {
            let server = Server::bind("127.0.0.1:0", ServerConfig::default())
                .await
                .expect("bind");
            let server = rpc_methods::routes(server);
            let url = format!("ws://{}", server.local_addr().expect("local_addr"));
            tokio::spawn(server.serve());
            url
        });
        addr_tx.send(url).expect("send url");
        let _ = kill_rx.recv();
        runtime.shutdown_background();
    });
    (addr_rx.recv().expect("server started"), kill_tx)
}

#[tokio::test]
async fn a_server_that_dies_loses_the_pending_calls_and_the_client_gives_up_after_max_attempts() {
    within(async {
        let (url, kill) = start_killable();
        let config = ClientConfig {
            backoff: Backoff {
                base: Duration::from_millis(10),
                max: Duration::from_millis(50),
                max_attempts: Some(3),
            },
            ..Default::default()
        };
        let client = Client::connect(&url, config).await.expect("connect");
        let sum: i64 = client.call("add", &(1, 1)).await.expect("add");
        assert_eq!(sum, 2);

        let pending = {
            let client = client.clone();
            tokio::spawn(
                async move { client.call::<_, u64>("sleep", &json!({"ms": 10_000})).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        kill.send(()).expect("kill");
        let lost = pending.await.expect("task");
        assert!(
            matches!(lost, Err(CallError::ConnectionLost { sent: true })),
            "{lost:?}"
        );
        // Nobody listens any more: three refused attempts, then the client gives up.
        let mut states = client.states();
        let failed = states.wait_for(|s| s == State::Failed).await;
        assert_eq!(failed, Some(State::Failed));
        assert!(matches!(
            client.call::<_, Value>("echo", &[1]).await,
            Err(CallError::Failed)
        ));

        let again = Client::connect(&url, ClientConfig::default()).await;
        assert!(
            matches!(again, Err(ConnectError::Io(_))),
            "{:?}",
            again.err()
        );
    })
    .await;
}
