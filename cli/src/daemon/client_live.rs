//! Changes to running torrents and to the session through the client: files wanted and their
//! priorities, a torrent's limits and trackers ([`Backend::change`]), the session's rate and
//! peer limits, DHT and PEX ([`Backend::change_settings`]), and what of them is saved.
//!
//! File priorities reach the client's picker as they are: high files' pieces first, low last.
//! A limit of 0 turned on means no limit, as in qBittorrent.

use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::TorrentId;
use sanstorrent_core::session::{
    ChangeError, Priority as CorePriority, TorrentLimits, TrackerEdit as CoreEdit, TrackerInfo,
};
use sanstorrent_runtime_common::{Change, Client, ClientError, Runtime, TorrentHandle};

use super::{ClientBackend, unsupported};
use crate::daemon::backend::*;
use crate::daemon::id_set::IdSet;
use crate::daemon::schedule;
use crate::daemon::store::{SavedLimits, SavedLive};

/// A file's wanted flag and priority (files of the metainfo, padding left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileState {
    /// To be downloaded.
    pub(super) wanted: bool,
    /// Its priority.
    pub(super) priority: Priority,
}

/// Every file of `meta` wanted at normal priority.
pub(super) fn initial_files(meta: &Metainfo) -> Vec<FileState> {
    let count = meta.files().iter().filter(|f| !f.padding).count();
    vec![
        FileState {
            wanted: true,
            priority: Priority::Normal,
        };
        count
    ]
}

/// Every file unwanted (its files wait for a choice).
pub(super) fn skip_all(files: &mut [FileState]) {
    for f in files {
        f.wanted = false;
    }
}

/// Applies `changes` to `files`; an index past the files changes nothing.
pub(super) fn apply_files(files: &mut [FileState], changes: &FileChanges) -> Outcome<()> {
    let lists = [
        &changes.wanted,
        &changes.unwanted,
        &changes.high,
        &changes.normal,
        &changes.low,
    ];
    for list in lists.into_iter().flatten() {
        if let Files::Some(ids) = list
            && let Some(bad) = ids.iter().find(|i| **i as usize >= files.len())
        {
            return Err(BackendError::FileIndex(*bad));
        }
    }
    let mut set = |list: &Option<Files>, f: &dyn Fn(&mut FileState)| match list {
        None => {}
        Some(Files::All) => files.iter_mut().for_each(f),
        Some(Files::Some(ids)) => {
            for i in ids {
                if let Some(file) = files.get_mut(*i as usize) {
                    f(file);
                }
            }
        }
    };
    set(&changes.wanted, &|f| f.wanted = true);
    set(&changes.unwanted, &|f| f.wanted = false);
    set(&changes.high, &|f| f.priority = Priority::High);
    set(&changes.normal, &|f| f.priority = Priority::Normal);
    set(&changes.low, &|f| f.priority = Priority::Low);
    Ok(())
}

/// The client's priorities (one per file of the metainfo, padding included).
pub(super) fn core_priorities(meta: &Metainfo, files: &[FileState]) -> Vec<CorePriority> {
    let mut states = files.iter();
    meta.files()
        .iter()
        .map(|f| match (!f.padding).then(|| states.next()).flatten() {
            Some(s) if !s.wanted => CorePriority::Skip,
            Some(s) if s.priority == Priority::High => CorePriority::High,
            Some(s) if s.priority == Priority::Low => CorePriority::Low,
            _ => CorePriority::Normal,
        })
        .collect()
}

/// The client's limits of a torrent with `options`.
pub(super) fn core_limits(o: &TorrentOptions) -> TorrentLimits {
    let rate = |l: SpeedLimit| l.enabled.then_some(l.bytes_per_sec).filter(|r| *r > 0);
    TorrentLimits {
        download_rate: rate(o.download_limit),
        upload_rate: rate(o.upload_limit),
        honors_session_limits: o.honors_session_limits,
        max_connections: Some(o.peer_limit as usize),
    }
}

