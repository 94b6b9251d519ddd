//! The parts a child process plays in the memory benchmark, chosen by the environment:
//! a server (tether `rpc::Server`, or a tokio-tungstenite echo server) or a client that
//! opens N idle connections and reports its resident memory before and after.
//!
//! Every child exits when its stdin closes, so a bench that dies leaves no process behind.

use std::io::{BufRead, Read};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tether_adapter::{Admission, Runtime};
use tether_tokio::rpc::{Client, ClientConfig, ErrorObject, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Which part this process plays.
pub const ROLE: &str = "TETHER_BENCH_SESSION_ROLE";
/// The server a client role connects to.
pub const URL: &str = "TETHER_BENCH_SESSION_URL";
/// How many connections a client role opens.
pub const COUNT: &str = "TETHER_BENCH_SESSION_COUNT";

/// Connections opened at once (the listen backlog is 1024).
const OPENING: usize = 200;
/// Connections opened and dropped before the first measurement, so that what every
/// connection needs once (lazy statics, the runtime's first timers, allocator arenas) is
/// not counted per connection.
const WARM_UP: usize = 100;
/// How long every connection stays open and idle before the measurement.
const IDLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    TetherServer,
    /// The same server on tether-async-std, under smol.
    TetherSmolServer,
    /// tether's WebSocket `Server` with an echo task per connection (the `echo_server`
    /// example's shape), on tokio.
    TetherWsServer,
    /// The same on tether-async-std, under smol.
    TetherSmolWsServer,
    TungsteniteServer,
    TetherSessionClient,
    TetherWsClient,
    TungsteniteClient,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::TetherServer => "tether-server",
            Role::TetherSmolServer => "tether-smol-server",
            Role::TetherWsServer => "tether-ws-server",
            Role::TetherSmolWsServer => "tether-smol-ws-server",
            Role::TungsteniteServer => "tungstenite-server",
            Role::TetherSessionClient => "tether-session-client",
            Role::TetherWsClient => "tether-ws-client",
            Role::TungsteniteClient => "tungstenite-client",
        }
    }

    pub fn from_env() -> Option<Role> {
        let name = std::env::var(ROLE).ok()?;
        let all = [
            Role::TetherServer,
            Role::TetherSmolServer,
            Role::TetherWsServer,
            Role::TetherSmolWsServer,
            Role::TungsteniteServer,
            Role::TetherSessionClient,
            Role::TetherWsClient,
            Role::TungsteniteClient,
        ];
        all.into_iter().find(|role| role.name() == name)
    }

    pub fn run(self) {
        exit_when_stdin_closes();
        if self == Role::TetherSmolServer {
            smol::block_on(tether_server::<tether_async_std::AsyncStd>());
            return;
        }
        if self == Role::TetherSmolWsServer {
            smol::block_on(tether_ws_server::<tether_async_std::AsyncStd>());
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            match self {
                Role::TetherServer => tether_server::<tether_tokio::Tokio>().await,
                Role::TetherWsServer => tether_ws_server::<tether_tokio::Tokio>().await,
                Role::TungsteniteServer => tungstenite_server().await,
                client => open_idle(client).await,
            }
        });
    }
}

fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
}

/// Admission limits above the bench's connection counts: every connection comes from
/// 127.0.0.1, and the defaults (1024, 256 per address) would refuse most of them.
fn admission() -> Admission {
    Admission {
        max_connections: usize::MAX,
        max_connections_per_ip: usize::MAX,
        ..Admission::default()
    }
}

/// tether's JSON-RPC server on runtime `R`.
async fn tether_server<R: Runtime>() {
    let config = ServerConfig {
        admission: admission(),
        ..ServerConfig::default()
    };
    let server = tether_adapter::rpc::Server::<R>::bind("127.0.0.1:0", config)
        .await
        .expect("bind")
        .route("echo", |params: Value| async move {
            Ok::<_, ErrorObject>(params)
        });
    println!(
        "listening on ws://{}",
        server.local_addr().expect("local_addr")
    );
    server.serve().await.expect("serve");
}

/// tether's WebSocket server on runtime `R`, each connection echoed by a task of its own
/// (as the `echo_server` example does).
async fn tether_ws_server<R: Runtime>() {
    let config = tether_adapter::ServerConfig {
        admission: admission(),
        ..tether_adapter::ServerConfig::default()
    };
    let mut server = tether_adapter::Server::<R>::bind("127.0.0.1:0", config)
        .await
        .expect("bind");
    println!(
        "listening on ws://{}",
        server.local_addr().expect("local_addr")
    );
    while let Ok((mut ws, _)) = server.accept().await {
        R::spawn(async move {
            while let Some(message) = ws.recv().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// As the tokio-tungstenite echo server of `bench/examples` (its `autobahn-server` shape).
async fn tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!(
        "listening on ws://{}",
        listener.local_addr().expect("local_addr")
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Opens one connection of `role`'s kind; returns what keeps it open.
async fn open(role: Role, url: &str) -> Box<dyn std::any::Any + Send> {
    match role {
        Role::TetherSessionClient => Box::new(
            Client::connect(url, ClientConfig::default())
                .await
                .expect("tether rpc connect"),
        ),
        Role::TetherWsClient => Box::new(
            tether_tokio::connect(url, tether_tokio::ClientConfig::default())
                .await
                .expect("tether connect"),
        ),
        _ => {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("tungstenite connect");
            // Read by a task of its own, which also answers pings, as tether's driver does.
            Box::new(tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {}
            }))
        }
    }
}

async fn open_many(role: Role, url: &str, count: usize) -> Vec<Box<dyn std::any::Any + Send>> {
    let mut held = Vec::with_capacity(count);
    let mut opening = JoinSet::new();
    let mut started = 0;
    while held.len() < count {
        while started < count && opening.len() < OPENING {
            let url = url.to_owned();
            opening.spawn(async move { open(role, &url).await });
            started += 1;
        }
        match opening.join_next().await {
            Some(Ok(one)) => held.push(one),
            Some(Err(e)) => panic!("opening a connection: {e}"),
            None => break,
        }
    }
    held
}

/// Opens N idle connections; prints `rss_kib BEFORE AFTER` and waits to be told to go.
async fn open_idle(role: Role) {
    let url = std::env::var(URL).expect("server URL");
    let count: usize = std::env::var(COUNT)
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("connection count");
    let warm = open_many(role, &url, WARM_UP).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(std::process::id());
    let held = open_many(role, &url, count).await;
    tokio::time::sleep(IDLE).await;
    let after = rss_kib(std::process::id());
    println!("rss_kib {before} {after}");
    // Idle until the bench is done with the server's figure and closes our stdin.
    std::future::pending::<()>().await;
    drop(held);
}

/// The resident memory of process `pid` in KiB (VmRSS of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Reads lines from a child until one starts with `prefix`.
pub fn line_starting(reader: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read child output");
        assert!(n > 0, "the child exited before printing {prefix:?}");
        if line.starts_with(prefix) {
            return line.trim_end().to_owned();
        }
    }
}
