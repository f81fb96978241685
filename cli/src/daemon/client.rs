//! [`Backend`] over today's client ([`Client`]): what the client can already do (add by
//! .torrent, magnet or URL, list with statistics, stop, remove from the list). Everything else
//! answers [`BackendError::Unsupported`]; `README.md` beside this file lists the client API
//! it waits for.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sanstorrent_core::fetch::Fetched;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::{TorrentOptions as CoreOptions, TorrentPhase, TorrentSource};
use sanstorrent_runtime_common::{Client, ClientError, HttpClient, Runtime, TorrentHandle};

use super::backend::*;
use super::rpc::{RECENT_SECS, unix_now};
use super::store::{Saved, Store};

/// The daemon's torrents on a running client.
#[derive(Debug)]
pub(crate) struct ClientBackend<R: Runtime> {
    /// Taken out at shutdown; each call holds a clone only while it runs.
    client: Mutex<Option<Arc<Client<R>>>>,
    state: Mutex<State>,
    store: Option<Store>,
    /// Fetches `filename` URLs (`None`: adding by URL fails with the reason).
    http: Option<HttpClient<R>>,
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
}

/// A torrent as the daemon knows it besides the client's statistics.
#[derive(Clone, Debug)]
struct Entry {
    id: Id,
    handle: TorrentHandle,
    name: String,
    dir: PathBuf,
    meta: Option<Arc<Metainfo>>,
    magnet_link: String,
    added: u64,
    stopped: bool,
    options: TorrentOptions,
}

impl<R: Runtime> ClientBackend<R> {
    /// A backend over `client` with these settings.
    pub(crate) fn new(client: Client<R>, settings: Settings, store: Option<Store>) -> Self {
        Self {
            store,
            http: None,
            client: Mutex::new(Some(Arc::new(client))),
            state: Mutex::new(State {
                settings,
                torrents: Vec::new(),
                removed: Vec::new(),
                next_id: 1,
                started: unix_now(),
                added_this_run: 0,
                groups: Groups::default(),
            }),
        }
    }

    /// This backend, fetching `filename` URLs with `http`.
    pub(crate) fn with_fetcher(mut self, http: HttpClient<R>) -> Self {
        self.http = Some(http);
        self
    }

    /// Reads events the client queued (they would pile up otherwise) without waiting.
    pub(crate) async fn drain_events(&self) {
        let Ok(client) = self.client() else {
            return;
        };
        while let Some(Some(event)) = client.try_event() {
            tracing::debug!("client event: {event:?}");
        }
    }

