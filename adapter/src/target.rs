//! A `ws://` URL taken apart: [`Target`].

use tether_core::handshake::ClientRequest;
use url::{Host, Url};

use crate::{ConnectError, UrlError};

/// Where a `ws://` URL points: the host and port to connect to, and the upgrade request
/// to send there.
///
/// ```
/// use tether_adapter::Target;
///
/// let target = Target::parse("ws://[::1]:9001/chat?room=7")?;
/// assert_eq!((target.host(), target.port()), ("::1", 9001));
/// let request = target.request(vec![], vec!["v1".into()]);
/// assert_eq!((request.host.as_str(), request.path.as_str()), ("[::1]:9001", "/chat?room=7"));
/// # Ok::<(), tether_adapter::ConnectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What to resolve: a name or an IP address (IPv6 without brackets).
    host: String,
    port: u16,
    /// The `Host` header: as in the URL, with the port only if it is not the default.
    host_header: String,
    /// Path and query, starting with `/`.
    path: String,
}

impl Target {
    /// What to resolve: a name or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (80 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header: as in the URL, with the port only if it is not the default. Also
    /// a good name for the peer in logs.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }

    /// The upgrade request for this target, with extra `headers` and the subprotocols to
    /// offer.
    pub fn request(&self, headers: Vec<(String, String)>, protocols: Vec<String>) -> ClientRequest {
        ClientRequest {
            host: self.host_header.clone(),
            path: self.path.clone(),
            headers,
            protocols,
        }
    }

    /// Takes a `ws://host[:port]/path?query` URL apart (the port defaults to 80). Any
    /// other scheme is [`ConnectError::UnsupportedScheme`]; a fragment, credentials or a
    /// missing host are [`ConnectError::InvalidUrl`].
    pub fn parse(text: &str) -> Result<Target, ConnectError> {
        let url = Url::parse(text).map_err(UrlError::from)?;
        if url.scheme() != "ws" {
            return Err(ConnectError::UnsupportedScheme(url.scheme().to_owned()));
        }
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
            port: url.port_or_known_default().unwrap_or(80),
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
    fn other_schemes_are_unsupported() {
        for (text, scheme) in [
            ("wss://example.com/", "wss"),
            ("http://example.com/", "http"),
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
