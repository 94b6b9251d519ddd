//! `Sec-WebSocket-Extensions`: the extension list grammar (RFC 6455 §9.1) and the
//! permessage-deflate negotiation (RFC 7692 §5, §7.1) for both roles.
//!
//! A client offers what its [`Deflate`] settings say ([`deflate_offer`]); a server takes the
//! first offer it can honour ([`negotiate_deflate`]) or declines them all; the client then
//! checks the server's answer against its offer ([`deflate_response`]) and fails the
//! handshake if the answer is not one RFC 7692 allows.

use crate::deflate::{Deflate, DeflateParams};

use super::{is_token, HandshakeError};

/// The extension this module negotiates.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// Why a permessage-deflate offer was declined, or a server's answer refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The header is not a valid extension list (RFC 6455 §9.1).
    #[error("Sec-WebSocket-Extensions is not a valid extension list")]
    Syntax,
    /// A parameter RFC 7692 does not define for this side.
    #[error("unknown permessage-deflate parameter {0:?}")]
    UnknownParameter(String),
    /// A parameter given twice.
    #[error("permessage-deflate parameter {0:?} given twice")]
    DuplicateParameter(String),
    /// A parameter with a value it may not have, or without one it needs.
    #[error("invalid value {value:?} for permessage-deflate parameter {name:?}")]
    InvalidValue {
        /// The parameter.
        name: String,
        /// Its value as sent (`None`: it had none).
        value: Option<String>,
    },
    /// The server named permessage-deflate more than once.
    #[error("permessage-deflate accepted more than once")]
    Repeated,
    /// We asked the server to reset its context after every message; it did not agree.
    #[error("the server did not agree to server_no_context_takeover")]
    ServerContextTakeover,
    /// We asked the server for a window of at most `requested` bits; it answered `answered`.
    #[error("asked for server_max_window_bits={requested}, the server answered {answered:?}")]
    ServerWindow {
        /// What we asked for.
        requested: u8,
        /// What the server answered (`None`: nothing).
        answered: Option<u8>,
    },
    /// The server set our window above what we offered.
    #[error("offered client_max_window_bits={offered}, the server answered {answered}")]
    ClientWindow {
        /// What we offered.
        offered: u8,
        /// What the server answered.
        answered: u8,
    },
    /// Server: our settings limit the client's window, but the offer leaves no way to say so
    /// (it has no `client_max_window_bits`).
    #[error("the offer does not let the server limit the client's window")]
    ClientWindowNotOffered,
    /// Server: the request offers no permessage-deflate at all.
    #[error("no permessage-deflate offer")]
    NotOffered,
}

/// One element of an extension list: a name and its parameters, values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    name: String,
    params: Vec<(String, Option<String>)>,
}

/// Parses one `Sec-WebSocket-Extensions` value. Empty elements are allowed (RFC 9110 §5.6.1).
fn parse_list(value: &[u8]) -> Result<Vec<Element>, ExtensionError> {
    let mut cursor = Cursor { rest: value };
    let mut elements = Vec::new();
    loop {
        cursor.skip_space();
        if cursor.rest.is_empty() {
            return Ok(elements);
        }
        if cursor.eat(b',') {
            continue;
        }
        let name = cursor.token()?;
        let mut params = Vec::new();
        loop {
            cursor.skip_space();
            if cursor.rest.is_empty() || cursor.eat(b',') {
                break;
            }
            if !cursor.eat(b';') {
                return Err(ExtensionError::Syntax);
            }
            cursor.skip_space();
            let param = cursor.token()?;
            cursor.skip_space();
            let value = if cursor.eat(b'=') {
                cursor.skip_space();
                Some(cursor.value()?)
            } else {
                None
            };
            params.push((param, value));
        }
        elements.push(Element { name, params });
    }
}

