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
    /// Its last connection showed it has every piece: a seed has nothing for it and it has
    /// nothing for a seed, so seeds do not redial it.
    seed: bool,
    /// Dial it with the handshake other than the session's first choice (plain BitTorrent
    /// or MSE): a connection ended before the peer's handshake.
    other_handshake: bool,
    /// `other_handshake` was switched at least once (the first switch redials at once).
    switched: bool,
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
                seed: false,
                other_handshake: false,
                switched: false,
            },
        );
        true
    }

    /// The next address to dial at `now` (marked busy), preferring user-given ones, then the
    /// fewest failures; deterministic. A seed (`we_are_seed`) skips peers known to be seeds.
    pub(crate) fn next(&mut self, now: Instant, we_are_seed: bool) -> Option<SocketAddr> {
        let (&addr, _) = self
            .ready(now, we_are_seed)
            .min_by_key(|(a, c)| (c.source != Source::User, c.failures, **a))?;
        if let Some(c) = self.list.get_mut(&addr) {
            c.busy = true;
        }
        Some(addr)
    }

    /// Whether [`Candidates::next`] would give an address.
    pub(crate) fn has_ready(&self, now: Instant, we_are_seed: bool) -> bool {
        self.ready(now, we_are_seed).next().is_some()
    }

    fn ready(
        &self,
        now: Instant,
        we_are_seed: bool,
    ) -> impl Iterator<Item = (&SocketAddr, &Candidate)> {
        self.list
            .iter()
            .filter(move |(_, c)| !c.busy && c.not_before.is_none_or(|t| t <= now))
            .filter(move |(_, c)| !(we_are_seed && c.seed))
    }

    /// Where a known address came from.
    pub(crate) fn source_of(&self, addr: SocketAddr) -> Option<Source> {
        self.list.get(&addr).map(|c| c.source)
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

    /// A connection to `addr` ended at `now`; `failed` counts toward forgetting it, `seed` says
    /// the peer had every piece. It may be dialled again after the backoff.
    pub(crate) fn closed(&mut self, now: Instant, addr: SocketAddr, failed: bool, seed: bool) {
        let Some(c) = self.list.get_mut(&addr) else {
            return;
        };
        c.busy = false;
        c.seed = seed;
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

    /// Whether `addr` is to be dialled with the handshake other than the first choice.
    pub(crate) fn other_handshake(&self, addr: SocketAddr) -> bool {
        self.list.get(&addr).is_some_and(|c| c.other_handshake)
    }

    /// A connection we opened to `addr` ended before the peer's handshake (after
    /// [`Self::closed`]): the peer may not speak the handshake we opened with (it requires
    /// encryption, or refuses it). The next dial uses the other one; the first time, at once
    /// and without counting the failure.
    pub(crate) fn handshake_failed(&mut self, now: Instant, addr: SocketAddr) {
        let Some(c) = self.list.get_mut(&addr) else {
            return;
        };
        c.other_handshake = !c.other_handshake;
        if !c.switched {
            c.switched = true;
            c.failures = c.failures.saturating_sub(1);
            c.not_before = Some(now);
        }
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
        assert_eq!(c.next(t0, false), Some(a));
        assert_eq!(c.next(t0, false), None, "busy");
        c.closed(t0, a, true, false);
        assert_eq!(c.next(t0 + Duration::from_secs(19), false), None);
        assert_eq!(c.next(t0 + Duration::from_secs(20), false), Some(a));
        c.closed(t0, a, true, false);
        assert_eq!(c.next_ready(), Some(t0 + Duration::from_secs(40)));
        assert_eq!(c.next(t0 + Duration::from_secs(40), false), Some(a));
        c.closed(t0, a, true, false);
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
        assert_eq!(c.next(t0, false), Some(addrs[3]), "user first");
        c.ban(addrs[0], None);
        assert!(!c.add(addrs[0], Source::User));
        assert_eq!(c.next(t0, false), Some(addrs[1]));
    }

    #[test]
    fn a_failed_handshake_switches_at_once_then_alternates_with_backoff() {
        let t0 = Instant::now();
        let mut c = Candidates::new(backoff());
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        c.add(a, Source::Tracker);
        assert!(!c.other_handshake(a));
        assert_eq!(c.next(t0, false), Some(a));
        c.closed(t0, a, true, false);
        c.handshake_failed(t0, a);
        assert!(c.other_handshake(a));
        assert_eq!(c.next(t0, false), Some(a), "redialled at once");
        c.closed(t0, a, true, false);
        c.handshake_failed(t0, a);
        assert!(!c.other_handshake(a), "back to the first handshake");
        assert_eq!(c.next(t0, false), None, "with the usual backoff");
        c.connected(a);
        assert!(!c.other_handshake(a));
        c.handshake_failed(t0, a);
        assert!(c.other_handshake(a));
        c.handshake_failed(t0, "10.0.0.9:1".parse().unwrap());
    }

    #[test]
    fn seeds_do_not_redial_seeds() {
        let t0 = Instant::now();
        let mut c = Candidates::new(backoff());
        let a: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        c.add(a, Source::Tracker);
        assert_eq!(c.next(t0, true), Some(a));
        c.closed(t0, a, false, true);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(c.next(later, true), None, "we are a seed and so is it");
        assert_eq!(c.next(later, false), Some(a), "a leecher still wants it");
    }
}
