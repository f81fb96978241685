//! [`MetainfoError`]: why a .torrent was refused, naming the field and the problem; and
//! [`Warning`]: what was repaired on the way in.

use std::fmt;

use super::path::PathError;
use super::sanitize::Sanitization;
use crate::bencode::DecodeError;

/// Why a .torrent (or an `info` dictionary from ut_metadata) was refused. Every variant that
/// concerns a field names it the way a person would find it in the file, e.g.
/// `info.files[3].length`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetainfoError {
    /// The bytes are not valid bencode (or are nested too deep).
    Bencode(DecodeError),
    /// The top-level value is not a dictionary.
    NotADictionary,
    /// A required field is absent (its name, e.g. `info.piece length`).
    Missing(String),
    /// A field has the wrong bencode type.
    WrongType {
        /// The field, e.g. `info.piece length`.
        field: String,
        /// The type it must have.
        expected: &'static str,
        /// The type it has.
        found: &'static str,
    },
    /// `piece length` is not a positive multiple of 16 KiB.
    BadPieceLength(i64),
    /// `piece length` is larger than [`super::MAX_PIECE_LENGTH`].
    PieceLengthTooLarge(i64),
    /// A file length is negative.
    NegativeLength {
        /// The field, e.g. `info.files[2].length`.
        field: String,
        /// The length it claimed.
        value: i64,
    },
    /// The file lengths add up to more than 2^63 - 1 bytes.
    TotalLengthOverflow,
    /// The total length and piece length imply more pieces than a `u32` index can name.
    TooManyPieces,
    /// `pieces` is not a whole number of 20-byte SHA-1 hashes.
    PiecesNotMultipleOf20(usize),
    /// `pieces` holds a different number of hashes than the total length implies.
    PieceCountMismatch {
        /// Pieces implied by the total length and the piece length.
        expected: u64,
        /// Hashes present in `pieces`.
        found: usize,
    },
    /// The files hold no data at all (libtorrent refuses such torrents too).
    EmptyTorrent,
    /// `info` has both `length` (single-file) and `files` (multi-file).
    LengthAndFiles,
    /// `info.files` is an empty list.
    NoFiles,
    /// A file path is unsafe: a path traversal, an absolute path, or empty.
    UnsafePath {
        /// The field, e.g. `info.files[0].path`.
        field: String,
        /// What is wrong with it.
        error: PathError,
    },
    /// `info.file tree` without `meta version` 2 (nor v1 `pieces`).
    FileTreeWithoutMetaVersion,
    /// A v2 or hybrid torrent's `piece length` is not a power of two (BEP 52).
    PieceLengthNotPowerOfTwo(i64),
    /// The v2 `file tree` is malformed (what is wrong with it).
    BadFileTree(String),
    /// A non-empty file of the v2 `file tree` has no valid `pieces root` (32 bytes, not all
    /// zeros).
    MissingPiecesRoot,
    /// A hybrid torrent whose v1 and v2 halves describe different files (where they differ):
    /// two contents under one torrent.
    HybridMismatch(String),
    /// The top-level `piece layers` are malformed or do not match the files' roots.
    BadPieceLayer(String),
    /// `meta version` is neither 1 nor 2.
    UnsupportedMetaVersion(i64),
}

/// A repair made while parsing a torrent: the torrent loads, but not exactly as written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A path component was sanitized (or dropped).
    PathSanitized {
        /// The field, e.g. `info.files[4].path`.
        field: String,
        /// The component as the torrent had it (lossy UTF-8).
        original: String,
        /// What it became (`None` if it was dropped).
        sanitized: Option<String>,
        /// What was done.
        changes: Vec<Sanitization>,
    },
    /// Two files had the same path, or a file's path was also a directory of another file: the
    /// later one was renamed.
    DuplicatePath {
        /// The file's index in the torrent.
        file: usize,
        /// The path it had.
        original: String,
        /// The path it got.
        renamed: String,
    },
    /// A string field other than a path held invalid UTF-8 and was read lossily.
    LossyText(&'static str),
    /// A BEP 47 symbolic link whose target is not a file or directory of the torrent: it is
    /// made a plain empty file.
    SymlinkOutside {
        /// The link's index in the torrent.
        file: usize,
        /// Its target, sanitized, relative to the torrent's top directory.
        target: String,
    },
    /// Bytes followed the top-level dictionary; they were ignored, as libtorrent ignores them.
    TrailingBytes(usize),
    /// `info.name` sanitized to nothing (`..`, `/`): the top directory is named after the
    /// info-hash, as libtorrent names it.
    NameFromInfoHash(String),
}

