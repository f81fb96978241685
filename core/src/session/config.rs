//! What a session is told: its settings ([`SessionConfig`]), what a torrent comes from
//! ([`TorrentSource`]) and how to run it ([`TorrentOptions`]), and why adding one fails
//! ([`AddTorrentError`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::edit::TorrentLimits;
use crate::choker::ChokerConfig;
use crate::dht;
use crate::id::{InfoHash, InfoHashes, PeerId};
use crate::magnet::MagnetLink;
use crate::metainfo::Metainfo;
use crate::picker::{PickerConfig, Priority};
use crate::tracker::{AnnouncerConfig, UdpConfig};

/// Settings of a [`Session`](super::Session). `Default` gives sensible limits for a desktop
/// client; the runtime sets `listen_port` (or calls
/// [`Session::set_listen_addr`](super::Session::set_listen_addr) once bound).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our TCP listen port (announced to trackers and the DHT); 0 until known.
    pub listen_port: u16,
    /// An address to announce to trackers instead of the one they see.
    pub announce_ip: Option<IpAddr>,
    /// The most peer connections overall (established and half-open).
    pub max_connections: usize,
    /// The most peer connections of one torrent.
    pub max_connections_per_torrent: usize,
    /// An outbound connect not answered within this is abandoned.
    pub connect_timeout: Duration,
    /// The most outbound connects in progress at once. At the limit, a candidate ready to
    /// dial takes the place of the oldest connect in progress for `dial_patience` or longer
    /// (`dial_patience_outranked` if the candidate's source ranks better than that of the
    /// connect's address), which counts as a failure of that address and of the source that
    /// gave it.
    pub max_half_open: usize,
    /// How long a connect in progress keeps its half-open slot against a candidate waiting
    /// to dial (see `max_half_open`): hostile trackers, PEX peers or DHT nodes that hand out
    /// unreachable addresses cannot hold every slot for the whole `connect_timeout`.
    pub dial_patience: Duration,
    /// How long a connect in progress keeps its half-open slot against a waiting candidate
    /// whose source ranks better than the one that gave the connect's address: user-given,
    /// or a source whose dials go unanswered less often (a connect is answered within a
    /// round trip or two). Sources that fill the slots with unreachable addresses hold up a
    /// peer from a source that answers for about this long, not for `dial_patience`.
    pub dial_patience_outranked: Duration,
    /// The most inbound connections whose handshake has not arrived yet. At the limit a new
    /// one replaces the one heard from least recently (see `interest_grace`): under a flood
    /// of sockets that never speak, an honest newcomer keeps its slot for about this many
    /// accepts, and must send its handshake meanwhile (one round trip).
    pub max_pending_inbound: usize,
    /// The most connections to one IP address (loopback is exempt: local swarms and tests run
    /// every peer on 127.0.0.1).
    pub max_connections_per_ip: usize,
    /// Time from accepting or connecting a socket to the peer's BitTorrent handshake (the
    /// encrypted handshake included); a connection still handshaking then is closed. Default
    /// 5 s (libtorrent 10 s, Transmission 30 s): a peer sends its handshake at once, within
    /// two round trips with the encrypted one, so 5 s leaves room for second-long round trips
    /// and a lost segment, and a socket that sends nothing frees its slot within seconds even
    /// when no newcomer asks for it.
    pub handshake_timeout: Duration,
    /// Time from the end of the handshake to the peer's first message (anything but a
    /// keep-alive: every client opens with its bitfield, `have_all`, `have_none` or extended
    /// handshake, usually in the handshake's own segment); a connection silent until then is
    /// closed ([`PeerCloseReason::Silent`](super::PeerCloseReason::Silent)). Default 5 s.
    pub first_message_timeout: Duration,
    /// When a connection limit is reached (pending inbound, per torrent, overall), a newcomer
    /// takes the slot of the least useful connection, if one is: one that has not finished
    /// its handshake (silent ones first, then the oldest), then one that sent nothing since
    /// its handshake, then one where neither side has been interested for this long since
    /// its handshake ([`PeerCloseReason::Evicted`](super::PeerCloseReason::Evicted)).
    /// Connections where either side is interested keep their slots unless they trade
    /// nothing (see `trade_grace`). A newcomer whose address has strikes, or was refused at a
    /// limit within the last seconds, takes only a free slot.
    pub interest_grace: Duration,
    /// At a connection limit, a peer interested in us that has nothing we want and has traded
    /// nothing for this long (since its handshake or its latest request we could serve or
    /// block either way) is replaced too, after the connections `interest_grace` names
    /// ([`PeerCloseReason::Evicted`](super::PeerCloseReason::Evicted)); an inbound one is a
    /// strike against its address (see `penalty_strikes`). A peer we unchoke and that
    /// requests, or that sends us blocks, keeps its slot however slowly it trades. Default
    /// 10 s.
    pub trade_grace: Duration,
    /// A peer we unchoke while it is interested and that requests nothing for this long
    /// wastes its upload slot: a peer waiting for one gets it at once, the peer ranks after
    /// every other for upload slots until it trades, and at a connection limit it is replaced
    /// first among the peers interested in us (see `trade_grace`). Default 2 s: clients
    /// request within a round trip of an unchoke.
    pub unchoke_patience: Duration,
    /// An address whose inbound connections are closed this many times in a row for
    /// uselessness (handshake or first-message timeout, evicted before sending a message or
    /// for trading nothing, a malformed handshake, refused at a limit again and again within
    /// seconds) is refused for `penalty_duration`, twice as long each time it strikes out
    /// again within `penalty_duration` of its refusal's end (up to 16 times). Strikes older
    /// than `penalty_duration` are forgotten.
    pub penalty_strikes: u32,
    /// How long a penalised address is refused.
    pub penalty_duration: Duration,
    /// The most addresses remembered with strikes or penalties (the least recently struck
    /// is forgotten first).
    pub max_penalized_addresses: usize,
    /// The most addresses remembered per torrent to dial.
    pub max_candidates_per_torrent: usize,
    /// First wait before dialling an address again after a failure; doubles per failure.
    pub reconnect_backoff: Duration,
    /// The longest reconnect wait.
    pub reconnect_backoff_max: Duration,
    /// Failures after which an address is forgotten.
    pub max_connect_failures: u32,
    /// Whether connections we open start with the encrypted handshake (MSE) or plain
    /// BitTorrent. Inbound connections accept both whatever this says.
    pub outgoing_encryption: OutgoingEncryption,
    /// Pieces a starting peer with the Fast extension may request from us while we choke it
    /// (BEP 6 `allowed fast`; 10, as BEP 6 suggests; 0 grants none). Granted only to a peer
    /// that announces fewer pieces than this, and only the pieces it lacks.
    pub allowed_fast_count: u32,
    /// Disk back-pressure: the most disk jobs outstanding per torrent.
    pub max_disk_jobs: usize,
    /// Download memory bound: the most bytes received and not yet written, per torrent. At
    /// the cap the session pauses reading from the connections that deliver blocks
    /// ([`Action::PauseReading`](super::Action::PauseReading)) until writes bring it down to
    /// half: what peers send meanwhile waits in the kernel's socket buffers and TCP flow
    /// control slows them, so a disk that falls behind never makes our memory grow with the
    /// number or speed of peers. Default 1.5 MiB (measured on loopback from four seeders: as
    /// fast as 2 MiB with 0.7 MiB less peak RSS; 1 MiB was 6-10 % slower).
    pub max_unwritten_bytes: u64,
    /// The most bytes requested and not yet arrived, per torrent. Requests cost no memory
    /// until their blocks arrive (then `max_unwritten_bytes` bounds them); this only keeps a
    /// torrent with many fast peers from asking for far more than it can take in.
    pub max_requested_bytes: u64,
    /// Disk back-pressure: the most bytes read for uploads and not yet sent, per connection.
    pub max_upload_queue_bytes: usize,
    /// The runtime reports what each connection's socket accepted with
    /// [`Session::handle_peer_sent`](super::Session::handle_peer_sent), so the session can
    /// bound what waits in the runtime's write queues (`max_send_backlog`) and close peers
    /// that stop reading (`send_stall_timeout`). Off by default: a runtime that never reports
    /// sends must leave it off, or every upload stops at the cap. Both bundled runtimes turn
    /// it on.
    pub send_accounting: bool,
    /// Upload memory bound (with `send_accounting`): the most bytes handed to the runtime for
    /// a connection and not yet reported written. At the cap the session reads no more
    /// blocks for that peer until writes are reported, so a peer that requests but never
    /// reads costs at most this plus `max_upload_queue_bytes`.
    pub max_send_backlog: usize,
    /// A connection whose send backlog stays at `max_send_backlog` with no byte reported
    /// written for this long is closed
    /// ([`PeerCloseReason::SendStalled`](super::PeerCloseReason::SendStalled)); any progress
    /// restarts the wait.
    pub send_stall_timeout: Duration,
    /// Flush (fsync) a torrent's data in the background once this many verified bytes are not
    /// yet durable, so data reaches the disk during the download instead of all at the end
    /// (and resume data can record it sooner).
    pub flush_every_bytes: u64,
    /// Overall download limit in bytes per second (`None`: unlimited).
    pub download_rate_limit: Option<u64>,
    /// Overall upload limit in bytes per second (`None`: unlimited).
    pub upload_rate_limit: Option<u64>,
    /// The choker's tunables (upload slots, rechoke interval, …).
    pub choker: ChokerConfig,
    /// The picker's tunables (pipelines, timeouts, strikes, …).
    pub picker: PickerConfig,
    /// The tracker scheduler's tunables (intervals, timeouts, `stopped` wait).
    pub announcer: AnnouncerConfig,
    /// Tracker announces started per second across every torrent (0: no limit); due
    /// announces beyond it wait their turn, downloading torrents first (see `budget`).
    pub announce_rate: u32,
    /// Torrents with a tracker announce in flight at once, at most.
    pub announces_in_flight: usize,
    /// DHT lookups (announce or `get_peers`) started per second across every torrent (0: no
    /// limit); a lookup due beyond it is put off to the next free slot.
    pub dht_lookup_rate: u32,
    /// Time between scrapes (BEP 48) of each tracker that answered an announce and has a
    /// scrape URL; the first follows its first successful announce. `None`: never scrape.
    pub scrape_interval: Option<Duration>,
    /// The UDP tracker protocol's timing.
    pub udp_tracker: UdpConfig,
    /// Run a DHT node (never used for private torrents).
    pub dht: bool,
    /// Local service discovery (BEP 14) with these settings; `None`: off. The runtime sends
    /// and receives its datagrams on a socket of its own ([`Dest::LocalDiscovery`](crate::Dest),
    /// [`Session::handle_local_datagram`](super::Session::handle_local_datagram)); private
    /// torrents never take part.
    pub local_discovery: Option<crate::lsd::LsdConfig>,
    /// Port mapping on the gateway (NAT-PMP, PCP, UPnP IGD) with these settings; `None`: off. It starts
    /// when the runtime names the gateway ([`Session::set_gateway`](super::Session::set_gateway)).
    pub port_mapping: Option<crate::portmap::PortMapConfig>,
    /// Exchange peers with the peers of public torrents (BEP 11 `ut_pex`).
    pub pex: bool,
    /// The DHT node's settings.
    pub dht_config: dht::Config,
    /// DHT bootstrap addresses (resolved by the runtime).
    pub dht_bootstrap: Vec<SocketAddr>,
    /// Saved DHT state (from [`Action::SaveDhtState`](super::Action::SaveDhtState)) to start from.
    pub dht_state: Option<Vec<u8>>,
    /// Time between DHT `get_peers` lookups of a public torrent.
    pub dht_lookup_interval: Duration,
    /// Time between resume-data saves of a torrent that changed.
    pub resume_save_interval: Duration,
    /// Time between statistics ticks ([`Event::Stats`](super::Event::Stats) of the torrents
    /// whose statistics changed).
    pub stats_interval: Duration,
    /// The longest [`Session::shutdown`](super::Session::shutdown) waits for trackers and
    /// disk before it reports [`Event::ShutdownComplete`](super::Event::ShutdownComplete).
    pub shutdown_timeout: Duration,
    /// Which transports peer connections use (uTP needs the runtime to feed the UDP
    /// socket's datagrams to [`Session::handle_datagram`](super::Session::handle_datagram)).
    pub transport: Transport,
    /// With [`Transport::Both`], a uTP dial still unanswered after this falls back to TCP.
    pub utp_fallback: Duration,
    /// The link MTU uTP packets grow toward by path MTU discovery, once the runtime sends
    /// every datagram with don't-fragment
    /// ([`SocketConfig::link_mtu`](crate::utp::SocketConfig::link_mtu)); `None`: packets keep
    /// their first size (1,200 bytes). The runtimes set it from the interface when they set
    /// don't-fragment (a value given here caps it), and clear it when they cannot.
    pub utp_link_mtu: Option<usize>,
}

