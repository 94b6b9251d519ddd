//! Memory per idle connection: a server process and a client process (both this binary,
//! in a role), N connections between them, and the growth of each one's resident memory.

use std::io::BufReader;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use tether_bench::{ratio, Table};

use crate::roles::{self, line_starting, rss_kib, Role};

/// How long the server is left to settle before and after the clients come.
const SETTLE: Duration = Duration::from_millis(500);

/// One measured pairing of a client kind and a server kind.
struct Pairing {
    label: &'static str,
    client: Role,
    server: Role,
}

const PAIRINGS: [Pairing; 6] = [
    Pairing {
        label: "tether rpc::Client (session) -> rpc::Server",
        client: Role::TetherSessionClient,
        server: Role::TetherServer,
    },
    Pairing {
        label: "tether WebSocket -> rpc::Server",
        client: Role::TetherWsClient,
        server: Role::TetherServer,
    },
    Pairing {
        label: "tether WebSocket -> rpc::Server on smol",
        client: Role::TetherWsClient,
        server: Role::TetherSmolServer,
    },
    Pairing {
        label: "tether WebSocket -> ws::Server echo",
        client: Role::TetherWsClient,
        server: Role::TetherWsServer,
    },
    Pairing {
        label: "tether WebSocket -> ws::Server echo on smol",
        client: Role::TetherWsClient,
        server: Role::TetherSmolWsServer,
    },
    Pairing {
        label: "tokio-tungstenite -> its echo server",
        client: Role::TungsteniteClient,
        server: Role::TungsteniteServer,
    },
];

/// Bytes per connection, client side and server side.
struct PerConnection {
    client: f64,
    server: f64,
}

/// Measures every pairing whose label contains `only` (all of them if it is empty).
pub fn run(connections: usize, only: &str) {
    let pairings: Vec<&Pairing> = PAIRINGS
        .iter()
        .filter(|pairing| pairing.label.contains(only))
        .collect();
    let mut results = Vec::new();
    for pairing in &pairings {
        eprintln!("memory: {} x {connections}", pairing.label);
        results.push(measure(pairing, connections));
    }
    if results.is_empty() {
        return;
    }

    println!();
    println!(
        "Memory per idle connection: {connections} connections from one client process to \
         one server process on 127.0.0.1; growth of resident memory (VmRSS) / connections"
    );
    let mut table = Table::new(&[
        "client -> server",
        "client KiB/conn",
        "server KiB/conn",
        "tether session / this (client)",
        "tether / this (server)",
    ]);
    let tether = &results[0];
    for (pairing, result) in pairings.iter().zip(&results) {
        table.row(vec![
            pairing.label.to_owned(),
            format!("{:.1}", result.client / 1024.0),
            format!("{:.1}", result.server / 1024.0),
            ratio(tether.client, result.client),
            ratio(tether.server, result.server),
        ]);
    }
    print!("{}", table.render());
}

fn spawn(role: Role, env: &[(&str, String)]) -> (Child, BufReader<ChildStdout>) {
    let exe = std::env::current_exe().expect("current exe");
    let mut command = Command::new(exe);
    command
        .env(roles::ROLE, role.name())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn a bench child");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// Closes the child's stdin (it exits then) and reaps it.
fn finish(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

fn measure(pairing: &Pairing, connections: usize) -> PerConnection {
    let (server, mut server_out) = spawn(pairing.server, &[]);
    let listening = line_starting(&mut server_out, "listening on ");
    let url = listening.trim_start_matches("listening on ").to_owned();
    std::thread::sleep(SETTLE);
    let server_before = rss_kib(server.id());

    let (client, mut client_out) = spawn(
        pairing.client,
        &[(roles::URL, url), (roles::COUNT, connections.to_string())],
    );
    let report = line_starting(&mut client_out, "rss_kib ");
    std::thread::sleep(SETTLE);
    let server_after = rss_kib(server.id());
    let mut figures = report
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse::<u64>().expect("a KiB figure"));
    let (client_before, client_after) = (
        figures.next().expect("before"),
        figures.next().expect("after"),
    );
    finish(client);
    finish(server);

    let per =
        |before: u64, after: u64| after.saturating_sub(before) as f64 * 1024.0 / connections as f64;
    eprintln!(
        "  client {client_before} -> {client_after} KiB, server {server_before} -> {server_after} KiB"
    );
    PerConnection {
        client: per(client_before, client_after),
        server: per(server_before, server_after),
    }
}
