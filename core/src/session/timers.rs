//! Time: the session's next deadline and what fires at it.
//!
//! The deadlines come from a few places, none scanned whole:
//! - the session's own timers, in a [`TimerTable`] ([`Timer`]: the DHT state save, the
//!   shutdown deadline, the statistics tick shared by every torrent);
//! - every connection (its wire timers, its send stall, its next `ut_pex` message) and every
//!   dial (the connect timeout), filed by connection in [`ConnTimers`] whenever one changes
//!   (see [`Peers`](super::peers::Peers)), so the earliest is read, not recomputed;
//! - every torrent's parts (announcer, picker, choker, candidates, metadata fetcher, scrapes,
//!   rate limits, save interval, DHT lookups; see [`Torrent::next_deadline`]),
//!   filed by torrent in the same kind of table whenever the torrent changes (see
//!   [`Torrents`](super::torrent::table::Torrents)); a timeout visits only the torrents due;
//! - the session's shared parts (UDP trackers, DHT, rate limits), asked in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Instant;

use super::SessionConfig;
use super::io::{ConnId, TorrentId};
use super::peers::{DialStages, Peer, Peers};
use super::torrent::table::Torrents;
use super::torrent::{Stage, Torrent};

/// A timer the session keeps itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Save the DHT state (every ten minutes while running).
    DhtSave,
    /// Give up waiting for stops at shutdown.
    Shutdown,
    /// The statistics tick: every active torrent's [`Event::Stats`](super::Event::Stats)
    /// (every `stats_interval`, one wake-up for all).
    Stats,
}

impl Timer {
    const COUNT: usize = 3;

    fn index(self) -> usize {
        self as usize
    }
}

/// The session's own timers: one optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `timer` at `at` (replacing its deadline).
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.data[timer.index()] = Some(at);
    }

    /// `timer`'s deadline, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer.index()]
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.data[timer.index()] = None;
    }

    /// Whether `timer` is armed and due at `now`.
    pub(crate) fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }
}

/// Each key's earliest deadline (a connection's, a torrent's), ordered by instant, so the
/// earliest is read and the due ones found without a scan.
#[derive(Debug)]
pub(crate) struct Deadlines<K> {
    by_key: BTreeMap<K, Instant>,
    order: BTreeSet<(Instant, K)>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            by_key: BTreeMap::new(),
            order: BTreeSet::new(),
        }
    }
}

/// Each connection's earliest deadline.
pub(crate) type ConnTimers = Deadlines<ConnId>;

impl<K: Copy + Ord> Deadlines<K> {
    /// Files `key`'s deadline (`None`: it has none, or is gone).
    pub(crate) fn set(&mut self, key: K, at: Option<Instant>) {
        let old = match at {
            Some(at) => self.by_key.insert(key, at),
            None => self.by_key.remove(&key),
        };
        if old == at {
            return;
        }
        if let Some(old) = old {
            self.order.remove(&(old, key));
        }
        if let Some(at) = at {
            self.order.insert((at, key));
        }
    }

    /// The earliest deadline filed.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// The keys due at `now`, in key order.
    pub(crate) fn due(&self, now: Instant) -> Vec<K> {
        let mut due: Vec<K> = self
            .order
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, key)| *key)
            .collect();
        due.sort_unstable();
        due
    }
}

impl Deadlines<TorrentId> {
    /// The torrents come due after `since` (`None`: ever) and by `now`, in id order (without
    /// a look at those due before).
    pub(crate) fn due_since(&self, since: Option<Instant>, now: Instant) -> Vec<TorrentId> {
        let Some(since) = since else {
            return self.due(now);
        };
        let last = TorrentId(u32::MAX);
        let range = (Bound::Excluded((since, last)), Bound::Included((now, last)));
        let mut due: Vec<TorrentId> = self.order.range(range).map(|(_, id)| *id).collect();
        due.sort_unstable();
        due
    }
}

