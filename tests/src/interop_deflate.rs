//! The permessage-deflate interop scenarios, written once and run against each peer by
//! `tests/interop_python.rs` and `tests/interop_node.rs` (through
//! [`interop_tests!`](crate::interop_tests), which declares them beside the plain interop
//! scenarios), for each adapter: like `interop.rs`, whose helpers it uses, this file is
//! compiled once per module of [`crate::runtime`] against that module's `adapter`.
//!
//! Both directions, each with compression on as the peer does it by default, with context
//! takeover off and windows reduced (asked for by the client, or imposed by the server), and
//! with a compressed message that inflates past tether's limit. Each checks both sides: the
//! parameters tether reports against the `Sec-WebSocket-Extensions` answer the peer reports,
//! the messages byte for byte, and (Node, whose socket counts them) that fewer bytes crossed
//! the wire than the messages hold.

use serde_json::{json, Value};
use tether_core::ws::ProtocolError;

use super::adapter::{CloseCode, Config, Deflate, DeflateParams, Initiator, WebSocket};
use super::interop::{
    check_peer_close, close_normally, connect_to, every_size, expect_closed, expect_error,
    expect_message, expected_messages, info, reported_messages, send, with_peer_client,
};
use crate::payload::{message, Kind, SIZES};
use crate::peer::{PeerKind, PeerServer};

/// Compression on, every message compressed however short.
fn compressed(deflate: Deflate) -> Config {
    Config {
        compression: Some(Deflate {
            threshold: 0,
            ..deflate
        }),
        ..Config::default()
    }
}

/// Context takeover off both ways, and windows of 9 (client) and 10 (server) bits.
fn strict() -> Deflate {
    Deflate {
        client_max_window_bits: 9,
        server_max_window_bits: 10,
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..Deflate::default()
    }
}

/// The sizes up to 64 KiB (both kinds): enough to cross every window, quicker than 16 MiB.
const SMALL_MAX: usize = 65_536;

fn small_sizes() -> Vec<(Kind, usize)> {
    Kind::BOTH
        .iter()
        .flat_map(|&k| {
            SIZES
                .iter()
                .filter(|&&n| n <= SMALL_MAX)
                .map(move |&n| (k, n))
        })
        .collect()
}

/// What an answer (`Sec-WebSocket-Extensions` as the server sent it) leaves in effect, for a
/// client whose own offer said `offered` (RFC 7692 §7.1: an absent window is 15 bits, or
/// what the client itself offered).
fn params_in(answer: &str, offered: &Deflate) -> DeflateParams {
    let params: Vec<(&str, Option<u8>)> = answer
        .split(';')
        .map(str::trim)
        .skip(1)
        .map(|p| match p.split_once('=') {
            Some((name, value)) => (
                name.trim(),
                Some(value.trim().trim_matches('"').parse().expect("window bits")),
            ),
            None => (p, None),
        })
        .collect();
    let has = |name: &str| params.iter().any(|(n, _)| *n == name);
    let bits = |name: &str| {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    };
    DeflateParams {
        client_no_context_takeover: has("client_no_context_takeover")
            || offered.client_no_context_takeover,
        server_no_context_takeover: has("server_no_context_takeover"),
        client_max_window_bits: bits("client_max_window_bits")
            .unwrap_or(offered.client_max_window_bits),
        server_max_window_bits: bits("server_max_window_bits").unwrap_or(15),
    }
}

/// The `Sec-WebSocket-Extensions` answer a peer reported, checked to be permessage-deflate.
fn answer(peer: PeerKind, report: &Value) -> String {
    let answer = report["extensions"]
        .as_str()
        .unwrap_or_else(|| panic!("{} reports no extension: {report}", peer.name()));
    assert!(
        answer.starts_with("permessage-deflate"),
        "{} answered {answer:?}",
        peer.name()
    );
    answer.to_owned()
}

/// tether's view of the agreed parameters.
fn agreed(ws: &WebSocket) -> DeflateParams {
    *ws.compression()
        .expect("tether reports no permessage-deflate agreement")
}

