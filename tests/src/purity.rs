//! A source scan that keeps `tether-core` sans-IO: no clock, no OS randomness, no
//! sockets, no files, no threads, no async runtime.
//!
//! It is a text scan, not a compiler pass, so it can be fooled (a `use std::{net}` group,
//! a macro that builds a path). Clippy's `disallowed-methods` in `core/clippy.toml` covers
//! some of the same ground from the compiler's side; this scan is the cheap, always-on
//! net that also catches crates and `async fn`.

use std::path::{Path, PathBuf};

/// Text that must not appear in the core's non-test code, and why.
pub const FORBIDDEN: &[(&str, &str)] = &[
    ("Instant::now", "the core takes `now` as an input"),
    ("SystemTime", "the core never reads a clock"),
    ("std::net", "the core does no I/O"),
    ("TcpStream", "the core does no I/O"),
    ("TcpListener", "the core does no I/O"),
    ("UdpSocket", "the core does no I/O"),
    ("std::fs", "the core does no I/O"),
    ("std::thread::spawn", "the core spawns nothing"),
    ("thread_rng", "randomness comes from the caller's seed"),
    ("OsRng", "randomness comes from the caller's seed"),
    ("getrandom", "randomness comes from the caller's seed"),
    ("from_entropy", "randomness comes from the caller's seed"),
    ("from_os_rng", "randomness comes from the caller's seed"),
    ("tokio", "the core is runtime-free"),
    ("async_std", "the core is runtime-free"),
    ("smol", "the core is runtime-free"),
    ("async fn", "the core is runtime-free: no futures"),
];

/// One forbidden use found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, as given to [`scan_dir`] (empty for [`scan_source`]).
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The forbidden pattern that matched.
    pub pattern: &'static str,
    /// The offending line, trimmed.
    pub text: String,
}

/// What one file's scan found: forbidden uses, and the names of `#[cfg(test)] mod x;`
/// declarations whose files are test-only and so are skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceScan {
    /// Forbidden uses in non-test, non-comment lines.
    pub findings: Vec<Finding>,
    /// Modules declared as `#[cfg(test)] mod name;` (their files are test code).
    pub test_modules: Vec<String>,
}

/// Scans one file's text. Full-line comments (`//`, `///`, `//!`) are ignored, and so is
/// the item that follows a `#[cfg(test)]` attribute: unit tests may use a real clock to
/// make an origin `Instant`, which is not the core reading time.
pub fn scan_source(source: &str) -> SourceScan {
    let mut scan = SourceScan::default();
    let mut lines = source.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed == "#[cfg(test)]" {
            skip_test_item(&mut lines, &mut scan.test_modules);
            continue;
        }
        for &(pattern, _) in FORBIDDEN {
            if contains_at_word_start(line, pattern) {
                scan.findings.push(Finding {
                    path: PathBuf::new(),
                    line: index + 1,
                    pattern,
                    text: trimmed.to_owned(),
                });
            }
        }
    }
    scan
}

/// Consumes the item after a `#[cfg(test)]`: further attributes, then either a one-line
/// item ending in `;` (recording `mod name;`) or a braced block, counted by braces.
fn skip_test_item<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    test_modules: &mut Vec<String>,
) {
    let mut depth: i64 = 0;
    let mut opened = false;
    for (_, line) in lines {
        let trimmed = line.trim();
        if !opened && (trimmed.is_empty() || trimmed.starts_with("#[") || trimmed.starts_with("//"))
        {
            continue;
        }
        if !opened {
            if let Some(name) = declared_module(trimmed) {
                test_modules.push(name);
                return;
            }
        }
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if (opened && depth <= 0) || (!opened && trimmed.ends_with(';')) {
            return;
        }
    }
}

/// `mod name;` or `pub(crate) mod name;` → `name`.
fn declared_module(trimmed: &str) -> Option<String> {
    let rest = trimmed.strip_suffix(';')?;
    let rest = rest.rsplit_once("mod ")?.1.trim();
    let ok = !rest.is_empty() && rest.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| rest.to_owned())
}

