//! The server's notifications reaching a tether `rpc::Client`, from a JSON-RPC server
//! written with Python `websockets` (`tests/peers/py_rpc_server.py`, its `burst` method:
//! N notifications `tick {"n": 0 .. N-1}`, each send awaited, then the answer N).
//!
//! Checked: every notification arrives, in order, and before the answer of the call that
//! made them (waiting in the receiver when the call returns); none is kept before anyone
//! asks, and those are counted; a newer receiver takes over from an older one; a receiver
//! that does not read stops the client reading (the server is held back, not one
//! notification is lost, the answer waits behind them and the heartbeat does not drop
//! the link meanwhile); a dropped receiver lets the client read on, dropping what comes.
//! The waits are on events (counts, the call's end), never on how long something took.
//!
//! Compiled once per adapter (see [`crate::runtime`]) and run by `tests/notifications.rs`.
//! The peer library is installed by `scripts/install-peers.sh`; without it these tests
//! fail with that hint.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tether_core::transmit::READ_MAX;

use super::adapter::rpc::{
    CallError, Client, ClientConfig, Heartbeat, HeartbeatMode, Metrics, Notifications,
};
use super::adapter::Config;
use super::rt;
use crate::peer::{PeerKind, PeerServer};
use crate::runtime::timeout;

const SCRIPT: &str = "py_rpc_server.py";
/// Bound on each wait of a scenario: a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(30);

/// The params of the server's `tick` notifications.
#[derive(Debug, Deserialize)]
struct Tick {
    n: u64,
    pad: String,
}

