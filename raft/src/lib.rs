//! Raft over tether: [openraft]'s network on a node's [`Peers`](tether_adapter::pool::Peers),
//! and a replicated key-value store on it ([`kv`]).
//!
//! - [`Network`] is openraft's `RaftNetworkFactory`, and the [`Client`] it makes per peer
//!   is openraft's `RaftNetworkV2`: votes, appends and heartbeats are JSON-RPC calls on the
//!   peer's control link; snapshots go on its bulk link in chunks, each with its own
//!   deadline, and the transfer stops when openraft cancels it; large appends take the bulk
//!   link too. Failed calls become the errors openraft acts on (see [`Client`]:
//!   `Unreachable` backs off, a lost link or a timeout retries).
//! - [`route`] serves the other side, the `raft/*` methods ([`methods`]), on the node's
//!   router; [`SnapshotInbox`] puts chunks back together.
//! - [`kv`] is the demo: an in-memory log, a `BTreeMap` state machine with snapshots, and a
//!   node serving Raft, management and key-value methods on one tether port.
//! - [`SmolRuntime`] runs openraft on smol and async-std.
//!
//! The network is written once for every runtime (`R: tether_adapter::Runtime`), the store
//! once for every openraft runtime ([`kv::Kv`]).
//!
//! # Which openraft
//!
//! openraft **0.10.0-alpha.37**, pinned exactly. Of the releases on crates.io, 0.9.25 is the
//! latest stable one and 0.10 is in alpha (37 alphas so far); we take the alpha because its
//! network API is the one tether fits:
//!
//! - **Snapshots are ours to send.** 0.10's `RaftNetworkV2` has one snapshot method,
//!   `full_snapshot(vote, snapshot, cancel, option)`: the network gets the whole snapshot,
//!   a `cancel` future that resolves when openraft gives up on the transfer, and an
//!   `RPCOption` whose `soft_ttl()` (from `Config::install_snapshot_timeout`) is meant per
//!   chunk and whose `snapshot_chunk_size()` gives `Config::snapshot_max_chunk_size`. The
//!   snapshot's data type is the network's choice (`RaftNetworkV2::SnapshotData`, matched to
//!   `RaftStateMachine::SnapshotData`). 0.9's `RaftNetwork` has `full_snapshot` only behind
//!   the `generic-snapshot-data` feature; without it, openraft cuts the snapshot itself and
//!   calls `install_snapshot` per chunk, with `SnapshotData` bound to tokio's `AsyncRead +
//!   AsyncSeek`.
//! - **Separate clients per purpose.** 0.10's `RaftNetworkFactory` can make a client for
//!   heartbeats (`new_heartbeat_client`) and one for snapshots (`new_snapshot_client`); ours
//!   are alike, since lanes are chosen per call.
//! - **Errors.** Both have `RPCError::{Unreachable, Network, Timeout, RemoteError}`, with
//!   the meaning tether's `CallError` already has (back off, retry, retry, the node said
//!   no); 0.10 adds `StreamingError` for `full_snapshot` (those plus `Closed` when
//!   cancelled). In 0.10 the `RemoteError` of `RaftNetworkV2` carries `Infallible`, so a
//!   node's error object travels inside `Unreachable`, which openraft ranks the same.
//! - **The runtime is abstract.** 0.10's `AsyncRuntime` (from `openraft-rt`) covers spawn,
//!   sleep, timeouts, the clock, a thread-local RNG, and the mpsc, watch, oneshot and mutex
//!   types openraft uses. 0.9's covers spawn, sleep, timeouts and oneshot, and openraft 0.9
//!   uses tokio's channels and tokio's `select!` directly.
//! - Reads: both have `Raft::ensure_linearizable` (read index); 0.10 adds
//!   `get_read_linearizer`, which lets a follower serve a linearizable read from a read index
//!   the leader gave it (the store's `kv/read` does).
//!
//! The price: the alpha's API moves between alphas (hence the exact pin), and its
//! dependencies `quorum-set` and `validit` need Rust 1.88, so this crate says
//! `rust-version = "1.88"` while the rest of the workspace keeps 1.85.
//!
//! # smol
//!
//! openraft runs on whatever `AsyncRuntime` the type config names, and 0.10's trait covers
//! everything it uses, so smol took [`SmolRuntime`], about 200 lines with its docs: tasks
//! on `async-global-executor` (where `tether-async-std` spawns; a handle detaches its task
//! when dropped and reports a panic as a join error), sleeps and timeouts on `async-io`'s
//! timer, `std::time::Instant`, `rand`'s thread-local generator, and for channels and the
//! mutex `openraft-rt-tokio`'s, which are `tokio::sync`'s and need no tokio runtime (as in
//! tether's adapter). It passes openraft's own runtime suite (`openraft_rt::testing`), and
//! the store's scenarios run on tokio (`KvNode<Tokio, TokioRuntime>`) and on smol
//! (`KvNode<AsyncStd, SmolRuntime>`) alike. Nothing in openraft 0.10 calls tokio's reactor
//! or executor behind the runtime's back; tokio is still compiled in, for its `sync`
//! module and for `openraft-rt-tokio`, which its `TokioRuntime` lives in.
//!
//! [openraft]: https://docs.rs/openraft/0.10.0-alpha.37

mod errors;
pub mod kv;
pub mod methods;
mod network;
mod service;
mod smol;
mod snapshot;

pub use network::{Client, Network, NetworkConfig};
pub use service::{fatal, route, RaftCell};
pub use smol::SmolRuntime;
pub use snapshot::{Received, SnapshotChunk, SnapshotInbox};

/// The openraft release this crate is built on.
pub use openraft;
