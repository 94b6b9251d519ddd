//! What users hold: [`WebSocket`], and its halves [`Sender`] and [`Receiver`].
//!
//! Handles never touch the socket; they send commands to the connection's driver task
//! and read the events it hands out. Every future here is cancel-safe.

use std::future::{poll_fn, Future};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{self, ready, Poll};

use bytes::Bytes;
use tether_core::deflate::DeflateParams;
use tether_core::frame::CloseCode;
use tether_core::ws::{CloseInfo, Event, Initiator, Message, State};
use tokio::sync::oneshot;

use super::driver::{Command, Reply, Shared};
use crate::channel;
use crate::{Context, Error};

/// The driver's side of the channels, from which the handles are built.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) data: channel::Sender<Command>,
    pub(crate) control: channel::Sender<Command>,
    pub(crate) events: channel::Receiver<Event>,
    pub(crate) shared: Arc<Shared>,
}

/// An open WebSocket connection.
///
/// A task of its own drives the socket, so messages keep flowing (and pings are answered)
/// while you are not looking. Read with [`recv`](Self::recv) or
/// [`recv_event`](Self::recv_event), write with [`send`](Self::send); use
/// [`split`](Self::split) or [`sender`](Self::sender) to do both from different tasks.
///
/// Dropping every handle of a connection closes it with 1000 (normal closure).
#[derive(Debug)]
pub struct WebSocket {
    sender: Sender,
    receiver: Receiver,
    protocol: Option<Box<str>>,
    compression: Option<DeflateParams>,
    /// Boxed: a server's handles are held for a connection's whole life, and mostly not
    /// asked who the peer is.
    context: Option<Box<Context>>,
}

impl WebSocket {
    pub(crate) fn new(
        parts: Parts,
        protocol: Option<String>,
        compression: Option<DeflateParams>,
    ) -> WebSocket {
        let demand = parts.data.clone();
        let shared = parts.shared;
        WebSocket {
            sender: Sender {
                data: parts.data,
                control: parts.control,
                shared: shared.clone(),
            },
            receiver: Receiver {
                events: parts.events,
                data: demand,
                shared,
                close_info: None,
                done: false,
            },
            protocol: protocol.map(String::into_boxed_str),
            compression,
            context: None,
        }
    }

    /// The same connection, accepted by a server whose hook said `context`.
    pub(crate) fn with_context(mut self, context: Option<Context>) -> WebSocket {
        self.context = context.map(Box::new);
        self
    }

    /// On a connection a [`Server`](crate::Server) accepted: who the client is (the
    /// identity its upgrade hook gave, anonymous without one), its address, the
    /// connection's id. `None` on a connection we opened.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_deref()
    }

    /// The subprotocol both sides agreed on during the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters both sides agreed on during the handshake; `None`
    /// when the connection is not compressed (see [`Config::compression`](crate::Config)).
    pub fn compression(&self) -> Option<&DeflateParams> {
        self.compression.as_ref()
    }

    /// Queues a message; see [`Sender::send`].
    pub fn send(
        &self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        // Not an `async fn` around the sender's: that would hold the message twice.
        self.sender.send(message)
    }

    /// Queues a ping; see [`Sender::ping`].
    pub async fn ping(&self, payload: Bytes) -> Result<(), Error> {
        self.sender.ping(payload).await
    }

    /// Starts the closing handshake; see [`Sender::close`].
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.sender.close(code, reason).await
    }

    /// The next message; see [`Receiver::recv`].
    pub async fn recv(&mut self) -> Option<Message> {
        poll_fn(|cx| self.receiver.poll_recv(cx)).await
    }

    /// The next event; see [`Receiver::recv_event`].
    pub async fn recv_event(&mut self) -> Option<Event> {
        poll_fn(|cx| self.receiver.poll_recv_event(cx)).await
    }

    /// How the connection ended, once [`recv`](Self::recv) or
    /// [`recv_event`](Self::recv_event) has seen it end.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.receiver.close_info()
    }

    /// Another handle for sending on this connection.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Splits the connection into a sending and a receiving half, to use from different tasks.
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }
}

