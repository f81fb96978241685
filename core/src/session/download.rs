//! The download part: what we ask peers for and what we do with the blocks that arrive.
//! Connections join their torrent's picker once established (with what they announced so
//! far); interest follows the picker; request pipelines are filled within the peer's queue,
//! the torrent's requested-bytes cap, the disk and the download limit; a block in goes to the
//! piece pipeline as a write, and requests the picker no longer needs are cancelled.

use std::time::{Duration, Instant};

use super::Session;
use super::SessionConfig;
use super::event::PeerCloseReason;
use super::io::{ConnId, TorrentId};
use super::peers::Peer;
use super::pipeline::{Job, PiecePipeline};
use super::rate::Buckets;
use super::torrent::Data;
use crate::picker::{BLOCK_LEN, PeerKey, PeerRate, Picker, Received};
use crate::pieces::BlockRef;

/// Round trip assumed when sizing request pipelines.
const ASSUMED_RTT: Duration = Duration::from_millis(100);

impl Session {
    /// Registers an established connection with its torrent's picker (once the torrent has
    /// metadata), with what the peer announced so far.
    pub(super) fn register_with_picker(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        if !peer.established || peer.in_picker {
            return;
        }
        let Some(d) = peer
            .torrent
            .and_then(|id| self.torrents.get_mut(&id))
            .and_then(|t| t.data.as_mut())
        else {
            return;
        };
        d.picker.add_peer(peer.key);
        peer.in_picker = true;
        if !peer.conn.peer_choking() {
            d.picker.peer_unchoked(now, peer.key);
        }
        for &piece in peer.conn.peer_allowed_fast() {
            d.picker.allowed_fast(peer.key, piece);
        }
        self.sync_availability(now, conn);
    }

    /// Gives the picker the peer's whole piece set (after a bitfield, have all or have none).
    pub(super) fn sync_availability(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let Some(bits) = peer.conn.peer_pieces() else {
            return;
        };
        peer.seed = bits.is_full();
        if peer.in_picker
            && let Some(d) = peer
                .torrent
                .and_then(|id| self.torrents.get_mut(&id))
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
                .and_then(|id| self.torrents.get(&id))
                .is_some_and(|t| t.is_running() && t.is_seed());
        if both_seeds {
            return self.close_conn(now, conn, PeerCloseReason::BothSeeds);
        }
        self.update_interest(now, conn);
        self.fill(now, conn);
    }

    pub(super) fn on_have(&mut self, now: Instant, conn: ConnId, piece: u32) {
        let Some((d, key)) = self.picker_of(conn) else {
            return;
        };
        let wanted = d.picker.peer_have(key, piece).unwrap_or(false);
        let running = self
            .peers
            .get(conn)
            .and_then(|p| p.torrent)
            .and_then(|id| self.torrents.get(&id))
            .is_some_and(|t| t.is_running());
        if let Some(peer) = self.peers.get_mut(conn) {
            peer.seed = peer.conn.peer_pieces().is_some_and(|b| b.is_full());
            if wanted && running {
                let _ = peer.conn.send_interested(now);
            }
        }
        self.fill(now, conn);
    }

    /// Sends `interested` or `not interested` as the picker says (only while running).
    pub(super) fn update_interest(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let Some(t) = peer.torrent.and_then(|id| self.torrents.get(&id)) else {
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

    /// Requests as many blocks from a peer as its pipeline, the disk and the download limit
    /// allow (see [`Download::fill`]).
    pub(super) fn fill(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        // A choking peer is asked only for the pieces it allows us fast (the picker knows).
        if !peer.in_picker {
            return;
        }
        let Some(t) = peer.torrent.and_then(|id| self.torrents.get_mut(&id)) else {
            return;
        };
        if !t.is_running() {
            return;
        }
        let Some(d) = t.data.as_mut() else {
            return;
        };
        let limit = Buckets {
            session: t
                .limits
                .honors_session_limits
                .then_some(&mut self.down_limit),
            torrent: &mut t.down_bucket,
        };
        let mut download = Download::of(d, limit, &self.config, &self.wire);
        download.fill(now, peer);
    }

    /// [`Self::fill`] for every connection of a torrent, then drains them.
    pub(super) fn fill_all(&mut self, now: Instant, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            self.fill(now, conn);
            self.drive(now, conn);
        }
    }

    /// A block arrived: it goes to the piece pipeline as a write (see [`Download::block_in`]);
    /// the reading may pause, requests elsewhere for it are cancelled, the pipeline refilled.
    pub(super) fn on_block(
        &mut self,
        now: Instant,
        conn: ConnId,
        block: BlockRef,
        data: bytes::Bytes,
    ) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let len = u64::from(block.length);
        peer.down.add(now, len);
        let key = peer.key;
        let in_picker = peer.in_picker;
        let Some(id) = peer.torrent else {
            return;
        };
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.down.add(now, len);
        if !in_picker || !t.is_active() {
            return;
        }
        let Some(d) = t.data.as_mut() else {
            return;
        };
        let limit = Buckets {
            session: t
                .limits
                .honors_session_limits
                .then_some(&mut self.down_limit),
            torrent: &mut t.down_bucket,
        };
        let mut download = Download::of(d, limit, &self.config, &self.wire);
        let Some(BlockIn {
            verify_now,
            cancels,
        }) = download.block_in(now, key, block)
        else {
            return;
        };
        self.disk_job(id, Job::Write { block, data });
        if verify_now {
            self.verify(id, block.piece);
        }
        self.pause_if_unwritten_full(conn, id);
        self.send_cancels(now, &cancels);
        self.fill(now, conn);
    }

    /// Cancels requests the picker no longer needs.
    pub(super) fn send_cancels(&mut self, now: Instant, cancels: &[(PeerKey, BlockRef)]) {
        for (key, r) in cancels {
            if let Some(other) = self.peers.by_key(*key) {
                if let Some(p) = self.peers.get_mut(other) {
                    let _ = p.conn.cancel(now, *r);
                }
                self.drive(now, other);
            }
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
