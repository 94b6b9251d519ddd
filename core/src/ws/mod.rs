//! One WebSocket connection, client or server, as a sans-IO state machine.

mod config;
mod connection;
mod error;
mod event;
mod incoming;
mod message;
mod outgoing;
mod state;

pub use config::Config;
pub use connection::Connection;
pub use error::{ProtocolError, SendError};
pub use event::{CloseInfo, Event, Initiator};
pub use message::Message;
pub use state::{Role, State};
