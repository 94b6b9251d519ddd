//! The edge of every tether server, over real sockets, against clients written by others
//! (Python `websockets` and `urllib`, `tests/peers/py_edge.py`): the upgrade hook of the
//! WebSocket `Server`, the JSON-RPC `rpc::Server` and a node's `Peers` refuses with its
//! status and headers, gives an identity that handlers see (from a header, and from a
//! client certificate verified by mutual TLS), and answers plain HTTP on the same port.
//! Compiled once per adapter (see [`crate::runtime`]) and run by `tests/edge.rs`.
//!
//! No wall-clock bound is asserted: every wait is on an event, bounded by `LIMIT` only so
//! that a bug fails the test instead of hanging it.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::adapter::pool::{NodeId, Peers, PeersConfig};
use super::adapter::rpc::{self, ErrorObject, Router};
use super::adapter::{
    Admission, Context, Decision, Hook, HttpResponse, Identity, Server, ServerConfig, ServerHandle,
    ServerTls, UpgradeRequest,
};
use super::rt;
use crate::certs::TestPki;
use crate::peer::{run_to_end, PeerKind};
use crate::runtime::{timeout, Task};

/// Bound on each wait of a scenario.
const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// The three servers of the crate, each with the hook under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `rpc::Server`, serving `whoami`.
    Rpc,
    /// The WebSocket `Server`, whose accept loop sends what `whoami` answers as the first
    /// message of each connection.
    Ws,
    /// The WebSocket `Server` under `serve`, whose handler sends the same first message.
    Serve,
    /// A node's `Peers`, serving `whoami` to a plain JSON-RPC client.
    Peers,
}

const KINDS: [Kind; 3] = [Kind::Rpc, Kind::Ws, Kind::Peers];

/// What `whoami` answers: the identity the hook gave (a `String`), and the caller's IP.
fn whoami(context: &Context) -> Value {
    json!({
        "identity": context.identity().get::<String>(),
        "anonymous": context.identity().is_anonymous(),
        "peer": context.peer_addr().map(|a| a.ip().to_string()),
    })
}

/// A server of `kind` on a free loopback port, deciding with `admission`, serving `tls`
/// if set; the task that runs it (stopped when dropped with `abort`) and its port.
struct Running {
    task: Option<Task<()>>,
    /// The servers' handle (`None` for a node's pool, which is its own handle).
    handle: Option<ServerHandle>,
    /// A node's pool runs on its own; it stops when this goes.
    peers: Option<Peers>,
    port: u16,
}

