//! Building a .torrent from files and their piece hashes.
//!
//! [`TorrentBuilder`] takes the file list (relative paths and lengths), the piece length, the
//! trackers and the other fields, gives the caller the [`Layout`] to hash against, and turns the
//! piece hashes into canonical .torrent bytes. Reading and hashing the content is the caller's
//! job (the CLI does it on every core): core reads no file and spawns no thread. The creation
//! date is passed in, never read from the clock.
//!
//! A torrent is made as BitTorrent v1, v2 (BEP 52) or hybrid ([`TorrentFormat`]). For v2 and
//! hybrid the files are kept in `file tree` order and every file starts on a piece boundary
//! (BEP 47 padding files in the layout, and in a hybrid's v1 list); the caller gives each
//! piece's merkle digest as well ([`crate::merkle::V2Piece::digest`]) and the builder derives
//! the `pieces root`s and `piece layers`.

mod v2;

use std::collections::HashSet;
use std::fmt;

use crate::bencode::Encoder;
use crate::layout::{Layout, LayoutError};
use crate::merkle::Hash;
use crate::metainfo::{MAX_PIECE_LENGTH, PIECE_LENGTH_MULTIPLE, PathError, RelativePath};
use v2::Entry;

/// Which BitTorrent versions a created torrent carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TorrentFormat {
    /// v1 only: SHA-1 piece hashes over the files laid end to end.
    #[default]
    V1,
    /// v2 only (BEP 52): a merkle tree per file, each file on a piece boundary.
    V2,
    /// Both halves, describing the same files (v1 with BEP 47 padding files between them).
    Hybrid,
}

impl TorrentFormat {
    /// Whether the torrent has a v1 half (SHA-1 piece hashes).
    pub fn has_v1(self) -> bool {
        self != Self::V2
    }

    /// Whether the torrent has a v2 half (merkle trees).
    pub fn has_v2(self) -> bool {
        self != Self::V1
    }
}

/// Describes a torrent to create; [`TorrentBuilder::build`] emits it once the pieces are hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentBuilder {
    name: String,
    /// `None` for a single-file torrent (the name is the file).
    files: Vec<(Option<RelativePath>, u64)>,
    piece_length: Option<u32>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    http_seeds: Vec<String>,
    private: bool,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    format: TorrentFormat,
}

/// Why a torrent cannot be built as described.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateError {
    /// The name is not a safe single path component.
    BadName(PathError),
    /// A multi-file torrent with no files.
    NoFiles,
    /// The files hold no data at all (total length 0): peers would refuse the torrent.
    Empty,
    /// Two files have the same path.
    DuplicatePath(String),
    /// A file's path is also a directory of another file.
    FileIsDirectory(String),
    /// The piece length is not a positive multiple of 16 KiB up to 512 MiB.
    BadPieceLength(u32),
    /// A v2 or hybrid torrent's piece length is not a power of two (BEP 52).
    PieceLengthNotPowerOfTwo(u32),
    /// The files add up to more than 2^63 - 1 bytes.
    TotalLengthOverflow,
    /// More pieces than a `u32` index can name.
    TooManyPieces,
    /// [`TorrentBuilder::build`] got a different number of hashes than the layout has pieces.
    PieceCount {
        /// Pieces in the layout.
        expected: u32,
        /// Hashes given.
        given: usize,
    },
    /// The v2 digests given do not describe the files (one per piece of the layout).
    V2Digests,
}

/// A piece length for a torrent of `total` bytes: a power of two giving about 1,000 to 2,000
/// pieces, between 16 KiB and 16 MiB (1 GiB gets 1 MiB pieces).
pub fn auto_piece_length(total: u64) -> u32 {
    const MIN: u64 = PIECE_LENGTH_MULTIPLE as u64;
    const MAX: u64 = 16 * 1024 * 1024;
    let target = (total / 1500).clamp(MIN, MAX);
    // Both bounds are powers of two, so the result stays within them.
    target.next_power_of_two().min(MAX) as u32
}

