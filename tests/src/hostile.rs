//! Hostile clients against our JSON-RPC server, over real sockets: a client that floods
//! calls and never reads, a huge batch, a client that goes silent, a client that stops
//! reading our replies, a handler that runs too long. The hostile clients are raw TCP
//! (blocking sockets on threads of their own): they do what no WebSocket library would,
//! so none written by others can play them. Compiled once per adapter (see
//! [`crate::runtime`]) and run by `tests/hostile.rs`. The server's own accounting
//! ([`HeldGauge`]) says what it held.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::adapter;
use super::adapter::rpc::{CallError, Client, ClientConfig, ErrorObject, Server, ServerConfig};
use super::adapter::{Config, HeldGauge};
use super::rt;
use crate::runtime::timeout;

#[path = "../../examples/shared/rpc_methods.rs"]
mod rpc_methods;

const LIMIT: Duration = Duration::from_secs(30);

async fn within<T>(scenario: impl Future<Output = T>) -> T {
    timeout(LIMIT, scenario).await.expect("scenario timed out")
}

/// The example's server on 127.0.0.1 (its listener held until it serves), its address
/// and its accounting.
async fn start(config: ServerConfig) -> (SocketAddr, HeldGauge) {
    let server = rpc_methods::routes(Server::bind("127.0.0.1:0", config).await.expect("bind"));
    let addr = server.local_addr().expect("local_addr");
    let held = server.held();
    rt::spawn(async move {
        let _ = server.serve().await;
    });
    (addr, held)
}

/// A server config with a small budget, so a flood reaches it quickly, and no heartbeat
/// or write-stall timeout unless a scenario wants one.
fn small(budget: usize, max_message: usize) -> ServerConfig {
    ServerConfig {
        ws: Config {
            budget,
            max_message_size: max_message,
            max_frame_size: max_message,
            heartbeat: None,
            write_stall_timeout: None,
            ..Config::default()
        },
        ..ServerConfig::default()
    }
}

/// A WebSocket server with the budget and largest message of [`small`]: the server (its
/// listener held), its address and its accounting.
async fn ws_server(budget: usize, max_message: usize) -> (adapter::Server, SocketAddr, HeldGauge) {
    let config = adapter::ServerConfig {
        ws: small(budget, max_message).ws,
        ..adapter::ServerConfig::default()
    };
    let server = adapter::Server::bind("127.0.0.1:0", config)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("local_addr");
    let held = server.held();
    (server, addr, held)
}

/// The most a connection may hold: the budget, one socket read (the read buffer's
/// largest), and one message with what handling it adds (its reply, its frame headers).
fn bound(budget: usize, max_message: usize) -> usize {
    budget + tether_core::transmit::READ_MAX + 2 * max_message + 4096
}

// --- a raw client --------------------------------------------------------------------------

/// A blocking socket past the opening handshake, speaking masked frames by hand.
struct Raw {
    sock: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let mut sock = TcpStream::connect(addr).expect("connect");
        sock.set_nodelay(true).expect("nodelay");
        let head = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).expect("upgrade request");
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            sock.read_exact(&mut byte).expect("upgrade response");
            response.push(byte[0]);
        }
        assert!(response.starts_with(b"HTTP/1.1 101"), "{response:?}");
        Raw { sock }
    }

    /// One masked text frame.
    fn frame(text: &[u8]) -> Vec<u8> {
        let mut out = vec![0x81];
        let n = text.len();
        if n < 126 {
            out.push(0x80 | n as u8);
        } else if n < 1 << 16 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&mask);
        out.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Writes `frames` until one blocks for a whole second (the server stopped reading)
    /// or `max` bytes went out; returns the bytes written and whether it blocked.
    fn flood(&mut self, frames: impl Iterator<Item = Vec<u8>>, max: usize) -> (usize, bool) {
        self.sock
            .set_write_timeout(Some(Duration::from_secs(1)))
            .expect("write timeout");
        let mut sent = 0;
        for frame in frames {
            let mut rest = &frame[..];
            while !rest.is_empty() {
                match self.sock.write(rest) {
                    Ok(n) => {
                        sent += n;
                        rest = &rest[n..];
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        return (sent, true)
                    }
                    Err(e) => panic!("flood: {e}"),
                }
            }
            if sent >= max {
                return (sent, false);
            }
        }
        (sent, false)
    }

    /// Reads until the server ends the connection (EOF or reset); the bytes read.
    fn read_to_end(&mut self) -> Vec<u8> {
        self.sock
            .set_read_timeout(Some(LIMIT))
            .expect("read timeout");
        let mut all = Vec::new();
        let mut buf = [0u8; 1 << 16];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return all,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The payload of the next unfragmented text frame (an unmasked server frame).
    fn read_text(&mut self) -> String {
        self.sock
            .set_read_timeout(Some(LIMIT))
            .expect("read timeout");
        loop {
            let mut head = [0u8; 2];
            self.sock.read_exact(&mut head).expect("frame header");
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.sock.read_exact(&mut b).expect("length");
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.sock.read_exact(&mut b).expect("length");
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            self.sock.read_exact(&mut payload).expect("payload");
            if head[0] & 0x0f == 0x1 {
                return String::from_utf8(payload).expect("text");
            }
        }
    }
}

