//! The v2 (BEP 52) half of a created torrent: the padding that puts every file on a piece
//! boundary, the `file tree`, and each file's `pieces root` and piece layer computed from the
//! pieces' merkle digests (see [`crate::merkle::V2Piece`]).

use std::collections::BTreeMap;

use crate::bencode::Encoder;
use crate::layout::Layout;
use crate::merkle::{self, Hash};
use crate::metainfo::RelativePath;

/// One file of the layout a v2 or hybrid torrent is hashed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// File `i` of the builder's list.
    File(usize),
    /// BEP 47 padding of this many bytes up to the next piece boundary.
    Pad(u64),
}

/// The layout's files for `lengths` (in tree order): after every non-empty file that does not
/// end on a piece boundary, a padding file up to it (the last file too, as libtorrent 2.0.8
/// writes hybrids), except after a single file (`single`), whose v1 half has no list to put
/// padding in.
pub(super) fn entries(lengths: &[u64], piece_length: u32, single: bool) -> Vec<Entry> {
    let pl = u64::from(piece_length);
    let mut out = Vec::with_capacity(lengths.len() * 2);
    for (i, &length) in lengths.iter().enumerate() {
        out.push(Entry::File(i));
        let rest = length % pl;
        if rest != 0 && !single {
            out.push(Entry::Pad(pl - rest));
        }
    }
    out
}

/// Each file's root (`None` for an empty file), and the piece layers by root.
pub(super) type RootsAndLayers = (Vec<Option<Hash>>, BTreeMap<Hash, Vec<Hash>>);

/// The files' roots (`None` for empty files) and the piece layers of files longer than one
/// piece, by root, from the layout's per-piece v2 digests. `None` if a digest is missing.
pub(super) fn roots_and_layers(
    layout: &Layout,
    entries: &[Entry],
    file_count: usize,
    digests: &[Hash],
) -> Option<RootsAndLayers> {
    let piece_length = layout.piece_length();
    let mut roots = vec![None; file_count];
    let mut layers = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let Entry::File(file) = *entry else {
            continue;
        };
        let length = layout.files().get(index)?.length;
        if length == 0 {
            continue;
        }
        let pieces = layout.file_pieces(index);
        let layer = digests.get(pieces.start as usize..pieces.end as usize)?;
        let root = if length <= u64::from(piece_length) {
            *layer.first()?
        } else {
            let root = merkle::root_from_piece_layer(layer, piece_length, length)?;
            layers.insert(root, layer.to_vec());
            root
        };
        *roots.get_mut(file)? = Some(root);
    }
    Some((roots, layers))
}

/// Writes `file tree` for `files` (sorted in tree order, as the builder keeps them; `None`
/// path: a single file named `name`), with their lengths and roots.
pub(super) fn write_file_tree(
    e: &mut Encoder,
    name: &str,
    files: &[(Option<RelativePath>, u64)],
    roots: &[Option<Hash>],
) {
    e.bytes(b"file tree").dict();
    // The directories open around the previous file, outermost first.
    let mut open: Vec<&str> = Vec::new();
    for ((path, length), root) in files.iter().zip(roots) {
        let components: Vec<&str> = match path {
            Some(p) => p.components().iter().map(String::as_str).collect(),
            None => vec![name],
        };
        let (dirs, leaf) = components.split_at(components.len().saturating_sub(1));
        let common = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
        for _ in common..open.len() {
            e.end();
        }
        open.truncate(common);
        for dir in &dirs[common..] {
            e.bytes(dir.as_bytes()).dict();
            open.push(dir);
        }
        if let Some(leaf) = leaf.first() {
            e.bytes(leaf.as_bytes()).dict().bytes(b"").dict();
            e.bytes(b"length")
                .int(i64::try_from(*length).unwrap_or(i64::MAX));
            if let Some(root) = root {
                e.bytes(b"pieces root").bytes(root);
            }
            e.end().end();
        }
    }
    for _ in 0..open.len() {
        e.end();
    }
    e.end();
}

/// Writes the top-level `piece layers`.
pub(super) fn write_piece_layers(e: &mut Encoder, layers: &BTreeMap<Hash, Vec<Hash>>) {
    e.bytes(b"piece layers").dict();
    for (root, layer) in layers {
        e.bytes(root).bytes(layer.as_flattened());
    }
    e.end();
}
