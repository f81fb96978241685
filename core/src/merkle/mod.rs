//! BitTorrent v2 (BEP 52) merkle trees: SHA-256 over 16 KiB blocks.
//!
//! Every file of a v2 torrent has its own binary tree. Its leaves are the SHA-256 of each
//! 16 KiB block of the file (the last block hashed at its real length), followed by as many
//! padding leaves of 32 zero bytes as make the leaf count a power of two; each inner node is
//! SHA-256 of its two children concatenated. The tree's root is the file's `pieces root`.
//! The layer whose nodes each cover one piece (`piece length / 16 KiB` leaves) is the file's
//! piece layer; a file no longer than one piece has none (its root covers it alone).
//!
//! Heights count from the leaves: height 0 is the block layer, height `h` nodes each cover
//! `2^h` blocks. [`pad_hash`] is the node over `2^h` padding leaves.
//!
//! Proofs follow BEP 52's `hashes` message: a run of `2^k` hashes of one layer, followed by
//! the uncle hashes from the run's subtree root upwards; [`MerkleTree::hashes`] produces
//! them, [`verify_hashes`] checks them against a root.

use sha2::{Digest, Sha256};

pub mod exchange;
mod pieces;

pub use pieces::V2Piece;

/// A SHA-256 digest: a node of a merkle tree, a `pieces root`, a v2 info-hash.
pub type Hash = [u8; 32];

/// The size of a leaf block: 16 KiB.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// The tallest tree handled: 2^48 blocks of 16 KiB (4 EiB) is far past any file a torrent
/// can describe (file lengths are below 2^63 bytes, 2^49 blocks; see [`leaf_count`]).
pub const MAX_HEIGHT: u32 = 50;

/// SHA-256 of `data` (the sha2 crate picks SHA-NI at run time where the CPU has it).
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// An inner node: SHA-256 of `left || right`.
pub fn hash_pair(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The node at `height` over padding only: zeros at height 0, then `H(pad || pad)` upwards.
pub fn pad_hash(height: u32) -> Hash {
    let mut pad = [0u8; 32];
    for _ in 0..height.min(MAX_HEIGHT) {
        pad = hash_pair(&pad, &pad);
    }
    pad
}

/// Number of 16 KiB blocks in `length` bytes (the last one may be short).
pub fn block_count(length: u64) -> u64 {
    length.div_ceil(u64::from(BLOCK_SIZE))
}

/// Number of leaves of the tree of a file of `length` bytes: its block count rounded up to a
/// power of two (1 for an empty file, which has no tree at all in a torrent).
pub fn leaf_count(length: u64) -> u64 {
    block_count(length).max(1).next_power_of_two()
}

/// `log2(piece_length / 16 KiB)`: the height of the piece layer, or `None` if `piece_length`
/// is not a power of two of at least 16 KiB (BEP 52 requires it).
pub fn piece_height(piece_length: u32) -> Option<u32> {
    (piece_length >= BLOCK_SIZE && piece_length.is_power_of_two())
        .then(|| (piece_length / BLOCK_SIZE).trailing_zeros())
}

/// The root over `layer` (nodes at `height`), padded with [`pad_hash`]`(height)` to `width`
/// nodes. `None` if `layer` is empty, `width` is not a power of two or is smaller than
/// `layer`, or the tree would be taller than [`MAX_HEIGHT`].
pub fn root_of(layer: &[Hash], height: u32, width: u64) -> Option<Hash> {
    if layer.is_empty() || !width.is_power_of_two() || width < layer.len() as u64 {
        return None;
    }
    if height.checked_add(width.trailing_zeros())? > MAX_HEIGHT {
        return None;
    }
    let mut pad = pad_hash(height);
    let mut nodes = layer.to_vec();
    let mut width = width;
    while width > 1 {
        let parents = nodes.len().div_ceil(2);
        for i in 0..parents {
            let left = nodes[2 * i];
            let right = nodes.get(2 * i + 1).unwrap_or(&pad);
            nodes[i] = hash_pair(&left, right);
        }
        nodes.truncate(parents);
        pad = hash_pair(&pad, &pad);
        width /= 2;
    }
    nodes.first().copied()
}

/// The hash of one piece's data: the root of its subtree of `leaves` blocks (a power of two),
/// the blocks past the data padded with zero leaves. For a piece of a file longer than one
/// piece, `leaves` is `piece_length / 16 KiB`; for a file no longer than one piece it is
/// [`leaf_count`] of the file, and the result is the file's root. `None` if `leaves` is not a
/// power of two or `data` holds more than `leaves` blocks.
pub fn piece_root(data: &[u8], leaves: u64) -> Option<Hash> {
    if block_count(data.len() as u64) > leaves {
        return None;
    }
    let hashes: Vec<Hash> = if data.is_empty() {
        vec![[0u8; 32]]
    } else {
        data.chunks(BLOCK_SIZE as usize).map(sha256).collect()
    };
    root_of(&hashes, 0, leaves)
}

/// The hashes of one file as a v2 torrent records them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHashes {
    /// The `pieces root`; `None` for an empty file (a torrent gives it none).
    pub root: Option<Hash>,
    /// The piece layer, one hash per piece; empty for a file no longer than one piece.
    pub piece_layer: Vec<Hash>,
}

