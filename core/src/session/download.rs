//! The download part: what we ask peers for and what we do with the blocks that arrive.
//! Connections join their torrent's picker once established (with what they announced so
//! far); interest follows the picker; request pipelines are filled within the peer's queue,
//! the torrent's requested-bytes cap, the disk and the download limit; a block in goes to the
//! piece pipeline as a write, and requests the picker no longer needs are cancelled.

use std::time::{Duration, Instant};

use super::SessionConfig;
use super::io::{ConnId, TorrentId};
use super::peers::{Peer, Peers};
use super::pipeline::PiecePipeline;
use super::rate::{Buckets, TokenBucket};
use super::torrent::table::Torrents;
use super::torrent::{Data, Torrent};
use crate::picker::{BLOCK_LEN, PeerKey, PeerRate, Picker, Received};
use crate::pieces::BlockRef;

/// Round trip assumed when sizing request pipelines.
const ASSUMED_RTT: Duration = Duration::from_millis(100);

/// Registers an established connection with its torrent's picker (once the torrent has
/// metadata), with what the peer announced so far. Returns whether it was registered now (its
/// availability is then synced).
pub(crate) fn register_with_picker(
    now: Instant,
    conn: ConnId,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> bool {
    let Some(peer) = peers.get_mut(conn) else {
        return false;
    };
    if !peer.established || peer.in_picker {
        return false;
    }
    let Some(d) = peer
        .torrent
        .and_then(|id| torrents.get_mut(&id))
        .and_then(|t| t.data.as_mut())
    else {
        return false;
    };
    d.picker.add_peer(peer.key);
    peer.in_picker = true;
    if !peer.conn.peer_choking() {
        d.picker.peer_unchoked(now, peer.key);
    }
    for &piece in peer.conn.peer_allowed_fast() {
        d.picker.allowed_fast(peer.key, piece);
    }
    true
}

/// What a peer's whole piece set (after a bitfield, have all or have none) calls for.
pub(crate) enum Synced {
    /// Nothing (no such connection, no piece set yet).
    Nothing,
    /// Both sides are seeds: close.
    BothSeeds,
    /// Update our interest and fill the peer's pipeline.
    Fill,
}

/// Gives the picker the peer's whole piece set.
pub(crate) fn sync_availability(
    conn: ConnId,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> Synced {
    let Some(peer) = peers.get_mut(conn) else {
        return Synced::Nothing;
    };
    let Some(bits) = peer.conn.peer_pieces() else {
        return Synced::Nothing;
    };
    peer.seed = bits.is_full();
    if peer.in_picker
        && let Some(d) = peer
            .torrent
            .and_then(|id| torrents.get_mut(&id))
            .and_then(|t| t.data.as_mut())
    {
        let _ = if peer.seed {
            d.picker.peer_have_all(peer.key).map(|_| ())
        } else {
            d.picker
                .peer_bitfield(peer.key, &bits.to_bitfield())
                .map(|_| ())
        };
    }
    let both_seeds = peer.seed
        && peer
            .torrent
            .and_then(|id| torrents.get(&id))
            .is_some_and(|t| t.is_running() && t.is_seed());
    if both_seeds {
        Synced::BothSeeds
    } else {
        Synced::Fill
    }
}

/// The peer has a new piece: interest if we want it. Returns whether the connection is
/// registered with the picker (fill its pipeline then).
pub(crate) fn on_have(
    now: Instant,
    conn: ConnId,
    piece: u32,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> bool {
    let Some((d, key)) = picker_of(conn, peers, torrents) else {
        return false;
    };
    let wanted = d.picker.peer_have(key, piece).unwrap_or(false);
    let running = peers
        .get(conn)
        .and_then(|p| p.torrent)
        .and_then(|id| torrents.get(&id))
        .is_some_and(|t| t.is_running());
    if let Some(peer) = peers.get_mut(conn) {
        peer.seed = peer.conn.peer_pieces().is_some_and(|b| b.is_full());
        if wanted && running {
            let _ = peer.conn.send_interested(now);
        }
    }
    true
}

/// Sends `interested` or `not interested` as the picker says (only while running).
pub(crate) fn update_interest(now: Instant, conn: ConnId, peers: &mut Peers, torrents: &Torrents) {
    let Some(peer) = peers.get_mut(conn) else {
        return;
    };
    let Some(t) = peer.torrent.and_then(|id| torrents.get(&id)) else {
        return;
    };
    let Some(d) = t.data.as_ref() else {
        return;
    };
    if !peer.in_picker || !peer.established || !t.is_running() {
        return;
    }
    let _ = if d.picker.is_interesting(peer.key) {
        peer.conn.send_interested(now)
    } else {
        peer.conn.send_not_interested(now)
    };
}

/// The picker of a connection's torrent, with the connection's key, if registered.
pub(crate) fn picker_of<'a>(
    conn: ConnId,
    peers: &Peers,
    torrents: &'a mut Torrents,
) -> Option<(&'a mut Data, PeerKey)> {
    let peer = peers.get(conn)?;
    if !peer.in_picker {
        return None;
    }
    let key = peer.key;
    let d = torrents.get_mut(&peer.torrent?)?.data.as_mut()?;
    Some((d, key))
}

/// A block of `conn` arrived: counted, and taken by the picker and the piece pipeline of its
/// torrent (see [`Download::block_in`]). `None`: not wanted.
pub(crate) fn block_in(
    now: Instant,
    conn: ConnId,
    block: BlockRef,
    peers: &mut Peers,
    torrents: &mut Torrents,
    limits: Limits<'_>,
) -> Option<(TorrentId, BlockIn)> {
    let peer = peers.get_mut(conn)?;
    let len = u64::from(block.length);
    peer.down.add(now, len);
    let key = peer.key;
    let in_picker = peer.in_picker;
    let id = peer.torrent?;
    let t = torrents.get_mut(&id)?;
    t.down.add(now, data_bytes(t, block));
    if !in_picker || !t.is_active() {
        return None;
    }
    Some((
        id,
        Download::of_torrent(t, limits)?.block_in(now, key, block)?,
    ))
}

/// A block of the web seed `key` (a peer without a connection) arrived for torrent `id`:
/// counted, and taken as [`block_in`] takes a connection's. `None`: not wanted.
pub(crate) fn web_block_in(
    now: Instant,
    id: TorrentId,
    key: PeerKey,
    block: BlockRef,
    torrents: &mut Torrents,
    limits: Limits<'_>,
) -> Option<BlockIn> {
    let t = torrents.get_mut(&id)?;
    t.down.add(now, data_bytes(t, block));
    Download::of_torrent(t, limits)?.block_in(now, key, block)
}

/// The bytes of `block` that are data: its length less the padding files' zeros it carries
/// (all of it while the metadata is unknown).
fn data_bytes(t: &Torrent, block: BlockRef) -> u64 {
    let padding = t.data.as_ref().map_or(0, |d| {
        d.meta
            .layout()
            .padding_in(block.piece, block.offset, block.length)
    });
    u64::from(block.length - padding)
}

/// Requests as many blocks from a peer as its pipeline, the disk and the download limit allow
/// (see [`Download::fill`]).
pub(crate) fn fill(
    now: Instant,
    conn: ConnId,
    peers: &mut Peers,
    torrents: &mut Torrents,
    limits: Limits<'_>,
) {
    let Some(peer) = peers.get_mut(conn) else {
        return;
    };
    // A choking peer is asked only for the pieces it allows us fast (the picker knows).
    if !peer.in_picker {
        return;
    }
    let Some(t) = peer.torrent.and_then(|id| torrents.get_mut(&id)) else {
        return;
    };
    if !t.is_running() {
        return;
    }
    if let Some(mut download) = Download::of_torrent(t, limits) {
        download.fill(now, peer);
    }
}

/// The session's download limit and settings, borrowed for one step.
pub(crate) struct Limits<'a> {
    /// The session's download limit (applies to torrents that honour it).
    pub(crate) limit: &'a mut TokenBucket,
    /// The session's settings.
    pub(crate) config: &'a SessionConfig,
    /// The wire settings (our cap on requests in flight per connection).
    pub(crate) wire: &'a crate::wire::Config,
}

impl Limits<'_> {
    /// The same limits, lent for a shorter step.
    pub(crate) fn reborrow(&mut self) -> Limits<'_> {
        Limits {
            limit: &mut *self.limit,
            config: self.config,
            wire: self.wire,
        }
    }
}

