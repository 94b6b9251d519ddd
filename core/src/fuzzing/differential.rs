//! The `differential` target's tether half: a byte stream read by an open [`Connection`],
//! and the comparison with what another implementation (tungstenite, in `fuzz/`) made of
//! the same bytes.

use std::time::Instant;

use bytes::BytesMut;

use crate::frame::{FrameHeader, Utf8Error};
use crate::handshake::{encode_accept, parse_request, ClientRequest};
use crate::ws::{Config, Connection, Event, Message, ProtocolError};

/// The message and frame limit both implementations are given.
pub const LIMIT: usize = 1 << 16;

/// What one implementation made of a stream of frames from its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Data messages, in order (text as `Message::Text`).
    pub messages: Vec<Message>,
    /// The code of the peer's close frame, if one arrived (1005 for one without a code).
    pub close: Option<u16>,
    /// The stream broke the protocol (or a limit) and the connection was failed. A stream
    /// that just ends, even inside a frame, is not rejected.
    pub rejected: bool,
    /// Rejected for invalid UTF-8 in a text message (or a close reason).
    pub bad_utf8: bool,
    /// Rejected a close frame's code by answering it with a 1002 close of its own,
    /// reason "Protocol violation" (tungstenite's way; tether fails the connection).
    pub close_refused: bool,
}

/// The first byte picks the role that reads (bit 0: 0 a server, reading masked frames; 1
/// a client); the rest is the peer's frames after the handshake. `other` is the other
/// implementation, given the frames, the role (`true`: client) and [`LIMIT`].
///
/// Required: the same messages, the same close code and the same decision to reject.
/// Both read the stream cut after its last complete frame (or after the complete header
/// of a frame that breaks a rule there): how far into an unfinished frame an
/// implementation reads before it rejects is left open by RFC 6455 (tether rejects a
/// header as soon as it has it, tungstenite once the frame's payload is in).
/// Both stop at the peer's close frame: once it has sent one the peer may send nothing
/// more (§5.5.1), and tether reads nothing after it, where tungstenite would parse on.
/// Where RFC 6455 leaves room, the difference is allowed, and only that:
/// - **Failing fast on invalid UTF-8** (§8.1 allows failing as soon as the bytes cannot
///   be UTF-8): tether checks a text message fragment by fragment and fails the
///   connection at the first invalid fragment, tungstenite only when the message is
///   complete. When tether rejected for UTF-8 and the other did not, the stream must end
///   before that message does: the other side has no verdict on it yet, so every
///   message before it must still match.
/// - **How a close code is refused**: a close frame with a code §7.4 forbids (below
///   1000, 1004-1006, 1015, 1016-2999 unassigned) is a protocol error for both, but
///   tungstenite reports it as a close it answered with 1002, "Protocol violation"
///   ([`Reading::close_refused`]), which reads as a rejection here. A peer's own close
///   with exactly that code and reason reads the same to tungstenite, so it is excused.
pub fn differential(
    origin: Instant,
    data: &[u8],
    other: impl FnOnce(&[u8], bool, usize) -> Reading,
) {
    let Some((&mode, frames)) = data.split_first() else {
        return;
    };
    let client = mode & 1 == 1;
    let frames = &frames[..whole_frames(frames)];
    let Some(ours) = tether_reading(origin, frames, client) else {
        return;
    };
    let theirs = other(frames, client, LIMIT);
    if ours.bad_utf8 && !theirs.rejected {
        // Failed fast: the other side never finished that message.
        assert_eq!(
            ours.messages, theirs.messages,
            "messages before the invalid UTF-8 differ"
        );
        assert_eq!(theirs.close, None, "a close frame after a rejected message");
        return;
    }
    if theirs.close_refused && !ours.rejected && ours.close == Some(1002) {
        // The peer's own close frame was 1002, "Protocol violation": tungstenite's
        // refusal reads the same.
        assert_eq!(
            ours.messages, theirs.messages,
            "messages before the close differ"
        );
        return;
    }
    // Why each rejected is not compared, only that it did: tether calls a close reason
    // that is not UTF-8 an invalid close, tungstenite a UTF-8 error.
    let ours = Reading {
        bad_utf8: false,
        ..ours
    };
    let theirs = Reading {
        close_refused: false,
        bad_utf8: false,
        ..theirs
    };
    assert_eq!(
        ours, theirs,
        "tether (left) and the other (right) read differently"
    );
}

