//! Resume data: which pieces were verified, plus each file's size and modification time, so a
//! restart trusts unchanged files and rechecks only changed ones.
//!
//! Lifecycle: the session records a piece once it was verified and flushed. To save, it takes
//! the storage's [`super::Storage::stamps`] (after the last flush, so they cover every
//! recorded piece), builds [`ResumeData`] ([`ResumeData::of_disk`]: no piece of a file
//! missing or cut short), [`ResumeData::encode`]s it and hands the bytes to
//! the runtime, which writes them atomically. On start, [`ResumeData::decode`] the file,
//! compare with the current stamps ([`ResumeData::plan`]): pieces touching only unchanged
//! files are trusted, pieces touching a changed or missing file are rechecked. A piece written
//! but not yet recorded when the process died is never in the saved bitfield, so it is never
//! trusted; its file's changed stamp gets it rechecked.
//!
//! Format (bencoded dictionary): `files`: a list with, per file, `[size, mtime seconds,
//! mtime nanoseconds]` or `[]` for a missing file; `piece count`; `piece layers` (optional):
//! the v2 piece layers the torrent learned from peers, as a .torrent's `piece layers` (pieces
//! root → concatenated SHA-256 hashes), so a restart neither fetches nor trusts them unchecked
//! (the session proves each against its root before use); `pieces`: the BEP 3 bitfield of
//! verified pieces; `version`: 1.

use std::collections::BTreeMap;
use std::fmt;

use crate::bencode::{DecodeError, Decoder, Encoder};
use crate::layout::Layout;
use crate::merkle::Hash;
use crate::pieces::{BitfieldError, PieceSet};

/// The resume format version written and accepted.
const VERSION: i64 = 1;
/// Nesting needed by the format (dict → list → list).
const MAX_DEPTH: usize = 4;

/// A file's size and modification time as the file system reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time: whole seconds since the Unix epoch (negative before it).
    pub mtime_secs: i64,
    /// Modification time: nanoseconds within the second.
    pub mtime_nanos: u32,
}

impl FileStamp {
    /// The fixed stamp of a padding file (never on disk, never changes).
    pub fn padding(length: u64) -> Self {
        Self {
            size: length,
            mtime_secs: 0,
            mtime_nanos: 0,
        }
    }
}

/// The contents of a resume file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    /// Pieces verified and flushed when it was saved.
    pub pieces: PieceSet,
    /// Each file's stamp when it was saved (`None`: the file did not exist).
    pub files: Vec<Option<FileStamp>>,
    /// v2 piece layers learned from peers, by `pieces root` (empty for a torrent whose
    /// metainfo has them). Unchecked after [`ResumeData::decode`]: a resume file is hostile,
    /// so each must be proved against its root before use
    /// ([`Metainfo::add_piece_layer`](crate::metainfo::Metainfo::add_piece_layer)).
    pub piece_layers: BTreeMap<Hash, Vec<Hash>>,
}

/// What a resume file lets a restart trust, given the files' current stamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    trusted: PieceSet,
    recheck: PieceSet,
}

/// Why a resume file cannot be used (start with a full recheck instead).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeError {
    /// Not valid bencode.
    Bencode(DecodeError),
    /// A required key is missing or has the wrong type.
    Field(&'static str),
    /// A version this code does not know.
    Version(i64),
    /// Made for a torrent with another piece count.
    PieceCount {
        /// Pieces of this torrent.
        expected: u32,
        /// Pieces in the file.
        actual: i64,
    },
    /// Made for a torrent with another number of files.
    FileCount {
        /// Files of this torrent.
        expected: usize,
        /// Files in the file.
        actual: usize,
    },
    /// The bitfield does not fit the piece count.
    Bitfield(BitfieldError),
    /// A file stamp is malformed (negative size, nanoseconds out of range, wrong arity).
    Stamp(usize),
}

impl ResumeData {
    /// The resume data to save: the `recorded` pieces the files as `stamped` can still hold,
    /// with those stamps. A piece with a byte past the end of a file that is missing or
    /// shorter than its extent (deleted or truncated under the torrent) is left out, so resume
    /// data never claims a piece the disk does not hold, whatever the stamps say next time;
    /// the pieces wholly before a truncation are kept.
    pub fn of_disk(layout: &Layout, recorded: &PieceSet, stamped: Vec<Option<FileStamp>>) -> Self {
        let mut pieces = recorded.clone();
        let piece_length = u64::from(layout.piece_length());
        for (i, extent) in layout.files().iter().enumerate() {
            let size = stamped.get(i).copied().flatten().map_or(0, |s| s.size);
            if extent.padding || size >= extent.length {
                continue;
            }
            // The piece holding the file's first missing byte, and every one after it.
            let first_short = (extent.offset + size) / piece_length;
            for p in layout.file_pieces(i) {
                if u64::from(p) >= first_short {
                    pieces.remove(p);
                }
            }
        }
        Self {
            pieces,
            files: stamped,
            piece_layers: BTreeMap::new(),
        }
    }

