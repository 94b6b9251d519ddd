//! What the HTTP/1.1 and gRPC networks share, so that they differ from each other only in
//! how one request travels: openraft's side ([`Factory`], [`Client`]) over any
//! [`Transport`], and the node's side ([`Service::answer`]).
//!
//! Every Raft RPC is one request whose body is openraft's request type as JSON (the same
//! `serde_json` encoding tether's JSON-RPC params carry) and one answer, its response as
//! JSON; the method names are tether-raft's ([`methods`]). A snapshot is one request
//! holding the whole of it (one [`SnapshotChunk`], base64), as openraft's HTTP example
//! sends it; the benchmark's snapshots are a few KiB.
//!
//! Appends go one at a time (openraft's `stream_append_sequential`: the next request once
//! the last is answered), as tether-raft's network sends them, unless the transport
//! [streams them](Transport::streams_appends): then one call carries openraft's stream of
//! appends and answers them in order, several in flight at once, as openraft's gRPC
//! example does with a bidirectional stream.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::future::{ready, select, BoxFuture, Either};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{stream_append_sequential, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{BasicNode, OptionalSend, RPCTypes, Raft, RaftNetworkFactory, RaftNetworkV2};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_raft::kv::{KvTokio, StateMachine};
use tether_raft::methods;
use tether_raft::openraft;
use tether_raft::{Received, SnapshotChunk, SnapshotInbox};

type C = KvTokio;

/// Why a request got no answer, or an answer that is an error.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made: openraft backs off.
    Unreachable(String),
    /// The connection broke, or the transport failed otherwise: openraft retries.
    Lost(String),
    /// The node answered with an error (its Raft is not serving).
    Remote(String),
}

/// The answers to a stream of appends, in order.
pub type Answers = BoxStream<'static, Result<Bytes, Failure>>;

/// One request to one node, as the HTTP/1.1 or the gRPC network sends it.
pub trait Transport: Send + Sync + 'static {
    /// Sends `body` (JSON) as `method` and gives the answer's body (JSON).
    fn call(
        &self,
        method: &'static str,
        body: Bytes,
    ) -> impl Future<Output = Result<Bytes, Failure>> + Send;

    /// Whether appends go as one stream ([`append_stream`](Self::append_stream)) rather
    /// than a request each.
    fn streams_appends(&self) -> bool {
        false
    }

    /// Opens one call that carries `requests` (appends, JSON each) and gives its answers.
    fn append_stream(
        &self,
        requests: BoxStream<'static, Bytes>,
    ) -> BoxFuture<'static, Result<Answers, Failure>> {
        drop(requests);
        Box::pin(ready(Err(Failure::Unreachable(
            "this transport sends appends one at a time".to_owned(),
        ))))
    }
}

/// Makes the [`Transport`] to a node from its address in the membership.
pub trait Dial: Send + Sync + 'static {
    /// The transport it makes.
    type Transport: Transport + Clone;
    /// A transport to `addr` (a `http://HOST:PORT` URL).
    fn dial(&self, addr: &str) -> Self::Transport;
}

/// openraft's network factory over a [`Dial`]: one transport per peer, kept for as long as
/// the peer's address stays the same, shared by every client openraft makes to it
/// (replication, heartbeats, votes, snapshots), as tether's pool shares one link per peer.
pub struct Factory<D: Dial> {
    node: u64,
    dial: D,
    transports: HashMap<u64, (String, D::Transport)>,
}

impl<D: Dial> Factory<D> {
    /// The network of node `node`.
    pub fn new(node: u64, dial: D) -> Factory<D> {
        Factory {
            node,
            dial,
            transports: HashMap::new(),
        }
    }
}

impl<D: Dial> RaftNetworkFactory<C> for Factory<D> {
    type Network = Client<D::Transport>;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Client<D::Transport> {
        let transport = match self.transports.get(&target) {
            Some((addr, transport)) if *addr == node.addr => transport.clone(),
            _ => {
                let transport = self.dial.dial(&node.addr);
                self.transports
                    .insert(target, (node.addr.clone(), transport.clone()));
                transport
            }
        };
        Client {
            transport,
            from: self.node,
            target,
        }
    }
}

