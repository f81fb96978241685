//! A torrent's download directory while the client runs: [`Client::stopped`] waits until a
//! torrent has stopped (its storage closed, everything written and its resume data saved),
//! and [`Client::set_download_dir`] then points it at another directory. An application
//! moving a torrent's files stops it, waits, moves them, sets the directory and starts it
//! again: the session's verified pieces (and the resume data, keyed by info-hash) stay valid
//! when the files kept their size and modification time.

use std::path::PathBuf;

use async_channel::Sender;
use sanstorrent_core::session::{ControlError, TorrentId, TorrentPhase};

use crate::client::{Client, ClientError, Command};
use crate::driver::Core;
use crate::runtime::Runtime;

/// Where an answer about a torrent's stop goes.
pub(crate) type StopWaiter = Sender<Result<(), ClientError>>;

impl<R: Runtime> Client<R> {
    /// Waits until `torrent` is stopped, its storage closed (at once if it is stopped
    /// already). Call [`Client::stop_torrent`] first; a torrent started again meanwhile is
    /// waited for until its next stop. Fails if the torrent is unknown or removed.
    pub async fn stopped(&self, torrent: TorrentId) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::WhenStopped { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }

    /// Gives a stopped torrent another download directory (its files are expected there
    /// from its next start, recheck or removal on). Fails with [`ClientError::NotStopped`]
    /// unless it is stopped.
    pub async fn set_download_dir(
        &self,
        torrent: TorrentId,
        dir: impl Into<PathBuf>,
    ) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        let dir = dir.into();
        self.send(Command::SetDownloadDir {
            torrent,
            dir,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }
}

impl Core {
    /// The phase of `torrent`, or why there is none.
    fn phase(&self, torrent: TorrentId) -> Result<TorrentPhase, ClientError> {
        self.session
            .torrent_stats(torrent)
            .map(|s| s.phase)
            .ok_or(ClientError::Control(ControlError::UnknownTorrent(torrent)))
    }

    /// Answers `reply` once `torrent` is stopped (see [`Client::stopped`]).
    pub(crate) fn when_stopped(&mut self, torrent: TorrentId, reply: StopWaiter) {
        match self.phase(torrent) {
            Ok(TorrentPhase::Stopped) => {
                let _ = reply.try_send(Ok(()));
            }
            Ok(_) => self.stopped_waiters.entry(torrent).or_default().push(reply),
            Err(e) => {
                let _ = reply.try_send(Err(e));
            }
        }
    }

    /// Answers everyone waiting for `torrent` to stop: it stopped (`Ok`) or left.
    pub(crate) fn answer_stopped(&mut self, torrent: TorrentId, result: Result<(), ControlError>) {
        for w in self.stopped_waiters.remove(&torrent).unwrap_or_default() {
            let _ = w.try_send(result.clone().map_err(ClientError::Control));
        }
    }

    /// Points a stopped torrent at `dir` (see [`Client::set_download_dir`]).
    pub(crate) fn set_download_dir(
        &mut self,
        torrent: TorrentId,
        dir: PathBuf,
    ) -> Result<(), ClientError> {
        match self.phase(torrent)? {
            TorrentPhase::Stopped => {
                self.disk.set_download_dir(torrent, dir);
                Ok(())
            }
            _ => Err(ClientError::NotStopped(torrent)),
        }
    }
}
