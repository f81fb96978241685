//! Fuzz body: the BEP 52 merkle code. A file's root and piece layer agree with each other and
//! with its pieces' roots; every proof [`MerkleTree::hashes`] serves checks out with
//! [`verify_hashes`], and the same proof with one hash changed does not; arbitrary hashes,
//! indexes and widths given to the checker are refused without a panic.

use crate::merkle::{self, Hash, MerkleTree, file_hashes, piece_root, verify_hashes};

/// The input: byte 0 picks the piece length (16 KiB << (b % 4)), bytes 1..3 the file length
/// (scaled up to a few pieces), the next 4 a request (layer, index, count, proof layers), the
/// next byte which hash to damage, and the rest the file's content (repeated to its length).
pub fn merkle(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let piece_length = (16 * 1024u32) << (data[0] % 4);
    let length = u64::from(u16::from_le_bytes([data[1], data[2]])) * 13 + 1;
    let (ask, rest) = data[3..].split_at(5);
    let fill: &[u8] = if rest.is_empty() { &[0x5a] } else { rest };
    let content: Vec<u8> = fill.iter().copied().cycle().take(length as usize).collect();
    let hashes = file_hashes(&content, piece_length).expect("a valid piece length");
    let root = hashes.root.expect("a non-empty file has a root");
    let pl = piece_length as usize;
    if length <= u64::from(piece_length) {
        assert!(hashes.piece_layer.is_empty());
        assert_eq!(piece_root(&content, merkle::leaf_count(length)), Some(root));
        arbitrary_checks(&root, ask, fill);
        return;
    }
    let leaves = u64::from(piece_length / merkle::BLOCK_SIZE);
    for (i, chunk) in content.chunks(pl).enumerate() {
        assert_eq!(piece_root(chunk, leaves), Some(hashes.piece_layer[i]));
    }
    let tree = MerkleTree::from_piece_layer(&hashes.piece_layer, piece_length, length)
        .expect("the layer builds a tree");
    assert_eq!(tree.root(), root);
    let base = tree.base_height();
    let width = merkle::leaf_count(length) >> base;
    let count = 1u64 << (u32::from(ask[2]) % (width.trailing_zeros() + 1));
    let index = (u64::from(ask[1]) % width) / count * count;
    let proof_layers = u32::from(ask[3]) % (tree.height() - base + 2);
    let layer = base + u32::from(ask[0]) % 3;
    if let Some(reply) = tree.hashes(layer, index, count, proof_layers) {
        assert!(reply.len() as u64 >= count);
        let (run, uncles) = reply.split_at(count as usize);
        let layer_width = merkle::leaf_count(length) >> layer;
        let full = uncles.len() as u32 + count.trailing_zeros() == layer_width.trailing_zeros();
        if full {
            assert!(verify_hashes(&root, layer_width, index, run, uncles));
            let mut bad = reply.clone();
            let at = usize::from(ask[4]) % bad.len();
            bad[at][0] ^= 1;
            let (run, uncles) = bad.split_at(count as usize);
            assert!(!verify_hashes(&root, layer_width, index, run, uncles));
        }
    }
    arbitrary_checks(&root, ask, fill);
}

/// Hashes and geometry straight from the input: never a panic, and (SHA-256 having no known
/// collisions) never accepted.
fn arbitrary_checks(root: &Hash, ask: &[u8], fill: &[u8]) {
    let hashes: Vec<Hash> = fill
        .chunks_exact(32)
        .take(64)
        .map(|c| <Hash>::try_from(c).unwrap_or_default())
        .collect();
    let split = usize::from(ask[4]).min(hashes.len());
    let (run, uncles) = hashes.split_at(split);
    let width = 1u64 << (ask[0] % 64);
    let index = u64::from(u16::from_le_bytes([ask[1], ask[2]]));
    if !run.contains(root) && !uncles.contains(root) {
        assert!(!verify_hashes(root, width, index, run, uncles));
    }
    let _ = merkle::root_of(run, u32::from(ask[3]) % 64, width);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("merkle");
        assert!(corpus.len() >= 5, "fuzz/corpus/merkle is too small");
        for input in corpus {
            super::merkle(&input);
        }
    }
}