/// Hashes a file's data as it streams by, keeping only the current piece's leaf hashes and
/// the piece layer (32 bytes per piece), never the data.
#[derive(Clone, Debug)]
pub struct FileHasher {
    piece_length: u32,
    length: u64,
    block: Vec<u8>,
    leaves: Vec<Hash>,
    piece_layer: Vec<Hash>,
}

impl FileHasher {
    /// A hasher for a file of a torrent with this piece length; `None` unless it is a power of
    /// two of at least 16 KiB.
    pub fn new(piece_length: u32) -> Option<Self> {
        piece_height(piece_length)?;
        Some(Self {
            piece_length,
            length: 0,
            block: Vec::with_capacity(BLOCK_SIZE as usize),
            leaves: Vec::new(),
            piece_layer: Vec::new(),
        })
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_SIZE as usize - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.block.len() == BLOCK_SIZE as usize {
                self.push_leaf();
            }
        }
    }

    fn blocks_per_piece(&self) -> u64 {
        u64::from(self.piece_length / BLOCK_SIZE)
    }

    fn push_leaf(&mut self) {
        self.leaves.push(sha256(&self.block));
        self.block.clear();
        if self.leaves.len() as u64 == self.blocks_per_piece() {
            self.close_piece();
        }
    }

    fn close_piece(&mut self) {
        if let Some(root) = root_of(&self.leaves, 0, self.blocks_per_piece()) {
            self.piece_layer.push(root);
        }
        self.leaves.clear();
    }

    /// The file's root and piece layer.
    pub fn finish(mut self) -> FileHashes {
        if self.length == 0 {
            return FileHashes {
                root: None,
                piece_layer: Vec::new(),
            };
        }
        if !self.block.is_empty() {
            self.push_leaf();
        }
        if self.length <= u64::from(self.piece_length) {
            // One piece at most: the tree is the file's blocks alone, no piece layer. The piece
            // was closed only if it was exactly full; rebuild its leaves' root otherwise.
            let root = match self.piece_layer.first() {
                Some(root) => Some(*root),
                None => root_of(&self.leaves, 0, leaf_count(self.length)),
            };
            return FileHashes {
                root,
                piece_layer: Vec::new(),
            };
        }
        if !self.leaves.is_empty() {
            self.close_piece();
        }
        let height = piece_height(self.piece_length).unwrap_or(0);
        let width = leaf_count(self.length) >> height;
        FileHashes {
            root: root_of(&self.piece_layer, height, width),
            piece_layer: self.piece_layer,
        }
    }
}

/// The root and piece layer of `data`, a whole file; `None` if `piece_length` is not a power
/// of two of at least 16 KiB.
pub fn file_hashes(data: &[u8], piece_length: u32) -> Option<FileHashes> {
    let mut hasher = FileHasher::new(piece_length)?;
    hasher.update(data);
    Some(hasher.finish())
}

/// The root a piece layer implies for a file of `length` bytes, or `None` if the layer does
/// not have exactly one hash per piece of the file, or the file is no longer than one piece
/// (it has no piece layer).
pub fn root_from_piece_layer(layer: &[Hash], piece_length: u32, length: u64) -> Option<Hash> {
    let height = piece_height(piece_length)?;
    if length <= u64::from(piece_length)
        || layer.len() as u64 != length.div_ceil(u64::from(piece_length))
    {
        return None;
    }
    root_of(layer, height, leaf_count(length) >> height)
}

/// Checks a BEP 52 proof: `hashes` (a power-of-two run of nodes of one layer, starting at
/// node `index` of that layer, which is `index` aligned to the run's length) followed by
/// `uncles` (one sibling per level above the run's subtree root, lowest first) must hash up
/// to `root`, with the layer `width` nodes wide (a power of two: the file's
/// [`leaf_count`] shifted right by the layer's height). Returns `false` for anything
/// malformed.
pub fn verify_hashes(
    root: &Hash,
    width: u64,
    index: u64,
    hashes: &[Hash],
    uncles: &[Hash],
) -> bool {
    let count = hashes.len() as u64;
    if count == 0 || !count.is_power_of_two() || !width.is_power_of_two() {
        return false;
    }
    if !index.is_multiple_of(count) || index.checked_add(count).is_none_or(|end| end > width) {
        return false;
    }
    // The run's subtree root, then up through the uncles; the path must end exactly at the
    // tree's root.
    let levels = count.trailing_zeros() + uncles.len() as u32;
    if levels != width.trailing_zeros() {
        return false;
    }
    let Some(mut node) = root_of(hashes, 0, count) else {
        return false;
    };
    let mut position = index / count;
    for uncle in uncles {
        node = if position.is_multiple_of(2) {
            hash_pair(&node, uncle)
        } else {
            hash_pair(uncle, &node)
        };
        position /= 2;
    }
    position == 0 && node == *root
}