/// What of a torrent's files, limits, trackers and web seeds to save.
pub(super) fn saved_live(
    files: &[FileState],
    o: &TorrentOptions,
    trackers: Option<&Vec<Vec<String>>>,
    web_seeds: Option<&Vec<String>>,
) -> SavedLive {
    let pick = |f: &dyn Fn(&FileState) -> bool| -> Vec<u32> {
        (0u32..)
            .zip(files)
            .filter(|(_, s)| f(s))
            .map(|(i, _)| i)
            .collect()
    };
    let limits = SavedLimits {
        download: o.download_limit.bytes_per_sec,
        download_limited: o.download_limit.enabled,
        upload: o.upload_limit.bytes_per_sec,
        upload_limited: o.upload_limit.enabled,
        honors_session_limits: o.honors_session_limits,
        peer_limit: o.peer_limit,
    };
    let default = SavedLimits {
        download: 0,
        download_limited: false,
        upload: 0,
        upload_limited: false,
        honors_session_limits: true,
        peer_limit: limits.peer_limit,
    };
    SavedLive {
        unwanted: pick(&|s| !s.wanted),
        high: pick(&|s| s.priority == Priority::High),
        low: pick(&|s| s.priority == Priority::Low),
        limits: (limits != default).then_some(limits),
        trackers: trackers.cloned(),
        seed_limits: super::queueing::saved_seed_limits(o),
        web_seeds: web_seeds.cloned(),
    }
}

/// Puts saved files and limits back (indices past the files are ignored).
pub(super) fn restore_live(live: &SavedLive, files: &mut [FileState], o: &mut TorrentOptions) {
    let some = |ids: &Vec<u32>| (!ids.is_empty()).then(|| Files::Some(ids.clone()));
    let valid = |ids: &[u32]| ids.iter().all(|i| (*i as usize) < files.len());
    if [&live.unwanted, &live.high, &live.low]
        .iter()
        .all(|ids| valid(ids))
    {
        let changes = FileChanges {
            unwanted: some(&live.unwanted),
            high: some(&live.high),
            low: some(&live.low),
            ..FileChanges::default()
        };
        let _ = apply_files(files, &changes);
    }
    if let Some(l) = live.limits {
        o.download_limit = SpeedLimit {
            bytes_per_sec: l.download,
            enabled: l.download_limited,
        };
        o.upload_limit = SpeedLimit {
            bytes_per_sec: l.upload,
            enabled: l.upload_limited,
        };
        o.honors_session_limits = l.honors_session_limits;
        o.peer_limit = l.peer_limit;
    }
    super::queueing::restore_seed_limits(live.seed_limits.as_ref(), o);
}

/// The URLs of `torrent`'s web seeds in the client.
async fn web_seed_urls<R: Runtime>(client: &Client<R>, torrent: TorrentId) -> Outcome<Vec<String>> {
    let seeds = client.web_seeds(torrent).await.map_err(refused)?;
    Ok(seeds
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.url)
        .collect())
}

/// Makes `torrent`'s web seeds in the client exactly `urls` (a list saved after an edit).
pub(super) async fn restore_web_seeds<R: Runtime>(
    client: &Client<R>,
    torrent: TorrentId,
    urls: &[String],
) -> Outcome<()> {
    let now = web_seed_urls(client, torrent).await?;
    for url in now.iter().filter(|u| !urls.contains(u)) {
        client
            .remove_web_seed(torrent, url)
            .await
            .map_err(refused)?;
    }
    for url in urls.iter().filter(|u| !now.contains(u)) {
        client.add_web_seed(torrent, url).await.map_err(refused)?;
    }
    Ok(())
}

