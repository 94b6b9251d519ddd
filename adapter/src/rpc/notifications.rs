//! The server's notifications, as a [`Client`](super::Client) hands them over:
//! [`Notification`] and the receiver [`Notifications`].

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// A notification from the server: a JSON-RPC request without an id, which expects no
/// answer. [`params`](Self::params) decodes the params into a type of yours.
///
/// ```
/// use serde::Deserialize;
/// use serde_json::value::RawValue;
/// use tether_adapter::rpc::Notification;
///
/// #[derive(Deserialize)]
/// struct Progress {
///     done: u32,
///     of: u32,
/// }
///
/// let params = RawValue::from_string(r#"{"done": 3, "of": 10}"#.to_owned()).unwrap();
/// let note = Notification { method: "progress".into(), params: Some(params) };
/// let progress: Progress = note.params().unwrap();
/// assert_eq!((progress.done, progress.of), (3, 10));
/// ```
#[derive(Debug, Clone)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The params as the server wrote them (a JSON object or array), if it sent any.
    pub params: Option<Box<RawValue>>,
}

impl Notification {
    /// The params decoded as `T`. Absent params decode as JSON `null`, so `()` or an
    /// `Option` accepts a notification without any.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.params.as_deref().map_or("null", RawValue::get))
    }
}

/// The server's notifications, in the order they came, from
/// [`Client::notifications`](super::Client::notifications).
///
/// At most [`ClientConfig::notification_buffer`](super::ClientConfig::notification_buffer)
/// of them wait here; while that many wait, the client stops reading its connection (the
/// server is held back, nothing is dropped) until [`recv`](Self::recv) takes one. So a
/// receiver that is kept must be read; dropping it lets the client read on, and drops the
/// notifications that come next.
///
/// Ends (`None`) once the client's session has ended and every notification it accepted
/// was taken, or when a newer call of `notifications` took over.
///
/// ```no_run
/// use tether_adapter::rpc::{Client, ClientConfig};
/// use tether_adapter::Runtime;
///
/// # async fn demo<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::<R>::connect("ws://127.0.0.1:9001/", ClientConfig::default()).await?;
/// let mut notifications = client.notifications();
/// R::spawn(async move {
///     while let Some(note) = notifications.recv().await {
///         match note.method.as_str() {
///             "progress" => println!("{:?}", note.params::<(u32, u32)>()),
///             other => println!("{other}"),
///         }
///     }
/// });
/// let done: bool = client.call("job/start", &["build"]).await?;
/// # let _ = done;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Notifications {
    rx: mpsc::Receiver<Notification>,
}

impl Notifications {
    pub(crate) fn new(rx: mpsc::Receiver<Notification>) -> Notifications {
        Notifications { rx }
    }

    /// The next notification, waiting for one; `None` once no more can come.
    ///
    /// Cancel-safe: dropping the future loses no notification.
    pub async fn recv(&mut self) -> Option<Notification> {
        self.rx.recv().await
    }

    /// The next notification if one is waiting, without waiting. When a call returns, the
    /// notifications the server sent before its answer are already waiting here.
    pub fn try_recv(&mut self) -> Option<Notification> {
        self.rx.try_recv().ok()
    }

    /// How many notifications wait here now: at most the client's
    /// [`notification_buffer`](super::ClientConfig::notification_buffer).
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether none waits here now.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(params: Option<&str>) -> Notification {
        Notification {
            method: "m".into(),
            params: params.map(|p| RawValue::from_string(p.to_owned()).expect("json")),
        }
    }

    #[test]
    fn params_decode_into_the_type_asked_for() {
        assert_eq!(note(Some("[1, 2]")).params::<(u8, u8)>().ok(), Some((1, 2)));
        assert_eq!(note(None).params::<()>().ok(), Some(()));
        assert_eq!(note(None).params::<Option<u8>>().ok(), Some(None));
        assert!(note(None).params::<(u8, u8)>().is_err());
        assert!(note(Some(r#"{"a": 1}"#)).params::<Vec<u8>>().is_err());
    }
}
