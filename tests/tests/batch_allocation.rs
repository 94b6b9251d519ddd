//! A JSON-RPC batch far past `max_batch_len` is refused while it is read, holding at most
//! `max_batch_len` of its entries: parsing a 2 MiB `[0,0,…]` (a million entries)
//! allocates a few KiB, where keeping every entry, as before, allocated tens of MiB (and
//! hundreds for the 48 MiB message of the issue; `scripts/hostile.py huge-batch` measures
//! the server's memory for such a message from outside).
//! Measured with a counting global allocator around the parse alone; this binary holds
//! one test, so nothing else allocates meanwhile.

use std::alloc::System;
use std::time::Instant;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Channel, Event};
use tether_core::ws::{self, Connection, Message};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated to parse `text` on a server channel with `max_batch_len`, and the
/// answer the channel wrote.
fn parse_cost(text: &str, max_batch_len: usize) -> (usize, String) {
    // One real instant as the origin of virtual time.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let ws_config = ws::Config {
        max_message_size: 32 << 20,
        max_frame_size: 32 << 20,
        heartbeat: None,
        ..ws::Config::default()
    };
    let rpc_config = rpc::Config {
        max_batch_len,
        // Every message comes out to be parsed, so the parse can be measured alone.
        parse_aside: Some(1),
        ..rpc::Config::default()
    };
    let request = ClientRequest {
        host: "node".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut client = Connection::client(now, ws_config.clone(), request, [1; 32]).expect("client");
    let mut server = Channel::server(now, ws_config, rpc_config, [2; 32]);
    let mut unparsed = None;
    let mut answer = String::new();
    let mut sent = false;
    for _ in 0..64 {
        while let Some(bytes) = client.poll_transmit() {
            server.handle_input(now, &bytes);
        }
        while let Some(event) = server.poll_event() {
            match event {
                Event::Upgrade(_) => server.accept(now, None, &[]).expect("accept"),
                Event::Parse(message) => unparsed = Some(message),
                _ => {}
            }
        }
        while let Some(bytes) = server.poll_transmit() {
            client.handle_input(now, &bytes);
        }
        while let Some(event) = client.poll_event() {
            match event {
                ws::Event::Open { .. } if !sent => {
                    client.send(now, Message::from(text)).expect("send");
                    sent = true;
                }
                ws::Event::Message(Message::Text(text)) => answer = text,
                _ => {}
            }
        }
        if let Some(message) = unparsed.take() {
            let region = Region::new(GLOBAL);
            let parsed = message.parse();
            let allocated = region.change().bytes_allocated;
            server.handle_parsed(now, parsed);
            for _ in 0..4 {
                while let Some(bytes) = server.poll_transmit() {
                    client.handle_input(now, &bytes);
                }
                while let Some(event) = client.poll_event() {
                    if let ws::Event::Message(Message::Text(text)) = event {
                        answer = text;
                    }
                }
            }
            return (allocated, answer);
        }
    }
    panic!("the message never came out to be parsed");
}

#[test]
fn a_huge_batch_is_refused_without_keeping_its_entries() {
    let entries = 1 << 20;
    let mut text = String::with_capacity(2 * entries + 1);
    text.push('[');
    for i in 0..entries {
        text.push_str(if i == 0 { "0" } else { ",0" });
    }
    text.push(']');

    let (bounded, answer) = parse_cost(&text, 1024);
    assert!(
        answer.contains("-32600") && answer.contains("batch too long"),
        "{answer}"
    );
    assert!(
        bounded < 64 << 10,
        "parsing the refused batch allocated {bounded} bytes"
    );

    // The same batch with no bound, as every entry was kept before: the measurement sees
    // what the bound saves (a million entries of 16 bytes, and the vector's growth).
    let (unbounded, _) = parse_cost(&text, usize::MAX);
    assert!(
        unbounded > 16 << 20,
        "keeping every entry allocated only {unbounded} bytes"
    );
    println!(
        "parse of a {} MiB batch: {bounded} bytes with the bound, {unbounded} without",
        text.len() >> 20
    );
}
