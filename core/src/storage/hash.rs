//! Piece hashing from storage: a piece's SHA-1 or merkle root, each block's SHA-256, and
//! whether a piece matches what the metainfo says.

use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::{Storage, StorageError};
use crate::merkle::{self, Hash};
use crate::metainfo::PieceHash;
use crate::picker::BLOCK_LEN;

/// Bytes read per call while hashing: small enough to stay in cache between the read and the
/// hash, and below the allocator's mmap threshold.
const CHUNK: usize = 64 * 1024;

/// SHA-1 of `piece` as stored (padding as zeros).
pub fn hash_piece(storage: &(impl Storage + ?Sized), piece: u32) -> Result<[u8; 20], StorageError> {
    let len = storage.layout().piece_len(piece) as usize;
    if len == 0 {
        return Err(StorageError::OutOfRange {
            piece,
            offset: 0,
            len: 0,
        });
    }
    let mut buf = vec![0; len.min(CHUNK)];
    let mut hasher = Sha1::new();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(CHUNK);
        storage.read(piece, offset as u32, &mut buf[..n])?;
        hasher.update(&buf[..n]);
        offset += n;
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of each 16 KiB block of `piece` as stored, in order, over the block's bytes that
/// are file data (padding left out). In a v2-aligned layout that is the block's leaf in its
/// file's merkle tree (BEP 52: the last block of a file hashed at its real length), so a failed
/// v2 piece's blocks can be checked one by one; the picker's smart ban compares them as digests.
pub fn block_digests(
    storage: &(impl Storage + ?Sized),
    piece: u32,
) -> Result<Vec<Hash>, StorageError> {
    let layout = storage.layout();
    let len = layout.piece_len(piece);
    let mut buf = vec![0; BLOCK_LEN as usize];
    let mut out = Vec::with_capacity(len.div_ceil(BLOCK_LEN) as usize);
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(BLOCK_LEN);
        storage.read(piece, offset, &mut buf[..n as usize])?;
        let mut hasher = Sha256::new();
        let spans = layout.spans(piece, offset, n).into_iter().flatten();
        for span in spans.filter(|s| !s.padding) {
            hasher.update(&buf[span.buffer_offset..span.buffer_offset + span.len]);
        }
        out.push(hasher.finalize().into());
        offset += n;
    }
    Ok(out)
}

/// The merkle root of the first `data_len` bytes of `piece` as stored, in 16 KiB leaves
/// padded with zero hashes to `leaves` (BEP 52). `None` if `data_len` does not fit the piece
/// or `leaves` is not a power of two holding every block.
pub fn merkle_piece_root(
    storage: &(impl Storage + ?Sized),
    piece: u32,
    data_len: u32,
    leaves: u64,
) -> Result<Option<Hash>, StorageError> {
    if data_len == 0 || data_len > storage.layout().piece_len(piece) {
        return Ok(None);
    }
    if u64::from(data_len.div_ceil(merkle::BLOCK_SIZE)) > leaves {
        return Ok(None);
    }
    let mut buf = vec![0; merkle::BLOCK_SIZE as usize];
    let mut hashes = Vec::with_capacity(data_len.div_ceil(merkle::BLOCK_SIZE) as usize);
    let mut offset = 0;
    while offset < data_len {
        let n = (data_len - offset).min(merkle::BLOCK_SIZE) as usize;
        storage.read(piece, offset, &mut buf[..n])?;
        hashes.push(merkle::sha256(&buf[..n]));
        offset += n as u32;
    }
    Ok(merkle::root_of(&hashes, 0, leaves))
}

