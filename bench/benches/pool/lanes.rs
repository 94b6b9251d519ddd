//! Lanes: the round trip of a small call on a node's control link while nothing else goes
//! to that node, and while a large call (64 MiB by default) is being sent to it on the
//! same control link or on its bulk lane. The called node is a child process; the calling
//! node and the probes run here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tether_bench::{median, percentile, ratio, Table};
use tether_tokio::pool::{Lane, NodeId, Peers, PeersConfig};
use tether_tokio::rpc::Router;

use crate::hold;
use crate::roles::{vote, ChildProcess, Role, Vote, MAX_MESSAGE};
use crate::Settings;

/// The called node.
const PEER: NodeId = NodeId(2);
/// A small call is started this often, whether the earlier ones have returned or not, so
/// that calls start at every moment of a large send, not only after it.
const PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// Pings on the calling node's links, often enough for a ping round trip per mode.
const PING_INTERVAL: Duration = Duration::from_millis(100);
/// How long one idle window lasts (the idle mode's stand-in for a large send).
const IDLE_WINDOW: Duration = Duration::from_millis(500);
/// Between two large sends, so the probes of one have returned before the next.
const GAP: Duration = Duration::from_millis(100);
/// Deadline of a large call.
const BULK_TIMEOUT: Duration = Duration::from_secs(120);
/// Small calls slower than this are counted (`over 10 ms`): a wait far past any loopback
/// or LAN round trip, which only something holding the call up explains.
const SLOW: Duration = Duration::from_millis(10);
/// Large calls timed step by step in memory.
const HOLD_TIMES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    SameLink,
    BulkLane,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Idle, Mode::SameLink, Mode::BulkLane];

    fn label(self, mib: usize) -> String {
        match self {
            Mode::Idle => "idle".to_owned(),
            Mode::SameLink => format!("{mib} MiB call on the same control link"),
            Mode::BulkLane => format!("{mib} MiB call on the bulk lane"),
        }
    }
}

/// What one mode measured in one round.
struct ModeRun {
    /// Round trips of the small calls started during a large send (or an idle window).
    probes: Vec<Duration>,
    /// Each large call, from `call_on` to its answer.
    bulk: Vec<Duration>,
    ping_p50: Option<Duration>,
    ping_p99: Option<Duration>,
}

