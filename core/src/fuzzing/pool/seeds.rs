//! The `pool` target's hand-made seeds: scripts written as [`Op`]s and encoded into the
//! bytes `arbitrary` reads back as those scripts.

use arbitrary::{Arbitrary, Unstructured};

use super::{Op, Setup, OP_VARIANTS};

/// The hand-made seeds: scripts that walk the pool's main paths, by name, as the bytes
/// the target reads. Each is checked to read back as written (so a change of `Op` or of
/// `arbitrary`'s format shows up here, not as seeds that silently mean something else).
pub fn pool_scenarios() -> Vec<(&'static str, Vec<u8>)> {
    use Op::*;
    let call = |node: u8| Call {
        node,
        bulk: false,
        timeout_ms: None,
        pad: 2,
    };
    let bulk = |node: u8| Call {
        node,
        bulk: true,
        timeout_ms: None,
        pad: 200,
    };
    let open = |link: u8| Open {
        link,
        bad_header: false,
    };
    let answer = |link: u8, how: u8| AnswerUpgrade {
        link,
        how,
        frames_after: false,
    };
    let reply = |request: u8| Reply {
        request,
        error: false,
        elsewhere: None,
    };
    let upgrade = |node: u8, lane: u8| Upgrade {
        link: 0,
        node: Some(node),
        lane,
    };
    let respond = |request: u8| Respond {
        request,
        error: false,
        elsewhere: None,
    };
    let peer_call = |link: u8| PeerCall {
        link,
        notify: false,
        batch: 0,
    };
    let scripts: Vec<(&'static str, Setup, Vec<Op>)> = vec![
        (
            "hand-dial-call-answer",
            SCENARIO_SETUP,
            vec![
                call(1),
                open(0),
                answer(0, 0),
                reply(0),
                call(1),
                call(1),
                reply(1),
                reply(0),
                Reply {
                    request: 2,
                    error: true,
                    elsewhere: None,
                },
                Wait(100),
            ],
        ),
        (
            "hand-dial-refused-and-wrong-key",
            SCENARIO_SETUP,
            vec![
                call(2),
                open(0),
                answer(0, 3),
                call(2),
                open(0),
                answer(0, 4),
                call(2),
                Open {
                    link: 0,
                    bad_header: true,
                },
                call(3),
                Fail(0),
                Wait(1500),
            ],
        ),
        (
            "hand-accept-calls-both-ways",
            SCENARIO_SETUP,
            vec![
                Accept,
                upgrade(1, 0),
                peer_call(0),
                respond(0),
                call(1),
                reply(0),
                PeerCall {
                    link: 0,
                    notify: true,
                    batch: 2,
                },
                PeerCall {
                    link: 0,
                    notify: false,
                    batch: 2,
                },
                Respond {
                    request: 1,
                    error: true,
                    elsewhere: None,
                },
                respond(0),
                Ping(0),
                Wait(250),
                Pong(0),
                PeerClose {
                    link: 0,
                    code: 1000,
                },
                Wait(1000),
            ],
        ),
        (
            "hand-dial-race",
            SCENARIO_SETUP,
            vec![
                // Node 2 is above us: it refuses our dial (409) and we wait for its own.
                call(1),
                open(0),
                answer(0, 2),
                Accept,
                upgrade(1, 0),
                reply(0),
                // Node 0 is below us: its link replaces the one we are dialing.
                call(0),
                open(0),
                Accept,
                upgrade(0, 0),
                reply(1),
                // An accepted link naming us, and one naming no number.
                Accept,
                upgrade(4, 0),
                Accept,
                upgrade(5, 0),
                Wait(2000),
            ],
        ),
        (
            "hand-bulk-lane",
            SCENARIO_SETUP,
            vec![
                call(1),
                bulk(1),
                open(0),
                open(0),
                answer(0, 0),
                answer(0, 1),
                reply(0),
                reply(1),
                Accept,
                upgrade(2, 1),
                bulk(2),
                reply(2),
                Accept,
                upgrade(3, 3),
                Wait(6000),
            ],
        ),
        (
            "hand-shutdown-with-calls-in-flight",
            SCENARIO_SETUP,
            vec![
                call(1),
                call(2),
                open(0),
                answer(0, 0),
                call(1),
                Accept,
                upgrade(3, 0),
                peer_call(1),
                Shutdown(500),
                call(1),
                reply(0),
                respond(0),
                Wait(300),
                reply(1),
                Wait(600),
                Accept,
            ],
        ),
        (
            "hand-silence-release-stale",
            SCENARIO_SETUP,
            vec![
                call(1),
                open(0),
                AnswerUpgrade {
                    link: 0,
                    how: 0,
                    frames_after: true,
                },
                Tick,
                Tick,
                Wait(2000),
                call(2),
                open(0),
                Release(0),
                Stale {
                    link: 0,
                    bytes: b"\x81\x05hello".to_vec(),
                },
                call(3),
                open(0),
                answer(0, 0),
                Eof(0),
                Stale {
                    link: 1,
                    bytes: Vec::new(),
                },
                Raw {
                    link: 0,
                    bytes: b"\x88\x02\x03\xe8".to_vec(),
                },
                Wait(100),
            ],
        ),
        (
            "hand-timeouts-and-cancel",
            Setup {
                max_in_flight: 0,
                chunk: 3,
                fragment_size: 16,
                ..SCENARIO_SETUP
            },
            vec![
                Call {
                    node: 3,
                    bulk: false,
                    timeout_ms: Some(50),
                    pad: 40,
                },
                Call {
                    node: 3,
                    bulk: false,
                    timeout_ms: Some(5000),
                    pad: 40,
                },
                call(3),
                Cancel(1),
                Cancel(1),
                Tick,
                open(0),
                answer(0, 0),
                Wait(10),
                reply(0),
                Notify { node: 3, pad: 5 },
                Wait(60_000),
                call(3),
            ],
        ),
        ("hand-many-nodes", SCENARIO_SETUP, many_nodes()),
    ];
    scripts
        .into_iter()
        .map(|(name, setup, ops)| (name, encode(&setup, &ops)))
        .collect()
}

