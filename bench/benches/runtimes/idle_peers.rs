//! The idle-peers check: a workload's server CPU per message with `N` idle connections
//! open to the same server beside it, and without, in the same round.

use tether_bench::density::IdleConns;
use tether_bench::echo::Schedule;
use tether_bench::runtimes::{ServerProcess, Workload};
use tether_bench::{median, ratio, si, Table};

use crate::servers::Server;
use crate::throughput::{Client, Medians, Sample};
use crate::Idle;

/// Per server of `active` and round (servers in rotating order): one timed run of
/// `workload` without idle connections and one with `idle.count` open (opened, then
/// `idle.settle`, then the run), in alternating order from round to round. Prints the table and returns
/// the medians without and with, `None` for servers not in `active`.
pub fn measure(
    client: &Client,
    servers: &[Server],
    active: &[usize],
    processes: &mut [ServerProcess],
    workload: Workload,
    schedule: Schedule,
    idle: Idle,
) -> Vec<Option<(Medians, Medians)>> {
    let Idle { count, settle } = idle;
    let mut without: Vec<Vec<Sample>> = vec![Vec::new(); active.len()];
    let mut with: Vec<Vec<Sample>> = vec![Vec::new(); active.len()];
    for round in 0..schedule.rounds {
        for j in 0..active.len() {
            let k = (round + j) % active.len();
            let name = &servers[active[k]].name;
            let idle_first = round % 2 == 1;
            if !idle_first {
                without[k].push(client.timed_run(&mut processes[k], workload, schedule.measure));
            }
            let idle = IdleConns::open(processes[k].addr, count);
            std::thread::sleep(settle);
            with[k].push(client.timed_run(&mut processes[k], workload, schedule.measure));
            assert_eq!(
                idle.alive(),
                idle.count(),
                "{name} closed idle connections during the run"
            );
            drop(idle);
            std::thread::sleep(settle);
            if idle_first {
                without[k].push(client.timed_run(&mut processes[k], workload, schedule.measure));
            }
            let (a, b) = (without[k][round], with[k][round]);
            eprintln!(
                "  {} beside {count} idle, round {}: {:<18} {:>8.2} us/msg without, \
                 {:>8.2} with ({:>9} and {:>9} msgs/s)",
                workload.label(),
                round + 1,
                name,
                a.cpu_us,
                b.cpu_us,
                si(a.rate),
                si(b.rate)
            );
        }
    }
    let mut table = Table::new(&[
        "server",
        "CPU us/msg, none idle",
        &format!("with {count} idle"),
        "with / none",
        "per round (median)",
        "msgs/s, none idle",
        &format!("with {count} idle"),
        "with / none",
    ]);
    let mut all = vec![None; servers.len()];
    for (k, &i) in active.iter().enumerate() {
        let (a, b) = (Medians::of(&without[k]), Medians::of(&with[k]));
        // The two runs of a round are next to each other in time, so their ratio is the
        // one least moved by drift in the machine's load.
        let per_round: Vec<f64> = without[k]
            .iter()
            .zip(&with[k])
            .map(|(a, b)| b.cpu_us / a.cpu_us)
            .collect();
        table.row(vec![
            servers[i].name.clone(),
            format!("{:.2}", a.cpu_us),
            format!("{:.2}", b.cpu_us),
            ratio(b.cpu_us, a.cpu_us),
            format!("{:.2}x", median(&per_round)),
            si(a.rate),
            si(b.rate),
            ratio(b.rate, a.rate),
        ]);
        all[i] = Some((a, b));
    }
    println!(
        "\n{} beside {count} idle connections to the same server, and without (medians)",
        workload.label()
    );
    print!("{}", table.render());
    all
}