impl SessionConfig {
    /// The wire settings of a session with these settings and `peer_id`: the port to
    /// announce, the allowed-fast count, the handshake timeout and our extensions (BEP 9,
    /// BEP 11; messages arrive under these ids).
    pub(crate) fn wire(&self, peer_id: PeerId) -> crate::wire::Config {
        let mut wire = crate::wire::Config::new(peer_id);
        wire.listen_port = (self.listen_port != 0).then_some(self.listen_port);
        wire.allowed_fast_count = self.allowed_fast_count;
        wire.handshake_timeout = self.handshake_timeout;
        let _ = wire.extensions.register(crate::extensions::UT_METADATA);
        let _ = wire.extensions.register(crate::extensions::UT_PEX);
        wire
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            listen_port: 0,
            announce_ip: None,
            max_connections: 200,
            max_connections_per_torrent: 50,
            connect_timeout: Duration::from_secs(10),
            max_half_open: 20,
            dial_patience: Duration::from_secs(3),
            dial_patience_outranked: Duration::from_secs(1),
            max_pending_inbound: 64,
            max_connections_per_ip: 8,
            handshake_timeout: Duration::from_secs(5),
            first_message_timeout: Duration::from_secs(5),
            interest_grace: Duration::from_secs(20),
            trade_grace: Duration::from_secs(10),
            unchoke_patience: Duration::from_secs(2),
            penalty_strikes: 3,
            penalty_duration: Duration::from_secs(60),
            max_penalized_addresses: 4096,
            max_candidates_per_torrent: 500,
            reconnect_backoff: Duration::from_secs(10),
            reconnect_backoff_max: Duration::from_secs(600),
            max_connect_failures: 6,
            outgoing_encryption: OutgoingEncryption::Fallback,
            allowed_fast_count: crate::wire::limits::DEFAULT_ALLOWED_FAST_COUNT,
            max_disk_jobs: 256,
            max_unwritten_bytes: 3 * 512 * 1024,
            max_requested_bytes: 32 * 1024 * 1024,
            max_upload_queue_bytes: 1024 * 1024,
            send_accounting: false,
            max_send_backlog: 1024 * 1024,
            send_stall_timeout: Duration::from_secs(60),
            flush_every_bytes: 64 * 1024 * 1024,
            download_rate_limit: None,
            upload_rate_limit: None,
            choker: ChokerConfig::default(),
            picker: PickerConfig::default(),
            announcer: AnnouncerConfig::default(),
            announce_rate: 100,
            announces_in_flight: 50,
            dht_lookup_rate: 20,
            scrape_interval: Some(Duration::from_secs(30 * 60)),
            udp_tracker: UdpConfig::default(),
            dht: false,
            local_discovery: None,
            port_mapping: None,
            pex: true,
            dht_config: dht::Config::default(),
            dht_bootstrap: Vec::new(),
            dht_state: None,
            dht_lookup_interval: Duration::from_secs(300),
            resume_save_interval: Duration::from_secs(60),
            stats_interval: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(10),
            transport: Transport::Tcp,
            utp_fallback: Duration::from_secs(1),
            utp_link_mtu: None,
        }
    }
}

