//! The session's public interface beside the run loop (`mod.rs`): the application's commands
//! (adding torrents, their metadata and peers; stopping, starting, checking, announcing and
//! removing a torrent; the shutdown), what it asks of the session (a torrent's statistics and
//! snapshot, the torrents, queues, the DHT's figures, the footprint) and what it changes
//! while the session runs, each handed to the part that owns it and followed by the work
//! after every input: a torrent's file priorities, sequential mode, piece deadlines,
//! first-and-last pieces, limits, web seeds and trackers; the session's rate and connection
//! limits, DHT, peer exchange, local discovery, listening address and gateway.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::budget::{DhtAnnounceStats, StopAnnounceStats};
use super::config::{AddTorrentError, TorrentOptions, TorrentSource};
use super::control::ControlError;
use super::edit::{ChangeError, TorrentLimits, TrackerEdit, TrackerInfo};
use super::event::TorrentStats;
use super::footprint::Footprint;
use super::io::TorrentId;
use super::loop_work::LoopWork;
use super::metadata::MetadataError;
use super::pipeline::Job;
use super::snapshot::{SnapshotDetail, TorrentSnapshot};
use super::torrent::candidates::Source;
use super::torrent::life::NewPriorities;
use super::webseeds::{self, WebSeedInfo};
use super::{Priority, Session, local, portmap};
use crate::id::PeerId;
use crate::lsd::LsdConfig;
use crate::magnet::PeerAddress;
use crate::metainfo::Metainfo;
use crate::webseed::WebSeedProtocol;

impl Session {
    /// Adds a torrent from a .torrent or a magnet link. For a metainfo torrent this emits
    /// [`Action::OpenStorage`](super::Action::OpenStorage) and a `Stamps` disk job; the stamps
    /// decide what the resume data (in `options`) lets us trust and which pieces to check with
    /// `Check` jobs. Once checked, the torrent announces and dials.
    pub fn add_torrent(
        &mut self,
        now: Instant,
        source: TorrentSource,
        options: TorrentOptions,
    ) -> Result<TorrentId, AddTorrentError> {
        let id = self.add_torrent_inner(now, source, options)?;
        self.after(now);
        Ok(id)
    }

    /// Adds several torrents as [`Session::add_torrent`] does, one answer each in order, with
    /// the work that follows an input done once for all of them (a daemon restoring thousands
    /// of torrents adds them in batches).
    pub fn add_torrents(
        &mut self,
        now: Instant,
        torrents: impl IntoIterator<Item = (TorrentSource, TorrentOptions)>,
    ) -> Vec<Result<TorrentId, AddTorrentError>> {
        self.step(now, |s| {
            // Every torrent of the batch is listed before any builds its `Data`, so what each
            // keeps for good is allocated together, apart from what its release gives back
            // (see the session README, "The released torrent").
            let listed: Vec<_> = torrents
                .into_iter()
                .map(|(source, options)| (s.list_torrent(now, &source, options), source))
                .collect();
            listed
                .into_iter()
                .map(|(listed, source)| {
                    let (id, saved_complete) = listed?;
                    s.begin_torrent(now, id, source, saved_complete);
                    Ok(id)
                })
                .collect()
        })
    }

    /// Gives a metadata-less (magnet) torrent its metadata, fetched by the application or by
    /// the `ut_metadata` extension: it becomes a full torrent with the same connections.
    pub fn set_metadata(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        meta: Arc<Metainfo>,
    ) -> Result<(), MetadataError> {
        self.meta(now, |cx| cx.set_metadata(now, torrent, meta))?;
        self.after(now);
        Ok(())
    }

    /// Adds addresses to a torrent's candidates (dialled as limits allow).
    pub fn add_peers(&mut self, now: Instant, torrent: TorrentId, peers: &[SocketAddr]) {
        self.step(now, |s| s.add_candidates(torrent, peers, Source::User));
    }

