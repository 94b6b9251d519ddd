//! Calling methods on a server: [`Client`], a reconnecting session.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::session::{self, Backoff, CallOptions, Heartbeat, Metrics, QueueLimits, State};
use tether_tls::ClientTls;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::error::not_structured;
use super::session_driver::{Command, Control, Driver, Handles, Shared};
use super::{CallError, RpcConfig};
use crate::client::Target;
use crate::driver::{now, seed};
use crate::ConnectError;

/// How a [`Client`] connects, and reconnects.
///
/// ```
/// use std::time::Duration;
/// use tether_tokio::rpc::{Backoff, ClientConfig, Heartbeat, HeartbeatMode};
///
/// let config = ClientConfig {
///     // Give up after 10 failed attempts in a row; wait 50 ms, 100 ms, 200 ms … between them.
///     backoff: Backoff {
///         base: Duration::from_millis(50),
///         max: Duration::from_secs(2),
///         max_attempts: Some(10),
///     },
///     // A link that answers no ping for 3 s is dropped and replaced.
///     heartbeat: Some(Heartbeat {
///         interval: Duration::from_secs(1),
///         timeout: Duration::from_secs(3),
///         mode: HeartbeatMode::Pong,
///     }),
///     ..Default::default()
/// };
/// assert_eq!(config.queue.max_messages, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of each WebSocket underneath.
    pub ws: tether_core::ws::Config,
    /// Call timeouts and the bound on calls in flight (calls past it wait in the queue).
    pub rpc: RpcConfig,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// How long one attempt may take, TCP connect, TLS handshake (`wss://`) and opening
    /// handshake together (default 5 s). An attempt that takes longer fails and counts toward
    /// [`Backoff::max_attempts`].
    pub connect_timeout: Duration,
    /// How long to wait between attempts, and when to give up (default: 100 ms doubling
    /// to 10 s, with jitter; never give up).
    pub backoff: Backoff,
    /// Liveness checks of the open connection (default: a ping every 5 s, dropped if no
    /// pong within 10 s); `None` turns them off.
    pub heartbeat: Option<Heartbeat>,
    /// Bounds of the queue of calls and notifications waiting for a connection (default
    /// 1024 messages, 16 MiB).
    pub queue: QueueLimits,
    /// TLS for `wss://` URLs: the roots to trust and, for mutual TLS, the certificate to
    /// present, for every attempt. `None` trusts the `webpki-roots` CAs. Unused for `ws://`.
    pub tls: Option<ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let session = session::Config::default();
        ClientConfig {
            ws: session.ws,
            rpc: session.rpc,
            headers: Vec::new(),
            connect_timeout: session.connect_timeout,
            backoff: session.backoff,
            heartbeat: session.heartbeat,
            queue: session.queue,
            tls: None,
        }
    }
}

impl ClientConfig {
    fn session(&self) -> session::Config {
        session::Config {
            ws: self.ws.clone(),
            rpc: self.rpc.clone(),
            connect_timeout: self.connect_timeout,
            backoff: self.backoff,
            heartbeat: self.heartbeat,
            queue: self.queue,
        }
    }
}

