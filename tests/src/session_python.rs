//! tether's reconnecting `rpc::Client` against a JSON-RPC server written with Python
//! `websockets` (`tests/peers/py_rpc_server.py`), in a process of its own so that it can be
//! killed with SIGKILL mid-traffic and started again on the same port.
//!
//! The server prints every message it reads, in the order it read them, before handling
//! it, and flushes each line: what a killed server printed is what it had read. The test
//! numbers every notification and call it makes and checks the server's lines across both
//! lives of the server: nothing reordered or duplicated, every message made while the
//! connection was down delivered, and every message lost only on the dead connection.
//!
//! Compiled once per adapter (see [`crate::runtime`]) and run by `tests/session_python.rs`.
//! The peer library is installed by `scripts/install-peers.sh`; without it these tests
//! fail with that hint.

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::{json, Value};

use super::adapter::rpc::{Backoff, CallError, CallOptions, Client, ClientConfig, Retry, State};
use super::adapter::ConnectError;
use super::rt;
use crate::closed_port::ClosedPort;
use crate::peer::{PeerKind, PeerServer};
use crate::runtime::{timeout, Task};

const SCRIPT: &str = "py_rpc_server.py";
/// Bound on each wait of a scenario: a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(30);
/// Pace of the numbered messages.
const PACE: Duration = Duration::from_millis(3);

fn start_server(addr: &str) -> PeerServer {
    PeerServer::start_script(PeerKind::Python, SCRIPT, &[addr])
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// Waits until the client's state is `want`.
async fn state(client: &Client, want: State) {
    let mut states = client.states();
    bounded(&format!("state {want:?}"), states.wait_for(|s| s == want))
        .await
        .unwrap_or_else(|| panic!("the client ended before reaching {want:?}"));
}

/// Polls `future` once, which hands the call to the client (its command channel has
/// room), then lets a task finish it: calls made this way one after the other reach the
/// client in that order, as notifications awaited one after the other do.
fn submit<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Box::pin(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => rt::spawn_task(async move { output }),
        Poll::Pending => rt::spawn_task(future),
    }
}

/// One numbered message the test made, and what the client said about it.
struct Sent {
    n: u64,
    /// The client was not connected when it was made: it had to wait in the queue.
    queued: bool,
    /// A call's outcome (notifications have none).
    call: Option<Task<Result<Value, CallError>>>,
}

/// Makes message `n`: a notification `note` for even `n`, a call `echo` for odd.
async fn send(client: &Client, n: u64) -> Sent {
    let queued = client.state() != State::Connected;
    let params = json!({ "n": n });
    let call = if n & 1 == 0 {
        bounded("notify", client.notify("note", &params))
            .await
            .unwrap_or_else(|e| panic!("notification {n} refused: {e}"));
        None
    } else {
        let client = client.clone();
        Some(submit(async move { client.call("echo", &params).await }))
    };
    Sent { n, queued, call }
}

/// The server's lines as `(kind, method, params)`.
fn parse(lines: &[String]) -> Vec<(String, String, Value)> {
    lines
        .iter()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("the server printed {line:?}: {e}"));
            let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
            (text("seen"), text("method"), v["params"].clone())
        })
        .collect()
}

/// The numbers of the numbered messages among `seen`, in order.
fn numbers(seen: &[(String, String, Value)]) -> Vec<u64> {
    seen.iter()
        .filter(|(_, method, _)| method == "note" || method == "echo")
        .filter_map(|(_, _, params)| params["n"].as_u64())
        .collect()
}

fn tagged(seen: &[(String, String, Value)], tag: &str) -> usize {
    seen.iter()
        .filter(|(_, method, params)| method == "sleep" && params["tag"] == tag)
        .count()
}