/// `pattern` occurs in `line` where the character before it cannot continue an
/// identifier (so `smol` does not match `unsmoldered`, but `tokio_util` does match).
fn contains_at_word_start(line: &str, pattern: &str) -> bool {
    line.match_indices(pattern).any(|(at, _)| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// Scans every `.rs` file under `dir`, skipping the files of `#[cfg(test)] mod x;`
/// modules. Returns every finding and the number of files scanned.
pub fn scan_dir(dir: &Path) -> std::io::Result<(Vec<Finding>, usize)> {
    let mut findings = Vec::new();
    let mut scanned = 0;
    let mut skip: Vec<PathBuf> = Vec::new();
    let mut files = Vec::new();
    collect_rs_files(dir, &mut files)?;
    // Parents before children (`lib.rs`, `ws/mod.rs` before `ws/x.rs`), so a test-only
    // module is known before its file comes up.
    files.sort_by_key(|p| (p.components().count(), p.clone()));
    for file in files {
        if skip
            .iter()
            .any(|s| file.starts_with(s) || file == s.with_extension("rs"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&file)?;
        let scan = scan_source(&text);
        scanned += 1;
        let module_dir = module_dir_of(&file);
        skip.extend(scan.test_modules.iter().map(|m| module_dir.join(m)));
        findings.extend(scan.findings.into_iter().map(|f| Finding {
            path: file.clone(),
            ..f
        }));
    }
    Ok((findings, scanned))
}

/// Where the children of the module in `file` live: beside `lib.rs`/`mod.rs`/`main.rs`,
/// in `foo/` for `foo.rs`.
fn module_dir_of(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new(""));
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("lib" | "mod" | "main") | None => parent.to_path_buf(),
        Some(stem) => parent.join(stem),
    }
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Crates that must not be in the core's normal dependency tree: async runtimes and
/// their I/O layers, and the OS randomness crate.
pub const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "async-io",
    "async-executor",
    "futures",
    "futures-io",
    "futures-util",
    "mio",
    "getrandom",
    "socket2",
];

/// Crate names in the output of `cargo tree --prefix none` (`name vX.Y.Z (…)` per line)
/// that are in [`FORBIDDEN_CRATES`].
pub fn forbidden_crates(tree_output: &str) -> Vec<String> {
    let mut found: Vec<String> = tree_output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_CRATES.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(src: &str) -> Vec<&'static str> {
        scan_source(src)
            .findings
            .iter()
            .map(|f| f.pattern)
            .collect()
    }

    #[test]
    fn flags_a_clock_a_socket_a_runtime_and_os_randomness() {
        let bad = "use std::time::Instant;\n\
                   fn f() {\n\
                   let t = Instant::now();\n\
                   let s = std::net::TcpStream::connect(\"127.0.0.1:1\");\n\
                   let r = rand::rngs::OsRng;\n\
                   }\n\
                   pub async fn g() { tokio::task::yield_now().await }\n";
        let found = patterns(bad);
        for p in [
            "Instant::now",
            "std::net",
            "TcpStream",
            "OsRng",
            "async fn",
            "tokio",
        ] {
            assert!(found.contains(&p), "{p} not flagged in {found:?}");
        }
        let lines: Vec<usize> = scan_source(bad).findings.iter().map(|f| f.line).collect();
        assert!(lines.contains(&3), "Instant::now is on line 3: {lines:?}");
    }

    #[test]
    fn ignores_comments_and_cfg_test_items() {
        let ok = "//! The core never calls Instant::now or tokio.\n\
                  /// No SystemTime here.\n\
                  fn f(now: Instant) {}\n\
                  #[cfg(test)]\n\
                  mod tests {\n\
                  fn t() { let t0 = Instant::now(); if true { } }\n\
                  }\n";
        assert_eq!(patterns(ok), Vec::<&str>::new());
        // Code after the skipped test module is scanned again.
        let after = format!("{ok}fn late() {{ std::thread::spawn(|| ()); }}\n");
        assert_eq!(patterns(&after), vec!["std::thread::spawn"]);
    }

    #[test]
    fn records_test_only_module_files() {
        let scan =
            scan_source("mod frame;\n#[cfg(test)]\nmod pair;\n#[cfg(test)]\npub(crate) mod sim;\n");
        assert_eq!(scan.test_modules, vec!["pair".to_owned(), "sim".to_owned()]);
        assert!(scan.findings.is_empty());
    }

    #[test]
    fn matches_at_identifier_starts_only() {
        assert_eq!(patterns("let unsmoldered = 1;"), Vec::<&str>::new());
        assert_eq!(patterns("use tokio_util::codec;"), vec!["tokio"]);
    }

    #[test]
    fn finds_forbidden_crates_in_cargo_tree_output() {
        let tree = "tether-core v0.1.0 (/x/core)\nbytes v1.12.2\ngetrandom v0.3.1\ntokio v1.54.1\n\
                    tokio-macros v2.5.0 (proc-macro)\n";
        assert_eq!(forbidden_crates(tree), vec!["getrandom", "tokio"]);
        assert!(forbidden_crates("tether-core v0.1.0\nbytes v1.12.2\n").is_empty());
    }
}
