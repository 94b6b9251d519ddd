//! [`AsyncStd`]: tether's [`Runtime`] trait on async-io's sockets and timers and the
//! global executor async-std spawns onto; see "Tasks" in the crate docs.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};
use tether_adapter::{Runtime, Timer};

/// async-std and smol, as tether's drivers use them: tasks on
/// [`async-global-executor`](https://docs.rs/async-global-executor), sockets and timers
/// from `async-io`, whose reactor serves every executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Tcp = Tcp;
    type Listener = Async<TcpListener>;
    type Timer = Clock;

    fn now() -> Instant {
        Instant::now()
    }

    fn timer(at: Instant) -> Clock {
        Clock(async_io::Timer::at(at))
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        async_global_executor::spawn(task).detach();
    }

    async fn connect(host: &str, port: u16) -> io::Result<Tcp> {
        // async-net resolves the name and tries each address; its stream is then unwrapped
        // to the one socket it shares with nobody yet.
        let stream = async_net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let shared: Arc<Async<TcpStream>> = stream.into();
        Arc::try_unwrap(shared)
            .map(Tcp)
            .map_err(|_| io::Error::other("a new socket was already shared"))
    }

    fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
        Async::<TcpListener>::bind(addr)
    }

    fn local_addr(listener: &Async<TcpListener>) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    fn poll_accept(
        listener: &Async<TcpListener>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Tcp, SocketAddr)>> {
        loop {
            match listener.get_ref().accept() {
                Ok((stream, addr)) => {
                    stream.set_nodelay(true)?;
                    return Poll::Ready(Ok((Tcp(Async::new(stream)?), addr)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Registers the waker; ready means try again.
                    if let Err(e) = std::task::ready!(listener.poll_readable(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_readable(tcp: &Tcp, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tcp.0.poll_readable(cx)
    }
}

/// An async-io TCP socket, owned by its one driver: no `Arc` and no readiness futures
/// kept per socket (as async-net's shareable stream has), and a readiness wait that needs
/// no buffer ([`Runtime::poll_readable`]).
#[derive(Debug)]
pub struct Tcp(Async<TcpStream>);

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    /// Our FIN (as async-net's stream does): TCP writes hold nothing back to flush.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.get_ref().shutdown(Shutdown::Write))
    }
}

/// async-io's timer, re-armed in place.
#[derive(Debug)]
pub struct Clock(async_io::Timer);

impl Timer for Clock {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}
