//! UDP generic receive offload: the kernel hands over several datagrams of one sender in one
//! read (Linux `UDP_GRO`, 5.0 and later), back to back in the buffer, with a control message
//! giving their size (the last may be shorter). A burst of full-size uTP packets then costs one
//! system call instead of one each; on loopback a burst sent with `UDP_SEGMENT`
//! ([`gso`](crate::gso)) arrives as it was sent.
//!
//! A socket with GRO turned on must only be read through [`recv_segments`]: a plain
//! `recvfrom` would take the coalesced datagrams for one. Where the platform has no GRO,
//! [`enable`] says so, and the runtimes read one datagram at a time.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

/// What one read took: `len` bytes from `from`; with `segment`, datagrams of that many bytes
/// each (the last may be shorter), one datagram otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes read into the buffer.
    pub len: usize,
    /// The sender of every datagram read.
    pub from: SocketAddr,
    /// The size of each coalesced datagram, when the kernel coalesced them.
    pub segment: Option<u16>,
}

impl Received {
    /// The byte ranges of the datagrams read, in order, within the buffer read into.
    pub fn datagrams(&self) -> Segments {
        let step = match self.segment {
            Some(s) if s > 0 => usize::from(s),
            _ => self.len.max(1),
        };
        Segments {
            at: 0,
            len: self.len,
            step,
            empty: self.len == 0,
        }
    }
}

/// The byte ranges of coalesced datagrams: see [`Received::datagrams`].
#[derive(Clone, Debug)]
pub struct Segments {
    at: usize,
    len: usize,
    step: usize,
    /// One empty datagram is still a datagram.
    empty: bool,
}

impl Iterator for Segments {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.empty {
            self.empty = false;
            return Some(0..0);
        }
        if self.at >= self.len {
            return None;
        }
        let start = self.at;
        self.at = (start + self.step).min(self.len);
        Some(start..self.at)
    }
}

/// Buffers for one read: the payload (the largest UDP datagram, or as many coalesced ones as
/// the kernel puts in one read) and the control message.
#[derive(Debug)]
pub struct RecvBuf {
    /// The payload of the last read, in `..len`.
    pub data: Vec<u8>,
    control: Vec<u8>,
}

impl RecvBuf {
    /// Room for 64 KiB of datagrams.
    pub fn new() -> Self {
        Self {
            data: vec![0; 1 << 16],
            control: control_space(),
        }
    }
}

impl Default for RecvBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks the kernel to coalesce datagrams on `socket`; whether it will. Read such a socket with
/// [`recv_segments`] only.
#[cfg(target_os = "linux")]
pub fn enable(socket: impl std::os::fd::AsFd) -> bool {
    use nix::sys::socket::{setsockopt, sockopt::UdpGroSegment};
    setsockopt(&socket, UdpGroSegment, &true).is_ok()
}

/// Asks the kernel to coalesce datagrams on `socket`: not on this platform.
#[cfg(not(target_os = "linux"))]
pub fn enable<S>(_: S) -> bool {
    false
}

/// Reads what is queued on the non-blocking `socket` into `buf`: one datagram, or several
/// coalesced ones ([`Received::segment`]); [`io::ErrorKind::WouldBlock`] when nothing is.
#[cfg(target_os = "linux")]
pub fn recv_segments(socket: impl std::os::fd::AsFd, buf: &mut RecvBuf) -> io::Result<Received> {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    let fd = socket.as_fd().as_raw_fd();
    let mut iov = [io::IoSliceMut::new(&mut buf.data)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut buf.control), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let from = msg
        .address
        .as_ref()
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from(*v4))
                .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no IP sender address"))?;
    let mut segment = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::UdpGroSegments(size) = cmsg {
                segment = u16::try_from(size).ok().filter(|&s| s > 0);
            }
        }
    }
    let len = msg.bytes;
    Ok(Received {
        len,
        from,
        // The kernel also reports a size for a lone datagram: one range covers it.
        segment: segment.filter(|&s| usize::from(s) < len),
    })
}

#[cfg(target_os = "linux")]
fn control_space() -> Vec<u8> {
    nix::cmsg_space!(i32)
}

#[cfg(not(target_os = "linux"))]
fn control_space() -> Vec<u8> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(len: usize, segment: Option<u16>) -> Received {
        Received {
            len,
            from: SocketAddr::from(([127, 0, 0, 1], 1)),
            segment,
        }
    }

    #[test]
    fn coalesced_datagrams_split_at_the_segment_size_with_a_short_last_one() {
        let got: Vec<_> = received(3 * 1200 + 500, Some(1200)).datagrams().collect();
        assert_eq!(got, [0..1200, 1200..2400, 2400..3600, 3600..4100]);
        let got: Vec<_> = received(4 * 1200, Some(1200)).datagrams().collect();
        assert_eq!(got, [0..1200, 1200..2400, 2400..3600, 3600..4800]);
        let got: Vec<_> = received(64 * 100 + 1, Some(100)).datagrams().collect();
        assert_eq!(got.len(), 65);
        assert_eq!(got[64], 6400..6401);
    }

    #[test]
    fn a_lone_datagram_is_one_range_even_empty() {
        let bounds = |r: Received| r.datagrams().map(|d| (d.start, d.end)).collect::<Vec<_>>();
        assert_eq!(bounds(received(700, None)), [(0, 700)]);
        assert_eq!(bounds(received(0, None)), [(0, 0)]);
        assert_eq!(bounds(received(0, Some(1200))), [(0, 0)]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_segmented_send_is_read_as_its_datagrams() {
        let rx = crate::udp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        if !enable(&rx) {
            return;
        }
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut payload = Vec::new();
        for i in 0..5u8 {
            payload.extend(std::iter::repeat_n(i, if i == 4 { 300 } else { 1000 }));
        }
        crate::gso::send_segments(&tx, &payload, 1000, to).unwrap();
        tx.send_to(b"alone", to).unwrap();
        let mut buf = RecvBuf::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < 6 {
            match recv_segments(&rx, &mut buf) {
                Ok(r) => {
                    assert_eq!(r.from, tx.local_addr().unwrap());
                    got.extend(r.datagrams().map(|d| buf.data[d].to_vec()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        let sizes: Vec<_> = got.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1000, 1000, 1000, 300, 5]);
        for (i, d) in got[..5].iter().enumerate() {
            assert!(d.iter().all(|&b| usize::from(b) == i));
        }
        assert_eq!(got[5], b"alone");
    }
}
