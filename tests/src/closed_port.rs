//! A loopback port nobody listens on, held for as long as a test needs it.
//!
//! Binding port 0, dropping the listener and using the port leaves it free for anyone:
//! another test (or process) may be given it meanwhile and listen there, and "nobody
//! listens" becomes false. A [`ClosedPort`] keeps the port bound by a socket that never
//! listens: connections to it are refused, and nothing else can bind it, except a server
//! that sets `SO_REUSEADDR` as this socket does (tokio's, async-io's and Python asyncio's
//! listeners all do on Unix), which Linux lets take the port over and listen on it while
//! the placeholder is held. So a test can also start its server on the port later.

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// A bound, non-listening TCP socket on 127.0.0.1.
#[derive(Debug)]
pub struct ClosedPort {
    /// Held, never read: it keeps the port.
    _socket: Socket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Binds a fresh loopback port without listening on it.
    pub fn new() -> ClosedPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("a bound IPv4 address");
        ClosedPort {
            _socket: socket,
            addr,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its `ws://` URL, path `/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}
