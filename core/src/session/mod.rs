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
//! ...); the parts, and the glue files that route what crosses them, are described in
//! `README.md` beside this file.

mod announce;
mod api;
mod block_hashes;
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
mod followups;
mod footprint;
mod glue;
mod handshake;
mod hashes;
mod io;
mod layers;
mod lazy;
mod leaf_check;
mod lifecycle;
mod local;
mod loop_work;
mod meta;
mod meta_hashes;
mod metadata;
mod outputs;
mod peers;
mod penalty;
mod pex;
mod pipeline;
mod portmap;
mod rate;
mod receive_flow;
mod reload;
mod scrape;
mod smart_ban;
mod snapshot;
mod stats;
mod streams;
pub(crate) mod testing;
mod timers;
mod torrent;
mod torrent_error;
mod trackers;
mod udp;
mod upload;
mod utp_hints;
mod webseeds;

#[cfg(test)]
mod ban_tests;
#[cfg(test)]
mod block_hashes_tests;
#[cfg(test)]
mod local_tests;
#[cfg(test)]
mod portmap_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod v2_add_tests;
#[cfg(test)]
mod v2_stats_tests;
#[cfg(test)]
mod v2_wire_tests;
#[cfg(test)]
mod work_tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use torrent::table::Torrents;

pub use crate::choker::ChokerConfig;
pub use crate::extensions::MetadataFault;
pub use crate::picker::{
    MAX_DEADLINE_READERS, MAX_DEADLINES_PER_READER, PickerConfig, PickerError, Priority,
};
pub use budget::{DhtAnnounceStats, StopAnnounceStats};
pub use config::{
    AddTorrentError, OutgoingEncryption, SessionConfig, TorrentOptions, TorrentSource, Transport,
};
pub use control::ControlError;
pub use edit::{ChangeError, TorrentLimits, TrackerEdit, TrackerInfo};
pub use error::{LoadError, SessionError};
pub use event::{Event, ExtensionError, PeerCloseReason, SwarmCounts, TorrentPhase, TorrentStats};
pub use footprint::Footprint;
pub use io::{
    Action, Answer, CheckReply, Completion, ConnId, CreateReply, Dest, DigestsReply, DiskJob,
    DiskJobKind, FlushReply, JobId, ReadReply, RequestId, StampsReply, TorrentId, Transmit,
    VerifyReply, WriteReply,
};
pub use lazy::Untrusted;
pub use loop_work::LoopWork;
pub use metadata::MetadataError;
pub use snapshot::{
    AnnounceResult, MAX_TRACKER_MESSAGE, PeerInfo, PeerSource, ScrapeStatus, SnapshotDetail,
    TorrentSnapshot, TrackerStatus,
};
pub use torrent_error::{TorrentError, TorrentErrorKind};
pub use webseeds::WebSeedInfo;

