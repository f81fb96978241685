//! Blocks of in-order received bytes, reused once every slice taken from them is dropped.
//!
//! Received bytes are appended to one block per connection and handed to the session as
//! slices of it, which live until their disk write. A fresh 256 KiB block per fill was above
//! glibc's mmap threshold (or trimmed from the top of the heap when freed): every block was
//! faulted in again, 21-30 k page faults per 256 MiB received. The socket keeps the blocks it
//! retired and takes one back when nothing refers to it any more.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Retired blocks of a [`UtpSocket`](super::UtpSocket), shared by its connections.
#[derive(Debug, Default)]
pub(crate) struct BlockPool {
    retired: VecDeque<BytesMut>,
}

impl BlockPool {
    /// An empty block with room for at least `len` bytes: a retired one nothing refers to
    /// any more if there is one, else a new one of at least [`BLOCK`] bytes.
    pub(crate) fn take(&mut self, len: usize) -> BytesMut {
        let want = len.max(BLOCK);
        if let Some(i) = self.retired.iter_mut().position(|b| b.try_reclaim(want))
            && let Some(block) = self.retired.remove(i)
        {
            return block;
        }
        BytesMut::with_capacity(want)
    }

    /// Keeps `block` (its bytes already copied or taken) until its slices are dropped; the
    /// oldest retired block is forgotten when [`MAX_RETIRED`] are kept.
    pub(crate) fn retire(&mut self, mut block: BytesMut) {
        block.clear();
        if self.retired.len() == MAX_RETIRED {
            self.retired.pop_front();
        }
        self.retired.push_back(block);
    }
}

/// Bytes of a new block, at least.
pub(crate) const BLOCK: usize = 256 << 10;

/// Retired blocks kept per socket, at most (4 MiB).
const MAX_RETIRED: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_comes_back_once_its_slices_are_dropped() {
        let mut pool = BlockPool::default();
        let mut block = pool.take(10);
        let first = block.as_ptr();
        block.extend_from_slice(&[1; 1000]);
        let slice = block.split_to(600).freeze();
        pool.retire(block);
        let other = pool.take(10);
        assert_ne!(
            other.as_ptr(),
            first,
            "a slice still refers to the first block"
        );
        drop(slice);
        let again = pool.take(10);
        assert_eq!(again.as_ptr(), first);
        assert!(again.is_empty() && again.capacity() >= BLOCK);
        pool.retire(other);
        pool.retire(again);
        assert_eq!(pool.retired.len(), 2);
        for _ in 0..MAX_RETIRED {
            pool.retire(BytesMut::new());
        }
        assert_eq!(pool.retired.len(), MAX_RETIRED);
    }
}
