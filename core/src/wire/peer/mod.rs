//! One peer connection as a Sans-IO state machine: bytes in, bytes out, no socket, no clock.
//!
//! # Run loop
//! The owner (a session, a test, a runtime) moves bytes and time:
//! 1. create it with [`Connection::outbound`] (we dialled) or [`Connection::inbound`] (we
//!    accepted a socket);
//! 2. feed everything read from the socket to [`Connection::handle_input`], call
//!    [`Connection::handle_timeout`] when the instant from [`Connection::poll_timeout`] passes,
//!    and [`Connection::handle_eof`] when the socket closes;
//! 3. after each of those calls and after every action (`request`, `unchoke`, …), drain
//!    [`Connection::poll_transmit`] into the socket and [`Connection::poll_event`] into the
//!    session, then re-arm the timer from [`Connection::poll_timeout`].
//!
//! Faults of the peer never come back as `Err`: the connection counts them
//! ([`Event::Misbehaved`]) and, when severe or too many, closes with [`Event::Closed`]. `Err`
//! ([`UsageError`]) is only for calls the current state does not allow.
//!
//! # Memory
//! Bounded per connection: the receive buffer holds at most one partial message (see
//! [`limits`](crate::wire::limits)) plus the last input chunk; requests both ways are capped;
//! the only torrent-sized state is the peer's [`PieceSet`]. The send queue holds what the owner
//! queued: watch [`Connection::send_buffered`] for back-pressure.

mod config;
mod event;
mod receive;
mod state;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use config::{Config, PieceGeometry, TorrentParams};
pub use event::{CloseReason, Event, Misbehaviour, UsageError};

use self::state::{OutRequests, PeerPieces, SendQueue};
use crate::id::{InfoHash, PeerId};
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::codec::{Decoder, PieceCount};
use crate::wire::extension_handshake::{ExtendedHandshake, ExtensionMap};
use crate::wire::fast::allowed_fast_set;
use crate::wire::handshake::{Handshake, Reserved};
use crate::wire::limits::{DEFAULT_PEER_REQQ, MAX_EXTENDED_MESSAGE_LEN, MAX_PEER_REQQ};
use crate::wire::message::Message;
use crate::wire::transport::{Link, Transport, Unwrapped};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for the peer's handshake.
    Handshaking,
    /// Inbound: the peer's handshake arrived; waiting for [`Connection::accept`].
    AwaitingAccept,
    /// Both handshakes done: messages flow.
    Established,
    /// Closed: only queued events remain.
    Closed,
}

/// One peer connection. See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    remote_ip: Option<IpAddr>,
    phase: Phase,
    /// The torrent: ours for outbound, the peer's (then accepted) for inbound.
    info_hash: Option<InfoHash>,
    peer: Option<Handshake>,
    geometry: Option<PieceGeometry>,
    metadata_size: Option<u64>,
    /// Our pieces until the first message after the handshake is sent.
    our_pieces: Option<PieceSet>,
    decoder: Decoder,
    recv: BytesMut,
    send: SendQueue,
    events: VecDeque<Event>,
    fast: bool,
    extended: bool,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    peer_pieces: PeerPieces,
    /// Set by the first message that is not keep-alive, extended, port or a bitfield.
    other_message_seen: bool,
    ours: OutRequests,
    theirs: VecDeque<BlockRef>,
    /// Pieces we may request while choked.
    peer_allowed_fast: Vec<u32>,
    /// Pieces the peer may request while we choke it.
    granted_fast: Vec<u32>,
    /// Our allowed-fast set (the pieces of it we have), granted when the peer's opening
    /// announcement shows a starting peer (see `receive.rs`).
    fast_to_grant: Vec<u32>,
    peer_extensions: ExtensionMap,
    peer_reqq: u32,
    score: u32,
    /// What the bytes travel over (plain, or MSE).
    link: Link,
    started: Instant,
    last_received: Instant,
    last_sent: Instant,
}

impl Connection {
    /// A connection we dialled to `remote_ip` (used for the allowed-fast set and `yourip`) for
    /// `torrent`. Our handshake is queued at once.
    pub fn outbound(
        now: Instant,
        config: Arc<Config>,
        remote_ip: Option<IpAddr>,
        torrent: TorrentParams<'_>,
    ) -> Result<Self, UsageError> {
        check_pieces(&torrent)?;
        let mut conn = Self::new(now, config, remote_ip);
        conn.set_torrent(&torrent);
        conn.send_handshake(now);
        Ok(conn)
    }

