//! `torrents/…`: listing and details, adding, removing, actions, categories and tags,
//! options, files and trackers.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::{Answer, Failure, Form, Qbit, Reply, map, pages};
use crate::daemon::backend::{
    Action, AddTorrent, Added, Backend, BackendError, Detail, FileChanges, Files, GroupEdit, Hash,
    LimitMode, PathKind, QueueMove, Source, TorrentChanges, TorrentView, TrackerEdit, WebSeedEdit,
    check_name,
};

impl<B: Backend> Qbit<B> {
    pub(super) async fn torrents(&self, method: &str, form: &Form) -> Answer {
        match method {
            "info" => self.info(form).await,
            "properties" => {
                let t = self.one(form, detail(|d| d.pieces = true)).await?;
                let ctx = map::Context::of_all(&*self.backend).await;
                Ok(Reply::json(&map::properties(&t, &ctx)))
            }
            "trackers" => Ok(Reply::json(&map::trackers(
                &self.one(form, detail(|d| d.trackers = true)).await?,
            ))),
            "webseeds" => {
                let t = self.one(form, Detail::default()).await?;
                let list: Vec<Value> = t.web_seeds.iter().map(|w| json!({"url": w.url})).collect();
                Ok(Reply::json(&json!(list)))
            }
            "addWebSeeds" => {
                let t = self.one(form, Detail::default()).await?;
                let urls = form.list("urls", '|');
                if let Some(bad) = urls.iter().find(|u| !web_url(u)) {
                    return Err(Failure::BadParams(format!("'{bad}' is not a valid URL")));
                }
                self.change(vec![t.id], |c| c.web_seeds = vec![WebSeedEdit::Add(urls)])
                    .await
            }
            "editWebSeed" => {
                let t = self.one(form, Detail::default()).await?;
                let orig = form.required("origUrl")?.to_owned();
                let new = form.required("newUrl")?.to_owned();
                if !web_url(&new) {
                    return Err(Failure::BadParams(format!("'{new}' is not a valid URL")));
                }
                if !t.web_seeds.iter().any(|w| w.url == orig) {
                    return Err(Failure::Conflict(format!("'{orig}' is not a web seed")));
                }
                if orig != new && t.web_seeds.iter().any(|w| w.url == new) {
                    return Err(Failure::Conflict(format!("'{new}' is already a web seed")));
                }
                self.change(vec![t.id], |c| {
                    c.web_seeds =
                        vec![WebSeedEdit::Remove(vec![orig]), WebSeedEdit::Add(vec![new])];
                })
                .await
            }
            "removeWebSeeds" => {
                let t = self.one(form, Detail::default()).await?;
                let urls = form.list("urls", '|');
                if let Some(bad) = urls.iter().find(|u| !web_url(u)) {
                    return Err(Failure::BadParams(format!("'{bad}' is not a valid URL")));
                }
                self.change(vec![t.id], |c| {
                    c.web_seeds = vec![WebSeedEdit::Remove(urls)]
                })
                .await
            }
            "files" => Ok(Reply::json(&map::files(
                &self
                    .one(form, detail(|d| (d.files, d.availability) = (true, true)))
                    .await?,
            ))),
            "pieceStates" => Ok(Reply::json(&map::piece_states(
                &self.one(form, detail(|d| d.pieces = true)).await?,
            ))),
            "pieceHashes" => {
                let t = self.one(form, detail(|d| d.piece_hashes = true)).await?;
                let hashes: Vec<String> =
                    t.piece_hashes.iter().map(|h| Hash(*h).to_hex()).collect();
                Ok(Reply::json(&json!(hashes)))
            }
            "add" => self.add(form).await,
            "delete" => {
                let ids = self.ids(form).await?;
                let delete = form.bool("deleteFiles")?.unwrap_or(false);
                self.backend.remove(ids, delete).await?;
                Ok(Reply::ok())
            }
            "pause" | "stop" => self.act(form, Action::Stop).await,
            "resume" | "start" => self.act(form, Action::Start).await,
            "recheck" => self.act(form, Action::Verify).await,
            "reannounce" => self.act(form, Action::Reannounce).await,
            "setForceStart" => {
                let action = if form.bool("value")?.unwrap_or(false) {
                    Action::StartNow
                } else {
                    Action::StartQueued
                };
                self.act(form, action).await
            }
            "topPrio" => self.queue(form, QueueMove::Top).await,
            "bottomPrio" => self.queue(form, QueueMove::Bottom).await,
            "increasePrio" => self.queue(form, QueueMove::Up).await,
            "decreasePrio" => self.queue(form, QueueMove::Down).await,
            "categories" => {
                let groups = self.backend.groups().await;
                let mut out = serde_json::Map::new();
                for (name, path) in groups.categories {
                    out.insert(
                        name.clone(),
                        json!({"name": name, "savePath": path.display().to_string()}),
                    );
                }
                Ok(Reply::json(&Value::Object(out)))
            }
            "createCategory" | "editCategory" => self.set_category(method, form).await,
            "removeCategories" => {
                let names = form.list("categories", '\n');
                self.backend
                    .change_groups(GroupEdit::RemoveCategories(names))
                    .await?;
                Ok(Reply::ok())
            }
            "setCategory" => {
                let category = form.required("category")?.to_owned();
                if !category.is_empty()
                    && !self
                        .backend
                        .groups()
                        .await
                        .categories
                        .contains_key(&category)
                {
                    return Err(Failure::Conflict("Incorrect category name".into()));
                }
                let ids = self.ids(form).await?;
                self.change(ids, |c| c.category = Some(category)).await
            }
            "tags" => {
                let mut tags = self.backend.groups().await.tags;
                for t in self.backend.torrents(Detail::default()).await {
                    tags.extend(t.options.labels);
                }
                Ok(Reply::json(&json!(tags)))
            }
            "createTags" => {
                let tags = form.list("tags", ',');
                self.backend.change_groups(GroupEdit::AddTags(tags)).await?;
                Ok(Reply::ok())
            }
            "deleteTags" => {
                let tags = form.list("tags", ',');
                self.backend
                    .change_groups(GroupEdit::RemoveTags(tags))
                    .await?;
                Ok(Reply::ok())
            }
            "addTags" | "removeTags" | "setTags" => self.edit_tags(method, form).await,
            "setLocation" => {
                let location = self.check_dir(form.required("location")?)?;
                let ids = self.ids(form).await?;
                self.backend.set_location(ids, location, true).await?;
                Ok(Reply::ok())
            }
            // qBittorrent names the torrents by `id` here, and moves the data to the new save
            // path (as `setLocation` does); `hashes` is read too.
            "setSavePath" => {
                let location = self.check_dir(form.required("path")?)?;
                let ids = match form.get("id") {
                    Some(list) => self
                        .select_hashes(list)
                        .await
                        .iter()
                        .map(|t| t.id)
                        .collect(),
                    None => self.ids(form).await?,
                };
                self.backend.set_location(ids, location, true).await?;
                Ok(Reply::ok())
            }
            "rename" => {
                let t = self.one(form, Detail::default()).await?;
                // qBittorrent turns line breaks into spaces.
                let name = form.required("name")?.trim().replace("\r\n", " ");
                let name = name.replace(['\r', '\n'], " ");
                if name.trim().is_empty() {
                    return Err(Failure::Conflict("Incorrect torrent name".into()));
                }
                self.change(vec![t.id], |c| c.name = Some(name)).await
            }
            // qBittorrent answers 409 with the reason to a rename it cannot make.
            "renameFile" | "renameFolder" => {
                let from = form.required("oldPath")?.to_owned();
                let to = form.required("newPath")?.to_owned();
                let t = self.one(form, Detail::default()).await?;
                let kind = if method == "renameFile" {
                    PathKind::File
                } else {
                    PathKind::Folder
                };
                match self.backend.rename_path(t.id, from, to, kind).await {
                    Ok(()) => Ok(Reply::ok()),
                    Err(e @ (BackendError::Unsupported(_) | BackendError::System(_))) => {
                        Err(e.into())
                    }
                    Err(e) => Err(Failure::Conflict(e.to_string())),
                }
            }
            "setShareLimits" => {
                let ratio = form.f64("ratioLimit")?.unwrap_or(-2.0);
                let seeding = form.i64("seedingTimeLimit")?.unwrap_or(-2);
                let inactive = form.i64("inactiveSeedingTimeLimit")?.unwrap_or(-2);
                let ids = self.ids(form).await?;
                self.change(ids, |c| {
                    share_limits(c, Some(ratio), Some(seeding), Some(inactive));
                })
                .await
            }
            "filePrio" => self.file_prio(form).await,
            "setDownloadLimit" | "setUploadLimit" => {
                let limit = form.i64("limit")?.unwrap_or(0);
                let ids = self.ids(form).await?;
                let download = method == "setDownloadLimit";
                self.change(ids, |c| rate_limit(c, download, limit)).await
            }
            "downloadLimit" | "uploadLimit" => {
                let download = method == "downloadLimit";
                let mut out = serde_json::Map::new();
                for t in self.select(form).await? {
                    let l = if download {
                        t.options.download_limit
                    } else {
                        t.options.upload_limit
                    };
                    let v = if l.enabled { l.bytes_per_sec } else { 0 };
                    out.insert(t.hash.to_hex(), json!(v));
                }
                Ok(Reply::json(&Value::Object(out)))
            }
            "toggleSequentialDownload" => {
                for t in self.select(form).await? {
                    let seq = !t.options.sequential;
                    self.change(vec![t.id], |c| c.sequential = Some(seq))
                        .await?;
                }
                Ok(Reply::ok())
            }
            "toggleFirstLastPiecePrio" => {
                for t in self.select(form).await? {
                    let on = !t.options.first_last_pieces;
                    self.change(vec![t.id], |c| c.first_last_pieces = Some(on))
                        .await?;
                }
                Ok(Reply::ok())
            }
            "setFirstLastPiecePrio" => {
                let value = form.bool("value")?.unwrap_or(false);
                let ids = self.ids(form).await?;
                self.change(ids, |c| c.first_last_pieces = Some(value))
                    .await
            }
            "setSequentialDownload" => {
                let value = form.bool("value")?.unwrap_or(false);
                let ids = self.ids(form).await?;
                self.change(ids, |c| c.sequential = Some(value)).await
            }
            "addTrackers" => {
                let t = self.one(form, Detail::default()).await?;
                let urls = form.list("urls", '\n');
                self.change(vec![t.id], |c| c.trackers = vec![TrackerEdit::Add(urls)])
                    .await
            }
            "editTracker" => {
                let t = self.one(form, detail(|d| d.trackers = true)).await?;
                let orig = form.required("origUrl")?;
                let new = form.required("newUrl")?.to_owned();
                let Some(tr) = t.trackers.iter().find(|tr| tr.announce == orig) else {
                    return Err(Failure::Conflict("origUrl not found".into()));
                };
                let id = tr.id;
                self.change(vec![t.id], |c| {
                    c.trackers = vec![TrackerEdit::Replace(vec![(id, new)])];
                })
                .await
            }
            "removeTrackers" => {
                let t = self.one(form, detail(|d| d.trackers = true)).await?;
                let urls = form.list("urls", '|');
                let ids: Vec<u32> = t
                    .trackers
                    .iter()
                    .filter(|tr| urls.contains(&tr.announce))
                    .map(|tr| tr.id)
                    .collect();
                if ids.is_empty() {
                    return Err(Failure::Conflict("No trackers were removed".into()));
                }
                self.change(vec![t.id], |c| c.trackers = vec![TrackerEdit::Remove(ids)])
                    .await
            }
            "count" => Ok(Reply::text(
                200,
                &self
                    .backend
                    .torrents(Detail::default())
                    .await
                    .len()
                    .to_string(),
            )),
            _ => Err(Failure::NotFound("Not Found".into())),
        }
    }

