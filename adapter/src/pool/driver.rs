//! The one driver of a pool, shared by every task of it: the core's [`Pool`] behind a
//! lock, and what its events ask of the runtime.
//!
//! quinn's shape: the state machine lives once, in a mutex; each transport has a task
//! (see [`link`](super::link)) that only moves bytes, and one ticker task sleeps until
//! the pool's next deadline. Whoever feeds the pool an input (a link's task, the ticker,
//! a caller, a handler with its answer) takes its outputs in the same locked section
//! ([`Core::turn`]) and acts on them after unlocking: wakes the link tasks that have bytes
//! to write (the pool's ready queue, so only those), dials, hands answers to callers,
//! starts handlers. No lock is held across an await, and no event scans every link.
//!
//! The lock is never held for work that grows with a message's size: a call's request is
//! encoded before it is taken ([`Request`](tether_core::rpc::Request)), and a large
//! incoming message is parsed after the pool hands it out (`Event::Parse`). So a 64 MiB
//! message on a node's bulk link holds up nothing on its control link.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::value::RawValue;
use tether_core::handshake::Request;
use tether_core::pool::{Admission, Event, LinkId, NodeId, Observation, PeerState, Pool};
use tether_core::rpc::{ErrorObject, ReplyTo, Unparsed};
use tether_core::session::CallId;
use tether_tls::ClientTls;
use tokio::sync::{watch, Notify};
use tracing::debug;

use super::observe::Observer;
use super::PeersConfig;
use crate::edge::{Edge, Gate, Verdict};
use crate::rpc::session::Done;
use crate::rpc::{CallError, Outcome, Router};
use crate::{ConnectionId, Context, Identity, Runtime, Target};

/// What the pool's lock guards: the pool and the adapter's tables beside it.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) pool: Pool,
    /// Where each node is dialed.
    pub(crate) addresses: BTreeMap<NodeId, Arc<Target>>,
    /// Our calls' callers.
    pub(crate) waiters: BTreeMap<CallId, Done>,
    /// The task of each link with a transport, woken when the link has bytes to write.
    pub(crate) wakes: BTreeMap<LinkId, Arc<Notify>>,
    /// What the handlers of each link with a transport are told of the caller.
    pub(crate) contexts: BTreeMap<LinkId, Context>,
    /// Accepted links whose upgrade waits for the hook (`Admission::hook` set).
    pub(crate) gates: BTreeMap<LinkId, Gate>,
    /// The deadline the ticker last heard of.
    armed: Option<Instant>,
}

/// What the pool asked for, done after the lock is released.
enum Action {
    Wake(Arc<Notify>),
    Tick,
    Dial {
        link: LinkId,
        node: NodeId,
        target: Option<Arc<Target>>,
    },
    Done(Done, Result<Box<RawValue>, CallError>),
    Serve {
        link: LinkId,
        reply: Option<ReplyTo>,
        method: String,
        params: Option<Box<RawValue>>,
        context: Context,
    },
    /// An accepted link's upgrade, for the hook to decide outside the lock.
    Admit {
        link: LinkId,
        gate: Option<Gate>,
        request: Box<Request>,
    },
    /// A large message to parse outside the lock.
    Parse {
        link: LinkId,
        unparsed: Unparsed,
    },
    Finished,
    /// A node's link came up or went down: reported.
    Peer(NodeId, PeerState),
    /// Something the pool measured: reported.
    Observed(Observation),
}

impl Core {
    pub(crate) fn new(pool: Pool) -> Core {
        Core {
            pool,
            addresses: BTreeMap::new(),
            waiters: BTreeMap::new(),
            wakes: BTreeMap::new(),
            contexts: BTreeMap::new(),
            gates: BTreeMap::new(),
            armed: None,
        }
    }

    /// What the handlers of `link` are told of the caller (a link's transport task
    /// registers it; a link without one is not read, so this is for safety only).
    fn context(&self, link: LinkId) -> Context {
        self.contexts
            .get(&link)
            .cloned()
            .unwrap_or_else(|| Context::new(Identity::anonymous(), None, ConnectionId::next()))
    }

