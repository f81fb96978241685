//! What the owner can read of a connection's state.

use super::{Connection, Phase};
use crate::id::{InfoHash, PeerId};
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::extension_handshake::ExtensionMap;
use crate::wire::handshake::Reserved;

impl Connection {
    /// Where the connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The torrent (known once the peer's handshake arrived, for inbound connections).
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.info_hash.or(self.peer.map(|p| p.info_hash))
    }

    /// The peer's id, once its handshake arrived.
    pub fn peer_id(&self) -> Option<PeerId> {
        self.peer.map(|p| p.peer_id)
    }

    /// The peer's extension bits, once its handshake arrived.
    pub fn peer_reserved(&self) -> Option<Reserved> {
        self.peer.map(|p| p.reserved)
    }

    /// Whether both sides speak the Fast extension.
    pub fn fast(&self) -> bool {
        self.fast
    }

    /// Whether both sides speak the extension protocol.
    pub fn extension_protocol(&self) -> bool {
        self.extended
    }

    /// Whether we choke the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether we are interested in the peer.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Whether the peer chokes us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether the peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// The peer's pieces, once the piece count is known.
    pub fn peer_pieces(&self) -> Option<&PieceSet> {
        self.peer_pieces.known.then_some(&self.peer_pieces.bits)
    }

    /// Our requests in flight, oldest first.
    pub fn requests_out(&self) -> impl Iterator<Item = BlockRef> + '_ {
        self.ours.live.iter().copied()
    }

    /// How many more requests we may send now: the peer's `reqq` and our limit, minus those in
    /// flight.
    pub fn request_slots(&self) -> usize {
        let cap = (self.peer_reqq as usize).min(self.config.requests_out());
        cap.saturating_sub(self.ours.live.len())
    }

    /// The peer's requests waiting for `send_block` or `reject`, oldest first.
    pub fn requests_in(&self) -> impl Iterator<Item = BlockRef> + '_ {
        self.theirs.iter().copied()
    }

    /// Pieces the peer allows us to request while choked.
    pub fn peer_allowed_fast(&self) -> &[u32] {
        &self.peer_allowed_fast
    }

    /// Pieces we allow the peer to request while we choke it.
    pub fn granted_allowed_fast(&self) -> &[u32] {
        &self.granted_fast
    }

    /// The peer's extensions (from its extended handshakes).
    pub fn peer_extensions(&self) -> &ExtensionMap {
        &self.peer_extensions
    }

    /// The peer's `reqq` (a default until its extended handshake says otherwise).
    pub fn peer_reqq(&self) -> u32 {
        self.peer_reqq
    }

    /// Bytes queued for the socket and not yet taken by `poll_transmit`.
    pub fn send_buffered(&self) -> usize {
        self.send.len()
    }

    /// Bytes received and not yet decoded (at most one partial message).
    pub fn recv_buffered(&self) -> usize {
        self.recv.len()
    }

    /// The peer's misbehaviour score so far.
    pub fn misbehaviour_score(&self) -> u32 {
        self.score
    }
}
