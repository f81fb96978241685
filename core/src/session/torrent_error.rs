//! What is wrong with a torrent ([`TorrentError`]), as its snapshot shows it: a tracker's
//! warning or refusal, a failed disk job, data gone missing from disk; and how the torrent's
//! error changes as trackers answer, disk jobs fail and the data comes back.

use std::fmt;
use std::sync::Arc;

use super::error::LoadError;
use super::snapshot::cut;
use super::torrent::Torrent;
use crate::storage::StorageError;
use crate::tracker::TrackerError;
use crate::webseed::WebSeedError;

/// What is wrong with a torrent. Its `Display` is the message for the user (a tracker's text
/// cut at [`MAX_TRACKER_MESSAGE`](super::MAX_TRACKER_MESSAGE) characters).
///
/// Storage errors are shared (`Arc`) so snapshots stay `Clone`; two errors are equal when
/// they say the same thing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TorrentError {
    /// A tracker answered with this warning (the announce still worked).
    TrackerWarning(String),
    /// Every tracker failed the last announce round, the latest by refusing (an error
    /// status, a `failure reason`, a UDP tracker error): that refusal.
    TrackerRefused(TrackerError),
    /// A disk job failed (reading, writing, checking, saving).
    Disk(Arc<StorageError>),
    /// A piece was not on disk when read for a peer (its file deleted or truncated under
    /// the torrent, see [`SessionError::DataMissing`](super::SessionError::DataMissing)): the
    /// torrent checked its data again and runs on, fetching what is gone; shown until every
    /// wanted piece is back. Its kind is [`TorrentErrorKind::Disk`].
    DataMissing {
        /// The piece first found missing.
        piece: u32,
        /// What the storage said.
        error: Arc<StorageError>,
    },
    /// A web seed failed while it was the torrent's only source (no peer connected): the
    /// mirror and why; shown until a web seed delivers, a peer connects or a tracker
    /// answers. Its kind is [`TorrentErrorKind::TrackerError`] (a remote source
    /// failed, as when trackers refuse).
    WebSeed {
        /// The web seed's URL.
        url: String,
        /// Its failure.
        error: WebSeedError,
    },
    /// Its metainfo was released while it idled and could not be loaded back (see
    /// [`SessionError::LoadMetainfo`](super::SessionError::LoadMetainfo)); shown until a
    /// load works. Its kind is [`TorrentErrorKind::Disk`].
    Metainfo(LoadError),
}

impl TorrentError {
    /// Where it comes from.
    pub fn kind(&self) -> TorrentErrorKind {
        match self {
            Self::TrackerWarning(_) => TorrentErrorKind::TrackerWarning,
            Self::TrackerRefused(_) | Self::WebSeed { .. } => TorrentErrorKind::TrackerError,
            Self::Disk(_) | Self::DataMissing { .. } | Self::Metainfo(_) => TorrentErrorKind::Disk,
        }
    }
}

impl fmt::Display for TorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrackerWarning(w) => f.write_str(&cut(w)),
            Self::TrackerRefused(e) => f.write_str(&cut(&e.to_string())),
            Self::Disk(e) => write!(f, "{e}"),
            Self::DataMissing { piece, error } => write!(
                f,
                "data missing from disk, checked again (piece {piece}: {error})"
            ),
            Self::WebSeed { url, error } => f.write_str(&cut(&format!("web seed {url}: {error}"))),
            Self::Metainfo(e) => write!(f, "{e}"),
        }
    }
}

impl PartialEq for TorrentError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.to_string() == other.to_string()
    }
}

impl Eq for TorrentError {}

impl std::error::Error for TorrentError {}

/// Where a [`TorrentError`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TorrentErrorKind {
    /// A tracker answered with a warning (the announce still worked).
    TrackerWarning,
    /// Every tracker failed the last announce round.
    TrackerError,
    /// A disk job failed (reading, writing, checking, saving).
    Disk,
}

impl Torrent {
    /// A tracker answered: its warning becomes the torrent's error, and a tracker error is
    /// over.
    pub(crate) fn tracker_answered(&mut self, warning: Option<&str>) {
        let tracker_kind = self.error.as_ref().is_none_or(|e| {
            matches!(
                e.kind(),
                TorrentErrorKind::TrackerWarning | TorrentErrorKind::TrackerError
            )
        });
        if tracker_kind {
            self.error = warning.map(|w| Box::new(TorrentError::TrackerWarning(cut(w))));
        }
    }

    /// Every tracker failed an announce round: if the latest failure was a tracker's own
    /// refusal, it is the torrent's error (unless a disk error is shown). A tracker that
    /// cannot be reached shows only in its own status, as Transmission does.
    pub(crate) fn every_tracker_failed(&mut self) {
        if self
            .error
            .as_ref()
            .is_some_and(|e| e.kind() == TorrentErrorKind::Disk)
        {
            return;
        }
        let Some(refusal) = self.announces.last_refusal() else {
            return;
        };
        self.error = Some(Box::new(TorrentError::TrackerRefused(refusal.clone())));
    }

    /// Web seed `url` failed with `error`: while it is the torrent's only source (no
    /// connection open), that is the torrent's error (unless a disk error is shown).
    pub(crate) fn web_seed_failed(&mut self, url: &str, error: &WebSeedError) {
        let disk = (self.error.as_ref()).is_some_and(|e| e.kind() == TorrentErrorKind::Disk);
        if disk || self.peers_open {
            return;
        }
        self.error = Some(Box::new(TorrentError::WebSeed {
            url: url.to_owned(),
            error: error.clone(),
        }));
    }

    /// A web seed delivered blocks, or a peer connected: a web seed's failure is over.
    pub(crate) fn source_back(&mut self) {
        if matches!(self.error.as_deref(), Some(TorrentError::WebSeed { .. })) {
            self.error = None;
        }
    }

    /// A disk job failed: that is the torrent's error from now on.
    pub(crate) fn disk_failed(&mut self, error: Arc<StorageError>) {
        self.error = Some(Box::new(TorrentError::Disk(error)));
    }

    /// Started or checked again: a disk error is over (it comes back if the disk still
    /// fails). Missing data stays shown until it is back ([`Torrent::data_back`]).
    pub(crate) fn clear_disk_error(&mut self) {
        if matches!(self.error.as_deref(), Some(TorrentError::Disk(_))) {
            self.error = None;
        }
    }

    /// Piece `piece` was missing from disk (`error`) and the torrent is checked again: shown
    /// until every wanted piece is back.
    pub(crate) fn data_missing(&mut self, piece: u32, error: Arc<StorageError>) {
        self.error = Some(Box::new(TorrentError::DataMissing { piece, error }));
    }

    /// Every wanted piece is verified: data that went missing is back.
    pub(crate) fn data_back(&mut self) {
        if matches!(
            self.error.as_deref(),
            Some(TorrentError::DataMissing { .. })
        ) {
            self.error = None;
        }
    }
}