/// Runs `client` on a thread of its own (its socket blocks) and waits for its result.
async fn on_thread<T: Send + 'static>(client: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = async_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send_blocking(client());
    });
    rx.recv().await.expect("the client thread panicked")
}

/// Waits until `held` says no connection holds anything (every connection is gone or idle).
async fn until_nothing_held(held: &HeldGauge) {
    while held.total() != 0 {
        rt::sleep(Duration::from_millis(10)).await;
    }
}

// --- the scenarios ---------------------------------------------------------------------------

/// A client floods `echo` calls with 1 KiB of params and never reads an answer. The server
/// stops reading it once its replies fill the budget: what it held for that connection
/// stays within the budget plus one message and one read, the client's writes block, and
/// meanwhile another client's calls are answered.
pub async fn a_client_that_floods_calls_and_never_reads_is_held_to_its_budget() {
    within(async {
        let (budget, max_message) = (256 << 10, 64 << 10);
        let (addr, held) = start(small(budget, max_message)).await;
        let flooder = on_thread(move || {
            let mut raw = Raw::connect(addr);
            let params = format!("[\"{}\"]", "x".repeat(1024));
            let calls = (0u64..).map(move |id| {
                let call =
                    format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":{id}}}"#);
                Raw::frame(call.as_bytes())
            });
            // Far more than the kernel's buffers and the budget together.
            let (sent, blocked) = raw.flood(calls, 256 << 20);
            (raw, sent, blocked)
        })
        .await;
        let (_raw, sent, blocked) = flooder;
        assert!(blocked, "the server read all {sent} bytes");
        assert!(sent > 4 * budget, "only {sent} bytes went out");
        let peak = held.peak();
        assert!(peak >= budget, "the flood never reached the budget: {peak}");
        assert!(
            peak <= bound(budget, max_message),
            "held {peak} bytes for one connection"
        );
        // Another client is served all the while.
        let client = Client::connect(&format!("ws://{addr}/"), ClientConfig::default())
            .await
            .expect("connect");
        let answer: Value = client.call("echo", &["still here"]).await.expect("echo");
        assert_eq!(answer, serde_json::json!(["still here"]));
        assert!(held.peak() <= bound(budget, max_message));
    })
    .await;
}

/// Batches of 1024 invalid entries (`[0,0,…]`, 2 KiB each, each answered with 1024 error
/// objects, about 100 KiB) and never a read: the error replies are held to the budget too.
pub async fn a_flood_of_invalid_batches_is_held_to_its_budget() {
    within(async {
        let (budget, max_message) = (256 << 10, 64 << 10);
        let (addr, held) = start(small(budget, max_message)).await;
        let (_raw, sent, blocked) = on_thread(move || {
            let mut raw = Raw::connect(addr);
            let batch = format!("[{}]", vec!["0"; 1024].join(","));
            let frame = Raw::frame(batch.as_bytes());
            let (sent, blocked) = raw.flood(std::iter::repeat(frame), 64 << 20);
            (raw, sent, blocked)
        })
        .await;
        assert!(blocked, "the server read all {sent} bytes");
        let peak = held.peak();
        assert!(peak >= budget, "the flood never reached the budget: {peak}");
        // One batch's error replies are about 100 KiB: the message's consequences.
        assert!(
            peak <= bound(budget, max_message) + (128 << 10),
            "held {peak} bytes"
        );
    })
    .await;
}

