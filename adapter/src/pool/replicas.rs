//! Calls to a set of replicas through the pool: [`Replicas`], with a quorum [`write`] and
//! a failover [`read`].
//!
//! [`write`]: Replicas::write
//! [`read`]: Replicas::read

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_lite::future;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::pool::{Lane, NodeId};
use tether_core::replica::{
    Candidate, Failover, HedgeBudget, Order, Outcome, Quorum, RetryBudget, RetryPolicy, Verdict,
};

use super::in_flight::InFlight;
use super::peers::decode;
use super::Peers;
use crate::rpc::{encode_params, CallError};
use crate::runtime::within;
use crate::Runtime;

/// How [`Replicas`] writes and reads.
///
/// | setting | default |
/// |---|---|
/// | `write_timeout` | 5 s for the whole write |
/// | `grace` | none: a write stops collecting once decided |
/// | `read_timeout` | 2 s per replica asked |
/// | `order` | [`Order::Latency`]: the fastest replica first |
/// | `hedge` | off; on, a second replica is asked after the first one's p95 latency, for at most 5 % more calls |
/// | `retry` | 3 retries after 500 ms, 1 s, 1.5 s, under a [`RetryBudget`] |
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// The deadline of a whole write (every replica's call has it).
    pub write_timeout: Duration,
    /// After a write is decided, keep collecting answers this long (within
    /// `write_timeout`) so its report names more replicas.
    pub grace: Option<Duration>,
    /// The deadline of each replica's call in a read: past it the read moves on.
    pub read_timeout: Duration,
    /// Which replica a read asks first.
    pub order: Order,
    /// Hedge reads: ask the next replica too once the first is slower than its p95.
    pub hedge: bool,
    /// Retries of a whole failed write or read. A write is retried as a whole, so it must
    /// be idempotent: set `retries` to 0 otherwise.
    pub retry: RetryPolicy,
    /// The lane every call goes on.
    pub lane: Lane,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            write_timeout: Duration::from_secs(5),
            grace: None,
            read_timeout: Duration::from_secs(2),
            order: Order::Latency,
            hedge: false,
            retry: RetryPolicy::default(),
            lane: Lane::Control,
        }
    }
}

/// How one replica's call in a write or read ended.
pub type NodeOutcome = Outcome<CallError>;

/// A replicated write's end: whether a majority of replicas succeeded, each replica's
/// outcome in replica order (`None`: no answer when collecting stopped), and the
/// answers of those that succeeded.
#[derive(Debug)]
pub struct WriteReport<T> {
    /// [`Verdict::Succeeded`] or [`Verdict::Failed`].
    pub verdict: Verdict,
    /// Every replica, in the order given.
    pub outcomes: Vec<(NodeId, Option<NodeOutcome>)>,
    /// The answers of the replicas that succeeded.
    pub answers: Vec<(NodeId, T)>,
    /// Attempts made (1 unless retried).
    pub attempts: u32,
}

impl<T> WriteReport<T> {
    /// The replicas whose call failed, timed out or was not sent.
    pub fn failed(&self) -> Vec<NodeId> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.as_ref().is_some_and(|o| !o.is_ok()))
            .map(|(node, _)| *node)
            .collect()
    }
}

/// A replicated write that did not reach a majority; the report says who failed how.
#[derive(Debug, thiserror::Error)]
#[error("the write reached {} of {} replicas, short of a majority", .report.answers.len(), .report.outcomes.len())]
pub struct WriteError<T: std::fmt::Debug> {
    /// What each replica did on the last attempt.
    pub report: WriteReport<T>,
}

/// A read that no replica answered; every replica asked and how it ended.
#[derive(Debug, thiserror::Error)]
#[error("no replica answered the read ({} asked)", .attempts.len())]
pub struct ReadError {
    /// The replicas asked on the last attempt, in order, and how each call ended.
    pub attempts: Vec<(NodeId, Option<NodeOutcome>)>,
}

