//! .torrent files: parsing, validation, safe file paths.
//!
//! [`Metainfo::from_bytes`] parses a whole .torrent; [`Metainfo::from_info_bytes`] parses the
//! bare `info` dictionary a magnet download receives over ut_metadata. Both validate the piece
//! geometry, turn every file path into a [`RelativePath`] (sanitized by libtorrent 2.0's rules,
//! so that `..`, absolute paths and separators can never lead outside the download directory,
//! and a torrent gets the names libtorrent gives it), and keep the exact `info` bytes: the
//! info-hashes are SHA-1 (v1) and SHA-256 (v2) over them, never over a re-encoding.
//!
//! BitTorrent v2 (BEP 52) and hybrid torrents are read too (see `v2.rs`): the `file tree`, each
//! file's `pieces root`, the `piece layers` (checked against the roots), and for a hybrid the
//! check that both halves describe the same files.

mod collisions;
mod error;
mod files;
mod parse;
mod path;
mod piece_hash;
mod sanitize;
mod symlinks;
mod v2;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::id::{InfoHash, InfoHashes};
use crate::layout::Layout;
use crate::merkle::Hash;

pub use error::{MetainfoError, Warning};
pub use path::{MAX_COMPONENT_LEN, PathError, PathRules, RelativePath};
pub use piece_hash::PieceHash;
pub use sanitize::{Component, Sanitization, sanitize_component, sanitize_component_with};
pub use v2::MAX_FILE_TREE_DEPTH;

/// Piece lengths must be a multiple of this (one block), as libtorrent requires.
pub const PIECE_LENGTH_MULTIPLE: u32 = 16 * 1024;

/// The largest piece length accepted (512 MiB): a piece is held in memory while it is hashed.
pub const MAX_PIECE_LENGTH: u32 = 512 * 1024 * 1024;
/// The most BEP 17 HTTP seeds taken from a .torrent's `httpseeds`.
pub const MAX_HTTP_SEEDS: usize = 16;

/// A parsed, validated .torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    info_hashes: InfoHashes,
    /// Shared with every ut_metadata server of the torrent (see [`Metainfo::info`]).
    info_bytes: Bytes,
    name: String,
    /// Where the SHA-1 piece hashes are in `info_bytes` (empty for a v2-only torrent): they
    /// are read there, not copied.
    pieces: Range<usize>,
    files: Vec<FileEntry>,
    layout: Layout,
    private: bool,
    version: MetaVersion,
    v2: Option<v2::V2Data>,
    trackers: Vec<Vec<String>>,
    url_list: Vec<String>,
    http_seeds: Vec<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    single_file: bool,
    warnings: Vec<Warning>,
}

/// One file of a torrent, in torrent order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Where it goes, relative to the download directory. The torrent's name is the first
    /// component (for a single-file torrent it is the whole path).
    pub path: RelativePath,
    /// Its length in bytes (may be zero).
    pub length: u64,
    /// A BEP 47 padding file (`attr` contains `p`): zeros that are never written to disk.
    pub padding: bool,
    /// A BEP 47 symbolic link (`attr` contains `l`): the file it points to, a path of this
    /// torrent (the torrent's name first, like [`FileEntry::path`]). Set only when the target
    /// is a file or directory of the torrent; a link to anywhere else is a plain empty file.
    /// A link holds no data (`length` is 0).
    pub symlink: Option<RelativePath>,
}

/// Which BitTorrent metainfo versions a torrent carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaVersion {
    /// BitTorrent v1 only.
    V1,
    /// v1 and v2 (BEP 52 hybrid): downloaded as v1, once both halves were found to describe
    /// the same files.
    Hybrid,
    /// BitTorrent v2 only (BEP 52): no v1 `pieces`, so no SHA-1 piece hashes.
    V2,
}

impl Metainfo {
    /// Parses and validates a whole .torrent file.
    pub fn from_bytes(torrent: &[u8]) -> Result<Self, MetainfoError> {
        parse::torrent(torrent)
    }

    /// Parses and validates a bare bencoded `info` dictionary (what ut_metadata delivers). The
    /// result has no trackers, comment or dates; the caller checks that [`Metainfo::info_hash`]
    /// is the one it asked for.
    pub fn from_info_bytes(info_bytes: &[u8]) -> Result<Self, MetainfoError> {
        parse::info_only(info_bytes)
    }