/// The sending half of a [`WebSocket`]. Cloning is cheap; all clones feed one connection.
///
/// Each method returns once the command is queued for the connection, not once the bytes
/// are on the wire; a message still queued when the connection ends is lost with it, as
/// with any message in flight. When much is already waiting to be written, [`send`](Self::send)
/// waits for the socket to catch up; pings and closes never wait behind data.
///
/// Dropping a call before it returns either queues nothing (it was still waiting for
/// room) or has already queued the command, which then goes out as if it had returned.
#[derive(Debug, Clone)]
pub struct Sender {
    data: channel::Sender<Command>,
    control: channel::Sender<Command>,
    shared: Arc<Shared>,
}

impl Sender {
    /// Queues a text or binary message.
    ///
    /// Fails with [`Error::Closing`] once either side started closing, and with
    /// [`Error::Closed`] (or [`Error::Io`] if the socket failed) once the connection is gone.
    pub fn send(
        &self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        // Converted here, so the future holds one `Message`, not the argument beside it:
        // a handler's future is laid out around its largest wait, often this one.
        self.send_message(message.into())
    }

    /// An `async` block, not an `async fn`: the latter moves its arguments into locals
    /// and keeps both slots.
    #[allow(clippy::manual_async_fn)]
    fn send_message(&self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        async move {
            self.shared.status.check_send()?;
            // Waiting for room is the only await, so dropping this future queues nothing.
            let permit = self.data.reserve().await.map_err(|_| self.gone())?;
            permit.send(Command::Send(message));
            Ok(())
        }
    }

    /// Queues a ping (at most 125 bytes of payload). The pong arrives as
    /// [`Event::Pong`] on the receiving side.
    pub async fn ping(&self, payload: Bytes) -> Result<(), Error> {
        self.call(&self.control, |reply| Command::Ping(payload, reply))
            .await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes).
    ///
    /// The close frame goes out after every message sent before it on this connection.
    /// Returns once it is queued; the receiving side then sees the rest of the
    /// peer's messages and finally [`Event::Closed`]. Closing a connection that is already
    /// closing or closed is a no-op.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let reason = reason.to_owned();
        match self
            // The data channel, like `send`: messages sent before the close go out before it.
            .call(&self.data, |reply| Command::Close(code, reason, reply))
            .await
        {
            Err(Error::Closing | Error::Closed) => Ok(()),
            other => other,
        }
    }

    /// Hands a command to the driver and waits for the core's answer.
    async fn call(
        &self,
        channel: &channel::Sender<Command>,
        command: impl FnOnce(Reply) -> Command,
    ) -> Result<(), Error> {
        if self.shared.status.state() == State::Closed {
            return Err(self.gone());
        }
        // Waiting for room is the only await before the command is queued, so dropping
        // this future there leaves nothing behind.
        let permit = channel.reserve().await.map_err(|_| self.gone())?;
        let (reply, answer) = oneshot::channel();
        permit.send(command(Reply(reply)));
        match answer.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(self.gone()),
        }
    }

    /// The error for a connection whose driver has finished.
    fn gone(&self) -> Error {
        self.shared.status.gone()
    }
}

/// The receiving half of a [`WebSocket`].
#[derive(Debug)]
pub struct Receiver {
    events: channel::Receiver<Event>,
    /// For [`Command::Demand`]: the same channel as this task's sends, so it arrives after them.
    data: channel::Sender<Command>,
    shared: Arc<Shared>,
    /// Boxed: it is known once, at the end, and every handle carries the slot.
    close_info: Option<Box<CloseInfo>>,
    done: bool,
}

