//! The restore at start: the saved list added to the client again (resume data spares a
//! recheck) in batches of [`BATCH`] torrents, one round trip with the client's loop per
//! batch (`Client::add_torrents`), so 100,000 torrents cost hundreds of round trips, not
//! hundreds of thousands.
//!
//! The list is read, and each batch's `.torrent` files read and parsed, on a thread of its
//! own ([`read_list`]) that hands the batches over as the restore takes them (the list a
//! torrent at a time: as one `Vec` of 10,000 it was a 7.2 MB block, whose free raised glibc's
//! trim threshold for good, `bench/README.md` session 25). The metainfos live in the session until their torrent is released, and
//! allocated on the daemon's thread they sat among what the daemon keeps of every torrent
//! (names, file states), so that the pages they freed stayed in use (about 12 MiB of the main
//! arena at 10,000 torrents). Everything the daemon or the client keeps is still made on
//! this thread, from the parsed metainfo; the other thread's arena holds only what a release
//! frees, and gives it back whole.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_runtime_common::{BatchAdded, ClientError, NewTorrent, Runtime};

use super::super::backend::*;
use super::super::store::{Saved, Store};
use super::add::{Parsed, Prepared, added_error};
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
        let batches = read_list(store);
        let listed = match batches.recv().await {
            Ok(Batch::Listed(n)) => n,
            Ok(Batch::Failed(e)) => return Err(format!("the saved torrent list: {e}")),
            Ok(Batch::Read(_) | Batch::Done) | Err(_) => {
                return Err("the saved torrent list: its reader stopped".into());
            }
        };
        {
            let mut state = self.lock();
            state.groups = store
                .load_groups()
                .map_err(|e| format!("the saved categories and tags: {e}"))?;
            // The list's room once (a list grown by doubling keeps up to twice its entries).
            state.torrents.reserve_exact(listed);
        }
        let mut restored = 0;
        // The list as restored differs from the file: a magnet's metadata may have come.
        let mut changed = false;
        loop {
            let chunk = match batches.recv().await {
                Ok(Batch::Read(chunk)) => chunk,
                Ok(Batch::Done) => break,
                Ok(Batch::Listed(_)) => continue,
                // Not read to its end: the list is left as saved, not saved without the rest.
                Ok(Batch::Failed(e)) => {
                    tracing::error!("restoring the saved torrents: {e}");
                    return Ok(restored);
                }
                Err(_) => {
                    tracing::error!("restoring the saved torrents: the list's reader stopped");
                    return Ok(restored);
                }
            };
            let mut batch: Vec<Pending> = Vec::with_capacity(chunk.len());
            for (place, t, read) in chunk {
                changed |= t.magnet.is_some();
                let Some((add, parsed)) = saved_add(&t, read) else {
                    continue;
                };
                match self.prepare_parsed(add, parsed, &t.live, false) {
                    Ok(Ok((mut new, prepared))) => {
                        // Complete when saved: added released, its resume data read when
                        // it loads (the session adds it as usual if it cannot).
                        new.options.saved_complete = t.complete;
                        batch.push((new, prepared, place, t));
                    }
                    Ok(Err(_)) => {}
                    Err(e) => tracing::error!("saved torrent {}: {e}", t.hash),
                }
            }
            match self.add_saved(batch).await {
                Ok(n) => restored += n,
                Err(e) => {
                    // The client is stopping: the list is left as saved (the reader stops
                    // as this receiver goes).
                    tracing::error!("restoring the saved torrents: {e}");
                    return Ok(restored);
                }
            }
        }
        {
            let mut state = self.lock();
            let before: Vec<u32> = state.torrents.iter().map(|t| t.position).collect();
            queueing::renumber(&mut state.torrents, &[], crate::daemon::queue::Move::Top);
            changed |= restored != listed
                || state.torrents.len() != restored
                || (state.torrents.iter().map(|t| t.position)).ne(before);
            // Saved only if the list differs from the file (a duplicate or a torrent dropped,
            // the queue renumbered): the save of 100,000 unchanged entries was 5 % of a
            // restart's CPU.
            if changed {
                self.persist(&state);
            }
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
                entry.complete = t.complete;
                if let Some(error) = &t.error {
                    entry.set_rare(|r| r.disk_error = Some(error.clone()));
                }
            }
        }
        Ok(restored)
    }
}

