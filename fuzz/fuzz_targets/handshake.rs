//! Arbitrary bytes as an upgrade request and as an upgrade response: no panics, and a
//! parsed head never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_core::handshake::{parse_request, parse_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, used))) = parse_request(data, 8 << 10) {
        assert!(used <= data.len());
    }
    let offered = ["raft".to_owned()];
    if let Ok(Some((_, used))) = parse_response(data, "dGhlIHNhbXBsZSBub25jZQ==", &offered, 8 << 10) {
        assert!(used <= data.len());
    }
});
