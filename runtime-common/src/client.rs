//! The public API of a client on any [`Runtime`]: [`Client`], [`ClientConfig`],
//! [`ClientError`], [`TorrentHandle`], and the [`Command`]s a `Client` sends to its loop.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Sender;
use sanstorrent_core::id::InfoHash;
use sanstorrent_core::magnet::MagnetError;
use sanstorrent_core::metainfo::{MetainfoError, RelativePath};
use sanstorrent_core::session::{
    AddTorrentError, ChangeError, ControlError, Event, SessionConfig, SnapshotDetail, TorrentId,
    TorrentOptions, TorrentSnapshot, TorrentSource, TorrentStats, TrackerInfo,
};

use crate::add_batch::{BatchAdded, NewTorrent};
use crate::change::Change;
use crate::driver::Core;
use crate::event_loop::{self, Sockets};
use crate::events::{EVENT_CAPACITY, EventReceiver, event_queue};
use crate::http::{HttpClient, HttpClientConfig, HttpClientError};
use crate::metainfo_source::SharedSource;
use crate::pool::{Done, Sink};
use crate::runtime::Runtime;
use crate::storage::{FileStorageOptions, RenameError};
use crate::{bind, gateway, local_discovery, path_mtu};

/// A BitTorrent client on runtime `R`: a session on its own loop task, with its sockets and
/// disk workers. Cheap calls send commands to the loop; [`Client::next_event`] watches
/// progress. Create it inside the runtime (e.g. within `R::block_on`).
#[derive(Debug)]
pub struct Client<R: Runtime> {
    commands: Sender<Command>,
    events: EventReceiver,
    listen: SocketAddr,
    udp: SocketAddr,
    local_discovery: bool,
    port_mapping: bool,
    runtime: PhantomData<R>,
}

impl<R: Runtime> Client<R> {
    /// Binds the sockets, starts the disk workers and the loop task.
    pub async fn new(mut config: ClientConfig) -> Result<Self, ClientError> {
        let listener = bind::tcp::<R>(config.listen).await?;
        let listen = R::listener_addr(&listener)?;
        let (udp, link_mtu) = bind::udp::<R>(config.udp.unwrap_or(listen))?;
        let udp = Arc::new(udp);
        // Packets grow only where every datagram leaves with don't-fragment.
        config.session.utp_link_mtu = link_mtu.and_then(|mtu| {
            let mtu = config
                .session
                .utp_link_mtu
                .map_or(mtu, |given| given.min(mtu));
            (mtu >= path_mtu::SMALLEST_MTU).then_some(mtu.min(path_mtu::MAX_LINK_MTU))
        });
        // Without a socket (loopback, or the port refused) discovery stays off.
        let lsd = match config.session.local_discovery {
            Some(_) => local_discovery::open(listen.ip()),
            None => Vec::new(),
        };
        if lsd.is_empty() {
            config.session.local_discovery = None;
        }
        let udp_addr = R::udp_addr(&udp)?;
        let http = HttpClient::<R>::new(HttpClientConfig {
            request_timeout: config.http_timeout,
            extra_roots: config.extra_roots.clone(),
            ..HttpClientConfig::default()
        })
        .map_err(ClientError::Tls)?;
        let (done_tx, done) = async_channel::unbounded::<Done>();
        let sink: Sink = Arc::new(move |d| {
            let _ = done_tx.try_send(d);
        });
        let (events_tx, events) = event_queue(EVENT_CAPACITY);
        let (commands, command_rx) = async_channel::unbounded();
        let mut core = Core::new(&config, listen, sink, events_tx, Instant::now())?;
        let gateway = (config.session.port_mapping.is_some())
            .then(|| gateway::find(listen.ip()))
            .flatten();
        if let Some((gateway, local)) = gateway {
            core.session
                .set_gateway(Instant::now(), gateway, local, udp_addr.port());
        }
        let local_discovery = config.session.local_discovery.is_some();
        let sockets = Sockets {
            listener,
            udp,
            lsd,
            http,
        };
        R::spawn(event_loop::run(core, sockets, config, done, command_rx));
        Ok(Self {
            commands,
            events,
            listen,
            udp: udp_addr,
            local_discovery,
            port_mapping: gateway.is_some(),
            runtime: PhantomData,
        })
    }

