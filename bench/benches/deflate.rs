//! permessage-deflate in memory: bytes on the wire with and without compression for a
//! realistic JSON-RPC stream, and what compressing and inflating cost, tether-core client
//! to tether-core server. No sockets, no runtime.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench deflate
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_ROUNDS` (default 5), `TETHER_BENCH_DEFLATE_MESSAGES`
//! (messages per run, default 200).
//!
//! The stream is what a Raft leader sends a follower that is catching up: JSON-RPC
//! `raft/append_entries` requests, each carrying a batch of 100 log entries (key-value
//! commands with user records), consecutive indexes, so no two messages are the same. Each
//! configuration gets a fresh client and server pair: the client `send`s every message and
//! its `poll_transmit` output is counted (bytes on the wire, headers and masks included) and
//! timed; the server is then fed those bytes in 64 KiB pieces and its `poll_event` drained,
//! timed, and every message checked against what was sent. Throughput is in megabytes of
//! JSON (uncompressed) per second, so the columns compare directly; only ratios travel
//! between machines.

use std::time::{Duration, Instant};

use tether_bench::{env_u64, median, ratio, si, Table};
use tether_core::deflate::Deflate;
use tether_core::handshake::ClientRequest;
use tether_core::{Config, Connection, Event, Message};

/// How much input each `handle_input` call gets, like one socket read.
const CHUNK: usize = 64 << 10;

/// Log entries per AppendEntries request.
const ENTRIES: usize = 100;

fn main() {
    let rounds = env_u64("TETHER_BENCH_ROUNDS", 5) as usize;
    let count = env_u64("TETHER_BENCH_DEFLATE_MESSAGES", 200) as usize;
    let batches: Vec<String> = (0..count).map(|i| append_entries(i, ENTRIES)).collect();
    let heartbeats: Vec<String> = (0..count).map(|i| append_entries(i, 0)).collect();

    let configs: [(&str, Option<Deflate>); 6] = [
        ("no compression", None),
        ("deflate (defaults: level 6)", Some(Deflate::default())),
        (
            "deflate, level 1",
            Some(Deflate {
                level: 1,
                ..Deflate::default()
            }),
        ),
        (
            "deflate, no context takeover",
            Some(Deflate {
                client_no_context_takeover: true,
                server_no_context_takeover: true,
                ..Deflate::default()
            }),
        ),
        (
            "deflate, 10-bit windows",
            Some(Deflate {
                client_max_window_bits: 10,
                server_max_window_bits: 10,
                ..Deflate::default()
            }),
        ),
        (
            "deflate, threshold 0",
            Some(Deflate {
                threshold: 0,
                ..Deflate::default()
            }),
        ),
    ];
    println!(
        "permessage-deflate, tether-core client to tether-core server in memory, rounds: {rounds}"
    );
    for (what, messages) in [
        (
            format!("raft/append_entries with {ENTRIES} entries"),
            &batches,
        ),
        (
            "raft/append_entries heartbeat (no entries)".to_owned(),
            &heartbeats,
        ),
    ] {
        let json: usize = messages.iter().map(String::len).sum();
        println!(
            "\n{count} x {what}: {:.0} B of JSON each on average (MB = 10^6 bytes)",
            json as f64 / count as f64
        );
        let mut table = Table::new(&[
            "configuration",
            "wire B/msg",
            "wire / plain",
            "send MB/s",
            "recv MB/s",
            "send vs plain",
            "recv vs plain",
        ]);
        let mut plain: Option<(f64, f64, f64)> = None;
        for (name, deflate) in &configs {
            let runs: Vec<Run> = (0..rounds)
                .map(|_| run(deflate.clone(), messages))
                .collect();
            let wire = runs[0].wire as f64;
            let send = median(&runs.iter().map(|r| mbps(json, r.send)).collect::<Vec<_>>());
            let recv = median(&runs.iter().map(|r| mbps(json, r.recv)).collect::<Vec<_>>());
            let (plain_wire, plain_send, plain_recv) = *plain.get_or_insert((wire, send, recv));
            table.row(vec![
                (*name).to_owned(),
                si(wire / count as f64),
                ratio(wire, plain_wire),
                format!("{send:.0}"),
                format!("{recv:.0}"),
                ratio(send, plain_send),
                ratio(recv, plain_recv),
            ]);
        }
        print!("{}", table.render());
    }
    println!(
        "(wire / plain below 1.00x: fewer bytes on the wire; send and recv vs plain below 1.00x: \
         slower than without compression)"
    );
}

/// Megabytes of JSON per second.
fn mbps(json: usize, took: Duration) -> f64 {
    json as f64 / took.as_secs_f64() / 1e6
}

/// One configuration's run: bytes written, and the time to send and to receive them.
struct Run {
    wire: usize,
    send: Duration,
    recv: Duration,
}

fn run(deflate: Option<Deflate>, messages: &[String]) -> Run {
    let config = Config {
        compression: deflate.clone(),
        ..Config::default()
    };
    let (mut client, mut server) = open_pair(config);
    assert_eq!(client.compression().is_some(), deflate.is_some());
    let now = Instant::now();
    // Messages are cloned before the clock starts: sending takes them by value.
    let owned: Vec<Message> = messages.iter().cloned().map(Message::Text).collect();

    let start = Instant::now();
    let mut wire = Vec::new();
    for message in owned {
        client.send(now, message).expect("open");
        while let Some(bytes) = client.poll_transmit() {
            wire.extend_from_slice(&bytes);
        }
    }
    let send = start.elapsed();

    let start = Instant::now();
    let mut received = Vec::with_capacity(messages.len());
    for piece in wire.chunks(CHUNK) {
        server.handle_input(now, piece);
        while let Some(event) = server.poll_event() {
            match event {
                Event::Message(Message::Text(text)) => received.push(text),
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    let recv = start.elapsed();
    assert!(received == messages, "messages arrived changed");
    Run {
        wire: wire.len(),
        send,
        recv,
    }
}

/// A client and a server past the opening handshake, both built with `config`.
fn open_pair(config: Config) -> (Connection, Connection) {
    let now = Instant::now();
    let request = ClientRequest {
        host: "node-2:7000".into(),
        path: "/raft".into(),
        ..Default::default()
    };
    let mut client = Connection::client(now, config.clone(), request, [1; 32]).expect("request");
    let mut server = Connection::server(now, config, [2; 32]);
    for _ in 0..3 {
        while let Some(bytes) = client.poll_transmit() {
            server.handle_input(now, &bytes);
        }
        while let Some(event) = server.poll_event() {
            if let Event::Upgrade(_) = event {
                server.accept(now, None, &[]).expect("accept");
            }
        }
        while let Some(bytes) = server.poll_transmit() {
            client.handle_input(now, &bytes);
        }
        while client.poll_event().is_some() {}
    }
    (client, server)
}

/// The `n`-th AppendEntries request of a leader streaming its log: `entries` consecutive
/// entries, each a key-value command carrying a small user record. Deterministic, with the
/// variety real records have (ids, names, e-mail addresses, timestamps, hex digests).
fn append_entries(n: usize, entries: usize) -> String {
    const NAMES: [&str; 8] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    const CITIES: [&str; 5] = ["Lisbon", "Osaka", "Nairobi", "Quito", "Tallinn"];
    let first = n * entries + 1;
    let mut state = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let list: Vec<String> = (0..entries)
        .map(|i| {
            let index = first + i;
            let user = next() % 100_000;
            let name = NAMES[(next() % 8) as usize];
            let city = CITIES[(next() % 5) as usize];
            format!(
                r#"{{"term":42,"index":{index},"command":{{"op":"put","key":"users/{user}/profile","value":{{"id":{user},"name":"{name}","email":"{name}.{user}@example.com","city":"{city}","updated_at":{},"version":{},"digest":"{:016x}"}}}}}}"#,
                1_700_000_000_000u64 + index as u64 * 37,
                next() % 50,
                next()
            )
        })
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","method":"raft/append_entries","params":{{"term":42,"leader_id":"node-1","prev_log_index":{},"prev_log_term":42,"leader_commit":{},"entries":[{}]}},"id":{}}}"#,
        first - 1,
        first.saturating_sub(50),
        list.join(","),
        n + 1
    )
}