    /// A connection the peer at `remote_ip` dialled: it waits for the peer's handshake and
    /// reports it as [`Event::HandshakeReceived`].
    pub fn inbound(now: Instant, config: Arc<Config>, remote_ip: Option<IpAddr>) -> Self {
        Self::new(now, config, remote_ip)
    }

    /// Inbound: continue with `torrent` after [`Event::HandshakeReceived`]. Its info-hash
    /// must be the one the peer sent (else the connection closes with
    /// [`CloseReason::InfoHashMismatch`]).
    pub fn accept(&mut self, now: Instant, torrent: TorrentParams<'_>) -> Result<(), UsageError> {
        if self.phase != Phase::AwaitingAccept {
            return Err(self.state_error(UsageError::NotAwaitingAccept));
        }
        check_pieces(&torrent)?;
        let Some(peer) = self.peer else {
            return Err(UsageError::NotAwaitingAccept);
        };
        if peer.info_hash != torrent.info_hash {
            self.close_with(CloseReason::InfoHashMismatch {
                expected: torrent.info_hash,
                received: peer.info_hash,
            });
            return Ok(());
        }
        self.set_torrent(&torrent);
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

    /// Feeds bytes read from the socket (copied into the receive buffer). Then drain the
    /// polls.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        self.last_received = now;
        self.recv.extend_from_slice(data);
        self.process(now);
    }

    /// Feeds bytes read from the socket, owned, usually without copying them: read into a
    /// `BytesMut` and hand over what was read (`split_to`), and blocks are passed on as slices
    /// of that buffer. Consecutive reads from one allocation join in place; at an allocation
    /// boundary only the message that straddles it is copied. Then drain the polls.
    pub fn handle_input_buf(&mut self, now: Instant, data: BytesMut) {
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        self.last_received = now;
        self.take_input(now, data);
        self.process(now);
    }

    /// Raw bytes read from the socket, through the [`Transport`] (see
    /// [`Connection::answer_encrypted`] and [`Connection::open_encrypted`]): what reaches the
    /// plain stream goes on as with [`Connection::handle_input_buf`]. `torrents` names the
    /// torrents an inbound encrypted handshake may ask for: read only while
    /// [`Connection::needs_torrents`]. Then drain the polls.
    pub fn handle_raw_input(&mut self, now: Instant, data: BytesMut, torrents: &[InfoHash]) {
        if self.phase == Phase::Closed {
            return;
        }
        match self.link.receive(data, torrents) {
            Unwrapped::Plain(Some(plain)) => self.handle_input_buf(now, plain),
            Unwrapped::Plain(None) => {}
            Unwrapped::Failed(e) => self.close_with(CloseReason::EncryptedHandshake(e)),
        }
    }

    /// An inbound connection that answers the encrypted handshake (MSE) if its first bytes
    /// open one, or plain BitTorrent otherwise. `private` (160 random bits) and `pad`
    /// (random, at most 512 bytes) come from the caller.
    pub fn answer_encrypted(&mut self, private: [u8; 20], pad: Vec<u8>) {
        self.link.answer(private, pad);
    }

    /// An outbound connection that opens with the encrypted handshake (MSE), offering the
    /// payload modes `provide` ([`CRYPTO_PLAINTEXT`](crate::wire::mse::CRYPTO_PLAINTEXT),
    /// [`CRYPTO_RC4`](crate::wire::mse::CRYPTO_RC4)); our BitTorrent handshake waits for its
    /// end. Does nothing without a torrent (inbound).
    pub fn open_encrypted(&mut self, private: [u8; 20], pad: Vec<u8>, provide: u32) {
        if let Some(info_hash) = self.info_hash {
            self.link.open(private, pad, info_hash, provide);
        }
    }

    /// Whether the bytes given to [`Connection::handle_raw_input`] may be an encrypted
    /// handshake asking for one of our torrents.
    pub fn needs_torrents(&self) -> bool {
        self.link.is_answering()
    }

    /// What the connection's bytes travel over now.
    pub fn transport(&self) -> &Transport {
        self.link.transport()
    }

    /// The socket reached end of stream or failed: the connection closes.
    pub fn handle_eof(&mut self, _now: Instant) {
        self.close_with(CloseReason::RemoteClosed);
    }

