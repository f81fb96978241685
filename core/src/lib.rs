//! # sanstorrent-core
//!
//! A Sans-IO BitTorrent protocol core. The [`Session`] is the hub: it owns torrents, their
//! peer connections, trackers and the DHT, and speaks the protocols, but it opens no socket,
//! reads no clock, spawns no thread and takes no randomness from the OS. The application (or
//! a runtime such as `sanstorrent-smol` or `sanstorrent-tokio`) owns the sockets, the disk and
//! the timer, and moves bytes and time between them and the session.
//!
//! # Run loop
//! Wait for one input, hand it to the one matching `handle_*` method with the current time,
//! then drain the outputs: [`Session::poll_transmit`] (bytes to send), [`Session::poll_action`]
//! (work to do: connect, close, disk jobs, HTTP requests, DNS, state to save) and
//! [`Session::poll_event`] (what the application shows), each until `None`; then re-arm the
//! timer from [`Session::poll_timeout`]. The results of actions come back as later inputs.
//!
//! This loop runs over plain std sockets. To keep the loop's shape on screen, the socket
//! readiness (`wait`: a real loop uses epoll/kqueue through `mio` or `polling`), the disk
//! (`Disk`: worker threads over the torrent's files, as `sanstorrent-runtime-common`'s
//! `DiskIo` does) and the HTTP client are hidden helpers.
//!
//! ```no_run
//! use std::collections::{HashMap, VecDeque};
//! use std::net::{TcpListener, TcpStream, UdpSocket};
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//!
//! use sanstorrent_core::metainfo::Metainfo;
//! use sanstorrent_core::{
//!     Action, Dest, Event, Session, SessionConfig, TorrentOptions, TorrentSource,
//! };
//! # use std::io::{ErrorKind, Read, Write};
//! # use std::net::SocketAddr;
//! # use std::path::PathBuf;
//! # use std::sync::mpsc;
//! # use sanstorrent_core::layout::Layout;
//! # use sanstorrent_core::metainfo::RelativePath;
//! # use sanstorrent_core::tracker::{TrackerError, TrackerUrl, TransportError, http::HttpResponse};
//! # use sanstorrent_core::{Completion, ConnId, DiskJob, RequestId, TorrentId};
//! #
//! # /// One input for the session.
//! # enum Input {
//! #     Accepted(TcpStream, SocketAddr),
//! #     Connected(ConnId, Result<TcpStream, ErrorKind>),
//! #     PeerData(ConnId, bytes::BytesMut),
//! #     PeerClosed(ConnId),
//! #     Datagram(SocketAddr, Vec<u8>),
//! #     Disk(Completion),
//! #     Http(RequestId, Result<HttpResponse, TrackerError>),
//! #     Resolved(RequestId, Result<Vec<SocketAddr>, ErrorKind>),
//! #     Timeout,
//! # }
//! #
//! # /// A peer's socket, what waits to be written to it, and whether it is read.
//! # struct Peer {
//! #     stream: TcpStream,
//! #     out: Vec<u8>,
//! #     paused: bool,
//! # }
//! #
//! # impl Peer {
//! #     fn new(stream: TcpStream) -> Self {
//! #         let _ = stream.set_nonblocking(true);
//! #         Self { stream, out: Vec::new(), paused: false }
//! #     }
//! # }
//! #
//! # /// Torrent storage and state files, on worker threads (see runtime-common's `DiskIo`).
//! # struct Disk {
//! #     done: mpsc::Sender<Completion>,
//! #     results: mpsc::Receiver<Completion>,
//! # }
//! #
//! # impl Disk {
//! #     fn new(_dir: PathBuf) -> Self {
//! #         let (done, results) = mpsc::channel();
//! #         Self { done, results }
//! #     }
//! #     /// Opens the torrent's files under the download directory.
//! #     fn open(&mut self, _torrent: TorrentId, _layout: Layout, _paths: Arc<[RelativePath]>) {}
//! #     /// Runs the job on a worker thread; its `Completion` is sent to `self.done`.
//! #     fn submit(&mut self, job: DiskJob) {
//! #         // A worker pool, as in sanstorrent-runtime-common, runs `job` and sends its
//! #         // completion on `self.done`.
//! #         let _ = (job, &self.done);
//! #     }
//! #     /// Writes a state file atomically (temporary file, fsync, rename).
//! #     fn save(&mut self, _name: &str, _data: Vec<u8>) {}
//! #     /// Saves a torrent's resume data (under its info-hash).
//! #     fn save_resume(&mut self, _torrent: TorrentId, _data: Vec<u8>) {}
//! # }
//! #
//! # /// Outbound connects, each on a thread of its own (std has no non-blocking connect).
//! # struct Dials {
//! #     done: mpsc::Sender<(ConnId, std::io::Result<TcpStream>)>,
//! #     results: mpsc::Receiver<(ConnId, std::io::Result<TcpStream>)>,
//! #     open: std::collections::HashSet<ConnId>,
//! # }
//! #
//! # impl Dials {
//! #     fn new() -> Self {
//! #         let (done, results) = mpsc::channel();
//! #         Self { done, results, open: Default::default() }
//! #     }
//! #     /// Connects with no timeout of its own: the session's (`connect_timeout`) closes a
//! #     /// dial that takes too long.
//! #     fn start(&mut self, conn: ConnId, addr: SocketAddr) {
//! #         self.open.insert(conn);
//! #         let done = self.done.clone();
//! #         std::thread::spawn(move || drop(done.send((conn, TcpStream::connect(addr)))));
//! #     }
//! #     /// Forgets a dial the session closed (what it connects later is dropped).
//! #     fn cancel(&mut self, conn: ConnId) {
//! #         self.open.remove(&conn);
//! #     }
//! #     /// A dial that finished and that the session still waits for.
//! #     fn finished(&mut self) -> Option<Input> {
//! #         while let Ok((conn, result)) = self.results.try_recv() {
//! #             if self.open.remove(&conn) {
//! #                 return Some(Input::Connected(conn, result.map_err(|e| e.kind())));
//! #             }
//! #         }
//! #         None
//! #     }
//! # }
//! #
//! # fn set_paused(peers: &mut HashMap<ConnId, Peer>, conn: ConnId, paused: bool) {
//! #     if let Some(peer) = peers.get_mut(&conn) {
//! #         peer.paused = paused;
//! #     }
//! # }
//! #
//! # /// One HTTP(S) exchange with a tracker (runtime-common's `HttpClient` does it).
//! # fn http_exchange(_url: &TrackerUrl, _request: &[u8]) -> Result<HttpResponse, TrackerError> {
//! #     Err(TrackerError::Transport(TransportError::Unavailable))
//! # }
//! #
//! # /// Waits until something is ready: results queued by actions, a disk completion, a
//! # /// connection, bytes, a datagram, or the timer. Writes what each peer has queued.
//! # fn wait(
//! #     ready: &mut VecDeque<Input>,
//! #     listener: &TcpListener,
//! #     udp: &UdpSocket,
//! #     peers: &mut HashMap<ConnId, Peer>,
//! #     disk: &Disk,
//! #     dials: &mut Dials,
//! #     timeout: Option<Instant>,
//! # ) -> Input {
//! #     let mut buf = vec![0; 64 * 1024];
//! #     loop {
//! #         if let Some(input) = ready.pop_front() {
//! #             return input;
//! #         }
//! #         if let Ok(done) = disk.results.try_recv() {
//! #             return Input::Disk(done);
//! #         }
//! #         if let Some(connected) = dials.finished() {
//! #             return connected;
//! #         }
//! #         if let Ok((stream, remote)) = listener.accept() {
//! #             return Input::Accepted(stream, remote);
//! #         }
//! #         if let Ok((n, from)) = udp.recv_from(&mut buf) {
//! #             return Input::Datagram(from, buf[..n].to_vec());
//! #         }
//! #         for (&conn, peer) in peers.iter_mut() {
//! #             while !peer.out.is_empty() {
//! #                 match peer.stream.write(&peer.out) {
//! #                     Ok(n) if n > 0 => drop(peer.out.drain(..n)),
//! #                     Err(e) if e.kind() == ErrorKind::WouldBlock => break,
//! #                     _ => return Input::PeerClosed(conn),
//! #                 }
//! #             }
//! #             if !peer.paused {
//! #                 match peer.stream.read(&mut buf) {
//! #                     Ok(0) => return Input::PeerClosed(conn),
//! #                     Ok(n) => return Input::PeerData(conn, bytes::BytesMut::from(&buf[..n])),
//! #                     Err(e) if e.kind() == ErrorKind::WouldBlock => {}
//! #                     Err(_) => return Input::PeerClosed(conn),
//! #                 }
//! #             }
//! #         }
//! #         if timeout.is_some_and(|t| t <= Instant::now()) {
//! #             return Input::Timeout;
//! #         }
//! #         std::thread::sleep(Duration::from_millis(1));
//! #     }
//! # }
//! #
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("0.0.0.0:6881")?;
//! listener.set_nonblocking(true)?;
//! let udp = UdpSocket::bind("0.0.0.0:6881")?; // DHT and UDP trackers
//! udp.set_nonblocking(true)?;
//!
//! // Every random choice comes from the seed: the same seed and inputs, the same session.
//! let seed = 0x5eed;
//! let mut session = Session::new(SessionConfig::default(), Instant::now(), seed);
//! session.set_listen_addr(listener.local_addr()?);
//! let meta = Metainfo::from_bytes(&std::fs::read("example.torrent")?)?;
//! let source = TorrentSource::Metainfo(Arc::new(meta));
//! session.add_torrent(Instant::now(), source, TorrentOptions::default())?;
//!
//! let mut peers = HashMap::new();
//! let mut disk = Disk::new("downloads".into());
//! let mut dials = Dials::new();
//! // Results of the actions performed below, handed to the session as inputs.
//! let mut ready = VecDeque::new();
//! loop {
//!     // 1. Wait for one input and hand it to the matching `handle_*`.
//!     let timeout = session.poll_timeout();
//!     let input = wait(&mut ready, &listener, &udp, &mut peers, &disk, &mut dials, timeout);
//!     let now = Instant::now();
//!     match input {
//!         Input::Accepted(stream, remote) => {
//!             // `None`: refused (limits, shutting down); dropping the stream closes it.
//!             if let Some(conn) = session.handle_accept(now, remote) {
//!                 peers.insert(conn, Peer::new(stream));
//!             }
//!         }
//!         Input::Connected(conn, result) => {
//!             let result = result.map(|stream| drop(peers.insert(conn, Peer::new(stream))));
//!             session.handle_connected(now, conn, result);
//!         }
//!         Input::PeerData(conn, bytes) => session.handle_peer_data(now, conn, bytes),
//!         Input::PeerClosed(conn) => {
//!             peers.remove(&conn);
//!             session.handle_peer_closed(now, conn);
//!         }
//!         Input::Datagram(from, data) => session.handle_datagram(now, from, &data),
//!         Input::Disk(completion) => session.handle_completion(now, completion),
//!         Input::Http(id, response) => session.handle_http_response(now, id, response),
//!         Input::Resolved(id, addrs) => session.handle_resolved(now, id, addrs),
//!         Input::Timeout => session.handle_timeout(now),
//!     }
//!
//!     // 2. Drain the outputs: bytes to send, work to do, news for the application.
//!     while let Some(transmit) = session.poll_transmit() {
//!         match transmit.dest {
//!             // Appended to the connection's write stream, in order.
//!             Dest::Peer(conn) => {
//!                 if let Some(peer) = peers.get_mut(&conn) {
//!                     peer.out.extend_from_slice(&transmit.payload);
//!                 }
//!             }
//!             Dest::Udp(addr) => drop(udp.send_to(&transmit.payload, addr)),
//!             // Only with `SessionConfig::local_discovery` (see `lsd`), off here.
//!             Dest::LocalDiscovery(_) => {}
//!         }
//!     }
//!     while let Some(action) = session.poll_action() {
//!         match action {
//!             // Its result comes back as `Input::Connected`.
//!             Action::Connect { conn, addr } => dials.start(conn, addr),
//!             // Closed at the session's request (a dial, or a connection that failed or
//!             // timed out): no `handle_peer_closed` for it.
//!             Action::Close { conn } => {
//!                 dials.cancel(conn);
//!                 peers.remove(&conn);
//!             }
//!             Action::PauseReading { conn } => set_paused(&mut peers, conn, true),
//!             Action::ResumeReading { conn } => set_paused(&mut peers, conn, false),
//!             Action::OpenStorage { torrent, layout, paths, .. } => {
//!                 disk.open(torrent, layout, paths)
//!             }
//!             Action::Disk(job) => disk.submit(job),
//!             Action::SaveResume { torrent, data } => disk.save_resume(torrent, data),
//!             Action::SaveDhtState { data } => disk.save("dht.state", data),
//!             Action::HttpRequest { id, url, request } => {
//!                 ready.push_back(Input::Http(id, http_exchange(&url, &request)));
//!             }
//!             Action::Resolve { id, host, port } => {
//!                 let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port));
//!                 let addrs = addrs.map(Iterator::collect).map_err(|e| e.kind());
//!                 ready.push_back(Input::Resolved(id, addrs));
//!             }
//!             _ => {}
//!         }
//!     }
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::TorrentComplete { .. } => session.shutdown(Instant::now()),
//!             Event::Error { error, .. } => eprintln!("error: {error}"),
//!             Event::ShutdownComplete => return Ok(()),
//!             _ => {}
//!         }
//!     }
//!     // 3. The timer is re-armed from `poll_timeout` when the loop waits again.
//! }
//! # }
//! ```
//!
//! After `shutdown` (or any call made outside the loop, like `add_torrent` above), drain the
//! outputs the same way: every call may queue transmits, actions and events.
//!
//! # Design
//! - **What is here.** The [`Session`] and the values it exchanges with a runtime
//!   ([`Action`], [`Transmit`], [`Event`], [`Completion`], the ids). Protocol pieces that
//!   stand on their own, each a machine or a codec usable without the session:
//!   [`bencode`], [`metainfo`] (.torrent files) and [`create`] (making them), [`magnet`]
//!   links, [`wire`] (the peer wire protocol, its MSE transport and extension handshake),
//!   [`extensions`] (ut_metadata, ut_pex), [`pieces`] (piece sets and block references),
//!   [`tracker`] (HTTP and UDP announce and scrape),
//!   [`dht`] (a [`dht::Dht`] node with its own `handle_*`/`poll_*`), [`layout`] and
//!   [`storage`] (the mapping from pieces to file spans, the [`storage::Storage`] trait, an
//!   in-memory storage for simulations), [`id`] and [`rng`]. The session's own parts (piece
//!   and block selection, choking, its timers) are private; their settings are public
//!   ([`session::PickerConfig`], [`ChokerConfig`]).
//! - **Sans-IO.** Nothing here blocks or does I/O. Time comes in as an [`Instant`] argument
//!   on every call, randomness from the seed given to [`Session::new`] ([`Rng`]), bytes from
//!   the caller; everything to do goes out through the `poll_*` methods. The same inputs give
//!   the same outputs, which is what makes the deterministic simulation tests possible.
//!   Calling `handle_timeout` early, or twice, does nothing harmful.
//! - **Panics, errors and hostile input.** Every byte from a peer, tracker, DHT node,
//!   .torrent file or magnet link is hostile. Bad input yields a typed error naming what was
//!   wrong (or closes the peer's connection, with a [`PeerCloseReason`]), never a panic and
//!   never memory sized by a length the input claims. Failures the application should see
//!   arrive as events carrying typed errors ([`SessionError`], [`TrackerError`]). A panic in
//!   this crate is a bug of ours.
//!
//! [`Instant`]: std::time::Instant
//! [`TrackerError`]: tracker::TrackerError
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bencode;
mod choker;
pub mod create;
pub mod dht;
pub mod extensions;
pub mod fetch;
pub mod id;
mod io;
pub mod layout;
pub mod lsd;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
mod picker;
pub mod pieces;
pub mod portmap;
pub mod rng;
pub mod session;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod tracker;
pub mod utp;
pub mod webseed;
pub mod wire;

pub use id::{InfoHash, InfoHashV2, InfoHashes, PeerId};
pub use io::{ConnId, Dest, Transmit};
pub use rng::Rng;
pub use session::{
    Action, AddTorrentError, ChokerConfig, Completion, DiskJob, DiskJobKind, Event, JobId,
    PeerCloseReason, RequestId, Session, SessionConfig, SessionError, TorrentId, TorrentOptions,
    TorrentSource, TorrentStats,
};
