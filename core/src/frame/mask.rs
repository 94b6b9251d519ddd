//! Payload masking (RFC 6455 §5.3).

/// XORs `buf` with `key`, starting `offset` bytes into the key stream; a machine word at a time.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotating the key once lets every 8-byte chunk start at key phase 0: 8 is a multiple
    // of 4, so the phase never drifts between chunks.
    let key = rotate_key(key, offset);
    // Both halves hold the same four bytes, so byte order does not matter here.
    let half = u64::from(u32::from_ne_bytes(key));
    let word = half | (half << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // `chunks_exact_mut` guarantees 8 bytes, so the conversion never fails and the
        // branch is optimised away; `from_ne_bytes` copies, so alignment does not matter.
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    apply_mask_bytewise(chunks.into_remainder(), key, 0);
}

/// The byte-at-a-time reference the fast path is tested against.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    for (byte, k) in buf.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// The key as seen `offset` bytes into the key stream.
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // In little-endian order byte `i` sits at bits `8 * i`, so a right rotation by
    // whole bytes brings key byte `offset % 4` to the front. `% 4` keeps this a u32
    // op (no memmove, as `<[u8]>::rotate_left` compiles to).
    let shift = 8 * (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [[u8; 4]; 4] = [
        [0, 0, 0, 0],
        [0xFF, 0xFF, 0xFF, 0xFF],
        [0x37, 0xFA, 0x21, 0x3D],
        [0x01, 0x80, 0x7F, 0xFE],
    ];

    /// The literal definition from RFC 6455 §5.3, independent of `rotate_key`.
    fn rfc_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn bytewise_matches_rfc_definition() {
        for key in KEYS {
            for offset in 0..8 {
                for len in 0..=20 {
                    let mut a = sample(len);
                    let mut b = a.clone();
                    apply_mask_bytewise(&mut a, key, offset);
                    rfc_mask(&mut b, key, offset);
                    assert_eq!(a, b, "key {key:?} offset {offset} len {len}");
                }
            }
        }
    }

    #[test]
    fn fast_matches_bytewise_every_length_offset_alignment() {
        // A backing buffer with slack so the sub-slice can start at every alignment.
        let backing = sample(100 + 16);
        for key in KEYS {
            for offset in 0..4 {
                for align in 0..16 {
                    for len in 0..=100 {
                        let mut fast = backing.clone();
                        let mut slow = backing.clone();
                        apply_mask(&mut fast[align..align + len], key, offset);
                        apply_mask_bytewise(&mut slow[align..align + len], key, offset);
                        assert_eq!(
                            fast, slow,
                            "key {key:?} offset {offset} align {align} len {len}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn large_offsets_wrap() {
        let key = [1, 2, 3, 4];
        for offset in [4, 5, usize::MAX - 3, usize::MAX] {
            let mut a = sample(37);
            let mut b = a.clone();
            apply_mask(&mut a, key, offset);
            apply_mask_bytewise(&mut b, key, offset % 4);
            assert_eq!(a, b, "offset {offset}");
        }
    }

    #[test]
    fn masking_twice_restores_and_splits_compose() {
        let key = [0x37, 0xFA, 0x21, 0x3D];
        let original = sample(57);
        for split in 0..=original.len() {
            let mut buf = original.clone();
            let (head, tail) = buf.split_at_mut(split);
            apply_mask(head, key, 0);
            apply_mask(tail, key, split);
            let mut whole = original.clone();
            apply_mask(&mut whole, key, 0);
            assert_eq!(buf, whole, "split {split}");
            apply_mask(&mut buf, key, 0);
            assert_eq!(buf, original);
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 6455 §5.7: a masked "Hello" from a client.
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
