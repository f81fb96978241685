//! What the session does with each connection's events: the handshake and torrent matching,
//! self and duplicate connections, availability and interest, requesting blocks (within the
//! disk and rate limits), serving requests from storage under the choker, and rechoking.

use std::time::{Duration, Instant};

use super::Session;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, Dest, TorrentId, Transmit};
use super::pipeline::Job;
use super::torrent::candidates::Source;
use crate::choker::{ChokeMode, PeerStats};
use crate::extensions::{UT_METADATA, UT_PEX};
use crate::picker::{BLOCK_LEN, BlockRequest, PeerKey, PeerRate, Received};
use crate::wire::{BlockRef, Event as WireEvent, PieceGeometry, TorrentParams};

/// Round trip assumed when sizing request pipelines.
const ASSUMED_RTT: Duration = Duration::from_millis(100);

impl Session {
    /// Drains a connection's transmits into the session's queue and handles its events.
    pub(super) fn drive(&mut self, now: Instant, conn: ConnId) {
        loop {
            let Some(peer) = self.peers.get_mut(conn) else {
                return;
            };
            // During an MSE handshake the connection's transmits (its BitTorrent handshake)
            // wait: they go out in plaintext or RC4 as the handshake decides.
            while peer.mse.is_none()
                && let Some(mut payload) = peer.conn.poll_transmit()
            {
                if let Some(stream) = peer.stream.as_mut() {
                    // Encrypted in a copy: the payload may share a block read from disk.
                    let mut copy = bytes::BytesMut::from(&payload[..]);
                    stream.encrypt(&mut copy);
                    payload = copy.freeze();
                }
                peer.count_unsent(now, payload.len(), &self.config);
                self.transmits.push_back(Transmit {
                    dest: Dest::Peer(conn),
                    payload,
                });
            }
            let Some(event) = peer.conn.poll_event() else {
                return;
            };
            self.on_wire_event(now, conn, event);
        }
    }

