//! Our client and our server over loopback TCP: text, binary, ping and close (and
//! compression), checking what arrives on each side.

use std::time::Duration;

use bytes::Bytes;
use tether_tokio::{
    connect, ClientConfig, CloseCode, Config, Deflate, Error, Event, Initiator, Message, Server,
    ServerConfig, WebSocket,
};

const LIMIT: Duration = Duration::from_secs(10);

/// A client connected to a fresh server on a free port, and the server's side of it.
async fn connected() -> (WebSocket, WebSocket) {
    let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .expect("bind");
    let url = format!("ws://{}", server.local_addr().expect("local_addr"));
    let (client, accepted) = tokio::join!(connect(&url, ClientConfig::default()), server.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

#[tokio::test]
async fn client_and_server_exchange_messages_pings_and_close() {
    tokio::time::timeout(LIMIT, scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
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
    let (client, accepted) = tokio::join!(connect(&url, client_config), server.accept());
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
}

#[tokio::test]
async fn dropping_every_handle_closes_normally() {
    tokio::time::timeout(LIMIT, async {
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
    .await
    .expect("scenario timed out");
}

/// The peer sends more than the event channel holds, then closes, while our application
/// is not reading. The connection ends with events still waiting for the receiver; a
/// `close` or `ping` made then must answer at once instead of waiting for a driver that
/// will never read its command (a hang found in review).
#[tokio::test]
async fn commands_after_the_end_answer_even_while_events_wait_unread() {
    tokio::time::timeout(LIMIT, async {
        let (mut client, mut server_ws) = connected().await;

        for i in 0..30 {
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
        for i in 0..30 {
            assert_eq!(
                server_ws.recv().await,
                Some(Message::Text(format!("message {i}")))
            );
        }
        assert_eq!(server_ws.recv().await, None);
        assert_eq!(server_ws.close_info().expect("close info").reason, "bye");
    })
    .await
    .expect("scenario timed out");
}

#[tokio::test]
async fn compression_is_agreed_and_carries_messages_when_both_sides_set_it() {
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
    let (client, accepted) = tokio::join!(connect(&url, client_config), server.accept());
    let (mut client, mut accepted) = (client.expect("connect"), accepted.expect("accept").0);
    let agreed = client.compression().copied().expect("client agreed");
    assert_eq!(accepted.compression(), Some(&agreed));
    assert_eq!(agreed.client_max_window_bits, 15);

    let text: String = (0..2000)
        .map(|i| format!(r#"{{"index":{i},"term":4}},"#))
        .collect();
    for message in [Message::Text(text.clone()), Message::from("short")] {
        client.send(message.clone()).await.expect("send");
        let got = tokio::time::timeout(LIMIT, accepted.recv())
            .await
            .expect("in time");
        assert_eq!(got, Some(message.clone()));
        accepted.send(message.clone()).await.expect("echo");
        let back = tokio::time::timeout(LIMIT, client.recv())
            .await
            .expect("in time");
        assert_eq!(back, Some(message));
    }
    // Not set on one side: not agreed.
    let (plain, _) = connected().await;
    assert_eq!(plain.compression(), None);
}
