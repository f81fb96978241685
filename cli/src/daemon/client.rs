//! [`Backend`] over today's client ([`Client`]): what the client can already do (add by
//! .torrent, magnet or URL, list with statistics, stop, remove from the list). Everything else
//! answers [`BackendError::Unsupported`]; `README.md` beside this file lists the client API
//! it waits for.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;

use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::TorrentId;

use sanstorrent_runtime_common::{Client, HttpClient, Runtime, TorrentHandle};

use super::backend::*;
use super::id_set::IdSet;
use super::rpc::{RECENT_SECS, unix_now};
use super::seed_limits::Reached;
use super::store::{Saved, SavedError, SavedLive, Store};
use super::totals::{Seen, SessionTotals, TorrentTotals};

#[path = "client_add.rs"]
mod add;
#[path = "client_events.rs"]
mod events;
#[path = "client_faults.rs"]
mod faults;
#[path = "client_index.rs"]
mod index;
#[path = "client_live.rs"]
pub(crate) mod live;
#[path = "client_magnet.rs"]
mod magnet;
#[path = "client_meta.rs"]
mod metas;
#[path = "client_queue.rs"]
mod queueing;
#[path = "client_move.rs"]
mod relocate;
#[path = "client_rename.rs"]
mod renaming;
#[path = "client_restore.rs"]
mod restore;
#[path = "client_stream.rs"]
mod stream;
#[path = "client_view.rs"]
mod view;

/// The daemon's torrents on a running client.
#[derive(Debug)]
pub(crate) struct ClientBackend<R: Runtime> {
    /// Taken out at shutdown; each call holds a clone only while it runs.
    client: stream::SharedClient<R>,
    /// Wakes stream readers when pieces arrive.
    streams: Arc<stream::Hub>,
    /// Events read while waiting for one ([`ClientBackend::wait_event`]), not handled yet.
    early: Mutex<Vec<sanstorrent_core::session::Event>>,
    state: Mutex<State>,
    store: Option<Store>,
    /// Fetches `filename` URLs (`None`: adding by URL fails with the reason).
    http: Option<HttpClient<R>>,
    /// One token: whoever holds it applies the queue and the seeding limits (one at a time,
    /// so the client gets starts and stops in the order they were decided).
    turn: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// Moves waiting for [`ClientBackend::run_moves`].
    moves: relocate::Queue,
    /// The whole metainfos read last ([`ClientBackend::metainfo_of`]).
    metas: metas::Cache,
}

#[derive(Debug)]
struct State {
    settings: Settings,
    torrents: Vec<Entry>,
    removed: Vec<(Id, u64)>,
    next_id: u32,
    started: u64,
    added_this_run: u64,
    groups: Groups,
    /// The session's statistics of the runs before this one, this run's start counted.
    saved_stats: SessionTotals,
    /// Bytes moved this run (by every torrent, removed ones too).
    run: SessionTotals,
    /// Totals changed since the last save (bytes moved, a torrent done).
    totals_dirty: bool,
    /// Seconds were counted since the last save, and nothing else changed.
    time_dirty: bool,
    last_save: std::time::Instant,
    /// A save asked for soon waits for `save_gap` to pass.
    save_pending: bool,
    /// The least time between two saves of the list, from what the last one took.
    save_gap: std::time::Duration,
    /// The alternative-speed schedule's last decision.
    schedule: super::schedule::Schedule,
    /// Where each of the client's torrents is in `torrents`.
    positions: index::Positions,
    /// Something the queue or the seeding limits depend on changed since they were last
    /// applied (a torrent completed, stopped on its own, moved data under a limit, ...).
    queue_dirty: bool,
    /// When (Unix seconds) a rule of time (a running torrent stalled, a seeding or idle
    /// time limit reached) may next change who runs, if nothing else changes.
    queue_due: Option<u64>,
    /// When to give the memory of released torrents back to the system.
    trim: super::trim::AfterReleases,
}

