//! The gRPC network, the shape of openraft's `raft-kv-memstore-grpc` example: each Raft RPC
//! is a unary gRPC call over tonic's transport (HTTP/2, one connection per peer that every
//! call multiplexes on), served by tonic's server on a port of its own.
//!
//! Two variants: `grpc` sends appends as unary calls one at a time, as the other networks
//! do, so that only the transport differs; `grpc-stream` sends them as the example does,
//! openraft's stream of appends on one bidirectional call (`/tether.raft/append_stream`),
//! several in flight at once. Votes, heartbeats' and snapshots' calls are unary in both
//! (in `grpc-stream` a heartbeat is a stream of one). Two departures from the example,
//! to compare transports and nothing else: the messages are the same JSON as the other
//! networks' (a hand-written [`Codec`] of bytes in place of protobuf, so neither `protoc`
//! nor prost is needed), and a channel is kept per peer, where the example connects anew
//! for every call.

use std::convert::Infallible;

use bytes::{Buf, BufMut, Bytes};
use futures_util::future::{ready, BoxFuture};
use futures_util::stream::{BoxStream, StreamExt};
use http::uri::PathAndQuery;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

use crate::wire::{Answers, Dial, Failure, Refusal, Service, Transport};

/// The gRPC service name: method `raft/append` is path `/tether.raft/append`.
const SERVICE_PREFIX: &str = "/tether.";
/// The bidirectional call that carries a stream of appends.
const APPEND_STREAM: &str = "/tether.raft/append_stream";

/// Messages as bytes that already hold JSON: encoding copies them into the frame, decoding
/// copies them out.
#[derive(Debug, Clone, Copy, Default)]
struct JsonBytes;

impl Codec for JsonBytes {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = JsonBytes;
    type Decoder = JsonBytes;

    fn encoder(&mut self) -> JsonBytes {
        JsonBytes
    }

    fn decoder(&mut self) -> JsonBytes {
        JsonBytes
    }
}

impl Encoder for JsonBytes {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for JsonBytes {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The client side: a lazily connected channel per peer.
pub struct GrpcDial {
    /// Appends as one bidirectional stream (`grpc-stream`), or a unary call each.
    pub stream_appends: bool,
}

impl Dial for GrpcDial {
    type Transport = GrpcTransport;

    fn dial(&self, addr: &str) -> GrpcTransport {
        let channel = Endpoint::from_shared(addr.to_owned())
            .map(|endpoint| endpoint.tcp_nodelay(true).connect_lazy())
            .map_err(|e| format!("address {addr:?}: {e}"));
        GrpcTransport {
            channel,
            stream_appends: self.stream_appends,
        }
    }
}

/// Calls to one node on its channel (or why there is none: a bad address).
#[derive(Clone)]
pub struct GrpcTransport {
    channel: Result<Channel, String>,
    stream_appends: bool,
}

impl GrpcTransport {
    /// A client on the channel, ready to call.
    async fn ready(&self) -> Result<tonic::client::Grpc<Channel>, Failure> {
        let channel = self.channel.clone().map_err(Failure::Unreachable)?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        Ok(grpc)
    }
}

impl Transport for GrpcTransport {
    async fn call(&self, method: &'static str, body: Bytes) -> Result<Bytes, Failure> {
        let path = PathAndQuery::from_maybe_shared(format!("{SERVICE_PREFIX}{method}"))
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        let mut grpc = self.ready().await?;
        match grpc.unary(tonic::Request::new(body), path, JsonBytes).await {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) => Err(failure(&status)),
        }
    }

    fn streams_appends(&self) -> bool {
        self.stream_appends
    }

    fn append_stream(
        &self,
        requests: BoxStream<'static, Bytes>,
    ) -> BoxFuture<'static, Result<Answers, Failure>> {
        let transport = self.clone();
        Box::pin(async move {
            let mut grpc = transport.ready().await?;
            let path = PathAndQuery::from_static(APPEND_STREAM);
            let answers = grpc
                .streaming(tonic::Request::new(requests), path, JsonBytes)
                .await
                .map_err(|status| failure(&status))?
                .into_inner();
            Ok(answers
                .map(|answer| answer.map_err(|status| failure(&status)))
                .boxed())
        })
    }
}

/// A call's error status as a [`Failure`].
fn failure(status: &Status) -> Failure {
    match status.code() {
        // tonic's transport reports a connection it cannot open this way.
        Code::Unavailable => Failure::Unreachable(status.to_string()),
        Code::Internal | Code::InvalidArgument | Code::Unimplemented => {
            Failure::Remote(status.to_string())
        }
        _ => Failure::Lost(status.to_string()),
    }
}

/// Serves the Raft RPCs on `listener` with tonic's server, until the process ends.
pub async fn serve(listener: TcpListener, service: Service) {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let routes = tower::service_fn(move |request: http::Request<Body>| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(route(service, request).await) }
    });
    if let Err(e) = tonic::transport::Server::builder()
        .serve_with_incoming(routes, incoming)
        .await
    {
        eprintln!("gRPC server stopped: {e}");
    }
}

/// One call: the method from the path, the request through tonic's unary handling (or
/// its bidirectional streaming, for a stream of appends).
async fn route(service: Service, request: http::Request<Body>) -> http::Response<Body> {
    if request.uri().path() == APPEND_STREAM {
        let streaming = tower::service_fn(move |call: tonic::Request<Streaming<Bytes>>| {
            let requests = call
                .into_inner()
                .take_while(|request| ready(request.is_ok()))
                .filter_map(|request| ready(request.ok()));
            let answers = service
                .append_stream(requests)
                .map(|answer| answer.map_err(Status::internal));
            ready(Ok::<_, Status>(tonic::Response::new(answers)))
        });
        return tonic::server::Grpc::new(JsonBytes)
            .streaming(streaming, request)
            .await;
    }
    let method = request
        .uri()
        .path()
        .strip_prefix(SERVICE_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let unary = tower::service_fn(move |call: tonic::Request<Bytes>| {
        let service = service.clone();
        let method = method.clone();
        async move {
            match service.answer(&method, call.get_ref()).await {
                Ok(answer) => Ok(tonic::Response::new(Bytes::from(answer))),
                Err(Refusal::NotFound) => Err(Status::unimplemented(method)),
                Err(Refusal::BadRequest(why)) => Err(Status::invalid_argument(why)),
                Err(Refusal::Failed(why)) => Err(Status::internal(why)),
            }
        }
    });
    tonic::server::Grpc::new(JsonBytes)
        .unary(unary, request)
        .await
}
