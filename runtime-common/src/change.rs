//! Changes to a running client ([`Change`]) and the [`Client`] methods that send them: file
//! priorities and piece order, rate and connection limits, trackers, DHT and PEX. Each is applied by the loop
//! to its session at once (see the session's methods of the same names).

use sanstorrent_core::lsd::LsdConfig;
use sanstorrent_core::session::{
    ChangeError, Priority, TorrentId, TorrentLimits, TrackerEdit, TrackerInfo, WebSeedInfo,
};

use crate::client::{Client, ClientError, Command};
use crate::driver::Core;
use crate::runtime::Runtime;
use std::time::Instant;

/// A change to a running client's session or one of its torrents.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A torrent's file priorities (one per file; missing entries are normal).
    FilePriorities {
        /// The torrent.
        torrent: TorrentId,
        /// The priorities.
        priorities: Vec<Priority>,
    },
    /// A torrent's piece order: sequential mode and first-and-last pieces first.
    PieceOrder {
        /// The torrent.
        torrent: TorrentId,
        /// Pieces in index order instead of rarest first.
        sequential: bool,
        /// Every wanted file's first and last piece first.
        first_last_pieces: bool,
    },
    /// A reader's time-critical pieces of a torrent (streaming): each piece with the time it
    /// is needed by; an empty list clears the reader's (see the session's
    /// `set_piece_deadlines`).
    PieceDeadlines {
        /// The torrent.
        torrent: TorrentId,
        /// Any number naming the reader.
        reader: u64,
        /// Pieces and deadlines.
        pieces: Vec<(u32, Instant)>,
    },
    /// A torrent's own limits.
    TorrentLimits {
        /// The torrent.
        torrent: TorrentId,
        /// Its limits.
        limits: TorrentLimits,
    },
    /// A torrent's trackers.
    Trackers {
        /// The torrent.
        torrent: TorrentId,
        /// The edit.
        edit: TrackerEdit,
    },
    /// The session's rate limits (bytes per second; `None`: unlimited).
    RateLimits {
        /// Download.
        download: Option<u64>,
        /// Upload.
        upload: Option<u64>,
    },
    /// The session's connection limits.
    PeerLimits {
        /// Overall.
        max_connections: usize,
        /// Per torrent without a limit of its own.
        per_torrent: usize,
    },
    /// Add a web seed (BEP 19) to a torrent (one it has already is left as it is).
    AddWebSeed {
        /// The torrent.
        torrent: TorrentId,
        /// The web seed's `http`/`https` URL.
        url: String,
    },
    /// Remove a web seed from a torrent.
    RemoveWebSeed {
        /// The torrent.
        torrent: TorrentId,
        /// The web seed's URL.
        url: String,
    },
    /// The DHT on or off.
    Dht(bool),
    /// Peer exchange on or off.
    Pex(bool),
    /// Local service discovery on (with the default pacing; only where its sockets open: not
    /// on a loopback address) or off.
    LocalDiscovery(bool),
}

impl Core {
    /// Applies `change` to the session.
    pub(crate) fn change(&mut self, now: Instant, change: Change) -> Result<(), ChangeError> {
        let s = &mut self.session;
        match change {
            Change::FilePriorities {
                torrent,
                priorities,
            } => s.set_file_priorities(now, torrent, priorities),
            Change::PieceOrder {
                torrent,
                sequential,
                first_last_pieces,
            } => s
                .set_sequential(now, torrent, sequential)
                .and_then(|()| s.set_first_last_pieces(now, torrent, first_last_pieces)),
            Change::PieceDeadlines {
                torrent,
                reader,
                pieces,
            } => s.set_piece_deadlines(now, torrent, reader, &pieces),
            Change::TorrentLimits { torrent, limits } => s.set_torrent_limits(now, torrent, limits),
            Change::Trackers { torrent, edit } => s.edit_trackers(now, torrent, edit),
            Change::RateLimits { download, upload } => {
                s.set_rate_limits(now, download, upload);
                Ok(())
            }
            Change::PeerLimits {
                max_connections,
                per_torrent,
            } => {
                s.set_peer_limits(now, max_connections, per_torrent);
                Ok(())
            }
            Change::AddWebSeed { torrent, url } => s.add_web_seed(now, torrent, &url).map(|_| ()),
            Change::RemoveWebSeed { torrent, url } => {
                s.remove_web_seed(now, torrent, &url).map(|_| ())
            }
            Change::Dht(on) => {
                s.set_dht(now, on);
                Ok(())
            }
            Change::Pex(on) => {
                s.set_pex(now, on);
                Ok(())
            }
            Change::LocalDiscovery(on) => {
                s.set_local_discovery(now, on.then(LsdConfig::default));
                Ok(())
            }
        }
    }
}

impl<R: Runtime> Client<R> {
    /// Applies a change to the session or one of its torrents (the methods below are
    /// shorthands).
    pub async fn change(&self, change: Change) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Change { change, reply }).await?;
        answer
            .recv()
            .await
            .map_err(|_| ClientError::Stopped)?
            .map_err(ClientError::Change)
    }

    /// Sets a torrent's file priorities while it runs ([`Priority::Skip`] skips a file).
    pub async fn set_file_priorities(
        &self,
        torrent: TorrentId,
        priorities: Vec<Priority>,
    ) -> Result<(), ClientError> {
        self.change(Change::FilePriorities {
            torrent,
            priorities,
        })
        .await
    }

    /// Sets a torrent's own rate and connection limits.
    pub async fn set_torrent_limits(
        &self,
        torrent: TorrentId,
        limits: TorrentLimits,
    ) -> Result<(), ClientError> {
        self.change(Change::TorrentLimits { torrent, limits }).await
    }

    /// Edits a torrent's trackers (it announces to the new list at once).
    pub async fn edit_trackers(
        &self,
        torrent: TorrentId,
        edit: TrackerEdit,
    ) -> Result<(), ClientError> {
        self.change(Change::Trackers { torrent, edit }).await
    }

    /// Sets the session's download and upload limits (bytes per second; `None`: unlimited).
    pub async fn set_rate_limits(
        &self,
        download: Option<u64>,
        upload: Option<u64>,
    ) -> Result<(), ClientError> {
        self.change(Change::RateLimits { download, upload }).await
    }

    /// A torrent's trackers with their ids (`None`: no such torrent).
    pub async fn trackers(
        &self,
        torrent: TorrentId,
    ) -> Result<Option<Vec<TrackerInfo>>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Trackers { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }

    /// Adds a web seed (an `http`/`https` URL, BEP 19) to a torrent.
    pub async fn add_web_seed(&self, torrent: TorrentId, url: &str) -> Result<(), ClientError> {
        let url = url.to_string();
        self.change(Change::AddWebSeed { torrent, url }).await
    }

    /// Removes a web seed from a torrent (nothing if it had none by that URL).
    pub async fn remove_web_seed(&self, torrent: TorrentId, url: &str) -> Result<(), ClientError> {
        let url = url.to_string();
        self.change(Change::RemoveWebSeed { torrent, url }).await
    }

    /// A torrent's web seeds with what each delivered (`None`: no such torrent).
    pub async fn web_seeds(
        &self,
        torrent: TorrentId,
    ) -> Result<Option<Vec<WebSeedInfo>>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::WebSeeds { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }
}
