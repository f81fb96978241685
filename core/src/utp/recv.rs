//! The receive side of a connection: in-order bytes for the application, a bounded reorder
//! buffer for packets past a gap, the peer's FIN, and the selective ACK that describes them.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::pool::BlockPool;
use super::sack;
use super::seq::Seq;

/// What became of one received data packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Already held or delivered.
    Duplicate,
    /// Delivered in order (with whatever it unblocked from the reorder buffer).
    InOrder,
    /// Held past a gap.
    Buffered,
    /// Too far ahead, past the FIN, or no room: not acknowledged, the peer will send it again.
    Dropped,
}

/// Received bytes, in order and out of order, within a byte budget.
#[derive(Clone, Debug)]
pub(crate) struct RecvBuffer {
    /// The last sequence number received in order.
    ack_nr: Seq,
    /// In-order bytes, appended as packets arrive and taken off the front without a copy.
    readable: BytesMut,
    /// Whether `readable` is a block of the socket's [`BlockPool`] (to give back when full).
    pooled: bool,
    /// `reorder[i]` holds packet `ack_nr + 2 + i`.
    reorder: VecDeque<Option<Bytes>>,
    reorder_bytes: usize,
    /// The peer's FIN, once seen.
    fin: Option<Seq>,
    /// Everything up to the FIN arrived.
    eof: bool,
    capacity: usize,
    max_reorder: usize,
}

impl RecvBuffer {
    /// A buffer after `ack_nr`, holding at most `capacity` bytes and `max_reorder` packets past
    /// a gap.
    pub(crate) fn new(ack_nr: Seq, capacity: usize, max_reorder: usize) -> Self {
        Self {
            ack_nr,
            readable: BytesMut::new(),
            pooled: false,
            reorder: VecDeque::new(),
            reorder_bytes: 0,
            fin: None,
            eof: false,
            capacity,
            max_reorder,
        }
    }

    /// The last sequence number received in order: our `ack_nr`.
    pub(crate) fn ack_nr(&self) -> Seq {
        self.ack_nr
    }

    /// Whether the peer's stream ended and every byte before its FIN arrived.
    pub(crate) fn eof(&self) -> bool {
        self.eof
    }

    /// Bytes the application can read.
    pub(crate) fn readable(&self) -> usize {
        self.readable.len()
    }

    /// The receive window to advertise: free room in the byte budget.
    pub(crate) fn window(&self) -> u32 {
        let used = self.readable.len() + self.reorder_bytes;
        u32::try_from(self.capacity.saturating_sub(used)).unwrap_or(u32::MAX)
    }

    /// Takes a data packet; in-order bytes go to blocks of `pool`.
    pub(crate) fn on_data(&mut self, seq: Seq, payload: &[u8], pool: &mut BlockPool) -> Received {
        let ahead = seq.since(self.ack_nr);
        if ahead <= 0 {
            return Received::Duplicate;
        }
        if self.fin.is_some_and(|fin| !seq.before(fin)) {
            return Received::Dropped;
        }
        let Ok(slot) = usize::try_from(ahead - 2) else {
            if !self.has_room(payload.len()) {
                return Received::Dropped;
            }
            self.deliver(payload, pool);
            self.advance(pool);
            return Received::InOrder;
        };
        if slot >= self.max_reorder {
            return Received::Dropped;
        }
        if self.reorder.get(slot).is_some_and(Option::is_some) {
            return Received::Duplicate;
        }
        if !self.has_room(payload.len()) {
            return Received::Dropped;
        }
        if self.reorder.len() <= slot {
            self.reorder.resize(slot + 1, None);
        }
        self.reorder_bytes += payload.len();
        self.reorder[slot] = Some(Bytes::copy_from_slice(payload));
        Received::Buffered
    }

    /// Takes the peer's FIN; `false` if it is not acceptable (a second FIN at another number,
    /// or before what we already received, or too far ahead).
    pub(crate) fn on_fin(&mut self, seq: Seq) -> bool {
        if let Some(fin) = self.fin {
            return fin == seq;
        }
        let ahead = seq.since(self.ack_nr);
        if ahead <= 0 || ahead as usize > self.max_reorder + 1 {
            return false;
        }
        self.fin = Some(seq);
        // Nothing at or past the FIN can be data.
        let keep = (ahead - 1) as usize;
        while self.reorder.len() > keep {
            if let Some(Some(b)) = self.reorder.pop_back() {
                self.reorder_bytes -= b.len();
            }
        }
        self.check_fin();
        true
    }