impl From<DecodeError> for MetainfoError {
    fn from(e: DecodeError) -> Self {
        Self::Bencode(e)
    }
}

impl fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "{e}"),
            Self::NotADictionary => write!(f, "not a .torrent: the top level is not a dictionary"),
            Self::Missing(field) => write!(f, "{field}: missing"),
            Self::WrongType {
                field,
                expected,
                found,
            } => write!(
                f,
                "{field}: expected {} {expected}, found {} {found}",
                article(expected),
                article(found)
            ),
            Self::BadPieceLength(n) => write!(
                f,
                "info.piece length: {n} is not a positive multiple of 16384"
            ),
            Self::PieceLengthTooLarge(n) => write!(
                f,
                "info.piece length: {n} is larger than the limit of {}",
                super::MAX_PIECE_LENGTH
            ),
            Self::NegativeLength { field, value } => {
                write!(f, "{field}: negative length {value}")
            }
            Self::TotalLengthOverflow => {
                write!(
                    f,
                    "info: the file lengths add up to more than 2^63 - 1 bytes"
                )
            }
            Self::TooManyPieces => {
                write!(f, "info: the torrent would have more than 2^32 - 2 pieces")
            }
            Self::PiecesNotMultipleOf20(n) => {
                write!(f, "info.pieces: {n} bytes is not a multiple of 20")
            }
            Self::PieceCountMismatch { expected, found } => write!(
                f,
                "info.pieces: holds {found} hashes, but the total length implies {expected} pieces"
            ),
            Self::EmptyTorrent => write!(f, "info: the torrent holds no data (total length 0)"),
            Self::LengthAndFiles => write!(
                f,
                "info: has both `length` (single file) and `files` (multi-file)"
            ),
            Self::NoFiles => write!(f, "info.files: empty list"),
            Self::UnsafePath { field, error } => write!(f, "{field}: {error}"),
            Self::FileTreeWithoutMetaVersion => write!(
                f,
                "info: has a v2 `file tree` but no `meta version` 2 and no v1 `pieces`"
            ),
            Self::PieceLengthNotPowerOfTwo(n) => write!(
                f,
                "info.piece length: {n} is not a power of two, as BitTorrent v2 requires"
            ),
            Self::BadFileTree(what) => write!(f, "info.file tree: {what}"),
            Self::MissingPiecesRoot => write!(
                f,
                "info.file tree: a non-empty file has no valid 32-byte `pieces root`"
            ),
            Self::HybridMismatch(what) => write!(
                f,
                "hybrid torrent whose v1 and v2 halves describe different files: {what}"
            ),
            Self::BadPieceLayer(what) => write!(f, "piece layers: {what}"),
            Self::UnsupportedMetaVersion(v) => {
                write!(f, "info.meta version: {v} is not supported")
            }
        }
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl std::error::Error for MetainfoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bencode(e) => Some(e),
            Self::UnsafePath { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PathSanitized {
                field,
                original,
                sanitized,
                changes,
            } => {
                let what: Vec<String> = changes.iter().map(ToString::to_string).collect();
                match sanitized {
                    Some(s) => write!(
                        f,
                        "{field}: {original:?} became {s:?} ({})",
                        what.join(", ")
                    ),
                    None => write!(f, "{field}: component {original:?} dropped"),
                }
            }
            Self::DuplicatePath {
                file,
                original,
                renamed,
            } => write!(
                f,
                "file {file}: path {original:?} is already taken, renamed to {renamed:?}"
            ),
            Self::LossyText(field) => write!(f, "{field}: invalid UTF-8 replaced"),
            Self::SymlinkOutside { file, target } => write!(
                f,
                "file {file}: symbolic link to {target:?}, which is not in the torrent: \
                 created as an empty file"
            ),
            Self::TrailingBytes(n) => {
                write!(f, "{n} bytes after the top-level dictionary ignored")
            }
            Self::NameFromInfoHash(name) => write!(
                f,
                "info.name: nothing left after sanitizing, the top directory is {name:?}"
            ),
        }
    }
}
