//! Connect and upgrade, one at a time: the time from before the TCP connect to the end of
//! the `101` head (p50 and p99), and the server's CPU time per connection, which also holds
//! the close that follows each one.

use tether_bench::density::handshake_time;
use tether_bench::runtimes::ServerProcess;
use tether_bench::{median, percentile, ratio, Table};

use crate::servers::Server;
use crate::throughput::Client;

/// Untimed handshakes per server and round before the timed ones.
const WARM_UP: usize = 50;

/// The medians over the rounds of one server.
#[derive(Debug, Clone, Copy)]
pub struct Handshakes {
    pub p50_us: f64,
    pub p99_us: f64,
    pub cpu_us: f64,
}

/// `count` sequential handshakes per server of `active` and round, the servers in
/// rotating order. Prints the table (ratios over the first of `active`) and returns the
/// medians, `None` for servers not in `active`.
pub fn measure(
    client: &Client,
    servers: &[Server],
    active: &[usize],
    processes: &mut [ServerProcess],
    count: usize,
    rounds: usize,
    label: &str,
) -> Vec<Option<Handshakes>> {
    let mut samples: Vec<Vec<Handshakes>> = vec![Vec::new(); active.len()];
    for round in 0..rounds {
        for j in 0..active.len() {
            let k = (round + j) % active.len();
            let addr = processes[k].addr;
            let process = &mut processes[k];
            let sample = client.local.block_on(&client.runtime, async {
                for _ in 0..WARM_UP {
                    handshake_time(addr).await;
                }
                let before = process.cpu_ticks();
                let mut times = Vec::with_capacity(count);
                for _ in 0..count {
                    times.push(handshake_time(addr).await);
                }
                let after = process.cpu_ticks();
                let us = |p| percentile(&times, p).map_or(0.0, |d| d.as_secs_f64() * 1e6);
                Handshakes {
                    p50_us: us(50),
                    p99_us: us(99),
                    cpu_us: (after - before) as f64 * 1e6
                        / client.ticks_per_second as f64
                        / count as f64,
                }
            });
            eprintln!(
                "  handshakes ({label}), round {}: {:<18} p50 {:>7.1} us, p99 {:>7.1} us, \
                 server CPU {:>6.1} us each",
                round + 1,
                servers[active[k]].name,
                sample.p50_us,
                sample.p99_us,
                sample.cpu_us
            );
            samples[k].push(sample);
        }
    }
    let medians: Vec<Handshakes> = samples
        .iter()
        .map(|s| {
            let pick = |f: fn(&Handshakes) -> f64| median(&s.iter().map(f).collect::<Vec<_>>());
            Handshakes {
                p50_us: pick(|h| h.p50_us),
                p99_us: pick(|h| h.p99_us),
                cpu_us: pick(|h| h.cpu_us),
            }
        })
        .collect();
    let first = &servers[active[0]].name;
    let p50_vs = format!("p50 / {first}");
    let p99_vs = format!("p99 / {first}");
    let cpu_vs = format!("CPU / {first}");
    let mut table = Table::new(&[
        "server",
        "p50 us",
        "p99 us",
        "server CPU us/conn",
        &p50_vs,
        &p99_vs,
        &cpu_vs,
    ]);
    for (k, &i) in active.iter().enumerate() {
        let (m, r) = (medians[k], medians[0]);
        table.row(vec![
            servers[i].name.clone(),
            format!("{:.1}", m.p50_us),
            format!("{:.1}", m.p99_us),
            format!("{:.1}", m.cpu_us),
            ratio(m.p50_us, r.p50_us),
            ratio(m.p99_us, r.p99_us),
            ratio(m.cpu_us, r.cpu_us),
        ]);
    }
    println!(
        "\nconnect + upgrade ({label}), {count} one at a time per round, median of the rounds"
    );
    print!("{}", table.render());
    let mut all = vec![None; servers.len()];
    for (k, &i) in active.iter().enumerate() {
        all[i] = Some(medians[k]);
    }
    all
}
