//! The `budget` target: a server [`Channel`] and an owner that runs it the way a driver
//! does (reads only while the channel wants input, runs handlers in a [`Serving`], takes
//! bytes for a socket that the peer drains when it likes, reports what it holds), against
//! a peer that sends calls, notifications, batches and invalid batches in any mix and
//! reads our replies late or never. Checked after every step:
//!
//! - what the connection holds for its peer ([`Channel::held`], the owner's part
//!   included) stays within the budget, one socket read, and one message with what
//!   handling it adds: `budget + READ + 2 × max_message + SLACK`;
//! - requests reach the handlers in the order the peer sent them;
//!
//! and once the peer reads everything and the handlers finish, that every request sent got
//! exactly one answer (nothing accepted was dropped), and that nothing is stuck.
//!
//! The script: the first byte sets the budget and the largest message; then each pair of
//! bytes is one step (see [`step`]).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::budget::Held;
use crate::handshake::ClientRequest;
use crate::rpc::{self, Channel, Event, Id, ReplyTo, Serving};
use crate::ws::{self, Connection, Message};

/// The most bytes one read takes from the peer.
const READ: usize = 4096;
/// The most a socket write takes at once.
const WRITE: usize = 8192;
/// A message's frame headers and a reply's envelope beyond the bytes counted.
const SLACK: usize = 4096;
/// Handlers running at once.
const MAX_HANDLERS: usize = 16;
/// Entries of a batch at most.
const MAX_BATCH: usize = 8;

/// The peer's side: what it wrote and has not been read, what it sent, what it got back.
struct Peer {
    now: Instant,
    conn: Connection,
    /// Bytes on the wire towards the server, not yet read by the owner.
    wire: Vec<u8>,
    next_id: u64,
    /// Ids of the requests sent, and of the answers received.
    sent: BTreeSet<u64>,
    answered: BTreeSet<u64>,
}

/// The server's side: the channel, the handlers running, the bytes for the socket.
struct Owner {
    channel: Channel,
    serving: Serving,
    /// (job, request id, params size) of the handlers running, oldest first.
    running: Vec<(rpc::JobId, u64, usize)>,
    /// Bytes taken from the channel and not yet written.
    socket: Vec<u8>,
    /// The id of the last request handed to a handler.
    last_taken: Option<u64>,
}

/// Runs one script; panics if a property breaks.
pub fn budget(origin: Instant, data: &[u8]) {
    let Some((&shape, script)) = data.split_first() else {
        return;
    };
    let budget = 512 << (shape & 7);
    let max_message = 256 << ((shape >> 3) & 3);
    let now = origin;
    let ws_config = ws::Config {
        budget,
        max_message_size: max_message,
        max_frame_size: max_message,
        heartbeat: None,
        write_stall_timeout: None,
        ..ws::Config::default()
    };
    let rpc_config = rpc::Config {
        max_batch_len: MAX_BATCH,
        ..rpc::Config::default()
    };
    let request = ClientRequest {
        host: "fuzz".into(),
        path: "/".into(),
        ..Default::default()
    };
    // The peer takes answers of any size: a batch's may be longer than our largest message.
    let peer_config = ws::Config {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        ..ws_config.clone()
    };
    let Ok(client) = Connection::client(now, peer_config, request, [5; 32]) else {
        return;
    };
    let mut peer = Peer {
        now,
        conn: client,
        wire: Vec::new(),
        next_id: 0,
        sent: BTreeSet::new(),
        answered: BTreeSet::new(),
    };
    let mut owner = Owner {
        channel: Channel::server(now, ws_config, rpc_config, [6; 32]),
        serving: Serving::new(None),
        running: Vec::new(),
        socket: Vec::new(),
        last_taken: None,
    };
    // The handshake, read and written whole.
    for _ in 0..4 {
        peer.flush();
        owner.read(now, &mut peer.wire, usize::MAX);
        owner.drain(now);
        owner.write(&mut peer, usize::MAX);
    }
    assert_eq!(
        peer.conn.state(),
        ws::State::Open,
        "the handshake did not finish"
    );
    let bound = budget + READ + 2 * max_message + SLACK;
    for pair in script.chunks(2) {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        step(now, &mut peer, &mut owner, op, arg, max_message);
        let held = owner.channel.held().total();
        assert!(
            held <= bound,
            "held {held} bytes for the peer; budget {budget}, max message {max_message}"
        );
    }
    // The peer reads everything, the handlers finish: every request is answered once.
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let before = (
            peer.wire.len(),
            owner.running.len(),
            owner.channel.held(),
            peer.answered.len(),
        );
        owner.read(now, &mut peer.wire, READ);
        owner.drain(now);
        while !owner.running.is_empty() {
            owner.finish(now, 0);
        }
        owner.drain(now);
        owner.write(&mut peer, usize::MAX);
        let held = owner.channel.held().total();
        assert!(held <= bound, "held {held} bytes while draining");
        let after = (
            peer.wire.len(),
            owner.running.len(),
            owner.channel.held(),
            peer.answered.len(),
        );
        idle_rounds = if before == after { idle_rounds + 1 } else { 0 };
    }
    assert!(
        peer.wire.is_empty(),
        "{} bytes never read: stuck",
        peer.wire.len()
    );
    assert_eq!(
        peer.sent, peer.answered,
        "a request was not answered exactly once"
    );
}

