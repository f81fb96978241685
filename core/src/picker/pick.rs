//! Choosing blocks to request: pipeline depth, partial pieces first, then rarest first (or
//! sequential), then endgame.

use std::time::Instant;

use super::blocks::{Downloading, block_count, block_request};
use super::{
    BLOCK_LEN, BlockRef, Has, PeerKey, PeerRate, Picker, PickerConfig, Priority, another_can_give,
};

/// How many requests to keep in flight to a peer: enough bytes to cover its rate times the
/// round trip plus the configured queue time, at least `min_pipeline`, at most `max_pipeline`
/// and the peer's `reqq`.
pub(crate) fn pipeline_depth(config: &PickerConfig, rate: PeerRate) -> u32 {
    let window = (rate.rtt + config.request_queue_time).as_secs_f64();
    let blocks = (rate.download_rate as f64 * window / f64::from(BLOCK_LEN)).ceil();
    let blocks = if blocks.is_finite() && blocks < f64::from(u32::MAX) {
        blocks as u32
    } else {
        u32::MAX
    };
    blocks
        .clamp(
            config.min_pipeline,
            config.max_pipeline.max(config.min_pipeline),
        )
        .min(rate.reqq.max(1))
}

impl Picker {
    /// The next blocks to request from `peer`, given its measured `rate`: as many as fit its
    /// pipeline ([`pipeline_depth`], one when snubbed) beyond what is already in flight, once
    /// that is at least a batch ([`PickerConfig::refill_batch`]) or nothing is. While
    /// the peer chokes us, only blocks of the pieces it allows us fast (BEP 6). Empty if the
    /// peer is banned or has nothing we need. The caller sends a `request` for each; call
    /// again after blocks arrive, unchokes, haves, allowed-fast pieces and timeouts.
    pub fn pick(&mut self, now: Instant, peer: PeerKey, rate: PeerRate) -> Vec<BlockRef> {
        let Some(state) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let choked = !state.unchoked;
        if state.banned || (choked && state.allowed_fast.is_empty()) {
            return Vec::new();
        }
        let depth = if state.snubbed {
            1
        } else {
            pipeline_depth(&self.config, rate)
        } as usize;
        let mut want = depth.saturating_sub(state.inflight.len());
        let batch = (depth / 8).min(self.config.refill_batch as usize);
        let mut out = Vec::new();
        if want == 0 || (want < batch && !state.inflight.is_empty()) {
            return out;
        }
        if choked {
            self.pick_allowed_fast(peer, &mut want, &mut out);
        } else {
            self.pick_unchoked(now, peer, &mut want, &mut out);
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.inflight.extend(out.iter().map(|r| (*r, now)));
        }
        out
    }

    /// Time-critical pieces first, then partial pieces, then untouched ones (rarest first or
    /// in order), then endgame.
    fn pick_unchoked(
        &mut self,
        now: Instant,
        peer: PeerKey,
        want: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        self.pick_deadlines(now, peer, want, out);
        self.pick_partial(peer, want, out);
        while *want > 0 {
            let next = if self.config.sequential {
                self.next_sequential(peer)
            } else {
                self.next_rarest(peer)
            };
            let Some(piece) = next else { break };
            self.start_piece(piece);
            self.take_free_blocks(piece, peer, want, out);
        }
        if *want > 0 && self.in_endgame() {
            self.pick_endgame(peer, want, out);
        }
    }

    /// Free blocks of the wanted pieces `peer` allows us fast (BEP 6), in the order it named
    /// them; a piece nobody started yet is started only while we are a starting peer (see
    /// [`PickerConfig::starting_pieces`]).
    fn pick_allowed_fast(&mut self, peer: PeerKey, want: &mut usize, out: &mut Vec<BlockRef>) {
        let allowed = self.peers[&peer].allowed_fast.clone();
        for piece in allowed {
            if *want == 0 {
                break;
            }
            if !self.wants(piece) || !self.peers[&peer].has(piece) {
                continue;
            }
            if !self.downloading.contains_key(&piece) {
                let started = self.have.count() as usize + self.downloading.len();
                if started >= self.config.starting_pieces as usize {
                    continue;
                }
                self.start_piece(piece);
            }
            self.take_free_blocks(piece, peer, want, out);
        }
    }

