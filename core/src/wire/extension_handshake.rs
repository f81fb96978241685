//! The BEP 10 extended handshake (extended message id 0) and the `m` table of extension ids.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::limits::{MAX_CLIENT_NAME_LEN, MAX_EXTENSION_NAME_LEN, MAX_EXTENSIONS};
use crate::bencode::{DecodeError, Decoder, Encoder};

/// Name of the metadata exchange extension (BEP 9).
pub const UT_METADATA: &str = "ut_metadata";
/// Name of the peer exchange extension (BEP 11).
pub const UT_PEX: &str = "ut_pex";

/// Deepest bencode nesting accepted in an extended handshake (the `m` dictionary is level 2).
const MAX_DEPTH: usize = 8;

/// An `m` dictionary: extension name → extended message id, kept sorted by name. Id 0 means "disabled" (it may
/// appear in a peer's update); [`ExtensionMap::id`] never returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionMap {
    entries: Vec<(Box<str>, u8)>,
}

impl ExtensionMap {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers one of *our* extensions by name and returns the id we advertise for it (the
    /// next free one from 1). Registering a name twice returns its existing id; `None` once
    /// all 255 ids are taken.
    pub fn register(&mut self, name: &str) -> Option<u8> {
        if let Some(id) = self.id(name) {
            return Some(id);
        }
        let next = self.entries.iter().map(|(_, id)| *id).max().unwrap_or(0);
        let id = next.checked_add(1)?;
        self.insert(name, id);
        Some(id)
    }

    /// Sets `name` to `id` (0 disables it), replacing an earlier entry.
    pub fn insert(&mut self, name: &str, id: u8) {
        match self.entries.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.entries[i].1 = id,
            Err(i) => self.entries.insert(i, (name.into(), id)),
        }
    }

    /// Applies a peer's later handshake: its entries replace ours, id 0 disables (BEP 10).
    pub fn update(&mut self, newer: &Self) {
        for (name, id) in &newer.entries {
            if self.entries.len() >= MAX_EXTENSIONS && self.id(name).is_none() {
                continue;
            }
            self.insert(name, *id);
        }
    }

    /// The id of `name`, if enabled.
    pub fn id(&self, name: &str) -> Option<u8> {
        self.entries
            .iter()
            .find(|(n, id)| &**n == name && *id != 0)
            .map(|(_, id)| *id)
    }

    /// The name an enabled `id` stands for.
    pub fn name(&self, id: u8) -> Option<&str> {
        if id == 0 {
            return None;
        }
        self.entries
            .iter()
            .find(|(_, i)| *i == id)
            .map(|(n, _)| &**n)
    }

    /// Every entry (name, id), disabled ones included, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u8)> + '_ {
        self.entries.iter().map(|(n, id)| (&**n, *id))
    }

    /// How many entries the table has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The payload of an extended handshake. Fields the peer omitted, or sent with a wrong type or
/// an out-of-range value, are `None`; unknown keys are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// `m`: the extensions the sender supports and the ids it wants to receive them under.
    pub extensions: ExtensionMap,
    /// `v`: client name and version (cut to a bounded length).
    pub client: Option<String>,
    /// `p`: the sender's TCP listen port.
    pub port: Option<u16>,
    /// `reqq`: how many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    /// `metadata_size`: size of the info dictionary in bytes (BEP 9).
    pub metadata_size: Option<u64>,
    /// `yourip`: the receiver's address as the sender sees it.
    pub your_ip: Option<IpAddr>,
}

/// Why an extended handshake could not be parsed at all.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtendedHandshakeError {
    /// The payload is not valid bencode.
    Bencode(DecodeError),
    /// The payload is bencode but not a dictionary.
    NotADictionary,
    /// `m` is present but not a dictionary.
    ExtensionsNotADictionary,
}

