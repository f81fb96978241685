//! Magnet links (BEP 9, BEP 53): parsing and printing.
//!
//! `magnet:?xt=urn:btih:<40 hex | 32 base32>&dn=<name>&tr=<tracker>...&x.pe=<host:port>...
//! &ws=<web seed>...&so=<0,2,4-6>`. `xt=urn:btmh:1220<64 hex>` (a BitTorrent v2 SHA-256
//! multihash) is read alone or beside `urn:btih:`; [`MagnetLink::info_hashes`] gives both.
//! [`MagnetLink::to_uri`] prints a link that parses back to the same value.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::id::{InfoHash, InfoHashV2, InfoHashes, parse_hex, to_hex};

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MagnetLink {
    /// The 20-byte id used with trackers, the DHT and in the handshake: the v1 info-hash
    /// (`xt=urn:btih:`), or for a link with only a v2 hash, that hash truncated to 20 bytes
    /// (see [`MagnetLink::has_v1`]).
    pub info_hash: InfoHash,
    /// The v2 info-hash (SHA-256, from `xt=urn:btmh:1220...`), if the link carries one.
    pub info_hash_v2: Option<[u8; 32]>,
    /// Whether the link names a v1 info-hash (`urn:btih:`); false for a link with only
    /// `urn:btmh:`, whose [`MagnetLink::info_hash`] is then the truncated v2 hash.
    pub has_v1: bool,
    /// The display name (`dn`), percent-decoded.
    pub display_name: Option<String>,
    /// Tracker URLs (`tr`), percent-decoded, in link order, without duplicates.
    pub trackers: Vec<String>,
    /// Peer addresses to dial (`x.pe`).
    pub peers: Vec<PeerAddress>,
    /// Web seeds (`ws`, BEP 19), percent-decoded.
    pub web_seeds: Vec<String>,
    /// BEP 53 `so`: the file indices to download (inclusive ranges); empty means all.
    pub select_only: Vec<RangeInclusive<u32>>,
}

/// A peer address from `x.pe`: an IP socket address, or a host name and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddress {
    /// `1.2.3.4:6881` or `[::1]:6881`.
    Ip(SocketAddr),
    /// `host.example:6881`.
    Host(String, u16),
}

/// Why a magnet link was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MagnetError {
    /// It does not start with `magnet:?`.
    NotMagnet,
    /// There is no `xt=urn:btih:` (nor `urn:btmh:`) parameter.
    MissingInfoHash,
    /// An `xt` with a `urn:btih:` hash that is neither 40 hex nor 32 base32 characters.
    BadInfoHash(String),
    /// An `xt` with a `urn:btmh:` hash that is not a hex SHA-256 multihash (`1220` + 64 hex).
    BadMultihash(String),
    /// Two `urn:btih:` (or two `urn:btmh:`) parameters with different hashes.
    ConflictingInfoHashes,
    /// An `xt` that is not a BitTorrent URN.
    UnsupportedTopic(String),
    /// A `%` not followed by two hex digits, in the named parameter.
    BadPercentEncoding(String),
    /// A parameter that decodes to invalid UTF-8.
    InvalidUtf8(String),
    /// An `x.pe` value that is not `host:port` or `[v6]:port`.
    BadPeerAddress(String),
    /// A `so` value that is not a list of indices and `a-b` ranges.
    BadSelectOnly(String),
}

impl MagnetLink {
    /// A link with just an info-hash.
    pub fn new(info_hash: InfoHash) -> Self {
        Self {
            info_hash,
            info_hash_v2: None,
            has_v1: true,
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
            select_only: Vec::new(),
        }
    }

    /// A link naming a torrent by its info-hashes only: `urn:btih:` for a v1 hash,
    /// `urn:btmh:` for a v2 hash, both for a hybrid (as libtorrent's `make_magnet_uri`).
    pub fn of_hashes(hashes: InfoHashes) -> Self {
        Self {
            info_hash_v2: hashes.v2.map(|h| h.0),
            has_v1: hashes.v1.is_some(),
            ..Self::new(hashes.id())
        }
    }