    /// `torrents/info`: the torrents are viewed a page at a time, once to filter them and
    /// find the queue places, once more for the sort key if there is one, and once to write
    /// the rows of the window asked for.
    async fn info(&self, form: &Form) -> Answer {
        let filter = form.get("filter").unwrap_or("all");
        let category = form.get("category");
        let tag = form.get("tag");
        let hashes: Option<Vec<&str>> = form.get("hashes").map(|h| h.split('|').collect());
        let sort = form.get("sort");
        let reverse = match sort {
            Some(_) => form.bool("reverse")?.unwrap_or(false),
            None => false,
        };
        let offset = form.i64("offset")?.unwrap_or(0);
        let limit = form.i64("limit")?.filter(|l| *l > 0);
        let wanted = |t: &TorrentView| {
            map::filter_matches(filter, t)
                && category.is_none_or(|c| t.options.category == c)
                && tag.is_none_or(|tag| {
                    if tag.is_empty() {
                        t.options.labels.is_empty()
                    } else {
                        t.options.labels.iter().any(|l| l == tag)
                    }
                })
                && hashes.as_ref().is_none_or(|wanted| {
                    let hex = t.hash.to_hex();
                    wanted.iter().any(|h| h.eq_ignore_ascii_case(&hex))
                })
        };
        let backend = &*self.backend;
        let ids = backend.torrent_ids().await;
        let mut places = map::Places::default();
        let mut chosen = Vec::new();
        pages::each_view(backend, &ids, Detail::default(), |t| {
            places.see(&t);
            if wanted(&t) {
                chosen.push(t.id);
            }
        })
        .await;
        let ctx = map::Context::with_places(places, &backend.settings().await);
        if let Some(key) = sort {
            let mut keyed = Vec::with_capacity(chosen.len());
            pages::each_view(backend, &chosen, map::INFO_DETAIL, |t| {
                keyed.push((map::info(&t, &ctx)[key].clone(), t.id));
            })
            .await;
            keyed.sort_by(|a, b| compare(&a.0, &b.0));
            if reverse {
                keyed.reverse();
            }
            chosen = keyed.into_iter().map(|(_, id)| id).collect();
        }
        let len = i64::try_from(chosen.len()).unwrap_or(i64::MAX);
        let start = if offset < 0 {
            (len + offset).max(0)
        } else {
            offset.min(len)
        };
        let mut window = &chosen[usize::try_from(start).unwrap_or(0)..];
        if let Some(limit) = limit {
            window =
                &window[..usize::try_from(limit).map_or(window.len(), |l| l.min(window.len()))];
        }
        let mut body = b"[".to_vec();
        pages::each_view(backend, window, map::INFO_DETAIL, |t| {
            if body.len() > 1 {
                body.push(b',');
            }
            // Writing a `Value` into a `Vec` cannot fail (its keys are strings).
            let _ = serde_json::to_writer(&mut body, &map::info(&t, &ctx));
        })
        .await;
        body.push(b']');
        Ok(Reply::json_bytes(body))
    }

