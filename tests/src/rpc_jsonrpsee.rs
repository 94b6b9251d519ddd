//! JSON-RPC 2.0 interop with jsonrpsee 0.26 over `ws://` on 127.0.0.1, both directions:
//!
//! - `jsonrpsee_client_*`: jsonrpsee's WebSocket client (`WsClientBuilder`) against a
//!   tether `rpc::Server` in this process, serving the `rpc_server` example's methods
//!   ([`super::rpc`]).
//! - `tether_client_*`: tether's `rpc::Client` against a jsonrpsee `RpcModule` served by
//!   jsonrpsee's own `Server`, with `echo`, `add`, `sleep` and `fail` written the
//!   jsonrpsee way, and a middleware that records the notifications it receives.
//!
//! Compiled once per adapter (see [`crate::runtime`]) and run by `tests/rpc_jsonrpsee.rs`:
//! tether's side runs on the runtime under test. jsonrpsee is written for tokio, so its
//! side (client or server, and every call it makes) always runs as tasks of a tokio
//! runtime (`Tokio` below): the scenario's own when tether runs on tokio, else one of its
//! own.
//!
//! Every wait is bounded by `STEP_TIMEOUT`; nothing here asserts on time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonrpsee::core::client::{BatchResponse, ClientT, Error as JsonrpseeError, IdKind};
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::rpc_params;
use jsonrpsee::server::middleware::rpc::{
    Batch, Notification, Request, RpcServiceBuilder, RpcServiceT,
};
use jsonrpsee::server::{Server as JsonrpseeServer, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use jsonrpsee::RpcModule;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use tokio::runtime::{Handle, Runtime};

use super::adapter::rpc::{CallError, Client, ClientConfig, ErrorObject, ServerConfig};
use super::rpc::{RpcServer, SleepParams, FAIL_CODE, FAIL_MESSAGE};
use super::rt;
use crate::peer::STEP_TIMEOUT;
use crate::runtime::timeout;

/// Calls in flight at once on one connection in the concurrency tests (below both
/// clients' default in-flight limits: jsonrpsee's is raised to fit, tether's is 1024).
const CONCURRENT: usize = 1000;

/// `future`, or a panic naming `what` if it takes over [`STEP_TIMEOUT`].
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(STEP_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {STEP_TIMEOUT:?}"))
}

/// A JSON object as jsonrpsee's by-name params.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// The params and expected result of call number `i` in the concurrency tests: a mix of
/// the methods, with sleeps so that answers come back in another order than the calls.
fn mixed_call(i: usize) -> (&'static str, Value, Value) {
    let n = i as i64;
    match i % 3 {
        0 => ("add", json!([n, 2 * n]), json!(3 * n)),
        1 => {
            let params = json!({"i": n, "name": format!("call-{i}"), "list": [n, null, true]});
            ("echo", params.clone(), params)
        }
        _ => ("sleep", json!({"ms": i % 7}), json!(i % 7)),
    }
}

/// The tokio runtime the jsonrpsee side runs on. jsonrpsee's client and server bind,
/// connect and spawn their tasks with tokio, so every jsonrpsee future of a scenario runs
/// as a task of a tokio runtime, whatever tether runs on: the scenario's own when tether
/// runs on tokio (the two share it), else a two-worker runtime of its own, on threads of
/// its own, stopped when this is dropped. tether's side never runs on it.
struct Tokio {
    handle: Handle,
    own: Option<Runtime>,
}

impl Tokio {
    /// The scenario's tokio runtime, if it runs on one, or a new one.
    fn new() -> Tokio {
        if let Ok(handle) = Handle::try_current() {
            return Tokio { handle, own: None };
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("jsonrpsee")
            .enable_all()
            .build()
            .expect("a tokio runtime for jsonrpsee");
        Tokio {
            handle: runtime.handle().clone(),
            own: Some(runtime),
        }
    }

    /// Starts `task` on the tokio runtime now; what it returns is its output, awaited from
    /// any executor. A panic in `task` is resumed there.
    fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send + 'static {
        let task = self.handle.spawn(task);
        async move {
            match task.await {
                Ok(output) => output,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("a jsonrpsee task ended without an output: {e}"),
            }
        }
    }
}

impl Drop for Tokio {
    fn drop(&mut self) {
        if let Some(runtime) = self.own.take() {
            // Dropped in a scenario, perhaps inside another executor: do not block on the
            // tasks jsonrpsee leaves behind.
            runtime.shutdown_background();
        }
    }
}

// ------------------------------------------------------ jsonrpsee client, tether server

/// jsonrpsee's WebSocket client, each call of which runs on [`Tokio`].
struct JsonrpseeClient {
    client: Arc<WsClient>,
    tokio: Tokio,
}

impl JsonrpseeClient {
    /// Starts `call` with the client on the tokio runtime now; its output when awaited.
    fn run<T, F>(&self, call: impl FnOnce(Arc<WsClient>) -> F) -> impl Future<Output = T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.tokio.spawn(call(Arc::clone(&self.client)))
    }

    /// jsonrpsee's `request`.
    fn request<R, P>(
        &self,
        method: &'static str,
        params: P,
    ) -> impl Future<Output = Result<R, JsonrpseeError>>
    where
        R: DeserializeOwned + Send + 'static,
        P: ToRpcParams + Send + 'static,
    {
        self.run(move |client| async move { client.request(method, params).await })
    }

    /// jsonrpsee's `notification`.
    fn notification<P>(
        &self,
        method: &'static str,
        params: P,
    ) -> impl Future<Output = Result<(), JsonrpseeError>>
    where
        P: ToRpcParams + Send + 'static,
    {
        self.run(move |client| async move { client.notification(method, params).await })
    }

    /// jsonrpsee's `batch_request`.
    fn batch_request<R>(
        &self,
        batch: BatchRequestBuilder<'static>,
    ) -> impl Future<Output = Result<BatchResponse<'static, R>, JsonrpseeError>>
    where
        R: DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        self.run(move |client| async move { client.batch_request(batch).await })
    }

    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }
}

