//! A [`Backend`] in memory for tests: torrents are views in a list, every call is recorded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::backend::*;

/// A backend whose torrents are plain values.
#[derive(Debug)]
pub(crate) struct Fake {
    pub(crate) state: Mutex<State>,
}

/// The fake's state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) torrents: Vec<TorrentView>,
    pub(crate) settings: Settings,
    pub(crate) calls: Vec<String>,
    pub(crate) removed: Vec<Id>,
    pub(crate) next_id: u32,
    pub(crate) groups: Groups,
}

/// A torrent view with one file, one tracker and one peer.
pub(crate) fn view(id: u32, name: &str) -> TorrentView {
    let mut hash = [0u8; 20];
    hash[0] = u8::try_from(id).unwrap_or(0xff);
    hash[19] = 0xab;
    TorrentView {
        id: Id(id),
        hash: Hash(hash),
        hash_v2: None,
        has_v1: true,
        name: name.into(),
        status: Status::Downloading,
        moving: false,
        error: None,
        download_dir: "/dl".into(),
        total_size: 1000,
        size_when_done: 1000,
        left_until_done: 250,
        have_valid: 750,
        have_unchecked: 0,
        desired_available: 250,
        downloaded_ever: 750,
        uploaded_ever: 1500,
        corrupt_ever: 0,
        metadata_done: 1.0,
        recheck_progress: 0.0,
        piece_count: 4,
        piece_size: 256,
        pieces: vec![0b1110_0000],
        piece_hashes: vec![[0xab; 20], [0x01; 20], [0; 20], [0xff; 20]],
        availability: vec![1, 1, 1, 2],
        rate_download: 2000,
        rate_upload: 1000,
        peers_connected: 1,
        peers_sending_to_us: 1,
        peers_getting_from_us: 1,
        seeds_connected: 1,
        downloaded_session: 500,
        uploaded_session: 100,
        torrent_file: String::new(),
        is_stalled: false,
        eta: Some(12),
        added_date: 1_700_000_000,
        done_date: 0,
        activity_date: 1_700_000_100,
        start_date: 1_700_000_000,
        date_created: 1_600_000_000,
        comment: "c".into(),
        creator: "sanstorrent".into(),
        is_private: false,
        magnet_link: format!("magnet:?xt=urn:btih:{}", Hash(hash).to_hex()),
        queue_position: id.saturating_sub(1),
        forced: false,
        is_finished: false,
        seconds_downloading: 10,
        seconds_seeding: 0,
        options: TorrentOptions {
            peer_limit: 50,
            honors_session_limits: true,
            seed_ratio_limit: 2.0,
            labels: vec!["tv".into()],
            ..TorrentOptions::default()
        },
        files: vec![FileView {
            name: format!("{name}/a.bin"),
            length: 1000,
            bytes_completed: 750,
            wanted: true,
            priority: Priority::Normal,
            begin_piece: 0,
            end_piece: 4,
        }],
        trackers: vec![TrackerView {
            id: 0,
            announce: "http://tracker.example.org:6969/announce".into(),
            tier: 0,
            seeders: Some(3),
            leechers: None,
            last_announce: 1_700_000_050,
            last_announce_ok: true,
            last_result: "Success".into(),
            next_announce: 1_700_001_850,
            last_peer_count: 7,
            downloads: Some(12),
            backup: false,
            scrape: Some(ScrapeView {
                last_start: 1_700_000_060,
                last_time: 1_700_000_061,
                last_ok: true,
                last_result: "Success (3 seeders, 4 leechers)".into(),
                downloaders: Some(2),
                active: false,
                next: 1_700_001_860,
            }),
        }],
        peers: vec![PeerView {
            address: SocketAddr::from(([127, 0, 0, 1], 6881)),
            client: "Transmission 4.0".into(),
            progress: 1.0,
            rate_to_client: 2000,
            rate_to_peer: 1000,
            downloaded: 5000,
            uploaded: 3000,
            incoming: false,
            from: PeerFrom::Tracker,
            encrypted: true,
            utp: false,
            peer_choked: false,
            peer_interested: true,
            client_choked: false,
            client_interested: true,
        }],
        web_seeds: Vec::new(),
    }
}

