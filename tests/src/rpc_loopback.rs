//! Our JSON-RPC client against our server over loopback TCP: typed calls and their
//! errors, many calls at once on one connection, slow handlers and the handler bound,
//! deadlines and cancellation, batches, and a server that goes away or dies. (Reconnects,
//! heartbeats and queues are in `session.rs`.) Compiled once per adapter (see
//! [`crate::runtime`]) and run by `tests/rpc_loopback.rs`; the server serves the
//! `rpc_server` example's methods. Every scenario runs under a time limit, so a bug fails
//! instead of hanging.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::adapter;
use super::adapter::rpc::{
    Backoff, CallError, Client, ClientConfig, ErrorObject, RpcConfig, Server, ServerConfig, State,
};
use super::adapter::{ConnectError, Message};
use super::rt;
use crate::proxy::Proxy;
use crate::runtime::timeout;

#[path = "../../examples/shared/rpc_methods.rs"]
mod rpc_methods;

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(scenario: impl Future<Output = T>) -> T {
    timeout(LIMIT, scenario).await.expect("scenario timed out")
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
    rt::sleep(Duration::from_millis(ms)).await;
    Ok(n)
}

/// The example's server (plus `tag`) on a free port, serving in the background; its URL.
async fn start(config: ServerConfig) -> String {
    let server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let server = rpc_methods::routes(server).route("tag", tag);
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    rt::spawn(async move {
        let _ = server.serve().await;
    });
    url
}

/// The server side of `hold`: each call says it started (with how many run at once),
/// then waits until the test releases one.
#[derive(Clone)]
struct Gate {
    started: async_channel::Sender<usize>,
    release: async_channel::Receiver<()>,
    running: Arc<AtomicUsize>,
}

/// The test's side of a [`Gate`].
struct GateKeeper {
    /// One message per `hold` call that started: how many were running then.
    started: async_channel::Receiver<usize>,
    /// One message lets one `hold` call answer.
    release: async_channel::Sender<()>,
}

