//! BitTorrent v2 (BEP 52) metainfo: the `file tree` (each file with its `length` and
//! `pieces root`), the `piece layers` beside the `info` dictionary, and the check that a
//! hybrid's v1 and v2 halves describe the same files.
//!
//! In v2 every file starts on a piece boundary: after each file that does not end on one,
//! libtorrent's model (which this follows) has an implied padding file up to the boundary,
//! the last file included. A hybrid's v1 `files` list must spell those out as BEP 47 padding
//! files, at the same places.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{MetainfoError, Warning};
use super::files;
use super::parse::{Field, bytes_field, int_field};
use super::path::RelativePath;
use super::{FileEntry, MetainfoError as E, collisions, symlinks};
use crate::bencode::{Dict, Value};
use crate::merkle::{self, Hash};

/// How deep a `file tree` may nest directories (libtorrent's default limit is 100; the
/// bencode decoder's own nesting limit is lower still).
pub const MAX_FILE_TREE_DEPTH: usize = 100;

/// The v2 half of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct V2Data {
    /// The `pieces root` of each file of [`super::Metainfo::files`], by index; `None` for
    /// padding, empty files and symlinks.
    pub(super) roots: Vec<Option<Hash>>,
    /// The validated piece layers, by `pieces root` (files with equal content share one).
    pub(super) piece_layers: BTreeMap<Hash, Vec<Hash>>,
}

/// The files a `file tree` describes, padding included.
pub(super) struct TreeFiles {
    pub(super) files: Vec<FileEntry>,
    pub(super) roots: Vec<Option<Hash>>,
    pub(super) single_file: bool,
}

/// One directory being walked: its entries, the next one to read, and its path.
struct Frame<'d, 'a> {
    entries: &'d [(&'a [u8], Value<'a>)],
    next: usize,
    path: Vec<String>,
}

/// Reads `info.file tree`. `v1_multi` says whether `info.files` exists (then even one file
/// lives under the torrent's directory, as in libtorrent).
pub(super) fn file_tree(
    info: &Dict<'_>,
    name: &str,
    v1_multi: bool,
    piece_length: u32,
    warnings: &mut Vec<Warning>,
) -> Result<TreeFiles, MetainfoError> {
    let tree = info
        .get(b"file tree")
        .ok_or_else(|| E::Missing("info.file tree".into()))?;
    let top = tree.as_dict().ok_or_else(|| E::WrongType {
        field: "info.file tree".into(),
        expected: "dictionary",
        found: tree.type_name(),
    })?;
    let field = Field::Info("file tree");
    let single_top = !v1_multi && top.len() == 1;
    let mut out = TreeFiles {
        files: Vec::new(),
        roots: Vec::new(),
        single_file: false,
    };
    let mut total: u64 = 0;
    let mut links = Vec::new();
    let mut stack = vec![Frame {
        entries: top.entries(),
        next: 0,
        path: vec![name.to_owned()],
    }];
    while let Some(depth) = stack.len().checked_sub(1) {
        let frame = &mut stack[depth];
        let Some((key, value)) = frame.entries.get(frame.next) else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        let Some(node) = value.as_dict().filter(|_| !key.is_empty()) else {
            return Err(E::BadFileTree(
                "an entry is not a dictionary, or has an empty name".into(),
            ));
        };
        let component = files::component(field, key, warnings);
        let leaf = node.len() == 1 && node.entries()[0].0.is_empty();
        if !leaf {
            if depth + 1 >= MAX_FILE_TREE_DEPTH {
                return Err(E::BadFileTree(format!(
                    "directories nest deeper than {MAX_FILE_TREE_DEPTH}"
                )));
            }
            if !node.is_empty() {
                let mut path = frame.path.clone();
                path.extend(component);
                stack.push(Frame {
                    entries: node.entries(),
                    next: 0,
                    path,
                });
            }
            continue;
        }
        let single = single_top && depth == 0;
        let mut path = if single {
            Vec::new()
        } else {
            frame.path.clone()
        };
        path.extend(component);
        if path.len() <= usize::from(!single) {
            return Err(E::UnsafePath {
                field: field.to_string(),
                error: super::PathError::Empty,
            });
        }
        let leaf = leaf_file(&node.entries()[0].1, warnings)?;
        if let Some(target) = leaf.link.filter(|t| !t.is_empty()) {
            links.push((out.files.len(), target));
        }
        let (length, root) = (leaf.length, leaf.root);
        out.single_file = single;
        out.files.push(FileEntry {
            path: RelativePath::from_sanitized(path),
            length,
            padding: false,
            symlink: None,
        });
        out.roots.push(root);
        total = total.checked_add(length).ok_or(E::TotalLengthOverflow)?;
        let rest = total % u64::from(piece_length);
        if rest != 0 {
            let pad = u64::from(piece_length) - rest;
            total = total.checked_add(pad).ok_or(E::TotalLengthOverflow)?;
            out.files.push(pad_file(name, pad));
            out.roots.push(None);
        }
    }
    if out.files.is_empty() {
        return Err(E::NoFiles);
    }
    symlinks::resolve(&mut out.files, links, warnings);
    // A single file has only its own tail padding beside it, named under it as libtorrent
    // names it; there is nothing to rename.
    if !out.single_file {
        collisions::rename(&mut out.files, warnings);
    }
    Ok(out)
}

