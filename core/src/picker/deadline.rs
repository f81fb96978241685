//! Time-critical pieces (streaming): pieces a reader needs by a deadline are picked before any
//! other (before partial pieces, rarest first and sequential order), earliest deadline first,
//! as libtorrent's `set_piece_deadline` does. Each reader (a stream being served) names its
//! own pieces; a piece several readers need takes the earliest of their deadlines; a reader
//! that goes away clears its own and leaves the others'. A block of such a piece still in
//! flight from one peer when the deadline is near or past ([`PickerConfig::deadline_slack`])
//! is requested from a second peer too; the first copy to arrive cancels the other.
//!
//! [`PickerConfig::deadline_slack`]: super::PickerConfig::deadline_slack

use std::collections::BTreeMap;
use std::time::Instant;

use super::blocks::block_request;
use super::{Picker, PickerError, Priority};
use crate::pieces::BlockRef;

/// The most readers with deadlines on one torrent at once.
pub const MAX_DEADLINE_READERS: usize = 64;

/// The most pieces one reader keeps deadlines on (the earliest are kept).
pub const MAX_DEADLINES_PER_READER: usize = 64;

/// Every reader's time-critical pieces.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadlines {
    /// Each reader's pieces and deadlines, earliest first.
    readers: BTreeMap<u64, Vec<(u32, Instant)>>,
    /// Every reader's pieces with their earliest deadline, earliest first (ties: lower index
    /// first), each once.
    order: Vec<(u32, Instant)>,
}

impl Deadlines {
    /// Rebuilds [`Deadlines::order`] from the readers' lists.
    fn reorder(&mut self) {
        let mut earliest: BTreeMap<u32, Instant> = BTreeMap::new();
        for &(piece, at) in self.readers.values().flatten() {
            earliest
                .entry(piece)
                .and_modify(|e| *e = (*e).min(at))
                .or_insert(at);
        }
        let mut order: Vec<(Instant, u32)> = earliest.into_iter().map(|(p, at)| (at, p)).collect();
        order.sort_unstable();
        self.order = order.into_iter().map(|(at, p)| (p, at)).collect();
    }
}

impl Picker {
    /// Sets `reader`'s time-critical pieces, replacing those it set before: each piece is
    /// picked before any piece without a deadline, earliest deadline first, from every peer
    /// that has it (pieces we have or skip are passed over). At most
    /// [`MAX_DEADLINES_PER_READER`] are kept (the earliest); an empty list clears the reader.
    /// A new reader beyond [`MAX_DEADLINE_READERS`] is refused.
    pub fn set_deadlines(
        &mut self,
        reader: u64,
        pieces: &[(u32, Instant)],
    ) -> Result<(), PickerError> {
        if let Some(&(piece, _)) = pieces.iter().find(|(p, _)| *p >= self.piece_count) {
            return Err(PickerError::PieceOutOfRange {
                piece,
                piece_count: self.piece_count,
            });
        }
        if pieces.is_empty() {
            self.clear_deadlines(reader);
            return Ok(());
        }
        let d = &mut self.deadlines;
        if !d.readers.contains_key(&reader) && d.readers.len() >= MAX_DEADLINE_READERS {
            return Err(PickerError::TooManyReaders);
        }
        // Each piece once, at its earliest deadline; then the earliest pieces kept.
        let mut list = pieces.to_vec();
        list.sort_unstable();
        list.dedup_by_key(|(p, _)| *p);
        list.sort_unstable_by_key(|&(p, at)| (at, p));
        list.truncate(MAX_DEADLINES_PER_READER);
        d.readers.insert(reader, list);
        d.reorder();
        Ok(())
    }

    /// Forgets `reader`'s time-critical pieces (other readers keep theirs).
    pub fn clear_deadlines(&mut self, reader: u64) {
        if self.deadlines.readers.remove(&reader).is_some() {
            self.deadlines.reorder();
        }
    }

    /// The time-critical pieces still missing, earliest deadline first.
    pub fn deadline_pieces(&self) -> impl Iterator<Item = u32> + '_ {
        self.deadlines
            .order
            .iter()
            .map(|&(p, _)| p)
            .filter(|&p| self.wants(p))
    }

    /// Free blocks of the time-critical pieces `peer` has, earliest deadline first; then, for
    /// pieces whose deadline is within the slack of `now`, their blocks in flight from one
    /// other peer only.
    pub(super) fn pick_deadlines(
        &mut self,
        now: Instant,
        peer: super::PeerKey,
        want: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        if self.deadlines.order.is_empty() {
            return;
        }
        let late_at = self.config.deadline_slack.map(|slack| now + slack);
        for i in 0..self.deadlines.order.len() {
            if *want == 0 {
                break;
            }
            let (piece, at) = self.deadlines.order[i];
            if !self.wants(piece)
                || self.priority(piece) == Priority::Skip
                || !self.peers[&peer].has(piece)
            {
                continue;
            }
            if !self.downloading.contains_key(&piece) {
                self.start_piece(piece);
            }
            self.take_free_blocks(piece, peer, want, out);
            if late_at.is_some_and(|late| at <= late) {
                self.take_late_blocks(piece, peer, want, out);
            }
        }
    }

    /// Blocks of `piece` in flight from exactly one other peer, not yet received: requested
    /// from `peer` as well.
    fn take_late_blocks(
        &mut self,
        piece: u32,
        peer: super::PeerKey,
        want: &mut usize,
        out: &mut Vec<BlockRef>,
    ) {
        let piece_len = self.piece_len(piece);
        let Some(dl) = self.downloading.get_mut(&piece) else {
            return;
        };
        for i in 0..dl.blocks.len() as u32 {
            if *want == 0 {
                break;
            }
            let block = &dl.blocks[i as usize];
            if block.is_received() || block.reqs.len() != 1 || block.reqs.contains(&peer) {
                continue;
            }
            dl.request(i, peer);
            out.push(block_request(piece, piece_len, i));
            *want -= 1;
        }
    }
}