/// A set of replicas called through a node's [`Peers`]: writes go to all of them and
/// need a majority; reads ask one at a time, moving on on error or timeout.
///
/// ```no_run
/// use tether_adapter::pool::{NodeId, Peers, ReplicaConfig, Replicas};
/// use tether_adapter::Runtime;
///
/// # async fn demo<R: Runtime>(peers: Peers<R>) -> Result<(), Box<dyn std::error::Error>> {
/// let replicas = Replicas::new(peers, [1, 2, 3].map(NodeId), ReplicaConfig::default());
/// let written = replicas.write::<_, bool>("kv/put", &("key", "value")).await?;
/// println!("written; failed: {:?}", written.failed());
/// let value: Option<String> = replicas.read("kv/get", &["key"]).await?;
/// # let _ = value;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Replicas<R: Runtime> {
    peers: Peers<R>,
    nodes: Vec<NodeId>,
    config: ReplicaConfig,
    budgets: Arc<Mutex<Budgets>>,
}

#[derive(Debug, Default)]
struct Budgets {
    hedge: HedgeBudget,
    retry: RetryBudget,
}

impl<R: Runtime> Replicas<R> {
    /// The replicas `nodes` (their addresses known to `peers`).
    pub fn new(
        peers: Peers<R>,
        nodes: impl IntoIterator<Item = NodeId>,
        config: ReplicaConfig,
    ) -> Replicas<R> {
        Replicas {
            peers,
            nodes: nodes.into_iter().collect(),
            config,
            budgets: Arc::default(),
        }
    }

    /// The replicas.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Calls `method` on every replica at once. Succeeds as soon as a majority has
    /// succeeded (failures never count), fails as soon as a majority can no longer
    /// succeed or at `write_timeout`; then retried under the policy and its budget.
    pub async fn write<P, T>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<WriteReport<T>, WriteError<T>>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned + std::fmt::Debug,
    {
        let params = match encode_params(params) {
            Ok(params) => params,
            Err(error) => return Err(self.unsent(error)),
        };
        let mut attempt = 1;
        loop {
            let mut report = self.write_once(method, params.as_deref()).await;
            report.attempts = attempt;
            if report.verdict == Verdict::Succeeded {
                return Ok(report);
            }
            match self.retry_after(attempt) {
                Some(delay) => within::<R, ()>(delay, future::pending()).await,
                None => return Err(WriteError { report }),
            };
            attempt += 1;
        }
    }

