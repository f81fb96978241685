//! Adding a torrent to the client in two halves: [`ClientBackend::prepare`] works out
//! everything before the client sees it (the metainfo parsed, the daemon's and the core's
//! options), [`ClientBackend::commit`] lists it once the client has it. `add_as` does both
//! around one add; a restore prepares many and adds them in batches (`client_restore.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use sanstorrent_core::fetch::Fetched;
use sanstorrent_core::id::InfoHash;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
use sanstorrent_core::session::{TorrentOptions as CoreOptions, TorrentSource};
use sanstorrent_runtime_common::{ClientError, NewTorrent, Runtime, TorrentHandle};

use super::super::backend::*;
use super::super::rpc::unix_now;
use super::super::store::SavedLive;
use super::super::totals::{Seen, TorrentTotals};
use super::{ClientBackend, Entry, live, queueing, unsupported};

/// A .torrent's bytes parsed already (or why they do not parse).
pub(super) type Parsed = Result<Arc<Metainfo>, String>;

/// A torrent worked out and ready for the client (see [`ClientBackend::prepare`]).
pub(super) struct Prepared {
    dir: PathBuf,
    info_hash: InfoHash,
    name: String,
    meta: Option<Arc<Metainfo>>,
    raw: Option<Vec<u8>>,
    magnet_link: String,
    paused: bool,
    queued: bool,
    options: TorrentOptions,
    files: Vec<live::FileState>,
    trackers: Option<Vec<Vec<String>>>,
    web_seeds: Option<Vec<String>>,
}

impl Prepared {
    /// The files' paths the client uses, kept only when some differ from the metainfo's.
    pub(super) fn renamed(&self, paths: Option<Vec<RelativePath>>) -> Option<Arc<[RelativePath]>> {
        match (paths, self.meta.as_deref()) {
            (Some(paths), Some(m)) if paths.iter().zip(m.files()).any(|(p, f)| *p != f.path) => {
                Some(Arc::from(paths))
            }
            _ => None,
        }
    }
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
    pub(super) async fn add_as(
        &self,
        mut add: AddTorrent,
        added: u64,
        persist: bool,
        saved: &SavedLive,
    ) -> Outcome<Added> {
        if let Some(Source::Url(url)) = &add.source {
            add.source = Some(self.fetch(url).await?);
        }
        let (new, prepared) = match self.prepare(add, saved, persist)? {
            Ok(prepared) => prepared,
            Err(duplicate) => return Ok(duplicate),
        };
        if let (Some(store), Some(raw), true) = (&self.store, &prepared.raw, persist) {
            store
                .save_metainfo(&prepared.info_hash.to_hex(), raw)
                .map_err(|e| BackendError::System(format!("cannot save the .torrent: {e}")))?;
        }
        let client = self.client()?;
        let handle = client
            .add_torrent(new.source, new.dir, new.options)
            .await
            .map_err(added_error)?;
        if let Some(urls) = &prepared.web_seeds {
            live::restore_web_seeds(&client, handle.id, urls).await?;
        }
        // Files renamed before (the client's saved file map), if any.
        let paths = prepared.renamed(client.file_paths(handle.id).await.ok().flatten());
        let (hash, name) = (Hash(prepared.info_hash.0), prepared.name.clone());
        let id = self.commit(prepared, handle, paths, added, persist);
        if persist && let Err(e) = self.enforce().await {
            tracing::warn!("applying the queue: {e}");
        }
        Ok(Added::New { id, hash, name })
    }

    /// Works out a torrent to add (its source fetched already): the metainfo parsed, its
    /// options; what the client adds and what the list keeps. `Ok(Err(..))`: a torrent with this info-hash is listed (`check_duplicate`: a
    /// restore leaves its own duplicates out before, since a scan per torrent would make
    /// restoring N torrents cost N²).
    pub(super) fn prepare(
        &self,
        add: AddTorrent,
        saved: &SavedLive,
        check_duplicate: bool,
    ) -> Outcome<Result<(NewTorrent, Prepared), Added>> {
        self.prepare_parsed(add, None, saved, check_duplicate)
    }

