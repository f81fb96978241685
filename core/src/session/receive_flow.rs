//! Download flow control: what peers sent us waits in memory only until it is written. When a
//! torrent has `max_unwritten_bytes` received and not yet written, each connection that
//! delivers another block is paused ([`Action::PauseReading`]): the runtime stops reading its
//! socket, the bytes wait in the kernel and TCP flow control slows the peer. When writes bring
//! the torrent down to half the cap, every paused connection of it resumes
//! ([`Action::ResumeReading`]). Requests keep flowing meanwhile (up to `max_requested_bytes`),
//! so the pipeline is full again the moment reading resumes.

use super::io::{Action, ConnId};
use super::{Session, TorrentId};

impl Session {
    /// A block of `conn` for torrent `id` was handed to the disk: pause the connection if the
    /// torrent's unwritten bytes reached the cap.
    pub(super) fn pause_if_unwritten_full(&mut self, conn: ConnId, id: TorrentId) {
        let full = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_some_and(|d| d.disk.unwritten >= self.config.max_unwritten_bytes);
        if !full {
            return;
        }
        if let Some(peer) = self.peers.get_mut(conn)
            && !peer.reading_paused
        {
            peer.reading_paused = true;
            self.actions.push_back(Action::PauseReading { conn });
        }
    }

    /// A write of torrent `id` finished: resume its paused connections once the unwritten
    /// bytes are down to half the cap.
    pub(super) fn resume_if_unwritten_drained(&mut self, id: TorrentId) {
        let drained = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_none_or(|d| d.disk.unwritten <= self.config.max_unwritten_bytes / 2);
        if drained {
            self.resume_reading(id);
        }
    }

    /// Resumes every paused connection of torrent `id`. (A pause always has writes pending,
    /// and every write's completion comes here through `resume_if_unwritten_drained`, so no
    /// connection stays paused.)
    fn resume_reading(&mut self, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            if let Some(peer) = self.peers.get_mut(conn)
                && peer.reading_paused
            {
                peer.reading_paused = false;
                self.actions.push_back(Action::ResumeReading { conn });
            }
        }
    }
}
