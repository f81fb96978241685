//! A torrent's metadata and hashes, dispatched. BEP 52 hash messages: a peer's hash request is
//! served from the torrent's trees (`hashes`) within the peer's budget; our requests for
//! missing piece layers go to the v2 peers of a torrent whose metadata lacks them (`layers`),
//! their answers are checked there, and once every layer is in, the torrent takes its
//! metadata as any magnet does. A peer whose hashes do not prove is banned and closed. The
//! magnet's fetch (BEP 9, `metadata`): its requests and answers, peers leaving, timeouts; and
//! adopting metadata, from the fetch, the layers or the application: the check starts and the
//! torrent's connections learn the geometry. A failed v2 piece's leaf check (`leaf_check`):
//! begun, its leaves asked of the torrent's v2 peers, the answer routed back, and the verdict
//! applied (the bad blocks alone fetched again, their senders alone banned).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::block_hashes::BlockRun;
use super::error::SessionError;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::layers::LayerFetch;
use super::leaf_check::{self, Begun, Verdict};
use super::local;
use super::metadata::{self, Handled, MetadataError};
use super::pipeline::{DigestsFor, Job, StampsFor};
use super::smart_ban::{self, DepartedPeer};
use crate::extensions::{FetchEvent, UT_METADATA};
use crate::merkle::Hash;
use crate::metainfo::Metainfo;
use crate::storage::ResumeData;
use crate::wire::hashes::HashRequest;
use crate::wire::{ExtendedHandshake, PieceGeometry};

impl Session {
    /// Reads `piece` for a peer's block-layer hash request on `conn` (see
    /// [`hashes::serve`](super::hashes::serve)): a `BlockDigests` job.
    pub(super) fn read_block_hashes(
        &mut self,
        id: TorrentId,
        piece: u32,
        conn: ConnId,
        request: HashRequest,
    ) {
        let why = DigestsFor::HashRequest(Box::new((conn, request)));
        let job = Job::BlockDigests { piece, why };
        self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
    }

    /// A piece read for a peer's block-layer hash request (`digests`: the SHA-256 of each
    /// block, `None` if the read failed): the hashes are sent, or the request rejected.
    pub(super) fn block_hashes_read(
        &mut self,
        now: Instant,
        id: TorrentId,
        conn: ConnId,
        request: HashRequest,
        digests: Option<&[Hash]>,
    ) {
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        p.hash_budget.block_read_done();
        if p.torrent != Some(id) {
            return;
        }
        let hashes = digests.and_then(|digests| {
            let t = self.torrents.get_mut(&id)?;
            let meta = &t.data.as_ref()?.meta;
            BlockRun::of(meta, &request)?.answer(meta, &mut t.trees, &request, digests)
        });
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        let _ = match hashes {
            Some(hashes) => p.conn.send_hashes(now, request, &hashes),
            None => p.conn.reject_hashes(now, request),
        };
        self.drive(now, conn);
    }

