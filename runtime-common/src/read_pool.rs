//! Buffers for the disk workers' upload reads, used again instead of allocated per read.
//!
//! An upload read covers up to 256 KiB (the session's read runs). A fresh `vec![0; 256 KiB]`
//! per read costs more than the read itself: the allocator serves it from memory it had given
//! back (`madvise`) or maps anew, so every read page-faults its 64 pages in, zeroes them, and
//! the loop thread that drops the sent bytes unmaps or trims them again (measured on our
//! seeder: about a fifth of its CPU). A buffer taken from here was filled by an earlier read
//! and is overwritten by this one: a read fills all its bytes or fails.
//!
//! Only reads longer than [`MIN_POOLED`] use the pool (smaller ones come from the allocator's
//! bins cheaply), so a pooled buffer's length is always more than half its capacity; at most
//! `keep` buffers wait here, so what the pool holds is bounded.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

/// The capacity of a pooled buffer: the longest upload read the session issues.
pub(crate) const POOLED: usize = 256 * 1024;

/// Reads longer than this are served from the pool.
pub(crate) const MIN_POOLED: usize = POOLED / 2;

/// Spare read buffers (see the module docs).
#[derive(Debug)]
pub(crate) struct ReadBuffers {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl ReadBuffers {
    /// A pool that keeps at most `keep` spare buffers.
    pub(crate) fn new(keep: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// A buffer of `len` bytes for `fill` to fill completely, returned as [`Bytes`] that give
    /// the buffer back to the pool when the last of them is dropped. `len` outside the pooled
    /// range gets a fresh zeroed buffer.
    pub(crate) fn fill<E>(
        self: &Arc<Self>,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Bytes, E> {
        if !(MIN_POOLED < len && len <= POOLED) {
            let mut buf = vec![0; len];
            fill(&mut buf)?;
            return Ok(Bytes::from(buf));
        }
        let spare = self.lock().pop();
        let mut buf = spare.unwrap_or_else(|| vec![0; POOLED]);
        let result = fill(&mut buf[..len]);
        let pooled = Pooled {
            buf,
            len,
            pool: Arc::downgrade(self),
        };
        result.map(|()| Bytes::from_owner(pooled))
    }

    /// How many spare buffers wait.
    #[cfg(test)]
    fn spare(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pooled buffer holding `len` read bytes; dropping it returns the buffer to its pool.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: Weak<ReadBuffers>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            let mut free = pool.lock();
            if free.len() < pool.keep {
                free.push(std::mem::take(&mut self.buf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_with(byte: u8) -> impl FnOnce(&mut [u8]) -> Result<(), ()> {
        move |buf| {
            buf.fill(byte);
            Ok(())
        }
    }

    #[test]
    fn a_buffer_comes_back_when_its_last_slice_is_dropped_and_is_used_again() {
        let pool = ReadBuffers::new(2);
        let a = pool.fill(POOLED, fill_with(1)).expect("filled");
        let block = a.slice(1000..2000);
        let ptr = a.as_ptr();
        drop(a);
        assert_eq!(pool.spare(), 0, "a slice still holds it");
        assert!(block.iter().all(|&b| b == 1));
        drop(block);
        assert_eq!(pool.spare(), 1);
        let b = pool.fill(MIN_POOLED + 1, fill_with(2)).expect("filled");
        assert_eq!(b.as_ptr(), ptr, "the spare buffer is used again");
        assert_eq!(b.len(), MIN_POOLED + 1);
        assert!(b.iter().all(|&x| x == 2));
    }

    #[test]
    fn small_and_oversized_reads_bypass_the_pool_and_spares_are_capped() {
        let pool = ReadBuffers::new(1);
        drop(pool.fill(MIN_POOLED, fill_with(3)).expect("filled"));
        drop(pool.fill(POOLED + 1, fill_with(3)).expect("filled"));
        assert_eq!(pool.spare(), 0);
        let a = pool.fill(POOLED, fill_with(4)).expect("filled");
        let b = pool.fill(POOLED, fill_with(5)).expect("filled");
        drop((a, b));
        assert_eq!(pool.spare(), 1, "only `keep` spares are held");
    }

    #[test]
    fn a_failed_fill_returns_the_buffer_and_an_error() {
        let pool = ReadBuffers::new(1);
        let failed: Result<Bytes, &str> = pool.fill(POOLED, |_| Err("read failed"));
        assert_eq!(failed, Err("read failed"));
        assert_eq!(pool.spare(), 1);
    }

    #[test]
    fn a_buffer_outliving_its_pool_is_simply_freed() {
        let pool = ReadBuffers::new(1);
        let a = pool.fill(POOLED, fill_with(6)).expect("filled");
        drop(pool);
        assert!(a.iter().all(|&x| x == 6));
    }
}