/// A JSON-RPC 2.0 client that keeps a connection to one server: a reconnecting session.
///
/// Cloning is cheap and every clone shares the one session: calls from many tasks are
/// multiplexed on its connection and their answers matched by id, in whatever order they
/// come. If the connection is lost (the server restarts, the network drops, the
/// [heartbeat](ClientConfig::heartbeat) finds it silent) the client reconnects by itself,
/// with [backoff](ClientConfig::backoff): calls made meanwhile wait in a bounded queue and
/// go out in order once it is back. Calls that were on the lost connection end with
/// [`CallError::ConnectionLost`] (the server may have run them), unless they may be
/// re-sent ([`Retry::Resend`](super::Retry::Resend), for idempotent methods). After
/// `max_attempts` failed attempts in a row the client gives up: [`State::Failed`], and
/// every call fails with [`CallError::Failed`].
///
/// [`state`](Self::state) and [`watch_state`](Self::watch_state) tell where it is,
/// [`metrics`](Self::metrics) what it did. Requests the server sends us are answered
/// `-32601` (a client serves no methods). Dropping every clone closes the session.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_tokio::rpc::{CallError, Client, ClientConfig, State};
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
///
/// // Follow the connection's ups and downs from another task.
/// let mut states = client.watch_state();
/// tokio::spawn(async move {
///     while states.changed().await.is_ok() {
///         let state: State = *states.borrow_and_update();
///         println!("now {state:?}");
///     }
/// });
/// println!("{:?}", client.metrics().await);
/// client.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    control: mpsc::UnboundedSender<Control>,
    shared: Arc<Shared>,
    state: watch::Receiver<State>,
}

