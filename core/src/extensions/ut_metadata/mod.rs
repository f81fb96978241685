//! Metadata exchange (BEP 9): fetching a torrent's `info` dictionary from peers, knowing only
//! its info-hash, and serving it once we have it.
//!
//! - [`MetadataMessage`] is the codec: `request`, `data` (the raw piece follows the bencoded
//!   dictionary) and `reject`.
//! - [`MetadataFetcher`] (one per torrent, not per connection) hands out 16 KiB piece requests
//!   to the peers that advertise `ut_metadata`, assembles the pieces, checks SHA-1 against the
//!   info-hash, and names the peers that sent bytes which turned out wrong.
//! - [`MetadataServer`] answers requests once the info bytes are known, and rejects before.
//!
//! Every message travels as the payload of an extended message (BEP 10) named
//! [`UT_METADATA`](super::UT_METADATA): send with `Connection::send_extended(now, UT_METADATA,
//! payload)`; a received `Event::ExtendedMessage { id, payload }` whose id is the one we
//! registered for `ut_metadata` goes to [`MetadataMessage::parse`].

mod fetch;
mod serve;

#[cfg(test)]
mod tests;

use std::fmt;

use bytes::Bytes;

use crate::bencode::{DecodeError, Decoder, Encoder};

pub use fetch::{FetchEvent, FetcherConfig, MetadataFault, MetadataFetcher, PeerRefusal};
pub use serve::{MetadataServer, MetadataTooLarge};

/// Size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// The largest `metadata_size` believed by default (8 MiB; a 16 KiB-piece torrent of 4 TiB
/// has about 5 MiB of piece hashes).
pub const DEFAULT_MAX_METADATA_SIZE: u64 = 8 * 1024 * 1024;

/// Deepest nesting accepted in a ut_metadata dictionary (it is flat).
const MAX_DEPTH: usize = 4;

/// One ut_metadata message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataMessage {
    /// `msg_type` 0: asks for a piece.
    Request {
        /// The piece index (offset / 16 KiB).
        piece: u32,
    },
    /// `msg_type` 1: a piece, its bytes following the dictionary.
    Data {
        /// The piece index.
        piece: u32,
        /// The size of the whole info dictionary, as the sender claims it.
        total_size: u64,
        /// The piece's bytes (at most [`METADATA_PIECE_LEN`]).
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send this piece.
    Reject {
        /// The piece index.
        piece: u32,
    },
}

/// Why a ut_metadata payload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataMessageError {
    /// The payload does not start with valid bencode.
    Bencode(DecodeError),
    /// The bencoded value is not a dictionary.
    NotADictionary,
    /// `msg_type` is missing or not an integer.
    MissingMessageType,
    /// A `msg_type` BEP 9 does not define: BEP 9 says to ignore the message.
    UnknownMessageType(i64),
    /// `piece` is missing or not an integer.
    MissingPiece,
    /// `piece` is negative or does not fit in 32 bits.
    PieceOutOfRange(i64),
    /// A data message without an integer `total_size`.
    MissingTotalSize,
    /// A data message whose `total_size` is zero or negative.
    TotalSizeOutOfRange(i64),
    /// A data message carrying more than [`METADATA_PIECE_LEN`] bytes.
    DataTooLong(usize),
    /// A request or reject message with bytes after the dictionary.
    TrailingData(usize),
}

impl MetadataMessage {
    /// Parses the payload of a ut_metadata extended message. The data of a `data` message is a
    /// slice of `payload` (no copy).
    pub fn parse(payload: &Bytes) -> Result<Self, MetadataMessageError> {
        let (value, used) = Decoder::new(payload)
            .max_depth(MAX_DEPTH)
            .decode_prefix()
            .map_err(MetadataMessageError::Bencode)?;
        let dict = value
            .as_dict()
            .ok_or(MetadataMessageError::NotADictionary)?;
        let msg_type = dict
            .int(b"msg_type")
            .ok_or(MetadataMessageError::MissingMessageType)?;
        let piece = dict
            .int(b"piece")
            .ok_or(MetadataMessageError::MissingPiece)?;
        let piece_u32 =
            u32::try_from(piece).map_err(|_| MetadataMessageError::PieceOutOfRange(piece))?;
        let rest = payload.len() - used;
        match msg_type {
            0 | 2 if rest > 0 => Err(MetadataMessageError::TrailingData(rest)),
            0 => Ok(Self::Request { piece: piece_u32 }),
            2 => Ok(Self::Reject { piece: piece_u32 }),
            1 => {
                let total = dict
                    .int(b"total_size")
                    .ok_or(MetadataMessageError::MissingTotalSize)?;
                let total_size = u64::try_from(total)
                    .ok()
                    .filter(|t| *t > 0)
                    .ok_or(MetadataMessageError::TotalSizeOutOfRange(total))?;
                if rest > METADATA_PIECE_LEN as usize {
                    return Err(MetadataMessageError::DataTooLong(rest));
                }
                Ok(Self::Data {
                    piece: piece_u32,
                    total_size,
                    data: payload.slice(used..),
                })
            }
            other => Err(MetadataMessageError::UnknownMessageType(other)),
        }
    }

