//! The closing summary in issue 14's shape: one row per measure, one column per server,
//! each figure with its ratio over the reference (fastwebsockets for WebSocket figures and
//! jsonrpsee for JSON-RPC ones when the script's list is used), as a Markdown table.

use tether_bench::runtimes::{Kind, Workload};
use tether_bench::{ratio, si};

use crate::handshake::Handshakes;
use crate::servers::{reference, Binary, Server};
use crate::throughput::Medians;

/// The figures the summary shows, per server (`None`: not measured).
pub struct Report {
    small_echo: Vec<Option<Medians>>,
    large_echo: Vec<Option<Medians>>,
    rpc_window: Vec<Option<Medians>>,
    handshakes: [Vec<Option<Handshakes>>; 2],
    memory: [Vec<Option<f64>>; 2],
    idle: Vec<Option<(Medians, Medians)>>,
}

impl Report {
    /// Nothing measured yet, for `servers` servers.
    pub fn new(servers: usize) -> Report {
        Report {
            small_echo: vec![None; servers],
            large_echo: vec![None; servers],
            rpc_window: vec![None; servers],
            handshakes: [vec![None; servers], vec![None; servers]],
            memory: [vec![None; servers], vec![None; servers]],
            idle: vec![None; servers],
        }
    }

    /// Keeps the throughput medians of the workloads the summary shows.
    pub fn throughput(&mut self, workload: Workload, medians: &[Option<Medians>]) {
        let slot = match (workload.kind, workload.connections, workload.window) {
            (Kind::Echo(20), 100, 1) => &mut self.small_echo,
            (Kind::Echo(len), 10, 1) if len == 16 << 10 => &mut self.large_echo,
            (Kind::Rpc, 1, 128) => &mut self.rpc_window,
            _ => return,
        };
        slot.copy_from_slice(medians);
    }

    /// Keeps the handshake medians of `binary`'s servers.
    pub fn handshakes(&mut self, binary: Binary, figures: &[Option<Handshakes>]) {
        self.handshakes[binary as usize].copy_from_slice(figures);
    }

    /// Keeps the KiB per idle connection of `binary`'s servers.
    pub fn memory(&mut self, binary: Binary, figures: &[Option<f64>]) {
        self.memory[binary as usize].copy_from_slice(figures);
    }

    /// Keeps the idle-peers medians.
    pub fn idle_peers(&mut self, figures: &[Option<(Medians, Medians)>]) {
        self.idle.copy_from_slice(figures);
    }

    /// Prints the summary; rows with no figure at all are left out.
    pub fn print(&self, servers: &[Server], idle_count: usize) {
        let echo_ref = reference(servers, Binary::Echo);
        let rpc_ref = reference(servers, Binary::Rpc);
        let of = |slot: &[Option<Medians>], r: Option<usize>, i: usize| Some((slot[i]?, slot[r?]?));
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        // A time per operation and its ratio over the reference's.
        let micros = |x: f64, base: f64| format!("{x:.2} us ({})", ratio(x, base));
        let mut row = |title: String, cell: &dyn Fn(usize) -> Option<String>| {
            let cells: Vec<String> = (0..servers.len())
                .map(|i| cell(i).unwrap_or_default())
                .collect();
            if cells.iter().any(|c| !c.is_empty()) {
                rows.push((title, cells));
            }
        };
        row(
            "echo 20 B, 100 conns x 1 in flight: server CPU per message".into(),
            &|i| {
                let (m, r) = of(&self.small_echo, echo_ref, i)?;
                Some(micros(m.cpu_us, r.cpu_us))
            },
        );
        row(
            "echo 20 B, 100 conns x 1 in flight: server CPU per message in user space".into(),
            &|i| {
                let (m, r) = of(&self.small_echo, echo_ref, i)?;
                Some(micros(m.user_us, r.user_us))
            },
        );
        row(
            "echo 16 KiB, 10 conns x 1 in flight: msgs/s (server CPU per message)".into(),
            &|i| {
                let (m, r) = of(&self.large_echo, echo_ref, i)?;
                Some(format!(
                    "{}/s ({}), {}",
                    si(m.rate).trim_end(),
                    ratio(m.rate, r.rate),
                    micros(m.cpu_us, r.cpu_us)
                ))
            },
        );
        let both = |figures: &[Vec<Option<f64>>; 2], unit: &str, i: usize| {
            let one = |b: Binary, r: Option<usize>| {
                let (v, base) = (figures[b as usize][i]?, figures[b as usize][r?]?);
                Some(format!("{v:.1} {unit} ({})", ratio(v, base)))
            };
            match (one(Binary::Echo, echo_ref), one(Binary::Rpc, rpc_ref)) {
                (Some(e), Some(r)) => Some(format!("{e}; JSON-RPC {r}")),
                (e, r) => e.or(r),
            }
        };
        let memory = [self.memory[0].clone(), self.memory[1].clone()];
        row(
            format!("idle memory per server connection, {idle_count} connections"),
            &|i| both(&memory, "KiB", i),
        );
        let p50 = |b: usize| -> Vec<Option<f64>> {
            self.handshakes[b]
                .iter()
                .map(|h| h.map(|h| h.p50_us))
                .collect()
        };
        let p50s = [p50(0), p50(1)];
        row("connect + upgrade p50, one at a time".into(), &|i| {
            both(&p50s, "us", i)
        });
        row(
            "JSON-RPC echo, 1 conn x 128 in flight: server CPU per call".into(),
            &|i| {
                let (m, r) = of(&self.rpc_window, rpc_ref, i)?;
                Some(micros(m.cpu_us, r.cpu_us))
            },
        );
        row(
            format!(
                "echo 20 B, 100 conns x 1: server CPU per message beside {idle_count} idle \
                 connections / without"
            ),
            &|i| {
                let (without, with) = self.idle[i]?;
                Some(ratio(with.cpu_us, without.cpu_us))
            },
        );
        if rows.is_empty() {
            return;
        }
        println!(
            "\nsummary (ratios in brackets: this server's figure over the first WebSocket \
             server's for WebSocket figures, over the first JSON-RPC server's for JSON-RPC \
             ones)\n"
        );
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        println!("| measure | {} |", names.join(" | "));
        println!("|---|{}", "---:|".repeat(names.len()));
        for (title, cells) in rows {
            println!("| {title} | {} |", cells.join(" | "));
        }
    }
}
