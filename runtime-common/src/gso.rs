//! UDP generic segmentation offload: several datagrams to one address in one `sendmsg`, which
//! the kernel cuts into datagrams of a given size (Linux `UDP_SEGMENT`, 4.18 and later), so that
//! a uTP connection's burst of full-size packets costs one system call instead of one each.
//!
//! [`Segments`] groups the datagrams a loop turn sends: consecutive ones to the same address
//! whose sizes equal the first's (the last may be shorter, but not the second: a uTP path MTU
//! probe, larger than the packets after it, goes alone) go out together; the rest, and all
//! of them once the kernel refuses a segmented send, one by one. Once segmented sends worked,
//! a refusal for the size (`EMSGSIZE`, or `EINVAL` for a segment over the interface's MTU with
//! don't-fragment set, see [`path_mtu`](crate::path_mtu)) only sends that run one by one
//! (and the datagrams too large are dropped, as the network would drop them).

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;

/// The most datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS` is 64 or more).
const MAX_SEGMENTS: usize = 64;

/// The most bytes in one segmented send (a UDP payload over IPv4 is at most 65,507).
const MAX_BYTES: usize = 65_000;

/// Sends `payload` to `to` as datagrams of `segment` bytes (the last may be shorter) in one
/// call on `socket`; [`io::ErrorKind::Unsupported`] where the platform cannot.
#[cfg(target_os = "linux")]
pub fn send_segments(
    socket: impl std::os::fd::AsFd,
    payload: &[u8],
    segment: u16,
    to: SocketAddr,
) -> io::Result<usize> {
    // SOL_UDP and UDP_SEGMENT from <netinet/udp.h>.
    const SOL_UDP: i32 = 17;
    const UDP_SEGMENT: i32 = 103;
    // One control message: struct cmsghdr { size_t len; int level; int type; } then the u16,
    // padded to the header's alignment (CMSG_SPACE(2) = 24 on 64-bit Linux).
    let header = size_of::<usize>() + 8;
    let space = (header + 2).next_multiple_of(size_of::<usize>());
    let mut control = vec![0u8; space];
    control[..size_of::<usize>()].copy_from_slice(&(header + 2).to_ne_bytes());
    let level = size_of::<usize>();
    control[level..level + 4].copy_from_slice(&SOL_UDP.to_ne_bytes());
    control[level + 4..level + 8].copy_from_slice(&UDP_SEGMENT.to_ne_bytes());
    control[header..header + 2].copy_from_slice(&segment.to_ne_bytes());
    let addr = socket2::SockAddr::from(to);
    let bufs = [io::IoSlice::new(payload)];
    let msg = socket2::MsgHdr::new()
        .with_addr(&addr)
        .with_buffers(&bufs)
        .with_control(&control);
    socket2::SockRef::from(&socket).sendmsg(&msg, 0)
}

/// Sends `payload` to `to` as datagrams of `segment` bytes in one call: not on this platform.
#[cfg(not(target_os = "linux"))]
pub fn send_segments<S>(_: S, _: &[u8], _: u16, _: SocketAddr) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The datagrams of one loop turn, sent together at its end: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Segments {
    pending: Vec<(SocketAddr, Bytes)>,
    buf: Vec<u8>,
    /// Cleared for good once a segmented send fails for another reason than a full buffer
    /// or, after one worked, a size the interface refuses.
    enabled: bool,
    /// Whether a segmented send worked (the platform has them).
    worked: bool,
}

impl Segments {
    /// Nothing queued; segmented sends tried first.
    pub(crate) fn new() -> Self {
        Self {
            pending: Vec::new(),
            buf: Vec::new(),
            enabled: true,
            worked: false,
        }
    }

    /// Queues a datagram.
    pub(crate) fn push(&mut self, to: SocketAddr, payload: Bytes) {
        self.pending.push((to, payload));
    }

