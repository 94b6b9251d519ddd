//! The listening socket of a server: [`Listener`], shared by the WebSocket and the
//! JSON-RPC servers.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use tether_core::Seed;
use tracing::debug;

use crate::Runtime;

/// A listening TCP socket of runtime `R`.
#[derive(Debug)]
pub(crate) struct Listener<R: Runtime> {
    inner: R::Listener,
}

impl<R: Runtime> Listener<R> {
    /// Listens on the first of `addr`'s addresses that can be bound.
    pub(crate) fn bind(addr: impl ToSocketAddrs) -> io::Result<Listener<R>> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match R::bind(addr) {
                Ok(inner) => return Ok(Listener { inner }),
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

    /// The next incoming connection. Errors that concern one incoming connection (the
    /// client gave up before we got to it) are logged and skipped; the others are the
    /// listening socket's (for example running out of file descriptors).
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(R::Tcp, SocketAddr)>> {
        loop {
            match R::poll_accept(&self.inner, cx) {
                Poll::Ready(Err(e)) if is_per_connection(&e) => {
                    debug!(error = %e, "accept failed");
                }
                other => return other,
            }
        }
    }

    /// The next incoming connection; see [`poll_accept`](Self::poll_accept).
    pub(crate) async fn accept(&self) -> io::Result<(R::Tcp, SocketAddr)> {
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
