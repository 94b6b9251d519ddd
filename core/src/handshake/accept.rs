//! `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)).

/// Derives the accept value a server returns for a client's `Sec-WebSocket-Key`.
pub fn derive_accept_key(_key: &[u8]) -> String {
    todo!()
}