/// A position in a header value.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        while let [b' ' | b'\t', rest @ ..] = self.rest {
            self.rest = rest;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&b, rest)) if b == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn token(&mut self) -> Result<String, ExtensionError> {
        let len = self
            .rest
            .iter()
            .position(|&b| !is_token(&[b]))
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(len);
        if token.is_empty() {
            return Err(ExtensionError::Syntax);
        }
        self.rest = rest;
        // Token bytes are ASCII.
        Ok(String::from_utf8_lossy(token).into_owned())
    }

    /// A token or a quoted string, unquoted.
    fn value(&mut self) -> Result<String, ExtensionError> {
        if !self.eat(b'"') {
            return self.token();
        }
        let mut value = Vec::new();
        loop {
            match self.rest {
                [b'"', rest @ ..] => {
                    self.rest = rest;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                [b'\\', escaped, rest @ ..] => {
                    value.push(*escaped);
                    self.rest = rest;
                }
                [b, rest @ ..] if *b != b'\\' => {
                    value.push(*b);
                    self.rest = rest;
                }
                _ => return Err(ExtensionError::Syntax),
            }
        }
    }
}

/// The parameters of one permessage-deflate element, checked for what RFC 7692 §7.1 allows
/// in any offer or answer: known names, each once, values where they belong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value, which only an offer may send.
    client_max_window_bits: Option<Option<u8>>,
}

impl Parsed {
    fn from_params(params: &[(String, Option<String>)]) -> Result<Parsed, ExtensionError> {
        let mut parsed = Parsed::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in params {
            let name = name.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return Err(ExtensionError::DuplicateParameter(name.to_owned()));
            }
            seen.push(name);
            let invalid = || ExtensionError::InvalidValue {
                name: name.to_owned(),
                value: value.clone(),
            };
            let lower = name.to_ascii_lowercase();
            match (lower.as_str(), value) {
                ("server_no_context_takeover", None) => parsed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => parsed.client_no_context_takeover = true,
                ("server_max_window_bits", Some(v)) => {
                    parsed.server_max_window_bits = Some(window_bits(v).ok_or_else(invalid)?);
                }
                ("client_max_window_bits", None) => parsed.client_max_window_bits = Some(None),
                ("client_max_window_bits", Some(v)) => {
                    parsed.client_max_window_bits = Some(Some(window_bits(v).ok_or_else(invalid)?));
                }
                (
                    "server_no_context_takeover"
                    | "client_no_context_takeover"
                    | "server_max_window_bits",
                    _,
                ) => return Err(invalid()),
                _ => return Err(ExtensionError::UnknownParameter(name.to_owned())),
            }
        }
        Ok(parsed)
    }
}

/// A window size as RFC 7692 §7.1.2 writes it: 1*DIGIT, 8 to 15.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// The `Sec-WebSocket-Extensions` value a client sends to offer `deflate`.
///
/// `client_max_window_bits` is always offered, so a server may limit our window.
///
/// ```
/// use tether_core::deflate::Deflate;
/// use tether_core::handshake::deflate_offer;
///
/// assert_eq!(deflate_offer(&Deflate::default()), "permessage-deflate; client_max_window_bits");
/// let small = Deflate { server_max_window_bits: 10, server_no_context_takeover: true, ..Deflate::default() };
/// assert_eq!(
///     deflate_offer(&small),
///     "permessage-deflate; client_max_window_bits; server_max_window_bits=10; server_no_context_takeover"
/// );
/// ```
pub fn deflate_offer(deflate: &Deflate) -> String {
    let mut offer = String::from(PERMESSAGE_DEFLATE);
    match deflate.client_window() {
        15 => offer.push_str("; client_max_window_bits"),
        bits => offer.push_str(&format!("; client_max_window_bits={bits}")),
    }
    if deflate.server_window() < 15 {
        offer.push_str(&format!(
            "; server_max_window_bits={}",
            deflate.server_window()
        ));
    }
    if deflate.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if deflate.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    offer
}