impl ExtendedHandshake {
    /// Parses an extended handshake payload (what follows the extended id 0).
    pub fn parse(payload: &[u8]) -> Result<Self, ExtendedHandshakeError> {
        let value = Decoder::new(payload)
            .max_depth(MAX_DEPTH)
            .decode()
            .map_err(ExtendedHandshakeError::Bencode)?;
        let dict = value
            .as_dict()
            .ok_or(ExtendedHandshakeError::NotADictionary)?;
        let mut hs = Self::default();
        if let Some(m) = dict.get(b"m") {
            let m = m
                .as_dict()
                .ok_or(ExtendedHandshakeError::ExtensionsNotADictionary)?;
            for (name, id) in m.entries() {
                if hs.extensions.len() >= MAX_EXTENSIONS {
                    break;
                }
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                let Some(id) = id.as_int().and_then(|i| u8::try_from(i).ok()) else {
                    continue;
                };
                if name.is_empty() || name.len() > MAX_EXTENSION_NAME_LEN {
                    continue;
                }
                hs.extensions.insert(name, id);
            }
        }
        hs.client = dict.bytes(b"v").map(|v| {
            let cut = &v[..v.len().min(MAX_CLIENT_NAME_LEN)];
            String::from_utf8_lossy(cut).into_owned()
        });
        hs.port = dict
            .int(b"p")
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        hs.reqq = dict
            .int(b"reqq")
            .filter(|r| *r > 0)
            .map(|r| u32::try_from(r).unwrap_or(u32::MAX));
        hs.metadata_size = dict
            .int(b"metadata_size")
            .and_then(|s| u64::try_from(s).ok());
        hs.your_ip = dict.bytes(b"yourip").and_then(|b| match b.len() {
            4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Some(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => None,
        });
        Ok(hs)
    }

    /// The canonical bencoded payload (keys sorted, `m` entries sorted by name).
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        enc.dict();
        enc.bytes(b"m").dict();
        for (name, id) in self.extensions.iter() {
            enc.bytes(name.as_bytes()).int(i64::from(id));
        }
        enc.end();
        if let Some(size) = self.metadata_size {
            enc.bytes(b"metadata_size")
                .int(i64::try_from(size).unwrap_or(i64::MAX));
        }
        if let Some(p) = self.port {
            enc.bytes(b"p").int(i64::from(p));
        }
        if let Some(r) = self.reqq {
            enc.bytes(b"reqq").int(i64::from(r));
        }
        if let Some(v) = &self.client {
            enc.bytes(b"v").bytes(v.as_bytes());
        }
        match self.your_ip {
            Some(IpAddr::V4(ip)) => {
                enc.bytes(b"yourip").bytes(&ip.octets());
            }
            Some(IpAddr::V6(ip)) => {
                enc.bytes(b"yourip").bytes(&ip.octets());
            }
            None => {}
        }
        enc.end();
        enc.finish()
    }
}

impl fmt::Display for ExtendedHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "extended handshake: {e}"),
            Self::NotADictionary => write!(f, "extended handshake is not a dictionary"),
            Self::ExtensionsNotADictionary => {
                write!(f, "extended handshake's `m` is not a dictionary")
            }
        }
    }
}

