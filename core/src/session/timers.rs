//! Time: the session's next deadline and what fires at it.
//!
//! The deadlines come from three places, none scanned whole:
//! - the session's own timers, in a [`TimerTable`] ([`Timer`]: the DHT state save, the
//!   shutdown deadline);
//! - every connection (its wire timers, its send stall, its next `ut_pex` message) and every
//!   dial (the connect timeout), filed by connection in [`ConnTimers`] whenever one changes
//!   (see [`Peers`](super::peers::Peers)), so the earliest is read, not recomputed;
//! - each torrent's parts (announcer, picker, choker, candidates, metadata fetcher, scrapes)
//!   and the session's (UDP trackers, DHT, rate limits), asked in turn: a handful per torrent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Session;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::peers::Peer;
use super::torrent::{Stage, Torrent};

/// A timer the session keeps itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Save the DHT state (every ten minutes while running).
    DhtSave,
    /// Give up waiting for stops at shutdown.
    Shutdown,
}

impl Timer {
    const COUNT: usize = 2;

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

/// Each connection's earliest deadline, ordered by instant.
#[derive(Debug, Default)]
pub(crate) struct ConnTimers {
    by_conn: BTreeMap<ConnId, Instant>,
    order: BTreeSet<(Instant, ConnId)>,
}

impl ConnTimers {
    /// Files `conn`'s deadline (`None`: it has none, or is gone).
    pub(crate) fn set(&mut self, conn: ConnId, at: Option<Instant>) {
        let old = match at {
            Some(at) => self.by_conn.insert(conn, at),
            None => self.by_conn.remove(&conn),
        };
        if old == at {
            return;
        }
        if let Some(old) = old {
            self.order.remove(&(old, conn));
        }
        if let Some(at) = at {
            self.order.insert((at, conn));
        }
    }

    /// The earliest deadline filed.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// The connections due at `now`, in id order.
    pub(crate) fn due(&self, now: Instant) -> Vec<ConnId> {
        let mut due: Vec<ConnId> = self
            .order
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, conn)| *conn)
            .collect();
        due.sort_unstable();
        due
    }
}

