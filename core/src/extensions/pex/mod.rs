//! Peer exchange (BEP 11): the `ut_pex` message and a torrent's PEX state.
//!
//! - [`PexMessage`] is the codec: `added` / `added.f` (compact IPv4 + flags), `added6` /
//!   `added6.f`, `dropped`, `dropped6`.
//! - [`PexPool`] (one per torrent) takes what peers tell us into a bounded candidate pool
//!   and builds, for each connection's [`PexSender`], the connected peers added and dropped
//!   since the last message. A private torrent (BEP 27) gets a disabled pool: it records
//!   nothing and hands out no sender.
//!
//! Send each message with `Connection::send_extended(now, UT_PEX, message.encode())`.

mod pool;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use crate::bencode::{DecodeError, Decoder, Dict, Encoder};

pub use pool::{PexCandidate, PexConfig, PexPool, PexSender};

/// The most entries accepted in one list of a received message (`added`, `dropped`, ...).
pub const MAX_PEX_ENTRIES: usize = 200;

/// The most peers we put in the `added` lists of one message (BEP 11 asks for 50).
pub const MAX_ADDED_PER_MESSAGE: usize = 50;

/// Deepest nesting accepted in a `ut_pex` dictionary (it is flat).
const MAX_DEPTH: usize = 4;

/// The per-peer flags of `added.f` / `added6.f` (BEP 11); unknown bits are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// No flag set.
    pub const NONE: Self = Self(0);
    /// 0x01: the peer prefers encrypted connections.
    pub const ENCRYPTION: Self = Self(0x01);
    /// 0x02: the peer is a seed (upload only).
    pub const SEED: Self = Self(0x02);
    /// 0x04: the peer supports uTP.
    pub const UTP: Self = Self(0x04);
    /// 0x08: the peer supports `ut_holepunch`.
    pub const HOLEPUNCH: Self = Self(0x08);
    /// 0x10: the sender connected out to the peer, so it is reachable.
    pub const OUTGOING: Self = Self(0x10);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of bits.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// A peer in an `added` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PexPeer {
    /// Its address (IPv4 from `added`, IPv6 from `added6`).
    pub addr: SocketAddr,
    /// Its flags (none if the sender sent no `.f` list).
    pub flags: PexFlags,
}

/// One `ut_pex` message. Encoding splits the lists by address family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers the sender connected to since its last message.
    pub added: Vec<PexPeer>,
    /// Peers the sender disconnected from since its last message.
    pub dropped: Vec<SocketAddr>,
}

/// Why a `ut_pex` payload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PexError {
    /// The payload is not valid bencode (or has bytes after the dictionary).
    Bencode(DecodeError),
    /// The payload is not a dictionary.
    NotADictionary,
    /// A known key holds something other than a byte string.
    NotAString(&'static str),
    /// A compact list whose length is not a multiple of its entry size (6 or 18).
    RaggedLength {
        /// The key.
        key: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A flags list whose length is not one byte per peer.
    FlagsMismatch {
        /// The flags key (`added.f` or `added6.f`).
        key: &'static str,
        /// How many peers the list it describes has.
        peers: usize,
        /// How many flag bytes came.
        flags: usize,
    },
    /// A list with more than [`MAX_PEX_ENTRIES`] entries.
    TooManyEntries {
        /// The key.
        key: &'static str,
        /// How many entries it has.
        count: usize,
    },
}

impl PexMessage {
    /// Parses a `ut_pex` payload. Unknown keys are ignored; a missing list is empty; a missing
    /// or empty `.f` list means no flags.
    pub fn parse(payload: &[u8]) -> Result<Self, PexError> {
        let value = Decoder::new(payload)
            .max_depth(MAX_DEPTH)
            .decode()
            .map_err(PexError::Bencode)?;
        let dict = value.as_dict().ok_or(PexError::NotADictionary)?;
        let added4 = compact(dict, "added", 6)?;
        let flags4 = flags(dict, "added.f", added4.len())?;
        let added6 = compact(dict, "added6", 18)?;
        let flags6 = flags(dict, "added6.f", added6.len())?;
        let dropped4 = compact(dict, "dropped", 6)?;
        let dropped6 = compact(dict, "dropped6", 18)?;
        let mut msg = Self::default();
        for (list, flags) in [(added4, flags4), (added6, flags6)] {
            for (i, addr) in list.into_iter().enumerate() {
                let flags = flags.get(i).copied().map_or(PexFlags::NONE, PexFlags);
                msg.added.push(PexPeer { addr, flags });
            }
        }
        msg.dropped = dropped4.into_iter().chain(dropped6).collect();
        Ok(msg)
    }

    /// The canonical payload: every list present (empty if none), each `.f` list beside its
    /// addresses.
    pub fn encode(&self) -> Bytes {
        let (mut a4, mut f4, mut a6, mut f6, mut d4, mut d6) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for peer in &self.added {
            match peer.addr {
                SocketAddr::V4(_) => {
                    put(&mut a4, peer.addr);
                    f4.push(peer.flags.0);
                }
                SocketAddr::V6(_) => {
                    put(&mut a6, peer.addr);
                    f6.push(peer.flags.0);
                }
            }
        }
        for addr in &self.dropped {
            match addr {
                SocketAddr::V4(_) => put(&mut d4, *addr),
                SocketAddr::V6(_) => put(&mut d6, *addr),
            }
        }
        let mut enc = Encoder::new();
        enc.dict();
        enc.bytes(b"added").bytes(&a4);
        enc.bytes(b"added.f").bytes(&f4);
        enc.bytes(b"added6").bytes(&a6);
        enc.bytes(b"added6.f").bytes(&f6);
        enc.bytes(b"dropped").bytes(&d4);
        enc.bytes(b"dropped6").bytes(&d6);
        enc.end();
        Bytes::from(enc.finish())
    }

    /// Whether the message says nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty()
    }
}