    fn on_wire_event(&mut self, now: Instant, conn: ConnId, event: WireEvent) {
        match event {
            WireEvent::HandshakeReceived {
                info_hash, peer_id, ..
            } => self.on_inbound_handshake(now, conn, info_hash, peer_id),
            WireEvent::Established { peer_id, .. } => self.on_established(now, conn, peer_id),
            WireEvent::ExtendedHandshake(h) => {
                if let Some(port) = h.port
                    && let Some(peer) = self.peers.get_mut(conn)
                    && !peer.outbound
                    && port != 0
                {
                    let listen = std::net::SocketAddr::new(peer.addr.ip(), port);
                    peer.listen_addr = Some(listen);
                    if let Some(id) = peer.torrent
                        && !self.is_own_addr(listen)
                        && let Some(t) = self.torrents.get_mut(&id)
                    {
                        t.candidates.add(listen, Source::Incoming);
                        t.candidates.set_busy(listen);
                    }
                }
                self.metadata_handshake(now, conn, &h);
                self.pex_handshake(now, conn, &h);
            }
            WireEvent::ExtendedMessage { id, payload } => match self.wire.extensions.name(id) {
                Some(UT_METADATA) => self.metadata_message(now, conn, &payload),
                Some(UT_PEX) => self.pex_message(now, conn, &payload),
                _ => {}
            },
            WireEvent::Bitfield | WireEvent::HaveAll | WireEvent::HaveNone => {
                self.sync_availability(now, conn);
            }
            WireEvent::Have(piece) => self.on_have(now, conn, piece),
            WireEvent::Choked => {
                if let Some((d, key)) = self.picker_of(conn) {
                    let _ = d.picker.peer_choked(key);
                }
                if let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) {
                    self.fill_all(now, id);
                }
            }
            WireEvent::Unchoked => {
                if let Some((d, key)) = self.picker_of(conn) {
                    d.picker.peer_unchoked(now, key);
                }
                self.fill(now, conn);
            }
            WireEvent::AllowedFast(piece) => {
                if let Some((d, key)) = self.picker_of(conn) {
                    d.picker.allowed_fast(key, piece);
                }
                self.fill(now, conn);
            }
            WireEvent::PeerInterested | WireEvent::PeerNotInterested => {
                self.interest_changed(now, conn);
            }
            WireEvent::BlockReceived { block, data } => self.on_block(now, conn, block, data),
            WireEvent::Rejected(block) => {
                if let Some((d, key)) = self.picker_of(conn) {
                    d.picker.request_rejected(key, to_request(block));
                }
            }
            WireEvent::RequestReceived(_) => self.serve(now, conn),
            WireEvent::Closed(reason) => {
                self.close_conn(now, conn, PeerCloseReason::Wire(reason));
            }
            // Timeouts are the picker's; cancelled requests are skipped when their read
            // completes.
            _ => {}
        }
    }

    /// The picker of a connection's torrent, with the connection's key, if registered.
    fn picker_of(&mut self, conn: ConnId) -> Option<(&mut super::torrent::Data, PeerKey)> {
        let peer = self.peers.get(conn)?;
        if !peer.in_picker {
            return None;
        }
        let key = peer.key;
        let d = self.torrents.get_mut(&peer.torrent?)?.data.as_mut()?;
        Some((d, key))
    }

    fn on_inbound_handshake(
        &mut self,
        now: Instant,
        conn: ConnId,
        info_hash: crate::id::InfoHash,
        peer_id: crate::id::PeerId,
    ) {
        if peer_id == self.peer_id {
            return self.close_conn(now, conn, PeerCloseReason::SelfConnection);
        }
        let Some(&id) = self.by_hash.get(&info_hash) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        let Some(t) = self.torrents.get(&id) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if !t.is_active() {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        }
        if t.candidates.is_banned_id(peer_id) {
            return self.close_conn(now, conn, PeerCloseReason::Banned);
        }
        if self.peers.of_torrent(id) >= self.config.max_connections_per_torrent {
            return self.close_conn(now, conn, PeerCloseReason::Limit);
        }
        let (geometry, bits, metadata_size) = match &t.data {
            Some(d) => (
                Some(PieceGeometry::of_layout(d.meta.layout())),
                Some(&d.bits),
                Some(d.meta.info_bytes().len() as u64),
            ),
            None => (None, None, None),
        };
        let params = TorrentParams {
            info_hash,
            geometry,
            our_pieces: bits,
            metadata_size,
        };
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.torrent = Some(id);
        if peer.conn.accept(now, params).is_err() {
            self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        }
    }

    fn on_established(&mut self, now: Instant, conn: ConnId, peer_id: crate::id::PeerId) {
        if peer_id == self.peer_id {
            return self.close_conn(now, conn, PeerCloseReason::SelfConnection);
        }
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if self
            .torrents
            .get(&id)
            .is_some_and(|t| t.candidates.is_banned_id(peer_id))
        {
            return self.close_conn(now, conn, PeerCloseReason::Banned);
        }
        // Two connections between the same pair (both dialled at once): keep the one opened
        // by the lower peer id, so both sides keep the same one.
        let ours_outbound = peer.outbound;
        let twin = self.peers.iter().find(|(other, p)| {
            *other != conn
                && p.established
                && p.torrent == Some(id)
                && p.conn.peer_id() == Some(peer_id)
        });
        if let Some((twin, _)) = twin {
            let we_initiate_kept = self.peer_id < peer_id;
            // The kept connection is the one whose initiator has the lower id.
            let keep_new = ours_outbound == we_initiate_kept;
            let drop = if keep_new { twin } else { conn };
            self.close_conn(now, drop, PeerCloseReason::Duplicate);
            if !keep_new {
                return;
            }
        }
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.established = true;
        let addr = peer.addr;
        if peer.outbound
            && let Some(t) = self.torrents.get_mut(&id)
        {
            t.candidates.connected(addr);
        }
        self.events
            .push_back(Event::PeerConnected { torrent: id, addr });
        self.register_with_picker(now, conn);
        self.pex_connected(conn);
    }

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
    fn sync_availability(&mut self, now: Instant, conn: ConnId) {
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

    fn on_have(&mut self, now: Instant, conn: ConnId, piece: u32) {
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

    fn on_block(&mut self, now: Instant, conn: ConnId, block: BlockRef, data: bytes::Bytes) {
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

    /// Reads blocks the peer requested, within its upload queue, its send backlog (see
    /// `send_flow`) and the upload limit; rejects requests for pieces we do not have. Requests for consecutive blocks of one piece are
    /// read by one job (up to [`MAX_READ_RUN`] bytes): fewer jobs, fewer wake-ups.
    pub(super) fn serve(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let Some(d) = t.data.as_ref() else {
            return;
        };
        if !t.is_running()
            || peer.reading_bytes >= self.config.max_upload_queue_bytes
            || peer.send_backlogged(&self.config)
        {
            return;
        }
        let mut runs: Vec<Vec<BlockRef>> = Vec::new();
        let mut rejects = Vec::new();
        let mut budget = self.config.max_upload_queue_bytes - peer.reading_bytes;
        // Oldest first; the ones being read already are skipped. Stops as soon as the upload
        // queue is full, so a long request queue costs nothing while the queue is full.
        for block in peer.conn.requests_in() {
            if budget == 0 {
                break;
            }
            if peer.reading.contains(&block) {
                continue;
            }
            if !d.picker.have().contains(block.piece) {
                rejects.push(block);
                continue;
            }
            if !self.up_limit.allows(now) {
                break;
            }
            self.up_limit.spend(now, u64::from(block.length));
            budget = budget.saturating_sub(block.length as usize);
            peer.reading.insert(block);
            peer.reading_bytes += block.length as usize;
            match runs.last_mut() {
                Some(run) if extends_run(run, block) => run.push(block),
                _ => runs.push(vec![block]),
            }
        }
        for block in rejects {
            let _ = peer.conn.reject(now, block);
        }
        for blocks in runs {
            self.disk_job(id, Job::Read { conn, blocks });
        }
    }

    /// A read for an upload finished (`data`: the bytes of the consecutive `blocks`, `None`
    /// if it failed): send each block still wanted.
    pub(super) fn read_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        blocks: &[BlockRef],
        data: Option<bytes::Bytes>,
    ) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let start = blocks.first().map_or(0, |b| b.offset);
        for &block in blocks {
            if peer.reading.remove(&block) {
                peer.reading_bytes = peer.reading_bytes.saturating_sub(block.length as usize);
            }
            let at = block.offset.saturating_sub(start) as usize;
            let end = at + block.length as usize;
            let bytes = data
                .as_ref()
                .filter(|d| end <= d.len())
                .map(|d| d.slice(at..end));
            match bytes {
                Some(bytes) => {
                    if peer
                        .conn
                        .send_block(now, block.piece, block.offset, bytes)
                        .is_ok()
                    {
                        let len = u64::from(block.length);
                        peer.up.add(now, len);
                        if let Some(t) = peer.torrent.and_then(|id| self.torrents.get_mut(&id)) {
                            t.up.add(now, len);
                        }
                    }
                }
                None => {
                    let _ = peer.conn.reject(now, block);
                }
            }
        }
        // Hand the blocks over first: serving looks at the send backlog they join.
        self.drive(now, conn);
        self.serve(now, conn);
        self.drive(now, conn);
    }

    fn interest_changed(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let unchoked = t.choker.is_unchoked(peer.key);
        let interested = peer.conn.peer_interested();
        let slots = self.config.choker.upload_slots + self.config.choker.optimistic_slots;
        let busy = self
            .peers
            .values()
            .filter(|p| p.torrent == Some(id) && t.choker.is_unchoked(p.key))
            .count();
        // A new interested peer takes a free slot at once; a peer leaving frees its slot.
        if (interested && !unchoked && busy < slots) || (!interested && unchoked) {
            self.rechoke(now, id);
        }
    }

    /// Decides who we upload to, and chokes or unchokes accordingly.
    pub(super) fn rechoke(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let Some(d) = t.data.as_ref() else {
            return;
        };
        if !t.is_running() {
            return;
        }
        let mode = if d.picker.is_finished() {
            ChokeMode::Seeding
        } else {
            ChokeMode::Downloading
        };
        let stats: Vec<PeerStats> = self
            .peers
            .values()
            .filter(|p| p.torrent == Some(id) && p.established)
            .map(|p| PeerStats {
                peer: p.key,
                interested: p.conn.peer_interested(),
                download_rate: p.down.rate(now),
                upload_rate: p.up.rate(now),
                connected_at: p.connected_at,
                snubbed: d.picker.is_snubbed(p.key),
            })
            .collect();
        let decision = t.choker.rechoke(now, mode, &stats);
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                let _ = if decision.unchoke.contains(&p.key) {
                    p.conn.unchoke(now)
                } else {
                    p.conn.choke(now)
                };
            }
            self.drive(now, conn);
        }
    }

    /// Refuses `peers` (by address and peer id) from now on and closes their connections. A
    /// peer that already left is found among the torrent's departed peers; a connection it
    /// opened again meanwhile is closed too.
    pub(super) fn ban_peers(
        &mut self,
        now: Instant,
        id: TorrentId,
        peers: &[PeerKey],
        reason: &PeerCloseReason,
    ) {
        for &key in peers {
            let open = self.peers.by_key(key).and_then(|conn| {
                let p = self.peers.get(conn)?;
                Some((conn, p.listen_addr.unwrap_or(p.addr), p.conn.peer_id()))
            });
            let (addr, peer_id, conns) = match open {
                Some((conn, addr, peer_id)) => (addr, peer_id, vec![conn]),
                None => {
                    let Some(gone) = self
                        .torrents
                        .get_mut(&id)
                        .and_then(|t| t.departed.take(key))
                    else {
                        continue;
                    };
                    (gone.addr, gone.peer_id, self.conns_of_peer(id, gone))
                }
            };
            self.ban_addr(id, addr, peer_id, reason);
            for conn in conns {
                self.close_conn(now, conn, reason.clone());
            }
        }
    }
}

/// The most bytes one upload read job covers.
pub(super) const MAX_READ_RUN: u32 = 256 * 1024;

/// Whether `block` continues `run` (the same piece, right after its last block) without making
/// it longer than [`MAX_READ_RUN`].
fn extends_run(run: &[BlockRef], block: BlockRef) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    block.piece == last.piece
        && block.offset == last.offset + last.length
        && block.offset + block.length - first.offset <= MAX_READ_RUN
}

fn to_request(block: BlockRef) -> BlockRequest {
    BlockRequest {
        piece: block.piece,
        offset: block.offset,
        len: block.length,
    }
}
