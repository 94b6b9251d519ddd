//! Who may connect to a server: [`Admission`].

use super::Hook;

/// Who may connect to a server, the same for every server of the crate (a field of
/// [`ServerConfig`](crate::ServerConfig), [`rpc::ServerConfig`](crate::rpc::ServerConfig)
/// and [`PeersConfig`](crate::pool::PeersConfig)).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Decides every request head (see [`Hook`]); `None` (the default) accepts every valid
    /// upgrade, with an anonymous identity, and answers other requests with the status
    /// their fault calls for (400, 405, 426 …).
    pub hook: Option<Hook>,
}
