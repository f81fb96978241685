//! Handshake matching: which torrent an inbound connection is for (the encrypted handshake
//! names it among our active torrents, the BitTorrent handshake by info-hash), and which
//! connections to refuse once the peer's id is known (ourselves, banned peers, limits, the
//! second of two connections between the same pair). At the torrent's connection limit a
//! newcomer replaces the least useful connection of the torrent, if one is (see `evict`).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::SessionConfig;
use super::connect::OwnAddr;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::outputs::Outputs;
use super::peers::Peers;
use super::torrent::Torrent;
use super::torrent::candidates::Source;
use super::torrent::table::Torrents;
use crate::id::{InfoHash, PeerId};
use crate::wire::ExtendedHandshake;
use crate::wire::mse::{MseTorrents, req2_of};

/// The active torrents an inbound encrypted handshake may name, found through the table's
/// index (one lookup per handshake, whatever the number of torrents).
pub(crate) struct Named<'a>(pub(crate) &'a Torrents);

impl MseTorrents for Named<'_> {
    fn named(&self, req2: &[u8; 20]) -> Option<InfoHash> {
        let id = self.0.by_req2(req2)?;
        let t = self.0.get(&id).filter(|t| t.accepts_peers())?;
        t.handshake_ids().find(|h| req2_of(h) == *req2)
    }
}

/// What an inbound connection's handshake leads to.
pub(crate) enum Inbound {
    /// Close it for this reason.
    Refuse(PeerCloseReason),
    /// It joins torrent `.0`.
    Join(TorrentId),
    /// It joins torrent `.0` if a connection of that torrent makes room (see `evict`).
    Full(TorrentId),
}

impl Peers {
    /// An inbound connection's handshake named `info_hash`, for the peer `peer_id` (`ours`:
    /// our own id): which torrent it joins, or why it closes.
    pub(crate) fn inbound(
        &self,
        conn: ConnId,
        info_hash: InfoHash,
        peer_id: PeerId,
        ours: PeerId,
        torrents: &Torrents,
        config: &SessionConfig,
    ) -> Inbound {
        if peer_id == ours {
            return Inbound::Refuse(PeerCloseReason::SelfConnection);
        }
        let Some(id) = torrents.by_hash(&info_hash) else {
            return Inbound::Refuse(PeerCloseReason::UnknownTorrent);
        };
        let ip = self.get(conn).map(|p| p.addr.ip());
        match self.inbound_check(id, torrents.get(&id), ip, peer_id, config) {
            Err(reason) => Inbound::Refuse(reason),
            Ok(true) => Inbound::Join(id),
            Ok(false) => Inbound::Full(id),
        }
    }

    /// A peer's extended handshake: its client's name, and for an inbound connection the
    /// port it listens on (a candidate of its torrent, kept busy while connected; `own`: our
    /// own addresses, never candidates).
    pub(crate) fn extended_handshake(
        &mut self,
        conn: ConnId,
        h: &ExtendedHandshake,
        torrents: &mut Torrents,
        own: OwnAddr,
    ) {
        let Some(peer) = self.get_mut(conn) else {
            return;
        };
        if let Some(client) = &h.client {
            peer.client = Some(client.chars().take(64).collect());
        }
        let Some(port) = h.port.filter(|p| *p != 0 && !peer.outbound) else {
            return;
        };
        let listen = SocketAddr::new(peer.addr.ip(), port);
        peer.listen_addr = Some(listen);
        if let Some(id) = peer.torrent
            && !own.is(listen)
            && let Some(t) = torrents.get_mut(&id)
        {
            t.candidates.add(listen, Source::Ltep);
            t.candidates.set_busy(listen);
        }
    }

    /// An inbound connection's handshake named torrent `id` (`t`) for the peer `peer_id` at
    /// `ip`: whether the torrent takes it (`Ok(true)`: yes; `Ok(false)`: at its connection limit) or
    /// refuses it (`Err`: close it for that reason).
    pub(crate) fn inbound_check(
        &self,
        id: TorrentId,
        t: Option<&Torrent>,
        ip: Option<IpAddr>,
        peer_id: PeerId,
        config: &SessionConfig,
    ) -> Result<bool, PeerCloseReason> {
        let t = t
            .filter(|t| t.accepts_peers())
            .ok_or(PeerCloseReason::UnknownTorrent)?;
        if t.candidates.is_banned_id(peer_id) || ip.is_some_and(|ip| t.candidates.is_banned_ip(ip))
        {
            return Err(PeerCloseReason::Banned);
        }
        Ok(self.of_torrent(id) < t.peer_limit(config))
    }

    /// An inbound connection joins torrent `id` (`t`): it tells the peer our side of the
    /// handshake (`Err`: close it for that reason).
    pub(crate) fn join(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: TorrentId,
        t: &Torrent,
    ) -> Result<(), PeerCloseReason> {
        let Some(peer) = self.name_torrent(conn, id) else {
            return Ok(());
        };
        peer.conn
            .accept(now, t.params())
            .map_err(|_| PeerCloseReason::UnknownTorrent)
    }

    /// What to do with a connection whose handshake finished with the peer's id `peer_id`
    /// (`ours`: our own id).
    pub(crate) fn established(
        &self,
        conn: ConnId,
        peer_id: PeerId,
        ours: PeerId,
        torrents: &Torrents,
    ) -> Established {
        if peer_id == ours {
            return Established::Refuse(PeerCloseReason::SelfConnection);
        }
        let Some(peer) = self.get(conn) else {
            return Established::Gone;
        };
        let Some(id) = peer.torrent else {
            return Established::Refuse(PeerCloseReason::UnknownTorrent);
        };
        if torrents
            .get(&id)
            .is_some_and(|t| t.candidates.is_banned_id(peer_id))
        {
            return Established::Refuse(PeerCloseReason::Banned);
        }
        // Two connections between the same pair (both dialled at once): keep the one opened
        // by the lower peer id, so both sides keep the same one.
        let twin = self.open_of(id).find(|(other, p)| {
            *other != conn && p.established && p.conn.peer_id() == Some(peer_id)
        });
        let Some((twin, _)) = twin else {
            return Established::Keep { twin: None };
        };
        let we_initiate_kept = ours < peer_id;
        // The kept connection is the one whose initiator has the lower id.
        if peer.outbound == we_initiate_kept {
            Established::Keep { twin: Some(twin) }
        } else {
            Established::Refuse(PeerCloseReason::Duplicate)
        }
    }

    /// Marks a connection established in its torrent (an outbound one's candidate is
    /// connected) and tells the application (`utp`: it runs over uTP). Returns its torrent.
    pub(crate) fn establish(
        &mut self,
        now: Instant,
        conn: ConnId,
        utp: bool,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> Option<TorrentId> {
        let peer = self.get_mut(conn)?;
        let id = peer.torrent?;
        peer.established = true;
        peer.established_at = Some(now);
        let addr = peer.addr;
        if peer.outbound
            && let Some(t) = torrents.get_mut(&id)
        {
            t.candidates.connected(addr);
        }
        out.event(Event::PeerConnected {
            torrent: id,
            addr,
            utp,
        });
        Some(id)
    }
}

/// What to do with a connection whose handshake finished.
pub(crate) enum Established {
    /// The connection is gone.
    Gone,
    /// Close it for this reason.
    Refuse(PeerCloseReason),
    /// Keep it (closing its `twin`, the other connection between the same pair, if any).
    Keep {
        /// The duplicate to close first.
        twin: Option<ConnId>,
    },
}