impl Session {
    /// The earliest deadline.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        if self.shutdown_done && self.peers.total() == 0 {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        take(self.peers.next_deadline());
        take(self.timers.next_timeout());
        for t in self.torrents.values() {
            if let Some(a) = &t.announcer {
                take(a.poll_timeout());
            }
            match t.stage {
                Stage::Stopped => continue,
                Stage::Stopping { deadline, .. } => {
                    take(Some(deadline));
                    continue;
                }
                _ => {}
            }
            take(Some(t.next_stats));
            take(t.next_dht.filter(|_| self.dht.is_some()));
            if let Some(d) = &t.data
                && t.stage == Stage::Running
            {
                take(d.picker.poll_timeout());
                take(Some(t.choker.poll_timeout().unwrap_or(self.now)));
                take(Some(t.next_save));
                take(t.down_bucket.ready_at());
                take(t.up_bucket.ready_at());
            }
            take(t.candidates.next_ready().filter(|at| *at > self.now));
            if t.is_active() {
                take(t.fetcher.as_ref().and_then(|f| f.poll_timeout()));
            }
        }
        for u in self.trackers.udp.values() {
            take(u.poll_timeout());
        }
        if let Some(dht) = &self.dht {
            take(dht.poll_timeout());
        }
        take(self.scrape_deadline());
        take(self.down_limit.ready_at());
        take(self.up_limit.ready_at());
        next
    }

    /// Files again the deadlines of the connections changed since the last call (before
    /// reading the next deadline or the connections due).
    pub(super) fn refresh_timers(&mut self) {
        let (torrents, config) = (&self.torrents, &self.config);
        self.peers.refresh_timers(config.connect_timeout, |peer| {
            peer_deadline(peer, torrents, config)
        });
    }

    /// Fires everything due at `now`.
    pub(super) fn timeout(&mut self, now: Instant) {
        self.now = now;
        self.hold_paused_clocks(now);
        // The connections' wire timers, in id order, each checked when its turn comes.
        let mut last: Option<ConnId> = None;
        loop {
            self.refresh_timers();
            let Some(conn) = self
                .peers
                .due(now)
                .into_iter()
                .find(|c| last.is_none_or(|l| *c > l))
            else {
                break;
            };
            last = Some(conn);
            if let Some(p) = self.peers.get_mut(conn)
                && p.conn.poll_timeout().is_some_and(|t| t <= now)
            {
                p.conn.handle_timeout(now);
                self.drive(now, conn);
            }
            if self
                .peers
                .get(conn)
                .and_then(|p| first_message_deadline(p, &self.config))
                .is_some_and(|at| at <= now)
            {
                self.close_conn(now, conn, PeerCloseReason::Silent);
            }
        }
        self.expire_send_stalls(now);
        self.expire_dials(now);
        self.metadata_timeout(now);
        self.pex_timeout(now);
        self.scrape_timeout(now);
        // A rate limit whose wait just ended: requesting and serving, stopped by it, resume.
        // (Testing `!allows(now)` here was backwards: at the instant the bucket refills it
        // allows again, so nothing resumed until some unrelated event.) The refill also makes
        // sure a due bucket timer does not stay due.
        let limited = [&self.down_limit, &self.up_limit]
            .iter()
            .any(|b| b.ready_at().is_some_and(|at| at <= now));
        let _ = self.down_limit.allows(now);
        let _ = self.up_limit.allows(now);
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            self.torrent_timeout(now, id, limited);
        }
        let addrs: Vec<_> = self.trackers.udp.keys().copied().collect();
        for addr in addrs {
            if let Some(u) = self.trackers.udp.get_mut(&addr)
                && u.poll_timeout().is_some_and(|t| t <= now)
            {
                u.handle_timeout(now);
                self.pump_udp_tracker(now, addr);
            }
        }
        if let Some(dht) = self.dht.as_mut()
            && dht.poll_timeout().is_some_and(|t| t <= now)
        {
            dht.handle_timeout(now);
            self.pump_dht(now);
        }
        self.dht_lookups(now);
        if self.timers.is_expired(Timer::DhtSave, now) {
            self.save_dht_state(now);
        }
    }

    /// The connections due at `now` (deadlines filed afresh first), in id order.
    pub(super) fn conns_due(&mut self, now: Instant) -> Vec<ConnId> {
        self.refresh_timers();
        self.peers.due(now)
    }

    fn torrent_timeout(&mut self, now: Instant, id: TorrentId, limited: bool) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if let Some(a) = t.announcer.as_mut()
            && a.poll_timeout().is_some_and(|at| at <= now)
        {
            a.handle_timeout(now);
            self.pump_announcer(now, id);
        }
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !t.is_active() {
            return;
        }
        if now >= t.next_stats {
            t.next_stats = now + self.config.stats_interval;
            if let Some(stats) = self.stats_of(id, Some(now)) {
                self.events.push_back(Event::Stats { torrent: id, stats });
            }
        }
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if t.stage != Stage::Running {
            return;
        }
        let mut cancels = Vec::new();
        if let Some(d) = t.data.as_mut()
            && d.picker.poll_timeout().is_some_and(|at| at <= now)
        {
            cancels = d.picker.handle_timeout(now);
        }
        let rechoke = t.choker.poll_timeout().is_none_or(|at| at <= now);
        let save = now >= t.next_save;
        if save {
            t.next_save = now + self.config.resume_save_interval;
        }
        let needs_save = t
            .data
            .as_ref()
            .is_some_and(|d| d.pipeline.dirty || d.pipeline.unflushed.count() > 0);
        // The torrent's own limit whose wait just ended (see the session's in `timeout`).
        let own = [&t.down_bucket, &t.up_bucket]
            .iter()
            .any(|b| b.ready_at().is_some_and(|at| at <= now));
        let _ = t.down_bucket.allows(now);
        let _ = t.up_bucket.allows(now);
        let limited = limited || own;
        self.send_cancels(now, &cancels);
        if rechoke {
            self.rechoke(now, id);
        }
        if save && needs_save {
            self.start_save(id);
        }
        if limited {
            self.resume_transfers(now, id);
        } else if !cancels.is_empty() {
            self.fill_all(now, id);
        }
    }

    /// Requests and serves again on every connection of a torrent: a rate limit it waited
    /// for was repaid, raised or lifted.
    pub(super) fn resume_transfers(&mut self, now: Instant, id: TorrentId) {
        self.fill_all(now, id);
        for conn in self.peers.ids_of(id) {
            self.serve(now, conn);
            self.drive(now, conn);
        }
    }
}

/// An open connection's earliest deadline: its wire timers, its send stall (see `upload`),
/// its next `ut_pex` message while established in a torrent that exchanges peers, and its
/// first-message deadline.
fn peer_deadline(
    peer: &Peer,
    torrents: &BTreeMap<TorrentId, Torrent>,
    config: &super::SessionConfig,
) -> Option<Instant> {
    let stall = peer.upload.stall_deadline(config);
    let pex_on = config.pex
        && peer.established
        && peer
            .torrent
            .and_then(|id| torrents.get(&id))
            .is_some_and(|t| t.is_active() && t.pex.is_enabled());
    let pex = peer
        .pex
        .as_ref()
        .filter(|_| pex_on)
        .map(|s| s.poll_timeout());
    let silent = first_message_deadline(peer, config);
    [peer.conn.poll_timeout(), stall, pex, silent]
        .into_iter()
        .flatten()
        .min()
}

/// When an established connection that has sent no message is closed
/// ([`SessionConfig::first_message_timeout`](super::SessionConfig::first_message_timeout)).
fn first_message_deadline(peer: &Peer, config: &super::SessionConfig) -> Option<Instant> {
    let established = peer.established_at.filter(|_| peer.useful_at.is_none())?;
    established.checked_add(config.first_message_timeout)
}
