//! The session: the public Sans-IO hub that owns torrents, connections, trackers and the DHT.
//!
//! # Run loop
//! A runtime (smol, tokio, a custom event loop, the simulator) owns one [`Session`] by `&mut`
//! and moves bytes and time, as the [crate docs](crate) show with a whole loop: for each input
//! (bytes, an accepted socket, a connect result, a disk job completion, an HTTP response, a
//! DNS answer, a datagram, the timer, an application command) it calls the matching method
//! with `now`, drains [`Session::poll_transmit`], [`Session::poll_action`] and
//! [`Session::poll_event`] until each returns `None` (performing transmits and actions in the
//! order polled), and arms the timer at [`Session::poll_timeout`] (an early or extra
//! [`Session::handle_timeout`] is harmless).
//!
//! With [`SessionConfig::send_accounting`] on, the runtime also reports what each socket
//! took ([`Session::handle_peer_sent`]), which bounds the bytes waiting to be written. The
//! session does no I/O and takes randomness only from the seed given to [`Session::new`]; it
//! allocates every id ([`ConnId`], [`JobId`], [`RequestId`], [`TorrentId`]).
//!
//! # Parts
//! Each input is handed to the part that owns it (the connection table, the download and
//! upload sides, the piece pipeline, the torrent table, the trackers, the DHT, web seeds,
//! ...); the parts, and the three glue files that route what crosses them, are described in
//! `README.md` beside this file.

mod after;
mod announce;
mod budget;
mod check;
mod choke;
mod completion;
mod config;
mod conn_glue;
mod connect;
mod control;
mod disk;
mod download;
mod edit;
mod error;
mod event;
mod evict;
mod glue;
mod handshake;
mod hash_glue;
mod hashes;
mod io;
mod layers;
mod local;
mod metadata;
mod outputs;
mod peers;
mod penalty;
mod pex;
mod pipeline;
mod portmap;
mod rate;
mod receive_flow;
mod scrape;
mod smart_ban;
mod snapshot;
mod stats;
mod streams;
pub(crate) mod testing;
mod timers;
mod torrent;
mod torrent_error;
mod torrent_glue;
mod trackers;
mod udp;
mod upload;
mod utp_hints;
mod webseeds;

#[cfg(test)]
mod local_tests;
#[cfg(test)]
mod portmap_tests;
#[cfg(test)]
mod v2_add_tests;
#[cfg(test)]
mod v2_stats_tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use torrent::table::Torrents;

pub use crate::choker::ChokerConfig;
pub use crate::extensions::MetadataFault;
pub use crate::picker::{
    MAX_DEADLINE_READERS, MAX_DEADLINES_PER_READER, PickerConfig, PickerError, Priority,
};
pub use config::{
    AddTorrentError, OutgoingEncryption, SessionConfig, TorrentOptions, TorrentSource, Transport,
};
pub use control::ControlError;
pub use edit::{ChangeError, TorrentLimits, TrackerEdit, TrackerInfo};
pub use error::SessionError;
pub use event::{Event, ExtensionError, PeerCloseReason, SwarmCounts, TorrentPhase, TorrentStats};
pub use io::{
    Action, Answer, CheckReply, Completion, ConnId, CreateReply, Dest, DigestsReply, DiskJob,
    DiskJobKind, FlushReply, JobId, ReadReply, RequestId, StampsReply, TorrentId, Transmit,
    VerifyReply, WriteReply,
};
pub use metadata::MetadataError;
pub use snapshot::{
    AnnounceResult, MAX_TRACKER_MESSAGE, PeerInfo, PeerSource, ScrapeStatus, SnapshotDetail,
    TorrentSnapshot, TrackerStatus,
};
pub use torrent_error::{TorrentError, TorrentErrorKind};
pub use webseeds::WebSeedInfo;

use crate::dht::Dht;
use crate::id::PeerId;
use crate::lsd::{Lsd, LsdConfig};
use crate::metainfo::Metainfo;
use crate::rng::Rng;
use crate::tracker::{TrackerError, http::HttpResponse};
use crate::webseed::WebSeedProtocol;
use crate::wire;
use outputs::Outputs;
use peers::Peers;
use pipeline::Jobs;
use rate::TokenBucket;
use timers::TimerTable;
use torrent::candidates::Source;
use trackers::Trackers;

