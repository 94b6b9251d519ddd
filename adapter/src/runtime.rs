//! What tether needs of an async runtime: [`Runtime`], and its one re-armable [`Timer`].
//!
//! Every driver, handle, server and client of this crate is written once against this
//! trait; `tether-tokio` and `tether-async-std` each implement it in about a hundred
//! lines, and that is all a runtime crate adds. The trait is small on purpose: a clock, a
//! timer, a way to run a task in the background, and TCP. Everything above TCP (TLS,
//! WebSocket, JSON-RPC, sessions) is runtime-free. Byte streams are `futures-io`'s
//! [`AsyncRead`] and [`AsyncWrite`], which every runtime can provide.
//!
//! A runtime is a type, not a value: the drivers call `R::spawn`, `R::now` and so on, so
//! a handle carries no runtime and costs nothing to clone.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite, FutureExt};

/// An async runtime, as tether uses it. See the module docs.
///
/// ```no_run
/// use tether_adapter::Runtime;
///
/// // Code written once for every runtime takes the runtime as a type parameter:
/// async fn serve<R: Runtime>(addr: &str) -> std::io::Result<()> {
///     let mut server = tether_adapter::Server::<R>::bind(addr, Default::default()).await?;
///     while let Ok((mut ws, _peer)) = server.accept().await {
///         R::spawn(async move {
///             while let Some(message) = ws.recv().await {
///                 let _ = ws.send(message).await;
///             }
///         });
///     }
///     Ok(())
/// }
/// ```
pub trait Runtime: Copy + Default + Debug + Send + Sync + 'static {
    /// A connected TCP socket.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + Debug + 'static;
    /// A listening TCP socket.
    type Listener: Send + Sync + Debug + 'static;
    /// The runtime's timer.
    type Timer: Timer;

    /// The time every input of the core is stamped with. A runtime whose clock can be
    /// paused in tests (tokio's) says so here, and the core follows it.
    fn now() -> Instant;

    /// A timer that fires at `at` (at once if `at` has passed).
    fn timer(at: Instant) -> Self::Timer;

    /// Runs `task` to completion in the background.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);

    /// Opens a TCP connection to `host` (a name or an IP address, IPv6 without brackets)
    /// and `port`, with Nagle's algorithm off: small frames (pongs, replies) must not wait
    /// for its timer.
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// Listens on `addr`.
    fn bind(addr: SocketAddr) -> io::Result<Self::Listener>;

    /// The address `listener` listens on.
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// The next incoming connection, with Nagle's algorithm off, and the client's address.
    fn poll_accept(
        listener: &Self::Listener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Tcp, SocketAddr)>>;

    /// Ready once `tcp` has something for a read (bytes, its end, or an error), without
    /// reading it. A quiet connection's driver frees its read buffer and waits on this, so
    /// an idle connection holds no read buffer; only once this is ready does it allocate
    /// one and read. It may be ready with nothing to read (the read then returns
    /// `Pending`, and the wait starts over), but it must not stay ready after a read
    /// returned `Pending`: that read arms it again.
    fn poll_readable(tcp: &Self::Tcp, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A timer that is re-armed, not re-created, whenever a deadline moves: a driver owns one
/// for its whole life.
pub trait Timer: Send + Unpin + Debug + 'static {
    /// Fires at `at` from now on, whatever it was set to before.
    fn reset(&mut self, at: Instant);

    /// Ready once the time set has come. The timer is then spent: a driver re-arms it
    /// before polling it again.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Runs `task` on a task of its own and waits for its output: `Err` with the payload if
/// it panicked, `None` if the runtime dropped it first (shutting down). Dropping this
/// future stops the task: it wakes, and ends without polling `task` again.
///
/// A server's accept loop runs this way. Awaited in place, it would run wherever `serve`
/// is awaited, often a thread that is not one of the runtime's workers (tokio's
/// `block_on`): each connection would then wait for the runtime to wake that thread
/// before it is accepted.
pub(crate) async fn spawned<R: Runtime, T: Send + 'static>(
    task: impl Future<Output = T> + Send + 'static,
) -> Option<std::thread::Result<T>> {
    let (done, output) = tokio::sync::oneshot::channel();
    R::spawn(async move {
        let mut task = std::pin::pin!(AssertUnwindSafe(task).catch_unwind());
        let mut done = Some(done);
        std::future::poll_fn(|cx| {
            let Some(sender) = &mut done else {
                return Poll::Ready(());
            };
            if sender.poll_closed(cx).is_ready() {
                // Nobody waits for the output any more.
                return Poll::Ready(());
            }
            let output = std::task::ready!(task.as_mut().poll(cx));
            if let Some(sender) = done.take() {
                let _ = sender.send(output);
            }
            Poll::Ready(())
        })
        .await;
    });
    output.await.ok()
}

/// `task`'s output, or `None` if `limit` passed first.
pub(crate) async fn within<R: Runtime, T>(
    limit: std::time::Duration,
    task: impl Future<Output = T>,
) -> Option<T> {
    let Some(at) = R::now().checked_add(limit) else {
        // Too far away for an `Instant`: it never comes.
        return Some(task.await);
    };
    until::<R, T>(at, task).await
}

/// `task`'s output, or `None` if `at` came first.
pub(crate) async fn until<R: Runtime, T>(at: Instant, task: impl Future<Output = T>) -> Option<T> {
    let mut timer = R::timer(at);
    let mut task = std::pin::pin!(task);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = task.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        timer.poll_fired(cx).map(|()| None)
    })
    .await
}

/// Re-arms `timer` for `at` and waits for it; never returns if `at` is `None`.
pub(crate) async fn sleep_until(timer: &mut impl Timer, at: Option<Instant>) {
    match at {
        Some(at) => {
            timer.reset(at);
            std::future::poll_fn(|cx| timer.poll_fired(cx)).await;
        }
        None => std::future::pending().await,
    }
}

/// `task`'s output if `enabled`, else never: one branch of a driver's wait for the first
/// of several things, switched off without changing the shape of the race.
pub(crate) async fn branch<T>(enabled: bool, task: impl Future<Output = T>) -> T {
    if enabled {
        task.await
    } else {
        std::future::pending().await
    }
}