impl Fake {
    /// A fake holding torrents 1 ("one") and 2 ("two").
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                torrents: vec![view(1, "one"), view(2, "two")],
                settings: Settings {
                    download_queue_enabled: true,
                    ..Settings::new("/dl".into(), 6881, "/state".into())
                },
                calls: Vec::new(),
                removed: Vec::new(),
                next_id: 3,
                groups: Groups::default(),
            }),
        }
    }

    /// The calls made so far, as `Debug` text.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The state, locked.
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, call: String) {
        self.lock().calls.push(call);
    }
}

impl Backend for Fake {
    async fn add(&self, add: AddTorrent) -> Outcome<Added> {
        self.record(format!("add {add:?}"));
        if let Some(name) = &add.name {
            check_name(name)?;
        }
        let name = match &add.source {
            Some(Source::Metainfo(bytes)) if bytes.starts_with(b"d") => "added".to_owned(),
            Some(Source::Metainfo(_)) => return Err(BackendError::Corrupt("not bencode".into())),
            Some(Source::Magnet(_)) => "magnet".to_owned(),
            Some(Source::Url(url)) => {
                return Err(BackendError::Http(format!("cannot fetch {url}")));
            }
            Some(Source::File(path)) => path.display().to_string(),
            None => return Err(BackendError::Invalid("no source".into())),
        };
        let mut state = self.lock();
        if let Some(dup) = state.torrents.iter().find(|t| t.name == name) {
            return Ok(Added::Duplicate {
                id: dup.id,
                hash: dup.hash,
                name,
            });
        }
        let id = state.next_id;
        state.next_id += 1;
        let mut v = view(id, &name);
        if let Some(dir) = add.download_dir {
            v.download_dir = dir;
        }
        if add.paused == Some(true) {
            v.status = Status::Stopped;
        }
        v.options.labels = add.labels;
        v.options.category = add.category;
        v.options.sequential = add.sequential.unwrap_or(false);
        v.options.first_last_pieces = add.first_last_pieces.unwrap_or(false);
        if let Some(renamed) = add.name {
            v.name.clone_from(&renamed);
            v.options.name = renamed;
        }
        let added = Added::New {
            id: v.id,
            hash: v.hash,
            name,
        };
        state.torrents.push(v);
        Ok(added)
    }

    async fn torrents(&self, _detail: Detail) -> Vec<TorrentView> {
        self.lock().torrents.clone()
    }

    async fn torrent_ids(&self) -> Vec<Id> {
        self.lock().torrents.iter().map(|t| t.id).collect()
    }

    async fn torrents_of(&self, ids: &[Id], _detail: Detail) -> Vec<TorrentView> {
        let state = self.lock();
        (state.torrents.iter())
            .filter(|t| ids.contains(&t.id))
            .cloned()
            .collect()
    }

    async fn recently_removed(&self) -> Vec<Id> {
        self.lock().removed.clone()
    }

    async fn act(&self, ids: Vec<Id>, action: Action) -> Outcome<()> {
        self.record(format!("act {ids:?} {action:?}"));
        let mut state = self.lock();
        for t in state.torrents.iter_mut().filter(|t| ids.contains(&t.id)) {
            match action {
                Action::Stop => t.status = Status::Stopped,
                Action::Start | Action::StartNow | Action::StartQueued => {
                    t.status = Status::Downloading
                }
                Action::Verify => t.status = Status::CheckWait,
                Action::Reannounce => {}
            }
        }
        Ok(())
    }

    async fn remove(&self, ids: Vec<Id>, delete_data: bool) -> Outcome<()> {
        self.record(format!("remove {ids:?} {delete_data}"));
        let mut state = self.lock();
        state.torrents.retain(|t| !ids.contains(&t.id));
        state.removed.extend(ids);
        Ok(())
    }