/// More nodes than the pool remembers: calls to 80 nodes that never answer, 8 at a time
/// (`max_links`), and peers naming 20 more that connect and go.
fn many_nodes() -> Vec<Op> {
    let mut ops = Vec::new();
    for node in 128..=207u8 {
        ops.push(Op::Call {
            node,
            bulk: false,
            timeout_ms: None,
            pad: 0,
        });
        if node % 8 == 7 {
            ops.push(Op::Wait(1001));
        }
    }
    for node in 208..=227u8 {
        ops.push(Op::Accept);
        ops.push(Op::Upgrade {
            link: 0,
            node: Some(node),
            lane: 0,
        });
        ops.push(Op::Release(0));
    }
    ops.push(Op::Call {
        node: 1,
        bulk: false,
        timeout_ms: None,
        pad: 0,
    });
    ops
}

/// The settings of the hand-made seeds: 8 links, 4 calls in flight per link, 15 waiting,
/// connect in 1 s, calls in 3 s, a ping every 200 ms and dead after 1 s of silence, idle
/// after 5 s.
const SCENARIO_SETUP: Setup = Setup {
    seed: 1,
    max_links: 7,
    max_in_flight: 3,
    queue_messages: 15,
    queue_bytes: 4096,
    connect_timeout_ms: 1000,
    default_timeout_ms: 3000,
    heartbeat: Some((200, 4, true)),
    idle_timeout_ms: Some(5000),
    fragment_size: 0,
    chunk: 0,
};

/// The bytes `arbitrary` reads back as `setup` then `ops`; panics if they do not.
fn encode(setup: &Setup, ops: &[Op]) -> Vec<u8> {
    let mut s = Script::default();
    setup.encode(&mut s);
    for op in ops {
        op.encode(&mut s);
    }
    let mut u = Unstructured::new(&s.0);
    let read = Setup::arbitrary(&mut u).ok();
    assert_eq!(read.as_ref(), Some(setup), "the setup reads back otherwise");
    for op in ops {
        let read = Op::arbitrary(&mut u).ok();
        assert_eq!(read.as_ref(), Some(op), "an op reads back otherwise");
    }
    assert!(u.is_empty(), "bytes left after the script");
    s.0
}

/// Values written as `arbitrary` 1.x reads them: integers little-endian, `bool` as one
/// byte, `Option` as a `bool` then the value, a `Vec` as a `true` before each element and
/// a `false` after the last, an enum variant as the `u32` that scales to its index.
#[derive(Default)]
struct Script(Vec<u8>);