    /// Whether runs are still tried as segmented sends.
    #[cfg(test)]
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Sends what is queued: runs with `segmented(payload, segment, to)`, single datagrams and
    /// everything after a failed segmented send with `single(payload, to)`. A datagram the
    /// socket's full buffer refuses is dropped, as the network may drop it.
    pub(crate) fn flush(
        &mut self,
        mut segmented: impl FnMut(&[u8], u16, SocketAddr) -> io::Result<usize>,
        mut single: impl FnMut(&[u8], SocketAddr),
    ) {
        let mut i = 0;
        while i < self.pending.len() {
            let end = self.run_end(i);
            let (to, first) = &self.pending[i];
            let sent = end - i > 1 && {
                self.buf.clear();
                for (_, p) in &self.pending[i..end] {
                    self.buf.extend_from_slice(p);
                }
                // The run's datagrams all fit in a u16 (checked by run_end).
                let segment = u16::try_from(first.len()).unwrap_or(u16::MAX);
                match segmented(&self.buf, segment, *to) {
                    Ok(_) => {
                        self.worked = true;
                        true
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                    Err(e) => {
                        self.enabled &= self.worked && too_large(&e);
                        false
                    }
                }
            };
            if !sent {
                for (to, p) in &self.pending[i..end] {
                    single(p, *to);
                }
            }
            i = end;
        }
        self.pending.clear();
    }

    /// The end of the run starting at `i`: datagrams to the same address, the size of the
    /// first, the last possibly shorter, within the kernel's bounds.
    fn run_end(&self, i: usize) -> usize {
        let (to, first) = &self.pending[i];
        let size = first.len();
        if !self.enabled || size == 0 || size > usize::from(u16::MAX) {
            return i + 1;
        }
        let (mut end, mut total) = (i + 1, size);
        while let Some((next_to, p)) = self.pending.get(end) {
            if next_to != to
                || p.is_empty()
                || p.len() > size
                || (end == i + 1 && p.len() < size)
                || end - i >= MAX_SEGMENTS
                || total + p.len() > MAX_BYTES
            {
                break;
            }
            total += p.len();
            end += 1;
            if p.len() < size {
                break;
            }
        }
        end
    }
}

/// Whether `e` refuses a datagram for its size (over the interface's MTU with don't-fragment).
fn too_large(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use nix::errno::Errno;
        [Errno::EMSGSIZE, Errno::EINVAL]
            .iter()
            .any(|&errno| e.raw_os_error() == Some(errno as i32))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// What a flush does: ("gso", segment, count) or ("one", len) per send, in order.
    fn flush(s: &mut Segments, fail: bool) -> Vec<(&'static str, usize, usize)> {
        let mut calls = Vec::new();
        let mut seg = Vec::new();
        let mut one = Vec::new();
        s.flush(
            |payload, segment, _| {
                seg.push((usize::from(segment), payload.len()));
                if fail {
                    Err(io::ErrorKind::InvalidInput.into())
                } else {
                    Ok(payload.len())
                }
            },
            |payload, _| one.push(payload.len()),
        );
        calls.extend(seg.iter().map(|(s, n)| ("gso", *s, *n)));
        calls.extend(one.iter().map(|n| ("one", *n, 0)));
        calls
    }

    #[test]
    fn runs_to_one_address_go_together_and_others_alone() {
        let mut s = Segments::new();
        for _ in 0..3 {
            s.push(addr(1), Bytes::from(vec![1; 1000]));
        }
        s.push(addr(1), Bytes::from(vec![1; 400]));
        s.push(addr(1), Bytes::from(vec![1; 1000]));
        s.push(addr(2), Bytes::from(vec![2; 1000]));
        s.push(addr(1), Bytes::from(vec![1; 20]));
        s.push(addr(1), Bytes::from(vec![1; 1000]));
        assert_eq!(
            flush(&mut s, false),
            [
                ("gso", 1000, 3400),
                ("one", 1000, 0),
                ("one", 1000, 0),
                ("one", 20, 0),
                ("one", 1000, 0),
            ]
        );
        assert!(s.pending.is_empty());
    }

    #[test]
    fn a_refused_segmented_send_falls_back_for_good() {
        let mut s = Segments::new();
        for _ in 0..2 {
            s.push(addr(1), Bytes::from(vec![1; 500]));
        }
        assert_eq!(
            flush(&mut s, true),
            [("gso", 500, 1000), ("one", 500, 0), ("one", 500, 0)]
        );
        for _ in 0..2 {
            s.push(addr(1), Bytes::from(vec![1; 500]));
        }
        assert_eq!(flush(&mut s, true), [("one", 500, 0), ("one", 500, 0)]);
    }

    #[test]
    fn a_larger_first_datagram_a_path_mtu_probe_goes_alone() {
        let mut s = Segments::new();
        s.push(addr(1), Bytes::from(vec![1; 1336]));
        for _ in 0..3 {
            s.push(addr(1), Bytes::from(vec![1; 1200]));
        }
        assert_eq!(
            flush(&mut s, false),
            [("gso", 1200, 3600), ("one", 1336, 0)]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_size_refused_after_segmented_sends_worked_only_sends_that_run_alone() {
        let refuse = |size: u16| {
            move |payload: &[u8], segment: u16, _| {
                if segment > size {
                    Err(io::Error::from_raw_os_error(
                        nix::errno::Errno::EINVAL as i32,
                    ))
                } else {
                    Ok(payload.len())
                }
            }
        };
        let mut s = Segments::new();
        let push = |s: &mut Segments, to: u16, size: usize| {
            for _ in 0..2 {
                s.push(addr(to), Bytes::from(vec![1; size]));
            }
        };
        // Before any worked, a refusal turns them off: the platform may lack them.
        push(&mut s, 1, 1400);
        let mut one = 0;
        s.flush(refuse(1300), |_, _| one += 1);
        assert_eq!((one, s.enabled), (2, false));
        let mut s = Segments::new();
        push(&mut s, 1, 1200);
        push(&mut s, 1, 1400);
        push(&mut s, 2, 1200);
        let (mut segmented, mut one) = (Vec::new(), Vec::new());
        s.flush(
            |payload, segment, to| {
                segmented.push(segment);
                refuse(1300)(payload, segment, to)
            },
            |payload, _| one.push(payload.len()),
        );
        assert_eq!(segmented, [1200, 1400, 1200]);
        assert_eq!(one, [1400, 1400]);
        assert!(s.enabled);
    }

    #[test]
    fn a_run_stops_at_the_kernel_bounds() {
        let mut s = Segments::new();
        for _ in 0..70 {
            s.push(addr(1), Bytes::from(vec![1; 100]));
        }
        let calls = flush(&mut s, false);
        assert_eq!(calls, [("gso", 100, 6400), ("gso", 100, 600)]);
        for _ in 0..50 {
            s.push(addr(1), Bytes::from(vec![1; 1400]));
        }
        let calls = flush(&mut s, false);
        assert_eq!(calls, [("gso", 1400, 46 * 1400), ("gso", 1400, 4 * 1400)]);
    }
}
