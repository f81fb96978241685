//! What a connection tells its owner: [`Event`]s, why it closed ([`CloseReason`]), what the peer
//! did wrong ([`Misbehaviour`]) and how the owner misused it ([`UsageError`]).

use std::fmt;

use bytes::Bytes;

use crate::id::{InfoHash, PeerId};
use crate::pieces::BlockRef;
use crate::wire::codec::ProtocolError;
use crate::wire::extension_handshake::{ExtendedHandshake, ExtendedHandshakeError};
use crate::wire::handshake::Reserved;
use crate::wire::hashes::HashRequest;
use crate::wire::message::MessageId;
use crate::wire::mse::MseError;

/// Something the owner of a connection should know; drain with
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Inbound only: the peer's handshake arrived. Find the torrent by `info_hash` and call
    /// [`Connection::accept`](super::Connection::accept), or
    /// [`Connection::close`](super::Connection::close).
    HandshakeReceived {
        /// The torrent the peer asks for.
        info_hash: InfoHash,
        /// The peer's id.
        peer_id: PeerId,
        /// The peer's extension bits.
        reserved: Reserved,
    },
    /// Both handshakes are done; our first messages are queued.
    Established {
        /// The peer's id.
        peer_id: PeerId,
        /// The peer's extension bits.
        reserved: Reserved,
    },
    /// The peer's extended handshake (its extension ids are applied already).
    ExtendedHandshake(Box<ExtendedHandshake>),
    /// The peer sent its bitfield: read it with
    /// [`Connection::peer_pieces`](super::Connection::peer_pieces). Also emitted when the piece
    /// count becomes known after haves arrived.
    Bitfield,
    /// The peer has every piece.
    HaveAll,
    /// The peer has no piece.
    HaveNone,
    /// The peer has a new piece.
    Have(u32),
    /// The peer choked us. Without the Fast extension our requests were dropped (each is
    /// reported as [`Event::Rejected`]).
    Choked,
    /// The peer unchoked us.
    Unchoked,
    /// The peer is interested in our pieces.
    PeerInterested,
    /// The peer is no longer interested.
    PeerNotInterested,
    /// A block we requested (or cancelled shortly before) arrived; `data` is a slice of the
    /// receive buffer.
    BlockReceived {
        /// Which block.
        block: BlockRef,
        /// Its bytes (`block.length` of them).
        data: Bytes,
    },
    /// A request of ours will not be served: rejected (Fast) or dropped by a choke.
    Rejected(BlockRef),
    /// The peer requests a block: answer with `send_block` or `reject`.
    RequestReceived(BlockRef),
    /// A request of the peer's is void (it cancelled, or we choked it): do not send it.
    RequestCancelled(BlockRef),
    /// We may request this piece while choked (Fast).
    AllowedFast(u32),
    /// The peer suggests this piece (Fast).
    Suggested(u32),
    /// The peer's DHT port (BEP 5).
    DhtPort(u16),
    /// The peer asks for merkle hashes (BEP 52): answer with
    /// [`Connection::send_hashes`](super::Connection::send_hashes) or
    /// [`Connection::reject_hashes`](super::Connection::reject_hashes).
    HashRequestReceived(HashRequest),
    /// The answer to one of our hash requests: the requested hashes then the proof, 32 bytes
    /// each, as many as [`HashRequest::hashes_in_reply`] (not yet checked against the root).
    HashesReceived {
        /// Our request.
        request: HashRequest,
        /// The hashes.
        hashes: Bytes,
    },
    /// The peer refused one of our hash requests.
    HashesRejected(HashRequest),
    /// An extension message for one of our registered extensions: `id` is the id *we*
    /// advertised (see [`Config::extensions`](super::Config)).
    ExtendedMessage {
        /// Our extended message id.
        id: u8,
        /// The payload after the id.
        payload: Bytes,
    },
    /// The peer did something wrong (counted; the connection may stay open).
    Misbehaved(Misbehaviour),
    /// The connection is closed; nothing more will happen. Close the socket.
    Closed(CloseReason),
}

