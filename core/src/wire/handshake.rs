//! The 68-byte handshake that opens every peer connection (BEP 3), with its reserved bits.

use std::fmt;

use super::codec::ProtocolError;
use super::limits::HANDSHAKE_LEN;
use crate::id::{InfoHash, PeerId};

/// The protocol string every handshake starts with (after its length byte, 19).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// The eight reserved bytes of a handshake: one bit per protocol extension.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// No extension.
    pub const NONE: Self = Self([0; 8]);
    /// BEP 10 extension protocol: byte 5, 0x10.
    pub const EXTENSION_PROTOCOL: Self = Self([0, 0, 0, 0, 0, 0x10, 0, 0]);
    /// BEP 6 Fast extension: byte 7, 0x04.
    pub const FAST: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x04]);
    /// BEP 5 DHT (the peer accepts `port` messages): byte 7, 0x01.
    pub const DHT: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x01]);
    /// BEP 52 BitTorrent v2 (the peer can switch a hybrid torrent to v2): byte 7, 0x10.
    pub const V2: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x10]);

    /// Every bit of `self` and `other`.
    pub const fn union(self, other: Self) -> Self {
        let mut out = self.0;
        let mut i = 0;
        while i < 8 {
            out[i] |= other.0[i];
            i += 1;
        }
        Self(out)
    }

    /// Whether every bit of `flag` is set.
    pub fn contains(self, flag: Self) -> bool {
        self.0.iter().zip(flag.0).all(|(a, b)| a & b == b)
    }

    /// Whether the BEP 10 extension protocol bit is set.
    pub fn extension_protocol(self) -> bool {
        self.contains(Self::EXTENSION_PROTOCOL)
    }

    /// Whether the BEP 6 Fast extension bit is set.
    pub fn fast(self) -> bool {
        self.contains(Self::FAST)
    }

    /// Whether the BEP 5 DHT bit is set.
    pub fn dht(self) -> bool {
        self.contains(Self::DHT)
    }

    /// Whether the BEP 52 v2 bit is set.
    pub fn v2(self) -> bool {
        self.contains(Self::V2)
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved({})", crate::id::to_hex(&self.0))?;
        for (on, name) in [
            (self.extension_protocol(), " ext"),
            (self.fast(), " fast"),
            (self.dht(), " dht"),
        ] {
            if on {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

/// A decoded or to-be-sent handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Handshake {
    /// The extension bits.
    pub reserved: Reserved,
    /// The torrent this connection is for.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// The 68 bytes of the handshake.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Decodes a handshake from the start of `input`. `Ok(None)` means more bytes are needed;
    /// a wrong protocol length or string is reported as soon as its first byte arrives.
    pub fn decode(input: &[u8]) -> Result<Option<Self>, ProtocolError> {
        if let Some(&len) = input.first()
            && usize::from(len) != PROTOCOL.len()
        {
            return Err(ProtocolError::HandshakeProtocolLength(len));
        }
        let seen = input.len().min(20);
        if seen > 1 && input[1..seen] != PROTOCOL[..seen - 1] {
            return Err(ProtocolError::HandshakeProtocolString);
        }
        let Some(bytes) = input.get(..HANDSHAKE_LEN) else {
            return Ok(None);
        };
        let mut reserved = [0u8; 8];
        let mut info_hash = [0u8; 20];
        let mut peer_id = [0u8; 20];
        reserved.copy_from_slice(&bytes[20..28]);
        info_hash.copy_from_slice(&bytes[28..48]);
        peer_id.copy_from_slice(&bytes[48..68]);
        Ok(Some(Self {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(peer_id),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::EXTENSION_PROTOCOL
                .union(Reserved::FAST)
                .union(Reserved::DHT),
            info_hash: InfoHash([7; 20]),
            peer_id: PeerId(*b"-ST0100-abcdefghijkl"),
        }
    }

    #[test]
    fn reserved_bits_are_where_the_beps_say() {
        let r = sample().reserved;
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert!(r.fast() && r.dht() && r.extension_protocol());
        assert!(!Reserved::NONE.fast());
        // BEP 52: the fourth most significant bit of the last byte, as libtorrent sets it.
        assert_eq!(Reserved::V2.0, [0, 0, 0, 0, 0, 0, 0, 0x10]);
        assert!(!r.v2() && r.union(Reserved::V2).v2() && r.union(Reserved::V2).fast());
    }

    #[test]
    fn round_trip_in_any_prefix() {
        let bytes = sample().to_bytes();
        assert_eq!(&bytes[..20], b"\x13BitTorrent protocol");
        for n in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&bytes[..n]), Ok(None), "prefix {n}");
        }
        assert_eq!(Handshake::decode(&bytes), Ok(Some(sample())));
    }

    #[test]
    fn wrong_protocol_is_reported_early() {
        assert_eq!(
            Handshake::decode(b"\x14"),
            Err(ProtocolError::HandshakeProtocolLength(20))
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent pro"),
            Ok(None),
            "a correct prefix waits"
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent Pro"),
            Err(ProtocolError::HandshakeProtocolString)
        );
    }
}
