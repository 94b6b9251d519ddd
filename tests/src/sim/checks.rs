//! Invariants every node checks on the machines it owns, written once for every node kind
//! (and for users' own nodes): timers, and the memory bounds the core promises.

use std::cell::Cell;

use tether_core::frame::MAX_HEADER_LEN;
use tether_core::ws::{Connection, State};
use tether_core::Machine;

use super::node::{Ctx, Port};

/// The highest values a node's checks saw, to report at the end of a run (checks take
/// `&self`, hence the cells).
#[derive(Debug, Default)]
pub struct HighWater {
    input: Cell<usize>,
    output: Cell<usize>,
}

impl HighWater {
    /// Notes what one machine holds for input and for output.
    pub fn see(&self, input: usize, output: usize) {
        self.input.set(self.input.get().max(input));
        self.output.set(self.output.get().max(output));
    }

    /// Adds the highest values to the run's `buffered_input_max` and
    /// `pending_transmit_max` counters.
    pub fn report(&self, ctx: &mut Ctx) {
        ctx.record_max("buffered_input_max", self.input.get() as u64);
        ctx.record_max("pending_transmit_max", self.output.get() as u64);
    }
}

/// After `handle_timeout(now)`, `poll_timeout()` is `None` or later than `now`, so a
/// driver cannot spin on the timer.
pub fn timer_not_due(ctx: &Ctx, who: &str, port: Port, machine: &impl Machine) {
    if let Some(next) = machine.poll_timeout() {
        if next <= ctx.now {
            ctx.fail(format_args!(
                "{who} {port}: poll_timeout() is {:?} after handle_timeout(now), not later than now",
                next.saturating_duration_since(ctx.origin)
            ));
        }
    }
}

/// The input a peer can make a connection hold is bounded by one message plus one frame
/// header, or, before the upgrade, by the handshake head limit. Returns what it holds.
pub fn input_bounded(ctx: &Ctx, who: &str, port: Port, conn: &Connection) -> usize {
    let config = conn.config();
    let bound = match conn.state() {
        State::Handshaking => config.max_handshake_size,
        _ => config.max_message_size + MAX_HEADER_LEN,
    };
    let held = conn.buffered_input();
    if held > bound {
        ctx.fail(format_args!(
            "{who} {port}: buffered_input() = {held} exceeds its bound {bound} (state {:?})",
            conn.state()
        ));
    }
    held
}

/// What a connection holds to write stays within `bound`: the node knows what it asked
/// to send (its own limits, such as calls in flight), and the core adds only bounded
/// control frames (at most 16 pongs, one close). Returns what it holds.
pub fn output_bounded(ctx: &Ctx, who: &str, port: Port, conn: &Connection, bound: usize) -> usize {
    let held = conn.pending_transmit();
    if held > bound {
        ctx.fail(format_args!(
            "{who} {port}: pending_transmit() = {held} exceeds its bound {bound} (state {:?})",
            conn.state()
        ));
    }
    held
}

/// Room for the core's own control output in [`output_bounded`]: 16 pongs of 125 bytes,
/// a close frame, a handshake head, frame headers of the frame being written.
pub const CONTROL_SLACK: usize = 16 * (125 + MAX_HEADER_LEN) + 4096;

/// The start of `text`, so a failure message stays readable with long padding.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}