    async fn add(&self, form: &Form) -> Answer {
        let mut sources: Vec<Source> = form
            .files
            .iter()
            .map(|b| Source::Metainfo(b.to_vec()))
            .collect();
        for url in form.list("urls", '\n') {
            let lower = url.to_ascii_lowercase();
            if lower.starts_with("magnet:") {
                sources.push(Source::Magnet(url));
            } else if lower.starts_with("http://") || lower.starts_with("https://") {
                sources.push(Source::Url(url));
            } else if url.len() == 40 || url.len() == 32 {
                sources.push(Source::Magnet(format!("magnet:?xt=urn:btih:{url}")));
            } else {
                return Err(Failure::BadParams(format!(
                    "urls: not a URL or magnet: {url}"
                )));
            }
        }
        if sources.is_empty() {
            return Err(Failure::BadParams(
                "Missing parameter: urls or torrents".into(),
            ));
        }
        let category = form.get("category").unwrap_or("").to_owned();
        let groups = self.backend.groups().await;
        let mut download_dir = match form.get("savepath").filter(|p| !p.is_empty()) {
            Some(p) => Some(self.check_dir(p)?),
            None => None,
        };
        if !category.is_empty() {
            match groups.categories.get(&category) {
                // qBittorrent creates a category named at add time.
                None => {
                    self.backend
                        .change_groups(GroupEdit::SetCategory(category.clone(), Default::default()))
                        .await?;
                }
                Some(path) if download_dir.is_none() && !path.as_os_str().is_empty() => {
                    download_dir = Some(self.check_dir(&path.display().to_string())?);
                }
                Some(_) => {}
            }
        }
        let paused = match (form.bool("stopped")?, form.bool("paused")?) {
            (Some(v), _) | (None, Some(v)) => Some(v),
            (None, None) => None,
        };
        let labels = form.list("tags", ',');
        // qBittorrent's stop conditions: a magnet runs until its metadata is here (its files
        // checked, which for a new magnet is the same moment), then stops; a .torrent is
        // added stopped.
        let stop_on_metadata = matches!(
            form.get("stopCondition"),
            Some("MetadataReceived" | "FilesChecked")
        );
        let rename = match form.get("rename").filter(|n| !n.trim().is_empty()) {
            Some(name) => Some(
                check_name(name)
                    .map_err(|e| Failure::BadParams(format!("rename: {e}")))?
                    .to_owned(),
            ),
            None => None,
        };
        // Limits given with the add apply to each torrent added. `skip_checking` is read and
        // not followed: data already there is always checked, as only verified pieces are
        // trusted (the check of complete data takes a moment; nothing is downloaded again).
        let _ = form.bool("skip_checking")?;
        let mut limits = TorrentChanges::default();
        if let Some(l) = form.i64("dlLimit")? {
            rate_limit(&mut limits, true, l);
        }
        if let Some(l) = form.i64("upLimit")? {
            rate_limit(&mut limits, false, l);
        }
        share_limits(
            &mut limits,
            form.f64("ratioLimit")?,
            form.i64("seedingTimeLimit")?,
            form.i64("inactiveSeedingTimeLimit")?,
        );
        let mut added = 0;
        let mut last_error = None;
        for source in sources {
            let add = AddTorrent {
                source: Some(source),
                download_dir: download_dir.clone(),
                paused,
                labels: labels.clone(),
                category: category.clone(),
                sequential: form.bool("sequentialDownload")?,
                first_last_pieces: form.bool("firstLastPiecePrio")?,
                name: rename.clone(),
                stop_on_metadata,
                ..AddTorrent::default()
            };
            match self.backend.add(add).await {
                Ok(Added::New { id, .. }) if limits != TorrentChanges::default() => {
                    match self.backend.change(vec![id], limits.clone()).await {
                        Ok(()) => added += 1,
                        Err(e) => last_error = Some(e),
                    }
                }
                Ok(_) => added += 1,
                Err(e) => last_error = Some(e),
            }
        }
        match (added, last_error) {
            (0, Some(e)) => {
                tracing::info!("qBittorrent API add failed: {e}");
                Err(Failure::BadData("Fails.".into()))
            }
            _ => Ok(Reply::text(200, "Ok.")),
        }
    }

