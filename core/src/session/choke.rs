//! The choker's part: who we upload to. A peer's interest may take a free slot at once (or
//! free one); otherwise the torrent's [`Choker`](crate::choker::Choker) decides at each
//! rechoke from the peers' rates, and each connection is choked or unchoked accordingly.
//!
//! A running torrent without connections sleeps: its rechokes (each would decide over no
//! peer) are not filed among its deadlines, so an idle session with many torrents does not
//! wake for them. The choker catches up on them
//! ([`Choker::idle_until`](crate::choker::Choker::idle_until)) before it is used
//! again and when the torrent wakes, so it decides as if it had rechoked on time all along.

use std::collections::BTreeSet;
use std::time::Instant;

use super::SessionConfig;
use super::io::TorrentId;
use super::peers::{Peer, Peers};
use super::torrent::Torrent;
use crate::choker::{ChokeMode, PeerStats};
use crate::picker::{PeerKey, Picker};

impl Torrent {
    /// Puts the choker to sleep or wakes it as the torrent now stands (when its deadline is
    /// filed, at `now`): it sleeps while the torrent runs without connections.
    pub(crate) fn settle_choker(&mut self, now: Instant) {
        let asleep = self.is_running() && self.data.is_some() && !self.peers_open;
        if asleep && !self.choke_asleep {
            self.choker.due_from(now);
            self.quiet_since = now;
        } else if self.choke_asleep && !asleep {
            self.choker.idle_until(now);
        }
        self.choke_asleep = asleep;
    }

    /// Brings a sleeping choker up to `now` before it is used (a connection may have come
    /// since the torrent was last filed).
    pub(crate) fn wake_choker(&mut self, now: Instant) {
        if self.choke_asleep {
            self.choker.idle_until(now);
        }
    }

    /// The choker's next rechoke, while the torrent runs and is awake (`now`: the session's
    /// latest instant, when none was made yet).
    pub(crate) fn rechoke_deadline(&self, now: Instant) -> Option<Instant> {
        let awake = self.is_running() && self.data.is_some() && !self.choke_asleep;
        awake.then(|| self.choker.poll_timeout().unwrap_or(now))
    }

    /// Whether `peer`'s change of interest calls for a rechoke of torrent `id` at once: a new
    /// interested peer takes a free slot or one held by a peer that wasted it; a peer losing
    /// interest frees its slot.
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
        if unchoked {
            return false;
        }
        let (mut held, mut wasted) = (0, false);
        for (_, p) in peers.open_of(id) {
            if self.choker.is_unchoked(p.key) {
                held += 1;
                wasted |= p.wasted;
            }
        }
        held < slots || wasted
    }

    /// Decides who of torrent `id`'s peers we upload to (`None`: the torrent does not run).
    pub(crate) fn choke_decision(
        &mut self,
        now: Instant,
        id: TorrentId,
        peers: &Peers,
    ) -> Option<BTreeSet<PeerKey>> {
        if !self.is_running() {
            return None;
        }
        self.wake_choker(now);
        let finished = self.is_finished();
        let d = self.data.as_ref()?;
        let mode = if finished {
            ChokeMode::Seeding
        } else {
            ChokeMode::Downloading
        };
        let of_torrent = peers.open_of(id).map(|(_, p)| p);
        let stats = peer_stats(now, of_torrent, &d.picker);
        Some(self.choker.rechoke(now, mode, &stats).unchoke)
    }
}

/// Chokes or unchokes an established connection as decided (`unchoke`).
pub(crate) fn apply(now: Instant, peer: &mut Peer, unchoke: &BTreeSet<PeerKey>) {
    if peer.established {
        if unchoke.contains(&peer.key) {
            if peer.conn.unchoke(now).is_ok() && peer.unchoked_at.is_none() {
                peer.unchoked_at = Some(now);
            }
        } else if peer.conn.choke(now).is_ok() {
            peer.unchoked_at = None;
        }
    }
}

/// When an unchoked, interested peer that has not traded since its unchoke is found to waste
/// its upload slot ([`SessionConfig::unchoke_patience`]); `None`: it is choked, trades, or
/// was found so already.
pub(crate) fn waste_deadline(peer: &Peer, config: &SessionConfig) -> Option<Instant> {
    let since = peer.unchoked_at?;
    let traded = peer.traded_at.is_some_and(|t| t >= since);
    if peer.wasted || traded || !peer.conn.peer_interested() {
        return None;
    }
    since.checked_add(config.unchoke_patience)
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
            wasted: p.wasted,
        })
        .collect()
}

#[cfg(test)]
#[path = "choke_tests.rs"]
mod choke_tests;