    /// Free blocks of partly downloaded pieces the peer has.
    fn pick_partial(&mut self, peer: PeerKey, want: &mut usize, out: &mut Vec<BlockRef>) {
        let mut cursor = 0;
        while *want > 0 {
            let Some(&piece) = self.partial.range(cursor..).next() else {
                break;
            };
            cursor = piece + 1;
            if self.priority(piece) == Priority::Skip || !self.peers[&peer].has(piece) {
                continue;
            }
            self.take_free_blocks(piece, peer, want, out);
        }
    }

    /// Requests free blocks of a downloading `piece` from `peer`, up to `want`.
    pub(super) fn take_free_blocks(
        &mut self,
        piece: u32,
        peer: PeerKey,
        want: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let piece_len = self.piece_len(piece);
        let Some(dl) = self.downloading.get_mut(&piece) else {
            return;
        };
        // A block that timed out on this peer goes to another one, if another can give it.
        let mut avoid = None;
        for i in 0..dl.blocks.len() as u32 {
            if *want == 0 || dl.free == 0 {
                break;
            }
            let block = &dl.blocks[i as usize];
            if !block.is_free() {
                continue;
            }
            if block.timed_out_on == Some(peer)
                && *avoid.get_or_insert_with(|| another_can_give(&self.peers, piece, peer))
            {
                continue;
            }
            dl.request(i, peer);
            out.push(block_request(piece, piece_len, i));
            *want -= 1;
        }
        if dl.free == 0 {
            self.partial.remove(&piece);
        }
    }

    /// Moves an untouched piece to the downloading state (its blocks of padding received).
    pub(super) fn start_piece(&mut self, piece: u32) {
        self.unlist(piece);
        let piece_len = self.piece_len(piece);
        let mut dl = Downloading::new(block_count(piece_len));
        for i in self.padding.blocks(piece, piece_len) {
            dl.pad(i);
        }
        if dl.free > 0 {
            self.partial.insert(piece);
        }
        self.downloading.insert(piece, dl);
    }

    /// The rarest untouched wanted piece the peer has (high priority first, low last).
    ///
    /// Walks the availability-ordered list from its rare end; a peer with a fair share of the
    /// pieces matches within a few steps. If the first `SCAN_LIMIT` entries miss (a peer with
    /// few or no useful pieces), the peer's own pieces are searched for the one earliest in the
    /// list instead, so a pick never walks the whole list.
    pub(super) fn next_rarest(&self, peer: PeerKey) -> Option<u32> {
        let state = &self.peers[&peer];
        for buckets in &self.tiers {
            let found = match &state.has {
                Has::All => buckets.rarest_first().next(),
                Has::Some(set) => match buckets
                    .rarest_first()
                    .take(SCAN_LIMIT)
                    .find(|&p| set.contains(p))
                {
                    Some(p) => Some(p),
                    None if buckets.len() > SCAN_LIMIT => set
                        .iter()
                        .filter(|&p| buckets.contains(p))
                        .min_by_key(|&p| buckets.rank(p)),
                    None => None,
                },
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The lowest-index untouched wanted piece the peer has (sequential mode), high priority
    /// first, low last: a priority's list is searched only if the peer has none of the higher
    /// ones. An empty list costs nothing.
    pub(super) fn next_sequential(&mut self, peer: PeerKey) -> Option<u32> {
        while self.seq_cursor < self.piece_count
            && (self.have.contains(self.seq_cursor)
                || self.priority(self.seq_cursor) == Priority::Skip)
        {
            self.seq_cursor += 1;
        }
        for buckets in self.tiers.iter().filter(|b| b.len() > 0) {
            let listed = |p: &u32| buckets.contains(*p);
            let found = match &self.peers[&peer].has {
                Has::All => (self.seq_cursor..self.piece_count).find(listed),
                Has::Some(set) => set.iter_from(self.seq_cursor).find(listed),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// Entries of the availability list walked before searching the peer's own pieces instead.
const SCAN_LIMIT: usize = 128;