    async fn act(&self, form: &Form, action: Action) -> Answer {
        let ids = self.ids(form).await?;
        self.backend.act(ids, action).await?;
        Ok(Reply::ok())
    }

    async fn queue(&self, form: &Form, to: QueueMove) -> Answer {
        let s = self.backend.settings().await;
        if !(s.download_queue_enabled || s.seed_queue_enabled) {
            return Err(Failure::Conflict("Torrent queueing must be enabled".into()));
        }
        let ids = self.ids(form).await?;
        self.backend.queue_move(ids, to).await?;
        Ok(Reply::ok())
    }

    async fn change(
        &self,
        ids: Vec<crate::daemon::backend::Id>,
        edit: impl FnOnce(&mut TorrentChanges),
    ) -> Answer {
        let mut changes = TorrentChanges::default();
        edit(&mut changes);
        self.backend.change(ids, changes).await?;
        Ok(Reply::ok())
    }

    async fn set_category(&self, method: &str, form: &Form) -> Answer {
        let name = form.required("category")?.trim().to_owned();
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(Failure::BadParams("Invalid category name".into()));
        }
        let path = match form.get("savePath").filter(|p| !p.is_empty()) {
            Some(p) => self.check_dir(p)?,
            None => Default::default(),
        };
        let exists = self.backend.groups().await.categories.contains_key(&name);
        if method == "createCategory" && exists {
            return Err(Failure::Conflict("Unable to create category".into()));
        }
        if method == "editCategory" && !exists {
            return Err(Failure::Conflict("Unable to edit category".into()));
        }
        self.backend
            .change_groups(GroupEdit::SetCategory(name, path))
            .await?;
        Ok(Reply::ok())
    }

    async fn edit_tags(&self, method: &str, form: &Form) -> Answer {
        let tags = form.list("tags", ',');
        let torrents = self.select(form).await?;
        if method != "removeTags" {
            self.backend
                .change_groups(GroupEdit::AddTags(tags.clone()))
                .await?;
        }
        for t in torrents {
            let mut labels = t.options.labels.clone();
            match method {
                "addTags" => {
                    for tag in &tags {
                        if !labels.contains(tag) {
                            labels.push(tag.clone());
                        }
                    }
                }
                "setTags" => labels.clone_from(&tags),
                _ if tags.is_empty() => labels.clear(),
                _ => labels.retain(|l| !tags.contains(l)),
            }
            if labels != t.options.labels {
                self.change(vec![t.id], |c| c.labels = Some(labels)).await?;
            }
        }
        Ok(Reply::ok())
    }

    async fn file_prio(&self, form: &Form) -> Answer {
        let t = self.one(form, detail(|d| d.files = true)).await?;
        let priority = form
            .i64("priority")?
            .ok_or_else(|| Failure::BadParams("Missing parameter: priority".into()))?;
        let mut indices = Vec::new();
        for id in form.required("id")?.split('|') {
            let i: u32 = id
                .trim()
                .parse()
                .map_err(|_| Failure::BadParams(format!("id: not a file index: {id}")))?;
            if i as usize >= t.files.len() {
                return Err(Failure::Conflict(format!("File index out of range: {i}")));
            }
            indices.push(i);
        }
        let some = || Some(Files::Some(indices.clone()));
        let files = match priority {
            0 => FileChanges {
                unwanted: some(),
                ..FileChanges::default()
            },
            1 => FileChanges {
                wanted: some(),
                normal: some(),
                ..FileChanges::default()
            },
            6 | 7 => FileChanges {
                wanted: some(),
                high: some(),
                ..FileChanges::default()
            },
            _ => return Err(Failure::BadParams(format!("Invalid priority: {priority}"))),
        };
        self.change(vec![t.id], |c| c.files = files).await
    }
}

