//! Calling methods on a server: [`Client`], a reconnecting session.

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::session::{self, CallOptions, Metrics, State};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::session::{CallCommand, Command, Control, Driver, Handles, NotifyCommand, Once, Shared};
use super::watch::States;
use super::{encode_params, CallError, ClientConfig, Notifications};
use crate::{ConnectError, Runtime, Target};

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
/// [`state`](Self::state) and [`states`](Self::states) tell where it is,
/// [`metrics`](Self::metrics) what it did. The server's notifications go to
/// [`notifications`](Self::notifications), once asked for. Requests the server sends us
/// are answered `-32601` (a client serves no methods). Dropping every clone closes the
/// session.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_adapter::rpc::{CallError, ClientConfig};
/// use tether_adapter::Runtime;
///
/// # async fn demo<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// // `tether_tokio::rpc::Client` is `Client<Tokio>`, and so on for every runtime.
/// type Client<R> = tether_adapter::rpc::Client<R>;
/// let client = Client::<R>::connect("ws://127.0.0.1:9001/", ClientConfig::default()).await?;
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
/// let mut states = client.states();
/// R::spawn(async move {
///     while let Some(state) = states.changed().await {
///         println!("now {state:?}");
///     }
/// });
/// println!("{:?}", client.metrics().await);
/// client.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client<R: Runtime> {
    commands: mpsc::Sender<Command>,
    control: mpsc::UnboundedSender<Control>,
    shared: Arc<Shared>,
    states: States,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            commands: self.commands.clone(),
            control: self.control.clone(),
            shared: self.shared.clone(),
            states: self.states.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> Client<R> {
    /// Connects to `url` (`ws://host[:port]/path?query`, or `wss://…` for TLS, which works
    /// as for [`connect`](crate::connect)) and returns once the WebSocket is open. From
    /// then on the client reconnects by itself whenever the connection is lost.
    ///
    /// Only the first attempt is waited for: if it fails, this returns why (the server
    /// refused the connection or the upgrade, timed out …) and the session is closed. Use
    /// [`new`](Self::new) to keep trying in the background instead.
    ///
    /// Cancel-safe: dropping the future closes the session and its half-open socket.
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client<R>, ConnectError> {
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
    /// use tether_adapter::rpc::{Client, ClientConfig, State};
    /// use tether_adapter::Runtime;
    ///
    /// # async fn demo<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::<R>::new("ws://127.0.0.1:9001/", ClientConfig::default())?;
    /// // Queued until the server is up, then sent.
    /// let sum: i64 = client.call("add", &[1, 2]).await?;
    /// assert_eq!(client.state(), State::Connected);
    /// # let _ = sum;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(url: &str, config: ClientConfig) -> Result<Client<R>, ConnectError> {
        Client::start(url, &config).map(|(client, _first)| client)
    }

    /// Spawns the session's driver.
    fn start(url: &str, config: &ClientConfig) -> Result<(Client<R>, First), ConnectError> {
        let target = Target::parse(url)?;
        let span = tracing::debug_span!("rpc", role = "client", peer = %target.host_header());
        let request = target.request(config.headers.clone(), Vec::new());
        let session = session::Session::new(R::now(), config.session(), request, crate::seed()?)
            .map_err(ConnectError::Handshake)?;
        let linger = config.ws.close_timeout;
        let (driver, handles) = Driver::<R>::new(
            session,
            target,
            config.tls.clone(),
            linger,
            config.connect_timeout,
            config.notification_buffer,
        );
        R::spawn(Box::new(driver).run().instrument(span));
        let Handles {
            commands,
            control,
            shared,
            states,
            first,
        } = handles;
        let client = Client {
            commands,
            control,
            shared,
            states,
            runtime: PhantomData,
        };
        Ok((client, first))
    }

    /// Calls `method` with `params` and waits for the result, at most the configured
    /// [`default_timeout`](super::RpcConfig::default_timeout) from now (time waiting for a
    /// connection included).
    ///
    /// `params` must serialize to a JSON object or array (a struct, a map, a tuple, a
    /// slice); `&()` sends no params.
    ///
    /// Cancel-safe: dropping the future cancels the call (queued or sent). A late answer
    /// is dropped; JSON-RPC has no cancel message, so the server may still run it.
    pub async fn call<P, T>(&self, method: &str, params: &P) -> Result<T, CallError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.call_with_options(method, params, CallOptions::default())
            .await
    }

    /// Like [`call`](Self::call), with a deadline of its own: past `timeout` the call ends
    /// with [`CallError::Timeout`] and the connection stays usable.
    pub async fn call_with_timeout<P, T>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<T, CallError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
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
    /// use tether_adapter::rpc::{CallOptions, Client, Retry};
    /// use tether_adapter::Runtime;
    ///
    /// # async fn demo<R: Runtime>(client: Client<R>) -> Result<(), Box<dyn std::error::Error>> {
    /// let options = CallOptions { timeout: Some(Duration::from_secs(5)), retry: Retry::Resend { max: 3 } };
    /// let term: u64 = client.call_with_options("raft/current_term", &(), options).await?;
    /// # let _ = term;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_with_options<P, T>(
        &self,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<T, CallError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let params = encode_params(params)?;
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = Once::channel();
        self.queue(Command::Call(Box::new(CallCommand {
            key,
            method: method.to_owned(),
            params,
            options,
            done,
        })))
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
        let params = encode_params(params)?;
        let (done, answer) = Once::channel();
        self.queue(Command::Notify(Box::new(NotifyCommand {
            method: method.to_owned(),
            params,
            done,
        })))
        .await?;
        answer.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// Hands `command` to the driver. Waiting for room is the only await, so dropping the
    /// future queues nothing and leaves nothing behind.
    async fn queue(&self, command: Command) -> Result<(), CallError> {
        let permit = self.commands.reserve().await.map_err(|_| self.gone())?;
        permit.send(command);
        Ok(())
    }

    /// Why a session whose driver has ended takes no more calls.
    fn gone(&self) -> CallError {
        match self.states.get() {
            State::Failed => CallError::Failed,
            _ => CallError::Closed,
        }
    }

    /// The server's notifications from now on, in the order they come, on every connection
    /// of the session. Until this is called they are dropped as they come (and counted,
    /// [`notifications_dropped`](Self::notifications_dropped)), so a client that does not
    /// want them holds none.
    ///
    /// One receiver at a time, for every clone: a newer call takes over, and the earlier
    /// receiver gets what it already holds, then `None`. The receiver holds at most
    /// [`ClientConfig::notification_buffer`] notifications; while it is full the client
    /// stops reading the connection, so the server is held back and nothing is dropped:
    /// answers to calls wait too (a call's answer is handed over only after the
    /// notifications the server sent before it), and calls may time out. Read it, or drop
    /// it: once dropped, notifications are dropped again.
    ///
    /// ```no_run
    /// use tether_adapter::rpc::{Client, ClientConfig};
    /// use tether_adapter::Runtime;
    ///
    /// # async fn demo<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
    /// // `new` returns without waiting for the connection: subscribe right away to catch what
    /// // a server sends as soon as it opens (after `connect` returns, that may have gone by).
    /// let client = Client::<R>::new("ws://127.0.0.1:9001/", ClientConfig::default())?;
    /// let mut notifications = client.notifications();
    /// let rows: u64 = client.call("export", &["table-7"]).await?;
    /// // What the server sent before its answer is already here.
    /// while let Some(note) = notifications.try_recv() {
    ///     let row: serde_json::Value = note.params()?;
    ///     println!("{}: {row}", note.method);
    /// }
    /// # let _ = rows;
    /// # Ok(())
    /// # }
    /// ```
    pub fn notifications(&self) -> Notifications {
        let (tx, rx) = mpsc::channel(self.shared.notification_buffer);
        // A session that has ended drops the sender, and the receiver ends at once.
        let _ = self.control.send(Control::Subscribe(tx));
        Notifications::new(rx)
    }

    /// How many of the server's notifications were dropped: those that came while nobody
    /// had asked for them, or after the receiver was dropped.
    pub fn notifications_dropped(&self) -> u64 {
        self.shared.notifications_dropped.load(Ordering::Relaxed)
    }

    /// Where the session is now: connecting, connected, reconnecting, failed, or
    /// disconnected (closed). Does not wait.
    pub fn state(&self) -> State {
        self.states.get()
    }

    /// A receiver that sees every change of [`state`](Self::state) from now on (the latest
    /// one, if several come before it looks). It does not keep the client alive: once the
    /// session has ended, [`States::changed`] returns `None`.
    pub fn states(&self) -> States {
        self.states.unseen_from_now()
    }

    /// A snapshot of the session's counters: messages and bytes each way, uptime,
    /// reconnections, errors, heartbeat round trips, call latencies, queue depth, calls in
    /// flight. Asked of the session's task, so it is current; after the session ended, its
    /// last snapshot.
    pub async fn metrics(&self) -> Metrics {
        let (reply, answer) = Once::channel();
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
        let mut states = self.states.unseen_from_now();
        // Returns once the driver is gone.
        while states.changed().await.is_some() {}
    }
}

/// The fate of the first attempt: `Ok` once a link is open, or why it failed.
type First = oneshot::Receiver<Result<(), ConnectError>>;

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