impl TorrentBuilder {
    /// A single-file torrent: `name` is the file's name.
    pub fn single_file(name: &str, length: u64) -> Result<Self, CreateError> {
        let name = checked_name(name)?;
        Ok(Self::new(name, vec![(None, length)]))
    }

    /// A multi-file torrent: the files go in a directory called `name`, each at its path
    /// relative to that directory, in the order given.
    pub fn multi_file(name: &str, files: Vec<(RelativePath, u64)>) -> Result<Self, CreateError> {
        let name = checked_name(name)?;
        if files.is_empty() {
            return Err(CreateError::NoFiles);
        }
        let mut paths = HashSet::new();
        let mut dirs = HashSet::new();
        for (path, _) in &files {
            if !paths.insert(path.components()) {
                return Err(CreateError::DuplicatePath(path.to_string()));
            }
            for end in 1..path.components().len() {
                dirs.insert(&path.components()[..end]);
            }
        }
        if let Some(path) = paths.iter().find(|p| dirs.contains(*p)) {
            return Err(CreateError::FileIsDirectory(path.join("/")));
        }
        let files = files.into_iter().map(|(p, l)| (Some(p), l)).collect();
        Ok(Self::new(name, files))
    }

    fn new(name: String, files: Vec<(Option<RelativePath>, u64)>) -> Self {
        Self {
            name,
            files,
            piece_length: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            http_seeds: Vec::new(),
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            format: TorrentFormat::V1,
        }
    }

    /// Sets the format (default [`TorrentFormat::V1`]). For v2 and hybrid the files are put
    /// in `file tree` order (sorted by path), which [`TorrentBuilder::files`] then shows.
    pub fn format(mut self, format: TorrentFormat) -> Self {
        self.format = format;
        if format.has_v2() {
            self.files.sort_by(|a, b| a.0.cmp(&b.0));
        }
        self
    }

    /// Sets the piece length (default: [`auto_piece_length`] of the total).
    pub fn piece_length(mut self, piece_length: u32) -> Self {
        self.piece_length = Some(piece_length);
        self
    }

    /// Appends a tier of tracker URLs (BEP 12); empty tiers are ignored.
    pub fn tracker_tier(mut self, tier: Vec<String>) -> Self {
        if !tier.is_empty() {
            self.trackers.push(tier);
        }
        self
    }

    /// Adds a BEP 19 web seed URL (`url-list`).
    pub fn web_seed(mut self, url: String) -> Self {
        self.web_seeds.push(url);
        self
    }

    /// Adds a BEP 17 HTTP seed URL (`httpseeds`).
    pub fn http_seed(mut self, url: String) -> Self {
        self.http_seeds.push(url);
        self
    }

    /// Marks the torrent private (BEP 27): no DHT, no PEX.
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Sets the free-text comment.
    pub fn comment(mut self, comment: String) -> Self {
        self.comment = Some(comment);
        self
    }

    /// Sets the `created by` string.
    pub fn created_by(mut self, created_by: String) -> Self {
        self.created_by = Some(created_by);
        self
    }

    /// Sets the creation date (seconds since the Unix epoch; the caller reads the clock).
    pub fn creation_date(mut self, seconds: i64) -> Self {
        self.creation_date = Some(seconds);
        self
    }

