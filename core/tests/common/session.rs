//! A [`Session`] against real server-role [`Channel`]s over an in-memory pipe, with the
//! virtual clock of [`Duo`]: a fresh server channel for every transport the session asks
//! for, so reconnects, drops and stalls run without sockets or sleeps.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Channel};
use tether_core::session::{self, Attempt, Event, Session};
use tether_core::{ws, Machine};

use super::duo::{Duo, Side};

/// The session, seen through whichever transport the harness holds now.
pub struct SessionSide {
    pub session: Session,
    /// The transport the harness holds, if any.
    pub attempt: Option<Attempt>,
}

impl Machine for SessionSide {
    type Event = Event;
    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if let Some(attempt) = self.attempt {
            self.session.link(attempt).handle_input(now, data);
        }
    }
    fn handle_eof(&mut self, now: Instant) {
        if let Some(attempt) = self.attempt {
            self.session.link(attempt).handle_eof(now);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        let attempt = self.attempt?;
        self.session.link(attempt).poll_transmit()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.session.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }
    fn pending_transmit(&self) -> usize {
        self.attempt
            .map_or(0, |attempt| self.session.pending_transmit_for(attempt))
    }
    fn is_finished(&self) -> bool {
        self.attempt
            .is_none_or(|attempt| self.session.is_abandoned(attempt))
    }
    fn state(&self) -> ws::State {
        self.attempt.map_or(ws::State::Closed, |attempt| {
            self.session.link_state(attempt)
        })
    }
}

impl Side for SessionSide {
    fn accept_upgrade(&mut self, _now: Instant, _event: &Event) {}
}

/// What happens to the next transports the session asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dial {
    /// Opened at once, to a fresh server channel.
    Open,
    /// Opened at once, to a server that never reads (a stalled link from the start).
    Stall,
    /// Refused at once (`transport_failed`).
    Refuse,
    /// Never answered: neither open nor failed (the connect timeout must end it).
    Hang,
}

pub struct SessionNet {
    pub duo: Duo<SessionSide, Channel>,
    pub server_rpc: rpc::Config,
    pub server_ws: ws::Config,
    pub dial: Dial,
    /// Answer every request the server gets with its params (or `null`) at once.
    pub echo: bool,
    /// Server channels created, one per opened transport.
    pub links: usize,
    /// How many of `duo.client_events` were looked at for Connect.
    seen: usize,
}

impl SessionNet {
    /// A session not started yet, with `config`; servers use the default settings.
    pub fn new(config: session::Config, seed: u8) -> SessionNet {
        // The virtual clock needs one real instant as its origin; it never reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let request = ClientRequest {
            host: "node-1:7000".into(),
            path: "/rpc".into(),
            ..Default::default()
        };
        let session = Session::new(now, config, request, [seed; 32]).expect("valid request");
        // The session's own heartbeat is under test, not the server's.
        let server_ws = ws::Config {
            heartbeat: None,
            ..ws::Config::default()
        };
        let server_rpc = rpc::Config::default();
        let placeholder = Channel::server(now, server_ws.clone(), server_rpc.clone(), [0; 32]);
        let client = SessionSide {
            session,
            attempt: None,
        };
        let mut duo = Duo::from_parts(client, placeholder, now);
        duo.cut();
        SessionNet {
            duo,
            server_rpc,
            server_ws,
            dial: Dial::Open,
            echo: true,
            links: 0,
            seen: 0,
        }
    }

    /// Started, connected, and its events so far taken.
    pub fn connected(config: session::Config, seed: u8) -> SessionNet {
        let mut net = SessionNet::new(config, seed);
        net.start();
        assert_eq!(net.session().state(), session::State::Connected);
        net.take_events();
        net
    }

    pub fn session(&mut self) -> &mut Session {
        &mut self.duo.client.session
    }

    /// The session's metrics now.
    pub fn metrics(&self) -> session::Metrics {
        self.duo.client.session.metrics(self.duo.now)
    }

    pub fn now(&self) -> Instant {
        self.duo.now
    }

    pub fn start(&mut self) {
        let now = self.duo.now;
        self.session().start(now);
        self.drive();
    }

    /// Carries bytes, opens transports the session asks for, answers requests (with
    /// `echo`), until nothing moves.
    pub fn drive(&mut self) {
        loop {
            self.duo.drive();
            let mut moved = false;
            while let Some(event) = self.duo.client_events.get(self.seen) {
                self.seen += 1;
                if let Event::Connect { attempt } = *event {
                    self.dial_transport(attempt);
                    moved = true;
                }
            }
            if self.echo {
                moved |= self.answer_requests() > 0;
            }
            if !moved {
                return;
            }
        }
    }

    fn dial_transport(&mut self, attempt: Attempt) {
        let now = self.duo.now;
        match self.dial {
            Dial::Open | Dial::Stall => {
                self.links += 1;
                let seed = [u8::try_from(self.links % 250).unwrap_or(0) + 1; 32];
                let server =
                    Channel::server(now, self.server_ws.clone(), self.server_rpc.clone(), seed);
                self.duo.reconnect(server);
                self.duo.hold_client = self.dial == Dial::Stall;
                self.duo.client.attempt = Some(attempt);
                self.session().transport_open(now, attempt);
            }
            Dial::Refuse => self.session().transport_failed(now, attempt),
            Dial::Hang => {}
        }
    }

    /// Answers the server's pending requests with their params (or `null`); returns how many.
    pub fn answer_requests(&mut self) -> usize {
        let now = self.duo.now;
        let mut answered = 0;
        let events = std::mem::take(&mut self.duo.server_events);
        for event in events {
            match event {
                rpc::Event::Request { reply, params, .. } => {
                    let null = RawValue::from_string("null".into()).expect("json");
                    let result = params.unwrap_or(null);
                    // A server that is closing cannot answer; the call ends another way.
                    let _ = self.duo.server.respond(now, reply, Ok(&result));
                    answered += 1;
                }
                other => self.duo.server_events.push(other),
            }
        }
        answered
    }

    /// Moves the clock forward by `by`, fires timers (checking none is left due), drives.
    pub fn advance(&mut self, by: Duration) {
        self.duo.advance(by);
        self.drive();
    }

    /// Advances to the session's next deadline, if it has one within `limit`; returns
    /// whether it did.
    pub fn advance_to_next(&mut self, limit: Duration) -> bool {
        let now = self.duo.now;
        match self.duo.client.session.poll_timeout() {
            Some(at) if at.saturating_duration_since(now) <= limit => {
                self.advance(at.saturating_duration_since(now));
                true
            }
            _ => false,
        }
    }

    /// The server's process dies: its transport is gone without a close frame; the
    /// session reads EOF. Bytes in flight either way are lost.
    pub fn server_crash(&mut self) {
        let now = self.duo.now;
        let placeholder = Channel::server(
            now,
            self.server_ws.clone(),
            self.server_rpc.clone(),
            [0; 32],
        );
        self.duo.reconnect(placeholder);
        self.duo.cut();
        self.duo.server_events.clear();
        if let Some(attempt) = self.duo.client.attempt {
            self.session().handle_eof(now, attempt);
        }
        self.drive();
    }

    /// Drives, then takes the session's events.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.drive();
        self.seen = 0;
        std::mem::take(&mut self.duo.client_events)
    }

    /// Takes the server's events (requests not answered yet among them).
    pub fn take_server_events(&mut self) -> Vec<rpc::Event> {
        std::mem::take(&mut self.duo.server_events)
    }
}
