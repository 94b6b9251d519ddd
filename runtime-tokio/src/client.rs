//! Opening a connection: [`connect`], the URL it takes, and [`open_stream`], the socket
//! under every client connection.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tether_core::handshake::{ClientRequest, HandshakeError};
use tether_core::ws::{Config, Connection, ProtocolError};
use tether_tls::{ClientTls, TlsError};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::Instrument;
use url::{Host, Url};

use crate::driver::{self, Driver, OpenError};
use crate::stream::Stream;
use crate::{ConnectError, UrlError, WebSocket};

/// How [`connect`] opens a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of the connection itself.
    pub ws: Config,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, most preferred first.
    pub protocols: Vec<String>,
    /// How long the TCP connect, the TLS handshake (`wss://`) and the opening handshake may
    /// take together (default 5 s).
    pub connect_timeout: Duration,
    /// TLS for `wss://` URLs: the roots to trust and, for mutual TLS, the certificate to
    /// present. `None` trusts the `webpki-roots` CAs ([`ClientTls::default`]). Unused for
    /// `ws://`.
    pub tls: Option<ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: Config::default(),
            headers: Vec::new(),
            protocols: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// Opens a WebSocket to `url`: `ws://host[:port]/path?query` (port 80 by default) or
/// `wss://…` (TLS, port 443 by default).
///
/// Resolves once the opening handshake has finished, so
/// [`WebSocket::protocol`] already says which subprotocol the server chose (and
/// [`WebSocket::compression`] whether it took up permessage-deflate, offered when
/// `config.ws.compression` is set). For `wss://`,
/// the server's certificate must be valid for the URL's host (sent as SNI unless it is an
/// IP address) and chain to a root of [`ClientConfig::tls`]; a certificate or TLS failure
/// is a [`ConnectError::Tls`] naming the cause.
///
/// Cancel-safe: dropping the future drops the half-open socket.
pub async fn connect(url: &str, config: ClientConfig) -> Result<WebSocket, ConnectError> {
    let target = Target::parse(url)?;
    let span = tracing::debug_span!("ws", role = "client", peer = %target.host_header);
    let deadline = Instant::now() + config.connect_timeout;
    within(
        config.connect_timeout,
        open(target, config, deadline).instrument(span),
    )
    .await
}

/// Opens the socket `target` names before `deadline`: TCP, then for `wss://` the TLS
/// handshake, with `tls` (the `webpki-roots` CAs if `None`). Every client connection gets
/// its socket here, so a reconnecting client opens them the same way.
pub(crate) async fn open_stream(
    target: &Target,
    tls: Option<&ClientTls>,
    deadline: Instant,
) -> Result<Stream, ConnectError> {
    let open = async {
        let tcp = target.connect_tcp().await?;
        if !target.secure {
            return Ok(Stream::Tcp(tcp));
        }
        let name = tether_tls::server_name(&target.host)?;
        let default;
        let tls = match tls {
            Some(tls) => tls,
            None => {
                default = ClientTls::default();
                &default
            }
        };
        Stream::connect_tls(tcp, name, tls)
            .await
            .map_err(|e| match e.kind() {
                // The server hung up mid-handshake without an alert.
                io::ErrorKind::UnexpectedEof => ConnectError::ClosedDuringHandshake,
                _ => io_error(e),
            })
    };
    match tokio::time::timeout_at(deadline, open).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout),
    }
}

/// Runs `open` for at most `limit`: the whole connect, TCP and handshake together.
pub(crate) async fn within<T>(
    limit: Duration,
    open: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(limit, open).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn open(
    target: Target,
    config: ClientConfig,
    deadline: Instant,
) -> Result<WebSocket, ConnectError> {
    let linger = config.ws.close_timeout;
    let request = target.request(config.headers, config.protocols);
    // Built before connecting, so a request we cannot send fails without touching the network.
    let conn = Connection::client(driver::now(), config.ws, request, driver::seed()?)
        .map_err(ConnectError::Handshake)?;
    let stream = open_stream(&target, config.tls.as_ref(), deadline).await?;
    let (mut driver, parts) = Driver::new(conn, stream, Arc::from([]), linger);
    let protocol = driver.open().await.map_err(connect_error)?;
    let compression = driver.compression();
    tokio::spawn(driver.run().in_current_span());
    Ok(WebSocket::new(parts, protocol, compression))
}

/// What a failed opening handshake means to whoever called `connect`.
pub(crate) fn connect_error(error: OpenError) -> ConnectError {
    match error {
        OpenError::Io(e) => io_error(e),
        OpenError::Protocol(ProtocolError::Handshake(HandshakeError::BadStatus(status))) => {
            ConnectError::Rejected { status }
        }
        OpenError::Protocol(ProtocolError::Handshake(e)) => ConnectError::Handshake(e),
        OpenError::Protocol(ProtocolError::HandshakeTimeout) => ConnectError::Timeout,
        OpenError::Protocol(ProtocolError::UnexpectedEof) | OpenError::Closed => {
            ConnectError::ClosedDuringHandshake
        }
        OpenError::Protocol(e) => ConnectError::Protocol(e),
    }
}

/// A socket error, or the TLS failure it carries. Over TLS 1.3 a server's verdict on our
/// client certificate arrives after our side of the handshake is done, as an alert in
/// the first read: it surfaces here, while waiting for the upgrade response.
pub(crate) fn io_error(e: io::Error) -> ConnectError {
    match TlsError::from_io(&e) {
        Some(tls) => ConnectError::Tls(tls),
        None => ConnectError::Io(e),
    }
}

/// Where a `ws://` or `wss://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// What to resolve: a name or an IP address (IPv6 without brackets). Also the name
    /// a server's certificate is checked against.
    host: String,
    port: u16,
    /// `wss://`: TLS over the TCP connection.
    secure: bool,
    /// The `Host` header: as in the URL, with the port only if it is not the default.
    pub(crate) host_header: String,
    /// Path and query, starting with `/`.
    path: String,
}

