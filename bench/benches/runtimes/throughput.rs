//! Timed runs of the load client against a server process: messages per second and the
//! server's CPU time per message, their tables, and the summary of ratios.

use std::time::Duration;

use tether_bench::echo::Schedule;
use tether_bench::runtimes::{own_cpu_ticks, Load, ServerProcess, Workload};
use tether_bench::{median, ratio, si, Table};
use tokio::runtime::Runtime;
use tokio::task::LocalSet;

use crate::servers::{Server, Target};

/// One timed run of one server.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Answers per second.
    pub rate: f64,
    /// Server CPU time per answer, in microseconds.
    pub cpu_us: f64,
    /// The user-space part of `cpu_us` (the rest is the kernel's: syscalls, and on
    /// loopback the delivery of what the server writes).
    pub user_us: f64,
    /// Server CPU time over wall time: 1.0 is one core busy.
    pub cpu_share: f64,
    /// The load client's (this process's) CPU time over wall time.
    pub client_share: f64,
    /// The server threads' context switches per answer.
    pub switches: f64,
}

/// The medians of one server on one workload.
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    pub rate: f64,
    pub cpu_us: f64,
    pub user_us: f64,
}

impl Medians {
    /// The medians of `samples`.
    pub fn of(samples: &[Sample]) -> Medians {
        Medians {
            rate: median(&samples.iter().map(|x| x.rate).collect::<Vec<_>>()),
            cpu_us: median(&samples.iter().map(|x| x.cpu_us).collect::<Vec<_>>()),
            user_us: median(&samples.iter().map(|x| x.user_us).collect::<Vec<_>>()),
        }
    }
}

/// The load client's runtime: single-threaded, on this thread, for every server alike.
pub struct Client {
    pub runtime: Runtime,
    pub local: LocalSet,
    pub ticks_per_second: u64,
}

impl Client {
    /// One untimed run of `workload` against `process`.
    pub fn warm_up(&self, process: &ServerProcess, workload: Workload, duration: Duration) {
        self.local.block_on(&self.runtime, async {
            let mut load = Load::connect(process.addr, workload).await;
            load.run(duration).await;
            load.close().await;
        });
    }

    /// Opens the connections, reads the server's CPU time, runs, reads it again, closes.
    pub fn timed_run(
        &self,
        process: &mut ServerProcess,
        workload: Workload,
        duration: Duration,
    ) -> Sample {
        self.local.block_on(&self.runtime, async {
            let mut load = Load::connect(process.addr, workload).await;
            let switches_before = process.context_switches();
            let (user_before, system_before) = process.cpu_split();
            let client_before = own_cpu_ticks();
            let run = load.run(duration).await;
            let client_after = own_cpu_ticks();
            let (user_after, system_after) = process.cpu_split();
            let switches_after = process.context_switches();
            load.close().await;
            let seconds = |ticks: u64| ticks as f64 / self.ticks_per_second as f64;
            let user_seconds = seconds(user_after - user_before);
            let cpu_seconds = user_seconds + seconds(system_after - system_before);
            let elapsed = run.elapsed.as_secs_f64();
            let per_message = |seconds: f64| seconds * 1e6 / run.messages.max(1) as f64;
            Sample {
                rate: run.messages as f64 / elapsed,
                cpu_us: per_message(cpu_seconds),
                user_us: per_message(user_seconds),
                cpu_share: cpu_seconds / elapsed,
                client_share: seconds(client_after - client_before) / elapsed,
                switches: switches_after.saturating_sub(switches_before) as f64
                    / run.messages.max(1) as f64,
            }
        })
    }
}

/// Runs `workload` against every server of `active` (indexes into `servers`, with their
/// processes in `processes`): a warm-up each, then `schedule.rounds` timed runs each in
/// rotating order. Prints the table and returns the medians, `None` for servers not in
/// `active`.
pub fn measure(
    client: &Client,
    servers: &[Server],
    active: &[usize],
    processes: &mut [ServerProcess],
    workload: Workload,
    schedule: Schedule,
) -> Vec<Option<Medians>> {
    for (k, &i) in active.iter().enumerate() {
        client.warm_up(&processes[k], workload, schedule.warmup);
        eprintln!(
            "  warmed up {} ({} threads)",
            servers[i].name,
            processes[k].threads()
        );
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); active.len()];
    for round in 0..schedule.rounds {
        for j in 0..active.len() {
            let k = (round + j) % active.len();
            let sample = client.timed_run(&mut processes[k], workload, schedule.measure);
            eprintln!(
                "  {}, round {}: {:<18} {:>9} msgs/s {:>8.2} us/msg, \
                 server CPU {:>4.0}%, client CPU {:>4.0}%, {:.2} switches/msg",
                workload.label(),
                round + 1,
                servers[active[k]].name,
                si(sample.rate),
                sample.cpu_us,
                sample.cpu_share * 100.0,
                sample.client_share * 100.0,
                sample.switches
            );
            samples[k].push(sample);
        }
    }
    let names: Vec<&str> = active.iter().map(|&i| servers[i].name.as_str()).collect();
    let medians = print_table(&workload.label(), &names, &samples);
    let mut all = vec![None; servers.len()];
    for (k, &i) in active.iter().enumerate() {
        all[i] = Some(medians[k]);
    }
    all
}