    /// The answer to one of our hash requests.
    pub(super) fn hashes_received(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: HashRequest,
        hashes: &Bytes,
    ) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if self.leaf_answer(now, id, conn, &request, hashes) {
            return;
        }
        let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) else {
            return;
        };
        if fetch.answered(&request, hashes).is_err() {
            self.ban_bad_hashes(now, id, conn);
        }
        self.pump_layers(now, id);
    }

    /// Bans and closes a peer whose hashes did not prove.
    pub(super) fn ban_bad_hashes(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        let reason = PeerCloseReason::BadHashes;
        if let Some(p) = self.peers.get(conn) {
            let who = DepartedPeer {
                addr: p.listen_addr.unwrap_or(p.addr),
                peer_id: p.conn.peer_id(),
            };
            smart_ban::ban_addr(&mut self.torrents, &mut self.out, id, who, &reason);
        }
        self.close_conn(now, conn, reason);
    }

    /// A peer refused one of our hash requests.
    pub(super) fn hashes_rejected(&mut self, now: Instant, conn: ConnId, request: HashRequest) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if let Some(t) = self.torrents.get_mut(&id) {
            t.leaf_checks.rejected(conn, &request);
        }
        self.pump_leaf_checks(now, id);
        if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
            fetch.rejected(conn, &request);
            self.pump_layers(now, id);
        }
    }

    /// Starts fetching the piece layers `meta` lacks (it is the torrent's, checked), or
    /// adopts it at once if it lacks none.
    /// Layers in its resume data are proved against their roots first and used; those that
    /// do not prove are dropped (an [`SessionError::ResumeLayers`] event) and fetched.
    pub(super) fn fetch_layers(&mut self, now: Instant, id: TorrentId, mut meta: Metainfo) {
        let saved = self
            .torrents
            .get_mut(&id)
            .map(|t| {
                t.layers_learned = true;
                t.options.resume.as_deref()
            })
            .and_then(|bytes| ResumeData::decode(bytes?, meta.layout()).ok());
        if let Some(saved) = saved {
            let refused = (saved.piece_layers.into_iter())
                .map(|(root, layer)| meta.add_piece_layer(root, layer))
                .filter(|proved| !proved)
                .count();
            if refused > 0 {
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::ResumeLayers { refused },
                });
            }
        }
        let Some(fetch) = LayerFetch::new(meta.clone()) else {
            return self.adopt_metadata(now, id, Arc::new(meta));
        };
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.fetcher = None;
        t.layers = Some(fetch);
        self.pump_layers(now, id);
    }

    /// Sends a torrent's layer requests to its established peers; adopts the metadata once
    /// every layer is in.
    pub(super) fn pump_layers(&mut self, now: Instant, id: TorrentId) {
        let conns: Vec<ConnId> = self
            .peers
            .ids_of(id)
            .into_iter()
            .filter(|c| {
                self.peers
                    .get(*c)
                    .is_some_and(|p| p.established && p.conn.speaks_v2())
            })
            .collect();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let active = t.is_active();
        let Some(fetch) = t.layers.as_mut() else {
            return;
        };
        if fetch.is_complete() {
            if let Some(fetch) = t.layers.take() {
                self.adopt_metadata(now, id, Arc::new(fetch.into_meta()));
            }
            return;
        }
        if !active {
            return;
        }
        fetch.retry_if_stuck(&conns);
        let mut sent = Vec::new();
        for conn in conns {
            let Some(p) = self.peers.get_mut(conn) else {
                continue;
            };
            let in_flight = p.conn.hash_requests_in_flight();
            for request in fetch.requests_for(now, conn, in_flight) {
                if p.conn.request_hashes(now, request).is_err() {
                    fetch.rejected(conn, &request);
                }
                sent.push(conn);
            }
        }
        sent.dedup();
        for conn in sent {
            self.drive(now, conn);
        }
    }

    /// A connection closed: the layer runs and failed pieces it was asked for go to others.
    pub(super) fn layers_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(t) = self.torrents.get_mut(&id)
            && !t.leaf_checks.is_empty()
        {
            t.leaf_checks.peer_gone(conn);
            self.pump_leaf_checks(now, id);
        }
        if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
            fetch.peer_gone(conn);
            self.pump_layers(now, id);
        }
    }

    /// Layer requests that went unanswered for too long go to other peers.
    pub(super) fn layers_timeout(&mut self, now: Instant, due: &[TorrentId]) {
        for &id in due {
            let late = self
                .torrents
                .get(&id)
                .and_then(|t| t.layers.as_ref())
                .and_then(LayerFetch::poll_timeout)
                .is_some_and(|at| at <= now);
            if late {
                if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
                    f.handle_timeout(now);
                }
                self.pump_layers(now, id);
            }
            let leaves_late = self
                .torrents
                .get(&id)
                .and_then(|t| t.leaf_checks.poll_timeout())
                .is_some_and(|at| at <= now);
            if leaves_late {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.leaf_checks.handle_timeout(now);
                }
                self.pump_leaf_checks(now, id);
            }
        }
    }

    /// Creates the metadata-dependent state (see
    /// [`Torrent::init_data`](super::torrent::Torrent)) and starts the check: storage, then
    /// stamps.
    pub(super) fn init_data(&mut self, id: TorrentId, meta: Arc<Metainfo>) {
        let seed = self.rng.next_u64();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let open = t.init_data(id, meta, seed, &self.config);
        self.out.action(open);
        let stamps = Job::Stamps(StampsFor::Start);
        self.jobs
            .issue(id, stamps, &mut self.torrents, &mut self.out);
    }

    /// A magnet torrent's metadata (see [`Session::set_metadata`]): its check starts, and its
    /// connections learn the geometry (and may fetch the metadata from us).
    pub(super) fn set_metadata_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
        meta: Arc<Metainfo>,
    ) -> Result<(), MetadataError> {
        let t = self.torrents.known(id)?;
        t.accepts_metadata(&meta)?;
        if t.layers.is_some() {
            return Err(MetadataError::AlreadyKnown);
        }
        self.torrents.learn_hashes(id, meta.info_hashes());
        if meta.needs_piece_layers() {
            self.fetch_layers(now, id, (*meta).clone());
        } else {
            self.adopt_metadata(now, id, meta);
        }
        Ok(())
    }

    /// Metadata with everything needed to download (piece layers included): the torrent's
    /// check starts, and its connections learn the geometry (and may fetch the metadata
    /// from us).
    pub(super) fn adopt_metadata(&mut self, now: Instant, id: TorrentId, meta: Arc<Metainfo>) {
        self.init_data(id, meta.clone());
        self.out.event(Event::MetadataReceived {
            torrent: id,
            metainfo: meta.clone(),
        });
        let geometry = PieceGeometry::of_layout(meta.layout());
        // Peers connected while we had no metadata learn its size from a fresh extended
        // handshake, so they can fetch it from us (our server answers from now on).
        let size = self
            .torrents
            .get(&id)
            .and_then(|t| t.server.metadata_size());
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn) {
                let _ = p.conn.set_geometry(now, geometry);
                if let Some(size) = size {
                    let _ = p.conn.set_metadata_size(now, size);
                }
            }
            self.register_with_picker(now, conn);
            self.drive(now, conn);
        }
        if meta.is_private()
            && let Some(t) = self.torrents.get_mut(&id)
        {
            t.next_dht = None;
            local::leave(self.lsd.as_mut(), t);
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
        self.layers_timeout(now, &due);
    }

    /// Sends a fetcher's requests and acts on its events: a peer proved wrong is banned and
    /// closed (see [`metadata::ban_source`]); verified info bytes make the torrent a full one.
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
                    let (torrents, out) = (&mut self.torrents, &mut self.out);
                    let reason = metadata::ban_source(id, peer, fault, &self.peers, torrents, out);
                    self.close_conn(now, peer, reason);
                }
                Some(FetchEvent::Complete(info)) => {
                    let (torrents, out) = (&mut self.torrents, &mut self.out);
                    if let Some(meta) = metadata::complete(id, &info, torrents, out)
                        && let Err(e) = self.set_metadata_inner(now, id, Arc::new(meta))
                    {
                        self.out.event(Event::Error {
                            torrent: Some(id),
                            error: SessionError::Metadata(e),
                        });
                    }
                }
            }
        }
    }

    /// A piece failed its hash and `digests` are its blocks as stored: its leaf check
    /// begins (see [`leaf_check::begin`]). Returns `false` if the piece cannot be checked so
    /// (it then fails whole).
    pub(super) fn check_leaves(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: &[Hash],
    ) -> bool {
        match leaf_check::begin(id, piece, digests, &mut self.torrents, &self.peers) {
            Begun::Not => false,
            Begun::Judged(verdict) => {
                self.leaf_verdict(now, id, piece, verdict);
                true
            }
            Begun::Asking => {
                self.pump_leaf_checks(now, id);
                true
            }
        }
    }

    /// Asks the torrent's v2 connections (those whose peer set the v2 handshake bit first) for
    /// the leaves of its failed pieces; a piece no peer can be asked for fails whole.
    pub(super) fn pump_leaf_checks(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(t) = self.torrents.get(&id) else {
                return;
            };
            if t.leaf_checks.is_empty() || !t.is_active() {
                return;
            }
            let conns = leaf_check::askable(id, &self.peers);
            let Some(t) = self.torrents.get_mut(&id) else {
                return;
            };
            let (asks, given_up) = t.leaf_checks.requests(now, &conns);
            let mut unsent = Vec::new();
            for (conn, request) in asks {
                let sent = self
                    .peers
                    .get_mut(conn)
                    .is_some_and(|p| p.conn.request_hashes(now, request).is_ok());
                if sent {
                    self.drive(now, conn);
                } else {
                    unsent.push((conn, request));
                }
            }
            for (piece, digests) in given_up {
                self.piece_failed(now, id, piece, Some(&digests));
            }
            if unsent.is_empty() {
                return;
            }
            let Some(t) = self.torrents.get_mut(&id) else {
                return;
            };
            for (conn, request) in unsent {
                t.leaf_checks.rejected(conn, &request);
            }
        }
    }

    /// `hashes` from `conn` may answer a failed piece's leaf request: returns whether it did
    /// (then handled: a run that does not prove bans its sender, one that does gives the
    /// verdict).
    fn leaf_answer(
        &mut self,
        now: Instant,
        id: TorrentId,
        conn: ConnId,
        request: &HashRequest,
        hashes: &Bytes,
    ) -> bool {
        let Some(t) = self.torrents.get_mut(&id) else {
            return false;
        };
        let Some((piece, result)) = t.leaf_checks.answered(conn, request, hashes) else {
            return false;
        };
        match result {
            Ok(verdict) => self.leaf_verdict(now, id, piece, verdict),
            Err(_) => {
                self.ban_bad_hashes(now, id, conn);
                self.pump_leaf_checks(now, id);
            }
        }
        true
    }

    /// A failed piece's blocks were checked: the bad ones are downloaded again and their
    /// senders banned (peers closed, web seeds dropped; the good blocks kept); if none was
    /// bad, the piece fails whole.
    fn leaf_verdict(&mut self, now: Instant, id: TorrentId, piece: u32, verdict: Verdict) {
        let bad = match verdict {
            Verdict::NoneBad => return self.piece_failed(now, id, piece, None),
            Verdict::Bad(bad) => bad,
        };
        let Some(culprits) = leaf_check::blocks_bad(id, piece, &bad, &mut self.torrents) else {
            return;
        };
        self.out.event(Event::PieceFailed { torrent: id, piece });
        // A web seed proven to have sent a bad block is dropped.
        let (web, mut cx) = self.web_cx();
        web.hash_failed(now, id, piece, &culprits, &culprits, &mut cx);
        self.ban_peers(now, id, &culprits, &PeerCloseReason::SmartBanned);
        self.fill_all(now, id);
    }
}