    /// Parses a magnet URI.
    pub fn parse(uri: &str) -> Result<Self, MagnetError> {
        let query = uri
            .strip_prefix("magnet:?")
            .or_else(|| {
                // The scheme is case-insensitive.
                uri.get(..8)
                    .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
                    .map(|_| &uri[8..])
            })
            .ok_or(MagnetError::NotMagnet)?;
        let mut v1: Option<InfoHash> = None;
        let mut v2: Option<[u8; 32]> = None;
        let mut link = Self::new(InfoHash([0; 20]));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            // Numbered variants (`tr.1`, `xt.2`) mean the same as the plain key.
            let base = match key.split_once('.') {
                Some((k, n)) if n.bytes().all(|c| c.is_ascii_digit()) && !n.is_empty() => k,
                _ => key,
            };
            match base {
                "xt" => {
                    let value = decode(key, value, false)?;
                    if let Some(hash) = strip_prefix_ci(&value, "urn:btih:") {
                        let hash = parse_btih(hash)?;
                        if v1.is_some_and(|h| h != hash) {
                            return Err(MagnetError::ConflictingInfoHashes);
                        }
                        v1 = Some(hash);
                    } else if let Some(hash) = strip_prefix_ci(&value, "urn:btmh:") {
                        let hash = parse_btmh(hash)?;
                        if v2.is_some_and(|h| h != hash) {
                            return Err(MagnetError::ConflictingInfoHashes);
                        }
                        v2 = Some(hash);
                    } else {
                        return Err(MagnetError::UnsupportedTopic(value));
                    }
                }
                "dn" => link.display_name = Some(decode(key, value, true)?),
                "tr" => {
                    let tr = decode(key, value, false)?;
                    if !tr.is_empty() && !link.trackers.contains(&tr) {
                        link.trackers.push(tr);
                    }
                }
                "ws" => {
                    let ws = decode(key, value, false)?;
                    if !ws.is_empty() {
                        link.web_seeds.push(ws);
                    }
                }
                "x.pe" => {
                    let pe = decode(key, value, false)?;
                    let peer = parse_peer(&pe)?;
                    if !link.peers.contains(&peer) {
                        link.peers.push(peer);
                    }
                }
                "so" => link.select_only = parse_select_only(&decode(key, value, false)?)?,
                _ => {}
            }
        }
        link.info_hash = match (v1, v2) {
            (Some(h), _) => h,
            (None, Some(v2)) => InfoHashV2(v2).truncated(),
            (None, None) => return Err(MagnetError::MissingInfoHash),
        };
        link.has_v1 = v1.is_some();
        link.info_hash_v2 = v2;
        Ok(link)
    }

    /// The link's v1 and v2 info-hashes.
    pub fn info_hashes(&self) -> InfoHashes {
        InfoHashes {
            v1: self.has_v1.then_some(self.info_hash),
            v2: self.info_hash_v2.map(InfoHashV2),
        }
    }

    /// Prints the link as a magnet URI (hex info-hash, values percent-encoded), which
    /// [`MagnetLink::parse`] turns back into an equal value.
    pub fn to_uri(&self) -> String {
        let mut out = String::from("magnet:?");
        if self.has_v1 || self.info_hash_v2.is_none() {
            out.push_str("xt=urn:btih:");
            out.push_str(&self.info_hash.to_hex());
        }
        if let Some(v2) = &self.info_hash_v2 {
            if out.len() > "magnet:?".len() {
                out.push('&');
            }
            out.push_str("xt=urn:btmh:1220");
            out.push_str(&to_hex(v2));
        }
        if let Some(dn) = &self.display_name {
            out.push_str("&dn=");
            encode_into(&mut out, dn);
        }
        for tr in &self.trackers {
            out.push_str("&tr=");
            encode_into(&mut out, tr);
        }
        for ws in &self.web_seeds {
            out.push_str("&ws=");
            encode_into(&mut out, ws);
        }
        for pe in &self.peers {
            out.push_str("&x.pe=");
            encode_into(&mut out, &pe.to_string());
        }
        if !self.select_only.is_empty() {
            out.push_str("&so=");
            let parts: Vec<String> = self
                .select_only
                .iter()
                .map(|r| {
                    if r.start() == r.end() {
                        r.start().to_string()
                    } else {
                        format!("{}-{}", r.start(), r.end())
                    }
                })
                .collect();
            out.push_str(&parts.join(","));
        }
        out
    }

    /// Whether BEP 53 `so` selects file `index` (every file when `so` is absent).
    pub fn selects(&self, index: u32) -> bool {
        self.select_only.is_empty() || self.select_only.iter().any(|r| r.contains(&index))
    }
}

