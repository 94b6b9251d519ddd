//! Payload masking (RFC 6455 §5.3).

/// XORs `buf` with `key`, starting `offset` bytes into the key stream; a machine word at a time.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    apply_mask_bytewise(buf, key, offset)
}

/// The byte-at-a-time reference the fast path is tested against.
pub fn apply_mask_bytewise(_buf: &mut [u8], _key: [u8; 4], _offset: usize) {
    todo!()
}
