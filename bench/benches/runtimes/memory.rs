//! Idle memory per server connection: a fresh server process per sample, its resident
//! memory before and after `N` connections are opened, upgraded and left idle.

use std::path::Path;
use std::time::Duration;

use tether_bench::density::{vm_rss_kib, IdleConns};
use tether_bench::runtimes::ServerProcess;
use tether_bench::{median, ratio, Table};

use crate::servers::Server;
use crate::Idle;

/// Connections opened and closed before the `before` reading, so that what every server
/// allocates once for its first connections (thread stacks, pools, the allocator's arenas)
/// is not counted per connection.
const WARM_UP: usize = 100;

/// One sample: starts `program`, opens and closes [`WARM_UP`] connections, reads its
/// resident memory, opens `count` idle ones, waits `settle`, reads it again. Returns the
/// growth per connection in KiB and the resident memory before, in KiB.
fn sample(program: &Path, env: &[(&str, &str)], count: usize, settle: Duration) -> (f64, u64) {
    let process = ServerProcess::start(program, env);
    drop(IdleConns::open(process.addr, WARM_UP));
    std::thread::sleep(settle);
    let before = vm_rss_kib(process.pid());
    let idle = IdleConns::open(process.addr, count);
    std::thread::sleep(settle);
    let after = vm_rss_kib(process.pid());
    assert_eq!(
        idle.alive(),
        idle.count(),
        "{} closed idle connections while they were measured",
        program.display()
    );
    drop(idle);
    (after.saturating_sub(before) as f64 / count as f64, before)
}

/// `rounds` samples per server of `active`, in rotating order. Prints the table (ratios
/// over the first of `active`) and returns the medians in KiB per connection, `None` for
/// servers not in `active`.
pub fn measure(
    servers: &[Server],
    active: &[(usize, &Path)],
    env: &[(&str, &str)],
    idle: Idle,
    rounds: usize,
    label: &str,
) -> Vec<Option<f64>> {
    let Idle { count, settle } = idle;
    let mut samples: Vec<Vec<(f64, u64)>> = vec![Vec::new(); active.len()];
    for round in 0..rounds {
        for j in 0..active.len() {
            let k = (round + j) % active.len();
            let (i, program) = active[k];
            let (per_conn, before) = sample(program, env, count, settle);
            eprintln!(
                "  idle memory ({label}), round {}: {:<18} {:>7.2} KiB per connection \
                 (from {} KiB)",
                round + 1,
                servers[i].name,
                per_conn,
                before
            );
            samples[k].push((per_conn, before));
        }
    }
    let medians: Vec<f64> = samples
        .iter()
        .map(|s| median(&s.iter().map(|x| x.0).collect::<Vec<_>>()))
        .collect();
    let first = &servers[active[0].0].name;
    let vs = format!("KiB/conn / {first}");
    let mut table = Table::new(&[
        "server",
        "KiB/conn (median)",
        "min",
        "max",
        "RSS before, KiB",
        &vs,
    ]);
    for (k, &(i, _)) in active.iter().enumerate() {
        let per_conn: Vec<f64> = samples[k].iter().map(|x| x.0).collect();
        let before: Vec<f64> = samples[k].iter().map(|x| x.1 as f64).collect();
        table.row(vec![
            servers[i].name.clone(),
            format!("{:.2}", medians[k]),
            format!(
                "{:.2}",
                per_conn.iter().copied().fold(f64::INFINITY, f64::min)
            ),
            format!("{:.2}", per_conn.iter().copied().fold(0.0, f64::max)),
            format!("{:.0}", median(&before)),
            ratio(medians[k], medians[0]),
        ]);
    }
    println!(
        "\nidle memory per server connection ({label}): VmRSS growth with {count} connections \
         open, upgraded and idle for {:.1} s, per connection",
        settle.as_secs_f64()
    );
    print!("{}", table.render());
    let mut all = vec![None; servers.len()];
    for (k, &(i, _)) in active.iter().enumerate() {
        all[i] = Some(medians[k]);
    }
    all
}
