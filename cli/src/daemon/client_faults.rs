//! The client's disk errors as the daemon keeps them. A torrent the client stopped on a disk
//! error is stopped as if by the user: it holds no queue slot and is not started again by
//! itself, after a restart neither (Transmission leaves a torrent with a local error
//! stopped). The error it showed is saved with the list, so it is still shown after a
//! restart; data gone missing (the torrent checked itself again and runs on) stays shown
//! until the torrent is complete again. A start or a check clears it: the client reports it
//! again if the disk still fails.

use sanstorrent_core::session::{SessionError, TorrentError as CoreError};

use super::{Entry, State};
use crate::daemon::backend::{ErrorKind, Id, TorrentError};
use crate::daemon::id_set::IdSet;
use crate::daemon::store::SavedError;

impl State {
    /// The client reported `error` for torrent `i`: a disk error stops it and is kept, data
    /// gone missing is kept. Returns whether the list changed (save it now).
    pub(super) fn client_error(&mut self, i: usize, error: &SessionError) -> bool {
        let Some(entry) = self.torrents.get_mut(i) else {
            return false;
        };
        let (shown, stops) = match error {
            SessionError::Disk(e) => (CoreError::Disk(e.clone()), true),
            SessionError::DataMissing { piece, error } => (
                CoreError::DataMissing {
                    piece: *piece,
                    error: error.clone(),
                },
                false,
            ),
            other => {
                tracing::debug!("{}: {other}", entry.name);
                return false;
            }
        };
        // The mover owns a moving torrent's stops and reports its own failure.
        if entry.moving {
            return false;
        }
        let missing_files = match &shown {
            CoreError::Disk(e) => e.is_missing_data(),
            _ => true,
        };
        let message = shown.to_string();
        if stops {
            tracing::warn!("{}: {message}: stopped", entry.name);
            entry.stopped = true;
            entry.running = false;
            entry.forced = false;
        } else {
            tracing::warn!("{}: {message}", entry.name);
        }
        entry.set_rare(|r| {
            r.disk_error = Some(SavedError {
                message,
                missing_files,
            });
        });
        true
    }

    /// Torrent `i` has every wanted piece: data that went missing is back. Returns whether
    /// the list changed.
    pub(super) fn data_back(&mut self, i: usize) -> bool {
        self.torrents
            .get_mut(i)
            .is_some_and(|t| t.set_rare(|r| r.disk_error.take()).is_some())
    }

    /// The listed torrents start or are checked: their kept disk errors are over.
    pub(super) fn clear_disk_errors(&mut self, ids: &[Id]) {
        let ids = IdSet::new(ids);
        for t in self.torrents.iter_mut().filter(|t| ids.contains(t.id)) {
            if t.rare().disk_error.is_some() {
                t.set_rare(|r| r.disk_error = None);
            }
        }
    }
}

/// The disk error kept for `entry`, as a front end shows it.
pub(super) fn kept_error(entry: &Entry) -> Option<TorrentError> {
    entry.rare().disk_error.as_ref().map(|e| TorrentError {
        kind: ErrorKind::Local,
        message: e.message.clone(),
        missing_files: e.missing_files,
    })
}
