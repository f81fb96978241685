//! A torrent's candidate peers: addresses to dial, where each came from, and when it may be
//! tried again (exponential backoff after failures), plus the ban list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::PeerId;

/// Where a candidate address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    /// Given by the user (`add_peers`, options) or a magnet's `x.pe`.
    User,
    /// A tracker's answer.
    Tracker,
    /// A DHT lookup.
    Dht,
    /// Peer exchange (BEP 11).
    Pex,
    /// A peer that connected to us.
    Incoming,
}

#[derive(Clone, Debug)]
struct Candidate {
    source: Source,
    failures: u32,
    /// Not before this instant (backoff).
    not_before: Option<Instant>,
    /// A connection to it is open or being opened.
    busy: bool,
}

/// Backoff settings of a [`Candidates`] list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
    pub(crate) max_failures: u32,
    pub(crate) capacity: usize,
}

/// Addresses to dial, and banned peers.
#[derive(Clone, Debug)]
pub(crate) struct Candidates {
    backoff: Backoff,
    list: BTreeMap<SocketAddr, Candidate>,
    banned_addrs: BTreeSet<SocketAddr>,
    banned_ids: BTreeSet<PeerId>,
}

impl Candidates {
    pub(crate) fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            list: BTreeMap::new(),
            banned_addrs: BTreeSet::new(),
            banned_ids: BTreeSet::new(),
        }
    }

    /// Adds an address (ignored when banned, known, or the list is full). Returns whether it
    /// was new.
    pub(crate) fn add(&mut self, addr: SocketAddr, source: Source) -> bool {
        if self.banned_addrs.contains(&addr)
            || self.list.contains_key(&addr)
            || self.list.len() >= self.backoff.capacity
            || addr.port() == 0
        {
            return false;
        }
        self.list.insert(
            addr,
            Candidate {
                source,
                failures: 0,
                not_before: None,
                busy: false,
            },
        );
        true
    }

    /// The next address to dial at `now` (marked busy), preferring user-given ones, then the
    /// fewest failures; deterministic.
    pub(crate) fn next(&mut self, now: Instant) -> Option<SocketAddr> {
        let (&addr, _) = self
            .list
            .iter()
            .filter(|(_, c)| !c.busy && c.not_before.is_none_or(|t| t <= now))
            .min_by_key(|(a, c)| (c.source != Source::User, c.failures, **a))?;
        if let Some(c) = self.list.get_mut(&addr) {
            c.busy = true;
        }
        Some(addr)
    }

    /// Marks a known address busy (an established connection to it exists).
    pub(crate) fn set_busy(&mut self, addr: SocketAddr) {
        if let Some(c) = self.list.get_mut(&addr) {
            c.busy = true;
        }
    }

    /// A connection to `addr` succeeded (handshake done): failures are forgotten.
    pub(crate) fn connected(&mut self, addr: SocketAddr) {
        if let Some(c) = self.list.get_mut(&addr) {
            c.failures = 0;
            c.busy = true;
        }
    }

    /// A connection to `addr` ended at `now`; `failed` counts toward forgetting it. It may be
    /// dialled again after the backoff.
    pub(crate) fn closed(&mut self, now: Instant, addr: SocketAddr, failed: bool) {
        let Some(c) = self.list.get_mut(&addr) else {
            return;
        };
        c.busy = false;
        if failed {
            c.failures += 1;
            if c.failures >= self.backoff.max_failures {
                self.list.remove(&addr);
                return;
            }
        }
        let shift = c.failures.min(16);
        let wait = self
            .backoff
            .base
            .saturating_mul(1 << shift)
            .min(self.backoff.max);
        c.not_before = Some(now + wait);
    }

    /// Forgets an address (it is us, or useless).
    pub(crate) fn remove(&mut self, addr: SocketAddr) {
        self.list.remove(&addr);
    }

    /// Bans a peer by address and id: never dialled or accepted again.
    pub(crate) fn ban(&mut self, addr: SocketAddr, id: Option<PeerId>) {
        self.list.remove(&addr);
        self.banned_addrs.insert(addr);
        if let Some(id) = id {
            self.banned_ids.insert(id);
        }
    }

    /// Whether a peer id is banned.
    pub(crate) fn is_banned_id(&self, id: PeerId) -> bool {
        self.banned_ids.contains(&id)
    }

    /// Addresses known.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The earliest instant a backed-off candidate becomes dialable.
    pub(crate) fn next_ready(&self) -> Option<Instant> {
        self.list
            .values()
            .filter(|c| !c.busy)
            .filter_map(|c| c.not_before)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
            max_failures: 3,
            capacity: 4,
        }
    }

    #[test]
    fn backoff_grows_then_forgets() {
        let t0 = Instant::now();
        let mut c = Candidates::new(backoff());
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        assert!(c.add(a, Source::Tracker));
        assert!(!c.add(a, Source::Tracker));
        assert_eq!(c.next(t0), Some(a));
        assert_eq!(c.next(t0), None, "busy");
        c.closed(t0, a, true);
        assert_eq!(c.next(t0 + Duration::from_secs(19)), None);
        assert_eq!(c.next(t0 + Duration::from_secs(20)), Some(a));
        c.closed(t0, a, true);
        assert_eq!(c.next_ready(), Some(t0 + Duration::from_secs(40)));
        assert_eq!(c.next(t0 + Duration::from_secs(40)), Some(a));
        c.closed(t0, a, true);
        assert_eq!(c.len(), 0, "forgotten after max failures");
    }

    #[test]
    fn capacity_bans_and_preference() {
        let t0 = Instant::now();
        let mut c = Candidates::new(backoff());
        let addrs: Vec<SocketAddr> = (1..=5)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], 2000 + p)))
            .collect();
        for a in &addrs[..3] {
            c.add(*a, Source::Tracker);
        }
        c.add(addrs[3], Source::User);
        assert!(!c.add(addrs[4], Source::Dht), "full");
        assert_eq!(c.next(t0), Some(addrs[3]), "user first");
        c.ban(addrs[0], None);
        assert!(!c.add(addrs[0], Source::User));
        assert_eq!(c.next(t0), Some(addrs[1]));
    }
}
