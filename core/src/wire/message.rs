//! The messages that follow the handshake (BEP 3, BEP 5 `port`, BEP 6, BEP 10 `extended`,
//! BEP 52 merkle hashes) and their encoding.

use bytes::{BufMut, Bytes};

use super::hashes::{HASH_REQUEST_LEN, HashRequest};
use super::limits::PIECE_HEADER_LEN;
use crate::pieces::BlockRef;

/// A message id, the byte after the length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageId {
    /// 0, BEP 3.
    Choke = 0,
    /// 1, BEP 3.
    Unchoke = 1,
    /// 2, BEP 3.
    Interested = 2,
    /// 3, BEP 3.
    NotInterested = 3,
    /// 4, BEP 3.
    Have = 4,
    /// 5, BEP 3.
    Bitfield = 5,
    /// 6, BEP 3.
    Request = 6,
    /// 7, BEP 3.
    Piece = 7,
    /// 8, BEP 3.
    Cancel = 8,
    /// 9, BEP 5.
    Port = 9,
    /// 13, BEP 6.
    SuggestPiece = 13,
    /// 14, BEP 6.
    HaveAll = 14,
    /// 15, BEP 6.
    HaveNone = 15,
    /// 16, BEP 6.
    RejectRequest = 16,
    /// 17, BEP 6.
    AllowedFast = 17,
    /// 20, BEP 10.
    Extended = 20,
    /// 21, BEP 52.
    HashRequest = 21,
    /// 22, BEP 52.
    Hashes = 22,
    /// 23, BEP 52.
    HashReject = 23,
}

impl MessageId {
    /// The id for a byte, if it names a message we know.
    pub fn from_u8(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::Choke,
            1 => Self::Unchoke,
            2 => Self::Interested,
            3 => Self::NotInterested,
            4 => Self::Have,
            5 => Self::Bitfield,
            6 => Self::Request,
            7 => Self::Piece,
            8 => Self::Cancel,
            9 => Self::Port,
            13 => Self::SuggestPiece,
            14 => Self::HaveAll,
            15 => Self::HaveNone,
            16 => Self::RejectRequest,
            17 => Self::AllowedFast,
            20 => Self::Extended,
            21 => Self::HashRequest,
            22 => Self::Hashes,
            23 => Self::HashReject,
            _ => return None,
        })
    }

    /// Whether the message belongs to the Fast extension (BEP 6).
    pub fn is_fast(self) -> bool {
        matches!(
            self,
            Self::SuggestPiece
                | Self::HaveAll
                | Self::HaveNone
                | Self::RejectRequest
                | Self::AllowedFast
        )
    }
}

/// A message after the handshake. Payloads are `Bytes` slices of the receive buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A zero-length message.
    KeepAlive,
    /// The sender will not serve requests.
    Choke,
    /// The sender will serve requests.
    Unchoke,
    /// The sender wants pieces the receiver has.
    Interested,
    /// The sender wants nothing from the receiver.
    NotInterested,
    /// The sender completed a piece.
    Have(u32),
    /// The sender's pieces, in wire form (checked by the decoder when the count is known).
    Bitfield(Bytes),
    /// The sender asks for a block.
    Request(BlockRef),
    /// A block of data.
    Piece {
        /// The piece index.
        piece: u32,
        /// Byte offset inside the piece.
        offset: u32,
        /// The block's bytes.
        data: Bytes,
    },
    /// The sender withdraws a request.
    Cancel(BlockRef),
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// The sender suggests a piece to download (BEP 6).
    SuggestPiece(u32),
    /// The sender has every piece (BEP 6).
    HaveAll,
    /// The sender has no piece (BEP 6).
    HaveNone,
    /// The sender will not serve this request (BEP 6).
    RejectRequest(BlockRef),
    /// The receiver may request this piece while choked (BEP 6).
    AllowedFast(u32),
    /// An extension protocol message (BEP 10): id 0 is the extended handshake, others are the
    /// ids the receiver advertised.
    Extended {
        /// The extended message id.
        id: u8,
        /// The payload after the id.
        payload: Bytes,
    },
    /// The sender asks for merkle hashes of a v2 file (BEP 52).
    HashRequest(HashRequest),
    /// Merkle hashes answering a request (BEP 52): the requested ones, then the proof. The
    /// decoder checked that their number is what the request implies.
    Hashes {
        /// The request answered.
        request: HashRequest,
        /// The hashes, 32 bytes each.
        hashes: Bytes,
    },
    /// The sender will not send the hashes of this request (BEP 52).
    HashReject(HashRequest),
}

impl Message {
    /// The message's id byte (`None` for a keep-alive).
    pub fn id(&self) -> Option<MessageId> {
        Some(match self {
            Self::KeepAlive => return None,
            Self::Choke => MessageId::Choke,
            Self::Unchoke => MessageId::Unchoke,
            Self::Interested => MessageId::Interested,
            Self::NotInterested => MessageId::NotInterested,
            Self::Have(_) => MessageId::Have,
            Self::Bitfield(_) => MessageId::Bitfield,
            Self::Request(_) => MessageId::Request,
            Self::Piece { .. } => MessageId::Piece,
            Self::Cancel(_) => MessageId::Cancel,
            Self::Port(_) => MessageId::Port,
            Self::SuggestPiece(_) => MessageId::SuggestPiece,
            Self::HaveAll => MessageId::HaveAll,
            Self::HaveNone => MessageId::HaveNone,
            Self::RejectRequest(_) => MessageId::RejectRequest,
            Self::AllowedFast(_) => MessageId::AllowedFast,
            Self::Extended { .. } => MessageId::Extended,
            Self::HashRequest(_) => MessageId::HashRequest,
            Self::Hashes { .. } => MessageId::Hashes,
            Self::HashReject(_) => MessageId::HashReject,
        })
    }

