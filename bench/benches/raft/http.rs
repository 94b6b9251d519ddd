//! The HTTP/1.1 network, the shape of openraft's `network-v2-http` example and of the seeds
//! before their move to WebSocket: one `POST /raft/<method>` per Raft RPC, JSON in and
//! out, over a pooled keep-alive client (hyper-util's `legacy::Client`, the one reqwest is
//! built on, with `TCP_NODELAY` as reqwest sets it), served by hyper's HTTP/1.1 server on a
//! port of its own.
//!
//! HTTP/1.1 answers in order on a connection and does not interleave, so the pool opens a
//! connection per request in flight to a peer (replication and heartbeats to one peer can
//! be in flight together) and keeps them for the next requests.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::wire::{Dial, Failure, Refusal, Service, Transport};

/// The client side: one pooled client per node, shared by its peers' transports.
pub struct HttpDial {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpDial {
    pub fn new() -> HttpDial {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        HttpDial { client }
    }
}

impl Dial for HttpDial {
    type Transport = HttpTransport;

    fn dial(&self, addr: &str) -> HttpTransport {
        HttpTransport {
            client: self.client.clone(),
            base: addr.trim_end_matches('/').to_owned(),
        }
    }
}

/// Requests to one node: `POST {base}/raft/<method>`.
#[derive(Clone)]
pub struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Transport for HttpTransport {
    async fn call(&self, method: &'static str, body: Bytes) -> Result<Bytes, Failure> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/{method}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                Failure::Unreachable(e.to_string())
            } else {
                Failure::Lost(e.to_string())
            }
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Lost(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure::Remote(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )))
        }
    }
}

/// Serves the Raft RPCs on `listener`, a connection per task, until the process ends.
pub async fn serve(listener: TcpListener, service: Service) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let handler = service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(answer(&service, request).await) }
            });
            // A connection that ends badly is the peer's business: it reconnects.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

async fn answer(service: &Service, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.uri().path().trim_start_matches('/').to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, e.to_string().into()),
    };
    match service.answer(&method, &body).await {
        Ok(answer) => respond(StatusCode::OK, answer.into()),
        Err(Refusal::NotFound) => respond(StatusCode::NOT_FOUND, Bytes::new()),
        Err(Refusal::BadRequest(why)) => respond(StatusCode::BAD_REQUEST, why.into()),
        Err(Refusal::Failed(why)) => respond(StatusCode::INTERNAL_SERVER_ERROR, why.into()),
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
