//! A connection's output: its transmits go to the runtime, and each of its events to the part
//! that owns it (handshake matching in `handshake`, availability, choking and blocks in
//! `download`, requests from the peer in `upload`, interest in us in `choke`, extension
//! messages in `metadata` and `pex`).

use std::time::Instant;

use super::Session;
use super::event::PeerCloseReason;
use super::io::{ConnId, Dest, Transmit};
use super::torrent::candidates::Source;
use crate::extensions::{UT_METADATA, UT_PEX};
use crate::picker::PeerKey;
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
                self.transmits.push_back(Transmit {
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
                    let listen = std::net::SocketAddr::new(peer.addr.ip(), port);
                    peer.listen_addr = Some(listen);
                    if let Some(id) = peer.torrent
                        && !self.is_own_addr(listen)
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
                if let Some((d, key)) = self.picker_of(conn) {
                    let _ = d.picker.peer_choked(key);
                }
                if let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) {
                    self.fill_all(now, id);
                }
            }
            WireEvent::Unchoked => {
                if let Some((d, key)) = self.picker_of(conn) {
                    d.picker.peer_unchoked(now, key);
                }
                self.fill(now, conn);
            }
            WireEvent::AllowedFast(piece) => {
                if let Some((d, key)) = self.picker_of(conn) {
                    d.picker.allowed_fast(key, piece);
                }
                self.fill(now, conn);
            }
            WireEvent::PeerInterested | WireEvent::PeerNotInterested => {
                self.interest_changed(now, conn);
            }
            WireEvent::BlockReceived { block, data } => self.on_block(now, conn, block, data),
            WireEvent::Rejected(block) => {
                if let Some((d, key)) = self.picker_of(conn) {
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

    /// The picker of a connection's torrent, with the connection's key, if registered.
    pub(super) fn picker_of(
        &mut self,
        conn: ConnId,
    ) -> Option<(&mut super::torrent::Data, PeerKey)> {
        let peer = self.peers.get(conn)?;
        if !peer.in_picker {
            return None;
        }
        let key = peer.key;
        let d = self.torrents.get_mut(&peer.torrent?)?.data.as_mut()?;
        Some((d, key))
    }
}

/// Whether a connection's event is a message from the peer (anything but a keep-alive,
/// which makes no event), as opposed to the handshake, a timer or the close.
fn is_message(event: &WireEvent) -> bool {
    !matches!(
        event,
        WireEvent::HandshakeReceived { .. }
            | WireEvent::Established { .. }
            | WireEvent::RequestTimedOut(_)
            | WireEvent::Misbehaved(_)
            | WireEvent::Closed(_)
    )
}