impl FromStr for MagnetLink {
    type Err = MagnetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MagnetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => write!(f, "{addr}"),
            Self::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

fn parse_btih(hash: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(hash.to_owned());
    match hash.len() {
        40 => InfoHash::from_hex(hash).ok_or_else(bad),
        32 => base32_20(hash).map(InfoHash).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A BitTorrent v2 multihash: `0x12` (SHA-256), `0x20` (32 bytes), then the digest, in hex.
fn parse_btmh(hash: &str) -> Result<[u8; 32], MagnetError> {
    let bad = || MagnetError::BadMultihash(hash.to_owned());
    let digest = strip_prefix_ci(hash, "1220").ok_or_else(bad)?;
    if digest.len() != 64 {
        return Err(bad());
    }
    parse_hex::<32>(digest).ok_or_else(bad)
}

/// RFC 4648 base32 (either case) of exactly 20 bytes.
fn base32_20(s: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut n = 0;
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    (n == 20).then_some(out)
}

fn parse_peer(s: &str) -> Result<PeerAddress, MagnetError> {
    let bad = || MagnetError::BadPeerAddress(s.to_owned());
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(PeerAddress::Ip(addr));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        && host.parse::<IpAddr>().is_err();
    if !valid_host {
        return Err(bad());
    }
    Ok(PeerAddress::Host(host.to_owned(), port))
}

fn parse_select_only(s: &str) -> Result<Vec<RangeInclusive<u32>>, MagnetError> {
    let bad = || MagnetError::BadSelectOnly(s.to_owned());
    s.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u32 = a.parse().map_err(|_| bad())?;
            let b: u32 = b.parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok(a..=b)
        })
        .collect()
}

/// Percent-decodes a query value; `plus_is_space` for form-encoded text such as `dn`.
fn decode(key: &str, value: &str, plus_is_space: bool) -> Result<String, MagnetError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| {
                        bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
                    })
                    .ok_or_else(|| MagnetError::BadPercentEncoding(key.to_owned()))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| MagnetError::InvalidUtf8(key.to_owned()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters and a few that are safe
/// inside a query value (`:`, `/`, `[`, `]`, `@`).
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/[]@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl fmt::Display for MagnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMagnet => write!(f, "not a magnet link (must start with `magnet:?`)"),
            Self::MissingInfoHash => write!(f, "magnet link has no `xt=urn:btih:` info-hash"),
            Self::BadInfoHash(h) => write!(
                f,
                "xt: info-hash {h:?} is neither 40 hex nor 32 base32 characters"
            ),
            Self::BadMultihash(h) => {
                write!(
                    f,
                    "xt: {h:?} is not a hex SHA-256 multihash (1220 + 64 hex)"
                )
            }
            Self::ConflictingInfoHashes => {
                write!(f, "xt: the link carries two different info-hashes")
            }
            Self::UnsupportedTopic(t) => write!(f, "xt: {t:?} is not a BitTorrent info-hash"),
            Self::BadPercentEncoding(k) => write!(f, "{k}: bad percent-encoding"),
            Self::InvalidUtf8(k) => write!(f, "{k}: decodes to invalid UTF-8"),
            Self::BadPeerAddress(a) => {
                write!(f, "x.pe: {a:?} is not host:port or [ipv6]:port")
            }
            Self::BadSelectOnly(s) => {
                write!(f, "so: {s:?} is not a list of file indices and ranges")
            }
        }
    }
}

