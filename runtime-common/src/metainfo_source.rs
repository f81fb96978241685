//! Where a runtime loads a released torrent's metainfo back from (see
//! [`TorrentOptions::release_idle_after`](sanstorrent_core::session::TorrentOptions)): the
//! application's own store of `.torrent` files, given on [`ClientConfig`](crate::ClientConfig).
//! The runtime calls it on a disk worker thread, never on the loop, for each
//! [`Action::LoadMetainfo`](sanstorrent_core::session::Action::LoadMetainfo), and hands the
//! answer to [`Session::handle_metainfo`](sanstorrent_core::session::Session::handle_metainfo).
//! Without a source every load fails, so a client that releases torrents must set one.

use std::fmt;
use std::sync::Arc;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::TorrentId;

/// Gives a torrent's metainfo by its info-hash (read and parsed from the application's
/// store). Called on a worker thread; may block on the disk.
pub trait MetainfoSource: Send + Sync + 'static {
    /// The metainfo of `torrent` (its info-hash `info_hash`), or why it cannot be had.
    fn load(&self, torrent: TorrentId, info_hash: InfoHash) -> Result<Arc<Metainfo>, String>;
}

impl<F> MetainfoSource for F
where
    F: Fn(TorrentId, InfoHash) -> Result<Arc<Metainfo>, String> + Send + Sync + 'static,
{
    fn load(&self, torrent: TorrentId, info_hash: InfoHash) -> Result<Arc<Metainfo>, String> {
        self(torrent, info_hash)
    }
}

/// A shared [`MetainfoSource`], as [`ClientConfig`](crate::ClientConfig) holds it.
#[derive(Clone)]
pub struct SharedSource(pub Arc<dyn MetainfoSource>);

impl SharedSource {
    /// Shares `source`.
    pub fn new(source: impl MetainfoSource) -> Self {
        Self(Arc::new(source))
    }
}

impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSource")
    }
}
