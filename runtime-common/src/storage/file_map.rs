//! [`FileMap`]: files a torrent keeps under other paths than its metainfo gives them (renamed
//! by the application), how a set of renames is checked ([`FileMap::with_renames`]) and
//! carried out on disk ([`apply_moves`]), and the state file that keeps the map across
//! restarts ([`FileMap::encode`], beside the torrent's resume data).
//!
//! A rename is crash-safe: the state file is first saved with the new map and the moves still
//! to do (`pending`), then the files are renamed, then the file is saved without them. A
//! start that finds moves pending finishes them ([`finish_pending`]): the map always names
//! where the data is meant to be.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sanstorrent_core::bencode::{Decoder, Encoder, Value};
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::{IoOp, StorageError};

/// The state file format version written and accepted.
const VERSION: i64 = 1;

/// Per-file paths that differ from the metainfo's, by file index (padding files included in
/// the numbering, as in the layout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileMap {
    renamed: BTreeMap<usize, RelativePath>,
}

/// One file's rename on disk, relative to the torrent's download directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMove {
    /// The file index.
    pub file: usize,
    /// Where its data was.
    pub from: RelativePath,
    /// Where it goes.
    pub to: RelativePath,
}

/// Why renames cannot be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum RenameError {
    /// No such file index, or a padding file (never on disk).
    NoSuchFile(usize),
    /// The same file is renamed twice in one request.
    Twice(usize),
    /// Two files would have the same path.
    Collision(String),
    /// A file would sit where another one's folder is (or the other way round).
    FolderConflict(String),
    /// The torrent's files are not known yet (a magnet link fetching its metadata).
    NoMetadata,
    /// Something else is already at a new path on disk.
    Exists(PathBuf),
    /// The torrent is renaming files already.
    Busy,
    /// The state file is damaged.
    Format(&'static str),
    /// The file system refused.
    Io(StorageError),
}

