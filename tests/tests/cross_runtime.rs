//! One runtime's client against the other runtime's server over real loopback sockets,
//! WebSocket and JSON-RPC: a tokio client (tether-tokio, on a two-worker runtime) against a
//! smol server (tether-async-std under `smol::block_on`), and a smol client against a tokio
//! server. Each server runs on a thread of its own with its own executor
//! (`tether_tests::server_thread`) and is stopped at the end of its test. The halves are in
//! `tether_tests::cross_runtime` (via `tether_tests::runtime`).

use tether_tests::runtime::{smol, tokio};
use tether_tests::server_thread::ServerThread;

#[test]
fn websocket_tokio_client_against_a_smol_server() {
    let mut server = ServerThread::start(|channels| {
        smol::block_on(smol::cross_runtime::websocket_server(channels));
    });
    tokio::block_on(tokio::cross_runtime::websocket_client(server.serving()));
    server.stop();
}

#[test]
fn websocket_smol_client_against_a_tokio_server() {
    let mut server = ServerThread::start(|channels| {
        tokio::block_on(tokio::cross_runtime::websocket_server(channels));
    });
    smol::block_on(smol::cross_runtime::websocket_client(server.serving()));
    server.stop();
}

#[test]
fn json_rpc_tokio_client_against_a_smol_server() {
    let mut server = ServerThread::start(|channels| {
        smol::block_on(smol::cross_runtime::rpc_server(channels));
    });
    tokio::block_on(tokio::cross_runtime::rpc_client(server.serving()));
    server.stop();
}

#[test]
fn json_rpc_smol_client_against_a_tokio_server() {
    let mut server = ServerThread::start(|channels| {
        tokio::block_on(tokio::cross_runtime::rpc_server(channels));
    });
    smol::block_on(smol::cross_runtime::rpc_client(server.serving()));
    server.stop();
}