/// openraft's client to one peer over a [`Transport`]: each RPC is one request, sent when
/// openraft calls and answered before openraft sends the next one to that peer.
pub struct Client<T> {
    transport: T,
    from: u64,
    target: u64,
}

impl<T: Transport> Client<T> {
    async fn request<P: Serialize, A: DeserializeOwned>(
        &self,
        action: RPCTypes,
        method: &'static str,
        params: &P,
        timeout: Duration,
    ) -> Result<A, RPCError<C>> {
        let body =
            serde_json::to_vec(params).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let call = self.transport.call(method, body.into());
        let answer = match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                return Err(RPCError::Timeout(Timeout {
                    action,
                    id: self.from,
                    target: self.target,
                    timeout,
                }))
            }
            Ok(Err(failure)) => return Err(rpc_error(self.target, failure)),
            Ok(Ok(answer)) => answer,
        };
        serde_json::from_slice(&answer).map_err(|e| {
            RPCError::Unreachable(Unreachable::from_string(format!(
                "node {}: an answer that does not decode: {e}",
                self.target
            )))
        })
    }
}

/// A failure as the error openraft acts on, as tether-raft's network maps `CallError`.
fn rpc_error(target: u64, failure: Failure) -> RPCError<C> {
    match failure {
        Failure::Unreachable(why) => {
            RPCError::Unreachable(Unreachable::from_string(format!("node {target}: {why}")))
        }
        Failure::Lost(why) => {
            RPCError::Network(NetworkError::from_string(format!("node {target}: {why}")))
        }
        // openraft 0.10's RaftNetworkV2 cannot carry a remote error; it ranks one with
        // Unreachable (back off), as tether-raft does.
        Failure::Remote(why) => RPCError::Unreachable(Unreachable::from_string(format!(
            "node {target} answered an error: {why}"
        ))),
    }
}

impl<T: Transport> RaftNetworkV2<C> for Client<T> {
    type SnapshotData = Vec<u8>;

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> openraft::base::BoxFuture<
        's,
        Result<
            openraft::base::BoxStream<'s, Result<StreamAppendResult<C>, RPCError<C>>>,
            RPCError<C>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<C>> + OptionalSend + Unpin + 'static,
    {
        if !self.transport.streams_appends() {
            return stream_append_sequential(self, input, option);
        }
        let requests = input.map(|request| {
            // openraft's own types always encode.
            Bytes::from(serde_json::to_vec(&request).expect("an append request encodes"))
        });
        let open = self.transport.append_stream(requests.boxed());
        let (from, target, timeout) = (self.from, self.target, option.soft_ttl());
        Box::pin(async move {
            let answers = match tokio::time::timeout(timeout, open).await {
                Err(_) => {
                    return Err(RPCError::Timeout(Timeout {
                        action: RPCTypes::AppendEntries,
                        id: from,
                        target,
                        timeout,
                    }))
                }
                Ok(Err(failure)) => return Err(rpc_error(target, failure)),
                Ok(Ok(answers)) => answers,
            };
            let answers = answers.map(move |answer| {
                let answer = answer.map_err(|failure| rpc_error(target, failure))?;
                serde_json::from_slice::<StreamAppendResult<C>>(&answer).map_err(|e| {
                    RPCError::Unreachable(Unreachable::from_string(format!(
                        "node {target}: an answer that does not decode: {e}"
                    )))
                })
            });
            Ok(answers.boxed())
        })
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let timeout = option.soft_ttl();
        self.request(RPCTypes::AppendEntries, methods::APPEND, &rpc, timeout)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.request(RPCTypes::Vote, methods::VOTE, &rpc, option.soft_ttl())
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.request(RPCTypes::Vote, methods::PRE_VOTE, &rpc, option.soft_ttl())
            .await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        let timeout = option.soft_ttl();
        self.request(
            RPCTypes::TransferLeader,
            methods::TRANSFER_LEADER,
            &req,
            timeout,
        )
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let chunk = SnapshotChunk::<C> {
            vote,
            transfer: 0,
            meta: snapshot.meta,
            offset: 0,
            total: snapshot.snapshot.len() as u64,
            data: base64::engine::general_purpose::STANDARD.encode(&snapshot.snapshot),
        };
        let timeout = option.soft_ttl();
        let send = self.request::<_, Option<SnapshotResponse<C>>>(
            RPCTypes::InstallSnapshot,
            methods::SNAPSHOT,
            &chunk,
            timeout,
        );
        let answer = match select(std::pin::pin!(send), std::pin::pin!(cancel)).await {
            Either::Left((answer, _)) => answer?,
            Either::Right((closed, _)) => return Err(StreamingError::Closed(closed)),
        };
        answer.ok_or_else(|| {
            StreamingError::Network(NetworkError::from_string(format!(
                "node {} took the whole snapshot without installing it",
                self.target
            )))
        })
    }
}

