//! The byte stream under a connection: plain TCP, or TLS over TCP (`wss://`), and how a
//! client or a server opens one.
//!
//! TLS is rustls through `futures-rustls`, over whichever runtime's TCP socket, so it is
//! written once. An enum rather than a type parameter keeps the drivers free of a second
//! generic, and costs plain TCP one match per poll. The driver polls reads and writes in
//! the same task, so a TLS session needs no split and no lock.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use tether_core::ws::Config;
use tether_tls::rustls::pki_types::CertificateDer;
use tether_tls::{ClientTls, ServerTls, TlsError};
use tracing::debug;

use crate::runtime::within;
use crate::{ConnectError, Runtime, Target};

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Stream<R: Runtime> {
    Tcp(R::Tcp),
    /// Boxed: a TLS session is a few kilobytes, the TCP variant a few words.
    Tls(Box<TlsStream<R::Tcp>>),
}

impl<R: Runtime> Stream<R> {
    /// Whether a write may leave bytes in a buffer of the stream's own (TLS records the
    /// socket had no room for) that only a flush, or the next write, sends. TCP writes go
    /// straight to the kernel.
    pub(crate) fn buffers(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The certificate chain the peer presented, verified by the TLS handshake (mutual
    /// TLS on a server); empty over plain TCP or when it presented none.
    pub(crate) fn peer_certificates(&self) -> Vec<CertificateDer<'static>> {
        match self {
            Stream::Tcp(_) => Vec::new(),
            Stream::Tls(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .unwrap_or_default()
                .to_vec(),
        }
    }
}

/// Opens the socket `target` names: TCP, then for `wss://` the TLS handshake with `tls`
/// (the `webpki-roots` CAs if `None`), checking the certificate against the URL's host
/// and sending it as SNI. Not timed: callers bound the whole connect.
pub(crate) async fn connect<R: Runtime>(
    target: &Target,
    tls: Option<&ClientTls>,
) -> Result<Stream<R>, ConnectError> {
    let tcp = R::connect(target.host(), target.port()).await?;
    if !target.is_secure() {
        return Ok(Stream::Tcp(tcp));
    }
    let name = tether_tls::server_name(target.host())?;
    let config = match tls {
        Some(tls) => tls.rustls_config(),
        None => ClientTls::default().rustls_config(),
    };
    match TlsConnector::from(config).connect(name, tcp).await {
        Ok(tls) => Ok(Stream::Tls(Box::new(tls.into()))),
        // The server hung up mid-handshake without an alert.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(ConnectError::ClosedDuringHandshake)
        }
        Err(e) => Err(ConnectError::from_io(e)),
    }
}

/// The stream of an accepted connection: the socket itself, or for `wss://` the socket
/// after the server side of a TLS handshake. Not timed: callers bound it.
pub(crate) async fn accept<R: Runtime>(
    tcp: R::Tcp,
    tls: Option<&ServerTls>,
) -> io::Result<Stream<R>> {
    match tls {
        None => Ok(Stream::Tcp(tcp)),
        Some(tls) => {
            let stream = TlsAcceptor::from(tls.rustls_config()).accept(tcp).await?;
            Ok(Stream::Tls(Box::new(stream.into())))
        }
    }
}

/// How long an accepted connection's TLS handshake may take, and a refusal's answer: the
/// time the core gives the upgrade and writing its error response (see
/// [`ServerConfig::open_limit`](crate::ServerConfig::open_limit)).
pub(crate) fn open_limit(ws: &Config) -> Duration {
    // Saturating: a timeout of `Duration::MAX` means never, and `within` takes it so.
    ws.handshake_timeout.saturating_add(ws.close_timeout)
}

/// [`accept`] for a server: a TLS handshake is bounded by [`open_limit`], so a client that
/// never finishes it cannot hold a task; `None` (logged) if it failed or took too long.
/// Plain TCP has nothing to wait for, so no timer is armed for it: the core times the
/// WebSocket handshake itself.
pub(crate) async fn accept_within<R: Runtime>(
    tcp: R::Tcp,
    tls: Option<&ServerTls>,
    ws: &Config,
) -> Option<Stream<R>> {
    let Some(tls) = tls else {
        return Some(Stream::Tcp(tcp));
    };
    match within::<R, _>(open_limit(ws), accept::<R>(tcp, Some(tls))).await {
        Some(Ok(stream)) => Some(stream),
        Some(Err(e)) => {
            log_socket_error(&e);
            None
        }
        None => {
            debug!("TLS handshake timed out");
            None
        }
    }
}

/// Logs why an accepted connection failed before it opened, naming the TLS cause if any
/// (a client that does not trust us, or that we do not trust).
pub(crate) fn log_socket_error(e: &io::Error) {
    match TlsError::from_io(e) {
        Some(tls) => debug!(error = %tls, "TLS handshake failed"),
        None => debug!(error = %e, "socket error during handshake"),
    }
}

impl<R: Runtime> AsyncRead for Stream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            // A peer that closes TCP without TLS's close_notify (many do) ends the stream
            // like one that sends it. Truncation cannot pass for a clean end: WebSocket
            // frames carry their lengths, and only a close frame closes cleanly.
            Stream::Tls(tls) => match Pin::new(tls).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(0))
                }
                other => other,
            },
        }
    }
}

impl<R: Runtime> AsyncWrite for Stream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_close(cx),
            // Sends what TLS still holds and close_notify, then the TCP FIN.
            Stream::Tls(tls) => Pin::new(tls).poll_close(cx),
        }
    }
}
