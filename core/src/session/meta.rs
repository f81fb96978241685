//! A torrent's metadata and hashes, as a part ([`MetaCx`]). BEP 52 hash messages: a peer's hash
//! request is served from the torrent's trees (`hashes`) within the peer's budget; our
//! requests for missing piece layers go to the v2 peers of a torrent whose metadata lacks them
//! (`layers`), their answers are checked there, and once every layer is in, the torrent takes
//! its metadata as any magnet does. A peer whose hashes do not prove is banned and closed. The
//! magnet's fetch (BEP 9, `metadata`): its requests and answers, peers leaving, timeouts; and
//! adopting metadata, from the fetch, the layers or the application: the check starts and the
//! torrent's connections learn the geometry. A failed v2 piece's leaf check (`leaf_check`):
//! begun, its leaves asked of the torrent's v2 peers, the answer routed back, and the verdict
//! applied (the bad blocks alone fetched again, their senders alone banned).
//!
//! What reaches other parts (driving a connection, closing one, a piece failing, bans,
//! refills) is queued as [`FollowUp`]s; a step of this part that must come after them is
//! queued too, as a [`MetaStep`], and taken up again by [`MetaCx::resume`].

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::SessionConfig;
use super::error::SessionError;
use super::event::Event;
use super::followups::{FollowUp, FollowUps};
use super::io::{ConnId, TorrentId};
use super::layers::LayerFetch;
use super::local;
use super::metadata::{self, Handled, MetadataError};
use super::outputs::Outputs;
use super::peers::Peers;
use super::pipeline::{Job, Jobs, StampsFor};
use super::torrent::table::Torrents;
use crate::extensions::{FetchEvent, UT_METADATA};
use crate::lsd::Lsd;
use crate::metainfo::Metainfo;
use crate::rng::Rng;
use crate::storage::ResumeData;
use crate::wire::hashes::HashRequest;
use crate::wire::{ExtendedHandshake, PieceGeometry};

/// The metadata part with what it borrows from the session for one step.
pub(crate) struct MetaCx<'a> {
    /// The connections (hash requests and answers, the fetch's messages).
    pub(crate) peers: &'a mut Peers,
    /// The torrents (their fetchers, layer fetches, leaf checks and metadata).
    pub(crate) torrents: &'a mut Torrents,
    /// The piece pipeline (the start check, block digests).
    pub(crate) jobs: &'a mut Jobs,
    /// The session's configuration.
    pub(crate) config: &'a SessionConfig,
    /// The session's randomness (a torrent's picker seed).
    pub(crate) rng: &'a mut Rng,
    /// Where actions and events go.
    pub(crate) out: &'a mut Outputs,
    /// Local discovery (a private torrent leaves it).
    pub(crate) lsd: Option<&'a mut Lsd>,
    /// What the session does after this step.
    pub(crate) then: &'a mut FollowUps,
}

/// A step of the metadata part that waits for the follow-ups queued before it.
#[derive(Debug)]
pub(crate) enum MetaStep {
    /// Send a torrent's layer requests (see [`MetaCx::pump_layers`]).
    PumpLayers(TorrentId),
    /// Ask for a torrent's failed pieces' leaves (see [`MetaCx::pump_leaf_checks`]).
    PumpLeafChecks(TorrentId),
    /// Send a fetcher's requests and act on its events (see [`MetaCx::pump_fetcher`]).
    PumpFetcher(TorrentId),
    /// Act on a fetcher's event, then go on pumping it.
    Fetched(TorrentId, Option<FetchEvent<ConnId>>),
    /// A peer refused a layer request of the torrent's.
    LayersRejected(TorrentId, ConnId, HashRequest),
    /// A connection closed: its layer runs go to others.
    LayersGone(TorrentId, ConnId),
    /// Leaf requests that could not be sent count as refused; asking goes on.
    LeavesUnsent(TorrentId, Vec<(ConnId, HashRequest)>),
    /// A torrent's layer requests past their deadline, then its leaf requests'.
    LayersDue(TorrentId),
    /// A torrent's leaf requests past their deadline.
    LeavesDue(TorrentId),
    /// A fetcher's deadline passed.
    FetcherDue(TorrentId),
    /// A connection learns the metadata's geometry (and size), then joins the picker.
    Geometry(ConnId, PieceGeometry, Option<u64>),
    /// A private torrent's metadata: no DHT, no local discovery.
    Private(TorrentId),
}