    /// Forgets what the adapter kept for `link`, whose transport task ends.
    pub(crate) fn forget(&mut self, link: LinkId) {
        self.wakes.remove(&link);
        self.contexts.remove(&link);
        self.gates.remove(&link);
    }

    /// Takes every output of the pool: events, links with bytes, the next deadline.
    fn turn(&mut self, actions: &mut Vec<Action>) {
        // Reported before the callers hear of their calls' ends: a caller that has its
        // answer finds its call counted.
        while let Some(observation) = self.pool.poll_observation() {
            actions.push(Action::Observed(observation));
        }
        while let Some(event) = self.pool.poll_event() {
            match event {
                Event::Connect { link, node } => {
                    let target = self.addresses.get(&node).cloned();
                    actions.push(Action::Dial { link, node, target });
                }
                Event::Disconnect { link } => {
                    if let Some(wake) = self.wakes.get(&link) {
                        actions.push(Action::Wake(wake.clone()));
                    }
                }
                Event::Peer { node, state } => actions.push(Action::Peer(node, state)),
                Event::Upgrade { link, request } => actions.push(Action::Admit {
                    link,
                    gate: self.gates.remove(&link),
                    request,
                }),
                Event::Parse { link, unparsed } => actions.push(Action::Parse { link, unparsed }),
                Event::Response { call, result, .. } => {
                    if let Some(done) = self.waiters.remove(&call) {
                        actions.push(Action::Done(done, result.map_err(CallError::Rpc)));
                    }
                }
                Event::Ended { call, reason, .. } => {
                    if let Some(done) = self.waiters.remove(&call) {
                        actions.push(Action::Done(done, Err(reason.into())));
                    }
                }
                Event::Request {
                    link,
                    reply,
                    method,
                    params,
                    ..
                } => actions.push(Action::Serve {
                    link,
                    reply: Some(reply),
                    method,
                    params,
                    context: self.context(link),
                }),
                Event::Notification {
                    link,
                    method,
                    params,
                    ..
                } => actions.push(Action::Serve {
                    link,
                    reply: None,
                    method,
                    params,
                    context: self.context(link),
                }),
            }
        }
        while let Some(link) = self.pool.poll_ready() {
            if let Some(wake) = self.wakes.get(&link) {
                actions.push(Action::Wake(wake.clone()));
            }
        }
        let next = self.pool.poll_timeout();
        if next != self.armed {
            self.armed = next;
            actions.push(Action::Tick);
        }
        if self.pool.is_finished() {
            actions.push(Action::Finished);
        }
    }
}