async fn tether_server() -> RpcServer {
    RpcServer::start(ServerConfig::default()).await
}

async fn jsonrpsee_client(url: &str, ids: IdKind) -> JsonrpseeClient {
    let tokio = Tokio::new();
    let target = url.to_owned();
    let connecting = tokio.spawn(async move {
        WsClientBuilder::default()
            .connection_timeout(STEP_TIMEOUT)
            .request_timeout(STEP_TIMEOUT)
            .max_concurrent_requests(2 * CONCURRENT)
            .id_format(ids)
            .build(target)
            .await
    });
    let client = bounded("jsonrpsee connecting", connecting)
        .await
        .unwrap_or_else(|e| panic!("jsonrpsee could not connect to {url}: {e}"));
    JsonrpseeClient {
        client: Arc::new(client),
        tokio,
    }
}

/// The JSON-RPC error object of a failed jsonrpsee call; any other outcome panics.
fn jsonrpsee_call_error<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, JsonrpseeError>,
) -> ErrorObjectOwned {
    match result {
        Err(JsonrpseeError::Call(e)) => e,
        other => panic!("{what}: expected a JSON-RPC error response, got {other:?}"),
    }
}

/// `echo`, `add` and `sleep` answer jsonrpsee's by-position and by-name params with the
/// right results.
pub async fn jsonrpsee_client_calls_tether_methods() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;

    let params = json!({"term": 7, "candidate": "node-3", "log": [1, 2.5, null, {"k": "v"}]});
    let echoed: Value = bounded("echo", client.request("echo", object(params.clone())))
        .await
        .expect("echo by name");
    assert_eq!(echoed, params);
    let echoed: Value = bounded("echo", client.request("echo", rpc_params![1, "two", [3]]))
        .await
        .expect("echo by position");
    assert_eq!(echoed, json!([1, "two", [3]]));

    let sum: i64 = bounded("add", client.request("add", rpc_params![2, 3]))
        .await
        .expect("add");
    assert_eq!(sum, 5);
    let sum: i64 = bounded("add", client.request("add", rpc_params![-7, i64::MAX - 1]))
        .await
        .expect("add");
    assert_eq!(sum, i64::MAX - 8);

    let slept: u64 = bounded("sleep", client.request("sleep", object(json!({"ms": 20}))))
        .await
        .expect("sleep");
    assert_eq!(slept, 20);
    assert!(client.is_connected());
    server.assert_serving();
}

