//! The byte stream under a connection: plain TCP, or TLS over TCP (`wss://`).
//!
//! The driver reads and writes at once, so it holds the stream as two halves. A TCP socket
//! splits for free; a TLS session is one state for both directions, so its halves share it
//! through tokio's lock, never contended since one task holds both. An enum rather than a
//! type parameter keeps the drivers and handles free of generics, and costs plain TCP one
//! match per poll.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tether_tls::{ClientTls, ServerTls};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// A connected socket, before the driver splits it.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    /// Boxed: a TLS session is a few kilobytes, the TCP variant a few words.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Runs the client side of a TLS handshake over `tcp`. A failure is an `io::Error`
    /// wrapping the `rustls::Error` (see `TlsError::from_io`).
    pub(crate) async fn connect_tls(
        tcp: TcpStream,
        name: ServerName<'static>,
        tls: &ClientTls,
    ) -> io::Result<Stream> {
        let stream = TlsConnector::from(tls.rustls_config())
            .connect(name, tcp)
            .await?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }

    /// Runs the server side of a TLS handshake over `tcp`.
    pub(crate) async fn accept_tls(tcp: TcpStream, tls: &ServerTls) -> io::Result<Stream> {
        let stream = TlsAcceptor::from(tls.rustls_config()).accept(tcp).await?;
        Ok(Stream::Tls(Box::new(stream.into())))
    }

    pub(crate) fn split(self) -> (Reader, Writer) {
        match self {
            Stream::Tcp(tcp) => {
                let (reader, writer) = tcp.into_split();
                (Reader::Tcp(reader), Writer::Tcp(writer))
            }
            Stream::Tls(tls) => {
                let (reader, writer) = tokio::io::split(*tls);
                (Reader::Tls(reader), Writer::Tls(writer))
            }
        }
    }
}

/// The reading half of a [`Stream`].
#[derive(Debug)]
pub(crate) enum Reader {
    Tcp(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// The writing half of a [`Stream`].
#[derive(Debug)]
pub(crate) enum Writer {
    Tcp(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl Writer {
    /// Whether a write may leave bytes in a buffer of the stream's own (TLS records the
    /// socket had no room for) that only a flush, or the next write, sends. TCP writes go
    /// straight to the kernel.
    pub(crate) fn buffers(&self) -> bool {
        matches!(self, Writer::Tls(_))
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Reader::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            // A peer that closes TCP without TLS's close_notify (many do) ends the stream
            // like one that sends it. Truncation cannot pass for a clean end: WebSocket
            // frames carry their lengths, and only a close frame closes cleanly.
            Reader::Tls(tls) => match Pin::new(tls).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Writer::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Writer::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Writer::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Writer::Tls(tls) => Pin::new(tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Writer::Tcp(tcp) => tcp.is_write_vectored(),
            Writer::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Writer::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Writer::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Writer::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            // Sends close_notify, then the TCP FIN.
            Writer::Tls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}
