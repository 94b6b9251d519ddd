//! The reconnecting `rpc::Client` over real loopback sockets: a link that goes silent
//! behind a proxy is found by the heartbeat and replaced, a server that is never there
//! makes the client give up after `max_attempts`, the queue's bounds, close and drop.
//! (A server killed and restarted mid-traffic is in `session_python.rs`, against a Python
//! server in a process of its own.) Compiled once per adapter (see [`crate::runtime`])
//! and run by `tests/session.rs`.
//!
//! No wall-clock bound is asserted: each wait is for an event (bounded only so a bug fails
//! instead of hanging). That the heartbeat drops a silent link within `interval +
//! timeout` is checked in virtual time by the simulator (`tether_tests::sim`), where a
//! heartbeat that never fires is caught (`tests/mutants.rs`); here the link is found dead,
//! and not before a ping could have timed out.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::adapter::rpc::{
    Backoff, CallError, Client, ClientConfig, ErrorObject, Heartbeat, HeartbeatMode, QueueLimits,
    Server, ServerConfig, State,
};
use super::adapter::ConnectError;
use super::rt;
use crate::closed_port::ClosedPort;
use crate::proxy::Proxy;
use crate::runtime::timeout;

/// Bound on each wait of a scenario: a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(20);

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

/// A tether server answering `echo` on 127.0.0.1; returns its address.
async fn echo_server() -> SocketAddr {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind")
        .route("echo", |params: Value| async move {
            Ok::<_, ErrorObject>(params)
        });
    let addr = server.local_addr().expect("local_addr");
    rt::spawn(async move {
        let _ = server.serve().await;
    });
    addr
}

fn quick_backoff(max_attempts: Option<u32>) -> Backoff {
    Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        max_attempts,
    }
}

/// Behind a proxy that goes silent (no close, no reset: nothing), the heartbeat finds the
/// dead link, and not before a ping could have timed out; calls made meanwhile wait, and go through once the route is back and the
/// client has reconnected by itself.
pub async fn a_silent_link_is_found_by_the_heartbeat_and_replaced() {
    let interval = Duration::from_millis(200);
    let timeout = Duration::from_millis(600);
    let proxy = Proxy::start(echo_server().await);
    let config = ClientConfig {
        heartbeat: Some(Heartbeat {
            interval,
            timeout,
            mode: HeartbeatMode::Pong,
        }),
        connect_timeout: Duration::from_secs(1),
        backoff: quick_backoff(None),
        ..Default::default()
    };
    let client = bounded("connect", Client::connect(&proxy.url(), config))
        .await
        .expect("connect");
    let echoed: Value = bounded("echo", client.call("echo", &[1]))
        .await
        .expect("echo");
    assert_eq!(echoed, json!([1]));

    // A healthy link is kept: several pings go by, answered.
    rt::sleep(4 * interval).await;
    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(metrics.state, State::Connected);
    assert!(metrics.rtt_mean.is_some(), "no pong yet: {metrics:?}");
    assert_eq!(
        (metrics.reconnections, metrics.errors),
        (0, 0),
        "{metrics:?}"
    );

    // The proxy goes silent: no close, no reset, just nothing.
    let mut states = client.states();
    let silent_at = Instant::now();
    proxy.set_forwarding(false);
    bounded("the heartbeat timeout", states.changed())
        .await
        .expect("the client is alive");
    let found_after = silent_at.elapsed();
    eprintln!(
        "silent link found after {found_after:?} (interval {interval:?}, timeout {timeout:?})"
    );
    assert_eq!(states.get(), State::Reconnecting);
    // Not by anything faster than the heartbeat: a ping sent while the link still worked
    // has its pong back, so the first unanswered one left no earlier than then.
    assert!(
        found_after >= timeout - interval,
        "found after {found_after:?}: before a ping could have timed out"
    );
    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(
        metrics.errors, 1,
        "the heartbeat timeout counts: {metrics:?}"
    );

    // Calls made meanwhile wait; the attempts through the silent proxy time out.
    let waiting = {
        let client = client.clone();
        rt::spawn_task(async move { client.call::<_, Value>("echo", &["queued"]).await })
    };
    rt::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.state(), State::Reconnecting);
    assert!(!waiting.is_finished());

    // The route comes back: the client reconnects by itself and the call goes through.
    proxy.set_forwarding(true);
    state(&client, State::Connected).await;
    let answer = bounded("the queued call", waiting.join()).await;
    assert_eq!(answer.ok(), Some(json!(["queued"])));
    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(metrics.reconnections, 1, "{metrics:?}");
    bounded("close", client.close()).await;
}

