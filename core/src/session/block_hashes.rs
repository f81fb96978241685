//! Serving BEP 52 hash requests for the block layer (base layer 0), which libtorrent sends
//! when one of its pieces fails, to find the bad block. We keep no block hashes: the piece is
//! read back from disk and each 16 KiB block hashed (a `BlockDigests` disk job, run on the
//! runtime's workers), the blocks' subtree is checked against the piece's node (the piece
//! layer's, or the root of a file no longer than one piece), and the proof above the piece
//! comes from the tree over the piece layer ([`Trees`]).
//!
//! Only a run inside one piece we have is served (libtorrent asks for one piece's blocks), and
//! each peer may have [`MAX_BLOCK_READS`] such reads in flight: more are rejected at once, as
//! are requests over the peer's hash budget, so a hostile peer costs at most that many piece
//! reads at a time.

use super::hashes::Trees;
use crate::merkle::{BLOCK_SIZE, Hash, MerkleTree, V2Piece, exchange, leaf_count};
use crate::metainfo::Metainfo;
use crate::wire::hashes::HashRequest;

/// Block-layer reads one peer may have in flight.
pub(crate) const MAX_BLOCK_READS: u8 = 2;

/// Where a block-layer request's run lies: the piece to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockRun {
    /// The torrent's piece holding the run.
    pub(crate) piece: u32,
    at: V2Piece,
}

impl BlockRun {
    /// The piece `request` asks the block hashes of, if it is a well-formed block-layer
    /// request that the piece layer cannot answer: base layer 0, a file of `meta` whose
    /// blocks are below its piece layer (or that is no longer than one piece), an aligned
    /// power-of-two run inside one piece holding file data, and a proof short of the root.
    pub(crate) fn of(meta: &Metainfo, request: &HashRequest) -> Option<Self> {
        if request.base_layer != 0 {
            return None;
        }
        let file =
            (0..meta.files().len()).find(|&i| meta.pieces_root(i) == Some(&request.pieces_root))?;
        let length = meta.files().get(file)?.length;
        let piece_length = u64::from(meta.piece_length());
        let whole_file = length <= piece_length;
        let leaves = if whole_file {
            leaf_count(length)
        } else {
            piece_length / u64::from(BLOCK_SIZE)
        };
        if !whole_file && leaves == 1 {
            return None; // The blocks are the piece layer: the tree answers.
        }
        let (index, count) = (u64::from(request.index), u64::from(request.length));
        if count == 0 || !count.is_power_of_two() || count > leaves || !index.is_multiple_of(count)
        {
            return None;
        }
        let width = leaf_count(length);
        if index.checked_add(count)? > width || request.proof_layers >= width.trailing_zeros() {
            return None;
        }
        let index_in_file = index / leaves;
        let first = meta.layout().file_pieces(file);
        let piece = first
            .start
            .checked_add(u32::try_from(index_in_file).ok()?)?;
        if piece >= first.end {
            return None; // Padding leaves past the file's last piece.
        }
        let at = V2Piece::of(meta.layout(), piece)?;
        (at.file == file && at.index_in_file == index_in_file && at.leaves == leaves)
            .then_some(Self { piece, at })
    }

