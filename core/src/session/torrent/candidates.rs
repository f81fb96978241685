//! A torrent's candidate peers: addresses to dial, where each came from, and when it may be
//! tried again (exponential backoff after failures), plus the ban list.
//!
//! Sources earn trust: each [`Source`] keeps a record of its dials that got an answer and
//! those that did not (refused, timed out, or given up at the half-open limit). A source whose
//! addresses mostly go unanswered (a hostile tracker, PEX peer or DHT node feeding black
//! holes) has its candidates dialled after those of sources that answer, and its untried
//! candidates make room for newcomers from better sources when the list is full. Unknown
//! sources start trusted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::id::PeerId;

/// Where a candidate address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Source {
    /// Given by the user (`add_peers`, options) or a magnet's `x.pe`.
    User,
    /// A tracker's answer.
    Tracker,
    /// A DHT lookup.
    Dht,
    /// Peer exchange (BEP 11).
    Pex,
    /// The listening port a peer that connected to us gave in its extension handshake.
    Ltep,
    /// Local service discovery (BEP 14).
    Lsd,
}

impl Source {
    const COUNT: usize = 6;
}

/// How a candidate's source ranks when it waits for a half-open slot (lower first): user-given
/// before the others, then by how much its source's dials went unanswered (0 to 7).
pub(crate) type Standing = (bool, u64);

/// How a source's dials went: the ones answered (connected) and the ones that were not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Record {
    answered: u32,
    unanswered: u32,
}

