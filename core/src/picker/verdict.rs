//! Hash verdicts: a passed piece becomes ours; a failed one is downloaded again, strikes its
//! contributors, and feeds the smart ban.
//!
//! Smart ban (as libtorrent does it): when a piece fails, the session reads its blocks back and
//! gives their digests ([`Picker::record_failed_blocks`]); the picker remembers, per block, who
//! sent which digest. When the piece later passes, the session gives the good blocks' digests
//! ([`Picker::check_passed_blocks`]); a peer that had sent a different block is proven bad and
//! banned at once, and peers whose blocks matched are not the culprits.

use std::collections::{BTreeMap, BTreeSet};

use super::blocks::block_request;
use super::{BLOCK_LEN, BlockRef, PeerKey, Picker, Priority};

/// Failed pieces remembered for the smart ban; older ones are forgotten first.
const SMART_BAN_PIECES: usize = 256;
/// Digests remembered per block (one per failure of its piece).
const SMART_BAN_PER_BLOCK: usize = 8;

/// What [`Picker::piece_passed`] asks of the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PiecePassed {
    /// Requests still in flight for the piece, to cancel (only when marked had early).
    pub cancels: Vec<(PeerKey, BlockRef)>,
    /// The piece had failed before and its blocks' digests were recorded: compute the digest
    /// of each block and call `Picker::check_passed_blocks`.
    pub smart_ban_check: bool,
}

/// What [`Picker::piece_failed`] decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct PieceFailed {
    /// Peers that sent at least one block of the failed piece (each got a strike).
    pub contributors: Vec<PeerKey>,
    /// Peers banned now (strikes reached the limit): disconnect them and refuse them again.
    pub banned: Vec<PeerKey>,
    /// Requests still in flight for the piece, to cancel.
    pub cancels: Vec<(PeerKey, BlockRef)>,
}

/// The (sender, digest) pairs seen for one block of a failed piece.
type BlockDigests = Vec<(PeerKey, [u8; 32])>;

/// Per failed piece: who sent each block, and the digests recorded per block.
#[derive(Clone, Debug, Default)]
pub(super) struct SmartBan {
    /// Sender of each block of the last failure, until its digests are recorded.
    pending: BTreeMap<u32, Vec<Option<PeerKey>>>,
    /// Per piece, per block: (sender, digest of what it sent).
    recorded: BTreeMap<u32, Vec<BlockDigests>>,
}

impl Picker {
    /// The piece's hash matched (and its data is written): it is ours. Also used to mark pieces
    /// had from resume data. Ignored for an index past the end.
    pub fn piece_passed(&mut self, piece: u32) -> PiecePassed {
        if piece >= self.piece_count || self.have.contains(piece) {
            return PiecePassed::default();
        }
        let cancels = self.abandon(piece);
        self.unlist(piece);
        self.have.insert(piece);
        if self.priority(piece) != Priority::Skip {
            self.wanted_missing -= 1;
        }
        self.smart_ban.pending.remove(&piece);
        PiecePassed {
            cancels,
            smart_ban_check: self.smart_ban.recorded.contains_key(&piece),
        }
    }

