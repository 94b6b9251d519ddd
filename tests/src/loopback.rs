//! Our client and our server over loopback TCP: text, binary, ping and close, back-pressure,
//! typed errors, compression, and a send racing a close, checking what arrives on each
//! side. Compiled once per adapter (see [`crate::runtime`]) and run by `tests/loopback.rs`.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future::zip;

use super::adapter::{
    connect, ClientConfig, CloseCode, Config, ConnectError, Deflate, Error, Event, Initiator,
    Message, Server, ServerConfig, WebSocket,
};
use super::rt;
use crate::closed_port::ClosedPort;
use crate::runtime::timeout;

const LIMIT: Duration = Duration::from_secs(10);

async fn within<T>(scenario: impl std::future::Future<Output = T>) -> T {
    timeout(LIMIT, scenario).await.expect("scenario timed out")
}

/// A client connected to a fresh server on a free port, and the server's side of it.
async fn connected() -> (WebSocket, WebSocket) {
    let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    let (client, accepted) = zip(connect(&url, ClientConfig::default()), server.accept()).await;
    (client.expect("connect"), accepted.expect("accept").0)
}

/// Messages both ways, a subprotocol chosen by the client's preference, a ping answered,
/// and a clean close that refuses later sends.
pub async fn client_and_server_exchange_messages_pings_and_close() {
    within(async {
        let config = ServerConfig {
            protocols: vec!["chat".into(), "other".into()],
            ..Default::default()
        };
        let mut server = Server::bind("127.0.0.1:0", config).await.expect("bind");
        let url = format!(
            "ws://{}/room?id=7",
            server.local_addr().expect("local_addr")
        );

        let client_config = ClientConfig {
            protocols: vec!["unknown".into(), "chat".into()],
            ..Default::default()
        };
        let (client, accepted) = zip(connect(&url, client_config), server.accept()).await;
        let mut client = client.expect("connect");
        let (mut server_ws, _peer) = accepted.expect("accept");
        assert_eq!(client.protocol(), Some("chat"));
        assert_eq!(server_ws.protocol(), Some("chat"));

        // Text and binary, client to server and back.
        let big = Bytes::from(vec![0xA5; 300_000]);
        client.send("hello").await.expect("send text");
        client.send(big.clone()).await.expect("send binary");
        assert_eq!(server_ws.recv().await, Some(Message::Text("hello".into())));
        assert_eq!(server_ws.recv().await, Some(Message::Binary(big.clone())));
        server_ws.send("hi back").await.expect("server send");
        assert_eq!(client.recv().await, Some(Message::Text("hi back".into())));

        // A ping is seen by the server and answered with a pong the client sees.
        client
            .ping(Bytes::from_static(b"are you there"))
            .await
            .expect("ping");
        assert_eq!(
            server_ws.recv_event().await,
            Some(Event::Ping(Bytes::from_static(b"are you there")))
        );
        assert_eq!(
            client.recv_event().await,
            Some(Event::Pong(Bytes::from_static(b"are you there")))
        );

        // The client closes; closing twice is a no-op, sending afterwards is refused.
        client.close(CloseCode::NORMAL, "bye").await.expect("close");
        client
            .close(CloseCode::NORMAL, "again")
            .await
            .expect("close twice");
        assert!(matches!(
            client.send("late").await,
            Err(Error::Closing | Error::Closed)
        ));

        match server_ws.recv_event().await {
            Some(Event::Closed(info)) => {
                assert_eq!(info.code, CloseCode::NORMAL);
                assert_eq!(info.reason, "bye");
                assert_eq!(info.initiator, Initiator::Remote);
                assert!(info.clean);
            }
            other => panic!("server expected Closed, got {other:?}"),
        }
        assert_eq!(server_ws.recv_event().await, None);

        assert_eq!(client.recv().await, None);
        let info = client.close_info().expect("client close info");
        assert_eq!(info.code, CloseCode::NORMAL);
        assert_eq!(info.initiator, Initiator::Local);
        assert!(info.clean);
        assert!(matches!(client.send("later").await, Err(Error::Closed)));
    })
    .await;
}