impl Record {
    /// 0 (every dial answered, or none tried) to 7 (none answered): the lower, the sooner its
    /// candidates are dialled.
    fn distrust(self) -> u64 {
        let (a, u) = (u64::from(self.answered), u64::from(self.unanswered));
        u * 8 / (a + u + 1)
    }
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

/// How many IP addresses, and how many peer ids, a torrent's ban list holds: past it the
/// oldest ban goes, so a peer that changes address and id after each ban costs a bounded list.
const MAX_BANS: usize = 1024;

/// Peers banned by IP address (any port: an inbound peer reconnects from a new one) and by id.
#[derive(Clone, Debug, Default)]
struct Bans {
    ips: BoundedSet<IpAddr>,
    ids: BoundedSet<PeerId>,
}

/// A set that forgets its oldest member past [`MAX_BANS`].
#[derive(Clone, Debug)]
struct BoundedSet<T> {
    members: BTreeSet<T>,
    order: VecDeque<T>,
}

impl<T> Default for BoundedSet<T> {
    fn default() -> Self {
        Self {
            members: BTreeSet::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T: Ord + Copy> BoundedSet<T> {
    fn insert(&mut self, value: T) {
        if self.members.insert(value) {
            self.order.push_back(value);
            if self.order.len() > MAX_BANS
                && let Some(oldest) = self.order.pop_front()
            {
                self.members.remove(&oldest);
            }
        }
    }

    fn contains(&self, value: &T) -> bool {
        self.members.contains(value)
    }
}

/// Backoff settings of a [`Candidates`] list (one copy shared by a session's torrents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
    pub(crate) max_failures: u32,
    pub(crate) capacity: usize,
}

/// Addresses to dial, and banned peers.
#[derive(Clone, Debug)]
pub(crate) struct Candidates {
    backoff: Arc<Backoff>,
    list: BTreeMap<SocketAddr, Candidate>,
    /// Banned peers, boxed once one is (a torrent that never banned keeps 8 B, not 48 B).
    bans: Option<Box<Bans>>,
    /// Per [`Source`], how its dials went (boxed once a dial ended: a torrent that never
    /// dialled, such as an idle seed, keeps 8 B instead of 48 B).
    records: Option<Box<[Record; Source::COUNT]>>,
}

impl Candidates {
    pub(crate) fn new(backoff: Arc<Backoff>) -> Self {
        Self {
            backoff,
            list: BTreeMap::new(),
            bans: None,
            records: None,
        }
    }

    /// Whether peers at `ip` are banned.
    pub(crate) fn is_banned_ip(&self, ip: IpAddr) -> bool {
        self.bans.as_ref().is_some_and(|b| b.ips.contains(&ip))
    }

    /// Adds an address (ignored when banned or known). When the list is full it takes the
    /// place of the idle candidate least worth dialling, if that one ranks below a newcomer
    /// from `source` (see [`Self::rank`]); else it is ignored. Returns whether it was added.
    pub(crate) fn add(&mut self, addr: SocketAddr, source: Source) -> bool {
        if self.is_banned_ip(addr.ip()) || self.list.contains_key(&addr) || addr.port() == 0 {
            return false;
        }
        if self.list.len() >= self.backoff.capacity {
            let newcomer = self.rank(source, 0);
            let victim = self
                .list
                .iter()
                .filter(|(_, c)| !c.busy)
                .map(|(a, c)| (self.rank(c.source, c.failures), *a))
                .max();
            match victim {
                Some((rank, victim)) if rank > newcomer => {
                    self.list.remove(&victim);
                }
                _ => return false,
            }
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

    /// How soon a candidate from `source` with `failures` is dialled (lower first): user-given
    /// ones first, then by how much its source's dials went unanswered, then the fewest
    /// failures.
    fn rank(&self, source: Source, failures: u32) -> (bool, u64, u32) {
        let (others, distrust) = self.standing(source);
        (others, distrust, failures)
    }

    fn standing(&self, source: Source) -> Standing {
        (
            source != Source::User,
            self.records
                .as_ref()
                .map_or(Record::default(), |r| r[source as usize])
                .distrust(),
        )
    }

    /// The standing of the candidate [`Self::next`] would give at `now`.
    pub(crate) fn next_standing(&self, now: Instant, we_are_seed: bool) -> Option<Standing> {
        self.ready(now, we_are_seed)
            .map(|(_, c)| self.standing(c.source))
            .min()
    }

    /// The standing of a known address (busy ones included: a dial in progress).
    pub(crate) fn standing_of(&self, addr: SocketAddr) -> Option<Standing> {
        self.list.get(&addr).map(|c| self.standing(c.source))
    }

    /// The next address to dial at `now` (marked busy), the lowest [`Self::rank`] first (then
    /// the lowest address); deterministic. A seed (`we_are_seed`) skips peers known to be
    /// seeds.
    pub(crate) fn next(&mut self, now: Instant, we_are_seed: bool) -> Option<SocketAddr> {
        let (&addr, _) = self
            .ready(now, we_are_seed)
            .min_by_key(|(a, c)| (self.rank(c.source, c.failures), **a))?;
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

    /// A dial to `addr` ended: answered (connected) or not (refused, timed out, abandoned). It
    /// counts in the record of the source `addr` came from.
    pub(crate) fn dial_ended(&mut self, addr: SocketAddr, answered: bool) {
        let Some(c) = self.list.get(&addr) else {
            return;
        };
        let r = &mut self.records.get_or_insert_with(Box::default)[c.source as usize];
        if answered {
            r.answered = r.answered.saturating_add(1);
        } else {
            r.unanswered = r.unanswered.saturating_add(1);
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

    /// Forgets every address (bans and dial records kept): a released torrent dials nobody.
    pub(crate) fn forget_all(&mut self) {
        self.list = BTreeMap::new();
    }

    /// Forgets an address (it is us, or useless).
    pub(crate) fn remove(&mut self, addr: SocketAddr) {
        self.list.remove(&addr);
    }

    /// Bans a peer by IP address and id: no address at that IP is dialled or accepted again,
    /// nor that id.
    pub(crate) fn ban(&mut self, addr: SocketAddr, id: Option<PeerId>) {
        let ip = addr.ip();
        self.list.retain(|a, _| a.ip() != ip);
        let bans = self.bans.get_or_insert_default();
        bans.ips.insert(ip);
        if let Some(id) = id {
            bans.ids.insert(id);
        }
    }

    /// Whether a peer id is banned.
    pub(crate) fn is_banned_id(&self, id: PeerId) -> bool {
        self.bans.as_ref().is_some_and(|b| b.ids.contains(&id))
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
    fn bans_are_held_only_once_a_peer_is_banned() {
        let mut c = Candidates::new(Arc::new(backoff()));
        let a = SocketAddr::from(([10, 0, 0, 1], 6881));
        let id = PeerId([7; 20]);
        assert!(c.bans.is_none());
        assert!(!c.is_banned_id(id));
        assert!(c.add(a, Source::Tracker));
        c.ban(a, Some(id));
        assert!(c.bans.is_some());
        assert!(c.is_banned_id(id));
        assert!(
            !c.add(a, Source::Pex),
            "a banned address is not taken again"
        );
        assert!(
            !c.add(SocketAddr::from(([10, 0, 0, 1], 7000)), Source::Pex),
            "nor another port of its IP"
        );
        assert!(c.add(SocketAddr::from(([10, 0, 0, 2], 6881)), Source::Pex));
        c.forget_all();
        assert!(c.is_banned_id(id), "bans outlive the list");
        assert!(size_of::<Candidates>() <= 48);
    }

    #[test]
    fn the_ban_list_forgets_its_oldest_past_its_bound() {
        let mut c = Candidates::new(Arc::new(backoff()));
        let peer = |n: u32| {
            let mut id = [0; 20];
            id[..4].copy_from_slice(&n.to_be_bytes());
            (SocketAddr::from((n.to_be_bytes(), 6881)), PeerId(id))
        };
        let total = u32::try_from(MAX_BANS).unwrap() + 10;
        for n in 0..total {
            let (addr, id) = peer(n);
            c.ban(addr, Some(id));
            c.ban(addr, Some(id));
        }
        let bans = c.bans.as_ref().unwrap();
        assert_eq!(
            (bans.ips.members.len(), bans.ids.members.len()),
            (MAX_BANS, MAX_BANS)
        );
        assert_eq!(bans.ips.order.len(), MAX_BANS);
        let (first, first_id) = peer(0);
        let (last, last_id) = peer(total - 1);
        assert!(
            !c.is_banned_ip(first.ip()) && !c.is_banned_id(first_id),
            "oldest forgotten"
        );
        assert!(c.is_banned_ip(last.ip()) && c.is_banned_id(last_id));
    }

    #[test]
    fn backoff_grows_then_forgets() {
        let t0 = Instant::now();
        let mut c = Candidates::new(Arc::new(backoff()));
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
        let mut c = Candidates::new(Arc::new(backoff()));
        let addrs: Vec<SocketAddr> = (1..=5)
            .map(|n| SocketAddr::from(([127, 0, 0, n], 2000)))
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
        let mut c = Candidates::new(Arc::new(backoff()));
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
        let mut c = Candidates::new(Arc::new(backoff()));
        let a: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        c.add(a, Source::Tracker);
        assert_eq!(c.next(t0, true), Some(a));
        c.closed(t0, a, false, true);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(c.next(later, true), None, "we are a seed and so is it");
        assert_eq!(c.next(later, false), Some(a), "a leecher still wants it");
    }

    #[test]
    fn candidates_of_sources_that_go_unanswered_are_dialled_last() {
        let t0 = Instant::now();
        let mut c = Candidates::new(Arc::new(Backoff {
            capacity: 16,
            ..backoff()
        }));
        let addr = |n: u8| SocketAddr::from(([10, 0, 0, n], 6881));
        for n in 1..=4 {
            c.add(addr(n), Source::Tracker);
        }
        c.add(addr(9), Source::Pex);
        // The tracker's first address does not answer: the PEX one goes next.
        assert_eq!(c.next(t0, false), Some(addr(1)), "lowest address first");
        c.dial_ended(addr(1), false);
        c.closed(t0, addr(1), true, false);
        assert_eq!(
            c.next(t0, false),
            Some(addr(9)),
            "the PEX one before the tracker's"
        );
        c.dial_ended(addr(9), true);
        assert_eq!(c.next(t0, false), Some(addr(2)), "then the tracker's");
        c.dial_ended(addr(2), false);
        c.add(addr(8), Source::Pex);
        assert_eq!(c.next(t0, false), Some(addr(8)));
        // Once the tracker's addresses mostly answer, they rank with the others again.
        for _ in 0..20 {
            c.dial_ended(addr(3), true);
        }
        c.add(addr(6), Source::Pex);
        assert_eq!(c.next(t0, false), Some(addr(3)));
        // User-given addresses go first whatever the records.
        c.add(addr(200), Source::User);
        c.dial_ended(addr(200), false);
        assert_eq!(c.next(t0, false), Some(addr(200)));
    }

    #[test]
    fn a_full_list_makes_room_only_for_a_better_newcomer() {
        let t0 = Instant::now();
        let mut c = Candidates::new(Arc::new(backoff()));
        let addr = |n: u8| SocketAddr::from(([10, 0, 0, n], 6881));
        for n in 1..=4 {
            assert!(c.add(addr(n), Source::Dht));
        }
        assert!(!c.add(addr(5), Source::Dht), "full, and no worse candidate");
        assert!(!c.add(addr(5), Source::Pex), "full, and no worse candidate");
        // addr(1) fails: a newcomer of the same source takes its place.
        assert_eq!(c.next(t0, false), Some(addr(1)));
        c.dial_ended(addr(1), false);
        c.closed(t0, addr(1), true, false);
        assert!(c.add(addr(6), Source::Dht));
        assert_eq!(c.len(), 4);
        assert_eq!(c.source_of(addr(1)), None, "the failed one made room");
        // The DHT's dials go unanswered: its untried addresses make room for a PEX one, but
        // not for more of its own; a busy candidate is never replaced.
        assert_eq!(c.next(t0, false), Some(addr(2)));
        c.dial_ended(addr(2), false);
        assert!(c.add(addr(7), Source::Pex));
        assert_eq!(
            c.source_of(addr(6)),
            None,
            "the highest address of the worst rank"
        );
        assert!(!c.add(addr(8), Source::Dht));
        assert_eq!(c.source_of(addr(2)), Some(Source::Dht), "busy: kept");
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn standing_is_by_source_user_given_first_then_trust() {
        let t0 = Instant::now();
        let mut c = Candidates::new(Arc::new(backoff()));
        let addr = |n: u8| SocketAddr::from(([10, 0, 0, n], 6881));
        assert_eq!(c.next_standing(t0, false), None);
        c.add(addr(1), Source::Tracker);
        c.add(addr(2), Source::Pex);
        assert_eq!(c.next_standing(t0, false), Some((true, 0)));
        assert_eq!(c.next(t0, false), Some(addr(1)));
        c.dial_ended(addr(1), false);
        assert_eq!(c.standing_of(addr(1)), Some((true, 4)), "busy, still known");
        assert_eq!(c.next_standing(t0, false), Some((true, 0)), "the PEX one");
        c.add(addr(3), Source::User);
        assert_eq!(c.next_standing(t0, false), Some((false, 0)));
        assert_eq!(c.standing_of(addr(9)), None);
    }
}
