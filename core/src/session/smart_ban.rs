//! The smart ban in the session: a failed piece's blocks are read back and their digests
//! recorded with who sent each; when the piece later passes, its blocks are read again and any
//! peer whose block differed from the good one is banned and closed (see
//! [`crate::picker::Picker::check_passed_blocks`]).
//!
//! The proof often comes after the culprit disconnected, so each torrent keeps the address and
//! peer id of closed peers the picker still holds records of ([`Departed`], bounded): they are
//! banned then too, and a connection they opened again meanwhile is closed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::outputs::Outputs;
use super::peers::Peers;
use super::torrent::table::Torrents;
use crate::id::PeerId;
use crate::picker::{PeerKey, Picker};

/// Departed peers remembered per torrent at most (the oldest are forgotten first).
const MAX_DEPARTED: usize = 256;

/// Who a closed connection was: where it listens (or connected from) and its peer id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DepartedPeer {
    pub(crate) addr: SocketAddr,
    pub(crate) peer_id: Option<PeerId>,
}

/// Closed peers of one torrent whose blocks the picker may still judge, by picker key.
#[derive(Debug, Default)]
pub(crate) struct Departed {
    peers: BTreeMap<PeerKey, DepartedPeer>,
}

impl Departed {
    /// Remembers a peer that just closed, if `picker` (which already forgot the connection)
    /// still holds records of it. When full, peers the picker no longer names are dropped
    /// first, then the oldest.
    pub(crate) fn peer_closed(&mut self, picker: &Picker, key: PeerKey, peer: DepartedPeer) {
        if !picker.has_records_of(key) {
            return;
        }
        if self.peers.len() >= MAX_DEPARTED {
            let live = picker.recorded_peers();
            self.peers.retain(|k, _| live.contains(k));
        }
        if self.peers.len() >= MAX_DEPARTED {
            // Keys are allocated in increasing order: the first is the oldest.
            self.peers.pop_first();
        }
        self.peers.insert(key, peer);
    }

    /// Takes a departed peer out (it is being banned).
    pub(crate) fn take(&mut self, key: PeerKey) -> Option<DepartedPeer> {
        self.peers.remove(&key)
    }

    /// Peers remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }
}

/// Bans a peer from torrent `id` by address and peer id (never dialled or accepted again) and
/// tells the application.
pub(crate) fn ban_addr(
    torrents: &mut Torrents,
    out: &mut Outputs,
    id: TorrentId,
    who: DepartedPeer,
    reason: &PeerCloseReason,
) {
    if let Some(t) = torrents.get_mut(&id) {
        t.candidates.ban(who.addr, who.peer_id);
    }
    out.event(Event::PeerBanned {
        torrent: id,
        addr: who.addr,
        reason: reason.clone(),
    });
}

/// The peer with picker key `key` in torrent `id`, to ban, and its connections: open, or
/// found among the torrent's departed peers (taken out) with any connection it opened again
/// meanwhile. `None`: neither.
pub(crate) fn ban_target(
    peers: &Peers,
    torrents: &mut Torrents,
    id: TorrentId,
    key: PeerKey,
) -> Option<(DepartedPeer, Vec<ConnId>)> {
    let open = peers.by_key(key).and_then(|conn| {
        let p = peers.get(conn)?;
        let who = DepartedPeer {
            addr: p.listen_addr.unwrap_or(p.addr),
            peer_id: p.conn.peer_id(),
        };
        Some((who, vec![conn]))
    });
    if open.is_some() {
        return open;
    }
    let gone = torrents
        .get_mut(&id)
        .and_then(|t| t.peering.get_mut()?.departed.take(key))?;
    Some((gone, peers.conns_of_peer(id, gone)))
}

impl Peers {
    /// Open connections of a torrent to a peer that left and may have come back: same peer id,
    /// or same listen address.
    pub(crate) fn conns_of_peer(&self, id: TorrentId, peer: DepartedPeer) -> Vec<ConnId> {
        self.ids_of(id)
            .into_iter()
            .filter(|&conn| {
                self.get(conn).is_some_and(|p| {
                    p.listen_addr.unwrap_or(p.addr) == peer.addr
                        || (peer.peer_id.is_some() && p.conn.peer_id() == peer.peer_id)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::layout::Layout;
    use crate::picker::{PeerRate, PickerConfig, Received};

    fn who(k: u32) -> DepartedPeer {
        DepartedPeer {
            addr: SocketAddr::from(([10, 0, 0, 1], 1000 + k as u16)),
            peer_id: None,
        }
    }

    #[test]
    fn departed_peers_are_kept_while_the_picker_names_them_and_bounded() {
        let now = Instant::now();
        let n = MAX_DEPARTED as u32 + 10;
        // One 16 KiB block per piece: each peer sends one piece, left unverified.
        let layout = Layout::new(16 * 1024, [(u64::from(n + 1) * 16 * 1024, false)]).unwrap();
        let mut picker = Picker::new(&layout, PickerConfig::default(), 1);
        let mut departed = Departed::default();
        let rate = PeerRate {
            download_rate: 1 << 20,
            rtt: Duration::ZERO,
            reqq: 1,
        };
        // A peer that sent nothing is not kept.
        picker.add_peer(PeerKey(9999));
        picker.remove_peer(PeerKey(9999));
        departed.peer_closed(&picker, PeerKey(9999), who(9999));
        assert_eq!(departed.len(), 0);
        let mut pieces = Vec::new();
        for k in 0..n {
            let key = PeerKey(k);
            picker.add_peer(key);
            picker.peer_have_all(key).unwrap();
            picker.peer_unchoked(now, key);
            let r = picker.pick(now, key, rate);
            assert!(matches!(
                picker.block_received(now, key, r[0]),
                Received::Accepted { .. }
            ));
            pieces.push(r[0].piece);
            picker.remove_peer(key);
            departed.peer_closed(&picker, key, who(k));
            assert!(departed.len() <= MAX_DEPARTED);
        }
        // Full: the oldest were dropped.
        assert_eq!(departed.len(), MAX_DEPARTED);
        assert!(departed.take(PeerKey(0)).is_none());
        // Pieces that pass leave nothing to judge: their senders (10 to 99 still kept) go
        // first when full.
        for &piece in &pieces[..100] {
            let _ = picker.piece_passed(piece);
        }
        picker.add_peer(PeerKey(n));
        picker.peer_have_all(PeerKey(n)).unwrap();
        picker.peer_unchoked(now, PeerKey(n));
        let r = picker.pick(now, PeerKey(n), rate);
        let _ = picker.block_received(now, PeerKey(n), r[0]);
        picker.remove_peer(PeerKey(n));
        departed.peer_closed(&picker, PeerKey(n), who(n));
        assert_eq!(departed.len(), MAX_DEPARTED - 90 + 1);
        assert_eq!(departed.take(PeerKey(10)), None, "its piece passed");
        assert_eq!(departed.take(PeerKey(200)), Some(who(200)));
        assert_eq!(departed.take(PeerKey(n)), Some(who(n)));
    }
}
