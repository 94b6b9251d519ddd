//! What we have yet to write: priority control bytes, queued messages, and the rest of a
//! frame already started.
//!
//! Messages are encoded lazily, one frame of at most `fragment_size` at a time, so a ping
//! or pong can always be written between two frames of a large message (DESIGN: heartbeats
//! are never stuck behind bulk data). Small frames are coalesced into one buffer so one
//! socket write carries many of them; a large unmasked payload is handed out as a slice of
//! the caller's `Bytes`, never copied.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::deflate::RSV1;
use crate::frame::{encode_frame, encode_frame_rsv, FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::rng::Rng;

/// Frames at most this long are copied into the coalescing buffer.
const SMALL_FRAME: usize = 4 << 10;
/// Stop coalescing once a buffer holds this much.
const COALESCE_LIMIT: usize = 16 << 10;
/// Unanswered pings we keep (each at most 125 bytes).
const MAX_PENDING_PONGS: usize = 16;

/// One item in the ordered queue of things to send.
#[derive(Debug)]
enum Item {
    /// A data message, `sent` bytes of which are already encoded. A `compressed` payload
    /// is marked with RSV1 on its first frame.
    Data {
        opcode: OpCode,
        payload: Bytes,
        sent: usize,
        compressed: bool,
    },
    /// A close frame; nothing after it is sent.
    Close(Bytes),
}

/// The write side of a connection.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// Remaining pieces of a frame already started: always written first, in order.
    started: VecDeque<Bytes>,
    /// Handshake responses, pings and failure closes: written before queued messages.
    urgent: BytesMut,
    /// Pings still to answer, oldest first. Every ping gets its pong, up to
    /// `MAX_PENDING_PONGS`; past that the oldest are dropped, as RFC 6455 §5.5.3 allows,
    /// so a ping flood cannot make us hold more than that.
    pongs: VecDeque<Bytes>,
    /// Messages and the close frame, in the order the user gave them.
    queue: VecDeque<Item>,
    /// Bytes held in `started`, `urgent` and `queue`.
    pending: usize,
}

impl Outgoing {
    /// Frees what the empty queues and buffer hold: see
    /// [`Connection::release_idle`](super::Connection::release_idle).
    pub(crate) fn release_idle(&mut self) {
        if self.started.is_empty() {
            self.started = VecDeque::new();
        }
        if self.urgent.is_empty() {
            self.urgent = BytesMut::new();
        }
        if self.pongs.is_empty() {
            self.pongs = VecDeque::new();
        }
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }

    /// Queues a control frame ahead of messages.
    pub(crate) fn push_urgent_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        let before = self.urgent.len();
        encode_frame(&mut self.urgent, true, opcode, mask, payload);
        self.pending += self.urgent.len() - before;
    }

    /// Queues raw bytes (a handshake head) ahead of messages.
    pub(crate) fn push_urgent_bytes(&mut self, bytes: &[u8]) {
        self.urgent.extend_from_slice(bytes);
        self.pending += bytes.len();
    }

    pub(crate) fn push_pong(&mut self, payload: Bytes) {
        if self.pongs.len() == MAX_PENDING_PONGS {
            if let Some(oldest) = self.pongs.pop_front() {
                self.pending -= oldest.len();
            }
        }
        self.pending += payload.len();
        self.pongs.push_back(payload);
    }

    pub(crate) fn push_message(&mut self, opcode: OpCode, payload: Bytes, compressed: bool) {
        self.pending += payload.len();
        self.queue.push_back(Item::Data {
            opcode,
            payload,
            sent: 0,
            compressed,
        });
    }

    pub(crate) fn push_close(&mut self, payload: Bytes) {
        self.pending += payload.len();
        self.queue.push_back(Item::Close(payload));
    }

    /// Payload and control bytes not yet handed out (headers not counted until encoded).
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.started.is_empty()
            && self.urgent.is_empty()
            && self.pongs.is_empty()
            && self.queue.is_empty()
    }

    /// The next bytes to write. `mask` draws a masking key per frame on a client.
    pub(crate) fn poll(&mut self, rng: Option<&mut Rng>, fragment_size: usize) -> Option<Bytes> {
        if let Some(b) = self.started.pop_front() {
            self.pending = self.pending.saturating_sub(b.len());
            return Some(b);
        }
        let mut rng = rng;
        while let Some(p) = self.pongs.pop_front() {
            self.pending -= p.len();
            let mask = rng.as_deref_mut().map(draw_mask);
            let before = self.urgent.len();
            encode_frame(&mut self.urgent, true, OpCode::Pong, mask, &p);
            self.pending += self.urgent.len() - before;
        }
        if !self.urgent.is_empty() {
            let b = self.urgent.split().freeze();
            self.pending = self.pending.saturating_sub(b.len());
            return Some(b);
        }
        self.encode_queued(rng, fragment_size.max(1))
    }

    /// Encodes frames from the message queue: small ones coalesced, a large one alone.
    fn encode_queued(&mut self, mut rng: Option<&mut Rng>, fragment_size: usize) -> Option<Bytes> {
        let mut buf = BytesMut::with_capacity(self.coalesced_len(fragment_size));
        while buf.len() < COALESCE_LIMIT {
            let Some(item) = self.queue.front_mut() else {
                break;
            };
            match item {
                Item::Close(payload) => {
                    let mask = rng.as_deref_mut().map(draw_mask);
                    encode_frame(&mut buf, true, OpCode::Close, mask, payload);
                    self.pending -= payload.len();
                    // Nothing may follow a close frame.
                    self.queue.clear();
                    break;
                }
                Item::Data {
                    opcode,
                    payload,
                    sent,
                    compressed,
                } => {
                    let chunk_len = (payload.len() - *sent).min(fragment_size);
                    let first = *sent == 0;
                    let fin = *sent + chunk_len == payload.len();
                    let op = if first { *opcode } else { OpCode::Continuation };
                    // RFC 7692 §6.1: only the first frame of a compressed message says so.
                    let rsv = if first && *compressed { RSV1 } else { 0 };
                    let range = *sent..*sent + chunk_len;
                    if chunk_len > SMALL_FRAME && !buf.is_empty() {
                        // Written on the next poll, after any control frame that arrives.
                        break;
                    }
                    *sent += chunk_len;
                    self.pending -= chunk_len;
                    let mask = rng.as_deref_mut().map(draw_mask);
                    if chunk_len > SMALL_FRAME && mask.is_none() {
                        // Only a payload handed out as it is is sliced: a slice of a `Bytes`
                        // made from a `Vec` allocates its shared count.
                        let chunk = payload.slice(range);
                        if fin {
                            self.queue.pop_front();
                        }
                        let header = FrameHeader {
                            fin,
                            rsv,
                            opcode: op,
                            mask: None,
                            payload_len: chunk_len as u64,
                        };
                        let mut head = [0u8; MAX_HEADER_LEN];
                        let n = header.encode(&mut head);
                        buf.extend_from_slice(&head[..n]);
                        self.started.push_back(chunk);
                        self.pending += chunk_len;
                        break;
                    }
                    encode_frame_rsv(&mut buf, fin, rsv, op, mask, &payload[range]);
                    if fin {
                        self.queue.pop_front();
                    }
                    if chunk_len > SMALL_FRAME {
                        break;
                    }
                }
            }
        }
        if buf.is_empty() {
            None
        } else {
            Some(buf.freeze())
        }
    }

    /// About what [`encode_queued`](Self::encode_queued) writes into its buffer next (at
    /// most a small frame more than the coalescing limit), so the buffer is allocated once
    /// instead of growing frame by frame while many small replies are coalesced.
    fn coalesced_len(&self, fragment_size: usize) -> usize {
        let mut len = 0;
        for item in &self.queue {
            len += MAX_HEADER_LEN
                + match item {
                    Item::Close(payload) => payload.len(),
                    Item::Data { payload, sent, .. } => {
                        (payload.len() - sent).min(fragment_size).min(SMALL_FRAME)
                    }
                };
            if len >= COALESCE_LIMIT {
                break;
            }
        }
        len
    }
}

fn draw_mask(rng: &mut Rng) -> [u8; 4] {
    rng.next_u32().to_le_bytes()
}
