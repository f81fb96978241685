//! The restore at start: the saved list added to the client again (resume data spares a
//! recheck) in batches of [`BATCH`] torrents, one round trip with the client's loop per
//! batch (`Client::add_torrents`), so 100,000 torrents cost hundreds of round trips, not
//! hundreds of thousands.

use std::collections::HashSet;

use sanstorrent_runtime_common::{BatchAdded, ClientError, NewTorrent, Runtime};

use super::super::backend::*;
use super::super::store::{Saved, Store};
use super::add::{Prepared, added_error};
use super::{ClientBackend, live, queueing};

/// Torrents added to the client per round trip.
const BATCH: usize = 256;

/// A saved torrent worked out, waiting for its batch.
type Pending = (NewTorrent, Prepared, u32, Saved);

impl<R: Runtime> ClientBackend<R> {
    /// Adds the torrents of the saved list again, in their saved order, stopping those saved
    /// as stopped; how many were restored.
    pub(crate) async fn restore(&self) -> Result<usize, String> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let saved = store
            .load()
            .map_err(|e| format!("the saved torrent list: {e}"))?;
        {
            let mut state = self.lock();
            state.groups = store
                .load_groups()
                .map_err(|e| format!("the saved categories and tags: {e}"))?;
            // The list's room once (a list grown by doubling keeps up to twice its entries).
            state.torrents.reserve_exact(saved.len());
        }
        let mut restored = 0;
        let mut seen = HashSet::new();
        let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
        for (place, t) in (0u32..).zip(saved) {
            if !seen.insert(t.hash.to_ascii_lowercase()) {
                continue;
            }
            let Some(add) = saved_add(store, &t) else {
                continue;
            };
            match self.prepare(add, &t.live, false) {
                Ok(Ok((new, prepared))) => batch.push((new, prepared, place, t)),
                Ok(Err(_)) => {}
                Err(e) => tracing::error!("saved torrent {}: {e}", t.hash),
            }
            if batch.len() >= BATCH {
                match self.add_saved(std::mem::take(&mut batch)).await {
                    Ok(n) => restored += n,
                    Err(e) => {
                        tracing::error!("restoring the saved torrents: {e}");
                        return Ok(restored);
                    }
                }
            }
        }
        match self.add_saved(batch).await {
            Ok(n) => restored += n,
            Err(e) => tracing::error!("restoring the saved torrents: {e}"),
        }
        {
            let mut state = self.lock();
            queueing::renumber(&mut state.torrents, &[], crate::daemon::queue::Move::Top);
            self.persist(&state);
        }
        if let Err(e) = self.enforce().await {
            tracing::warn!("applying the queue: {e}");
        }
        Ok(restored)
    }

    /// Adds a batch of saved torrents to the client and lists those it took; how many.
    async fn add_saved(&self, batch: Vec<Pending>) -> Outcome<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        let client = self.client()?;
        let (news, rest): (Vec<NewTorrent>, Vec<_>) = batch
            .into_iter()
            .map(|(new, prepared, place, t)| (new, (prepared, place, t)))
            .unzip();
        let answers = client
            .add_torrents(news)
            .await
            .map_err(|e| BackendError::System(e.to_string()))?;
        let mut restored = 0;
        for ((prepared, place, t), answer) in rest.into_iter().zip(answers) {
            let added: BatchAdded = match answer {
                Ok(added) => added,
                Err(e @ ClientError::Add(_)) => {
                    tracing::error!("saved torrent {}: {}", t.hash, added_error(e));
                    continue;
                }
                Err(e) => return Err(added_error(e)),
            };
            if let Some(urls) = &t.live.web_seeds
                && let Err(e) = live::restore_web_seeds(&client, added.handle.id, urls).await
            {
                tracing::error!("saved torrent {}: its web seeds: {e}", t.hash);
            }
            let paths = prepared.renamed(added.renamed);
            let id = self.commit(prepared, added.handle, paths, t.added_date, false);
            restored += 1;
            let mut state = self.lock();
            // The one just listed: last in the list.
            if let Some(entry) = state.torrents.iter_mut().rev().find(|e| e.id == id) {
                entry.totals = t.totals;
                entry.position = t.queue_position.unwrap_or(place);
                entry.forced = t.forced;
                entry.finished = t.finished;
                if let Some(error) = &t.error {
                    entry.set_rare(|r| r.disk_error = Some(error.clone()));
                }
            }
        }
        Ok(restored)
    }
}

/// What adds saved torrent `t` again (`None`: its .torrent is unreadable, logged).
fn saved_add(store: &Store, t: &Saved) -> Option<AddTorrent> {
    let source = match &t.magnet {
        // A magnet whose metadata was saved before the list said so.
        Some(uri) => store
            .metainfo(&t.hash)
            .map_or_else(|_| Source::Magnet(uri.clone()), Source::Metainfo),
        None => match store.metainfo(&t.hash) {
            Ok(bytes) => Source::Metainfo(bytes),
            Err(e) => {
                tracing::error!("saved torrent {}: its .torrent is unreadable: {e}", t.hash);
                return None;
            }
        },
    };
    Some(AddTorrent {
        source: Some(source),
        download_dir: Some(t.download_dir.clone()),
        paused: Some(t.paused),
        labels: t.labels.clone(),
        category: t.category.clone(),
        sequential: Some(t.sequential),
        first_last_pieces: Some(t.first_last_pieces),
        name: Some(t.name.clone()).filter(|n| check_name(n).is_ok()),
        choose_files: t.choose_files,
        stop_on_metadata: t.stop_on_metadata,
        ..AddTorrent::default()
    })
}