/// One torrent's download side for one step: its picker and piece pipeline, with the
/// session's download limit and settings. Borrowed from the session as each input needs it.
pub(crate) struct Download<'a> {
    /// The torrent's picker.
    pub(crate) picker: &'a mut Picker,
    /// The torrent's piece pipeline (disk back-pressure, writes in flight).
    pub(crate) pipeline: &'a mut PiecePipeline,
    /// The download limits that apply: the torrent's, and the session's if it honours them.
    pub(crate) limit: Buckets<'a>,
    /// The session's settings.
    pub(crate) config: &'a SessionConfig,
    /// Our cap on requests in flight per connection.
    pub(crate) max_requests_out: u32,
}

/// A block the picker accepted.
pub(crate) struct BlockIn {
    /// Its piece is complete and every write of it done: verify it now.
    pub(crate) verify_now: bool,
    /// Requests of other peers for the same block, to cancel.
    pub(crate) cancels: Vec<(PeerKey, BlockRef)>,
}

impl<'a> Download<'a> {
    /// The download side of torrent data `d`.
    pub(crate) fn of(
        d: &'a mut Data,
        limit: Buckets<'a>,
        config: &'a SessionConfig,
        wire: &crate::wire::Config,
    ) -> Self {
        Self {
            picker: &mut d.picker,
            pipeline: &mut d.pipeline,
            limit,
            config,
            max_requests_out: wire.max_requests_out,
        }
    }