pub fn run(settings: &Settings) {
    let bulk_bytes = settings.bulk_mib << 20;
    // The request is the payload plus its JSON-RPC envelope.
    let max_message = bulk_bytes + (1 << 20);
    let mut peer = ChildProcess::start(Role::LanePeer, &[(MAX_MESSAGE, max_message.to_string())]);
    let url = peer.urls().remove(0);

    // The calling node runs as the called one does: a worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Encoded once: `len`'s params, one string of `bulk_bytes` bytes.
    let params: Arc<Box<RawValue>> =
        Arc::new(serde_json::value::to_raw_value(&["x".repeat(bulk_bytes)]).expect("params"));
    let runs = runtime.block_on(async {
        let mut runs: [Vec<ModeRun>; 3] = Default::default();
        let mut node = 10;
        for round in 0..settings.rounds {
            for k in 0..Mode::ALL.len() {
                let mode = Mode::ALL[(round + k) % Mode::ALL.len()];
                node += 1;
                let run = measure(mode, NodeId(node), &url, &params, max_message, settings).await;
                eprintln!(
                    "lanes: round {} {}: {} probes, p50 {:?} p99 {:?}, large call median {:?}, ping p50 {:?}",
                    round + 1,
                    mode.label(settings.bulk_mib),
                    run.probes.len(),
                    percentile(&run.probes, 50),
                    percentile(&run.probes, 99),
                    (!run.bulk.is_empty()).then(|| median_duration(&run.bulk)),
                    run.ping_p50,
                );
                runs[mode as usize].push(run);
            }
        }
        runs
    });
    let links = peer.figure("links");
    eprintln!("lanes: the peer holds {links} links at the end");
    drop(peer);
    drop(runtime);
    eprintln!("lanes: the core's steps of one large call, in memory");
    let holds = hold::measure(&params, max_message, HOLD_TIMES);

    println!();
    println!(
        "Lanes: round trip of a small call (`echo`, an 80 B vote) on the control link to a \
         node in a child process, one due every {} ms (started by a thread of its own, timed \
         from when it was due), idle and while a {} MiB call (`len`) goes to the same node; \
         {} large calls per mode and round (after one untimed), {} rounds in rotating order, \
         a fresh calling pool per mode and round; both nodes on 2-worker runtimes. \
         Percentiles per round over the calls due during a large call (or a {} ms idle \
         window), median of the rounds; `over 10 ms`: share of all those calls; ping RTT \
         from Peers::stats (a ping every {} ms from the calling node)",
        PROBE_INTERVAL.as_millis(),
        settings.bulk_mib,
        settings.bulk_sends,
        settings.rounds,
        IDLE_WINDOW.as_millis(),
        PING_INTERVAL.as_millis(),
    );
    let mut table = Table::new(&[
        "small call, while",
        "calls",
        "RTT p50 ms",
        "RTT p99 ms",
        "p50 / idle",
        "p99 / idle",
        "over 10 ms",
        "ping p50 ms",
        "ping p99 ms",
        "large call ms",
        "large MB/s",
    ]);
    let per_round = |runs: &[ModeRun], f: &dyn Fn(&ModeRun) -> Option<Duration>| -> Option<f64> {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(f)
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        (!values.is_empty()).then(|| median(&values))
    };
    let p50 = |r: &ModeRun| percentile(&r.probes, 50);
    let p99 = |r: &ModeRun| percentile(&r.probes, 99);
    let idle = &runs[Mode::Idle as usize];
    let (idle50, idle99) = (per_round(idle, &p50), per_round(idle, &p99));
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    let over = |v: Option<f64>, base: Option<f64>| match (v, base) {
        (Some(v), Some(base)) => ratio(v, base),
        _ => "-".to_owned(),
    };
    for mode in Mode::ALL {
        let runs = &runs[mode as usize];
        let calls: usize = runs.iter().map(|r| r.probes.len()).sum();
        let slow: usize = runs
            .iter()
            .map(|r| r.probes.iter().filter(|&&rtt| rtt > SLOW).count())
            .sum();
        let (m50, m99) = (per_round(runs, &p50), per_round(runs, &p99));
        let large = per_round(runs, &|r| {
            (!r.bulk.is_empty()).then(|| median_duration(&r.bulk))
        });
        table.row(vec![
            mode.label(settings.bulk_mib),
            calls.to_string(),
            ms(m50),
            ms(m99),
            over(m50, idle50),
            over(m99, idle99),
            format!("{:.1}%", 100.0 * slow as f64 / calls.max(1) as f64),
            ms(per_round(runs, &|r| r.ping_p50)),
            ms(per_round(runs, &|r| r.ping_p99)),
            ms(large),
            large.map_or("-".to_owned(), |ms| {
                format!("{:.0}", bulk_bytes as f64 / 1e6 / (ms / 1e3))
            }),
        ]);
    }
    print!("{}", table.render());

    println!();
    println!(
        "The core pool's steps for one {} MiB call, two tether_core::pool::Pools wired in \
         memory (no sockets, no runtime), median of {HOLD_TIMES}: which run inside Peers' \
         one lock (for that long no other link of the node moves) and which outside",
        settings.bulk_mib
    );
    let mut table = Table::new(&["step", "lock", "ms"]);
    let step = |f: fn(&hold::Hold) -> Duration| {
        let ms: Vec<f64> = holds.iter().map(|h| f(h).as_secs_f64() * 1e3).collect();
        format!("{:.2}", median(&ms))
    };
    let rows: [(&str, &str, Step); 7] = [
        ("sender: Request::new (encode)", "outside", |h| h.encode),
        ("sender: Pool::call_request", "inside", |h| h.call_on),
        (
            "sender: Pool::poll_transmit, the longest (a fragment)",
            "inside",
            |h| h.longest_transmit,
        ),
        (
            "receiver: Pool::handle_input, one 64 KiB read (median)",
            "inside",
            |h| h.median_input,
        ),
        (
            "receiver: Pool::handle_input completing the message",
            "inside",
            |h| h.completing_input,
        ),
        ("receiver: Unparsed::parse", "outside", |h| h.parse),
        ("receiver: Pool::handle_parsed", "inside", |h| {
            h.handle_parsed
        }),
    ];
    for (name, lock, f) in rows {
        table.row(vec![name.to_owned(), lock.to_owned(), step(f)]);
    }
    print!("{}", table.render());
}

/// How long one step of a large call took.
type Step = fn(&hold::Hold) -> Duration;