/// The announce-list of `trackers` (tiers in order).
fn tiers(trackers: &[TrackerInfo]) -> Vec<Vec<String>> {
    let mut out: Vec<(u32, Vec<String>)> = Vec::new();
    for t in trackers {
        match out.iter_mut().find(|(tier, _)| *tier == t.tier) {
            Some((_, urls)) => urls.push(t.url.clone()),
            None => out.push((t.tier, vec![t.url.clone()])),
        }
    }
    out.sort_by_key(|(tier, _)| *tier);
    out.into_iter().map(|(_, urls)| urls).collect()
}

/// The client's refusal as a backend error.
fn refused(e: ClientError) -> BackendError {
    match e {
        ClientError::Change(
            e @ (ChangeError::TrackerUrl(_)
            | ChangeError::UnknownTracker(_)
            | ChangeError::WebSeedUrl(_)
            | ChangeError::FilePriorities { .. }),
        ) => BackendError::Invalid(e.to_string()),
        other => BackendError::System(other.to_string()),
    }
}

/// What one torrent's change sends to the client.
struct Plan {
    id: Id,
    torrent: TorrentId,
    files: Option<(Vec<FileState>, Vec<CorePriority>)>,
    options: TorrentOptions,
    limits: Option<TorrentLimits>,
    /// Sequential and first-and-last-pieces, when either changes.
    order: Option<(bool, bool)>,
}