/// A batch of four million entries, `[0,0,…]` (8 MiB), is refused with -32600 "batch too
/// long"; the connection is still served afterwards. (That it is refused without
/// allocating for every entry is `tests/batch_allocation.rs`.)
pub async fn a_huge_batch_is_refused_and_the_connection_goes_on() {
    within(async {
        let (addr, _held) = start(ServerConfig::default()).await;
        let (first, second) = on_thread(move || {
            let mut raw = Raw::connect(addr);
            let huge = format!("[{}]", vec!["0"; 4 << 20].join(","));
            raw.sock
                .write_all(&Raw::frame(huge.as_bytes()))
                .expect("batch");
            let first = raw.read_text();
            let call = r#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}"#;
            raw.sock
                .write_all(&Raw::frame(call.as_bytes()))
                .expect("call");
            (first, raw.read_text())
        })
        .await;
        let first: Value = serde_json::from_str(&first).expect("json");
        assert_eq!(first["error"]["code"], ErrorObject::INVALID_REQUEST);
        assert_eq!(first["error"]["data"], "batch too long");
        let second: Value = serde_json::from_str(&second).expect("json");
        assert_eq!(second["result"], 5);
    })
    .await;
}

/// A client that opens its connection and then says nothing at all (it answers none of
/// the server's pings) is dropped once the idle timeout passes: the server sends a close
/// (1001) and ends the connection.
pub async fn a_silent_client_is_dropped_after_the_idle_timeout() {
    within(async {
        let mut config = small(16 << 20, 1 << 20);
        config.ws.heartbeat = Some(tether_core::session::Heartbeat {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(400),
            mode: tether_core::session::HeartbeatMode::AnyInput,
        });
        let (addr, _held) = start(config).await;
        let read = on_thread(move || {
            let mut raw = Raw::connect(addr);
            raw.read_to_end()
        })
        .await;
        // Pings (opcode 9), then a close frame with 1001, then the end of the stream.
        assert_eq!(read.first().map(|b| b & 0x0f), Some(0x9), "{read:?}");
        let close = read
            .windows(4)
            .any(|w| w[0] == 0x88 && w[1] >= 2 && u16::from_be_bytes([w[2], w[3]]) == 1001);
        assert!(close, "no close 1001 in {read:?}");
    })
    .await;
}

/// A client that makes calls with large answers and never reads them is dropped once
/// none of our bytes has been taken for the write-stall timeout; what the server held for
/// it is released.
pub async fn a_client_that_stops_reading_is_dropped_after_the_write_stall_timeout() {
    within(async {
        let mut config = small(64 << 20, 1 << 20);
        config.ws.write_stall_timeout = Some(Duration::from_millis(300));
        let (addr, held) = start(config).await;
        let flooder = on_thread(move || {
            let mut raw = Raw::connect(addr);
            let params = format!("[\"{}\"]", "y".repeat(256 << 10));
            let call = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":1}}"#);
            // 64 answers of 256 KiB: far more than the kernel's buffers hold.
            let (sent, _) = raw.flood(
                std::iter::repeat_n(Raw::frame(call.as_bytes()), 64),
                usize::MAX,
            );
            (raw, sent)
        })
        .await;
        let (mut raw, _sent) = flooder;
        // The answers pile up for the client…
        while held.peak() < 1 << 20 {
            rt::sleep(Duration::from_millis(10)).await;
        }
        // …until the server gives up on the connection: it holds nothing for it any more…
        until_nothing_held(&held).await;
        // …and the socket ends, once what the kernel held for us is read.
        let read = on_thread(move || raw.read_to_end()).await;
        assert!(
            read.len() < 64 * (256 << 10),
            "every answer arrived: {}",
            read.len()
        );
    })
    .await;
}