impl std::error::Error for ExtendedHandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::{DecodeErrorKind, decode};

    #[test]
    fn register_assigns_ids_by_name() {
        let mut m = ExtensionMap::new();
        assert_eq!(m.register(UT_METADATA), Some(1));
        assert_eq!(m.register(UT_PEX), Some(2));
        assert_eq!(m.register(UT_METADATA), Some(1));
        assert_eq!(m.name(2), Some(UT_PEX));
        assert_eq!(m.name(0), None);
        assert_eq!(m.id("lt_donthave"), None);
    }

    #[test]
    fn round_trip_is_canonical() {
        let mut extensions = ExtensionMap::new();
        extensions.register(UT_PEX);
        extensions.register(UT_METADATA);
        let hs = ExtendedHandshake {
            extensions,
            client: Some("sanstorrent 0.1.0".into()),
            port: Some(6881),
            reqq: Some(250),
            metadata_size: Some(31_235),
            your_ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        };
        let bytes = hs.encode();
        assert!(
            Decoder::new(&bytes).strict(true).decode().is_ok(),
            "not canonical"
        );
        assert_eq!(ExtendedHandshake::parse(&bytes), Ok(hs));
    }

    #[test]
    fn libtorrent_style_handshake() {
        let payload = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei4242e1:pi51413e4:reqqi500e11:upload_onlyi1e1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x00\x01e";
        let hs = ExtendedHandshake::parse(payload).unwrap();
        assert_eq!(hs.extensions.id(UT_METADATA), Some(2));
        assert_eq!(hs.extensions.id(UT_PEX), Some(1));
        assert_eq!(hs.extensions.name(7), Some("lt_donthave"));
        assert_eq!(hs.port, Some(51413));
        assert_eq!(hs.reqq, Some(500));
        assert_eq!(hs.metadata_size, Some(4242));
        assert_eq!(hs.client.as_deref(), Some("libtorrent/2.0.8.0"));
        assert_eq!(hs.your_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn wrong_types_and_ranges_are_ignored() {
        let payload =
            b"d1:md1:ai300e1:bi-1e1:c3:xyz1:di0e1:ei5ee1:pi70000e4:reqqi0e13:metadata_sizei-5e1:vi1e6:yourip3:abce";
        let hs = ExtendedHandshake::parse(payload).unwrap();
        assert_eq!(hs.extensions.id("a"), None);
        assert_eq!(hs.extensions.id("b"), None);
        assert_eq!(hs.extensions.id("c"), None);
        assert_eq!(hs.extensions.id("d"), None, "0 is disabled");
        assert_eq!(hs.extensions.id("e"), Some(5));
        assert_eq!(hs.port, None);
        assert_eq!(hs.reqq, None);
        assert_eq!(hs.metadata_size, None);
        assert_eq!(hs.client, None);
        assert_eq!(hs.your_ip, None);
    }

    #[test]
    fn hostile_payloads() {
        assert_eq!(
            ExtendedHandshake::parse(b"le"),
            Err(ExtendedHandshakeError::NotADictionary)
        );
        assert_eq!(
            ExtendedHandshake::parse(b"d1:mi1ee"),
            Err(ExtendedHandshakeError::ExtensionsNotADictionary)
        );
        let Err(ExtendedHandshakeError::Bencode(e)) = ExtendedHandshake::parse(b"d1:m") else {
            panic!("truncated input accepted");
        };
        assert_eq!(e.kind, DecodeErrorKind::UnexpectedEof);
        let deep = [&b"d1:x"[..], &[b'l'; 20], &[b'e'; 20], b"e"].concat();
        assert!(matches!(
            ExtendedHandshake::parse(&deep),
            Err(ExtendedHandshakeError::Bencode(_))
        ));
        // Many extensions: only the first MAX_EXTENSIONS are kept.
        let mut many = b"d1:md".to_vec();
        for i in 0..100 {
            let name = format!("x{i:03}");
            many.extend_from_slice(format!("{}:{}i1e", name.len(), name).as_bytes());
        }
        many.extend_from_slice(b"ee");
        assert!(decode(&many).is_ok());
        let hs = ExtendedHandshake::parse(&many).unwrap();
        assert_eq!(hs.extensions.len(), MAX_EXTENSIONS);
    }

    #[test]
    fn update_merges_and_disables() {
        let mut m = ExtensionMap::new();
        m.insert(UT_PEX, 1);
        m.insert(UT_METADATA, 2);
        let mut newer = ExtensionMap::new();
        newer.insert(UT_PEX, 0);
        newer.insert("lt_donthave", 3);
        m.update(&newer);
        assert_eq!(m.id(UT_PEX), None);
        assert_eq!(m.id(UT_METADATA), Some(2));
        assert_eq!(m.id("lt_donthave"), Some(3));
    }
}
