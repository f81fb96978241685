//! Adding many torrents in one command ([`Client::add_torrents`]): a daemon restoring its
//! list sends batches, so each torrent costs no round trip with the loop of its own and the
//! session's work after an input runs once per batch. Each answer also carries the paths
//! of a torrent whose saved file map renames files (what [`Client::file_paths`] would
//! tell), so a restore needs no second round trip per torrent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::session::{TorrentOptions, TorrentSource};

use crate::client::{Client, ClientError, Command, TorrentHandle};
use crate::driver::Core;
use crate::runtime::Runtime;

/// One torrent of a batch: what [`Client::add_torrent`] takes.
#[derive(Debug)]
pub struct NewTorrent {
    /// What to add.
    pub source: TorrentSource,
    /// The download directory.
    pub dir: PathBuf,
    /// How to run it (its resume data is read from the state directory when not given).
    pub options: TorrentOptions,
}

/// One torrent of a batch, added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchAdded {
    /// The torrent in the client.
    pub handle: TorrentHandle,
    /// Its files' paths (padding files included) when its saved file map renames any;
    /// `None`: storage uses the metainfo's paths.
    pub renamed: Option<Vec<RelativePath>>,
}

impl<R: Runtime> Client<R> {
    /// Adds `torrents` in one round trip with the loop, each as [`Client::add_torrent`]
    /// would; one answer per torrent, in order.
    pub async fn add_torrents(
        &self,
        torrents: Vec<NewTorrent>,
    ) -> Result<Vec<Result<BatchAdded, ClientError>>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::AddTorrents { torrents, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }
}

impl Core {
    /// Adds a batch of torrents (see [`Client::add_torrents`]).
    pub(crate) fn add_batch(
        &mut self,
        now: Instant,
        torrents: Vec<NewTorrent>,
    ) -> Vec<Result<BatchAdded, ClientError>> {
        let mut places = Vec::with_capacity(torrents.len());
        let mut adds = Vec::with_capacity(torrents.len());
        for NewTorrent {
            source,
            dir,
            mut options,
        } in torrents
        {
            let info_hash = source.info_hash();
            let mut on_disk = None;
            // One added complete from its saved state reads its resume data at its load.
            if options.resume.is_none() && !options.saved_complete {
                options.resume = self.disk.load_resume(info_hash);
                on_disk = options.resume.as_deref().map(crate::disk::fingerprint);
            }
            options.release_idle_after = options.release_idle_after.or(self.release_idle_after);
            let meta = match &source {
                TorrentSource::Metainfo(meta) => Some(Arc::clone(meta)),
                TorrentSource::Magnet(_) => None,
            };
            places.push((info_hash, dir, on_disk, meta));
            adds.push((source, options));
        }
        let added = self.session.add_torrents(now, adds);
        places
            .into_iter()
            .zip(added)
            .map(|((info_hash, dir, on_disk, meta), result)| {
                let id = result.map_err(ClientError::Add)?;
                self.disk.add_torrent(id, info_hash, dir);
                if let Some(print) = on_disk {
                    self.disk.resume_on_disk(id, print);
                }
                if let Some(meta) = meta {
                    self.disk.learn_metainfo_paths(id, &meta);
                }
                let renamed = self
                    .disk
                    .has_renames(id)
                    .then(|| self.file_paths(now, id))
                    .flatten();
                Ok(BatchAdded {
                    handle: TorrentHandle { id, info_hash },
                    renamed,
                })
            })
            .collect()
    }
}