    /// Stops the client gracefully (`stopped` announces, flush, resume data saved). Calls
    /// after this fail; calls in flight finish first.
    pub(crate) async fn shutdown(&self) {
        let taken = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut client) = taken else {
            return;
        };
        loop {
            match Arc::try_unwrap(client) {
                Ok(client) => {
                    if let Err(e) = client.stop().await {
                        tracing::warn!("stopping the client: {e}");
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

    /// The client, unless it is stopping.
    fn client(&self) -> Outcome<Arc<Client<R>>> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| BackendError::System("the daemon is stopping".into()))
    }

    /// Adds the torrents of the saved list again (resume data spares a recheck), in their
    /// saved order, stopping those saved as stopped.
    pub(crate) async fn restore(&self) -> Result<usize, String> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let saved = store
            .load()
            .map_err(|e| format!("the saved torrent list: {e}"))?;
        let mut restored = 0;
        for t in saved {
            let source = match &t.magnet {
                Some(uri) => Source::Magnet(uri.clone()),
                None => match store.metainfo(&t.hash) {
                    Ok(bytes) => Source::Metainfo(bytes),
                    Err(e) => {
                        tracing::error!(
                            "saved torrent {}: its .torrent is unreadable: {e}",
                            t.hash
                        );
                        continue;
                    }
                },
            };
            let add = AddTorrent {
                source: Some(source),
                download_dir: Some(t.download_dir.clone()),
                paused: Some(t.paused),
                labels: t.labels.clone(),
                category: t.category.clone(),
                sequential: Some(t.sequential),
                ..AddTorrent::default()
            };
            match self.add_as(add, t.added_date, false).await {
                Ok(_) => restored += 1,
                Err(e) => tracing::error!("saved torrent {}: {e}", t.hash),
            }
        }
        Ok(restored)
    }

    /// Rewrites the saved list from the current one (under the state lock, so saves keep
    /// their order).
    fn persist(&self, state: &State) {
        let Some(store) = &self.store else {
            return;
        };
        let saved: Vec<Saved> = state
            .torrents
            .iter()
            .map(|t| Saved {
                hash: t.handle.info_hash.to_hex(),
                magnet: t.meta.is_none().then(|| t.magnet_link.clone()),
                download_dir: t.dir.clone(),
                paused: t.stopped,
                labels: t.options.labels.clone(),
                category: t.options.category.clone(),
                sequential: t.options.sequential,
                added_date: t.added,
            })
            .collect();
        if let Err(e) = store.save(&saved) {
            tracing::error!("cannot save the torrent list: {e}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn view(&self, entry: &Entry, _detail: Detail) -> TorrentView {
        let stats = match self.client() {
            Ok(client) => client.stats(entry.handle.id).await.ok().flatten(),
            Err(_) => None,
        };
        let (status, total, wanted, have, rate_down, rate_up, peers, checked, pieces) = match &stats
        {
            Some(s) => (
                match s.phase {
                    TorrentPhase::Checking => Status::Checking,
                    TorrentPhase::FetchingMetadata | TorrentPhase::Downloading => {
                        Status::Downloading
                    }
                    TorrentPhase::Seeding => Status::Seeding,
                    _ => Status::Stopped,
                },
                s.total_bytes,
                s.wanted_bytes,
                s.have_bytes,
                s.download_rate,
                s.upload_rate,
                u32::try_from(s.peers_connected).unwrap_or(u32::MAX),
                (s.pieces_checked, s.piece_count),
                s.piece_count,
            ),
            None => (Status::Stopped, 0, 0, 0, 0, 0, 0, (0, 0), 0),
        };
        let status = if entry.stopped {
            Status::Stopped
        } else {
            status
        };
        let left = wanted.saturating_sub(have);
        let complete = total > 0 && left == 0;
        let meta = entry.meta.as_deref();
        let files = meta.map_or_else(Vec::new, |m| {
            let piece = u64::from(m.piece_length().max(1));
            let mut offset = 0u64;
            m.files()
                .iter()
                .filter(|f| !f.padding)
                .map(|f| {
                    let begin = offset / piece;
                    offset += f.length;
                    FileView {
                        name: f.path.components().join("/"),
                        length: f.length,
                        bytes_completed: if complete { f.length } else { 0 },
                        wanted: true,
                        priority: Priority::Normal,
                        begin_piece: u32::try_from(begin).unwrap_or(u32::MAX),
                        end_piece: u32::try_from(offset.div_ceil(piece)).unwrap_or(u32::MAX),
                    }
                })
                .collect()
        });
        let trackers = meta.map_or_else(Vec::new, |m| {
            let mut id = 0;
            let mut out = Vec::new();
            for (tier, urls) in m.trackers().iter().enumerate() {
                for url in urls {
                    out.push(TrackerView {
                        id,
                        announce: url.clone(),
                        tier: u32::try_from(tier).unwrap_or(u32::MAX),
                        seeders: stats.as_ref().and_then(|s| s.swarm).map(|s| s.seeders),
                        leechers: stats.as_ref().and_then(|s| s.swarm).map(|s| s.leechers),
                        last_announce: 0,
                        last_announce_ok: false,
                        last_result: String::new(),
                        next_announce: 0,
                    });
                    id += 1;
                }
            }
            out
        });
        TorrentView {
            id: entry.id,
            hash: Hash(entry.handle.info_hash.0),
            name: meta.map_or_else(|| entry.name.clone(), |m| m.name().to_owned()),
            status,
            error: None,
            download_dir: entry.dir.clone(),
            total_size: total,
            size_when_done: wanted,
            left_until_done: left,
            have_valid: have,
            have_unchecked: 0,
            desired_available: 0,
            downloaded_ever: stats.as_ref().map_or(0, |s| s.downloaded),
            uploaded_ever: stats.as_ref().map_or(0, |s| s.uploaded),
            corrupt_ever: 0,
            metadata_done: if total > 0 { 1.0 } else { 0.0 },
            recheck_progress: if checked.1 > 0 {
                f64::from(checked.0) / f64::from(checked.1)
            } else {
                0.0
            },
            piece_count: pieces,
            piece_size: meta.map_or(0, |m| u64::from(m.piece_length())),
            pieces: Vec::new(),
            rate_download: rate_down,
            rate_upload: rate_up,
            peers_connected: peers,
            peers_sending_to_us: 0,
            peers_getting_from_us: 0,
            eta: (status == Status::Downloading && rate_down > 0).then(|| left / rate_down),
            added_date: entry.added,
            done_date: 0,
            activity_date: if rate_down + rate_up > 0 {
                unix_now()
            } else {
                entry.added
            },
            start_date: entry.added,
            date_created: meta
                .and_then(Metainfo::creation_date)
                .and_then(|d| u64::try_from(d).ok())
                .unwrap_or(0),
            comment: meta.and_then(Metainfo::comment).unwrap_or("").to_owned(),
            creator: meta.and_then(Metainfo::created_by).unwrap_or("").to_owned(),
            is_private: meta.is_some_and(Metainfo::is_private),
            magnet_link: entry.magnet_link.clone(),
            queue_position: entry.id.0.saturating_sub(1),
            seconds_downloading: 0,
            seconds_seeding: 0,
            options: entry.options.clone(),
            files,
            trackers,
            peers: Vec::new(),
        }
    }
}

fn unsupported<T>(what: &str) -> Outcome<T> {
    Err(BackendError::Unsupported(format!(
        "{what} (the client does not offer it yet)"
    )))
}

impl<R: Runtime> ClientBackend<R> {
    /// Fetches a `filename` URL: the .torrent's bytes, or the magnet link it leads to.
    async fn fetch(&self, url: &str) -> Outcome<Source> {
        let Some(http) = &self.http else {
            return Err(BackendError::Http(format!(
                "{url}: this daemon has no HTTP client"
            )));
        };
        match http.fetch_torrent(url).await {
            Ok(Fetched::Metainfo(bytes)) => Ok(Source::Metainfo(bytes)),
            Ok(Fetched::Magnet(link)) => Ok(Source::Magnet(link)),
            Err(e) => Err(BackendError::Http(format!("{url}: {e}"))),
        }
    }

    /// Adds a torrent with its added date; `persist`: save the list after (a restore saves
    /// once at the end).
    async fn add_as(&self, add: AddTorrent, added: u64, persist: bool) -> Outcome<Added> {
        let source = match add.source {
            Some(Source::Url(url)) => Some(self.fetch(&url).await?),
            other => other,
        };
        // A .torrent file or its content: both become the content.
        let (metainfo, other) = match source {
            Some(Source::File(path)) => (
                Some(
                    std::fs::read(&path)
                        .map_err(|e| BackendError::System(format!("{}: {e}", path.display())))?,
                ),
                None,
            ),
            Some(Source::Metainfo(bytes)) => (Some(bytes), None),
            other => (None, other),
        };
        let (source, meta, raw) = match (metainfo, other) {
            (Some(bytes), _) => {
                let meta = Metainfo::from_bytes(&bytes)
                    .map_err(|e| BackendError::Corrupt(e.to_string()))?;
                let meta = Arc::new(meta);
                (
                    TorrentSource::Metainfo(Arc::clone(&meta)),
                    Some(meta),
                    Some(bytes),
                )
            }
            (None, Some(Source::Magnet(uri))) => {
                let link = sanstorrent_core::magnet::MagnetLink::parse(&uri)
                    .map_err(|e| BackendError::Invalid(format!("bad magnet link: {e}")))?;
                (TorrentSource::Magnet(link), None, None)
            }
            (None, _) => return Err(BackendError::Invalid("no torrent given".into())),
        };
        if !add.files.is_empty() {
            return unsupported("choosing files");
        }
        let info_hash = source.info_hash();
        let name = match &source {
            TorrentSource::Metainfo(m) => m.name().to_owned(),
            TorrentSource::Magnet(link) => link
                .display_name
                .clone()
                .unwrap_or_else(|| info_hash.to_hex()),
        };
        let magnet_link = match &source {
            TorrentSource::Metainfo(_) => format!("magnet:?xt=urn:btih:{}", info_hash.to_hex()),
            TorrentSource::Magnet(link) => link.to_uri(),
        };
        if let Some(dup) = self
            .lock()
            .torrents
            .iter()
            .find(|t| t.handle.info_hash == info_hash)
        {
            return Ok(Added::Duplicate {
                id: dup.id,
                hash: Hash(info_hash.0),
                name,
            });
        }
        let dir = add
            .download_dir
            .unwrap_or_else(|| self.lock().settings.download_dir.clone());
        let options = CoreOptions {
            sequential: add.sequential.unwrap_or(false),
            ..CoreOptions::default()
        };
        if let (Some(store), Some(raw), true) = (&self.store, &raw, persist) {
            store
                .save_metainfo(&info_hash.to_hex(), raw)
                .map_err(|e| BackendError::System(format!("cannot save the .torrent: {e}")))?;
        }
        let client = self.client()?;
        let handle = client
            .add_torrent(source, dir.clone(), options)
            .await
            .map_err(|e| match e {
                ClientError::Add(e) => BackendError::Invalid(e.to_string()),
                other => BackendError::System(other.to_string()),
            })?;
        if add.paused == Some(true) {
            let _ = client.stop_torrent(handle.id).await;
        }
        let mut state = self.lock();
        let id = Id(state.next_id);
        state.next_id += 1;
        state.added_this_run += 1;
        let peer_limit = state.settings.peer_limit_per_torrent;
        state.torrents.push(Entry {
            id,
            handle,
            name: name.clone(),
            dir,
            meta,
            magnet_link,
            added,
            stopped: add.paused == Some(true),
            options: TorrentOptions {
                peer_limit: add.peer_limit.unwrap_or(peer_limit),
                honors_session_limits: true,
                sequential: add.sequential.unwrap_or(false),
                labels: add.labels,
                category: add.category,
                ..TorrentOptions::default()
            },
        });
        self.persist(&state);
        Ok(Added::New {
            id,
            hash: Hash(info_hash.0),
            name,
        })
    }
}

impl<R: Runtime> Backend for ClientBackend<R> {
    async fn add(&self, add: AddTorrent) -> Outcome<Added> {
        self.add_as(add, unix_now(), true).await
    }

    async fn torrents(&self, detail: Detail) -> Vec<TorrentView> {
        let entries = self.lock().torrents.clone();
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            out.push(self.view(entry, detail).await);
        }
        out
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
        match action {
            Action::Stop => {
                let handles: Vec<TorrentHandle> = {
                    let mut state = self.lock();
                    let handles = state
                        .torrents
                        .iter_mut()
                        .filter(|t| ids.contains(&t.id) && !t.stopped)
                        .map(|t| {
                            t.stopped = true;
                            t.handle
                        })
                        .collect();
                    self.persist(&state);
                    handles
                };
                let client = self.client()?;
                for handle in handles {
                    client
                        .stop_torrent(handle.id)
                        .await
                        .map_err(|e| BackendError::System(e.to_string()))?;
                }
                Ok(())
            }
            Action::Start | Action::StartNow => {
                let all_running = self
                    .lock()
                    .torrents
                    .iter()
                    .filter(|t| ids.contains(&t.id))
                    .all(|t| !t.stopped);
                if all_running {
                    Ok(())
                } else {
                    unsupported("starting a stopped torrent")
                }
            }
            Action::Verify => unsupported("checking data again"),
            Action::Reannounce => unsupported("announcing on request"),
        }
    }

    async fn remove(&self, ids: Vec<Id>, delete_data: bool) -> Outcome<()> {
        if delete_data && !ids.is_empty() {
            return unsupported("removing data");
        }
        let removed: Vec<Entry> = {
            let mut state = self.lock();
            let (gone, kept) = std::mem::take(&mut state.torrents)
                .into_iter()
                .partition(|t| ids.contains(&t.id));
            state.torrents = kept;
            let now = unix_now();
            state
                .removed
                .extend(gone.iter().map(|t: &Entry| (t.id, now)));
            self.persist(&state);
            gone
        };
        if let Some(store) = &self.store {
            for entry in &removed {
                store.remove_metainfo(&entry.handle.info_hash.to_hex());
            }
        }
        let client = self.client()?;
        for entry in removed {
            if !entry.stopped {
                let _ = client.stop_torrent(entry.handle.id).await;
            }
        }
        Ok(())
    }

    async fn change(&self, ids: Vec<Id>, changes: TorrentChanges) -> Outcome<()> {
        let only_groups = TorrentChanges {
            labels: None,
            category: None,
            ..changes.clone()
        } == TorrentChanges::default();
        if !only_groups {
            return unsupported("changing torrent options other than labels and category");
        }
        if changes.labels.is_some() || changes.category.is_some() {
            let mut state = self.lock();
            for t in state.torrents.iter_mut().filter(|t| ids.contains(&t.id)) {
                if let Some(labels) = &changes.labels {
                    t.options.labels.clone_from(labels);
                }
                if let Some(category) = &changes.category {
                    t.options.category.clone_from(category);
                }
            }
            self.persist(&state);
        }
        Ok(())
    }

    async fn set_location(&self, _ids: Vec<Id>, _to: PathBuf, _move_data: bool) -> Outcome<()> {
        unsupported("moving data")
    }

    async fn queue_move(&self, _ids: Vec<Id>, _to: QueueMove) -> Outcome<()> {
        unsupported("a queue")
    }

    async fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    async fn change_settings(&self, changes: SettingsChanges) -> Outcome<()> {
        let SettingsChanges {
            download_dir,
            start_added_torrents,
            ..
        } = changes.clone();
        let rest = SettingsChanges {
            download_dir: None,
            start_added_torrents: None,
            ..changes
        };
        if rest != SettingsChanges::default() {
            return unsupported("changing session settings other than download-dir");
        }
        let mut state = self.lock();
        if let Some(dir) = download_dir {
            state.settings.download_dir = dir;
        }
        if let Some(start) = start_added_torrents {
            state.settings.start_added_torrents = start;
        }
        Ok(())
    }

    async fn stats(&self) -> Stats {
        let views = self.torrents(Detail::default()).await;
        let state = self.lock();
        let uploaded = views.iter().map(|v| v.uploaded_ever).sum();
        let downloaded = views.iter().map(|v| v.downloaded_ever).sum();
        let current = Totals {
            uploaded,
            downloaded,
            files_added: state.added_this_run,
            sessions: 1,
            seconds_active: unix_now().saturating_sub(state.started),
        };
        Stats {
            active: u32::try_from(
                views
                    .iter()
                    .filter(|v| v.rate_download + v.rate_upload > 0)
                    .count(),
            )
            .unwrap_or(u32::MAX),
            paused: u32::try_from(views.iter().filter(|v| v.status == Status::Stopped).count())
                .unwrap_or(u32::MAX),
            total: u32::try_from(views.len()).unwrap_or(u32::MAX),
            download_rate: views.iter().map(|v| v.rate_download).sum(),
            upload_rate: views.iter().map(|v| v.rate_upload).sum(),
            current,
            cumulative: current,
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
        groups.apply(&edit, torrents.iter_mut().map(|t| &mut t.options));
        self.persist(&state);
        Ok(())
    }
}