/// Which transports carry peer connections ([`SessionConfig::transport`]). The session sees
/// a byte stream either way: the handshake, encryption, rate limits and the choker treat
/// both alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// TCP only: no uTP connection is opened or accepted.
    #[default]
    Tcp,
    /// Dial over uTP only (BEP 29); inbound connections are accepted over both.
    Utp,
    /// Dial over uTP first and fall back to TCP when uTP gets no answer within
    /// [`SessionConfig::utp_fallback`] (or is refused); accept both.
    Both,
}

impl Transport {
    /// Whether uTP connections are dialled and accepted.
    pub fn utp(self) -> bool {
        self != Self::Tcp
    }
}

/// How we open connections: see [`SessionConfig::outgoing_encryption`]. Whenever we
/// start with the encrypted handshake (MSE) we offer both payload modes, plaintext and
/// RC4, and the peer chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutgoingEncryption {
    /// Plain BitTorrent only: a peer that requires encryption is never reached by dialling.
    Never,
    /// Plain BitTorrent first (no key exchange: the cheapest handshake, and every client
    /// accepts it by default). When a connection to an address ends before the peer's
    /// handshake, as with a peer that requires encryption, that address is redialled at once
    /// with the encrypted handshake, and the two alternate on later failures.
    #[default]
    Fallback,
    /// The encrypted handshake first; plain BitTorrent at once when that fails, then the two
    /// alternate on later failures.
    Prefer,
}