    async fn write_once<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> WriteReport<T> {
        self.record_request();
        let now = R::now();
        // A timeout too long for `Instant` is as good as none.
        let deadline = now
            .checked_add(self.config.write_timeout)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 32));
        let mut quorum = Quorum::new(self.nodes.iter().copied(), deadline);
        if let Some(grace) = self.config.grace {
            quorum = quorum.with_grace(grace);
        }
        let mut in_flight = InFlight::default();
        for node in quorum.replicas().to_vec() {
            let timeout = Some(self.config.write_timeout);
            match self
                .peers
                .start(node, self.config.lane, method, params, timeout)
            {
                Ok(call) => in_flight.push(node, call.wait()),
                Err(e) => {
                    quorum.record(R::now(), node, Outcome::NotSent);
                    tracing::debug!(%node, error = %e.error, "write not sent");
                }
            }
        }
        let mut answers = Vec::new();
        let mut timer = R::timer(deadline);
        while !quorum.is_finished() {
            match in_flight
                .next_until(&mut timer, quorum.poll_timeout())
                .await
            {
                Some((node, result)) => {
                    let outcome = match result.and_then(|raw| decode::<T>(node, &raw)) {
                        Ok(answer) => {
                            answers.push((node, answer));
                            Outcome::Ok
                        }
                        Err(e) => outcome_of(e.error),
                    };
                    quorum.record(R::now(), node, outcome);
                }
                None => quorum.handle_timeout(R::now()),
            }
        }
        // Dropping `in_flight` cancels the calls still unanswered.
        WriteReport {
            verdict: quorum.verdict(),
            outcomes: quorum.into_report(),
            answers,
            attempts: 1,
        }
    }

    /// Asks the replicas one at a time (fastest first by default) until one answers;
    /// moves on on an error or after `read_timeout`; with `hedge`, asks the next one too
    /// when the first is slower than usual. Retried as a whole under the policy.
    pub async fn read<P, T>(&self, method: &str, params: &P) -> Result<T, ReadError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let params = match encode_params(params) {
            Ok(params) => params,
            Err(error) => {
                return Err(ReadError {
                    attempts: vec![(NodeId(0), Some(Outcome::Failed(error)))],
                })
            }
        };
        let mut attempt = 1;
        loop {
            match self.read_once(method, params.as_deref()).await {
                Ok(value) => return Ok(value),
                Err(error) => match self.retry_after(attempt) {
                    Some(delay) => within::<R, ()>(delay, future::pending()).await,
                    None => return Err(error),
                },
            };
            attempt += 1;
        }
    }

    async fn read_once<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<T, ReadError> {
        self.record_request();
        let stats = self.peers.stats();
        let candidates = self.nodes.iter().map(|node| {
            let peer = stats.peers.iter().find(|p| p.node == *node);
            let mut candidate = Candidate::new(*node);
            if let Some(p50) = peer.and_then(|p| p.latency_p50) {
                candidate = candidate.latency(p50);
            }
            if self.config.hedge {
                if let Some(p95) = peer.and_then(|p| p.latency_p95) {
                    candidate = candidate.hedge_after(p95);
                }
            }
            candidate
        });
        let mut read: Failover<CallError> = Failover::new(candidates, self.config.order);
        let mut in_flight = InFlight::default();
        let mut timer = R::timer(R::now());
        loop {
            loop {
                let next = {
                    let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
                    read.next(R::now(), &mut budgets.hedge)
                };
                let Some(node) = next else {
                    break;
                };
                let timeout = Some(self.config.read_timeout);
                match self
                    .peers
                    .start(node, self.config.lane, method, params, timeout)
                {
                    Ok(call) => in_flight.push(node, call.wait()),
                    Err(e) => {
                        read.record(node, Outcome::NotSent);
                        tracing::debug!(%node, error = %e.error, "read not sent");
                    }
                }
            }
            if read.verdict() == Verdict::Failed {
                return Err(ReadError {
                    attempts: read.into_attempts(),
                });
            }
            match in_flight.next_until(&mut timer, read.poll_timeout()).await {
                Some((node, result)) => match result.and_then(|raw| decode::<T>(node, &raw)) {
                    Ok(value) => {
                        read.record(node, Outcome::Ok);
                        // The rest are cancelled as `in_flight` drops.
                        return Ok(value);
                    }
                    Err(e) => {
                        in_flight.drop_node(node);
                        read.record(node, outcome_of(e.error));
                    }
                },
                None => read.handle_timeout(R::now()),
            }
        }
    }

    fn record_request(&self) {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        budgets.hedge.record_request();
        budgets.retry.record_request(R::now());
    }

    /// The delay before attempt `attempt + 1`, or `None` to give up.
    fn retry_after(&self, attempt: u32) -> Option<Duration> {
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        // Out of attempts, or over the budget: either way, give up.
        self.config
            .retry
            .retry_after(attempt, R::now(), &mut budgets.retry)
            .ok()
    }

    /// A write whose params could not be encoded: sent to nobody.
    fn unsent<T: std::fmt::Debug>(&self, error: CallError) -> WriteError<T> {
        tracing::debug!(%error, "write not sent");
        WriteError {
            report: WriteReport {
                verdict: Verdict::Failed,
                outcomes: self
                    .nodes
                    .iter()
                    .map(|node| (*node, Some(Outcome::NotSent)))
                    .collect(),
                answers: Vec::new(),
                attempts: 0,
            },
        }
    }
}

/// A replica's call error as the replica logic counts it.
fn outcome_of(error: CallError) -> NodeOutcome {
    match error {
        CallError::Timeout => Outcome::TimedOut,
        error => Outcome::Failed(error),
    }
}
