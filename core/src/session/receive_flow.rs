//! Download flow control: what peers sent us waits in memory only until it is written. When a
//! torrent has `max_unwritten_bytes` received and not yet written, each connection that
//! delivers another block is paused ([`Action::PauseReading`]): the runtime stops reading its
//! socket, the bytes wait in the kernel and TCP flow control slows the peer. When writes bring
//! the torrent down to half the cap, every paused connection of it resumes
//! ([`Action::ResumeReading`]). Requests keep flowing meanwhile (up to `max_requested_bytes`),
//! so the pipeline is full again the moment reading resumes. While paused, a peer's silence is
//! ours: its idle and request timers are held, so a disk that stalls for minutes does not
//! make us drop or snub the peers we stopped reading.

use std::time::Instant;

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
            .is_some_and(|d| d.pipeline.unwritten >= self.config.max_unwritten_bytes);
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
    pub(super) fn resume_if_unwritten_drained(&mut self, now: Instant, id: TorrentId) {
        let drained = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_none_or(|d| d.pipeline.unwritten <= self.config.max_unwritten_bytes / 2);
        if drained {
            self.resume_reading(now, id);
        }
    }

    /// Holds the timers of every paused connection at `now` (before timers fire).
    pub(super) fn hold_paused_clocks(&mut self, now: Instant) {
        let paused: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.reading_paused)
            .map(|(c, _)| c)
            .collect();
        for conn in paused {
            self.restart_clocks(now, conn);
        }
    }

    fn restart_clocks(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.conn.restart_receive_clocks(now);
        let key = peer.key;
        if let Some(d) = peer
            .torrent
            .and_then(|id| self.torrents.get_mut(&id))
            .and_then(|t| t.data.as_mut())
        {
            d.picker.restart_clock(key, now);
        }
    }

    /// Resumes every paused connection of torrent `id`. (A pause always has writes pending,
    /// and every write's completion comes here through `resume_if_unwritten_drained`, so no
    /// connection stays paused.)
    fn resume_reading(&mut self, now: Instant, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            if let Some(peer) = self.peers.get_mut(conn)
                && peer.reading_paused
            {
                peer.reading_paused = false;
                self.actions.push_back(Action::ResumeReading { conn });
                self.restart_clocks(now, conn);
            }
        }
    }
}