/// What a torrent is added from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    /// A parsed .torrent.
    Metainfo(Arc<Metainfo>),
    /// A magnet link: the torrent fetches its metadata from peers first.
    Magnet(MagnetLink),
}

impl TorrentSource {
    /// Whether the torrent has a v2 hash and no v1 hash (it is verified by merkle trees).
    pub fn is_v2_only(&self) -> bool {
        match self {
            Self::Metainfo(m) => m.info_hashes().is_v2_only(),
            Self::Magnet(m) => m.info_hashes().is_v2_only(),
        }
    }

    /// Whether the torrent is v2-only and will lack piece layers that only hash requests can
    /// fetch: a magnet link with only a `urn:btmh:` hash, or a .torrent without the `piece
    /// layers` of a file longer than one piece. The session fetches them from v2 peers
    /// before the download starts.
    pub fn lacks_piece_layers(&self) -> bool {
        match self {
            Self::Metainfo(m) => m.needs_piece_layers(),
            Self::Magnet(m) => m.info_hashes().is_v2_only(),
        }
    }

    /// The torrent's v1 and v2 info-hashes, as far as the source names them.
    pub fn info_hashes(&self) -> InfoHashes {
        match self {
            Self::Metainfo(m) => m.info_hashes(),
            Self::Magnet(m) => m.info_hashes(),
        }
    }

    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        match self {
            Self::Metainfo(m) => m.info_hash(),
            Self::Magnet(m) => m.info_hash,
        }
    }
}

