//! Calling methods on a server: [`Client`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_channel::{Receiver as Rx, Sender as Tx};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_adapter::rpc::dispatch::CallResult;
use tether_adapter::rpc::{encode_params, Router};
use tether_adapter::{ConnectError, Target};
use tether_core::rpc::{Endpoint, Stats};
use tracing::Instrument;

use super::driver::{Command, Driver, Handles, Once, Shared};
use super::{CallError, ClientConfig};
use crate::client::{tcp_connect, within};
use crate::task::spawn;
use crate::transport::now;

/// A JSON-RPC 2.0 client over one WebSocket connection.
///
/// Cloning is cheap and every clone shares the one connection: calls from many tasks are
/// multiplexed on it and their answers matched by id, in whatever order they come.
/// Requests the server sends us are answered `-32601` (a client serves no methods).
/// Dropping every clone closes the connection.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_async_std::rpc::{CallError, Client, ClientConfig};
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
    commands: Tx<Command>,
    cancels: Tx<u64>,
    shared: Arc<Shared>,
    finished: Rx<()>,
}

impl Client {
    /// Opens a connection to `url` (`ws://host[:port]/path?query`) and returns once the
    /// WebSocket is open.
    ///
    /// Cancel-safe: dropping the future drops the half-open socket.
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, ConnectError> {
        let target = Target::parse(url)?;
        let span = tracing::debug_span!("rpc", role = "client", peer = %target.host_header());
        within(
            config.connect_timeout,
            open(target, config).instrument(span),
        )
        .await
    }

    /// Calls `method` with `params` and waits for the result, at most the configured
    /// [`default_timeout`](super::RpcConfig::default_timeout).
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
        let params = encode_params(params)?;
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        let (done, answer) = async_channel::bounded(1);
        self.queue(Command::Call {
            key,
            method: method.to_owned(),
            params,
            timeout,
            done: Once(done),
        })
        .await?;
        let mut pending = Pending {
            key,
            answer,
            cancels: &self.cancels,
            ended: false,
        };
        let result = pending.answer.recv().await;
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
        let params = encode_params(params)?;
        let (done, answer) = async_channel::bounded(1);
        self.queue(Command::Notify {
            method: method.to_owned(),
            params,
            done: Once(done),
        })
        .await?;
        answer.recv().await.unwrap_or(Err(CallError::Closed))
    }

    /// Hands `command` to the driver. It is queued in the same poll that finds room, so
    /// dropping the future queues nothing and leaves nothing behind.
    async fn queue(&self, command: Command) -> Result<(), CallError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| CallError::Closed)
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
        let _ = self.commands.send(Command::Close).await;
        // Nothing is ever sent: this returns when the driver is gone.
        while self.finished.recv().await.is_ok() {}
    }
}

/// A call whose answer is awaited; dropping it before the end cancels the call.
struct Pending<'a> {
    key: u64,
    answer: Rx<CallResult>,
    cancels: &'a Tx<u64>,
    ended: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // Closed first, so a driver that has not taken the call yet sees nobody waits
            // (and skips it) by the time the cancel could reach it.
            self.answer.close();
            let _ = self.cancels.try_send(self.key);
        }
    }
}

async fn open(target: Target, config: ClientConfig) -> Result<Client, ConnectError> {
    let linger = config.ws.close_timeout;
    let request = target.request(config.headers, Vec::new());
    // Built before connecting, so a request we cannot send fails without touching the network.
    let endpoint = Endpoint::client(
        now(),
        config.ws,
        config.rpc,
        request,
        tether_adapter::seed()?,
    )
    .map_err(ConnectError::Handshake)?;
    let stream = tcp_connect(&target).await?;
    let router = Arc::new(Router::default());
    let (mut driver, handles) = Driver::new(endpoint, stream, linger, router, 1);
    driver.open().await?;
    spawn(driver.run().in_current_span());
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