    /// Canonical bencoding of the resume data.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.dict();
        e.bytes(b"files").list();
        for f in &self.files {
            e.list();
            if let Some(s) = f {
                e.int(i64::try_from(s.size).unwrap_or(i64::MAX))
                    .int(s.mtime_secs)
                    .int(i64::from(s.mtime_nanos));
            }
            e.end();
        }
        e.end();
        e.bytes(b"piece count").int(i64::from(self.pieces.len()));
        if !self.piece_layers.is_empty() {
            e.bytes(b"piece layers").dict();
            for (root, layer) in &self.piece_layers {
                e.bytes(root).bytes(&layer.concat());
            }
            e.end();
        }
        e.bytes(b"pieces").bytes(&self.pieces.to_bitfield());
        e.bytes(b"version").int(VERSION);
        e.end();
        e.finish()
    }

    /// Decodes resume data (hostile input: a damaged file must not be trusted) for `layout`.
    pub fn decode(bytes: &[u8], layout: &Layout) -> Result<Self, ResumeError> {
        let value = Decoder::new(bytes)
            .max_depth(MAX_DEPTH)
            .decode()
            .map_err(ResumeError::Bencode)?;
        let dict = value.as_dict().ok_or(ResumeError::Field("top level"))?;
        let version = dict.int(b"version").ok_or(ResumeError::Field("version"))?;
        if version != VERSION {
            return Err(ResumeError::Version(version));
        }
        let count = dict
            .int(b"piece count")
            .ok_or(ResumeError::Field("piece count"))?;
        if count != i64::from(layout.piece_count()) {
            return Err(ResumeError::PieceCount {
                expected: layout.piece_count(),
                actual: count,
            });
        }
        let bits = dict.bytes(b"pieces").ok_or(ResumeError::Field("pieces"))?;
        let pieces =
            PieceSet::from_bitfield(bits, layout.piece_count()).map_err(ResumeError::Bitfield)?;
        let list = dict.list(b"files").ok_or(ResumeError::Field("files"))?;
        if list.len() != layout.files().len() {
            return Err(ResumeError::FileCount {
                expected: layout.files().len(),
                actual: list.len(),
            });
        }
        let files = list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let items = v.as_list().ok_or(ResumeError::Stamp(i))?;
                let ints: Option<Vec<i64>> = items.iter().map(|x| x.as_int()).collect();
                match ints.as_deref() {
                    Some([]) => Ok(None),
                    Some(&[size, secs, nanos]) => Ok(Some(FileStamp {
                        size: u64::try_from(size).map_err(|_| ResumeError::Stamp(i))?,
                        mtime_secs: secs,
                        mtime_nanos: u32::try_from(nanos)
                            .ok()
                            .filter(|n| *n < 1_000_000_000)
                            .ok_or(ResumeError::Stamp(i))?,
                    })),
                    _ => Err(ResumeError::Stamp(i)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let piece_layers = match dict.get(b"piece layers") {
            None => BTreeMap::new(),
            Some(v) => {
                decode_layers(v, layout.piece_count()).ok_or(ResumeError::Field("piece layers"))?
            }
        };
        Ok(Self {
            pieces,
            files,
            piece_layers,
        })
    }

    /// Compares the saved stamps with `current` ones (from [`super::Storage::stamps`]): every
    /// piece touching a file whose stamp changed, or that is missing now, must be rechecked;
    /// the other saved pieces are trusted. O(files + pieces).
    pub fn plan(&self, layout: &Layout, current: &[Option<FileStamp>]) -> LoadPlan {
        let n = layout.piece_count();
        let mut recheck = PieceSet::new(n);
        // Pieces touching a file that is gone (or empty) cannot be complete: nothing to hash.
        let mut missing = PieceSet::new(n);
        for (i, extent) in layout.files().iter().enumerate() {
            if extent.padding {
                continue;
            }
            let now = current.get(i).copied().flatten();
            let then = self.files.get(i).copied().flatten();
            let gone = extent.length > 0 && now.is_none_or(|s| s.size == 0);
            if gone || now != then {
                for piece in layout.file_pieces(i) {
                    recheck.insert(piece);
                    if gone {
                        missing.insert(piece);
                    }
                }
            }
        }
        for piece in missing.iter() {
            recheck.remove(piece);
        }
        let mut trusted = PieceSet::new(n);
        if self.pieces.len() == n {
            let untouched = |p: &u32| !recheck.contains(*p) && !missing.contains(*p);
            for piece in self.pieces.iter().filter(untouched) {
                trusted.insert(piece);
            }
        }
        LoadPlan { trusted, recheck }
    }
}

/// The `piece layers` dictionary: 32-byte roots to non-empty strings of 32-byte hashes, no
/// more hashes in all than the torrent has pieces (a layer has one per piece of its file).
fn decode_layers(
    value: &crate::bencode::Value<'_>,
    piece_count: u32,
) -> Option<BTreeMap<Hash, Vec<Hash>>> {
    let mut out = BTreeMap::new();
    let mut total = 0usize;
    for (key, layer) in value.as_dict()?.entries() {
        let root = Hash::try_from(*key).ok()?;
        let layer = layer.as_bytes()?;
        if layer.is_empty() || !layer.len().is_multiple_of(32) {
            return None;
        }
        total += layer.len() / 32;
        if total > piece_count as usize {
            return None;
        }
        let hashes = layer
            .chunks_exact(32)
            .map(Hash::try_from)
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        out.insert(root, hashes);
    }
    Some(out)
}

impl LoadPlan {
    /// Pieces to treat as had without hashing.
    pub fn trusted(&self) -> &PieceSet {
        &self.trusted
    }

    /// Pieces to hash before use.
    pub fn recheck(&self) -> &PieceSet {
        &self.recheck
    }
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "resume data: {e}"),
            Self::Field(k) => write!(f, "resume data: `{k}` missing or of the wrong type"),
            Self::Version(v) => write!(f, "resume data: unknown version {v}"),
            Self::PieceCount { expected, actual } => {
                write!(
                    f,
                    "resume data is for {actual} pieces, torrent has {expected}"
                )
            }
            Self::FileCount { expected, actual } => {
                write!(
                    f,
                    "resume data is for {actual} files, torrent has {expected}"
                )
            }
            Self::Bitfield(e) => write!(f, "resume data: {e}"),
            Self::Stamp(i) => write!(f, "resume data: malformed stamp of file {i}"),
        }
    }
}

impl std::error::Error for ResumeError {}

#[cfg(test)]
mod tests;
