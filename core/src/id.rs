//! Identifiers: [`InfoHash`] names a torrent (v1), [`InfoHashV2`] names a v2 torrent,
//! [`InfoHashes`] holds either or both, [`PeerId`] names a client.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::rng::Rng;

/// The SHA-1 of a torrent's bencoded `info` dictionary: the torrent's identity (BitTorrent v1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InfoHash(pub [u8; 20]);

/// The SHA-256 of a torrent's bencoded `info` dictionary: its identity in BitTorrent v2
/// (BEP 52).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InfoHashV2(pub [u8; 32]);

/// The info-hashes of a torrent: v1 (SHA-1), v2 (SHA-256), or both for a hybrid. At least
/// one is present in any value the crate builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InfoHashes {
    /// The v1 info-hash, if the torrent has a v1 half.
    pub v1: Option<InfoHash>,
    /// The v2 info-hash, if the torrent has a v2 half.
    pub v2: Option<InfoHashV2>,
}

/// A 20-byte peer id as sent in the handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PeerId(pub [u8; 20]);

/// The Azureus-style client prefix of our peer ids: sanstorrent 0.1.0.
pub const PEER_ID_PREFIX: &[u8; 8] = b"-ST0100-";

impl InfoHash {
    /// The info-hash of raw `info` dictionary bytes.
    pub fn of_info(info_bytes: &[u8]) -> Self {
        Self(sha1_digest(info_bytes))
    }

    /// Parses 40 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        parse_hex(hex).map(Self)
    }

    /// Lower-case hexadecimal, as trackers, magnet links and libtorrent print it.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl InfoHashV2 {
    /// The v2 info-hash of raw `info` dictionary bytes.
    pub fn of_info(info_bytes: &[u8]) -> Self {
        Self(crate::merkle::sha256(info_bytes))
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        parse_hex(hex).map(Self)
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The first 20 bytes: what trackers, the DHT and the handshake use for a v2-only torrent.
    pub fn truncated(&self) -> InfoHash {
        let mut h = [0u8; 20];
        h.copy_from_slice(&self.0[..20]);
        InfoHash(h)
    }
}

impl InfoHashes {
    /// A v1-only torrent's hashes.
    pub fn v1(v1: InfoHash) -> Self {
        Self {
            v1: Some(v1),
            v2: None,
        }
    }

    /// A v2-only torrent's hashes.
    pub fn v2(v2: InfoHashV2) -> Self {
        Self {
            v1: None,
            v2: Some(v2),
        }
    }

    /// The 20-byte id used with trackers, the DHT and in the handshake: the v1 hash when there
    /// is one (v1 and hybrid torrents), else the v2 hash truncated to 20 bytes (as libtorrent
    /// does). All zeros only for a value with neither, which the crate never builds.
    pub fn id(&self) -> InfoHash {
        match (self.v1, self.v2) {
            (Some(v1), _) => v1,
            (None, Some(v2)) => v2.truncated(),
            (None, None) => InfoHash([0; 20]),
        }
    }

    /// Whether there is a v2 hash and no v1 hash.
    pub fn is_v2_only(&self) -> bool {
        self.v1.is_none() && self.v2.is_some()
    }

    /// The 20-byte hashes a peer may name the torrent by in its handshake: the v1 hash and
    /// the truncated v2 hash (both for a hybrid, BEP 52).
    pub fn handshake_ids(self) -> impl Iterator<Item = InfoHash> {
        let v2 = self.v2.map(|h| h.truncated());
        self.v1.into_iter().chain(v2)
    }

    /// Whether `other` names the same torrent: every hash both know is equal, and they share
    /// at least one (a `btmh`-only magnet's hashes agree with its hybrid's metadata).
    pub fn agree(&self, other: &Self) -> bool {
        let v1 = self.v1.zip(other.v1).map(|(a, b)| a == b);
        let v2 = self.v2.zip(other.v2).map(|(a, b)| a == b);
        v1 != Some(false) && v2 != Some(false) && (v1.is_some() || v2.is_some())
    }
}

