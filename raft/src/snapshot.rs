//! A full snapshot on the wire: cut into [`SnapshotChunk`]s by the leader, put together by
//! the follower's [`SnapshotInbox`].
//!
//! Each chunk is one call of [`SNAPSHOT`](crate::methods::SNAPSHOT) on the bulk lane, with
//! a deadline of its own; the next chunk goes once the last is acknowledged, so a transfer
//! holds at most one chunk in flight and a slow follower slows it down rather than filling
//! memory. The last chunk's answer comes once the follower has installed the snapshot.

use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::RaftTypeConfig;
use serde::{Deserialize, Serialize};
use tether_adapter::rpc::ErrorObject;

use crate::methods::code;

/// One piece of a full snapshot: the params of [`SNAPSHOT`](crate::methods::SNAPSHOT).
///
/// Every chunk repeats the leader's vote, the transfer's number and the snapshot's metadata
/// (all small), so a follower can tell a chunk of another transfer from the next one of its
/// own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SnapshotChunk<C: RaftTypeConfig> {
    /// The sending leader's vote; the follower installs the snapshot under it.
    pub vote: VoteOf<C>,
    /// Which transfer of the sender this is: a transfer that starts over gets a new one.
    pub transfer: u64,
    /// The snapshot's metadata.
    pub meta: SnapshotMetaOf<C>,
    /// Where in the snapshot's bytes this chunk starts.
    pub offset: u64,
    /// The snapshot's size in bytes.
    pub total: u64,
    /// The chunk's bytes, base64 (standard alphabet, padded): JSON-RPC is text.
    pub data: String,
}

/// The chunks of `snapshot`, `chunk_size` bytes each (the last may be shorter; an empty
/// snapshot is one empty chunk), made one at a time as the transfer goes.
pub(crate) fn chunks<'a, C: RaftTypeConfig>(
    vote: &'a VoteOf<C>,
    transfer: u64,
    snapshot: &'a SnapshotOf<C, Vec<u8>>,
    chunk_size: usize,
) -> impl Iterator<Item = SnapshotChunk<C>> + 'a {
    let bytes = &snapshot.snapshot;
    let total = bytes.len() as u64;
    let chunk_size = chunk_size.max(1);
    let count = bytes.len().div_ceil(chunk_size).max(1);
    (0..count).map(move |i| {
        let start = i * chunk_size;
        let end = (start + chunk_size).min(bytes.len());
        SnapshotChunk {
            vote: vote.clone(),
            transfer,
            meta: snapshot.meta.clone(),
            offset: start as u64,
            total,
            data: BASE64.encode(&bytes[start..end]),
        }
    })
}

/// A follower's side of snapshot transfers: the one transfer in progress, put together
/// chunk by chunk.
///
/// A chunk at offset 0 starts a transfer (dropping any other); any other chunk must
/// continue the transfer in progress exactly (same vote, transfer and snapshot, at the
/// offset reached), else it is refused with [`code::SNAPSHOT_OUT_OF_ORDER`] and the leader starts
/// over. A snapshot over `max_bytes` is refused before anything is held.
#[derive(Debug)]
pub struct SnapshotInbox<C: RaftTypeConfig> {
    max_bytes: u64,
    transfer: Mutex<Option<Transfer<C>>>,
}

#[derive(Debug)]
struct Transfer<C: RaftTypeConfig> {
    vote: VoteOf<C>,
    transfer: u64,
    meta: SnapshotMetaOf<C>,
    total: u64,
    data: Vec<u8>,
}

/// What a chunk completed.
#[derive(Debug)]
pub enum Received<C: RaftTypeConfig> {
    /// More chunks are to come.
    More,
    /// That was the last: the whole snapshot, to install under the vote.
    Complete(VoteOf<C>, SnapshotOf<C, Vec<u8>>),
}

/// Bytes reserved up front for a transfer, whatever size it announces: a peer's claim is
/// not a reason to hold memory.
const INITIAL_CAPACITY: u64 = 4 << 20;

impl<C: RaftTypeConfig> SnapshotInbox<C> {
    /// An inbox that accepts snapshots of up to `max_bytes`.
    pub fn new(max_bytes: u64) -> SnapshotInbox<C> {
        SnapshotInbox {
            max_bytes,
            transfer: Mutex::new(None),
        }
    }

    /// Takes one chunk.
    pub fn receive(&self, chunk: SnapshotChunk<C>) -> Result<Received<C>, ErrorObject> {
        if chunk.total > self.max_bytes {
            return Err(ErrorObject::new(
                code::SNAPSHOT_TOO_LARGE,
                format!("snapshot of {} bytes, over {}", chunk.total, self.max_bytes),
            ));
        }
        let mut slot = self
            .transfer
            .lock()
            .map_err(|_| ErrorObject::internal("snapshot inbox poisoned"))?;
        if chunk.offset == 0 {
            *slot = Some(Transfer {
                vote: chunk.vote.clone(),
                transfer: chunk.transfer,
                meta: chunk.meta.clone(),
                total: chunk.total,
                data: Vec::with_capacity(chunk.total.min(INITIAL_CAPACITY) as usize),
            });
        }
        let continues = slot.as_ref().is_some_and(|t| {
            t.vote == chunk.vote
                && t.transfer == chunk.transfer
                && t.meta == chunk.meta
                && t.total == chunk.total
                && t.data.len() as u64 == chunk.offset
        });
        let Some(transfer) = slot.as_mut().filter(|_| continues) else {
            return Err(ErrorObject::new(
                code::SNAPSHOT_OUT_OF_ORDER,
                format!("chunk at {} continues no transfer", chunk.offset),
            ));
        };
        if let Err(e) = BASE64.decode_vec(chunk.data.as_bytes(), &mut transfer.data) {
            *slot = None;
            return Err(ErrorObject::invalid_params(format!("chunk data: {e}")));
        }
        if transfer.data.len() as u64 > transfer.total {
            *slot = None;
            return Err(ErrorObject::invalid_params(
                "chunks past the snapshot's size",
            ));
        }
        if (transfer.data.len() as u64) < transfer.total {
            return Ok(Received::More);
        }
        let Some(done) = slot.take() else {
            return Err(ErrorObject::internal("snapshot transfer vanished"));
        };
        let snapshot = SnapshotOf::<C, Vec<u8>> {
            meta: chunk.meta,
            snapshot: done.data,
        };
        Ok(Received::Complete(done.vote, snapshot))
    }
}

