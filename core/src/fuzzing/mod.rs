//! The bodies of the fuzz targets, shared by `fuzz/` (cargo-fuzz, nightly) and the corpus
//! replay test in `tests/` (stable), so a committed crash input keeps checking the very
//! code that found it. Each body panics only when an invariant breaks.
//!
//! Enabled by the `fuzzing` feature; not part of the stable API.

use std::time::{Duration, Instant};

use crate::deflate::Deflate;
use crate::handshake::{ClientRequest, HttpResponse};
use crate::ws::{Config, Connection, Event};

mod budget;
mod compressed;
mod differential;
mod frame;
mod handshake;
mod pool;
mod rpc_channel;
mod rpc_message;
mod script;
mod session;

pub use budget::budget;
pub use compressed::compressed;
pub use differential::{differential, tether_reading, Reading, LIMIT};
pub use frame::frame_decoder;
pub use handshake::handshake;
pub use pool::{pool, pool_report, pool_scenarios, PoolReport};
pub use rpc_channel::rpc_channel;
pub use rpc_message::rpc_message;
pub use session::{session, session_report, SessionReport};

/// A whole client or server [`Connection`] fed `data` in pieces, with timers firing in
/// between: no timer left due after `handle_timeout`, held input under the limits (an
/// inflated message included).
///
/// The first byte picks the role (bit 0), the piece size (bits 1-7) and, with bit 7 set,
/// permessage-deflate on (taken up if the handshake in `data` agrees to it).
pub fn connection(origin: Instant, data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let config = Config {
        max_message_size: 1 << 16,
        max_frame_size: 1 << 16,
        max_handshake_size: 4096,
        compression: (mode & 0x80 != 0).then(|| Deflate {
            threshold: 0,
            ..Deflate::default()
        }),
        ..Config::default()
    };
    let mut now = origin;
    let mut conn = if mode & 1 == 0 {
        Connection::server(now, config.clone(), [mode; 32])
    } else {
        let request = ClientRequest {
            host: "fuzz".into(),
            path: "/".into(),
            ..Default::default()
        };
        match Connection::client(now, config.clone(), request, [mode; 32]) {
            Ok(c) => c,
            Err(_) => return,
        }
    };
    let step = usize::from(mode >> 1).max(1);
    for piece in data.chunks(step) {
        conn.handle_input(now, piece);
        while conn.poll_transmit().is_some() {}
        while let Some(event) = conn.poll_event() {
            match event {
                // Every way of answering: accept (which refuses a plain request itself),
                // reject, or a plain HTTP answer.
                Event::Upgrade(request) => match request.path.len() % 3 {
                    0 => {
                        let _ = conn.accept(now, None, &[]);
                    }
                    1 => {
                        let _ = conn.reject(now, 403);
                    }
                    _ => {
                        let page = HttpResponse::new(200).with_body(request.path.clone());
                        let _ = conn.answer_http(now, &page);
                    }
                },
                // Echo what arrives, so the compressor runs too.
                Event::Message(message) => {
                    let _ = conn.send(now, message);
                }
                _ => {}
            }
        }
        let limit = config.max_message_size + config.max_handshake_size + piece.len();
        assert!(conn.buffered_input() <= limit);
        if piece.first().is_some_and(|b| b & 0xf0 == 0xf0) {
            now += Duration::from_secs(3);
            conn.handle_timeout(now);
            if let Some(next) = conn.poll_timeout() {
                assert!(next > now, "timer left due after handle_timeout");
            }
        }
    }
    conn.handle_eof(now);
    while conn.poll_event().is_some() {}
}
