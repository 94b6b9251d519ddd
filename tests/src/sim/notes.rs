//! Where servers record the notifications sessions send them, so the senders can check
//! order, duplicates and gaps against what arrived, across server crashes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::echo_server::NoteSink;
use super::node::{Ctx, Port};

/// The params of a numbered notification: who sent it and its number (1, 2, … per sender).
#[derive(Debug, Deserialize)]
struct Numbered {
    from: String,
    n: u64,
}

/// Notifications that arrived, by sender: (number, connection it came on), in arrival
/// order. Shared by the servers (which write it) and the senders (which check it); the
/// simulation is single-threaded, so an `Rc<RefCell<_>>` is enough.
#[derive(Debug, Default, Clone)]
pub struct NoteLedger(Rc<RefCell<BTreeMap<String, Arrivals>>>);

/// One sender's notifications as they arrived: (number, connection).
type Arrivals = Vec<(u64, u64)>;

impl NoteLedger {
    /// A sink for an [`EchoServer`](super::EchoServer) that records `note` notifications
    /// here and checks, as each arrives, that its sender's numbers only grow: in order,
    /// none twice. (Numbers are never reused, so a second arrival of the same number is a
    /// duplicate even on another connection.)
    pub fn sink(&self) -> NoteSink {
        let ledger = self.clone();
        Box::new(
            move |ctx: &Ctx, port: Port, method: &str, params: Option<&RawValue>| {
                if method != "note" {
                    ctx.fail(format_args!("{port}: unexpected notification {method:?}"));
                }
                let Some(note) =
                    params.and_then(|p| serde_json::from_str::<Numbered>(p.get()).ok())
                else {
                    ctx.fail(format_args!(
                        "{port}: note without a sender and number: {params:?}"
                    ));
                };
                let mut map = ledger.0.borrow_mut();
                let arrived = map.entry(note.from.clone()).or_default();
                if let Some(&(last, _)) = arrived.last() {
                    if note.n <= last {
                        ctx.fail(format_args!(
                            "{port}: note {} from {} arrived after note {last}: {}",
                            note.n,
                            note.from,
                            if note.n == last {
                                "a duplicate"
                            } else {
                                "out of order"
                            }
                        ));
                    }
                }
                arrived.push((note.n, port.conn()));
            },
        )
    }

    /// What arrived from `from`, in order: (number, connection).
    pub fn arrived(&self, from: &str) -> Vec<(u64, u64)> {
        self.0.borrow().get(from).cloned().unwrap_or_default()
    }
}
