//! The servers of a run, which of the two binaries each has, the reference of every ratio,
//! and the pairs the summary compares.

use std::path::{Path, PathBuf};

/// The two kinds of server binary: a WebSocket echo server and a JSON-RPC server with an
/// `echo` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `echo_server`.
    Echo,
    /// `rpc_server`.
    Rpc,
}

impl Binary {
    /// Both, in the order they are measured.
    pub const ALL: [Binary; 2] = [Binary::Echo, Binary::Rpc];

    /// The file name in a server's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Binary::Echo => "echo_server",
            Binary::Rpc => "rpc_server",
        }
    }
}

/// A server under test: a name and the binaries its directory holds (at least one).
#[derive(Debug)]
pub struct Server {
    pub name: String,
    echo: Option<PathBuf>,
    rpc: Option<PathBuf>,
}

impl Server {
    /// The path of `binary`, if this server has one.
    pub fn binary(&self, binary: Binary) -> Option<&Path> {
        match binary {
            Binary::Echo => self.echo.as_deref(),
            Binary::Rpc => self.rpc.as_deref(),
        }
    }
}

/// The reference of every ratio of `binary`'s figures: the first server that has it (the
/// script lists fastwebsockets and jsonrpsee first).
pub fn reference(servers: &[Server], binary: Binary) -> Option<usize> {
    servers.iter().position(|s| s.binary(binary).is_some())
}

/// The second of a pair: a server, or whichever server is the reference of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Server(usize),
    Reference,
}

/// The servers of `TETHER_BENCH_SERVERS` (or tether's two in `target/bench-runtimes/`) and
/// of `TETHER_BENCH_EXTRA_SERVERS`, each with the binaries found in its directory.
pub fn servers_from_env() -> Vec<Server> {
    let default_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the workspace")
        .join("target")
        .join("bench-runtimes");
    let mut dirs = match std::env::var("TETHER_BENCH_SERVERS") {
        Ok(list) => parse_servers(&list),
        Err(_) => vec![
            ("tokio".to_owned(), default_dir.join("tokio")),
            ("smol".to_owned(), default_dir.join("smol")),
        ],
    };
    if let Ok(list) = std::env::var("TETHER_BENCH_EXTRA_SERVERS") {
        dirs.extend(parse_servers(&list));
    }
    assert!(!dirs.is_empty(), "no servers to measure");
    dirs.into_iter()
        .map(|(name, dir)| {
            let found = |binary: Binary| {
                let path = dir.join(binary.file_name());
                path.is_file().then_some(path)
            };
            let server = Server {
                echo: found(Binary::Echo),
                rpc: found(Binary::Rpc),
                name,
            };
            assert!(
                server.echo.is_some() || server.rpc.is_some(),
                "{} has neither an echo_server nor an rpc_server in {}: build the servers \
                 with scripts/bench-runtimes.sh, or name their directories in \
                 TETHER_BENCH_SERVERS",
                server.name,
                dir.display()
            );
            server
        })
        .collect()
}

fn parse_servers(list: &str) -> Vec<(String, PathBuf)> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, dir) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("expected name=DIR, got {item:?}"));
            (name.trim().to_owned(), PathBuf::from(dir.trim()))
        })
        .collect()
}

/// The pairs of `TETHER_BENCH_PAIRS` (`a/b`, where `b` may be `ref`, the reference of each
/// workload), or by default: every server over the reference, except that a server named
/// `X-SUFFIX` where `X` is a server (`tokio-before`) is compared with `X`
/// (`tokio/tokio-before`) and with the `-SUFFIX` variant of the first server that has one
/// (`smol-before/tokio-before`).
pub fn pairs_from_env(servers: &[Server]) -> Vec<(usize, Target)> {
    let index = |name: &str| {
        servers
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("TETHER_BENCH_PAIRS names {name:?}, not a server"))
    };
    if let Ok(list) = std::env::var("TETHER_BENCH_PAIRS") {
        return list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (a, b) = pair
                    .split_once('/')
                    .unwrap_or_else(|| panic!("expected a/b, got {pair:?}"));
                let target = match b.trim() {
                    "ref" => Target::Reference,
                    name => Target::Server(index(name)),
                };
                (index(a.trim()), target)
            })
            .collect();
    }
    // `X-SUFFIX` is a variant of `X` (the same runtime from another checkout, say).
    let base_of = |name: &str| -> Option<(usize, String)> {
        servers.iter().enumerate().find_map(|(i, base)| {
            let suffix = name.strip_prefix(base.name.as_str())?;
            suffix.starts_with('-').then(|| (i, suffix.to_owned()))
        })
    };
    let variant_of = |base: usize, suffix: &str| {
        servers
            .iter()
            .position(|s| s.name == format!("{}{suffix}", servers[base].name))
    };
    let mut pairs: Vec<(usize, Target)> = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        match base_of(&server.name) {
            None => pairs.push((i, Target::Reference)),
            Some((base, suffix)) => {
                pairs.push((base, Target::Server(i)));
                // `smol-before/tokio-before`: how the two compared in that variant.
                let first = (0..servers.len()).find_map(|b| variant_of(b, &suffix));
                if let Some(j) = first.filter(|&j| j != i) {
                    pairs.push((i, Target::Server(j)));
                }
            }
        }
    }
    // A server over itself says nothing: the reference of every workload it has.
    pairs.retain(|&(a, target)| {
        target != Target::Reference
            || Binary::ALL
                .iter()
                .any(|&b| servers[a].binary(b).is_some() && reference(servers, b) != Some(a))
    });
    pairs
}
