//! The choker's part: who we upload to. A peer's interest may take a free slot at once (or
//! free one); otherwise the torrent's [`Choker`](crate::choker::Choker) decides at each
//! rechoke from the peers' rates, and each connection is choked or unchoked accordingly.

use std::collections::BTreeSet;
use std::time::Instant;

use super::SessionConfig;
use super::io::TorrentId;
use super::peers::{Peer, Peers};
use super::torrent::Torrent;
use crate::choker::{ChokeMode, PeerStats};
use crate::picker::{PeerKey, Picker};

impl Torrent {
    /// Whether `peer`'s change of interest calls for a rechoke of torrent `id` at once: a new
    /// interested peer takes a free slot; a peer losing interest frees its slot.
    pub(crate) fn interest_needs_rechoke(
        &self,
        id: TorrentId,
        peer: &Peer,
        peers: &Peers,
        config: &SessionConfig,
    ) -> bool {
        let slots = config.choker.upload_slots + config.choker.optimistic_slots;
        let unchoked = self.choker.is_unchoked(peer.key);
        if !peer.conn.peer_interested() {
            return unchoked;
        }
        !unchoked
            && peers
                .values()
                .filter(|p| p.torrent == Some(id) && self.choker.is_unchoked(p.key))
                .count()
                < slots
    }

    /// Decides who of torrent `id`'s peers we upload to (`None`: the torrent does not run).
    pub(crate) fn choke_decision(
        &mut self,
        now: Instant,
        id: TorrentId,
        peers: &Peers,
    ) -> Option<BTreeSet<PeerKey>> {
        let d = self.data.as_ref()?;
        if !self.is_running() {
            return None;
        }
        let mode = if d.picker.is_finished() {
            ChokeMode::Seeding
        } else {
            ChokeMode::Downloading
        };
        let of_torrent = peers.values().filter(|p| p.torrent == Some(id));
        let stats = peer_stats(now, of_torrent, &d.picker);
        Some(self.choker.rechoke(now, mode, &stats).unchoke)
    }
}

/// Chokes or unchokes an established connection as decided (`unchoke`).
pub(crate) fn apply(now: Instant, peer: &mut Peer, unchoke: &BTreeSet<PeerKey>) {
    if peer.established {
        let _ = if unchoke.contains(&peer.key) {
            peer.conn.unchoke(now)
        } else {
            peer.conn.choke(now)
        };
    }
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
