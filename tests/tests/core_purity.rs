//! `tether-core` stays sans-IO: its sources use no clock, OS randomness, socket, file,
//! thread or async runtime, and its dependency tree holds no crate that would bring one.
//! (The scanner's own tests, on snippets that must fail, are in `src/purity.rs`.)

use std::process::Command;

use tether_tests::purity::{forbidden_crates, scan_dir, scan_source, FORBIDDEN};
use tether_tests::repo_root;

#[test]
fn core_sources_use_no_clock_randomness_io_or_runtime() {
    let core_src = repo_root().join("core/src");
    let (findings, scanned) = scan_dir(&core_src).expect("read core/src");
    // Guards against a wrong path scanning nothing and passing.
    assert!(
        scanned >= 5,
        "only {scanned} files scanned under {}",
        core_src.display()
    );
    let report: Vec<String> = findings
        .iter()
        .map(|f| {
            let why = FORBIDDEN
                .iter()
                .find(|(p, _)| *p == f.pattern)
                .map_or("", |(_, why)| *why);
            format!(
                "{}:{}: `{}` ({why}): {}",
                f.path.display(),
                f.line,
                f.pattern,
                f.text
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "tether-core must stay sans-IO:\n{}",
        report.join("\n")
    );
}

/// The same scanner, fed a core-like file with a clock read, must fail: proof that the
/// test above can catch something.
#[test]
fn the_scan_fails_on_a_core_file_that_reads_the_clock() {
    let bad = "//! Timers.\nuse std::time::Instant;\npub fn deadline() -> Instant {\n    Instant::now()\n}\n";
    let scan = scan_source(bad);
    assert_eq!(scan.findings.len(), 1, "{:?}", scan.findings);
    assert_eq!(scan.findings[0].pattern, "Instant::now");
    assert_eq!(scan.findings[0].line, 4);
}

#[test]
fn core_dependency_tree_has_no_runtime_io_or_os_randomness() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = repo_root();
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "tree",
            "-p",
            "tether-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .expect("run cargo tree");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The first line names the root; without it the output is not what we think it is.
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("tether-core ")),
        "unexpected cargo tree output:\n{stdout}"
    );
    // rand_core is in the tree today (it backs the seeded ChaCha RNG); with its `os_rng`
    // feature on it would pull getrandom, so getrandom's absence is what proves the core
    // cannot reach OS randomness.
    assert_eq!(
        forbidden_crates(&stdout),
        Vec::<String>::new(),
        "tether-core's normal dependencies:\n{stdout}"
    );
}