/// Server: the first permessage-deflate offer in `values` (the request's
/// `Sec-WebSocket-Extensions` headers, in order) that `deflate` can honour, as the agreed
/// parameters and the header value that accepts it.
///
/// An offer is declined when it breaks RFC 7692 §7.1 or asks what we cannot do; the error
/// says why the last one was (or that there was none). A declined offer is no error for the
/// handshake: the connection opens without compression.
///
/// ```
/// use tether_core::deflate::Deflate;
/// use tether_core::handshake::negotiate_deflate;
///
/// let offer: &[u8] = b"permessage-deflate; client_max_window_bits; server_max_window_bits=10";
/// let (params, answer) = negotiate_deflate(&Deflate::default(), [offer]).unwrap();
/// assert_eq!(params.server_max_window_bits, 10);
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
/// ```
pub fn negotiate_deflate<'a>(
    deflate: &Deflate,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(DeflateParams, String), ExtensionError> {
    let mut declined = ExtensionError::NotOffered;
    for value in values {
        let elements = match parse_list(value) {
            Ok(elements) => elements,
            Err(e) => {
                declined = e;
                continue;
            }
        };
        for element in elements {
            if !element.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
                continue;
            }
            match Parsed::from_params(&element.params).and_then(|offer| accept(deflate, offer)) {
                Ok(agreed) => return Ok(agreed),
                Err(e) => declined = e,
            }
        }
    }
    Err(declined)
}

/// Server: what we answer one valid offer with (RFC 7692 §7.1.1-2).
fn accept(deflate: &Deflate, offer: Parsed) -> Result<(DeflateParams, String), ExtensionError> {
    let client_max_window_bits = match offer.client_max_window_bits {
        None if deflate.client_window() < 15 => return Err(ExtensionError::ClientWindowNotOffered),
        None => None,
        Some(offered) => Some(deflate.client_window().min(offered.unwrap_or(15))),
    };
    let params = DeflateParams {
        // Both "no context takeover" hints are ours to accept whenever the client sends them.
        server_no_context_takeover: deflate.server_no_context_takeover
            || offer.server_no_context_takeover,
        client_no_context_takeover: deflate.client_no_context_takeover
            || offer.client_no_context_takeover,
        server_max_window_bits: deflate
            .server_window()
            .min(offer.server_max_window_bits.unwrap_or(15)),
        client_max_window_bits: client_max_window_bits.unwrap_or(15),
    };
    let mut answer = String::from(PERMESSAGE_DEFLATE);
    if params.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    // A client that asked for a server window expects to hear it back, even 15.
    if offer.server_max_window_bits.is_some() || params.server_max_window_bits < 15 {
        answer.push_str(&format!(
            "; server_max_window_bits={}",
            params.server_max_window_bits
        ));
    }
    if let Some(bits) = client_max_window_bits.filter(|&bits| bits < 15) {
        answer.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Ok((params, answer))
}

/// Client: checks the server's `Sec-WebSocket-Extensions` answers (`values`) against what
/// we `offered`: `Ok(None)` if it accepted nothing, the parameters in effect if it accepted
/// our permessage-deflate offer, an error if the answer is not one RFC 7692 allows.
pub(crate) fn deflate_response<'a>(
    offered: &Deflate,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let mut accepted = None;
    for value in values {
        for element in parse_list(value)? {
            if !element.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
                return Err(HandshakeError::UnofferedExtension(element.name));
            }
            if accepted.is_some() {
                return Err(ExtensionError::Repeated.into());
            }
            accepted = Some(Parsed::from_params(&element.params)?);
        }
    }
    let Some(answer) = accepted else {
        return Ok(None);
    };
    check_answer(offered, answer).map(Some).map_err(Into::into)
}