    /// [`ClientBackend::prepare`] with the metainfo of `add`'s .torrent bytes parsed already
    /// (`parsed`: `Some` for a restore, which parses apart; the error as its text).
    pub(super) fn prepare_parsed(
        &self,
        add: AddTorrent,
        parsed: Option<Parsed>,
        saved: &SavedLive,
        check_duplicate: bool,
    ) -> Outcome<Result<(NewTorrent, Prepared), Added>> {
        // A .torrent file or its content: both become the content.
        let (metainfo, other) = match add.source {
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
                let meta = match parsed {
                    Some(meta) => meta,
                    None => Metainfo::from_bytes(&bytes)
                        .map(Arc::new)
                        .map_err(|e| e.to_string()),
                }
                .map_err(BackendError::Corrupt)?;
                (
                    TorrentSource::Metainfo(Arc::clone(&meta)),
                    Some(meta),
                    Some(bytes),
                )
            }
            (None, Some(Source::Magnet(uri))) => {
                let link = MagnetLink::parse(&uri)
                    .map_err(|e| BackendError::Invalid(format!("bad magnet link: {e}")))?;
                (TorrentSource::Magnet(link), None, None)
            }
            (None, _) => return Err(BackendError::Invalid("no torrent given".into())),
        };
        if !add.files.is_empty() && meta.is_none() {
            return unsupported(
                "choosing files of a magnet link before its metadata (add it with \
                 choose_files, then choose)",
            );
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
            TorrentSource::Metainfo(m) => MagnetLink::of_hashes(m.info_hashes()).to_uri(),
            TorrentSource::Magnet(link) => link.to_uri(),
        };
        if check_duplicate
            && let Some(dup) = self
                .lock()
                .torrents
                .iter()
                .find(|t| t.handle.info_hash == info_hash)
        {
            return Ok(Err(Added::Duplicate {
                id: dup.id,
                hash: Hash(info_hash.0),
                name,
            }));
        }
        let dir = add
            .download_dir
            .unwrap_or_else(|| self.lock().settings.download_dir.clone());
        // A .torrent meets qBittorrent's stop condition at once.
        let stop_now = add.stop_on_metadata && meta.is_some();
        let (paused, queued, s) = {
            let state = self.lock();
            let s = state.settings.clone();
            let paused = stop_now || add.paused.unwrap_or(!s.start_added_torrents);
            // With a queue, the queue starts it (see `enforce`).
            (paused, queueing::limits(&s).any(), s)
        };
        let mut options = TorrentOptions {
            peer_limit: add.peer_limit.unwrap_or(s.peer_limit_per_torrent),
            seed_ratio_limit: s.seed_ratio_limit,
            seed_idle_limit: s.idle_seeding_limit,
            seed_time_limit: s.seeding_time_limit,
            honors_session_limits: true,
            sequential: add.sequential.unwrap_or(false),
            first_last_pieces: add.first_last_pieces.unwrap_or(false),
            name: add.name.map(|n| n.trim().to_owned()).unwrap_or_default(),
            labels: add.labels,
            category: add.category,
            choose_files: (add.choose_files || add.stop_on_metadata) && !stop_now,
            stop_on_metadata: add.stop_on_metadata && !stop_now,
            ..TorrentOptions::default()
        };
        let mut files = meta.as_deref().map_or_else(Vec::new, live::initial_files);
        live::restore_live(saved, &mut files, &mut options);
        live::apply_files(&mut files, &add.files)?;
        if options.choose_files {
            live::skip_all(&mut files);
        }
        let core = CoreOptions {
            choose_files: options.choose_files,
            sequential: options.sequential,
            first_last_pieces: options.first_last_pieces,
            file_priorities: meta
                .as_deref()
                .map_or_else(Vec::new, |m| live::core_priorities(m, &files)),
            limits: live::core_limits(&options),
            trackers: saved.trackers.clone(),
            stopped: paused || queued,
            ..CoreOptions::default()
        };
        let new = NewTorrent {
            source,
            dir: dir.clone(),
            options: core,
        };
        Ok(Ok((
            new,
            Prepared {
                dir,
                info_hash,
                name,
                meta,
                raw,
                magnet_link,
                paused,
                queued,
                options,
                files,
                trackers: saved.trackers.clone(),
                web_seeds: saved.web_seeds.clone(),
            },
        )))
    }

    /// Lists a torrent the client added (`handle`; `paths`: its files' paths when some were
    /// renamed) with its added date; `persist`: save the list after. Its id.
    pub(super) fn commit(
        &self,
        prepared: Prepared,
        handle: TorrentHandle,
        paths: Option<Arc<[RelativePath]>>,
        added: u64,
        persist: bool,
    ) -> Id {
        let Prepared {
            name,
            dir,
            meta,
            magnet_link,
            paused,
            queued,
            options,
            files,
            trackers,
            web_seeds,
            ..
        } = prepared;
        let mut state = self.lock();
        // Torrents mostly share a few directories: one allocation for a run of them.
        let dir: Arc<std::path::Path> = match state.torrents.last() {
            Some(t) if *t.dir == *dir => Arc::clone(&t.dir),
            _ => Arc::from(dir.as_path()),
        };
        // Their options too, mostly the settings' defaults.
        let options = super::shared_options(state.torrents.last(), options);
        let id = Id(state.next_id);
        state.next_id += 1;
        state.added_this_run += u64::from(persist);
        let running = !(paused || queued);
        // A restore sets the saved position afterwards.
        let position = match persist {
            true => state.torrents.iter().map(|t| t.position + 1).max(),
            false => u32::try_from(state.torrents.len()).ok(),
        };
        // What the lists show; the whole metainfo is the client's (and the store's).
        let summary = meta.as_deref().map(super::metas::Summary::of);
        let magnet = summary.is_none().then(|| magnet_link.into_boxed_str());
        state.torrents.push(Entry {
            running,
            position: position.unwrap_or(0),
            complete: false,
            forced: false,
            finished: None,
            started_at: if running { unix_now() } else { 0 },
            id,
            handle,
            name: name.into(),
            dir,
            meta: summary,
            added,
            totals: TorrentTotals::default(),
            seen: Seen::default(),
            stopped: paused,
            options,
            files: files.into(),
            moving: false,
            rare: (magnet.is_some()
                || trackers.is_some()
                || web_seeds.is_some()
                || paths.is_some())
            .then(|| {
                Box::new(super::Rare {
                    magnet_link: magnet,
                    trackers,
                    web_seeds,
                    paths,
                    ..super::Rare::default()
                })
            }),
        });
        if persist {
            self.persist(&state);
        }
        id
    }
}

/// What a refused add tells the user.
pub(super) fn added_error(e: ClientError) -> BackendError {
    match e {
        ClientError::Add(e) => BackendError::Invalid(e.to_string()),
        other => BackendError::System(other.to_string()),
    }
}