impl Target {
    /// The upgrade request for this target.
    pub(crate) fn request(
        &self,
        headers: Vec<(String, String)>,
        protocols: Vec<String>,
    ) -> ClientRequest {
        ClientRequest {
            host: self.host_header.clone(),
            path: self.path.clone(),
            headers,
            protocols,
        }
    }

    /// Opens the TCP connection.
    async fn connect_tcp(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        // Small frames (pongs, replies) must not wait for Nagle's timer.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    pub(crate) fn parse(text: &str) -> Result<Target, ConnectError> {
        let url = Url::parse(text).map_err(UrlError::from)?;
        let secure = match url.scheme() {
            "ws" => false,
            "wss" => true,
            other => return Err(ConnectError::UnsupportedScheme(other.to_owned())),
        };
        if url.fragment().is_some() {
            return Err(UrlError::Fragment.into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials.into());
        }
        let host = match url.host() {
            Some(Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(Host::Domain(_)) | None => return Err(UrlError::MissingHost.into()),
        };
        let host_str = url.host_str().ok_or(UrlError::MissingHost)?;
        let host_header = match url.port() {
            Some(port) => format!("{host_str}:{port}"),
            None => host_str.to_owned(),
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        Ok(Target {
            host,
            port: url
                .port_or_known_default()
                .unwrap_or(if secure { 443 } else { 80 }),
            secure,
            host_header,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16, host_header: &str, path: &str) -> Target {
        Target {
            host: host.into(),
            port,
            secure: false,
            host_header: host_header.into(),
            path: path.into(),
        }
    }

    fn parse(text: &str) -> Target {
        match Target::parse(text) {
            Ok(target) => target,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn host_alone_gets_port_80_and_root_path() {
        assert_eq!(
            parse("ws://example.com"),
            target("example.com", 80, "example.com", "/")
        );
    }

    #[test]
    fn port_path_and_query_are_kept() {
        assert_eq!(
            parse("ws://127.0.0.1:9001/runCase?case=3&agent=x"),
            target(
                "127.0.0.1",
                9001,
                "127.0.0.1:9001",
                "/runCase?case=3&agent=x"
            )
        );
    }

    #[test]
    fn default_port_is_left_out_of_the_host_header() {
        assert_eq!(
            parse("ws://example.com:80/a"),
            target("example.com", 80, "example.com", "/a")
        );
    }

    #[test]
    fn ipv6_is_resolved_bare_and_sent_bracketed() {
        assert_eq!(
            parse("ws://[::1]:9001/x"),
            target("::1", 9001, "[::1]:9001", "/x")
        );
    }

    #[test]
    fn missing_host_is_invalid() {
        for text in ["ws://", "ws://:9001/", "ws:"] {
            assert!(
                matches!(Target::parse(text), Err(ConnectError::InvalidUrl(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn wss_is_secure_on_port_443() {
        let secure = |host, port, host_header, path| Target {
            secure: true,
            ..target(host, port, host_header, path)
        };
        assert_eq!(
            parse("wss://example.com/a"),
            secure("example.com", 443, "example.com", "/a")
        );
        assert_eq!(
            parse("wss://example.com:443/"),
            secure("example.com", 443, "example.com", "/")
        );
        assert_eq!(
            parse("wss://[::1]:9443/"),
            secure("::1", 9443, "[::1]:9443", "/")
        );
    }

    #[test]
    fn other_schemes_are_unsupported() {
        for (text, scheme) in [
            ("http://example.com/", "http"),
            ("https://example.com/", "https"),
        ] {
            match Target::parse(text) {
                Err(ConnectError::UnsupportedScheme(s)) => assert_eq!(s, scheme),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn fragment_and_credentials_are_refused() {
        assert!(matches!(
            Target::parse("ws://h/#frag"),
            Err(ConnectError::InvalidUrl(UrlError::Fragment))
        ));
        assert!(matches!(
            Target::parse("ws://user:pw@h/"),
            Err(ConnectError::InvalidUrl(UrlError::Credentials))
        ));
    }

    #[test]
    fn not_a_url_is_invalid() {
        assert!(matches!(
            Target::parse("127.0.0.1:9001"),
            Err(ConnectError::InvalidUrl(_)) | Err(ConnectError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Target::parse("no url at all"),
            Err(ConnectError::InvalidUrl(UrlError::Parse(_)))
        ));
    }
}
