//! The bounded pieces of a connection's state: send queue, requests both ways, peer pieces.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::pieces::{BlockRef, PieceSet};
use crate::wire::limits::{
    ABANDONED_BLOCK_GRACE, MAX_CANCELLED_REMEMBERED, MAX_UNKNOWN_PIECE_COUNT,
};
use crate::wire::message::{Message, encode_piece_header};

/// Bytes waiting to be written: small messages coalesce in one buffer, blocks travel as the
/// `Bytes` the owner gave (no copy).
#[derive(Debug, Default)]
pub(super) struct SendQueue {
    small: BytesMut,
    chunks: VecDeque<Bytes>,
    queued: usize,
}

impl SendQueue {
    pub(super) fn message(&mut self, m: &Message) {
        let before = self.small.len();
        m.encode(&mut self.small);
        self.queued += self.small.len() - before;
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.small.extend_from_slice(bytes);
        self.queued += bytes.len();
    }

    pub(super) fn block(&mut self, piece: u32, offset: u32, data: Bytes) {
        // Block lengths are checked against MAX_BLOCK_LEN by the caller.
        encode_piece_header(piece, offset, data.len() as u32, &mut self.small);
        self.queued += 13 + data.len();
        self.chunks.push_back(self.small.split().freeze());
        self.chunks.push_back(data);
    }

    pub(super) fn poll(&mut self) -> Option<Bytes> {
        let out = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.small.is_empty() => self.small.split().freeze(),
            None => return None,
        };
        self.queued -= out.len();
        Some(out)
    }

    pub(super) fn len(&self) -> usize {
        self.queued
    }

    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Our requests to the peer, in the order sent, plus recently abandoned ones (cancelled by us,
/// dropped by a choke) whose blocks may still be on the wire.
#[derive(Debug, Default)]
pub(super) struct OutRequests {
    pub(super) live: VecDeque<BlockRef>,
    abandoned: VecDeque<(BlockRef, Instant)>,
}

impl OutRequests {
    pub(super) fn contains(&self, block: BlockRef) -> bool {
        self.live.contains(&block)
    }

    pub(super) fn push(&mut self, block: BlockRef) {
        self.live.push_back(block);
    }

    /// Removes a live request; `true` if it was there.
    pub(super) fn remove(&mut self, block: BlockRef) -> bool {
        match self.live.iter().position(|b| *b == block) {
            Some(i) => {
                self.live.remove(i);
                true
            }
            None => false,
        }
    }

    /// Remembers a block we no longer wait for, so its late arrival (within
    /// [`ABANDONED_BLOCK_GRACE`]) is not a fault.
    pub(super) fn abandon(&mut self, block: BlockRef, now: Instant) {
        self.expire_abandoned(now);
        if self.abandoned.len() >= MAX_CANCELLED_REMEMBERED {
            self.abandoned.pop_front();
        }
        self.abandoned.push_back((block, now));
    }

    /// Forgets an abandoned block; `true` if it was remembered (and abandoned within
    /// [`ABANDONED_BLOCK_GRACE`] of `now`).
    pub(super) fn take_abandoned(&mut self, block: BlockRef, now: Instant) -> bool {
        self.expire_abandoned(now);
        match self.abandoned.iter().position(|(b, _)| *b == block) {
            Some(i) => {
                self.abandoned.remove(i);
                true
            }
            None => false,
        }
    }

    /// Forgets abandoned blocks older than the grace period at `now`.
    fn expire_abandoned(&mut self, now: Instant) {
        let Some(cutoff) = now.checked_sub(ABANDONED_BLOCK_GRACE) else {
            return;
        };
        while self.abandoned.front().is_some_and(|(_, t)| *t < cutoff) {
            self.abandoned.pop_front();
        }
    }

    pub(super) fn clear(&mut self) {
        self.live.clear();
        self.abandoned.clear();
    }
}

/// What we know of the peer's pieces.
#[derive(Debug)]
pub(super) struct PeerPieces {
    /// While the piece count is unknown this grows with the haves (capped); afterwards it has
    /// exactly the torrent's piece count.
    pub(super) bits: PieceSet,
    /// Whether the piece count is known.
    pub(super) known: bool,
    /// The peer sent a bitfield, have all or have none.
    pub(super) announced: bool,
    /// Unknown count only: the peer sent have all.
    pub(super) have_all: bool,
    /// Unknown count only: byte length of the bitfield the peer sent.
    pub(super) bitfield_len: Option<usize>,
}

impl PeerPieces {
    pub(super) fn new(piece_count: Option<u32>) -> Self {
        Self {
            bits: PieceSet::new(piece_count.unwrap_or(0)),
            known: piece_count.is_some(),
            announced: false,
            have_all: false,
            bitfield_len: None,
        }
    }

    /// Records a have while the count is unknown; `false` if the index is beyond the cap.
    pub(super) fn unknown_have(&mut self, piece: u32) -> bool {
        if self.have_all {
            return true;
        }
        if piece >= MAX_UNKNOWN_PIECE_COUNT {
            return false;
        }
        if piece >= self.bits.len() {
            // Grow geometrically so a run of haves costs amortised O(1) each.
            let len = (piece + 1)
                .max(self.bits.len().saturating_mul(2))
                .min(MAX_UNKNOWN_PIECE_COUNT);
            self.bits.resize(len);
        }
        self.bits.insert(piece);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_queue_keeps_order_and_shares_blocks() {
        let mut q = SendQueue::default();
        q.message(&Message::Unchoke);
        let block = Bytes::from(vec![7u8; 100]);
        q.block(1, 0, block.clone());
        q.message(&Message::Have(3));
        assert_eq!(q.len(), 5 + 13 + 100 + 9);
        let mut out = Vec::new();
        let mut chunks = Vec::new();
        while let Some(c) = q.poll() {
            out.extend_from_slice(&c);
            chunks.push(c);
        }
        assert_eq!(q.len(), 0);
        let mut expected = Vec::new();
        Message::Unchoke.encode(&mut expected);
        Message::Piece {
            piece: 1,
            offset: 0,
            data: block.clone(),
        }
        .encode(&mut expected);
        Message::Have(3).encode(&mut expected);
        assert_eq!(out, expected);
        assert!(
            chunks.iter().any(|c| c.as_ptr() == block.as_ptr()),
            "block copied"
        );
    }

    #[test]
    fn unknown_haves_grow_within_the_cap() {
        let mut p = PeerPieces::new(None);
        for i in 0..10_000 {
            assert!(p.unknown_have(i));
        }
        assert_eq!(p.bits.count(), 10_000);
        assert!(p.unknown_have(MAX_UNKNOWN_PIECE_COUNT - 1));
        assert!(!p.unknown_have(MAX_UNKNOWN_PIECE_COUNT));
        assert_eq!(p.bits.len(), MAX_UNKNOWN_PIECE_COUNT);
    }
}
