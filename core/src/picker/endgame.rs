//! Endgame: when every block a connected peer could give us is requested or received, the last
//! blocks are requested from several peers at once so one slow peer cannot hold the download
//! at 99 %. The first copy to arrive cancels the others ([`super::Received::Accepted`]).

use super::blocks::block_request;
use super::{BLOCK_LEN, BlockRef, PeerKey, Picker, Priority};

/// Blocks shared with another peer (endgame duplicates) one peer may have in flight at once
/// (libtorrent's rule). Without it, a pipeline deep enough to request every block of a small
/// torrent put the download in endgame at once, and every other peer was asked for all of them
/// again: 44 % of the bytes of a 30-leecher simulated swarm were duplicates.
const ENDGAME_BUSY_PER_PEER: usize = 1;

impl Picker {
    /// Whether the picker is in endgame: no wanted piece has a free block that some connected
    /// peer has (pieces nobody has do not hold endgame back).
    pub(crate) fn in_endgame(&self) -> bool {
        if self.wanted_missing == 0 || self.downloading.is_empty() {
            return false;
        }
        for buckets in &self.tiers {
            if buckets.len() > 0 && (self.seeds > 0 || buckets.any_above_zero()) {
                return false;
            }
        }
        !self
            .partial
            .iter()
            .any(|&p| self.priority(p) != Priority::Skip && self.availability(p) > 0)
    }

    /// Requests, from `peer`, blocks already requested from others and not yet received: those
    /// with the fewest copies in flight first, at most `max_endgame_copies` copies each, and at
    /// most [`ENDGAME_BUSY_PER_PEER`] such shared blocks in flight per peer.
    pub(super) fn pick_endgame(
        &mut self,
        peer: PeerKey,
        want: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let max = self.config.max_endgame_copies.max(1) as usize;
        let state = &self.peers[&peer];
        let busy = state
            .inflight
            .iter()
            .filter(|(r, _)| {
                self.downloading.get(&r.piece).is_some_and(|dl| {
                    dl.blocks
                        .get((r.offset / BLOCK_LEN) as usize)
                        .is_some_and(|b| b.reqs.len() > 1)
                })
            })
            .count();
        let mut allowed = ENDGAME_BUSY_PER_PEER.saturating_sub(busy).min(*want);
        let want = &mut allowed;
        let mut candidates: Vec<(usize, u32, u32)> = Vec::new();
        for (&piece, dl) in &self.downloading {
            if self.priority(piece) == Priority::Skip || !state.has(piece) {
                continue;
            }
            for (i, block) in dl.blocks.iter().enumerate() {
                if !block.is_received() && block.reqs.len() < max && !block.reqs.contains(&peer) {
                    candidates.push((block.reqs.len(), piece, i as u32));
                }
            }
        }
        candidates.sort_unstable();
        for (_, piece, index) in candidates.into_iter().take(*want) {
            let piece_len = self.piece_len(piece);
            if let Some(dl) = self.downloading.get_mut(&piece) {
                dl.request(index, peer);
                out.push(block_request(piece, piece_len, index));
                *want -= 1;
            }
        }
    }
}