    /// The bound TCP listen address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The bound UDP address (DHT and UDP trackers).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// Whether local service discovery ran at start: asked for, and its sockets open (never
    /// on a loopback address). [`Change::LocalDiscovery`] turns it on or off later.
    pub fn local_discovery(&self) -> bool {
        self.local_discovery
    }

    /// Whether local service discovery can run on this client's listening address (not on
    /// loopback).
    pub fn local_discovery_available(&self) -> bool {
        local_discovery::available(self.listen.ip())
    }

    /// Whether port mapping runs: asked for, and a default gateway found for the listening
    /// address.
    pub fn port_mapping(&self) -> bool {
        self.port_mapping
    }

    /// Adds a torrent; its files go under `download_dir`.
    pub async fn add_torrent(
        &self,
        source: TorrentSource,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        let dir = download_dir.into();
        self.send(Command::AddTorrent {
            source,
            dir,
            options,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }

    /// Adds a torrent from a .torrent file.
    pub async fn add_torrent_file(
        &self,
        path: impl Into<PathBuf>,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        self.add_torrent(torrent_file(path)?, download_dir, options)
            .await
    }

    /// Adds a torrent from a magnet link (the metadata is fetched from peers first).
    pub async fn add_magnet(
        &self,
        uri: &str,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        self.add_torrent(magnet(uri)?, download_dir, options).await
    }

    /// Gives a torrent peer addresses to dial.
    pub async fn add_peers(
        &self,
        torrent: TorrentId,
        peers: Vec<SocketAddr>,
    ) -> Result<(), ClientError> {
        self.send(Command::AddPeers { torrent, peers }).await
    }

    /// A torrent's statistics (`None`: no such torrent).
    pub async fn stats(&self, torrent: TorrentId) -> Result<Option<TorrentStats>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Stats { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }

    /// Snapshots of `torrents` in one round trip with the loop, in the same order (`None`
    /// for an unknown torrent): statistics, error and counts, plus what `detail` asks for.
    pub async fn snapshots(
        &self,
        torrents: Vec<TorrentId>,
        detail: SnapshotDetail,
    ) -> Result<Vec<Option<TorrentSnapshot>>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Snapshots {
            torrents,
            detail,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }

    /// Nodes in the DHT's routing table (`None`: the DHT is off).
    pub async fn dht_nodes(&self) -> Result<Option<usize>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::DhtNodes { reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }

    /// Stops one torrent gracefully ([`Event::TorrentStopped`] follows). It stays in the
    /// client; [`Client::start_torrent`] starts it again.
    pub async fn stop_torrent(&self, torrent: TorrentId) -> Result<(), ClientError> {
        self.send(Command::StopTorrent { torrent }).await
    }

    /// Starts a stopped torrent again from the pieces it verified (no recheck): it announces
    /// and dials again. A running torrent is left as it is.
    pub async fn start_torrent(&self, torrent: TorrentId) -> Result<(), ClientError> {
        self.ask(|reply| Command::StartTorrent { torrent, reply })
            .await
    }

    /// Hashes a torrent's data again (phase `Checking`); pieces that fail are downloaded
    /// again. A stopped torrent stays stopped after the check.
    pub async fn recheck_torrent(&self, torrent: TorrentId) -> Result<(), ClientError> {
        self.ask(|reply| Command::RecheckTorrent { torrent, reply })
            .await
    }

    /// Announces a running torrent now (not before the tracker's minimum interval).
    pub async fn reannounce(&self, torrent: TorrentId) -> Result<(), ClientError> {
        self.ask(|reply| Command::Reannounce { torrent, reply })
            .await
    }

    /// Removes a torrent: it stops (no resume data saved), leaves the client
    /// ([`Event::TorrentRemoved`]), and its resume data is deleted; with `delete_data`, so are
    /// its files under its download directory (only those it names) and the directories they
    /// leave empty. Returns once the removal has begun; the deletion follows it.
    pub async fn remove_torrent(
        &self,
        torrent: TorrentId,
        delete_data: bool,
    ) -> Result<(), ClientError> {
        self.ask(|reply| Command::RemoveTorrent {
            torrent,
            delete_data,
            reply,
        })
        .await
    }

    /// The next event (`None` once the client has stopped). Events queue up until read, in
    /// bounded memory: state changes (added, checked, complete, stopped, removed, metadata,
    /// bans, errors) are never dropped, an unread `Stats` or `DhtStatus` is replaced by the
    /// newer one, and past [`EVENT_CAPACITY`] unread peer, piece and tracker events the
    /// oldest is dropped (see [`Client::dropped_events`]). Cancel-safe: dropping the future
    /// loses no event.
    pub async fn next_event(&self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is queued, without waiting: `None` if nothing is queued,
    /// `Some(None)` if the client has stopped.
    pub fn try_event(&self) -> Option<Option<Event>> {
        self.events.try_recv()
    }

    /// Peer, piece and tracker events dropped so far because they were not read in time
    /// (see [`Client::next_event`]).
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    /// Stops gracefully: `stopped` announces, flushes, resume data and DHT state saved,
    /// connections closed. Returns when the loop has ended.
    pub async fn stop(self) -> Result<(), ClientError> {
        self.stop_with_events().await.map(drop)
    }

    /// Stops as [`Client::stop`] does, then returns the events not read yet, up to the
    /// loop's last (those of the shutdown itself: a piece verified by the final flush
    /// completing a torrent, the torrents stopped, an error), so that an application saving
    /// its own state after the stop records what the session knew at its end. Bounded as
    /// the queue is (see [`Client::next_event`]).
    pub async fn stop_with_events(self) -> Result<Vec<Event>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Shutdown { reply }).await?;
        // Closed without a message if the loop gave up waiting: stopped all the same.
        let _ = answer.recv().await;
        // The loop queued its events before it answered.
        Ok(std::iter::from_fn(|| self.events.try_recv().flatten()).collect())
    }

    /// Sends a command with a reply channel and waits for its answer.
    async fn ask(
        &self,
        command: impl FnOnce(Sender<Result<(), ClientError>>) -> Command,
    ) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(command(reply)).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }

    pub(crate) async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::Stopped)
    }
}

/// Settings of a client (either runtime).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Where the TCP listener binds (port 0: any free port). Its bound port is announced.
    pub listen: SocketAddr,
    /// Where the UDP socket (DHT and UDP trackers) binds; `None`: the listener's IP and port.
    pub udp: Option<SocketAddr>,
    /// Where resume data and the DHT state are kept; `None`: nothing is saved or loaded.
    pub state_dir: Option<PathBuf>,
    /// The session's settings (`listen_port` is set from the bound listener).
    pub session: SessionConfig,
    /// Disk and hashing worker threads; 0: one per core.
    pub disk_threads: usize,
    /// The longest a tracker HTTP(S) exchange may take.
    pub http_timeout: Duration,
    /// Extra trusted root certificates (DER) for HTTPS trackers, besides the Mozilla roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// The seed of the session's randomness; `None`: a fresh one from the OS.
    pub seed: Option<u64>,
    /// Bytes read from a socket per read call (and so the most per `handle_peer_data`).
    pub read_buffer: usize,
    /// How torrents' files are kept (open handles, preallocation).
    pub storage: FileStorageOptions,
    /// Where released torrents' metainfo is loaded back from (see
    /// [`MetainfoSource`](crate::MetainfoSource)); needed only when torrents are added with
    /// `release_idle_after`. `None`: such loads fail and their peers are closed.
    pub metainfo: Option<SharedSource>,
    /// The [`TorrentOptions::release_idle_after`] of every torrent added whose options leave
    /// it `None`; `None` (the default): torrents are released only if their options say.
    pub release_idle_after: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            udp: None,
            state_dir: None,
            session: SessionConfig::default(),
            disk_threads: 0,
            http_timeout: Duration::from_secs(30),
            extra_roots: Vec::new(),
            seed: None,
            read_buffer: 64 * 1024,
            storage: FileStorageOptions::default(),
            metainfo: None,
            release_idle_after: None,
        }
    }
}

