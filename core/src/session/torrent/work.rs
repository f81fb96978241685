//! The work sets: which torrents the work after every input (dialling, advancing stops, the
//! shutdown's end) has to visit, so that an input costs what it touched rather than a visit
//! of every torrent.
//!
//! Every change to a torrent goes through the table (see [`Torrents::get_mut`]), which lists
//! it once as changed; the sets look at the changed torrents before they are read
//! ([`Torrents::settle`]):
//! - the dial set: torrents that may have something to dial. A changed torrent that is
//!   running or fetching metadata, dials out and knows candidates enters it (candidates
//!   added, a connection or dial of its own ended, started, its limits changed, a candidate's
//!   backoff ran out: the torrent's deadline fires then, and the timeout changes it). A visit
//!   ([`Torrents::next_to_dial`]) ends with what the dial found ([`Rest`]): nothing to dial
//!   until the torrent changes (it leaves), blocked by the half-open limit (it waits), or it
//!   may have more at the next input (it stays);
//! - the waiting set: torrents that found the half-open limit reached and no dial to replace.
//!   Only a dial slot freed or a dial's patience running out (both in the connection table)
//!   changes that, for every such torrent at once: they go back to the dial set then
//!   ([`Torrents::wake_waiting`]), and are visited in id order;
//! - the stopping torrents, those of them changed since their stop was last advanced (only
//!   these are visited), and those stopped (the shutdown ends when every torrent is);
//! - the active torrents, whose statistics the session's tick reports, and those of them with
//!   an open connection: the tick looks at those, at the torrents changed since it last
//!   looked, and at a fifth of the rest in turn ([`Torrents::stats_due`]), so each is
//!   looked at (and reported, changed or not) at least every fifth tick without every tick
//!   looking at every torrent.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::Stage;
use super::table::Torrents;
use crate::session::io::TorrentId;

/// The sets of torrents the work after an input visits (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct Work {
    /// Torrents that may have something to dial.
    dial: BTreeSet<TorrentId>,
    /// Torrents blocked by the half-open limit, with no dial to replace.
    waiting: BTreeSet<TorrentId>,
    /// Torrents in [`Stage::Stopping`].
    stopping: BTreeSet<TorrentId>,
    /// Stopping torrents changed since their stop was last advanced (or due: a torrent whose
    /// deadline passed is listed as changed): the only ones a stop visit can move on.
    stop_due: BTreeSet<TorrentId>,
    /// Torrents in [`Stage::Stopped`].
    stopped: BTreeSet<TorrentId>,
    /// Active torrents (neither stopping nor stopped): those the statistics tick reports.
    active: BTreeSet<TorrentId>,
    /// Torrents with an open connection (their rates and peers move as time passes).
    open: BTreeSet<TorrentId>,
    /// The last active torrent the statistics tick took in turn.
    stats_turn: Option<TorrentId>,
    /// Torrents visited so far (dial and stop visits), for tests that count the work.
    visits: u64,
}

/// Where a torrent goes after a dial visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rest {
    /// Nothing to dial until it changes: it leaves the dial set.
    Leave,
    /// Blocked by the half-open limit: it waits for a slot or a dial's patience to run out.
    Wait,
    /// It may have more to dial at the next input (its peers may become evictable as time
    /// passes, or dialling stopped before its turn): it stays.
    Stay,
}

impl Work {
    /// Notes whether torrent `id` has an open connection.
    pub(super) fn peers_open(&mut self, id: TorrentId, open: bool) {
        set(&mut self.open, id, open);
    }
}

impl Torrents {
    /// Brings the sets up to date with the torrents changed since they last looked.
    pub(crate) fn settle(&mut self) {
        for id in std::mem::take(&mut self.changed) {
            self.count.settled += 1;
            let Some(t) = self.settled(id) else {
                let w = &mut self.work;
                w.dial.remove(&id);
                w.waiting.remove(&id);
                w.stopping.remove(&id);
                w.stop_due.remove(&id);
                w.stopped.remove(&id);
                w.active.remove(&id);
                w.open.remove(&id);
                continue;
            };
            let may_dial = matches!(t.stage, Stage::Running | Stage::Metadata)
                && !t.options.no_outbound
                && !t.is_released()
                && t.candidates.len() > 0;
            let stopping = matches!(t.stage, Stage::Stopping { .. });
            let stopped = t.stage == Stage::Stopped;
            let active = t.is_active();
            let w = &mut self.work;
            if may_dial {
                w.dial.insert(id);
            } else {
                w.dial.remove(&id);
                w.waiting.remove(&id);
            }
            set(&mut w.stopping, id, stopping);
            set(&mut w.stop_due, id, stopping);
            set(&mut w.stopped, id, stopped);
            set(&mut w.active, id, active);
        }
    }