/// Where the peer can count the bytes its socket read (Node), checks that compression made
/// them fewer than the `sent` message bytes by far: tether really compressed.
fn check_wire_smaller(peer: PeerKind, bytes_read: &Value, sent: &[(Kind, usize)]) {
    let payload: usize = sent.iter().map(|(_, n)| n).sum();
    match bytes_read.as_u64() {
        Some(read) => assert!(
            read * 5 < payload as u64,
            "{} read {read} bytes for {payload} bytes of messages",
            peer.name()
        ),
        None => assert_eq!(peer, PeerKind::Python, "only websockets hides its socket"),
    }
}

/// Sends each message and checks its echo, byte for byte.
async fn echo_through(ws: &mut WebSocket, list: &[(Kind, usize)]) {
    for &(kind, n) in list {
        send(ws, message(kind, n)).await;
        expect_message(ws, kind, n).await;
    }
}

// --------------------------------------------------- tether client, peer server

/// tether offers permessage-deflate with its defaults; the peer's server answers with its
/// own (websockets: windows of 12 bits both ways, a reduced-window case). Both sides agree,
/// every size echoes intact, and (Node) the bytes tether wrote are compressed.
pub async fn tether_client_deflate_echo(peer: PeerKind) {
    let server = PeerServer::start(peer);
    let offered = Deflate::default();
    let mut ws = connect_to(&server, "/echo", compressed(offered.clone())).await;
    let params = agreed(&ws);
    echo_through(&mut ws, &every_size()).await;
    close_normally(&mut ws).await;
    let report = server.next_report().await;
    assert_eq!(
        params,
        params_in(&answer(peer, &report), &offered),
        "{report}"
    );
    assert_eq!(reported_messages(&report), expected_messages(&every_size()));
    check_wire_smaller(peer, &report["bytes_read"], &every_size());
    check_peer_close(peer, &report, 1000, Some(""), true);
}

/// tether asks for no context takeover both ways and windows of 9 (its own) and 10 (the
/// server's) bits; the peer agrees to exactly that, and messages repeated under it (where
/// context takeover would have helped) still echo intact.
pub async fn tether_client_deflate_no_context_takeover_small_windows(peer: PeerKind) {
    let server = PeerServer::start(peer);
    let mut ws = connect_to(&server, "/echo", compressed(strict())).await;
    let expected = DeflateParams {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        client_max_window_bits: 9,
        server_max_window_bits: 10,
    };
    assert_eq!(agreed(&ws), expected);
    let twice: Vec<(Kind, usize)> = small_sizes().into_iter().flat_map(|m| [m, m]).collect();
    echo_through(&mut ws, &twice).await;
    close_normally(&mut ws).await;
    let report = server.next_report().await;
    assert_eq!(
        params_in(&answer(peer, &report), &strict()),
        expected,
        "{report}"
    );
    assert_eq!(reported_messages(&report), expected_messages(&twice));
}

/// The peer's server compresses 2 MiB into a frame of a few KiB; tether, limited to 1 MiB,
/// stops inflating at the limit and fails the connection with 1009.
pub async fn tether_client_deflate_fails_inflated_oversized_with_1009(peer: PeerKind) {
    let server = PeerServer::start(peer);
    let config = Config {
        max_message_size: 1 << 20,
        ..compressed(Deflate::default())
    };
    let mut ws = connect_to(&server, &format!("/send-oversized?n={}", 2 << 20), config).await;
    assert!(ws.compression().is_some());
    let error = expect_error(&mut ws, CloseCode::MESSAGE_TOO_BIG).await;
    // Not the frame size: the frame was small, its inflated content was not.
    assert!(
        matches!(error, ProtocolError::MessageTooBig { size, max } if size <= max as u64 + 1),
        "{error:?}"
    );
    let closed = expect_closed(&mut ws).await;
    assert_eq!(
        (closed.code, closed.initiator),
        (CloseCode::MESSAGE_TOO_BIG, Initiator::Local)
    );
    let report = server.next_report().await;
    check_peer_close(peer, &report, 1009, None, true);
}

// --------------------------------------------------- peer client, tether server