impl Running {
    async fn start(kind: Kind, admission: Admission, tls: Option<ServerTls>) -> Running {
        match kind {
            Kind::Rpc => {
                let config = rpc::ServerConfig {
                    admission,
                    tls,
                    ..Default::default()
                };
                let server = rpc::Server::bind("127.0.0.1:0", config)
                    .await
                    .expect("bind")
                    .route_with_context("whoami", |_: (), context: Context| async move {
                        Ok::<_, ErrorObject>(whoami(&context))
                    })
                    .route("add", |(a, b): (i64, i64)| async move {
                        Ok::<_, ErrorObject>(a + b)
                    });
                let port = server.local_addr().expect("local_addr").port();
                let handle = Some(server.handle());
                let task = rt::spawn_task(async move {
                    let _ = server.serve().await;
                });
                Running {
                    task: Some(task),
                    handle,
                    peers: None,
                    port,
                }
            }
            Kind::Ws => {
                let config = ServerConfig {
                    admission,
                    tls,
                    ..Default::default()
                };
                let mut server = Server::bind("127.0.0.1:0", config).await.expect("bind");
                let port = server.local_addr().expect("local_addr").port();
                let handle = Some(server.handle());
                let task = rt::spawn_task(async move {
                    while let Ok((mut ws, _)) = server.accept().await {
                        rt::spawn(async move {
                            let context = ws.context().expect("a server's connection").clone();
                            let _ = ws.send(whoami(&context).to_string()).await;
                            while ws.recv().await.is_some() {}
                        });
                    }
                });
                Running {
                    task: Some(task),
                    handle,
                    peers: None,
                    port,
                }
            }
            Kind::Serve => {
                let config = ServerConfig {
                    admission,
                    tls,
                    ..Default::default()
                };
                let server = Server::bind("127.0.0.1:0", config).await.expect("bind");
                let port = server.local_addr().expect("local_addr").port();
                let handle = Some(server.handle());
                let task = rt::spawn_task(async move {
                    let _ = server
                        .serve(|mut ws| async move {
                            let context = ws.context().expect("a server's connection").clone();
                            let _ = ws.send(whoami(&context).to_string()).await;
                            while ws.recv().await.is_some() {}
                        })
                        .await;
                });
                Running {
                    task: Some(task),
                    handle,
                    peers: None,
                    port,
                }
            }
            Kind::Peers => {
                let mut router = Router::default();
                router.insert_with_context("whoami", |_: (), context: Context| async move {
                    Ok::<_, ErrorObject>(whoami(&context))
                });
                let mut config = PeersConfig::new(NodeId(1));
                config.admission = admission;
                config.server_tls = tls;
                let peers = Peers::bind("127.0.0.1:0", config, router)
                    .await
                    .expect("bind");
                let port = peers.local_addr().expect("bound").port();
                Running {
                    task: None,
                    handle: None,
                    peers: Some(peers),
                    port,
                }
            }
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.port)
    }

    /// Connections the server counts against its limits now.
    fn connections(&self) -> usize {
        match (&self.handle, &self.peers) {
            (Some(handle), _) => handle.connections(),
            (None, Some(peers)) => peers.accepted_connections(),
            (None, None) => 0,
        }
    }