/// Mixed into the session's seed for its uTP socket (which keeps the session's own random
/// draws as they were without uTP).
const UTP_SEED: u64 = 0x7574_7020_6964_7321;

/// The BitTorrent session: several torrents, their peer connections, trackers and the DHT.
/// See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    wire: Arc<wire::Config>,
    peer_id: PeerId,
    rng: Rng,
    torrents: Torrents,
    peers: Peers,
    jobs: Jobs,
    trackers: Trackers,
    dht: Option<Dht>,
    /// The IP the runtime bound its listener to (to recognise our own address).
    listen_ip: Option<IpAddr>,
    down_limit: TokenBucket,
    up_limit: TokenBucket,
    /// `shutdown` was called.
    shutting_down: bool,
    /// `config.announce_ip` came from the gateway (port mapping), not from the user.
    announce_ip_learned: bool,
    shutdown_done: bool,
    /// The session's own timers (DHT save, shutdown deadline).
    timers: TimerTable,
    /// The latest `now` given to any call.
    now: Instant,
    /// Transmits, actions and events, until polled.
    out: Outputs,
    /// Every torrent's web seeds (BEP 19) and their requests in flight.
    web: webseeds::WebSeeds,
    /// Local service discovery (BEP 14), when configured.
    lsd: Option<Lsd>,
    /// Port mapping on the gateway, once the runtime named it.
    portmap: Option<portmap::Gateway>,
    /// The peer connections over uTP.
    streams: streams::Streams,
}

impl Session {
    /// A session with `config`, started at `now`; `seed` drives every random choice (peer id,
    /// tracker keys, piece order, optimistic unchokes, DHT ids).
    pub fn new(config: SessionConfig, now: Instant, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let peer_id = PeerId::generate(&mut rng);
        let mut session = Self {
            wire: Arc::new(config.wire(peer_id)),
            peer_id,
            torrents: Torrents::default(),
            peers: Peers::default(),
            jobs: Jobs::default(),
            trackers: Trackers::new(&config),
            dht: None,
            listen_ip: None,
            down_limit: TokenBucket::new(now, config.download_rate_limit),
            up_limit: TokenBucket::new(now, config.upload_rate_limit),
            shutting_down: false,
            announce_ip_learned: false,
            shutdown_done: false,
            timers: TimerTable::default(),
            now,
            out: Outputs::default(),
            web: webseeds::WebSeeds::default(),
            lsd: None,
            portmap: None,
            streams: streams::Streams::new(&config, now, seed ^ UTP_SEED),
            config,
            rng,
        };
        session.lsd = local::start(&session.config, now, &mut session.rng);
        session.dht = udp::start(&session.config, now, &mut session.rng, &mut session.timers);
        session.pump_dht();
        session
    }

    /// Our peer id (drawn from the seed).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Adds a torrent from a .torrent or a magnet link. For a metainfo torrent this emits
    /// [`Action::OpenStorage`] and a `Stamps` disk job; the stamps decide what the resume data
    /// (in `options`) lets us trust and which pieces to check with `Check` jobs. Once checked,
    /// the torrent announces and dials.
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

    /// Gives a metadata-less (magnet) torrent its metadata, fetched by the application or by
    /// the `ut_metadata` extension: it becomes a full torrent with the same connections.
    pub fn set_metadata(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        meta: Arc<Metainfo>,
    ) -> Result<(), MetadataError> {
        self.set_metadata_inner(now, torrent, meta)?;
        self.after(now);
        Ok(())
    }

    /// Adds addresses to a torrent's candidates (dialled as limits allow).
    pub fn add_peers(&mut self, now: Instant, torrent: TorrentId, peers: &[SocketAddr]) {
        self.step(now, |s| s.add_candidates(torrent, peers, Source::User));
    }

