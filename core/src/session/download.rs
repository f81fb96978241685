//! The download part: what we ask peers for and what we do with the blocks that arrive.
//! Connections join their torrent's picker once established (with what they announced so
//! far); interest follows the picker; request pipelines are filled within the peer's queue,
//! the torrent's requested-bytes cap, the disk and the download limit; a block in goes to the
//! piece pipeline as a write, and requests the picker no longer needs are cancelled.

use std::time::{Duration, Instant};

use super::Session;
use super::event::PeerCloseReason;
use super::io::{ConnId, TorrentId};
use super::pipeline::Job;
use crate::picker::{BLOCK_LEN, BlockRequest, PeerKey, PeerRate, Received};
use crate::wire::BlockRef;

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
                    .peer_bitfield(peer.key, &bits.to_bytes())
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
    /// allow.
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
        if d.pipeline.is_behind(self.config.max_disk_jobs) || !self.down_limit.allows(now) {
            return;
        }
        // What is requested stays under the torrent's cap (counted in whole blocks), so this
        // peer may have at most the room left beyond what it already has in flight. (Memory
        // is bounded where blocks arrive: see `receive_flow`.)
        let cap = usize::try_from(self.config.max_requested_bytes / u64::from(BLOCK_LEN))
            .unwrap_or(usize::MAX);
        let room =
            cap.saturating_sub(d.picker.inflight_count()) + d.picker.inflight_count_of(peer.key);
        let room_blocks = u32::try_from(room).unwrap_or(u32::MAX);
        let rate = PeerRate {
            download_rate: peer.down.rate(now),
            rtt: ASSUMED_RTT,
            reqq: peer
                .conn
                .peer_reqq()
                .min(self.wire.max_requests_out)
                .min(room_blocks),
        };
        for r in d.picker.pick(now, peer.key, rate) {
            let block = BlockRef::new(r.piece, r.offset, r.len);
            if peer.conn.request(now, block).is_err() {
                d.picker.request_rejected(peer.key, r);
            } else {
                self.down_limit.spend(now, u64::from(r.len));
            }
        }
    }

    /// [`Self::fill`] for every connection of a torrent, then drains them.
    pub(super) fn fill_all(&mut self, now: Instant, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            self.fill(now, conn);
            self.drive(now, conn);
        }
    }

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
        let Received::Accepted {
            piece_complete,
            cancels,
        } = d.picker.block_received(now, key, to_request(block))
        else {
            return;
        };
        d.pipeline.write_issued(block.piece, len);
        let verify_now = piece_complete && d.pipeline.piece_complete(block.piece);
        self.disk_job(id, Job::Write { block, data });
        if verify_now {
            self.verify(id, block.piece);
        }
        self.pause_if_unwritten_full(conn, id);
        self.send_cancels(now, &cancels);
        self.fill(now, conn);
    }

    /// Cancels requests the picker no longer needs.
    pub(super) fn send_cancels(&mut self, now: Instant, cancels: &[(PeerKey, BlockRequest)]) {
        for (key, r) in cancels {
            if let Some(other) = self.peers.by_key(*key) {
                if let Some(p) = self.peers.get_mut(other) {
                    let _ = p.conn.cancel(now, BlockRef::new(r.piece, r.offset, r.len));
                }
                self.drive(now, other);
            }
        }
    }
}

/// The picker's name for a block.
pub(super) fn to_request(block: BlockRef) -> BlockRequest {
    BlockRequest {
        piece: block.piece,
        offset: block.offset,
        len: block.length,
    }
}