impl<R: Runtime> ClientBackend<R> {
    /// [`Backend::change`]: files, limits, trackers, web seeds, labels, category, name,
    /// sequential and first-and-last-pieces.
    pub(super) async fn change_torrents(
        &self,
        ids: Vec<Id>,
        changes: TorrentChanges,
    ) -> Outcome<()> {
        if let Some(name) = changes.name.as_deref().filter(|n| !n.trim().is_empty()) {
            check_name(name)?;
        }
        let rest = TorrentChanges {
            labels: None,
            category: None,
            download_limit: None,
            download_limited: None,
            upload_limit: None,
            upload_limited: None,
            honors_session_limits: None,
            peer_limit: None,
            sequential: None,
            first_last_pieces: None,
            name: None,
            files: FileChanges::default(),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            seed_ratio_limit: None,
            seed_ratio_mode: None,
            seed_idle_limit: None,
            seed_idle_mode: None,
            seed_time_limit: None,
            seed_time_mode: None,
            queue_position: None,
            ..changes.clone()
        };
        if rest != TorrentChanges::default() {
            return unsupported(
                "changing torrent options other than files, limits, seeding limits, queue \
                 position, trackers, web seeds, labels, category, name, sequential and \
                 first-and-last-pieces",
            );
        }
        let set = IdSet::new(&ids);
        let waiting = |state: &super::State| {
            state
                .torrents
                .iter()
                .any(|t| set.contains(t.id) && t.meta.is_none())
        };
        if !changes.files.is_empty() && waiting(&self.lock()) {
            // A magnet's metadata may have arrived since the last tick: the client lists its
            // files already, so front ends may name them.
            self.drain_events().await;
        }
        // The whole metainfos of the torrents whose files change (read off the list's lock).
        let metas = if changes.files.is_empty() {
            Vec::new()
        } else {
            let handles: Vec<TorrentHandle> = (self.lock().torrents.iter())
                .filter(|t| set.contains(t.id) && t.meta.is_some())
                .map(|t| t.handle)
                .collect();
            let metas = self.metainfos_of(&handles).await;
            handles.into_iter().zip(metas).collect()
        };
        let plans = {
            let state = self.lock();
            let mut plans = Vec::new();
            for t in state.torrents.iter().filter(|t| set.contains(t.id)) {
                let meta = (t.meta.as_ref())
                    .and_then(|_| metas.iter().find(|(h, _)| *h == t.handle))
                    .map(|(_, m)| {
                        m.as_deref().ok_or_else(|| {
                            BackendError::System(format!(
                                "the metainfo of {} cannot be read",
                                t.name
                            ))
                        })
                    })
                    .transpose()?;
                let files = match (meta, changes.files.is_empty()) {
                    (_, true) => None,
                    (None, false) => {
                        return unsupported("choosing files before the metadata arrived");
                    }
                    (Some(meta), false) => {
                        let mut files = t.files.to_vec();
                        apply_files(&mut files, &changes.files)?;
                        let core = core_priorities(meta, &files);
                        Some((files, core))
                    }
                };
                let mut o = TorrentOptions::clone(&t.options);
                // A choice of files ends the wait for one.
                o.choose_files &= files.is_none();
                let c = &changes;
                if let Some(v) = c.download_limit {
                    o.download_limit.bytes_per_sec = v;
                }
                if let Some(v) = c.download_limited {
                    o.download_limit.enabled = v;
                }
                if let Some(v) = c.upload_limit {
                    o.upload_limit.bytes_per_sec = v;
                }
                if let Some(v) = c.upload_limited {
                    o.upload_limit.enabled = v;
                }
                if let Some(v) = c.honors_session_limits {
                    o.honors_session_limits = v;
                }
                if let Some(v) = c.peer_limit {
                    o.peer_limit = v;
                }
                if let Some(labels) = &c.labels {
                    o.labels.clone_from(labels);
                }
                if let Some(category) = &c.category {
                    o.category.clone_from(category);
                }
                if let Some(name) = &c.name {
                    o.name = name.trim().to_owned();
                }
                o.sequential = c.sequential.unwrap_or(o.sequential);
                o.first_last_pieces = c.first_last_pieces.unwrap_or(o.first_last_pieces);
                let order = (o.sequential, o.first_last_pieces);
                let order =
                    (order != (t.options.sequential, t.options.first_last_pieces)).then_some(order);
                super::queueing::change_options(&mut o, c);
                let limits = (core_limits(&o) != core_limits(&t.options)).then(|| core_limits(&o));
                plans.push(Plan {
                    id: t.id,
                    torrent: t.handle.id,
                    files,
                    options: o,
                    limits,
                    order,
                });
            }
            plans
        };
        let client = self.client()?;
        let mut done = Vec::new();
        for plan in plans {
            if let Some((_, core)) = &plan.files {
                client
                    .set_file_priorities(plan.torrent, core.clone())
                    .await
                    .map_err(refused)?;
            }
            if let Some(limits) = plan.limits {
                client
                    .set_torrent_limits(plan.torrent, limits)
                    .await
                    .map_err(refused)?;
            }
            if let Some(order) = plan.order {
                client
                    .change(piece_order(plan.torrent, order))
                    .await
                    .map_err(refused)?;
            }
            let mut web_seeds = None;
            for edit in &changes.web_seeds {
                match edit {
                    WebSeedEdit::Add(urls) => {
                        for url in urls {
                            client
                                .add_web_seed(plan.torrent, url)
                                .await
                                .map_err(refused)?;
                        }
                    }
                    WebSeedEdit::Remove(urls) => {
                        for url in urls {
                            client
                                .remove_web_seed(plan.torrent, url)
                                .await
                                .map_err(refused)?;
                        }
                    }
                    WebSeedEdit::Set(urls) => {
                        restore_web_seeds(&client, plan.torrent, urls).await?
                    }
                }
            }
            if !changes.web_seeds.is_empty() {
                web_seeds = Some(web_seed_urls(&client, plan.torrent).await?);
            }
            let mut trackers = None;
            if !changes.trackers.is_empty() {
                for edit in &changes.trackers {
                    for edit in core_edits(edit) {
                        client
                            .edit_trackers(plan.torrent, edit)
                            .await
                            .map_err(refused)?;
                    }
                }
                let list = client
                    .trackers(plan.torrent)
                    .await
                    .map_err(refused)?
                    .unwrap_or_default();
                trackers = Some(tiers(&list));
            }
            done.push((plan, trackers, web_seeds));
        }
        {
            let mut state = self.lock();
            for (plan, trackers, web_seeds) in done {
                if let Some(t) = state.torrents.iter_mut().find(|t| t.id == plan.id) {
                    if let Some((files, _)) = plan.files {
                        t.files = files.into();
                    }
                    if *t.options != plan.options {
                        t.options = std::sync::Arc::new(plan.options);
                    }
                    if trackers.is_some() {
                        t.set_rare(|r| r.trackers = trackers);
                    }
                    if web_seeds.is_some() {
                        t.set_rare(|r| r.web_seeds = web_seeds);
                    }
                }
            }
            if let Some(place) = changes.queue_position {
                let to = crate::daemon::queue::Move::To(place);
                super::queueing::renumber(&mut state.torrents, &ids, to);
            }
            self.persist(&state);
        }
        self.enforce().await
    }

