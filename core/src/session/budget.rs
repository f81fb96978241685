//! The announce budget: every torrent's tracker announces go out within one budget, so
//! 100,000 torrents started together do not announce in one burst.
//!
//! The session's announcers are gated (see
//! [`AnnouncerConfig::gated`](crate::tracker::AnnouncerConfig::gated)): an announce that is
//! due waits, and the budget grants the waiting ones in [`Rank`] order (`stopped` announces
//! first, those of torrents that had peers before idle ones; then torrents still
//! downloading; then seeding ones), then the longest waiting, then by id, at most
//! `announce_rate` in any second and while fewer than `announces_in_flight` torrents have an
//! announce in flight. A redirect or a tracker's answer holds the place its announce took.
//! Since an announce waits only when the budget is spent, each tracker's `interval` and `min
//! interval` stay the earliest it goes out, and a grant is late by at most the queue ahead of
//! it.
//!
//! `stopped` announces go through the budget too: a shutdown (or a stop of every torrent) of
//! 100,000 torrents used to open 100,000 tracker connections at once (the kernel's search for
//! a free ephemeral port then took most of the stop). They go ahead of every other announce,
//! so one torrent stopped alone announces at the next free place; what is still waiting at
//! the torrent's stop deadline (`shutdown_timeout` after its stop) or when the shutdown ends
//! is dropped unsent and counted ([`StopAnnounceStats`]), as libtorrent gives up its
//! `stopped` announces after `stop_tracker_timeout`.
//!
//! The DHT's lookups use the same rate without a queue ([`DhtBudget`]): a torrent whose
//! lookup is due takes the next free slot, and its lookup is put off until then. A hybrid
//! torrent looks up each of its two hashes in a slot of its own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::io::TorrentId;

/// Where a torrent's announcer stands, for the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An announce is due (since this instant) and waits for its grant.
    Waiting {
        /// When it became due.
        since: Instant,
        /// Which waiting ones go first.
        rank: Rank,
    },
    /// An announce (`stopped` too) is in flight.
    Announcing,
    /// Neither.
    Idle,
}

/// Which waiting announces the budget grants first, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// A `stopped` announce of a torrent that had a peer connection when it stopped: the
    /// tracker still hands its address to peers that would dial it in vain.
    StopActive,
    /// A `stopped` announce of a torrent without peers (released ones among them).
    StopIdle,
    /// An announce of a torrent still downloading (it wants peers).
    Download,
    /// An announce of a torrent with nothing left to download.
    Seed,
}

impl Rank {
    /// The rank of an announce: `stopped` or not, the torrent had peers, or has everything.
    pub(crate) fn of(stop: bool, active: bool, seeding: bool) -> Self {
        match (stop, active, seeding) {
            (true, true, _) => Self::StopActive,
            (true, false, _) => Self::StopIdle,
            (false, _, false) => Self::Download,
            (false, _, true) => Self::Seed,
        }
    }

    /// Whether it is a `stopped` announce's.
    fn is_stop(self) -> bool {
        self <= Self::StopIdle
    }
}

/// How the `stopped` announces went against the budget since the session started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopAnnounceStats {
    /// `stopped` announces sent (granted by the budget).
    pub sent: u64,
    /// `stopped` announces dropped unsent: still waiting for the budget at their torrent's
    /// stop deadline or when the shutdown ended (each step that drops some raises
    /// [`Event::StopAnnouncesDropped`](super::Event::StopAnnouncesDropped)).
    pub dropped: u64,
}

const SECOND: Duration = Duration::from_secs(1);

/// At most `rate` events in any second: the instants of the last `rate` events given.
#[derive(Debug)]
struct Window {
    rate: usize,
    recent: VecDeque<Instant>,
}

impl Window {
    /// A window of `rate` events per second (0: no limit).
    fn new(rate: u32) -> Self {
        Self {
            rate: rate as usize,
            recent: VecDeque::new(),
        }
    }

    /// The earliest instant from `now` an event may be given at.
    fn next_free(&self, now: Instant) -> Instant {
        match self.recent.front() {
            Some(first) if self.rate > 0 && self.recent.len() >= self.rate => {
                (*first + SECOND).max(now)
            }
            _ => now,
        }
    }

    /// Gives an event at `at` (no earlier than [`Self::next_free`] and than every event given).
    fn give(&mut self, at: Instant) {
        if self.rate == 0 {
            return;
        }
        self.recent.push_back(at);
        if self.recent.len() > self.rate {
            self.recent.pop_front();
        }
    }