    /// The 20-byte id used with trackers, the DHT and in the handshake: the v1 info-hash
    /// (SHA-1 of the raw `info` bytes) of a v1 or hybrid torrent, the v2 info-hash truncated
    /// to 20 bytes for a v2-only one.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hashes.id()
    }

    /// The v1 and v2 info-hashes, as the torrent has them.
    pub fn info_hashes(&self) -> InfoHashes {
        self.info_hashes
    }

    /// The `pieces root` of file `file` (v2 and hybrid torrents; `None` for a v1 torrent, an
    /// empty file, a padding file or a symlink).
    pub fn pieces_root(&self, file: usize) -> Option<&Hash> {
        self.v2.as_ref()?.roots.get(file)?.as_ref()
    }

    /// The piece layer of file `file` (one SHA-256 per piece of the file), if the .torrent had
    /// it: checked to hash up to the file's root. `None` for a file no longer than one piece
    /// (its root covers it), and for layers still to be fetched from peers.
    pub fn piece_layer(&self, file: usize) -> Option<&[Hash]> {
        let v2 = self.v2.as_ref()?;
        let root = v2.roots.get(file)?.as_ref()?;
        if self.files().get(file)?.length <= u64::from(self.piece_length()) {
            return None;
        }
        v2.piece_layers.get(root).map(Vec::as_slice)
    }

    /// Every piece layer known, by `pieces root` (what a .torrent's `piece layers` holds).
    pub fn piece_layers(&self) -> impl Iterator<Item = (&Hash, &[Hash])> {
        self.v2
            .iter()
            .flat_map(|v2| v2.piece_layers.iter().map(|(k, v)| (k, v.as_slice())))
    }

    /// The files that need a piece layer the metainfo lacks: (file index, `pieces root`,
    /// length), one per distinct root, in file order.
    pub fn missing_piece_layers(&self) -> Vec<(usize, Hash, u64)> {
        let mut out: Vec<(usize, Hash, u64)> = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let Some(root) = self.pieces_root(i) else {
                continue;
            };
            if f.length > u64::from(self.piece_length())
                && self.piece_layer(i).is_none()
                && !out.iter().any(|(_, r, _)| r == root)
            {
                out.push((i, *root, f.length));
            }
        }
        out
    }

    /// Records `layer` as the piece layer of the files whose root is `root`, if it hashes up
    /// to that root (as [`Metainfo::from_bytes`] checks `piece layers`). Returns `false`, and
    /// changes nothing, if no file longer than one piece has that root or the layer does not
    /// prove.
    pub fn add_piece_layer(&mut self, root: Hash, layer: Vec<Hash>) -> bool {
        let length = (0..self.files.len())
            .find(|&i| {
                self.pieces_root(i) == Some(&root)
                    && self.files[i].length > u64::from(self.piece_length())
            })
            .map(|i| self.files[i].length);
        let Some(length) = length else {
            return false;
        };
        if crate::merkle::root_from_piece_layer(&layer, self.piece_length(), length) != Some(root) {
            return false;
        }
        match self.v2.as_mut() {
            Some(v2) => {
                v2.piece_layers.insert(root, layer);
                true
            }
            None => false,
        }
    }

    /// Whether every file longer than one piece has its piece layer (a .torrent from
    /// libtorrent does; one from metadata exchange has none). Always true for v1 torrents.
    pub fn has_all_piece_layers(&self) -> bool {
        (0..self.files.len()).all(|i| {
            self.pieces_root(i).is_none()
                || self.files[i].length <= u64::from(self.piece_length())
                || self.piece_layer(i).is_some()
        })
    }

    /// Whether the torrent is v2-only and lacks the piece layer of a file longer than one
    /// piece: its pieces cannot be checked until the layers are fetched from peers (a hybrid
    /// is checked through its v1 half).
    pub fn needs_piece_layers(&self) -> bool {
        self.version == MetaVersion::V2 && !self.has_all_piece_layers()
    }

    /// The exact bencoded `info` dictionary, as served to peers over ut_metadata.
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// The same bytes as [`Metainfo::info_bytes`], as a handle sharing them (no copy).
    pub fn info(&self) -> Bytes {
        self.info_bytes.clone()
    }

    /// The torrent's name (sanitized): the file name of a single-file torrent, the top
    /// directory of a multi-file one.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nominal piece length in bytes.
    pub fn piece_length(&self) -> u32 {
        self.layout.piece_length()
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count()
    }

    /// The SHA-1 of every piece, in order (empty for a v2-only torrent).
    pub fn piece_hashes(&self) -> &[[u8; 20]] {
        self.info_bytes
            .get(self.pieces.clone())
            .map_or(&[], |p| p.as_chunks::<20>().0)
    }

    /// The SHA-1 `piece` must have, or `None` past the end.
    pub fn piece_hash(&self, piece: u32) -> Option<&[u8; 20]> {
        self.piece_hashes().get(piece as usize)
    }

    /// The files, in torrent order (padding files included; see [`FileEntry::padding`]).
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The BEP 47 symbolic links to create: `(file index, target)` for each file whose
    /// [`FileEntry::symlink`] is set, the target a path of this torrent.
    pub fn symlinks(&self) -> Arc<[(usize, RelativePath)]> {
        self.files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, f.symlink.clone()?)))
            .collect()
    }

    /// Whether this is a single-file torrent (`info.length` rather than `info.files`).
    pub fn is_single_file(&self) -> bool {
        self.single_file
    }

    /// The piece/file geometry for storage.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Total bytes of the torrent, padding included.
    pub fn total_length(&self) -> u64 {
        self.layout.total_length()
    }

    /// BEP 27: peers come only from the torrent's trackers (no DHT, no PEX).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Which metainfo versions the torrent carries.
    pub fn version(&self) -> MetaVersion {
        self.version
    }

    /// Tracker tiers (BEP 12): `announce-list` if it has any URL, else `announce` as one tier.
    pub fn trackers(&self) -> &[Vec<String>] {
        &self.trackers
    }

    /// BEP 19 web seeds (`url-list`).
    pub fn url_list(&self) -> &[String] {
        &self.url_list
    }

    /// BEP 17 HTTP seeds (`httpseeds`): at most [`MAX_HTTP_SEEDS`] distinct http(s) URLs;
    /// anything else in the list is left out.
    pub fn http_seeds(&self) -> &[String] {
        &self.http_seeds
    }

    /// The free-text `comment`.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The `created by` string.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// The `creation date`, seconds since the Unix epoch, as the torrent states it.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }

    /// What was repaired while parsing (sanitized paths, renamed duplicates, lossy text).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_symlink_tests;
#[cfg(test)]
mod v2_tests;
