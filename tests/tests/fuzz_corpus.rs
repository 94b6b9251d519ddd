//! Replays every committed fuzz input (`fuzz/seeds/<target>/*`) through the same body the
//! cargo-fuzz target runs (`tether_core::fuzzing`), on stable Rust: a crash found once
//! stays fixed. Add a crash input to its target's folder to keep it here for good.

use std::path::PathBuf;
use std::time::Instant;

// The differential target's other half, shared with the cargo-fuzz target.
#[path = "../../fuzz/common/tungstenite_reading.rs"]
mod tungstenite_reading;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = tether_tests::repo_root().join("fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable seed folder").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).expect("readable seed");
            (path, data)
        })
        .collect()
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    for (path, data) in seeds(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&data)));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
}

#[test]
fn frame_decoder_seeds() {
    replay("frame_decoder", tether_core::fuzzing::frame_decoder);
}

#[test]
fn handshake_seeds() {
    replay("handshake", tether_core::fuzzing::handshake);
}

#[test]
fn connection_seeds() {
    let origin = Instant::now();
    replay("connection", |data| {
        tether_core::fuzzing::connection(origin, data)
    });
}

#[test]
fn rpc_channel_seeds() {
    let origin = Instant::now();
    replay("rpc_channel", |data| {
        tether_core::fuzzing::rpc_channel(origin, data)
    });
}

#[test]
fn compressed_seeds() {
    let origin = Instant::now();
    replay("compressed", |data| {
        tether_core::fuzzing::compressed(origin, data)
    });
}

#[test]
fn rpc_message_seeds() {
    replay("rpc_message", tether_core::fuzzing::rpc_message);
}

#[test]
fn differential_seeds() {
    let origin = Instant::now();
    replay("differential", |data| {
        tether_core::fuzzing::differential(origin, data, tungstenite_reading::tungstenite_reading)
    });
}

#[test]
fn session_seeds() {
    let origin = Instant::now();
    replay("session", |data| {
        tether_core::fuzzing::session(origin, data)
    });
    // The seeds must reach what the target exists for: open links and answered calls.
    let reports: Vec<_> = seeds("session")
        .iter()
        .map(|(_, data)| tether_core::fuzzing::session_report(origin, data))
        .collect();
    eprintln!("{reports:?}");
    assert!(
        reports.iter().any(|r| r.connected > 0 && r.answered > 0),
        "no session seed opens a link and gets an answer: {reports:?}"
    );
}

#[test]
fn pool_seeds() {
    let origin = Instant::now();
    // The hand-made seeds are committed as written by `pool_scenarios`: rewrite them with
    // `POOL_SEEDS_WRITE=1` after changing a scenario or the script's format.
    let dir = tether_tests::repo_root().join("fuzz/seeds/pool");
    for (name, data) in tether_core::fuzzing::pool_scenarios() {
        let path = dir.join(name);
        if std::env::var_os("POOL_SEEDS_WRITE").is_some() {
            std::fs::create_dir_all(&dir).expect("seed folder");
            std::fs::write(&path, &data).expect("seed written");
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == data,
            "{} is not what pool_scenarios writes (POOL_SEEDS_WRITE=1 rewrites it)",
            path.display()
        );
    }
    replay("pool", |data| tether_core::fuzzing::pool(origin, data));
    // The seeds must reach what the target exists for: links up both ways, calls
    // answered and failed, peers' calls served.
    let reports: Vec<_> = seeds("pool")
        .iter()
        .map(|(_, data)| tether_core::fuzzing::pool_report(origin, data))
        .collect();
    eprintln!("{reports:?}");
    assert!(
        reports.iter().any(|r| r.links_up > 0 && r.answered > 0),
        "no pool seed opens a link and gets an answer: {reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.accepted_upgrades > 0 && r.served > 0),
        "no pool seed accepts a peer's link and answers its call: {reports:?}"
    );
    assert!(
        reports.iter().any(|r| r.ended > 0),
        "no pool seed ends a call without an answer: {reports:?}"
    );
}

#[test]
fn budget_seeds() {
    let origin = Instant::now();
    replay("budget", |data| tether_core::fuzzing::budget(origin, data));
}

/// Scripts drawn from a fixed seed, beyond the committed ones: a simulation seed set for
/// the budget (`BUDGET_SCRIPTS=N` runs more).
#[test]
fn budget_random_scripts() {
    let origin = Instant::now();
    let count: u64 = std::env::var("BUDGET_SCRIPTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64*: deterministic, good enough to pick bytes.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for script in 0..count {
        let len = 64 + (next() % 1500) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| (next() >> 56) as u8).collect();
        // Some scripts lean on one step, so floods and stalls come up, not only mixes.
        if script % 3 == 0 {
            let favourite = (next() % 8) as u8;
            for (i, byte) in data.iter_mut().enumerate().skip(1) {
                if i % 2 == 1 && next() % 4 != 0 {
                    *byte = favourite;
                }
            }
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tether_core::fuzzing::budget(origin, &data)
        }));
        assert!(outcome.is_ok(), "budget script {script} fails: {data:?}");
    }
}
