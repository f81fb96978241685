//! Incremental framing: length-prefixed messages taken off a `BytesMut` receive buffer.
//!
//! The decoder holds no partial state: it looks at the buffer, and either takes one whole
//! message off its front, says it needs more bytes, or reports a [`ProtocolError`]. So any
//! chunking of the input gives the same messages. A length prefix is checked against the
//! limits of its message id as soon as the 5 header bytes are present, before the payload
//! is waited for.

use std::fmt;

use bytes::{Buf, BytesMut};

use super::hashes::{HASH_LEN, HASH_REQUEST_LEN, HashRequest};
use super::limits::{
    MAX_EXTENDED_MESSAGE_LEN, MAX_HASHES_MESSAGE_LEN, MAX_PIECE_MESSAGE_LEN,
    MAX_UNKNOWN_BITFIELD_LEN, PIECE_HEADER_LEN,
};
use super::message::{Message, MessageId};
use crate::pieces::BlockRef;
use crate::pieces::bitfield_len;

/// How many pieces the torrent has, as far as the decoder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PieceCount {
    /// Metadata not known yet (magnet link): bitfields are capped by
    /// [`MAX_UNKNOWN_BITFIELD_LEN`] and checked exactly later.
    Unknown,
    /// The torrent has this many pieces: a bitfield is exactly `ceil(n / 8)` bytes.
    Known(u32),
}

/// The framing decoder: stateless apart from the piece count it checks bitfields against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoder {
    pieces: PieceCount,
}

/// What a peer sent that breaks the wire protocol. The connection closes with this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The handshake's first byte (protocol string length) is not 19.
    HandshakeProtocolLength(u8),
    /// The handshake's protocol string is not "BitTorrent protocol".
    HandshakeProtocolString,
    /// A message id we do not know.
    UnknownMessageId(u8),
    /// A fixed-size message with another length.
    WrongLength {
        /// The message.
        id: MessageId,
        /// Its length prefix.
        length: u32,
        /// The only valid length prefix.
        expected: u32,
    },
    /// A message shorter than its fixed part.
    TooShort {
        /// The message.
        id: MessageId,
        /// Its length prefix.
        length: u32,
        /// The smallest valid length prefix.
        min: u32,
    },
    /// A message longer than its limit.
    TooLong {
        /// The message.
        id: MessageId,
        /// Its length prefix.
        length: u32,
        /// The largest accepted length prefix.
        max: u32,
    },
    /// A bitfield whose length is not `ceil(pieces / 8)` bytes.
    BitfieldLength {
        /// Payload bytes the peer sent.
        length: u32,
        /// Payload bytes the torrent needs.
        expected: u32,
    },
    /// A bitfield with a bit set past the last piece.
    BitfieldSpareBits,
    /// A `hashes` message (BEP 52) whose payload is not whole 32-byte hashes.
    HashesNotWhole {
        /// Its length prefix.
        length: u32,
    },
    /// A `hashes` message holding another number of hashes than its request implies (or a
    /// request of 0 or more than 8192 hashes, or a proof of more than 64).
    HashesCount {
        /// Hashes in the message.
        found: u32,
        /// Hashes its request implies (`None`: the request itself is out of bounds).
        expected: Option<u32>,
    },
    /// A BEP 52 hash message (`hash request`, `hashes` or `hash reject`) on a connection that
    /// does not speak v2: a v1 torrent, or a hybrid's peer that did not upgrade (libtorrent
    /// closes such a connection as an invalid message).
    HashMessageWithoutV2(MessageId),
}

impl Decoder {
    /// A decoder checking bitfields against `pieces`.
    pub fn new(pieces: PieceCount) -> Self {
        Self { pieces }
    }

    /// Tells the decoder the piece count once the metadata is known.
    pub fn set_piece_count(&mut self, pieces: u32) {
        self.pieces = PieceCount::Known(pieces);
    }

    /// The piece count bitfields are checked against.
    pub fn piece_count(&self) -> PieceCount {
        self.pieces
    }

