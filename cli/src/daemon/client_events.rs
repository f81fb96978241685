//! The client's events, read at every daemon tick: each torrent's statistics feed its totals
//! (bytes, time by phase, done and activity dates) and the run's; a completed torrent's
//! totals are settled from a fresh snapshot; a magnet's fetched metadata is saved as its
//! `.torrent` so that a restart adds it from that. The list and the session's statistics
//! are saved soon after a torrent's first completion or a metadata fetch, otherwise at most
//! every [`SAVE_EVERY`] while bytes move (every [`SAVE_TIME_EVERY`] while only seconds are
//! counted), and at shutdown; with a long list, no more often than its saves' cost allows
//! (see [`ClientBackend::save_totals`]). Events find their torrent through the list's
//! position index (`client_index.rs`), not a scan of the list.
//!
//! A torrent's `complete` (a restart adds it released when set) follows the session's kept
//! events, not only the coalesced `Stats` (reported at a tick, so a stop right after a change
//! saved the list without it): `TorrentComplete` sets it, `Unverified` and a `Checked` that
//! found a piece missing clear it. At shutdown the events the client left when
//! it stopped (a piece verified by the final flush completing a torrent) are taken too, and
//! the list saved again if they changed it.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use sanstorrent_core::bencode::Encoder;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::{
    Event, Priority as CorePriority, SnapshotDetail, TorrentId, TorrentSnapshot, TorrentStats,
};
use sanstorrent_runtime_common::{Client, Runtime};

use super::{ClientBackend, State};
use crate::daemon::rpc::unix_now;
use crate::daemon::seed_limits::SeedLimits;
use crate::daemon::totals::SessionTotals;

/// How often changed totals are saved (a kill -9 loses at most this much of them, or the
/// gap a long list earns, see [`ClientBackend::save_totals`]).
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(10);

/// How often totals that only counted time (seconds seeding or downloading of torrents that
/// moved no data) are saved: 100,000 idle seeds would otherwise rewrite the whole list every
/// [`SAVE_EVERY`] for their seeding seconds alone.
pub(super) const SAVE_TIME_EVERY: Duration = Duration::from_secs(300);

/// The time between two saves of the list is at least this many times what the last one
/// took (saves take at most 2 % of the daemon's time).
const SAVE_SHARE: u32 = 50;

/// The most events read from the client before they are handled (the buffer is reused). A
/// statistics tick of 10,000 torrents queues 10,000 events: read all at once, they filled
/// one block of 12 MB, allocated and given back at every tick (`bench/README.md`, session 24).
const EVENT_BATCH: usize = 128;

/// When [`ClientBackend::save_totals`] saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Save {
    /// If totals changed and a save is due.
    Due,
    /// As soon as the last save's gap allows (a torrent newly done, a magnet's metadata).
    Soon,
    /// Now (shutdown).
    Now,
}

