//! A JSON-RPC server node: one [`Channel`] per accepted connection, answering `echo`
//! with its params after a random virtual delay. It may crash (every channel and every
//! answer not yet sent are lost) and restart empty.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tether_core::rpc::{self, Channel, Event, ReplyTo};
use tether_core::ws;

use super::checks::{self, short};
use super::node::{Ctx, Node, Port};

/// An answer the server will send later.
#[derive(Debug)]
struct Reply {
    port: Port,
    to: ReplyTo,
    params: Box<RawValue>,
}

/// What an [`EchoServer`] does with a notification: hands it, with the port it came on,
/// to an observer (the ledger senders check order and gaps against, for instance).
pub type NoteSink = Box<dyn FnMut(&Ctx, Port, &str, Option<&RawValue>)>;

/// An RPC server: one [`Channel`] per accepted connection; `echo` is answered with its
/// params after a delay drawn up to `max_delay`; notifications go to the optional sink.
pub struct EchoServer {
    index: usize,
    ws_config: ws::Config,
    rpc_config: rpc::Config,
    ports: BTreeMap<Port, Channel>,
    /// Answers by (due time, arrival order): a BTreeMap, so ties fire in a fixed order.
    replies: BTreeMap<(Instant, u64), Reply>,
    arrivals: u64,
    max_delay: Duration,
    /// Bound on what one channel may hold to write: everything its client may ask.
    max_pending: usize,
    notes: Option<NoteSink>,
    high: checks::HighWater,
}

impl EchoServer {
    /// Server number `index` with these settings, answering within `max_delay`. A client
    /// asks at most `max_pending` bytes of answers from one connection (the sum of its
    /// requests' sizes): more held to write means the server leaks.
    pub fn new(
        index: usize,
        ws_config: ws::Config,
        rpc_config: rpc::Config,
        max_delay: Duration,
        max_pending: usize,
    ) -> EchoServer {
        EchoServer {
            index,
            ws_config,
            rpc_config,
            ports: BTreeMap::new(),
            replies: BTreeMap::new(),
            arrivals: 0,
            max_delay,
            max_pending,
            notes: None,
            high: checks::HighWater::default(),
        }
    }

    /// Hands every notification received to `sink`.
    pub fn with_notes(mut self, sink: NoteSink) -> EchoServer {
        self.notes = Some(sink);
        self
    }

    fn react(&mut self, ctx: &mut Ctx, port: Port) {
        let name = self.name();
        let Some(channel) = self.ports.get_mut(&port) else {
            return;
        };
        while let Some(event) = channel.poll_event() {
            ctx.trace.add(name.as_bytes());
            let text = format!("{event:?}");
            ctx.log(format_args!("{name}: {}", short(&text)));
            ctx.trace.add(text.as_bytes());
            match event {
                Event::Upgrade(_) => {
                    if let Err(error) = channel.accept(ctx.now, None, &[]) {
                        ctx.fail(format_args!("{name} {port}: accept failed: {error:?}"));
                    }
                }
                Event::Request {
                    reply,
                    method,
                    params,
                } => {
                    if method != "echo" {
                        ctx.fail(format_args!("{name} {port}: unknown method {method:?}"));
                    }
                    let Some(params) = params else {
                        ctx.fail(format_args!("{name} {port}: echo without params"))
                    };
                    let delay = ctx.rng.range(0, self.max_delay.as_millis() as u64);
                    let at = ctx.now + Duration::from_millis(delay);
                    self.arrivals += 1;
                    let reply = Reply {
                        port,
                        to: reply,
                        params,
                    };
                    self.replies.insert((at, self.arrivals), reply);
                }
                Event::Notification { method, params } => match &mut self.notes {
                    Some(sink) => sink(ctx, port, &method, params.as_deref()),
                    None => ctx.fail(format_args!(
                        "{name} {port}: unexpected notification {method:?}"
                    )),
                },
                Event::Open { .. } | Event::Closed(_) | Event::WsError(_) | Event::Pong(_) => {}
                other => ctx.fail(format_args!("{name} {port}: unexpected event {other:?}")),
            }
        }
    }

    /// Forgets channels whose transport is closed (the network has closed their ends).
    fn sweep(&mut self) {
        self.ports.retain(|_, channel| !channel.is_finished());
    }
}

impl Node for EchoServer {
    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn handle_accept(&mut self, ctx: &mut Ctx, port: Port) -> bool {
        self.sweep();
        let channel = Channel::server(
            ctx.now,
            self.ws_config.clone(),
            self.rpc_config.clone(),
            ctx.rng.seed32(),
        );
        self.ports.insert(port, channel);
        true
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        if let Some(channel) = self.ports.get_mut(&port) {
            channel.handle_input(ctx.now, data);
            self.react(ctx, port);
        }
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        if let Some(channel) = self.ports.get_mut(&port) {
            channel.handle_eof(ctx.now);
            self.react(ctx, port);
        }
        self.sweep();
    }

    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        // The transport is gone: its channel ends as on EOF, and nothing more is written.
        self.handle_eof(ctx, port);
        self.ports.remove(&port);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        let ports: Vec<Port> = self.ports.keys().copied().collect();
        for port in ports {
            if let Some(channel) = self.ports.get_mut(&port) {
                channel.handle_timeout(ctx.now);
                checks::timer_not_due(ctx, &name, port, channel);
            }
            self.react(ctx, port);
        }
        while let Some(entry) = self.replies.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let reply = entry.remove();
            let port = reply.port;
            let result = match self.ports.get_mut(&port) {
                Some(channel) => channel
                    .respond(ctx.now, reply.to, Ok(&reply.params))
                    .map_err(|e| format!("{e:?}")),
                None => Err("gone".to_owned()),
            };
            // An answer to a connection that died is dropped: the client's call has
            // ended (or will) with ConnectionLost, which the client checks.
            match result {
                Ok(()) => ctx.trace.add(b"answered"),
                Err(error) => ctx.trace.add(format!("answer dropped {error}").as_bytes()),
            }
            self.react(ctx, port);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machines = self.ports.values().filter_map(Channel::poll_timeout);
        machines
            .chain(self.replies.keys().next().map(|k| k.0))
            .min()
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        self.ports.get_mut(&port)?.poll_transmit()
    }

    fn port_finished(&self, port: Port) -> bool {
        self.ports.get(&port).is_none_or(Channel::is_finished)
    }

    fn crash(&mut self, ctx: &mut Ctx) {
        ctx.add("server.lost_answers", self.replies.len() as u64);
        self.ports.clear();
        self.replies.clear();
    }

    fn check(&self, ctx: &mut Ctx) {
        let name = self.name();
        for (&port, channel) in &self.ports {
            let input = checks::input_bounded(ctx, &name, port, channel.connection());
            let output =
                checks::output_bounded(ctx, &name, port, channel.connection(), self.max_pending);
            self.high.see(input, output);
        }
    }

    fn check_done(&self, ctx: &mut Ctx) {
        self.high.report(ctx);
        let name = self.name();
        for (&port, channel) in &self.ports {
            if !channel.is_finished() {
                ctx.fail(format_args!(
                    "{name} {port}: not finished at the end (state {:?})",
                    channel.state()
                ));
            }
        }
    }
}
