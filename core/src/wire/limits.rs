//! Named limits of the peer wire protocol. Every length a peer announces is checked against one
//! of these before any byte of its payload is buffered or allocated.

use std::time::Duration;

/// The largest block we request, accept in a `piece` message, or serve (16 KiB, as every
/// client uses).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024;

/// Bytes of a `piece` message before the block: id (1), piece index (4), offset (4).
pub const PIECE_HEADER_LEN: u32 = 9;

/// The longest `piece` message body: one block plus its header.
pub const MAX_PIECE_MESSAGE_LEN: u32 = MAX_BLOCK_LEN + PIECE_HEADER_LEN;

/// The longest `extended` (id 20) message body, id bytes included. A ut_metadata piece is 16
/// KiB plus a small dictionary and a pex message a few KiB, so this leaves a wide margin while
/// bounding what one peer can make us buffer.
pub const MAX_EXTENDED_MESSAGE_LEN: u32 = 256 * 1024;

/// The longest bitfield accepted before the piece count is known (magnet links): 2,097,152
/// pieces. Checked exactly once the count is known.
pub const MAX_UNKNOWN_BITFIELD_LEN: u32 = 256 * 1024;

/// The most pieces a connection accepts before the torrent's metadata is known (have indices
/// beyond this close the connection): the bits of [`MAX_UNKNOWN_BITFIELD_LEN`].
pub const MAX_UNKNOWN_PIECE_COUNT: u32 = MAX_UNKNOWN_BITFIELD_LEN * 8;

/// The longest `hashes` (BEP 52) message body: id, the 48-byte request, and
/// [`super::hashes::MAX_HASH_COUNT`] hashes plus [`super::hashes::MAX_PROOF_HASHES`] proof
/// hashes of 32 bytes.
pub const MAX_HASHES_MESSAGE_LEN: u32 = 1
    + super::hashes::HASH_REQUEST_LEN as u32
    + (super::hashes::MAX_HASH_COUNT + super::hashes::MAX_PROOF_HASHES)
        * super::hashes::HASH_LEN as u32;

/// The longest message of any kind (the bitfield of an unknown torrent, an extended message, a
/// `hashes` message).
pub const MAX_MESSAGE_LEN: u32 = {
    let a = MAX_EXTENDED_MESSAGE_LEN;
    let b = MAX_UNKNOWN_BITFIELD_LEN + 1;
    let c = MAX_HASHES_MESSAGE_LEN;
    let ab = if a > b { a } else { b };
    if ab > c { ab } else { c }
};

/// Length of the handshake: pstrlen, "BitTorrent protocol", reserved, info-hash, peer id.
pub const HANDSHAKE_LEN: usize = 68;

/// The `reqq` we advertise by default: how many requests a peer may have queued with us. Deep
/// enough that a leecher keeps us busy while our reads and sends wait for CPU (1000 measured
/// 1.8x the seeding rate of 250 to a libtorrent leecher on a loaded 2-core machine); what we
/// read ahead is bounded separately, so a deep queue costs only its 12-byte entries.
pub const DEFAULT_MAX_REQUESTS_IN: u32 = 1000;

/// The most requests we keep in flight to one peer, whatever its `reqq`.
pub const DEFAULT_MAX_REQUESTS_OUT: u32 = 250;

/// Assumed `reqq` of a peer that did not advertise one (libtorrent's default too).
pub const DEFAULT_PEER_REQQ: u32 = 250;

/// The highest `reqq` we believe from a peer's extended handshake.
pub const MAX_PEER_REQQ: u32 = 2000;

/// Hard cap on requests we keep in flight, whatever the configuration says.
pub const HARD_MAX_REQUESTS: u32 = 4096;

/// Cancelled or choke-dropped requests remembered, so a block that crosses our cancel on the
/// wire is not counted as unrequested.
pub const MAX_CANCELLED_REMEMBERED: usize = 512;

/// Pieces of a peer's `allowed fast` messages remembered; further ones are ignored.
pub const MAX_ALLOWED_FAST_RECEIVED: usize = 64;

/// The allowed-fast set size we grant (BEP 6 suggests 10).
pub const DEFAULT_ALLOWED_FAST_COUNT: u32 = 10;

/// The largest allowed-fast set we grant, whatever the configuration says.
pub const MAX_ALLOWED_FAST_GRANTED: u32 = 64;

/// How long the handshake may take (from connect or accept to the peer's handshake).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// A keep-alive is sent after this long without sending anything (BEP 3: two minutes).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(120);

/// The connection is dropped after this long without receiving anything.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// A block we cancelled (or a choke dropped) that arrives within this long is taken, not
/// counted as unrequested: it may have crossed our cancel on a slow link.
pub const ABANDONED_BLOCK_GRACE: Duration = Duration::from_secs(60);

/// Misbehaviour score at which a connection is closed (see
/// [`Misbehaviour::weight`](super::Misbehaviour::weight)).
pub const MISBEHAVIOUR_THRESHOLD: u32 = 100;

/// Longest `v` (client name) kept from an extended handshake.
pub const MAX_CLIENT_NAME_LEN: usize = 64;

/// Most entries kept from an extended handshake's `m` dictionary.
pub const MAX_EXTENSIONS: usize = 32;

/// Longest extension name kept from an extended handshake's `m` dictionary.
pub const MAX_EXTENSION_NAME_LEN: usize = 64;