impl<R: Runtime> ClientBackend<R> {
    /// Waits until the client has an event (kept for [`ClientBackend::drain_events`]), so that
    /// the daemon's loop handles events as they come (stream readers wait for pieces) rather
    /// than at its next tick. Never returns once the client is gone.
    pub(crate) async fn wait_event(&self) {
        let Ok(client) = self.client() else {
            return std::future::pending().await;
        };
        match client.next_event().await {
            Some(event) => self
                .early
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event),
            None => std::future::pending().await,
        }
    }

    /// Reads the events the client queued (without waiting) and saves what is due.
    pub(crate) async fn drain_events(&self) {
        let Ok(client) = self.client() else {
            return;
        };
        let events =
            std::mem::take(&mut *self.early.lock().unwrap_or_else(PoisonError::into_inner));
        let now = Instant::now();
        let urgent = self.take_events(events, Some(&*client), now).await;
        let trim = self.lock().trim.due(now);
        if trim {
            crate::daemon::trim::release_freed();
        }
        self.save_totals(now, if urgent { Save::Soon } else { Save::Due });
    }

    /// Takes the events the client left when it stopped (see
    /// [`Client::stop_with_events`](sanstorrent_runtime_common::Client::stop_with_events)),
    /// then saves the list again if they changed it: what the session knew at its end is
    /// what the list records (a torrent completed by the final flush is saved `complete`).
    pub(super) async fn take_last_events(&self, events: Vec<Event>) {
        let now = Instant::now();
        let urgent = self.take_events(events, None, now).await;
        if urgent || self.lock().totals_dirty {
            self.save_totals(now, Save::Now);
        }
    }

    /// Applies `events` to the list; the torrents that completed get their statistics from a
    /// fresh snapshot, if `client` is still there.
    /// Returns whether the list should be saved soon.
    async fn take_events(
        &self,
        mut events: Vec<Event>,
        client: Option<&Client<R>>,
        now: Instant,
    ) -> bool {
        let mut completed = Vec::new();
        let mut stop = Vec::new();
        let mut urgent = false;
        loop {
            while events.len() < EVENT_BATCH
                && let Some(event) = client.and_then(|c| c.try_event().flatten())
            {
                events.push(event);
            }
            if events.is_empty() {
                break;
            }
            let mut state = self.lock();
            for event in events.drain(..) {
                match event {
                    Event::Stats { torrent, stats } => {
                        if let Some(i) = state.position(torrent) {
                            urgent |= state.account(i, &stats, now);
                        }
                    }
                    Event::PieceVerified { torrent, .. } => self.streams.notify(torrent),
                    Event::TorrentStopped { torrent, .. }
                    | Event::TorrentRemoved { torrent, .. } => {
                        state.queue_dirty = true;
                        self.streams.notify(torrent);
                    }
                    Event::Checked { torrent, all, .. } => {
                        state.queue_dirty = true;
                        self.streams.notify(torrent);
                        // A check (a recheck, data found missing) says what it found: a
                        // torrent short of a piece is no longer saved complete.
                        if let Some(i) = state.position(torrent)
                            && !all
                        {
                            urgent |= std::mem::replace(&mut state.torrents[i].complete, false);
                        }
                    }
                    Event::TorrentComplete { torrent } => {
                        state.queue_dirty = true;
                        if let Some(i) = state.position(torrent) {
                            urgent |= state.data_back(i);
                            urgent |= !std::mem::replace(&mut state.torrents[i].complete, true);
                        }
                        completed.push(torrent);
                    }
                    Event::Error {
                        torrent: Some(torrent),
                        error,
                    } => match state.position(torrent) {
                        Some(i) => {
                            state.queue_dirty = true;
                            urgent |= state.client_error(i, &error);
                        }
                        None => tracing::debug!("client error: {error}"),
                    },
                    Event::TorrentReleased { torrent } => {
                        state.trim.released();
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::info!("{}: idle, metainfo released", name.map_or("", |n| &**n));
                    }
                    Event::TorrentReloaded { torrent } => {
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::info!("{}: metainfo loaded back", name.map_or("", |n| &**n));
                    }
                    Event::Unverified { torrent, reason } => {
                        state.queue_dirty = true;
                        // Not complete until its check says so (a `TorrentComplete`).
                        if let Some(i) = state.position(torrent) {
                            urgent |= std::mem::replace(&mut state.torrents[i].complete, false);
                        }
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::warn!("{}: not as saved: {reason}", name.map_or("", |n| &**n));
                    }
                    Event::TrackerError {
                        torrent,
                        url,
                        error,
                    } => {
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::warn!("{}: tracker {url}: {error}", name.map_or("", |n| &**n));
                    }
                    Event::WebSeedFailed {
                        torrent,
                        url,
                        error,
                        retry_in,
                    } => {
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::warn!(
                            "{}: web seed {url}: {error} (asked again in {} s)",
                            name.map_or("", |n| &**n),
                            retry_in.as_secs()
                        );
                    }
                    Event::WebSeedDropped {
                        torrent,
                        url,
                        error,
                    } => {
                        let name = state.position(torrent).map(|i| &state.torrents[i].name);
                        tracing::warn!(
                            "{}: web seed {url} dropped: {error}",
                            name.map_or("", |n| &**n)
                        );
                    }
                    Event::MetadataReceived { torrent, metainfo } => {
                        if let Some(i) = state.position(torrent) {
                            state.queue_dirty = true;
                            stop.extend(self.metadata_received(&mut state, i, metainfo));
                            urgent = true;
                        }
                    }
                    Event::DhtAnnounceLate { torrent, .. } => {
                        let name = state.position(torrent).map(|i| &*state.torrents[i].name);
                        tracing::warn!(
                            "DHT: {} cannot be announced within its 30-minute window at the \
                             current lookup rate (dht_lookup_rate)",
                            name.unwrap_or_default()
                        );
                    }
                    Event::StopAnnouncesDropped { count } => tracing::warn!(
                        "{count} `stopped` announces not sent: the stop deadline came before \
                         the announce budget (announce_rate, announces_in_flight) reached them"
                    ),
                    other => tracing::debug!("client event: {other:?}"),
                }
            }
        }
        self.stop_fetched(stop).await;
        if !completed.is_empty()
            && let Some(client) = client
            && let Ok(snaps) = client
                .snapshots(completed.clone(), SnapshotDetail::default())
                .await
        {
            let mut state = self.lock();
            for (torrent, snap) in completed.iter().zip(snaps) {
                if let (Some(i), Some(snap)) = (state.position(*torrent), snap) {
                    urgent |= state.account(i, &snap.stats, now);
                }
            }
        }
        urgent
    }

    /// Saves the list and the session's statistics: at once for [`Save::Now`], for
    /// [`Save::Soon`] once the gap the last save earned has passed (kept pending until a later
    /// call finds it passed), for [`Save::Due`] if totals changed and the last save is
    /// [`SAVE_EVERY`] old ([`SAVE_TIME_EVERY`] if only seconds were counted; or the gap, if
    /// longer). The gap is [`SAVE_SHARE`] times what the last save took, so rewriting a list
    /// of 100,000 torrents never takes more than a small share of the daemon's time, however
    /// many torrents complete at once.
    pub(super) fn save_totals(&self, now: Instant, when: Save) {
        let mut state = self.lock();
        state.save_pending |= when == Save::Soon;
        let since = now.saturating_duration_since(state.last_save);
        let due = match when {
            Save::Now => true,
            _ if state.save_pending => since >= state.save_gap,
            _ if state.totals_dirty => since >= SAVE_EVERY.max(state.save_gap),
            _ => state.time_dirty && since >= SAVE_TIME_EVERY.max(state.save_gap),
        };
        if !due {
            return;
        }
        state.totals_dirty = false;
        state.time_dirty = false;
        state.save_pending = false;
        state.last_save = now;
        let began = Instant::now();
        self.persist(&state);
        if let Some(store) = &self.store
            && let Err(e) = store.save_stats(&state.cumulative())
        {
            tracing::error!("cannot save the session statistics: {e}");
        }
        state.save_gap = began.elapsed().saturating_mul(SAVE_SHARE);
    }

    /// Takes the metadata a snapshot shows before its event is drained: a front end that
    /// saw a magnet's files can choose them at once.
    pub(super) async fn adopt_metadata(
        &self,
        ids: &[TorrentId],
        snaps: &[Option<TorrentSnapshot>],
    ) {
        let mut stop = Vec::new();
        {
            let mut state = self.lock();
            for (torrent, snap) in ids.iter().zip(snaps) {
                let Some(meta) = snap.as_ref().and_then(|s| s.metainfo.as_ref()) else {
                    continue;
                };
                let Some(i) = state.position(*torrent) else {
                    continue;
                };
                if state.torrents[i].meta.is_none() {
                    stop.extend(self.metadata_received(&mut state, i, Arc::clone(meta)));
                }
            }
        }
        if !stop.is_empty() {
            self.stop_fetched(stop).await;
        }
    }

    /// Stops the torrents a stop condition held as their metadata arrived, then sets their
    /// files: stopped before any file is wanted, so no piece is fetched in between.
    async fn stop_fetched(&self, stop: Vec<(TorrentId, Vec<CorePriority>)>) {
        let Ok(client) = self.client() else {
            return;
        };
        for (torrent, priorities) in stop {
            let _ = client.stop_torrent(torrent).await;
            let _ = client.set_file_priorities(torrent, priorities).await;
        }
    }

    /// Saves a magnet's metadata as `<hash>.torrent` (with the magnet's trackers and `ws=`
    /// mirrors, so both survive a restart), then lets the list name that file instead of the
    /// magnet, and lists its files. For one added with qBittorrent's stop condition, it is
    /// marked stopped with every file wanted: the client's torrent and the file priorities to
    /// stop it with and then set ([`ClientBackend::stop_fetched`]).
    fn metadata_received(
        &self,
        state: &mut State,
        i: usize,
        meta: Arc<Metainfo>,
    ) -> Option<(TorrentId, Vec<CorePriority>)> {
        let entry = &mut state.torrents[i];
        if entry.meta.is_some() {
            return None;
        }
        let (trackers, web_seeds) = MagnetLink::parse(entry.magnet_link())
            .map(|m| (m.trackers, m.web_seeds))
            .unwrap_or_default();
        if let Some(store) = &self.store {
            let bytes = torrent_file(&meta, &trackers, &web_seeds);
            if let Err(e) = store.save_metainfo(&entry.handle.info_hash.to_hex(), &bytes) {
                tracing::error!("cannot save the fetched metadata of {}: {e}", entry.name);
                return None;
            }
        }
        entry.name = meta.name().into();
        // Its files become choosable: every one wanted, as the client fetches them, or none
        // while they wait for a choice.
        entry.files = super::live::initial_files(&meta).into();
        let stop = entry.options.stop_on_metadata.then(|| {
            let options = Arc::make_mut(&mut entry.options);
            options.stop_on_metadata = false;
            options.choose_files = false;
            entry.stopped = true;
            entry.running = false;
            (
                entry.handle.id,
                super::live::core_priorities(&meta, &entry.files),
            )
        });
        if entry.options.choose_files {
            super::live::skip_all(&mut entry.files);
        }
        entry.meta = Some(super::metas::Summary::of(&meta));
        entry.set_rare(|r| r.magnet_link = None);
        stop
    }
}