/// Dropping both halves of a connection closes it with 1000 after what was sent.
pub async fn dropping_every_handle_closes_normally() {
    within(async {
        let (client, mut server_ws) = connected().await;
        let (sender, receiver) = client.split();

        sender.send("last words").await.expect("send");
        drop((sender, receiver));

        assert_eq!(
            server_ws.recv().await,
            Some(Message::Text("last words".into()))
        );
        assert_eq!(server_ws.recv().await, None);
        let info = server_ws.close_info().expect("close info");
        assert_eq!(info.code, CloseCode::NORMAL);
        assert_eq!(info.initiator, Initiator::Remote);
    })
    .await;
}

/// The peer sends more than the event channel holds, then closes, while our application
/// is not reading. The connection ends with events still waiting for the receiver; a
/// `close` or `ping` made then must answer at once instead of waiting for a driver that
/// will never read its command (a hang found in review).
pub async fn commands_after_the_end_answer_even_while_events_wait_unread() {
    within(async {
        let (mut client, mut server_ws) = connected().await;

        // Fewer than the driver lets wait unread before it stops reading the socket: with
        // more, whether the close frame is read before reading stops depends on how the
        // messages were cut into reads, and so whether the client sees the end at all.
        for i in 0..10 {
            client.send(format!("message {i}")).await.expect("send");
        }
        client.close(CloseCode::NORMAL, "bye").await.expect("close");
        // The client sees the end once the server's driver has answered the close.
        while client.recv_event().await.is_some() {}

        let closed = server_ws.close(CloseCode::NORMAL, "").await;
        assert!(closed.is_ok(), "{closed:?}");
        let pinged = server_ws.ping(Bytes::new()).await;
        assert!(
            pinged.is_err(),
            "a ping after the end is refused: {pinged:?}"
        );
        // Nothing was lost on the way: every message, then the close.
        for i in 0..10 {
            assert_eq!(
                server_ws.recv().await,
                Some(Message::Text(format!("message {i}")))
            );
        }
        assert_eq!(server_ws.recv().await, None);
        assert_eq!(server_ws.close_info().expect("close info").reason, "bye");
    })
    .await;
}

/// A receiver that reads nothing for a while makes its driver stop reading the socket,
/// so the sender's `send` eventually waits (back-pressure reaches the peer) instead of
/// memory filling up; once it reads again, every message arrives, in order.
pub async fn a_receiver_that_falls_behind_slows_the_peer_and_loses_nothing() {
    within(async {
        let (client, mut server_ws) = connected().await;
        let chunk = Bytes::from(vec![7u8; 64 << 10]);
        // Far more than the socket buffers, the driver queues and the event channel hold.
        let total = 512;
        let mut sent = 0;
        while sent < total {
            match timeout(Duration::from_millis(200), client.send(chunk.clone())).await {
                Ok(result) => {
                    result.expect("send");
                    sent += 1;
                }
                Err(_) => break,
            }
        }
        assert!(
            sent < total,
            "all {total} messages of 64 KiB were queued while nobody read: no back-pressure"
        );
        let sender = client.sender();
        let rest = async {
            for _ in sent..total {
                sender
                    .send(chunk.clone())
                    .await
                    .expect("send after the reader woke");
            }
        };
        let read = async {
            for i in 0..total {
                match server_ws.recv().await {
                    Some(Message::Binary(b)) => assert_eq!(b.len(), chunk.len(), "message {i}"),
                    other => panic!("message {i}: got {other:?}"),
                }
            }
        };
        zip(rest, read).await;
    })
    .await;
}

