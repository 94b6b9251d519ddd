//! Our client and our server over loopback TCP, with compression. (Messages, ping, close
//! and back-pressure are the shared scenarios of tests/tests/loopback.rs, run on tokio too.)

use std::time::Duration;

use tether_tokio::{
    connect, ClientConfig, Config, Deflate, Message, Server, ServerConfig, WebSocket,
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
