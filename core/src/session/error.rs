//! [`SessionError`]: what failed, for the application to show ([`Event::Error`]).
//!
//! [`Event::Error`]: super::Event::Error

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::metainfo::MetainfoError;
use crate::storage::StorageError;

use super::metadata::MetadataError;

/// Something failed that the application should show, carried by
/// [`Event::Error`](super::Event::Error). Its `Display` is the message for the user.
///
/// Storage errors are shared (`Arc`) so events stay `Clone`; two errors are equal when they
/// say the same thing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// A disk job failed: the torrent stops, since its data can no longer be trusted to
    /// reach the disk.
    Disk(Arc<StorageError>),
    /// A piece we have was not on disk when read to serve a peer (its file was deleted or
    /// truncated under the torrent): the request is rejected and the torrent is checked
    /// again, so it never claims or serves data it does not hold. It is the torrent's error
    /// ([`TorrentError::DataMissing`](super::TorrentError::DataMissing)) until every wanted
    /// piece is back.
    DataMissing {
        /// The piece.
        piece: u32,
        /// What the storage said.
        error: Arc<StorageError>,
    },
    /// Reading a piece to serve a peer failed while the torrent was stopping or checking
    /// (the request is rejected). A running torrent stops instead: [`SessionError::Disk`].
    UploadRead {
        /// The piece.
        piece: u32,
        /// What the storage said.
        error: Arc<StorageError>,
    },
    /// Reading a failed piece back for the smart ban failed (nobody is banned for it).
    SmartBanRead {
        /// The piece.
        piece: u32,
        /// What the storage said.
        error: Arc<StorageError>,
    },
    /// The runtime could not write a state file (resume data, DHT state).
    SaveState {
        /// The file.
        path: PathBuf,
        /// What the storage said.
        error: Arc<StorageError>,
    },
    /// Metadata fetched from peers could not be given to the torrent.
    Metadata(MetadataError),
    /// The info dictionary fetched from peers hashes to the info-hash but is not valid: the
    /// torrent itself is unusable.
    InvalidInfo(MetainfoError),
    /// Stopping a torrent timed out waiting for the disk (a `stopped` announce not answered by
    /// then is given up without this error: see
    /// [`StopAnnounceStats`](super::StopAnnounceStats)).
    StopTimedOut,
    /// Piece layers in the torrent's resume data did not hash up to their roots (or belong
    /// to no file of the torrent): they are dropped and fetched from peers again.
    ResumeLayers {
        /// The layers refused.
        refused: usize,
    },
    /// A released torrent's metainfo could not be loaded back: the peers waiting for it are
    /// closed, and it is the torrent's error until a later load works.
    LoadMetainfo(LoadError),
}

/// Why a released torrent's metainfo could not be loaded back (see
/// [`Action::LoadMetainfo`](super::Action::LoadMetainfo)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The runtime's source could not give it (its message).
    Source(String),
    /// The metainfo given is another torrent's (its info-hashes differ).
    WrongInfoHash,
    /// The metainfo given has another piece count than the torrent released.
    WrongPieces,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(e) => write!(f, "loading the torrent's metainfo: {e}"),
            Self::WrongInfoHash => f.write_str("the metainfo loaded is another torrent's"),
            Self::WrongPieces => {
                f.write_str("the metainfo loaded has another piece count than the torrent")
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disk(e) => write!(f, "disk error, stopping the torrent: {e}"),
            Self::DataMissing { piece, error } => write!(
                f,
                "piece {piece} is missing from disk ({error}): checking the torrent again"
            ),
            Self::UploadRead { piece, error } => {
                write!(f, "reading piece {piece} for upload: {error}")
            }
            Self::SmartBanRead { piece, error } => {
                write!(f, "reading piece {piece} back for the smart ban: {error}")
            }
            Self::SaveState { path, error } => write!(f, "saving {}: {error}", path.display()),
            Self::Metadata(e) => write!(f, "metadata from peers: {e}"),
            Self::InvalidInfo(e) => write!(f, "the torrent's info dictionary is invalid: {e}"),
            Self::StopTimedOut => f.write_str("stop timed out waiting for the disk"),
            Self::ResumeLayers { refused } => write!(
                f,
                "resume data: {refused} piece layer(s) do not match the torrent's roots; \
                 fetching them from peers again"
            ),
            Self::LoadMetainfo(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Disk(e)
            | Self::DataMissing { error: e, .. }
            | Self::UploadRead { error: e, .. }
            | Self::SmartBanRead { error: e, .. }
            | Self::SaveState { error: e, .. } => Some(&**e),
            Self::Metadata(e) => Some(e),
            Self::InvalidInfo(e) => Some(e),
            Self::LoadMetainfo(e) => Some(e),
            Self::StopTimedOut | Self::ResumeLayers { .. } => None,
        }
    }
}

impl PartialEq for SessionError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for SessionError {}
