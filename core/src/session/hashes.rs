//! Serving BEP 52 hash requests: a peer asks for a run of a file's piece layer (or a layer
//! above it) with its proof, and gets it from the tree built over the piece layer our
//! metainfo holds, or a `hash reject`.
//!
//! Trees are built on first use and kept per torrent (two hashes per piece at most). Each
//! peer has a budget of hashes ([`HashBudget`]: [`BUDGET_HASHES`] at once, refilled at
//! [`BUDGET_REFILL`] a second), so a flood of requests costs bounded work and memory; a
//! request over budget, for an unknown root, out of range or with a proof past the root is
//! rejected. Requests for the block layer, below the piece layer, are read from disk
//! (`block_hashes`).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Instant;

use super::block_hashes::{BlockRun, MAX_BLOCK_READS};
use super::io::{ConnId, TorrentId};
use super::peers::Peers;
use super::torrent::table::Torrents;
use crate::merkle::exchange::answer;
use crate::merkle::{Hash, MerkleTree};
use crate::metainfo::Metainfo;
use crate::wire::hashes::HashRequest;

/// Hashes a peer may be sent at once (2 MiB of answers).
pub(crate) const BUDGET_HASHES: u32 = 65_536;
/// Hashes added to a peer's budget each second (512 KiB/s).
pub(crate) const BUDGET_REFILL: u32 = 16_384;

/// A peer's allowance of hashes served.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashBudget {
    tokens: u32,
    at: Instant,
    /// Block-layer requests being read from disk for the peer (see `block_hashes`).
    block_reads: u8,
}

impl HashBudget {
    /// A full budget.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            tokens: BUDGET_HASHES,
            at: now,
            block_reads: 0,
        }
    }

    /// Starts a block-layer read for the peer if fewer than [`MAX_BLOCK_READS`] are in flight.
    pub(crate) fn start_block_read(&mut self) -> bool {
        if self.block_reads >= MAX_BLOCK_READS {
            return false;
        }
        self.block_reads += 1;
        true
    }

    /// A block-layer read for the peer finished.
    pub(crate) fn block_read_done(&mut self) {
        self.block_reads = self.block_reads.saturating_sub(1);
    }

    /// Takes `cost` hashes if the budget (refilled up to `now`) has them.
    pub(crate) fn take(&mut self, now: Instant, cost: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.at);
        let refill = elapsed
            .as_millis()
            .saturating_mul(u128::from(BUDGET_REFILL))
            / 1000;
        if refill > 0 {
            let refill = u32::try_from(refill).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(refill).min(BUDGET_HASHES);
            self.at = now;
        }
        if cost > self.tokens {
            return false;
        }
        self.tokens -= cost;
        true
    }
}

/// A torrent's merkle trees over its piece layers, by `pieces root`, built when first asked.
#[derive(Debug, Default)]
pub(crate) struct Trees {
    trees: BTreeMap<Hash, MerkleTree>,
}

impl Trees {
    /// The hashes answering `request` from `meta`'s piece layers, or `None` to reject it.
    pub(crate) fn answer(&mut self, meta: &Metainfo, request: &HashRequest) -> Option<Vec<Hash>> {
        let tree = self.tree(meta, &request.pieces_root)?;
        answer(
            tree,
            request.base_layer,
            request.index,
            request.length,
            request.proof_layers,
        )
    }
}

impl Trees {
    /// The tree over the piece layer of `meta`'s file whose root is `root` (`None` for an
    /// unknown root or a file without a piece layer).
    pub(crate) fn tree(&mut self, meta: &Metainfo, root: &Hash) -> Option<&MerkleTree> {
        Some(match self.trees.entry(*root) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(tree_of(meta, root)?),
        })
    }
}

/// The tree of the file of `meta` whose root is `root`, from its piece layer.
fn tree_of(meta: &Metainfo, root: &Hash) -> Option<MerkleTree> {
    let file = (0..meta.files().len()).find(|&i| meta.pieces_root(i) == Some(root))?;
    let layer = meta.piece_layer(file)?;
    MerkleTree::from_piece_layer(layer, meta.piece_length(), meta.files()[file].length)
}

