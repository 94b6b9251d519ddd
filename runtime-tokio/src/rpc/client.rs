//! Calling methods on a server: [`Client`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::rpc::{Endpoint, Stats};
use tether_tls::ClientTls;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

use super::driver::{Command, Driver, Handles, Shared};
use super::error::not_structured;
use super::router::Router;
use super::{CallError, RpcConfig};
use crate::client::{connect_error, open_stream, within, Target};
use crate::driver::{now, seed};
use crate::ConnectError;

/// How [`Client::connect`] opens a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of the WebSocket underneath.
    pub ws: tether_core::ws::Config,
    /// Call timeouts and the bound on calls in flight.
    pub rpc: RpcConfig,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// How long the TCP connect, the TLS handshake (`wss://`) and the opening handshake may
    /// take together (default 5 s).
    pub connect_timeout: Duration,
    /// TLS for `wss://` URLs: the roots to trust and, for mutual TLS, the certificate to
    /// present. `None` trusts the `webpki-roots` CAs. Unused for `ws://`.
    pub tls: Option<ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: tether_core::ws::Config::default(),
            rpc: RpcConfig::default(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// A JSON-RPC 2.0 client over one WebSocket connection.
///
/// Cloning is cheap and every clone shares the one connection: calls from many tasks are
/// multiplexed on it and their answers matched by id, in whatever order they come.
/// Requests the server sends us are answered `-32601` (a client serves no methods).
/// Dropping every clone closes the connection.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_tokio::rpc::{CallError, Client, ClientConfig};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect("ws://127.0.0.1:9001/", ClientConfig::default()).await?;
/// let sum: i64 = client.call("add", &[1, 2]).await?;
/// assert_eq!(sum, 3);
/// match client
///     .call_with_timeout::<_, u64>("sleep", &serde_json::json!({"ms": 500}), Duration::from_millis(50))
///     .await
/// {
///     Err(CallError::Timeout) => println!("too slow; the connection is still usable"),
///     other => println!("{other:?}"),
/// }
/// client.notify("log", &["hello"]).await?;
/// client.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    cancels: mpsc::UnboundedSender<u64>,
    shared: Arc<Shared>,
    finished: watch::Receiver<()>,
}

impl Client {
    /// Opens a connection to `url` (`ws://host[:port]/path?query`, or `wss://…` for TLS)
    /// and returns once the WebSocket is open. TLS works as for
    /// [`connect`](crate::connect).
    ///
    /// Cancel-safe: dropping the future drops the half-open socket.
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, ConnectError> {
        let target = Target::parse(url)?;
        let span = tracing::debug_span!("rpc", role = "client", peer = %target.host_header);
        let deadline = Instant::now() + config.connect_timeout;
        within(
            config.connect_timeout,
            open(target, config, deadline).instrument(span),
        )
        .await
    }

    /// Calls `method` with `params` and waits for the result, at most the configured
    /// [`default_timeout`](RpcConfig::default_timeout).
    ///
    /// `params` must serialize to a JSON object or array (a struct, a map, a tuple, a
    /// slice); `&()` sends no params.
    ///
    /// Cancel-safe: dropping the future cancels the call. Its in-flight slot is freed and a
    /// late answer dropped; JSON-RPC has no cancel message, so the server may still run it.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, CallError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_inner(method, params, None).await
    }

    /// Like [`call`](Self::call), with a deadline of its own: past `timeout` the call ends
    /// with [`CallError::Timeout`] and the connection stays usable.
    pub async fn call_with_timeout<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, CallError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        // A timeout too long for `Instant` to hold (e.g. `Duration::MAX`) never fires.
        self.call_inner(method, params, Some(timeout)).await
    }

    async fn call_inner<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<R, CallError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let params = encode(params)?;
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        self.queue(Command::Call {
            key,
            method: method.to_owned(),
            params,
            timeout,
            done,
        })
        .await?;
        let mut pending = Pending {
            key,
            answer,
            cancels: &self.cancels,
            ended: false,
        };
        let result = (&mut pending.answer).await;
        pending.ended = true;
        // The driver only drops a waiter unanswered if it gave up on a broken connection.
        let raw = result.unwrap_or(Err(CallError::ConnectionLost { sent: true }))?;
        serde_json::from_str(raw.get()).map_err(CallError::Result)
    }

    /// Sends a notification: a call without an answer. Returns once it is queued for the
    /// connection; the server never says whether it ran.
    pub async fn notify<P>(&self, method: &str, params: &P) -> Result<(), CallError>
    where
        P: Serialize + ?Sized,
    {
        let params = encode(params)?;
        let (done, answer) = oneshot::channel();
        self.queue(Command::Notify {
            method: method.to_owned(),
            params,
            done,
        })
        .await?;
        answer.await.unwrap_or(Err(CallError::Closed))
    }

    /// Hands `command` to the driver. Waiting for room is the only await, so dropping the
    /// future queues nothing and leaves nothing behind.
    async fn queue(&self, command: Command) -> Result<(), CallError> {
        let permit = self.commands.reserve().await;
        permit.map_err(|_| CallError::Closed)?.send(command);
        Ok(())
    }

    /// The connection's counters as of the driver's last turn: calls in flight, answers
    /// that came too late, invalid messages. Cheap, and does not wait.
    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Closes the connection (for every clone) and waits until it is closed. Calls still
    /// waiting end with [`CallError::ConnectionLost`]. Closing twice is a no-op.
    pub async fn close(&self) {
        if let Ok(permit) = self.commands.reserve().await {
            permit.send(Command::Close);
        }
        let mut finished = self.finished.clone();
        // Nothing is ever sent: this returns when the driver is gone.
        while finished.changed().await.is_ok() {}
    }
}

/// A call whose answer is awaited; dropping it before the end cancels the call.
struct Pending<'a> {
    key: u64,
    answer: oneshot::Receiver<Result<Box<RawValue>, CallError>>,
    cancels: &'a mpsc::UnboundedSender<u64>,
    ended: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // Closed first, so a driver that has not taken the call yet sees nobody waits
            // (and skips it) by the time the cancel could reach it.
            self.answer.close();
            let _ = self.cancels.send(self.key);
        }
    }
}

/// Params as raw JSON: `None` for `()` (no params), else an object or an array.
fn encode<P: Serialize + ?Sized>(params: &P) -> Result<Option<Box<RawValue>>, CallError> {
    let raw = serde_json::value::to_raw_value(params).map_err(CallError::Params)?;
    match raw.get().as_bytes().first() {
        Some(b'{' | b'[') => Ok(Some(raw)),
        _ if raw.get() == "null" => Ok(None),
        _ => Err(CallError::Params(not_structured())),
    }
}

async fn open(
    target: Target,
    config: ClientConfig,
    deadline: Instant,
) -> Result<Client, ConnectError> {
    let linger = config.ws.close_timeout;
    let request = target.request(config.headers, Vec::new());
    // Built before connecting, so a request we cannot send fails without touching the network.
    let endpoint = Endpoint::client(now(), config.ws, config.rpc, request, seed()?)
        .map_err(ConnectError::Handshake)?;
    let stream = open_stream(&target, config.tls.as_ref(), deadline).await?;
    let router = Arc::new(Router::default());
    let (mut driver, handles) = Driver::new(endpoint, stream, linger, router, 1);
    driver.open().await.map_err(connect_error)?;
    tokio::spawn(driver.run().in_current_span());
    Ok(Client::new(handles))
}

impl Client {
    fn new(handles: Handles) -> Client {
        Client {
            commands: handles.commands,
            cancels: handles.cancels,
            shared: handles.shared,
            finished: handles.finished,
        }
    }
}
