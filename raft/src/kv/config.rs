//! The store's openraft type configuration, [`Kv`], on any openraft runtime.

use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;

use openraft::impls::leader_id_adv::LeaderId;
use openraft::impls::{
    BasicNode, BoxedErrorSource, Entry, EntryPayload, InlineBatch, ProgressResponder, Vote,
};
use openraft::vote::RaftLeaderId;
use openraft::{AsyncRuntime, OptionalSend, RaftTypeConfig};

use super::{Request, Response};

/// The key-value store's [`RaftTypeConfig`] on openraft runtime `Rt`
/// (`Kv<openraft::TokioRuntime>` is [`KvTokio`]): [`Request`]s in the log, [`Response`]s
/// from the state machine, `u64` node ids and [`BasicNode`]s whose `addr` is the node's
/// `ws://` URL; openraft's defaults for the rest.
///
/// `declare_raft_types!` makes a config for one runtime only; this one takes the runtime as
/// a parameter, so the store is written once.
pub struct Kv<Rt>(PhantomData<fn() -> Rt>);

/// The store on tokio.
pub type KvTokio = Kv<openraft::TokioRuntime>;

impl<Rt: AsyncRuntime> RaftTypeConfig for Kv<Rt> {
    type D = Request;
    type R = Response;
    type NodeId = u64;
    type Node = BasicNode;
    type Term = u64;
    type LeaderId = LeaderId<u64, u64>;
    type Vote = Vote<Self::LeaderId>;
    type Payload = EntryPayload<Request, u64, BasicNode>;
    type Entry = Entry<<Self::LeaderId as RaftLeaderId>::Committed, Self::Payload>;
    type Responder<T>
        = ProgressResponder<Self, T>
    where
        T: OptionalSend + 'static;
    type Batch<T>
        = InlineBatch<T>
    where
        T: OptionalSend + 'static;
    type AsyncRuntime = Rt;
    type ErrorSource = BoxedErrorSource;
}

// The derives would ask the same of `Rt`, which is a marker here, never a value.

impl<Rt> fmt::Debug for Kv<Rt> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kv")
    }
}

impl<Rt> Clone for Kv<Rt> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Rt> Copy for Kv<Rt> {}

impl<Rt> Default for Kv<Rt> {
    fn default() -> Self {
        Kv(PhantomData)
    }
}

impl<Rt> PartialEq for Kv<Rt> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<Rt> Eq for Kv<Rt> {}

impl<Rt> PartialOrd for Kv<Rt> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<Rt> Ord for Kv<Rt> {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}