    /// Waits until the server counts no connection (each ends a little after its client
    /// has seen the close).
    async fn emptied(&self) {
        bounded("connections released", async {
            while self.connections() > 0 {
                rt::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        drop(self.peers.take());
    }
}

/// Runs `py_edge.py ARGS` with `env` and gives its JSON result, checked `ok`.
async fn py_edge(args: &[&str], env: &[(&str, &Path)]) -> Value {
    let mut command = PeerKind::Python.script_command("py_edge.py", args);
    command.envs(env.iter().copied());
    let what = args.join(" ");
    bounded(&what, run_to_end(PeerKind::Python, command, &what))
        .await
        .success()
}

/// [`py_edge`] in a task of its own, for a scenario that acts while the peer runs.
fn spawn_py_edge(args: &[&str]) -> Task<Value> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    rt::spawn_task(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        py_edge(&args, &[]).await
    })
}

/// The one outcome of a `py_edge.py upgrade` run.
async fn upgrade(url: &str, extra: &[&str], env: &[(&str, &Path)]) -> Value {
    let mut args = vec!["upgrade", url];
    args.extend_from_slice(extra);
    let result = py_edge(&args, env).await;
    result["outcomes"][0].clone()
}

/// What the server said to identify the caller: `whoami`'s answer, called on the
/// connection (RPC servers) or sent as the first message (the WebSocket server).
fn whoami_of(kind: Kind, outcome: &Value) -> Value {
    assert_eq!(outcome["status"], 101, "{kind:?}: {outcome}");
    match kind {
        Kind::Rpc | Kind::Peers => outcome["reply"]["result"].clone(),
        Kind::Ws | Kind::Serve => {
            serde_json::from_str(outcome["message"].as_str().expect("a text message"))
                .expect("JSON")
        }
    }
}

/// The hook of the header scenarios: a bearer token names the user; no token is 401 with
/// a challenge, an unknown one 403.
fn token_hook() -> Admission {
    Admission {
        hook: Some(Hook::new(|request: &UpgradeRequest| {
            match request.header("authorization") {
                Some(b"Bearer alice-token") => Decision::Accept(Identity::new("alice".to_owned())),
                Some(_) => Decision::Refuse(403),
                None => Decision::Respond(
                    HttpResponse::new(401)
                        .with_header("WWW-Authenticate", "Bearer realm=\"tether\""),
                ),
            }
        })),
        ..Admission::default()
    }
}

/// Every server answers an upgrade without a token 401 with the hook's challenge header,
/// and one with an unknown token 403, as Python `websockets` reports them; then opens for
/// the right token.
pub async fn every_server_refuses_with_the_hooks_status_and_headers() {
    for kind in KINDS {
        let server = Running::start(kind, token_hook(), None).await;
        let url = server.url("ws", "/");
        let none = upgrade(&url, &[], &[]).await;
        assert_eq!(none["status"], 401, "{kind:?}: {none}");
        assert_eq!(
            none["headers"]["www-authenticate"], "Bearer realm=\"tether\"",
            "{kind:?}: {none}"
        );
        let wrong = upgrade(&url, &["Authorization=Bearer mallory-token"], &[]).await;
        assert_eq!(wrong["status"], 403, "{kind:?}: {wrong}");
        let call = if kind == Kind::Ws {
            vec![]
        } else {
            vec!["call=whoami"]
        };
        let mut right = vec!["Authorization=Bearer alice-token"];
        right.extend(call);
        let opened = upgrade(&url, &right, &[]).await;
        assert_eq!(opened["status"], 101, "{kind:?}: {opened}");
    }
}

/// A handler (an RPC method, or the code that takes the WebSocket server's connections)
/// sees the identity the hook gave for the caller's header, and the caller's address.
pub async fn handlers_see_the_identity_the_hook_gave_for_a_header() {
    for kind in KINDS {
        let server = Running::start(kind, token_hook(), None).await;
        let mut args = vec!["Authorization=Bearer alice-token"];
        if kind != Kind::Ws {
            args.push("call=whoami");
        }
        let outcome = upgrade(&server.url("ws", "/"), &args, &[]).await;
        let seen = whoami_of(kind, &outcome);
        assert_eq!(
            seen,
            json!({"identity": "alice", "anonymous": false, "peer": "127.0.0.1"}),
            "{kind:?}"
        );
        // Without a hook every caller is anonymous, and still has an address.
        let open = Running::start(kind, Admission::default(), None).await;
        let args: &[&str] = if kind == Kind::Ws {
            &[]
        } else {
            &["call=whoami"]
        };
        let outcome = upgrade(&open.url("ws", "/"), args, &[]).await;
        assert_eq!(
            whoami_of(kind, &outcome),
            json!({"identity": null, "anonymous": true, "peer": "127.0.0.1"}),
            "{kind:?}"
        );
    }
}

/// A client that connects and sends its upgrade request only later is served as one that
/// sends it at once, by every server and both ways of taking the WebSocket server's
/// connections: a new connection's first read (on tokio, tried before the runtime has seen
/// the socket ready; for the servers, on the accepting task, with a waker that does
/// nothing) finds nothing, and the request is read when it comes. Python `websockets`
/// sends it on a socket connected 300 ms before.
pub async fn an_upgrade_request_sent_after_a_pause_is_answered() {
    for kind in [Kind::Rpc, Kind::Ws, Kind::Serve, Kind::Peers] {
        let server = Running::start(kind, Admission::default(), None).await;
        let mut args = vec!["late=0.3"];
        if matches!(kind, Kind::Rpc | Kind::Peers) {
            args.push("call=whoami");
        }
        let outcome = upgrade(&server.url("ws", "/"), &args, &[]).await;
        assert_eq!(
            whoami_of(kind, &outcome),
            json!({"identity": null, "anonymous": true, "peer": "127.0.0.1"}),
            "{kind:?}"
        );
    }
}

/// Dropping the future of `serve` (its task aborted) stops the accept loop, which runs on
/// a task of its own, and closes the listening socket: connecting is then refused.
pub async fn dropping_serve_closes_the_listening_socket() {
    for kind in [Kind::Rpc, Kind::Serve] {
        let mut server = Running::start(kind, Admission::default(), None).await;
        let args: &[&str] = if kind == Kind::Rpc {
            &["call=whoami"]
        } else {
            &[]
        };
        let outcome = upgrade(&server.url("ws", "/"), args, &[]).await;
        assert_eq!(outcome["status"], 101, "{kind:?}: {outcome}");
        server.task.take().expect("serve's task").abort();
        let port = server.port;
        bounded("the listening socket closed", async {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                rt::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// Over mutual TLS, the hook names the caller by the DNS name of the client certificate
/// the handshake verified, and refuses a certificate it does not know as a member, though
/// the cluster CA issued it; Python `websockets` presents the certificates.
pub async fn handlers_see_the_identity_the_hook_read_from_the_client_certificate() {
    let pki = TestPki::new("edge-mtls");
    let member = pki.client("node-7.cluster");
    let stranger = pki.client("visitor.example");
    let tls = pki
        .server()
        .server_tls()
        .require_client_certs(&pki.ca_pem)
        .expect("mTLS config");
    let admission = Admission {
        hook: Some(Hook::new(|request: &UpgradeRequest| {
            let names = request.client_certificate_names();
            match names.into_iter().find(|n| n.ends_with(".cluster")) {
                Some(node) => Decision::Accept(Identity::new(node)),
                None => Decision::Refuse(403),
            }
        })),
        ..Admission::default()
    };
    for kind in KINDS {
        let server = Running::start(kind, admission.clone(), Some(tls.clone())).await;
        let url = server.url("wss", "/");
        let args: &[&str] = if kind == Kind::Ws {
            &[]
        } else {
            &["call=whoami"]
        };
        let env = [
            ("PEER_TLS_CA", pki.ca_path.as_path()),
            ("PEER_TLS_CERT", member.chain_path.as_path()),
            ("PEER_TLS_KEY", member.key_path.as_path()),
        ];
        let outcome = upgrade(&url, args, &env).await;
        assert_eq!(
            whoami_of(kind, &outcome),
            json!({"identity": "node-7.cluster", "anonymous": false, "peer": "127.0.0.1"}),
            "{kind:?}"
        );
        let env = [
            ("PEER_TLS_CA", pki.ca_path.as_path()),
            ("PEER_TLS_CERT", stranger.chain_path.as_path()),
            ("PEER_TLS_KEY", stranger.key_path.as_path()),
        ];
        let refused = upgrade(&url, args, &env).await;
        assert_eq!(refused["status"], 403, "{kind:?}: {refused}");
    }
}

/// The hook of the plain-HTTP scenario: `/health` and `/metrics` pages; upgrades open.
fn pages_hook() -> Admission {
    Admission {
        hook: Some(Hook::new(|request: &UpgradeRequest| {
            if request.is_upgrade() {
                return Decision::Accept(Identity::new("visitor".to_owned()));
            }
            match (request.method(), request.path()) {
                ("GET" | "HEAD", "/health") => Decision::Respond(
                    HttpResponse::new(200)
                        .with_header("Content-Type", "text/plain")
                        .with_body("ok\n"),
                ),
                ("GET", "/metrics") => Decision::Respond(
                    HttpResponse::new(200)
                        .with_body(format!("peer {}\n", request.peer_addr().ip())),
                ),
                _ => Decision::Refuse(404),
            }
        })),
        ..Admission::default()
    }
}

/// `urllib` gets the hook's pages from every server's port (`GET` and `HEAD /health`,
/// `GET /metrics`, 404 elsewhere), and a WebSocket still opens on the same port; a server
/// without a hook answers a plain request with the status its fault calls for.
pub async fn a_plain_http_request_is_answered_by_the_hook_on_the_same_port() {
    for kind in KINDS {
        let server = Running::start(kind, pages_hook(), None).await;
        let health = py_edge(&["get", &server.url("http", "/health")], &[]).await;
        assert_eq!(health["status"], 200, "{kind:?}: {health}");
        assert_eq!(health["body"], "ok\n", "{kind:?}");
        assert_eq!(health["headers"]["content-type"], "text/plain", "{kind:?}");
        assert_eq!(health["headers"]["connection"], "close", "{kind:?}");
        let head = py_edge(&["get", &server.url("http", "/health"), "method=HEAD"], &[]).await;
        assert_eq!(head["status"], 200, "{kind:?}: {head}");
        assert_eq!(head["headers"]["content-length"], "3", "{kind:?}");
        assert_eq!(head["body"], "", "{kind:?}");
        let metrics = py_edge(&["get", &server.url("http", "/metrics")], &[]).await;
        assert_eq!(metrics["body"], "peer 127.0.0.1\n", "{kind:?}: {metrics}");
        let missing = py_edge(&["get", &server.url("http", "/nothing")], &[]).await;
        assert_eq!(missing["status"], 404, "{kind:?}: {missing}");
        let args: &[&str] = if kind == Kind::Ws {
            &[]
        } else {
            &["call=whoami"]
        };
        let outcome = upgrade(&server.url("ws", "/"), args, &[]).await;
        assert_eq!(whoami_of(kind, &outcome)["identity"], "visitor", "{kind:?}");

        let plain = Running::start(kind, Admission::default(), None).await;
        let get = py_edge(&["get", &plain.url("http", "/health")], &[]).await;
        assert_eq!(get["status"], 400, "{kind:?}: {get}");
    }
}

/// Past the limits (2 per IP address, 3 in all), Python `websockets` gets `503` with the
/// `Retry-After` asked for, from every server: the third connection from 127.0.0.1 while
/// one from 127.0.0.2 still gets in, then a fifth from 127.0.0.3 once three are open. The
/// count goes back to zero when the clients leave, and new connections get in again.
pub async fn connections_past_the_limits_get_503_and_are_released_when_they_end() {
    let admission = Admission {
        max_connections: 3,
        max_connections_per_ip: 2,
        retry_after: Duration::from_secs(2),
        ..Admission::default()
    };
    for kind in KINDS {
        let server = Running::start(kind, admission.clone(), None).await;
        let url = server.url("ws", "/");
        let sources = "sources=127.0.0.1,127.0.0.1,127.0.0.1,127.0.0.2,127.0.0.3";
        let run = py_edge(&["upgrade", &url, "hold=5", sources], &[]).await;
        let statuses: Vec<&Value> = (0..5).map(|i| &run["outcomes"][i]["status"]).collect();
        assert_eq!(statuses, [101, 101, 503, 101, 503], "{kind:?}: {run}");
        for refused in [2, 4] {
            let outcome = &run["outcomes"][refused];
            assert_eq!(
                outcome["headers"]["retry-after"], "2",
                "{kind:?}: {outcome}"
            );
        }
        // The refusals were not counted, the three that opened were, until they closed.
        server.emptied().await;
        let again = py_edge(&["upgrade", &url, "hold=2"], &[]).await;
        assert_eq!(again["outcomes"][0]["status"], 101, "{kind:?}: {again}");
        assert_eq!(again["outcomes"][1]["status"], 101, "{kind:?}: {again}");
    }
}

/// An `rpc::Server` whose `slow` method says it started and then waits to be released (or
/// forever); its handle, its serving task, its port.
async fn slow_rpc_server() -> (
    ServerHandle,
    Task<std::io::Result<()>>,
    u16,
    async_channel::Receiver<()>,
    async_channel::Sender<()>,
) {
    let (started_tx, started) = async_channel::unbounded::<()>();
    let (release, released) = async_channel::unbounded::<()>();
    let server = rpc::Server::bind("127.0.0.1:0", rpc::ServerConfig::default())
        .await
        .expect("bind")
        .route("slow", move |_: ()| {
            let started = started_tx.clone();
            let released = released.clone();
            async move {
                let _ = started.send(()).await;
                let _ = released.recv().await;
                Ok::<_, ErrorObject>("done")
            }
        });
    let port = server.local_addr().expect("local_addr").port();
    let handle = server.handle();
    let serving = rt::spawn_task(server.serve());
    (handle, serving, port, started, release)
}

/// Shutting an `rpc::Server` down lets the handler running finish and its answer reach
/// Python `websockets`, then closes with 1001; `shutdown` and `serve` return once the
/// connection is gone, and the port is closed. A handler that outlives the grace period
/// is cut short: its caller sees 1001 and no answer.
pub async fn shutdown_lets_a_running_handler_finish_then_closes_with_1001() {
    let (handle, serving, port, started, release) = slow_rpc_server().await;
    let url = format!("ws://127.0.0.1:{port}/");
    let client = spawn_py_edge(&["upgrade", &url, "call=slow", "wait_close=1"]);
    bounded("the handler starts", started.recv())
        .await
        .expect("started");
    let stopping = rt::spawn_task({
        let handle = handle.clone();
        async move { handle.shutdown(Duration::from_secs(60)).await }
    });
    // The running handler holds the shutdown up; the connection counts until it closes.
    bounded("shutdown is under way", async {
        while !handle.is_shutting_down() {
            rt::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!stopping.is_finished());
    assert_eq!(handle.connections(), 1);
    release.send(()).await.expect("release");
    let run = bounded("the client's run", client.join()).await;
    let outcome = &run["outcomes"][0];
    assert_eq!(outcome["reply"]["result"], "done", "{run}");
    assert_eq!(outcome["close_code"], 1001, "{run}");
    assert_eq!(outcome["close_reason"], "server shutting down", "{run}");
    bounded("shutdown", stopping.join()).await;
    bounded("serve", serving.join())
        .await
        .expect("serve ends Ok");
    assert_eq!(handle.connections(), 0);
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(refused.is_err(), "the port still accepts: {refused:?}");

    // Past the grace period, a handler that never ends is cut short.
    let (handle, serving, port, started, _release) = slow_rpc_server().await;
    let url = format!("ws://127.0.0.1:{port}/");
    let client = spawn_py_edge(&["upgrade", &url, "call=slow", "wait_close=1"]);
    bounded("the handler starts", started.recv())
        .await
        .expect("started");
    bounded("shutdown", handle.shutdown(Duration::from_millis(200))).await;
    let run = bounded("the client's run", client.join()).await;
    let outcome = &run["outcomes"][0];
    assert_eq!(outcome["reply"], Value::Null, "{run}");
    assert_eq!(outcome["close_code"], 1001, "{run}");
    bounded("serve", serving.join())
        .await
        .expect("serve ends Ok");
}

/// Shutting the WebSocket `Server` down closes its open connection with 1001 (as Python
/// `websockets` sees it), makes `accept` return an error, and returns once the
/// connection is gone.
pub async fn shutdown_closes_websocket_connections_with_1001_and_ends_accept() {
    let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    let port = server.local_addr().expect("local_addr").port();
    let handle = server.handle();
    let (opened_tx, opened) = async_channel::unbounded::<()>();
    let accepting = rt::spawn_task(async move {
        loop {
            match server.accept().await {
                Ok((mut ws, _)) => {
                    let _ = ws.send("hello").await;
                    let _ = opened_tx.send(()).await;
                    rt::spawn(async move { while ws.recv().await.is_some() {} });
                }
                Err(e) => return e,
            }
        }
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let client = spawn_py_edge(&["upgrade", &url, "wait_close=1"]);
    bounded("the connection opens", opened.recv())
        .await
        .expect("opened");
    bounded("shutdown", handle.shutdown(Duration::from_secs(5))).await;
    assert_eq!(handle.connections(), 0);
    let run = bounded("the client's run", client.join()).await;
    assert_eq!(run["outcomes"][0]["message"], "hello", "{run}");
    assert_eq!(run["outcomes"][0]["close_code"], 1001, "{run}");
    let error = bounded("accept ends", accepting.join()).await;
    assert_eq!(error.kind(), std::io::ErrorKind::NotConnected, "{error}");
}

/// Set in the child process of
/// [`a_server_out_of_descriptors_keeps_serving_once_they_free_up`]: it then runs the
/// servers instead of the test.
const FD_CHILD: &str = "TETHER_EDGE_FD_CHILD";

/// A process whose servers run out of file descriptors keeps serving once they free up.
///
/// The test binary runs itself again as a child process (this same scenario, on the same
/// runtime, with `TETHER_EDGE_FD_CHILD` set) holding an `rpc::Server` and a WebSocket
/// `Server`; the test lowers the child's descriptor limit (`prlimit`) to what it uses plus
/// a few, opens
/// connections until the child uses them all, queues more on both ports, and waits for
/// the child to log its accept error (`EMFILE`). It then closes the first connections:
/// the queued ones must be accepted and upgraded, and Python `websockets` must be served
/// by both servers, with the child still running.
pub async fn a_server_out_of_descriptors_keeps_serving_once_they_free_up(runtime: &str) {
    if std::env::var_os(FD_CHILD).is_some() {
        return low_fd_child().await;
    }
    let name = format!("{runtime}::a_server_out_of_descriptors_keeps_serving_once_they_free_up");
    let mut child = LowFdChild::start(&name);
    let (rpc_url, ws_url) = bounded("the child's servers", child.listening()).await;
    let rpc_port = port_of(&rpc_url);
    let ws_port = port_of(&ws_url);

    let limit = child.descriptors() + 3;
    child.limit_descriptors(limit);
    // Each upgraded connection takes one descriptor of the child's.
    let mut holders = Vec::new();
    while child.descriptors() < limit {
        assert!(
            holders.len() < 64,
            "the child never reaches its limit of {limit}"
        );
        let mut held = send_upgrade(rpc_port);
        let head = read_head(&mut held).expect("a holder is upgraded");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        holders.push(held);
    }
    // These wait in the listen backlogs: the child cannot accept them now.
    let mut queued: Vec<std::net::TcpStream> = [rpc_port, rpc_port, ws_port]
        .into_iter()
        .map(send_upgrade)
        .collect();
    bounded(
        "the child's accept error",
        child.stderr_line("accept failed"),
    )
    .await;
    assert!(child.is_running(), "the child died: {}", child.output());

    drop(holders);
    for (i, conn) in queued.iter_mut().enumerate() {
        let head = read_head(conn)
            .unwrap_or_else(|e| panic!("queued connection {i}: {e}; child: {}", child.output()));
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "queued connection {i}: {head}"
        );
    }
    drop(queued);
    let rpc = py_edge(&["upgrade", &rpc_url, "call=ping"], &[]).await;
    assert_eq!(rpc["outcomes"][0]["reply"]["result"], "pong", "{rpc}");
    let ws = py_edge(&["upgrade", &ws_url], &[]).await;
    assert_eq!(ws["outcomes"][0]["message"], "hello", "{ws}");
    assert!(child.is_running(), "the child died: {}", child.output());
    child.finish().await;
}

/// The child's part: both servers on free ports, named on stdout, serving until stdin
/// closes, logging the adapter's warnings (the accept errors) to stderr.
async fn low_fd_child() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter("tether_adapter=warn")
        .try_init();
    let rpc = rpc::Server::bind("127.0.0.1:0", rpc::ServerConfig::default())
        .await
        .expect("bind")
        .route("ping", |_: ()| async { Ok::<_, ErrorObject>("pong") });
    let mut ws = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    println!(
        "listening rpc=ws://{} ws=ws://{}",
        rpc.local_addr().expect("local_addr"),
        ws.local_addr().expect("local_addr")
    );
    rt::spawn(async move {
        let ended = rpc.serve().await;
        println!("rpc serve ended: {ended:?}");
    });
    rt::spawn(async move {
        while let Ok((mut conn, _)) = ws.accept().await {
            rt::spawn(async move {
                let _ = conn.send("hello").await;
                while conn.recv().await.is_some() {}
            });
        }
        println!("ws accept ended");
    });
    let (closed_tx, closed) = async_channel::bounded::<()>(1);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while std::io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {}
        let _ = closed_tx.send_blocking(());
    });
    let _ = closed.recv().await;
}

/// The port of a `ws://127.0.0.1:PORT` URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// A connection to `port` that has sent a WebSocket upgrade request.
fn send_upgrade(port: u16) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(LIMIT))
        .expect("a read timeout");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the upgrade");
    stream
}

/// The response head on `stream` (within [`LIMIT`]).
fn read_head(stream: &mut std::net::TcpStream) -> std::io::Result<String> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The test binary running [`low_fd_child`], with its output collected line by line.
struct LowFdChild {
    process: std::process::Child,
    stdout: async_channel::Receiver<String>,
    stderr: async_channel::Receiver<String>,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LowFdChild {
    fn start(test: &str) -> LowFdChild {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("the test binary");
        let mut process = Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(FD_CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout = lines(process.stdout.take().expect("piped"), seen.clone());
        let stderr = lines(process.stderr.take().expect("piped"), seen.clone());
        LowFdChild {
            process,
            stdout,
            stderr,
            seen,
        }
    }

    /// The URLs of the child's two servers, once it says them.
    async fn listening(&mut self) -> (String, String) {
        loop {
            let line =
                self.stdout.recv().await.unwrap_or_else(|_| {
                    panic!("the child ended without listening: {}", self.output())
                });
            // libtest may have written the test's name on the same line first.
            let Some(at) = line.find("listening ") else {
                continue;
            };
            let rest = &line[at + "listening ".len()..];
            let mut urls = rest
                .split(' ')
                .filter_map(|w| w.split_once('='))
                .map(|(_, u)| u);
            let rpc = urls.next().expect("the rpc URL").to_owned();
            let ws = urls.next().expect("the ws URL").to_owned();
            return (rpc, ws);
        }
    }

    /// Waits for a line of the child's stderr holding `text`.
    async fn stderr_line(&self, text: &str) {
        loop {
            match self.stderr.recv().await {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(_) => panic!("no {text:?} from the child: {}", self.output()),
            }
        }
    }

    /// Descriptors the child holds now.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.process.id()))
            .expect("the child's descriptors")
            .count()
    }

    /// Lowers the child's descriptor limit, soft and hard, to `limit`.
    fn limit_descriptors(&self, limit: usize) {
        let status = std::process::Command::new("prlimit")
            .arg("--pid")
            .arg(self.process.id().to_string())
            .arg(format!("--nofile={limit}:{limit}"))
            .status()
            .expect("run prlimit (util-linux)");
        assert!(status.success(), "prlimit failed: {status}");
    }

    fn is_running(&mut self) -> bool {
        matches!(self.process.try_wait(), Ok(None))
    }

    /// Everything the child wrote so far.
    fn output(&self) -> String {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Closes the child's stdin and waits for it to exit, successfully.
    async fn finish(mut self) {
        drop(self.process.stdin.take());
        let status = bounded("the child exits", async {
            loop {
                if let Some(status) = self.process.try_wait().expect("wait for the child") {
                    return status;
                }
                rt::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(status.success(), "the child failed: {}", self.output());
    }
}

impl Drop for LowFdChild {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The lines of `pipe`, as they come, also appended to `seen`.
fn lines(
    pipe: impl std::io::Read + Send + 'static,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
) -> async_channel::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = async_channel::unbounded();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut seen) = seen.lock() {
                seen.push_str(&line);
                seen.push('\n');
            }
            if tx.send_blocking(line).is_err() {
                break;
            }
        }
    });
    rx
}
