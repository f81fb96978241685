//! The allowed-fast set of BEP 6: pieces a choked peer may still request, derived from its IPv4
//! address (masked to /24) and the info-hash by iterated SHA-1.

use std::net::Ipv4Addr;

use crate::id::{InfoHash, sha1_digest};

/// The BEP 6 allowed-fast set of `k` pieces (fewer if the torrent has fewer pieces) for a peer
/// at `ip`, in the order the reference algorithm produces them.
pub fn allowed_fast_set(ip: Ipv4Addr, info_hash: &InfoHash, piece_count: u32, k: u32) -> Vec<u32> {
    let k = k.min(piece_count) as usize;
    let mut set = Vec::with_capacity(k);
    if k == 0 {
        return set;
    }
    let masked = u32::from(ip) & 0xffff_ff00;
    let mut x = [0u8; 24];
    x[..4].copy_from_slice(&masked.to_be_bytes());
    x[4..].copy_from_slice(&info_hash.0);
    let mut digest = sha1_digest(&x);
    loop {
        for chunk in digest.chunks_exact(4) {
            if set.len() == k {
                return set;
            }
            let y = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let index = y % piece_count;
            if !set.contains(&index) {
                set.push(index);
            }
        }
        digest = sha1_digest(&digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of BEP 6: 80.4.4.200, info-hash 0xaa × 20, 1313 pieces.
    #[test]
    fn bep6_reference_vectors() {
        let ip = Ipv4Addr::new(80, 4, 4, 200);
        let hash = InfoHash([0xaa; 20]);
        assert_eq!(
            allowed_fast_set(ip, &hash, 1313, 7),
            vec![1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(ip, &hash, 1313, 9),
            vec![1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
        // The last octet does not matter.
        assert_eq!(
            allowed_fast_set(Ipv4Addr::new(80, 4, 4, 1), &hash, 1313, 7),
            allowed_fast_set(ip, &hash, 1313, 7)
        );
    }

    #[test]
    fn small_torrents_terminate() {
        let hash = InfoHash([1; 20]);
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        assert!(allowed_fast_set(ip, &hash, 0, 10).is_empty());
        let mut all = allowed_fast_set(ip, &hash, 3, 10);
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2]);
    }
}
