//! `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The fixed GUID of RFC 6455 §1.3; it proves the server understood WebSocket rather than
/// echoing headers back.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Derives the accept value a server returns for a client's `Sec-WebSocket-Key`.
///
/// ```
/// use tether_core::handshake::derive_accept_key;
/// assert_eq!(derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn derive_accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_vector() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