fn start_server() -> PeerServer {
    PeerServer::start_script(PeerKind::Python, SCRIPT, &["127.0.0.1:0"])
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// Asks the server for `count` ticks of `pad` bytes of padding, and waits for its answer.
async fn burst(client: &Client, count: u64, pad: usize) -> u64 {
    let params = json!({ "count": count, "pad": pad });
    bounded("burst", client.call::<_, u64>("burst", &params))
        .await
        .unwrap_or_else(|e| panic!("burst of {count}: {e}"))
}

/// The tick numbers waiting in `notifications` now, checking each is a whole `tick`.
fn waiting(notifications: &mut Notifications) -> Vec<u64> {
    std::iter::from_fn(|| notifications.try_recv())
        .map(|note| {
            assert_eq!(note.method, "tick");
            note.params::<Tick>().expect("tick params").n
        })
        .collect()
}

/// Waits until the client has read at least `count` JSON-RPC messages. They may not all
/// be handed out yet: the client answers the control messages already sent before it
/// hands out the events of its last read, and one more round trip is usually, not always,
/// answered after them (it can arrive while the first answer's turn still takes control
/// messages). A scenario that needs them in the receiver waits on the receiver.
async fn until_received(client: &Client, count: u64) -> Metrics {
    let metrics = bounded(&format!("{count} messages read"), async {
        loop {
            let metrics = client.metrics().await;
            if metrics.messages_received >= count {
                break metrics;
            }
            rt::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    client.metrics().await;
    metrics
}

/// A call that makes the server send notifications first finds them all waiting, in
/// order, when it returns; a burst larger than the receiver's bound arrives whole and in
/// order at a receiver that reads as they come.
pub async fn every_notification_arrives_in_order_before_the_answer_of_the_call_that_made_them() {
    let server = start_server();
    let client = bounded(
        "connect",
        Client::connect(&server.url("/"), ClientConfig::default()),
    )
    .await
    .expect("connect");
    let mut notifications = client.notifications();
    for round in 0..3 {
        // Fits in the receiver (256 by default), so nobody needs to read during the call.
        assert_eq!(burst(&client, 200, 16).await, 200);
        assert_eq!(
            waiting(&mut notifications),
            (0..200).collect::<Vec<_>>(),
            "round {round}"
        );
    }

    // Ten times the bound: a reader takes them as they come.
    let count: u64 = 2560;
    let reader = rt::spawn_task(async move {
        let mut seen = Vec::new();
        while let Some(note) = notifications.recv().await {
            let tick: Tick = note.params().expect("tick params");
            assert_eq!(tick.pad.len(), 3);
            seen.push(tick.n);
            if seen.last() == Some(&(count - 1)) {
                break;
            }
        }
        (seen, notifications)
    });
    assert_eq!(burst(&client, count, 3).await, count);
    let (seen, mut notifications) = bounded("the reader", reader.join()).await;
    assert_eq!(seen, (0..count).collect::<Vec<_>>());
    assert!(notifications.try_recv().is_none());
    assert_eq!(client.notifications_dropped(), 0);
    let metrics = client.metrics().await;
    assert_eq!(metrics.messages_received, 3 * 201 + count + 1);
    bounded("close", client.close()).await;
    assert!(
        bounded("the end", notifications.recv()).await.is_none(),
        "a closed client's receiver ends"
    );
}

/// Until someone asks, notifications are dropped and counted; a receiver gets those that
/// come after; a newer receiver takes over (the older one keeps what it had, then ends);
/// once the receiver is dropped they are dropped again, and nothing stalls.
pub async fn notifications_nobody_asked_for_are_dropped_and_counted() {
    let server = start_server();
    let client = bounded(
        "connect",
        Client::connect(&server.url("/"), ClientConfig::default()),
    )
    .await
    .expect("connect");
    // Dropped in order before the answer is handed over: counted by the time it returns.
    assert_eq!(burst(&client, 3, 0).await, 3);
    assert_eq!(client.notifications_dropped(), 3);

    let mut first = client.notifications();
    assert_eq!(burst(&client, 5, 0).await, 5);
    assert_eq!(client.notifications_dropped(), 3);
    let mut second = client.notifications();
    assert_eq!(burst(&client, 2, 0).await, 2);
    let mut old = Vec::new();
    while let Some(note) = bounded("the first receiver", first.recv()).await {
        old.push(note.params::<Tick>().expect("tick params").n);
    }
    assert_eq!(
        old,
        [0, 1, 2, 3, 4],
        "the first keeps what it had, then ends"
    );
    assert_eq!(waiting(&mut second), [0, 1]);

    drop(second);
    assert_eq!(burst(&client, 4, 0).await, 4);
    assert_eq!(client.notifications_dropped(), 7);
    let metrics = client.metrics().await;
    assert_eq!(metrics.messages_received, 3 + 5 + 2 + 4 + 4);
}

/// A receiver that does not read stops the client reading: with a bound of 4 and a burst
/// of 2000 notifications of 1 KiB, the client reads at most the bound plus one read's worth
/// while nobody takes any, and the call's answer (behind them) waits. The heartbeat (a ping
/// every 20 ms, 100 ms to answer) does not drop the link for the pause. Then the receiver
/// takes them one by one: every one arrives, in order; the answer comes only once all but
/// the last 4 were taken; the client never holds more than the bound plus one read's
/// worth beyond what was taken.
pub async fn a_receiver_that_does_not_read_stops_the_client_reading_and_loses_nothing() {
    const BOUND: usize = 4;
    const COUNT: u64 = 2000;
    const PAD: usize = 1024;
    // Messages one read can bring (each is longer than its padding), with a partial one at
    // each end.
    let one_read = u64::try_from(READ_MAX / PAD + 2).expect("small");
    let held_at_most = u64::try_from(BOUND).expect("small") + one_read;

    let server = start_server();
    let config = ClientConfig {
        notification_buffer: BOUND,
        heartbeat: Some(Heartbeat {
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(100),
            mode: HeartbeatMode::Pong,
        }),
        ..Default::default()
    };
    let client = bounded("connect", Client::connect(&server.url("/"), config))
        .await
        .expect("connect");
    let mut notifications = client.notifications();
    let call = {
        let client = client.clone();
        rt::spawn_task(async move {
            client
                .call::<_, u64>("burst", &json!({ "count": COUNT, "pad": PAD }))
                .await
        })
    };
    // The receiver is full and more wait: the client has stopped reading.
    until_received(&client, u64::try_from(BOUND).expect("small") + 1).await;
    // Long enough for a client that read on to read far more, and for the heartbeat to
    // find the link silent if it took the pause for the server's silence.
    rt::sleep(Duration::from_millis(400)).await;
    let metrics = client.metrics().await;
    assert!(
        metrics.messages_received <= held_at_most,
        "{} messages read while nobody took any (at most {held_at_most})",
        metrics.messages_received
    );
    assert!(
        !call.is_finished(),
        "the call ended before the notifications were taken: its answer overtook them, or \
         the link was dropped"
    );

    let mut taken = 0;
    while taken < COUNT {
        let note = bounded("a tick", notifications.recv())
            .await
            .expect("the receiver stays open");
        let tick: Tick = note.params().expect("tick params");
        assert_eq!((tick.n, tick.pad.len()), (taken, PAD), "out of order");
        taken += 1;
        // Only the last `BOUND` can still be waiting when the answer is handed over.
        assert!(
            !call.is_finished() || taken + u64::try_from(BOUND).expect("small") >= COUNT,
            "the answer came with {taken} of {COUNT} notifications taken"
        );
        if taken % 100 == 0 {
            let read = client.metrics().await.messages_received;
            assert!(
                read <= taken + held_at_most,
                "{read} messages read with {taken} taken: the client did not hold back"
            );
        }
    }
    let answer = bounded("the burst's answer", call.join()).await;
    assert_eq!(answer.ok(), Some(COUNT));
    assert!(notifications.try_recv().is_none());
    let metrics = client.metrics().await;
    assert_eq!(
        (metrics.reconnections, metrics.errors),
        (0, 0),
        "the link was dropped meanwhile: {metrics:?}"
    );
    assert_eq!(metrics.messages_received, COUNT + 1);
    assert_eq!(client.notifications_dropped(), 0);
}

/// A full receiver that is dropped lets the client read on: the rest of the burst is
/// dropped (and counted), the answer comes, and later notifications are dropped too.
pub async fn dropping_a_full_receiver_lets_the_client_read_on() {
    const BOUND: u64 = 4;
    const COUNT: u64 = 1000;
    let server = start_server();
    let config = ClientConfig {
        notification_buffer: 4,
        ..Default::default()
    };
    let client = bounded("connect", Client::connect(&server.url("/"), config))
        .await
        .expect("connect");
    let notifications = client.notifications();
    let call = {
        let client = client.clone();
        rt::spawn_task(async move {
            client
                .call::<_, u64>("burst", &json!({ "count": COUNT }))
                .await
        })
    };
    // The receiver holds 4 and the next one waits. (The count of messages read can run
    // ahead of what the client has handed out: the receiver's own count says when it is
    // full.)
    until_received(&client, BOUND + 1).await;
    bounded("the receiver filled", async {
        while notifications.len() < usize::try_from(BOUND).expect("small") {
            rt::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(!call.is_finished(), "the answer overtook the notifications");
    drop(notifications);
    let answer = bounded("the burst's answer", call.join()).await;
    assert_eq!(answer.ok(), Some(COUNT));
    // The 4 in the receiver went with it; every other one was dropped by the client.
    assert_eq!(client.notifications_dropped(), COUNT - BOUND);
    assert_eq!(burst(&client, 3, 0).await, 3);
    assert_eq!(client.notifications_dropped(), COUNT - BOUND + 3);
}

/// A client closed while its receiver is full and more wait (the close cannot be read, so
/// it ends at the close timeout) still hands the receiver every notification it took, in
/// order, then ends it; an answer that came behind them comes after them.
pub async fn closing_with_a_full_receiver_hands_it_everything_the_client_took() {
    const COUNT: u64 = 50;
    let server = start_server();
    let config = ClientConfig {
        notification_buffer: 4,
        ws: Config {
            close_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let client = bounded("connect", Client::connect(&server.url("/"), config))
        .await
        .expect("connect");
    let mut notifications = client.notifications();
    let call = {
        let client = client.clone();
        rt::spawn_task(async move {
            client
                .call::<_, u64>("burst", &json!({ "count": COUNT }))
                .await
        })
    };
    until_received(&client, 5).await;
    bounded("close", client.close()).await;
    let mut seen = Vec::new();
    while let Some(note) = bounded("a tick", notifications.recv()).await {
        seen.push(note.params::<Tick>().expect("tick params").n);
    }
    let taken = u64::try_from(seen.len()).expect("small");
    assert!(taken >= 5, "{seen:?}");
    assert_eq!(seen, (0..taken).collect::<Vec<_>>());
    assert_eq!(client.notifications_dropped(), 0);
    match bounded("the burst's end", call.join()).await {
        // Its answer was read (behind every tick): all of them came first.
        Ok(answer) => assert_eq!((answer, taken), (COUNT, COUNT)),
        // Not read before the close.
        Err(CallError::ConnectionLost { sent: true }) => assert!(taken < COUNT),
        Err(other) => panic!("the burst ended with {other:?}"),
    }
}