impl State {
    /// Where the client's torrent `torrent` is in the list, if listed.
    fn position(&mut self, torrent: TorrentId) -> Option<usize> {
        let torrents = &self.torrents;
        self.positions
            .find(torrent, torrents.len(), |i| torrents[i].handle.id)
    }

    /// Where torrent `id` is in the list, if listed (the list is in id order: torrents are
    /// appended as ids grow, removals keep the order).
    fn index_of(&self, id: Id) -> Option<usize> {
        self.torrents.binary_search_by_key(&id, |t| t.id).ok()
    }

    /// Torrent `id`'s entry, or the error that names it unknown.
    fn listed(&self, id: Id) -> Result<&Entry, BackendError> {
        self.index_of(id)
            .map(|i| &self.torrents[i])
            .ok_or_else(|| BackendError::Invalid(format!("no torrent {}", id.0)))
    }

    /// The first of `ids` whose data is being moved (such a torrent refuses removal and a
    /// second move).
    fn moving_among(&self, ids: &[Id]) -> Option<&Entry> {
        let ids = IdSet::new(ids);
        self.torrents
            .iter()
            .find(|t| t.moving && ids.contains(t.id))
    }
}

/// A torrent as the daemon knows it besides the client's statistics (100,000 of them fit in
/// a daemon: what few torrents set is boxed in [`Rare`], the download directory and the
/// options are shared with the entry before when the same, the metainfo is only summed up;
/// `size_tests` holds its size).
#[derive(Clone, Debug)]
struct Entry {
    id: Id,
    handle: TorrentHandle,
    name: Box<str>,
    dir: Arc<Path>,
    /// What its lists show of its metainfo (`None`: a magnet's, not fetched yet; its link
    /// is then in [`Rare::magnet_link`]).
    meta: Option<metas::Summary>,
    added: u64,
    /// Stopped by the user or by a seeding limit (the queue never starts it).
    stopped: bool,
    /// Runs in the client (otherwise stopped, or waiting in the queue).
    running: bool,
    /// Its place in the queue.
    position: u32,
    /// Its last statistics showed every wanted byte here.
    complete: bool,
    /// Started ahead of the queue.
    forced: bool,
    /// The seeding limit that stopped it, if one did.
    finished: Option<Reached>,
    /// When it last started running (Unix seconds; 0: not this run).
    started_at: u64,
    /// Shared with other entries while equal (changed through `Arc::make_mut`).
    options: Arc<TorrentOptions>,
    /// Its files' wanted flags and priorities (empty until the metadata is known): up to six
    /// in place, no allocation per torrent for most (`bench/README.md`, session 25).
    files: SmallVec<[live::FileState; 6]>,
    /// Its totals over every run (this one up to the last statistics read).
    totals: TorrentTotals,
    /// What of this run's counters the totals include.
    seen: Seen,
    /// Its data is moving (or waits to): the mover owns its stops and starts.
    moving: bool,
    /// What few torrents have (`None`: none of it).
    rare: Option<Box<Rare>>,
}

/// What a listed torrent rarely has, boxed together.
#[derive(Clone, Debug, Default)]
struct Rare {
    /// The magnet link it was added by, until its metainfo is known.
    magnet_link: Option<Box<str>>,
    /// Its announce-list once edited (`None`: the metainfo's or magnet's).
    trackers: Option<Vec<Vec<String>>>,
    /// Its web seeds once edited (`None`: the metainfo's or magnet's).
    web_seeds: Option<Vec<String>>,
    /// Why its last move failed (cleared by a start, a check or a move).
    move_error: Option<String>,
    /// The disk error the client last reported for it, kept across restarts (cleared by a
    /// start, a check, or once it completes).
    disk_error: Option<SavedError>,
    /// Its files' paths in the client, padding included, when some were renamed (`None`:
    /// the metainfo's).
    paths: Option<Arc<[sanstorrent_core::metainfo::RelativePath]>>,
}

/// Nothing rare.
static NONE_RARE: Rare = Rare {
    magnet_link: None,
    trackers: None,
    web_seeds: None,
    move_error: None,
    disk_error: None,
    paths: None,
};

