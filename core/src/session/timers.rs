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

use super::SessionConfig;
use super::io::{ConnId, TorrentId};
use super::peers::{Peer, Peers};
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
                    Some(self.next_stats),
                    self.next_dht.filter(|_| dht),
                    running.and_then(|d| d.picker.poll_timeout()),
                    running.map(|_| self.choker.poll_timeout().unwrap_or(now)),
                    running.map(|_| self.next_save),
                    running.and_then(|_| self.down_bucket.ready_at()),
                    running.and_then(|_| self.up_bucket.ready_at()),
                    self.candidates.next_ready().filter(|at| *at > now),
                    self.fetcher
                        .as_ref()
                        .filter(|_| self.is_active())
                        .and_then(|f| f.poll_timeout()),
                    self.scrapes.deadline(),
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
    pub(crate) fn refresh_deadlines(
        &mut self,
        torrents: &BTreeMap<TorrentId, Torrent>,
        config: &SessionConfig,
    ) {
        self.refresh_timers(config.connect_timeout, |peer| {
            peer_deadline(peer, torrents, config)
        });
    }

    /// The connections due at `now` (deadlines filed afresh first), in id order.
    pub(crate) fn due_now(
        &mut self,
        now: Instant,
        torrents: &BTreeMap<TorrentId, Torrent>,
        config: &SessionConfig,
    ) -> Vec<ConnId> {
        self.refresh_deadlines(torrents, config);
        self.due(now)
    }
}

/// An open connection's earliest deadline: its wire timers, its send stall (see `upload`),
/// its next `ut_pex` message while established in a torrent that exchanges peers, and its
/// first-message deadline.
fn peer_deadline(
    peer: &Peer,
    torrents: &BTreeMap<TorrentId, Torrent>,
    config: &SessionConfig,
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
/// ([`SessionConfig::first_message_timeout`]).
pub(crate) fn first_message_deadline(peer: &Peer, config: &SessionConfig) -> Option<Instant> {
    let established = peer.established_at.filter(|_| peer.useful_at.is_none())?;
    established.checked_add(config.first_message_timeout)
}
