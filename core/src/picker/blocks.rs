//! Blocks of the pieces being downloaded: which are free, requested (from whom) or received.

use super::PeerKey;
use crate::pieces::BlockRef;

/// Length of a block, the unit of a request (16 KiB, as every client uses).
pub const BLOCK_LEN: u32 = 16 * 1024;

/// State of one block of a piece being downloaded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Block {
    /// Peers this block is currently requested from (more than one only in endgame).
    pub(crate) reqs: Vec<PeerKey>,
    /// Who delivered the block, once received.
    pub(crate) from: Option<PeerKey>,
    /// The peer its latest request timed out on: not asked for it again while another peer
    /// can be.
    pub(crate) timed_out_on: Option<PeerKey>,
    /// The block lies wholly in padding files (BEP 47): zeros, never requested, received from
    /// the start.
    pub(crate) padding: bool,
}

impl Block {
    pub(crate) fn is_received(&self) -> bool {
        self.from.is_some() || self.padding
    }

    pub(crate) fn is_free(&self) -> bool {
        !self.is_received() && self.reqs.is_empty()
    }
}

/// A piece with at least one block requested or received.
#[derive(Clone, Debug)]
pub(crate) struct Downloading {
    pub(crate) blocks: Vec<Block>,
    /// Blocks neither requested nor received.
    pub(crate) free: u32,
    /// Blocks received.
    pub(crate) received: u32,
}

impl Downloading {
    pub(crate) fn new(block_count: u32) -> Self {
        Self {
            blocks: vec![Block::default(); block_count as usize],
            free: block_count,
            received: 0,
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.received as usize == self.blocks.len()
    }

    /// Marks free block `index` as padding: received, from nobody.
    pub(crate) fn pad(&mut self, index: u32) {
        let Some(block) = self.blocks.get_mut(index as usize) else {
            return;
        };
        if block.is_free() {
            block.padding = true;
            self.free -= 1;
            self.received += 1;
        }
    }

    /// Records a request of block `index` from `peer`.
    pub(crate) fn request(&mut self, index: u32, peer: PeerKey) {
        let block = &mut self.blocks[index as usize];
        if block.is_free() {
            self.free -= 1;
        }
        block.reqs.push(peer);
    }

    /// Forgets `peer`'s request of block `index`; returns whether it had one.
    pub(crate) fn unrequest(&mut self, index: u32, peer: PeerKey) -> bool {
        let block = &mut self.blocks[index as usize];
        let Some(i) = block.reqs.iter().position(|p| *p == peer) else {
            return false;
        };
        block.reqs.swap_remove(i);
        if block.is_free() {
            self.free += 1;
        }
        true
    }

    /// Marks block `index` received from `peer`; returns the other peers it was requested
    /// from (their requests are dropped), or `None` if it had already been received.
    pub(crate) fn receive(&mut self, index: u32, peer: PeerKey) -> Option<Vec<PeerKey>> {
        let block = &mut self.blocks[index as usize];
        if block.is_received() {
            return None;
        }
        if block.is_free() {
            self.free -= 1;
        }
        block.from = Some(peer);
        self.received += 1;
        let others = std::mem::take(&mut block.reqs)
            .into_iter()
            .filter(|p| *p != peer)
            .collect();
        Some(others)
    }
}

/// Number of blocks of a piece of `piece_len` bytes.
pub(crate) fn block_count(piece_len: u32) -> u32 {
    piece_len.div_ceil(BLOCK_LEN)
}

/// The request for block `index` of a piece of `piece_len` bytes.
pub(crate) fn block_request(piece: u32, piece_len: u32, index: u32) -> BlockRef {
    let offset = index * BLOCK_LEN;
    BlockRef {
        piece,
        offset,
        length: (piece_len - offset).min(BLOCK_LEN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_requests_and_arrivals() {
        let a = PeerKey(1);
        let b = PeerKey(2);
        let mut d = Downloading::new(3);
        d.request(0, a);
        d.request(0, b);
        assert_eq!(d.free, 2);
        assert!(d.unrequest(0, b));
        assert!(!d.unrequest(0, b));
        assert_eq!(d.free, 2);
        d.request(0, b);
        assert_eq!(d.receive(0, a), Some(vec![b]));
        assert_eq!(d.receive(0, b), None);
        assert_eq!(d.receive(1, b), Some(vec![]));
        assert_eq!((d.free, d.received), (1, 2));
        assert!(!d.is_complete());
        d.receive(2, a);
        assert!(d.is_complete());
    }

    #[test]
    fn block_geometry() {
        assert_eq!(block_count(BLOCK_LEN * 2 + 1), 3);
        assert_eq!(block_request(4, BLOCK_LEN * 2 + 1, 2).length, 1);
        assert_eq!(block_request(4, BLOCK_LEN * 2 + 1, 1).offset, BLOCK_LEN);
    }
}