/// A peer's hash request on `conn`: answered from its torrent's piece layers, or rejected
/// (over the peer's budget, no torrent, or nothing to answer with). A block-layer request
/// that can be served from disk is neither: the torrent and piece to read are returned (the
/// caller issues the read; see `block_hashes`).
pub(crate) fn serve(
    now: Instant,
    conn: ConnId,
    request: HashRequest,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> Option<(TorrentId, u32)> {
    let p = peers.get_mut(conn)?;
    let mut read = None;
    let hashes = match p.torrent {
        Some(id) if affordable(now, &mut p.hash_budget, &request) => {
            let budget = &mut p.hash_budget;
            torrents.get_mut(&id).and_then(|t| {
                let running = t.is_running();
                let d = t.data.as_ref()?;
                let answer = t.peering.make(t.private).trees.answer(&d.meta, &request);
                if answer.is_none()
                    && running
                    && let Some(run) = BlockRun::of(&d.meta, &request)
                    && d.picker.have().contains(run.piece)
                    && budget.start_block_read()
                {
                    read = Some((id, run.piece));
                }
                answer
            })
        }
        _ => None,
    };
    if read.is_some() {
        return read;
    }
    let p = peers.get_mut(conn)?;
    let _ = match hashes {
        Some(hashes) => p.conn.send_hashes(now, request, &hashes),
        None => p.conn.reject_hashes(now, request),
    };
    None
}

/// Whether a peer's request may be served now: its answer is bounded and within `budget`.
pub(crate) fn affordable(now: Instant, budget: &mut HashBudget, request: &HashRequest) -> bool {
    request
        .hashes_in_reply()
        .is_some_and(|cost| budget.take(now, cost))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn fixture() -> Metainfo {
        Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_v2.torrent")).unwrap()
    }

    #[test]
    fn layers_are_served_with_proofs_and_the_rest_rejected() {
        let meta = fixture();
        let mut trees = Trees::default();
        // g_big: 300,000 bytes in 32 KiB pieces, 10 pieces, a layer 16 wide at height 1.
        let g = (0..meta.files().len())
            .find(|&i| meta.files()[i].path.file_name() == "g_big")
            .unwrap();
        let root = *meta.pieces_root(g).unwrap();
        let ask = |base_layer, index, length, proof_layers| HashRequest {
            pieces_root: root,
            base_layer,
            index,
            length,
            proof_layers,
        };
        let whole = trees.answer(&meta, &ask(1, 0, 16, 0)).unwrap();
        assert_eq!(&whole[..10], meta.piece_layer(g).unwrap());
        let half = trees.answer(&meta, &ask(1, 8, 8, 3)).unwrap();
        assert_eq!(Some(half.len() as u32), ask(1, 8, 8, 3).hashes_in_reply());
        assert_eq!(
            trees.answer(&meta, &ask(0, 0, 2, 0)),
            None,
            "no block hashes"
        );
        assert_eq!(
            trees.answer(&meta, &ask(1, 0, 16, 4)),
            None,
            "proof past the root"
        );
        let mut other = ask(1, 0, 16, 0);
        other.pieces_root = [7; 32];
        assert_eq!(trees.answer(&meta, &other), None, "unknown root");
        // A file no longer than one piece has no layer to serve.
        let small = (0..meta.files().len())
            .find(|&i| meta.files()[i].path.file_name() == "b_small")
            .unwrap();
        other.pieces_root = *meta.pieces_root(small).unwrap();
        assert_eq!(trees.answer(&meta, &other), None);
    }

    #[test]
    fn a_budget_bounds_what_one_peer_is_served() {
        let now = Instant::now();
        let mut budget = HashBudget::new(now);
        let big = HashRequest {
            pieces_root: [1; 32],
            base_layer: 1,
            index: 0,
            length: 8192,
            proof_layers: 0,
        };
        for _ in 0..8 {
            assert!(affordable(now, &mut budget, &big));
        }
        assert!(!affordable(now, &mut budget, &big), "65,536 hashes spent");
        assert!(!affordable(
            now + Duration::from_millis(400),
            &mut budget,
            &big
        ));
        assert!(affordable(
            now + Duration::from_millis(600),
            &mut budget,
            &big
        ));
        let unbounded = HashRequest {
            length: 8193,
            ..big
        };
        assert!(!affordable(
            now + Duration::from_secs(60),
            &mut budget,
            &unbounded
        ));
    }
}