    /// The download side of torrent `t` (`None`: it has no metadata yet), limited by its own
    /// bucket and by the session's if it honours the session's limits.
    pub(crate) fn of_torrent(t: &'a mut Torrent, limits: Limits<'a>) -> Option<Self> {
        let limit = Buckets {
            session: t.limits().honors_session_limits.then_some(limits.limit),
            torrent: t.limits.as_mut().map(|l| &mut l.down),
        };
        let d = t.data.as_mut()?;
        Some(Self::of(d, limit, limits.config, limits.wire))
    }

    /// Requests as many blocks from `peer` as its pipeline, the disk and the download limit
    /// allow.
    pub(crate) fn fill(&mut self, now: Instant, peer: &mut Peer) {
        if self.pipeline.is_behind(self.config.max_disk_jobs) || !self.limit.allows(now) {
            return;
        }
        // What is requested stays under the torrent's cap (counted in whole blocks), so this
        // peer may have at most the room left beyond what it already has in flight. (Memory
        // is bounded where blocks arrive: see `receive_flow`.)
        let cap = usize::try_from(self.config.max_requested_bytes / u64::from(BLOCK_LEN))
            .unwrap_or(usize::MAX);
        let room = cap.saturating_sub(self.picker.inflight_count())
            + self.picker.inflight_count_of(peer.key);
        let room_blocks = u32::try_from(room).unwrap_or(u32::MAX);
        let rate = PeerRate {
            download_rate: peer.down.rate(now),
            rtt: ASSUMED_RTT,
            reqq: peer
                .conn
                .peer_reqq()
                .min(self.max_requests_out)
                .min(room_blocks),
        };
        for r in self.picker.pick(now, peer.key, rate) {
            if peer.conn.request(now, r).is_err() {
                self.picker.request_rejected(peer.key, r);
            } else {
                self.limit.spend(now, u64::from(r.length));
            }
        }
    }

    /// Blocks for a web seed (`key`, a peer that has every piece): a contiguous run of up to
    /// `blocks` (see `Picker::pick_contiguous`), within the torrent's requested-bytes cap,
    /// the disk and the download limit (spent here).
    pub(crate) fn pick_for_web(
        &mut self,
        now: Instant,
        key: PeerKey,
        blocks: u32,
    ) -> Vec<BlockRef> {
        if self.pipeline.is_behind(self.config.max_disk_jobs) || !self.limit.allows(now) {
            return Vec::new();
        }
        let cap = usize::try_from(self.config.max_requested_bytes / u64::from(BLOCK_LEN))
            .unwrap_or(usize::MAX);
        let mine = self.picker.inflight_count_of(key);
        let room = cap.saturating_sub(self.picker.inflight_count()) + mine;
        let want = (blocks as usize).min(room.saturating_sub(mine));
        let picked = self.picker.pick_contiguous(now, key, want);
        for r in &picked {
            self.limit.spend(now, u64::from(r.length));
        }
        picked
    }

    /// A block of the peer `key` arrived: the picker takes it (`None`: not wanted, a
    /// duplicate) and the pipeline counts its write.
    pub(crate) fn block_in(
        &mut self,
        now: Instant,
        key: PeerKey,
        block: BlockRef,
    ) -> Option<BlockIn> {
        let Received::Accepted {
            piece_complete,
            cancels,
        } = self.picker.block_received(now, key, block)
        else {
            return None;
        };
        self.pipeline
            .write_issued(block.piece, u64::from(block.length));
        let verify_now = piece_complete && self.pipeline.piece_complete(block.piece);
        Some(BlockIn {
            verify_now,
            cancels,
        })
    }
}
