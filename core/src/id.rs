//! Twenty-byte identifiers: [`InfoHash`] names a torrent, [`PeerId`] names a client.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::rng::Rng;

/// The SHA-1 of a torrent's bencoded `info` dictionary: the torrent's identity (BitTorrent v1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InfoHash(pub [u8; 20]);

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
    fn sha1_known_answer() {
        assert_eq!(
            to_hex(&sha1_digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