use crate::dht::Dht;
use crate::id::PeerId;
use crate::lsd::Lsd;
use crate::metainfo::Metainfo;
use crate::rng::Rng;
use crate::tracker::{TrackerError, http::HttpResponse};
use crate::wire;
use announce::Us;
use connect::OwnAddr;
use download::Limits;
use followups::{FollowUp, FollowUps};
use lifecycle::LifeCx;
use meta::MetaCx;
use outputs::Outputs;
use peers::Peers;
use pipeline::Jobs;
use rate::TokenBucket;
use stats::StatsCx;
use timers::{Timer, TimerTable};
use torrent::candidates::Source;
use trackers::Trackers;
use udp::DhtCx;
use webseeds::{WebCx, WebSeeds};

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
    web: WebSeeds,
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
            web: WebSeeds::default(),
            lsd: None,
            portmap: None,
            streams: streams::Streams::new(&config, now, seed ^ UTP_SEED),
            config,
            rng,
        };
        session.lsd = local::start(&session.config, now, &mut session.rng);
        session.dht = udp::start(&session.config, now, &mut session.rng, &mut session.timers);
        session.dht_cx().pump();
        session
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
        self.step(now, |s| {
            let own = s.own_addr();
            local::datagram(s.lsd.as_mut(), now, from, data, &mut s.torrents, own);
        });
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
        self.step(now, |s| s.life(now, |cx| cx.resolved(now, id, result)));
    }

    /// The result of an [`Action::Disk`] job.
    pub fn handle_completion(&mut self, now: Instant, done: Completion) {
        self.step(now, |s| s.completion(now, done));
    }

    /// The answer to an [`Action::LoadMetainfo`]: the released torrent's metainfo, or why the
    /// runtime could not load it. Its held peers get their handshake (or are closed), and a
    /// start or check waiting for it goes on. An answer nobody asked for is ignored.
    pub fn handle_metainfo(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        result: Result<Arc<Metainfo>, LoadError>,
    ) {
        self.step(now, |s| s.metainfo_loaded(now, torrent, result, None));
    }

    /// The answer to an [`Action::LoadMetainfo`] that asked for the resume data too
    /// (`resume`: the bytes read, `None` if there were none or they could not be read): as
    /// [`Session::handle_metainfo`], and the torrent's files' stamps are then compared with
    /// the resume data before it serves a byte (see
    /// [`TorrentOptions::saved_complete`]).
    pub fn handle_loaded(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        result: Result<Arc<Metainfo>, LoadError>,
        resume: Option<Vec<u8>>,
    ) {
        self.step(now, |s| s.metainfo_loaded(now, torrent, result, resume));
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

    /// Fires everything due at `now`, handing each timer to the part that owns it.
    fn timeout(&mut self, now: Instant) {
        self.now = now;
        self.streams.handle_timeout(now, &mut self.out);
        self.peers.hold_paused_clocks(now, &mut self.torrents);
        self.conn_timeouts(now);
        self.expire_send_stalls(now);
        self.expire_dials(now);
        if self.timers.is_expired(Timer::Stats, now) {
            let cx = StatsCx {
                torrents: &mut self.torrents,
                peers: &self.peers,
                config: &self.config,
                timers: &mut self.timers,
                out: &mut self.out,
            };
            stats::tick(now, cx);
        }
        let due = self.torrents_due(now);
        self.meta(now, |cx| cx.metadata_timeout(now, &due));
        self.pex_timeout(now);
        let due = self.torrents_due(now);
        self.life(now, |cx| cx.scrape_timeout(now, &due));
        self.torrent_timeouts(now);
        self.life(now, |cx| cx.trackers_timeout(now));
        self.dht_cx().timeout(now);
        local::timeout(self.lsd.as_mut(), now, &mut self.out);
        if let Some(gateway) = self.portmap.as_mut() {
            gateway.timeout(now, &mut self.trackers, &mut self.out);
            self.gateway_ip(now);
        }
        if self.timers.is_expired(Timer::DhtSave, now) {
            self.dht_cx().save(now);
        }
    }

    /// A datagram on the session's UDP socket: the gateway's (port mapping, SSDP), a uTP
    /// connection's, the DHT's or a UDP tracker's (uTP's first byte is a type and version 1,
    /// KRPC's `d`, a tracker's 0).
    fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(gateway) = self.portmap.as_mut()
            && gateway.datagram(now, from, data, &mut self.trackers, &mut self.out)
        {
            self.gateway_ip(now);
        } else if self.streams.handle_datagram(now, from, data, &self.config) {
            // A uTP connection's (its answers go out with the session's transmits).
        } else if crate::dht::looks_like_krpc(data) {
            self.dht_cx().datagram(now, from, data);
        } else if self.trackers.udp_datagram(now, from, data) {
            self.life(now, |cx| cx.udp_answer(now, from));
        }
    }

    /// The answer to an HTTP request: the gateway's, a web seed's, or a tracker's.
    fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        if let Some(gateway) = self.portmap.as_mut()
            && gateway.http_response(now, rid, &result, &mut self.trackers, &mut self.out)
        {
            self.gateway_ip(now);
            if self.shutting_down {
                self.life(now, |cx| cx.progress_stops(now));
            }
            return;
        }
        if self.web.owns(rid) {
            let (web, mut cx) = self.web_cx();
            if let Some(run) = web.response(now, rid, result, &mut cx) {
                self.web_delivered(now, run);
            }
            return;
        }
        self.life(now, |cx| cx.http_answer(now, rid, result));
    }

    /// The gateway told our external address (port mapping): the DHT believes it (and takes
    /// a BEP 42 id for it), and trackers are told it (see [`portmap::announce_learned`]).
    fn gateway_ip(&mut self, now: Instant) {
        let Some(ip) = portmap::learned_ip(self.portmap.as_mut()) else {
            return;
        };
        self.dht_cx().external_ip(now, ip);
        let (config, learned) = (&mut self.config, &mut self.announce_ip_learned);
        portmap::announce_learned(ip, &mut config.announce_ip, learned, &mut self.torrents);
    }

    /// Our own addresses (never dialled).
    pub(super) fn own_addr(&self) -> OwnAddr {
        OwnAddr::new(&self.config, self.listen_ip)
    }

    /// Adds addresses to a torrent's candidates (our own address excluded).
    pub(super) fn add_candidates(&mut self, id: TorrentId, peers: &[SocketAddr], source: Source) {
        let own = self.own_addr();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.add_candidates(peers, source, own);
        }
    }

    /// Runs an entry point's `step`, then the work common to every entry point.
    pub(super) fn step<T>(&mut self, now: Instant, step: impl FnOnce(&mut Self) -> T) -> T {
        let out = step(self);
        self.after(now);
        out
    }

    /// Work common to every entry point: uTP streams, dialling what the limits allow, the web
    /// seeds' pump, advancing stops and the shutdown, filing the deadlines that changed. Each
    /// visits only the torrents in its work set (see [`Work`](torrent::work::Work)), so an
    /// input costs what it touched, not a visit of every torrent.
    pub(super) fn after(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.pump_streams(now);
        self.dial(now);
        self.pump_web_seeds(now);
        self.life(now, |cx| cx.progress_stops(now));
        let (torrents, config) = (&mut self.torrents, &self.config);
        stats::arm(now, self.shutting_down, torrents, config, &mut self.timers);
        self.pump_streams(now);
        self.peers.refresh_deadlines(&self.torrents, &self.config);
        for id in self.peers.take_torrents_touched() {
            let open = self.peers.has_open(id);
            self.torrents.set_peers_open(id, open);
        }
        let dht = self.dht.is_some();
        self.torrents.refresh_deadlines(self.now, dht);
    }

    /// The web-seed part with what it borrows from the session for one step.
    pub(super) fn web_cx(&mut self) -> (&mut WebSeeds, WebCx<'_>) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        let cx = WebCx {
            torrents: &mut self.torrents,
            limits,
            ids: &mut self.trackers,
            out: &mut self.out,
        };
        (&mut self.web, cx)
    }

    /// The DHT node with what it borrows from the session for one step.
    fn dht_cx(&mut self) -> DhtCx<'_> {
        DhtCx {
            own: OwnAddr::new(&self.config, self.listen_ip),
            dht: &mut self.dht,
            torrents: &mut self.torrents,
            budget: &mut self.trackers.dht_slots,
            config: &self.config,
            timers: &mut self.timers,
            rng: &mut self.rng,
            out: &mut self.out,
            shutting_down: self.shutting_down,
        }
    }

    /// Runs a step of the metadata part, then what it queued for the rest of the session.
    pub(super) fn meta<T>(&mut self, now: Instant, step: impl FnOnce(&mut MetaCx<'_>) -> T) -> T {
        let mut then = FollowUps::default();
        let out = step(&mut MetaCx {
            peers: &mut self.peers,
            torrents: &mut self.torrents,
            jobs: &mut self.jobs,
            config: &self.config,
            rng: &mut self.rng,
            out: &mut self.out,
            lsd: self.lsd.as_mut(),
            then: &mut then,
        });
        self.follow(now, then);
        out
    }

    /// Runs a step of the life part, then what it queued for the rest of the session.
    pub(super) fn life<T>(&mut self, now: Instant, step: impl FnOnce(&mut LifeCx<'_>) -> T) -> T {
        let mut then = FollowUps::default();
        let us = Us {
            peer_id: self.peer_id,
            own: self.own_addr(),
        };
        let out = step(&mut LifeCx {
            torrents: &mut self.torrents,
            peers: &mut self.peers,
            jobs: &mut self.jobs,
            trackers: &mut self.trackers,
            dht: &mut self.dht,
            lsd: &mut self.lsd,
            portmap: &mut self.portmap,
            timers: &mut self.timers,
            config: &self.config,
            rng: &mut self.rng,
            out: &mut self.out,
            us,
            shutting_down: &mut self.shutting_down,
            shutdown_done: &mut self.shutdown_done,
            then: &mut then,
        });
        self.follow(now, then);
        out
    }

    /// Takes the steps a part queued for the rest of the session, in order.
    fn follow(&mut self, now: Instant, then: FollowUps) {
        for step in then {
            match step {
                FollowUp::Drive(conn) => self.drive(now, conn),
                FollowUp::Close(conn, reason) => self.close_conn(now, conn, reason),
                FollowUp::Register(conn) => self.register_with_picker(now, conn),
                FollowUp::FillAll(id) => self.fill_all(now, id),
                FollowUp::PieceFailed(id, piece, digests) => {
                    self.piece_failed(now, id, piece, digests.as_deref());
                }
                FollowUp::WebSeedsFailed(id, piece, culprits) => {
                    let (web, mut cx) = self.web_cx();
                    web.hash_failed(now, id, piece, &culprits, &culprits, &mut cx);
                }
                FollowUp::Ban(id, keys, reason) => self.ban_peers(now, id, &keys, &reason),
                FollowUp::FinishCheck(id) => self.finish_check(now, id),
                FollowUp::Meta(step) => self.meta(now, |cx| cx.resume(now, step)),
                FollowUp::Life(step) => self.life(now, |cx| cx.resume(now, step)),
            }
        }
    }
}