impl State {
    /// Adds torrent `i`'s statistics to its totals and the run's. Returns whether this gave
    /// it its done date (a seeder of a restart had its date already) or made it complete or
    /// not (saved soon: a restart trusts `complete`). The queue gets a look at the next tick
    /// if the torrent completed or stopped being complete, or moved data while a queue or a
    /// seeding limit could care.
    fn account(&mut self, i: usize, stats: &TorrentStats, now: Instant) -> bool {
        let entry = &mut self.torrents[i];
        let done_before = entry.totals.done_date;
        let (up, down) =
            entry
                .totals
                .account(&mut entry.seen, stats, entry.running, now, unix_now());
        let complete = super::queueing::is_complete(stats);
        let flipped = std::mem::replace(&mut entry.complete, complete) != complete;
        let watched = || {
            super::queueing::limits(&self.settings).any()
                || !SeedLimits::of(&self.torrents[i].options, &self.settings).is_none()
        };
        if flipped || (up + down > 0 && watched()) {
            self.queue_dirty = true;
        }
        self.run.uploaded = self.run.uploaded.saturating_add(up);
        self.run.downloaded = self.run.downloaded.saturating_add(down);
        let done = done_before == 0 && self.torrents[i].totals.done_date != 0;
        if up + down > 0 || done {
            self.totals_dirty = true;
        } else {
            self.time_dirty = true;
        }
        done || flipped
    }