/// Whether `piece` as stored hashes to `expected`. Data never written is a mismatch (the
/// piece is simply not there yet); other I/O errors are returned.
pub fn piece_matches(
    storage: &(impl Storage + ?Sized),
    piece: u32,
    expected: &PieceHash,
) -> Result<bool, StorageError> {
    let got = match *expected {
        PieceHash::Sha1(sha1) => hash_piece(storage, piece).map(|h| h == sha1),
        PieceHash::Merkle {
            root,
            data_len,
            leaves,
        } => merkle_piece_root(storage, piece, data_len, leaves).map(|h| h == Some(root)),
    };
    match got {
        Err(e) if e.is_missing_data() => Ok(false),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::sha1_digest;
    use crate::layout::Layout;
    use crate::rng::Rng;
    use crate::storage::MemoryStorage;

    fn filled(layout: &Layout, seed: u64) -> (MemoryStorage, Vec<u8>, Vec<[u8; 20]>) {
        let s = MemoryStorage::new(layout.clone());
        let mut data = vec![0; layout.total_length() as usize];
        Rng::new(seed).fill(&mut data);
        for f in layout.files() {
            if f.padding {
                data[f.offset as usize..(f.offset + f.length) as usize].fill(0);
            }
        }
        let pl = layout.piece_length() as usize;
        let mut hashes = Vec::new();
        for p in 0..layout.piece_count() {
            let start = p as usize * pl;
            let piece = &data[start..start + layout.piece_len(p) as usize];
            s.write(p, 0, piece).unwrap();
            hashes.push(sha1_digest(piece));
        }
        (s, data, hashes)
    }

    #[test]
    fn hashes_match_and_blocks_cover_the_piece() {
        let layout = Layout::new(
            3 * BLOCK_LEN,
            [(100_000, false), (7, true), (50_000, false)],
        )
        .unwrap();
        let (s, data, hashes) = filled(&layout, 1);
        for p in 0..layout.piece_count() {
            assert_eq!(hash_piece(&s, p).unwrap(), hashes[p as usize]);
        }
        let blocks = block_digests(&s, 1).unwrap();
        assert_eq!(blocks.len(), 3);
        let start = 3 * BLOCK_LEN as usize + BLOCK_LEN as usize;
        assert_eq!(
            blocks[1],
            merkle::sha256(&data[start..start + BLOCK_LEN as usize])
        );
        assert!(hash_piece(&s, 99).is_err());
    }

    #[test]
    fn block_digests_leave_padding_out_so_v2_blocks_are_their_leaves() {
        // A v2-aligned layout: a 40,000-byte file padded to two 32 KiB pieces, then a file.
        let pl = 2 * BLOCK_LEN;
        let layout = Layout::new(
            pl,
            [
                (40_000, false),
                (2 * u64::from(pl) - 40_000, true),
                (5, false),
            ],
        )
        .unwrap();
        let (s, data, _) = filled(&layout, 3);
        let blocks = block_digests(&s, 1).unwrap();
        let start = pl as usize;
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], merkle::sha256(&data[start..40_000]));
        assert_eq!(blocks[1], merkle::sha256(&[]), "padding only");
        let root = merkle::piece_root(&data[start..40_000], 2).unwrap();
        assert_eq!(
            merkle::root_of(&[blocks[0], [0; 32]], 0, 2),
            Some(root),
            "the block digests are the piece's leaves"
        );
    }

    #[test]
    fn a_corrupted_byte_in_any_file_fails_its_piece_only() {
        let layout = Layout::new(
            1000,
            [
                (1500, false),
                (0, false),
                (300, true),
                (2222, false),
                (10, false),
                (999, false),
            ],
        )
        .unwrap();
        let (_, data, hashes) = filled(&layout, 2);
        let mut rng = Rng::new(3);
        for (file, extent) in layout.files().iter().enumerate() {
            if extent.padding || extent.length == 0 {
                continue;
            }
            for _ in 0..5 {
                let s = MemoryStorage::new(layout.clone());
                let pl = layout.piece_length() as usize;
                for p in 0..layout.piece_count() {
                    let start = p as usize * pl;
                    s.write(p, 0, &data[start..start + layout.piece_len(p) as usize])
                        .unwrap();
                }
                let at = rng.below(extent.length);
                let mut byte = [0];
                s.read_file(file, at, &mut byte).unwrap();
                s.write_file(file, at, &[byte[0] ^ 0x40]).unwrap();
                let bad = ((extent.offset + at) / pl as u64) as u32;
                let good: Vec<u32> = (0..layout.piece_count())
                    .filter(|&p| piece_matches(&s, p, &hashes[p as usize].into()).unwrap())
                    .collect();
                let expected: Vec<u32> = (0..layout.piece_count()).filter(|&p| p != bad).collect();
                assert_eq!(good, expected, "file {file} byte {at}");
            }
        }
    }

    #[test]
    fn matching_pieces() {
        let layout = Layout::new(100, [(250, false)]).unwrap();
        let (s, _, hashes) = filled(&layout, 4);
        assert!(piece_matches(&s, 2, &hashes[2].into()).unwrap());
        assert!(!piece_matches(&s, 2, &hashes[1].into()).unwrap());
        let empty = MemoryStorage::new(layout);
        assert!(
            !piece_matches(&empty, 0, &hashes[0].into()).unwrap(),
            "missing data is a mismatch"
        );
        assert!(
            piece_matches(&s, 9, &hashes[0].into()).is_err(),
            "no such piece"
        );
    }

    #[test]
    fn v2_pieces_match_their_merkle_roots_and_only_them() {
        // A 50,000-byte file (two 32 KiB pieces, the second part padding) and a 100-byte one.
        let pl = 32 * 1024u32;
        let layout = Layout::new(
            pl,
            [
                (50_000, false),
                (15_536, true),
                (100, false),
                (32_668, true),
            ],
        )
        .unwrap();
        let (s, data, _) = filled(&layout, 9);
        let want = merkle::file_hashes(&data[..50_000], pl).unwrap();
        let small = merkle::file_hashes(&data[65_536..65_636], pl).unwrap();
        let merkle = |p: u32, root| {
            let at = merkle::V2Piece::of(&layout, p).unwrap();
            PieceHash::Merkle {
                root,
                data_len: at.data_len,
                leaves: at.leaves,
            }
        };
        assert!(piece_matches(&s, 0, &merkle(0, want.piece_layer[0])).unwrap());
        assert!(piece_matches(&s, 1, &merkle(1, want.piece_layer[1])).unwrap());
        assert!(piece_matches(&s, 2, &merkle(2, small.root.unwrap())).unwrap());
        assert!(!piece_matches(&s, 1, &merkle(1, want.piece_layer[0])).unwrap());
        // One flipped byte in the second block of piece 1 (its data ends at 17,232).
        let mut bad = data[32_768 + 16_500..32_768 + 16_501].to_vec();
        bad[0] ^= 1;
        s.write(1, 16_500, &bad).unwrap();
        assert!(!piece_matches(&s, 1, &merkle(1, want.piece_layer[1])).unwrap());
        let empty = MemoryStorage::new(layout.clone());
        assert!(!piece_matches(&empty, 0, &merkle(0, want.piece_layer[0])).unwrap());
        // Lengths that do not fit the piece are no match, not a panic.
        let odd = PieceHash::Merkle {
            root: want.piece_layer[0],
            data_len: pl + 1,
            leaves: 2,
        };
        assert!(!piece_matches(&s, 0, &odd).unwrap());
        assert_eq!(merkle_piece_root(&s, 0, 40_000, 2).unwrap(), None);
    }
}
