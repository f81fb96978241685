//! What a piece must hash to: its SHA-1 (v1 and hybrid torrents) or, for a v2-only torrent,
//! the root of its subtree of its file's merkle tree (BEP 52).

use super::{MetaVersion, Metainfo};
use crate::merkle::{Hash, V2Piece};

/// The hash a piece's stored bytes must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceHash {
    /// SHA-1 of the whole piece, padding included (BitTorrent v1).
    Sha1([u8; 20]),
    /// The merkle root of the piece's first `data_len` bytes (the rest is padding), in
    /// 16 KiB leaves padded with zero hashes to `leaves` (BEP 52; see
    /// [`crate::merkle::piece_root`]).
    Merkle {
        /// The node of the file's piece layer, or the file's `pieces root` for a file no
        /// longer than one piece.
        root: Hash,
        /// Bytes of the piece that are the file's.
        data_len: u32,
        /// Leaves of the piece's subtree (a power of two).
        leaves: u64,
    },
}

impl From<[u8; 20]> for PieceHash {
    fn from(sha1: [u8; 20]) -> Self {
        Self::Sha1(sha1)
    }
}

impl Metainfo {
    /// What `piece` must hash to: its SHA-1 for a v1 or hybrid torrent (hybrids are checked
    /// through their v1 half), its merkle root for a v2-only one. `None` past the end, and for
    /// a piece of a v2 file whose piece layer is not known (see
    /// [`Metainfo::has_all_piece_layers`]).
    pub fn expected_hash(&self, piece: u32) -> Option<PieceHash> {
        if self.version != MetaVersion::V2 {
            return self.piece_hash(piece).copied().map(PieceHash::Sha1);
        }
        let at = V2Piece::of(&self.layout, piece)?;
        let root = if at.whole_file {
            *self.pieces_root(at.file)?
        } else {
            *self
                .piece_layer(at.file)?
                .get(usize::try_from(at.index_in_file).ok()?)?
        };
        Some(PieceHash::Merkle {
            root,
            data_len: at.data_len,
            leaves: at.leaves,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{V2Piece, file_hashes};

    /// Byte `j` of fixture file `k` (the formula of `core/tests/data/v2/gen.py`).
    fn content(k: u64, n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|j| ((j.wrapping_mul(0x9E37_79B1).wrapping_add(k * 7919) >> 11) & 0xFF) as u8)
            .collect()
    }

    #[test]
    fn v2_pieces_expect_their_layer_node_or_their_files_root() {
        let m = Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_v2.torrent")).unwrap();
        let names = [
            "a_empty", "b_small", "c_block", "d_piece", "e_two", "f_six", "g_big",
        ];
        let lengths = [0, 100, 16384, 32768, 40000, 5 * 32768 + 1, 300_000];
        let mut checked = 0;
        for piece in 0..m.piece_count() {
            let at = V2Piece::of(m.layout(), piece).unwrap();
            let file = &m.files()[at.file];
            let k = names
                .iter()
                .position(|n| *n == file.path.file_name())
                .unwrap();
            let data = content(k as u64, lengths[k]);
            let start = (at.index_in_file * u64::from(m.piece_length())) as usize;
            let bytes = &data[start..start + at.data_len as usize];
            let Some(PieceHash::Merkle { root, .. }) = m.expected_hash(piece) else {
                panic!("piece {piece} has no merkle hash");
            };
            assert_eq!(at.digest(bytes), Some(root), "piece {piece}");
            if at.whole_file {
                assert_eq!(
                    Some(root),
                    file_hashes(&data, m.piece_length()).unwrap().root
                );
            }
            checked += 1;
        }
        assert_eq!(checked, 1 + 1 + 1 + 2 + 6 + 10);
        assert_eq!(m.expected_hash(m.piece_count()), None);
        let hybrid =
            Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_hybrid.torrent")).unwrap();
        assert_eq!(
            hybrid.expected_hash(0),
            hybrid.piece_hash(0).copied().map(PieceHash::Sha1)
        );
    }
}