#[cfg(test)]
mod tests {
    use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
    use openraft::vote::{RaftLeaderId, RaftVote};

    use super::*;
    use crate::kv::KvTokio as C;

    fn snapshot(len: usize) -> SnapshotOf<C, Vec<u8>> {
        SnapshotOf::<C, Vec<u8>> {
            meta: SnapshotMetaOf::<C>::default(),
            snapshot: (0..len).map(|i| (i % 251) as u8).collect(),
        }
    }

    fn vote(term: u64) -> VoteOf<C> {
        VoteOf::<C>::from_leader_id(openraft::impls::leader_id_adv::LeaderId::new(term, 1), true)
    }

    #[test]
    fn every_size_and_chunk_size_round_trips() {
        let vote = vote(1);
        for len in [0, 1, 2, 3, 7, 8, 9, 100] {
            for chunk_size in [1, 2, 3, 8, 1000] {
                let sent = snapshot(len);
                let inbox = SnapshotInbox::<C>::new(1 << 20);
                let chunks: Vec<_> = chunks::<C>(&vote, 7, &sent, chunk_size).collect();
                assert_eq!(chunks.len(), len.div_ceil(chunk_size).max(1));
                let last = chunks.len() - 1;
                for (i, chunk) in chunks.into_iter().enumerate() {
                    match inbox.receive(chunk) {
                        Ok(Received::More) => assert!(i < last, "{len}/{chunk_size}: early end"),
                        Ok(Received::Complete(got_vote, got)) => {
                            assert_eq!(i, last);
                            assert_eq!(got_vote, vote);
                            assert_eq!(got.snapshot, sent.snapshot);
                        }
                        Err(e) => panic!("{len}/{chunk_size}: chunk {i}: {e:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_chunk_out_of_order_or_of_another_transfer_is_refused() {
        let vote = vote(1);
        let sent = snapshot(10);
        let inbox = SnapshotInbox::<C>::new(1 << 20);
        let first: Vec<_> = chunks::<C>(&vote, 1, &sent, 4).collect();
        let other: Vec<_> = chunks::<C>(&vote, 2, &sent, 4).collect();
        // Nothing started: a middle chunk continues nothing.
        let refused = inbox
            .receive(first[1].clone())
            .expect_err("no transfer yet");
        assert_eq!(refused.code, code::SNAPSHOT_OUT_OF_ORDER);
        assert!(matches!(
            inbox.receive(first[0].clone()),
            Ok(Received::More)
        ));
        assert!(matches!(
            inbox.receive(first[1].clone()),
            Ok(Received::More)
        ));
        // A repeated chunk, or the next one of another transfer: refused.
        for wrong in [&first[1], &other[2]] {
            let refused = inbox.receive(wrong.clone()).expect_err("out of order");
            assert_eq!(refused.code, code::SNAPSHOT_OUT_OF_ORDER);
        }
        // The transfer in progress goes on after refusals.
        assert!(matches!(
            inbox.receive(first[2].clone()),
            Ok(Received::Complete(..))
        ));
        // Another transfer starts from its first chunk and completes.
        for (i, chunk) in other.into_iter().enumerate() {
            let received = inbox.receive(chunk).expect("the new transfer");
            assert_eq!(matches!(received, Received::Complete(..)), i == 2);
        }
    }

    #[test]
    fn a_snapshot_over_the_limit_or_past_its_size_is_refused() {
        let vote = vote(1);
        let inbox = SnapshotInbox::<C>::new(5);
        let big = snapshot(6);
        let chunk = chunks::<C>(&vote, 1, &big, 100).next().expect("a chunk");
        assert_eq!(
            inbox.receive(chunk).expect_err("too big").code,
            code::SNAPSHOT_TOO_LARGE
        );

        let inbox = SnapshotInbox::<C>::new(100);
        let mut lying = chunks::<C>(&vote, 1, &snapshot(4), 100)
            .next()
            .expect("a chunk");
        lying.total = 2;
        let refused = inbox.receive(lying).expect_err("past its size");
        assert_eq!(refused.code, ErrorObject::INVALID_PARAMS);
        let mut garbled = chunks::<C>(&vote, 1, &snapshot(4), 100)
            .next()
            .expect("a chunk");
        garbled.data = "not base64!".into();
        let refused = inbox.receive(garbled).expect_err("not base64");
        assert_eq!(refused.code, ErrorObject::INVALID_PARAMS);
    }
}
