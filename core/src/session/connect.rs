//! Opening and closing connections: dialling candidates within the limits, accepting inbound
//! sockets, connect results, and removing a connection from everything that knows it.

use std::net::SocketAddr;
use std::time::Instant;

use super::Session;
use super::config::OutgoingEncryption;
use super::event::{Event, PeerCloseReason};
use super::io::{Action, ConnId, TorrentId};
use super::peers::{Dialing, Peer};
use super::penalty::Penalties;
use super::smart_ban::DepartedPeer;
use super::torrent::candidates::Source;
use crate::wire::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4, MAX_PAD as MSE_MAX_PAD};
use crate::wire::{CloseReason, Connection, TorrentParams};

impl Session {
    /// Whether `addr` is our own listen address (dialling it would connect to ourselves;
    /// opentracker returns our own address among the peers).
    pub(super) fn is_own_addr(&self, addr: SocketAddr) -> bool {
        let port = self.config.listen_port;
        if port == 0 || addr.port() != port {
            return false;
        }
        let ip = addr.ip();
        ip.is_loopback()
            || ip.is_unspecified()
            || Some(ip) == self.listen_ip
            || Some(ip) == self.config.announce_ip
    }

    /// Adds addresses to a torrent's candidates (our own address excluded).
    pub(super) fn add_candidates(&mut self, id: TorrentId, peers: &[SocketAddr], source: Source) {
        let own: Vec<bool> = peers.iter().map(|a| self.is_own_addr(*a)).collect();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !t.is_active() {
            return;
        }
        for (addr, own) in peers.iter().zip(own) {
            if !own {
                t.candidates.add(*addr, source);
            }
        }
    }

    /// Whether another connection to `ip` is allowed (loopback is exempt: local swarms and
    /// tests run every peer on 127.0.0.1).
    fn ip_allows(&self, addr: SocketAddr) -> bool {
        addr.ip().is_loopback() || self.peers.to_ip(addr.ip()) < self.config.max_connections_per_ip
    }

    /// The most connections of torrent `id`: its own limit, else the session's.
    pub(super) fn peer_limit_of(&self, id: TorrentId) -> usize {
        self.torrents
            .get(&id)
            .and_then(|t| t.limits.max_connections)
            .unwrap_or(self.config.max_connections_per_torrent)
    }

    /// The penalty box's settings.
    fn penalties(&self) -> Penalties {
        Penalties {
            strikes: self.config.penalty_strikes,
            duration: self.config.penalty_duration,
            capacity: self.config.max_penalized_addresses,
        }
    }

    /// Closes the least useful connection `eligible` allows to make room for a newcomer (see
    /// `evict`); `false`: every one keeps its slot.
    pub(super) fn evict(&mut self, now: Instant, eligible: impl Fn(ConnId, &Peer) -> bool) -> bool {
        let grace = self.config.interest_grace;
        let Some((conn, _)) = self.peers.least_useful(now, grace, eligible) else {
            return false;
        };
        self.close_conn(now, conn, PeerCloseReason::Evicted);
        true
    }

