//! Where a wait on the bulk lane could come from: how long each step of one large call
//! takes in the core pool, two `tether_core::pool::Pool`s wired together in memory (no
//! sockets, no runtime, no lock). `Peers` runs some of them inside its pool's one lock
//! (`Pool::call_request`, a link task's `Pool::handle_input` and `Pool::poll_transmit`,
//! `Pool::handle_parsed`): for that long no other link of the node moves. The steps whose
//! time grows with the message (`Request::new`, `Unparsed::parse`) run outside it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::value::{to_raw_value, RawValue};
use tether_core::handshake::ClientRequest;
use tether_core::pool::{Config, Event, Lane, LinkId, NodeId, Pool};
use tether_core::rpc::Request;

/// What one large call cost in the core, step by step.
pub struct Hold {
    /// Sender, outside the lock: `Request::new` (the request encoded).
    pub encode: Duration,
    /// Sender, under the lock: `Pool::call_request`.
    pub call_on: Duration,
    /// Sender: the longest single `poll_transmit` (one fragment, masked).
    pub longest_transmit: Duration,
    /// Receiver: `handle_input` of one 64 KiB read, median.
    pub median_input: Duration,
    /// Receiver: `handle_input` of the read that completes the message (handed out to be
    /// parsed).
    pub completing_input: Duration,
    /// Receiver, outside the lock: `Unparsed::parse`.
    pub parse: Duration,
    /// Receiver, under the lock: `Pool::handle_parsed`.
    pub handle_parsed: Duration,
}

/// Two pools, node 1 dialing node 2, and the links between them.
struct Wired {
    sender: Pool,
    receiver: Pool,
    /// Sender's link to receiver's, and back.
    forth: BTreeMap<LinkId, LinkId>,
    back: BTreeMap<LinkId, LinkId>,
    now: Instant,
}

fn config(node: NodeId, max_message: usize) -> Config {
    let mut config = Config::new(node);
    config.ws.max_message_size = max_message;
    config.ws.max_frame_size = max_message;
    config.queue.max_bytes = 2 * max_message;
    config
}

impl Wired {
    /// Moves events and bytes both ways until nothing happens; the receiver answers every
    /// request with the length of its params.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(event) = self.sender.poll_event() {
                busy = true;
                if let Event::Connect { link, .. } = event {
                    let accepted = self.receiver.accept(self.now).expect("accept");
                    self.forth.insert(link, accepted);
                    self.back.insert(accepted, link);
                    let request = ClientRequest {
                        host: "node2".into(),
                        path: "/".into(),
                        headers: Vec::new(),
                        protocols: Vec::new(),
                    };
                    self.sender.transport_open(self.now, link, request);
                }
            }
            while let Some(event) = self.receiver.poll_event() {
                busy = true;
                if let Event::Parse { link, unparsed } = event {
                    let parsed = unparsed.parse();
                    self.receiver.handle_parsed(self.now, link, parsed);
                } else if let Event::Request {
                    link,
                    reply,
                    params,
                    ..
                } = event
                {
                    let len = params.as_deref().map_or(0, |p| p.get().len());
                    let answer = to_raw_value(&len).expect("json");
                    self.receiver
                        .respond(self.now, link, reply, Ok(&answer))
                        .expect("respond");
                }
            }
            while let Some(link) = self.sender.poll_ready() {
                busy = true;
                let to = self.forth[&link];
                while let Some(bytes) = self.sender.poll_transmit(link) {
                    self.receiver.handle_input(self.now, to, &bytes);
                }
            }
            while let Some(link) = self.receiver.poll_ready() {
                busy = true;
                let to = self.back[&link];
                while let Some(bytes) = self.receiver.poll_transmit(link) {
                    self.sender.handle_input(self.now, to, &bytes);
                }
            }
            if !busy {
                return;
            }
        }
    }
}

/// `times` large calls of `params` on the bulk lane, each timed step by step.
pub fn measure(params: &RawValue, max_message: usize, times: usize) -> Vec<Hold> {
    let now = Instant::now();
    let mut wired = Wired {
        sender: Pool::new(config(NodeId(1), max_message), [1; 32]),
        receiver: Pool::new(config(NodeId(2), max_message), [2; 32]),
        forth: BTreeMap::new(),
        back: BTreeMap::new(),
        now,
    };
    // Both links open before anything is timed.
    let small = to_raw_value(&["x"]).expect("json");
    for lane in [Lane::Control, Lane::Bulk] {
        wired
            .sender
            .call_on(now, NodeId(2), lane, "len", Some(&small), None)
            .expect("call");
        wired.settle();
    }
    let mut holds = Vec::new();
    for _ in 0..times {
        let start = Instant::now();
        let request = Request::new("len", Some(params)).expect("structured params");
        let encode = start.elapsed();
        let start = Instant::now();
        wired
            .sender
            .call_request(now, NodeId(2), Lane::Bulk, request, None)
            .expect("large call");
        let call_on = start.elapsed();
        let link = wired.sender.poll_ready().expect("the bulk link has bytes");
        let mut wire = Vec::with_capacity(params.get().len() + (1 << 20));
        let mut longest_transmit = Duration::ZERO;
        loop {
            let start = Instant::now();
            let Some(bytes) = wired.sender.poll_transmit(link) else {
                break;
            };
            longest_transmit = longest_transmit.max(start.elapsed());
            wire.extend_from_slice(&bytes);
        }
        let to = wired.forth[&link];
        let mut inputs = Vec::new();
        for read in wire.chunks(64 << 10) {
            let start = Instant::now();
            wired.receiver.handle_input(now, to, read);
            inputs.push(start.elapsed());
        }
        let completing_input = inputs.pop().expect("reads");
        inputs.sort();
        let mut parse = Duration::ZERO;
        let mut handle_parsed = Duration::ZERO;
        while let Some(event) = wired.receiver.poll_event() {
            if let Event::Parse { link, unparsed } = event {
                let start = Instant::now();
                let parsed = unparsed.parse();
                parse = start.elapsed();
                let start = Instant::now();
                wired.receiver.handle_parsed(now, link, parsed);
                handle_parsed = start.elapsed();
                break;
            }
        }
        holds.push(Hold {
            encode,
            call_on,
            longest_transmit,
            median_input: inputs[inputs.len() / 2],
            completing_input,
            parse,
            handle_parsed,
        });
        // The answer goes back; the call ends.
        wired.settle();
        while wired.sender.poll_event().is_some() {}
    }
    holds
}