/// The table of one workload; the first of `names` is the reference of its ratios.
pub fn print_table(title: &str, names: &[&str], samples: &[Vec<Sample>]) -> Vec<Medians> {
    let first = names[0];
    let rate_vs = format!("msgs/s / {first}");
    let cpu_vs = format!("CPU/msg / {first}");
    let user_vs = format!("user/msg / {first}");
    let mut table = Table::new(&[
        "server",
        "msgs/s (median)",
        "min",
        "max",
        "CPU us/msg (median)",
        "min",
        "max",
        "user us/msg",
        "server CPU",
        "client CPU",
        "switches/msg",
        &rate_vs,
        &cpu_vs,
        &user_vs,
    ]);
    let medians: Vec<Medians> = samples.iter().map(|s| Medians::of(s)).collect();
    for (i, name) in names.iter().enumerate() {
        let rates: Vec<f64> = samples[i].iter().map(|x| x.rate).collect();
        let cpus: Vec<f64> = samples[i].iter().map(|x| x.cpu_us).collect();
        let shares: Vec<f64> = samples[i].iter().map(|x| x.cpu_share).collect();
        let client: Vec<f64> = samples[i].iter().map(|x| x.client_share).collect();
        let switches: Vec<f64> = samples[i].iter().map(|x| x.switches).collect();
        table.row(vec![
            (*name).to_owned(),
            si(medians[i].rate),
            si(min(&rates)),
            si(max(&rates)),
            format!("{:.2}", medians[i].cpu_us),
            format!("{:.2}", min(&cpus)),
            format!("{:.2}", max(&cpus)),
            format!("{:.2}", medians[i].user_us),
            format!("{:.0}%", median(&shares) * 100.0),
            format!("{:.0}%", median(&client) * 100.0),
            format!("{:.2}", median(&switches)),
            ratio(medians[i].rate, medians[0].rate),
            ratio(medians[i].cpu_us, medians[0].cpu_us),
            ratio(medians[i].user_us, medians[0].user_us),
        ]);
    }
    println!("\n{title}");
    print!("{}", table.render());
    medians
}

/// The throughput figures of one workload: its medians per server and the index of its
/// reference.
pub struct Figures {
    pub label: String,
    pub reference: usize,
    pub medians: Vec<Option<Medians>>,
}

/// One table of msgs/s ratios and one of CPU-per-message ratios, a row per workload and a
/// column per pair (`-` where either server lacks the workload).
pub fn print_summary(servers: &[Server], pairs: &[(usize, Target)], results: &[Figures]) {
    if pairs.is_empty() || results.is_empty() {
        return;
    }
    let names: Vec<String> = pairs
        .iter()
        .map(|&(a, b)| match b {
            Target::Server(b) => format!("{}/{}", servers[a].name, servers[b].name),
            Target::Reference => format!("{}/ref", servers[a].name),
        })
        .collect();
    for (title, pick) in [
        (
            "msgs/s ratios (above 1.00x: the first of the pair answered more; \
             ref: the first server of each table)",
            (|m: &Medians| m.rate) as fn(&Medians) -> f64,
        ),
        (
            "server CPU per message ratios (above 1.00x: the first of the pair spent more)",
            |m: &Medians| m.cpu_us,
        ),
    ] {
        let mut header = vec!["workload"];
        header.extend(names.iter().map(String::as_str));
        let mut table = Table::new(&header);
        for result in results {
            let mut row = vec![result.label.clone()];
            row.extend(pairs.iter().map(|&(a, b)| {
                let b = match b {
                    Target::Server(b) => b,
                    Target::Reference => result.reference,
                };
                match (&result.medians[a], &result.medians[b]) {
                    (Some(x), Some(y)) => ratio(pick(x), pick(y)),
                    _ => "-".to_owned(),
                }
            }));
            table.row(row);
        }
        println!("\n{title}");
        print!("{}", table.render());
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}