    /// The instant of the last event given.
    fn last(&self) -> Option<Instant> {
        self.recent.back().copied()
    }
}

/// The tracker announce budget.
#[derive(Debug)]
pub(crate) struct AnnounceBudget {
    /// The grants of the last second.
    rate: Window,
    /// The most torrents with an announce in flight.
    max_in_flight: usize,
    /// The waiting torrents, in grant order.
    queue: BTreeSet<(Rank, Instant, TorrentId)>,
    /// Each waiting torrent's key in `queue`.
    queued: BTreeMap<TorrentId, (Rank, Instant)>,
    /// The torrents with an announce in flight.
    in_flight: BTreeSet<TorrentId>,
    /// The `stopped` announces' figures.
    stops: StopAnnounceStats,
}

impl AnnounceBudget {
    /// A budget of `rate` grants per second (0: no limit) and `max_in_flight` announces in
    /// flight (at least one).
    pub(crate) fn new(rate: u32, max_in_flight: usize) -> Self {
        Self {
            rate: Window::new(rate),
            max_in_flight: max_in_flight.max(1),
            queue: BTreeSet::new(),
            queued: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            stops: StopAnnounceStats::default(),
        }
    }

    /// Files where torrent `id`'s announcer stands now. A waiting `stopped` announce keeps
    /// the rank it was first filed with (its torrent's connections close after the stop).
    pub(crate) fn note(&mut self, id: TorrentId, slot: Slot) {
        match slot {
            Slot::Waiting { since, rank } => {
                self.in_flight.remove(&id);
                match self.queued.get(&id) {
                    Some(&(r, s)) if s == since && (r == rank || r.is_stop() && rank.is_stop()) => {
                        return;
                    }
                    _ => {}
                }
                self.unqueue(id);
                self.queued.insert(id, (rank, since));
                self.queue.insert((rank, since, id));
            }
            Slot::Announcing => {
                self.unqueue(id);
                self.in_flight.insert(id);
            }
            Slot::Idle => self.forget(id),
        }
    }

    /// Torrent `id` is gone (or its announcer is).
    pub(crate) fn forget(&mut self, id: TorrentId) {
        self.unqueue(id);
        self.in_flight.remove(&id);
    }

    /// Takes torrent `id` off the queue; the rank it waited with.
    fn unqueue(&mut self, id: TorrentId) -> Option<Rank> {
        let (rank, since) = self.queued.remove(&id)?;
        self.queue.remove(&(rank, since, id));
        Some(rank)
    }

    /// The next waiting torrent the budget lets announce at `now`, taken from the queue and
    /// counted in flight (the caller grants its announcer, then calls [`Self::sent_stop`] if
    /// `stop`: it was a `stopped` announce).
    pub(crate) fn take(&mut self, now: Instant) -> Option<(TorrentId, bool)> {
        if self.in_flight.len() >= self.max_in_flight || self.rate.next_free(now) > now {
            return None;
        }
        let (rank, _, id) = self.queue.pop_first()?;
        self.queued.remove(&id);
        self.in_flight.insert(id);
        self.rate.give(now);
        Some((id, rank.is_stop()))
    }

    /// A `stopped` announce taken from the queue went out.
    pub(crate) fn sent_stop(&mut self) {
        self.stops.sent += 1;
    }

    /// Torrent `id` gave its `stopped` announce up (see
    /// [`Announcer::give_up_stop`](crate::tracker::Announcer::give_up_stop)): it leaves the
    /// budget, and one still waiting is counted dropped. Returns whether it was.
    pub(crate) fn give_up_stop(&mut self, id: TorrentId) -> bool {
        self.in_flight.remove(&id);
        let dropped = self.unqueue(id).is_some_and(Rank::is_stop);
        self.stops.dropped += u64::from(dropped);
        dropped
    }

    /// The shutdown is over: every `stopped` announce still waiting is dropped (counted).
    /// Returns how many.
    pub(crate) fn drop_stops(&mut self) -> u64 {
        let mut dropped = 0;
        while let Some(&(rank, _, id)) = self.queue.first()
            && rank.is_stop()
        {
            self.unqueue(id);
            dropped += 1;
        }
        self.stops.dropped += dropped;
        dropped
    }