    /// Checks the header at the front of `buf` and returns the whole frame's length (prefix
    /// included) once the header is complete; `Ok(None)` if fewer than 5 bytes (4 for a
    /// keep-alive) are buffered.
    pub fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if length == 0 {
            return Ok(Some(4));
        }
        let Some(&id_byte) = buf.get(4) else {
            return Ok(None);
        };
        let id = MessageId::from_u8(id_byte).ok_or(ProtocolError::UnknownMessageId(id_byte))?;
        self.check_length(id, length)?;
        Ok(Some(4 + length as usize))
    }

    /// Takes one whole message off the front of `buf`. `Ok(None)`: more bytes are needed
    /// (nothing is consumed). A `piece` block and other payloads are `split_to(..).freeze()`
    /// slices of `buf`: no copy.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        let Some(frame) = self.frame_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < frame {
            return Ok(None);
        }
        if frame == 4 {
            buf.advance(4);
            return Ok(Some(Message::KeepAlive));
        }
        let id = MessageId::from_u8(buf[4]).ok_or(ProtocolError::UnknownMessageId(buf[4]))?;
        let body = &buf[5..frame];
        let message = match id {
            MessageId::Choke => Message::Choke,
            MessageId::Unchoke => Message::Unchoke,
            MessageId::Interested => Message::Interested,
            MessageId::NotInterested => Message::NotInterested,
            MessageId::HaveAll => Message::HaveAll,
            MessageId::HaveNone => Message::HaveNone,
            MessageId::Have => Message::Have(be32(body, 0)),
            MessageId::SuggestPiece => Message::SuggestPiece(be32(body, 0)),
            MessageId::AllowedFast => Message::AllowedFast(be32(body, 0)),
            MessageId::Request => Message::Request(block(body)),
            MessageId::Cancel => Message::Cancel(block(body)),
            MessageId::RejectRequest => Message::RejectRequest(block(body)),
            MessageId::Port => Message::Port(u16::from_be_bytes([body[0], body[1]])),
            MessageId::Bitfield => {
                if let PieceCount::Known(n) = self.pieces
                    && n % 8 != 0
                    && body.last().is_some_and(|b| b & (0xff >> (n % 8)) != 0)
                {
                    return Err(ProtocolError::BitfieldSpareBits);
                }
                let mut frame = buf.split_to(frame);
                frame.advance(5);
                return Ok(Some(Message::Bitfield(frame.freeze())));
            }
            MessageId::Piece => {
                let (piece, offset) = (be32(body, 0), be32(body, 4));
                let mut frame = buf.split_to(frame);
                frame.advance(5 + 8);
                return Ok(Some(Message::Piece {
                    piece,
                    offset,
                    data: frame.freeze(),
                }));
            }
            MessageId::HashRequest => Message::HashRequest(HashRequest::read(body)),
            MessageId::HashReject => Message::HashReject(HashRequest::read(body)),
            MessageId::Hashes => {
                let request = HashRequest::read(body);
                // check_length made the payload whole hashes, at most MAX_HASHES_MESSAGE_LEN.
                let found = ((body.len() - HASH_REQUEST_LEN) / HASH_LEN) as u32;
                let expected = request.hashes_in_reply();
                if expected != Some(found) {
                    return Err(ProtocolError::HashesCount { found, expected });
                }
                let mut frame = buf.split_to(frame);
                frame.advance(5 + HASH_REQUEST_LEN);
                return Ok(Some(Message::Hashes {
                    request,
                    hashes: frame.freeze(),
                }));
            }
            MessageId::Extended => {
                let ext = body[0];
                let mut frame = buf.split_to(frame);
                frame.advance(6);
                return Ok(Some(Message::Extended {
                    id: ext,
                    payload: frame.freeze(),
                }));
            }
        };
        buf.advance(frame);
        Ok(Some(message))
    }

    fn check_length(&self, id: MessageId, length: u32) -> Result<(), ProtocolError> {
        let exact = |expected: u32| {
            if length == expected {
                Ok(())
            } else {
                Err(ProtocolError::WrongLength {
                    id,
                    length,
                    expected,
                })
            }
        };
        let range = |min: u32, max: u32| {
            if length < min {
                Err(ProtocolError::TooShort { id, length, min })
            } else if length > max {
                Err(ProtocolError::TooLong { id, length, max })
            } else {
                Ok(())
            }
        };
        match id {
            MessageId::Choke
            | MessageId::Unchoke
            | MessageId::Interested
            | MessageId::NotInterested
            | MessageId::HaveAll
            | MessageId::HaveNone => exact(1),
            MessageId::Have | MessageId::SuggestPiece | MessageId::AllowedFast => exact(5),
            MessageId::Request | MessageId::Cancel | MessageId::RejectRequest => exact(13),
            MessageId::Port => exact(3),
            MessageId::Piece => range(PIECE_HEADER_LEN, MAX_PIECE_MESSAGE_LEN),
            MessageId::Extended => range(2, MAX_EXTENDED_MESSAGE_LEN),
            MessageId::HashRequest | MessageId::HashReject => exact(1 + HASH_REQUEST_LEN as u32),
            MessageId::Hashes => {
                range(1 + HASH_REQUEST_LEN as u32, MAX_HASHES_MESSAGE_LEN)?;
                if (length as usize - 1 - HASH_REQUEST_LEN).is_multiple_of(HASH_LEN) {
                    Ok(())
                } else {
                    Err(ProtocolError::HashesNotWhole { length })
                }
            }
            MessageId::Bitfield => match self.pieces {
                PieceCount::Unknown => range(1, MAX_UNKNOWN_BITFIELD_LEN + 1),
                PieceCount::Known(n) => {
                    // ceil(u32::MAX / 8) fits in u32.
                    let expected = bitfield_len(n) as u32;
                    if length - 1 == expected {
                        Ok(())
                    } else {
                        Err(ProtocolError::BitfieldLength {
                            length: length - 1,
                            expected,
                        })
                    }
                }
            },
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HandshakeProtocolLength(n) => write!(
                f,
                "handshake starts with protocol length {n}, not 19 (not BitTorrent, or encrypted)"
            ),
            Self::HandshakeProtocolString => {
                write!(
                    f,
                    "handshake protocol string is not \"BitTorrent protocol\""
                )
            }
            Self::UnknownMessageId(id) => write!(f, "unknown message id {id}"),
            Self::WrongLength {
                id,
                length,
                expected,
            } => write!(
                f,
                "{id:?} message has length {length}, it must be {expected}"
            ),
            Self::TooShort { id, length, min } => {
                write!(
                    f,
                    "{id:?} message has length {length}, below the minimum {min}"
                )
            }
            Self::TooLong { id, length, max } => {
                write!(
                    f,
                    "{id:?} message has length {length}, above the limit {max}"
                )
            }
            Self::BitfieldLength { length, expected } => write!(
                f,
                "bitfield has {length} bytes, the torrent's piece count needs {expected}"
            ),
            Self::BitfieldSpareBits => write!(f, "bitfield sets a bit past the last piece"),
            Self::HashesNotWhole { length } => write!(
                f,
                "hashes message of {length} bytes does not hold whole 32-byte hashes"
            ),
            Self::HashesCount {
                found,
                expected: Some(expected),
            } => write!(
                f,
                "hashes message holds {found} hashes, its request implies {expected}"
            ),
            Self::HashesCount {
                found,
                expected: None,
            } => write!(
                f,
                "hashes message ({found} hashes) answers a request of 0 or more than 8192 hashes \
                 or with more than 64 proof hashes"
            ),
            Self::HashMessageWithoutV2(id) => {
                write!(f, "{id:?} message on a connection that does not speak v2")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The big-endian u32 at `at` of a body whose length the header check guaranteed.
fn be32(body: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]])
}