fn string<'a>(dict: &Dict<'a>, key: &'static str) -> Result<&'a [u8], PexError> {
    match dict.get(key.as_bytes()) {
        None => Ok(&[]),
        Some(v) => v.as_bytes().ok_or(PexError::NotAString(key)),
    }
}

fn compact(dict: &Dict<'_>, key: &'static str, entry: usize) -> Result<Vec<SocketAddr>, PexError> {
    let bytes = string(dict, key)?;
    if bytes.len() % entry != 0 {
        return Err(PexError::RaggedLength {
            key,
            len: bytes.len(),
        });
    }
    let count = bytes.len() / entry;
    if count > MAX_PEX_ENTRIES {
        return Err(PexError::TooManyEntries { key, count });
    }
    Ok(bytes.chunks_exact(entry).map(read_addr).collect())
}

fn flags<'a>(dict: &Dict<'a>, key: &'static str, peers: usize) -> Result<&'a [u8], PexError> {
    let bytes = string(dict, key)?;
    if !bytes.is_empty() && bytes.len() != peers {
        return Err(PexError::FlagsMismatch {
            key,
            peers,
            flags: bytes.len(),
        });
    }
    Ok(bytes)
}

/// Reads a compact address: 4 or 16 address bytes, then the port (big endian).
fn read_addr(chunk: &[u8]) -> SocketAddr {
    let (ip, port) = chunk.split_at(chunk.len() - 2);
    let port = u16::from_be_bytes([port[0], port[1]]);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        // Only 4- or 16-byte addresses reach here (chunks of 6 or 18).
        Err(_) => {
            let mut v6 = [0u8; 16];
            v6.copy_from_slice(ip);
            IpAddr::V6(Ipv6Addr::from(v6))
        }
    };
    SocketAddr::new(ip, port)
}

fn put(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

impl fmt::Display for PexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "ut_pex message: {e}"),
            Self::NotADictionary => write!(f, "ut_pex message is not a dictionary"),
            Self::NotAString(key) => write!(f, "ut_pex `{key}` is not a byte string"),
            Self::RaggedLength { key, len } => {
                write!(
                    f,
                    "ut_pex `{key}` has {len} bytes, not whole compact entries"
                )
            }
            Self::FlagsMismatch { key, peers, flags } => {
                write!(f, "ut_pex `{key}` has {flags} flag bytes for {peers} peers")
            }
            Self::TooManyEntries { key, count } => write!(
                f,
                "ut_pex `{key}` has {count} entries, more than {MAX_PEX_ENTRIES}"
            ),
        }
    }
}

impl std::error::Error for PexError {}
