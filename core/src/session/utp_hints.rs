//! What the session knows of whether a peer address speaks uTP, for the dial policy of
//! [`Transport::Both`](super::config::Transport::Both).
//!
//! An address is known to speak uTP once a uTP connection with it opened (either way), once the
//! extended handshake of a peer connected over uTP named its listen port, or once a `ut_pex`
//! message flagged it `0x04`; it is known not to once a uTP dial to it fell back to TCP. The
//! latest evidence wins: a PEX flag after a failed dial makes it worth trying uTP again, as
//! libtorrent does. The table is bounded: the oldest addresses leave first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// The most addresses remembered (PEX alone can name 200 per message).
const CAPACITY: usize = 4096;

/// Addresses known to speak uTP or not: see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct UtpHints {
    known: HashMap<SocketAddr, bool>,
    /// Addresses in the order they were first learned: the front leaves first.
    order: VecDeque<SocketAddr>,
}

impl UtpHints {
    /// Records that `addr` speaks uTP (`speaks`) or does not.
    pub(crate) fn learn(&mut self, addr: SocketAddr, speaks: bool) {
        if let Some(known) = self.known.get_mut(&addr) {
            *known = speaks;
            return;
        }
        while self.known.len() >= CAPACITY {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.known.remove(&oldest);
        }
        self.known.insert(addr, speaks);
        self.order.push_back(addr);
    }

    /// `Some(true)`: `addr` speaks uTP; `Some(false)`: a uTP dial to it fell back; `None`:
    /// nothing known.
    pub(crate) fn speaks(&self, addr: SocketAddr) -> Option<bool> {
        self.known.get(&addr).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
    }

    #[test]
    fn the_latest_evidence_wins() {
        let mut h = UtpHints::default();
        assert_eq!(h.speaks(addr(1)), None);
        h.learn(addr(1), false);
        assert_eq!(h.speaks(addr(1)), Some(false));
        h.learn(addr(1), true);
        assert_eq!(h.speaks(addr(1)), Some(true));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest() {
        let mut h = UtpHints::default();
        for i in 0..CAPACITY + 10 {
            h.learn(addr(i), true);
        }
        assert_eq!(h.known.len(), CAPACITY);
        assert_eq!(h.order.len(), CAPACITY);
        assert_eq!(h.speaks(addr(0)), None);
        assert_eq!(h.speaks(addr(9)), None);
        assert_eq!(h.speaks(addr(10)), Some(true));
        assert_eq!(h.speaks(addr(CAPACITY + 9)), Some(true));
    }
}
