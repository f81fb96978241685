//! The session's torrents, by id, with the index of their deadlines.
//!
//! A torrent's deadline (see [`Torrent::next_deadline`]) only moves when the torrent changes,
//! and every change goes through [`Torrents::get_mut`] or [`Torrents::values_mut`] (or adds or
//! removes one): each marks the torrent dirty once, and [`Torrents::refresh_deadlines`] files
//! the dirty ones' deadlines again, with those already due (a deadline that depends on `now`,
//! such as a candidate's backoff, moves as time passes). So the session's next deadline, and
//! the torrents due at a timeout, never need a scan of every torrent. The same changes feed
//! the work sets (see [`Work`]): which torrents may dial, which are stopping.

use std::collections::BTreeMap;
use std::ops::Index;
use std::time::Instant;

use super::Torrent;
use super::shared::Shared;
use super::work::Work;
use crate::id::InfoHash;
use crate::session::io::TorrentId;
use crate::session::loop_work::TableCount;
use crate::session::timers::Deadlines;
use crate::tracker::UrlTable;

/// Every torrent, by id, with each one's earliest deadline filed.
#[derive(Debug, Default)]
pub(crate) struct Torrents {
    /// Boxed: a B-tree node holds eleven values and is often half full, and a torrent is
    /// kilobytes, so inline values would cost about twice a torrent's size each.
    map: BTreeMap<TorrentId, Box<Torrent>>,
    /// Torrents changed since the last [`Torrents::refresh_deadlines`] (each once).
    dirty: Vec<TorrentId>,
    /// The instant of the last [`Torrents::refresh_deadlines`]: the torrents due by then were
    /// filed again then.
    refreshed: Option<Instant>,
    timers: Deadlines<TorrentId>,
    /// Torrents changed since the work sets last looked (each once).
    pub(super) changed: Vec<TorrentId>,
    /// Torrents changed since the statistics tick last looked (each once).
    pub(super) stats_changed: Vec<TorrentId>,
    /// Which torrents the work after an input visits (see [`Work`]).
    pub(super) work: Work,
    /// The torrents the session knows by info-hash (active ones: see `roster`).
    pub(super) by_hash: BTreeMap<InfoHash, TorrentId>,
    /// The same torrents by `HASH("req2", info_hash)`, the name an encrypted handshake
    /// gives (see [`MseTorrents`](crate::wire::mse::MseTorrents)).
    pub(super) by_req2: BTreeMap<[u8; 20], TorrentId>,
    /// The last torrent id given.
    pub(super) last_id: u32,
    /// What the torrents share (tracker URLs, announcer settings).
    pub(super) shared: Shared,
    /// The work counted (see [`LoopWork`](crate::session::LoopWork)).
    pub(crate) count: TableCount,
}

/// No torrent has this id: what every command naming a torrent answers then (each command's
/// error type takes it as its `UnknownTorrent`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unknown(pub(crate) TorrentId);

impl Torrents {
    /// Torrent `id`, or [`Unknown`].
    pub(crate) fn known(&self, id: TorrentId) -> Result<&Torrent, Unknown> {
        self.get(&id).ok_or(Unknown(id))
    }

    /// Torrent `id` to change (see [`Torrents::get_mut`]), or [`Unknown`].
    pub(crate) fn known_mut(&mut self, id: TorrentId) -> Result<&mut Torrent, Unknown> {
        self.get_mut(&id).ok_or(Unknown(id))
    }

    /// Adds a torrent.
    pub(crate) fn insert(&mut self, id: TorrentId, mut torrent: Torrent) {
        torrent.timer_dirty = true;
        self.dirty.push(id);
        torrent.work_dirty = true;
        self.changed.push(id);
        torrent.stats_dirty = true;
        self.stats_changed.push(id);
        self.map.insert(id, Box::new(torrent));
    }

    /// Removes a torrent.
    pub(crate) fn remove(&mut self, id: &TorrentId) -> Option<Torrent> {
        let torrent = self.map.remove(id)?;
        self.dirty.push(*id);
        self.changed.push(*id);
        Some(*torrent)
    }

    /// A torrent.
    pub(crate) fn get(&self, id: &TorrentId) -> Option<&Torrent> {
        self.map.get(id).map(|t| &**t)
    }

    /// The tracker URLs the torrents share (one handle per distinct URL).
    pub(crate) fn urls(&mut self) -> &mut UrlTable {
        &mut self.shared.urls
    }