/// The node's side: a Raft RPC's body in, its answer's body out.
#[derive(Clone)]
pub struct Service {
    raft: Raft<C, StateMachine>,
    inbox: Arc<SnapshotInbox<C>>,
}

/// Why [`Service::answer`] gave no answer.
#[derive(Debug)]
pub enum Refusal {
    /// No such method.
    NotFound,
    /// A body that does not decode as the method's request.
    BadRequest(String),
    /// The Raft failed (it has stopped).
    Failed(String),
}

impl Service {
    /// Answers Raft RPCs with `raft`.
    pub fn new(raft: Raft<C, StateMachine>) -> Service {
        Service {
            raft,
            inbox: Arc::new(SnapshotInbox::new(1 << 30)),
        }
    }

    /// Answers `method` (one of [`methods`]) with `body` as its request.
    pub async fn answer(&self, method: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
        match method {
            methods::APPEND => reply(self.raft.append_entries(decode(body)?).await),
            methods::VOTE => reply(self.raft.vote(decode(body)?).await),
            methods::PRE_VOTE => reply(self.raft.pre_vote(decode(body)?).await),
            methods::TRANSFER_LEADER => {
                reply(self.raft.handle_transfer_leader(decode(body)?).await)
            }
            methods::SNAPSHOT => {
                let chunk: SnapshotChunk<C> = decode(body)?;
                match self.inbox.receive(chunk) {
                    Err(refused) => Err(Refusal::BadRequest(refused.message)),
                    Ok(Received::More) => reply(Ok::<_, String>(None::<SnapshotResponse<C>>)),
                    Ok(Received::Complete(vote, snapshot)) => reply(
                        self.raft
                            .install_full_snapshot(vote, snapshot)
                            .await
                            .map(Some),
                    ),
                }
            }
            _ => Err(Refusal::NotFound),
        }
    }
}

impl Service {
    /// Answers a stream of appends (JSON each) in order, with openraft's pipelined
    /// `Raft::stream_append`. A request that does not decode ends the stream, as does a
    /// Raft that has stopped (its error is the last item).
    pub fn append_stream(
        &self,
        requests: impl Stream<Item = Bytes> + Send + 'static,
    ) -> BoxStream<'static, Result<Bytes, String>> {
        let requests = requests
            .map(|body| serde_json::from_slice::<AppendEntriesRequest<C>>(&body))
            .take_while(|request| ready(request.is_ok()))
            .filter_map(|request| ready(request.ok()));
        self.raft
            .stream_append(requests)
            .map(|answer| match answer {
                Ok(result) => serde_json::to_vec(&result)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string()),
                Err(fatal) => Err(fatal.to_string()),
            })
            .boxed()
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::BadRequest(e.to_string()))
}

fn reply<T: Serialize, E: std::fmt::Display>(result: Result<T, E>) -> Result<Vec<u8>, Refusal> {
    let answer = result.map_err(|e| Refusal::Failed(e.to_string()))?;
    serde_json::to_vec(&answer).map_err(|e| Refusal::Failed(e.to_string()))
}
