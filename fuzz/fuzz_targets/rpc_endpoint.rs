//! A server `rpc::Endpoint` past its handshake, fed arbitrary text messages (one per
//! 0xff-separated piece of the input, framed and masked as a client would): no panics,
//! every request it surfaces can be answered, and held input stays under the message limit.
#![no_main]

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use tether_core::frame::{encode_frame, OpCode};
use tether_core::handshake::{generate_key, ClientRequest};
use tether_core::rng::Rng;
use tether_core::rpc::{Config, Endpoint, ErrorObject, Event};

fuzz_target!(|data: &[u8]| {
    // One real instant as the origin; nothing here depends on its value.
    let now = Instant::now();
    let config = Config { max_in_flight: 64, max_batch_len: 16, ..Config::default() };
    let mut server = Endpoint::server(now, tether_core::ws::Config::default(), config, [3; 32]);
    let key = generate_key(&mut Rng::from_seed([4; 32]));
    let request = ClientRequest { host: "fuzz".into(), path: "/".into(), ..Default::default() };
    let mut head = BytesMut::new();
    if request.encode(&key, &mut head).is_err() {
        return;
    }
    server.handle_input(now, &head);
    let mut input = BytesMut::new();
    for text in data.split(|&b| b == 0xff) {
        encode_frame(&mut input, true, OpCode::Text, Some([1, 2, 3, 4]), text);
    }
    let ok = RawValue::from_string("true".to_owned()).expect("valid JSON");
    for piece in input.chunks(97) {
        server.handle_input(now, piece);
        while let Some(event) = server.poll_event() {
            match event {
                Event::Upgrade(_) => {
                    let _ = server.accept(now, None, &[]);
                }
                Event::Request { reply, method, .. } => {
                    let result = if method.len() % 2 == 0 { Ok(&*ok) } else { Err(&ErrorObject::method_not_found()) };
                    let _ = server.respond(now, reply, result);
                }
                _ => {}
            }
        }
        while server.poll_transmit().is_some() {}
        let held = server.connection().buffered_input();
        assert!(held <= server.connection().config().max_message_size + 14 + piece.len());
    }
});