    /// Copies readable bytes into `buf`: `Some(n)` bytes, `Some(0)` at the end of the stream
    /// (or for an empty `buf`), `None` when nothing is there yet.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.readable.is_empty() {
            return (self.eof || buf.is_empty()).then_some(0);
        }
        let n = buf.len().min(self.readable.len());
        buf[..n].copy_from_slice(&self.readable[..n]);
        self.readable.advance(n);
        Some(n)
    }

    /// Takes up to `max` readable bytes without a copy: as [`RecvBuffer::read`] into a buffer
    /// of `max` bytes (empty at the end of the stream or for `max` 0).
    pub(crate) fn take(&mut self, max: usize) -> Option<BytesMut> {
        if self.readable.is_empty() {
            return (self.eof || max == 0).then(BytesMut::new);
        }
        let n = max.min(self.readable.len());
        Some(self.readable.split_to(n))
    }

    /// The selective ACK bitmask for what the reorder buffer holds.
    pub(crate) fn sack(&self) -> Option<Vec<u8>> {
        sack::encode(self.reorder.iter().map(Option::is_some))
    }

    fn has_room(&self, len: usize) -> bool {
        self.readable.len() + self.reorder_bytes + len <= self.capacity
    }

    fn deliver(&mut self, bytes: &[u8], pool: &mut BlockPool) {
        self.ack_nr = self.ack_nr.next();
        if self.readable.capacity() - self.readable.len() < bytes.len() {
            // Another block when the room is gone (the front may still be held by what was
            // taken): the unread bytes move over, the full block goes back to the pool.
            let mut next = pool.take(self.readable.len() + bytes.len());
            next.extend_from_slice(&self.readable);
            let full = std::mem::replace(&mut self.readable, next);
            if self.pooled {
                pool.retire(full);
            }
            self.pooled = true;
        }
        self.readable.extend_from_slice(bytes);
    }

    /// After `ack_nr` moved by one: takes what the reorder buffer now holds in order.
    fn advance(&mut self, pool: &mut BlockPool) {
        // reorder[0] was ack_nr + 1 before the move: it is now the next one in order.
        while let Some(next) = self.reorder.pop_front() {
            let Some(bytes) = next else {
                break;
            };
            self.reorder_bytes -= bytes.len();
            self.deliver(&bytes, pool);
        }
        self.check_fin();
    }

    fn check_fin(&mut self) {
        if self.fin == Some(self.ack_nr.next()) {
            self.ack_nr = self.ack_nr.next();
            self.eof = true;
            self.reorder.clear();
            self.reorder_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut RecvBuffer) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        while let Some(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn reorders_across_the_wrap() {
        let mut pool = BlockPool::default();
        let mut r = RecvBuffer::new(Seq(65534), 100, 8);
        assert_eq!(r.on_data(Seq(1), b"cc", &mut pool), Received::Buffered);
        assert_eq!(r.sack(), Some(vec![0b10, 0, 0, 0]));
        assert_eq!(r.on_data(Seq(1), b"cc", &mut pool), Received::Duplicate);
        assert_eq!(r.on_data(Seq(0), b"bb", &mut pool), Received::Buffered);
        assert_eq!(r.window(), 96);
        assert_eq!(r.read(&mut [0u8; 4]), None);
        assert_eq!(r.on_data(Seq(65535), b"aa", &mut pool), Received::InOrder);
        assert_eq!(r.ack_nr(), Seq(1));
        assert_eq!(r.sack(), None);
        assert_eq!(r.take(4).as_deref(), Some(&b"aabb"[..]));
        assert_eq!(read_all(&mut r), b"cc");
        assert_eq!(r.take(4), None);
        assert_eq!(r.on_data(Seq(0), b"bb", &mut pool), Received::Duplicate);
        assert_eq!(r.window(), 100);
    }

    #[test]
    fn bounded_by_bytes_and_packets() {
        let mut pool = BlockPool::default();
        let mut r = RecvBuffer::new(Seq(10), 10, 4);
        assert_eq!(
            r.on_data(Seq(16), b"x", &mut pool),
            Received::Dropped,
            "past the reorder limit"
        );
        assert_eq!(r.on_data(Seq(15), b"x", &mut pool), Received::Buffered);
        assert_eq!(r.on_data(Seq(12), &[0; 9], &mut pool), Received::Buffered);
        assert_eq!(r.window(), 0);
        assert_eq!(
            r.on_data(Seq(11), b"y", &mut pool),
            Received::Dropped,
            "no room"
        );
        assert_eq!(r.on_data(Seq(13), b"", &mut pool), Received::Buffered);
    }

    #[test]
    fn fin_after_gap_ends_the_stream_once_filled() {
        let mut pool = BlockPool::default();
        let mut r = RecvBuffer::new(Seq(1), 100, 8);
        assert_eq!(r.on_data(Seq(3), b"b", &mut pool), Received::Buffered);
        assert_eq!(r.on_data(Seq(5), b"late", &mut pool), Received::Buffered);
        assert!(r.on_fin(Seq(4)));
        assert!(!r.on_fin(Seq(6)), "a second FIN elsewhere");
        assert!(r.on_fin(Seq(4)), "the same FIN again");
        assert_eq!(
            r.on_data(Seq(5), b"x", &mut pool),
            Received::Dropped,
            "past the FIN"
        );
        assert!(!r.eof());
        assert_eq!(r.on_data(Seq(2), b"a", &mut pool), Received::InOrder);
        assert!(r.eof());
        assert_eq!(r.ack_nr(), Seq(4));
        assert_eq!(read_all(&mut r), b"ab");
        assert_eq!(r.read(&mut [0u8; 4]), Some(0));
        assert_eq!(r.take(4).as_deref(), Some(&b""[..]));
        assert_eq!(r.window(), 100, "bytes past the FIN were discarded");
    }

    #[test]
    fn fin_is_bounded_and_ordered() {
        let mut r = RecvBuffer::new(Seq(100), 100, 8);
        assert!(!r.on_fin(Seq(100)));
        assert!(!r.on_fin(Seq(200)));
        assert!(r.on_fin(Seq(101)));
        assert!(r.eof());
    }
}