    /// A torrent, to change: its deadline is filed again at the next
    /// [`Torrents::refresh_deadlines`], and the work sets look at it again.
    pub(crate) fn get_mut(&mut self, id: &TorrentId) -> Option<&mut Torrent> {
        let torrent = &mut **self.map.get_mut(id)?;
        if !torrent.timer_dirty {
            torrent.timer_dirty = true;
            self.dirty.push(*id);
        }
        if !torrent.work_dirty {
            torrent.work_dirty = true;
            self.changed.push(*id);
        }
        if !torrent.stats_dirty {
            torrent.stats_dirty = true;
            self.stats_changed.push(*id);
        }
        Some(torrent)
    }

    /// A torrent, for dialling its next candidate: its deadline is filed again, but the dial
    /// set does not look at it again for this (the dial decides its place itself, see
    /// [`Work`]).
    pub(crate) fn get_mut_dialling(&mut self, id: &TorrentId) -> Option<&mut Torrent> {
        let torrent = &mut **self.map.get_mut(id)?;
        if !torrent.timer_dirty {
            torrent.timer_dirty = true;
            self.dirty.push(*id);
        }
        if !torrent.stats_dirty {
            torrent.stats_dirty = true;
            self.stats_changed.push(*id);
        }
        Some(torrent)
    }

    /// Tells torrent `id` whether it has an open connection (see the choker's part); its
    /// deadline is filed again when that changes (the work sets do not read it).
    pub(crate) fn set_peers_open(&mut self, id: TorrentId, open: bool) {
        let Some(torrent) = self.map.get_mut(&id) else {
            return;
        };
        if torrent.peers_open != open {
            torrent.peers_open = open;
            self.work.peers_open(id, open);
            if !torrent.stats_dirty {
                torrent.stats_dirty = true;
                self.stats_changed.push(id);
            }
            if open {
                torrent.source_back();
            } else {
                torrent.release_idle();
            }
            if !torrent.timer_dirty {
                torrent.timer_dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Torrent `id` at the statistics tick: its statistics are next due at `next` (which
    /// neither its deadline nor the work sets read, so it is not listed as changed).
    pub(crate) fn stats_taken(&mut self, id: TorrentId, next: Instant) -> Option<&mut Torrent> {
        let torrent = &mut **self.map.get_mut(&id)?;
        torrent.next_stats = next;
        self.count.stats += 1;
        Some(torrent)
    }

    /// A torrent, to look at mutably without listing it as changed: the caller lists it
    /// with [`Torrents::get_mut`] if it changed anything a deadline or the work sets read.
    pub(super) fn unlisted_mut(&mut self, id: &TorrentId) -> Option<&mut Torrent> {
        self.map.get_mut(id).map(|t| &mut **t)
    }

    /// Whether torrent `id` changed since the statistics tick last looked (it no longer has,
    /// for the next tick).
    pub(super) fn stats_seen(&mut self, id: TorrentId) -> bool {
        self.map
            .get_mut(&id)
            .is_some_and(|t| std::mem::take(&mut t.stats_dirty))
    }

    /// Torrent `id` as the work sets look at it (no longer changed for them), if still there.
    pub(super) fn settled(&mut self, id: TorrentId) -> Option<&Torrent> {
        let torrent = &mut **self.map.get_mut(&id)?;
        torrent.work_dirty = false;
        Some(torrent)
    }

    /// How many torrents there are.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The torrents' ids, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &TorrentId> {
        self.map.keys()
    }

    /// The torrents, in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Torrent> {
        self.map.values().map(|t| &**t)
    }

    /// Every torrent, to change (each one's deadline is filed again).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Torrent> {
        for (id, torrent) in &mut self.map {
            if !torrent.timer_dirty {
                torrent.timer_dirty = true;
                self.dirty.push(*id);
            }
            if !torrent.work_dirty {
                torrent.work_dirty = true;
                self.changed.push(*id);
            }
            if !torrent.stats_dirty {
                torrent.stats_dirty = true;
                self.stats_changed.push(*id);
            }
        }
        self.map.values_mut().map(|t| &mut **t)
    }

    /// Files the deadlines of the torrents changed since the last call and of those that
    /// came due since (`now`: the session's latest instant; `dht`: whether it runs a DHT
    /// node). A torrent come due is listed as changed for the work sets too: what its
    /// deadline waited for (a candidate's backoff ending, say) may let it dial. One still due
    /// after that (a save or an announce whose instant passed, waiting for the timeout) is
    /// not filed again at every input: the timeout visits it ([`Torrents::due`]).
    pub(crate) fn refresh_deadlines(&mut self, now: Instant, dht: bool) {
        let mut ids = std::mem::take(&mut self.dirty);
        let since = self.refreshed.filter(|at| *at <= now);
        self.refreshed = Some(since.map_or(now, |at| at.max(now)));
        let due = self.timers.due_since(since, now);
        for id in &due {
            if let Some(t) = self.map.get_mut(id)
                && !t.work_dirty
            {
                t.work_dirty = true;
                self.changed.push(*id);
            }
        }
        ids.extend(due);
        for id in ids {
            self.file(id, now, dht);
        }
    }

    /// Files the deadlines of the torrents changed since the last call; returns those of them
    /// now due at `now`, in id order (for a timeout that goes through the due torrents while
    /// each may make another due).
    pub(crate) fn refresh_changed(&mut self, now: Instant, dht: bool) -> Vec<TorrentId> {
        let mut due: Vec<TorrentId> = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter(|id| self.file(*id, now, dht).is_some_and(|at| at <= now))
            .collect();
        due.sort_unstable();
        due.dedup();
        due
    }

    /// Files `id`'s deadline afresh and returns it.
    fn file(&mut self, id: TorrentId, now: Instant, dht: bool) -> Option<Instant> {
        self.count.filed += 1;
        let at = self.map.get_mut(&id).and_then(|t| {
            t.timer_dirty = false;
            t.settle_choker(now);
            t.next_deadline(now, dht)
        });
        self.timers.set(id, at);
        at
    }

    /// The earliest deadline of any torrent (as of the last [`Torrents::refresh_deadlines`]).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Whether the earliest deadline filed is the one a scan of every torrent finds at `now`
    /// (a check for debug builds and tests: it is what the table saves).
    pub(crate) fn filed_as_scanned(&self, now: Instant, dht: bool) -> bool {
        let scanned = self
            .map
            .values()
            .filter_map(|t| t.next_deadline(now, dht))
            .min();
        self.next_deadline() == scanned
    }

    /// The torrents whose deadline is at or before `now` (as of the last
    /// [`Torrents::refresh_deadlines`]), in id order.
    pub(crate) fn due(&self, now: Instant) -> Vec<TorrentId> {
        self.timers.due(now)
    }
}

impl Index<&TorrentId> for Torrents {
    type Output = Torrent;

