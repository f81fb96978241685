//! The BitTorrent v2 merkle-hash messages (BEP 52): `hash request` (21), `hashes` (22) and
//! `hash reject` (23). All three start with the same 48 bytes, a [`HashRequest`]: the file's
//! `pieces root`, the tree layer the hashes come from, the index of the first, how many, and how
//! many layers of proof (uncle hashes) go with them. `hashes` adds the hashes themselves.

use bytes::BufMut;

/// Bytes of a [`HashRequest`] on the wire: the root (32) and four 32-bit fields.
pub const HASH_REQUEST_LEN: usize = 32 + 4 * 4;

/// The most hashes one request may ask for (libtorrent's limit: a base layer of 8192 hashes
/// covers a 128 MiB piece).
pub const MAX_HASH_COUNT: u32 = 8192;

/// The most proof hashes a `hashes` message may carry: one per tree layer, and a file of 2^63
/// bytes has fewer than 64 layers above its 16 KiB blocks.
pub const MAX_PROOF_HASHES: u32 = 64;

/// Bytes of one SHA-256 hash.
pub const HASH_LEN: usize = 32;

/// What a `hash request` asks for; `hashes` and `hash reject` repeat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The file's merkle root (`pieces root` in the file tree).
    pub pieces_root: [u8; 32],
    /// The layer of the requested hashes, counted from the 16 KiB blocks (layer 0) up.
    pub base_layer: u32,
    /// The index of the first requested hash within that layer.
    pub index: u32,
    /// How many hashes are requested.
    pub length: u32,
    /// How many layers above the base layer the proof (uncle hashes) covers.
    pub proof_layers: u32,
}

impl HashRequest {
    /// Reads the 48 bytes at the front of `body` (the caller checked its length).
    pub(super) fn read(body: &[u8]) -> Self {
        let u32_at =
            |at: usize| u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let mut pieces_root = [0; 32];
        pieces_root.copy_from_slice(&body[..32]);
        Self {
            pieces_root,
            base_layer: u32_at(32),
            index: u32_at(36),
            length: u32_at(40),
            proof_layers: u32_at(44),
        }
    }

    /// Appends the 48 bytes.
    pub(super) fn write(&self, out: &mut impl BufMut) {
        out.put_slice(&self.pieces_root);
        out.put_u32(self.base_layer);
        out.put_u32(self.index);
        out.put_u32(self.length);
        out.put_u32(self.proof_layers);
    }

    /// How many hashes a `hashes` answer to this request holds, as libtorrent counts them: the
    /// `length` requested hashes, and one uncle per proof layer above the subtree they span
    /// (`length` rounded up to a power of two, 2^k, spans k layers). `None` if `length` is 0 or
    /// over [`MAX_HASH_COUNT`], or the proof has more than [`MAX_PROOF_HASHES`] hashes.
    pub fn hashes_in_reply(&self) -> Option<u32> {
        if self.length == 0 || self.length > MAX_HASH_COUNT {
            return None;
        }
        let spanned = self.length.next_power_of_two().trailing_zeros();
        let proof = (i64::from(self.proof_layers) - (i64::from(spanned) - 1)).max(0);
        let proof = u32::try_from(proof)
            .ok()
            .filter(|&p| p <= MAX_PROOF_HASHES)?;
        Some(self.length + proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(length: u32, proof_layers: u32) -> HashRequest {
        HashRequest {
            pieces_root: [1; 32],
            base_layer: 0,
            index: 0,
            length,
            proof_layers,
        }
    }

    #[test]
    fn reply_sizes_follow_libtorrent() {
        // 512 hashes span 9 layers: proof layers up to 8 add nothing, each one above adds one.
        assert_eq!(request(512, 0).hashes_in_reply(), Some(512));
        assert_eq!(request(512, 8).hashes_in_reply(), Some(512));
        assert_eq!(request(512, 10).hashes_in_reply(), Some(514));
        // One hash spans no layer: its sibling is the first proof hash.
        assert_eq!(request(1, 0).hashes_in_reply(), Some(2));
        assert_eq!(request(3, 2).hashes_in_reply(), Some(4));
        assert_eq!(request(8192, 20).hashes_in_reply(), Some(8192 + 8));
    }

    #[test]
    fn unbounded_replies_are_refused() {
        assert_eq!(request(0, 0).hashes_in_reply(), None);
        assert_eq!(request(8193, 0).hashes_in_reply(), None);
        assert_eq!(request(2, MAX_PROOF_HASHES + 1).hashes_in_reply(), None);
        assert_eq!(request(2, u32::MAX).hashes_in_reply(), None);
        assert_eq!(request(2, MAX_PROOF_HASHES).hashes_in_reply(), Some(2 + 64));
    }

    #[test]
    fn the_48_bytes_round_trip() {
        let r = HashRequest {
            pieces_root: core::array::from_fn(|i| i as u8),
            base_layer: 0x0102_0304,
            index: 5,
            length: 512,
            proof_layers: u32::MAX,
        };
        let mut out = Vec::new();
        r.write(&mut out);
        assert_eq!(out.len(), HASH_REQUEST_LEN);
        assert_eq!(&out[32..36], &[1, 2, 3, 4]);
        assert_eq!(HashRequest::read(&out), r);
    }
}
