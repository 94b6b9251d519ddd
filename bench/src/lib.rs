//! Shared pieces of tether's benchmarks: the client frames the benches feed to servers,
//! the fixed upgrade request, run-to-run statistics and table printing, the echo
//! harness ([`echo`]) that `echo` (`ws://`) and `wss` share, and the server processes and
//! many-connection load of `runtimes` ([`runtimes`]) with its idle connections, memory and
//! handshake timing ([`density`]).
//!
//! The bench targets live in `benches/` (run them with `cargo bench -p tether-bench`); this
//! library exists so that every peer is fed byte-for-byte the same input and every result
//! is summarised the same way.

pub mod density;
pub mod echo;
pub mod runtimes;
pub mod server_thread;

use std::fmt::Write as _;
use std::time::Duration;

use bytes::BytesMut;
use tether_core::frame::{encode_frame, OpCode};

/// The mask every generated client frame carries. A fixed mask keeps inputs reproducible;
/// it costs the receiver exactly what a random one would, since unmasking is data-blind.
pub const CLIENT_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The `Sec-WebSocket-Key` of [`upgrade_request`], the sample nonce of RFC 6455 §1.3.
pub const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A minimal valid client upgrade request for `host` (`host:port`), ending with the blank
/// line. Written out by hand so that the load generator depends on no library under test
/// for its handshake.
pub fn upgrade_request(host: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {CLIENT_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n"
    )
    .into_bytes()
}

/// A payload of `len` bytes. Varied bytes rather than zeros, so that no receiver can
/// benefit from a degenerate mask/unmask pattern.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// `count` identical client-to-server binary frames of `payload_len` bytes each, masked
/// with [`CLIENT_MASK`], back to back. Returns the buffer and the length of one frame, so
/// callers can slice whole frames out of it.
pub fn masked_binary_frames(count: usize, payload_len: usize) -> (Vec<u8>, usize) {
    let body = payload(payload_len);
    let mut one = BytesMut::new();
    encode_frame(&mut one, true, OpCode::Binary, Some(CLIENT_MASK), &body);
    let mut all = Vec::with_capacity(one.len() * count);
    for _ in 0..count {
        all.extend_from_slice(&one);
    }
    (all, one.len())
}

/// A masked client close frame with status 1000, to end a connection politely.
pub fn masked_close_frame() -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(
        &mut out,
        true,
        OpCode::Close,
        Some(CLIENT_MASK),
        &1000u16.to_be_bytes(),
    );
    out.to_vec()
}

/// The median of `values` (mean of the middle two for an even count). Medians rather than
/// means because a shared machine produces occasional slow outliers, not symmetric noise.
///
/// # Panics
/// If `values` is empty or holds a NaN: both are bugs in the caller.
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of no runs");
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("rates are never NaN"));
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Reads a positive integer knob from the environment, so a run can be shortened while
/// developing or lengthened for final figures without editing code.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("ignoring {name}={v:?}: expected a positive integer");
                default
            }
        },
        Err(_) => default,
    }
}

/// A comma-separated list of positive integers from the environment, or `default`.
pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    let Ok(value) = std::env::var(name) else {
        return default.to_vec();
    };
    let list: Option<Vec<usize>> = value
        .split(',')
        .map(|n| n.trim().parse().ok().filter(|&n| n > 0))
        .collect();
    match list {
        Some(list) if !list.is_empty() => list,
        _ => {
            eprintln!("ignoring {name}={value:?}: expected positive integers, comma-separated");
            default.to_vec()
        }
    }
}

/// The `p`th percentile (nearest rank) of `values`; `None` if there are none.
pub fn percentile(values: &[Duration], p: usize) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Like [`env_u64`] for a duration given in milliseconds.
pub fn env_millis(name: &str, default: Duration) -> Duration {
    Duration::from_millis(env_u64(name, default.as_millis() as u64))
}

/// `1234567.0` as `1.23 M`: three significant figures are all noisy runs can support.
pub fn si(value: f64) -> String {
    let (scaled, unit) = if value >= 1e9 {
        (value / 1e9, " G")
    } else if value >= 1e6 {
        (value / 1e6, " M")
    } else if value >= 1e3 {
        (value / 1e3, " k")
    } else {
        (value, " ")
    };
    if scaled >= 100.0 {
        format!("{scaled:.0}{unit}")
    } else if scaled >= 10.0 {
        format!("{scaled:.1}{unit}")
    } else {
        format!("{scaled:.2}{unit}")
    }
}

/// A ratio as `1.23x`, the form every comparison is reported in.
pub fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}x", numerator / denominator)
    } else {
        "n/a".to_owned()
    }
}

/// A plain-text table: left-aligned first column, right-aligned figures, so that columns
/// of numbers line up for the eye without any terminal support.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it should have as many cells as the header.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, under a rule.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.len());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            for (i, cell) in cells.iter().enumerate().take(columns) {
                if i == 0 {
                    let _ = write!(out, "{cell:<w$}", w = widths[i]);
                } else {
                    let _ = write!(out, "  {cell:>w$}", w = widths[i]);
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        let total: usize = widths.iter().sum::<usize>() + 2 * (columns.saturating_sub(1));
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let ms: Vec<Duration> = (1..=200).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&ms, 99), Some(Duration::from_millis(198)));
        assert_eq!(percentile(&ms[..1], 99), Some(Duration::from_millis(200)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn si_keeps_three_figures() {
        assert_eq!(si(1_234_567.0), "1.23 M");
        assert_eq!(si(45_600.0), "45.6 k");
        assert_eq!(si(999.0), "999 ");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["name", "rate"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "22".into()]);
        assert_eq!(
            t.render(),
            "name    rate\n------------\na          1\nlonger    22\n"
        );
    }
}
