//! The announce budget: every torrent's tracker announces go out within one budget, so
//! 100,000 torrents started together do not announce in one burst.
//!
//! The session's announcers are gated (see
//! [`AnnouncerConfig::gated`](crate::tracker::AnnouncerConfig::gated)): an announce that is
//! due waits, and the budget grants the waiting ones in order (torrents still downloading
//! first, then the longest waiting, then by id), at most `announce_rate` in any second and
//! while fewer than `announces_in_flight` torrents have an announce in flight. A `stopped`
//! announce is never held (shutdown is bounded by the stop timeout) and a redirect or a
//! tracker's answer holds the place its announce took. Since an announce waits only when the
//! budget is spent, each tracker's `interval` and `min interval` stay the earliest it goes
//! out, and a grant is late by at most the queue ahead of it.
//!
//! The DHT's lookups use the same rate without a queue ([`DhtBudget`]): a torrent whose
//! lookup is due takes the next free slot, and its lookup is put off until then.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::io::TorrentId;

/// Where a torrent's announcer stands, for the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An announce is due (since this instant) and waits for its grant; `seeding`: the
    /// torrent has everything it wants (it goes after those still downloading).
    Waiting {
        /// When it became due.
        since: Instant,
        /// The torrent has nothing left to download.
        seeding: bool,
    },
    /// An announce (not `stopped`) is in flight.
    Announcing,
    /// Neither.
    Idle,
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
    queue: BTreeSet<(bool, Instant, TorrentId)>,
    /// Each waiting torrent's key in `queue`.
    queued: BTreeMap<TorrentId, (bool, Instant)>,
    /// The torrents with an announce in flight.
    in_flight: BTreeSet<TorrentId>,
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
        }
    }

    /// Files where torrent `id`'s announcer stands now.
    pub(crate) fn note(&mut self, id: TorrentId, slot: Slot) {
        match slot {
            Slot::Waiting { since, seeding } => {
                self.in_flight.remove(&id);
                if self.queued.get(&id) == Some(&(seeding, since)) {
                    return;
                }
                self.unqueue(id);
                self.queued.insert(id, (seeding, since));
                self.queue.insert((seeding, since, id));
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

    fn unqueue(&mut self, id: TorrentId) {
        if let Some((seeding, since)) = self.queued.remove(&id) {
            self.queue.remove(&(seeding, since, id));
        }
    }

    /// The next waiting torrent the budget lets announce at `now`, taken from the queue and
    /// counted in flight (the caller grants its announcer).
    pub(crate) fn take(&mut self, now: Instant) -> Option<TorrentId> {
        if self.in_flight.len() >= self.max_in_flight || self.rate.next_free(now) > now {
            return None;
        }
        let (_, _, id) = self.queue.pop_first()?;
        self.queued.remove(&id);
        self.in_flight.insert(id);
        self.rate.give(now);
        Some(id)
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

/// The DHT lookup budget: at most `rate` slots in any second, each taken by one torrent's
/// lookup.
#[derive(Debug)]
pub(crate) struct DhtBudget {
    /// The slots given last.
    rate: Window,
    /// The torrents put off, with their slot.
    held: BTreeMap<TorrentId, Instant>,
}

impl DhtBudget {
    /// A budget of `rate` lookups per second (0: no limit).
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            rate: Window::new(rate),
            held: BTreeMap::new(),
        }
    }

    /// The slot of torrent `id`'s lookup, due at `now`: `now` when it may start at once, else
    /// the later instant it is put off to (its slot, kept for it until then).
    pub(crate) fn slot(&mut self, id: TorrentId, now: Instant) -> Instant {
        if let Some(at) = self.held.get(&id).copied() {
            if at > now {
                return at;
            }
            self.held.remove(&id);
            return now;
        }
        let free = self.rate.next_free(now);
        let at = self.rate.last().map_or(free, |last| last.max(free));
        self.rate.give(at);
        if at > now {
            self.held.insert(id, at);
        }
        at
    }

    /// Torrent `id` no longer looks peers up (stopped, removed, or the DHT is off): its slot,
    /// if it held one, is dropped.
    pub(crate) fn forget(&mut self, id: TorrentId) {
        self.held.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(since: Instant, seeding: bool) -> Slot {
        Slot::Waiting { since, seeding }
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
        assert_eq!(b.take(t0), Some(TorrentId(1)));
        assert_eq!(b.take(ms(300)), Some(TorrentId(2)));
        assert_eq!(b.take(ms(300)), None, "two grants in any second");
        assert_eq!(b.next_deadline(), Some(ms(1000)));
        assert_eq!(b.take(ms(999)), None);
        assert_eq!(b.take(ms(1000)), Some(TorrentId(3)));
        assert_eq!(b.in_flight(), 3);
        assert_eq!(b.take(ms(5000)), None, "three in flight at most");
        assert_eq!(b.next_deadline(), None, "a result frees a place, not time");
        b.note(TorrentId(1), Slot::Idle);
        assert_eq!(b.next_deadline(), Some(ms(1300)));
        assert_eq!(b.take(ms(5000)), Some(TorrentId(4)));
        assert_eq!(b.waiting(), 2);
        // A torrent gone while in flight gives its place back.
        b.forget(TorrentId(2));
        assert_eq!(b.take(ms(5000)), Some(TorrentId(5)));
        assert_eq!(b.take(ms(5000)), None);
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
        let order: Vec<_> = std::iter::from_fn(|| b.take(s(5))).collect();
        let ids = [3, 4, 2, 1].map(TorrentId);
        assert_eq!(order, ids.to_vec());
        assert_eq!(b.in_flight(), 4);
        b.note(TorrentId(3), Slot::Announcing);
        assert_eq!(b.in_flight(), 4, "counted once");
    }

    #[test]
    fn dht_slots_are_spaced_and_never_earlier_than_due() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let id = TorrentId;
        let mut d = DhtBudget::new(2);
        assert_eq!(d.slot(id(1), t0), t0);
        assert_eq!(d.slot(id(2), ms(100)), ms(100));
        assert_eq!(d.slot(id(3), ms(100)), ms(1000), "two in any second");
        assert_eq!(d.slot(id(4), ms(200)), ms(1100));
        // Asked again before its slot, a torrent keeps it; at its slot it goes.
        assert_eq!(d.slot(id(3), ms(500)), ms(1000));
        assert_eq!(d.slot(id(3), ms(1000)), ms(1000));
        assert_eq!(
            d.slot(id(5), ms(1000)),
            ms(2000),
            "slots taken are not given again"
        );
        d.forget(id(4));
        assert_eq!(
            d.slot(id(4), ms(1500)),
            ms(2100),
            "a forgotten slot is not kept"
        );
        assert_eq!(
            d.slot(id(6), ms(9000)),
            ms(9000),
            "an idle budget starts at once"
        );
        let mut free = DhtBudget::new(0);
        assert_eq!(free.slot(id(1), t0), t0);
        assert_eq!(free.slot(id(2), t0), t0);
    }
}
