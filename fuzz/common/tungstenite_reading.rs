//! tungstenite's half of the `differential` target, shared by the cargo-fuzz target and
//! the corpus replay in `tests/tests/fuzz_corpus.rs` (included there by path).

use std::io::{self, Cursor, Read, Write};

use tether_core::fuzzing::Reading;
use tether_core::ws::Message;
use tungstenite::error::{Error, ProtocolError};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

/// The peer's bytes to read, and a sink for what tungstenite writes back (pongs, close).
struct Stream {
    input: Cursor<Vec<u8>>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What an open tungstenite WebSocket of `client` role made of `frames`, read until it
/// ends, with messages and frames limited to `limit` bytes.
pub fn tungstenite_reading(frames: &[u8], client: bool, limit: usize) -> Reading {
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let role = if client { Role::Client } else { Role::Server };
    let stream = Stream {
        input: Cursor::new(frames.to_vec()),
    };
    let mut socket = WebSocket::from_raw_socket(stream, role, Some(config));
    let mut reading = Reading {
        messages: Vec::new(),
        close: None,
        rejected: false,
        bad_utf8: false,
        close_refused: false,
    };
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => reading
                .messages
                .push(Message::Text(text.as_str().to_owned())),
            Ok(tungstenite::Message::Binary(data)) => reading.messages.push(Message::Binary(data)),
            // A forbidden close code is answered with 1002 and this reason, and that
            // close is what `read` returns.
            Ok(tungstenite::Message::Close(Some(frame)))
                if u16::from(frame.code) == 1002
                    && frame.reason.as_str() == "Protocol violation" =>
            {
                reading.rejected = true;
                reading.close_refused = true;
                break;
            }
            // Nothing after the peer's close is read (see the target's docs).
            Ok(tungstenite::Message::Close(frame)) => {
                reading.close = Some(frame.map_or(1005, |f| u16::from(f.code)));
                break;
            }
            Ok(_) => {}
            // The stream ended, inside a frame or not: no verdict on the bytes.
            Err(Error::ConnectionClosed | Error::AlreadyClosed | Error::Io(_)) => break,
            Err(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => break,
            Err(error) => {
                reading.rejected = true;
                reading.bad_utf8 = matches!(error, Error::Utf8(_));
                reading.close = None;
                break;
            }
        }
    }
    reading
}
