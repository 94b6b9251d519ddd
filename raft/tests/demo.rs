//! The README's main demo, as the test command runs it: the `demo` example starts three
//! `node` processes, kills the leader, restarts it, and must exit 0.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// `target/<profile>`, from this test's own path (`target/<profile>/deps/demo-…`).
fn profile_dir() -> PathBuf {
    let me = std::env::current_exe().expect("the test's path");
    me.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// The `demo` example, and the `node` beside it, as current as this crate's sources.
///
/// `cargo test` builds every example along with the tests, so normally they are there and
/// new. `cargo test --test demo` builds no example: then, or when a file of this crate is
/// newer than them, they are built here, with this test's profile.
fn demo_binary(profile: &Path) -> PathBuf {
    let examples = profile.join("examples");
    let exe = |name: &str| examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = [exe("demo"), exe("node")]
        .iter()
        .map(|path| modified(path))
        .min()
        .flatten();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&manifest.join("src"))
        .max(newest(&manifest.join("examples")))
        .max(modified(&manifest.join("Cargo.toml")));
    if built.is_none() || built < sources {
        eprintln!("building the examples: they are missing or older than the sources");
        let started = Instant::now();
        build_examples(profile);
        eprintln!("built in {:?}", started.elapsed());
    }
    exe("demo")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                newest(&path)
            } else {
                modified(&path)
            }
        })
        .max()
}

/// `cargo build -p tether-raft --examples`, with the profile this test was built with.
fn build_examples(profile: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "tether-raft", "--examples"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What cargo sets for this test alone: left in, build scripts that watch them (ring's)
    // would see them change, and the dependencies would be built again, here and after.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&&*name)
        {
            build.env_remove(&*name);
        }
    }
    match profile.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(other) => {
            build.args(["--profile", other]);
        }
    }
    let built = build.output().expect("run cargo");
    assert!(
        built.status.success(),
        "cargo build -p tether-raft --examples failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

#[test]
fn demo_kills_and_restarts_the_leader_and_exits_0() {
    let demo = demo_binary(&profile_dir());
    let started = Instant::now();
    let run = Command::new(&demo)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", demo.display()));
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the demo failed ({}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    // The story it tells, in order.
    let mut rest = &stdout[..];
    for step in [
        "node 3 listening on",
        "mgmt/init on node 1",
        "is the leader, term",
        "100 writes acknowledged",
        "SIGKILL to node",
        "is the new leader, term",
        "100 writes acknowledged",
        "restarted on the same address",
        "caught up in",
        "25 writes acknowledged",
        "225 of 225 as written",
        "mgmt/peers",
        "demo OK",
    ] {
        let at = rest
            .find(step)
            .unwrap_or_else(|| panic!("no {step:?} in order in:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
    assert!(
        stdout.contains(", by snapshot: ") || stdout.contains(", by the log: "),
        "the demo says how the restarted node caught up:\n{stdout}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
