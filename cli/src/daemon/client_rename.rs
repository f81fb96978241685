//! Renaming a torrent's files and folders ([`Backend::rename_path`]) on the mover task, after
//! any move queued before it: the client renames the files (its file map: checked, then made
//! on disk crash-safe, kept beside the resume data) without stopping the torrent, whose peers
//! stay connected while the renamed files' handles open again by their new names; then the
//! new paths are noted. What it verified stays verified: a rename keeps each file's size and
//! modification time.

use std::sync::Arc;

use async_channel::Sender;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
use sanstorrent_runtime_common::{ClientError, Runtime, TorrentHandle};

use super::ClientBackend;
use crate::daemon::backend::{BackendError, Id, Outcome, PathKind};
use crate::daemon::rename;

/// Renames waiting for the mover.
#[derive(Debug)]
pub(super) struct RenameJob {
    /// File index (padding counted) and new path.
    pub(super) renames: Vec<(usize, RelativePath)>,
    /// The torrent's new name, when its top folder or only file is renamed (Transmission).
    pub(super) new_name: Option<String>,
    /// The answer.
    pub(super) reply: Sender<Outcome<()>>,
}

/// The files of `meta` as front ends see them (padding left out): index in the metainfo and
/// path, `paths` (the client's, padding included) over the metainfo's.
pub(super) fn shown_files<'a>(
    meta: &'a Metainfo,
    paths: Option<&'a [RelativePath]>,
) -> impl Iterator<Item = (usize, &'a RelativePath)> + 'a {
    meta.files()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.padding)
        .map(move |(i, f)| (i, paths.and_then(|p| p.get(i)).unwrap_or(&f.path)))
}

impl<R: Runtime> ClientBackend<R> {
    /// Plans the rename, hands it to the mover and waits for it.
    pub(super) async fn rename(&self, id: Id, from: &str, to: &str, kind: PathKind) -> Outcome<()> {
        let (handle, known) = {
            let state = self.lock();
            let t = state.listed(id)?;
            (t.handle, t.meta.is_some())
        };
        if !known {
            return Err(BackendError::Invalid(
                "the torrent's files are not known yet".into(),
            ));
        }
        let meta = self.metainfo_of(handle).await?;
        let (renames, new_name) = {
            let state = self.lock();
            let t = state.listed(id)?;
            let files: Vec<(usize, &RelativePath)> = shown_files(&meta, t.paths()).collect();
            let names: Vec<String> = files.iter().map(|(_, p)| p.to_string()).collect();
            let plan = rename::plan(&names, from, to, kind)?;
            // Transmission renames the torrent with its top folder (or its only file).
            let root = names
                .iter()
                .all(|n| n == from || n.strip_prefix(from).is_some_and(|r| r.starts_with('/')))
                && !from.contains('/');
            let new_name = (kind == PathKind::Either && root).then(|| to.to_owned());
            let renames = plan
                .into_iter()
                .map(|(position, path)| (files[position].0, path))
                .collect();
            (renames, new_name)
        };
        let (reply, answer) = async_channel::bounded(1);
        self.queue_rename(
            id,
            RenameJob {
                renames,
                new_name,
                reply,
            },
        )?;
        answer
            .recv()
            .await
            .map_err(|_| BackendError::System("the daemon is stopping".into()))?
    }

    /// One rename job on the mover; the torrent runs on, or stays stopped, as it was.
    pub(super) async fn rename_files(
        &self,
        id: Id,
        handle: TorrentHandle,
        job: &RenameJob,
    ) -> Outcome<()> {
        let client = self.client()?;
        client
            .rename_files(handle.id, job.renames.clone())
            .await
            .map_err(|e| match e {
                ClientError::Rename(e) => BackendError::Invalid(e.to_string()),
                other => BackendError::System(other.to_string()),
            })?;
        let paths = client.file_paths(handle.id).await.ok().flatten();
        let mut state = self.lock();
        if let Some(t) = state.torrents.iter_mut().find(|t| t.id == id) {
            t.set_rare(|r| r.paths = paths.map(Arc::from));
            if let Some(name) = &job.new_name {
                Arc::make_mut(&mut t.options).name.clone_from(name);
            }
        }
        self.persist(&state);
        Ok(())
    }
}
