//! The dashboard in a real browser: three `node` processes make a cluster, headless
//! Chromium (the distribution's, driven over the DevTools protocol by puppeteer-core, both
//! installed by `scripts/install-peers.sh`) opens node 1's dashboard, writes a key through
//! the form and reads it back, sees node 3 turn down when the test kills it and come back
//! when the test starts it again, and saves a screenshot in `target/tmp/`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::processes::{http_get, init_cluster, NodeProcess};

/// The node the browser watches die and come back.
const VICTIM: u64 = 3;

#[test]
fn the_dashboard_writes_reads_and_shows_a_node_go_down_and_come_back() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let modules = repo.join(".deps/node/node_modules");
    assert!(
        modules.join("puppeteer-core/package.json").exists(),
        "puppeteer-core is not installed in .deps: run scripts/install-peers.sh"
    );

    let mut nodes: BTreeMap<u64, NodeProcess> = (1..=3)
        .map(|id| (id, NodeProcess::start(id, "127.0.0.1:0", &[])))
        .collect();
    make_cluster(&nodes);
    let victim_addr = nodes[&VICTIM].addr.clone();

    // The page is the node's own: plain HTTP on the port its WebSocket is on.
    let (status, page) = http_get(&nodes[&1].addr, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>tether"),
        "not the dashboard: {page:.200}"
    );

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let url = format!("http://{}/", nodes[&1].addr);
    let mut browser = Command::new("node")
        .arg(repo.join("raft/tests/browser/dashboard.js"))
        .arg(&url)
        .arg(VICTIM.to_string())
        .arg(&screenshot)
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node (Node.js)");
    let mut to_browser = browser.stdin.take().expect("stdin");
    let from_browser = BufReader::new(browser.stdout.take().expect("stdout"));
    let mut said = Vec::new();
    for line in from_browser.lines() {
        let line = line.expect("the script's output");
        eprintln!("browser: {line}");
        if line == format!("kill {VICTIM}") {
            // SIGKILL, as the process drops.
            drop(nodes.remove(&VICTIM));
            writeln!(to_browser, "killed").expect("tell the script");
        } else if line == format!("restart {VICTIM}") {
            // On its old address, empty: the leader brings it up to date.
            nodes.insert(VICTIM, NodeProcess::start(VICTIM, &victim_addr, &[]));
            writeln!(to_browser, "restarted").expect("tell the script");
        }
        said.push(line);
    }
    let status = browser.wait().expect("the script ends");
    let said = said.join("\n");
    assert!(status.success(), "the browser script failed:\n{said}");
    for step in [
        "step: the page shows 3 nodes up",
        "step: wrote dashboard-key",
        "step: read back: dashboard-key = ",
        "step: node 3 shows down",
        "step: node 3 is back up",
        "dashboard OK",
    ] {
        assert!(said.contains(step), "no {step:?} in:\n{said}");
    }
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a screenshot of a page: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", screenshot.display());
}

/// `mgmt/init` on node 1 with the three nodes as voters, then waits for a leader.
fn make_cluster(nodes: &BTreeMap<u64, NodeProcess>) {
    common::on_tokio(async move {
        let clients = init_cluster(nodes).await;
        common::within(
            Duration::from_secs(20),
            "a leader",
            common::agreed_leader(&clients),
        )
        .await;
    });
}
