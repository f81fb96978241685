//! What a [`Connection`](super::Connection) is told: shared settings ([`Config`]), the
//! torrent's piece geometry ([`PieceGeometry`]) and what it joins ([`TorrentParams`]).

use std::time::Duration;

use crate::id::{InfoHash, PeerId};
use crate::layout::Layout;
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::extension_handshake::ExtensionMap;
use crate::wire::handshake::Reserved;
use crate::wire::limits::{
    DEFAULT_ALLOWED_FAST_COUNT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_MAX_REQUESTS_IN, DEFAULT_MAX_REQUESTS_OUT,
    HARD_MAX_REQUESTS, MAX_ALLOWED_FAST_GRANTED, MAX_BLOCK_LEN, MISBEHAVIOUR_THRESHOLD,
};

/// Settings shared by every connection of a session (wrap it in an `Arc`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Our peer id, sent in every handshake.
    pub peer_id: PeerId,
    /// Advertise and use the Fast extension (BEP 6).
    pub fast: bool,
    /// Advertise and use the extension protocol (BEP 10).
    pub extension_protocol: bool,
    /// Our DHT port: sets the DHT bit and sends a `port` message to DHT-capable peers.
    pub dht_port: Option<u16>,
    /// Our TCP listen port, advertised as `p` in the extended handshake.
    pub listen_port: Option<u16>,
    /// Client name and version, advertised as `v`.
    pub client_name: Option<String>,
    /// Our extensions by name, with the ids we want to receive them under (`m`).
    pub extensions: ExtensionMap,
    /// How many requests a peer may queue with us (advertised as `reqq`).
    pub max_requests_in: u32,
    /// The most requests we keep in flight to one peer.
    pub max_requests_out: u32,
    /// Size of the allowed-fast set we grant to starting Fast peers, those that announce
    /// fewer pieces than this (0 = none).
    pub allowed_fast_count: u32,
    /// Time from connection start to a finished handshake.
    pub handshake_timeout: Duration,
    /// Send a keep-alive after this long without sending.
    pub keepalive_interval: Duration,
    /// Close after this long without receiving.
    pub idle_timeout: Duration,
    /// Misbehaviour score that closes the connection.
    pub misbehaviour_threshold: u32,
}

impl Config {
    /// Defaults: Fast and extension protocol on, no DHT, limits from [`crate::wire::limits`].
    pub fn new(peer_id: PeerId) -> Self {
        Self {
            peer_id,
            fast: true,
            extension_protocol: true,
            dht_port: None,
            listen_port: None,
            client_name: Some(concat!("sanstorrent ", env!("CARGO_PKG_VERSION")).into()),
            extensions: ExtensionMap::new(),
            max_requests_in: DEFAULT_MAX_REQUESTS_IN,
            max_requests_out: DEFAULT_MAX_REQUESTS_OUT,
            allowed_fast_count: DEFAULT_ALLOWED_FAST_COUNT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            misbehaviour_threshold: MISBEHAVIOUR_THRESHOLD,
        }
    }

    /// The reserved bits of our handshake.
    pub fn reserved(&self) -> Reserved {
        let mut r = Reserved::NONE;
        if self.fast {
            r = r.union(Reserved::FAST);
        }
        if self.extension_protocol {
            r = r.union(Reserved::EXTENSION_PROTOCOL);
        }
        if self.dht_port.is_some() {
            r = r.union(Reserved::DHT);
        }
        r
    }

    pub(super) fn requests_in(&self) -> usize {
        self.max_requests_in.clamp(1, HARD_MAX_REQUESTS) as usize
    }

    pub(super) fn requests_out(&self) -> usize {
        self.max_requests_out.clamp(1, HARD_MAX_REQUESTS) as usize
    }

    pub(super) fn allowed_fast(&self) -> u32 {
        self.allowed_fast_count.min(MAX_ALLOWED_FAST_GRANTED)
    }
}

/// How a torrent is cut into pieces: all a connection needs to check block ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceGeometry {
    piece_count: u32,
    piece_length: u32,
    last_piece_length: u32,
}

