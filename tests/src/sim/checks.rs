//! Invariants every node checks on the machines it owns, written once for every node kind
//! (and for users' own nodes): timers, and the memory bounds the core promises.

use tether_core::frame::MAX_HEADER_LEN;
use tether_core::ws::{Connection, State};
use tether_core::Machine;

use super::node::{Ctx, Port};

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
/// header, or, before the upgrade, by the handshake head limit. The highest value seen
/// goes into the counter `buffered_input_max`.
pub fn input_bounded(ctx: &mut Ctx, who: &str, port: Port, conn: &Connection) {
    let config = conn.config();
    let bound = match conn.state() {
        State::Handshaking => config.max_handshake_size,
        _ => config.max_message_size + MAX_HEADER_LEN,
    };
    let held = conn.buffered_input();
    ctx.record_max("buffered_input_max", held as u64);
    if held > bound {
        ctx.fail(format_args!(
            "{who} {port}: buffered_input() = {held} exceeds its bound {bound} (state {:?})",
            conn.state()
        ));
    }
}

/// What a connection holds to write stays within `bound`: the node knows what it asked
/// to send (its own limits, such as calls in flight), and the core adds only bounded
/// control frames (at most 16 pongs, one close). The highest value seen goes into the
/// counter `pending_transmit_max`.
pub fn output_bounded(ctx: &mut Ctx, who: &str, port: Port, conn: &Connection, bound: usize) {
    let held = conn.pending_transmit();
    ctx.record_max("pending_transmit_max", held as u64);
    if held > bound {
        ctx.fail(format_args!(
            "{who} {port}: pending_transmit() = {held} exceeds its bound {bound} (state {:?})",
            conn.state()
        ));
    }
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
