//! A connection's life as the session routes it: bytes in, its transmits out to the runtime,
//! each of its events to the part that owns it (handshake matching in `handshake`,
//! availability, choking and blocks in `download`, requests from the peer in `upload`,
//! interest in us in `choke`, extension messages in `metadata` and `pex`), and its end
//! (connect results, closes) to the connection table and the torrent's parts. Handling an
//! event may close or drive other connections, so these steps take the whole session; the
//! decisions are the parts'.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use super::connect::ConnCx;
use super::event::PeerCloseReason;
use super::handshake::Established;
use super::io::{Action, ConnId, Dest, TorrentId, Transmit};
use super::peers::{Dialing, Peer};
use super::torrent::Stage;
use super::torrent::candidates::Source;
use super::{Session, download, handshake, pex};
use crate::extensions::{UT_METADATA, UT_PEX};
use crate::id::{InfoHash, PeerId};
use crate::wire::{CloseReason, Event as WireEvent};

impl Session {
    /// Drains a connection's transmits into the session's queue and handles its events.
    pub(super) fn drive(&mut self, now: Instant, conn: ConnId) {
        loop {
            let Some(peer) = self.peers.get_mut(conn) else {
                return;
            };
            // Raw bytes, whatever the transport (during an encrypted handshake, its own).
            while let Some(payload) = peer.conn.poll_transmit() {
                peer.upload.count_unsent(now, payload.len(), &self.config);
                self.out.transmit(Transmit {
                    dest: Dest::Peer(conn),
                    payload,
                });
            }
            let Some(event) = peer.conn.poll_event() else {
                return;
            };
            if peer.established && is_message(&event) {
                peer.useful_at = Some(now);
            }
            self.on_wire_event(now, conn, event);
        }
    }