/// What a `file tree` leaf holds.
struct Leaf {
    length: u64,
    root: Option<Hash>,
    /// A BEP 47 symbolic link's sanitized `symlink path` (elements that sanitize to nothing
    /// left out).
    link: Option<Vec<String>>,
}

/// A leaf's `length` and `pieces root`, or its `symlink path` (a symbolic link holds no data:
/// its `length` is taken as 0 and it needs no root, as libtorrent takes it; padding files
/// cannot be in a file tree).
fn leaf_file(props: &Value<'_>, warnings: &mut Vec<Warning>) -> Result<Leaf, MetainfoError> {
    let field = Field::Info("file tree");
    let dict = props.as_dict().ok_or_else(|| E::WrongType {
        field: "info.file tree (file properties)".into(),
        expected: "dictionary",
        found: props.type_name(),
    })?;
    let attr = bytes_field(dict, b"attr", field)?.unwrap_or_default();
    if attr.contains(&b'p') {
        return Err(E::BadFileTree("a padding file in the file tree".into()));
    }
    if attr.contains(&b'l') {
        let link = match dict.get(b"symlink path").and_then(Value::as_list) {
            Some(raw) => Some(files::elements(
                Field::Info("file tree: symlink path"),
                raw,
                warnings,
            )?),
            None => None,
        };
        return Ok(Leaf {
            length: 0,
            root: None,
            link,
        });
    }
    let length = int_field(dict, b"length", field)?
        .ok_or_else(|| E::Missing("info.file tree: a file's length".into()))?;
    let length = u64::try_from(length).map_err(|_| E::NegativeLength {
        field: field.to_string(),
        value: length,
    })?;
    if length == 0 {
        return Ok(Leaf {
            length,
            root: None,
            link: None,
        });
    }
    let root = bytes_field(dict, b"pieces root", field)?
        .and_then(|r| <Hash>::try_from(r).ok())
        .filter(|r| *r != [0u8; 32])
        .ok_or(E::MissingPiecesRoot)?;
    Ok(Leaf {
        length,
        root: Some(root),
        link: None,
    })
}

/// An implied padding file, named as libtorrent names it: `<name>/.pad/<length>`.
fn pad_file(name: &str, length: u64) -> FileEntry {
    let path = vec![name.to_owned(), ".pad".to_owned(), length.to_string()];
    FileEntry {
        path: RelativePath::from_sanitized(path),
        length,
        padding: true,
        symlink: None,
    }
}