/// The length of `frames` up to the end of its last complete frame, or of the complete
/// header of a frame that [`FrameHeader::parse`] refuses (every reader refuses it there).
fn whole_frames(frames: &[u8]) -> usize {
    let mut at = 0;
    while at < frames.len() {
        match FrameHeader::parse(&frames[at..]) {
            Ok(Some((header, used))) => {
                let end = usize::try_from(header.payload_len)
                    .ok()
                    .and_then(|len| (at + used).checked_add(len));
                match end {
                    Some(end) if end <= frames.len() => at = end,
                    _ => break,
                }
            }
            Ok(None) => break,
            Err(_) => {
                let rest = &frames[at..];
                let len_bytes = match rest.get(1).map(|b| b & 0x7f) {
                    Some(126) => 2,
                    Some(127) => 8,
                    _ => 0,
                };
                let mask = if rest.get(1).is_some_and(|b| b & 0x80 != 0) {
                    4
                } else {
                    0
                };
                let end = at + 2 + len_bytes + mask;
                return if end <= frames.len() { end } else { at };
            }
        }
    }
    at
}

/// What an open tether connection of `client` role made of `frames`.
pub fn tether_reading(now: Instant, frames: &[u8], client: bool) -> Option<Reading> {
    let config = Config {
        max_message_size: LIMIT,
        max_frame_size: LIMIT,
        ..Config::default()
    };
    let mut conn = open(now, config, client)?;
    let mut reading = Reading {
        messages: Vec::new(),
        close: None,
        rejected: false,
        bad_utf8: false,
        close_refused: false,
    };
    conn.handle_input(now, frames);
    conn.handle_eof(now);
    while conn.poll_transmit().is_some() {}
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Message(message) => reading.messages.push(message),
            Event::Error(ProtocolError::UnexpectedEof) => {}
            Event::Error(error) => {
                reading.rejected = true;
                reading.bad_utf8 = error == ProtocolError::Utf8(Utf8Error);
            }
            Event::Closed(info) if !reading.rejected => {
                use crate::ws::Initiator;
                if info.initiator == Initiator::Remote {
                    reading.close = Some(info.code.0);
                }
            }
            _ => {}
        }
    }
    Some(reading)
}

/// A connection of the given role, past its handshake.
fn open(now: Instant, config: Config, client: bool) -> Option<Connection> {
    let request = ClientRequest {
        host: "fuzz".into(),
        path: "/".into(),
        ..Default::default()
    };
    if client {
        let mut conn = Connection::client(now, config, request, [7; 32]).ok()?;
        let head = conn.poll_transmit()?;
        let (parsed, _) = parse_request(&head, 4096).ok()??;
        let upgrade = parsed.upgrade.ok()?;
        let mut answer = BytesMut::new();
        encode_accept(&upgrade.key, None, &[], &mut answer).ok()?;
        conn.handle_input(now, &answer);
        while conn.poll_event().is_some() {}
        Some(conn)
    } else {
        let mut conn = Connection::server(now, config, [7; 32]);
        let mut head = BytesMut::new();
        request.encode("dGhlIHNhbXBsZSBub25jZQ==", &mut head).ok()?;
        conn.handle_input(now, &head);
        while conn.poll_event().is_some() {}
        conn.accept(now, None, &[]).ok()?;
        while conn.poll_event().is_some() {}
        while conn.poll_transmit().is_some() {}
        Some(conn)
    }
}