impl Client {
    /// Connects to `url` (`ws://host[:port]/path?query`, or `wss://…` for TLS, which works
    /// as for [`connect`](crate::connect)) and returns once the WebSocket is open. From
    /// then on the client reconnects by itself whenever the connection is lost.
    ///
    /// Only the first attempt is waited for: if it fails, this returns why (the server
    /// refused the connection or the upgrade, timed out …) and the session is closed. Use
    /// [`new`](Self::new) to keep trying in the background instead.
    ///
    /// Cancel-safe: dropping the future closes the session and its half-open socket.
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, ConnectError> {
        let (client, first) = Client::start(url, &config)?;
        match first.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(error)) => Err(error),
            // The driver ended without a word: its runtime is shutting down.
            Err(_) => Err(ConnectError::ClosedDuringHandshake),
        }
    }

    /// A client for `url` that connects in the background, and returns at once. Calls made
    /// before the first connection opens wait in the queue (their deadlines running).
    /// Fails only for a URL or headers that cannot be used.
    ///
    /// ```no_run
    /// use tether_tokio::rpc::{Client, ClientConfig, State};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::new("ws://127.0.0.1:9001/", ClientConfig::default())?;
    /// // Queued until the server is up, then sent.
    /// let sum: i64 = client.call("add", &[1, 2]).await?;
    /// assert_eq!(client.state(), State::Connected);
    /// # let _ = sum;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    pub fn new(url: &str, config: ClientConfig) -> Result<Client, ConnectError> {
        Client::start(url, &config).map(|(client, _first)| client)
    }

    /// Spawns the session's driver.
    fn start(
        url: &str,
        config: &ClientConfig,
    ) -> Result<(Client, oneshot::Receiver<Result<(), ConnectError>>), ConnectError> {
        let target = Target::parse(url)?;
        let span = tracing::debug_span!("rpc", role = "client", peer = %target.host_header);
        let request = target.request(config.headers.clone(), Vec::new());
        let session = session::Session::new(now(), config.session(), request, seed()?)
            .map_err(ConnectError::Handshake)?;
        let linger = config.ws.close_timeout;
        let (driver, handles) = Driver::new(
            session,
            target,
            config.tls.clone(),
            linger,
            config.connect_timeout,
        );
        tokio::spawn(driver.run().instrument(span));
        let Handles {
            commands,
            control,
            shared,
            state,
            first,
        } = handles;
        let client = Client {
            commands,
            control,
            shared,
            state,
        };
        Ok((client, first))
    }

    /// Calls `method` with `params` and waits for the result, at most the configured
    /// [`default_timeout`](RpcConfig::default_timeout) from now (time waiting for a
    /// connection included).
    ///
    /// `params` must serialize to a JSON object or array (a struct, a map, a tuple, a
    /// slice); `&()` sends no params.
    ///
    /// Cancel-safe: dropping the future cancels the call (queued or sent). A late answer
    /// is dropped; JSON-RPC has no cancel message, so the server may still run it.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, CallError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with_options(method, params, CallOptions::default())
            .await
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
        let options = CallOptions {
            timeout: Some(timeout),
            ..CallOptions::default()
        };
        self.call_with_options(method, params, options).await
    }

    /// Like [`call`](Self::call), with per-call options: a deadline, and whether the call
    /// may be re-sent on the next connection if the one it was written on is lost (for
    /// idempotent methods only: the server may run it twice).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tether_tokio::rpc::{CallOptions, Client, Retry};
    ///
    /// # async fn demo(client: Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let options = CallOptions { timeout: Some(Duration::from_secs(5)), retry: Retry::Resend { max: 3 } };
    /// let term: u64 = client.call_with_options("raft/current_term", &(), options).await?;
    /// # let _ = term;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_with_options<P, R>(
        &self,
        method: &str,
        params: &P,
        options: CallOptions,
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
            options,
            done,
        })
        .await?;
        let mut pending = Pending {
            key,
            answer,
            control: &self.control,
            ended: false,
        };
        let result = (&mut pending.answer).await;
        pending.ended = true;
        // The driver drops a waiter unanswered only when it ended before taking the call.
        let raw = result.unwrap_or_else(|_| Err(self.gone()))?;
        serde_json::from_str(raw.get()).map_err(CallError::Result)
    }

    /// Sends a notification: a call without an answer. Returns once the session took it,
    /// written or queued for the next connection; the server never says whether it ran.
    /// A notification written on a connection that is then lost is not sent again.
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
        answer.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// Hands `command` to the driver. Waiting for room is the only await, so dropping the
    /// future queues nothing and leaves nothing behind.
    async fn queue(&self, command: Command) -> Result<(), CallError> {
        match self.commands.reserve().await {
            Ok(permit) => {
                permit.send(command);
                Ok(())
            }
            Err(_) => Err(self.gone()),
        }
    }

    /// Why a session whose driver has ended takes no more calls.
    fn gone(&self) -> CallError {
        match *self.state.borrow() {
            State::Failed => CallError::Failed,
            _ => CallError::Closed,
        }
    }

    /// Where the session is now: connecting, connected, reconnecting, failed, or
    /// disconnected (closed). Does not wait.
    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver that sees every change of [`state`](Self::state) (the latest one, if
    /// several come before it looks). It does not keep the client alive: once the session
    /// has ended, `changed()` returns an error.
    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// A snapshot of the session's counters: messages and bytes each way, uptime,
    /// reconnections, errors, heartbeat round trips, call latencies, queue depth, calls in
    /// flight. Asked of the session's task, so it is current; after the session ended, its
    /// last snapshot.
    pub async fn metrics(&self) -> Metrics {
        let (reply, answer) = oneshot::channel();
        if self.control.send(Control::Metrics(reply)).is_ok() {
            if let Ok(metrics) = answer.await {
                return metrics;
            }
        }
        self.shared.last_metrics()
    }

    /// Closes the session (for every clone) and waits until it is closed: calls still
    /// queued end with [`CallError::Closed`], calls in flight with
    /// [`CallError::ConnectionLost`] once the connection is closed, and no reconnect
    /// follows. Calls and notifications made before `close` (on this clone) are taken
    /// first. Closing twice is a no-op.
    pub async fn close(&self) {
        if let Ok(permit) = self.commands.reserve().await {
            permit.send(Command::Close);
        }
        let mut state = self.state.clone();
        // Returns once the driver is gone.
        while state.changed().await.is_ok() {}
    }
}

/// A call whose answer is awaited; dropping it before the end cancels the call.
struct Pending<'a> {
    key: u64,
    answer: oneshot::Receiver<Result<Box<RawValue>, CallError>>,
    control: &'a mpsc::UnboundedSender<Control>,
    ended: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // Closed first, so a driver that has not taken the call yet sees nobody waits
            // (and skips it) by the time the cancel could reach it.
            self.answer.close();
            let _ = self.control.send(Control::Cancel(self.key));
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
