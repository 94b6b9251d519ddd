//! The reconnecting client: how soon it is useful again after its server comes back, and
//! what an idle connection costs in memory. tether-tokio's `rpc::Client` (a session)
//! against tokio-tungstenite 0.30.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench session
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_RESTARTS` (server restarts per library, default 30),
//! `TETHER_BENCH_CONNECTIONS` (idle connections per library, default 10000),
//! `TETHER_BENCH_MEMORY_ONLY` (measure only the memory pairings whose label contains it,
//! e.g. `ws::Server`; the ratios are then to the first one measured). With
//! `TETHER_BENCH_RESTARTS=0` only the memory part runs.
//!
//! - **reconnect**: a JSON-RPC echo server (tokio-tungstenite, the same for both clients)
//!   is stopped, left down for 50 ms, and started again on the same port, many times. Per
//!   restart the server notes when it accepts a connection and the client when its first
//!   call after the restart is answered; the time between them is the figure. It starts at
//!   the accept, so the clients' waits between attempts (their backoff, 1 to 2 ms for both)
//!   are not in it. tether's call is made while the server is down and waits in the
//!   session's queue; the tokio-tungstenite client is a hand-written reconnect loop that
//!   calls as soon as `connect_async` returns.
//! - **memory**: N idle connections from one client process to one server process (each
//!   a fresh process of this binary, so neither the other library's allocations nor the
//!   allocator's reuse of them are in the figures). Per connection: the client's growth in
//!   resident memory (VmRSS) from before the first connection to after the last (with
//!   every connection open and idle for 2 s), divided by N; the same for the server
//!   process. tether: `rpc::Client::connect` per connection (heartbeat on, its default)
//!   to an `rpc::Server`, and also plain `tether_tokio::connect` WebSockets to that
//!   server and to a WebSocket `Server` whose connections are each echoed by a task (the
//!   `echo_server` example's shape); both servers also on smol (tether-async-std), and
//!   with admission limits above N; tokio-tungstenite: `connect_async` per connection, each read by a task of its
//!   own, to its `accept_async` echo server.
//!
//! Absolute figures depend on the machine; the ratios are what travel. Nothing here
//! asserts anything.

mod memory;
mod reconnect;
mod roles;

use tether_bench::env_u64;

fn main() {
    // A child process plays one part of the memory benchmark.
    if let Some(role) = roles::Role::from_env() {
        role.run();
        return;
    }
    // 0 (which `env_u64` refuses) skips the reconnect part.
    let restarts = match std::env::var("TETHER_BENCH_RESTARTS").as_deref() {
        Ok("0") => 0,
        _ => env_u64("TETHER_BENCH_RESTARTS", 30) as usize,
    };
    let connections = env_u64("TETHER_BENCH_CONNECTIONS", 10_000) as usize;
    if restarts > 0 {
        reconnect::run(restarts);
    }
    let only = std::env::var("TETHER_BENCH_MEMORY_ONLY").unwrap_or_default();
    memory::run(connections, &only);
}