    /// The answer to `request` (this run's) from `digests`, the SHA-256 of each block of the
    /// piece as stored, or `None` if they do not hash up to the piece's node (the data on
    /// disk changed) or the proof cannot be built.
    pub(crate) fn answer(
        &self,
        meta: &Metainfo,
        trees: &mut Trees,
        request: &HashRequest,
        digests: &[Hash],
    ) -> Option<Vec<Hash>> {
        let blocks = self.at.data_len.div_ceil(BLOCK_SIZE) as usize;
        let leaves = digests.get(..blocks).filter(|l| !l.is_empty())?;
        let sub = MerkleTree::new(leaves, 0, self.at.leaves)?;
        let root = request.pieces_root;
        let (index, count) = (request.index, request.length);
        if self.at.whole_file {
            return (sub.root() == root)
                .then(|| exchange::answer(&sub, 0, index, count, request.proof_layers))?;
        }
        let layer = meta.piece_layer(self.at.file)?;
        let node = layer.get(usize::try_from(self.at.index_in_file).ok()?)?;
        if sub.root() != *node {
            return None;
        }
        // Uncles at heights [log2(count), proof_layers]: those inside the piece from its
        // blocks, those above from the piece layer's tree.
        let top = request.proof_layers.checked_add(1)?;
        let first_leaf = self.at.index_in_file.checked_mul(self.at.leaves)?;
        let in_piece = u64::from(index).checked_sub(first_leaf)?;
        let mut out = sub.hashes(0, in_piece, u64::from(count), top)?;
        let height = sub.height();
        if top > height {
            let tree = trees.tree(meta, &root)?;
            let above = tree.hashes(height, self.at.index_in_file, 1, top - height)?;
            out.extend(above.into_iter().skip(1));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{sha256, verify_hashes};

    fn fixture() -> Metainfo {
        Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_v2.torrent")).unwrap()
    }

    fn file_named(meta: &Metainfo, name: &str) -> usize {
        (0..meta.files().len())
            .find(|&i| meta.files()[i].path.file_name() == name)
            .unwrap()
    }

    #[test]
    fn runs_inside_one_piece_are_served_and_the_rest_refused() {
        let meta = fixture();
        // g_big: 300,000 bytes in 32 KiB pieces: 10 pieces of 2 blocks, 32 leaves (19 blocks).
        let g = file_named(&meta, "g_big");
        let root = *meta.pieces_root(g).unwrap();
        let ask = |index, length, proof_layers| HashRequest {
            pieces_root: root,
            base_layer: 0,
            index,
            length,
            proof_layers,
        };
        let first = meta.layout().file_pieces(g).start;
        let run = BlockRun::of(&meta, &ask(6, 2, 0)).unwrap();
        assert_eq!(run.piece, first + 3);
        assert_eq!(BlockRun::of(&meta, &ask(7, 1, 4)).unwrap().piece, first + 3);
        assert_eq!(BlockRun::of(&meta, &ask(0, 4, 0)), None, "two pieces");
        assert_eq!(BlockRun::of(&meta, &ask(1, 2, 0)), None, "unaligned");
        assert_eq!(
            BlockRun::of(&meta, &ask(0, 3, 0)),
            None,
            "not a power of two"
        );
        assert_eq!(BlockRun::of(&meta, &ask(20, 2, 0)), None, "padding leaves");
        assert_eq!(BlockRun::of(&meta, &ask(32, 2, 0)), None, "past the tree");
        assert_eq!(
            BlockRun::of(&meta, &ask(0, 2, 5)),
            None,
            "proof up to the root"
        );
        let mut layer1 = ask(0, 2, 0);
        layer1.base_layer = 1;
        assert_eq!(BlockRun::of(&meta, &layer1), None, "the piece layer's");
        let mut unknown = ask(0, 2, 0);
        unknown.pieces_root = [9; 32];
        assert_eq!(BlockRun::of(&meta, &unknown), None);
    }

    /// Byte `j` of fixture file `k` (the formula of `core/tests/data/v2/gen.py`).
    fn content(k: u64, n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|j| ((j.wrapping_mul(0x9E37_79B1).wrapping_add(k * 7919) >> 11) & 0xFF) as u8)
            .collect()
    }

    /// SHA-256 of each block of piece `p` of `data` in `pl`-byte pieces.
    fn digests(data: &[u8], pl: usize, p: usize) -> Vec<Hash> {
        let end = ((p + 1) * pl).min(data.len());
        data[p * pl..end]
            .chunks(BLOCK_SIZE as usize)
            .map(sha256)
            .collect()
    }

    #[test]
    fn answers_prove_against_the_root_from_the_blocks_and_the_piece_layer() {
        let meta = fixture();
        let pl = meta.piece_length() as usize;
        let mut trees = Trees::default();
        // (file, gen.py index): g_big has 10 pieces (the last of one short block), d_piece is
        // one whole piece (its root covers it alone).
        for (name, k) in [("g_big", 6u64), ("d_piece", 3)] {
            let f = file_named(&meta, name);
            let root = *meta.pieces_root(f).unwrap();
            let length = meta.files()[f].length;
            let data = content(k, length as usize);
            let width = leaf_count(length);
            let pieces = length.div_ceil(pl as u64) as u32;
            for p in 0..pieces {
                let leaves = digests(&data, pl, p as usize);
                for count in [1u32, 2] {
                    for first in (0..2).step_by(count as usize) {
                        let index = p * 2 + first;
                        let full = exchange::full_proof_layers(u64::from(count), width);
                        for proof_layers in [0, 1, full]
                            .into_iter()
                            .filter(|&l| l < width.trailing_zeros())
                        {
                            let request = HashRequest {
                                pieces_root: root,
                                base_layer: 0,
                                index,
                                length: count,
                                proof_layers,
                            };
                            let Some(run) = BlockRun::of(&meta, &request) else {
                                panic!("{name} {request:?} refused");
                            };
                            let hashes = run.answer(&meta, &mut trees, &request, &leaves);
                            let hashes = hashes.unwrap();
                            assert_eq!(
                                Some(hashes.len() as u32),
                                request.hashes_in_reply(),
                                "{name} {request:?}"
                            );
                            let (got, uncles) = hashes.split_at(count as usize);
                            let mut want = leaves.clone();
                            want.resize(2, [0; 32]);
                            assert_eq!(got, &want[first as usize..(first + count) as usize]);
                            if proof_layers == full {
                                assert!(
                                    verify_hashes(&root, width, index.into(), got, uncles),
                                    "{name} {request:?}"
                                );
                            }
                        }
                    }
                }
                // Blocks that changed on disk do not hash up to the piece: refused.
                let mut bad = leaves.clone();
                bad[0][0] ^= 1;
                let request = HashRequest {
                    pieces_root: root,
                    base_layer: 0,
                    index: p * 2,
                    length: 2,
                    proof_layers: 0,
                };
                let run = BlockRun::of(&meta, &request).unwrap();
                assert_eq!(run.answer(&meta, &mut trees, &request, &bad), None);
                assert_eq!(run.answer(&meta, &mut trees, &request, &[]), None);
            }
        }
    }
}