/// A [`Detail`] with some parts asked for.
fn detail(set: impl FnOnce(&mut Detail)) -> Detail {
    let mut d = Detail::default();
    set(&mut d);
    d
}

/// Orders JSON values of one field: numbers by value, strings by text, booleans false first.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Whether `url` is an `http` or `https` URL (qBittorrent refuses others with 400).
fn web_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && !url.trim().contains(' ')
}

/// qBittorrent's rate limit in bytes per second (0 or less: none) as a change.
fn rate_limit(c: &mut TorrentChanges, download: bool, limit: i64) {
    let rate = u64::try_from(limit.max(0)).unwrap_or(0);
    if download {
        c.download_limit = Some(rate);
        c.download_limited = Some(rate > 0);
    } else {
        c.upload_limit = Some(rate);
        c.upload_limited = Some(rate > 0);
    }
}

/// qBittorrent's share limits as changes: a ratio, minutes of seeding, minutes inactive; -2
/// the session's limit, any other negative none (`None`: unchanged).
fn share_limits(
    c: &mut TorrentChanges,
    ratio: Option<f64>,
    seeding: Option<i64>,
    inactive: Option<i64>,
) {
    if let Some(ratio) = ratio {
        (c.seed_ratio_mode, c.seed_ratio_limit) = if ratio == -2.0 {
            (Some(LimitMode::Global), None)
        } else if ratio < 0.0 {
            (Some(LimitMode::Unlimited), None)
        } else {
            (Some(LimitMode::Single), Some(ratio))
        };
    }
    let minutes = |m: i64| match m {
        -2 => (Some(LimitMode::Global), None),
        m if m < 0 => (Some(LimitMode::Unlimited), None),
        m => (
            Some(LimitMode::Single),
            Some(u32::try_from(m).unwrap_or(u32::MAX)),
        ),
    };
    if let Some(m) = seeding {
        (c.seed_time_mode, c.seed_time_limit) = minutes(m);
    }
    if let Some(m) = inactive {
        (c.seed_idle_mode, c.seed_idle_limit) = minutes(m);
    }
}