fn block(body: &[u8]) -> BlockRef {
    BlockRef::new(be32(body, 0), be32(body, 4), be32(body, 8))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::rng::Rng;

    /// One of every message, valid for a torrent of 20 pieces.
    pub(crate) fn every_message() -> Vec<Message> {
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(19),
            Message::Bitfield(Bytes::from_static(&[0xff, 0x0f, 0xf0])),
            Message::Request(BlockRef::new(1, 16384, 16384)),
            Message::Piece {
                piece: 2,
                offset: 0,
                data: Bytes::from((0..=255u8).cycle().take(16384).collect::<Vec<_>>()),
            },
            Message::Piece {
                piece: 2,
                offset: 5,
                data: Bytes::new(),
            },
            Message::Cancel(BlockRef::new(1, 16384, 16384)),
            Message::Port(6881),
            Message::SuggestPiece(3),
            Message::HaveAll,
            Message::HaveNone,
            Message::RejectRequest(BlockRef::new(4, 0, 100)),
            Message::AllowedFast(5),
            Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:md6:ut_pexi2eee"),
            },
            Message::Extended {
                id: 3,
                payload: Bytes::new(),
            },
            Message::HashRequest(hash_request(512, 3)),
            Message::Hashes {
                request: hash_request(512, 10),
                hashes: Bytes::from(vec![5u8; 514 * 32]),
            },
            Message::Hashes {
                request: hash_request(1, 0),
                hashes: Bytes::from(vec![6u8; 2 * 32]),
            },
            Message::HashReject(hash_request(8192, 0)),
        ]
    }

    fn hash_request(length: u32, proof_layers: u32) -> HashRequest {
        HashRequest {
            pieces_root: [0x5a; 32],
            base_layer: 2,
            index: 1024,
            length,
            proof_layers,
        }
    }

    /// A `hashes` message for `request` carrying `count` hashes.
    fn hashes_bytes(request: HashRequest, count: usize) -> Vec<u8> {
        let mut out = Vec::new();
        Message::Hashes {
            request,
            hashes: Bytes::from(vec![1u8; count * 32]),
        }
        .encode(&mut out);
        out
    }

    fn encode_all(messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            m.encode(&mut out);
        }
        out
    }

    fn decode_chunked(
        dec: Decoder,
        stream: &[u8],
        cuts: &[usize],
    ) -> (Vec<Message>, Option<ProtocolError>) {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            buf.extend_from_slice(&stream[start..end]);
            start = end;
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(m)) => out.push(m),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn every_message_round_trips() {
        let dec = Decoder::new(PieceCount::Known(20));
        for m in every_message() {
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            assert_eq!(buf.len(), m.encoded_len());
            assert_eq!(dec.decode(&mut buf), Ok(Some(m.clone())), "{m:?}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn any_chunking_gives_the_same_messages() {
        let messages = every_message();
        let stream = encode_all(&messages);
        let dec = Decoder::new(PieceCount::Known(20));
        let one_by_one: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(
            decode_chunked(dec, &stream, &one_by_one),
            (messages.clone(), None)
        );
        let mut rng = Rng::new(0x5eed);
        for _ in 0..300 {
            let mut cuts: Vec<usize> = (0..rng.index(40))
                .map(|_| rng.index(stream.len() + 1))
                .collect();
            cuts.sort_unstable();
            assert_eq!(
                decode_chunked(dec, &stream, &cuts),
                (messages.clone(), None)
            );
        }
    }

    #[test]
    fn piece_data_is_a_slice_of_the_receive_buffer() {
        let mut buf = BytesMut::new();
        Message::Piece {
            piece: 0,
            offset: 0,
            data: Bytes::from(vec![1u8; 1000]),
        }
        .encode(&mut buf);
        let base = buf.as_ptr() as usize;
        let Ok(Some(Message::Piece { data, .. })) =
            Decoder::new(PieceCount::Unknown).decode(&mut buf)
        else {
            panic!("not a piece");
        };
        assert_eq!(data.as_ptr() as usize, base + 13, "the block was copied");
    }

    /// A table of hostile inputs, each with the exact error it must give; every prefix long
    /// enough to hold the header already gives it.
    #[test]
    fn hostile_inputs() {
        use MessageId as I;
        use ProtocolError as E;
        let known = PieceCount::Known(20);
        let cases: Vec<(&str, PieceCount, Vec<u8>, E)> = vec![
            (
                "unknown id",
                known,
                vec![0, 0, 0, 1, 10],
                E::UnknownMessageId(10),
            ),
            (
                "id 255",
                known,
                vec![0, 0, 0, 1, 255],
                E::UnknownMessageId(255),
            ),
            (
                "choke with payload",
                known,
                vec![0, 0, 0, 2, 0, 0],
                E::WrongLength {
                    id: I::Choke,
                    length: 2,
                    expected: 1,
                },
            ),
            (
                "short have",
                known,
                vec![0, 0, 0, 4, 4, 0, 0, 0],
                E::WrongLength {
                    id: I::Have,
                    length: 4,
                    expected: 5,
                },
            ),
            (
                "long request",
                known,
                vec![0, 0, 0, 14, 6],
                E::WrongLength {
                    id: I::Request,
                    length: 14,
                    expected: 13,
                },
            ),
            (
                "port of 3 bytes",
                known,
                vec![0, 0, 0, 4, 9],
                E::WrongLength {
                    id: I::Port,
                    length: 4,
                    expected: 3,
                },
            ),
            (
                "piece without header",
                known,
                vec![0, 0, 0, 5, 7],
                E::TooShort {
                    id: I::Piece,
                    length: 5,
                    min: 9,
                },
            ),
            (
                "piece one byte over 16 KiB",
                known,
                vec![0, 0, 0x40, 0x0a, 7],
                E::TooLong {
                    id: I::Piece,
                    length: 16394,
                    max: 16393,
                },
            ),
            (
                "4 GiB piece",
                known,
                vec![0xff, 0xff, 0xff, 0xff, 7],
                E::TooLong {
                    id: I::Piece,
                    length: u32::MAX,
                    max: 16393,
                },
            ),
            (
                "extended without id",
                known,
                vec![0, 0, 0, 1, 20],
                E::TooShort {
                    id: I::Extended,
                    length: 1,
                    min: 2,
                },
            ),
            (
                "huge extended",
                known,
                vec![0x10, 0, 0, 0, 20],
                E::TooLong {
                    id: I::Extended,
                    length: 0x1000_0000,
                    max: MAX_EXTENDED_MESSAGE_LEN,
                },
            ),
            (
                "short bitfield",
                known,
                vec![0, 0, 0, 3, 5],
                E::BitfieldLength {
                    length: 2,
                    expected: 3,
                },
            ),
            (
                "long bitfield",
                known,
                vec![0, 0, 0, 5, 5],
                E::BitfieldLength {
                    length: 4,
                    expected: 3,
                },
            ),
            (
                "bitfield spare bit",
                known,
                vec![0, 0, 0, 4, 5, 0xff, 0xff, 0xf8],
                E::BitfieldSpareBits,
            ),
            (
                "bitfield over the unknown-count cap",
                PieceCount::Unknown,
                vec![0, 4, 0, 2, 5],
                E::TooLong {
                    id: I::Bitfield,
                    length: 0x40002,
                    max: MAX_UNKNOWN_BITFIELD_LEN + 1,
                },
            ),
        ];
        for (name, pieces, bytes, err) in cases.into_iter().chain(hostile_hash_messages()) {
            let dec = Decoder::new(pieces);
            let mut buf = BytesMut::from(&bytes[..]);
            assert_eq!(dec.decode(&mut buf), Err(err), "{name}");
            assert!(!err.to_string().is_empty());
            if bytes.len() >= 5 {
                let mut head = BytesMut::from(&bytes[..5]);
                let early = dec.decode(&mut head);
                if !matches!(err, E::BitfieldSpareBits | E::HashesCount { .. }) {
                    assert_eq!(early, Err(err), "{name}: not caught from the header");
                } else {
                    assert_eq!(early, Ok(None), "{name}");
                }
            }
        }
    }

    /// `hashes` messages whose size disagrees with their own request, or with the limits.
    fn hostile_hash_messages() -> Vec<(&'static str, PieceCount, Vec<u8>, ProtocolError)> {
        use MessageId as I;
        use ProtocolError as E;
        let known = PieceCount::Known(20);
        let mut truncated_request = vec![0, 0, 0, 48, 21];
        truncated_request.extend_from_slice(&[0; 47]);
        let mut long_reject = vec![0, 0, 0, 50, 23];
        long_reject.extend_from_slice(&[0; 49]);
        let mut not_whole = hashes_bytes(hash_request(1, 0), 2);
        not_whole.pop();
        not_whole[3] -= 1;
        let mut huge = vec![0, 0, 0, 0, 22];
        huge[..4].copy_from_slice(&(MAX_HASHES_MESSAGE_LEN + 32).to_be_bytes());
        vec![
            (
                "hash request of 47 bytes",
                known,
                truncated_request,
                E::WrongLength {
                    id: I::HashRequest,
                    length: 48,
                    expected: 49,
                },
            ),
            (
                "hash reject of 49 bytes",
                known,
                long_reject,
                E::WrongLength {
                    id: I::HashReject,
                    length: 50,
                    expected: 49,
                },
            ),
            (
                "hashes without a request",
                known,
                vec![0, 0, 0, 33, 22],
                E::TooShort {
                    id: I::Hashes,
                    length: 33,
                    min: 49,
                },
            ),
            (
                "hashes past the limit",
                PieceCount::Unknown,
                huge,
                E::TooLong {
                    id: I::Hashes,
                    length: MAX_HASHES_MESSAGE_LEN + 32,
                    max: MAX_HASHES_MESSAGE_LEN,
                },
            ),
            (
                "hashes not whole",
                known,
                not_whole,
                E::HashesNotWhole {
                    length: 1 + 48 + 63,
                },
            ),
            (
                "fewer hashes than requested",
                known,
                hashes_bytes(hash_request(512, 0), 511),
                E::HashesCount {
                    found: 511,
                    expected: Some(512),
                },
            ),
            (
                "more hashes than requested",
                known,
                hashes_bytes(hash_request(4, 0), 5),
                E::HashesCount {
                    found: 5,
                    expected: Some(4),
                },
            ),
            (
                "the proof missing",
                known,
                hashes_bytes(hash_request(512, 10), 512),
                E::HashesCount {
                    found: 512,
                    expected: Some(514),
                },
            ),
            (
                "a request of no hashes",
                known,
                hashes_bytes(hash_request(0, 0), 0),
                E::HashesCount {
                    found: 0,
                    expected: None,
                },
            ),
            (
                "a request past 8192 hashes",
                known,
                hashes_bytes(hash_request(8193, 0), 8193),
                E::HashesCount {
                    found: 8193,
                    expected: None,
                },
            ),
            (
                "a proof of 2^32 - 1 layers",
                known,
                hashes_bytes(hash_request(2, u32::MAX), 66),
                E::HashesCount {
                    found: 66,
                    expected: None,
                },
            ),
        ]
    }

    #[test]
    fn hashes_message_holds_the_hashes_as_a_slice_of_the_receive_buffer() {
        let mut buf = BytesMut::from(&hashes_bytes(hash_request(8192, 20), 8200)[..]);
        assert_eq!(buf.len() as u32, 4 + MAX_HASHES_MESSAGE_LEN - 56 * 32);
        let base = buf.as_ptr() as usize;
        let Ok(Some(Message::Hashes { request, hashes })) =
            Decoder::new(PieceCount::Known(1)).decode(&mut buf)
        else {
            panic!("not decoded");
        };
        assert_eq!(request, hash_request(8192, 20));
        assert_eq!(hashes.len(), 8200 * 32);
        assert_eq!(hashes.as_ptr() as usize, base + 4 + 1 + 48);
        assert!(buf.is_empty());
    }

    #[test]
    fn unknown_count_accepts_any_bitfield_under_the_cap() {
        let dec = Decoder::new(PieceCount::Unknown);
        let mut buf = BytesMut::new();
        Message::Bitfield(Bytes::from(vec![0xffu8; 1000])).encode(&mut buf);
        assert!(matches!(dec.decode(&mut buf), Ok(Some(Message::Bitfield(b))) if b.len() == 1000));
    }
}
