//! The shared UDP socket (uTP, DHT, UDP trackers, port mapping): bound with large kernel
//! buffers, and read in batches. uTP sends a burst of 1,200-byte datagrams per round trip; a
//! default receive buffer (about 200 KiB) overflows while the loop is busy for a moment, and
//! every datagram dropped there costs the sender a window cut. The receiver takes every
//! datagram already queued per wake-up and hands them to the loop together, so one session
//! step answers a whole burst.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::sync::Arc;

use async_channel::Sender;
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::Input;
use crate::runtime::Runtime;

/// Kernel buffer asked for each direction (Linux grants at most `net.core.rmem_max` /
/// `wmem_max`, 4 MiB on most distributions, 208 KiB on some).
pub(crate) const SOCKET_BUFFER: usize = 4 << 20;

/// Datagrams handed to the loop at once, at most.
const BATCH: usize = 64;

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

/// Datagrams received together: their payloads back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Datagrams {
    bytes: Vec<u8>,
    parts: Vec<(SocketAddr, Range<usize>)>,
}

impl Datagrams {
    fn push(&mut self, from: SocketAddr, payload: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        self.parts.push((from, start..self.bytes.len()));
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

/// Receives datagrams until the loop goes away: waits for one, takes whatever else is already
/// queued (up to a batch), and tells them as one `input`.
pub(crate) async fn receive<R: Runtime>(
    socket: Arc<R::UdpSocket>,
    inputs: Sender<Input<R>>,
    input: fn(Datagrams) -> Input<R>,
) {
    let mut buf = vec![0; 65536];
    loop {
        let mut batch = Datagrams::default();
        match R::recv_from(&socket, &mut buf).await {
            Ok((n, from)) => batch.push(from, &buf[..n]),
            // ICMP errors surface as failed receives; they concern one datagram only.
            Err(_) => continue,
        }
        while !batch.is_full() {
            match R::try_recv_from(&socket, &mut buf) {
                Ok((n, from)) => batch.push(from, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
        if inputs.send(input(batch)).await.is_err() {
            return;
        }
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
}