    /// Total bytes of all files.
    pub fn total_length(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |acc, (_, l)| acc.saturating_add(*l))
    }

    /// The piece length that will be used (the one set, or the automatic one).
    pub fn effective_piece_length(&self) -> u32 {
        self.piece_length
            .unwrap_or_else(|| auto_piece_length(self.total_length()))
    }

    /// The files' paths relative to the torrent's directory (`None` for a single-file torrent),
    /// with their lengths, in torrent order (see [`TorrentBuilder::layout_files`]).
    pub fn files(&self) -> &[(Option<RelativePath>, u64)] {
        &self.files
    }

    /// For each file of [`TorrentBuilder::layout`], the index in [`TorrentBuilder::files`] of
    /// the file it is, or `None` for a padding file (zeros).
    pub fn layout_files(&self) -> Vec<Option<usize>> {
        self.entries()
            .iter()
            .map(|e| match e {
                Entry::File(i) => Some(*i),
                Entry::Pad(_) => None,
            })
            .collect()
    }

    fn entries(&self) -> Vec<Entry> {
        if self.format.has_v2() {
            let lengths: Vec<u64> = self.files.iter().map(|(_, l)| *l).collect();
            let single = matches!(self.files.as_slice(), [(None, _)]);
            v2::entries(&lengths, self.effective_piece_length(), single)
        } else {
            (0..self.files.len()).map(Entry::File).collect()
        }
    }

    /// The piece geometry to hash against: hash every piece of it, in order, and pass the
    /// hashes to [`TorrentBuilder::build`].
    pub fn layout(&self) -> Result<Layout, CreateError> {
        let pl = self.effective_piece_length();
        if pl == 0 || !pl.is_multiple_of(PIECE_LENGTH_MULTIPLE) || pl > MAX_PIECE_LENGTH {
            return Err(CreateError::BadPieceLength(pl));
        }
        if self.format.has_v2() && !pl.is_power_of_two() {
            return Err(CreateError::PieceLengthNotPowerOfTwo(pl));
        }
        let extents = self.entries().into_iter().map(|e| match e {
            Entry::File(i) => (self.files[i].1, false),
            Entry::Pad(n) => (n, true),
        });
        let layout = Layout::new(pl, extents).map_err(|e| match e {
            LayoutError::TotalLengthOverflow => CreateError::TotalLengthOverflow,
            _ => CreateError::TooManyPieces,
        })?;
        if layout.total_length() == 0 {
            return Err(CreateError::Empty);
        }
        Ok(layout)
    }

    /// Emits canonical .torrent bytes (sorted keys, minimal integers) with these piece hashes
    /// (a v1 torrent; see [`TorrentBuilder::build_with`] for the other formats).
    pub fn build(&self, piece_hashes: &[[u8; 20]]) -> Result<Vec<u8>, CreateError> {
        self.build_with(piece_hashes, &[])
    }

    /// Emits canonical .torrent bytes: `piece_hashes` are the SHA-1 of each piece of
    /// [`TorrentBuilder::layout`] (ignored for v2), `v2_digests` each piece's merkle digest
    /// ([`crate::merkle::V2Piece::digest`]; ignored for v1).
    pub fn build_with(
        &self,
        piece_hashes: &[[u8; 20]],
        v2_digests: &[Hash],
    ) -> Result<Vec<u8>, CreateError> {
        let layout = self.layout()?;
        let count = |given: usize| {
            if given == layout.piece_count() as usize {
                Ok(())
            } else {
                Err(CreateError::PieceCount {
                    expected: layout.piece_count(),
                    given,
                })
            }
        };
        if self.format.has_v1() {
            count(piece_hashes.len())?;
        }
        let v2 = if self.format.has_v2() {
            count(v2_digests.len())?;
            let entries = self.entries();
            Some(
                v2::roots_and_layers(&layout, &entries, self.files.len(), v2_digests)
                    .ok_or(CreateError::V2Digests)?,
            )
        } else {
            None
        };
        let mut e = Encoder::new();
        e.dict();
        let urls: Vec<&String> = self.trackers.iter().flatten().collect();
        if let Some(first) = urls.first() {
            e.bytes(b"announce").bytes(first.as_bytes());
        }
        if urls.len() > 1 {
            e.bytes(b"announce-list").list();
            for tier in &self.trackers {
                e.list();
                for url in tier {
                    e.bytes(url.as_bytes());
                }
                e.end();
            }
            e.end();
        }
        if let Some(c) = &self.comment {
            e.bytes(b"comment").bytes(c.as_bytes());
        }
        if let Some(c) = &self.created_by {
            e.bytes(b"created by").bytes(c.as_bytes());
        }
        if let Some(d) = self.creation_date {
            e.bytes(b"creation date").int(d);
        }
        if !self.http_seeds.is_empty() {
            e.bytes(b"httpseeds").list();
            for url in &self.http_seeds {
                e.bytes(url.as_bytes());
            }
            e.end();
        }
        e.bytes(b"info");
        let roots = v2.as_ref().map(|(roots, _)| roots.as_slice());
        self.write_info(&mut e, layout.piece_length(), piece_hashes, roots);
        if let Some((_, layers)) = &v2
            && !layers.is_empty()
        {
            v2::write_piece_layers(&mut e, layers);
        }
        if !self.web_seeds.is_empty() {
            e.bytes(b"url-list").list();
            for url in &self.web_seeds {
                e.bytes(url.as_bytes());
            }
            e.end();
        }
        e.end();
        Ok(e.finish())
    }

    fn write_info(
        &self,
        e: &mut Encoder,
        piece_length: u32,
        piece_hashes: &[[u8; 20]],
        roots: Option<&[Option<Hash>]>,
    ) {
        e.dict();
        if let Some(roots) = roots {
            v2::write_file_tree(e, &self.name, &self.files, roots);
        }
        if self.format.has_v1() {
            self.write_v1_files(e);
        }
        if self.format.has_v2() {
            e.bytes(b"meta version").int(2);
        }
        e.bytes(b"name").bytes(self.name.as_bytes());
        e.bytes(b"piece length").int(i64::from(piece_length));
        if self.format.has_v1() {
            e.bytes(b"pieces").bytes(piece_hashes.as_flattened());
        }
        if self.private {
            e.bytes(b"private").int(1);
        }
        e.end();
    }
}