/// The peer's client offers permessage-deflate as it does by default; tether's server takes
/// it up, every size echoes intact, and (Node) the bytes tether wrote are compressed.
pub async fn tether_server_deflate_echo(peer: PeerKind) {
    let (params, result) = with_peer_client(
        peer,
        compressed(Deflate::default()),
        "echo",
        |mut ws| async move {
            let params = agreed(&ws);
            for (kind, n) in every_size() {
                let m = expect_message(&mut ws, kind, n).await;
                send(&ws, m).await;
            }
            assert_eq!(
                expect_closed(&mut ws).await,
                info(1000, "", Initiator::Remote, true)
            );
            params
        },
    )
    .await;
    // Both peers offer `client_max_window_bits` without a value and nothing else.
    assert_eq!(
        params_in(&answer(peer, &result), &Deflate::default()),
        params
    );
    assert_eq!(result["checked"], json!(every_size().len()), "{result}");
    check_wire_smaller(peer, &result["bytes_read"], &every_size());
}

/// The peer's client asks for no context takeover both ways and windows of 9 (its own) and
/// 10 (the server's) bits; tether's server, with default settings, honours exactly that.
pub async fn tether_server_deflate_honours_peer_requests(peer: PeerKind) {
    let scenario = format!(
        "echo?max={SMALL_MAX}&server_no_context_takeover=1&client_no_context_takeover=1\
         &server_max_window_bits=10&client_max_window_bits=9"
    );
    let (params, result) =
        with_peer_client(peer, compressed(Deflate::default()), &scenario, |ws| {
            echo_back(ws, small_sizes())
        })
        .await;
    let expected = DeflateParams {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        client_max_window_bits: 9,
        server_max_window_bits: 10,
    };
    assert_eq!(params, expected);
    assert_eq!(params_in(&answer(peer, &result), &strict()), expected);
    assert_eq!(result["checked"], json!(small_sizes().len()), "{result}");
}

/// tether's server insists on no context takeover both ways and windows of 10 (client) and
/// 11 (server) bits; the peer's client, offering its default, accepts them and keeps to them.
pub async fn tether_server_deflate_imposes_its_settings(peer: PeerKind) {
    let insists = Deflate {
        client_max_window_bits: 10,
        server_max_window_bits: 11,
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..Deflate::default()
    };
    let scenario = format!("echo?max={SMALL_MAX}");
    let (params, result) = with_peer_client(peer, compressed(insists), &scenario, |ws| {
        echo_back(ws, small_sizes())
    })
    .await;
    let expected = DeflateParams {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        client_max_window_bits: 10,
        server_max_window_bits: 11,
    };
    assert_eq!(params, expected);
    assert_eq!(
        params_in(&answer(peer, &result), &Deflate::default()),
        expected
    );
    assert_eq!(result["checked"], json!(small_sizes().len()), "{result}");
}

/// The server side of the echo scenarios: the agreed parameters, after echoing `list` and
/// seeing the peer close normally.
async fn echo_back(mut ws: WebSocket, list: Vec<(Kind, usize)>) -> DeflateParams {
    let params = agreed(&ws);
    for (kind, n) in list {
        let m = expect_message(&mut ws, kind, n).await;
        send(&ws, m).await;
    }
    assert_eq!(
        expect_closed(&mut ws).await,
        info(1000, "", Initiator::Remote, true)
    );
    params
}

/// The peer's client compresses 2 MiB into a small frame; tether's server, limited to
/// 1 MiB, stops inflating at the limit and fails the connection with 1009.
pub async fn tether_server_deflate_fails_inflated_oversized_with_1009(peer: PeerKind) {
    let config = Config {
        max_message_size: 1 << 20,
        ..compressed(Deflate::default())
    };
    let scenario = format!("send-oversized?n={}", 2 << 20);
    let ((error, closed), result) =
        with_peer_client(peer, config, &scenario, |mut ws| async move {
            assert!(ws.compression().is_some());
            let error = expect_error(&mut ws, CloseCode::MESSAGE_TOO_BIG).await;
            (error, expect_closed(&mut ws).await)
        })
        .await;
    assert!(
        matches!(error, ProtocolError::MessageTooBig { size, max } if size <= max as u64 + 1),
        "{error:?}"
    );
    assert_eq!(
        (closed.code, closed.initiator),
        (CloseCode::MESSAGE_TOO_BIG, Initiator::Local)
    );
    check_peer_close(peer, &result, 1009, None, true);
}