/// Checks one block (or one piece hash) against `root`: [`verify_hashes`] with a run of one.
pub fn verify_node(root: &Hash, width: u64, index: u64, node: &Hash, uncles: &[Hash]) -> bool {
    verify_hashes(root, width, index, std::slice::from_ref(node), uncles)
}

/// A tree held from one layer (its base, e.g. a file's piece layer) up to its root, to serve
/// proofs from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    base_height: u32,
    /// `layers[0]` is the base layer padded to a power of two; the last holds the root.
    layers: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `base` (nodes at `base_height`), padded to `width` nodes (a power of two,
    /// at least `base.len()`). `None` if malformed or taller than [`MAX_HEIGHT`].
    pub fn new(base: &[Hash], base_height: u32, width: u64) -> Option<Self> {
        if base.is_empty() || !width.is_power_of_two() || width < base.len() as u64 {
            return None;
        }
        if base_height.checked_add(width.trailing_zeros())? > MAX_HEIGHT {
            return None;
        }
        // Pad hashes are not stored: a padded layer is at most twice the data's.
        let mut layers = vec![base.to_vec()];
        let mut pad = pad_hash(base_height);
        let mut width = width;
        while width > 1 {
            let below = layers.last().map_or(&[][..], Vec::as_slice);
            let up: Vec<Hash> = below
                .chunks(2)
                .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pad)))
                .collect();
            layers.push(up);
            pad = hash_pair(&pad, &pad);
            width /= 2;
        }
        Some(Self {
            base_height,
            layers,
        })
    }

    /// The tree of a file from its piece layer (see [`root_from_piece_layer`]).
    pub fn from_piece_layer(layer: &[Hash], piece_length: u32, length: u64) -> Option<Self> {
        let height = piece_height(piece_length)?;
        if length <= u64::from(piece_length)
            || layer.len() as u64 != length.div_ceil(u64::from(piece_length))
        {
            return None;
        }
        Self::new(layer, height, leaf_count(length) >> height)
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.layers
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The height of the lowest layer held.
    pub fn base_height(&self) -> u32 {
        self.base_height
    }

    /// The height of the root.
    pub fn height(&self) -> u32 {
        self.base_height + self.layers.len() as u32 - 1
    }

    /// Node `index` of the layer at `height` (padding included), if that layer is held.
    pub fn node(&self, height: u32, index: u64) -> Option<Hash> {
        let level = height.checked_sub(self.base_height)? as usize;
        let layer = self.layers.get(level)?;
        let width = 1u64 << (self.layers.len() - 1 - level);
        if index >= width {
            return None;
        }
        Some(match layer.get(index as usize) {
            Some(h) => *h,
            None => pad_hash(height),
        })
    }

    /// What BEP 52's `hashes` message carries for a `hash request`: `count` nodes (a power of
    /// two) of the layer at `height` from node `index` (a multiple of `count`), then the uncles
    /// for `proof_layers` levels above that layer (none for the levels inside the run itself,
    /// and never past the root). `None` if the request is malformed or names a layer below the
    /// ones held.
    pub fn hashes(
        &self,
        height: u32,
        index: u64,
        count: u64,
        proof_layers: u32,
    ) -> Option<Vec<Hash>> {
        if count == 0 || !count.is_power_of_two() || !index.is_multiple_of(count) {
            return None;
        }
        let level = height.checked_sub(self.base_height)? as usize;
        let width = 1u64 << (self.layers.len().checked_sub(1 + level)?);
        if index.checked_add(count)? > width {
            return None;
        }
        // Bounded by the layer's width, itself bounded by the data the tree was built from.
        let mut out = Vec::with_capacity(count as usize);
        for i in index..index + count {
            out.push(self.node(height, i)?);
        }
        let inside = count.trailing_zeros();
        let top = self.height();
        let mut position = index / count;
        for h in (height + inside..top).take(proof_layers.saturating_sub(inside) as usize) {
            out.push(self.node(h, position ^ 1)?);
            position /= 2;
        }
        Some(out)
    }

    /// The uncles proving node `index` of the layer at `height` up to the root.
    pub fn proof(&self, height: u32, index: u64) -> Option<Vec<Hash>> {
        let levels = self.height().checked_sub(height)?;
        let mut out = self.hashes(height, index, 1, levels)?;
        out.remove(0);
        Some(out)
    }
}

#[cfg(test)]
mod tests;