    /// [`Backend::change_settings`]: the default download dir, starting added torrents, rate
    /// and peer limits, DHT and PEX (saved in the state dir).
    pub(super) async fn change_session(&self, changes: SettingsChanges) -> Outcome<()> {
        let c = changes;
        let mut sends = Vec::new();
        let queue_changed;
        let now = schedule::local_now();
        let saved = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let s = &mut state.settings;
            queue_changed = super::queueing::change_settings(s, &c);
            if let Some(dir) = c.download_dir {
                s.download_dir = dir;
            }
            if let Some(start) = c.start_added_torrents {
                s.start_added_torrents = start;
            }
            let rates = s.rates_in_force();
            let alt = &mut s.alt_speed;
            alt.down = c.alt_speed_down.unwrap_or(alt.down);
            alt.up = c.alt_speed_up.unwrap_or(alt.up);
            alt.enabled = c.alt_speed_enabled.unwrap_or(alt.enabled);
            alt.time_enabled = c.alt_speed_time_enabled.unwrap_or(alt.time_enabled);
            alt.time_begin = c.alt_speed_time_begin.unwrap_or(alt.time_begin).min(1439);
            alt.time_end = c.alt_speed_time_end.unwrap_or(alt.time_end).min(1439);
            alt.time_day = c.alt_speed_time_day.unwrap_or(alt.time_day) & 127;
            let times = [
                c.alt_speed_time_begin,
                c.alt_speed_time_end,
                c.alt_speed_time_day,
            ];
            if c.alt_speed_time_enabled.is_some() || times.iter().any(Option::is_some) {
                // Transmission and qBittorrent apply a schedule as soon as it is set.
                state.schedule.reset();
            }
            if let Some(on) = state.schedule.decide(alt, now) {
                alt.enabled = on;
            }
            if let Some(v) = c.download_limit {
                s.download_limit.bytes_per_sec = v;
            }
            if let Some(v) = c.download_limited {
                s.download_limit.enabled = v;
            }
            if let Some(v) = c.upload_limit {
                s.upload_limit.bytes_per_sec = v;
            }
            if let Some(v) = c.upload_limited {
                s.upload_limit.enabled = v;
            }
            if rates != s.rates_in_force() {
                let (download, upload) = s.rates_in_force();
                sends.push(Change::RateLimits { download, upload });
            }
            let peers = (s.peer_limit_global, s.peer_limit_per_torrent);
            s.peer_limit_global = c.peer_limit_global.unwrap_or(s.peer_limit_global);
            s.peer_limit_per_torrent = c.peer_limit_per_torrent.unwrap_or(s.peer_limit_per_torrent);
            if peers != (s.peer_limit_global, s.peer_limit_per_torrent) {
                sends.push(Change::PeerLimits {
                    max_connections: s.peer_limit_global as usize,
                    per_torrent: s.peer_limit_per_torrent as usize,
                });
            }
            if let Some(on) = c.dht_enabled.filter(|on| *on != s.dht_enabled) {
                s.dht_enabled = on;
                sends.push(Change::Dht(on));
            }
            if let Some(on) = c.pex_enabled.filter(|on| *on != s.pex_enabled) {
                s.pex_enabled = on;
                sends.push(Change::Pex(on));
            }
            if let Some(on) = c.lpd_enabled.filter(|on| *on != s.lpd_enabled) {
                s.lpd_enabled = on;
                sends.push(Change::LocalDiscovery(on));
            }
            s.clone()
        };
        let client = self.client()?;
        for change in sends {
            client.change(change).await.map_err(refused)?;
        }
        if let Some(store) = &self.store
            && let Err(e) = store.save_settings(&saved)
        {
            return Err(BackendError::System(format!(
                "cannot save the settings: {e}"
            )));
        }
        if queue_changed {
            self.enforce().await?;
        }
        Ok(())
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// Switches the alternative limits on or off as the schedule's window opens or closes
    /// (each tick; `change_session` applies a schedule just set).
    pub(crate) async fn apply_schedule(&self) -> Outcome<()> {
        let now = schedule::local_now();
        let switch = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let alt = &state.settings.alt_speed;
            state
                .schedule
                .decide(alt, now)
                .filter(|on| *on != alt.enabled)
        };
        match switch {
            Some(on) => {
                tracing::info!(
                    "the schedule turns the alternative speed limits {}",
                    if on { "on" } else { "off" }
                );
                self.change_session(SettingsChanges {
                    alt_speed_enabled: Some(on),
                    ..SettingsChanges::default()
                })
                .await
            }
            None => Ok(()),
        }
    }
}