/// The server is SIGKILLed mid-traffic and started again on the same port while the
/// client keeps making numbered messages: nothing is reordered or delivered twice, every
/// message made while the client was down is delivered, a message is lost only if it was
/// written to the connection the kill cut, a call ends `ConnectionLost` only then, and a
/// slow call with `Retry::Resend { max: 1 }` runs once per server life.
pub async fn a_server_killed_mid_traffic_and_restarted_gets_every_queued_message_once_in_order() {
    let mut server = start_server("127.0.0.1:0");
    let url = server.url("/");
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.strip_suffix('/'))
        .expect("ws://ADDR/")
        .to_owned();
    let config = ClientConfig {
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
            max_attempts: None,
        },
        ..Default::default()
    };
    let client = bounded("connect", Client::connect(&url, config))
        .await
        .expect("connect");

    let mut sent = Vec::new();
    let mut n = 0;
    // Traffic on the first server.
    for _ in 0..40 {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    // Two slow calls the kill catches in flight: one that may not be re-sent, one that may.
    let lost = {
        let client = client.clone();
        submit(async move {
            client
                .call::<_, u64>("sleep", &json!({"ms": 2000, "tag": "lost"}))
                .await
        })
    };
    let resent = {
        let client = client.clone();
        let options = CallOptions {
            retry: Retry::Resend { max: 1 },
            ..Default::default()
        };
        submit(async move {
            client
                .call_with_options::<_, u64>("sleep", &json!({"ms": 300, "tag": "resent"}), options)
                .await
        })
    };
    // More traffic while they run, then the kill, with messages still coming.
    for _ in 0..20 {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    let mut first_life = server.lines();
    first_life.extend(server.kill());
    // Keep going: the first of these may still be written to the dead connection; the
    // client soon sees it is gone, and the rest wait in its queue.
    while client.state() == State::Connected {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    for _ in 0..50 {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    assert_eq!(client.state(), State::Reconnecting);
    let server = start_server(&addr);
    // The client finds the new server by itself; messages keep coming meanwhile.
    while client.state() != State::Connected {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    for _ in 0..20 {
        sent.push(send(&client, n).await);
        n += 1;
        rt::sleep(PACE).await;
    }
    let last = n - 1;

    // Every call ends: answered, or lost with the dead connection (it had been sent).
    let mut lost_calls = Vec::new();
    for message in &mut sent {
        if let Some(call) = message.call.take() {
            match bounded("a numbered call", call.join()).await {
                Ok(answer) => assert_eq!(answer, json!({ "n": message.n })),
                Err(CallError::ConnectionLost { sent: true }) => lost_calls.push(message.n),
                Err(e) => panic!("call {} ended with {e:?}", message.n),
            }
        }
    }
    let lost = bounded("the lost sleep", lost.join()).await;
    assert!(
        matches!(lost, Err(CallError::ConnectionLost { sent: true })),
        "{lost:?}"
    );
    let resent = bounded("the re-sent sleep", resent.join()).await;
    assert_eq!(resent.ok(), Some(300));

    // The second server has printed everything once it printed the last message (sent
    // last, and nothing overtakes in the queue).
    let mut second_life = Vec::new();
    bounded("the last message at the second server", async {
        loop {
            second_life.extend(server.lines());
            if numbers(&parse(&second_life)).last() == Some(&last) {
                break;
            }
            rt::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(metrics.state, State::Connected);
    assert_eq!(metrics.reconnections, 1, "{metrics:?}");
    assert_eq!(
        (metrics.queue_depth, metrics.in_flight),
        (0, 0),
        "{metrics:?}"
    );
    bounded("close", client.close()).await;
    assert_eq!(client.state(), State::Disconnected);
    drop(server);

    let first = parse(&first_life);
    let second = parse(&second_life);
    let before_kill = numbers(&first);
    let mut seen = before_kill.clone();
    seen.extend(numbers(&second));
    // Nothing reordered, nothing twice.
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the servers saw the messages out of order or twice: {seen:?}"
    );
    let last_before_kill = before_kill.last().copied().unwrap_or(0);
    let queued: Vec<u64> = sent.iter().filter(|s| s.queued).map(|s| s.n).collect();
    assert!(
        queued.len() >= 50,
        "only {} messages were made while the client was down",
        queued.len()
    );
    for message in &sent {
        let delivered = seen.binary_search(&message.n).is_ok();
        if message.queued {
            // Made while there was no connection: queued, and delivered once.
            assert!(delivered, "queued message {} was lost", message.n);
        } else if !delivered {
            // Lost only if written to the connection the kill cut.
            assert!(
                message.n > last_before_kill,
                "message {} was lost although the server read later ones",
                message.n
            );
        }
    }
    let missing = sent
        .iter()
        .filter(|m| seen.binary_search(&m.n).is_err())
        .count();
    eprintln!(
        "{} messages: {} read by the first server, {} queued while it was down, {} lost \
         with its connection ({} of them calls ended ConnectionLost)",
        sent.len(),
        before_kill.len(),
        queued.len(),
        missing,
        lost_calls.len()
    );
    for n in &lost_calls {
        assert!(
            !seen[..].contains(n) || before_kill.contains(n),
            "call {n} ended ConnectionLost yet the second server ran it"
        );
    }
    // The slow calls: the one that may not be re-sent ran once, the other once per server.
    assert_eq!((tagged(&first, "lost"), tagged(&second, "lost")), (1, 0));
    assert_eq!(
        (tagged(&first, "resent"), tagged(&second, "resent")),
        (1, 1)
    );
}

/// `Client::connect` to a server that answers the upgrade with 401 says so, typed.
pub async fn connect_reports_a_refused_upgrade_with_its_status() {
    let server = start_server("127.0.0.1:0");
    let refused = bounded(
        "connect",
        Client::connect(&server.url("/reject?status=401"), ClientConfig::default()),
    )
    .await;
    assert!(
        matches!(refused, Err(ConnectError::Rejected { status: 401 })),
        "{:?}",
        refused.err()
    );
}

/// A client made while nobody listens queues twenty messages without sending any; once
/// the server starts, they all arrive, in order, and every call is answered.
pub async fn a_client_made_before_its_server_exists_sends_its_queue_once_the_server_is_up() {
    // A port nobody listens on, for now, held so that no one else is given it; the
    // Python server takes it over (asyncio sets SO_REUSEADDR, as the placeholder does).
    let port = ClosedPort::new();
    let addr = port.addr().to_string();
    let config = ClientConfig {
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
            max_attempts: None,
        },
        ..Default::default()
    };
    let client = Client::new(&format!("ws://{addr}/"), config).expect("client");
    let mut sent = Vec::new();
    for n in 0..20 {
        sent.push(send(&client, n).await);
    }
    assert!(sent.iter().all(|s| s.queued));
    // Metrics are asked out of band, so they may overtake the last call on its way.
    let metrics = bounded("all 20 queued", async {
        loop {
            let metrics = client.metrics().await;
            if metrics.queue_depth == 20 {
                break metrics;
            }
            rt::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(metrics.state, State::Connecting);
    assert_eq!(metrics.messages_sent, 0);

    let mut server = start_server(&addr);
    state(&client, State::Connected).await;
    for message in &mut sent {
        if let Some(call) = message.call.take() {
            let answer = bounded("a queued call", call.join()).await;
            assert_eq!(answer.ok(), Some(json!({ "n": message.n })));
        }
    }
    let mut lines = Vec::new();
    bounded("the server's lines", async {
        while numbers(&parse(&lines)).len() < 20 {
            lines.extend(server.lines());
            rt::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(numbers(&parse(&lines)), (0..20).collect::<Vec<_>>());
    server.kill();
}