    /// The next torrent to visit for dialling after `after` (`None`: from the first), in id
    /// order, with the sets up to date; the caller reports where it goes with
    /// [`Torrents::dialled`].
    pub(crate) fn next_to_dial(&mut self, after: Option<TorrentId>) -> Option<TorrentId> {
        self.settle();
        let next = match after {
            None => self.work.dial.first().copied(),
            Some(last) => self.work.dial.range(last..).find(|id| **id > last).copied(),
        };
        self.work.visits += u64::from(next.is_some());
        next
    }

    /// Where torrent `id` goes after its dial visit.
    pub(crate) fn dialled(&mut self, id: TorrentId, rest: Rest) {
        let w = &mut self.work;
        match rest {
            Rest::Stay => {}
            Rest::Leave => {
                w.dial.remove(&id);
            }
            Rest::Wait => {
                w.dial.remove(&id);
                w.waiting.insert(id);
            }
        }
    }

    /// The half-open limit is reached and no dial may be replaced: torrent `id` and every
    /// torrent after it in the dial set would find the same, so they all wait.
    pub(crate) fn wait_from(&mut self, id: TorrentId) {
        let mut rest = self.work.dial.split_off(&id);
        self.work.waiting.append(&mut rest);
    }

    /// A dial slot was freed or a dial's patience ran out: the waiting torrents may dial.
    pub(crate) fn wake_waiting(&mut self) {
        let w = &mut self.work;
        w.dial.append(&mut w.waiting);
    }

    /// Whether some torrents wait for a dial slot.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.work.waiting.is_empty()
    }

    /// The next stopping torrent to advance after `after` (`None`: from the first), in id
    /// order, with the sets up to date: one changed since its last visit (a shutdown of
    /// 100,000 torrents visits each when its announce, save or deadline moves it, not every
    /// stopping torrent after every input). The visit takes it off the list
    /// ([`Torrents::stop_visited`]); a change lists it again.
    pub(crate) fn next_stopping(&mut self, after: Option<TorrentId>) -> Option<TorrentId> {
        self.settle();
        let next = match after {
            None => self.work.stop_due.first().copied(),
            Some(last) => self
                .work
                .stop_due
                .range(last..)
                .find(|id| **id > last)
                .copied(),
        };
        self.work.visits += u64::from(next.is_some());
        next
    }

    /// Torrent `id`'s stop was advanced: it is visited again once it changes.
    pub(crate) fn stop_visited(&mut self, id: TorrentId) {
        self.work.stop_due.remove(&id);
    }

    /// Whether every torrent is stopped (with the sets up to date).
    pub(crate) fn all_stopped(&mut self) -> bool {
        self.settle();
        self.work.stopped.len() == self.len()
    }

    /// Whether some torrent is active (with the sets up to date).
    pub(crate) fn has_active(&mut self) -> bool {
        self.settle();
        !self.work.active.is_empty()
    }

    /// The active torrents the statistics tick looks at, in id order, each with whether this
    /// is its turn (then it is reported even if unchanged): those changed since the last tick,
    /// those with an open connection, and the next `1 / turns` of the active torrents after
    /// the last tick's (wrapping), so each has a turn every `turns` ticks.
    pub(crate) fn stats_due(&mut self, turns: usize) -> Vec<(TorrentId, bool)> {
        self.settle();
        let mut due: BTreeMap<TorrentId, bool> = BTreeMap::new();
        for id in std::mem::take(&mut self.stats_changed) {
            if self.stats_seen(id) && self.work.active.contains(&id) {
                due.insert(id, false);
            }
        }
        let w = &mut self.work;
        for id in w.open.intersection(&w.active) {
            due.insert(*id, false);
        }
        let share = w.active.len().div_ceil(turns.max(1));
        let after = w.stats_turn.map_or(Bound::Unbounded, Bound::Excluded);
        let wrapped = w.stats_turn.map(|last| w.active.range(..=last));
        let turn: Vec<TorrentId> = w
            .active
            .range((after, Bound::Unbounded))
            .chain(wrapped.into_iter().flatten())
            .take(share)
            .copied()
            .collect();
        w.stats_turn = turn.last().copied().or(w.stats_turn);
        for id in turn {
            due.insert(id, true);
        }
        due.into_iter().collect()
    }

    /// Torrents visited by the work sets so far (a count for tests of the work per input).
    #[cfg(test)]
    pub(crate) fn visits(&self) -> u64 {
        self.work.visits
    }
}

#[cfg(test)]
impl Torrents {
    /// Whether torrent `id` is in the dial set and in the waiting set.
    pub(crate) fn work_has(&self, id: TorrentId) -> (bool, bool) {
        (
            self.work.dial.contains(&id),
            self.work.waiting.contains(&id),
        )
    }
}

/// Puts `id` in `set` or takes it out.
fn set(set: &mut BTreeSet<TorrentId>, id: TorrentId, member: bool) {
    if member {
        set.insert(id);
    } else {
        set.remove(&id);
    }
}
