//! Moving torrents' data while the daemon runs ([`Backend::set_location`]), one torrent at a
//! time on the mover task ([`ClientBackend::run_moves`]), never on the client's loop.
//!
//! With its data: stop the torrent and wait until its storage is closed, move its files on a
//! thread of their own (runtime-common's `storage::Relocation`: its journal is written first,
//! so a crash leaves one whole copy, see `moves.rs`), save the new directory in the list, drop
//! the journal, point the client at the directory and start the torrent again if it ran. No
//! check: the files kept their size and modification time, so what was verified (and the
//! resume data, kept by info-hash) stays valid. A move that fails is undone, the torrent runs
//! on where it was, and the error shows on it.
//!
//! Without its data (Transmission's `move: false`, `torrent-set` `location`): stop, point at
//! the new directory, save, check the data found there, start again if it ran.

use std::path::PathBuf;
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use sanstorrent_core::session::SnapshotDetail;
use sanstorrent_runtime_common::storage::Relocation;
use sanstorrent_runtime_common::{Runtime, TorrentHandle};

use super::ClientBackend;
use super::renaming::RenameJob;
use crate::daemon::backend::{BackendError, Id, Outcome};
use crate::daemon::id_set::IdSet;
use crate::daemon::moves;

/// A move (or renames) waiting for the mover.
#[derive(Debug)]
struct Job {
    id: Id,
    to: PathBuf,
    move_data: bool,
    rename: Option<RenameJob>,
}

/// The mover's queue.
#[derive(Debug)]
pub(super) struct Queue {
    tx: Sender<Job>,
    rx: Receiver<Job>,
}

impl Default for Queue {
    fn default() -> Self {
        let (tx, rx) = async_channel::unbounded();
        Self { tx, rx }
    }
}

impl Queue {
    /// Takes no more moves; the mover ends once the queued ones are done.
    pub(super) fn close(&self) {
        self.tx.close();
    }
}

/// Runs `work` on a thread of its own; `None` if no thread could start.
pub(super) async fn unblock<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = async_channel::bounded(1);
    std::thread::Builder::new()
        .name("sanstorrent-move".into())
        .spawn(move || {
            let _ = tx.send_blocking(work());
        })
        .ok()?;
    rx.recv().await.ok()
}

impl<R: Runtime> ClientBackend<R> {
    /// Queues moves of the listed torrents to `to` (see the module's notes); each shows as
    /// moving until its move is over. Refused for a torrent already moving.
    pub(super) fn queue_moves(&self, ids: &[Id], to: PathBuf, move_data: bool) -> Outcome<()> {
        let mut state = self.lock();
        if let Some(t) = state.moving_among(ids) {
            return Err(BackendError::Invalid(format!(
                "{} is moving already",
                t.name
            )));
        }
        if self.moves.tx.is_closed() {
            return Err(BackendError::System("the daemon is stopping".into()));
        }
        let ids = IdSet::new(ids);
        for t in state.torrents.iter_mut().filter(|t| ids.contains(t.id)) {
            t.moving = true;
            let job = Job {
                id: t.id,
                to: to.clone(),
                move_data,
                rename: None,
            };
            let _ = self.moves.tx.try_send(job);
        }
        Ok(())
    }

    /// Queues renames of torrent `id`'s files (refused while it moves).
    pub(super) fn queue_rename(&self, id: Id, rename: RenameJob) -> Outcome<()> {
        let state = self.lock();
        if let Some(t) = state.moving_among(&[id]) {
            return Err(BackendError::Invalid(format!(
                "{} is moving already",
                t.name
            )));
        }
        if self.moves.tx.is_closed() {
            return Err(BackendError::System("the daemon is stopping".into()));
        }
        let Some(t) = state.torrents.iter().find(|t| t.id == id) else {
            return Err(BackendError::Invalid(format!("no torrent {}", id.0)));
        };
        let to = t.dir.to_path_buf();
        let job = Job {
            id,
            to,
            move_data: false,
            rename: Some(rename),
        };
        let _ = self.moves.tx.try_send(job);
        Ok(())
    }

    /// Forgets the move errors of the listed torrents (a start or a check clears them).
    pub(super) fn clear_move_errors(&self, ids: &[Id]) {
        let mut state = self.lock();
        let ids = IdSet::new(ids);
        for t in state.torrents.iter_mut().filter(|t| ids.contains(t.id)) {
            if t.rare().move_error.is_some() {
                t.set_rare(|r| r.move_error = None);
            }
        }
    }

