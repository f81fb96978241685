//! The uTP packet format (BEP 29): a 20-byte header, a chain of extensions, the payload.
//!
//! ```text
//! 0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! +-------+-------+---------------+---------------+---------------+
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! | seq_nr                        | ack_nr                        |
//! +---------------+---------------+---------------+---------------+
//! ```
//! Each extension is `next extension type, length, bytes`; the header's `extension` byte names
//! the first one and `0` ends the chain. Type 1 is the selective ACK ([`SelectiveAck`]);
//! others (2, the old extension bits; 3, libtorrent's close reason) are skipped.

use std::fmt;

use super::sack::SelectiveAck;
use super::seq::Seq;

/// The length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// The only protocol version.
pub const VERSION: u8 = 1;
/// Extension type of the selective ACK.
pub const EXT_SELECTIVE_ACK: u8 = 1;
/// Extension type of padding (ours, for path MTU probes): receivers skip unknown types, as
/// libtorrent and libutp do.
pub const EXT_PADDING: u8 = 0x50;
/// The most extensions read from one packet; more is a malformed packet.
pub const MAX_EXTENSIONS: usize = 8;

/// The five packet types, in the order of their wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `ST_DATA` (0): payload bytes, one sequence number each packet.
    Data,
    /// `ST_FIN` (1): the sender's last sequence number; no more data follows it.
    Fin,
    /// `ST_STATE` (2): an acknowledgement without data; takes no sequence number.
    State,
    /// `ST_RESET` (3): ends the connection at once.
    Reset,
    /// `ST_SYN` (4): opens a connection.
    Syn,
}

impl PacketType {
    /// The 4-bit wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::Data => 0,
            Self::Fin => 1,
            Self::State => 2,
            Self::Reset => 3,
            Self::Syn => 4,
        }
    }

    /// The type of a 4-bit wire value.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Data,
            1 => Self::Fin,
            2 => Self::State,
            3 => Self::Reset,
            4 => Self::Syn,
            _ => return None,
        })
    }
}

/// The fixed header of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The packet type.
    pub kind: PacketType,
    /// The receiver's connection id (a SYN carries the sender's receive id).
    pub connection_id: u16,
    /// The sender's clock when it sent the packet, in microseconds (wrapping).
    pub timestamp_us: u32,
    /// The sender's last measured one-way delay of our packets (its clock minus ours).
    pub timestamp_diff_us: u32,
    /// Bytes the sender can still take into its receive buffer.
    pub wnd_size: u32,
    /// The sequence number of this packet (of the next packet, for `ST_STATE`).
    pub seq_nr: Seq,
    /// The last sequence number the sender received in order.
    pub ack_nr: Seq,
}

/// A parsed packet, borrowing its extensions and payload from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// The selective ACK extension, if the packet has one.
    pub sack: Option<SelectiveAck<'a>>,
    /// The payload after the extensions.
    pub payload: &'a [u8],
}

/// Why a datagram is not a uTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than the 20-byte header.
    TooShort(usize),
    /// A version other than 1.
    Version(u8),
    /// A type above 4.
    Type(u8),
    /// An extension runs past the end of the datagram.
    ExtensionTruncated,
    /// More than [`MAX_EXTENSIONS`] extensions.
    TooManyExtensions,
    /// A selective ACK of length zero.
    SackLength(u8),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort(n) => write!(f, "uTP packet of {n} bytes is shorter than its header"),
            Self::Version(v) => write!(f, "uTP version {v}, expected 1"),
            Self::Type(t) => write!(f, "unknown uTP packet type {t}"),
            Self::ExtensionTruncated => f.write_str("uTP extension runs past the datagram"),
            Self::TooManyExtensions => write!(f, "more than {MAX_EXTENSIONS} uTP extensions"),
            Self::SackLength(n) => write!(f, "selective ACK of {n} bytes"),
        }
    }
}

impl std::error::Error for PacketError {}

