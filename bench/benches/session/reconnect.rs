//! Time from a restarted server's accept to the client's first answered call.
//!
//! One JSON-RPC echo server per library, written with tokio-tungstenite (so both clients
//! talk to the same code), each on its own thread and runtime, noting the instant of every
//! accept. Both clients share one single-threaded runtime on the main thread. The
//! libraries take turns: restart A's server and measure, restart B's and measure, and so on.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tether_bench::server_thread::{loopback, ServerThread};
use tether_bench::{ratio, Table};
use tether_tokio::rpc::{Backoff, Client, ClientConfig, State};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long each server stays down.
const DOWN: Duration = Duration::from_millis(50);
/// The clients' wait between attempts: as small as tether's backoff allows (uniform in
/// 0.5 to 1 ms, then 1 to 2 ms) and a fixed 1 ms in the hand-written loop.
const BACKOFF: Duration = Duration::from_millis(1);
/// Bound on any wait, so a stuck run fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(30);

/// A server that can be stopped and started again on its port.
struct Restartable {
    addr: SocketAddr,
    server: Option<ServerThread>,
    accepts: std_mpsc::Receiver<Instant>,
    accepts_tx: std_mpsc::Sender<Instant>,
}

impl Restartable {
    fn start() -> Restartable {
        let (accepts_tx, accepts) = std_mpsc::channel();
        let server = spawn_server(loopback(), accepts_tx.clone());
        Restartable {
            addr: server.addr,
            server: Some(server),
            accepts,
            accepts_tx,
        }
    }

    fn stop(&mut self) {
        // Stops the accept loop and drops the runtime with every connection's task.
        drop(self.server.take());
    }

    fn restart(&mut self) {
        self.server = Some(spawn_server(self.addr, self.accepts_tx.clone()));
    }

    /// The latest accept at or before `at`.
    fn accepted_before(&self, at: Instant) -> Instant {
        self.accepts
            .try_iter()
            .filter(|accepted| *accepted <= at)
            .last()
            .expect("the server accepted the connection that answered")
    }

    fn forget_accepts(&self) {
        while self.accepts.try_recv().is_ok() {}
    }
}

/// Serves JSON-RPC `echo` on `addr` (binding it again after a stop: tokio sets
/// SO_REUSEADDR), noting every accept.
fn spawn_server(addr: SocketAddr, accepts: std_mpsc::Sender<Instant>) -> ServerThread {
    ServerThread::spawn("echo", move |listening, stop| async move {
        let listener = TcpListener::bind(addr).await.expect("bind");
        listening
            .send(listener.local_addr().expect("local_addr"))
            .expect("report address");
        let serve = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = accepts.send(Instant::now());
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_echo(stream));
            }
        };
        tokio::select! {
            () = serve => {}
            _ = stop => {}
        }
    })
}

async fn serve_echo(stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(request) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": request["params"]});
        if ws.send(Message::text(answer.to_string())).await.is_err() {
            return;
        }
    }
}

/// The hand-written tokio-tungstenite client: connect (retrying every [`BACKOFF`]), make
/// one call and report when it is answered, idle until the connection ends, again.
async fn tungstenite_loop(url: String, answered: mpsc::UnboundedSender<Instant>) {
    let mut id = 0u64;
    loop {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        id += 1;
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "echo", "params": [id]});
        if ws.send(Message::text(call.to_string())).await.is_err() {
            continue;
        }
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if answer["id"] == json!(id) && answer["result"] == json!([id]) {
                let _ = answered.send(Instant::now());
                break;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    }
}

/// Per-restart durations of one library.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: usize) -> Duration {
        let sorted = self.sorted();
        let rank = (p * sorted.len()).div_ceil(100).max(1);
        sorted[rank - 1]
    }

    fn mean(&self) -> Duration {
        let total: Duration = self.0.iter().sum();
        total / self.0.len().max(1) as u32
    }
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

pub fn run(restarts: usize) {
    let mut tether_server = Restartable::start();
    let mut tungstenite_server = Restartable::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let (tether, tungstenite) = runtime.block_on(async {
        tokio::time::timeout(
            LIMIT * restarts.max(1) as u32,
            measure(&mut tether_server, &mut tungstenite_server, restarts),
        )
        .await
        .expect("the reconnect benchmark got stuck")
    });

    println!(
        "Reconnect: the server is stopped, down for {} ms, and started again on its port, \
         {restarts} times per library; from its accept of the new connection to the client's \
         first answered call (the clients' backoff is before the accept, so not in it)",
        DOWN.as_millis()
    );
    let mut table = Table::new(&[
        "client",
        "mean us",
        "p50 us",
        "p99 us",
        "min us",
        "max us",
        "tether / this (p50)",
    ]);
    for (name, samples) in [
        ("tether rpc::Client (session)", &tether),
        ("tokio-tungstenite reconnect loop", &tungstenite),
    ] {
        let sorted = samples.sorted();
        table.row(vec![
            name.to_owned(),
            micros(samples.mean()),
            micros(samples.percentile(50)),
            micros(samples.percentile(99)),
            micros(sorted[0]),
            micros(sorted[sorted.len() - 1]),
            ratio(
                tether.percentile(50).as_secs_f64(),
                samples.percentile(50).as_secs_f64(),
            ),
        ]);
    }
    print!("{}", table.render());
}

async fn measure(
    tether_server: &mut Restartable,
    tungstenite_server: &mut Restartable,
    restarts: usize,
) -> (Samples, Samples) {
    let config = ClientConfig {
        backoff: Backoff {
            base: BACKOFF,
            max: 2 * BACKOFF,
            max_attempts: None,
        },
        ..Default::default()
    };
    let client = Client::connect(&format!("ws://{}/", tether_server.addr), config)
        .await
        .expect("tether connect");
    let (answered_tx, mut answered) = mpsc::unbounded_channel();
    tokio::spawn(tungstenite_loop(
        format!("ws://{}/", tungstenite_server.addr),
        answered_tx,
    ));
    answered.recv().await.expect("the first tungstenite call");

    let mut tether = Samples::default();
    let mut tungstenite = Samples::default();
    for round in 0..restarts {
        eprintln!("reconnect: restart {}/{restarts}", round + 1);

        // tether: the call is made while the server is down and waits in the queue.
        tether_server.stop();
        let mut states = client.states();
        states
            .wait_for(|s| s != State::Connected)
            .await
            .expect("tether client alive");
        let call = {
            let client = client.clone();
            tokio::spawn(async move {
                let answer: Result<Vec<u64>, _> = client.call("echo", &[round as u64]).await;
                answer.map(|_| Instant::now())
            })
        };
        tokio::time::sleep(DOWN).await;
        tether_server.forget_accepts();
        tether_server.restart();
        let answered_at = call
            .await
            .expect("call task")
            .expect("the call after the restart");
        tether
            .0
            .push(answered_at - tether_server.accepted_before(answered_at));

        // tokio-tungstenite: its loop reconnects and calls by itself.
        tungstenite_server.stop();
        tokio::time::sleep(DOWN).await;
        tungstenite_server.forget_accepts();
        tungstenite_server.restart();
        let answered_at = answered.recv().await.expect("tungstenite loop alive");
        tungstenite
            .0
            .push(answered_at - tungstenite_server.accepted_before(answered_at));
    }
    client.close().await;
    (tether, tungstenite)
}
