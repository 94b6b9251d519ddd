//! The `pool` target: a [`Pool`] for node 1 driven by a script read from the fuzzer's
//! bytes with `arbitrary` (structure-aware), against peers the harness plays by hand.
//!
//! The harness is every peer at once. It reads what the pool writes on each link (the
//! upgrade request or the answer to ours, frames, JSON-RPC messages) and builds
//! well-formed input from it, so the fuzzer reaches open links and answered calls without
//! having to guess keys or request ids: a `101` built from a dialed link's key (or a 409,
//! a 503, a wrong accept key), a response to one of the request ids the pool wrote (on its
//! own link or on another, once or twice), an accepted link's upgrade naming whichever
//! node and lane it likes, calls and notifications of the peer, pings, pongs and closes.
//! Raw bytes go in too, and inputs naming links that are gone; time passes; the
//! application calls, notifies, cancels, answers, releases and shuts down.
//!
//! Checked throughout: no panic; every call ends at most once, by an event, never after it
//! was cancelled, and an answer built from a request reaches the call that made it;
//! `cancel` agrees with the ledger; after `handle_timeout(now)` no deadline is left at or
//! before `now`; `stats()` counts the calls made and failed as the harness does, and the
//! links held stay within `max_links`; a link, once `Disconnect`ed and drained, gives no
//! more bytes, no event names it again and inputs naming it change nothing; once shutting
//! down, an open link with nothing under way is closing (no wait for the grace).
//!
//! At the end the peers go silent and time runs past every call's deadline: every call not
//! cancelled has ended. Then the pool shuts down, and once its timers run out every link
//! is gone, each after its `Disconnect`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Buf, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::frame::{encode_frame, FrameDecoder, FramePart, OpCode};
use crate::handshake::{
    encode_accept, encode_reject, generate_key, parse_request, parse_response, ClientRequest,
};
use crate::pool::{Admission, Config, Event, Lane, LinkId, NodeId, PeerState, Pool};
use crate::rng::Rng;
use crate::rpc::{self, EndReason, ErrorObject, Id, ReplyTo};
use crate::session::{CallId, Heartbeat, HeartbeatMode, QueueLimits};
use crate::ws;

use super::script::{self, Ledger};

mod seeds;

pub use seeds::pool_scenarios;

/// Operations read from one input, at most.
const MAX_OPS: usize = 512;
/// The nodes the pool calls (it is node 1; node 0 is below it, so wins a dial race).
const NODES: [u64; 4] = [0, 2, 3, 4];
/// Rounds of timers at the end before the pool is called stuck.
const MAX_ROUNDS: usize = 100_000;
/// Largest head or message the harness reads from the pool.
const MAX_READ: usize = 1 << 16;

/// The pool's settings, small so that limits and timers are reached.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
struct Setup {
    seed: u8,
    /// 1 to 8 links.
    max_links: u8,
    /// 1 to 4 calls in flight per link.
    max_in_flight: u8,
    /// 0 to 15 calls waiting per node and lane.
    queue_messages: u8,
    queue_bytes: u16,
    connect_timeout_ms: u16,
    default_timeout_ms: u16,
    /// Interval (ms), how many intervals of silence kill a link (1 to 8), and the mode
    /// (`true`: any input counts).
    heartbeat: Option<(u16, u8, bool)>,
    idle_timeout_ms: Option<u16>,
    /// Outgoing frames of at most this many bytes (0: the default).
    fragment_size: u8,
    /// The harness feeds what it builds in pieces of this size (0: whole).
    chunk: u8,
}