    fn on_wire_event(&mut self, now: Instant, conn: ConnId, event: WireEvent) {
        match event {
            WireEvent::HandshakeReceived {
                info_hash, peer_id, ..
            } => self.on_inbound_handshake(now, conn, info_hash, peer_id),
            WireEvent::Established { peer_id, .. } => self.on_established(now, conn, peer_id),
            WireEvent::ExtendedHandshake(h) => {
                if let (Some(client), Some(peer)) = (&h.client, self.peers.get_mut(conn)) {
                    peer.client = Some(client.chars().take(64).collect());
                }
                if let Some(port) = h.port
                    && let Some(peer) = self.peers.get_mut(conn)
                    && !peer.outbound
                    && port != 0
                {
                    let listen = SocketAddr::new(peer.addr.ip(), port);
                    peer.listen_addr = Some(listen);
                    if let Some(id) = peer.torrent
                        && !self.own_addr().is(listen)
                        && let Some(t) = self.torrents.get_mut(&id)
                    {
                        t.candidates.add(listen, Source::Incoming);
                        t.candidates.set_busy(listen);
                    }
                }
                self.metadata_handshake(now, conn, &h);
                self.pex_handshake(now, conn, &h);
            }
            WireEvent::ExtendedMessage { id, payload } => match self.wire.extensions.name(id) {
                Some(UT_METADATA) => self.metadata_message(now, conn, &payload),
                Some(UT_PEX) => self.pex_message(now, conn, &payload),
                _ => {}
            },
            WireEvent::Bitfield | WireEvent::HaveAll | WireEvent::HaveNone => {
                self.sync_availability(now, conn);
            }
            WireEvent::Have(piece) => self.on_have(now, conn, piece),
            WireEvent::Choked => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    let _ = d.picker.peer_choked(key);
                }
                if let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) {
                    self.fill_all(now, id);
                }
            }
            WireEvent::Unchoked => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.peer_unchoked(now, key);
                }
                self.fill(now, conn);
            }
            WireEvent::AllowedFast(piece) => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.allowed_fast(key, piece);
                }
                self.fill(now, conn);
            }
            WireEvent::PeerInterested | WireEvent::PeerNotInterested => {
                self.interest_changed(now, conn);
            }
            WireEvent::BlockReceived { block, data } => self.on_block(now, conn, block, data),
            WireEvent::Rejected(block) => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.request_rejected(key, block);
                }
            }
            WireEvent::RequestReceived(_) => self.serve(now, conn),
            WireEvent::Closed(CloseReason::EncryptedHandshake(e)) => {
                self.close_conn(now, conn, PeerCloseReason::EncryptedHandshake(e));
            }
            WireEvent::Closed(reason) => {
                self.close_conn(now, conn, PeerCloseReason::Wire(reason));
            }
            // Timeouts are the picker's; cancelled requests are skipped when their read
            // completes.
            _ => {}
        }
    }

    /// Raw bytes of a connection: through its transport into the connection (an inbound
    /// encrypted handshake may name any active torrent), then its transmits and events.
    pub(super) fn peer_data(&mut self, now: Instant, conn: ConnId, data: BytesMut) {
        let torrents = handshake::torrents_named(&self.peers, &self.torrents, conn);
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        if !data.is_empty() {
            peer.heard_at = Some(now);
        }
        peer.conn.handle_raw_input(now, data, &torrents);
        self.drive(now, conn);
    }

    /// An inbound connection's handshake named a torrent by info-hash: the connection joins
    /// it or closes.
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
        let t = self.torrents.get(&id);
        match self.peers.inbound_check(id, t, peer_id, &self.config) {
            Err(reason) => return self.close_conn(now, conn, reason),
            Ok(true) => {}
            Ok(false) => {
                if !self.evict(now, |other, p| other != conn && p.torrent == Some(id)) {
                    return self.close_conn(now, conn, PeerCloseReason::Limit);
                }
            }
        }
        let Some(t) = self.torrents.get(&id) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if let Err(reason) = self.peers.join(now, conn, id, t) {
            self.close_conn(now, conn, reason);
        }
    }

    /// A connection's handshake finished: refused, or established in its torrent (joining
    /// the picker and the peer exchange).
    pub(super) fn on_established(&mut self, now: Instant, conn: ConnId, peer_id: PeerId) {
        match self
            .peers
            .established(conn, peer_id, self.peer_id, &self.torrents)
        {
            Established::Gone => return,
            Established::Refuse(reason) => return self.close_conn(now, conn, reason),
            Established::Keep { twin: Some(twin) } => {
                self.close_conn(now, twin, PeerCloseReason::Duplicate);
            }
            Established::Keep { twin: None } => {}
        }
        if self
            .peers
            .establish(now, conn, &mut self.torrents, &mut self.out)
            .is_none()
        {
            return;
        }
        self.register_with_picker(now, conn);
        let own = self.own_addr();
        pex::connected(&self.peers, &mut self.torrents, own, conn);
    }

    /// The result of a connect.
    pub(super) fn connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
    ) {
        let cx = ConnCx {
            config: &self.config,
            wire: &self.wire,
            rng: &mut self.rng,
        };
        let (torrents, out) = (&mut self.torrents, &mut self.out);
        if self.peers.connected(now, conn, result, torrents, out, cx) {
            self.drive(now, conn);
        }
    }

    /// Connects that took too long.
    pub(super) fn expire_dials(&mut self, now: Instant) {
        let due = self.peers.due_now(now, &self.torrents, &self.config);
        for conn in self.peers.expired_dials(due, now, &self.config) {
            self.out.action(Action::Close { conn });
            self.connected(now, conn, Err(std::io::ErrorKind::TimedOut));
        }
    }

    /// The runtime saw the socket close.
    pub(super) fn socket_closed(&mut self, now: Instant, conn: ConnId) {
        if self.peers.dial_closed(now, conn, &mut self.torrents) {
            return;
        }
        let reason = PeerCloseReason::Wire(CloseReason::RemoteClosed);
        self.drop_conn(now, conn, reason, false);
    }

    /// Closes a connection on our initiative.
    pub(super) fn close_conn(&mut self, now: Instant, conn: ConnId, reason: PeerCloseReason) {
        self.drop_conn(now, conn, reason, true);
    }

    /// Removes a connection (see [`Peers::drop_conn`](super::peers::Peers)) and tells the
    /// runtime (`send_close`); its torrent's metadata fetch, peer exchange, choker and
    /// requests carry on without it.
    fn drop_conn(&mut self, now: Instant, conn: ConnId, reason: PeerCloseReason, send_close: bool) {
        if self.peers.get(conn).is_none() {
            return;
        }
        if send_close {
            self.out.action(Action::Close { conn });
        }
        let (torrents, config, out) = (&mut self.torrents, &self.config, &mut self.out);
        let Some(gone) = self
            .peers
            .drop_conn(now, conn, reason, torrents, config, out)
        else {
            return;
        };
        let id = gone.torrent;
        self.metadata_peer_gone(now, id, conn);
        if let (Some(t), Some(addr)) = (self.torrents.get_mut(&id), gone.listen_addr) {
            t.pex.peer_disconnected(addr);
        }
        if gone.rechoke {
            self.rechoke(now, id);
        }
        self.fill_all(now, id);
    }

    /// Closes the least useful connection `eligible` allows to make room for a newcomer (see
    /// `evict`); `false`: every one keeps its slot.
    fn evict(&mut self, now: Instant, eligible: impl Fn(ConnId, &Peer) -> bool) -> bool {
        let grace = self.config.interest_grace;
        let Some((conn, _)) = self.peers.least_useful(now, grace, eligible) else {
            return false;
        };
        self.close_conn(now, conn, PeerCloseReason::Evicted);
        true
    }

    /// Dials candidates while the limits allow; at a limit, a candidate ready to dial replaces
    /// the least useful connection, or at the half-open limit the oldest dial past its
    /// patience (see `SessionConfig::dial_patience` and `dial_patience_outranked`).
    pub(super) fn dial(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            while let Some(t) = self.torrents.get(&id) {
                let dialable = matches!(t.stage, Stage::Running | Stage::Metadata);
                if !dialable || t.options.no_outbound {
                    break;
                }
                if self.peers.half_open() >= self.config.max_half_open {
                    let Some(waiting) = t.candidates.next_standing(now, t.is_seed()) else {
                        break;
                    };
                    let torrents = &self.torrents;
                    let standing = |d: &Dialing| {
                        let t = torrents.get(&d.torrent)?;
                        t.candidates.standing_of(d.addr)
                    };
                    let Some(stale) = self.peers.stale_dial(now, &self.config, waiting, standing)
                    else {
                        break;
                    };
                    self.out.action(Action::Close { conn: stale });
                    self.connected(now, stale, Err(std::io::ErrorKind::TimedOut));
                    continue;
                }
                let total_full = self.peers.total() >= self.config.max_connections;
                let torrent_full = self.peers.of_torrent(id) >= t.peer_limit(&self.config);
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
                let (config, out) = (&self.config, &mut self.out);
                if self.peers.dial_next(now, id, t, config, out).is_none() {
                    break;
                }
            }
        }
    }

    /// An inbound socket: a connection waiting for the peer's handshake, if limits allow. At
    /// the pending-inbound or overall limit it replaces the least useful connection (see
    /// `evict`); a penalised address is refused.
    pub(super) fn accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        if self.shutting_down || !self.peers.may_accept(now, remote, &self.config) {
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
        let cx = ConnCx {
            config: &self.config,
            wire: &self.wire,
            rng: &mut self.rng,
        };
        Some(self.peers.open_inbound(now, remote, cx))
    }
}

/// Whether a connection's event is a message from the peer (anything but a keep-alive,
/// which makes no event), as opposed to the handshake, a timer or the close.
fn is_message(event: &WireEvent) -> bool {
    !matches!(
        event,
        WireEvent::HandshakeReceived { .. }
            | WireEvent::Established { .. }
            | WireEvent::Misbehaved(_)
            | WireEvent::Closed(_)
    )
}
