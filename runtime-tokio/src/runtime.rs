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
        Ok(Tcp::new(stream, false))
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
        Poll::Ready(Ok((Tcp::new(stream, true), addr)))
    }

    fn poll_readable(tcp: &Tcp, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if tcp.untried_read {
            return Poll::Ready(Ok(()));
        }
        tcp.stream.poll_read_ready(cx)
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
///
/// tokio reads or writes a socket only once its I/O driver has reported it ready, and a
/// socket just accepted has no report yet: its first read would wait for a worker thread
/// to wake and poll the driver, though the client's request is usually there already.
/// So an accepted socket's first read and first write are tried at once, past tokio's
/// readiness; only if one finds nothing to do (`WouldBlock`) does it wait as tokio waits.
/// A stale readiness this leaves behind costs one `WouldBlock` later, which clears it.
#[derive(Debug)]
pub struct Tcp {
    stream: TcpStream,
    /// Accepted, and not read yet.
    untried_read: bool,
    /// Accepted, and not written yet.
    untried_write: bool,
}

impl Tcp {
    fn new(stream: TcpStream, accepted: bool) -> Tcp {
        Tcp {
            stream,
            untried_read: accepted,
            untried_write: accepted,
        }
    }
}

/// `io` on `stream`'s socket itself if `untried` (which it clears), unless that would
/// block: `None` then, and when tried before, for tokio's own path.
fn try_first<T>(
    stream: &TcpStream,
    untried: &mut bool,
    io: impl FnOnce(&socket2::Socket) -> io::Result<T>,
) -> Option<io::Result<T>> {
    if !std::mem::take(untried) {
        return None;
    }
    match io(&socket2::SockRef::from(stream)) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        done => Some(done),
    }
}

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = try_first(&this.stream, &mut this.untried_read, |mut socket| {
            io::Read::read(&mut socket, buf)
        });
        if let Some(done) = first {
            return Poll::Ready(done);
        }
        let mut buf = ReadBuf::new(buf);
        ready!(tokio::io::AsyncRead::poll_read(
            Pin::new(&mut this.stream),
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
        let this = self.get_mut();
        let first = try_first(&this.stream, &mut this.untried_write, |mut socket| {
            io::Write::write(&mut socket, buf)
        });
        if let Some(done) = first {
            return Poll::Ready(done);
        }
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut this.stream), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = try_first(&this.stream, &mut this.untried_write, |mut socket| {
            io::Write::write_vectored(&mut socket, bufs)
        });
        if let Some(done) = first {
            return Poll::Ready(done);
        }
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut this.stream), cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().stream), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().stream), cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::task::Waker;

    use super::*;

    /// An accepted socket whose first read (past tokio's readiness) finds nothing waits as
    /// tokio waits: readable is then not reported again until bytes come (the
    /// [`Runtime::poll_readable`] contract), and they are read once they do.
    #[tokio::test]
    async fn an_accepted_sockets_first_read_falls_back_to_tokios_wait() {
        let listener = Tokio::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let (mut tcp, _) = std::future::poll_fn(|cx| Tokio::poll_accept(&listener, cx))
            .await
            .expect("accept");
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0u8; 16];
        // Untried: reported readable, so that the first read is tried.
        assert!(Tokio::poll_readable(&tcp, &mut cx).is_ready());
        // Nothing came: the read waits, and readable is no longer reported.
        assert!(Pin::new(&mut tcp).poll_read(&mut cx, &mut buf).is_pending());
        assert!(Tokio::poll_readable(&tcp, &mut cx).is_pending());
        client.write_all(b"late").expect("write");
        std::future::poll_fn(|cx| Tokio::poll_readable(&tcp, cx))
            .await
            .expect("readable");
        let read = std::future::poll_fn(|cx| Pin::new(&mut tcp).poll_read(cx, &mut buf))
            .await
            .expect("read");
        assert_eq!(&buf[..read], b"late");
    }
}