impl Torrent {
    /// The torrent's earliest deadline (`now`: the session's latest instant, `dht`: whether
    /// the session runs a DHT node).
    pub(crate) fn next_deadline(&self, now: Instant, dht: bool) -> Option<Instant> {
        let announcer = self.announcer.as_ref().and_then(|a| a.poll_timeout());
        let own = match self.stage {
            Stage::Stopped => None,
            Stage::Stopping { deadline, .. } => Some(deadline),
            _ => {
                let running = self.data.as_ref().filter(|_| self.stage == Stage::Running);
                [
                    self.next_dht.filter(|_| dht),
                    running.and_then(|d| d.picker.poll_timeout()),
                    self.rechoke_deadline(now),
                    running
                        .filter(|_| self.needs_save())
                        .map(|_| self.next_save),
                    running
                        .and(self.limits.as_ref())
                        .and_then(|l| l.down.ready_at()),
                    running
                        .and(self.limits.as_ref())
                        .and_then(|l| l.up.ready_at()),
                    self.candidates.next_ready().filter(|at| *at > now),
                    self.fetcher
                        .as_ref()
                        .filter(|_| self.is_active())
                        .and_then(|f| f.poll_timeout()),
                    self.layers
                        .as_ref()
                        .filter(|_| self.is_active())
                        .and_then(|l| l.poll_timeout()),
                    (self.peering.get())
                        .and_then(|p| p.leaf_checks.poll_timeout())
                        .filter(|_| self.is_active()),
                    self.scrapes.deadline(),
                    self.release_due(),
                ]
                .into_iter()
                .flatten()
                .min()
            }
        };
        announcer.into_iter().chain(own).min()
    }
}

impl Peers {
    /// Files again the deadlines of the connections changed since the last call (before
    /// reading the next deadline or the connections due).
    pub(crate) fn refresh_deadlines(&mut self, torrents: &Torrents, config: &SessionConfig) {
        let stages = DialStages::of(config);
        self.refresh_timers(stages, |peer| peer_deadline(peer, torrents, config));
    }

    /// The connections due at `now` (deadlines filed afresh first), in id order.
    pub(crate) fn due_now(
        &mut self,
        now: Instant,
        torrents: &Torrents,
        config: &SessionConfig,
    ) -> Vec<ConnId> {
        self.refresh_deadlines(torrents, config);
        self.due(now)
    }
}

/// An open connection's earliest deadline: its wire timers, its send stall (see `upload`),
/// its next `ut_pex` message while established in a torrent that exchanges peers, its
/// first-message deadline, and when an unchoke it does not use is found wasted.
fn peer_deadline(peer: &Peer, torrents: &Torrents, config: &SessionConfig) -> Option<Instant> {
    let stall = peer.upload.stall_deadline(config);
    let pex_on = config.pex
        && peer.established
        && peer
            .torrent
            .and_then(|id| torrents.get(&id))
            .is_some_and(|t| t.is_active() && t.peering.pex_enabled(t.private));
    let pex = peer
        .pex
        .as_ref()
        .filter(|_| pex_on)
        .map(|s| s.poll_timeout());
    let silent = first_message_deadline(peer, config);
    let waste = super::choke::waste_deadline(peer, config);
    [peer.conn.poll_timeout(), stall, pex, silent, waste]
        .into_iter()
        .flatten()
        .min()
}

/// When an established connection that has sent no message is closed
/// ([`SessionConfig::first_message_timeout`]).
pub(crate) fn first_message_deadline(peer: &Peer, config: &SessionConfig) -> Option<Instant> {
    let established = peer.established_at.filter(|_| peer.useful_at.is_none())?;
    established.checked_add(config.first_message_timeout)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn deadlines_keep_the_earliest_and_the_due_in_key_order() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut d = Deadlines::<u32>::default();
        assert_eq!(d.earliest(), None);
        d.set(3, Some(at(5)));
        d.set(1, Some(at(7)));
        d.set(2, Some(at(5)));
        assert_eq!(d.earliest(), Some(at(5)));
        assert_eq!(d.due(at(4)), Vec::<u32>::new());
        assert_eq!(d.due(at(5)), vec![2, 3]);
        assert_eq!(d.due(at(9)), vec![1, 2, 3]);
        // Moved later: its old instant is forgotten.
        d.set(3, Some(at(8)));
        d.set(2, None);
        assert_eq!(d.earliest(), Some(at(7)));
        assert_eq!(d.due(at(7)), vec![1]);
        // Filing the same instant again changes nothing.
        d.set(1, Some(at(7)));
        assert_eq!(d.due(at(8)), vec![1, 3]);
        d.set(1, None);
        d.set(3, None);
        assert_eq!(d.earliest(), None);
        assert!(d.due(at(100)).is_empty());
    }
}
