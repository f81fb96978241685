//! BEP 52 hash requests over merkle trees, read as libtorrent 2.0 reads them.
//!
//! A request names a file's tree, a `base` layer (0 = the 16 KiB blocks), a run of `count`
//! nodes of that layer from `index`, and `proof_layers`. The answer is the run, then one uncle
//! per layer from the run's subtree root up to relative height `proof_layers` (inclusive):
//! `max(0, proof_layers - log2(count) + 1)` uncles (a run of one node always carries its
//! sibling). libtorrent refuses requests whose proof would reach the root itself
//! (`proof_layers >= layers - base`) or whose run leaves the layer; [`answer`] does too, and
//! also refuses runs that are not an aligned power of two (libtorrent never sends those).

use super::{Hash, MerkleTree, leaf_count, verify_hashes};

/// The most nodes one request may ask for (libtorrent's limit).
pub const MAX_COUNT: u32 = 8192;

/// The hashes answering a request from `tree`, or `None` when it must be rejected: out of
/// range, a layer below the ones `tree` holds, a proof up to the root or beyond, a run of more
/// than [`MAX_COUNT`] nodes or not an aligned power of two. Work and memory are bounded by
/// `count` plus the tree's height.
pub fn answer(
    tree: &MerkleTree,
    base: u32,
    index: u32,
    count: u32,
    proof_layers: u32,
) -> Option<Vec<Hash>> {
    let layers = tree.height();
    if count == 0 || count > MAX_COUNT || base >= layers {
        return None;
    }
    if proof_layers >= layers - base {
        return None;
    }
    let width = 1u64 << (layers - base);
    if u64::from(index) + u64::from(count) > width {
        return None;
    }
    tree.hashes(
        base,
        u64::from(index),
        u64::from(count),
        proof_layers.checked_add(1)?,
    )
}

/// The `proof_layers` that makes an answer to a run of `count` nodes of a layer `width` nodes
/// wide carry every uncle up to the root (and no more): `log2(width) - 1`, or 0 when the run
/// is the whole layer.
pub fn full_proof_layers(count: u64, width: u64) -> u32 {
    if count >= width {
        0
    } else {
        width.trailing_zeros().saturating_sub(1)
    }
}

/// Checks an answer to a request made with [`full_proof_layers`]: `hashes` (the run of
/// `count` nodes of layer `base` from `index`, then the uncles) must prove against `root`, the
/// tree of a file of `length` bytes. Returns the run if it does.
pub fn check_answer(
    root: &Hash,
    length: u64,
    base: u32,
    index: u64,
    count: u64,
    hashes: &[Hash],
) -> Option<Vec<Hash>> {
    let width = leaf_count(length).checked_shr(base)?;
    if width == 0 || count == 0 || (hashes.len() as u64) < count {
        return None;
    }
    let (run, uncles) = hashes.split_at(usize::try_from(count).ok()?);
    verify_hashes(root, width, index, run, uncles).then(|| run.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{file_hashes, piece_height};
    use crate::wire::hashes::HashRequest;

    fn request(base: u32, index: u32, length: u32, proof_layers: u32) -> HashRequest {
        HashRequest {
            pieces_root: [0; 32],
            base_layer: base,
            index,
            length,
            proof_layers,
        }
    }

    fn content(n: usize) -> Vec<u8> {
        (0..n)
            .map(|j| (j as u8).wrapping_mul(13) ^ (j >> 14) as u8)
            .collect()
    }

    #[test]
    fn answers_have_the_size_libtorrent_expects_and_prove() {
        // 1,100 pieces of 16 KiB: a piece layer 2,048 wide, the root 11 layers up.
        let pl = 16_384u32;
        let data = content(1_100 * pl as usize - 5);
        let fh = file_hashes(&data, pl).unwrap();
        let root = fh.root.unwrap();
        let tree = MerkleTree::from_piece_layer(&fh.piece_layer, pl, data.len() as u64).unwrap();
        let base = piece_height(pl).unwrap();
        let width = 2048;
        assert_eq!(full_proof_layers(512, width), 10);
        for index in [0u32, 512, 1024, 1536] {
            let p = full_proof_layers(512, width);
            let hashes = answer(&tree, base, index, 512, p).unwrap();
            assert_eq!(
                Some(hashes.len() as u32),
                request(base, index, 512, p).hashes_in_reply()
            );
            let run = check_answer(&root, data.len() as u64, base, index.into(), 512, &hashes);
            let run = run.unwrap();
            let (start, end) = (
                (index as usize).min(1_100),
                (index as usize + 512).min(1_100),
            );
            assert_eq!(&run[..end - start], &fh.piece_layer[start..end]);
            assert!(
                run[end - start..]
                    .iter()
                    .all(|h| *h == crate::merkle::pad_hash(base))
            );
            // A flipped uncle or hash fails.
            let mut bad = hashes.clone();
            bad[513][0] ^= 1;
            assert_eq!(
                check_answer(&root, data.len() as u64, base, index.into(), 512, &bad),
                None
            );
        }
        // libtorrent's own reply sizes for smaller proofs: a run of one carries its sibling.
        for (count, p) in [(1u32, 0u32), (1, 3), (2, 0), (4, 5), (512, 8), (512, 9)] {
            let hashes = answer(&tree, base, 0, count, p).unwrap();
            assert_eq!(
                Some(hashes.len() as u32),
                request(base, 0, count, p).hashes_in_reply(),
                "count {count} proof {p}"
            );
        }
    }

    #[test]
    fn bad_requests_are_rejected() {
        let pl = 32_768u32;
        let data = content(5 * pl as usize + 1);
        let fh = file_hashes(&data, pl).unwrap();
        let tree = MerkleTree::from_piece_layer(&fh.piece_layer, pl, data.len() as u64).unwrap();
        // Blocks (layer 0) are not held; the layer is 8 wide at height 1, root at 4.
        assert_eq!(answer(&tree, 0, 0, 2, 0), None, "below the piece layer");
        assert!(answer(&tree, 1, 0, 8, 0).is_some());
        assert_eq!(answer(&tree, 1, 0, 8, 3), None, "proof reaching the root");
        assert!(answer(&tree, 1, 0, 4, 2).is_some());
        assert_eq!(answer(&tree, 1, 4, 8, 0), None, "past the layer");
        assert_eq!(answer(&tree, 1, u32::MAX, 2, 0), None, "past the layer");
        assert_eq!(answer(&tree, 1, 0, 0, 0), None, "empty");
        assert_eq!(answer(&tree, 1, 0, 3, 0), None, "not a power of two");
        assert_eq!(answer(&tree, 1, 1, 2, 0), None, "unaligned");
        assert_eq!(answer(&tree, 4, 0, 1, 0), None, "the root layer");
        assert_eq!(answer(&tree, 99, 0, 1, 0), None);
        assert_eq!(answer(&tree, 1, 0, MAX_COUNT + 1, 0), None);
        assert_eq!(answer(&tree, 1, 0, 2, u32::MAX), None);
    }
}