/// A saved torrent's `.torrent` as [`read_list`] read it: its bytes and their parse.
type Read = io::Result<(Vec<u8>, Result<Arc<Metainfo>, String>)>;

/// What the list's reader sends.
enum Batch {
    /// The list holds this many torrents (sent first, after a whole first read checked it).
    Listed(usize),
    /// The next torrents (duplicates left out), each with its place in the list and its
    /// `.torrent` as read.
    Read(Vec<(u32, Saved, Read)>),
    /// The list cannot be read (nothing else is sent after it).
    Failed(String),
    /// Every torrent of the list was sent.
    Done,
}

/// Reads the saved list on a thread of its own (see the module docs), sending it in batches
/// of [`BATCH`] as the restore takes them: first read whole only to be checked and counted
/// (a damaged list fails before any torrent is added), then again a torrent at a time, each
/// batch's `.torrent`s read and parsed there too. No thread to be had: read here, every
/// batch queued at once.
fn read_list(store: &Store) -> async_channel::Receiver<Batch> {
    let (tx, rx) = async_channel::bounded(1);
    let reader = store.clone();
    let spawned = std::thread::Builder::new()
        .name("restore".into())
        .spawn(move || send_list(&reader, &tx));
    if spawned.is_ok() {
        return rx;
    }
    let (tx, rx) = async_channel::unbounded();
    send_list(store, &tx);
    rx
}

/// [`read_list`]'s work, sending into `tx` until done or no one receives.
fn send_list(store: &Store, tx: &async_channel::Sender<Batch>) {
    let mut listed = 0;
    if let Err(e) = store.load_each(|_| listed += 1) {
        let _ = tx.send_blocking(Batch::Failed(e.to_string()));
        return;
    }
    if tx.send_blocking(Batch::Listed(listed)).is_err() {
        return;
    }
    let mut seen = HashSet::new();
    let mut chunk: Vec<(u32, Saved)> = Vec::with_capacity(BATCH);
    let mut place = 0u32;
    let mut gone = false;
    let send = |chunk: &mut Vec<(u32, Saved)>, gone: &mut bool| {
        let read = chunk.drain(..).map(|(place, t)| {
            let read = read_metainfo(store, &t.hash);
            (place, t, read)
        });
        *gone = tx.send_blocking(Batch::Read(read.collect())).is_err();
    };
    let done = store.load_each(|t| {
        let at = place;
        place += 1;
        if gone || !seen.insert(t.hash.to_ascii_lowercase()) {
            return;
        }
        chunk.push((at, t));
        if chunk.len() == BATCH {
            send(&mut chunk, &mut gone);
        }
    });
    match done {
        Ok(()) => {
            if !chunk.is_empty() && !gone {
                send(&mut chunk, &mut gone);
            }
            if !gone {
                let _ = tx.send_blocking(Batch::Done);
            }
        }
        Err(e) => {
            let _ = tx.send_blocking(Batch::Failed(e.to_string()));
        }
    }
}

/// Saved torrent `hash`'s `.torrent`: its bytes and their parse.
fn read_metainfo(store: &Store, hash: &str) -> Read {
    let bytes = store.metainfo(hash)?;
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| e.to_string());
    // Shared from here, so that its `Arc` is allocated with it.
    let meta = meta.map(Arc::new);
    Ok((bytes, meta))
}

/// What adds saved torrent `t` again, from its `.torrent` as read (`None`: unreadable,
/// logged), with the metainfo already parsed from it.
fn saved_add(t: &Saved, read: Read) -> Option<(AddTorrent, Option<Parsed>)> {
    let (source, parsed) = match (&t.magnet, read) {
        (_, Ok((bytes, meta))) => (Source::Metainfo(bytes), Some(meta)),
        // A magnet whose metadata was saved before the list said so, or not.
        (Some(uri), Err(_)) => (Source::Magnet(uri.clone()), None),
        (None, Err(e)) => {
            tracing::error!("saved torrent {}: its .torrent is unreadable: {e}", t.hash);
            return None;
        }
    };
    let add = AddTorrent {
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
    };
    Some((add, parsed))
}
