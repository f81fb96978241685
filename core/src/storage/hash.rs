//! Piece hashing from storage, verification tokens, and full or partial recheck.

use sha1::{Digest, Sha1};

use super::{Storage, StorageError};
use crate::picker::{BLOCK_LEN, PieceSet};

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

/// SHA-1 of each 16 KiB block of `piece`, in order (for the picker's smart ban).
pub fn block_digests(
    storage: &(impl Storage + ?Sized),
    piece: u32,
) -> Result<Vec<[u8; 20]>, StorageError> {
    let len = storage.layout().piece_len(piece);
    let mut buf = vec![0; BLOCK_LEN as usize];
    let mut out = Vec::with_capacity(len.div_ceil(BLOCK_LEN) as usize);
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(BLOCK_LEN) as usize;
        storage.read(piece, offset, &mut buf[..n])?;
        out.push(Sha1::digest(&buf[..n]).into());
        offset += n as u32;
    }
    Ok(out)
}

/// Proof that a piece's stored data matched its hash. Made only by [`verify_piece`]; turn it
/// into a [`FlushedPiece`] with [`VerifiedPiece::flush`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a verified piece must be flushed before it is recorded"]
pub struct VerifiedPiece {
    piece: u32,
}

/// Proof that a piece's data matched its hash and was then flushed to stable storage: the only
/// way to record a piece in [`super::ResumeState`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "record it with ResumeState::mark_verified_and_flushed"]
pub struct FlushedPiece {
    piece: u32,
}

/// Hashes `piece` and compares with `expected`: `Some(proof)` if it matches, `None` if not.
/// Missing data counts as a mismatch; other I/O errors are returned.
pub fn verify_piece(
    storage: &(impl Storage + ?Sized),
    piece: u32,
    expected: &[u8; 20],
) -> Result<Option<VerifiedPiece>, StorageError> {
    match hash_piece(storage, piece) {
        Ok(h) if &h == expected => Ok(Some(VerifiedPiece { piece })),
        Ok(_) => Ok(None),
        Err(e) if e.is_missing_data() => Ok(None),
        Err(e) => Err(e),
    }
}

impl VerifiedPiece {
    /// The piece index.
    pub fn piece(&self) -> u32 {
        self.piece
    }

    /// Flushes the storage so the piece's data is durable.
    pub fn flush(self, storage: &(impl Storage + ?Sized)) -> Result<FlushedPiece, StorageError> {
        storage.flush()?;
        Ok(FlushedPiece { piece: self.piece })
    }
}

impl FlushedPiece {
    /// The piece index.
    pub fn piece(&self) -> u32 {
        self.piece
    }
}

/// The result of a recheck: the pieces whose data matched, after syncing the files so they
/// are durable. Record them with [`super::ResumeState::mark_rechecked`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Rechecked {
    checked: PieceSet,
    good: PieceSet,
}

impl Rechecked {
    /// The pieces found good.
    pub fn good(&self) -> &PieceSet {
        &self.good
    }

    /// The pieces that were checked (good or not).
    pub fn checked(&self) -> &PieceSet {
        &self.checked
    }
}

/// Hashes every piece; returns exactly the good ones. Missing data makes a piece bad; other
/// I/O errors abort the recheck. `hashes` has one SHA-1 per piece.
pub fn recheck(
    storage: &(impl Storage + ?Sized),
    hashes: &[[u8; 20]],
) -> Result<Rechecked, StorageError> {
    let all = PieceSet::full(storage.layout().piece_count());
    recheck_pieces(storage, hashes, &all)
}

/// Like [`recheck`], for the pieces in `pieces` only (the others are not in the result).
pub fn recheck_pieces(
    storage: &(impl Storage + ?Sized),
    hashes: &[[u8; 20]],
    pieces: &PieceSet,
) -> Result<Rechecked, StorageError> {
    let count = storage.layout().piece_count();
    if hashes.len() != count as usize || pieces.len() != count {
        return Err(StorageError::HashCount {
            expected: count,
            actual: hashes.len(),
        });
    }
    let mut good = PieceSet::new(count);
    for piece in pieces.iter() {
        if verify_piece(storage, piece, &hashes[piece as usize])?.is_some() {
            good.insert(piece);
        }
    }
    storage.sync_all()?;
    Ok(Rechecked {
        checked: pieces.clone(),
        good,
    })
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
            sha1_digest(&data[start..start + BLOCK_LEN as usize])
        );
        assert!(hash_piece(&s, 99).is_err());
    }

    #[test]
    fn recheck_finds_a_corrupted_byte_in_any_file() {
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
                let result = recheck(&s, &hashes).unwrap();
                let expected: Vec<u32> = (0..layout.piece_count()).filter(|&p| p != bad).collect();
                assert_eq!(
                    result.good().iter().collect::<Vec<_>>(),
                    expected,
                    "file {file} byte {at}"
                );
            }
        }
    }

    #[test]
    fn verification_tokens() {
        let layout = Layout::new(100, [(250, false)]).unwrap();
        let (s, _, hashes) = filled(&layout, 4);
        let v = verify_piece(&s, 2, &hashes[2]).unwrap().unwrap();
        assert_eq!(v.flush(&s).unwrap().piece(), 2);
        assert!(verify_piece(&s, 2, &hashes[1]).unwrap().is_none());
        let empty = MemoryStorage::new(layout);
        assert!(
            verify_piece(&empty, 0, &hashes[0]).unwrap().is_none(),
            "missing data is bad"
        );
        assert!(matches!(
            recheck(&empty, &hashes[..2]),
            Err(StorageError::HashCount { .. })
        ));
    }
}