    /// The payload to send (canonical dictionary, then the data of a `data` message).
    pub fn encode(&self) -> Bytes {
        let mut enc = Encoder::new();
        enc.dict();
        match self {
            Self::Request { piece } => {
                enc.bytes(b"msg_type").int(0);
                enc.bytes(b"piece").int(i64::from(*piece));
                enc.end();
                Bytes::from(enc.finish())
            }
            Self::Reject { piece } => {
                enc.bytes(b"msg_type").int(2);
                enc.bytes(b"piece").int(i64::from(*piece));
                enc.end();
                Bytes::from(enc.finish())
            }
            Self::Data {
                piece,
                total_size,
                data,
            } => {
                enc.bytes(b"msg_type").int(1);
                enc.bytes(b"piece").int(i64::from(*piece));
                enc.bytes(b"total_size")
                    .int(i64::try_from(*total_size).unwrap_or(i64::MAX));
                enc.end();
                let mut out = enc.finish();
                out.extend_from_slice(data);
                Bytes::from(out)
            }
        }
    }

    /// The piece the message is about.
    pub fn piece(&self) -> u32 {
        match self {
            Self::Request { piece } | Self::Data { piece, .. } | Self::Reject { piece } => *piece,
        }
    }
}

impl MetadataMessageError {
    /// Whether BEP 9 says to ignore the message rather than hold it against the peer (an
    /// unknown `msg_type`, kept for future extensions).
    pub fn is_ignorable(&self) -> bool {
        matches!(self, Self::UnknownMessageType(_))
    }
}

impl fmt::Display for MetadataMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "ut_metadata message: {e}"),
            Self::NotADictionary => write!(f, "ut_metadata message is not a dictionary"),
            Self::MissingMessageType => {
                write!(f, "ut_metadata message has no integer `msg_type`")
            }
            Self::UnknownMessageType(t) => write!(f, "ut_metadata message has unknown type {t}"),
            Self::MissingPiece => write!(f, "ut_metadata message has no integer `piece`"),
            Self::PieceOutOfRange(p) => write!(f, "ut_metadata piece index {p} is out of range"),
            Self::MissingTotalSize => {
                write!(f, "ut_metadata data message has no integer `total_size`")
            }
            Self::TotalSizeOutOfRange(t) => {
                write!(f, "ut_metadata data message has total_size {t}")
            }
            Self::DataTooLong(n) => write!(
                f,
                "ut_metadata data message carries {n} bytes, more than one {METADATA_PIECE_LEN}-byte piece"
            ),
            Self::TrailingData(n) => {
                write!(f, "ut_metadata request or reject has {n} bytes after it")
            }
        }
    }
}

impl std::error::Error for MetadataMessageError {}

/// The number of pieces of metadata of `size` bytes.
pub fn metadata_piece_count(size: u64) -> u32 {
    // size ≤ u64::MAX / 16 KiB ≤ u32::MAX only for sizes ≤ 64 TiB; callers cap far lower.
    u32::try_from(size.div_ceil(u64::from(METADATA_PIECE_LEN))).unwrap_or(u32::MAX)
}

/// The length of piece `piece` of metadata of `size` bytes, `None` past the end.
pub fn metadata_piece_len(size: u64, piece: u32) -> Option<usize> {
    let start = u64::from(piece).checked_mul(u64::from(METADATA_PIECE_LEN))?;
    if start >= size {
        return None;
    }
    let len = (size - start).min(u64::from(METADATA_PIECE_LEN));
    // len ≤ METADATA_PIECE_LEN.
    Some(len as usize)
}