/// [`start`], plus `hold`: a handler that runs until the test lets it go, so tests see
/// handlers run at once by events instead of by how long they took.
async fn start_gated(config: ServerConfig) -> (String, GateKeeper) {
    let (started_tx, started) = async_channel::unbounded();
    let (release, release_rx) = async_channel::unbounded();
    let gate = Gate {
        started: started_tx,
        release: release_rx,
        running: Arc::default(),
    };
    let server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let server = rpc_methods::routes(server).route("hold", move |_: Value| {
        let gate = gate.clone();
        async move {
            let now = gate.running.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = gate.started.send(now).await;
            let _ = gate.release.recv().await;
            gate.running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ErrorObject>(now)
        }
    });
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    rt::spawn(async move {
        let _ = server.serve().await;
    });
    (url, GateKeeper { started, release })
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
        rt::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls until the client has read `n` more bytes than `since`: late answers are read,
/// and dropped by the core without a trace in the metrics but their bytes. (The heartbeat's
/// first ping is 5 s away, so these bytes are answers.)
async fn received(client: &Client, since: u64, n: u64) {
    while client.metrics().await.bytes_received < since + n {
        rt::sleep(Duration::from_millis(10)).await;
    }
}

/// Every method of the example answers, with results typed on our side; server errors,
/// unknown methods and bad params are error objects; params and results that do not fit
/// are caught here; notifications, even of unknown methods, are fine; a call without a
/// deadline works; after `close`, calls are refused.
pub async fn example_methods_answer_typed_calls() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;

        let value = json!({"a": [1, 2.5, "x", null], "b": {"c": true}});
        let echoed: Value = client.call("echo", &value).await.expect("echo");
        assert_eq!(echoed, value);
        let value = json!({"list": [1, "two", null], "nested": {"ok": true}});
        assert_eq!(
            client.call::<_, Value>("echo", &value).await.expect("echo"),
            value
        );
        let echoed: Value = client.call("echo", &()).await.expect("echo without params");
        assert_eq!(echoed, Value::Null);

        let sum: Value = client.call("add", &(40, 2)).await.expect("add ints");
        assert_eq!(sum, json!(42));
        assert!(sum.is_i64(), "integers stay integers");
        let sum: f64 = client.call("add", &(0.5, 2)).await.expect("add floats");
        assert_eq!(sum, 2.5);
        let sum: f64 = client.call("add", &(0.25, 1)).await.expect("add floats");
        assert_eq!(sum, 1.25);
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
            client.call::<_, Value>("echo", &"not structured").await,
            Err(CallError::Params(_))
        ));
        assert!(matches!(
            client.call::<_, String>("add", &(1, 2)).await,
            Err(CallError::Result(_))
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

/// Ten thousand calls from as many tasks share one connection; answers come back out of
/// order and each caller gets its own, once.
pub async fn ten_thousand_concurrent_calls_on_one_connection_each_get_their_own_answer() {
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
        let mut calls = Vec::new();
        for n in 0..CALLS {
            let client = client.clone();
            let finished = finished.clone();
            calls.push(rt::spawn_task(async move {
                let answer: u64 = client.call("tag", &json!({ "n": n })).await.expect("tag");
                (n, answer, finished.fetch_add(1, Ordering::Relaxed))
            }));
        }
        let mut seen = vec![false; CALLS as usize];
        let mut out_of_order = 0;
        for call in calls {
            let (n, answer, place) = call.join().await;
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

/// A call whose handler has not finished (it waits until the test lets it go) does not
/// hold up a quick one made after it on the same connection.
pub async fn a_slow_handler_does_not_block_a_fast_one_on_the_same_connection() {
    within(async {
        let (url, gate) = start_gated(ServerConfig::default()).await;
        let client = connect(&url).await;
        let slow = {
            let client = client.clone();
            rt::spawn_task(async move { client.call::<_, usize>("hold", &json!({})).await })
        };
        // The slow handler runs on the server.
        assert_eq!(gate.started.recv().await, Ok(1));
        let echoed: Value = client.call("echo", &["fast"]).await.expect("echo");
        assert_eq!(echoed, json!(["fast"]));
        assert!(
            !slow.is_finished(),
            "the held call answered before it was let go"
        );
        gate.release.send(()).await.expect("release");
        assert_eq!(slow.join().await.expect("slow call"), 1);
    })
    .await;
}

/// A handler that panics is answered `-32603`, whether it panics in the poll the
/// connection's driver gives it (before its first wait) or later in a task of its own; the
/// connection and the server go on serving.
pub async fn a_handler_that_panics_is_answered_internal_error_and_the_connection_goes_on() {
    within(async {
        let server = Server::bind("127.0.0.1:0", ServerConfig::default())
            .await
            .expect("bind");
        let server = rpc_methods::routes(server)
            .route("panic_at_once", |_: serde::de::IgnoredAny| async {
                if true {
                    panic!("a handler's bug, before its first wait");
                }
                Ok::<(), ErrorObject>(())
            })
            .route("panic_after_a_wait", |_: serde::de::IgnoredAny| async {
                rt::sleep(Duration::from_millis(5)).await;
                if true {
                    panic!("a handler's bug, after a wait");
                }
                Ok::<(), ErrorObject>(())
            });
        let url = format!("ws://{}", server.local_addr().expect("local_addr"));
        rt::spawn(async move {
            let _ = server.serve().await;
        });
        let client = connect(&url).await;
        for method in ["panic_at_once", "panic_after_a_wait", "panic_at_once"] {
            let result = client.call::<_, Value>(method, &json!({})).await;
            assert_eq!(rpc_code(result), ErrorObject::INTERNAL_ERROR, "{method}");
            let echoed: Value = client.call("echo", &[method]).await.expect("echo");
            assert_eq!(echoed, json!([method]));
        }
        assert_eq!(
            client.metrics().await.reconnections,
            0,
            "one connection throughout"
        );
    })
    .await;
}

/// With `max_handlers_per_connection: 2`, four held calls all succeed, never more than
/// two running at once: the others wait for a slot rather than being refused.
pub async fn handlers_past_the_bound_wait_instead_of_being_refused() {
    within(async {
        let config = ServerConfig {
            max_handlers_per_connection: 2,
            ..Default::default()
        };
        let (url, gate) = start_gated(config).await;
        let client = connect(&url).await;
        let mut calls = Vec::new();
        for _ in 0..4 {
            let client = client.clone();
            calls.push(rt::spawn_task(async move {
                client.call::<_, usize>("hold", &json!({})).await
            }));
        }
        // Two start; each one let go makes room for one more.
        let mut running = vec![
            gate.started.recv().await.expect("a first handler"),
            gate.started.recv().await.expect("a second handler"),
        ];
        for _ in 0..2 {
            gate.release.send(()).await.expect("release");
            running.push(
                gate.started
                    .recv()
                    .await
                    .expect("a handler in the freed slot"),
            );
        }
        for _ in 0..2 {
            gate.release.send(()).await.expect("release");
        }
        for call in calls {
            let at_once = call.join().await.expect("hold");
            assert!(at_once <= 2, "{at_once} handlers ran at once");
        }
        assert!(running.iter().all(|&n| n <= 2), "at once: {running:?}");
        assert!(
            running.contains(&2),
            "the two slots were never both used: {running:?}"
        );
    })
    .await;
}

/// A call past its own deadline ends `Timeout` and frees its slot; the connection carries
/// on, and the late answer, when it comes, is read and dropped.
pub async fn a_call_past_its_deadline_times_out_and_the_connection_stays_usable() {
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

/// A hundred calls whose futures are dropped after 1 ms are cancelled: each gives its slot
/// back, their late answers are read and handed to nobody, and the connection carries on.
pub async fn dropping_a_call_future_cancels_the_call() {
    within(async {
        let client = connect(&start(ServerConfig::default()).await).await;
        let params = json!({"ms": 500});
        for _ in 0..100 {
            if let Ok(result) = timeout(
                Duration::from_millis(1),
                client.call::<_, u64>("sleep", &params),
            )
            .await
            {
                panic!("the call should have been dropped, got {result:?}")
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

/// A batch of three calls and a notification, sent by hand over a plain WebSocket, is
/// answered with one array of three responses.
pub async fn a_batch_is_answered_as_one_array() {
    within(async {
        let url = start(ServerConfig::default()).await;
        let mut ws = adapter::connect(&url, Default::default())
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

/// A server that dies with a call in flight (its port closes and every connection is cut
/// without a close frame: here a [`Proxy`] in front of it is killed) loses the call, which
/// ends `ConnectionLost`; with nobody listening, the client gives up after three attempts,
/// and a new client's `connect` says why.
pub async fn a_server_that_dies_loses_the_pending_calls_and_the_client_gives_up_after_max_attempts()
{
    within(async {
        let upstream = start(ServerConfig::default()).await;
        let upstream = upstream
            .strip_prefix("ws://")
            .and_then(|addr| addr.parse().ok())
            .expect("ws://ADDR");
        let proxy = Proxy::start(upstream);
        let url = proxy.url();
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
            rt::spawn_task(
                async move { client.call::<_, u64>("sleep", &json!({"ms": 10_000})).await },
            )
        };
        rt::sleep(Duration::from_millis(50)).await;
        proxy.kill();
        let lost = pending.join().await;
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