/// One mode with a fresh calling node `node`: probes running throughout, one untimed
/// large call (or idle window) and then `bulk_sends` timed ones.
async fn measure(
    mode: Mode,
    node: NodeId,
    url: &str,
    params: &Arc<Box<RawValue>>,
    max_message: usize,
    settings: &Settings,
) -> ModeRun {
    let mut config = PeersConfig::new(node);
    config.pool.ws.max_message_size = max_message;
    config.pool.ws.max_frame_size = max_message;
    config.pool.queue.max_bytes = 2 * max_message;
    if let Some(heartbeat) = config.pool.heartbeat.as_mut() {
        heartbeat.interval = PING_INTERVAL;
    }
    let pool = Peers::new(config, Router::default()).expect("pool");
    pool.add_peer(PEER, url).expect("url");
    for _ in 0..20 {
        let answer: Vote = pool.call(PEER, "echo", &vote()).await.expect("warm-up");
        assert_eq!(answer, vote());
    }
    if mode == Mode::BulkLane {
        // The bulk link is opened by its first call; open it before anything is timed.
        let n: usize = pool
            .call_on(PEER, Lane::Bulk, "len", &["x"], None)
            .await
            .expect("bulk warm-up");
        assert_eq!(n, 5);
    }

    let started = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(pool.clone(), stop.clone(), started.clone()));
    tokio::time::sleep(GAP).await;

    let mut windows = Vec::new();
    let mut bulk = Vec::new();
    for send in 0..=settings.bulk_sends {
        let start = Instant::now();
        let lane = match mode {
            Mode::Idle => None,
            Mode::SameLink => Some(Lane::Control),
            Mode::BulkLane => Some(Lane::Bulk),
        };
        match lane {
            None => tokio::time::sleep(IDLE_WINDOW).await,
            Some(lane) => {
                let n: usize = pool
                    .call_on(PEER, lane, "len", &**params, Some(BULK_TIMEOUT))
                    .await
                    .expect("large call");
                assert_eq!(n, params.get().len());
            }
        }
        let end = Instant::now();
        if send > 0 {
            windows.push((start, end));
            bulk.push(end - start);
        }
        tokio::time::sleep(GAP).await;
    }
    stop.store(true, Ordering::Relaxed);
    prober.await.expect("prober");
    let stats = pool.stats();
    let peer = stats
        .peers
        .iter()
        .find(|p| p.node == PEER)
        .expect("the peer in stats");
    let (ping_p50, ping_p99) = (peer.rtt_p50, peer.rtt_p99);
    pool.shutdown(Duration::from_secs(1)).await;

    let started = std::mem::take(&mut *started.lock().expect("probes"));
    let probes = started
        .into_iter()
        .filter(|(at, _)| windows.iter().any(|(start, end)| at >= start && at < end))
        .map(|(_, rtt)| rtt)
        .collect();
    ModeRun {
        probes,
        bulk: if mode == Mode::Idle { Vec::new() } else { bulk },
        ping_p50,
        ping_p99,
    }
}

/// Starts a small call every `PROBE_INTERVAL` until `stop`, each in a task of its own,
/// noting when it was due and its round trip from then; returns once every one has
/// returned.
///
/// The calls are started from a thread of their own, not from a task: a call due while
/// the runtime's threads are held up (waiting for the pool's lock, say) is still due on
/// time and counts that wait, as a heartbeat due then would; a task's timer would fire
/// late and hide it. It also keeps the runtime's 1 ms timer granularity out of the figures.
async fn probe(pool: Peers, stop: Arc<AtomicBool>, out: Arc<Mutex<Vec<(Instant, Duration)>>>) {
    let runtime = tokio::runtime::Handle::current();
    let (started, mut calls) = tokio::sync::mpsc::unbounded_channel();
    let clock = std::thread::spawn(move || {
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            next += PROBE_INTERVAL;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > PROBE_INTERVAL {
                // This thread itself fell behind (no CPU for it): skip, don't burst.
                next = now;
            }
            let due = Instant::now();
            let (pool, out) = (pool.clone(), out.clone());
            let call = runtime.spawn(async move {
                let params = vote();
                let answer: Vote = pool.call(PEER, "echo", &params).await.expect("probe");
                let rtt = due.elapsed();
                assert_eq!(answer, params);
                out.lock().expect("probes").push((due, rtt));
            });
            if started.send(call).is_err() {
                break;
            }
        }
    });
    // Ends when the clock thread stops and drops `started`.
    while let Some(call) = calls.recv().await {
        call.await.expect("probe task");
    }
    clock.join().expect("probe clock");
}

fn median_duration(values: &[Duration]) -> Duration {
    let secs: Vec<f64> = values.iter().map(Duration::as_secs_f64).collect();
    Duration::from_secs_f64(median(&secs))
}
