//! The steps that cross parts. A connection's events reach every part, and a part's decision
//! often has consequences in others (a close refills and rechokes the torrent, a piece that
//! passes tells every peer), each of which drives connections again; so these steps take the
//! whole session. Each one asks the parts (their own files) what to do and routes the
//! consequences; none keeps state of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::disk::Next;
use super::download::{BlockIn, Limits, Synced};
use super::error::SessionError;
use super::event::{Event, PeerCloseReason};
use super::io::Completion;
use super::io::{ConnId, TorrentId};
use super::metadata::Handled;
use super::pipeline::{DigestsFor, Job};
use super::smart_ban::DepartedPeer;
use super::{choke, download, metadata, pex, smart_ban, upload};
use crate::extensions::{FetchEvent, UT_METADATA};
use crate::metainfo::Metainfo;
use crate::picker::PeerKey;
use crate::pieces::BlockRef;
use crate::wire::ExtendedHandshake;

impl Session {
    /// A peer became interested or not interested in us: a rechoke if it changes a slot.
    pub(super) fn interest_changed(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let config = &self.config;
        let needs = self
            .torrents
            .get(&id)
            .is_some_and(|t| t.interest_needs_rechoke(id, peer, &self.peers, config));
        if needs {
            self.rechoke(now, id);
        }
    }