/// One step of the script.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
enum Op {
    /// Time passes (ms); due timers fire.
    Wait(u16),
    /// Time moves to the pool's next deadline, which fires.
    Tick,
    /// The application calls a node (see [`pick_node`]), maybe on the bulk lane, maybe
    /// with its own timeout (ms); params padded.
    Call {
        node: u8,
        bulk: bool,
        timeout_ms: Option<u16>,
        pad: u8,
    },
    /// The application notifies a node.
    Notify { node: u8, pad: u8 },
    /// The application cancels the n-th call it made.
    Cancel(u8),
    /// The application answers the n-th request a peer made (with an error, or on another
    /// link than the one it came on).
    Respond {
        request: u8,
        error: bool,
        elsewhere: Option<u8>,
    },
    /// A peer connects to us.
    Accept,
    /// The transport of the n-th dialed link waiting for one opens (with a header the
    /// upgrade request cannot carry).
    Open { link: u8, bad_header: bool },
    /// The transport of a link fails.
    Fail(u8),
    /// The peer of a link closes its write side.
    Eof(u8),
    /// The transport of a link is gone for good.
    Release(u8),
    /// The peer of the n-th accepted link not upgraded yet sends its upgrade request,
    /// naming a node (see [`pick_node`]; or us, or one that is not a number) and a lane
    /// (none, `bulk`, `Bulk`, `fast`).
    Upgrade {
        link: u8,
        node: Option<u8>,
        lane: u8,
    },
    /// The peer of the n-th dialed link whose upgrade request arrived answers it: 101 (two
    /// chances in five), 409, 503, or a 101 with the wrong accept key; maybe with a ping
    /// and a notification in the same write.
    AnswerUpgrade {
        link: u8,
        how: u8,
        frames_after: bool,
    },
    /// A peer answers the n-th request the pool wrote (with an error, or on another link).
    Reply {
        request: u8,
        error: bool,
        elsewhere: Option<u8>,
    },
    /// A peer calls us (or notifies us), alone or in a batch of up to 3.
    PeerCall { link: u8, notify: bool, batch: u8 },
    /// A peer pings.
    Ping(u8),
    /// A peer answers the last ping it got.
    Pong(u8),
    /// A peer closes the WebSocket with this code.
    PeerClose { link: u8, code: u16 },
    /// These bytes arrive on a link.
    Raw { link: u8, bytes: Vec<u8> },
    /// Inputs naming a link that is gone.
    Stale { link: u8, bytes: Vec<u8> },
    /// The application shuts the pool down with this grace (ms).
    Shutdown(u16),
}

/// How many variants [`Op`] has (for the seed encoder; the round-trip test checks it).
const OP_VARIANTS: u32 = 21;

/// How far a script got, so the corpus replay can show its seeds reach deep states.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolReport {
    /// Operations run.
    pub ops: usize,
    /// Times a node's control link came up.
    pub links_up: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls that ended without an answer.
    pub ended: u64,
    /// Peers' calls the pool answered (read back on their link).
    pub served: u64,
    /// Upgrades of accepted links the pool took (its `101`, read back).
    pub accepted_upgrades: u64,
}

/// Runs the script in `data` against a pool. Panics only when an invariant breaks.
pub fn pool(origin: Instant, data: &[u8]) {
    pool_report(origin, data);
}

/// [`pool`], returning how far the script got.
pub fn pool_report(origin: Instant, data: &[u8]) -> PoolReport {
    let start = |setup: Setup| Some(Harness::new(origin, &setup));
    let step = |harness: &mut Harness, op: Op| {
        harness.report.ops += 1;
        harness.apply(op);
        harness.settle();
    };
    let Some(mut harness) = script::run(data, MAX_OPS, start, step) else {
        return PoolReport::default();
    };
    harness.finish();
    harness.report
}

/// Where the harness is in reading what the pool writes on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The upgrade request (dialed) or the answer to ours (accepted).
    Head,
    Frames,
    /// Nothing more to understand (a refusal, or bytes the harness cannot read).
    Stop,
}

/// The peer's end of one link.
struct Wire {
    /// The pool dialed it (the peer is the server), else accepted it.
    dialed: bool,
    /// The node a dialed link is for.
    node: NodeId,
    /// The transport is up, as far as the harness told the pool.
    transport: bool,
    /// The upgrade's key: the pool's (dialed) or ours (accepted).
    key: Option<String>,
    /// The upgrade was answered (dialed) or sent (accepted).
    upgraded: bool,
    rx: BytesMut,
    reading: Reading,
    decoder: FrameDecoder,
    /// The opcode of the frame being read, and whether it ends its message.
    frame: Option<(OpCode, bool)>,
    message: Vec<u8>,
    control: Vec<u8>,
    /// The payload of the last ping the pool sent.
    ping: Vec<u8>,
    /// Its `Disconnect` came and its last bytes were taken: the id names nothing now.
    gone: bool,
}

impl Wire {
    fn new(dialed: bool, node: NodeId) -> Wire {
        Wire {
            dialed,
            node,
            transport: !dialed,
            key: None,
            upgraded: false,
            rx: BytesMut::new(),
            reading: Reading::Head,
            // The pool masks what it writes as a client, on the links it dialed.
            decoder: FrameDecoder::new(dialed, MAX_READ as u64, 0),
            frame: None,
            message: Vec::new(),
            control: Vec::new(),
            ping: Vec::new(),
            gone: false,
        }
    }

