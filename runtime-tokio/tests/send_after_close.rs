//! On a multi-threaded runtime, the task that called `close` can run on another worker
//! the moment the driver answers it. A `send` made right then must already see the
//! closing state: before the driver recorded the state ahead of the answer, such a
//! message was accepted and silently dropped now and then.

use std::time::Duration;

use tether_tokio::{connect, ClientConfig, CloseCode, Error, Server, ServerConfig};

/// Connections tried: the window was a few instructions wide, so one try seldom hit it.
const ROUNDS: usize = 300;
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_right_after_close_returns_is_refused() {
    tokio::time::timeout(LIMIT, async {
        let mut server = Server::bind("127.0.0.1:0", ServerConfig::default())
            .await
            .expect("bind");
        let url = format!("ws://{}", server.local_addr().expect("local_addr"));
        tokio::spawn(async move {
            while let Ok((mut ws, _peer)) = server.accept().await {
                tokio::spawn(async move { while ws.recv_event().await.is_some() {} });
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
    })
    .await
    .expect("scenario timed out");
}
