//! tether-core: the sans-IO heart of tether.
//!
//! Every type here is a pure state machine: bytes and timer events go in, bytes to write,
//! events and the next deadline come out. Nothing here does I/O, reads a clock, draws OS
//! randomness or spawns; the same inputs give the same outputs, byte for byte. Adapters
//! (`tether-tokio`, `tether-async-std`) bind it to sockets; tests drive it in memory.
//!
//! # Layers
//!
//! | module | what it holds |
//! |---|---|
//! | [`frame`] | RFC 6455 frames: header codec, masking, close codes, incremental UTF-8 |
//! | [`handshake`] | the HTTP upgrade, client and server, and the extension negotiation |
//! | [`deflate`] | permessage-deflate (RFC 7692): settings, agreed parameters, the codec |
//! | [`ws`] | one WebSocket [`Connection`], client or server role |
//! | [`rpc`] | JSON-RPC 2.0 calls and replies over a connection: a [`rpc::Channel`] |
//! | [`session`] | a reconnecting JSON-RPC client link to one server: a [`session::Session`] |
//! | [`pool`] | the cluster layer: one link per peer node, addressed by node id, both ways: a [`pool::Pool`] |
//! | [`replica`] | replicated calls: a quorum write, a failover read, retries, each under a budget |
//! | [`time`] | the table of deadlines a state machine waits for |
//! | [`budget`] | what one connection holds for its peer, counted against its budget |
//! | [`transmit`] | the socket half of a driver loop without the socket: buffers, deadline, linger |
//! | [`Machine`] | the contract below as a trait, for drivers and harnesses of any machine |
//! | [`rng`] | the caller-seeded RNG behind masks and keys |
//!
//! # The contract
//!
//! - Every input carries `now: Instant`; the core never reads a clock.
//! - Randomness comes from a [`Seed`] the caller gives: adapters draw it from the OS,
//!   simulations fix it, so a run can be replayed exactly.
//! - Bad input from a peer never panics: it becomes an [`Event::Error`] and, where
//!   RFC 6455 says so, a close frame with the matching code (1002, 1007, 1009).
//! - Misuse is a typed error ([`ws::SendError`]), not a panic.
//!
//! # Run loop
//!
//! Poll order is part of the API. Whoever owns a [`Connection`] runs this loop:
//!
//! 1. Feed one input with the current time: bytes read ([`Connection::handle_input`]),
//!    end of stream ([`Connection::handle_eof`]), a deadline reached
//!    ([`Connection::handle_timeout`]) or a command ([`Connection::send`],
//!    [`Connection::close`], …).
//! 2. Drain [`Connection::poll_transmit`] until `None`, writing every buffer in order.
//!    A partial write keeps the rest of the buffer; nothing is ever encoded twice.
//! 3. Drain [`Connection::poll_event`] until `None`, handing each event to its waiter.
//! 4. Sleep until [`Connection::poll_timeout`] (or forever if `None`), or until the next
//!    input, whichever comes first; then go to 1.
//! 5. Once [`Connection::is_finished`] is true and everything is written, drop the transport.
//!
//! After `handle_timeout(now)`, `poll_timeout()` is `None` or later than `now`, so the
//! loop cannot spin on a timer.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::time::Instant;
//! use tether_core::Connection;
//!
//! /// Drives `conn` over a blocking socket until it is finished; `clock` says what time it is.
//! fn drive(conn: &mut Connection, socket: &mut (impl Read + Write), clock: impl Fn() -> Instant) -> std::io::Result<()> {
//!     let mut buf = [0u8; 8192];
//!     loop {
//!         while let Some(bytes) = conn.poll_transmit() {
//!             socket.write_all(&bytes)?;
//!         }
//!         while let Some(event) = conn.poll_event() {
//!             println!("{event:?}");
//!         }
//!         if conn.is_finished() {
//!             return Ok(());
//!         }
//!         // A real driver also wakes at `conn.poll_timeout()`; this one only reads.
//!         match socket.read(&mut buf)? {
//!             0 => conn.handle_eof(clock()),
//!             n => conn.handle_input(clock(), &buf[..n]),
//!         }
//!     }
//! }
//! ```

#![forbid(unsafe_code)]

pub mod budget;
pub mod deflate;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
mod heartbeat;
mod histogram;
mod machine;
#[cfg(feature = "mutants")]
#[doc(hidden)]
pub mod mutants;
pub mod pool;
pub mod replica;
pub mod rng;
pub mod rpc;
pub mod session;
pub mod time;
pub mod transmit;
pub mod ws;

pub use machine::Machine;
pub use rng::Seed;
pub use ws::{Config, Connection, Event, Message};