impl std::error::Error for MagnetError {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn full_link() {
        let uri = format!(
            "magnet:?xt=urn:btih:{HEX}&dn=My+Movie%20%282020%29&tr=http%3A%2F%2Ft.example%2Fannounce\
             &tr=udp://t2.example:6969&tr.1=udp://t2.example:6969&x.pe=1.2.3.4:6881&x.pe=[::1]:51413\
             &x.pe=peer.example:7000&ws=http://web.example/f&so=0,2,4-6&unknown=1"
        );
        let m = MagnetLink::parse(&uri).unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.display_name.as_deref(), Some("My Movie (2020)"));
        assert_eq!(
            m.trackers,
            ["http://t.example/announce", "udp://t2.example:6969"]
        );
        assert_eq!(
            m.peers,
            [
                PeerAddress::Ip("1.2.3.4:6881".parse().unwrap()),
                PeerAddress::Ip("[::1]:51413".parse().unwrap()),
                PeerAddress::Host("peer.example".into(), 7000),
            ]
        );
        assert_eq!(m.web_seeds, ["http://web.example/f"]);
        assert_eq!(m.select_only, [0..=0, 2..=2, 4..=6]);
        assert!(m.selects(5) && !m.selects(3) && !m.selects(7));
        assert_eq!(MagnetLink::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn base32_and_hex_agree() {
        // The same hash in base32 (as old clients print it) and hex.
        let b32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";
        let a = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        let b = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
        assert_eq!(a.info_hash, b.info_hash);
        let lower = MagnetLink::parse(&format!("MAGNET:?xt=URN:BTIH:{}", b32.to_lowercase()));
        assert_eq!(lower.unwrap().info_hash, b.info_hash);
    }

    #[test]
    fn btmh_is_recognized() {
        let v2 = "1220".to_string() + &"ab".repeat(32);
        let m = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:{v2}")).unwrap();
        assert_eq!(m.info_hash_v2, Some([0xab; 32]));
        assert_eq!(MagnetLink::parse(&m.to_uri()).unwrap(), m);
        assert!(m.has_v1);
        assert_eq!(m.info_hashes().v1, Some(m.info_hash));
        assert_eq!(m.info_hashes().v2, Some(InfoHashV2([0xab; 32])));
        // A v2 hash alone: the 20-byte id is its truncation, and it prints back alone.
        let only = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:{v2}&dn=x")).unwrap();
        assert!(!only.has_v1);
        assert_eq!(only.info_hash, InfoHash([0xab; 20]));
        assert_eq!(only.info_hashes(), InfoHashes::v2(InfoHashV2([0xab; 32])));
        assert!(only.info_hashes().is_v2_only());
        assert_eq!(only.to_uri(), format!("magnet:?xt=urn:btmh:{v2}&dn=x"));
        assert_eq!(MagnetLink::parse(&only.to_uri()).unwrap(), only);
        // Upper-case hex, and a conflicting second btmh.
        let upper = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:{}", v2.to_uppercase()));
        assert_eq!(
            upper.unwrap(),
            MagnetLink {
                display_name: None,
                ..only
            }
        );
        let other = "1220".to_string() + &"cd".repeat(32);
        assert_eq!(
            MagnetLink::parse(&format!("magnet:?xt=urn:btmh:{v2}&xt=urn:btmh:{other}")),
            Err(MagnetError::ConflictingInfoHashes)
        );
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        let m = MagnetLink {
            info_hash_v2: Some(bytes),
            ..MagnetLink::new(InfoHash([1; 20]))
        };
        assert_eq!(MagnetLink::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn links_of_hashes_name_each_half_as_libtorrent_does() {
        let v1 = InfoHash([0x11; 20]);
        let v2 = InfoHashV2([0xab; 32]);
        let (btih, btmh) = ("11".repeat(20), "ab".repeat(32));
        let of = |h| MagnetLink::of_hashes(h).to_uri();
        assert_eq!(
            of(InfoHashes::v1(v1)),
            format!("magnet:?xt=urn:btih:{btih}")
        );
        assert_eq!(
            of(InfoHashes::v2(v2)),
            format!("magnet:?xt=urn:btmh:1220{btmh}")
        );
        let both = InfoHashes {
            v1: Some(v1),
            v2: Some(v2),
        };
        assert_eq!(
            of(both),
            format!("magnet:?xt=urn:btih:{btih}&xt=urn:btmh:1220{btmh}")
        );
        for h in [InfoHashes::v1(v1), InfoHashes::v2(v2), both] {
            assert_eq!(MagnetLink::parse(&of(h)).unwrap().info_hashes(), h);
        }
    }

    #[test]
    fn round_trip_escapes_everything_needed() {
        let m = MagnetLink {
            display_name: Some("a&b=c%d+e f/é".into()),
            trackers: vec!["http://t/a?x=1&y=2".into()],
            web_seeds: vec!["http://w/#frag".into()],
            peers: vec![PeerAddress::Ip("[fe80::1]:1".parse().unwrap())],
            select_only: vec![1..=1, 3..=9],
            ..MagnetLink::new(InfoHash([0xfe; 20]))
        };
        let uri = m.to_uri();
        assert!(!uri.contains(' '), "{uri}");
        assert_eq!(MagnetLink::parse(&uri).unwrap(), m);
        assert_eq!(uri.parse::<MagnetLink>().unwrap().to_string(), uri);
    }

    #[test]
    fn bad_links_give_typed_errors() {
        let h = format!("magnet:?xt=urn:btih:{HEX}");
        for (uri, want) in [
            ("http://x".to_string(), MagnetError::NotMagnet),
            ("magnet:?dn=x".into(), MagnetError::MissingInfoHash),
            (
                "magnet:?xt=urn:btih:abc".into(),
                MagnetError::BadInfoHash("abc".into()),
            ),
            (
                format!("magnet:?xt=urn:btih:{}", "g".repeat(40)),
                MagnetError::BadInfoHash("g".repeat(40)),
            ),
            (
                format!("magnet:?xt=urn:btih:{}", "1".repeat(32)),
                MagnetError::BadInfoHash("1".repeat(32)),
            ),
            (
                "magnet:?xt=urn:btmh:1220ab".into(),
                MagnetError::BadMultihash("1220ab".into()),
            ),
            (
                format!("{h}&xt=urn:btih:{}", "0".repeat(40)),
                MagnetError::ConflictingInfoHashes,
            ),
            (
                "magnet:?xt=urn:sha1:abc".into(),
                MagnetError::UnsupportedTopic("urn:sha1:abc".into()),
            ),
            (
                format!("{h}&tr=%zz"),
                MagnetError::BadPercentEncoding("tr".into()),
            ),
            (
                format!("{h}&tr=%4"),
                MagnetError::BadPercentEncoding("tr".into()),
            ),
            (format!("{h}&dn=%ff"), MagnetError::InvalidUtf8("dn".into())),
            (
                format!("{h}&x.pe=1.2.3.4"),
                MagnetError::BadPeerAddress("1.2.3.4".into()),
            ),
            (
                format!("{h}&x.pe=host:99999"),
                MagnetError::BadPeerAddress("host:99999".into()),
            ),
            (
                format!("{h}&x.pe=[::1:80"),
                MagnetError::BadPeerAddress("[::1:80".into()),
            ),
            (
                format!("{h}&so=1,x"),
                MagnetError::BadSelectOnly("1,x".into()),
            ),
            (
                format!("{h}&so=5-2"),
                MagnetError::BadSelectOnly("5-2".into()),
            ),
            (
                format!("{h}&so=0-99999999999"),
                MagnetError::BadSelectOnly("0-99999999999".into()),
            ),
        ] {
            assert_eq!(MagnetLink::parse(&uri), Err(want), "{uri}");
        }
    }

    #[test]
    fn huge_so_range_is_not_expanded() {
        let m = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{HEX}&so=0-4294967295")).unwrap();
        assert!(m.selects(u32::MAX));
    }
}
