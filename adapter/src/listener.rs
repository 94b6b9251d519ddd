//! Accepting connections: the listening socket of a server, [`Listener`], shared by the
//! WebSocket and the JSON-RPC servers and a node's pool; where an accepted connection's
//! task runs first ([`spawn_accepted`]); and `serve`'s body ([`serve`]), which runs an
//! accept loop on a task of its own.
//!
//! Accepting never fails for good. An error that concerns one incoming connection (the
//! client gave up before we got to it) is skipped; any other (running out of file
//! descriptors, `EMFILE`/`ENFILE`, or of kernel buffers) pauses accepting for a while,
//! 10 ms doubling to 1 s, and tries again: the clients wait in the listen backlog until
//! connections end and free what ran out, then are served. Retrying at once would spin,
//! since the socket stays readable while the backlog holds them.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};
use std::time::Duration;

use tether_core::Seed;
use tracing::{debug, warn};

use crate::edge::Edge;
use crate::runtime::spawned;
use crate::{Runtime, Timer};

/// The first pause after an accept error.
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause, however long the errors go on.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A listening TCP socket of runtime `R`.
#[derive(Debug)]
pub(crate) struct Listener<R: Runtime> {
    inner: R::Listener,
    /// Set while accepting is paused after an error.
    pause: Option<R::Timer>,
    /// The pause after the next error.
    backoff: Duration,
}

impl<R: Runtime> Listener<R> {
    /// Listens on the first of `addr`'s addresses that can be bound.
    pub(crate) fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener<R>> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match R::bind(addr) {
                Ok(inner) => {
                    return Ok(Listener {
                        inner,
                        pause: None,
                        backoff: ACCEPT_BACKOFF_MIN,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on")
        }))
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        R::local_addr(&self.inner)
    }

    /// The next incoming connection; errors are waited out (see the module docs).
    pub(crate) fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(R::Tcp, SocketAddr)> {
        loop {
            if let Some(pause) = &mut self.pause {
                if pause.poll_fired(cx).is_pending() {
                    return Poll::Pending;
                }
                self.pause = None;
            }
            match R::poll_accept(&self.inner, cx) {
                Poll::Ready(Ok(accepted)) => {
                    self.backoff = ACCEPT_BACKOFF_MIN;
                    return Poll::Ready(accepted);
                }
                Poll::Ready(Err(e)) if is_per_connection(&e) => {
                    debug!(error = %e, "accept failed");
                }
                Poll::Ready(Err(e)) => {
                    // Once per streak at warn: the pauses of one long shortage would flood.
                    if self.backoff == ACCEPT_BACKOFF_MIN {
                        warn!(error = %e, "accept failed; backing off");
                    } else {
                        debug!(error = %e, backoff = ?self.backoff, "accept failed; backing off");
                    }
                    self.pause = Some(R::timer(R::now() + self.backoff));
                    self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The next incoming connection; see [`poll_accept`](Self::poll_accept).
    pub(crate) async fn accept(&mut self) -> (R::Tcp, SocketAddr) {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }
}

/// Errors of a listener's `accept` that concern one incoming connection (the client gave
/// up before we got to it), not the listener: log them and keep accepting.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// A seed for an accepted connection's core; `None` (logged) if there is no randomness
/// to be had, and the connection is then dropped.
pub(crate) fn seed_or_log() -> Option<Seed> {
    match crate::seed() {
        Ok(seed) => Some(seed),
        Err(e) => {
            debug!(error = %e, "no randomness for the connection");
            None
        }
    }
}

/// `serve`'s body, for every server: runs the accept loop `accepting` on a task of its
/// own ([`spawned`]) until it returns (the server shut down, the listening socket closed),
/// then waits for the server's connections to end. A panic of the loop is the caller's;
/// a loop the runtime dropped (shutting down) is an error.
pub(crate) async fn serve<R: Runtime>(
    edge: &Edge,
    accepting: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    match spawned::<R, ()>(accepting).await {
        Some(Ok(())) => {}
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => {
            return Err(io::Error::other(
                "the runtime dropped the server's accept loop",
            ))
        }
    }
    debug!("shut down; waiting for the connections to end");
    edge.emptied().await;
    Ok(())
}

/// Runs an accepted connection's `task`: plain TCP gets its first poll here, on the
/// accepting task, before it is spawned; `tls` goes straight to a task of its own.
///
/// Spawned at once, a connection's first poll waits for a worker thread to wake and take
/// the task, and the client waits with it: the request came with the connection, and its
/// answer is written only then. Polled here first, what is already possible (reading the
/// request, writing the 101) is done before the accepting task goes back to its listener,
/// and the worker's wake-up is off the client's path. A TLS handshake's first step is a
/// key exchange: that would hold up the accepting task, so it is left to the task.
///
/// The first poll's waker is a no-op: the spawned task polls the future again at once,
/// and what that poll registers is what wakes it. A panic in the first poll drops the
/// connection, as a runtime drops a task that panicked.
pub(crate) fn spawn_accepted<R: Runtime>(
    task: impl std::future::Future<Output = ()> + Send + 'static,
    tls: bool,
) {
    if tls {
        R::spawn(task);
        return;
    }
    let mut task = Box::pin(task);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let first =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.as_mut().poll(&mut cx)));
    match first {
        Ok(Poll::Ready(())) => {}
        Ok(Poll::Pending) => R::spawn(task),
        Err(_) => warn!("a connection's task panicked in its first poll; dropped it"),
    }
}