    /// Decides who we upload to, and chokes or unchokes accordingly.
    pub(super) fn rechoke(&mut self, now: Instant, id: TorrentId) {
        let Some(unchoke) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.choke_decision(now, id, &self.peers))
        else {
            return;
        };
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn) {
                choke::apply(now, p, &unchoke);
            }
            self.drive(now, conn);
        }
    }

    /// Refuses `peers` (by address and peer id) from now on and closes their connections (see
    /// [`smart_ban::ban_target`]).
    pub(super) fn ban_peers(
        &mut self,
        now: Instant,
        id: TorrentId,
        peers: &[PeerKey],
        reason: &PeerCloseReason,
    ) {
        for &key in peers {
            let Some((who, conns)) =
                smart_ban::ban_target(&self.peers, &mut self.torrents, id, key)
            else {
                continue;
            };
            smart_ban::ban_addr(&mut self.torrents, &mut self.out, id, who, reason);
            for conn in conns {
                self.close_conn(now, conn, reason.clone());
            }
        }
    }

    /// A disk job finished: the piece pipeline takes it (see [`Jobs::complete`](super::pipeline::Jobs::complete)) and its
    /// consequences are routed. Whatever its kind, if it ends the disk back-pressure the
    /// torrent's peers are refilled: requests stopped while the disk was behind, and the
    /// peers' pipelines may have drained meanwhile, so no block arrival would refill them.
    pub(super) fn completion(&mut self, now: Instant, done: Completion) {
        let Some(id) = self.jobs.torrent_of(done.id()) else {
            return;
        };
        let was_behind = self.disk_behind(id);
        if let Some((id, next)) = self.jobs.complete(done, &mut self.torrents, &mut self.out) {
            self.after_job(now, id, next);
        }
        if was_behind && !self.disk_behind(id) {
            self.fill_all(now, id);
        }
    }

    fn disk_behind(&self, id: TorrentId) -> bool {
        self.torrents
            .get(&id)
            .is_some_and(|t| t.disk_behind(&self.config))
    }

    /// Routes what a completed disk job asks of the other parts.
    fn after_job(&mut self, now: Instant, id: TorrentId, next: Next) {
        match next {
            Next::Nothing => {}
            Next::Written => self.resume_if_drained(now, id),
            Next::Read { conn, blocks, data } => self.read_done(now, conn, &blocks, data),
            Next::Passed(piece) => self.piece_passed(now, id, piece),
            Next::Digests {
                piece,
                why,
                digests,
            } => self.block_digests_done(now, id, piece, why, digests.as_deref()),
            Next::Checked(good) => self.check_done(now, id, &good, good.len() as u32),
            Next::StartStamps(stamps) => self.start_stamps(now, id, &stamps),
            Next::DataMissing {
                conn,
                blocks,
                piece,
                error,
            } => {
                self.read_done(now, conn, &blocks, None);
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::DataMissing { piece, error },
                });
                // Running (checked by the pipeline), so the recheck is always accepted.
                let _ = self.recheck_inner(now, id);
            }
            Next::Failed { written, read } => {
                if let Some((conn, blocks)) = read {
                    self.read_done(now, conn, &blocks, None);
                }
                if written {
                    self.resume_if_drained(now, id);
                }
                self.begin_stop(now, id);
            }
        }
    }

    /// Reading paused for the torrent's unwritten bytes resumes if they drained.
    fn resume_if_drained(&mut self, now: Instant, id: TorrentId) {
        let (torrents, config, out) = (&mut self.torrents, &self.config, &mut self.out);
        self.peers
            .resume_if_unwritten_drained(now, id, torrents, config, out);
    }

    /// A piece passed its hash check (see
    /// [`Jobs::piece_passed`](super::pipeline::Jobs::piece_passed)): requests for it elsewhere
    /// are cancelled, every peer is told, and the torrent finishes or flushes.
    pub(super) fn piece_passed(&mut self, now: Instant, id: TorrentId, piece: u32) {
        let (torrents, out) = (&mut self.torrents, &mut self.out);
        let Some(passed) = self.jobs.piece_passed(id, piece, torrents, out) else {
            return;
        };
        self.send_cancels(now, &passed.cancels);
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                let _ = p.conn.send_have(now, piece);
                if p.conn.am_interested() {
                    self.update_interest(now, conn);
                }
            }
            self.drive(now, conn);
        }
        if passed.finished {
            self.torrent_finished(now, id);
        } else {
            self.jobs
                .flush_if_due(id, &mut self.torrents, &self.config, &mut self.out);
        }
    }

    /// A piece failed its hash check (see
    /// [`Torrent::piece_failed`](super::torrent::Torrent::piece_failed)): strikes and bans, then
    /// download it again.
    fn piece_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: Option<&[[u8; 20]]>,
    ) {
        let Some(failed) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.piece_failed(piece, digests))
        else {
            return;
        };
        self.out.event(Event::PieceFailed { torrent: id, piece });
        self.send_cancels(now, &failed.cancels);
        self.ban_peers(now, id, &failed.banned, &PeerCloseReason::Banned);
        self.fill_all(now, id);
    }

    /// A datagram on the session's UDP socket: the DHT's or a UDP tracker's.
    pub(super) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if crate::dht::looks_like_krpc(data) {
            if let Some(dht) = self.dht.as_mut() {
                dht.handle_datagram(now, from, data);
                self.pump_dht();
            }
        } else if self.trackers.udp_datagram(now, from, data) {
            self.pump_udp_tracker(now, from);
        }
    }

    /// A `BlockDigests` job finished (`digests` is `None` when it failed): a failed piece is
    /// downloaded again, a passed one bans the peers whose blocks differed.
    pub(super) fn block_digests_done(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        why: DigestsFor,
        digests: Option<&[[u8; 20]]>,
    ) {
        match why {
            DigestsFor::Failed => {
                // A torrent that stopped meanwhile downloads nothing again.
                if self.torrents.get(&id).is_some_and(|t| t.is_active()) {
                    self.piece_failed(now, id, piece, digests);
                }
            }
            DigestsFor::Passed => {
                let Some(digests) = digests else {
                    return;
                };
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                let bad = d.picker.check_passed_blocks(piece, digests);
                self.ban_peers(now, id, &bad, &PeerCloseReason::SmartBanned);
            }
        }
    }

    /// A peer's extended handshake, for peer exchange (see [`pex::handshake`]).
    pub(super) fn pex_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        let own = self.own_addr();
        let (peers, torrents, on) = (&mut self.peers, &mut self.torrents, self.config.pex);
        if pex::handshake(now, conn, h, peers, torrents, own, on) {
            self.drive(now, conn);
        }
    }

    /// A `ut_pex` message (see [`pex::message`]).
    pub(super) fn pex_message(&mut self, now: Instant, conn: ConnId, payload: &[u8]) {
        // While the session's PEX is off, messages are not read.
        if !self.config.pex {
            return;
        }
        let own = self.own_addr();
        let (peers, torrents, out) = (&self.peers, &mut self.torrents, &mut self.out);
        if let Err(reason) = pex::message(now, conn, payload, peers, torrents, own, out) {
            self.close_conn(now, conn, reason);
        }
    }

    /// Sends the `ut_pex` messages due at `now`.
    pub(super) fn pex_timeout(&mut self, now: Instant) {
        let mut due = self.peers.due_now(now, &self.torrents, &self.config);
        due.retain(|conn| pex::is_due(&self.peers, *conn, now));
        for conn in due {
            if pex::send(now, conn, &mut self.peers, &self.torrents, self.config.pex) {
                self.drive(now, conn);
            }
        }
    }

    /// Registers an established connection with its torrent's picker, then syncs what the
    /// peer has.
    pub(super) fn register_with_picker(&mut self, now: Instant, conn: ConnId) {
        if download::register_with_picker(now, conn, &mut self.peers, &mut self.torrents) {
            self.sync_availability(now, conn);
        }
    }

    /// Gives the picker the peer's whole piece set: both seeds close; else interest and
    /// requests follow.
    pub(super) fn sync_availability(&mut self, now: Instant, conn: ConnId) {
        match download::sync_availability(conn, &mut self.peers, &mut self.torrents) {
            Synced::Nothing => {}
            Synced::BothSeeds => self.close_conn(now, conn, PeerCloseReason::BothSeeds),
            Synced::Fill => {
                self.update_interest(now, conn);
                self.fill(now, conn);
            }
        }
    }

    /// The peer has a new piece.
    pub(super) fn on_have(&mut self, now: Instant, conn: ConnId, piece: u32) {
        if download::on_have(now, conn, piece, &mut self.peers, &mut self.torrents) {
            self.fill(now, conn);
        }
    }

    /// Sends `interested` or `not interested` as the picker says.
    pub(super) fn update_interest(&mut self, now: Instant, conn: ConnId) {
        download::update_interest(now, conn, &mut self.peers, &self.torrents);
    }

    /// Requests as many blocks from a peer as allowed (see [`download::fill`]).
    pub(super) fn fill(&mut self, now: Instant, conn: ConnId) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        download::fill(now, conn, &mut self.peers, &mut self.torrents, limits);
    }

    /// [`Self::fill`] for every connection of a torrent, then drains them.
    pub(super) fn fill_all(&mut self, now: Instant, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            self.fill(now, conn);
            self.drive(now, conn);
        }
    }

    /// A block arrived: it goes to the piece pipeline as a write (see [`download::block_in`]);
    /// the reading may pause, requests elsewhere for it are cancelled, the pipeline refilled.
    pub(super) fn on_block(&mut self, now: Instant, conn: ConnId, block: BlockRef, data: Bytes) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        let (peers, torrents) = (&mut self.peers, &mut self.torrents);
        let Some((
            id,
            BlockIn {
                verify_now,
                cancels,
            },
        )) = download::block_in(now, conn, block, peers, torrents, limits)
        else {
            return;
        };
        self.jobs.issue(
            id,
            Job::Write { block, data },
            &mut self.torrents,
            &mut self.out,
        );
        if verify_now {
            self.jobs
                .verify(id, block.piece, &mut self.torrents, &mut self.out);
        }
        let (torrents, config, out) = (&self.torrents, &self.config, &mut self.out);
        self.peers
            .pause_if_unwritten_full(conn, id, torrents, config, out);
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

    /// Reads blocks the peer requested (see [`upload::plan_reads`]).
    pub(super) fn serve(&mut self, now: Instant, conn: ConnId) {
        let (peers, torrents) = (&mut self.peers, &mut self.torrents);
        let Some((id, runs)) =
            upload::plan_reads(now, conn, peers, torrents, &mut self.up_limit, &self.config)
        else {
            return;
        };
        for blocks in runs {
            self.jobs.issue(
                id,
                Job::Read { conn, blocks },
                &mut self.torrents,
                &mut self.out,
            );
        }
    }

    /// A read for an upload finished (see [`upload::send_read`]); serving goes on.
    pub(super) fn read_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        blocks: &[BlockRef],
        data: Option<Bytes>,
    ) {
        if !upload::send_read(now, conn, blocks, data, &mut self.peers, &mut self.torrents) {
            return;
        }
        // Hand the blocks over first: serving looks at the send backlog they join.
        self.drive(now, conn);
        self.serve(now, conn);
        self.drive(now, conn);
    }

    /// The runtime wrote `bytes` of `conn`'s transmits to its socket: serving resumes if that
    /// ended a stall.
    pub(super) fn peer_sent(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        if !self.config.send_accounting || bytes == 0 {
            return;
        }
        let cap = self.config.max_send_backlog;
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        if peer.upload.sent(now, bytes, cap) {
            self.serve(now, conn);
            self.drive(now, conn);
        }
    }

    /// Closes the connections whose send backlog made no progress for `send_stall_timeout`.
    pub(super) fn expire_send_stalls(&mut self, now: Instant) {
        let mut stalled = self.peers.due_now(now, &self.torrents, &self.config);
        stalled.retain(|conn| upload::is_stalled(&self.peers, *conn, now, &self.config));
        for conn in stalled {
            self.close_conn(now, conn, PeerCloseReason::SendStalled);
        }
    }

    /// A peer's extended handshake, for a magnet torrent's metadata fetch.
    pub(super) fn metadata_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        if let Some(id) = metadata::handshake(now, conn, h, &self.peers, &mut self.torrents) {
            self.pump_fetcher(now, id);
        }
    }

    /// A ut_metadata message (see [`metadata::message`]).
    pub(super) fn metadata_message(&mut self, now: Instant, conn: ConnId, payload: &Bytes) {
        match metadata::message(now, conn, payload, &mut self.peers, &mut self.torrents) {
            Handled::Nothing => {}
            Handled::Close(reason) => self.close_conn(now, conn, reason),
            Handled::Answered => self.drive(now, conn),
            Handled::Fetch(id) => self.pump_fetcher(now, id),
        }
    }

    /// A connection of a magnet torrent closed: its pending requests go elsewhere.
    pub(super) fn metadata_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(fetcher) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
            fetcher.remove_peer(now, conn);
            self.pump_fetcher(now, id);
        }
    }

    /// Fires the fetchers' deadlines due at `now`.
    pub(super) fn metadata_timeout(&mut self, now: Instant) {
        let due = self.torrents_due(now);
        for id in metadata::due(now, &due, &self.torrents) {
            if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
                f.handle_timeout(now);
            }
            self.pump_fetcher(now, id);
        }
    }

    /// Sends a fetcher's requests and acts on its events: a peer proved wrong is banned and
    /// closed; verified info bytes make the torrent a full one.
    fn pump_fetcher(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some((sends, event)) = self.torrents.get_mut(&id).and_then(metadata::poll_fetcher)
            else {
                return;
            };
            for (conn, payload) in sends {
                if let Some(p) = self.peers.get_mut(conn) {
                    let _ = p.conn.send_extended(now, UT_METADATA, payload);
                }
                self.drive(now, conn);
            }
            match event {
                None => return,
                Some(FetchEvent::DropPeer { peer, fault }) => {
                    let reason = PeerCloseReason::BadMetadata(fault);
                    if let Some(p) = self.peers.get(peer) {
                        let who = DepartedPeer {
                            addr: p.listen_addr.unwrap_or(p.addr),
                            peer_id: p.conn.peer_id(),
                        };
                        if let Some(t) = self.torrents.get_mut(&id) {
                            t.pex.forget_source(peer);
                        }
                        smart_ban::ban_addr(&mut self.torrents, &mut self.out, id, who, &reason);
                    }
                    self.close_conn(now, peer, reason);
                }
                Some(FetchEvent::Complete(info)) => self.metadata_complete(now, id, &info),
            }
        }
    }

    /// Verified info bytes arrived: the torrent becomes a full one.
    fn metadata_complete(&mut self, now: Instant, id: TorrentId, info: &Bytes) {
        match Metainfo::from_info_bytes(info) {
            Ok(meta) => {
                if let Err(e) = self.set_metadata_inner(now, id, Arc::new(meta)) {
                    self.out.event(Event::Error {
                        torrent: Some(id),
                        error: SessionError::Metadata(e),
                    });
                }
            }
            Err(e) => {
                // The bytes hash to the info-hash, so the torrent itself is unusable.
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.fetcher = None;
                }
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::InvalidInfo(e),
                });
            }
        }
    }
}