    /// Stops a torrent gracefully: `stopped` to its trackers (bounded wait), flush, save resume
    /// data, close its connections; then [`Event::TorrentStopped`](super::Event::TorrentStopped).
    /// The torrent stays in the session, its verified pieces known; [`Session::start_torrent`]
    /// starts it again.
    pub fn stop_torrent(&mut self, now: Instant, torrent: TorrentId) {
        self.step(now, |s| s.life(now, |cx| cx.stop(now, torrent)));
    }

    /// Starts a stopped torrent again from the pieces it verified (no check): it reopens its
    /// storage ([`Action::OpenStorage`](super::Action::OpenStorage); its handles were closed at
    /// [`Event::TorrentStopped`](super::Event::TorrentStopped)), announces and dials. Asked while
    /// it stops, it starts once stopped (no `TorrentStopped`); asked while a held check runs (added
    /// [`stopped`](TorrentOptions::stopped)), it runs after the check. A running torrent is left as
    /// it is.
    pub fn start_torrent(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.life(now, |cx| cx.start(now, torrent)))
    }

    /// Checks a torrent's data again: every piece of the files that exist is hashed
    /// ([`TorrentPhase::Checking`](super::TorrentPhase::Checking), `pieces_checked` in its stats),
    /// from an empty piece set, so a piece that fails is downloaded again. A running torrent stops,
    /// checks and runs on; a stopped one checks and stays stopped.
    pub fn recheck_torrent(
        &mut self,
        now: Instant,
        torrent: TorrentId,
    ) -> Result<(), ControlError> {
        self.step(now, |s| s.life(now, |cx| cx.recheck(now, torrent)))
    }

    /// Announces a running torrent to its trackers now, outside the schedule, but never
    /// before the last answer's minimum interval (floored by
    /// [`AnnouncerConfig`](crate::tracker::AnnouncerConfig)), so it cannot flood a tracker.
    pub fn reannounce(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.life(now, |cx| cx.reannounce(now, torrent)))
    }

    /// Removes a torrent from the session: it stops (`stopped` announced, connections closed)
    /// without saving resume data, waits for its disk jobs, then
    /// [`Event::TorrentStopped`](super::Event::TorrentStopped) and
    /// [`Event::TorrentRemoved`](super::Event::TorrentRemoved) follow and its id is gone. Its files
    /// are untouched: a runtime deletes them (and the resume data) if asked.
    pub fn remove_torrent(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.life(now, |cx| cx.remove(now, torrent)))
    }

    /// Stops every torrent as [`Session::stop_torrent`] does, saves the DHT state, then emits
    /// [`Event::ShutdownComplete`](super::Event::ShutdownComplete) (at the latest after
    /// `shutdown_timeout`).
    pub fn shutdown(&mut self, now: Instant) {
        self.step(now, |s| s.life(now, |cx| cx.begin_shutdown(now)));
    }

    /// What the session holds now that a flood could grow (connections, buffered bytes,
    /// penalized addresses, candidates, queued outputs, the DHT's tables), each bounded by a
    /// limit of its configuration.
    pub fn footprint(&self) -> Footprint {
        Footprint::of(
            &self.peers,
            &self.torrents,
            &self.out,
            &self.jobs,
            &self.streams,
            self.dht.as_ref(),
        )
    }

    /// Our peer id (drawn from the seed).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// A torrent's statistics, for a progress bar (`None`: no such torrent).
    pub fn torrent_stats(&self, torrent: TorrentId) -> Option<TorrentStats> {
        let t = self.torrents.get(&torrent)?;
        Some(t.stats(torrent, &self.peers, None, &self.config))
    }

    /// A torrent's statistics with rates measured at `now` (rates decay while idle).
    pub fn torrent_stats_at(&self, now: Instant, torrent: TorrentId) -> Option<TorrentStats> {
        let t = self.torrents.get(&torrent)?;
        Some(t.stats(torrent, &self.peers, Some(now), &self.config))
    }

    /// What a front end shows of a torrent at `now`: its statistics, error and counts, and
    /// the parts `detail` asks for (pieces, per-file bytes, peers, trackers). Built from the
    /// session's state on each call (`None`: no such torrent).
    pub fn torrent_snapshot(
        &self,
        now: Instant,
        torrent: TorrentId,
        detail: SnapshotDetail,
    ) -> Option<TorrentSnapshot> {
        let t = self.torrents.get(&torrent)?;
        let stats = t.stats(torrent, &self.peers, Some(now), &self.config);
        let peers = (self.peers.open_of(torrent)).map(|(conn, p)| (p, self.streams.is_utp(conn)));
        let mut snapshot = t.snapshot(now, stats, peers, detail);
        snapshot.web_seeds = self.web.infos(now, torrent);
        Some(snapshot)
    }

    /// The torrents of the session, in id order.
    pub fn torrents(&self) -> Vec<TorrentId> {
        self.torrents.keys().copied().collect()
    }

    /// The tracker announce budget's queue: announces due that wait for their turn, and
    /// torrents with an announce in flight (see
    /// [`SessionConfig::announce_rate`](super::SessionConfig::announce_rate)).
    pub fn announce_queue(&self) -> (usize, usize) {
        let b = &self.trackers.budget;
        (b.waiting(), b.in_flight())
    }

    /// How the `stopped` announces went against the announce budget since the session
    /// started: sent, and dropped unsent at their stop deadline or the end of the shutdown.
    pub fn stop_announce_stats(&self) -> StopAnnounceStats {
        self.trackers.budget.stop_stats()
    }

    /// How much the session has looked at since it started (see [`LoopWork`]): the
    /// difference over an input is what that input cost.
    pub fn loop_work(&self) -> LoopWork {
        LoopWork::of(&self.torrents, &self.trackers.scrapes)
    }

    /// How the DHT's lookups went against `dht_lookup_rate` since the session started:
    /// started, and put off beyond their torrent's 30-minute window.
    pub fn dht_announce_stats(&self) -> DhtAnnounceStats {
        self.trackers.dht_slots.stats()
    }

    /// Nodes in the DHT's routing table (`None`: the DHT is off).
    pub fn dht_nodes(&self) -> Option<usize> {
        self.dht.as_ref().map(|d| d.routing_table().len())
    }

    /// The TCP port the session announces (0 until known).
    pub fn local_listen_port(&self) -> u16 {
        self.config.listen_port
    }

    /// Sets a torrent's file priorities while it runs (one per file; missing entries are
    /// normal; [`Priority::Skip`] skips a file). The picker takes them at once: pieces only
    /// skipped files touch are no longer requested, pieces of a file wanted again are, and the
    /// torrent completes ([`Event::TorrentComplete`](super::Event::TorrentComplete)) when every wanted piece is verified. A
    /// magnet torrent keeps them until its metadata arrives.
    pub fn set_file_priorities(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        priorities: Vec<Priority>,
    ) -> Result<(), ChangeError> {
        self.change_file_priorities(now, torrent, priorities)?;
        self.after(now);
        Ok(())
    }

    /// Switches a torrent's sequential mode (pieces in index order, each priority in turn,
    /// instead of rarest first) while it runs; pieces already started are finished first.
    pub fn set_sequential(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        sequential: bool,
    ) -> Result<(), ChangeError> {
        self.torrents.known_mut(torrent)?.set_sequential(sequential);
        self.fill_all(now, torrent);
        self.after(now);
        Ok(())
    }

    /// Sets a reader's time-critical pieces of a torrent (streaming), replacing those the
    /// reader set before; an empty list clears them. They are requested before every other
    /// piece, earliest deadline first, as libtorrent's `set_piece_deadline` does; pieces had or
    /// skipped are passed over. `reader` is any number the caller picks per reader (a stream
    /// being served), so that readers sharing a piece do not clear each other's. Bounds:
    /// [`MAX_DEADLINES_PER_READER`](crate::session::MAX_DEADLINES_PER_READER) pieces per reader
    /// (the earliest kept), [`MAX_DEADLINE_READERS`](crate::session::MAX_DEADLINE_READERS)
    /// readers per torrent. Watch [`Event::PieceVerified`](super::Event::PieceVerified) for the pieces arriving.
    pub fn set_piece_deadlines(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        reader: u64,
        pieces: &[(u32, Instant)],
    ) -> Result<(), ChangeError> {
        let t = self.torrents.known_mut(torrent)?;
        t.set_piece_deadlines(torrent, reader, pieces)?;
        if !pieces.is_empty() {
            self.fill_all(now, torrent);
        }
        self.after(now);
        Ok(())
    }

    /// Switches a torrent's first-and-last-pieces option
    /// ([`TorrentOptions::first_last_pieces`](super::TorrentOptions::first_last_pieces)) while it runs.
    pub fn set_first_last_pieces(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        on: bool,
    ) -> Result<(), ChangeError> {
        let priorities = self.torrents.known_mut(torrent)?.set_first_last_pieces(on);
        self.set_file_priorities(now, torrent, priorities)
    }

    /// Changes the session's download and upload limits (bytes per second; `None`:
    /// unlimited), from `now` on.
    pub fn set_rate_limits(&mut self, now: Instant, download: Option<u64>, upload: Option<u64>) {
        self.config.download_rate_limit = download;
        self.config.upload_rate_limit = upload;
        self.down_limit.set_rate(now, download);
        self.up_limit.set_rate(now, upload);
        for id in self.torrents() {
            self.resume_transfers(now, id);
        }
        self.after(now);
    }

    /// Sets a torrent's own rate limits, whether the session's apply to it too, and its
    /// connection limit (new connections only: those open stay).
    pub fn set_torrent_limits(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        limits: TorrentLimits,
    ) -> Result<(), ChangeError> {
        self.torrents.known_mut(torrent)?.set_limits(now, limits);
        self.resume_transfers(now, torrent);
        self.after(now);
        Ok(())
    }

    /// A torrent's limits (`None`: no such torrent).
    pub fn torrent_limits(&self, torrent: TorrentId) -> Option<TorrentLimits> {
        self.torrents.get(&torrent).map(|t| t.limits())
    }

    /// A torrent's trackers with their ids, in tier order (`None`: no such torrent).
    pub fn torrent_trackers(&self, torrent: TorrentId) -> Option<Vec<TrackerInfo>> {
        self.torrents.get(&torrent).map(|t| t.tracker_list.infos())
    }

    /// A torrent's web seeds (BEP 19 and BEP 17) with what each delivered (`None`: no such
    /// torrent).
    pub fn web_seeds(&self, torrent: TorrentId) -> Option<Vec<WebSeedInfo>> {
        self.torrents.get(&torrent)?;
        Some(self.web.infos(self.now, torrent))
    }

    /// Adds a web seed (an `http`/`https` URL, BEP 19) to a torrent; a running torrent with
    /// metadata uses it at once. Returns whether it was added (`false`: it had it already).
    pub fn add_web_seed(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        url: &str,
    ) -> Result<bool, ChangeError> {
        self.add_web_source(now, torrent, url, WebSeedProtocol::UrlList)
    }

    /// Adds a BEP 17 HTTP seed (an `http`/`https` URL answering `?info_hash=&piece=&ranges=`)
    /// to a torrent, as a .torrent's `httpseeds` does. Returns whether it was added (`false`:
    /// it had this URL already, as either kind of web seed).
    pub fn add_http_seed(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        url: &str,
    ) -> Result<bool, ChangeError> {
        self.add_web_source(now, torrent, url, WebSeedProtocol::HttpSeed)
    }

    /// A web seed of either kind added to a torrent (checked URL); the work after an input.
    fn add_web_source(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        url: &str,
        protocol: WebSeedProtocol,
    ) -> Result<bool, ChangeError> {
        self.torrents.known(torrent)?;
        if !webseeds::usable_url(url) {
            return Err(ChangeError::WebSeedUrl(url.to_string()));
        }
        let added = self
            .web
            .add(now, torrent, url, protocol, || self.peers.alloc_key());
        self.after(now);
        Ok(added)
    }

    /// Removes a web seed from a torrent; its requests in flight are abandoned. Returns
    /// whether it had it.
    pub fn remove_web_seed(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        url: &str,
    ) -> Result<bool, ChangeError> {
        self.torrents.known(torrent)?;
        let removed = self.web.remove(torrent, url, &mut self.torrents);
        self.after(now);
        Ok(removed)
    }

    /// Edits a torrent's trackers; a running torrent announces to the new list at once.
    pub fn edit_trackers(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        edit: TrackerEdit,
    ) -> Result<(), ChangeError> {
        self.life(now, |cx| cx.edit_trackers(now, torrent, &edit))?;
        self.after(now);
        Ok(())
    }

    /// Changes the connection limits: overall, and per torrent (for torrents without their
    /// own, see [`TorrentLimits::max_connections`]). They bound new connections; those open
    /// stay.
    pub fn set_peer_limits(&mut self, now: Instant, max_connections: usize, per_torrent: usize) {
        self.config.max_connections = max_connections;
        self.config.max_connections_per_torrent = per_torrent;
        self.after(now);
    }

    /// Starts or stops the DHT node (its state is saved when it stops). Public torrents look
    /// peers up on it while it runs.
    pub fn set_dht(&mut self, now: Instant, on: bool) {
        self.step(now, |s| {
            s.config.dht = on;
            s.dht_cx().switch(now, on);
        });
    }

    /// Turns peer exchange (BEP 11) on or off for every public torrent: while off, no
    /// `ut_pex` message is sent or read.
    pub fn set_pex(&mut self, now: Instant, on: bool) {
        self.config.pex = on;
        self.after(now);
    }

    /// Turns local service discovery (BEP 14) on with `config`, or off with `None`: on, every
    /// running public torrent is announced (the runtime opens the discovery sockets first).
    pub fn set_local_discovery(&mut self, now: Instant, config: Option<LsdConfig>) {
        self.config.local_discovery = config;
        let (torrents, ip) = (&self.torrents, self.listen_ip);
        local::switch(
            &mut self.lsd,
            &self.config,
            now,
            &mut self.rng,
            ip,
            torrents,
        );
        self.after(now);
    }

    /// The runtime bound its TCP listener to `addr`: its port is announced to trackers and
    /// the DHT, and dialling it (our own address) is avoided.
    pub fn set_listen_addr(&mut self, addr: SocketAddr) {
        self.config.listen_port = addr.port();
        self.listen_ip = Some(addr.ip());
        let mut wire = (*self.wire).clone();
        wire.listen_port = Some(addr.port());
        self.wire = Arc::new(wire);
        if let Some(lsd) = self.lsd.as_mut() {
            lsd.set_listen(crate::lsd::groups_for(addr.ip()), addr.port());
        }
    }

    /// The runtime found the gateway at `gateway`, reached from our address `local`: with
    /// [`SessionConfig::port_mapping`](super::SessionConfig::port_mapping) on, the TCP listen port and the UDP socket's
    /// `udp_port` are mapped on it (renewed, removed at shutdown; see [`crate::portmap`]).
    /// The gateway's answers arrive on the UDP socket ([`Session::handle_datagram`]).
    pub fn set_gateway(&mut self, now: Instant, gateway: Ipv4Addr, local: Ipv4Addr, udp_port: u16) {
        self.portmap =
            portmap::Gateway::start(&self.config, now, gateway, local, udp_port, &mut self.rng);
        self.after(now);
    }

    /// Adds a torrent (see [`Session::add_torrent`]): its metadata's check starts, or a
    /// magnet joins its swarm (or stops at once, if added stopped).
    fn add_torrent_inner(
        &mut self,
        now: Instant,
        source: TorrentSource,
        options: TorrentOptions,
    ) -> Result<TorrentId, AddTorrentError> {
        let (id, saved_complete) = self.list_torrent(now, &source, options)?;
        self.begin_torrent(now, id, source, saved_complete);
        Ok(id)
    }

    /// The first half of an add: the torrent listed, with its candidates and web seeds.
    /// Returns its id and whether it starts released (see [`TorrentOptions::saved_complete`]).
    fn list_torrent(
        &mut self,
        now: Instant,
        source: &TorrentSource,
        options: TorrentOptions,
    ) -> Result<(TorrentId, bool), AddTorrentError> {
        if self.shutting_down {
            return Err(AddTorrentError::ShuttingDown);
        }
        let saved_complete = options.saved_complete;
        let (config, rng, out) = (&self.config, &mut self.rng, &mut self.out);
        let id = self.torrents.add(now, source, options, config, rng, out)?;
        let t = &self.torrents[&id];
        let o = &t.options;
        let saved_complete = saved_complete
            && !t.hold
            && !o.seed_only
            && !o.choose_files
            && o.file_priorities.is_empty()
            && o.release_idle_after.is_some();
        let peers = self.torrents[&id].options.peers.clone();
        self.add_candidates(id, &peers, Source::User);
        let (url_list, http_seeds) = match source {
            TorrentSource::Metainfo(meta) => (meta.url_list().to_vec(), meta.http_seeds().to_vec()),
            TorrentSource::Magnet(m) => (m.web_seeds.clone(), Vec::new()),
        };
        let seeds = (url_list.iter().map(|u| (u, WebSeedProtocol::UrlList)))
            .chain(http_seeds.iter().map(|u| (u, WebSeedProtocol::HttpSeed)));
        for (url, protocol) in seeds {
            self.web
                .add(now, id, url, protocol, || self.peers.alloc_key());
        }
        Ok((id, saved_complete))
    }

    /// The second half of an add (see [`Session::list_torrent`]): a metainfo torrent builds
    /// its `Data` and starts its check (or starts released), a magnet joins its swarm.
    fn begin_torrent(
        &mut self,
        now: Instant,
        id: TorrentId,
        source: TorrentSource,
        saved_complete: bool,
    ) {
        match source {
            TorrentSource::Metainfo(meta) if saved_complete && !meta.needs_piece_layers() => {
                self.add_saved(now, id, &meta);
            }
            TorrentSource::Metainfo(meta) if !meta.needs_piece_layers() => {
                self.meta(now, |cx| cx.init_data(id, meta));
            }
            TorrentSource::Metainfo(meta) => {
                // A v2 torrent without its piece layers: they are fetched from peers first.
                self.meta(now, |cx| cx.fetch_layers(now, id, (*meta).clone()));
                if self.torrents[&id].hold {
                    self.torrents.stop_held(id, &mut self.out);
                } else {
                    self.life(now, |cx| cx.start_swarm(now, id));
                }
            }
            TorrentSource::Magnet(m) => {
                for p in &m.peers {
                    match p {
                        PeerAddress::Ip(addr) => self.add_candidates(id, &[*addr], Source::User),
                        PeerAddress::Host(host, port) => {
                            let (host, port) = (host.clone(), *port);
                            self.trackers
                                .resolve_peer_host(id, host, port, &mut self.out);
                        }
                    }
                }
                if self.torrents[&id].hold {
                    self.torrents.stop_held(id, &mut self.out);
                } else {
                    self.life(now, |cx| cx.start_swarm(now, id));
                }
            }
        }
    }

    /// Sets a torrent's file priorities (see [`Session::set_file_priorities`]).
    fn change_file_priorities(
        &mut self,
        now: Instant,
        id: TorrentId,
        priorities: Vec<Priority>,
    ) -> Result<(), ChangeError> {
        match self
            .torrents
            .known_mut(id)?
            .set_file_priorities(priorities)?
        {
            None => return Ok(()),
            Some(NewPriorities::Finished { create }) => {
                if !create.is_empty() {
                    let job = Job::Create { files: create };
                    self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
                }
                self.torrent_finished(now, id);
            }
            Some(NewPriorities::Wanted { create }) => {
                if !create.is_empty() {
                    let job = Job::Create { files: create };
                    self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
                }
            }
        }
        for conn in self.peers.ids_of(id) {
            self.update_interest(now, conn);
        }
        self.fill_all(now, id);
        Ok(())
    }
}