    async fn change(&self, ids: Vec<Id>, changes: TorrentChanges) -> Outcome<()> {
        self.record(format!("change {ids:?} {changes:?}"));
        if let Some(name) = changes.name.as_deref().filter(|n| !n.trim().is_empty()) {
            check_name(name)?;
        }
        let mut state = self.lock();
        for t in state.torrents.iter_mut().filter(|t| ids.contains(&t.id)) {
            if let Some(Files::Some(list)) = &changes.files.unwanted {
                for i in list {
                    let Some(file) = t.files.get_mut(*i as usize) else {
                        return Err(BackendError::FileIndex(*i));
                    };
                    file.wanted = false;
                }
            }
            if let Some(labels) = &changes.labels {
                t.options.labels.clone_from(labels);
            }
            for edit in &changes.web_seeds {
                match edit {
                    WebSeedEdit::Add(urls) => {
                        for url in urls {
                            if !t.web_seeds.iter().any(|w| &w.url == url) {
                                t.web_seeds.push(WebSeedView {
                                    url: url.clone(),
                                    download_rate: 0,
                                    downloading: false,
                                });
                            }
                        }
                    }
                    WebSeedEdit::Remove(urls) => t.web_seeds.retain(|w| !urls.contains(&w.url)),
                    WebSeedEdit::Set(urls) => {
                        t.web_seeds = urls
                            .iter()
                            .map(|url| WebSeedView {
                                url: url.clone(),
                                download_rate: 0,
                                downloading: false,
                            })
                            .collect();
                    }
                }
            }
            if let Some(category) = &changes.category {
                t.options.category.clone_from(category);
            }
            if let Some(seq) = changes.sequential {
                t.options.sequential = seq;
            }
            if let Some(on) = changes.first_last_pieces {
                t.options.first_last_pieces = on;
            }
            if let Some(name) = &changes.name {
                t.name.clone_from(name);
                t.options.name.clone_from(name);
            }
            if let Some(limit) = changes.download_limit {
                t.options.download_limit.bytes_per_sec = limit;
            }
            if let Some(on) = changes.download_limited {
                t.options.download_limit.enabled = on;
            }
            if let Some(limit) = changes.upload_limit {
                t.options.upload_limit.bytes_per_sec = limit;
            }
            if let Some(on) = changes.upload_limited {
                t.options.upload_limit.enabled = on;
            }
            if let Some(ratio) = changes.seed_ratio_limit {
                t.options.seed_ratio_limit = ratio;
            }
            if let Some(mode) = changes.seed_ratio_mode {
                t.options.seed_ratio_mode = mode;
            }
            if let Some(Files::Some(list)) = &changes.files.high {
                for i in list {
                    let Some(file) = t.files.get_mut(*i as usize) else {
                        return Err(BackendError::FileIndex(*i));
                    };
                    file.priority = Priority::High;
                }
            }
            if let Some(Files::Some(list)) = &changes.files.wanted {
                for i in list {
                    let Some(file) = t.files.get_mut(*i as usize) else {
                        return Err(BackendError::FileIndex(*i));
                    };
                    file.wanted = true;
                }
            }
        }
        Ok(())
    }

    async fn set_location(&self, ids: Vec<Id>, location: PathBuf, move_data: bool) -> Outcome<()> {
        self.record(format!(
            "set_location {ids:?} {} {move_data}",
            location.display()
        ));
        let mut state = self.lock();
        for t in state.torrents.iter_mut().filter(|t| ids.contains(&t.id)) {
            t.download_dir.clone_from(&location);
        }
        Ok(())
    }