/// Why a connection closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer broke the wire protocol.
    Protocol(ProtocolError),
    /// The peer's misbehaviour reached the threshold (this one was the last straw).
    Misbehaved(Misbehaviour),
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// Nothing was received for [`Config::idle_timeout`](super::Config).
    Idle,
    /// Outbound: the peer answered for another torrent.
    InfoHashMismatch {
        /// The torrent we asked for.
        expected: InfoHash,
        /// The torrent the peer named.
        received: InfoHash,
    },
    /// The peer's id is ours: we connected to ourselves.
    ConnectedToSelf,
    /// The peer sent more than a message's worth of bytes before we accepted its handshake.
    TooMuchBeforeAccept,
    /// The runtime reported end of stream or a socket error.
    RemoteClosed,
    /// The owner closed it.
    Local,
    /// The encrypted handshake (MSE) under the connection failed.
    EncryptedHandshake(MseError),
}

/// A fault of the peer's, with its weight towards the close threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// A request outside the torrent (or before we know its pieces), or of zero length.
    RequestOutOfRange(BlockRef),
    /// A request longer than 16 KiB.
    RequestTooLarge(BlockRef),
    /// More requests queued than the `reqq` we advertised.
    RequestQueueOverflow(BlockRef),
    /// A block we never asked for.
    UnrequestedBlock(BlockRef),
    /// A reject for a request we never made.
    RejectUnrequested(BlockRef),
    /// A `have` for a piece past the end.
    InvalidHave(u32),
    /// A `suggest piece` past the end.
    InvalidSuggest(u32),
    /// An `allowed fast` piece past the end.
    InvalidAllowedFast(u32),
    /// A bitfield, have all or have none after other messages.
    BitfieldNotFirst,
    /// A second bitfield, have all or have none.
    DuplicateBitfield,
    /// Once the piece count became known, the bitfield the peer sent earlier had the wrong
    /// length.
    BitfieldLength {
        /// Bytes the peer sent.
        length: u32,
        /// Bytes the piece count needs.
        expected: u32,
    },
    /// Once the piece count became known, a piece the peer announced earlier is past the end.
    PieceBeyondCount(u32),
    /// A Fast extension message though Fast was not negotiated.
    FastNotNegotiated(MessageId),
    /// An extended message though the extension protocol was not negotiated.
    ExtendedNotNegotiated,
    /// An extended handshake that is not a bencoded dictionary.
    InvalidExtendedHandshake(ExtendedHandshakeError),
    /// An extended message under an id we never advertised.
    UnknownExtendedMessage(u8),
    /// A `hashes` message answering no request of ours in flight.
    UnrequestedHashes(HashRequest),
}

impl Misbehaviour {
    /// Points added to the connection's score; it closes at
    /// [`Config::misbehaviour_threshold`](super::Config) (100 by default, so 100 = severe).
    pub fn weight(&self) -> u32 {
        match self {
            Self::UnknownExtendedMessage(_) => 5,
            Self::RequestQueueOverflow(_)
            | Self::UnrequestedBlock(_)
            | Self::UnrequestedHashes(_)
            | Self::RejectUnrequested(_) => 10,
            Self::RequestOutOfRange(_)
            | Self::RequestTooLarge(_)
            | Self::InvalidSuggest(_)
            | Self::InvalidAllowedFast(_) => 20,
            Self::InvalidHave(_)
            | Self::BitfieldNotFirst
            | Self::DuplicateBitfield
            | Self::BitfieldLength { .. }
            | Self::PieceBeyondCount(_)
            | Self::FastNotNegotiated(_)
            | Self::ExtendedNotNegotiated
            | Self::InvalidExtendedHandshake(_) => 100,
        }
    }
}