    fn index(&self, id: &TorrentId) -> &Torrent {
        &self.map[id]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::magnet::MagnetLink;
    use crate::rng::Rng;
    use crate::session::config::{SessionConfig, TorrentOptions, TorrentSource};
    use crate::session::torrent::Stage;

    /// A magnet torrent whose only deadline is its next DHT lookup, one stats interval away
    /// (the tables' tests file them with `dht` on).
    fn torrent(now: Instant, byte: u8, config: &SessionConfig) -> Torrent {
        let hash = format!("{byte:02x}").repeat(20);
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{hash}")).unwrap();
        let source = TorrentSource::Magnet(link);
        let options = TorrentOptions::default();
        let mut t = Torrent::new(
            now,
            &source,
            options,
            config,
            &mut Rng::new(1),
            &mut Shared::default(),
        );
        t.next_dht = Some(now + config.stats_interval);
        t
    }

    /// The earliest deadline as a scan of every torrent finds it.
    fn scanned(t: &Torrents, now: Instant) -> Option<Instant> {
        t.values().filter_map(|t| t.next_deadline(now, true)).min()
    }

    #[test]
    fn a_change_through_get_mut_is_filed_at_the_next_refresh() {
        let config = SessionConfig::default();
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let mut t = Torrents::default();
        t.insert(TorrentId(1), torrent(now, 1, &config));
        t.insert(TorrentId(2), torrent(now, 2, &config));
        assert_eq!(t.next_deadline(), None);
        t.refresh_deadlines(now, true);
        let first = now + config.stats_interval;
        assert_eq!(t.next_deadline(), Some(first));
        assert_eq!(t.next_deadline(), scanned(&t, now));

        let soon = now + Duration::from_millis(1);
        assert!(soon < first);
        t.get_mut(&TorrentId(2)).unwrap().next_dht = Some(soon);
        assert_eq!(t.next_deadline(), Some(first));
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(soon));
        assert_eq!(t.due(soon), vec![TorrentId(2)]);

        // Stopping: only the stop's deadline counts; stopped: nothing.
        let stopping = Stage::Stopping {
            deadline: first + Duration::from_secs(3),
            saved: true,
        };
        t.get_mut(&TorrentId(2)).unwrap().stage = stopping;
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(first));
        t.get_mut(&TorrentId(1)).unwrap().stage = Stage::Stopped;
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(first + Duration::from_secs(3)));
        t.get_mut(&TorrentId(1)).unwrap().stage = Stage::Metadata;
        t.get_mut(&TorrentId(2)).unwrap().stage = Stage::Stopped;
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(first));
        assert_eq!(t.next_deadline(), scanned(&t, now));

        t.remove(&TorrentId(1));
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), None);
        assert!(t.due(at(1000)).is_empty());
    }

    #[test]
    fn values_mut_files_every_torrent_again() {
        let config = SessionConfig::default();
        let now = Instant::now();
        let mut t = Torrents::default();
        for i in 1..=3 {
            t.insert(TorrentId(i), torrent(now, i as u8, &config));
        }
        t.refresh_deadlines(now, true);
        for (i, torrent) in t.values_mut().enumerate() {
            torrent.next_dht = Some(now + Duration::from_secs(10 - i as u64));
        }
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(8)));
        assert_eq!(t.next_deadline(), scanned(&t, now));
    }

    #[test]
    fn refresh_changed_returns_the_changed_torrents_now_due() {
        let config = SessionConfig::default();
        let now = Instant::now();
        let mut t = Torrents::default();
        for i in 1..=3 {
            t.insert(TorrentId(i), torrent(now, i as u8, &config));
        }
        t.refresh_deadlines(now, true);
        assert!(t.refresh_changed(now, true).is_empty());
        t.get_mut(&TorrentId(3)).unwrap().next_dht = Some(now);
        t.get_mut(&TorrentId(1)).unwrap().next_dht = Some(now);
        t.get_mut(&TorrentId(2)).unwrap().next_dht = Some(now + Duration::from_secs(1));
        assert_eq!(
            t.refresh_changed(now, true),
            vec![TorrentId(1), TorrentId(3)]
        );
        assert_eq!(t.due(now), vec![TorrentId(1), TorrentId(3)]);
        // Nothing changed since: nothing returned, though two are due.
        assert!(t.refresh_changed(now, true).is_empty());
    }

    #[test]
    fn a_torrent_still_due_is_not_filed_again_at_every_refresh() {
        let config = SessionConfig::default();
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let mut t = Torrents::default();
        for i in 1..=100 {
            t.insert(TorrentId(i), torrent(now, i as u8, &config));
        }
        t.refresh_deadlines(now, true);
        // Every torrent comes due at 10 s and stays due (nothing fires its timer here).
        for i in 1..=100 {
            t.get_mut(&TorrentId(i)).unwrap().next_dht = Some(at(10));
        }
        t.refresh_deadlines(at(1), true);
        let filed = t.count.filed;
        t.refresh_deadlines(at(11), true);
        assert_eq!(t.count.filed - filed, 100, "each filed once as it came due");
        assert_eq!(t.due(at(11)).len(), 100, "still due for the timeout");
        for s in 12..20 {
            let filed = t.count.filed;
            t.get_mut(&TorrentId(7)).unwrap().next_dht = Some(at(10));
            t.refresh_deadlines(at(s), true);
            assert_eq!(
                t.count.filed - filed,
                1,
                "only the changed torrent at {s} s"
            );
        }
        assert_eq!(t.due(at(20)).len(), 100);
    }

    #[test]
    fn a_deadline_that_moves_with_time_is_filed_again_once_due() {
        let config = SessionConfig::default();
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let mut t = Torrents::default();
        t.insert(TorrentId(1), torrent(now, 1, &config));
        let addr = "10.0.0.1:6881".parse().unwrap();
        let tr = t.get_mut(&TorrentId(1)).unwrap();
        tr.next_dht = Some(at(100));
        tr.candidates
            .add(addr, crate::session::torrent::candidates::Source::User);
        tr.candidates.set_busy(addr);
        tr.candidates.closed(now, addr, true, false);
        let ready = tr.candidates.next_ready().unwrap();
        assert!(ready > now && ready < at(100));
        t.refresh_deadlines(now, true);
        assert_eq!(t.next_deadline(), Some(ready));
        // Past the backoff the candidate no longer counts (the dial is the session's), so the
        // torrent is filed again at its next deadline without being changed.
        t.refresh_deadlines(ready, true);
        assert_eq!(t.next_deadline(), Some(at(100)));
        assert_eq!(t.next_deadline(), scanned(&t, ready));
    }
}