/// How to run a torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TorrentOptions {
    /// The data is expected to be complete already: check it all and seed.
    pub seed_only: bool,
    /// Download pieces in order (streaming) instead of rarest first.
    pub sequential: bool,
    /// One priority per file (missing entries are normal); [`Priority::Skip`] skips a file.
    pub file_priorities: Vec<Priority>,
    /// Fetch the first and last piece of every wanted file before the others (qBittorrent's
    /// "first and last piece priority": a player can read a file's header and index early).
    pub first_last_pieces: bool,
    /// Saved resume data (from [`Action::SaveResume`](super::Action::SaveResume)) if the
    /// runtime found some. The session trusts it only for files whose stamps did not change.
    pub resume: Option<Vec<u8>>,
    /// Peers to dial at once (besides trackers, DHT and the magnet's `x.pe`).
    pub peers: Vec<SocketAddr>,
    /// Start without announcing or dialling (only inbound connections and seeding).
    pub no_outbound: bool,
    /// Its own rate and connection limits (see
    /// [`Session::set_torrent_limits`](super::Session::set_torrent_limits)).
    pub limits: TorrentLimits,
    /// An announce-list to use instead of the metainfo's or the magnet's (tiers of URLs; one
    /// edited earlier with [`Session::edit_trackers`](super::Session::edit_trackers)).
    pub trackers: Option<Vec<Vec<String>>>,
    /// Add it stopped: its data is checked as at any start (resume data first), then it stops
    /// without announcing, dialling or accepting a peer, until
    /// [`Session::start_torrent`](super::Session::start_torrent). A magnet stops at once.
    pub stopped: bool,
    /// Its files wait for a choice: once the metadata is known (at once for a .torrent, when
    /// it arrives for a magnet link), every file is skipped and nothing is downloaded until
    /// [`Session::set_file_priorities`](super::Session::set_file_priorities) chooses (any
    /// call, even one that skips every file). Meanwhile the torrent is never finished: no
    /// [`Event::TorrentComplete`](super::Event::TorrentComplete), no `completed` announce,
    /// phase `Downloading` rather than `Seeding`. `file_priorities` is then ignored.
    pub choose_files: bool,
    /// Release the torrent's metainfo and per-peer state once it has been complete, running
    /// and without a connection this long: it keeps a compact record (hashes, sizes, have-set,
    /// trackers, totals), goes on announcing, and asks for its metainfo back
    /// ([`Action::LoadMetainfo`](super::Action::LoadMetainfo)) when a peer comes or a check
    /// needs it. `None` (the default): never.
    pub release_idle_after: Option<Duration>,
    /// The torrent was complete (every piece verified) when its state was last saved: a
    /// .torrent added with this is added released (see
    /// [`release_idle_after`](Self::release_idle_after)) without its resume data being read
    /// and without a check: no storage opened, announcing with `left` 0 at once. Its resume
    /// data is asked for with its metainfo when it loads
    /// ([`Action::LoadMetainfo`](super::Action::LoadMetainfo) with `resume` set) and its
    /// files' stamps are compared then: all equal, it seeds as saved; otherwise the pieces
    /// not vouched for are hashed ([`Event::Unverified`](super::Event::Unverified) says
    /// why). Ignored (the torrent is added as usual) for a magnet link, a v2 torrent without
    /// its piece layers, or with [`stopped`](Self::stopped), [`seed_only`](Self::seed_only),
    /// [`choose_files`](Self::choose_files) or a file priority other than normal, and without
    /// [`release_idle_after`](Self::release_idle_after) (the application loads no metainfo
    /// back then).
    pub saved_complete: bool,
}

/// Why [`Session::add_torrent`](super::Session::add_torrent) refused a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddTorrentError {
    /// The session already has a torrent with this info-hash.
    Duplicate(InfoHash),
    /// The session is shutting down.
    ShuttingDown,
    /// More file priorities were given than the torrent has files.
    FilePriorities {
        /// Files of the torrent.
        files: usize,
        /// Priorities given.
        given: usize,
    },
}

impl fmt::Display for AddTorrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duplicate(h) => write!(f, "torrent {} is already in the session", h.to_hex()),
            Self::ShuttingDown => f.write_str("the session is shutting down"),
            Self::FilePriorities { files, given } => write!(
                f,
                "{given} file priorities given for a torrent of {files} files"
            ),
        }
    }
}

impl std::error::Error for AddTorrentError {}