/// A call the connection cannot honour: a mistake of the owner's, or a state that forbids it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection is closed.
    Closed,
    /// The handshakes are not done yet.
    NotEstablished,
    /// `accept` on a connection that is not an inbound one waiting for it.
    NotAwaitingAccept,
    /// The piece geometry is not known yet (magnet link).
    GeometryUnknown,
    /// `set_geometry` on a connection that already has one.
    GeometryKnown,
    /// Our bitfield does not have the torrent's piece count.
    BitfieldLength {
        /// Bits given.
        got: u32,
        /// Pieces in the torrent.
        expected: u32,
    },
    /// A block outside the torrent, empty, or longer than 16 KiB.
    InvalidBlock(BlockRef),
    /// A piece index past the end.
    InvalidPiece(u32),
    /// The peer chokes us and the piece is not allowed fast.
    Choked,
    /// The peer has not announced this piece.
    PeerLacksPiece(u32),
    /// As many requests in flight as the peer's `reqq` or our limit allows.
    TooManyRequests,
    /// That block is already requested.
    DuplicateRequest(BlockRef),
    /// Cancel of a block we have not requested, or send/reject of a block the peer has not
    /// (or no longer) requested.
    NotRequested(BlockRef),
    /// The peer did not advertise this extension.
    ExtensionNotSupported(String),
    /// The peer does not support this (for example the extension protocol).
    NotSupported,
    /// An extended payload over the limit.
    PayloadTooLong(usize),
    /// A hash request whose answer would be unbounded, or hashes that do not match the
    /// request's count.
    InvalidHashRequest,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Misbehaved(m) => write!(f, "peer misbehaved too often, last: {m}"),
            Self::HandshakeTimeout => write!(f, "handshake timed out"),
            Self::Idle => write!(f, "nothing received for too long"),
            Self::InfoHashMismatch { expected, received } => {
                write!(
                    f,
                    "peer answered for torrent {received}, we asked for {expected}"
                )
            }
            Self::ConnectedToSelf => write!(f, "connected to ourselves"),
            Self::TooMuchBeforeAccept => {
                write!(f, "peer sent too much before its handshake was accepted")
            }
            Self::RemoteClosed => write!(f, "peer closed the connection"),
            Self::Local => write!(f, "closed by us"),
            Self::EncryptedHandshake(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |b: &BlockRef| format!("piece {} offset {} length {}", b.piece, b.offset, b.length);
        match self {
            Self::RequestOutOfRange(r) => write!(f, "request outside the torrent: {}", b(r)),
            Self::RequestTooLarge(r) => write!(f, "request longer than 16 KiB: {}", b(r)),
            Self::RequestQueueOverflow(r) => {
                write!(f, "request beyond our advertised reqq: {}", b(r))
            }
            Self::UnrequestedBlock(r) => write!(f, "block we never requested: {}", b(r)),
            Self::RejectUnrequested(r) => write!(f, "reject of a request we never made: {}", b(r)),
            Self::InvalidHave(p) => write!(f, "have for piece {p}, past the end"),
            Self::InvalidSuggest(p) => write!(f, "suggest piece {p}, past the end"),
            Self::InvalidAllowedFast(p) => write!(f, "allowed fast piece {p}, past the end"),
            Self::BitfieldNotFirst => write!(f, "bitfield after other messages"),
            Self::DuplicateBitfield => write!(f, "second bitfield, have all or have none"),
            Self::BitfieldLength { length, expected } => {
                write!(
                    f,
                    "bitfield of {length} bytes, the torrent needs {expected}"
                )
            }
            Self::PieceBeyondCount(p) => write!(f, "announced piece {p}, past the end"),
            Self::FastNotNegotiated(id) => {
                write!(f, "{id:?} message without the Fast extension")
            }
            Self::ExtendedNotNegotiated => {
                write!(f, "extended message without the extension protocol")
            }
            Self::InvalidExtendedHandshake(e) => write!(f, "{e}"),
            Self::UnknownExtendedMessage(id) => {
                write!(f, "extended message id {id}, which we never advertised")
            }
            Self::UnrequestedHashes(r) => write!(
                f,
                "hashes we never requested (layer {}, index {}, {} hashes)",
                r.base_layer, r.index, r.length
            ),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => write!(f, "connection is closed"),
            Self::NotEstablished => write!(f, "handshake not finished"),
            Self::NotAwaitingAccept => write!(f, "connection is not waiting to be accepted"),
            Self::GeometryUnknown => write!(f, "torrent metadata not known yet"),
            Self::GeometryKnown => write!(f, "piece geometry already set"),
            Self::BitfieldLength { got, expected } => {
                write!(f, "bitfield has {got} bits, the torrent {expected} pieces")
            }
            Self::InvalidBlock(b) => write!(f, "invalid block {b:?}"),
            Self::InvalidPiece(p) => write!(f, "piece {p} past the end"),
            Self::Choked => write!(f, "peer is choking us"),
            Self::PeerLacksPiece(p) => write!(f, "peer does not have piece {p}"),
            Self::TooManyRequests => write!(f, "request queue to this peer is full"),
            Self::DuplicateRequest(b) => write!(f, "block {b:?} already requested"),
            Self::NotRequested(b) => write!(f, "block {b:?} is not requested"),
            Self::ExtensionNotSupported(name) => write!(f, "peer does not support {name}"),
            Self::NotSupported => write!(f, "peer does not support this"),
            Self::PayloadTooLong(n) => write!(f, "extended payload of {n} bytes is too long"),
            Self::InvalidHashRequest => write!(f, "malformed hash request or answer"),
        }
    }
}

impl std::error::Error for UsageError {}