/// Client: what a valid answer to our offer leaves in effect (RFC 7692 §7.1.1-2).
fn check_answer(offered: &Deflate, answer: Parsed) -> Result<DeflateParams, ExtensionError> {
    if offered.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err(ExtensionError::ServerContextTakeover);
    }
    let requested = offered.server_window();
    let server_max_window_bits = match answer.server_max_window_bits {
        Some(bits) if bits <= requested => bits,
        answered if requested < 15 => {
            return Err(ExtensionError::ServerWindow {
                requested,
                answered,
            })
        }
        // We asked for nothing, so any valid window the server announces is its own choice.
        Some(bits) => bits,
        None => 15,
    };
    let client_max_window_bits = match answer.client_max_window_bits {
        None => offered.client_window(),
        Some(Some(bits)) if bits <= offered.client_window() => bits,
        Some(Some(bits)) => {
            return Err(ExtensionError::ClientWindow {
                offered: offered.client_window(),
                answered: bits,
            })
        }
        // An answer must give the client's window a value (RFC 7692 §7.1.2.2).
        Some(None) => {
            return Err(ExtensionError::InvalidValue {
                name: "client_max_window_bits".into(),
                value: None,
            })
        }
    };
    Ok(DeflateParams {
        server_no_context_takeover: answer.server_no_context_takeover,
        // An offered hint binds us even if the server leaves it out (RFC 7692 §7.1.1.1).
        client_no_context_takeover: answer.client_no_context_takeover
            || offered.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str, params: &[(&str, Option<&str>)]) -> Element {
        Element {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).into(), v.map(Into::into)))
                .collect(),
        }
    }

    #[test]
    fn parses_lists_with_params_quotes_and_empty_elements() {
        let list = parse_list(
            b" , permessage-deflate ; client_max_window_bits ;server_max_window_bits = \"10\",\
              x-webkit-deflate-frame,, foo;a=b;c=\"q\\\"d,e\"",
        )
        .expect("valid");
        assert_eq!(
            list,
            [
                element(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", None),
                        ("server_max_window_bits", Some("10"))
                    ]
                ),
                element("x-webkit-deflate-frame", &[]),
                element("foo", &[("a", Some("b")), ("c", Some("q\"d,e"))]),
            ]
        );
        assert_eq!(parse_list(b""), Ok(vec![]));
        assert_eq!(parse_list(b" ,, "), Ok(vec![]));
    }

    #[test]
    fn rejects_broken_lists() {
        for bad in [
            &b"permessage-deflate;"[..],
            b"permessage-deflate; =1",
            b"permessage-deflate; a=",
            b"permessage-deflate; a=\"open",
            b"permessage-deflate; a=\"\\",
            b"permessage-deflate x",
            b"permessage deflate",
            b";a",
            b"a; b=c d",
            b"a/b",
        ] {
            assert_eq!(
                parse_list(bad),
                Err(ExtensionError::Syntax),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn window_bits_values() {
        for (text, bits) in [("8", Some(8)), ("15", Some(15)), ("09", Some(9))] {
            assert_eq!(window_bits(text), bits, "{text}");
        }
        for bad in ["", "7", "16", "1a", "+9", "-9", " 9", "010", "999999999999"] {
            assert_eq!(window_bits(bad), None, "{bad}");
        }
    }

    fn parsed(params: &[(&str, Option<&str>)]) -> Result<Parsed, ExtensionError> {
        Parsed::from_params(&element("permessage-deflate", params).params)
    }

    #[test]
    fn parameter_rules() {
        assert_eq!(
            parsed(&[
                ("server_no_context_takeover", None),
                ("CLIENT_NO_CONTEXT_TAKEOVER", None),
                ("server_max_window_bits", Some("9")),
                ("client_max_window_bits", None),
            ]),
            Ok(Parsed {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(9),
                client_max_window_bits: Some(None),
            })
        );
        assert_eq!(
            parsed(&[("x", None)]),
            Err(ExtensionError::UnknownParameter("x".into()))
        );
        assert_eq!(
            parsed(&[
                ("client_max_window_bits", None),
                ("client_max_window_bits", Some("9"))
            ]),
            Err(ExtensionError::DuplicateParameter(
                "client_max_window_bits".into()
            ))
        );
        for (name, value) in [
            ("server_no_context_takeover", Some("1")),
            ("client_no_context_takeover", Some("")),
            ("server_max_window_bits", None),
            ("server_max_window_bits", Some("16")),
            ("client_max_window_bits", Some("7")),
        ] {
            assert_eq!(
                parsed(&[(name, value)]),
                Err(ExtensionError::InvalidValue {
                    name: name.into(),
                    value: value.map(Into::into),
                }),
                "{name}={value:?}"
            );
        }
    }

    fn params(cnct: bool, snct: bool, cbits: u8, sbits: u8) -> DeflateParams {
        DeflateParams {
            client_no_context_takeover: cnct,
            server_no_context_takeover: snct,
            client_max_window_bits: cbits,
            server_max_window_bits: sbits,
        }
    }

    fn negotiate(
        deflate: &Deflate,
        header: &str,
    ) -> Result<(DeflateParams, String), ExtensionError> {
        negotiate_deflate(deflate, [header.as_bytes()])
    }

    #[test]
    fn server_accepts_common_offers() {
        let default = Deflate::default();
        let cases = [
            // Chrome, Firefox.
            (
                "permessage-deflate; client_max_window_bits",
                params(false, false, 15, 15),
                "permessage-deflate",
            ),
            // Python websockets' default client.
            (
                "permessage-deflate; client_max_window_bits=12",
                params(false, false, 12, 15),
                "permessage-deflate; client_max_window_bits=12",
            ),
            (
                "permessage-deflate",
                params(false, false, 15, 15),
                "permessage-deflate",
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
                params(true, true, 15, 9),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
            ),
            // Asked for, so answered, even at the default.
            (
                "permessage-deflate; server_max_window_bits=15",
                params(false, false, 15, 15),
                "permessage-deflate; server_max_window_bits=15",
            ),
        ];
        for (offer, expected, answer) in cases {
            assert_eq!(
                negotiate(&default, offer),
                Ok((expected, answer.to_owned())),
                "{offer}"
            );
        }
    }

    #[test]
    fn server_settings_shape_the_answer() {
        let strict = Deflate {
            client_max_window_bits: 10,
            server_max_window_bits: 11,
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..Deflate::default()
        };
        assert_eq!(
            negotiate(&strict, "permessage-deflate; client_max_window_bits"),
            Ok((
                params(true, true, 10, 11),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=11; client_max_window_bits=10"
                    .to_owned()
            ))
        );
        // The client asks for less than our limits: it gets less.
        assert_eq!(
            negotiate(
                &strict,
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=8"
            )
            .map(|(p, _)| p),
            Ok(params(true, true, 9, 8))
        );
        // It cannot be told to limit its window: declined.
        assert_eq!(
            negotiate(&strict, "permessage-deflate"),
            Err(ExtensionError::ClientWindowNotOffered)
        );
    }

    #[test]
    fn server_takes_the_first_acceptable_offer_over_all_headers() {
        let offers: [&[u8]; 3] = [
            b"x-foo, permessage-deflate; bogus",
            b"permessage-deflate; server_max_window_bits=20,",
            b"permessage-deflate; server_max_window_bits=12, permessage-deflate",
        ];
        let (agreed, answer) = negotiate_deflate(&Deflate::default(), offers).expect("third");
        assert_eq!(agreed.server_max_window_bits, 12);
        assert_eq!(answer, "permessage-deflate; server_max_window_bits=12");
    }

    #[test]
    fn server_declines_with_the_reason() {
        let default = Deflate::default();
        assert_eq!(
            negotiate_deflate(&default, []),
            Err(ExtensionError::NotOffered)
        );
        assert_eq!(
            negotiate(&default, "x-webkit-deflate-frame"),
            Err(ExtensionError::NotOffered)
        );
        assert_eq!(
            negotiate(&default, "permessage-deflate; foo"),
            Err(ExtensionError::UnknownParameter("foo".into()))
        );
        assert_eq!(
            negotiate(&default, "permessage-deflate; client_max_window_bits=16"),
            Err(ExtensionError::InvalidValue {
                name: "client_max_window_bits".into(),
                value: Some("16".into())
            })
        );
        assert_eq!(
            negotiate(&default, "permessage-deflate;;"),
            Err(ExtensionError::Syntax)
        );
    }

    fn respond(offered: &Deflate, header: &str) -> Result<Option<DeflateParams>, ExtensionError> {
        match deflate_response(offered, [header.as_bytes()]) {
            Ok(p) => Ok(p),
            Err(HandshakeError::Extension(e)) => Err(e),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn client_accepts_valid_answers() {
        let default = Deflate::default();
        assert_eq!(respond(&default, ""), Ok(None));
        assert_eq!(
            respond(&default, "permessage-deflate"),
            Ok(Some(params(false, false, 15, 15)))
        );
        assert_eq!(
            respond(
                &default,
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            ),
            Ok(Some(params(false, false, 12, 12)))
        );
        assert_eq!(
            respond(
                &default,
                "Permessage-Deflate; server_no_context_takeover; client_no_context_takeover"
            ),
            Ok(Some(params(true, true, 15, 15)))
        );
        let asked = Deflate {
            client_max_window_bits: 11,
            server_max_window_bits: 10,
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..Deflate::default()
        };
        // What we offered for our own side holds even where the answer is silent.
        assert_eq!(
            respond(
                &asked,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
            ),
            Ok(Some(params(true, true, 11, 9)))
        );
    }

    #[test]
    fn client_refuses_invalid_answers() {
        let default = Deflate::default();
        let asked = Deflate {
            client_max_window_bits: 11,
            server_max_window_bits: 10,
            server_no_context_takeover: true,
            ..Deflate::default()
        };
        let cases = [
            (
                &default,
                "permessage-deflate, permessage-deflate",
                ExtensionError::Repeated,
            ),
            (
                &default,
                "permessage-deflate; client_max_window_bits",
                ExtensionError::InvalidValue {
                    name: "client_max_window_bits".into(),
                    value: None,
                },
            ),
            (
                &default,
                "permessage-deflate; mystery",
                ExtensionError::UnknownParameter("mystery".into()),
            ),
            (
                &asked,
                "permessage-deflate; server_max_window_bits=10",
                ExtensionError::ServerContextTakeover,
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover",
                ExtensionError::ServerWindow {
                    requested: 10,
                    answered: None,
                },
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                ExtensionError::ServerWindow {
                    requested: 10,
                    answered: Some(11),
                },
            ),
            (
                &asked,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=12",
                ExtensionError::ClientWindow {
                    offered: 11,
                    answered: 12,
                },
            ),
            (&default, "permessage-deflate; a=\"", ExtensionError::Syntax),
        ];
        for (offered, answer, expected) in cases {
            assert_eq!(respond(offered, answer), Err(expected), "{answer}");
        }
        assert_eq!(
            deflate_response(&default, [&b"permessage-deflate, x-other"[..]]),
            Err(HandshakeError::UnofferedExtension("x-other".into()))
        );
    }

    #[test]
    fn offers_round_trip_through_the_server() {
        for client_max_window_bits in [8, 9, 12, 15, 200] {
            for server_max_window_bits in [0, 8, 10, 15] {
                for (cnct, snct) in [(false, false), (true, false), (false, true), (true, true)] {
                    let client = Deflate {
                        client_max_window_bits,
                        server_max_window_bits,
                        client_no_context_takeover: cnct,
                        server_no_context_takeover: snct,
                        ..Deflate::default()
                    };
                    let offer = deflate_offer(&client);
                    let (server_view, answer) =
                        negotiate(&Deflate::default(), &offer).expect(&offer);
                    let client_view = respond(&client, &answer)
                        .unwrap_or_else(|e| panic!("{offer} -> {answer}: {e}"));
                    assert_eq!(client_view, Some(server_view), "{offer} -> {answer}");
                }
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_headers() {
        let good = b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover";
        for value in super::super::mutations(11, good, 3000) {
            let _ = negotiate_deflate(&Deflate::default(), [&value[..]]);
            let _ = deflate_response(&Deflate::default(), [&value[..]]);
        }
    }
}