/// Messages not received by the time the receiver goes will never be: they stop counting
/// against the connection's budget, and the driver stops holding them for anyone (it
/// could otherwise fill its budget with them and stop reading for good, pings and the
/// peer's close included).
impl Drop for Receiver {
    fn drop(&mut self) {
        self.events.close();
        while let Ok(event) = self.events.try_recv() {
            if let Event::Message(message) = event {
                self.shared
                    .inbox_bytes
                    .fetch_sub(message.len(), Ordering::Relaxed);
            }
        }
        // A driver waiting for a message to be taken looks again.
        self.shared.taken.wake();
    }
}

impl Receiver {
    /// The next text or binary message; `None` once the connection is closed, after which
    /// [`close_info`](Self::close_info) says how. Pings, pongs and protocol errors are
    /// skipped (pings are answered automatically).
    ///
    /// Cancel-safe: dropping the future loses no message.
    pub async fn recv(&mut self) -> Option<Message> {
        // A poll, not an `async fn` over `recv_event`: a handler idle in `recv` holds
        // this future, so it is kept to a reference.
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next event: [`Event::Message`], [`Event::Ping`] (already answered),
    /// [`Event::Pong`], [`Event::Error`] (the peer broke the protocol; the connection is
    /// being closed), and last [`Event::Closed`]. `None` after `Closed`.
    ///
    /// While events are not read, the connection stops reading the socket once a few are
    /// waiting, so a fast peer is slowed down instead of filling memory.
    ///
    /// Cancel-safe: dropping the future loses no event.
    pub async fn recv_event(&mut self) -> Option<Event> {
        poll_fn(|cx| self.poll_recv_event(cx)).await
    }

    /// [`recv`](Self::recv) as a poll.
    fn poll_recv(&mut self, cx: &mut task::Context<'_>) -> Poll<Option<Message>> {
        loop {
            match ready!(self.poll_recv_event(cx)) {
                Some(Event::Message(message)) => return Poll::Ready(Some(message)),
                Some(_) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// [`recv_event`](Self::recv_event) as a poll.
    fn poll_recv_event(&mut self, cx: &mut task::Context<'_>) -> Poll<Option<Event>> {
        if self.done {
            return Poll::Ready(None);
        }
        let event = match ready!(self.poll_next(cx)) {
            Some(event) => event,
            // The driver always sends `Closed` last; should it ever vanish without, the
            // connection still ends the one way callers expect.
            None => Event::Closed(CloseInfo {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                initiator: Initiator::Transport,
                clean: false,
            }),
        };
        if let Event::Message(message) = &event {
            let shared = &self.shared;
            shared
                .inbox_bytes
                .fetch_sub(message.len(), Ordering::Relaxed);
            shared.taken.wake();
        }
        if let Event::Closed(info) = &event {
            self.close_info = Some(Box::new(info.clone()));
            self.done = true;
        }
        Poll::Ready(Some(event))
    }

    /// The next event from the driver. When the channel is empty and the driver holds back a
    /// protocol error, tells it we are caught up (see [`Command::Demand`]).
    ///
    /// Cancel-safe: an event is only taken by a completed `recv`.
    fn poll_next(&mut self, cx: &mut task::Context<'_>) -> Poll<Option<Event>> {
        if let Poll::Ready(event) = self.events.poll_recv(cx) {
            return Poll::Ready(event);
        }
        // Waiting, so caught up. The driver sets the flag and then wakes this wait, which
        // is registered by now: a flag set after this look wakes us to look again.
        if self.shared.wants_demand.swap(false, Ordering::AcqRel) {
            if let Err(channel::TrySendError::Full(_)) = self.data.try_send(Command::Demand) {
                // The driver is busy with our sends; it holds the error at most
                // ERROR_HOLD, and wakes us to ask again once it has taken them.
                self.shared.wants_demand.store(true, Ordering::Release);
            }
        }
        Poll::Pending
    }

    /// How the connection ended: the peer's close code and reason, who started closing,
    /// and whether both close frames were exchanged. `None` until [`recv`](Self::recv) or
    /// [`recv_event`](Self::recv_event) has seen the end.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_deref()
    }
}
