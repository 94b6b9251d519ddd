//! What the simulator drives: a [`Node`] owns state machines, one per port (a port is one
//! end of a simulated connection), plus whatever application logic it plays. New kinds of
//! nodes (sessions, a peer pool) plug in by implementing this trait.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::rng::{SimRng, Trace};
use super::rpc_nodes::ClientStats;

/// What a node may use while it handles an input: the virtual time, the run's one source
/// of randomness, and the trace every observation goes into.
#[derive(Debug)]
pub struct Ctx {
    /// The seed of this run, named in every failure.
    pub seed: u64,
    /// The fixed origin of virtual time (the one real `Instant` a run reads).
    pub origin: Instant,
    /// Virtual time now; only the simulator moves it.
    pub now: Instant,
    /// The run's randomness; nodes draw from it in the simulator's fixed order.
    pub rng: SimRng,
    /// Hash of all bytes delivered and events seen.
    pub trace: Trace,
    /// Call counters of all clients, for the run summary.
    pub calls: ClientStats,
}

impl Ctx {
    /// Virtual time since the start of the run.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.origin)
    }

    /// Fails the run: panics with the seed, the virtual time and how to replay it.
    #[track_caller]
    pub fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!(
            "simulation seed {} failed at t={:?}: {what}\nreplay with: SIM_SEED={} cargo test -p tether-tests --test simulation",
            self.seed,
            self.elapsed(),
            self.seed
        )
    }
}

/// A participant in the simulation. The simulator calls the input methods with
/// `ctx.now` set, then drains [`poll_transmit`](Node::poll_transmit) on every port, like
/// the run loop of the crate docs of `tether-core`. A node drains its machines' events
/// itself and checks its own invariants, failing through [`Ctx::fail`].
pub trait Node {
    /// A short name for traces and failures ("client 1").
    fn name(&self) -> String;
    /// How many ports (connection ends) the node has.
    fn ports(&self) -> usize;
    /// Bytes arrived on `port`.
    fn handle_input(&mut self, ctx: &mut Ctx, port: usize, data: &[u8]);
    /// The peer of `port` closed its write side, or the link was reset.
    fn handle_eof(&mut self, ctx: &mut Ctx, port: usize);
    /// Fires every deadline at or before `ctx.now`: the machines' and the node's own.
    /// Harmless when called early.
    fn handle_timeout(&mut self, ctx: &mut Ctx);
    /// The earliest instant the node wants `handle_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next bytes the node writes on `port`.
    fn poll_transmit(&mut self, port: usize) -> Option<Bytes>;
    /// The machine of `port` is finished: its transport may be dropped (the peer reads EOF).
    fn port_finished(&self, port: usize) -> bool;
    /// Checks that hold at every step; called by the simulator after every input.
    fn check(&self, ctx: &Ctx);
    /// Checks that hold once the run has gone quiet (nothing in flight, no deadline left).
    fn check_done(&self, ctx: &Ctx);
}