/// One step of the script: `op % 8` picks what happens, `arg` how much.
fn step(now: Instant, peer: &mut Peer, owner: &mut Owner, op: u8, arg: u8, max_message: usize) {
    match op % 8 {
        // The peer calls `echo` with params of up to the largest message.
        0 => {
            let len = (usize::from(arg) * max_message / 256).min(max_message.saturating_sub(64));
            peer.call(len);
        }
        // A batch of calls, within the largest message (about 64 bytes a call).
        1 => {
            let n = usize::from(arg) % (max_message / 80).clamp(1, MAX_BATCH) + 1;
            let len = (max_message / n)
                .saturating_sub(80)
                .min(usize::from(arg) % 32);
            peer.batch(n, len);
        }
        // A batch of invalid entries, each answered with an error object.
        2 => {
            let n = usize::from(arg) % (MAX_BATCH * 2) + 1;
            let text = format!("[{}]", vec!["0"; n].join(","));
            peer.send(text);
        }
        // A notification.
        3 => peer.send(format!(
            r#"{{"jsonrpc":"2.0","method":"note","params":[{}]}}"#,
            arg
        )),
        // The owner reads, if the channel wants input.
        4 => owner.read(now, &mut peer.wire, usize::from(arg) * READ / 256 + 1),
        // The owner takes events and bytes.
        5 => owner.drain(now),
        // A handler finishes, answering with as many bytes as its params had (an
        // application's larger answers are its own to bound).
        6 => {
            owner.finish(now, usize::from(arg));
            owner.drain(now);
        }
        // The peer reads some of our bytes.
        _ => owner.write(peer, usize::from(arg) * WRITE / 256),
    }
}

impl Peer {
    fn send(&mut self, text: String) {
        let _ = self.conn.send(self.now, Message::Text(text));
        self.flush();
    }

    fn call(&mut self, len: usize) {
        let id = self.next_id;
        self.next_id += 1;
        self.sent.insert(id);
        let params = "x".repeat(len);
        self.send(format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":["{params}"],"id":{id}}}"#
        ));
    }

    fn batch(&mut self, n: usize, len: usize) {
        let calls: Vec<String> = (0..n)
            .map(|_| {
                let id = self.next_id;
                self.next_id += 1;
                self.sent.insert(id);
                format!(
                    r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":{id}}}"#,
                    "b".repeat(len)
                )
            })
            .collect();
        self.send(format!("[{}]", calls.join(",")));
    }

    fn flush(&mut self) {
        while let Some(bytes) = self.conn.poll_transmit() {
            self.wire.extend_from_slice(&bytes);
        }
    }

    /// Reads what the server wrote: every answer's id, once.
    fn receive(&mut self, bytes: &[u8]) {
        self.conn.handle_input(self.now, bytes);
        while let Some(event) = self.conn.poll_event() {
            let ws::Event::Message(Message::Text(text)) = event else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                panic!("the server wrote something that is not JSON: {text}");
            };
            let answers = match value {
                Value::Array(items) => items,
                one => vec![one],
            };
            for answer in answers {
                if let Some(id) = answer.get("id").and_then(Value::as_u64) {
                    assert!(self.sent.contains(&id), "an answer to {id}, never sent");
                    assert!(self.answered.insert(id), "request {id} answered twice");
                }
            }
        }
        self.flush();
    }
}