/// `fail` reaches jsonrpsee as a call error with tether's code 1000 and message; an
/// unknown method as -32601; params `add` cannot read as -32602 (Invalid params). The
/// connection keeps working.
pub async fn jsonrpsee_client_gets_tether_errors() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;

    let failed = bounded("fail", client.request::<Value, _>("fail", rpc_params![])).await;
    let error = jsonrpsee_call_error("fail", failed);
    assert_eq!(i64::from(error.code()), FAIL_CODE, "{error:?}");
    assert_eq!(error.message(), FAIL_MESSAGE, "{error:?}");

    let unknown = bounded(
        "no-such-method",
        client.request::<Value, _>("no-such-method", rpc_params![1]),
    )
    .await;
    let error = jsonrpsee_call_error("no-such-method", unknown);
    assert_eq!(error.code(), -32601, "{error:?}");

    let bad = bounded(
        "add [\"a\", \"b\"]",
        client.request::<i64, _>("add", rpc_params!["a", "b"]),
    )
    .await;
    let error = jsonrpsee_call_error("add with strings", bad);
    assert_eq!(error.code(), -32602, "{error:?}");

    let sum: i64 = bounded(
        "add after the errors",
        client.request("add", rpc_params![40, 2]),
    )
    .await
    .expect("add after the errors");
    assert_eq!(sum, 42);
    assert!(client.is_connected());
    server.assert_serving();
}

/// 1000 calls in flight at once on one jsonrpsee connection, mixing `add`, `echo` and
/// short `sleep`s (so answers overtake each other): every call gets its own answer.
pub async fn jsonrpsee_client_concurrent_calls() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;
    let calls: Vec<_> = (0..CONCURRENT)
        .map(|i| {
            client.run(move |client| async move {
                let (method, params, expected) = mixed_call(i);
                let got: Result<Value, _> = match params {
                    Value::Object(map) => client.request(method, map).await,
                    Value::Array(list) => client.request(method, list).await,
                    other => panic!("params {other}"),
                };
                (i, got, expected)
            })
        })
        .collect();
    for call in calls {
        let (i, got, expected) = bounded("a concurrent call", call).await;
        let got = got.unwrap_or_else(|e| panic!("call {i} failed: {e}"));
        assert_eq!(got, expected, "call {i}");
    }
    assert!(client.is_connected());
    server.assert_serving();
}

/// A jsonrpsee batch of five calls (two of them failing) gets its five answers, which
/// jsonrpsee matches to the calls by id: results where tether answered results, error
/// objects where it answered errors.
pub async fn jsonrpsee_client_batch() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;

    let mut batch = BatchRequestBuilder::new();
    batch
        .insert("sleep", object(json!({"ms": 30})))
        .expect("sleep params");
    batch.insert("add", rpc_params![1, 2]).expect("add params");
    batch.insert("fail", rpc_params![]).expect("fail params");
    batch
        .insert("echo", rpc_params!["x", json!({"y": 2})])
        .expect("echo params");
    batch
        .insert("no-such-method", rpc_params![])
        .expect("params");
    let answers = bounded("the batch", client.batch_request::<Value>(batch))
        .await
        .expect("batch request");
    assert_eq!(answers.len(), 5, "{answers:?}");
    assert_eq!(answers.num_successful_calls(), 3, "{answers:?}");
    assert_eq!(answers.num_failed_calls(), 2, "{answers:?}");
    let answers: Vec<_> = answers.into_iter().collect();
    assert_eq!(answers[0].as_ref().ok(), Some(&json!(30)), "{answers:?}");
    assert_eq!(answers[1].as_ref().ok(), Some(&json!(3)), "{answers:?}");
    let fail = answers[2].as_ref().expect_err("fail answers an error");
    assert_eq!(
        (i64::from(fail.code()), fail.message()),
        (FAIL_CODE, FAIL_MESSAGE)
    );
    assert_eq!(
        answers[3].as_ref().ok(),
        Some(&json!(["x", {"y": 2}])),
        "{answers:?}"
    );
    let unknown = answers[4].as_ref().expect_err("unknown method");
    assert_eq!(unknown.code(), -32601, "{answers:?}");
    server.assert_serving();
}