    /// Reads what the pool wrote so far; returns the whole data messages.
    fn read(&mut self, report: &mut PoolReport) -> Vec<Vec<u8>> {
        if self.reading == Reading::Head {
            self.read_head(report);
        }
        let mut messages = Vec::new();
        while self.reading == Reading::Frames {
            match self.decoder.decode(&mut self.rx) {
                Ok(Some(FramePart::Header(h))) => {
                    if h.opcode.is_control() {
                        self.control.clear();
                    } else if h.opcode != OpCode::Continuation {
                        self.message.clear();
                    }
                    self.frame = Some((h.opcode, h.fin));
                }
                Ok(Some(FramePart::Payload { data, last })) => {
                    let Some((opcode, fin)) = self.frame else {
                        self.reading = Reading::Stop;
                        break;
                    };
                    if opcode.is_control() {
                        self.control.extend_from_slice(&data);
                    } else if self.message.len() + data.len() <= MAX_READ {
                        self.message.extend_from_slice(&data);
                    }
                    if last {
                        if opcode == OpCode::Ping {
                            self.ping.clone_from(&self.control);
                        } else if fin && !opcode.is_control() {
                            messages.push(std::mem::take(&mut self.message));
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => self.reading = Reading::Stop,
            }
        }
        if self.reading == Reading::Stop {
            self.rx.clear();
        }
        messages
    }

    fn read_head(&mut self, report: &mut PoolReport) {
        let used = if self.dialed {
            match parse_request(&self.rx, MAX_READ) {
                Ok(Some((request, used))) => match request.upgrade {
                    Ok(upgrade) => {
                        self.key = Some(upgrade.key);
                        Some(used)
                    }
                    Err(_) => {
                        self.reading = Reading::Stop;
                        None
                    }
                },
                Ok(None) => None,
                Err(_) => {
                    self.reading = Reading::Stop;
                    None
                }
            }
        } else {
            // Nothing comes before our upgrade request; the head answers it.
            let Some(key) = self.key.as_deref() else {
                return;
            };
            match parse_response(&self.rx, key, &[], None, MAX_READ) {
                Ok(Some((_, used))) => {
                    report.accepted_upgrades += 1;
                    Some(used)
                }
                Ok(None) => None,
                Err(_) => {
                    self.reading = Reading::Stop;
                    None
                }
            }
        };
        if let Some(used) = used {
            self.rx.advance(used);
            self.reading = Reading::Frames;
        }
    }
}

/// One request the pool wrote on a link.
struct Written {
    link: LinkId,
    /// Its id and params as raw JSON, to answer with.
    id: String,
    params: Option<String>,
}

/// The members of a JSON-RPC message the harness looks at.
#[derive(Deserialize)]
struct Message {
    id: Option<Box<RawValue>>,
    method: Option<String>,
    params: Option<Box<RawValue>>,
    result: Option<Box<RawValue>>,
}

/// The harness: the pool, the peers' ends of its links, and the ledger.
struct Harness {
    now: Instant,
    pool: Pool,
    max_links: usize,
    default_timeout: Duration,
    chunk: usize,
    wires: BTreeMap<LinkId, Wire>,
    /// Links in the order the harness met them, for ops that pick one.
    order: Vec<LinkId>,
    calls: Ledger<CallId>,
    /// Calls by their params (each names its call), to know the requests the pool wrote.
    by_params: BTreeMap<String, CallId>,
    /// The latest deadline of any call.
    horizon: Instant,
    /// Requests the pool wrote, in order.
    written: Vec<Written>,
    /// Requests of the peers the pool surfaced, not answered yet.
    held: Vec<(LinkId, ReplyTo)>,
    /// Calls `call` took, and `Ended` events seen: what `stats()` must say.
    made: u64,
    failed: u64,
    shut: bool,
    serial: u64,
    /// Upgrades held for the harness are refused (else admitted as the pool decides).
    refuse_upgrades: bool,
    report: PoolReport,
}

impl Harness {
    fn new(origin: Instant, setup: &Setup) -> Harness {
        let ms = |n: u16| Duration::from_millis(u64::from(n));
        let max_links = usize::from(setup.max_links % 8) + 1;
        let default_timeout = ms(setup.default_timeout_ms);
        let config = Config {
            node: NodeId(1),
            ws: ws::Config {
                max_message_size: MAX_READ,
                max_frame_size: MAX_READ,
                max_handshake_size: 4096,
                fragment_size: match setup.fragment_size {
                    0 => ws::Config::default().fragment_size,
                    n => usize::from(n),
                },
                handshake_timeout: Duration::from_secs(2),
                close_timeout: Duration::from_millis(500),
                compression: None,
                // The pool's own heartbeat and bounds are under test here.
                budget: usize::MAX,
                heartbeat: None,
                write_stall_timeout: None,
            },
            rpc: rpc::Config {
                default_timeout,
                max_in_flight: usize::from(setup.max_in_flight % 4) + 1,
                max_batch_len: 4,
                // Small, so the handing out of large messages is reached too.
                parse_aside: Some(256),
            },
            connect_timeout: ms(setup.connect_timeout_ms),
            heartbeat: setup
                .heartbeat
                .map(|(interval, silences, any_input)| Heartbeat {
                    interval: ms(interval.max(1)),
                    timeout: ms(interval.max(1)) * (u32::from(silences % 8) + 1),
                    mode: if any_input {
                        HeartbeatMode::AnyInput
                    } else {
                        HeartbeatMode::Pong
                    },
                }),
            idle_timeout: setup.idle_timeout_ms.map(ms),
            max_links,
            // Odd seeds hold every accepted upgrade for the harness to admit (see `on_event`).
            hold_upgrades: setup.seed & 1 == 1,
            queue: QueueLimits {
                max_messages: usize::from(setup.queue_messages % 16),
                max_bytes: usize::from(setup.queue_bytes),
            },
            observe: true,
        };
        Harness {
            now: origin,
            pool: Pool::new(config, [setup.seed; 32]),
            max_links,
            default_timeout,
            chunk: usize::from(setup.chunk),
            wires: BTreeMap::new(),
            order: Vec::new(),
            calls: Ledger::default(),
            by_params: BTreeMap::new(),
            horizon: origin,
            written: Vec::new(),
            held: Vec::new(),
            made: 0,
            failed: 0,
            shut: false,
            serial: 0,
            refuse_upgrades: setup.seed & 3 == 3,
            report: PoolReport::default(),
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Wait(ms) => {
                let at = now + Duration::from_millis(u64::from(ms));
                self.advance_to(at);
            }
            Op::Tick => {
                if let Some(next) = self.pool.poll_timeout() {
                    self.advance_to(next);
                }
            }
            Op::Call {
                node,
                bulk,
                timeout_ms,
                pad,
            } => self.call(node, bulk, timeout_ms, pad),
            Op::Notify { node, pad } => {
                let node = pick_node(node);
                let params = format!(r#"{{"pad":"{}"}}"#, "n".repeat(usize::from(pad)));
                if let Ok(raw) = RawValue::from_string(params) {
                    let _ = self.pool.notify(now, node, "note", Some(&raw));
                }
            }
            Op::Cancel(n) => {
                let order = self.calls.order();
                if order.is_empty() {
                    return;
                }
                let id = order[usize::from(n) % order.len()];
                let open = self.calls.is_open(&id);
                let cancelled = self.pool.cancel(now, id);
                assert_eq!(cancelled, open, "cancel({id:?}) disagrees with the ledger");
                if cancelled {
                    self.calls.cancelled(&id);
                }
            }
            Op::Respond {
                request,
                error,
                elsewhere,
            } => {
                if self.held.is_empty() {
                    return;
                }
                let (link, reply) = self.held.remove(usize::from(request) % self.held.len());
                let link = elsewhere
                    .and_then(|n| self.pick(n, |_| true))
                    .unwrap_or(link);
                let ok = RawValue::from_string("true".to_owned()).ok();
                let failure = ErrorObject::internal("fuzz");
                let result = match (ok.as_deref(), error) {
                    (Some(ok), false) => Ok(ok),
                    _ => Err(&failure),
                };
                let _ = self.pool.respond(now, link, reply, result);
            }
            Op::Accept => {
                if let Ok(link) = self.pool.accept(now) {
                    self.meet(link, Wire::new(false, NodeId(0)));
                }
            }
            Op::Open { link, bad_header } => {
                let Some(link) = self.pick(link, |w| w.dialed && !w.transport) else {
                    return;
                };
                let Some(wire) = self.wires.get_mut(&link) else {
                    return;
                };
                wire.transport = true;
                let headers = if bad_header {
                    vec![("x-bad".to_owned(), "a\r\nb".to_owned())]
                } else {
                    Vec::new()
                };
                let request = ClientRequest {
                    host: format!("node{}", wire.node.0),
                    path: "/".into(),
                    headers,
                    protocols: Vec::new(),
                };
                self.pool.transport_open(now, link, request);
            }
            Op::Fail(n) | Op::Eof(n) | Op::Release(n) => {
                let Some(link) = self.pick(n, |_| true) else {
                    return;
                };
                if let Some(wire) = self.wires.get_mut(&link) {
                    wire.transport = false;
                }
                match op {
                    Op::Fail(_) => self.pool.transport_failed(now, link),
                    Op::Eof(_) => self.pool.handle_eof(now, link),
                    _ => self.pool.release(now, link),
                }
            }
            Op::Upgrade { link, node, lane } => self.upgrade(link, node, lane),
            Op::AnswerUpgrade {
                link,
                how,
                frames_after,
            } => self.answer_upgrade(link, how, frames_after),
            Op::Reply {
                request,
                error,
                elsewhere,
            } => self.reply(request, error, elsewhere),
            Op::PeerCall {
                link,
                notify,
                batch,
            } => {
                let Some(link) = self.pick(link, |w| w.transport) else {
                    return;
                };
                let mut entries = Vec::new();
                for _ in 0..=batch % 3 {
                    self.serial += 1;
                    let n = self.serial;
                    entries.push(if notify {
                        format!(r#"{{"jsonrpc":"2.0","method":"tell","params":[{n}]}}"#)
                    } else {
                        format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"ask","params":[{n}]}}"#)
                    });
                }
                let text = match entries.as_slice() {
                    [one] => one.clone(),
                    _ => format!("[{}]", entries.join(",")),
                };
                self.send_frame(link, OpCode::Text, text.as_bytes());
            }
            Op::Ping(link) => {
                if let Some(link) = self.pick(link, |w| w.transport) {
                    self.send_frame(link, OpCode::Ping, b"peer");
                }
            }
            Op::Pong(link) => {
                if let Some(link) = self.pick(link, |w| w.transport) {
                    let payload = self.wires.get(&link).map(|w| w.ping.clone());
                    self.send_frame(link, OpCode::Pong, &payload.unwrap_or_default());
                }
            }
            Op::PeerClose { link, code } => {
                if let Some(link) = self.pick(link, |w| w.transport) {
                    let mut payload = code.to_be_bytes().to_vec();
                    payload.extend_from_slice(b"bye");
                    self.send_frame(link, OpCode::Close, &payload);
                }
            }
            Op::Raw { link, bytes } => {
                if let Some(link) = self.pick(link, |_| true) {
                    self.deliver(link, &bytes);
                }
            }
            Op::Stale { link, bytes } => self.stale(link, &bytes),
            Op::Shutdown(grace) => {
                self.shut = true;
                self.pool
                    .shutdown(now, Duration::from_millis(u64::from(grace)));
            }
        }
    }

    fn call(&mut self, node: u8, bulk: bool, timeout_ms: Option<u16>, pad: u8) {
        self.serial += 1;
        let params = format!(
            r#"{{"call":{},"pad":"{}"}}"#,
            self.serial,
            "p".repeat(usize::from(pad))
        );
        let Ok(raw) = RawValue::from_string(params.clone()) else {
            return;
        };
        let lane = if bulk { Lane::Bulk } else { Lane::Control };
        let timeout = timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        let taken = self
            .pool
            .call_on(self.now, pick_node(node), lane, "echo", Some(&raw), timeout);
        if let Ok(id) = taken {
            self.by_params.insert(params.clone(), id);
            self.calls.made(id, params);
            self.made += 1;
            let deadline = self.now + timeout.unwrap_or(self.default_timeout);
            self.horizon = self.horizon.max(deadline);
        }
    }

    /// The peer of an accepted link sends its upgrade request.
    fn upgrade(&mut self, link: u8, node: Option<u8>, lane: u8) {
        let Some(link) = self.pick(link, |w| !w.dialed && w.key.is_none()) else {
            return;
        };
        self.serial += 1;
        let key = generate_key(&mut Rng::from_seed([self.serial as u8; 32]));
        let mut headers = Vec::new();
        if let Some(node) = node {
            let value = match node {
                0..=127 if node % 6 == 4 => "1".to_owned(),
                0..=127 if node % 6 == 5 => "x".to_owned(),
                _ => pick_node(node).0.to_string(),
            };
            headers.push((crate::pool::NODE_ID_HEADER.to_owned(), value));
        }
        if let Some(value) = [None, Some("bulk"), Some("Bulk"), Some("fast")][usize::from(lane) % 4]
        {
            headers.push((crate::pool::LANE_HEADER.to_owned(), value.to_owned()));
        }
        let request = ClientRequest {
            host: "node1".into(),
            path: "/".into(),
            headers,
            protocols: Vec::new(),
        };
        let mut out = BytesMut::new();
        if request.encode(&key, &mut out).is_err() {
            return;
        }
        if let Some(wire) = self.wires.get_mut(&link) {
            wire.key = Some(key);
            wire.upgraded = true;
        }
        self.deliver(link, &out);
    }

    /// The peer of a dialed link answers its upgrade request.
    fn answer_upgrade(&mut self, link: u8, how: u8, frames_after: bool) {
        let pick = self.pick(link, |w| {
            w.dialed && w.transport && w.key.is_some() && !w.upgraded
        });
        let Some(link) = pick else {
            return;
        };
        let Some(wire) = self.wires.get_mut(&link) else {
            return;
        };
        wire.upgraded = true;
        let key = wire.key.clone().unwrap_or_default();
        let mut out = BytesMut::new();
        let accepted = match how % 5 {
            0 | 1 => encode_accept(&key, None, &[], &mut out).is_ok(),
            2 => {
                encode_reject(409, &mut out);
                false
            }
            3 => {
                encode_reject(503, &mut out);
                false
            }
            _ => encode_accept("d3Jvbmcga2V5IGF0IGFsbA==", None, &[], &mut out).is_ok(),
        };
        if accepted && frames_after {
            encode_frame(&mut out, true, OpCode::Ping, None, b"early");
            let note = br#"{"jsonrpc":"2.0","method":"tell","params":[0]}"#;
            encode_frame(&mut out, true, OpCode::Text, None, note);
        }
        self.deliver(link, &out);
    }

    /// A peer answers a request the pool wrote, echoing its params as the result.
    fn reply(&mut self, request: u8, error: bool, elsewhere: Option<u8>) {
        if self.written.is_empty() {
            return;
        }
        let written = &self.written[usize::from(request) % self.written.len()];
        let text = match (&written.params, error) {
            (Some(params), false) => format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{params}}}"#,
                written.id
            ),
            _ => format!(
                r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32000,"message":"no"}}}}"#,
                written.id
            ),
        };
        let own = written.link;
        let link = match elsewhere {
            Some(n) => self.pick(n, |w| w.transport),
            None => Some(own).filter(|l| self.wires.get(l).is_some_and(|w| w.transport && !w.gone)),
        };
        if let Some(link) = link {
            self.send_frame(link, OpCode::Text, text.as_bytes());
        }
    }

    /// Inputs naming a link that is gone: none has an effect.
    fn stale(&mut self, n: u8, bytes: &[u8]) {
        let gone: Vec<LinkId> = self
            .order
            .iter()
            .copied()
            .filter(|l| self.wires.get(l).is_some_and(|w| w.gone))
            .collect();
        if gone.is_empty() {
            return;
        }
        let link = gone[usize::from(n) % gone.len()];
        let now = self.now;
        let request = ClientRequest {
            host: "stale".into(),
            path: "/".into(),
            ..ClientRequest::default()
        };
        self.pool.handle_input(now, link, bytes);
        self.pool.transport_open(now, link, request);
        self.pool.handle_eof(now, link);
        self.pool.transport_failed(now, link);
        self.pool.release(now, link);
        let failure = ErrorObject::internal("stale");
        let forged = ReplyTo {
            id: Id::Null,
            slot: None,
        };
        assert!(
            self.pool.respond(now, link, forged, Err(&failure)).is_err(),
            "{link} took an answer after it was gone"
        );
        assert!(
            self.pool.poll_transmit(link).is_none(),
            "{link} gave bytes after it was gone"
        );
        if let Some(event) = self.pool.poll_event() {
            panic!("inputs naming {link}, gone, had an effect: {event:?}");
        }
        if let Some(observation) = self.pool.poll_observation() {
            panic!("inputs naming {link}, gone, were observed: {observation:?}");
        }
        assert!(
            self.pool.poll_ready().is_none(),
            "inputs naming {link}, gone, made a link ready"
        );
    }

    /// The n-th link met (in order) that is not gone and passes `filter`.
    fn pick(&self, n: u8, filter: impl Fn(&Wire) -> bool) -> Option<LinkId> {
        let live: Vec<LinkId> = self
            .order
            .iter()
            .copied()
            .filter(|l| self.wires.get(l).is_some_and(|w| !w.gone && filter(w)))
            .collect();
        (!live.is_empty()).then(|| live[usize::from(n) % live.len()])
    }

    fn meet(&mut self, link: LinkId, wire: Wire) {
        assert!(
            self.wires.insert(link, wire).is_none(),
            "{link} named a second link"
        );
        self.order.push(link);
    }

    /// Frames what a peer sends (masked if the peer is the client, on accepted links).
    fn send_frame(&mut self, link: LinkId, opcode: OpCode, payload: &[u8]) {
        let Some(wire) = self.wires.get(&link) else {
            return;
        };
        self.serial += 1;
        let mask = (!wire.dialed).then(|| (self.serial as u32).to_le_bytes());
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, opcode, mask, payload);
        self.deliver(link, &out);
    }

    fn deliver(&mut self, link: LinkId, bytes: &[u8]) {
        let now = self.now;
        if self.chunk == 0 {
            self.pool.handle_input(now, link, bytes);
        } else {
            for piece in bytes.chunks(self.chunk) {
                self.pool.handle_input(now, link, piece);
            }
        }
    }

    /// Time moves to `at` (if later) and the due timers fire: no deadline is left due.
    fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.pool.handle_timeout(self.now);
        if let Some(next) = self.pool.poll_timeout() {
            assert!(
                next > self.now,
                "a deadline {:?} at or before now after handle_timeout",
                self.now.saturating_duration_since(next)
            );
        }
    }

    /// Runs the driver loop once: takes every ready link's bytes, then every event; and
    /// checks what must hold between inputs.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(link) = self.pool.poll_ready() {
                busy = true;
                self.take(link);
            }
            while let Some(event) = self.pool.poll_event() {
                busy = true;
                self.on_event(event);
            }
            // What is measured is the driver's business; drained so it cannot pile up.
            while self.pool.poll_observation().is_some() {}
            if !busy {
                break;
            }
        }
        for (link, wire) in &self.wires {
            if wire.gone {
                assert!(
                    self.pool.poll_transmit(*link).is_none(),
                    "{link} gave bytes after its Disconnect"
                );
            }
        }
        let stats = self.pool.stats();
        assert_eq!(stats.calls, self.made, "stats count other calls made");
        assert_eq!(stats.failures, self.failed, "stats count other failures");
        assert!(
            stats.links <= self.max_links,
            "{} links held, max_links {}",
            stats.links,
            self.max_links
        );
        if self.shut {
            self.check_quiet_links_close();
        }
    }

    /// Once shutting down, an open link with nothing under way (no call of ours written on
    /// it and not ended, no request of the peer's unanswered) is closing. Links whose
    /// bytes the harness cannot follow are left out.
    fn check_quiet_links_close(&self) {
        for (link, wire) in &self.wires {
            if wire.gone || wire.reading != Reading::Frames {
                continue;
            }
            if self.pool.link_state(*link) != ws::State::Open || self.pool.serving(*link) > 0 {
                continue;
            }
            let ours = self
                .written
                .iter()
                .filter(|w| w.link == *link)
                .filter_map(|w| self.by_params.get(w.params.as_deref()?))
                .any(|call| self.calls.is_open(call));
            assert!(
                ours,
                "{link} has nothing under way after shutdown, yet stays open"
            );
        }
    }

    /// Takes `link`'s bytes and reads them as its peer.
    fn take(&mut self, link: LinkId) {
        let Some(wire) = self.wires.get_mut(&link) else {
            panic!("{link} is ready but was never announced");
        };
        while let Some(bytes) = self.pool.poll_transmit(link) {
            assert!(!wire.gone, "{link} gave bytes after its Disconnect");
            if wire.reading != Reading::Stop {
                wire.rx.extend_from_slice(&bytes);
            }
        }
        let messages = wire.read(&mut self.report);
        for message in messages {
            self.on_message(link, &message);
        }
    }

    /// A whole message the pool wrote on `link`.
    fn on_message(&mut self, link: LinkId, text: &[u8]) {
        let Ok(message) = serde_json::from_slice::<Message>(text) else {
            return;
        };
        match (message.method, message.id) {
            (Some(_), Some(id)) if self.written.len() < 4 * MAX_OPS => {
                self.written.push(Written {
                    link,
                    id: id.get().to_owned(),
                    params: message.params.map(|p| p.get().to_owned()),
                });
            }
            (None, Some(_)) if message.result.is_some() => self.report.served += 1,
            _ => {}
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connect { link, node } => {
                assert!(!self.shut, "{link} dialed after shutdown");
                self.meet(link, Wire::new(true, node));
            }
            Event::Disconnect { link } => {
                assert!(
                    self.wires.get(&link).is_some_and(|w| !w.gone),
                    "Disconnect of {link}, unknown or gone"
                );
                self.take(link);
                if let Some(wire) = self.wires.get_mut(&link) {
                    wire.gone = true;
                    wire.transport = false;
                }
            }
            Event::Upgrade { link, .. } => {
                self.named(link);
                // Admitted as the pool decides, or (seeds 3 mod 4) all refused.
                let admission = if !self.refuse_upgrades {
                    Admission::Accept
                } else {
                    Admission::Reject(403)
                };
                self.pool.admit(self.now, link, admission);
            }
            Event::Peer { state, .. } => {
                self.report.links_up += u64::from(state == PeerState::Up);
            }
            Event::Parse { link, unparsed } => {
                let parsed = unparsed.parse();
                self.pool.handle_parsed(self.now, link, parsed);
            }
            Event::Response { call, result, .. } => {
                self.report.answered += 1;
                let params = self.calls.end(&call);
                if let Ok(raw) = result {
                    // The harness answers with the request's params; other answers (raw
                    // bytes that happen to hit a request id) are not its to judge.
                    if raw.get().starts_with(r#"{"call":"#) {
                        assert_eq!(raw.get(), params, "{call:?} got another call's answer");
                    }
                }
            }
            Event::Ended { call, reason, .. } => {
                self.report.ended += 1;
                self.failed += 1;
                self.calls.end(&call);
                if reason == EndReason::Closed {
                    assert!(self.shut, "{call:?} ended Closed before shutdown");
                }
            }
            Event::Request { link, reply, .. } => {
                self.named(link);
                self.held.push((link, reply));
            }
            Event::Notification { link, .. } => self.named(link),
        }
    }

    /// An event names `link`: it must be one the harness met and not gone.
    fn named(&self, link: LinkId) {
        assert!(
            self.wires.get(&link).is_some_and(|w| !w.gone),
            "an event names {link}, unknown or gone"
        );
    }

    /// Marks `call` ended; returns its params.
    /// The peers go silent and time runs past every call's deadline: every call not
    /// cancelled has ended. Then the pool shuts down and runs out its timers: every link
    /// is gone, after its `Disconnect`.
    fn finish(&mut self) {
        self.settle();
        let horizon = self.horizon;
        self.run_timers(Some(horizon));
        if self.now < horizon {
            self.advance_to(horizon);
            self.settle();
        }
        let open = self.calls.open();
        assert!(
            open.is_empty(),
            "calls {open:?} never ended, though every deadline passed"
        );
        self.shut = true;
        self.pool.shutdown(self.now, Duration::from_millis(100));
        self.settle();
        self.run_timers(None);
        assert!(
            self.pool.is_finished(),
            "{} links left after shutdown and every timer",
            self.pool.stats().links
        );
        let left: Vec<&LinkId> = self
            .wires
            .iter()
            .filter(|(_, w)| !w.gone)
            .map(|(l, _)| l)
            .collect();
        assert!(left.is_empty(), "links {left:?} went without a Disconnect");
    }

    /// Fires every deadline in turn, up to `until` (or until there is none).
    fn run_timers(&mut self, until: Option<Instant>) {
        for _ in 0..MAX_ROUNDS {
            match self.pool.poll_timeout() {
                Some(next) if until.is_none_or(|until| next <= until) => {
                    self.advance_to(next);
                    self.settle();
                }
                _ => return,
            }
        }
        panic!("the pool's timers never ran out ({MAX_ROUNDS} rounds)");
    }
}

/// The node the script names: one of [`NODES`], or one of 128 more (so that more nodes
/// come and go than the pool remembers at once, 64 at the sizes here).
fn pick_node(n: u8) -> NodeId {
    match n {
        0..=127 => NodeId(NODES[usize::from(n) % NODES.len()]),
        _ => NodeId(1000 + u64::from(n)),
    }
}