impl PeerId {
    /// Our Azureus-style peer id: `-ST0100-` and 12 random bytes from the caller's generator.
    pub fn generate(rng: &mut Rng) -> Self {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(PEER_ID_PREFIX);
        // Printable characters, as most clients use, so logs and trackers show them plainly.
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for byte in &mut id[8..] {
            *byte = ALPHABET[rng.index(ALPHABET.len())];
        }
        Self(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The Azureus-style client tag (`-XX1234-`), if the id has one.
    pub fn client_tag(&self) -> Option<&str> {
        let tag = &self.0[..8];
        if tag[0] == b'-' && tag[7] == b'-' && tag[1..7].iter().all(u8::is_ascii_alphanumeric) {
            std::str::from_utf8(tag).ok()
        } else {
            None
        }
    }

    /// The client this id names, for people: `qBittorrent 4.6.2` from `-qB4620-`, the
    /// Azureus-style tag itself for a client not in the table, `unknown` otherwise.
    pub fn client_name(&self) -> String {
        let Some(tag) = self.client_tag() else {
            return "unknown".into();
        };
        let code = &tag[1..3];
        let Some((_, name)) = CLIENTS.iter().find(|(c, _)| *c == code) else {
            return tag.into();
        };
        let version: Vec<String> = tag[3..7]
            .chars()
            .map(|c| match c.to_digit(36) {
                Some(d) => d.to_string(),
                None => c.to_string(),
            })
            .collect();
        format!("{name} {}", version.join("."))
    }
}

/// Azureus-style peer id codes of common clients.
const CLIENTS: &[(&str, &str)] = &[
    ("ST", "sanstorrent"),
    ("LT", "libtorrent"),
    ("lt", "libTorrent"),
    ("qB", "qBittorrent"),
    ("TR", "Transmission"),
    ("DE", "Deluge"),
    ("UT", "µTorrent"),
    ("UM", "µTorrent Mac"),
    ("BT", "BitTorrent"),
    ("AZ", "Vuze"),
    ("BI", "BiglyBT"),
    ("rq", "rqbit"),
    ("RQ", "rqbit"),
    ("KT", "KTorrent"),
    ("AR", "Ares"),
    ("A2", "aria2"),
    ("FD", "Free Download Manager"),
    ("WW", "WebTorrent"),
];

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeerId({})",
            String::from_utf8_lossy(&self.0).escape_debug()
        )
    }
}

/// SHA-1 of `data` (the sha1 crate picks SHA-NI or its asm backend at run time).
pub fn sha1_digest(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// Lower-case hexadecimal of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses exactly `2 * N` hexadecimal digits.
pub fn parse_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash::from_hex("0123456789ABCDEF0123456789abcdef01234567").unwrap();
        assert_eq!(h.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert!(InfoHash::from_hex("0123").is_none());
        assert!(InfoHash::from_hex("zz23456789abcdef0123456789abcdef01234567").is_none());
    }

    #[test]
    fn peer_id_is_azureus_style_and_seeded() {
        let a = PeerId::generate(&mut Rng::new(1));
        assert_eq!(&a.0[..8], b"-ST0100-");
        assert_eq!(a.client_tag(), Some("-ST0100-"));
        assert_eq!(a, PeerId::generate(&mut Rng::new(1)));
        assert_ne!(a, PeerId::generate(&mut Rng::new(2)));
    }

    #[test]
    fn client_names_come_from_the_azureus_tag() {
        let id = |prefix: &[u8]| {
            let mut bytes = [b'x'; 20];
            bytes[..prefix.len()].copy_from_slice(prefix);
            PeerId(bytes)
        };
        assert_eq!(id(b"-qB4620-").client_name(), "qBittorrent 4.6.2.0");
        assert_eq!(id(b"-LT20A0-").client_name(), "libtorrent 2.0.10.0");
        assert_eq!(id(b"-ZZ1234-").client_name(), "-ZZ1234-");
        assert_eq!(id(b"M7-2-0--").client_name(), "unknown");
    }

    #[test]
    fn the_20_byte_id_is_v1_else_truncated_v2() {
        let v1 = InfoHash([1; 20]);
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let v2 = InfoHashV2(bytes);
        assert_eq!(v2.truncated().0[..], bytes[..20]);
        assert_eq!(InfoHashes::v1(v1).id(), v1);
        assert_eq!(InfoHashes::v2(v2).id(), v2.truncated());
        let both = InfoHashes {
            v1: Some(v1),
            v2: Some(v2),
        };
        assert_eq!(both.id(), v1);
        assert!(InfoHashes::v2(v2).is_v2_only() && !both.is_v2_only());
        let ids: Vec<_> = both.handshake_ids().collect();
        assert_eq!(ids, [both.v1.unwrap(), v2.truncated()]);
        assert!(both.agree(&InfoHashes::v2(v2)) && InfoHashes::v2(v2).agree(&both));
        assert!(both.agree(&InfoHashes::v1(both.v1.unwrap())) && both.agree(&both));
        let other = InfoHashV2([9; 32]);
        assert!(!both.agree(&InfoHashes::v2(other)));
        assert!(!InfoHashes::v2(v2).agree(&InfoHashes::v1(both.v1.unwrap())));
        assert_eq!(InfoHashV2::from_hex(&v2.to_hex()), Some(v2));
        assert_eq!(
            InfoHashV2::of_info(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha1_known_answer() {
        assert_eq!(
            to_hex(&sha1_digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
