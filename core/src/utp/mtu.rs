//! Path MTU discovery for one connection, as libtorrent does it: packets go out at the
//! largest size known to pass (the floor); now and then one packet, the probe, is sent at the
//! midpoint between the floor and the ceiling (the most the interface allows). An acknowledged
//! probe raises the floor to its size; a lost one lowers the ceiling below it. The search ends
//! when the two are within [`SEARCH_DONE`] bytes.
//!
//! Every datagram leaves with don't-fragment set (the runtime sets it on the socket), so a
//! probe too large for the path is dropped, never fragmented. A probe is a normal data packet
//! of at most floor size, padded with extensions receivers skip: a lost probe is sent again
//! without its padding, so no data ever waits on a size the path refuses.

use super::seq::Seq;

/// The packet size of a connection and the search for a larger one.
#[derive(Clone, Debug)]
pub(crate) struct PathMtu {
    floor: usize,
    ceiling: usize,
    /// The probe in flight: its sequence number and datagram size.
    probe: Option<(Seq, usize)>,
}

impl PathMtu {
    /// A search between `floor` (known to pass) and `ceiling` (the interface's limit), both
    /// datagram sizes with the uTP header.
    pub(crate) fn new(floor: usize, ceiling: usize) -> Self {
        Self {
            floor: floor.min(ceiling),
            ceiling,
            probe: None,
        }
    }

    /// The size of datagrams that are not probes.
    pub(crate) fn packet_size(&self) -> usize {
        self.floor
    }

    /// The size of a probe to send now, if one is due: none in flight, the search not over,
    /// and a congestion window of more than three packets (so the probe's loss can be told
    /// from congestion).
    pub(crate) fn probe_size(&self, cwnd: usize) -> Option<usize> {
        if self.probe.is_some()
            || self.ceiling.saturating_sub(self.floor) < SEARCH_DONE
            || cwnd <= 3 * self.floor
        {
            return None;
        }
        Some((self.floor + self.ceiling).div_ceil(2))
    }

    /// Records probe `seq` of `size` bytes sent.
    pub(crate) fn sent_probe(&mut self, seq: Seq, size: usize) {
        self.probe = Some((seq, size));
    }

    /// The probe in flight.
    pub(crate) fn probe(&self) -> Option<Seq> {
        self.probe.map(|(seq, _)| seq)
    }

    /// Everything through `acked` arrived: `true` if that took the probe (the floor rose).
    pub(crate) fn acked_through(&mut self, acked: Seq) -> bool {
        match self.probe {
            Some((seq, size)) if !seq.after(acked) => {
                self.floor = self.floor.max(size);
                self.probe = None;
                true
            }
            _ => false,
        }
    }

    /// Packet `seq` is lost: `true` if it was the probe (the ceiling fell below it).
    pub(crate) fn lost(&mut self, seq: Seq) -> bool {
        match self.probe {
            Some((probe, size)) if probe == seq => {
                self.ceiling = (size - 1).max(self.floor);
                self.probe = None;
                true
            }
            _ => false,
        }
    }

    /// Forgets the probe without learning from it (everything timed out together).
    pub(crate) fn forget(&mut self) {
        self.probe = None;
    }
}

/// The search ends when the floor and the ceiling are closer than this many bytes.
pub(crate) const SEARCH_DONE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_below_a_path_limit() {
        let path = 1372;
        let mut m = PathMtu::new(1200, 1472);
        let mut seq = Seq(100);
        let mut probes = 0;
        while let Some(size) = m.probe_size(100_000) {
            probes += 1;
            assert!(size > m.packet_size());
            m.sent_probe(seq, size);
            assert_eq!(m.probe_size(100_000), None, "one probe at a time");
            if size <= path {
                assert!(m.acked_through(seq));
            } else {
                assert!(!m.lost(seq.next()));
                assert!(m.lost(seq));
            }
            seq = seq.next();
        }
        assert!(probes <= 8, "{probes} probes");
        assert!(m.packet_size() <= path && m.packet_size() + SEARCH_DONE > path);
    }

    #[test]
    fn no_probe_in_a_small_window() {
        let m = PathMtu::new(1200, 1472);
        assert_eq!(m.probe_size(3600), None);
        assert_eq!(m.probe_size(3601), Some(1336));
        assert_eq!(PathMtu::new(1200, 1210).probe_size(100_000), None);
    }
}
