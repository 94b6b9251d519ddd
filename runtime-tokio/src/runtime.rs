//! [`Tokio`]: tether's [`Runtime`] trait on tokio.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use tether_adapter::{Runtime, Timer};
use tokio::io::ReadBuf;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// tokio, as tether's drivers use it: `tokio::spawn`, tokio's timers and clock (so a
/// paused test clock drives the core too) and tokio's TCP sockets. Must be used from
/// inside a tokio runtime, as `tokio::spawn` must.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Tcp = Tcp;
    type Listener = TcpListener;
    type Timer = Clock;

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn timer(at: Instant) -> Clock {
        Clock(Box::pin(tokio::time::sleep_until(at.into())))
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    async fn connect(host: &str, port: u16) -> io::Result<Tcp> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Tcp(stream))
    }

    fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn poll_accept(
        listener: &TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Tcp, SocketAddr)>> {
        let (stream, addr) = ready!(listener.poll_accept(cx))?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((Tcp(stream), addr)))
    }

    fn poll_readable(tcp: &Tcp, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tcp.0.poll_read_ready(cx)
    }
}

/// tokio's timer, re-armed in place.
#[derive(Debug)]
pub struct Clock(Pin<Box<Sleep>>);

impl Timer for Clock {
    fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// A tokio TCP socket behind the `futures-io` traits the drivers are written against.
#[derive(Debug)]
pub struct Tcp(TcpStream);

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(tokio::io::AsyncRead::poll_read(
            Pin::new(&mut self.get_mut().0),
            cx,
            &mut buf
        ))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().0), cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}