impl<'a> Packet<'a> {
    /// Parses one datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, PacketError> {
        let Some((fixed, mut rest)) = datagram.split_first_chunk::<HEADER_LEN>() else {
            return Err(PacketError::TooShort(datagram.len()));
        };
        let version = fixed[0] & 0x0f;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let kind = PacketType::from_code(fixed[0] >> 4).ok_or(PacketError::Type(fixed[0] >> 4))?;
        let u16_at = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
        let u32_at =
            |i: usize| u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let header = Header {
            kind,
            connection_id: u16_at(2),
            timestamp_us: u32_at(4),
            timestamp_diff_us: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: Seq(u16_at(16)),
            ack_nr: Seq(u16_at(18)),
        };
        let mut sack = None;
        let mut next = fixed[1];
        let mut count = 0;
        while next != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return Err(PacketError::TooManyExtensions);
            }
            let [following, len, tail @ ..] = rest else {
                return Err(PacketError::ExtensionTruncated);
            };
            let len = *len;
            let Some((body, tail)) = tail.split_at_checked(usize::from(len)) else {
                return Err(PacketError::ExtensionTruncated);
            };
            if next == EXT_SELECTIVE_ACK {
                // BEP 29 asks for multiples of four bytes, but libtorrent sends as many bytes
                // as its reorder buffer spans (one, for up to eight packets).
                if len == 0 {
                    return Err(PacketError::SackLength(len));
                }
                sack = Some(SelectiveAck::new(body));
            }
            next = *following;
            rest = tail;
        }
        Ok(Self {
            header,
            sack,
            payload: rest,
        })
    }
}

impl Header {
    /// Writes this header, the selective ACK (if any) and the payload as one datagram.
    /// `sack` must be a non-empty multiple of four bytes, at most 252.
    pub fn encode(&self, sack: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
        let sack_len = sack.map_or(0, |s| 2 + s.len());
        let mut out = Vec::with_capacity(HEADER_LEN + sack_len + payload.len());
        out.push((self.kind.code() << 4) | VERSION);
        out.push(if sack.is_some() { EXT_SELECTIVE_ACK } else { 0 });
        out.extend_from_slice(&self.connection_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp_us.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff_us.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.0.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.0.to_be_bytes());
        if let Some(bits) = sack {
            // A broken invariant of ours, not input: the connection builds at most 32 bytes.
            assert!(
                !bits.is_empty() && bits.len() % 4 == 0 && bits.len() <= 252,
                "selective ACK of {} bytes",
                bits.len()
            );
            out.push(0);
            out.push(bits.len() as u8);
            out.extend_from_slice(bits);
        }
        out.extend_from_slice(payload);
        out
    }

    /// Writes this header, `padding` bytes of padding extensions (at least 2, each extension
    /// at most 257 bytes with its own 2) and the payload: a datagram `padding` bytes longer
    /// than [`Header::encode`] without a selective ACK.
    pub fn encode_padded(&self, payload: &[u8], padding: usize) -> Vec<u8> {
        let mut out = self.encode(None, &[]);
        out.reserve(padding + payload.len());
        let mut left = padding;
        out[1] = if left >= 2 { EXT_PADDING } else { 0 };
        while left >= 2 {
            let mut take = left.min(257);
            if left - take == 1 {
                take -= 1;
            }
            left -= take;
            out.push(if left >= 2 { EXT_PADDING } else { 0 });
            out.push((take - 2) as u8);
            out.resize(out.len() + take - 2, 0);
        }
        out.extend_from_slice(payload);
        out
    }
}

