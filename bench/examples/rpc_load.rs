//! A jsonrpsee 0.26 WebSocket client keeping calls of `echo` in flight against a JSON-RPC
//! server in another process, and that server's CPU time per call: the load under which
//! BENCHMARKS.md's "Where the time goes (issue 14): JSON-RPC" profiles the servers.
//!
//! ```text
//! cargo run --release -p tether-bench --example rpc_load -- URL PID [IN_FLIGHT] [SECONDS] [ROUNDS]
//! ```
//!
//! `URL` is the server's (`ws://127.0.0.1:9002/`), `PID` its process, whose `utime + stime`
//! (`/proc/PID/stat`, every thread) is read around each round. `IN_FLIGHT` tasks (128)
//! each call `echo` with the 71-byte vote object of the `rpc` bench in a loop, on one
//! connection, for `ROUNDS` (3) rounds of `SECONDS` (3) after a 0.5 s warm-up. Prints
//! calls/s and server CPU µs per call for each round, their medians, and the calls made in
//! all (warm-up included: the denominator for counts taken over the whole run, such as
//! heaptrack's allocations).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use tether_bench::median;
use tether_bench::runtimes::{clock_ticks_per_second, process_cpu_ticks};

#[path = "../benches/shared/vote.rs"]
mod shared_vote;
use shared_vote::{vote, Params, VoteRequest};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i)
        .map(|a| a.parse().unwrap_or_else(|_| panic!("argument {i}: {a}")))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(pid)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: rpc_load URL PID [IN_FLIGHT] [SECONDS] [ROUNDS]");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().expect("PID");
    let in_flight: usize = arg(&args, 3, 128);
    let round = Duration::from_secs_f64(arg(&args, 4, 3.0));
    let rounds: usize = arg(&args, 5, 3);
    let (ticks_per_second, _) = clock_ticks_per_second();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let client = Arc::new(
            WsClientBuilder::default()
                .build(url)
                .await
                .expect("connect"),
        );
        let mut total = calls(&client, in_flight, Duration::from_millis(500)).await;
        let (mut rates, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let ticks = process_cpu_ticks(pid);
            let start = Instant::now();
            let made = calls(&client, in_flight, round).await;
            let elapsed = start.elapsed().as_secs_f64();
            let seconds = (process_cpu_ticks(pid) - ticks) as f64 / ticks_per_second as f64;
            total += made;
            rates.push(made as f64 / elapsed);
            cpu.push(seconds * 1e6 / made as f64);
            println!(
                "{in_flight} in flight: {:.1} k calls/s, server CPU {:.2} us/call",
                made as f64 / elapsed / 1e3,
                seconds * 1e6 / made as f64
            );
        }
        println!(
            "median: {:.1} k calls/s, server CPU {:.2} us/call",
            median(&rates) / 1e3,
            median(&cpu)
        );
        println!("total calls {total}");
    });
}

/// Keeps `in_flight` calls going for `duration`; returns how many were made.
async fn calls(client: &Arc<WsClient>, in_flight: usize, duration: Duration) -> u64 {
    let end = Instant::now() + duration;
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = vote();
                let mut made = 0u64;
                while Instant::now() < end {
                    let back: VoteRequest = client
                        .request("echo", Params(&request))
                        .await
                        .expect("echo call");
                    assert_eq!(back, request, "echo answered something else");
                    made += 1;
                }
                made
            })
        })
        .collect();
    let mut made = 0;
    for worker in workers {
        made += worker.await.expect("a calling task panicked");
    }
    made
}
