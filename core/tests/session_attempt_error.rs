//! `Session::attempt_error`: why an attempt failed before its WebSocket opened, for an
//! owner that reports the first failure to its user (tether-tokio's `Client::connect`).

use std::time::Instant;

use tether_core::handshake::{ClientRequest, HandshakeError};
use tether_core::session::{Config, Event, Session, State};
use tether_core::ws::ProtocolError;

/// The origin of the test's clock: one real instant, never read again.
fn origin() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn started(now: Instant) -> Session {
    let request = ClientRequest {
        host: "node-2:7000".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut session = Session::new(now, Config::default(), request, [7; 32]).expect("session");
    session.start(now);
    session
}

#[test]
fn a_refused_upgrade_is_the_attempt_error_until_the_next_attempt() {
    let now = origin();
    let mut session = started(now);
    let attempt = session.current_attempt().expect("an attempt");
    session.transport_open(now, attempt);
    while session.poll_transmit().is_some() {}
    assert_eq!(session.attempt_error(), None);

    session.handle_input(
        now,
        attempt,
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    );
    while session.poll_transmit().is_some() {}
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Disconnect { attempt: a } if *a == attempt)),
        "{events:?}"
    );
    assert_eq!(
        session.attempt_error(),
        Some(&ProtocolError::Handshake(HandshakeError::BadStatus(401)))
    );
    assert_eq!(session.state(), State::Connecting);

    // The next attempt starts clean.
    let retry = session.poll_timeout().expect("a backoff");
    session.handle_timeout(retry);
    assert_ne!(session.current_attempt(), Some(attempt));
    assert_eq!(session.attempt_error(), None);
}

#[test]
fn a_transport_that_could_not_be_opened_leaves_no_attempt_error() {
    let now = origin();
    let mut session = started(now);
    let attempt = session.current_attempt().expect("an attempt");
    session.transport_failed(now, attempt);
    assert_eq!(session.attempt_error(), None);
    assert_eq!(session.state(), State::Connecting);
}
