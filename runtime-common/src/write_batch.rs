//! Outgoing bytes of one connection, written with vectored writes: a block read from disk goes
//! to the socket without being copied into a gather buffer first.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// The most buffers handed to one vectored write.
pub const MAX_IO_SLICES: usize = 64;

/// A queue of byte chunks waiting to be written to one socket, in order.
#[derive(Debug, Default)]
pub struct WriteBatch {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `chunk` (empty chunks are dropped).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first chunks (at most [`MAX_IO_SLICES`]) for one vectored write.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        self.chunks
            .iter()
            .take(MAX_IO_SLICES)
            .map(|c| IoSlice::new(c))
            .collect()
    }

    /// Drops the first `n` bytes (what a write reported as written).
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_resume_mid_chunk_and_keep_the_order() {
        let mut batch = WriteBatch::new();
        batch.push(Bytes::from_static(b"abc"));
        batch.push(Bytes::new());
        batch.push(Bytes::from_static(b"defgh"));
        batch.push(Bytes::from_static(b"ij"));
        assert_eq!(batch.len(), 10);
        let mut written = Vec::new();
        // A socket that takes 4 bytes per write.
        while !batch.is_empty() {
            let slices = batch.io_slices();
            let mut n = 0;
            for s in &slices {
                let take = (4 - n).min(s.len());
                written.extend_from_slice(&s[..take]);
                n += take;
                if n == 4 {
                    break;
                }
            }
            batch.advance(n);
        }
        assert_eq!(written, b"abcdefghij");
        assert_eq!(batch.len(), 0);
    }

    #[test]
    fn one_write_takes_at_most_the_slice_limit() {
        let mut batch = WriteBatch::new();
        for _ in 0..MAX_IO_SLICES + 5 {
            batch.push(Bytes::from_static(b"x"));
        }
        assert_eq!(batch.io_slices().len(), MAX_IO_SLICES);
        batch.advance(MAX_IO_SLICES + 1);
        assert_eq!(batch.io_slices().len(), 4);
        batch.advance(100);
        assert!(batch.is_empty());
    }
}
