//! The shared UDP socket (uTP, DHT, UDP trackers, port mapping): bound with large kernel
//! buffers, and read in batches. uTP sends a burst of 1,200-byte datagrams per round trip; a
//! default receive buffer (about 200 KiB) overflows while the loop is busy for a moment, and
//! every datagram dropped there costs the sender a window cut. The receiver takes every
//! datagram already queued per wake-up (up to a batch, so that TCP sockets get their turn) and
//! hands them to the loop together, so one session step answers a whole burst. Where the
//! kernel coalesces datagrams ([`gro`](crate::gro)), one read takes up to 64 of them; where it
//! refuses to, one `recvmmsg` takes up to 32 ([`mmsg`](crate::mmsg)).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::sync::Arc;

use async_channel::Sender;
use bytes::BytesMut;
use socket2::{Domain, Protocol, Socket, Type};

use crate::gro::{Received, RecvBuf};
use crate::mmsg::RecvBatch;
use crate::net::Input;
use crate::runtime::Runtime;

/// Kernel buffer asked for each direction (Linux grants at most `net.core.rmem_max` /
/// `wmem_max`, 4 MiB on most distributions, 208 KiB on some).
pub(crate) const SOCKET_BUFFER: usize = 4 << 20;

/// Datagrams handed to the loop at once, at most (a batch may end a read of coalesced ones
/// past it).
const BATCH: usize = 256;

/// Bytes of payload a batch holds before it is handed over (a datagram is at most 64 KiB).
const BATCH_BYTES: usize = 256 << 10;

/// Binds a non-blocking UDP socket on `addr` with [`SOCKET_BUFFER`]s (the kernel may grant
/// less; the socket works all the same).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    enlarge(&socket);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Asks for [`SOCKET_BUFFER`]s both ways (what the kernel refuses it refuses: the socket
/// works all the same).
pub(crate) fn enlarge(socket: &Socket) {
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
}

/// Bytes of the receiver's store: batches are cut from it, and it is reused once the loop
/// dropped them (so that a busy socket does not map and fault in new memory per batch).
const STORE: usize = 1 << 20;

/// Datagrams received together: their payloads back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Datagrams {
    bytes: BytesMut,
    parts: Vec<(SocketAddr, Range<usize>)>,
}

impl Datagrams {
    #[cfg(test)]
    fn push(&mut self, from: SocketAddr, payload: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        self.parts.push((from, start..self.bytes.len()));
    }

    /// Adds what one read took: its datagrams, split without another copy.
    fn push_read(&mut self, read: Received, data: &[u8]) {
        let Some(payload) = data.get(..read.len) else {
            return;
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        let parts = read
            .datagrams()
            .map(|r| (read.from, start + r.start..start + r.end));
        self.parts.extend(parts);
    }

    /// Adds the datagrams of one batched read.
    fn push_batch(&mut self, read: &RecvBatch) {
        for (from, payload) in read.datagrams() {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(payload);
            self.parts.push((from, start..self.bytes.len()));
        }
    }

    fn is_full(&self) -> bool {
        self.parts.len() >= BATCH || self.bytes.len() >= BATCH_BYTES
    }

    /// Each datagram with its sender, in the order received.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.parts
            .iter()
            .map(|(from, range)| (*from, &self.bytes[range.clone()]))
    }
}

/// How the receiver reads its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Datagrams coalesced by the kernel where it does GRO, batches of datagrams otherwise.
    Coalesced,
    /// Batches of datagrams (`recvmmsg`), as where the kernel refuses GRO: for tests.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Batched,
}

/// Receives datagrams until the loop goes away: waits for one, takes whatever else is already
/// queued (up to a batch), and tells them as one `input`. A read never waits: the task waits
/// for readiness, then reads until nothing is left.
pub(crate) async fn receive<R: Runtime>(
    socket: Arc<R::UdpSocket>,
    inputs: Sender<Input<R>>,
    input: fn(Datagrams) -> Input<R>,
    reads: Reads,
) {
    let coalesced = reads == Reads::Coalesced && R::enable_gro(&socket);
    let mut buf = RecvBuf::new();
    let mut many = (!coalesced).then(RecvBatch::new);
    let mut batch = Datagrams {
        bytes: BytesMut::with_capacity(STORE),
        parts: Vec::new(),
    };
    loop {
        // Reuses the store once the loop dropped the batches cut from it.
        batch.bytes.reserve(STORE / 2);
        while !batch.is_full() {
            let read = match &mut many {
                None => R::try_recv_segments(&socket, &mut buf)
                    .map(|read| batch.push_read(read, &buf.data)),
                Some(many) => R::try_recv_batch(&socket, many).map(|_| batch.push_batch(many)),
            };
            match read {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !batch.parts.is_empty() {
                        break;
                    }
                    if R::udp_readable(&socket).await.is_err() {
                        return;
                    }
                }
                // ICMP errors surface as failed receives; they concern one datagram only.
                Err(_) => {}
            }
        }
        let full = Datagrams {
            bytes: batch.bytes.split(),
            parts: std::mem::take(&mut batch.parts),
        };
        if inputs.send(input(full)).await.is_err() {
            return;
        }
    }
}