/// A jsonrpsee batch of 600 calls, more than tether runs handlers for at once on one
/// connection (256 by default: past that it stops reading until one finishes), is
/// answered whole: 600 results, each matched to its call.
pub async fn jsonrpsee_client_batch_larger_than_handler_limit() {
    const N: i64 = 600;
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;
    let mut batch = BatchRequestBuilder::new();
    for i in 0..N {
        batch
            .insert("add", rpc_params![i, 1000])
            .expect("add params");
    }
    let answers = bounded("the large batch", client.batch_request::<i64>(batch))
        .await
        .expect("batch request");
    assert_eq!(answers.num_successful_calls(), N as usize);
    let sums: Vec<i64> = answers
        .into_ok()
        .unwrap_or_else(|errors| panic!("errors in the batch: {:?}", errors.collect::<Vec<_>>()))
        .collect();
    assert_eq!(sums, (0..N).map(|i| i + 1000).collect::<Vec<_>>());
    server.assert_serving();
}

/// jsonrpsee notifications reach tether's handler (the server's `note` counter) and get no
/// answer: a stray answer would carry an id jsonrpsee never sent, which jsonrpsee treats
/// as fatal (the client stops), so the calls after them would fail. The same for a
/// notification of a method tether does not serve.
pub async fn jsonrpsee_client_notifications() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;
    for n in 0..3 {
        bounded(
            "notification",
            client.notification("note", object(json!({"n": n}))),
        )
        .await
        .expect("notification");
    }
    bounded(
        "notification",
        client.notification("no-such-method", rpc_params![1]),
    )
    .await
    .expect("notification of an unknown method");
    assert_eq!(server.wait_for_notes(3).await, 3);
    let sum: i64 = bounded(
        "add after notifications",
        client.request("add", rpc_params![1, 1]),
    )
    .await
    .expect("add after notifications");
    assert_eq!(sum, 2);
    // Give a stray answer time to arrive, then check the client still works and the
    // counter did not move.
    rt::sleep(Duration::from_millis(200)).await;
    let echoed: Value = bounded("echo", client.request("echo", rpc_params!["still here"]))
        .await
        .expect("echo after notifications");
    assert_eq!(echoed, json!(["still here"]));
    assert!(client.is_connected());
    assert_eq!(server.notes(), 3);
    server.assert_serving();
}

/// jsonrpsee sends a notification without params as `"params": null` (its requests
/// without params leave the member out). JSON-RPC 2.0 allows params to be omitted, not
/// null; tether's server answers such a notification with -32600 and id `null`, and that
/// answer, with an id jsonrpsee never sent, stops jsonrpsee's client: every later call
/// fails with `RestartNeeded`. jsonrpsee's own server takes `null` as no params. This
/// test asks the same of tether: the notification runs `note`, nothing is answered, and
/// the connection goes on.
pub async fn jsonrpsee_client_notification_without_params() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::Number).await;
    bounded("notification", client.notification("note", rpc_params![]))
        .await
        .expect("notification without params");
    let sum = bounded(
        "add after the notification",
        client.request::<i64, _>("add", rpc_params![1, 1]),
    )
    .await;
    assert!(
        matches!(sum, Ok(2)),
        "a call after a jsonrpsee notification without params (sent as \"params\": null): \
         expected Ok(2), got {sum:?}"
    );
    assert_eq!(
        server.wait_for_notes(1).await,
        1,
        "the notification ran `note`"
    );
    assert!(client.is_connected());
}

/// jsonrpsee with string ids: tether echoes them unchanged, so calls still match.
pub async fn jsonrpsee_client_with_string_ids() {
    let server = tether_server().await;
    let client = jsonrpsee_client(&server.url(), IdKind::String).await;
    for i in 0..10i64 {
        let sum: i64 = bounded("add", client.request("add", rpc_params![i, 100]))
            .await
            .expect("add with a string id");
        assert_eq!(sum, i + 100);
    }
    server.assert_serving();
}

// ------------------------------------------------------ tether client, jsonrpsee server

/// What a [`NotificationLog`] saw: method and params (`null` if none) of each
/// notification.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// jsonrpsee's server runs no method for a notification: its RPC service drops them. So
/// the peer records them with this middleware (jsonrpsee's `RpcServiceT`), which sees each
/// notification after it was parsed and before it is dropped.
#[derive(Clone)]
struct NotificationLog<S> {
    service: S,
    seen: Seen,
}

impl<S> RpcServiceT for NotificationLog<S>
where
    S: RpcServiceT + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        self.service.call(request)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        self.service.batch(batch)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let params = match &notification.params {
            Some(raw) => serde_json::from_str(raw.get()).expect("params jsonrpsee parsed"),
            None => Value::Null,
        };
        self.seen
            .lock()
            .expect("notification log")
            .push((notification.method.to_string(), params));
        self.service.notification(notification)
    }
}

