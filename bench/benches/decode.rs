//! In-memory receive path: frame decode, unmasking and message assembly, tether-core's
//! server `Connection` against tungstenite's `WebSocket`. No sockets, no runtime.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench decode
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_DECODE_MIB` (input per payload size, default 64),
//! `TETHER_BENCH_ROUNDS` (default 5: runs are short, and more of them steady the median).
//!
//! Each input is built once: back-to-back client-masked binary frames, as a server reads
//! them. Both libraries get it in 64 KiB pieces, as from socket reads: tether through
//! `handle_input` then `poll_event` until empty, tungstenite through a `Read` that hands out
//! at most 64 KiB per call. Both hand out each message as an owned `Bytes`, which is
//! dropped at once. A warm-up run of each also calibrates how many passes over the input
//! one timed run makes (the same for both), so that even the fast 16 KiB case runs for a
//! few hundred milliseconds. Runs then alternate
//! (tether, tungstenite, tungstenite, tether, ...) for the given number of rounds; the table
//! shows medians and their ratio. Only the ratio is meant to travel between machines.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use tether_bench::{env_u64, masked_binary_frames, median, ratio, si, upgrade_request, Table};
use tether_core::{Config, Connection, Event, Message};

/// How much input each `handle_input` / `read` call gets, like one socket read.
const CHUNK: usize = 64 << 10;

/// Payload sizes: one dominated by per-frame overhead, one by unmasking and copying.
const PAYLOADS: [usize; 2] = [20, 16 << 10];

/// The least time one timed run should take; inputs are fed several times over to reach it.
const TARGET: Duration = Duration::from_millis(400);

fn main() {
    let input_mib = env_u64("TETHER_BENCH_DECODE_MIB", 64) as usize;
    let rounds = env_u64("TETHER_BENCH_ROUNDS", 5) as usize;
    println!(
        "in-memory decode of ~{input_mib} MiB of masked binary frames per payload size, fed in {} KiB pieces, rounds: {rounds}",
        CHUNK >> 10
    );

    for payload_len in PAYLOADS {
        let (_, frame_len) = masked_binary_frames(1, payload_len);
        let count = (input_mib << 20) / frame_len;
        let (input, _) = masked_binary_frames(count, payload_len);

        // Warm-up: pages in the input, lets allocators settle, and calibrates how many
        // passes over the input make a run long enough (>= TARGET for the faster decoder)
        // to dwarf timer and scheduler noise. Both decoders then do the same passes.
        let fastest = tether_run(&input, count, 1).min(tungstenite_run(&input, count, 1));
        let passes = (TARGET.as_secs_f64() / fastest.as_secs_f64())
            .ceil()
            .max(1.0) as usize;

        let mut tether = Vec::with_capacity(rounds);
        let mut tungstenite = Vec::with_capacity(rounds);
        for round in 0..rounds {
            // Alternate who goes first so neither always runs on a warmer (or busier) machine.
            if round % 2 == 0 {
                tether.push(tether_run(&input, count, passes));
                tungstenite.push(tungstenite_run(&input, count, passes));
            } else {
                tungstenite.push(tungstenite_run(&input, count, passes));
                tether.push(tether_run(&input, count, passes));
            }
        }
        print_table(
            payload_len,
            count * passes,
            input.len() * passes,
            &tether,
            &tungstenite,
        );
    }
}

fn print_table(
    payload_len: usize,
    count: usize,
    bytes: usize,
    tether: &[Duration],
    tungstenite: &[Duration],
) {
    let secs =
        |runs: &[Duration]| median(&runs.iter().map(Duration::as_secs_f64).collect::<Vec<_>>());
    let (t_secs, g_secs) = (secs(tether), secs(tungstenite));
    let mut table = Table::new(&[
        "decoder",
        "input MB/s",
        "msgs/s",
        "median run",
        "tether / this",
    ]);
    for (name, s) in [("tether-core", t_secs), ("tungstenite 0.30", g_secs)] {
        table.row(vec![
            name.to_owned(),
            format!("{:.0}", bytes as f64 / s / 1e6),
            si(count as f64 / s),
            format!("{:.1} ms", s * 1e3),
            // Same work for both, so a throughput ratio is the inverse ratio of times.
            ratio(1.0 / t_secs, 1.0 / s),
        ]);
    }
    println!(
        "\npayload {payload_len} B: {count} frames, {:.1} MiB of input per run (MB = 10^6 bytes)",
        bytes as f64 / f64::from(1u32 << 20)
    );
    print!("{}", table.render());
}

/// One timed run of tether-core over `input`, `passes` times in a row on one connection;
/// the upgrade is done first, untimed.
fn tether_run(input: &[u8], expected: usize, passes: usize) -> Duration {
    let now = Instant::now();
    let mut conn = Connection::server(now, Config::default(), [7; 32]);
    conn.handle_input(now, &upgrade_request("bench.invalid"));
    match conn.poll_event() {
        Some(Event::Upgrade(_)) => {}
        other => panic!("expected an upgrade, got {other:?}"),
    }
    conn.accept(now, None, &[]).expect("accept the upgrade");
    while conn.poll_transmit().is_some() {}
    while conn.poll_event().is_some() {}

    let start = Instant::now();
    let mut messages = 0usize;
    for piece in (0..passes).flat_map(|_| input.chunks(CHUNK)) {
        // A real adapter reads the clock once per socket read; so do we.
        conn.handle_input(Instant::now(), piece);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(Message::Binary(data)) => {
                    black_box(data);
                    messages += 1;
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(
        messages,
        expected * passes,
        "tether-core lost or invented messages"
    );
    elapsed
}

/// One timed run of tungstenite over `input`, `passes` times in a row on one connection,
/// read through [`Pieces`].
fn tungstenite_run(input: &[u8], expected: usize, passes: usize) -> Duration {
    // Limits raised to tether's defaults (64 MiB message and frame) so neither side is
    // doing different checks; the buffers keep tungstenite's defaults.
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let mut ws = tungstenite::WebSocket::from_raw_socket(
        Pieces {
            data: input,
            pos: 0,
            passes_left: passes,
        },
        tungstenite::protocol::Role::Server,
        Some(config),
    );

    let start = Instant::now();
    let mut messages = 0usize;
    // Stop at the last expected message rather than at end of input: at EOF tungstenite
    // reports an error (no closing handshake), which is not what is being measured.
    while messages < expected * passes {
        match ws.read() {
            Ok(tungstenite::Message::Binary(data)) => {
                black_box(data);
                messages += 1;
            }
            other => panic!("unexpected read result {other:?}"),
        }
    }
    start.elapsed()
}

/// A read-only in-memory socket that returns at most [`CHUNK`] bytes per read, as a TCP
/// socket would, and swallows writes (tungstenite wants `Read + Write`; it writes nothing
/// here since no control frames arrive).
struct Pieces<'a> {
    data: &'a [u8],
    pos: usize,
    /// Passes over `data` still to hand out, the current one included.
    passes_left: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() && self.passes_left > 1 {
            self.pos = 0;
            self.passes_left -= 1;
        }
        // Pieces never straddle two passes, matching tether's `chunks` per pass.
        let n = buf.len().min(CHUNK).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Pieces<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