    /// Dials candidates while the limits allow.
    pub(super) fn dial(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            loop {
                if self.peers.half_open() >= self.config.max_half_open {
                    return;
                }
                let Some(t) = self.torrents.get(&id) else {
                    break;
                };
                let dialable = matches!(
                    t.stage,
                    super::torrent::Stage::Running | super::torrent::Stage::Metadata
                );
                if !dialable || t.options.no_outbound {
                    break;
                }
                // At a limit, a candidate ready to dial replaces the least useful connection.
                let total_full = self.peers.total() >= self.config.max_connections;
                let torrent_full = self.peers.of_torrent(id) >= self.peer_limit_of(id);
                if (total_full || torrent_full) && !t.candidates.has_ready(now, t.is_seed()) {
                    break;
                }
                if total_full && !self.evict(now, |_, _| true) {
                    return;
                }
                if torrent_full && !self.evict(now, |_, p| p.torrent == Some(id)) {
                    break;
                }
                let Some(t) = self.torrents.get_mut(&id) else {
                    break;
                };
                let we_are_seed = t.is_seed();
                let Some(addr) = t.candidates.next(now, we_are_seed) else {
                    break;
                };
                if !(addr.ip().is_loopback()
                    || self.peers.to_ip(addr.ip()) < self.config.max_connections_per_ip)
                {
                    if let Some(t) = self.torrents.get_mut(&id) {
                        t.candidates.closed(now, addr, false, false);
                    }
                    continue;
                }
                let conn = self.peers.alloc_conn();
                self.peers.start_dial(
                    conn,
                    Dialing {
                        addr,
                        torrent: id,
                        since: now,
                    },
                );
                self.actions.push_back(Action::Connect { conn, addr });
            }
        }
    }

    /// An inbound socket: a connection waiting for the peer's handshake, if limits allow. At
    /// the pending-inbound or overall limit it replaces the least useful connection (see
    /// `evict`); a penalised address is refused.
    pub(super) fn accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        if self.shutting_down
            || self.peers.penalties.is_refused(remote.ip(), now)
            || !self.ip_allows(remote)
        {
            return None;
        }
        if self.peers.pending_inbound() >= self.config.max_pending_inbound
            && !self.evict(now, |_, p| p.torrent.is_none())
        {
            return None;
        }
        if self.peers.total() >= self.config.max_connections && !self.evict(now, |_, _| true) {
            return None;
        }
        let id = self.peers.alloc_conn();
        let key = self.peers.alloc_key();
        let mut conn = Connection::inbound(now, self.wire.clone(), Some(remote.ip()));
        let (private, pad) = self.mse_secrets();
        conn.answer_encrypted(private, pad);
        let peer = Peer::new(conn, remote, None, key, false, now);
        self.peers.insert(id, peer);
        Some(id)
    }

    /// A fresh MSE private key and padding (0–512 bytes) from the session's RNG.
    fn mse_secrets(&mut self) -> ([u8; 20], Vec<u8>) {
        let mut private = [0; 20];
        self.rng.fill(&mut private);
        let mut pad = vec![0; self.rng.index(MSE_MAX_PAD + 1)];
        self.rng.fill(&mut pad);
        (private, pad)
    }

    /// Whether to dial `addr` of torrent `id` with the encrypted handshake.
    fn dial_encrypted(&self, id: TorrentId, addr: SocketAddr) -> bool {
        let other = self
            .torrents
            .get(&id)
            .is_some_and(|t| t.candidates.other_handshake(addr));
        match self.config.outgoing_encryption {
            OutgoingEncryption::Never => false,
            OutgoingEncryption::Fallback => other,
            OutgoingEncryption::Prefer => !other,
        }
    }

    /// The result of a connect.
    pub(super) fn connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
    ) {
        let Some(dialing) = self.peers.end_dial(conn) else {
            return;
        };
        let addr = dialing.addr;
        let id = dialing.torrent;
        let active = self.torrents.get(&id).is_some_and(|t| t.is_active());
        if let Err(kind) = result {
            if let Some(t) = self.torrents.get_mut(&id) {
                t.candidates.closed(now, addr, true, false);
            }
            self.events.push_back(Event::PeerClosed {
                torrent: Some(id),
                addr,
                reason: PeerCloseReason::ConnectFailed(kind),
            });
            return;
        }
        if !active {
            self.actions.push_back(Action::Close { conn });
            return;
        }
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let (geometry, bits, metadata_size) = match &t.data {
            Some(d) => (
                Some(crate::wire::PieceGeometry::of_layout(d.meta.layout())),
                Some(&d.bits),
                Some(d.meta.info_bytes().len() as u64),
            ),
            None => (None, None, None),
        };
        let params = TorrentParams {
            info_hash: t.info_hash,
            geometry,
            our_pieces: bits,
            metadata_size,
        };
        let Ok(mut c) = Connection::outbound(now, self.wire.clone(), Some(addr.ip()), params)
        else {
            self.actions.push_back(Action::Close { conn });
            return;
        };
        if self.dial_encrypted(id, addr) {
            // The wire connection's handshake waits in it until MSE ends.
            let (private, pad) = self.mse_secrets();
            c.open_encrypted(private, pad, CRYPTO_PLAINTEXT | CRYPTO_RC4);
        }
        let key = self.peers.alloc_key();
        let mut peer = Peer::new(c, addr, Some(id), key, true, now);
        peer.listen_addr = Some(addr);
        self.peers.insert(conn, peer);
        self.drive(now, conn);
    }

    /// Connects that took too long.
    pub(super) fn expire_dials(&mut self, now: Instant) {
        let timeout = self.config.connect_timeout;
        let mut expired = self.conns_due(now);
        expired.retain(|conn| {
            self.peers
                .dial(*conn)
                .is_some_and(|d| now >= d.since + timeout)
        });
        for conn in expired {
            self.actions.push_back(Action::Close { conn });
            self.connected(now, conn, Err(std::io::ErrorKind::TimedOut));
        }
    }

    /// The runtime saw the socket close.
    pub(super) fn socket_closed(&mut self, now: Instant, conn: ConnId) {
        if let Some(d) = self.peers.end_dial(conn) {
            if let Some(t) = self.torrents.get_mut(&d.torrent) {
                t.candidates.closed(now, d.addr, true, false);
            }
            return;
        }
        let reason = PeerCloseReason::Wire(CloseReason::RemoteClosed);
        self.drop_conn(now, conn, reason, false);
    }

    /// Closes a connection on our initiative.
    pub(super) fn close_conn(&mut self, now: Instant, conn: ConnId, reason: PeerCloseReason) {
        self.drop_conn(now, conn, reason, true);
    }

    /// Removes a connection from the table, its torrent's picker and choker, and tells the
    /// runtime (`send_close`) and the application.
    pub(super) fn drop_conn(
        &mut self,
        now: Instant,
        conn: ConnId,
        reason: PeerCloseReason,
        send_close: bool,
    ) {
        let Some(peer) = self.peers.remove(conn) else {
            return;
        };
        if send_close {
            self.actions.push_back(Action::Close { conn });
        }
        if is_strike(&peer, &reason) {
            let penalties = self.penalties();
            self.peers.penalties.strike(peer.addr.ip(), now, penalties);
        }
        let failed = !peer.established
            || matches!(
                reason,
                PeerCloseReason::Wire(
                    CloseReason::Protocol(_)
                        | CloseReason::Misbehaved(_)
                        | CloseReason::HandshakeTimeout
                )
            );
        let peer_was_seed = peer
            .conn
            .peer_pieces()
            .is_some_and(|p| !p.is_empty() && p.is_full());
        let mut rechoke = false;
        if let Some(id) = peer.torrent
            && let Some(t) = self.torrents.get_mut(&id)
        {
            if let Some(d) = t.data.as_mut()
                && peer.in_picker
            {
                d.picker.remove_peer(peer.key);
                let who = DepartedPeer {
                    addr: peer.listen_addr.unwrap_or(peer.addr),
                    peer_id: peer.conn.peer_id(),
                };
                t.departed.peer_closed(&d.picker, peer.key, who);
            }
            rechoke = t.choker.is_unchoked(peer.key);
            if let Some(listen) = peer.listen_addr {
                match reason {
                    PeerCloseReason::SelfConnection => t.candidates.remove(listen),
                    _ => t.candidates.closed(now, listen, failed, peer_was_seed),
                }
                let encryption = self.config.outgoing_encryption;
                if peer.outbound
                    && peer.conn.peer_id().is_none()
                    && encryption != OutgoingEncryption::Never
                {
                    t.candidates.handshake_failed(now, listen);
                }
            }
        }
        self.events.push_back(Event::PeerClosed {
            torrent: peer.torrent,
            addr: peer.addr,
            reason,
        });
        if let Some(id) = peer.torrent {
            self.metadata_peer_gone(now, id, conn);
            self.pex_peer_gone(id, peer.listen_addr);
            if rechoke {
                self.rechoke(now, id);
            }
            self.fill_all(now, id);
        }
    }
}

/// Whether closing `peer` for `reason` is a strike against its address: an inbound
/// connection that never sent a message and was closed for it (handshake or first-message
/// timeout, replaced by a newcomer, a malformed handshake).
fn is_strike(peer: &Peer, reason: &PeerCloseReason) -> bool {
    let useless = matches!(
        reason,
        PeerCloseReason::Evicted
            | PeerCloseReason::Silent
            | PeerCloseReason::Wire(CloseReason::HandshakeTimeout | CloseReason::Protocol(_))
    );
    !peer.outbound && peer.useful_at.is_none() && useless
}

#[cfg(test)]
#[path = "connect_mse_tests.rs"]
mod mse_tests;