/// Everything the tasks of one pool share.
#[derive(Debug)]
pub(crate) struct Shared<R: Runtime> {
    core: Mutex<Core>,
    pub(crate) config: PeersConfig,
    pub(crate) client_tls: Option<Arc<ClientTls>>,
    router: Router,
    /// Reports what the pool measured and what changed.
    pub(crate) observer: Observer,
    /// Counts the connections accepted on the bound port, against the admission limits.
    pub(crate) edge: Arc<Edge>,
    /// Wakes the ticker: the next deadline may have moved.
    pub(crate) ticker: Notify,
    /// True once the pool is shut down and every link gone.
    pub(crate) finished: watch::Sender<bool>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Shared<R> {
    pub(crate) fn new(
        pool: Pool,
        config: PeersConfig,
        router: Router,
        observer: Observer,
    ) -> Shared<R> {
        Shared {
            core: Mutex::new(Core::new(pool)),
            observer,
            client_tls: config.client_tls.clone().map(Arc::new),
            edge: Edge::new(config.admission.clone()),
            config,
            router,
            ticker: Notify::new(),
            finished: watch::Sender::new(false),
            runtime: PhantomData,
        }
    }

    /// Runs `f` on the core, then acts on what the pool asks for once unlocked.
    pub(crate) fn locked<T>(self: &Arc<Self>, f: impl FnOnce(&mut Core) -> T) -> T {
        let mut actions = Vec::new();
        let value = {
            let mut core = self.core.lock().unwrap_or_else(PoisonError::into_inner);
            let value = f(&mut core);
            core.turn(&mut actions);
            value
        };
        for action in actions {
            self.act(action);
        }
        value
    }

    fn act(self: &Arc<Self>, action: Action) {
        match action {
            Action::Wake(wake) => wake.notify_one(),
            Action::Tick => self.ticker.notify_one(),
            Action::Dial { link, node, target } => {
                let addr = target.as_deref().map(Target::host_header);
                let span = tracing::debug_span!(
                    "link",
                    %link,
                    generation = link.generation(),
                    node = node.0,
                    addr,
                    dialed = true
                );
                R::spawn(tracing::Instrument::instrument(
                    super::link::dial(self.clone(), link, target),
                    span,
                ));
            }
            Action::Done(done, result) => done.send(result),
            Action::Serve {
                link,
                reply,
                method,
                params,
                context,
            } => self.serve(link, reply, &method, params, context),
            Action::Admit {
                link,
                gate,
                request,
            } => self.admit(link, gate, request),
            Action::Parse { link, unparsed } => {
                // The one part of taking a message whose time grows with its size: done
                // here, with the lock released, so no other link waits for it.
                let parsed = unparsed.parse();
                self.locked(|core| core.pool.handle_parsed(R::now(), link, parsed));
            }
            Action::Peer(node, state) => self.observer.peer_state(node, state),
            Action::Observed(observation) => self.observer.observed(&observation),
            Action::Finished => {
                self.finished.send_replace(true);
                self.ticker.notify_one();
            }
        }
    }

    /// Runs the handler of a peer's request (or notification) in a task of its own; its
    /// answer goes back on the link it came on.
    fn serve(
        self: &Arc<Self>,
        link: LinkId,
        reply: Option<ReplyTo>,
        method: &str,
        params: Option<Box<RawValue>>,
        context: Context,
    ) {
        match (self.router.dispatch(method, params, context), reply) {
            (Some(handler), reply) => {
                let shared = self.clone();
                R::spawn(async move {
                    let outcome = handler.await;
                    if let Some(reply) = reply {
                        shared.respond(link, reply, &outcome);
                    }
                });
            }
            (None, Some(reply)) => self.respond(link, reply, &Err(ErrorObject::method_not_found())),
            (None, None) => debug!(method, "notification for an unknown method dropped"),
        }
    }

    /// Decides an accepted link's upgrade with the hook (outside the lock: the hook is the
    /// application's code), then lets the pool decide the rest.
    fn admit(self: &Arc<Self>, link: LinkId, gate: Option<Gate>, request: Box<Request>) {
        // Every accepted link gets a gate when a hook is set; without one, fail closed.
        let Some(mut gate) = gate else {
            debug!(%link, "no gate for the upgrade");
            self.locked(|core| core.pool.admit(R::now(), link, Admission::Reject(500)));
            return;
        };
        let (_, verdict) = gate.decide(request);
        self.locked(|core| {
            let admission = match verdict {
                Verdict::Accept(context) => {
                    core.contexts.insert(link, context);
                    Admission::Accept
                }
                Verdict::Reject(status) => Admission::Reject(status),
                Verdict::Respond(response) => Admission::Answer(response),
            };
            core.pool.admit(R::now(), link, admission);
        });
    }

    fn respond(self: &Arc<Self>, link: LinkId, reply: ReplyTo, outcome: &Outcome) {
        let result = match outcome {
            Ok(value) => Ok(&**value),
            Err(error) => Err(error),
        };
        self.locked(|core| {
            if let Err(error) = core.pool.respond(R::now(), link, reply, result) {
                debug!(%link, %error, "reply dropped");
            }
        });
    }
}