/// The client's change of a torrent's piece order (sequential, first and last pieces).
fn piece_order(torrent: TorrentId, (sequential, first_last_pieces): (bool, bool)) -> Change {
    Change::PieceOrder {
        torrent,
        sequential,
        first_last_pieces,
    }
}

/// The client's edits for one of the backend's.
fn core_edits(edit: &TrackerEdit) -> Vec<CoreEdit> {
    match edit {
        TrackerEdit::Add(urls) => vec![CoreEdit::Add(urls.clone())],
        TrackerEdit::Remove(ids) => vec![CoreEdit::Remove(ids.clone())],
        TrackerEdit::Replace(pairs) => pairs
            .iter()
            .map(|(id, url)| CoreEdit::Replace(*id, url.clone()))
            .collect(),
        TrackerEdit::Set(tiers) => vec![CoreEdit::Set(tiers.clone())],
    }
}

/// Makes the session's config follow the daemon's settings (as loaded from the state dir)
/// before the client starts: rate and peer limits, DHT (`--no-dht` keeps it off), PEX and
/// local discovery (`--no-lsd` keeps it off).
pub(crate) fn apply_saved_settings(
    session: &mut sanstorrent_core::session::SessionConfig,
    settings: &mut Settings,
) {
    (session.download_rate_limit, session.upload_rate_limit) = settings.rates_in_force();
    session.max_connections = settings.peer_limit_global as usize;
    session.max_connections_per_torrent = settings.peer_limit_per_torrent as usize;
    session.dht &= settings.dht_enabled;
    settings.dht_enabled = session.dht;
    session.pex = settings.pex_enabled;
    if !settings.lpd_enabled {
        session.local_discovery = None;
    }
    settings.lpd_enabled = session.local_discovery.is_some();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(wanted: bool, priority: Priority) -> FileState {
        FileState { wanted, priority }
    }

    #[test]
    fn file_changes_apply_and_saved_files_come_back() {
        let mut files = vec![state(true, Priority::Normal); 3];
        let bad = FileChanges {
            unwanted: Some(Files::Some(vec![0, 3])),
            ..FileChanges::default()
        };
        assert_eq!(
            apply_files(&mut files, &bad),
            Err(BackendError::FileIndex(3))
        );
        assert!(files.iter().all(|f| f.wanted));
        let changes = FileChanges {
            unwanted: Some(Files::Some(vec![1])),
            high: Some(Files::Some(vec![0])),
            low: Some(Files::All),
            ..FileChanges::default()
        };
        apply_files(&mut files, &changes).unwrap();
        assert_eq!(
            files,
            [
                state(true, Priority::Low),
                state(false, Priority::Low),
                state(true, Priority::Low)
            ]
        );
        let options = TorrentOptions {
            peer_limit: 50,
            honors_session_limits: true,
            download_limit: SpeedLimit {
                bytes_per_sec: 2048,
                enabled: true,
            },
            ..TorrentOptions::default()
        };
        let live = saved_live(&files, &options, None, None);
        assert_eq!(live.unwanted, [1]);
        assert_eq!(live.low, [0, 1, 2]);
        let mut back = vec![state(true, Priority::Normal); 3];
        let mut o = TorrentOptions {
            peer_limit: 50,
            honors_session_limits: true,
            ..TorrentOptions::default()
        };
        restore_live(&live, &mut back, &mut o);
        assert_eq!(back, files);
        assert_eq!(o, options);
        assert_eq!(core_limits(&o).download_rate, Some(2048));
        assert_eq!(core_limits(&o).upload_rate, None);
    }

    #[test]
    fn saved_alternative_limits_are_the_rates_in_force_while_on() {
        let mut session = sanstorrent_core::session::SessionConfig::default();
        let mut settings = Settings {
            download_limit: SpeedLimit {
                bytes_per_sec: 9000,
                enabled: true,
            },
            upload_limit: SpeedLimit {
                bytes_per_sec: 0,
                enabled: true,
            },
            alt_speed: AltSpeed {
                down: 1000,
                up: 0,
                enabled: true,
                ..AltSpeed::default()
            },
            ..Settings::new("/dl".into(), 1, "/state".into())
        };
        apply_saved_settings(&mut session, &mut settings);
        assert_eq!(
            (session.download_rate_limit, session.upload_rate_limit),
            (Some(1000), None),
            "the alternative limits, 0 being none"
        );
        settings.alt_speed = AltSpeed::default();
        apply_saved_settings(&mut session, &mut settings);
        assert_eq!(
            (session.download_rate_limit, session.upload_rate_limit),
            (Some(9000), None)
        );
        assert_eq!(settings.alt_speed, AltSpeed::default());
    }

    #[test]
    fn no_dht_on_the_command_line_wins_over_saved_settings() {
        let mut session = sanstorrent_core::session::SessionConfig {
            dht: false,
            ..Default::default()
        };
        let mut settings = Settings::new("/dl".into(), 1, "/state".into());
        apply_saved_settings(&mut session, &mut settings);
        assert!(!session.dht);
        assert!(!settings.dht_enabled);
    }

    #[test]
    fn local_discovery_follows_the_saved_wish_and_no_lsd_wins() {
        use sanstorrent_core::lsd::LsdConfig;
        let on = || sanstorrent_core::session::SessionConfig {
            local_discovery: Some(LsdConfig::default()),
            ..Default::default()
        };
        let mut settings = Settings::new("/dl".into(), 1, "/state".into());
        let mut session = on();
        apply_saved_settings(&mut session, &mut settings);
        assert!(session.local_discovery.is_some() && settings.lpd_enabled);
        settings.lpd_enabled = false;
        let mut session = on();
        apply_saved_settings(&mut session, &mut settings);
        assert!(
            session.local_discovery.is_none(),
            "turned off over RPC before"
        );
        settings.lpd_enabled = true;
        let mut session = sanstorrent_core::session::SessionConfig {
            local_discovery: None,
            ..Default::default()
        };
        apply_saved_settings(&mut session, &mut settings);
        assert!(
            session.local_discovery.is_none() && !settings.lpd_enabled,
            "--no-lsd"
        );
    }
}
