//! A reconnecting JSON-RPC client link to one server: the [`Session`].
//!
//! A session owns at most one [`rpc::Channel`](crate::rpc::Channel) at a time, a fresh
//! one per connection attempt, and keeps what must outlive a reconnect: the ordered queue
//! of unsent calls and notifications, calls by [`CallId`] with their deadlines, the backoff
//! and the [`Metrics`]. It is sans-IO like the rest of the core: it asks its owner to open
//! and drop transports ([`Event::Connect`], [`Event::Disconnect`]) and is fed their bytes,
//! each input naming the [`Attempt`] it belongs to.
//!
//! ```text
//!               start                 Open
//! Disconnected ──────▶ Connecting ─────────────▶ Connected
//!                          │  ▲                   │     ▲
//!   max_attempts failures  │  └ failed attempt    │lost │ Open
//!                          ▼    (backoff)         ▼     │
//!                        Failed ◀──────────── Reconnecting
//!                                max_attempts   (backoff, retry)
//! ```
//! `close` leads from any state but `Failed` back to `Disconnected`. With
//! `max_attempts: Some(0)` a session never tries again: a lost link goes straight from
//! `Connected` to `Failed`. [`State::can_become`] is this diagram as a table.
//!
//! - Calls: [`Session::call`] returns a [`CallId`]; every call ends exactly once with
//!   [`Event::Response`] or [`Event::Ended`]. A call is written at once when a link is
//!   open and nothing waits before it, else queued; the queue keeps submission order and
//!   is bounded by [`QueueLimits`]. Deadlines run from `call`, time in the queue included.
//!   A call or notification refused ([`Refused`], the channel's type) was not queued.
//! - Lost links: calls written on a lost link end with
//!   [`EndReason::ConnectionLost`], or with [`Retry::Resend`] go back to the front of the
//!   queue for the next link.
//! - Backoff: exponential with seeded jitter ([`Backoff`]); `max_attempts` consecutive
//!   failed attempts make the session [`State::Failed`].
//! - Heartbeat: pings on the open link; a silent link is dropped ([`Heartbeat`]). It
//!   pauses while the owner does not read ([`Session::set_reading`]: back-pressure is not
//!   silence).
//! - The server's requests are answered `-32601` (a session serves nothing); its
//!   notifications surface as [`Event::Notification`].
//!
//! # Run loop
//!
//! The crate's loop, with transports named by attempt:
//!
//! 1. Feed one input: [`start`](Session::start), bytes read
//!    ([`handle_input`](Session::handle_input)), EOF ([`handle_eof`](Session::handle_eof)),
//!    a transport's fate ([`transport_open`](Session::transport_open),
//!    [`transport_failed`](Session::transport_failed)), a deadline
//!    ([`handle_timeout`](Session::handle_timeout)) or a command ([`call`](Session::call),
//!    [`notify`](Session::notify), [`cancel`](Session::cancel), [`close`](Session::close),
//!    [`set_reading`](Session::set_reading)).
//! 2. Drain [`poll_transmit`](Session::poll_transmit), writing to the transport you hold.
//! 3. Drain [`poll_event`](Session::poll_event): open a transport on `Connect`, drop one on
//!    `Disconnect`, hand answers to their waiters.
//! 4. Sleep until [`poll_timeout`](Session::poll_timeout) or the next input.
//!
//! [`Session::link`] gives one transport's view as a [`Machine`](crate::Machine), for
//! drivers written against that trait.

mod backoff;
mod call;
mod config;
mod event;
mod link;
mod metrics;
mod queue;
mod state;
mod state_machine;

pub use crate::heartbeat::{Heartbeat, HeartbeatMode};
pub use crate::rpc::{EndReason, Refused};
pub use backoff::Backoff;
pub use call::{CallId, CallOptions, Retry};
pub use config::Config;
pub use event::Event;
pub use link::Link;
pub use metrics::Metrics;
pub use queue::QueueLimits;
pub use state::{Attempt, State};
pub use state_machine::Session;

pub(crate) use crate::time::later;