/// A jsonrpsee server on 127.0.0.1:0, serving on [`Tokio`], stopped on drop.
struct JsonrpseePeer {
    addr: SocketAddr,
    seen: Seen,
    handle: ServerHandle,
    /// Dropped after `handle` is stopped.
    _tokio: Tokio,
}

impl JsonrpseePeer {
    async fn start() -> JsonrpseePeer {
        let tokio = Tokio::new();
        let seen = Seen::default();
        let log = Arc::clone(&seen);
        let serving = tokio.spawn(async move {
            let middleware = RpcServiceBuilder::new().layer_fn(move |service| NotificationLog {
                service,
                seen: Arc::clone(&log),
            });
            let server = JsonrpseeServer::builder()
                .set_rpc_middleware(middleware)
                .build("127.0.0.1:0")
                .await
                .expect("jsonrpsee bind 127.0.0.1:0");
            let addr = server.local_addr().expect("jsonrpsee local_addr");
            let mut module = RpcModule::new(());
            module
                .register_method("echo", |params, _, _| params.parse::<Value>())
                .expect("register echo");
            module
                .register_method("add", |params, _, _| {
                    params.parse::<(i64, i64)>().map(|(a, b)| a + b)
                })
                .expect("register add");
            module
                .register_async_method("sleep", |params, _, _| async move {
                    let p: SleepParams = params.parse()?;
                    tokio::time::sleep(Duration::from_millis(p.ms)).await;
                    Ok::<u64, ErrorObjectOwned>(p.ms)
                })
                .expect("register sleep");
            module
                .register_method("fail", |_, _, _| {
                    Err::<Value, _>(ErrorObjectOwned::owned(
                        FAIL_CODE as i32,
                        FAIL_MESSAGE,
                        None::<()>,
                    ))
                })
                .expect("register fail");
            (addr, server.start(module))
        });
        let (addr, handle) = bounded("binding the jsonrpsee server", serving).await;
        JsonrpseePeer {
            addr,
            seen,
            handle,
            _tokio: tokio,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn notifications(&self) -> Vec<(String, Value)> {
        self.seen.lock().expect("notification log").clone()
    }

    /// The notifications seen once there are `n` of them, or after [`STEP_TIMEOUT`].
    async fn wait_for_notifications(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let seen = self.notifications();
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            rt::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for JsonrpseePeer {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

async fn tether_client(url: &str) -> Client {
    bounded(
        "tether connecting",
        Client::connect(url, ClientConfig::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("tether could not connect to {url}: {e}"))
}

/// The peer's error object of a failed tether call; any other outcome panics.
fn tether_rpc_error<T: std::fmt::Debug>(what: &str, result: Result<T, CallError>) -> ErrorObject {
    match result {
        Err(CallError::Rpc(e)) => e,
        other => panic!("{what}: expected CallError::Rpc, got {other:?}"),
    }
}

/// tether's client gets jsonrpsee's results for params by name and by position.
pub async fn tether_client_calls_jsonrpsee_methods() {
    let peer = JsonrpseePeer::start().await;
    let client = tether_client(&peer.url()).await;

    let params = json!({"term": 7, "candidate": "node-3", "log": [1, 2.5, null, {"k": "v"}]});
    let echoed: Value = bounded("echo", client.call("echo", &params))
        .await
        .expect("echo by name");
    assert_eq!(echoed, params);
    let echoed: Value = bounded("echo", client.call("echo", &json!([1, "two", [3]])))
        .await
        .expect("echo by position");
    assert_eq!(echoed, json!([1, "two", [3]]));

    let sum: i64 = bounded("add", client.call("add", &(2, 3)))
        .await
        .expect("add");
    assert_eq!(sum, 5);

    let slept: u64 = bounded("sleep", client.call("sleep", &json!({"ms": 20})))
        .await
        .expect("sleep");
    assert_eq!(slept, 20);
    bounded("close", client.close()).await;
}

/// jsonrpsee's error answers reach tether as `CallError::Rpc` with their codes: the
/// application's 1000 (with its message), -32601 for an unknown method, -32602 for
/// params `add` cannot read. A result of the wrong type is `CallError::Result`. The
/// connection keeps working.
pub async fn tether_client_gets_jsonrpsee_errors() {
    let peer = JsonrpseePeer::start().await;
    let client = tether_client(&peer.url()).await;

    let failed = bounded("fail", client.call::<_, Value>("fail", &json!([]))).await;
    let error = tether_rpc_error("fail", failed);
    assert_eq!(
        (error.code, error.message.as_str()),
        (FAIL_CODE, FAIL_MESSAGE)
    );

    let unknown = bounded(
        "no-such-method",
        client.call::<_, Value>("no-such-method", &json!([1])),
    )
    .await;
    assert_eq!(tether_rpc_error("no-such-method", unknown).code, -32601);

    let bad = bounded(
        "add with strings",
        client.call::<_, i64>("add", &("a", "b")),
    )
    .await;
    assert_eq!(tether_rpc_error("add with strings", bad).code, -32602);

    let wrong_type = bounded(
        "echo as i64",
        client.call::<_, i64>("echo", &json!({"a": 1})),
    )
    .await;
    assert!(
        matches!(wrong_type, Err(CallError::Result(_))),
        "a result that is not an i64: {wrong_type:?}"
    );

    let sum: i64 = bounded("add after the errors", client.call("add", &(40, 2)))
        .await
        .expect("add after the errors");
    assert_eq!(sum, 42);
    bounded("close", client.close()).await;
}

/// 1000 calls in flight at once on one tether connection to jsonrpsee, mixing `add`,
/// `echo` and short `sleep`s: every call gets its own answer.
pub async fn tether_client_concurrent_calls_to_jsonrpsee() {
    let peer = JsonrpseePeer::start().await;
    let client = tether_client(&peer.url()).await;
    let calls: Vec<_> = (0..CONCURRENT)
        .map(|i| {
            let client = client.clone();
            rt::spawn_task(async move {
                let (method, params, expected) = mixed_call(i);
                let got: Result<Value, _> = client.call(method, &params).await;
                (i, got, expected)
            })
        })
        .collect();
    for call in calls {
        let (i, got, expected) = bounded("a concurrent call", call.join()).await;
        let got = got.unwrap_or_else(|e| panic!("call {i} failed: {e:?}"));
        assert_eq!(got, expected, "call {i}");
    }
    bounded("close", client.close()).await;
}

/// tether notifications reach jsonrpsee's server as notifications, with their method and
/// params; a call that times out on tether's side is answered late by jsonrpsee, and that
/// late answer is dropped without disturbing the next call; after `close`, calls fail with
/// `Closed`.
pub async fn tether_client_notifies_times_out_and_closes() {
    let peer = JsonrpseePeer::start().await;
    let client = tether_client(&peer.url()).await;

    for n in 0..3 {
        bounded("notify", client.notify("note", &json!({"n": n})))
            .await
            .expect("notify");
    }
    let mut seen = peer.wait_for_notifications(3).await;
    seen.sort_by_key(|(_, params)| params["n"].as_i64());
    let expected: Vec<_> = (0..3)
        .map(|n| ("note".to_owned(), json!({"n": n})))
        .collect();
    assert_eq!(seen, expected);

    // jsonrpsee answers after 300 ms, long after tether gave up at 20 ms; the next call
    // outlives that late answer, and must get its own.
    let early = bounded(
        "a call with a short timeout",
        client.call_with_timeout::<_, u64>("sleep", &json!({"ms": 300}), Duration::from_millis(20)),
    )
    .await;
    assert!(
        matches!(early, Err(CallError::Timeout)),
        "expected Timeout, got {early:?}"
    );
    let slept: u64 = bounded(
        "sleep after the timeout",
        client.call("sleep", &json!({"ms": 600})),
    )
    .await
    .expect("sleep after the timeout");
    assert_eq!(slept, 600);
    // The late answer came first, at 300 ms, and was dropped in the core: of the answers,
    // only the second reached the client (3 notifications and 2 calls went out).
    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(
        (
            metrics.messages_sent,
            metrics.messages_received,
            metrics.in_flight
        ),
        (5, 1, 0),
        "{metrics:?}"
    );

    bounded("close", client.close()).await;
    let after = bounded(
        "a call after close",
        client.call::<_, Value>("echo", &json!([1])),
    )
    .await;
    assert!(
        matches!(after, Err(CallError::Closed)),
        "expected Closed after close(), got {after:?}"
    );
    assert_eq!(peer.notifications().len(), 3);
}
