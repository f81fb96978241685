//! Joining a torrent: accepting an inbound handshake, the handshakes both ways, the opening
//! messages (bitfield, extended handshake, port, allowed fast) and what a magnet learns later
//! (geometry, metadata size).

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;

use super::state::PeerPieces;
use super::{
    CloseReason, Connection, Event, Phase, PieceGeometry, TorrentParams, UsageError, check_pieces,
};
use crate::id::InfoHash;
use crate::wire::codec::{Decoder, PieceCount};
use crate::wire::extension_handshake::ExtendedHandshake;
use crate::wire::fast::allowed_fast_set;
use crate::wire::handshake::{Handshake, Reserved};
use crate::wire::limits::MAX_PEER_REQQ;
use crate::wire::message::Message;

impl Connection {
    /// Inbound: continue with `torrent` after [`Event::HandshakeReceived`]. The peer must
    /// have sent its info-hash or its truncated v2 hash (else the connection closes with
    /// [`CloseReason::InfoHashMismatch`]).
    ///
    /// A peer naming the v2 hash, or the v1 hash of a hybrid with the BEP 52 bit set, is
    /// answered with the v2 hash: the connection speaks v2 (BEP 52's upgrade, as libtorrent
    /// answers). Any other peer gets the v1 hash back.
    pub fn accept(&mut self, now: Instant, torrent: TorrentParams<'_>) -> Result<(), UsageError> {
        if self.phase != Phase::AwaitingAccept {
            return Err(self.state_error(UsageError::NotAwaitingAccept));
        }
        check_pieces(&torrent)?;
        let Some(peer) = self.peer else {
            return Err(UsageError::NotAwaitingAccept);
        };
        let names_v2 = torrent.v2 == Some(peer.info_hash);
        if peer.info_hash != torrent.info_hash && !names_v2 {
            self.close_with(CloseReason::InfoHashMismatch {
                expected: torrent.info_hash,
                received: peer.info_hash,
            });
            return Ok(());
        }
        self.set_torrent(&torrent);
        if let Some(v2) = torrent.v2
            && (names_v2 || peer.reserved.v2())
        {
            self.upgrade(v2);
        }
        self.send_handshake(now);
        self.establish(now);
        self.process(now);
        Ok(())
    }

    /// Tells a connection opened without metadata (magnet) the torrent's geometry. The peer's
    /// earlier bitfield and haves are checked now (the connection may close) and reported as
    /// [`Event::Bitfield`] / [`Event::HaveAll`] / [`Event::HaveNone`].
    pub fn set_geometry(
        &mut self,
        now: Instant,
        geometry: PieceGeometry,
    ) -> Result<(), UsageError> {
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        if self.geometry.is_some() {
            return Err(UsageError::GeometryKnown);
        }
        self.geometry = Some(geometry);
        self.decoder.set_piece_count(geometry.piece_count());
        self.learn_piece_count(geometry.piece_count());
        self.process(now);
        Ok(())
    }

    /// The info dictionary became known (a magnet's metadata arrived): `metadata_size` is
    /// advertised from now on. An established connection with the extension protocol gets a
    /// fresh extended handshake carrying it at once (BEP 10 allows repeated handshakes), so the
    /// peer can fetch the metadata from us; one still handshaking sends it in its first one.
    pub fn set_metadata_size(&mut self, now: Instant, size: u64) -> Result<(), UsageError> {
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        if self.metadata_size == Some(size) {
            return Ok(());
        }
        self.metadata_size = Some(size);
        if self.phase == Phase::Established && self.extended {
            self.send_extended_handshake(now);
        }
        Ok(())
    }

    pub(super) fn set_torrent(&mut self, torrent: &TorrentParams<'_>) {
        self.info_hash = Some(torrent.info_hash);
        self.geometry = torrent.geometry;
        self.metadata_size = torrent.metadata_size.or(self.metadata_size);
        self.v2 = torrent.v2;
        self.our_pieces = torrent.our_pieces.cloned();
        let count = torrent.geometry.map(|g| g.piece_count());
        self.decoder = Decoder::new(count.map_or(PieceCount::Unknown, PieceCount::Known));
        self.peer_pieces = PeerPieces::new(count);
    }

    pub(super) fn send_handshake(&mut self, now: Instant) {
        let Some(info_hash) = self.info_hash else {
            return;
        };
        let mut reserved = self.config.reserved();
        if self.v2.is_some() {
            reserved = reserved.union(Reserved::V2);
        }
        let hs = Handshake {
            reserved,
            info_hash,
            peer_id: self.config.peer_id,
        };
        self.send.raw(&hs.to_bytes());
        self.last_sent = now;
    }

    /// The handshakes name the torrent's truncated v2 hash `v2`: the connection speaks v2 (its
    /// allowed-fast set is drawn from that hash, as libtorrent draws it from the handshake's).
    pub(super) fn upgrade(&mut self, v2: InfoHash) {
        self.info_hash = Some(v2);
        self.speaks_v2 = true;
    }

    /// Both handshakes are done: negotiate and queue our opening messages.
    pub(super) fn establish(&mut self, now: Instant) {
        let Some(peer) = self.peer else { return };
        self.phase = Phase::Established;
        self.fast = self.config.fast && peer.reserved.fast();
        self.extended = self.config.extension_protocol && peer.reserved.extension_protocol();
        self.events.push_back(Event::Established {
            peer_id: peer.peer_id,
            reserved: peer.reserved,
        });
        let ours = self.our_pieces.take();
        match (self.geometry, &ours) {
            (Some(_), Some(bits)) if self.fast && bits.is_full() => {
                self.queue(now, &Message::HaveAll);
            }
            (Some(_), Some(bits)) if bits.count() != 0 => {
                self.queue(now, &Message::Bitfield(Bytes::from(bits.to_bitfield())));
            }
            _ if self.fast => self.queue(now, &Message::HaveNone),
            _ => {}
        }
        if self.extended {
            self.send_extended_handshake(now);
        }
        if peer.reserved.dht()
            && let Some(port) = self.config.dht_port
        {
            self.queue(now, &Message::Port(port));
        }
        if let (true, Some(geometry), Some(IpAddr::V4(ip)), Some(info_hash)) =
            (self.fast, self.geometry, self.remote_ip, self.info_hash)
        {
            let set = allowed_fast_set(
                ip,
                &info_hash,
                geometry.piece_count(),
                self.config.allowed_fast(),
            );
            self.fast_to_grant = set
                .into_iter()
                .filter(|&piece| ours.as_ref().is_some_and(|b| b.contains(piece)))
                .collect();
        }
    }

    /// Queues our extended handshake (BEP 10), with what we know now.
    fn send_extended_handshake(&mut self, now: Instant) {
        let hs = ExtendedHandshake {
            extensions: self.config.extensions.clone(),
            client: self.config.client_name.clone(),
            port: self.config.listen_port,
            reqq: Some(self.config.requests_in() as u32),
            metadata_size: self.metadata_size,
            your_ip: self.remote_ip,
        };
        let payload = Bytes::from(hs.encode());
        self.queue(now, &Message::Extended { id: 0, payload });
    }

    pub(super) fn set_reqq(&mut self, reqq: Option<u32>) {
        if let Some(r) = reqq {
            self.peer_reqq = r.clamp(1, MAX_PEER_REQQ);
        }
    }
}
