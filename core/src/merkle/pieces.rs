//! Pieces of a v2-aligned layout in their files' trees.
//!
//! In a v2 (or hybrid) torrent every file starts on a piece boundary, so a piece holds bytes
//! of one file at most, followed by padding (or the end of the torrent). Its hash is the root
//! of its subtree of the file's tree: [`piece_root`] over the file's bytes in the piece, with
//! `piece length / 16 KiB` leaves for a file longer than one piece, or the file's whole
//! [`leaf_count`] for a smaller file (whose piece hash is then its `pieces root`).

use super::{BLOCK_SIZE, Hash, leaf_count, piece_root};
use crate::layout::Layout;

/// Where a piece of a v2-aligned layout lies in its file's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V2Piece {
    /// The layout's index of the file holding the piece's data.
    pub file: usize,
    /// The piece's index among the file's pieces (its node in the file's piece layer).
    pub index_in_file: u64,
    /// How many of the piece's bytes are the file's (the rest is padding).
    pub data_len: u32,
    /// The leaves of the piece's subtree (a power of two).
    pub leaves: u64,
    /// Whether the file is no longer than one piece: the piece's hash is the file's root and
    /// the file has no piece layer.
    pub whole_file: bool,
}

impl V2Piece {
    /// Where `piece` of `layout` lies, or `None` if it is out of range, holds no file data,
    /// holds bytes of two files, or its file does not start on a piece boundary (the layout
    /// is not v2-aligned).
    pub fn of(layout: &Layout, piece: u32) -> Option<Self> {
        let len = layout.piece_len(piece);
        let mut found: Option<(usize, u64, usize)> = None;
        for span in layout.spans(piece, 0, len)? {
            if span.padding || span.len == 0 {
                continue;
            }
            if found.is_some() || span.buffer_offset != 0 {
                return None;
            }
            found = Some((span.file, span.file_offset, span.len));
        }
        let (file, file_offset, data_len) = found?;
        let piece_length = u64::from(layout.piece_length());
        if !file_offset.is_multiple_of(piece_length) {
            return None;
        }
        let length = layout.files().get(file)?.length;
        let whole_file = length <= piece_length;
        Some(Self {
            file,
            index_in_file: file_offset / piece_length,
            data_len: data_len as u32,
            leaves: if whole_file {
                leaf_count(length)
            } else {
                piece_length / u64::from(BLOCK_SIZE)
            },
            whole_file,
        })
    }

    /// The piece's hash from its bytes (`piece`: the whole piece as stored, padding included;
    /// only the first [`V2Piece::data_len`] bytes count). `None` if `piece` is shorter than
    /// that.
    pub fn digest(&self, piece: &[u8]) -> Option<Hash> {
        piece_root(piece.get(..self.data_len as usize)?, self.leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{file_hashes, sha256};

    fn content(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|j| (j as u8).wrapping_mul(31) ^ seed).collect()
    }

    #[test]
    fn pieces_map_to_their_file_and_hash_to_its_layer_or_root() {
        let pl = 32 * 1024u32;
        // A 100-byte file + padding, a 40000-byte file (2 pieces) + padding, 16 KiB exactly.
        let (a, b, c) = (content(100, 1), content(40_000, 2), content(16_384, 3));
        let layout = Layout::new(
            pl,
            [
                (100, false),
                (u64::from(pl) - 100, true),
                (40_000, false),
                (2 * u64::from(pl) - 40_000, true),
                (0, false),
                (16_384, false),
            ],
        )
        .unwrap();
        assert_eq!(layout.piece_count(), 4);
        let p0 = V2Piece::of(&layout, 0).unwrap();
        assert_eq!((p0.file, p0.index_in_file, p0.data_len), (0, 0, 100));
        assert!(p0.whole_file && p0.leaves == 1);
        let mut padded = a.clone();
        padded.resize(pl as usize, 0);
        assert_eq!(p0.digest(&padded), file_hashes(&a, pl).unwrap().root);
        assert_eq!(p0.digest(&a), Some(sha256(&a)));

        let fb = file_hashes(&b, pl).unwrap();
        for (piece, index) in [(1u32, 0usize), (2, 1)] {
            let g = V2Piece::of(&layout, piece).unwrap();
            assert_eq!((g.file, g.index_in_file, g.leaves), (2, index as u64, 2));
            assert!(!g.whole_file);
            let start = index * pl as usize;
            let mut bytes = b[start..(start + pl as usize).min(b.len())].to_vec();
            bytes.resize(pl as usize, 0);
            assert_eq!(g.digest(&bytes), Some(fb.piece_layer[index]));
        }
        let p3 = V2Piece::of(&layout, 3).unwrap();
        assert_eq!((p3.file, p3.data_len, p3.leaves), (5, 16_384, 1));
        assert_eq!(p3.digest(&c), file_hashes(&c, pl).unwrap().root);
        assert_eq!(V2Piece::of(&layout, 4), None);
    }

    #[test]
    fn a_layout_that_is_not_v2_aligned_has_no_v2_pieces() {
        // Piece 0 holds two files; piece 1 starts inside the second.
        let layout = Layout::new(16_384, [(100, false), (20_000, false)]).unwrap();
        assert_eq!(V2Piece::of(&layout, 0), None);
        assert_eq!(V2Piece::of(&layout, 1), None);
    }
}