impl Entry {
    /// What it rarely has.
    fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NONE_RARE)
    }

    /// Changes what it rarely has (boxed only while something is set).
    fn set_rare<T>(&mut self, change: impl FnOnce(&mut Rare) -> T) -> T {
        let mut rare = self.rare.take().unwrap_or_default();
        let out = change(&mut rare);
        let empty = rare.magnet_link.is_none()
            && rare.trackers.is_none()
            && rare.web_seeds.is_none()
            && rare.move_error.is_none()
            && rare.disk_error.is_none()
            && rare.paths.is_none();
        self.rare = (!empty).then_some(rare);
        out
    }

    /// The magnet link it was added by (empty once its metainfo is known).
    fn magnet_link(&self) -> &str {
        self.rare().magnet_link.as_deref().unwrap_or_default()
    }

    /// Its files' paths in the client when some were renamed.
    fn paths(&self) -> Option<&[sanstorrent_core::metainfo::RelativePath]> {
        self.rare().paths.as_deref()
    }
}

/// `options` for a new entry listed after `last`: `last`'s own when equal (one allocation
/// for a run of torrents added alike, as a restore adds them).
fn shared_options(last: Option<&Entry>, options: TorrentOptions) -> Arc<TorrentOptions> {
    match last {
        Some(t) if *t.options == options => Arc::clone(&t.options),
        _ => Arc::new(options),
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// A backend over `client` with these settings.
    pub(crate) fn new(client: Client<R>, settings: Settings, store: Option<Store>) -> Self {
        let saved_stats = store.as_ref().map_or_else(SessionTotals::default, |store| {
            let mut saved = store.load_stats().unwrap_or_else(|e| {
                tracing::error!("the session statistics are lost: {e}");
                SessionTotals::default()
            });
            saved.session_count += 1;
            if let Err(e) = store.save_stats(&saved) {
                tracing::error!("cannot save the session statistics: {e}");
            }
            saved
        });
        let turn = async_channel::bounded(1);
        let _ = turn.0.try_send(());
        Self {
            store,
            turn,
            http: None,
            moves: relocate::Queue::default(),
            metas: metas::Cache::default(),
            client: Arc::new(Mutex::new(Some(Arc::new(client)))),
            streams: Arc::default(),
            early: Mutex::default(),
            state: Mutex::new(State {
                settings,
                torrents: Vec::new(),
                removed: Vec::new(),
                next_id: 1,
                started: unix_now(),
                added_this_run: 0,
                groups: Groups::default(),
                saved_stats,
                run: SessionTotals::default(),
                totals_dirty: false,
                time_dirty: false,
                last_save: std::time::Instant::now(),
                save_pending: false,
                save_gap: std::time::Duration::ZERO,
                schedule: super::schedule::Schedule::default(),
                positions: index::Positions::default(),
                queue_dirty: true,
                queue_due: None,
                trim: super::trim::AfterReleases::default(),
            }),
        }
    }

    /// This backend, fetching `filename` URLs with `http`.
    pub(crate) fn with_fetcher(mut self, http: HttpClient<R>) -> Self {
        self.http = Some(http);
        self
    }

    /// Stops the client gracefully (`stopped` announces, flush, resume data saved). Calls
    /// after this fail; calls in flight finish first. The list is saved before the stop (a
    /// stop that hangs loses nothing) and again after it if the events of its end changed it.
    pub(crate) async fn shutdown(&self) {
        // The latest totals, saved before the client's counters go.
        self.drain_events().await;
        self.save_totals(std::time::Instant::now(), events::Save::Now);
        self.moves.close();
        let taken = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.streams.notify_all();
        let Some(mut client) = taken else {
            return;
        };
        loop {
            match Arc::try_unwrap(client) {
                Ok(client) => {
                    match client.stop_with_events().await {
                        Ok(events) => self.take_last_events(events).await,
                        Err(e) => tracing::warn!("stopping the client: {e}"),
                    }
                    return;
                }
                Err(shared) => {
                    client = shared;
                    // A call in flight: it is one command round-trip with the client's loop,
                    // which runs on the runtime's other threads, not on this one (the
                    // daemon's main future runs in `block_on`).
                    futures_lite::future::yield_now().await;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    /// Starts torrent `torrent` in the client (each start logged at `debug`, so a test sees
    /// one per torrent started).
    async fn start_in_client(&self, client: &Client<R>, torrent: TorrentId) -> Outcome<()> {
        tracing::debug!("client torrent {}: start", torrent.0);
        client
            .start_torrent(torrent)
            .await
            .map_err(|e| BackendError::System(e.to_string()))
    }

    /// The client, unless it is stopping.
    fn client(&self) -> Outcome<Arc<Client<R>>> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| BackendError::System("the daemon is stopping".into()))
    }

    /// Rewrites the saved list from the current one (under the state lock, so saves keep
    /// their order).
    fn persist(&self, state: &State) {
        if let Err(e) = self.save_list(state) {
            tracing::error!("cannot save the torrent list: {e}");
        }
    }

    /// Rewrites the saved list from `state` (nothing without a store).
    fn save_list(&self, state: &State) -> std::io::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store.save_each(&state.torrents, |t| Saved {
            hash: t.handle.info_hash.to_hex(),
            magnet: t.meta.is_none().then(|| t.magnet_link().to_owned()),
            download_dir: t.dir.to_path_buf(),
            paused: t.stopped,
            labels: t.options.labels.clone(),
            category: t.options.category.clone(),
            sequential: t.options.sequential,
            first_last_pieces: t.options.first_last_pieces,
            name: t.options.name.clone(),
            added_date: t.added,
            choose_files: t.options.choose_files,
            stop_on_metadata: t.options.stop_on_metadata,
            live: live::saved_live(
                &t.files,
                &t.options,
                t.rare().trackers.as_ref(),
                t.rare().web_seeds.as_ref(),
            ),
            totals: t.totals,
            queue_position: Some(t.position),
            forced: t.forced,
            finished: t.finished,
            error: t.rare().disk_error.clone(),
            complete: t.complete,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unsupported<T>(what: &str) -> Outcome<T> {
    Err(BackendError::Unsupported(format!(
        "{what} (the client does not offer it yet)"
    )))
}

impl<R: Runtime> ClientBackend<R> {
    /// The client handles of the listed torrents that `pick` keeps.
    fn handles_of(&self, ids: &[Id], pick: impl Fn(&Entry) -> bool) -> Vec<TorrentHandle> {
        let ids = IdSet::new(ids);
        let state = self.lock();
        state
            .torrents
            .iter()
            .filter(|t| ids.contains(t.id) && !t.moving && pick(t))
            .map(|t| t.handle)
            .collect()
    }

    /// Marks the listed torrents stopped by the user (or not: then the queue decides when
    /// they run; `forced`: ahead of the queue or not, `None`: as they were) and saves the
    /// list; the handles of those to stop in the client.
    fn set_stopped(&self, ids: &[Id], stopped: bool, forced: Option<bool>) -> Vec<TorrentHandle> {
        let ids = IdSet::new(ids);
        let mut state = self.lock();
        let mut handles = Vec::new();
        for t in state.torrents.iter_mut().filter(|t| ids.contains(t.id)) {
            t.stopped = stopped;
            t.forced = !stopped && forced.unwrap_or(t.forced);
            if stopped && t.running {
                t.running = false;
                // A moving torrent is stopped already: the mover leaves it so.
                if !t.moving {
                    handles.push(t.handle);
                }
            }
            if !stopped {
                // A manual start lifts the limit that stopped it (as Transmission does
                // for a reached ratio); an idle limit counts from this start.
                match t.finished.take() {
                    Some(Reached::Ratio) => {
                        Arc::make_mut(&mut t.options).seed_ratio_mode = LimitMode::Unlimited;
                    }
                    Some(Reached::SeedingTime) => {
                        Arc::make_mut(&mut t.options).seed_time_mode = LimitMode::Unlimited;
                    }
                    Some(Reached::Idle) | None => {}
                }
            }
        }
        self.persist(&state);
        handles
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// Removes torrents (and their data if `delete_data`), without applying the queue after.
    pub(super) async fn remove_torrents(&self, ids: &[Id], delete_data: bool) -> Outcome<()> {
        let removed: Vec<Entry> = {
            let mut state = self.lock();
            if let Some(t) = state.moving_among(ids) {
                return Err(BackendError::Invalid(format!(
                    "{} is moving: remove it once the move is over",
                    t.name
                )));
            }
            let ids = IdSet::new(ids);
            let (gone, kept) = std::mem::take(&mut state.torrents)
                .into_iter()
                .partition(|t| ids.contains(t.id));
            state.torrents = kept;
            let now = unix_now();
            state
                .removed
                .extend(gone.iter().map(|t: &Entry| (t.id, now)));
            queueing::renumber(&mut state.torrents, &[], crate::daemon::queue::Move::Top);
            self.persist(&state);
            gone
        };
        if let Some(store) = &self.store {
            for entry in &removed {
                store.remove_metainfo(&entry.handle.info_hash.to_hex());
            }
        }
        for entry in &removed {
            self.metas.forget(entry.handle.info_hash);
        }
        let client = self.client()?;
        for entry in removed {
            client
                .remove_torrent(entry.handle.id, delete_data)
                .await
                .map_err(|e| BackendError::System(e.to_string()))?;
        }
        Ok(())
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// The views of the client's torrents `ids` still listed, in that order: one snapshot
    /// round trip with the client, each torrent viewed in place.
    async fn views(&self, ids: Vec<TorrentId>, detail: Detail) -> Vec<TorrentView> {
        let snaps = match self.client() {
            Ok(client) => client
                .snapshots(ids.clone(), view::snapshot_detail(detail))
                .await
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        self.adopt_metadata(&ids, &snaps).await;
        let full = self.full_metainfos(&ids, &snaps, detail).await;
        let now = std::time::Instant::now();
        let unix = unix_now();
        // Each torrent still listed (the list may have changed while the client answered)
        // is viewed in place: nothing of the list is copied, each snapshot is dropped once
        // viewed.
        let mut state = self.lock();
        let stalled_after = queueing::limits(&state.settings).stalled_after;
        let mut snaps = snaps.into_iter();
        let mut full = full.into_iter();
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            let snap = snaps.next().flatten();
            let meta = full.next().flatten();
            let Some(i) = state.position(id) else {
                continue;
            };
            let entry = &state.torrents[i];
            let mut v = view::view(entry, snap.as_ref(), meta.as_deref(), detail, now);
            v.is_stalled = entry.running
                && stalled_after.is_some_and(|s| queueing::idle_secs(entry, unix) >= s);
            if let Some(store) = self.store.as_ref().filter(|_| entry.meta.is_some()) {
                let path = store.metainfo_path(&entry.handle.info_hash.to_hex());
                v.torrent_file = path.display().to_string();
            }
            views.push(v);
        }
        views
    }

    /// The whole metainfos the views of `ids` need (`snaps`: the client's snapshots of them),
    /// in that order (see [`view::needs_metainfo`]).
    async fn full_metainfos(
        &self,
        ids: &[TorrentId],
        snaps: &[Option<sanstorrent_core::session::TorrentSnapshot>],
        detail: Detail,
    ) -> Vec<Option<Arc<Metainfo>>> {
        let wanted: Vec<(usize, TorrentHandle)> = {
            let mut state = self.lock();
            (ids.iter().zip(snaps).enumerate())
                .filter_map(|(k, (&id, snap))| {
                    let i = state.position(id)?;
                    let entry = &state.torrents[i];
                    view::needs_metainfo(entry, snap.as_ref(), detail).then_some((k, entry.handle))
                })
                .collect()
        };
        let mut full = vec![None; ids.len()];
        if wanted.is_empty() {
            return full;
        }
        let handles: Vec<TorrentHandle> = wanted.iter().map(|w| w.1).collect();
        for ((k, _), meta) in wanted.iter().zip(self.metainfos_of(&handles).await) {
            full[*k] = meta;
        }
        full
    }
}

impl<R: Runtime> Backend for ClientBackend<R> {
    async fn add(&self, mut add: AddTorrent) -> Outcome<Added> {
        if let Some(name) = &add.name {
            add.name = Some(check_name(name)?.to_owned());
        }
        self.add_as(add, unix_now(), true, &SavedLive::default())
            .await
    }

    async fn torrents(&self, detail: Detail) -> Vec<TorrentView> {
        let ids: Vec<TorrentId> = self.lock().torrents.iter().map(|e| e.handle.id).collect();
        self.views(ids, detail).await
    }

    async fn torrent_ids(&self) -> Vec<Id> {
        self.lock().torrents.iter().map(|e| e.id).collect()
    }

    async fn torrents_of(&self, ids: &[Id], detail: Detail) -> Vec<TorrentView> {
        let handles: Vec<TorrentId> = {
            let state = self.lock();
            (ids.iter())
                .filter_map(|&id| state.index_of(id))
                .map(|i| state.torrents[i].handle.id)
                .collect()
        };
        self.views(handles, detail).await
    }

    async fn recently_removed(&self) -> Vec<Id> {
        let now = unix_now();
        let mut state = self.lock();
        state.removed.retain(|(_, when)| when + RECENT_SECS >= now);
        state.removed.iter().map(|(id, _)| *id).collect()
    }

    async fn act(&self, ids: Vec<Id>, action: Action) -> Outcome<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.client()?;
        if matches!(action, Action::Start | Action::StartNow | Action::Verify) {
            self.clear_move_errors(&ids);
        }
        if action != Action::Stop && action != Action::Reannounce {
            let mut state = self.lock();
            state.clear_disk_errors(&ids);
            self.persist(&state);
        }
        let handles = match action {
            Action::Stop => self.set_stopped(&ids, true, None),
            Action::Start | Action::StartNow | Action::StartQueued => {
                let forced = match action {
                    Action::StartNow => Some(true),
                    Action::StartQueued => Some(false),
                    _ => None,
                };
                // Those running already may have stopped on their own in the client (a disk
                // error, a full disk): they start again there. The others are the queue's to
                // start, once: the queue starts those it now runs itself.
                let ran: Vec<TorrentHandle> = self.handles_of(&ids, |t| t.running);
                self.set_stopped(&ids, false, forced);
                // The queue starts them (at once when it has room).
                self.enforce().await?;
                let still: std::collections::HashSet<TorrentHandle> =
                    self.handles_of(&ids, |t| t.running).into_iter().collect();
                for handle in ran.into_iter().filter(|h| still.contains(h)) {
                    self.start_in_client(&client, handle.id).await?;
                }
                return Ok(());
            }
            Action::Verify => self.handles_of(&ids, |_| true),
            Action::Reannounce => self.handles_of(&ids, |t| t.running),
        };
        for handle in handles {
            let id = handle.id;
            match action {
                Action::Stop => client.stop_torrent(id).await,
                Action::Verify => client.recheck_torrent(id).await,
                _ => client.reannounce(id).await,
            }
            .map_err(|e| BackendError::System(e.to_string()))?;
        }
        if action == Action::Stop {
            // Their slots go to the next in the queue.
            self.enforce().await?;
        }
        Ok(())
    }

    async fn remove(&self, ids: Vec<Id>, delete_data: bool) -> Outcome<()> {
        self.remove_torrents(&ids, delete_data).await?;
        self.enforce().await
    }

    async fn change(&self, ids: Vec<Id>, mut changes: TorrentChanges) -> Outcome<()> {
        // Transmission's `torrent-set` `location`: the data is looked for there.
        if let Some(location) = changes.location.take() {
            self.queue_moves(&ids, location, false)?;
        }
        self.change_torrents(ids, changes).await
    }

    async fn set_location(&self, ids: Vec<Id>, to: PathBuf, move_data: bool) -> Outcome<()> {
        self.queue_moves(&ids, to, move_data)
    }

    async fn rename_path(&self, id: Id, from: String, to: String, kind: PathKind) -> Outcome<()> {
        self.rename(id, &from, &to, kind).await
    }

    async fn queue_move(&self, ids: Vec<Id>, to: QueueMove) -> Outcome<()> {
        let to = match to {
            QueueMove::Top => crate::daemon::queue::Move::Top,
            QueueMove::Up => crate::daemon::queue::Move::Up,
            QueueMove::Down => crate::daemon::queue::Move::Down,
            QueueMove::Bottom => crate::daemon::queue::Move::Bottom,
        };
        {
            let mut state = self.lock();
            queueing::renumber(&mut state.torrents, &ids, to);
            self.persist(&state);
        }
        self.enforce().await
    }

    async fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    async fn change_settings(&self, changes: SettingsChanges) -> Outcome<()> {
        self.change_session(changes).await
    }

    async fn stats(&self) -> Stats {
        // Counted a page of views at a time: 100,000 torrents are never viewed all at once.
        let (mut active, mut paused, mut total) = (0u32, 0u32, 0u32);
        let (mut download_rate, mut upload_rate, mut peers_connected) = (0, 0, 0);
        for page in self.torrent_ids().await.chunks(PAGE) {
            for v in self.torrents_of(page, Detail::default()).await {
                active += u32::from(v.rate_download + v.rate_upload > 0);
                paused += u32::from(v.status == Status::Stopped);
                total += 1;
                download_rate = v.rate_download.saturating_add(download_rate);
                upload_rate = v.rate_upload.saturating_add(upload_rate);
                peers_connected = v.peers_connected.saturating_add(peers_connected);
            }
        }
        let dht_nodes = match self.client() {
            Ok(client) => client.dht_nodes().await.ok().flatten().unwrap_or(0),
            Err(_) => 0,
        };
        let state = self.lock();
        let run = state.this_run();
        let current = Totals {
            uploaded: run.uploaded,
            downloaded: run.downloaded,
            files_added: run.files_added,
            sessions: 1,
            seconds_active: run.seconds_active,
        };
        let all = state.cumulative();
        let cumulative = Totals {
            uploaded: all.uploaded,
            downloaded: all.downloaded,
            files_added: all.files_added,
            sessions: all.session_count,
            seconds_active: all.seconds_active,
        };
        Stats {
            active,
            paused,
            total,
            download_rate,
            upload_rate,
            peers_connected,
            dht_nodes: u32::try_from(dht_nodes).unwrap_or(u32::MAX),
            current,
            cumulative,
        }
    }

    async fn free_space(&self, path: &Path) -> Outcome<Space> {
        super::space::of(path).map_err(|e| BackendError::System(format!("{}: {e}", path.display())))
    }

    async fn port_test(&self) -> bool {
        false
    }

    async fn groups(&self) -> Groups {
        self.lock().groups.clone()
    }

    async fn change_groups(&self, edit: GroupEdit) -> Outcome<()> {
        let mut state = self.lock();
        let State {
            groups, torrents, ..
        } = &mut *state;
        // Only the options it changes are copied out of those the entries share.
        let touched = torrents.iter_mut().filter(|t| edit.touches(&t.options));
        groups.apply(&edit, touched.map(|t| Arc::make_mut(&mut t.options)));
        if let Some(store) = &self.store {
            store
                .save_groups(groups)
                .map_err(|e| BackendError::System(format!("cannot save the groups: {e}")))?;
        }
        self.persist(&state);
        Ok(())
    }

    async fn open_stream(
        &self,
        hash: Hash,
        index: usize,
        fetch: bool,
    ) -> Result<StreamFile, OpenError> {
        self.open_stream_file(hash, index, fetch).await
    }
}

#[cfg(test)]
#[path = "client_size_tests.rs"]
mod size_tests;
