//! Batched datagram reads where the kernel refuses UDP GRO ([`gro`](crate::gro)): Linux
//! `recvmmsg` takes up to [`SLOTS`] queued datagrams, from any senders, in one system call,
//! so that a burst of uTP packets does not cost one call each there either.
//!
//! Each datagram has a slot of 64 KiB (the largest UDP payload), so none is ever truncated;
//! the buffer is zeroed lazily by the allocator, and only the pages datagrams land in are ever
//! touched (one per slot for uTP's packets).

use std::io;
use std::net::SocketAddr;

/// Datagrams one read takes at most.
pub const SLOTS: usize = 32;

/// Bytes of one slot: the largest UDP payload fits.
const SLOT: usize = 1 << 16;

/// Buffers for one batched read and what it took.
#[derive(Debug)]
pub struct RecvBatch {
    data: Vec<u8>,
    /// Sender and length of each datagram read, slot by slot.
    read: Vec<(SocketAddr, usize)>,
}

impl RecvBatch {
    /// Room for [`SLOTS`] datagrams.
    pub fn new() -> Self {
        Self {
            data: vec![0; SLOTS * SLOT],
            read: Vec::with_capacity(SLOTS),
        }
    }

    /// The datagrams of the last read, in the order received, with their senders.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.data
            .chunks(SLOT)
            .zip(&self.read)
            .map(|(slot, &(from, len))| (from, &slot[..len]))
    }

    /// How many datagrams the last read took.
    pub fn len(&self) -> usize {
        self.read.len()
    }

    /// Whether the last read took none.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty()
    }

    /// Forgets the last read and lends the first slot, for a read of one datagram.
    pub fn first_slot(&mut self) -> &mut [u8] {
        self.read.clear();
        &mut self.data[..SLOT]
    }

    /// Records a datagram of `len` bytes from `from` in the next slot (after
    /// [`RecvBatch::first_slot`]).
    pub fn record(&mut self, from: SocketAddr, len: usize) {
        if self.read.len() < SLOTS {
            self.read.push((from, len.min(SLOT)));
        }
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the datagrams queued on the non-blocking `socket` into `batch`, up to [`SLOTS`], in
/// one call: how many ([`io::ErrorKind::WouldBlock`] when none is).
#[cfg(target_os = "linux")]
pub fn recv_batch(socket: impl std::os::fd::AsFd, batch: &mut RecvBatch) -> io::Result<usize> {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

    batch.read.clear();
    // The headers hold raw pointers (not `Send`), so each read makes its own: a small
    // allocation beside a system call.
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(SLOTS, None);
    let mut slices: Vec<[io::IoSliceMut<'_>; 1]> = batch
        .data
        .chunks_mut(SLOT)
        .map(|slot| [io::IoSliceMut::new(slot)])
        .collect();
    let fd = socket.as_fd().as_raw_fd();
    let msgs = recvmmsg(fd, &mut headers, &mut slices, MsgFlags::MSG_DONTWAIT, None)
        .map_err(io::Error::from)?;
    for msg in msgs {
        // Only IP senders reach a UDP socket: a header without one is skipped.
        let from = msg.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from(*v4))
                .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
        });
        let Some(from) = from else {
            continue;
        };
        batch.read.push((from, msg.bytes.min(SLOT)));
    }
    Ok(batch.read.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_datagrams_come_back_in_order() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut batch = RecvBatch::new();
        batch.first_slot()[..3].copy_from_slice(b"one");
        batch.record(a, 3);
        let got: Vec<_> = batch.datagrams().collect();
        assert_eq!(got, [(a, &b"one"[..])]);
        batch.first_slot();
        assert!(batch.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn one_call_reads_every_queued_datagram_of_any_sender_intact() {
        let rx = crate::udp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = rx.local_addr().unwrap();
        let senders = [
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let mut sent = Vec::new();
        for i in 0..(SLOTS + 8) {
            let sender = &senders[i % 2];
            // Sizes from empty to larger than any MTU, each byte telling its datagram.
            let size = [0, 1, 1200, 1472, 9000, 30_000][i % 6];
            let payload = vec![u8::try_from(i).unwrap(); size];
            sender.send_to(&payload, to).unwrap();
            sent.push((sender.local_addr().unwrap(), payload));
        }
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        let mut calls = Vec::new();
        while got.len() < sent.len() {
            match recv_batch(&rx, &mut batch) {
                Ok(n) => {
                    calls.push(n);
                    got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec())));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(got == sent, "datagrams differ");
        // Everything was queued before the first call: full batches, then the rest.
        assert_eq!(calls, [SLOTS, 8]);
        let err = recv_batch(&rx, &mut batch).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
