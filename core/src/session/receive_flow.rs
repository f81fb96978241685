//! Download flow control: what peers sent us waits in memory only until it is written. When a
//! torrent has `max_unwritten_bytes` received and not yet written, the connection that
//! delivers another block is paused ([`Action::PauseReading`]), and with it every connection
//! of the torrent with requests of ours in flight: the runtime stops reading their sockets,
//! the bytes wait in the kernel and TCP flow control slows the peers. When writes bring the
//! torrent down to half the cap, every paused connection of it resumes
//! ([`Action::ResumeReading`]). Requests keep flowing meanwhile (up to `max_requested_bytes`),
//! so the pipeline is full again the moment reading resumes. While paused, a peer's silence is
//! ours: its idle and request timers are held, so a disk that stalls for minutes does not
//! make us drop or snub the peers we stopped reading.
//!
//! The state is the connection table's ([`Peers`]): which connections are paused.

use std::time::Instant;

use super::SessionConfig;
use super::io::{Action, ConnId, TorrentId};
use super::outputs::Outputs;
use super::peers::Peers;
use super::torrent::table::Torrents;

impl Peers {
    /// A block of `conn` for torrent `id` was handed to the disk: once the torrent's unwritten
    /// bytes reached the cap, pause `conn` and every other connection of the torrent we await
    /// blocks from. Pausing only the one that crossed the cap let the others go on reading
    /// until each delivered a block of its own, every such read past the cap held in memory.
    pub(crate) fn pause_if_unwritten_full(
        &mut self,
        conn: ConnId,
        id: TorrentId,
        torrents: &Torrents,
        config: &SessionConfig,
        out: &mut Outputs,
    ) {
        let full = torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_some_and(|d| d.pipeline.unwritten >= config.max_unwritten_bytes);
        if !full {
            return;
        }
        if self.pause_reading(conn) {
            out.action(Action::PauseReading { conn });
        }
        let senders: Vec<ConnId> = self
            .open_of(id)
            .filter(|(c, p)| *c != conn && p.conn.requests_out().next().is_some())
            .map(|(c, _)| c)
            .collect();
        for other in senders {
            if self.pause_reading(other) {
                out.action(Action::PauseReading { conn: other });
            }
        }
    }

    /// A write of torrent `id` finished: resume its paused connections once the unwritten
    /// bytes are down to half the cap. (A pause always has writes pending, and every write's
    /// completion comes here, so no connection stays paused.)
    pub(crate) fn resume_if_unwritten_drained(
        &mut self,
        now: Instant,
        id: TorrentId,
        torrents: &mut Torrents,
        config: &SessionConfig,
        out: &mut Outputs,
    ) {
        let drained = torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_none_or(|d| d.pipeline.unwritten <= config.max_unwritten_bytes / 2);
        if !drained {
            return;
        }
        for conn in self.ids_of(id) {
            if self.resume_reading(conn) {
                out.action(Action::ResumeReading { conn });
                self.restart_clocks(now, conn, torrents);
            }
        }
    }

    /// Holds the timers of every paused connection at `now` (before timers fire).
    pub(crate) fn hold_paused_clocks(&mut self, now: Instant, torrents: &mut Torrents) {
        for conn in self.paused() {
            self.restart_clocks(now, conn, torrents);
        }
    }

    fn restart_clocks(&mut self, now: Instant, conn: ConnId, torrents: &mut Torrents) {
        let Some(peer) = self.get_mut(conn) else {
            return;
        };
        peer.conn.restart_receive_clocks(now);
        let key = peer.key;
        if let Some(d) = peer
            .torrent
            .and_then(|id| torrents.get_mut(&id))
            .and_then(|t| t.data.as_mut())
        {
            d.picker.restart_clock(key, now);
        }
    }
}