impl MetaCx<'_> {
    /// Takes up a step queued after follow-ups.
    pub(crate) fn resume(&mut self, now: Instant, step: MetaStep) {
        match step {
            MetaStep::PumpLayers(id) => self.pump_layers(now, id),
            MetaStep::PumpLeafChecks(id) => self.pump_leaf_checks(now, id),
            MetaStep::PumpFetcher(id) => self.pump_fetcher(now, id),
            MetaStep::Fetched(id, event) => {
                if self.fetched(now, id, event) {
                    self.next(now, MetaStep::PumpFetcher(id));
                }
            }
            MetaStep::LayersRejected(id, conn, request) => {
                if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
                    fetch.rejected(conn, &request);
                    self.pump_layers(now, id);
                }
            }
            MetaStep::LayersGone(id, conn) => {
                if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
                    fetch.peer_gone(conn);
                    self.pump_layers(now, id);
                }
            }
            MetaStep::LeavesUnsent(id, unsent) => {
                let Some(t) = self.torrents.get_mut(&id) else {
                    return;
                };
                if let Some(parts) = t.peering.get_mut() {
                    for (conn, request) in unsent {
                        parts.leaf_checks.rejected(conn, &request);
                    }
                }
                self.pump_leaf_checks(now, id);
            }
            MetaStep::LayersDue(id) => {
                let late = self
                    .torrents
                    .get(&id)
                    .and_then(|t| t.layers.as_deref())
                    .and_then(LayerFetch::poll_timeout)
                    .is_some_and(|at| at <= now);
                if late {
                    if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
                        f.handle_timeout(now);
                    }
                    self.pump_layers(now, id);
                }
                self.next(now, MetaStep::LeavesDue(id));
            }
            MetaStep::LeavesDue(id) => {
                let late = self
                    .torrents
                    .get(&id)
                    .and_then(|t| t.peering.get()?.leaf_checks.poll_timeout())
                    .is_some_and(|at| at <= now);
                if late {
                    if let Some(parts) =
                        self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut())
                    {
                        parts.leaf_checks.handle_timeout(now);
                    }
                    self.pump_leaf_checks(now, id);
                }
            }
            MetaStep::FetcherDue(id) => {
                if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
                    f.handle_timeout(now);
                }
                self.pump_fetcher(now, id);
            }
            MetaStep::Geometry(conn, geometry, size) => {
                if let Some(p) = self.peers.get_mut(conn) {
                    let _ = p.conn.set_geometry(now, geometry);
                    if let Some(size) = size {
                        let _ = p.conn.set_metadata_size(now, size);
                    }
                }
                self.then.push(FollowUp::Register(conn));
                self.then.drive(conn);
            }
            MetaStep::Private(id) => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.next_dht = None;
                    local::leave(self.lsd.as_deref_mut(), t);
                }
            }
        }
    }

    /// Takes `step` now if nothing waits before it, else queues it after what does.
    pub(crate) fn next(&mut self, now: Instant, step: MetaStep) {
        if self.then.is_empty() {
            self.resume(now, step);
        } else {
            self.then.meta(step);
        }
    }

    /// Starts fetching the piece layers `meta` lacks (it is the torrent's, checked), or
    /// adopts it at once if it lacks none.
    /// Layers in its resume data are proved against their roots first and used; those that
    /// do not prove are dropped (an [`SessionError::ResumeLayers`] event) and fetched.
    pub(crate) fn fetch_layers(&mut self, now: Instant, id: TorrentId, mut meta: Metainfo) {
        let saved = self
            .torrents
            .get_mut(&id)
            .map(|t| {
                t.layers_learned = true;
                t.resume.as_deref()
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
        t.layers = Some(Box::new(fetch));
        self.pump_layers(now, id);
    }

    /// Sends a torrent's layer requests to its established peers; adopts the metadata once
    /// every layer is in.
    pub(crate) fn pump_layers(&mut self, now: Instant, id: TorrentId) {
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
            self.then.drive(conn);
        }
    }

    /// A connection closed: the layer runs and failed pieces it was asked for go to others.
    pub(crate) fn layers_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(parts) = self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut())
            && !parts.leaf_checks.is_empty()
        {
            parts.leaf_checks.peer_gone(conn);
            self.pump_leaf_checks(now, id);
        }
        self.next(now, MetaStep::LayersGone(id, conn));
    }

    /// Creates the metadata-dependent state (see
    /// [`Torrent::init_data`](super::torrent::Torrent)) and starts the check: storage, then
    /// stamps.
    pub(crate) fn init_data(&mut self, id: TorrentId, meta: Arc<Metainfo>) {
        let (torrents, jobs) = (&mut *self.torrents, &mut *self.jobs);
        init_data(id, meta, self.rng, torrents, jobs, self.config, self.out);
    }

    /// A magnet torrent's metadata (see [`Session::set_metadata`](super::Session)): its
    /// check starts, and its connections learn the geometry (and may fetch the metadata from
    /// us).
    pub(crate) fn set_metadata(
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
    fn adopt_metadata(&mut self, now: Instant, id: TorrentId, meta: Arc<Metainfo>) {
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
            .and_then(|t| t.metadata_server().metadata_size());
        for conn in self.peers.ids_of(id) {
            self.next(now, MetaStep::Geometry(conn, geometry, size));
        }
        if meta.is_private() {
            self.next(now, MetaStep::Private(id));
        }
    }

    /// A peer's extended handshake, for a magnet torrent's metadata fetch.
    pub(crate) fn metadata_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        if let Some(id) = metadata::handshake(now, conn, h, self.peers, self.torrents) {
            self.pump_fetcher(now, id);
        }
    }

    /// A ut_metadata message (see [`metadata::message`]).
    pub(crate) fn metadata_message(&mut self, now: Instant, conn: ConnId, payload: &Bytes) {
        match metadata::message(now, conn, payload, self.peers, self.torrents) {
            Handled::Nothing => {}
            Handled::Close(reason) => self.then.close(conn, reason),
            Handled::Answered => self.then.drive(conn),
            Handled::Fetch(id) => self.pump_fetcher(now, id),
        }
    }

    /// A connection of a magnet torrent closed: its pending requests go elsewhere.
    pub(crate) fn metadata_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(fetcher) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
            fetcher.remove_peer(now, conn);
            self.pump_fetcher(now, id);
        }
    }

    /// Fires the fetchers', the layer fetches' and the leaf checks' deadlines due at `now`
    /// among the torrents `due`.
    pub(crate) fn metadata_timeout(&mut self, now: Instant, due: &[TorrentId]) {
        for id in metadata::due(now, due, self.torrents) {
            self.next(now, MetaStep::FetcherDue(id));
        }
        for &id in due {
            self.next(now, MetaStep::LayersDue(id));
        }
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
                self.then.drive(conn);
            }
            if !self.then.is_empty() {
                return self.then.meta(MetaStep::Fetched(id, event));
            }
            if !self.fetched(now, id, event) {
                return;
            }
            if !self.then.is_empty() {
                return self.then.meta(MetaStep::PumpFetcher(id));
            }
        }
    }

    /// Acts on a fetcher's event; returns whether the fetcher is to be pumped again.
    fn fetched(&mut self, now: Instant, id: TorrentId, event: Option<FetchEvent<ConnId>>) -> bool {
        match event {
            None => false,
            Some(FetchEvent::DropPeer { peer, fault }) => {
                let (torrents, out) = (&mut *self.torrents, &mut *self.out);
                let reason = metadata::ban_source(id, peer, fault, self.peers, torrents, out);
                self.then.close(peer, reason);
                true
            }
            Some(FetchEvent::Complete(info)) => {
                if let Some(meta) = metadata::complete(id, &info, self.torrents, self.out)
                    && let Err(e) = self.set_metadata(now, id, Arc::new(meta))
                {
                    self.out.event(Event::Error {
                        torrent: Some(id),
                        error: SessionError::Metadata(e),
                    });
                }
                true
            }
        }
    }
}

/// Creates a torrent's metadata-dependent state (see
/// [`Torrent::init_data`](super::torrent::Torrent)) and starts its check: storage, then
/// stamps.
pub(crate) fn init_data(
    id: TorrentId,
    meta: Arc<Metainfo>,
    rng: &mut Rng,
    torrents: &mut Torrents,
    jobs: &mut Jobs,
    config: &SessionConfig,
    out: &mut Outputs,
) {
    let seed = rng.next_u64();
    let Some(t) = torrents.get_mut(&id) else {
        return;
    };
    let open = t.init_data(id, meta, seed, config);
    out.action(open);
    jobs.issue(id, Job::Stamps(StampsFor::Start), torrents, out);
}