/// Checks that a hybrid's v1 files are the v2 files (as libtorrent's `files_compatible`
/// does: same count, same total, and every non-empty, non-padding file and every symbolic
/// link at the same index with the same path, length, offset and link target) and returns
/// the v2 roots by v1 file index. A v1 list without the last file's tail padding
/// (libtorrent 2.0.0–2.0.7) is accepted.
pub(super) fn match_hybrid(
    v1: &[FileEntry],
    mut v2: TreeFiles,
) -> Result<Vec<Option<Hash>>, MetainfoError> {
    if v2.files.len() == v1.len() + 1 {
        remove_tail_padding(&mut v2);
    }
    if v1.len() != v2.files.len() {
        return Err(E::HybridMismatch(format!(
            "v1 lists {} files (padding included), v2 {}",
            v1.len(),
            v2.files.len()
        )));
    }
    let (mut off1, mut off2) = (0u64, 0u64);
    for (i, (a, b)) in v1.iter().zip(&v2.files).enumerate() {
        let relevant_a = !a.padding && (a.length > 0 || a.symlink.is_some());
        let relevant_b = !b.padding && (b.length > 0 || b.symlink.is_some());
        if relevant_a != relevant_b {
            return Err(E::HybridMismatch(format!(
                "file {i}: data or a link in one half, padding or empty in the other"
            )));
        }
        if relevant_a && a.symlink != b.symlink {
            let target = |f: &FileEntry| f.symlink.as_ref().map(ToString::to_string);
            return Err(E::HybridMismatch(format!(
                "file {i}: v1 links {:?} to {:?}, v2 {:?} to {:?}",
                a.path.to_string(),
                target(a),
                b.path.to_string(),
                target(b)
            )));
        }
        if relevant_a && (a.path != b.path || a.length != b.length || off1 != off2) {
            return Err(E::HybridMismatch(format!(
                "file {i}: v1 has {:?} ({} bytes at offset {off1}), v2 {:?} ({} bytes at {off2})",
                a.path.to_string(),
                a.length,
                b.path.to_string(),
                b.length
            )));
        }
        off1 = off1.saturating_add(a.length);
        off2 = off2.saturating_add(b.length);
    }
    if off1 != off2 {
        return Err(E::HybridMismatch(format!(
            "total length {off1} in v1, {off2} in v2"
        )));
    }
    Ok(v2.roots)
}

/// Drops the padding after the last non-empty file.
fn remove_tail_padding(v2: &mut TreeFiles) {
    if let Some(last) = v2.files.iter().rposition(|f| f.length > 0)
        && v2.files[last].padding
    {
        v2.files.remove(last);
        v2.roots.remove(last);
    }
}

/// Reads the top-level `piece layers`: each must belong to a file longer than one piece, have
/// one hash per piece of it, and hash up to its root (else the torrent is refused, as
/// libtorrent refuses it). Layers may be missing (peers supply them with hash requests).
pub(super) fn piece_layers(
    root: &Dict<'_>,
    files: &[FileEntry],
    roots: &[Option<Hash>],
    piece_length: u32,
) -> Result<BTreeMap<Hash, Vec<Hash>>, MetainfoError> {
    let mut out = BTreeMap::new();
    let Some(layers) = root.get(b"piece layers") else {
        return Ok(out);
    };
    let layers = layers
        .as_dict()
        .ok_or_else(|| E::BadPieceLayer("not a dictionary".into()))?;
    for (key, value) in layers.entries() {
        let key = <Hash>::try_from(*key)
            .map_err(|_| E::BadPieceLayer("a key is not a 32-byte pieces root".into()))?;
        let hex = || crate::id::to_hex(&key);
        let layer = value
            .as_bytes()
            .filter(|l| l.len() % 32 == 0)
            .ok_or_else(|| {
                E::BadPieceLayer(format!("{}: not a string of 32-byte hashes", hex()))
            })?;
        let lengths: BTreeSet<u64> = files
            .iter()
            .zip(roots)
            .filter(|(f, r)| **r == Some(key) && f.length > u64::from(piece_length))
            .map(|(f, _)| f.length)
            .collect();
        if lengths.is_empty() {
            return Err(E::BadPieceLayer(format!(
                "{}: no file longer than one piece has this root",
                hex()
            )));
        }
        let hashes: Vec<Hash> = layer
            .chunks_exact(32)
            .map(|c| <Hash>::try_from(c).unwrap_or_default())
            .collect();
        // Files that share a root share its layer: it must hash up for each of them.
        for &length in &lengths {
            if merkle::root_from_piece_layer(&hashes, piece_length, length) != Some(key) {
                return Err(E::BadPieceLayer(format!(
                    "{}: {} hashes that do not hash up to the root of a file of {length} bytes",
                    hex(),
                    hashes.len()
                )));
            }
        }
        out.insert(key, hashes);
    }
    Ok(out)
}