    /// The length of the message body (the value of its length prefix).
    pub fn body_len(&self) -> usize {
        match self {
            Self::KeepAlive => 0,
            Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => 1,
            Self::Have(_) | Self::SuggestPiece(_) | Self::AllowedFast(_) => 5,
            Self::Bitfield(b) => 1 + b.len(),
            Self::Request(_) | Self::Cancel(_) | Self::RejectRequest(_) => 13,
            Self::Piece { data, .. } => PIECE_HEADER_LEN as usize + data.len(),
            Self::Port(_) => 3,
            Self::Extended { payload, .. } => 2 + payload.len(),
            Self::HashRequest(_) | Self::HashReject(_) => 1 + HASH_REQUEST_LEN,
            Self::Hashes { hashes, .. } => 1 + HASH_REQUEST_LEN + hashes.len(),
        }
    }

    /// The length on the wire, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + self.body_len()
    }

    /// Appends the message to `out` (a `BytesMut`, `Vec<u8>`, …), allocating nothing itself.
    ///
    /// # Panics
    /// If a payload is longer than a `u32` length prefix can describe (a caller bug: every
    /// payload we send is bounded far below that).
    pub fn encode(&self, out: &mut impl BufMut) {
        let body = u32::try_from(self.body_len()).expect("message bodies are far below 4 GiB");
        out.put_u32(body);
        let Some(id) = self.id() else { return };
        out.put_u8(id as u8);
        match self {
            Self::KeepAlive
            | Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => {}
            Self::Have(i) | Self::SuggestPiece(i) | Self::AllowedFast(i) => out.put_u32(*i),
            Self::Bitfield(b) => out.put_slice(b),
            Self::Request(b) | Self::Cancel(b) | Self::RejectRequest(b) => {
                out.put_u32(b.piece);
                out.put_u32(b.offset);
                out.put_u32(b.length);
            }
            Self::Piece {
                piece,
                offset,
                data,
            } => {
                out.put_u32(*piece);
                out.put_u32(*offset);
                out.put_slice(data);
            }
            Self::Port(p) => out.put_u16(*p),
            Self::Extended { id, payload } => {
                out.put_u8(*id);
                out.put_slice(payload);
            }
            Self::HashRequest(r) | Self::HashReject(r) => r.write(out),
            Self::Hashes { request, hashes } => {
                request.write(out);
                out.put_slice(hashes);
            }
        }
    }
}

/// Appends the 13 bytes that precede a block of `data_len` bytes in a `piece` message, so the
/// block itself can be sent without copying it.
pub fn encode_piece_header(piece: u32, offset: u32, data_len: u32, out: &mut impl BufMut) {
    out.put_u32(PIECE_HEADER_LEN + data_len);
    out.put_u8(MessageId::Piece as u8);
    out.put_u32(piece);
    out.put_u32(offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_specs() {
        let cases: Vec<(Message, Vec<u8>)> = vec![
            (Message::KeepAlive, vec![0, 0, 0, 0]),
            (Message::Choke, vec![0, 0, 0, 1, 0]),
            (Message::Have(0x01020304), vec![0, 0, 0, 5, 4, 1, 2, 3, 4]),
            (
                Message::Request(BlockRef::new(1, 0x4000, 0x4000)),
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (Message::HaveAll, vec![0, 0, 0, 1, 14]),
            (
                Message::HashReject(HashRequest {
                    pieces_root: [0xab; 32],
                    base_layer: 1,
                    index: 2,
                    length: 3,
                    proof_layers: 4,
                }),
                [
                    &[0, 0, 0, 49, 23][..],
                    &[0xab; 32],
                    &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4],
                ]
                .concat(),
            ),
            (
                Message::Extended {
                    id: 0,
                    payload: Bytes::from_static(b"de"),
                },
                vec![0, 0, 0, 4, 20, 0, b'd', b'e'],
            ),
        ];
        for (msg, bytes) in cases {
            let mut out = Vec::new();
            msg.encode(&mut out);
            assert_eq!(out, bytes, "{msg:?}");
            assert_eq!(msg.encoded_len(), bytes.len());
        }
    }

    #[test]
    fn piece_header_matches_full_encoding() {
        let data = Bytes::from(vec![9u8; 100]);
        let mut full = Vec::new();
        Message::Piece {
            piece: 3,
            offset: 16384,
            data: data.clone(),
        }
        .encode(&mut full);
        let mut header = Vec::new();
        encode_piece_header(3, 16384, 100, &mut header);
        header.extend_from_slice(&data);
        assert_eq!(header, full);
    }

    #[test]
    fn ids_round_trip() {
        for b in 0..=255u8 {
            if let Some(id) = MessageId::from_u8(b) {
                assert_eq!(id as u8, b);
            }
        }
        assert!(MessageId::from_u8(10).is_none());
        assert_eq!(MessageId::from_u8(21), Some(MessageId::HashRequest));
        assert_eq!(MessageId::from_u8(22), Some(MessageId::Hashes));
        assert_eq!(MessageId::from_u8(23), Some(MessageId::HashReject));
        assert!(MessageId::from_u8(24).is_none());
        assert!(MessageId::AllowedFast.is_fast() && !MessageId::Port.is_fast());
    }
}
