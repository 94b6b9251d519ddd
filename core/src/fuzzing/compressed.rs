//! The `compressed` target: two [`Connection`]s that agreed on permessage-deflate, one
//! sending the fuzzer's messages to the other through its compressor, so the receiver
//! reads RSV1 frames that are valid by construction (and, on request, one corrupted byte).

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::deflate::Deflate;
use crate::handshake::ClientRequest;
use crate::ws::{Config, Connection, Event, Message};

/// The largest message either side takes.
const MAX_MESSAGE: usize = 1 << 16;

/// The first byte is the mode: bit 0 picks the sender (0: the client), bit 1 asks for one
/// corrupted byte, bits 2-7 the size of the pieces the receiver reads. The next two bytes
/// are the deflate settings of the client and the server (window sizes in the low nibble,
/// no context takeover in the top bit, a fragment size in bits 4-6), and with corruption
/// the next two the position of the byte to flip. The rest is split at 0xff into messages
/// (text where it is UTF-8), sent in turn, every frame compressed (threshold 0).
///
/// Checked: the handshake takes up compression on both sides; without corruption, the
/// receiver yields exactly the messages sent, in order, and no error; with it, whatever
/// comes out, the receiver holds no more input than a message and a frame header more.
pub fn compressed(origin: Instant, data: &[u8]) {
    let [mode, c, s, rest @ ..] = data else {
        return;
    };
    let (flip, rest) = match rest {
        [hi, lo, rest @ ..] if mode & 2 != 0 => {
            (Some(usize::from(*hi) << 8 | usize::from(*lo)), rest)
        }
        _ if mode & 2 != 0 => return,
        _ => (None, rest),
    };
    let now = origin;
    let Some((mut client, mut server)) = open_pair(now, config(*c), config(*s)) else {
        return;
    };
    let (sender, receiver) = if mode & 1 == 0 {
        (&mut client, &mut server)
    } else {
        (&mut server, &mut client)
    };
    let sent: Vec<Message> = rest
        .split(|&b| b == 0xff)
        .map(|bytes| match std::str::from_utf8(bytes) {
            Ok(text) => Message::Text(text.to_owned()),
            Err(_) => Message::Binary(Bytes::copy_from_slice(bytes)),
        })
        .collect();
    let mut wire = BytesMut::new();
    for message in &sent {
        if sender.send(now, message.clone()).is_err() {
            return;
        }
        while let Some(bytes) = sender.poll_transmit() {
            wire.extend_from_slice(&bytes);
        }
    }
    if let Some(at) = flip {
        let at = at % wire.len().max(1);
        let Some(byte) = wire.get_mut(at) else {
            return;
        };
        *byte ^= 0x55;
    }
    let step = usize::from(mode >> 2).max(1);
    let mut received = Vec::new();
    let mut failed = None;
    for piece in wire.chunks(step) {
        receiver.handle_input(now, piece);
        while receiver.poll_transmit().is_some() {}
        while let Some(event) = receiver.poll_event() {
            match event {
                Event::Message(message) => received.push(message),
                Event::Error(error) => failed = Some(error),
                _ => {}
            }
        }
        let held = receiver.buffered_input();
        assert!(held <= MAX_MESSAGE + 14 + piece.len(), "{held} bytes held");
    }
    if flip.is_none() {
        assert_eq!(failed, None, "valid compressed frames refused");
        assert_eq!(received, sent, "messages changed through compression");
    }
}

/// A connection's settings from one byte.
fn config(b: u8) -> Config {
    Config {
        max_message_size: MAX_MESSAGE,
        max_frame_size: MAX_MESSAGE,
        fragment_size: [16, 100, 1000, 1 << 16][usize::from(b >> 4 & 3)],
        compression: Some(Deflate {
            client_max_window_bits: b & 0x0f,
            server_max_window_bits: b & 0x0f,
            client_no_context_takeover: b & 0x80 != 0,
            server_no_context_takeover: b & 0x40 != 0,
            threshold: 0,
            ..Deflate::default()
        }),
        ..Config::default()
    }
}

/// A client and a server through their handshake, or `None` if either did not take up
/// compression (a server declines offers it cannot honour).
fn open_pair(now: Instant, client: Config, server: Config) -> Option<(Connection, Connection)> {
    let request = ClientRequest {
        host: "fuzz".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut client = Connection::client(now, client, request, [1; 32]).ok()?;
    let mut server = Connection::server(now, server, [2; 32]);
    while let Some(bytes) = client.poll_transmit() {
        server.handle_input(now, &bytes);
    }
    while let Some(event) = server.poll_event() {
        if let Event::Upgrade(_) = event {
            server.accept(now, None, &[]).ok()?;
        }
    }
    while let Some(bytes) = server.poll_transmit() {
        client.handle_input(now, &bytes);
    }
    let mut open = false;
    while let Some(event) = client.poll_event() {
        open |= matches!(event, Event::Open { .. });
    }
    let both = client.compression().is_some() && server.compression().is_some();
    (open && both).then_some((client, server))
}
