//! A whole client or server `Connection` fed arbitrary bytes in arbitrary pieces, with
//! timers firing in between: no panics, no timer left due after `handle_timeout`, and
//! held input stays under the configured limits.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tether_core::handshake::ClientRequest;
use tether_core::{Config, Connection, Event};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else { return };
    let config = Config { max_message_size: 1 << 16, max_frame_size: 1 << 16, max_handshake_size: 4096, ..Config::default() };
    // One real instant as the origin; the fuzzer moves virtual time from there.
    let mut now = Instant::now();
    let mut conn = if mode & 1 == 0 {
        Connection::server(now, config.clone(), [mode; 32])
    } else {
        let request = ClientRequest { host: "fuzz".into(), path: "/".into(), ..Default::default() };
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
            if let Event::Upgrade(_) = event {
                let _ = conn.accept(now, None, &[]);
            }
        }
        assert!(conn.buffered_input() <= config.max_message_size + config.max_handshake_size + piece.len());
        if piece.first().is_some_and(|b| b & 0xf0 == 0xf0) {
            now += Duration::from_secs(3);
            conn.handle_timeout(now);
            if let Some(next) = conn.poll_timeout() {
                assert!(next > now);
            }
        }
    }
    conn.handle_eof(now);
    while conn.poll_event().is_some() {}
});