impl TorrentBuilder {
    /// `length` of a single file, or the `files` list (padding files included).
    fn write_v1_files(&self, e: &mut Encoder) {
        if let [(None, length)] = self.files.as_slice() {
            e.bytes(b"length").int(as_i64(*length));
            return;
        }
        e.bytes(b"files").list();
        for entry in self.entries() {
            match entry {
                Entry::File(i) => {
                    let (path, length) = &self.files[i];
                    e.dict().bytes(b"length").int(as_i64(*length));
                    e.bytes(b"path").list();
                    for c in path.iter().flat_map(|p| p.components()) {
                        e.bytes(c.as_bytes());
                    }
                }
                Entry::Pad(length) => {
                    e.dict().bytes(b"attr").bytes(b"p");
                    e.bytes(b"length").int(as_i64(length));
                    e.bytes(b"path").list().bytes(b".pad");
                    e.bytes(length.to_string().as_bytes());
                }
            }
            e.end().end();
        }
        e.end();
    }
}

/// Lengths were checked by [`Layout::new`] to add up to at most `i64::MAX`.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn checked_name(name: &str) -> Result<String, CreateError> {
    RelativePath::from_components([name]).map_err(CreateError::BadName)?;
    Ok(name.to_owned())
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName(e) => write!(f, "torrent name: {e}"),
            Self::NoFiles => write!(f, "no files to put in the torrent"),
            Self::Empty => write!(f, "the files hold no data (total length 0)"),
            Self::DuplicatePath(p) => write!(f, "two files have the path {p:?}"),
            Self::FileIsDirectory(p) => {
                write!(f, "{p:?} is both a file and a directory of another file")
            }
            Self::BadPieceLength(n) => write!(
                f,
                "piece length {n} is not a positive multiple of 16384 up to {MAX_PIECE_LENGTH}"
            ),
            Self::PieceLengthNotPowerOfTwo(n) => write!(
                f,
                "piece length {n} is not a power of two (v2 and hybrid torrents need one)"
            ),
            Self::V2Digests => write!(f, "the v2 piece digests do not describe the files"),
            Self::TotalLengthOverflow => write!(f, "the files add up to more than 2^63 - 1 bytes"),
            Self::TooManyPieces => write!(f, "too many pieces: choose a larger piece length"),
            Self::PieceCount { expected, given } => {
                write!(f, "{given} piece hashes given for {expected} pieces")
            }
        }
    }
}

impl std::error::Error for CreateError {}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
