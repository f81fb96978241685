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

mod actions;
mod config;
mod event;
mod hashes;
mod input;
mod inspect;
mod opening;
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
pub use hashes::MAX_HASH_REQUESTS_OUT;

use self::state::{OutRequests, PeerPieces, SendQueue};
use crate::id::InfoHash;
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::codec::{Decoder, PieceCount};
use crate::wire::extension_handshake::ExtensionMap;
use crate::wire::handshake::Handshake;
use crate::wire::hashes::HashRequest;
use crate::wire::limits::DEFAULT_PEER_REQQ;
use crate::wire::message::Message;
use crate::wire::transport::Link;

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
    /// The torrent's truncated v2 info-hash, if it has one: our handshake sets the BEP 52 bit.
    v2: Option<InfoHash>,
    /// Both handshakes named the torrent's v2 hash (BEP 52: the hash messages may flow).
    speaks_v2: bool,
    /// Our hash requests in flight (at most [`MAX_HASH_REQUESTS_OUT`]).
    hash_requests: Vec<HashRequest>,
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

    fn new(now: Instant, config: Arc<Config>, remote_ip: Option<IpAddr>) -> Self {
        Self {
            config,
            remote_ip,
            phase: Phase::Handshaking,
            info_hash: None,
            peer: None,
            geometry: None,
            metadata_size: None,
            v2: None,
            speaks_v2: false,
            hash_requests: Vec::new(),
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
        self.hash_requests.clear();
        self.our_pieces = None;
        self.events.push_back(Event::Closed(reason));
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