/// Against a port nobody listens on, the client gives up after three attempts: what was
/// queued and everything after ends `Failed`, the metrics say so, closing changes nothing,
/// and `connect` reports the first attempt's refusal.
pub async fn after_max_attempts_against_a_closed_port_the_client_has_failed_and_says_so() {
    let closed = ClosedPort::new();
    let url = closed.url();
    let config = ClientConfig {
        backoff: quick_backoff(Some(3)),
        ..Default::default()
    };
    let client = Client::new(&url, config).expect("client");
    // Made before the client gives up: queued, then ended by it.
    let queued = {
        let client = client.clone();
        rt::spawn_task(async move { client.call::<_, Value>("echo", &[1]).await })
    };
    state(&client, State::Failed).await;
    let queued = bounded("the queued call", queued.join()).await;
    assert!(matches!(queued, Err(CallError::Failed)), "{queued:?}");

    let after = bounded("a call once failed", client.call::<_, Value>("echo", &[2])).await;
    assert!(matches!(after, Err(CallError::Failed)), "{after:?}");
    let after = bounded("a notification once failed", client.notify("note", &[3])).await;
    assert!(matches!(after, Err(CallError::Failed)), "{after:?}");
    let error = CallError::Failed.to_string();
    assert_eq!(error, "the client gave up reconnecting");

    let metrics = bounded("metrics", client.metrics()).await;
    assert_eq!(metrics.state, State::Failed);
    assert_eq!(metrics.errors, 3, "one per failed attempt: {metrics:?}");
    assert_eq!((metrics.reconnections, metrics.queue_depth), (0, 0));
    // Closing a client that gave up is fine, and changes nothing.
    bounded("close", client.close()).await;
    assert_eq!(client.state(), State::Failed);

    // `connect` waits for the first attempt only, and says why it failed.
    let refused = bounded("connect", Client::connect(&url, ClientConfig::default())).await;
    match refused {
        Err(ConnectError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected a refused connection, got {:?}", other.err()),
    }
}

/// A call made the moment the client is seen `Failed` ends `Failed` at once, as a later
/// one does. (The driver publishes `Failed` before it closes its command channel; a call
/// taken into the channel in between must still be answered, not left there forever.)
/// Tried 200 times, as the window is narrow.
pub async fn a_call_made_as_the_client_gives_up_ends_failed() {
    let closed = ClosedPort::new();
    let url = closed.url();
    for round in 0..200 {
        let config = ClientConfig {
            backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(1),
                max_attempts: Some(1),
            },
            ..Default::default()
        };
        let client = Client::new(&url, config).expect("client");
        state(&client, State::Failed).await;
        let call = timeout(
            Duration::from_secs(5),
            client.call::<_, Value>("echo", &[round]),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: a call made once Failed never ended"));
        assert!(
            matches!(call, Err(CallError::Failed)),
            "round {round}: {call:?}"
        );
    }
}

/// A queue of two messages refuses a third (call or notification) with `QueueFull`; the
/// user's `close` ends what waits with `Closed`, and nothing more is taken.
pub async fn a_full_queue_refuses_what_does_not_fit_and_close_ends_what_waits() {
    let closed = ClosedPort::new();
    let url = closed.url();
    let config = ClientConfig {
        backoff: quick_backoff(None),
        queue: QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
        },
        ..Default::default()
    };
    let client = Client::new(&url, config).expect("client");
    bounded("notify", client.notify("note", &[1]))
        .await
        .expect("first fits");
    let waiting = {
        let client = client.clone();
        rt::spawn_task(async move { client.call::<_, Value>("echo", &[2]).await })
    };
    // The call reaches the queue on its own time.
    bounded("two queued", async {
        while client.metrics().await.queue_depth != 2 {
            rt::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let full = bounded("notify", client.notify("note", &[3])).await;
    assert!(
        matches!(full, Err(CallError::QueueFull { messages: 2, .. })),
        "{full:?}"
    );
    let full = bounded("a call", client.call::<_, Value>("echo", &[3])).await;
    assert!(
        matches!(full, Err(CallError::QueueFull { messages: 2, .. })),
        "{full:?}"
    );

    // Still trying to connect; the user closes: what waits ends, nothing more is taken.
    assert_ne!(client.state(), State::Failed);
    bounded("close", client.close()).await;
    assert_eq!(client.state(), State::Disconnected);
    let waiting = bounded("the queued call", waiting.join()).await;
    assert!(matches!(waiting, Err(CallError::Closed)), "{waiting:?}");
    let after = bounded("a call once closed", client.call::<_, Value>("echo", &[4])).await;
    assert!(matches!(after, Err(CallError::Closed)), "{after:?}");
}

/// Queued calls whose futures are dropped leave the queue; the session lives while a
/// clone of the client does, and ends `Disconnected` when the last one is dropped.
pub async fn dropping_a_queued_call_cancels_it_and_dropping_every_clone_ends_the_session() {
    let closed = ClosedPort::new();
    let url = closed.url();
    let config = ClientConfig {
        backoff: quick_backoff(None),
        ..Default::default()
    };
    let client = Client::new(&url, config).expect("client");
    for _ in 0..10 {
        if let Ok(result) = timeout(
            Duration::from_millis(1),
            client.call::<_, Value>("echo", &[1]),
        )
        .await
        {
            panic!("the call should have been dropped, got {result:?}")
        }
    }
    // Every dropped call left the queue.
    bounded("an empty queue", async {
        while client.metrics().await.queue_depth != 0 {
            rt::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;

    let mut states = client.states();
    let other = client.clone();
    drop(client);
    rt::sleep(Duration::from_millis(50)).await;
    assert_ne!(
        states.get(),
        State::Disconnected,
        "a clone is left, yet the session ended"
    );
    drop(other);
    bounded("the session's end", async {
        while states.changed().await.is_some() {}
    })
    .await;
    assert_eq!(states.get(), State::Disconnected);
}
