//! The buffer a connection's reader task reads its socket into. Each read lands in an
//! allocation of its own, handed whole to `Session::handle_peer_data` as an owned
//! [`BytesMut`], so the session keeps blocks as slices of it and nothing is copied on the way
//! to the disk; it is freed once every block in it is written.
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

    /// Takes what the read put into [`ReadBuffer::space`] (the next read gets a new
    /// allocation).
    pub fn take(&mut self) -> BytesMut {
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
    fn each_read_gets_an_allocation_of_its_own() {
        let mut reads = ReadBuffer::new(4096);
        let space = reads.space();
        assert!(space.is_empty() && space.capacity() >= 4096);
        space.extend_from_slice(&[1; 1000]);
        let read_at = space.as_ptr();
        let first = reads.take();
        assert_eq!(&first[..], &[1; 1000][..]);
        assert_eq!(first.as_ptr(), read_at, "taken without a copy");
        let space = reads.space();
        space.resize(space.capacity(), 2);
        let (read_at, len) = (space.as_ptr(), space.len());
        let full = reads.take();
        assert_eq!(
            (full.as_ptr(), full.len()),
            (read_at, len),
            "a full one too"
        );
        reads.space().extend_from_slice(&[2; 10]);
        let second = reads.take();
        assert_eq!(&second[..], &[2; 10][..]);
        assert_ne!(first.as_ptr_range().end, second.as_ptr());
        assert_eq!(&first[..], &[1; 1000][..], "the first read is untouched");
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
    fn the_allocation_is_made_only_once_until_taken() {
        let mut reads = ReadBuffer::new(2048);
        let ptr = reads.space().as_ptr();
        assert_eq!(reads.space().as_ptr(), ptr, "kept while nothing was read");
        assert!(reads.take().is_empty());
        assert!(reads.space().capacity() >= 2048);
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