    async fn rename_path(&self, id: Id, from: String, to: String, kind: PathKind) -> Outcome<()> {
        self.record(format!("rename_path {id:?} {from} {to} {kind:?}"));
        let mut state = self.lock();
        let t = state
            .torrents
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| BackendError::Invalid("no such torrent".into()))?;
        let names: Vec<String> = t.files.iter().map(|f| f.name.clone()).collect();
        let renames = crate::daemon::rename::plan(&names, &from, &to, kind)?;
        let mut after = names.clone();
        for (i, path) in &renames {
            after[*i] = path.to_string();
        }
        let mut sorted = after.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != after.len() {
            return Err(BackendError::Invalid(format!("{to} exists already")));
        }
        for (f, name) in t.files.iter_mut().zip(after) {
            f.name = name;
        }
        if kind == PathKind::Either && names.iter().all(|n| n.split('/').next() == Some(&from)) {
            t.name = to;
        }
        Ok(())
    }

    async fn queue_move(&self, ids: Vec<Id>, to: QueueMove) -> Outcome<()> {
        self.record(format!("queue_move {ids:?} {to:?}"));
        Ok(())
    }

    async fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    async fn change_settings(&self, changes: SettingsChanges) -> Outcome<()> {
        self.record(format!("change_settings {changes:?}"));
        let mut state = self.lock();
        if let Some(dir) = changes.download_dir {
            state.settings.download_dir = dir;
        }
        let s = &mut state.settings;
        if let Some(limit) = changes.download_limit {
            s.download_limit.bytes_per_sec = limit;
        }
        s.download_limit.enabled = changes.download_limited.unwrap_or(s.download_limit.enabled);
        s.upload_limit.bytes_per_sec = changes.upload_limit.unwrap_or(s.upload_limit.bytes_per_sec);
        s.upload_limit.enabled = changes.upload_limited.unwrap_or(s.upload_limit.enabled);
        let alt = &mut s.alt_speed;
        alt.down = changes.alt_speed_down.unwrap_or(alt.down);
        alt.up = changes.alt_speed_up.unwrap_or(alt.up);
        alt.enabled = changes.alt_speed_enabled.unwrap_or(alt.enabled);
        alt.time_enabled = changes.alt_speed_time_enabled.unwrap_or(alt.time_enabled);
        alt.time_begin = changes.alt_speed_time_begin.unwrap_or(alt.time_begin);
        alt.time_end = changes.alt_speed_time_end.unwrap_or(alt.time_end);
        alt.time_day = changes.alt_speed_time_day.unwrap_or(alt.time_day);
        if let Some(on) = changes.download_queue_enabled {
            s.download_queue_enabled = on;
        }
        if let Some(on) = changes.seed_queue_enabled {
            s.seed_queue_enabled = on;
        }
        if let Some(act) = changes.seed_limit_action {
            s.seed_limit_action = act;
        }
        Ok(())
    }

    async fn stats(&self) -> Stats {
        let state = self.lock();
        Stats {
            active: 2,
            paused: 0,
            total: u32::try_from(state.torrents.len()).unwrap_or(u32::MAX),
            download_rate: 4000,
            upload_rate: 2000,
            peers_connected: 3,
            dht_nodes: 42,
            current: Totals {
                uploaded: 1,
                downloaded: 2,
                files_added: 3,
                sessions: 1,
                seconds_active: 5,
            },
            cumulative: Totals {
                uploaded: 10,
                downloaded: 20,
                files_added: 30,
                sessions: 4,
                seconds_active: 50,
            },
        }
    }

    async fn free_space(&self, path: &Path) -> Outcome<Space> {
        self.record(format!("free_space {}", path.display()));
        Ok(Space {
            free: 123,
            total: 456,
        })
    }

    async fn port_test(&self) -> bool {
        false
    }

    async fn groups(&self) -> Groups {
        self.lock().groups.clone()
    }

    async fn change_groups(&self, edit: GroupEdit) -> Outcome<()> {
        self.record(format!("change_groups {edit:?}"));
        let mut state = self.lock();
        let State {
            groups, torrents, ..
        } = &mut *state;
        groups.apply(&edit, torrents.iter_mut().map(|t| &mut t.options));
        Ok(())
    }

    /// File 0 of each torrent is [`STREAM_LEN`] bytes, byte `i` being `i % 251`, named
    /// `clip.mkv`, all of it verified.
    async fn open_stream(
        &self,
        hash: Hash,
        index: usize,
        fetch: bool,
    ) -> Result<StreamFile, OpenError> {
        let how = if fetch { "get" } else { "head" };
        self.record(format!("open_stream {} {index} {how}", hash.to_hex()));
        let known = self.lock().torrents.iter().any(|t| t.hash == hash);
        if !known || index != 0 {
            return Err(OpenError::NotFound("no such file".into()));
        }
        Ok(StreamFile {
            name: "clip.mkv".into(),
            length: STREAM_LEN,
            reader: std::sync::Arc::new(Pattern),
        })
    }
}

/// The length of the fake's streamed files.
pub(crate) const STREAM_LEN: u64 = 1_000_000;

/// The fake's streamed bytes.
struct Pattern;

impl super::stream::StreamReader for Pattern {
    fn read(&self, offset: u64, len: usize) -> super::stream::Read<'_> {
        Box::pin(async move {
            Ok((offset..offset + len as u64)
                .map(|i| (i % 251) as u8)
                .collect())
        })
    }
}