impl ClientConfig {
    /// A config for tests and local use: everything on 127.0.0.1 with free ports, no DHT.
    pub fn loopback() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    /// The seed to use: the configured one or a fresh one from the OS's hasher keys.
    pub fn seed_or_random(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        self.seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        })
    }
}

/// A torrent in a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TorrentHandle {
    /// The session's id of the torrent (in events and for `stats`).
    pub id: TorrentId,
    /// Its info-hash.
    pub info_hash: InfoHash,
}

/// Why a client call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// Binding a socket, starting threads or creating the state directory failed.
    Io(io::Error),
    /// The TLS setup for HTTPS trackers failed.
    Tls(HttpClientError),
    /// A .torrent file could not be read.
    ReadTorrent(PathBuf, io::Error),
    /// A .torrent file is not valid.
    Metainfo(MetainfoError),
    /// A magnet link is not valid.
    Magnet(MagnetError),
    /// The session refused the torrent.
    Add(AddTorrentError),
    /// The session refused a change.
    Change(ChangeError),
    /// The session refused a request about a torrent (unknown, or a duplicate started).
    Control(ControlError),
    /// The client's loop has ended (after `stop`, or it failed).
    Stopped,
    /// The torrent must be stopped first (its download directory changes only then).
    NotStopped(TorrentId),
    /// Files could not be renamed.
    Rename(RenameError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Tls(e) => write!(f, "TLS setup: {e}"),
            Self::ReadTorrent(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            Self::Metainfo(e) => write!(f, "bad .torrent: {e}"),
            Self::Magnet(e) => write!(f, "bad magnet link: {e}"),
            Self::Add(e) => write!(f, "cannot add torrent: {e}"),
            Self::Change(e) => write!(f, "cannot change: {e}"),
            Self::Control(e) => write!(f, "{e}"),
            Self::Stopped => f.write_str("the client has stopped"),
            Self::NotStopped(t) => write!(f, "torrent {} is not stopped", t.0),
            Self::Rename(e) => write!(f, "cannot rename: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) | Self::ReadTorrent(_, e) => Some(e),
            Self::Metainfo(e) => Some(e),
            Self::Magnet(e) => Some(e),
            Self::Add(e) => Some(e),
            Self::Change(e) => Some(e),
            Self::Control(e) => Some(e),
            Self::Rename(e) => Some(e),
            Self::Stopped | Self::NotStopped(_) => None,
            Self::Tls(e) => Some(e),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Reads and parses a .torrent file into a [`TorrentSource`].
pub fn torrent_file(path: impl Into<PathBuf>) -> Result<TorrentSource, ClientError> {
    let path = path.into();
    let bytes = std::fs::read(&path).map_err(|e| ClientError::ReadTorrent(path, e))?;
    let meta =
        sanstorrent_core::metainfo::Metainfo::from_bytes(&bytes).map_err(ClientError::Metainfo)?;
    Ok(TorrentSource::Metainfo(Arc::new(meta)))
}

/// Parses a magnet link into a [`TorrentSource`].
pub fn magnet(uri: &str) -> Result<TorrentSource, ClientError> {
    sanstorrent_core::magnet::MagnetLink::parse(uri)
        .map(TorrentSource::Magnet)
        .map_err(ClientError::Magnet)
}

/// A request from a `Client` to its loop. Replies travel on one-shot channels.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Commands are rare; boxing would only add noise.
#[non_exhaustive]
pub enum Command {
    /// Add a torrent with its files under `dir`.
    AddTorrent {
        /// What to add.
        source: TorrentSource,
        /// The download directory.
        dir: PathBuf,
        /// How to run it.
        options: TorrentOptions,
        /// The answer.
        reply: Sender<Result<TorrentHandle, ClientError>>,
    },
    /// Add several torrents at once (see [`Client::add_torrents`]).
    AddTorrents {
        /// What to add, in order.
        torrents: Vec<NewTorrent>,
        /// One answer per torrent, in the same order.
        reply: Sender<Vec<Result<BatchAdded, ClientError>>>,
    },
    /// Add peer addresses to a torrent.
    AddPeers {
        /// The torrent.
        torrent: TorrentId,
        /// The addresses.
        peers: Vec<SocketAddr>,
    },
    /// Ask for a torrent's statistics.
    Stats {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Option<TorrentStats>>,
    },
    /// Change the session or a torrent.
    Change {
        /// What to change.
        change: Change,
        /// The answer.
        reply: Sender<Result<(), ChangeError>>,
    },
    /// Ask for a torrent's trackers.
    Trackers {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Option<Vec<TrackerInfo>>>,
    },
    /// Ask for the size of the DHT's routing table.
    DhtNodes {
        /// The answer (`None`: the DHT is off).
        reply: Sender<Option<usize>>,
    },
    /// Ask for a torrent's web seeds.
    WebSeeds {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Option<Vec<sanstorrent_core::session::WebSeedInfo>>>,
    },
    /// Ask for torrents' snapshots (one answer for all, in order).
    Snapshots {
        /// The torrents.
        torrents: Vec<TorrentId>,
        /// The costly parts wanted.
        detail: SnapshotDetail,
        /// The answer.
        reply: Sender<Vec<Option<TorrentSnapshot>>>,
    },
    /// Stop one torrent gracefully.
    StopTorrent {
        /// The torrent.
        torrent: TorrentId,
    },
    /// Start a stopped torrent again.
    StartTorrent {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Check a torrent's data again.
    RecheckTorrent {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Announce a torrent now.
    Reannounce {
        /// The torrent.
        torrent: TorrentId,
        /// The answer.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Remove a torrent, and its files if `delete_data`.
    RemoveTorrent {
        /// The torrent.
        torrent: TorrentId,
        /// Delete its files too.
        delete_data: bool,
        /// The answer.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Answer once a torrent is stopped, its storage closed.
    WhenStopped {
        /// The torrent.
        torrent: TorrentId,
        /// The answer (an error if it is removed or unknown).
        reply: Sender<Result<(), ClientError>>,
    },
    /// Give a stopped torrent another download directory.
    SetDownloadDir {
        /// The torrent.
        torrent: TorrentId,
        /// Its new directory.
        dir: PathBuf,
        /// The answer.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Rename files of a stopped torrent (file index, new path).
    RenameFiles {
        /// The torrent.
        torrent: TorrentId,
        /// The renames.
        renames: Vec<(usize, RelativePath)>,
        /// The answer, once the files are renamed on disk.
        reply: Sender<Result<(), ClientError>>,
    },
    /// Ask for a torrent's file paths as storage uses them.
    FilePaths {
        /// The torrent.
        torrent: TorrentId,
        /// The answer: one per file, padding included; `None` before the metadata.
        reply: Sender<Option<Vec<RelativePath>>>,
    },
    /// Stop everything gracefully; the reply comes when the loop has ended.
    Shutdown {
        /// Closed (or sent to) when done.
        reply: Sender<()>,
    },
}