impl PieceGeometry {
    /// Pieces of `piece_length` bytes covering `total_length` bytes; `None` if the piece length
    /// is 0 or the piece count does not fit in a `u32`.
    pub fn new(piece_length: u32, total_length: u64) -> Option<Self> {
        if piece_length == 0 {
            return None;
        }
        let count = u32::try_from(total_length.div_ceil(u64::from(piece_length))).ok()?;
        let rest = total_length % u64::from(piece_length);
        let last = if rest == 0 {
            piece_length
        } else {
            // rest < piece_length, which is a u32.
            rest as u32
        };
        Some(Self {
            piece_count: count,
            piece_length,
            last_piece_length: if count == 0 { 0 } else { last },
        })
    }

    /// The geometry of a file layout.
    pub fn of_layout(layout: &Layout) -> Self {
        Self {
            piece_count: layout.piece_count(),
            piece_length: layout.piece_length(),
            last_piece_length: layout
                .piece_count()
                .checked_sub(1)
                .map_or(0, |last| layout.piece_len(last)),
        }
    }

    /// The number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// The length of piece `piece`, `None` past the end.
    pub fn piece_len(&self, piece: u32) -> Option<u32> {
        if piece >= self.piece_count {
            None
        } else if piece == self.piece_count - 1 {
            Some(self.last_piece_length)
        } else {
            Some(self.piece_length)
        }
    }

    /// Whether `block` is non-empty, at most [`MAX_BLOCK_LEN`] long and inside its piece.
    pub fn is_valid_block(&self, block: BlockRef) -> bool {
        let Some(len) = self.piece_len(block.piece) else {
            return false;
        };
        block.length > 0
            && block.length <= MAX_BLOCK_LEN
            && block
                .offset
                .checked_add(block.length)
                .is_some_and(|end| end <= len)
    }
}

/// The torrent a connection joins: given to [`Connection::outbound`](super::Connection::outbound)
/// or [`Connection::accept`](super::Connection::accept).
#[derive(Clone, Copy, Debug)]
pub struct TorrentParams<'a> {
    /// The info-hash our handshake names: the v1 hash of a v1 or hybrid torrent, the v2 hash
    /// truncated to 20 bytes for a v2-only one (or for a `btmh`-only magnet whose metadata is
    /// still unknown).
    pub info_hash: InfoHash,
    /// The piece geometry, `None` while the metadata is unknown (magnet link).
    pub geometry: Option<PieceGeometry>,
    /// Our pieces, sent as the first message (bitfield, have all or have none). Must have
    /// `geometry.piece_count()` bits; `None` means we have nothing.
    pub our_pieces: Option<&'a PieceSet>,
    /// Size of the info dictionary, advertised as `metadata_size` when we know it.
    pub metadata_size: Option<u64>,
    /// The torrent's v2 info-hash truncated to 20 bytes (v2-only and hybrid torrents), `None`
    /// for a v1 torrent. Our handshake then sets the BEP 52 v2 bit (libtorrent drops a peer
    /// that sets it for a torrent without one), and a connection whose handshake names this
    /// hash speaks v2 (see [`Connection::speaks_v2`](super::Connection::speaks_v2)).
    pub v2: Option<InfoHash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_checks_blocks() {
        let g = PieceGeometry::new(32768, 70000).unwrap();
        assert_eq!(g.piece_count(), 3);
        assert_eq!(g.piece_len(2), Some(70000 - 65536));
        assert_eq!(g.piece_len(3), None);
        assert!(g.is_valid_block(BlockRef::new(0, 16384, 16384)));
        assert!(!g.is_valid_block(BlockRef::new(0, 16385, 16384)));
        assert!(g.is_valid_block(BlockRef::new(2, 0, 4464)));
        assert!(!g.is_valid_block(BlockRef::new(2, 0, 4465)));
        assert!(!g.is_valid_block(BlockRef::new(3, 0, 1)));
        assert!(!g.is_valid_block(BlockRef::new(u32::MAX, 0, 1)));
        assert!(!g.is_valid_block(BlockRef::new(0, 0, 0)));
        assert!(!g.is_valid_block(BlockRef::new(0, u32::MAX, 2)));
        assert!(PieceGeometry::new(0, 10).is_none());
        assert!(PieceGeometry::new(1, u64::MAX).is_none());
        assert_eq!(PieceGeometry::new(16, 32).unwrap().piece_len(1), Some(16));
    }

    #[test]
    fn geometry_of_layout_matches() {
        let layout = Layout::new(32768, [(70000u64, false)]).unwrap();
        assert_eq!(
            PieceGeometry::of_layout(&layout),
            PieceGeometry::new(32768, 70000).unwrap()
        );
    }
}
