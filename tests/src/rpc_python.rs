//! Raw JSON-RPC from Python `websockets` to a tether `rpc::Server`: `tests/peers/py_rpc_raw.py`
//! writes every request by hand (no JSON-RPC library) and checks every reply as it comes:
//! a single call, notifications (which must get no reply, even for an unknown method), a
//! batch of 3 calls and 1 notification (one array of 3 responses, matched by id),
//! malformed JSON (-32700, id null), an invalid request (-32600), an unknown method
//! (-32601), an application error (1000), an empty batch (-32600), and then that the
//! connection still works. The server ([`super::rpc`]) runs in this process on
//! 127.0.0.1:0 and counts the notifications its `note` handler ran.
//!
//! Compiled once per adapter (see [`crate::runtime`]) and run by `tests/rpc_python.rs`.
//! The peer library is installed by `scripts/install-peers.sh`; without it this test fails
//! with that hint.

use serde_json::{json, Value};

use super::adapter::rpc::ServerConfig;
use super::rpc::RpcServer;
use crate::peer::{run_to_end, PeerKind};

/// The checks the script runs, in order; its result line lists those that passed.
const CHECKS: [&str; 10] = [
    "single_call",
    "notification_gets_no_reply",
    "notification_of_unknown_method_gets_no_reply",
    "batch",
    "malformed_json",
    "invalid_request",
    "unknown_method",
    "application_error",
    "empty_batch",
    "still_works",
];

/// The script's checks all pass against tether's server, and the two notifications it
/// sent (one alone, one inside the batch) ran `note`, and nothing else did.
pub async fn python_raw_jsonrpc_against_tether_server() {
    let server = RpcServer::start(ServerConfig::default()).await;
    let url = server.url();
    let command = PeerKind::Python.script_command("py_rpc_raw.py", &[&url]);
    let run = run_to_end(PeerKind::Python, command, "py_rpc_raw.py").await;
    let result = run.success();
    assert_eq!(result["checks"], json!(CHECKS), "{result}");

    // One notification alone and one inside the batch reached `note`, and nothing else
    // called it.
    let sent = result["notifications_sent"]
        .as_u64()
        .unwrap_or_else(|| panic!("no notifications_sent in {result}"));
    assert_eq!(sent, 2, "{result}");
    assert_eq!(server.wait_for_notes(sent).await, sent);
    assert_eq!(server.notes(), sent);
    assert_eq!(result["ok"], Value::Bool(true));
    server.assert_serving();
}
