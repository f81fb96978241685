//! The buffer a connection's reader task reads its socket into. A read of at least a quarter
//! of the allocation (the data of a download) is handed whole to `Session::handle_peer_data`
//! as an owned [`BytesMut`], so the session keeps blocks as slices of it and nothing is copied
//! on the way to the disk; the allocation is freed once every block in it is written, and the
//! next read gets a new one. A shorter read (requests, haves) is copied out at its size and
//! the allocation kept, so that small reads pin no 64 KiB each.
//!
//! The allocation is never zeroed: the runtime reads into its spare capacity
//! ([`Runtime::read_into`](crate::Runtime::read_into); on Linux `recv` straight into it), which
//! saves clearing 64 KiB per 64 KiB read (the `memset` that was 3-6 % of a leecher's samples,
//! bench/README.md, session 23). A read that fills the allocation ends mid-message anyway, so
//! the session completes that message in a buffer of its own whether or not the next read
//! follows in the same allocation.

use bytes::{Bytes, BytesMut};

/// A reader's buffer (see the module docs).
#[derive(Debug)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    size: usize,
}

impl ReadBuffer {
    /// A buffer whose allocations are `size` bytes (at least 1 KiB).
    pub fn new(size: usize) -> Self {
        Self {
            buf: Vec::new(),
            size: size.max(1024),
        }
    }

    /// The vector the next read appends to: empty, with room for the allocation's size (an
    /// allocation is made when the last one was taken). What a cancelled read left in it is
    /// dropped here.
    pub fn space(&mut self) -> &mut Vec<u8> {
        self.buf.clear();
        if self.buf.capacity() < self.size {
            self.buf = Vec::with_capacity(self.size);
        }
        &mut self.buf
    }

    /// Takes what the read put into [`ReadBuffer::space`]. A read of at least a quarter of the
    /// allocation takes the allocation with it (the next read gets a new one); a shorter one
    /// (requests, haves) is copied out at its size and the allocation kept, so that it pins no
    /// more than itself.
    pub fn take(&mut self) -> BytesMut {
        if self.buf.len() < self.size / 4 {
            let short = BytesMut::from(&self.buf[..]);
            self.buf.clear();
            return short;
        }
        // Through `Bytes`, which takes the vector's allocation as it is: no copy.
        BytesMut::from(Bytes::from(std::mem::take(&mut self.buf)))
    }
}

/// One non-blocking `recv` from `socket` into the spare capacity of `buf`, appending to it
/// without zeroing it first: how many bytes ([`std::io::ErrorKind::WouldBlock`] when none is
/// queued, 0 at the end of the stream or when `buf` has no spare capacity). For a runtime's
/// [`Runtime::read_into`](crate::Runtime::read_into).
#[cfg(target_os = "linux")]
pub fn recv_into(socket: &std::net::TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use rustix::net::{RecvFlags, recv};
    let (n, _) = recv(
        socket,
        rustix::buffer::spare_capacity(buf),
        RecvFlags::DONTWAIT,
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_read_takes_its_allocation_along() {
        let mut reads = ReadBuffer::new(4096);
        let space = reads.space();
        assert!(space.is_empty() && space.capacity() >= 4096);
        space.extend_from_slice(&[1; 1024]);
        let read_at = space.as_ptr();
        let first = reads.take();
        assert_eq!(
            (&first[..], first.as_ptr()),
            (&[1; 1024][..], read_at),
            "no copy"
        );
        let space = reads.space();
        space.resize(space.capacity(), 2);
        let (next_at, len) = (space.as_ptr(), space.len());
        assert_ne!(next_at, read_at, "a new allocation");
        let full = reads.take();
        assert_eq!((full.as_ptr(), full.len()), (next_at, len));
        assert_eq!(&first[..], &[1; 1024][..], "the first read is untouched");
    }

    #[test]
    fn a_short_read_is_copied_out_and_the_allocation_kept() {
        let mut reads = ReadBuffer::new(4096);
        let space = reads.space();
        space.extend_from_slice(&[1; 1023]);
        let read_at = space.as_ptr();
        let short = reads.take();
        assert_eq!(&short[..], &[1; 1023][..]);
        assert_ne!(short.as_ptr(), read_at, "copied");
        assert!(short.capacity() < 4096, "at its size");
        let space = reads.space();
        assert_eq!(
            (space.as_ptr(), space.len()),
            (read_at, 0),
            "the same allocation, emptied"
        );
    }

    #[test]
    fn space_drops_what_a_cancelled_read_left() {
        let mut reads = ReadBuffer::new(1024);
        reads.space().extend_from_slice(&[9; 100]);
        // The read was cancelled before its bytes were taken: they were never read.
        let space = reads.space();
        assert!(space.is_empty() && space.capacity() >= 1024);
    }

    #[test]
    fn the_allocation_is_made_once_and_kept_while_reads_are_short() {
        let mut reads = ReadBuffer::new(2048);
        let ptr = reads.space().as_ptr();
        assert_eq!(reads.space().as_ptr(), ptr, "kept while nothing was read");
        assert!(reads.take().is_empty());
        assert_eq!(
            reads.space().as_ptr(),
            ptr,
            "an empty read takes nothing with it"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn recv_into_appends_into_the_spare_capacity() {
        use std::io::{ErrorKind, Write};
        // Waits for what the sender wrote to be queued (never for a time).
        let recv = |socket: &std::net::TcpStream, buf: &mut Vec<u8>| loop {
            match recv_into(socket, buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                other => return other.unwrap(),
            }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // A blocking socket: `DONTWAIT` still never waits.
        let (receiver, _) = listener.accept().unwrap();
        let mut buf = Vec::with_capacity(8);
        let nothing = recv_into(&receiver, &mut buf).unwrap_err();
        assert_eq!(nothing.kind(), ErrorKind::WouldBlock);
        sender.write_all(b"abcdefghij").unwrap();
        buf.extend_from_slice(b"xy");
        let n = recv(&receiver, &mut buf);
        assert_eq!(
            (n, &buf[..]),
            (6, &b"xyabcdef"[..]),
            "only the spare room is filled"
        );
        buf.reserve(16);
        let n = recv(&receiver, &mut buf);
        assert_eq!((n, &buf[..]), (4, &b"xyabcdefghij"[..]));
        drop(sender);
        assert_eq!(recv(&receiver, &mut buf), 0, "end of stream");
    }
}