/// Whether a datagram looks like uTP (version nibble 1, a known type, at least a header), so
/// that one UDP socket can tell it from KRPC (`d…`) and UDP tracker answers.
pub fn looks_like_utp(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN
        && datagram[0] & 0x0f == VERSION
        && PacketType::from_code(datagram[0] >> 4).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_skipped() {
        let h = header(PacketType::Data);
        for padding in [2, 3, 257, 258, 259, 600] {
            let datagram = h.encode_padded(b"data", padding);
            assert_eq!(datagram.len(), HEADER_LEN + padding + 4);
            let p = Packet::parse(&datagram).unwrap();
            assert_eq!((p.header, p.sack, p.payload), (h, None, &b"data"[..]));
        }
    }

    fn header(kind: PacketType) -> Header {
        Header {
            kind,
            connection_id: 0xBEEF,
            timestamp_us: 0x0102_0304,
            timestamp_diff_us: 0xA0B0_C0D0,
            wnd_size: 1 << 20,
            seq_nr: Seq(65535),
            ack_nr: Seq(7),
        }
    }

    #[test]
    fn round_trips_every_type() {
        for kind in [
            PacketType::Data,
            PacketType::Fin,
            PacketType::State,
            PacketType::Reset,
            PacketType::Syn,
        ] {
            let bytes = header(kind).encode(None, b"hello");
            assert!(looks_like_utp(&bytes));
            let p = Packet::parse(&bytes).unwrap();
            assert_eq!(p.header, header(kind));
            assert_eq!(p.payload, b"hello");
            assert_eq!(p.sack, None);
        }
    }

    #[test]
    fn known_bytes() {
        let bytes = header(PacketType::Syn).encode(None, &[]);
        assert_eq!(
            bytes,
            [
                0x41, 0, 0xBE, 0xEF, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0, 0, 0x10, 0, 0, 0xff, 0xff,
                0, 7
            ]
        );
    }

    #[test]
    fn selective_ack_and_unknown_extensions() {
        let bytes = header(PacketType::State).encode(Some(&[0b101, 0, 0, 0x80]), &[]);
        let p = Packet::parse(&bytes).unwrap();
        let sack = p.sack.unwrap();
        assert_eq!(sack.bytes(), &[0b101, 0, 0, 0x80]);
        assert!(p.payload.is_empty());

        // Close reason (3) then selective ACK (1), then a payload.
        let mut raw = header(PacketType::Data).encode(None, &[]);
        raw[1] = 3;
        raw.extend_from_slice(&[1, 4, 0, 0, 0, 7]);
        raw.extend_from_slice(&[0, 4, 1, 0, 0, 0]);
        raw.extend_from_slice(b"xyz");
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.sack.unwrap().bytes(), &[1, 0, 0, 0]);
        assert_eq!(p.payload, b"xyz");
    }

    #[test]
    fn malformed_table() {
        let good = header(PacketType::Data).encode(None, &[]);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            b
        };
        let cases: Vec<(Vec<u8>, PacketError)> = vec![
            (vec![], PacketError::TooShort(0)),
            (good[..19].to_vec(), PacketError::TooShort(19)),
            (with(&|b| b[0] = 0x02), PacketError::Version(2)),
            (with(&|b| b[0] = 0x51), PacketError::Type(5)),
            (with(&|b| b[1] = 1), PacketError::ExtensionTruncated),
            (
                with(&|b| {
                    b[1] = 1;
                    b.extend_from_slice(&[0, 8, 1, 2]);
                }),
                PacketError::ExtensionTruncated,
            ),
            (
                with(&|b| {
                    b[1] = 1;
                    b.extend_from_slice(&[0, 0]);
                }),
                PacketError::SackLength(0),
            ),
            (
                with(&|b| {
                    b[1] = 9;
                    for _ in 0..MAX_EXTENSIONS {
                        b.extend_from_slice(&[9, 0]);
                    }
                    b.extend_from_slice(&[0, 0]);
                }),
                PacketError::TooManyExtensions,
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(Packet::parse(&bytes), Err(err), "{bytes:?}");
            assert!(!err.to_string().is_empty());
        }
        assert!(!looks_like_utp(b"d1:ad2:id20:"));
    }

    #[test]
    fn takes_a_selective_ack_of_any_length_as_libtorrent_sends() {
        let mut bytes = header(PacketType::Data).encode(None, b"have");
        bytes[1] = 1;
        bytes.splice(HEADER_LEN..HEADER_LEN, [0, 1, 0b101]);
        let p = Packet::parse(&bytes).unwrap();
        assert_eq!(p.payload, b"have");
        let sack = p.sack.unwrap();
        let acked: Vec<Seq> = sack.acked(Seq(7)).collect();
        assert_eq!(acked, [Seq(9), Seq(11)]);
    }
}