    /// Stops a torrent gracefully: `stopped` to its trackers (bounded wait), flush, save
    /// resume data, close its connections; then [`Event::TorrentStopped`]. The torrent stays
    /// in the session, its verified pieces known; [`Session::start_torrent`] starts it again.
    pub fn stop_torrent(&mut self, now: Instant, torrent: TorrentId) {
        self.step(now, |s| s.stop_inner(now, torrent));
    }

    /// Starts a stopped torrent again from the pieces it verified (no check): it reopens its
    /// storage ([`Action::OpenStorage`]; its handles were closed at [`Event::TorrentStopped`]),
    /// announces and dials. Asked while it stops, it starts once stopped (no
    /// `TorrentStopped`); asked while a held check runs (added
    /// [`stopped`](TorrentOptions::stopped)), it runs after the check. A running torrent is
    /// left as it is.
    pub fn start_torrent(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.start_inner(now, torrent))
    }

    /// Checks a torrent's data again: every piece of the files that exist is hashed
    /// ([`TorrentPhase::Checking`], `pieces_checked` in its stats), from an empty piece set,
    /// so a piece that fails is downloaded again. A running torrent stops, checks and runs
    /// on; a stopped one checks and stays stopped.
    pub fn recheck_torrent(
        &mut self,
        now: Instant,
        torrent: TorrentId,
    ) -> Result<(), ControlError> {
        self.step(now, |s| s.recheck_inner(now, torrent))
    }

    /// Announces a running torrent to its trackers now, outside the schedule, but never
    /// before the last answer's minimum interval (floored by
    /// [`AnnouncerConfig`](crate::tracker::AnnouncerConfig)), so it cannot flood a tracker.
    pub fn reannounce(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.reannounce_inner(now, torrent))
    }

    /// Removes a torrent from the session: it stops (`stopped` announced, connections
    /// closed) without saving resume data, waits for its disk jobs, then
    /// [`Event::TorrentStopped`] and [`Event::TorrentRemoved`] follow and its id is gone. Its
    /// files are untouched: a runtime deletes them (and the resume data) if asked.
    pub fn remove_torrent(&mut self, now: Instant, torrent: TorrentId) -> Result<(), ControlError> {
        self.step(now, |s| s.remove_inner(now, torrent))
    }

    /// Stops every torrent as [`Session::stop_torrent`] does, saves the DHT state, then emits
    /// [`Event::ShutdownComplete`] (at the latest after `shutdown_timeout`).
    pub fn shutdown(&mut self, now: Instant) {
        self.step(now, |s| s.begin_shutdown(now));
    }

    /// A socket was accepted from `remote`. `Some(id)`: feed its bytes with that id; `None`:
    /// refused (limits, shutdown), close the socket.
    pub fn handle_accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        self.step(now, |s| s.accept(now, remote))
    }

    /// The result of an [`Action::Connect`].
    pub fn handle_connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
    ) {
        self.step(now, |s| s.connected(now, conn, result));
    }

    /// Bytes read from a connection's socket. Owned, so blocks go on to the disk as slices of
    /// the runtime's read buffer, never copied: read into a `BytesMut` and hand over what was
    /// read with `split_to` (see [`Connection::handle_input_buf`](crate::wire::Connection)).
    pub fn handle_peer_data(&mut self, now: Instant, conn: ConnId, data: bytes::BytesMut) {
        self.step(now, |s| s.peer_data(now, conn, data));
    }

    /// The runtime wrote `bytes` of a connection's transmits to its socket (the kernel took
    /// them). Report after each successful write, in any grouping; only with
    /// [`SessionConfig::send_accounting`] on (otherwise it does nothing). This bounds what
    /// waits in the runtime's write queue: see [`SessionConfig::max_send_backlog`].
    pub fn handle_peer_sent(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        self.step(now, |s| s.peer_sent(now, conn, bytes));
    }

    /// A connection's socket reached end of stream or failed.
    pub fn handle_peer_closed(&mut self, now: Instant, conn: ConnId) {
        self.step(now, |s| s.socket_closed(now, conn));
    }

    /// A datagram on the session's UDP socket (DHT or UDP tracker).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.step(now, |s| s.datagram(now, from, data));
    }

    /// Datagrams the runtime received together on its UDP socket, taken in one step: a uTP
    /// connection answers a burst with one acknowledgement, and the session's other work runs
    /// once per burst rather than once per datagram.
    pub fn handle_datagrams<'a>(
        &mut self,
        now: Instant,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) {
        self.step(now, |s| {
            for (from, data) in datagrams {
                s.datagram(now, from, data);
            }
        });
    }

    /// A datagram on the runtime's local discovery socket (see [`crate::lsd`]).
    pub fn handle_local_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.step(now, |s| s.local_datagram(now, from, data));
    }

    /// The response to an [`Action::HttpRequest`].
    pub fn handle_http_response(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        self.step(now, |s| s.http_response(now, id, result));
    }

    /// The answer to an [`Action::Resolve`].
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        self.step(now, |s| s.resolved(now, id, result));
    }

    /// The result of an [`Action::Disk`] job.
    pub fn handle_completion(&mut self, now: Instant, done: Completion) {
        self.step(now, |s| s.completion(now, done));
    }

    /// The instant from [`Session::poll_timeout`] passed (or any time: extra calls do
    /// nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.step(now, |s| s.timeout(now));
    }

    /// The next bytes to send. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_transmit()
    }

    /// The next action for the runtime. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_action()
    }

    /// The next event for the application. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.pop_event()
    }

    /// When to call [`Session::handle_timeout`] next (`None`: nothing scheduled).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shutdown_done && self.peers.total() == 0 {
            return None;
        }
        let dht = self.dht.is_some();
        debug_assert!(self.torrents.filed_as_scanned(self.now, dht));
        [
            self.peers.next_deadline(),
            self.torrents.next_deadline(),
            self.timers.next_timeout(),
            self.trackers.next_deadline(),
            self.dht.as_ref().and_then(|d| d.poll_timeout()),
            self.down_limit.ready_at(),
            self.up_limit.ready_at(),
            self.web.next_deadline(self.now),
            self.lsd.as_ref().and_then(Lsd::poll_timeout),
            self.portmap
                .as_ref()
                .and_then(portmap::Gateway::poll_timeout),
            self.streams.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
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
    /// torrents with an announce in flight (see [`SessionConfig::announce_rate`]).
    pub fn announce_queue(&self) -> (usize, usize) {
        let b = &self.trackers.budget;
        (b.waiting(), b.in_flight())
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
    /// torrent completes ([`Event::TorrentComplete`]) when every wanted piece is verified. A
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
    /// readers per torrent. Watch [`Event::PieceVerified`] for the pieces arriving.
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
    /// ([`TorrentOptions::first_last_pieces`]) while it runs.
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
        self.torrents.get(&torrent).map(|t| t.limits)
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
        self.torrents.known(torrent)?;
        if !webseeds::usable_url(url) {
            return Err(ChangeError::WebSeedUrl(url.to_string()));
        }
        let added = self
            .web
            .add(now, torrent, url, WebSeedProtocol::UrlList, || {
                self.peers.alloc_key()
            });
        self.after(now);
        Ok(added)
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
        self.torrents.known(torrent)?;
        if !webseeds::usable_url(url) {
            return Err(ChangeError::WebSeedUrl(url.to_string()));
        }
        let added = self
            .web
            .add(now, torrent, url, WebSeedProtocol::HttpSeed, || {
                self.peers.alloc_key()
            });
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
        self.change_trackers(now, torrent, &edit)?;
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
        self.step(now, |s| s.switch_dht(now, on));
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
    /// [`SessionConfig::port_mapping`] on, the TCP listen port and the UDP socket's
    /// `udp_port` are mapped on it (renewed, removed at shutdown; see [`crate::portmap`]).
    /// The gateway's answers arrive on the UDP socket ([`Session::handle_datagram`]).
    pub fn set_gateway(&mut self, now: Instant, gateway: Ipv4Addr, local: Ipv4Addr, udp_port: u16) {
        self.portmap =
            portmap::Gateway::start(&self.config, now, gateway, local, udp_port, &mut self.rng);
        self.after(now);
    }
}
