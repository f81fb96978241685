//! The buffer a connection's reader task reads its socket into. Each read's bytes are split
//! off as an owned [`BytesMut`] for `Session::handle_peer_data`, so the session keeps blocks
//! as slices of this buffer and nothing is copied on the way to the disk. Consecutive reads
//! come from one allocation (the session joins them in place); a fresh one is made when too
//! little room is left, and an old one is freed once every block in it is written.

use bytes::BytesMut;

/// A reader's buffer (see the module docs).
#[derive(Debug)]
pub struct ReadBuffer {
    buf: BytesMut,
    size: usize,
}

impl ReadBuffer {
    /// A buffer whose allocations are `size` bytes (at least 1 KiB).
    pub fn new(size: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            size: size.max(1024),
        }
    }

    /// Room to read into: the rest of the current allocation, or a new one when less than a
    /// quarter of it is left.
    pub fn space(&mut self) -> &mut [u8] {
        if self.buf.len() < self.size / 4 {
            self.buf = BytesMut::zeroed(self.size);
        }
        &mut self.buf[..]
    }

    /// Takes the first `n` bytes of [`ReadBuffer::space`] (what a read returned).
    pub fn take(&mut self, n: usize) -> BytesMut {
        self.buf.split_to(n.min(self.buf.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_reads_are_adjacent_until_the_allocation_runs_low() {
        let mut reads = ReadBuffer::new(4096);
        reads.space()[..1000].fill(1);
        let first = reads.take(1000);
        assert_eq!(reads.space().len(), 3096);
        reads.space()[..2100].fill(2);
        let second = reads.take(2100);
        assert_eq!(first.as_ptr_range().end, second.as_ptr());
        assert!(first.iter().all(|&b| b == 1) && second.iter().all(|&b| b == 2));
        // 996 bytes left, under a quarter: a new allocation.
        assert_eq!(reads.space().len(), 4096);
        let third = reads.take(10);
        assert_ne!(second.as_ptr_range().end, third.as_ptr());
    }

    #[test]
    fn take_never_exceeds_the_space() {
        let mut reads = ReadBuffer::new(1024);
        let n = reads.space().len();
        assert_eq!(reads.take(n + 100).len(), n);
    }
}