impl Owner {
    /// Reads up to `max` bytes from the wire, if the channel wants input.
    fn read(&mut self, now: Instant, wire: &mut Vec<u8>, max: usize) {
        if !self.channel.wants_input() || wire.is_empty() {
            return;
        }
        let n = max.min(wire.len());
        let bytes: Vec<u8> = wire.drain(..n).collect();
        self.channel.handle_input(now, &bytes);
        self.report(now);
    }

    /// What a driver does after every input: take events while handlers may start, take
    /// bytes for the socket, and say what it holds outside.
    fn drain(&mut self, now: Instant) {
        loop {
            self.report(now);
            let mut took = false;
            while self.serving.len() < MAX_HANDLERS {
                let Some(event) = self.channel.poll_event() else {
                    break;
                };
                took = true;
                self.on_event(now, event);
            }
            self.report(now);
            while self.socket.len() < WRITE {
                let Some(bytes) = self.channel.poll_transmit() else {
                    break;
                };
                self.socket.extend_from_slice(&bytes);
            }
            self.report(now);
            if !took {
                break;
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Upgrade(_) => {
                let _ = self.channel.accept(now, None, &[]);
            }
            Event::Request { reply, params, .. } => {
                let Id::Number(number) = reply.id() else {
                    panic!("a request with an id we never sent: {:?}", reply.id());
                };
                let Some(id) = number.as_u64() else {
                    panic!("a request id we never sent: {number}");
                };
                if let Some(last) = self.last_taken {
                    assert!(id > last, "request {id} taken after {last}: reordered");
                }
                self.last_taken = Some(id);
                let size = params.as_ref().map_or(0, |p| p.get().len());
                let job = self.serving.start(now, Some(reply), size + 4);
                self.running.push((job, id, size));
            }
            Event::Notification { params, .. } => {
                let size = params.as_ref().map_or(0, |p| p.get().len());
                let job = self.serving.start(now, None, size + 4);
                self.running.push((job, u64::MAX, size));
            }
            Event::Parse(unparsed) => {
                let parsed = unparsed.parse();
                self.channel.handle_parsed(now, parsed);
            }
            _ => {}
        }
    }

    /// The handler at `index` (modulo those running) answers with as many bytes as its
    /// params had.
    fn finish(&mut self, now: Instant, index: usize) {
        if self.running.is_empty() {
            return;
        }
        let (job, _, answer) = self.running.remove(index % self.running.len());
        let reply: Option<ReplyTo> = self.serving.finish(job).flatten();
        if let Some(reply) = reply {
            let text = format!("\"{}\"", "r".repeat(answer));
            if let Ok(value) = RawValue::from_string(text) {
                let _ = self.channel.respond(now, reply, Ok(&value));
            }
        }
        self.report(now);
    }

    /// The peer reads up to `max` of the bytes taken for the socket.
    fn write(&mut self, peer: &mut Peer, max: usize) {
        let n = max.min(self.socket.len());
        let bytes: Vec<u8> = self.socket.drain(..n).collect();
        peer.receive(&bytes);
    }

    fn report(&mut self, now: Instant) {
        let outside = Held {
            input: 0,
            handling: self.serving.bytes(),
            unwritten: self.socket.len(),
        };
        self.channel.set_outside(now, outside);
    }
}