impl Script {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    fn opt_u8(&mut self, v: Option<u8>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u8(v);
        }
    }

    fn opt_u16(&mut self, v: Option<u16>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u16(v);
        }
    }

    fn bytes(&mut self, v: &[u8]) {
        for &b in v {
            self.bool(true);
            self.u8(b);
        }
        self.bool(false);
    }

    /// `arbitrary` picks variant `(x * count) >> 32` for the `u32` x it reads.
    fn variant(&mut self, index: u32) {
        let count = u64::from(OP_VARIANTS);
        let x = (u64::from(index) << 32).div_ceil(count);
        self.0
            .extend_from_slice(&u32::try_from(x).unwrap_or(u32::MAX).to_le_bytes());
    }
}

impl Setup {
    fn encode(&self, s: &mut Script) {
        s.u8(self.seed);
        s.u8(self.max_links);
        s.u8(self.max_in_flight);
        s.u8(self.queue_messages);
        s.u16(self.queue_bytes);
        s.u16(self.connect_timeout_ms);
        s.u16(self.default_timeout_ms);
        s.bool(self.heartbeat.is_some());
        if let Some((interval, silences, any_input)) = self.heartbeat {
            s.u16(interval);
            s.u8(silences);
            s.bool(any_input);
        }
        s.opt_u16(self.idle_timeout_ms);
        s.u8(self.fragment_size);
        s.u8(self.chunk);
    }
}

impl Op {
    fn encode(&self, s: &mut Script) {
        match self {
            Op::Wait(ms) => {
                s.variant(0);
                s.u16(*ms);
            }
            Op::Tick => s.variant(1),
            Op::Call {
                node,
                bulk,
                timeout_ms,
                pad,
            } => {
                s.variant(2);
                s.u8(*node);
                s.bool(*bulk);
                s.opt_u16(*timeout_ms);
                s.u8(*pad);
            }
            Op::Notify { node, pad } => {
                s.variant(3);
                s.u8(*node);
                s.u8(*pad);
            }
            Op::Cancel(n) => {
                s.variant(4);
                s.u8(*n);
            }
            Op::Respond {
                request,
                error,
                elsewhere,
            } => {
                s.variant(5);
                s.u8(*request);
                s.bool(*error);
                s.opt_u8(*elsewhere);
            }
            Op::Accept => s.variant(6),
            Op::Open { link, bad_header } => {
                s.variant(7);
                s.u8(*link);
                s.bool(*bad_header);
            }
            Op::Fail(n) => {
                s.variant(8);
                s.u8(*n);
            }
            Op::Eof(n) => {
                s.variant(9);
                s.u8(*n);
            }
            Op::Release(n) => {
                s.variant(10);
                s.u8(*n);
            }
            Op::Upgrade { link, node, lane } => {
                s.variant(11);
                s.u8(*link);
                s.opt_u8(*node);
                s.u8(*lane);
            }
            Op::AnswerUpgrade {
                link,
                how,
                frames_after,
            } => {
                s.variant(12);
                s.u8(*link);
                s.u8(*how);
                s.bool(*frames_after);
            }
            Op::Reply {
                request,
                error,
                elsewhere,
            } => {
                s.variant(13);
                s.u8(*request);
                s.bool(*error);
                s.opt_u8(*elsewhere);
            }
            Op::PeerCall {
                link,
                notify,
                batch,
            } => {
                s.variant(14);
                s.u8(*link);
                s.bool(*notify);
                s.u8(*batch);
            }
            Op::Ping(n) => {
                s.variant(15);
                s.u8(*n);
            }
            Op::Pong(n) => {
                s.variant(16);
                s.u8(*n);
            }
            Op::PeerClose { link, code } => {
                s.variant(17);
                s.u8(*link);
                s.u16(*code);
            }
            Op::Raw { link, bytes } => {
                s.variant(18);
                s.u8(*link);
                s.bytes(bytes);
            }
            Op::Stale { link, bytes } => {
                s.variant(19);
                s.u8(*link);
                s.bytes(bytes);
            }
            Op::Shutdown(grace) => {
                s.variant(20);
                s.u16(*grace);
            }
        }
    }
}
