//! Interop with Node `ws`, both directions: tether's client against its server and its client
//! against tether's server. The scenarios are in `tether_tests::interop`; the peer is
//! `tests/peers/node_peer.js`, installed by `scripts/install-peers.sh` (a missing install fails
//! every test here with that hint).

use tether_tests::interop;
use tether_tests::peer::PeerKind;

const PEER: PeerKind = PeerKind::Node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_echo_every_size() {
    interop::tether_client_echo_every_size(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_reassembles_peer_fragments() {
    interop::tether_client_reassembles_peer_fragments(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_sends_fragments() {
    interop::tether_client_sends_fragments(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_ping_gets_pong() {
    interop::tether_client_ping_gets_pong(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_answers_peer_ping() {
    interop::tether_client_answers_peer_ping(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_closes_with_code_and_reason() {
    interop::tether_client_closes_with_code_and_reason(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_sees_peer_close() {
    interop::tether_client_sees_peer_close(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_fails_invalid_utf8_with_1007() {
    interop::tether_client_fails_invalid_utf8_with_1007(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_client_fails_oversized_with_1009() {
    interop::tether_client_fails_oversized_with_1009(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_echo_every_size() {
    interop::tether_server_echo_every_size(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_reassembles_peer_fragments() {
    interop::tether_server_reassembles_peer_fragments(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_sends_fragments() {
    interop::tether_server_sends_fragments(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_answers_peer_ping() {
    interop::tether_server_answers_peer_ping(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_ping_gets_pong() {
    interop::tether_server_ping_gets_pong(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_closes_with_code_and_reason() {
    interop::tether_server_closes_with_code_and_reason(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_sees_peer_close() {
    interop::tether_server_sees_peer_close(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_fails_invalid_utf8_with_1007() {
    interop::tether_server_fails_invalid_utf8_with_1007(PEER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tether_server_fails_oversized_with_1009() {
    interop::tether_server_fails_oversized_with_1009(PEER).await;
}
