//! Renaming a torrent's files while the client runs: [`Client::rename_files`] renames files on
//! disk (crash-safe, see `storage::FileMap`) and storage uses the new paths from then on;
//! [`Client::file_paths`] tells the paths storage uses. A running torrent goes on running:
//! its peers stay, the renamed files' handles close and open again by their new names, and a
//! block written meanwhile lands in its file (see `FileStorage::rename_live`). What it
//! verified stays verified (a rename keeps each file's size and modification time).

use std::time::Instant;

use async_channel::Sender;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::session::{SnapshotDetail, TorrentId};

use crate::client::{Client, ClientError, Command};
use crate::driver::Core;
use crate::runtime::Runtime;
use crate::storage::RenameError;

/// Where the answer about a torrent's renames goes.
pub(crate) type RenameWaiter = Sender<Result<(), ClientError>>;

impl<R: Runtime> Client<R> {
    /// Renames files of a torrent, running or stopped: each (file index, padding files
    /// counted, new path relative to its download directory). Answers once the files are
    /// renamed on disk (a file not created yet only changes name). Refused, with nothing
    /// renamed, when the torrent is unknown, its metadata is unknown, a file index is wrong,
    /// two files would clash or something else is at a new path ([`ClientError::Rename`]).
    pub async fn rename_files(
        &self,
        torrent: TorrentId,
        renames: Vec<(usize, RelativePath)>,
    ) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::RenameFiles {
            torrent,
            renames,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }

    /// The paths of `torrent`'s files as storage uses them (padding files included), `None`
    /// before its metadata is known (or for an unknown torrent).
    pub async fn file_paths(
        &self,
        torrent: TorrentId,
    ) -> Result<Option<Vec<RelativePath>>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::FilePaths { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }
}

impl Core {
    /// The paths of `torrent`'s files as storage uses them (see [`Client::file_paths`]).
    pub(crate) fn file_paths(
        &mut self,
        now: Instant,
        torrent: TorrentId,
    ) -> Option<Vec<RelativePath>> {
        if self.disk.file_paths(torrent).is_none()
            && let Some(meta) = self
                .session
                .torrent_snapshot(now, torrent, SnapshotDetail::default())
                .and_then(|s| s.metainfo)
        {
            self.disk.learn_metainfo_paths(torrent, &meta);
        }
        self.disk.file_paths(torrent)
    }

    /// Starts renames of a torrent; `reply` is answered when they are over.
    pub(crate) fn rename_files(
        &mut self,
        torrent: TorrentId,
        renames: &[(usize, RelativePath)],
        reply: RenameWaiter,
    ) {
        let result = match self.session.torrent_stats(torrent) {
            None => Err(ClientError::Control(
                sanstorrent_core::session::ControlError::UnknownTorrent(torrent),
            )),
            Some(_) => self
                .disk
                .rename_files(torrent, renames)
                .map_err(ClientError::Rename),
        };
        match result {
            Ok(()) => {
                self.rename_waiters.insert(torrent, reply);
            }
            Err(e) => {
                let _ = reply.try_send(Err(e));
            }
        }
    }

    /// The renames of `torrent` are over.
    pub(crate) fn renamed(&mut self, torrent: TorrentId, result: Result<(), RenameError>) {
        self.disk.renamed(torrent, result.is_ok());
        if let Some(reply) = self.rename_waiters.remove(&torrent) {
            let _ = reply.try_send(result.map_err(ClientError::Rename));
        }
    }
}
