//! Building a .torrent from files and their piece hashes.
//!
//! [`TorrentBuilder`] takes the file list (relative paths and lengths), the piece length, the
//! trackers and the other fields, gives the caller the [`Layout`] to hash against, and turns the
//! piece hashes into canonical .torrent bytes. Reading and hashing the content is the caller's
//! job (the CLI does it on every core): core reads no file and spawns no thread. The creation
//! date is passed in, never read from the clock.

use std::collections::HashSet;
use std::fmt;

use crate::bencode::Encoder;
use crate::layout::{Layout, LayoutError};
use crate::metainfo::{MAX_PIECE_LENGTH, PIECE_LENGTH_MULTIPLE, PathError, RelativePath};

/// Describes a torrent to create; [`TorrentBuilder::build`] emits it once the pieces are hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentBuilder {
    name: String,
    /// `None` for a single-file torrent (the name is the file).
    files: Vec<(Option<RelativePath>, u64)>,
    piece_length: Option<u32>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    private: bool,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
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
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
        }
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
    /// with their lengths, in torrent order: file `i` of [`TorrentBuilder::layout`].
    pub fn files(&self) -> &[(Option<RelativePath>, u64)] {
        &self.files
    }

    /// The piece geometry to hash against: hash every piece of it, in order, and pass the
    /// hashes to [`TorrentBuilder::build`].
    pub fn layout(&self) -> Result<Layout, CreateError> {
        let pl = self.effective_piece_length();
        if pl == 0 || !pl.is_multiple_of(PIECE_LENGTH_MULTIPLE) || pl > MAX_PIECE_LENGTH {
            return Err(CreateError::BadPieceLength(pl));
        }
        let layout =
            Layout::new(pl, self.files.iter().map(|(_, l)| (*l, false))).map_err(|e| match e {
                LayoutError::TotalLengthOverflow => CreateError::TotalLengthOverflow,
                _ => CreateError::TooManyPieces,
            })?;
        if layout.total_length() == 0 {
            return Err(CreateError::Empty);
        }
        Ok(layout)
    }

    /// Emits canonical .torrent bytes (sorted keys, minimal integers) with these piece hashes.
    pub fn build(&self, piece_hashes: &[[u8; 20]]) -> Result<Vec<u8>, CreateError> {
        let layout = self.layout()?;
        if piece_hashes.len() != layout.piece_count() as usize {
            return Err(CreateError::PieceCount {
                expected: layout.piece_count(),
                given: piece_hashes.len(),
            });
        }
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
        e.bytes(b"info");
        self.write_info(&mut e, layout.piece_length(), piece_hashes);
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

    fn write_info(&self, e: &mut Encoder, piece_length: u32, piece_hashes: &[[u8; 20]]) {
        e.dict();
        match self.files.as_slice() {
            [(None, length)] => {
                e.bytes(b"length").int(as_i64(*length));
            }
            files => {
                e.bytes(b"files").list();
                for (path, length) in files {
                    e.dict().bytes(b"length").int(as_i64(*length));
                    e.bytes(b"path").list();
                    for c in path.iter().flat_map(|p| p.components()) {
                        e.bytes(c.as_bytes());
                    }
                    e.end().end();
                }
                e.end();
            }
        }
        e.bytes(b"name").bytes(self.name.as_bytes());
        e.bytes(b"piece length").int(i64::from(piece_length));
        e.bytes(b"pieces").bytes(piece_hashes.as_flattened());
        if self.private {
            e.bytes(b"private").int(1);
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
mod tests {
    use super::*;
    use crate::bencode::Decoder;
    use crate::id::sha1_digest;
    use crate::metainfo::Metainfo;

    fn rel(p: &str) -> RelativePath {
        RelativePath::from_components(p.split('/')).unwrap()
    }

    #[test]
    fn auto_piece_length_scales() {
        assert_eq!(auto_piece_length(0), 16 * 1024);
        assert_eq!(auto_piece_length(10_000_000), 8192 * 2);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(1 << 40), 16 << 20);
        for total in [1u64, 1 << 20, 700 << 20, 5 << 30, u64::MAX] {
            let pl = auto_piece_length(total);
            assert!(
                pl.is_power_of_two() && (16384..=16 << 20).contains(&pl),
                "{total}"
            );
        }
    }

    #[test]
    fn single_file_round_trips_through_the_parser() {
        let b = TorrentBuilder::single_file("data.bin", 40_000)
            .unwrap()
            .piece_length(16384)
            .tracker_tier(vec!["http://a/announce".into()])
            .comment("hi".into())
            .created_by("sanstorrent".into())
            .creation_date(1_700_000_000)
            .private(true);
        let layout = b.layout().unwrap();
        assert_eq!(layout.piece_count(), 3);
        let hashes: Vec<[u8; 20]> = (0..3u8).map(|i| sha1_digest(&[i])).collect();
        let bytes = b.build(&hashes).unwrap();
        // Canonical: the strict decoder accepts it.
        Decoder::new(&bytes).strict(true).decode().unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.name(), "data.bin");
        assert!(m.is_single_file() && m.is_private());
        assert_eq!(m.piece_hashes(), &hashes[..]);
        assert_eq!(m.trackers(), &[vec!["http://a/announce".to_string()]]);
        assert_eq!(m.comment(), Some("hi"));
        assert_eq!(m.created_by(), Some("sanstorrent"));
        assert_eq!(m.creation_date(), Some(1_700_000_000));
        // The announce-list is written only for more than one tracker.
        assert!(!bytes.windows(13).any(|w| w == b"announce-list"));
    }

    #[test]
    fn multi_file_round_trips_with_tiers() {
        let b = TorrentBuilder::multi_file(
            "top",
            vec![
                (rel("a.txt"), 5),
                (rel("sub/empty"), 0),
                (rel("sub/b.bin"), 70_000),
            ],
        )
        .unwrap()
        .piece_length(32768)
        .tracker_tier(vec!["http://a/1".into(), "http://b/2".into()])
        .tracker_tier(vec!["udp://c/3".into()])
        .web_seed("http://w/".into());
        let hashes = vec![[1u8; 20]; 3];
        let bytes = b.build(&hashes).unwrap();
        Decoder::new(&bytes).strict(true).decode().unwrap();
        let m = Metainfo::from_bytes(&bytes).unwrap();
        let files: Vec<(String, u64)> = m
            .files()
            .iter()
            .map(|f| (f.path.to_string(), f.length))
            .collect();
        assert_eq!(
            files,
            [
                ("top/a.txt".to_string(), 5),
                ("top/sub/empty".to_string(), 0),
                ("top/sub/b.bin".to_string(), 70_000)
            ]
        );
        assert_eq!(m.trackers().len(), 2);
        assert_eq!(m.trackers()[0].len(), 2);
        assert_eq!(m.url_list(), &["http://w/".to_string()]);
        assert!(!m.is_private());
    }

    #[test]
    fn bad_descriptions_are_refused() {
        assert!(matches!(
            TorrentBuilder::single_file("..", 1),
            Err(CreateError::BadName(_))
        ));
        assert_eq!(
            TorrentBuilder::multi_file("x", vec![]),
            Err(CreateError::NoFiles)
        );
        assert_eq!(
            TorrentBuilder::multi_file("x", vec![(rel("a"), 1), (rel("a"), 2)]),
            Err(CreateError::DuplicatePath("a".into()))
        );
        assert_eq!(
            TorrentBuilder::multi_file("x", vec![(rel("a"), 1), (rel("a/b"), 2)]),
            Err(CreateError::FileIsDirectory("a".into()))
        );
        let b = TorrentBuilder::single_file("f", 10).unwrap();
        assert_eq!(
            b.clone().piece_length(1000).layout(),
            Err(CreateError::BadPieceLength(1000))
        );
        assert_eq!(
            b.build(&[]),
            Err(CreateError::PieceCount {
                expected: 1,
                given: 0
            })
        );
        assert_eq!(
            TorrentBuilder::single_file("f", 0).unwrap().layout(),
            Err(CreateError::Empty)
        );
        let huge = TorrentBuilder::multi_file("x", vec![(rel("a"), u64::MAX), (rel("b"), 1)])
            .unwrap()
            .piece_length(16384);
        assert_eq!(huge.layout(), Err(CreateError::TotalLengthOverflow));
    }
}
