//! The choker's part: who we upload to. A peer's interest may take a free slot at once (or
//! free one); otherwise the torrent's [`Choker`](crate::choker::Choker) decides at each
//! rechoke from the peers' rates, and each connection is choked or unchoked accordingly.

use std::time::Instant;

use super::Session;
use super::io::{ConnId, TorrentId};
use super::peers::Peer;
use crate::choker::{ChokeMode, Choker, PeerStats};
use crate::picker::Picker;

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
        let slots = self.config.choker.upload_slots + self.config.choker.optimistic_slots;
        let of_torrent = self.peers.values().filter(|p| p.torrent == Some(id));
        if interest_needs_rechoke(&t.choker, peer, of_torrent, slots) {
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
        let of_torrent = self.peers.values().filter(|p| p.torrent == Some(id));
        let stats = peer_stats(now, of_torrent, &d.picker);
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

/// Whether `peer`'s change of interest calls for a rechoke at once: a new interested peer
/// takes a free slot (of `slots`, counted over the torrent's peers `of_torrent`); a peer
/// losing interest frees its slot.
fn interest_needs_rechoke<'a>(
    choker: &Choker,
    peer: &Peer,
    of_torrent: impl Iterator<Item = &'a Peer>,
    slots: usize,
) -> bool {
    let unchoked = choker.is_unchoked(peer.key);
    let interested = peer.conn.peer_interested();
    if !interested {
        return unchoked;
    }
    !unchoked && of_torrent.filter(|p| choker.is_unchoked(p.key)).count() < slots
}

/// What the choker weighs of each established peer of a torrent (`of_torrent`) at `now`.
fn peer_stats<'a>(
    now: Instant,
    of_torrent: impl Iterator<Item = &'a Peer>,
    picker: &Picker,
) -> Vec<PeerStats> {
    of_torrent
        .filter(|p| p.established)
        .map(|p| PeerStats {
            peer: p.key,
            interested: p.conn.peer_interested(),
            download_rate: p.down.rate(now),
            upload_rate: p.up.rate(now),
            connected_at: p.connected_at,
            snubbed: picker.is_snubbed(p.key),
        })
        .collect()
}