impl fmt::Display for RenameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchFile(i) => write!(f, "file index {i} is not a file of the torrent"),
            Self::Twice(i) => write!(f, "file index {i} is renamed twice"),
            Self::Collision(p) => write!(f, "two files would be named {p}"),
            Self::FolderConflict(p) => write!(f, "{p} would be both a file and a folder"),
            Self::NoMetadata => f.write_str("the torrent's files are not known yet"),
            Self::Exists(p) => write!(f, "{} exists already", p.display()),
            Self::Busy => f.write_str("the torrent is renaming files already"),
            Self::Format(what) => write!(f, "file map: {what}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RenameError {}

impl FileMap {
    /// Whether no file is renamed.
    pub fn is_empty(&self) -> bool {
        self.renamed.is_empty()
    }

    /// File `file`'s path: its new one, or `original` (the metainfo's).
    pub fn path<'a>(&'a self, file: usize, original: &'a RelativePath) -> &'a RelativePath {
        self.renamed.get(&file).unwrap_or(original)
    }

    /// Every file's path, given the metainfo's (one per file, padding included). Entries for
    /// indices past the list are ignored.
    pub fn paths(&self, original: &[RelativePath]) -> Vec<RelativePath> {
        original
            .iter()
            .enumerate()
            .map(|(i, p)| self.path(i, p).clone())
            .collect()
    }

    /// Whether the map fits a torrent with these metainfo paths and padding flags: every entry
    /// a stored file's, no two paths the same, none another's folder. (A map read from disk
    /// is checked so before use.)
    pub fn fits(&self, original: &[RelativePath], padding: &[bool]) -> bool {
        let entries_fit = self
            .renamed
            .keys()
            .all(|i| *i < original.len() && !padding.get(*i).copied().unwrap_or(false));
        entries_fit && check_distinct(&stored_paths(self, original, padding)).is_ok()
    }

    /// The map after `renames` (file index, new path) of a torrent whose metainfo paths are
    /// `original` and padding flags `padding`, with the moves to make on disk (none for a
    /// file given its current path). Refused when a file is unknown, a padding file or
    /// renamed twice, or when two files would share a path or a file would be another's
    /// folder. A file renamed back to its metainfo path leaves the map.
    pub fn with_renames(
        &self,
        original: &[RelativePath],
        padding: &[bool],
        renames: &[(usize, RelativePath)],
    ) -> Result<(Self, Vec<FileMove>), RenameError> {
        let mut next = self.clone();
        let mut moves = Vec::new();
        let mut seen = BTreeSet::new();
        for (file, to) in renames {
            let Some(orig) = original.get(*file) else {
                return Err(RenameError::NoSuchFile(*file));
            };
            if padding.get(*file).copied().unwrap_or(false) {
                return Err(RenameError::NoSuchFile(*file));
            }
            if !seen.insert(*file) {
                return Err(RenameError::Twice(*file));
            }
            let from = self.path(*file, orig).clone();
            if &from != to {
                moves.push(FileMove {
                    file: *file,
                    from,
                    to: to.clone(),
                });
            }
            if to == orig {
                next.renamed.remove(file);
            } else {
                next.renamed.insert(*file, to.clone());
            }
        }
        check_distinct(&stored_paths(&next, original, padding))?;
        Ok((next, moves))
    }

    /// The state file: this map and the moves not yet made on disk.
    pub fn encode(&self, pending: &[FileMove]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.dict();
        e.bytes(b"files").list();
        for (file, path) in &self.renamed {
            e.list().int(index_int(*file));
            encode_path(&mut e, path);
            e.end();
        }
        e.end();
        e.bytes(b"pending").list();
        for m in pending {
            e.list().int(index_int(m.file));
            encode_path(&mut e, &m.from);
            encode_path(&mut e, &m.to);
            e.end();
        }
        e.end();
        e.bytes(b"version").int(VERSION);
        e.end();
        e.finish()
    }

    /// Reads a state file (hostile: every path is checked as a torrent's would be; at most
    /// `max_files` entries, indices below it).
    pub fn decode(bytes: &[u8], max_files: usize) -> Result<(Self, Vec<FileMove>), RenameError> {
        let value = Decoder::new(bytes)
            .max_depth(4)
            .decode()
            .map_err(|_| RenameError::Format("not bencode"))?;
        let dict = value.as_dict().ok_or(RenameError::Format("top level"))?;
        if dict.int(b"version") != Some(VERSION) {
            return Err(RenameError::Format("unknown version"));
        }
        let files = dict.list(b"files").ok_or(RenameError::Format("files"))?;
        let pending = dict.list(b"pending").unwrap_or(&[]);
        if files.len() > max_files || pending.len() > max_files {
            return Err(RenameError::Format("more entries than files"));
        }
        let mut map = Self::default();
        for entry in files {
            match entry.as_list() {
                Some([i, p]) => {
                    map.renamed
                        .insert(decode_index(i, max_files)?, decode_path(p)?);
                }
                _ => return Err(RenameError::Format("files entry")),
            }
        }
        let moves = pending
            .iter()
            .map(|entry| match entry.as_list() {
                Some([i, from, to]) => Ok(FileMove {
                    file: decode_index(i, max_files)?,
                    from: decode_path(from)?,
                    to: decode_path(to)?,
                }),
                _ => Err(RenameError::Format("pending entry")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((map, moves))
    }
}

fn index_int(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

fn encode_path(e: &mut Encoder, path: &RelativePath) {
    e.list();
    for c in path.components() {
        e.bytes(c.as_bytes());
    }
    e.end();
}

fn decode_index(v: &Value<'_>, max_files: usize) -> Result<usize, RenameError> {
    v.as_int()
        .and_then(|i| usize::try_from(i).ok())
        .filter(|i| *i < max_files)
        .ok_or(RenameError::Format("file index"))
}

fn decode_path(v: &Value<'_>) -> Result<RelativePath, RenameError> {
    let parts: Option<Vec<&str>> = v
        .as_list()
        .map(|l| l.iter().map(Value::as_str).collect())
        .unwrap_or(None);
    let parts = parts.ok_or(RenameError::Format("path"))?;
    RelativePath::from_components(parts).map_err(|_| RenameError::Format("unsafe path"))
}

/// The paths of the files stored on disk (padding left out).
fn stored_paths<'a>(
    map: &'a FileMap,
    original: &'a [RelativePath],
    padding: &[bool],
) -> Vec<&'a RelativePath> {
    original
        .iter()
        .enumerate()
        .filter(|(i, _)| !padding.get(*i).copied().unwrap_or(false))
        .map(|(i, p)| map.path(i, p))
        .collect()
}

/// No two paths equal, none another's ancestor (a file where a folder must be).
fn check_distinct(paths: &[&RelativePath]) -> Result<(), RenameError> {
    let mut sorted: Vec<&RelativePath> = paths.to_vec();
    sorted.sort();
    // In component order a path's descendants follow it directly (before any sibling), so
    // checking each path against the next one finds every clash.
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return Err(RenameError::Collision(pair[0].to_string()));
        }
        if pair[0].is_ancestor_of(pair[1]) {
            return Err(RenameError::FolderConflict(pair[0].to_string()));
        }
    }
    Ok(())
}

/// Renames the files of `moves` under `dir`: each that exists moves to its new path (its
/// folders created), then the folders it left empty go. Nothing is overwritten: a new path
/// taken by something else fails the whole set, and the moves made are undone.
pub fn apply_moves(dir: &Path, moves: &[FileMove]) -> Result<(), RenameError> {
    let mut done: Vec<&FileMove> = Vec::new();
    for m in moves {
        match move_one(dir, &m.from, &m.to) {
            Ok(_) => done.push(m),
            Err(e) => {
                for m in done.iter().rev() {
                    let _ = move_one(dir, &m.to, &m.from);
                }
                remove_empty_parents(dir, moves.iter().map(|m| &m.to));
                return Err(e);
            }
        }
    }
    remove_empty_parents(dir, moves.iter().map(|m| &m.from));
    Ok(())
}

/// Finishes moves a crash left pending: each file still at its old path and not at its new
/// one is renamed. Errors are reported for the first file that could not move; the others
/// are still tried.
pub fn finish_pending(dir: &Path, moves: &[FileMove]) -> Result<(), RenameError> {
    let mut first = None;
    for m in moves {
        if exists(&dir.join(m.to.to_path_buf())) {
            continue;
        }
        if let Err(e) = move_one(dir, &m.from, &m.to) {
            first.get_or_insert(e);
        }
    }
    remove_empty_parents(dir, moves.iter().map(|m| &m.from));
    first.map_or(Ok(()), Err)
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Moves `from` to `to` under `dir`; `Ok(false)` when there was nothing at `from`.
fn move_one(dir: &Path, from: &RelativePath, to: &RelativePath) -> Result<bool, RenameError> {
    let src = dir.join(from.to_path_buf());
    let dst = dir.join(to.to_path_buf());
    match std::fs::symlink_metadata(&src) {
        Ok(meta) if meta.is_dir() => return Err(RenameError::Exists(src)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(RenameError::Io(StorageError::io(IoOp::Metadata, src, e))),
    }
    if exists(&dst) {
        return Err(RenameError::Exists(dst));
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RenameError::Io(StorageError::io(IoOp::CreateDir, parent, e)))?;
    }
    std::fs::rename(&src, &dst)
        .map_err(|e| RenameError::Io(StorageError::io(IoOp::Rename, &src, e)))?;
    Ok(true)
}

/// Removes the folders (inside `dir`, never `dir` itself) above `paths` that are empty,
/// deepest first.
fn remove_empty_parents<'a>(dir: &Path, paths: impl Iterator<Item = &'a RelativePath>) {
    let mut folders = BTreeSet::new();
    for p in paths {
        let c = p.components();
        for depth in 1..c.len() {
            folders.insert(c[..depth].to_vec());
        }
    }
    let mut folders: Vec<Vec<String>> = folders.into_iter().collect();
    folders.sort_by_key(|f| std::cmp::Reverse(f.len()));
    for f in folders {
        let path: PathBuf = f.iter().collect();
        // Fails, and so keeps it, when it is not empty.
        let _ = std::fs::remove_dir(dir.join(path));
    }
}

#[cfg(test)]
#[path = "file_map_tests.rs"]
mod tests;
