//! Handshake matching: which torrent an inbound connection is for (the encrypted handshake
//! names it among our active torrents, the BitTorrent handshake by info-hash), and which
//! connections to refuse once the peer's id is known (ourselves, banned peers, limits, the
//! second of two connections between the same pair). At the torrent's connection limit a
//! newcomer replaces the least useful connection of the torrent, if one is (see `evict`).

use std::time::Instant;

use bytes::BytesMut;

use super::Session;
use super::event::{Event, PeerCloseReason};
use super::io::ConnId;
use crate::id::{InfoHash, PeerId};
use crate::wire::{PieceGeometry, TorrentParams};

impl Session {
    /// Raw bytes of a connection: through its transport into the connection, then its
    /// transmits and events. An inbound encrypted handshake may name any active torrent.
    pub(super) fn peer_data(&mut self, now: Instant, conn: ConnId, data: BytesMut) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        if !data.is_empty() {
            peer.heard_at = Some(now);
        }
        let torrents: Vec<InfoHash> = if peer.conn.needs_torrents() {
            self.torrents
                .values()
                .filter(|t| t.is_active())
                .map(|t| t.info_hash)
                .collect()
        } else {
            Vec::new()
        };
        peer.conn.handle_raw_input(now, data, &torrents);
        self.drive(now, conn);
    }

    pub(super) fn on_inbound_handshake(
        &mut self,
        now: Instant,
        conn: ConnId,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) {
        if peer_id == self.peer_id {
            return self.close_conn(now, conn, PeerCloseReason::SelfConnection);
        }
        let Some(&id) = self.by_hash.get(&info_hash) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        let Some(t) = self.torrents.get(&id) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if !t.is_active() {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        }
        if t.candidates.is_banned_id(peer_id) {
            return self.close_conn(now, conn, PeerCloseReason::Banned);
        }
        if self.peers.of_torrent(id) >= self.peer_limit_of(id)
            && !self.evict(now, |other, p| other != conn && p.torrent == Some(id))
        {
            return self.close_conn(now, conn, PeerCloseReason::Limit);
        }
        let Some(t) = self.torrents.get(&id) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        let (geometry, bits, metadata_size) = match &t.data {
            Some(d) => (
                Some(PieceGeometry::of_layout(d.meta.layout())),
                Some(&d.bits),
                Some(d.meta.info_bytes().len() as u64),
            ),
            None => (None, None, None),
        };
        let params = TorrentParams {
            info_hash,
            geometry,
            our_pieces: bits,
            metadata_size,
        };
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.torrent = Some(id);
        if peer.conn.accept(now, params).is_err() {
            self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        }
    }

    pub(super) fn on_established(&mut self, now: Instant, conn: ConnId, peer_id: PeerId) {
        if peer_id == self.peer_id {
            return self.close_conn(now, conn, PeerCloseReason::SelfConnection);
        }
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if self
            .torrents
            .get(&id)
            .is_some_and(|t| t.candidates.is_banned_id(peer_id))
        {
            return self.close_conn(now, conn, PeerCloseReason::Banned);
        }
        // Two connections between the same pair (both dialled at once): keep the one opened
        // by the lower peer id, so both sides keep the same one.
        let ours_outbound = peer.outbound;
        let twin = self.peers.iter().find(|(other, p)| {
            *other != conn
                && p.established
                && p.torrent == Some(id)
                && p.conn.peer_id() == Some(peer_id)
        });
        if let Some((twin, _)) = twin {
            let we_initiate_kept = self.peer_id < peer_id;
            // The kept connection is the one whose initiator has the lower id.
            let keep_new = ours_outbound == we_initiate_kept;
            let drop = if keep_new { twin } else { conn };
            self.close_conn(now, drop, PeerCloseReason::Duplicate);
            if !keep_new {
                return;
            }
        }
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.established = true;
        peer.established_at = Some(now);
        let addr = peer.addr;
        if peer.outbound
            && let Some(t) = self.torrents.get_mut(&id)
        {
            t.candidates.connected(addr);
        }
        self.events
            .push_back(Event::PeerConnected { torrent: id, addr });
        self.register_with_picker(now, conn);
        self.pex_connected(conn);
    }
}