/// What cannot become a WebSocket says why, typed: nobody listening is an I/O error, an
/// HTTP server that answers 403 is `Rejected { status: 403 }`.
pub async fn a_refused_upgrade_and_a_dead_port_are_typed_errors() {
    within(async {
        let dead = ClosedPort::new();
        match connect(&dead.url(), ClientConfig::default()).await {
            Err(ConnectError::Io(_)) => {}
            other => panic!("connecting to a closed port: {other:?}"),
        }

        let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("ws://{}/", http.local_addr().expect("local_addr"));
        let refuser = std::thread::spawn(move || {
            let (mut stream, _) = http.accept().expect("accept");
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            stream
                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                .expect("write the refusal");
        });
        match connect(&url, ClientConfig::default()).await {
            Err(ConnectError::Rejected { status }) => assert_eq!(status, 403),
            other => panic!("an upgrade answered 403: {other:?}"),
        }
        refuser.join().expect("the refusing server");
    })
    .await;
}

/// permessage-deflate is agreed when both sides set it, with the same parameters on both,
/// and carries a large compressible message and a short one both ways; when one side does
/// not set it, it is not agreed.
pub async fn compression_is_agreed_and_carries_messages_when_both_sides_set_it() {
    let ws = Config {
        compression: Some(Deflate::default()),
        ..Config::default()
    };
    let server_config = ServerConfig {
        ws: ws.clone(),
        ..Default::default()
    };
    let mut server = Server::bind("127.0.0.1:0", server_config)
        .await
        .expect("bind");
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    let client_config = ClientConfig {
        ws,
        ..Default::default()
    };
    let (client, accepted) = within(zip(connect(&url, client_config), server.accept())).await;
    let (mut client, mut accepted) = (client.expect("connect"), accepted.expect("accept").0);
    let agreed = client.compression().copied().expect("client agreed");
    assert_eq!(accepted.compression(), Some(&agreed));
    assert_eq!(agreed.client_max_window_bits, 15);

    let text: String = (0..2000)
        .map(|i| format!(r#"{{"index":{i},"term":4}},"#))
        .collect();
    for message in [Message::Text(text.clone()), Message::from("short")] {
        client.send(message.clone()).await.expect("send");
        let got = timeout(LIMIT, accepted.recv()).await.expect("in time");
        assert_eq!(got, Some(message.clone()));
        accepted.send(message.clone()).await.expect("echo");
        let back = timeout(LIMIT, client.recv()).await.expect("in time");
        assert_eq!(back, Some(message));
    }
    // Not set on one side: not agreed.
    let (plain, _) = within(connected()).await;
    assert_eq!(plain.compression(), None);
}

/// On a multi-threaded executor, the task that called `close` can run on another worker
/// the moment the driver answers it. A `send` made right then must already see the
/// closing state: before the driver recorded the state ahead of the answer, such a
/// message was accepted and silently dropped now and then. The window was a few
/// instructions wide, so one connection seldom hits it: 300 are tried.
pub async fn a_send_right_after_close_returns_is_refused() {
    const ROUNDS: usize = 300;
    timeout(Duration::from_secs(60), async {
        let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
            .await
            .expect("bind");
        let url = format!("ws://{}", server.local_addr().expect("local_addr"));
        let accepting = rt::spawn_task(async move {
            while let Ok((mut ws, _peer)) = server.accept().await {
                rt::spawn(async move { while ws.recv_event().await.is_some() {} });
            }
        });
        let mut accepted = 0;
        for round in 0..ROUNDS {
            let client = connect(&url, ClientConfig::default())
                .await
                .expect("connect");
            client.close(CloseCode::NORMAL, "bye").await.expect("close");
            match client.send("late").await {
                Err(Error::Closing | Error::Closed) => {}
                Ok(()) => accepted += 1,
                Err(other) => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!(accepted, 0, "sends accepted after close, of {ROUNDS}");
        accepting.abort();
    })
    .await
    .expect("scenario timed out");
}
