//! [`AsyncStd`]: tether's [`Runtime`] trait on async-io's sockets and timers and the
//! global executor async-std spawns onto; see "Tasks" in the crate docs.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Async;
use async_net::TcpStream;
use tether_adapter::{Runtime, Timer};

/// async-std and smol, as tether's drivers use them: tasks on
/// [`async-global-executor`](https://docs.rs/async-global-executor), sockets and timers
/// from `async-io`, whose reactor serves every executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Tcp = TcpStream;
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

    async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
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
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            match listener.get_ref().accept() {
                Ok((stream, addr)) => {
                    let stream = TcpStream::from(Async::new(stream)?);
                    stream.set_nodelay(true)?;
                    return Poll::Ready(Ok((stream, addr)));
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