    /// Carries out the queued moves one at a time, until [`ClientBackend::shutdown`].
    pub(crate) async fn run_moves(self: Arc<Self>) {
        let rx = self.moves.rx.clone();
        while let Ok(job) = rx.recv().await {
            let Some(handle) = self.handle_of(job.id) else {
                continue;
            };
            if let Some(rename) = &job.rename {
                let result = self.rename_files(job.id, handle, rename).await;
                let _ = rename.reply.try_send(result);
                continue;
            }
            let result = self.relocate(&job, handle).await;
            if let Err(e) = &result {
                tracing::error!("moving torrent {} to {}: {e}", job.id.0, job.to.display());
            }
            let run = {
                let mut state = self.lock();
                let run = match state.torrents.iter_mut().find(|t| t.id == job.id) {
                    Some(t) => {
                        t.moving = false;
                        let error = result.err();
                        t.set_rare(|r| r.move_error = error);
                        t.running
                    }
                    None => false,
                };
                state.queue_dirty = true;
                run
            };
            if run && let Ok(client) = self.client() {
                let _ = client.start_torrent(handle.id).await;
            }
        }
    }

    fn handle_of(&self, id: Id) -> Option<TorrentHandle> {
        let state = self.lock();
        state.torrents.iter().find(|t| t.id == id).map(|t| t.handle)
    }

    /// One move; the torrent is left stopped (the caller starts it again if it ran).
    async fn relocate(&self, job: &Job, handle: TorrentHandle) -> Result<(), String> {
        let Some((from, known, paths)) = self.with_entry(job.id, |t| {
            (
                t.dir.to_path_buf(),
                t.meta.is_some(),
                t.rare().paths.clone(),
            )
        }) else {
            return Ok(());
        };
        if job.move_data && from == job.to {
            return Ok(());
        }
        let client = self.client().map_err(|e| e.to_string())?;
        let id = handle.id;
        client.stop_torrent(id).await.map_err(|e| e.to_string())?;
        client.stopped(id).await.map_err(|e| e.to_string())?;
        if job.move_data {
            // The files as the client knows them (a magnet's metadata may be newer here).
            let meta = client
                .snapshots(vec![id], SnapshotDetail::default())
                .await
                .ok()
                .and_then(|mut s| s.pop().flatten())
                .and_then(|s| s.metainfo);
            let meta = match (meta, known) {
                (None, true) => Some(self.metainfo_of(handle).await.map_err(|e| e.to_string())?),
                (meta, _) => meta,
            };
            let files = meta.map_or_else(Vec::new, |m| {
                super::renaming::shown_files(&m, paths.as_deref())
                    .map(|(_, p)| p.to_path_buf())
                    .collect()
            });
            drop(client);
            let relocation = Relocation {
                from,
                to: job.to.clone(),
                files,
            };
            self.move_files(job.id, handle, relocation).await?;
        } else {
            self.with_entry(job.id, |t| t.dir = Arc::from(job.to.as_path()));
            self.persist(&self.lock());
        }
        let client = self.client().map_err(|e| e.to_string())?;
        client
            .set_download_dir(id, &job.to)
            .await
            .map_err(|e| e.to_string())?;
        if !job.move_data {
            client
                .recheck_torrent(id)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Moves the files on a thread, then saves the new directory and drops the journal; a
    /// failed move is undone and starts the torrent again where it was.
    async fn move_files(
        &self,
        id: Id,
        handle: TorrentHandle,
        relocation: Relocation,
    ) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Err("no state directory to keep the move's journal in".into());
        };
        let journal = moves::journal(store, &handle.info_hash.to_hex());
        let to = relocation.to.clone();
        let moved = unblock(move || move_with_journal(&relocation, &journal).map(|()| journal))
            .await
            .unwrap_or_else(|| Err("cannot start a thread for the move".into()));
        let journal = match moved {
            Ok(journal) => journal,
            Err(e) => {
                // The files are back where they were (or the journal stays for the next
                // start, which brings them back): the torrent runs on there.
                return Err(e);
            }
        };
        self.with_entry(id, |t| t.dir = Arc::from(to.as_path()));
        let saved = self.save_list(&self.lock());
        match saved {
            Ok(()) => {
                if let Err(e) = Relocation::finish(&journal) {
                    tracing::error!("{e}");
                }
            }
            // The journal stays: the next start finishes or undoes the move as the list says.
            Err(e) => tracing::error!("cannot save the torrent list after a move: {e}"),
        }
        Ok(())
    }

    /// `f` of the entry `id`, under the state lock.
    fn with_entry<T>(&self, id: Id, f: impl FnOnce(&mut super::Entry) -> T) -> Option<T> {
        let mut state = self.lock();
        state.torrents.iter_mut().find(|t| t.id == id).map(f)
    }
}

/// Writes the journal and moves the files; if a file cannot move, moves back those that did
/// and drops the journal (or keeps it if even that failed, for the next start to finish).
fn move_with_journal(relocation: &Relocation, journal: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = journal.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    relocation.start(journal).map_err(|e| e.to_string())?;
    let Err(e) = relocation.apply() else {
        return Ok(());
    };
    match relocation.revert() {
        Ok(()) => {
            let _ = Relocation::finish(journal);
        }
        Err(again) => tracing::error!(
            "undoing the move to {}: {again} (the next start tries again)",
            relocation.to.display()
        ),
    }
    Err(format!("cannot move to {}: {e}", relocation.to.display()))
}
