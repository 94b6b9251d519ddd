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
    Admission, Context, Decision, Hook, HttpResponse, Identity, Server, ServerConfig, ServerTls,
    UpgradeRequest,
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
                let task = rt::spawn_task(async move {
                    let _ = server.serve().await;
                });
                Running {
                    task: Some(task),
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
                    peers: Some(peers),
                    port,
                }
            }
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.port)
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
        Kind::Ws => serde_json::from_str(outcome["message"].as_str().expect("a text message"))
            .expect("JSON"),
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