    /// The owner did not read this connection's socket until `now` (it paused reading):
    /// the peer's silence since was ours, so the idle timer counts from `now`.
    pub fn restart_receive_clocks(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    /// Closes the connection from our side ([`CloseReason::Local`]); queued output is dropped.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// The next chunk of bytes to write to the socket, in order (through the transport: an
    /// encrypted handshake's own bytes first, the connection's output after its end). Poll
    /// after every `handle_*` call and every action until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if let Some(handshake) = self.link.poll_handshake() {
            return Some(handshake);
        }
        if self.link.holds_output() {
            return None;
        }
        let payload = self.send.poll()?;
        Some(self.link.seal(payload))
    }

    /// The next event for the owner. Poll after every `handle_*` call and action until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends `interested` (no-op if already interested).
    pub fn send_interested(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if !self.am_interested {
            self.am_interested = true;
            self.queue(now, &Message::Interested);
        }
        Ok(())
    }

    /// Sends `not interested` (no-op if not interested).
    pub fn send_not_interested(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_interested {
            self.am_interested = false;
            self.queue(now, &Message::NotInterested);
        }
        Ok(())
    }

    /// Chokes the peer. Its queued requests are void ([`Event::RequestCancelled`]); with the
    /// Fast extension each is rejected, except those for allowed-fast pieces, which stay.
    pub fn choke(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_choking {
            return Ok(());
        }
        self.am_choking = true;
        self.queue(now, &Message::Choke);
        let queued = std::mem::take(&mut self.theirs);
        for block in queued {
            if self.fast && self.granted_fast.contains(&block.piece) {
                self.theirs.push_back(block);
                continue;
            }
            if self.fast {
                self.queue(now, &Message::RejectRequest(block));
            }
            self.events.push_back(Event::RequestCancelled(block));
        }
        Ok(())
    }

    /// Unchokes the peer (no-op if not choking).
    pub fn unchoke(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_choking {
            self.am_choking = false;
            self.queue(now, &Message::Unchoke);
        }
        Ok(())
    }

    /// Requests a block of a piece the peer has. Allowed when the peer unchokes us, or chokes
    /// us but allowed the piece fast; at most [`Connection::request_slots`] at once.
    pub fn request(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        let geometry = self.geometry.ok_or(UsageError::GeometryUnknown)?;
        if !geometry.is_valid_block(block) {
            return Err(UsageError::InvalidBlock(block));
        }
        if !self.peer_pieces.known || !self.peer_pieces.bits.contains(block.piece) {
            return Err(UsageError::PeerLacksPiece(block.piece));
        }
        if self.peer_choking && !(self.fast && self.peer_allowed_fast.contains(&block.piece)) {
            return Err(UsageError::Choked);
        }
        if self.ours.contains(block) {
            return Err(UsageError::DuplicateRequest(block));
        }
        if self.request_slots() == 0 {
            return Err(UsageError::TooManyRequests);
        }
        self.ours.push(block);
        self.queue(now, &Message::Request(block));
        Ok(())
    }

    /// Cancels one of our requests. A block that crosses the cancel on the wire is still
    /// reported as [`Event::BlockReceived`].
    pub fn cancel(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        if !self.ours.remove(block) {
            return Err(UsageError::NotRequested(block));
        }
        self.ours.abandon(block, now);
        self.queue(now, &Message::Cancel(block));
        Ok(())
    }

    /// Announces a piece we completed. Before the handshake is done it updates the bitfield we
    /// will send instead.
    pub fn send_have(&mut self, now: Instant, piece: u32) -> Result<(), UsageError> {
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        let geometry = self.geometry.ok_or(UsageError::GeometryUnknown)?;
        if piece >= geometry.piece_count() {
            return Err(UsageError::InvalidPiece(piece));
        }
        if self.phase == Phase::Established {
            self.queue(now, &Message::Have(piece));
        } else {
            let count = geometry.piece_count();
            self.our_pieces
                .get_or_insert_with(|| PieceSet::new(count))
                .insert(piece);
        }
        Ok(())
    }

    /// Serves a block the peer requested (it must still be queued: not cancelled, not choked
    /// away). `data` is sent as is, without a copy.
    pub fn send_block(
        &mut self,
        now: Instant,
        piece: u32,
        offset: u32,
        data: Bytes,
    ) -> Result<(), UsageError> {
        self.ready()?;
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let block = BlockRef::new(piece, offset, length);
        let Some(i) = self.theirs.iter().position(|b| *b == block) else {
            return Err(UsageError::NotRequested(block));
        };
        self.theirs.remove(i);
        self.send.block(piece, offset, data);
        self.last_sent = now;
        Ok(())
    }

    /// Declines a block the peer requested: a `reject request` with the Fast extension, silence
    /// without.
    pub fn reject(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        let Some(i) = self.theirs.iter().position(|b| *b == block) else {
            return Err(UsageError::NotRequested(block));
        };
        self.theirs.remove(i);
        if self.fast {
            self.queue(now, &Message::RejectRequest(block));
        }
        Ok(())
    }

    /// Sends an extension message by extension name, under the id the peer advertised for it.
    pub fn send_extended(
        &mut self,
        now: Instant,
        name: &str,
        payload: Bytes,
    ) -> Result<(), UsageError> {
        self.ready()?;
        if !self.extended {
            return Err(UsageError::NotSupported);
        }
        let id = self
            .peer_extensions
            .id(name)
            .ok_or_else(|| UsageError::ExtensionNotSupported(name.into()))?;
        if payload.len() + 2 > MAX_EXTENDED_MESSAGE_LEN as usize {
            return Err(UsageError::PayloadTooLong(payload.len()));
        }
        self.queue(now, &Message::Extended { id, payload });
        Ok(())
    }

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

    fn new(now: Instant, config: Arc<Config>, remote_ip: Option<IpAddr>) -> Self {
        Self {
            config,
            remote_ip,
            phase: Phase::Handshaking,
            info_hash: None,
            peer: None,
            geometry: None,
            metadata_size: None,
            our_pieces: None,
            decoder: Decoder::new(PieceCount::Unknown),
            recv: BytesMut::new(),
            send: SendQueue::default(),
            events: VecDeque::new(),
            fast: false,
            extended: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            peer_pieces: PeerPieces::new(None),
            other_message_seen: false,
            ours: OutRequests::default(),
            theirs: VecDeque::new(),
            peer_allowed_fast: Vec::new(),
            granted_fast: Vec::new(),
            fast_to_grant: Vec::new(),
            peer_extensions: ExtensionMap::new(),
            peer_reqq: DEFAULT_PEER_REQQ,
            score: 0,
            link: Link::default(),
            started: now,
            last_received: now,
            last_sent: now,
        }
    }

    fn set_torrent(&mut self, torrent: &TorrentParams<'_>) {
        self.info_hash = Some(torrent.info_hash);
        self.geometry = torrent.geometry;
        self.metadata_size = torrent.metadata_size.or(self.metadata_size);
        self.our_pieces = torrent.our_pieces.cloned();
        let count = torrent.geometry.map(|g| g.piece_count());
        self.decoder = Decoder::new(count.map_or(PieceCount::Unknown, PieceCount::Known));
        self.peer_pieces = PeerPieces::new(count);
    }

    fn send_handshake(&mut self, now: Instant) {
        let Some(info_hash) = self.info_hash else {
            return;
        };
        let hs = Handshake {
            reserved: self.config.reserved(),
            info_hash,
            peer_id: self.config.peer_id,
        };
        self.send.raw(&hs.to_bytes());
        self.last_sent = now;
    }

    /// Both handshakes are done: negotiate and queue our opening messages.
    fn establish(&mut self, now: Instant) {
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

    fn queue(&mut self, now: Instant, message: &Message) {
        if self.phase == Phase::Closed {
            return;
        }
        self.send.message(message);
        self.last_sent = now;
    }

    fn ready(&self) -> Result<(), UsageError> {
        match self.phase {
            Phase::Established => Ok(()),
            Phase::Closed => Err(UsageError::Closed),
            _ => Err(UsageError::NotEstablished),
        }
    }

    fn state_error(&self, otherwise: UsageError) -> UsageError {
        if self.phase == Phase::Closed {
            UsageError::Closed
        } else {
            otherwise
        }
    }

    fn misbehaved(&mut self, m: Misbehaviour) {
        self.score = self.score.saturating_add(m.weight());
        self.events.push_back(Event::Misbehaved(m.clone()));
        if self.score >= self.config.misbehaviour_threshold {
            self.close_with(CloseReason::Misbehaved(m));
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.recv = BytesMut::new();
        self.send.clear();
        self.ours.clear();
        self.theirs = VecDeque::new();
        self.our_pieces = None;
        self.events.push_back(Event::Closed(reason));
    }

    fn set_reqq(&mut self, reqq: Option<u32>) {
        if let Some(r) = reqq {
            self.peer_reqq = r.clamp(1, MAX_PEER_REQQ);
        }
    }
}

fn check_pieces(torrent: &TorrentParams<'_>) -> Result<(), UsageError> {
    if let Some(bits) = torrent.our_pieces {
        let expected = torrent
            .geometry
            .ok_or(UsageError::GeometryUnknown)?
            .piece_count();
        if bits.len() != expected {
            return Err(UsageError::BitfieldLength {
                got: bits.len(),
                expected,
            });
        }
    }
    Ok(())
}
