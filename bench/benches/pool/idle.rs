//! Idle peers: what a node holding N idle links (1 s heartbeats both ways) costs in CPU and
//! memory. The hub is one child process, its N peers (N `Peers`, one call each to link)
//! another; the bench reads both from /proc over windows in which nobody calls.

use std::time::{Duration, Instant};

use tether_bench::runtimes::{process_context_switches, process_cpu_ticks};
use tether_bench::{median, Table};

use crate::roles::{rss_kib, ChildProcess, Role, COUNT, URL};
use crate::Settings;

/// Before the hub's memory is read with no peers, and after the peers are linked (their
/// first heartbeats go out within a second of linking).
const SETTLE: Duration = Duration::from_secs(2);

/// One window of idleness.
struct Window {
    hub_percent: f64,
    /// Hub CPU µs per peer per second.
    hub_us_per_peer: f64,
    /// Context switches of the hub's threads per second.
    hub_switches: f64,
    peers_percent: f64,
}

struct Measured {
    count: usize,
    windows: Vec<Window>,
    hub_kib_before: u64,
    hub_kib_after: u64,
    peers_kib: u64,
    links: u64,
    up: u64,
}

pub fn run(settings: &Settings) {
    let results: Vec<Measured> = settings
        .idle_peers
        .iter()
        .map(|&count| measure(settings, count))
        .collect();

    println!();
    println!(
        "Idle peers: a hub node (one child process, single-threaded runtime) holding N \
         links from N Peers (another child process); heartbeat every 1 s on every link from \
         both ends (the default), idle_timeout off; nobody calls. {} windows of {:.0} s, \
         median; CPU from utime+stime of /proc/PID/stat ({} ticks/s)",
        settings.rounds,
        settings.idle_window.as_secs_f64(),
        settings.ticks_per_sec
    );
    let mut table = Table::new(&[
        "peers",
        "links held (hub / peers up)",
        "hub CPU",
        "min - max",
        "hub CPU us/peer/s",
        "hub switches/s",
        "hub KiB/link",
        "peers' process CPU",
        "peers' process KiB/peer",
    ]);
    for result in &results {
        let med = |f: fn(&Window) -> f64| median(&result.windows.iter().map(f).collect::<Vec<_>>());
        let percents: Vec<f64> = result.windows.iter().map(|w| w.hub_percent).collect();
        let lo = percents.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = percents.iter().copied().fold(0.0, f64::max);
        let count = result.count as f64;
        table.row(vec![
            result.count.to_string(),
            format!("{} / {}", result.links, result.up),
            format!("{:.2}%", med(|w| w.hub_percent)),
            format!("{lo:.2} - {hi:.2}%"),
            format!("{:.2}", med(|w| w.hub_us_per_peer)),
            format!("{:.0}", med(|w| w.hub_switches)),
            format!(
                "{:.1}",
                result.hub_kib_after.saturating_sub(result.hub_kib_before) as f64 / count
            ),
            format!("{:.2}%", med(|w| w.peers_percent)),
            format!("{:.1}", result.peers_kib as f64 / count),
        ]);
    }
    print!("{}", table.render());
}

fn measure(settings: &Settings, count: usize) -> Measured {
    eprintln!("idle: hub with {count} peers");
    let mut hub = ChildProcess::start(Role::Hub, &[(COUNT, count.to_string())]);
    let url = hub.urls().remove(0);
    std::thread::sleep(SETTLE);
    let hub_kib_before = rss_kib(hub.pid());

    let mut peers = ChildProcess::start(Role::IdlePeers, &[(URL, url), (COUNT, count.to_string())]);
    let linking = Instant::now();
    let linked = peers.line_starting("linked ");
    let peers_kib_before = crate::roles::figure(&linked, "rss_kib");
    eprintln!(
        "idle: {count} peers linked in {:.2} s",
        linking.elapsed().as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    let hub_kib_after = rss_kib(hub.pid());
    let peers_kib = rss_kib(peers.pid()).saturating_sub(peers_kib_before);
    eprintln!("idle: hub {}", hub.report());

    let tick = 1.0 / settings.ticks_per_sec as f64;
    let mut windows = Vec::new();
    for round in 0..settings.rounds {
        let (hub_pid, peers_pid) = (hub.pid(), peers.pid());
        let start = Instant::now();
        let hub_before = process_cpu_ticks(hub_pid);
        let switches_before = process_context_switches(hub_pid);
        let peers_before = process_cpu_ticks(peers_pid);
        std::thread::sleep(settings.idle_window);
        let hub_cpu = (process_cpu_ticks(hub_pid) - hub_before) as f64 * tick;
        let switches = process_context_switches(hub_pid) - switches_before;
        let peers_cpu = (process_cpu_ticks(peers_pid) - peers_before) as f64 * tick;
        let wall = start.elapsed().as_secs_f64();
        let window = Window {
            hub_percent: 100.0 * hub_cpu / wall,
            hub_us_per_peer: 1e6 * hub_cpu / wall / count as f64,
            hub_switches: switches as f64 / wall,
            peers_percent: 100.0 * peers_cpu / wall,
        };
        eprintln!(
            "idle: window {}: hub {:.2}% ({:.2} us/peer/s, {:.0} switches/s), peers' process {:.2}%",
            round + 1,
            window.hub_percent,
            window.hub_us_per_peer,
            window.hub_switches,
            window.peers_percent
        );
        windows.push(window);
    }
    // The links are still there after the windows: none was dropped while we measured.
    let report = hub.report();
    eprintln!("idle: hub {report}");
    let links = crate::roles::figure(&report, "links");
    let up = peers.figure("up");
    Measured {
        count,
        windows,
        hub_kib_before,
        hub_kib_after,
        peers_kib,
        links,
        up,
    }
}
