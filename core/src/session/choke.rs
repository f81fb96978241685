//! The choker's part: who we upload to. A peer's interest may take a free slot at once (or
//! free one); otherwise the torrent's [`Choker`](crate::choker::Choker) decides at each
//! rechoke from the peers' rates, and each connection is choked or unchoked accordingly.

use std::time::Instant;

use super::Session;
use super::io::{ConnId, TorrentId};
use crate::choker::{ChokeMode, PeerStats};

impl Session {
    /// A peer became interested or not interested in us.
    pub(super) fn interest_changed(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let unchoked = t.choker.is_unchoked(peer.key);
        let interested = peer.conn.peer_interested();
        let slots = self.config.choker.upload_slots + self.config.choker.optimistic_slots;
        let busy = self
            .peers
            .values()
            .filter(|p| p.torrent == Some(id) && t.choker.is_unchoked(p.key))
            .count();
        // A new interested peer takes a free slot at once; a peer leaving frees its slot.
        if (interested && !unchoked && busy < slots) || (!interested && unchoked) {
            self.rechoke(now, id);
        }
    }

    /// Decides who we upload to, and chokes or unchokes accordingly.
    pub(super) fn rechoke(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let Some(d) = t.data.as_ref() else {
            return;
        };
        if !t.is_running() {
            return;
        }
        let mode = if d.picker.is_finished() {
            ChokeMode::Seeding
        } else {
            ChokeMode::Downloading
        };
        let stats: Vec<PeerStats> = self
            .peers
            .values()
            .filter(|p| p.torrent == Some(id) && p.established)
            .map(|p| PeerStats {
                peer: p.key,
                interested: p.conn.peer_interested(),
                download_rate: p.down.rate(now),
                upload_rate: p.up.rate(now),
                connected_at: p.connected_at,
                snubbed: d.picker.is_snubbed(p.key),
            })
            .collect();
        let decision = t.choker.rechoke(now, mode, &stats);
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                let _ = if decision.unchoke.contains(&p.key) {
                    p.conn.unchoke(now)
                } else {
                    p.conn.choke(now)
                };
            }
            self.drive(now, conn);
        }
    }
}