    /// The piece's hash did not match: it will be downloaded again. Every peer that sent a
    /// block of it gets a strike; peers reaching the strike limit are banned. Then compute each
    /// block's digest from storage and call [`Self::record_failed_blocks`] for the smart ban.
    pub(crate) fn piece_failed(&mut self, piece: u32) -> PieceFailed {
        let Some(dl) = self.downloading.get(&piece) else {
            return PieceFailed::default();
        };
        let senders: Vec<Option<PeerKey>> = dl.blocks.iter().map(|b| b.from).collect();
        let cancels = self.abandon(piece);
        self.relist(piece);
        let mut contributors: Vec<PeerKey> = senders.iter().flatten().copied().collect();
        contributors.sort_unstable();
        contributors.dedup();
        let mut banned = Vec::new();
        for &peer in &contributors {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.strikes += 1;
                if state.strikes >= self.config.strikes_to_ban && !state.banned {
                    banned.push(peer);
                }
            }
        }
        for &peer in &banned {
            self.ban(peer);
        }
        if self.smart_ban.pending.len() >= SMART_BAN_PIECES {
            self.smart_ban.pending.pop_first();
        }
        self.smart_ban.pending.insert(piece, senders);
        PieceFailed {
            contributors,
            banned,
            cancels,
        }
    }

    /// Who sent each block of `piece` while it is being downloaded (block order; `None` for a
    /// block not received or made of padding); `None` if it is not being downloaded.
    pub(crate) fn block_senders(&self, piece: u32) -> Option<Vec<Option<PeerKey>>> {
        let dl = self.downloading.get(&piece)?;
        Some(dl.blocks.iter().map(|b| b.from).collect())
    }

    /// Blocks `bad` of a complete piece that failed its hash were each proven bad (a v2
    /// piece's blocks checked against their leaf hashes): only they are downloaded again, the
    /// piece's other blocks are kept. Their senders are banned and returned (sorted, once
    /// each). Nothing happens for a piece not being downloaded or an index past its blocks.
    pub(crate) fn blocks_failed(&mut self, piece: u32, bad: &[u32]) -> Vec<PeerKey> {
        let Some(dl) = self.downloading.get_mut(&piece) else {
            return Vec::new();
        };
        let mut culprits = Vec::new();
        for &i in bad {
            let Some(block) = dl.blocks.get_mut(i as usize) else {
                continue;
            };
            if let Some(from) = block.from.take() {
                culprits.push(from);
                dl.received -= 1;
                if block.is_free() {
                    dl.free += 1;
                }
            }
        }
        if dl.free > 0 {
            self.partial.insert(piece);
        }
        culprits.sort_unstable();
        culprits.dedup();
        for &peer in &culprits {
            self.ban(peer);
        }
        culprits
    }

    /// Records the digests (any digest of the bytes, e.g. SHA-256) of each block of a piece that
    /// just failed, in block order, for the smart ban.
    pub(crate) fn record_failed_blocks(&mut self, piece: u32, digests: &[[u8; 32]]) {
        let Some(senders) = self.smart_ban.pending.remove(&piece) else {
            return;
        };
        if !self.smart_ban.recorded.contains_key(&piece)
            && self.smart_ban.recorded.len() >= SMART_BAN_PIECES
        {
            self.smart_ban.recorded.pop_first();
        }
        let blocks = self
            .smart_ban
            .recorded
            .entry(piece)
            .or_insert_with(|| vec![Vec::new(); senders.len()]);
        for ((sender, digest), seen) in senders.iter().zip(digests).zip(blocks.iter_mut()) {
            if let Some(sender) = sender
                && seen.len() < SMART_BAN_PER_BLOCK
                && !seen.contains(&(*sender, *digest))
            {
                seen.push((*sender, *digest));
            }
        }
    }

    /// Compares the digests of a piece that passed (in block order) with those recorded when it
    /// failed. Returns the peers proven to have sent bad data; they are banned.
    pub(crate) fn check_passed_blocks(&mut self, piece: u32, digests: &[[u8; 32]]) -> Vec<PeerKey> {
        let Some(blocks) = self.smart_ban.recorded.remove(&piece) else {
            return Vec::new();
        };
        let mut bad: Vec<PeerKey> = blocks
            .iter()
            .zip(digests)
            .flat_map(|(seen, good)| seen.iter().filter(move |(_, d)| d != good))
            .map(|(peer, _)| *peer)
            .collect();
        bad.sort_unstable();
        bad.dedup();
        for &peer in &bad {
            self.ban(peer);
        }
        bad
    }

    /// Whether the picker still holds something `peer` sent that a smart-ban proof may later
    /// judge: a block of a piece not verified yet, or recorded digests of a failed piece. The
    /// session keeps the address of such a peer after it disconnects, to ban it then.
    pub(crate) fn has_records_of(&self, peer: PeerKey) -> bool {
        let sent = |b: &super::blocks::Block| b.from == Some(peer);
        self.downloading.values().any(|d| d.blocks.iter().any(sent))
            || self
                .smart_ban
                .pending
                .values()
                .any(|senders| senders.contains(&Some(peer)))
            || self
                .smart_ban
                .recorded
                .values()
                .flatten()
                .flatten()
                .any(|(p, _)| *p == peer)
    }

    /// Every peer [`Self::has_records_of`] is true for.
    pub(crate) fn recorded_peers(&self) -> BTreeSet<PeerKey> {
        let mut peers: BTreeSet<PeerKey> = self
            .downloading
            .values()
            .flat_map(|d| d.blocks.iter().filter_map(|b| b.from))
            .collect();
        peers.extend(self.smart_ban.pending.values().flatten().flatten());
        peers.extend(
            self.smart_ban
                .recorded
                .values()
                .flatten()
                .flatten()
                .map(|(p, _)| *p),
        );
        peers
    }

    /// Strikes a peer has from failed pieces.
    #[cfg(test)]
    pub(crate) fn strikes(&self, peer: PeerKey) -> u32 {
        self.peers.get(&peer).map_or(0, |p| p.strikes)
    }

    fn ban(&mut self, peer: PeerKey) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.banned = true;
        }
        let _ = self.drop_requests(peer);
    }

    /// The piece's blocks never reached storage whole, or its hash check could not be done (a
    /// write or the check's read failed, or it failed while its torrent stopped): the blocks
    /// received are forgotten, nobody is struck, and the piece is picked again from nothing.
    /// Returns the requests still out for it, to cancel.
    pub(crate) fn piece_lost(&mut self, piece: u32) -> Vec<(PeerKey, BlockRef)> {
        let cancels = self.abandon(piece);
        self.relist(piece);
        cancels
    }

    /// Forgets the download state of `piece`; returns the requests that were in flight.
    fn abandon(&mut self, piece: u32) -> Vec<(PeerKey, BlockRef)> {
        let Some(dl) = self.downloading.remove(&piece) else {
            return Vec::new();
        };
        self.partial.remove(&piece);
        let piece_len = self.piece_len(piece);
        let mut cancels = Vec::new();
        for (i, block) in dl.blocks.iter().enumerate() {
            let request = block_request(piece, piece_len, i as u32);
            for peer in &block.reqs {
                if let Some(state) = self.peers.get_mut(peer) {
                    state.inflight.retain(|(r, _)| *r != request);
                }
                cancels.push((*peer, request));
            }
        }
        debug_assert!(cancels.iter().all(|(_, r)| r.offset % BLOCK_LEN == 0));
        cancels
    }
}