    /// The `stopped` announces' figures since the session started.
    pub(crate) fn stop_stats(&self) -> StopAnnounceStats {
        self.stops
    }

    /// When the next grant can be made, if a torrent waits and a place in flight is free
    /// (every waiting torrent is due already: the first one's instant stands for "now").
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.in_flight.len() >= self.max_in_flight {
            return None;
        }
        let (_, since, _) = self.queue.first()?;
        Some(self.rate.next_free(*since))
    }

    /// How many torrents wait for a grant.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// How many torrents have an announce in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// The window each public torrent's DHT announces must fall in: DHT nodes keep an announced
/// peer for 30 minutes (libtorrent, mainline), so a torrent not announced again within it
/// drops out of the DHT's peer lists.
pub(crate) const DHT_ANNOUNCE_WINDOW: Duration = Duration::from_secs(30 * 60);

/// The DHT lookup budget: at most `rate` slots in any second, each taken by one lookup (a
/// torrent's under one of its hashes: a hybrid takes two); it also watches each lookup's
/// [`DHT_ANNOUNCE_WINDOW`] (from its previous start, or from when its first one became due)
/// and says when a slot falls beyond it.
#[derive(Debug)]
pub(crate) struct DhtBudget {
    /// The slots given last.
    rate: Window,
    /// The lookups put off, with their slot.
    held: BTreeMap<DhtLookup, Instant>,
    /// By when each lookup must start again.
    window_end: BTreeMap<DhtLookup, Instant>,
    /// The session's figures.
    stats: DhtAnnounceStats,
}

/// One lookup of the budget: a torrent and the index of the hash it is looked up under (in
/// [`Torrent::handshake_ids`](super::torrent::Torrent::handshake_ids) order).
pub(crate) type DhtLookup = (TorrentId, usize);

/// Where a lookup due now stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DhtSlot {
    /// It may start now.
    Now,
    /// It is put off to this instant, within its window.
    Later(Instant),
    /// It is put off to `at`, beyond its window, which ends at `window_end`.
    Late {
        /// Its slot.
        at: Instant,
        /// The end of its window.
        window_end: Instant,
    },
}

/// How the DHT's lookups went against the budget since the session started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtAnnounceStats {
    /// Lookups (announce or `get_peers`) started.
    pub started: u64,
    /// Lookups the budget put off beyond their torrent's 30-minute window (each also raised
    /// [`Event::DhtAnnounceLate`](super::Event::DhtAnnounceLate)).
    pub late: u64,
}