    /// This run's statistics (its session counted in the saved ones).
    pub(super) fn this_run(&self) -> SessionTotals {
        SessionTotals {
            files_added: self.added_this_run,
            seconds_active: unix_now().saturating_sub(self.started),
            ..self.run
        }
    }

    /// The statistics of every run, this one included.
    pub(super) fn cumulative(&self) -> SessionTotals {
        self.saved_stats.plus(self.this_run())
    }
}

/// A .torrent of `meta`'s info dictionary, its piece layers (BEP 52, learned from peers for a
/// v2 magnet), `trackers` (one tier) and `web_seeds` (BEP 19 `url-list`), keys in order.
fn torrent_file(meta: &Metainfo, trackers: &[String], web_seeds: &[String]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.dict();
    if let Some(first) = trackers.first() {
        e.bytes(b"announce").bytes(first.as_bytes());
        e.bytes(b"announce-list").list().list();
        for url in trackers {
            e.bytes(url.as_bytes());
        }
        e.end().end();
    }
    e.bytes(b"info").raw(meta.info_bytes());
    let mut layers = meta.piece_layers().peekable();
    if layers.peek().is_some() {
        // BEP 52: outside `info`, by pieces root (a BTreeMap's order is the bencode order).
        e.bytes(b"piece layers").dict();
        for (root, layer) in layers {
            e.bytes(root).bytes(&layer.concat());
        }
        e.end();
    }
    if !web_seeds.is_empty() {
        e.bytes(b"url-list").list();
        for url in web_seeds {
            e.bytes(url.as_bytes());
        }
        e.end();
    }
    e.end();
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_piece_layers_are_saved_beside_the_info_dictionary() {
        let full =
            Metainfo::from_bytes(include_bytes!("../../../core/tests/data/v2/fx_v2.torrent"))
                .unwrap();
        assert!(full.piece_layers().count() > 0);
        let again = Metainfo::from_bytes(&torrent_file(&full, &[], &[])).unwrap();
        assert!(again.has_all_piece_layers() && !again.needs_piece_layers());
        assert_eq!(again.info_hashes(), full.info_hashes());
        assert!(again.piece_layers().eq(full.piece_layers()));
    }

    #[test]
    fn a_fetched_info_dictionary_becomes_a_torrent_with_the_magnets_trackers_and_mirrors() {
        let info = b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let meta = Metainfo::from_info_bytes(info).unwrap();
        let trackers = vec!["http://t.test/announce".to_owned(), "udp://u.test:1".into()];
        let mirrors = vec!["http://m.test/a/".to_owned(), "https://n.test/b".into()];
        let bytes = torrent_file(&meta, &trackers, &mirrors);
        let again = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(again.info_hash(), meta.info_hash());
        assert_eq!(again.trackers(), [trackers]);
        assert_eq!(again.url_list(), mirrors);
        let bare = Metainfo::from_bytes(&torrent_file(&meta, &[], &[])).unwrap();
        assert_eq!(bare.info_hash(), meta.info_hash());
        assert!(bare.trackers().is_empty());
        assert!(bare.url_list().is_empty());
    }
}