/// A call whose handler runs past the server's handler timeout is answered -32000
/// ("Handler timed out") at the timeout, and the connection serves the next call.
pub async fn a_handler_past_its_timeout_is_answered_with_an_error() {
    within(async {
        let config = ServerConfig {
            handler_timeout: Some(Duration::from_millis(200)),
            ..ServerConfig::default()
        };
        let (addr, held) = start(config).await;
        let client = Client::connect(&format!("ws://{addr}/"), ClientConfig::default())
            .await
            .expect("connect");
        let slow = client
            .call::<_, Value>("sleep", &serde_json::json!({"ms": 60_000}))
            .await;
        match slow {
            Err(CallError::Rpc(error)) => assert_eq!(error, ErrorObject::handler_timed_out()),
            other => panic!("expected the handler timeout, got {other:?}"),
        }
        let sum: i64 = client.call("add", &(2, 3)).await.expect("add");
        assert_eq!(sum, 5);
        // The cancelled handler holds nothing: nothing is held once the answers are out.
        until_nothing_held(&held).await;
    })
    .await;
}

/// A client floods messages at a WebSocket server whose application never receives them:
/// the server stops reading once they fill the connection's budget, and what it held
/// stays within the budget plus one message and one read. Once the application receives,
/// the rest of the flood comes in, in order.
pub async fn a_websocket_flood_the_application_never_receives_is_held_to_its_budget() {
    within(async {
        let (budget, max_message) = (256 << 10, 64 << 10);
        let (mut server, addr, held) = ws_server(budget, max_message).await;
        let count = 4096;
        let flood = on_thread(move || {
            let mut raw = Raw::connect(addr);
            let frames = (0..count).map(|i: u32| {
                let mut text = vec![b'z'; 60 << 10];
                text[..4].copy_from_slice(&i.to_be_bytes().map(|b| b'a' + b % 26));
                Raw::frame(&text)
            });
            let (sent, blocked) = raw.flood(frames, usize::MAX);
            (raw, sent, blocked)
        });
        // The server takes TCP connections only while `accept` waits; the application then
        // holds its connection and receives nothing until the flood is over.
        let (accepted, (raw, sent, blocked)) =
            futures_lite::future::zip(server.accept(), flood).await;
        let (mut ws, _) = accepted.expect("accept");
        assert!(blocked, "the server read all {sent} bytes");
        let peak = held.peak();
        assert!(peak >= budget, "the flood never reached the budget: {peak}");
        assert!(
            peak <= bound(budget, max_message),
            "held {peak} bytes for one connection"
        );
        // The application receives: every message so far arrives whole and in order.
        for i in 0..64u32 {
            let Some(adapter::Message::Text(text)) = ws.recv().await else {
                panic!("message {i} did not arrive");
            };
            let want = i.to_be_bytes().map(|b| b'a' + b % 26);
            assert_eq!(&text.as_bytes()[..4], &want, "message {i} out of order");
        }
        drop(raw);
    })
    .await;
}

/// An application keeps only the sending half of a WebSocket (it splits it and drops the
/// receiver): the messages that come in have nobody to go to, so they are dropped rather
/// than held against the budget. Held, they would fill it, and the server would stop
/// reading the connection for good, its pings and close included.
pub async fn messages_for_a_dropped_receiver_are_not_held() {
    within(async {
        let (budget, max_message) = (256 << 10, 64 << 10);
        let (mut server, addr, held) = ws_server(budget, max_message).await;
        // The server takes TCP connections only while `accept` waits.
        let (accepted, raw) =
            futures_lite::future::zip(server.accept(), on_thread(move || Raw::connect(addr))).await;
        let (ws, _) = accepted.expect("accept");
        let (sender, receiver) = ws.split();
        drop(receiver);
        // Sixteen times the budget: far more than it and the kernel's buffers.
        let count = 16 * budget / (60 << 10);
        let (raw, sent, blocked) = on_thread(move || {
            let frames = (0..count).map(|_| Raw::frame(&vec![b'z'; 60 << 10]));
            let mut raw = raw;
            let (sent, blocked) = raw.flood(frames, usize::MAX);
            (raw, sent, blocked)
        })
        .await;
        assert!(!blocked, "the server stopped reading after {sent} bytes");
        assert!(
            held.peak() < budget,
            "held {} bytes for nobody",
            held.peak()
        );
        // The sending half still works.
        sender.send("still here").await.expect("send");
        drop(raw);
    })
    .await;
}
