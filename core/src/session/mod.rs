//! The session: the public Sans-IO hub that owns torrents, connections, trackers and the DHT.
//!
//! # Run loop
//! A runtime (smol, tokio, a custom event loop, the simulator) owns one [`Session`] by `&mut`
//! and moves bytes and time:
//! 1. wait for one thing: inbound bytes, an accepted socket, a connect result, a disk job
//!    completion, an HTTP response, a DNS answer, a datagram, the timer, or an application
//!    command;
//! 2. call the one matching `handle_*` method (or `add_torrent`, `add_peers`, `stop_torrent`,
//!    `shutdown`), passing `now`;
//! 3. drain [`Session::poll_transmit`], [`Session::poll_action`] and [`Session::poll_event`]
//!    until each returns `None` (perform transmits and actions in the order polled);
//! 4. arm the timer at [`Session::poll_timeout`] and call [`Session::handle_timeout`] when it
//!    fires (extra calls are harmless).
//!
//! The session never blocks and never does I/O: it reads no clock, opens no socket, and takes
//! randomness only from the seed given to [`Session::new`]. The same inputs give the same
//! outputs, which the simulation tests rely on.
//!
//! Ids ([`ConnId`], [`JobId`], [`RequestId`], [`TorrentId`]) are allocated by the session.

mod config;
mod event;
pub mod io;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

pub use config::{AddTorrentError, SessionConfig, TorrentOptions, TorrentSource};
pub use event::{Event, PeerCloseReason, TorrentPhase, TorrentStats};
pub use io::{
    Action, Completion, CompletionKind, ConnId, Dest, DiskJob, DiskJobKind, JobId, RequestId,
    TorrentId, Transmit,
};

use crate::tracker::{TrackerError, http::HttpResponse};

/// The BitTorrent session: several torrents, their peer connections, trackers and the DHT.
/// See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl Session {
    /// A session with `config`, started at `now`; `seed` drives every random choice (peer id,
    /// tracker keys, piece order, optimistic unchokes, DHT ids).
    pub fn new(config: SessionConfig, now: Instant, seed: u64) -> Self {
        let _ = (now, seed);
        Self {
            config,
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds a torrent from a .torrent or a magnet link. For a metainfo torrent this emits
    /// [`Action::OpenStorage`], then `Stamps` / `Check` disk jobs as the resume data (in
    /// `options`) requires, then announces and dials.
    pub fn add_torrent(
        &mut self,
        now: Instant,
        source: TorrentSource,
        options: TorrentOptions,
    ) -> Result<TorrentId, AddTorrentError> {
        let _ = (now, source, options);
        Err(AddTorrentError::ShuttingDown)
    }

    /// Adds addresses to a torrent's candidates (dialled as limits allow).
    pub fn add_peers(&mut self, now: Instant, torrent: TorrentId, peers: &[SocketAddr]) {
        let _ = (now, torrent, peers);
    }

    /// Stops a torrent gracefully: `stopped` to its trackers (bounded wait), flush, save
    /// resume data, close its connections; then [`Event::TorrentStopped`].
    pub fn stop_torrent(&mut self, now: Instant, torrent: TorrentId) {
        let _ = (now, torrent);
    }

    /// Stops every torrent as [`Session::stop_torrent`] does, saves the DHT state, then emits
    /// [`Event::ShutdownComplete`] (at the latest after `shutdown_timeout`).
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
    }

    /// A socket was accepted from `remote`. `Some(id)`: feed its bytes with that id; `None`:
    /// refused (limits, shutdown), close the socket.
    pub fn handle_accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        let _ = (now, remote);
        None
    }

    /// The result of an [`Action::Connect`].
    pub fn handle_connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
    ) {
        let _ = (now, conn, result);
    }

    /// Bytes read from a connection's socket.
    pub fn handle_peer_data(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let _ = (now, conn, data);
    }

    /// A connection's socket reached end of stream or failed.
    pub fn handle_peer_closed(&mut self, now: Instant, conn: ConnId) {
        let _ = (now, conn);
    }

    /// A datagram on the session's UDP socket (DHT or UDP tracker).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let _ = (now, from, data);
    }

    /// The response to an [`Action::HttpRequest`].
    pub fn handle_http_response(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        let _ = (now, id, result);
    }

    /// The answer to an [`Action::Resolve`].
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        id: RequestId,
        result: Result<Vec<SocketAddr>, String>,
    ) {
        let _ = (now, id, result);
    }

    /// The result of an [`Action::Disk`] job.
    pub fn handle_completion(&mut self, now: Instant, done: Completion) {
        let _ = (now, done);
    }

    /// The instant from [`Session::poll_timeout`] passed (or any time: extra calls do
    /// nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next bytes to send. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next action for the runtime. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application. Poll after every `handle_*` call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Session::handle_timeout`] next (`None`: nothing scheduled).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// A torrent's statistics, for a progress bar (`None`: no such torrent).
    pub fn torrent_stats(&self, torrent: TorrentId) -> Option<TorrentStats> {
        let _ = torrent;
        None
    }

    /// The TCP port the session announces (0 until known).
    pub fn local_listen_port(&self) -> u16 {
        self.config.listen_port
    }

    /// The runtime bound its TCP listener to `addr`: its port is announced to trackers and
    /// the DHT, and dialling it (our own address) is avoided.
    pub fn set_listen_addr(&mut self, addr: SocketAddr) {
        self.config.listen_port = addr.port();
    }
}