/// Tests of the receiver, run on each runtime by [`crate::runtime_tests`].
#[cfg(feature = "testing")]
pub(crate) mod runtime_tests {
    use futures_lite::FutureExt;

    use super::*;

    /// Where GRO is refused (forced here) the receiver reads batches (`recvmmsg`): the
    /// runtime's batched read takes many datagrams in one call, and every datagram queued,
    /// from two senders, reaches the loop intact and in order, many to an input.
    pub async fn without_gro_datagrams_arrive_intact_in_batches<R: Runtime>() {
        let socket = Arc::new(R::adopt_udp(bind("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap());
        let to = R::udp_addr(&socket).unwrap();
        let senders = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let mut sent = Vec::new();
        for i in 0..100u16 {
            let sender = &senders[usize::from(i % 2)];
            let size = [2, 1200, 1472, 300][usize::from(i % 4)];
            let mut payload = vec![u8::try_from(i).unwrap(); size];
            payload[..2].copy_from_slice(&i.to_be_bytes());
            sender.send_to(&payload, to).unwrap();
            sent.push((sender.local_addr().unwrap(), payload));
        }
        R::udp_readable(&socket)
            .or(timeout::<R, _>())
            .await
            .unwrap();
        let mut first = RecvBatch::new();
        let n = R::try_recv_batch(&socket, &mut first).unwrap();
        #[cfg(target_os = "linux")]
        assert_eq!(n, crate::mmsg::SLOTS, "one call reads a batch");
        let mut got: Vec<_> = first.datagrams().map(|(f, d)| (f, d.to_vec())).collect();
        assert_eq!(got.len(), n);
        let (inputs, input_rx) = async_channel::unbounded();
        R::spawn(receive::<R>(
            Arc::clone(&socket),
            inputs,
            Input::Datagrams,
            Reads::Batched,
        ));
        let mut count = 0;
        while got.len() < sent.len() {
            let Input::Datagrams(batch) = input_rx.recv().or(timeout::<R, _>()).await.unwrap()
            else {
                panic!("not datagrams");
            };
            count += 1;
            got.extend(batch.iter().map(|(f, d)| (f, d.to_vec())));
        }
        assert!(got == sent, "datagrams lost, changed or reordered");
        // All were queued before the receiver started: one input takes the rest.
        assert_eq!(count, 1);
    }

    async fn timeout<R: Runtime, T>() -> T {
        R::sleep(std::time::Duration::from_secs(20)).await;
        panic!("the datagrams did not all arrive");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_with_large_buffers() {
        let socket = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        // Linux doubles what it grants (bookkeeping) and caps the request at rmem_max.
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(SOCKET_BUFFER);
        assert!(
            granted >= SOCKET_BUFFER.min(cap),
            "granted {granted}, cap {cap}"
        );
    }

    #[test]
    fn a_batch_keeps_order_and_senders() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "[::1]:2".parse().unwrap();
        let mut batch = Datagrams::default();
        batch.push(a, b"one");
        batch.push(b, b"");
        batch.push(a, b"three");
        let got: Vec<_> = batch.iter().collect();
        assert_eq!(got, [(a, &b"one"[..]), (b, &b""[..]), (a, &b"three"[..])]);
        for _ in 3..BATCH {
            batch.push(a, b"x");
        }
        assert!(batch.is_full());
    }

    #[test]
    fn a_coalesced_read_joins_the_batch_as_its_datagrams() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut batch = Datagrams::default();
        batch.push(b, b"first");
        let read = Received {
            len: 7,
            from: a,
            segment: Some(3),
        };
        batch.push_read(read, b"abcdefg and what the buffer held before");
        let lone = Received {
            len: 2,
            from: b,
            segment: None,
        };
        batch.push_read(lone, b"xyz");
        let got: Vec<_> = batch.iter().collect();
        let want: [(SocketAddr, &[u8]); 5] = [
            (b, b"first"),
            (a, b"abc"),
            (a, b"def"),
            (a, b"g"),
            (b, b"xy"),
        ];
        assert_eq!(got, want);
    }
}