impl DhtBudget {
    /// A budget of `rate` lookups per second (0: no limit).
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            rate: Window::new(rate),
            held: BTreeMap::new(),
            window_end: BTreeMap::new(),
            stats: DhtAnnounceStats::default(),
        }
    }

    /// The slot of lookup `id`, due at `now`: [`DhtSlot::Now`] when it starts at once
    /// (counted started, its window renewed), else the later instant it is put off to (its
    /// slot, kept for it until then), and whether that misses its window (counted late).
    pub(crate) fn slot(&mut self, id: DhtLookup, now: Instant) -> DhtSlot {
        if let Some(at) = self.held.get(&id).copied() {
            if at > now {
                return DhtSlot::Later(at);
            }
            self.held.remove(&id);
            return self.start(id, now);
        }
        let free = self.rate.next_free(now);
        let at = self.rate.last().map_or(free, |last| last.max(free));
        self.rate.give(at);
        if at <= now {
            return self.start(id, now);
        }
        self.held.insert(id, at);
        let window_end = *self
            .window_end
            .entry(id)
            .or_insert(now + DHT_ANNOUNCE_WINDOW);
        if at > window_end {
            self.stats.late += 1;
            return DhtSlot::Late { at, window_end };
        }
        DhtSlot::Later(at)
    }

    fn start(&mut self, id: DhtLookup, now: Instant) -> DhtSlot {
        self.stats.started += 1;
        self.window_end.insert(id, now + DHT_ANNOUNCE_WINDOW);
        DhtSlot::Now
    }

    /// Torrent `id` no longer looks peers up (stopped, removed, or the DHT is off): the slots
    /// its lookups held and their windows are dropped.
    pub(crate) fn forget(&mut self, id: TorrentId) {
        let all = (id, 0)..=(id, usize::MAX);
        let held: Vec<DhtLookup> = self.held.range(all.clone()).map(|(k, _)| *k).collect();
        for k in held {
            self.held.remove(&k);
        }
        let windows: Vec<DhtLookup> = self.window_end.range(all).map(|(k, _)| *k).collect();
        for k in windows {
            self.window_end.remove(&k);
        }
    }

    /// The figures since the session started.
    pub(crate) fn stats(&self) -> DhtAnnounceStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(since: Instant, seeding: bool) -> Slot {
        let rank = Rank::of(false, false, seeding);
        Slot::Waiting { since, rank }
    }

    fn stop(since: Instant, active: bool) -> Slot {
        let rank = Rank::of(true, active, true);
        Slot::Waiting { since, rank }
    }

    /// The torrent granted, if any (a `stopped` one counted sent, as the session does).
    fn take(b: &mut AnnounceBudget, now: Instant) -> Option<TorrentId> {
        let (id, stop) = b.take(now)?;
        if stop {
            b.sent_stop();
        }
        Some(id)
    }

    #[test]
    fn grants_are_spaced_by_the_rate_and_bounded_in_flight() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = AnnounceBudget::new(2, 3);
        for i in 1..=6 {
            b.note(TorrentId(i), waiting(t0, true));
        }
        assert_eq!(b.next_deadline(), Some(t0));
        assert_eq!(take(&mut b, t0), Some(TorrentId(1)));
        assert_eq!(take(&mut b, ms(300)), Some(TorrentId(2)));
        assert_eq!(take(&mut b, ms(300)), None, "two grants in any second");
        assert_eq!(b.next_deadline(), Some(ms(1000)));
        assert_eq!(take(&mut b, ms(999)), None);
        assert_eq!(take(&mut b, ms(1000)), Some(TorrentId(3)));
        assert_eq!(b.in_flight(), 3);
        assert_eq!(take(&mut b, ms(5000)), None, "three in flight at most");
        assert_eq!(b.next_deadline(), None, "a result frees a place, not time");
        b.note(TorrentId(1), Slot::Idle);
        assert_eq!(b.next_deadline(), Some(ms(1300)));
        assert_eq!(take(&mut b, ms(5000)), Some(TorrentId(4)));
        assert_eq!(b.waiting(), 2);
        // A torrent gone while in flight gives its place back.
        b.forget(TorrentId(2));
        assert_eq!(take(&mut b, ms(5000)), Some(TorrentId(5)));
        assert_eq!(take(&mut b, ms(5000)), None);
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn downloading_torrents_go_first_then_the_longest_waiting() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut b = AnnounceBudget::new(0, 100);
        b.note(TorrentId(1), waiting(s(2), true));
        b.note(TorrentId(2), waiting(s(1), true));
        b.note(TorrentId(3), waiting(s(3), false));
        b.note(TorrentId(4), waiting(s(3), true));
        // Noting the same state again keeps its place; a new state moves it.
        b.note(TorrentId(2), waiting(s(1), true));
        b.note(TorrentId(4), waiting(s(0), true));
        let order: Vec<_> = std::iter::from_fn(|| take(&mut b, s(5))).collect();
        let ids = [3, 4, 2, 1].map(TorrentId);
        assert_eq!(order, ids.to_vec());
        assert_eq!(b.in_flight(), 4);
        b.note(TorrentId(3), Slot::Announcing);
        assert_eq!(b.in_flight(), 4, "counted once");
    }

    #[test]
    fn stops_go_first_within_the_cap_and_those_left_are_dropped_and_counted() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut b = AnnounceBudget::new(0, 3);
        b.note(TorrentId(1), waiting(s(0), false));
        b.note(TorrentId(2), waiting(s(0), true));
        for (id, active) in [(3, false), (4, true), (5, false), (6, true), (7, false)] {
            b.note(TorrentId(id), stop(s(1), active));
        }
        // Its connections closed after the stop: the rank it was filed with stays.
        b.note(TorrentId(4), stop(s(1), false));
        let order: Vec<_> = std::iter::from_fn(|| take(&mut b, s(2))).collect();
        assert_eq!(
            order,
            [4, 6, 3].map(TorrentId),
            "had peers first; three in flight"
        );
        assert_eq!(b.stop_stats().sent, 3);
        // A stop answered frees its place for the next stop, not for a regular announce.
        b.note(TorrentId(4), Slot::Idle);
        assert_eq!(take(&mut b, s(3)), Some(TorrentId(5)));
        // Torrent 7's stop deadline: dropped unsent; torrent 6's in flight: not dropped.
        assert!(b.give_up_stop(TorrentId(7)));
        assert!(!b.give_up_stop(TorrentId(6)));
        assert!(!b.give_up_stop(TorrentId(7)), "counted once");
        assert_eq!(b.in_flight(), 2, "a stop given up leaves the budget");
        assert_eq!(take(&mut b, s(3)), Some(TorrentId(1)), "then downloads");
        let stats = b.stop_stats();
        assert_eq!((stats.sent, stats.dropped), (4, 1));
        // The shutdown ends: the stops still waiting are dropped; regular announces stay.
        for id in 10..15 {
            b.note(TorrentId(id), stop(s(4), id % 2 == 0));
        }
        assert!(
            !b.give_up_stop(TorrentId(2)),
            "a regular wait is not a dropped stop"
        );
        b.note(TorrentId(2), waiting(s(0), true));
        assert_eq!(b.drop_stops(), 5);
        assert_eq!(b.waiting(), 1);
        assert_eq!(b.stop_stats().dropped, 6);
        assert_eq!(b.drop_stops(), 0);
    }

    #[test]
    fn dht_slots_are_spaced_and_never_earlier_than_due() {
        fn at(d: &mut DhtBudget, id: u32, now: Instant) -> Instant {
            match d.slot((TorrentId(id), 0), now) {
                DhtSlot::Now => now,
                DhtSlot::Later(at) | DhtSlot::Late { at, .. } => at,
            }
        }
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = DhtBudget::new(2);
        assert_eq!(at(&mut d, 1, t0), t0);
        assert_eq!(at(&mut d, 2, ms(100)), ms(100));
        assert_eq!(at(&mut d, 3, ms(100)), ms(1000), "two in any second");
        assert_eq!(at(&mut d, 4, ms(200)), ms(1100));
        // Asked again before its slot, a torrent keeps it; at its slot it goes.
        assert_eq!(at(&mut d, 3, ms(500)), ms(1000));
        assert_eq!(at(&mut d, 3, ms(1000)), ms(1000));
        assert_eq!(
            at(&mut d, 5, ms(1000)),
            ms(2000),
            "slots taken are not given again"
        );
        d.forget(TorrentId(4));
        assert_eq!(
            at(&mut d, 4, ms(1500)),
            ms(2100),
            "a forgotten slot is not kept"
        );
        assert_eq!(
            at(&mut d, 6, ms(9000)),
            ms(9000),
            "an idle budget starts at once"
        );
        let mut free = DhtBudget::new(0);
        assert_eq!(at(&mut free, 1, t0), t0);
        assert_eq!(at(&mut free, 2, t0), t0);
    }

    #[test]
    fn dht_slots_beyond_the_window_are_late_once_and_counted() {
        let t0 = Instant::now();
        let secs = |n: u32| t0 + Duration::from_secs(u64::from(n));
        let mut d = DhtBudget::new(1);
        let window = u32::try_from(DHT_ANNOUNCE_WINDOW.as_secs()).unwrap();
        assert_eq!(d.slot((TorrentId(0), 0), t0), DhtSlot::Now);
        for i in 1..window {
            assert_eq!(d.slot((TorrentId(i), 0), t0), DhtSlot::Later(secs(i)));
        }
        assert_eq!(
            d.slot((TorrentId(window), 0), t0),
            DhtSlot::Later(secs(window)),
            "the window's last instant is within it"
        );
        let late = DhtSlot::Late {
            at: secs(window + 1),
            window_end: secs(window),
        };
        assert_eq!(d.slot((TorrentId(window + 1), 0), t0), late);
        assert_eq!(
            d.slot((TorrentId(window + 1), 0), secs(10)),
            DhtSlot::Later(secs(window + 1)),
            "told once; the slot is kept"
        );
        assert_eq!(
            d.slot((TorrentId(window + 1), 0), secs(window + 1)),
            DhtSlot::Now
        );
        assert_eq!(d.stats().late, 1);
        assert_eq!(d.stats().started, 2);
        // Its window runs from that lookup: the next one due half an hour later is in time.
        let next = secs(2 * window + 1);
        assert_eq!(d.slot((TorrentId(window + 1), 0), next), DhtSlot::Now);
        assert_eq!(d.stats().late, 1);
    }
}
