//! The management API every front end of the daemon talks to: [`Backend`], and the values it
//! takes and returns ([`TorrentView`] is what a torrent shows).
//!
//! The RPC layers (Transmission's today, qBittorrent's next) translate their protocols into
//! these calls; they never see the client's internals. Units are the client's, not a
//! protocol's: bytes, bytes per second, seconds since the Unix epoch.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub(crate) use super::rename::PathKind;
use serde::{Deserialize, Serialize};

pub(crate) use super::stream::{OpenError, StreamFile};

/// A torrent's number in this daemon run: small, stable while the daemon runs, not across
/// restarts (Transmission's ids behave the same; the info-hash is the stable name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Id(pub(crate) u32);

/// A torrent's info-hash (v1, SHA-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Hash(pub(crate) [u8; 20]);

impl Hash {
    /// Lowercase hex, as Transmission's `hashString`.
    pub(crate) fn to_hex(self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(40), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses 40 hex digits (either case).
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            out[i] = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
}

/// What a torrent is doing (Transmission's numbering, which the qBittorrent states map onto).
#[allow(dead_code)] // The model names every state; today's client reports only some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Stopped by the user (or by a seeding limit).
    Stopped = 0,
    /// Waiting for its turn to check its data.
    CheckWait = 1,
    /// Checking its data.
    Checking = 2,
    /// Waiting for a download slot.
    DownloadWait = 3,
    /// Downloading (or fetching metadata).
    Downloading = 4,
    /// Waiting for a seeding slot.
    SeedWait = 5,
    /// Seeding.
    Seeding = 6,
}

/// A file's download priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Priority {
    /// Fetched after the others.
    Low = -1,
    /// The default.
    #[default]
    Normal = 0,
    /// Fetched first.
    High = 1,
}

impl Priority {
    /// Transmission's number (-1, 0, 1).
    pub(crate) fn number(self) -> i64 {
        self as i64
    }
}

/// Whether a torrent's own seeding limit applies, the session's, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum LimitMode {
    /// The session's limit applies.
    #[default]
    Global = 0,
    /// The torrent's own limit applies.
    Single = 1,
    /// No limit.
    Unlimited = 2,
}

impl LimitMode {
    /// From Transmission's number.
    pub(crate) fn from_number(n: i64) -> Option<Self> {
        match n {
            0 => Some(Self::Global),
            1 => Some(Self::Single),
            2 => Some(Self::Unlimited),
            _ => None,
        }
    }
}

/// A speed limit: a rate, and whether it is on (both are kept, as front ends expect). Saved
/// as `[bytes_per_sec, enabled]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "(u64, bool)", into = "(u64, bool)")]
pub(crate) struct SpeedLimit {
    /// Bytes per second.
    pub(crate) bytes_per_sec: u64,
    /// Whether the limit applies.
    pub(crate) enabled: bool,
}

/// A torrent's options: what a front end can set, and what is saved with the torrent.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct TorrentOptions {
    /// Download limit.
    pub(crate) download_limit: SpeedLimit,
    /// Upload limit.
    pub(crate) upload_limit: SpeedLimit,
    /// Whether the session's limits also apply.
    pub(crate) honors_session_limits: bool,
    /// Stop seeding at this ratio (with `seed_ratio_mode` Single).
    pub(crate) seed_ratio_limit: f64,
    /// Which ratio limit applies.
    pub(crate) seed_ratio_mode: LimitMode,
    /// Stop seeding after this many idle minutes (with `seed_idle_mode` Single).
    pub(crate) seed_idle_limit: u32,
    /// Which idle limit applies.
    pub(crate) seed_idle_mode: LimitMode,
    /// Stop seeding after this many minutes of seeding (with `seed_time_mode` Single;
    /// qBittorrent's `seeding_time_limit`).
    pub(crate) seed_time_limit: u32,
    /// Which seeding time limit applies.
    pub(crate) seed_time_mode: LimitMode,
    /// Most peers connected for this torrent.
    pub(crate) peer_limit: u32,
    /// The torrent's bandwidth priority.
    pub(crate) bandwidth_priority: Priority,
    /// Download pieces in order.
    pub(crate) sequential: bool,
    /// Fetch every wanted file's first and last piece first (qBittorrent's
    /// `firstLastPiecePrio`).
    pub(crate) first_last_pieces: bool,
    /// The name a front end gave it (qBittorrent's `torrents/rename`; empty: its own).
    pub(crate) name: String,
    /// Free-form labels (Transmission labels; the qBittorrent API shows them as tags).
    pub(crate) labels: Vec<String>,
    /// Its category (qBittorrent's; empty: none).
    pub(crate) category: String,
    /// Its files wait for a choice (core's `TorrentOptions::choose_files`): every one is
    /// skipped, shown unwanted, and nothing is fetched until a front end sets its files.
    pub(crate) choose_files: bool,
    /// qBittorrent's `stopCondition=MetadataReceived`: stopped as its metadata arrives, its
    /// files then wanted as usual (it fetches no data before: its files wait meanwhile).
    pub(crate) stop_on_metadata: bool,
}

/// Why a torrent is in error, if it is (Transmission's `error` numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// A tracker answered with a warning.
    TrackerWarning = 1,
    /// A tracker answered with an error.
    TrackerError = 2,
    /// A local problem (disk full, missing files...).
    Local = 3,
}

/// A torrent's current error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TorrentError {
    /// Its kind.
    pub(crate) kind: ErrorKind,
    /// What went wrong, for people.
    pub(crate) message: String,
    /// The torrent's data is not there (a file deleted or cut short under it): qBittorrent's
    /// `missingFiles`.
    pub(crate) missing_files: bool,
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FileView {
    /// The path inside the torrent, `/`-separated, starting with the torrent's name for
    /// multi-file torrents (as Transmission shows it).
    pub(crate) name: String,
    /// Length in bytes.
    pub(crate) length: u64,
    /// Verified bytes of it we have.
    pub(crate) bytes_completed: u64,
    /// Whether it is to be downloaded.
    pub(crate) wanted: bool,
    /// Its priority.
    pub(crate) priority: Priority,
    /// The first piece holding its bytes.
    pub(crate) begin_piece: u32,
    /// One past the last piece holding its bytes.
    pub(crate) end_piece: u32,
}

/// One tracker of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TrackerView {
    /// Stable within the torrent: edits name trackers by it.
    pub(crate) id: u32,
    /// The announce URL.
    pub(crate) announce: String,
    /// Its tier (BEP 12), from 0.
    pub(crate) tier: u32,
    /// Seeders it last reported (`None`: unknown).
    pub(crate) seeders: Option<u32>,
    /// Leechers it last reported (`None`: unknown).
    pub(crate) leechers: Option<u32>,
    /// When it was last announced to (Unix seconds; 0: never).
    pub(crate) last_announce: u64,
    /// Whether the last announce succeeded.
    pub(crate) last_announce_ok: bool,
    /// What the last announce gave: a peer count or an error.
    pub(crate) last_result: String,
    /// When the next announce is due (Unix seconds; 0: none planned).
    pub(crate) next_announce: u64,
    /// Peers its last successful announce gave.
    pub(crate) last_peer_count: u32,
    /// Completed downloads it last reported (`None`: unknown).
    pub(crate) downloads: Option<u32>,
    /// Another tracker is the one in use, or it is in a tier after the first while none is
    /// (BEP 12 announces to one tracker at a time; the others stand by).
    pub(crate) backup: bool,
    /// How its scrapes went (`None`: never scraped).
    pub(crate) scrape: Option<ScrapeView>,
}

/// How a tracker's scrapes went.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct ScrapeView {
    /// When the latest scrape started (Unix seconds; 0: never).
    pub(crate) last_start: u64,
    /// When the latest scrape ended (Unix seconds; 0: none ended yet).
    pub(crate) last_time: u64,
    /// Whether it succeeded.
    pub(crate) last_ok: bool,
    /// What it gave: the counts, or why it failed (empty: none ended yet).
    pub(crate) last_result: String,
    /// Peers downloading now, by its latest scrape (`None`: it does not say).
    pub(crate) downloaders: Option<u32>,
    /// A scrape is in flight.
    pub(crate) active: bool,
    /// When the next one is due (Unix seconds; 0: none planned).
    pub(crate) next: u64,
}

/// Where a peer's address came from (Transmission's `peersFrom` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerFrom {
    /// A tracker (`fromTracker`).
    Tracker,
    /// The DHT (`fromDht`).
    Dht,
    /// Peer exchange (`fromPex`).
    Pex,
    /// It connected to us (`fromIncoming`).
    Incoming,
    /// Given with the torrent (a magnet's `x.pe`) or by hand (`fromCache`).
    Given,
    /// Local service discovery (`fromLpd`).
    Lsd,
    /// The listening port an incoming peer gave in its extension handshake (`fromLtep`).
    Ltep,
}

/// One connected peer of a torrent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PeerView {
    /// Its address.
    pub(crate) address: SocketAddr,
    /// Its client, from its peer id or extended handshake.
    pub(crate) client: String,
    /// The share of the torrent it has, 0 to 1.
    pub(crate) progress: f64,
    /// Bytes per second we get from it.
    pub(crate) rate_to_client: u64,
    /// Bytes per second we send it.
    pub(crate) rate_to_peer: u64,
    /// Payload bytes received from it over this connection.
    pub(crate) downloaded: u64,
    /// Payload bytes sent to it over this connection.
    pub(crate) uploaded: u64,
    /// Whether it connected to us.
    pub(crate) incoming: bool,
    /// Where we learnt of it.
    pub(crate) from: PeerFrom,
    /// Whether the connection is encrypted (MSE).
    pub(crate) encrypted: bool,
    /// Whether the connection runs over uTP (else TCP).
    pub(crate) utp: bool,
    /// Whether we choke it.
    pub(crate) peer_choked: bool,
    /// Whether it is interested in us.
    pub(crate) peer_interested: bool,
    /// Whether it chokes us.
    pub(crate) client_choked: bool,
    /// Whether we are interested in it.
    pub(crate) client_interested: bool,
}

/// What a torrent shows: everything a front end lists or details.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TorrentView {
    /// Its number in this run.
    pub(crate) id: Id,
    /// Its info-hash.
    pub(crate) hash: Hash,
    /// Its v2 info-hash (SHA-256) for a v2 or hybrid torrent (`None`: v1 only, or the
    /// metadata not known yet).
    pub(crate) hash_v2: Option<[u8; 32]>,
    /// Whether it has a v1 info-hash (false for a v2-only torrent: its [`Self::hash`] is the
    /// truncated v2 hash).
    pub(crate) has_v1: bool,
    /// Its name (from the metadata, or the magnet's `dn` until then).
    pub(crate) name: String,
    /// What it is doing.
    pub(crate) status: Status,
    /// Its data is moving to another directory, or waits to (qBittorrent's `moving`; the
    /// Transmission status shows the stop the move needs).
    pub(crate) moving: bool,
    /// Its error, if any.
    pub(crate) error: Option<TorrentError>,
    /// The directory its name is placed in.
    pub(crate) download_dir: PathBuf,
    /// Total size of its files (0 until the metadata is known).
    pub(crate) total_size: u64,
    /// Bytes of the wanted files.
    pub(crate) size_when_done: u64,
    /// Wanted bytes still missing.
    pub(crate) left_until_done: u64,
    /// Verified bytes we have.
    pub(crate) have_valid: u64,
    /// Bytes received and not verified yet.
    pub(crate) have_unchecked: u64,
    /// Missing wanted bytes that connected peers have.
    pub(crate) desired_available: u64,
    /// Bytes downloaded, all sessions.
    pub(crate) downloaded_ever: u64,
    /// Bytes uploaded, all sessions.
    pub(crate) uploaded_ever: u64,
    /// Bytes discarded because they failed a hash check.
    pub(crate) corrupt_ever: u64,
    /// How much of the metadata we have, 0 to 1 (1 once known).
    pub(crate) metadata_done: f64,
    /// Progress of a running check, 0 to 1.
    pub(crate) recheck_progress: f64,
    /// Number of pieces (0 until the metadata is known).
    pub(crate) piece_count: u32,
    /// Piece length in bytes.
    pub(crate) piece_size: u64,
    /// Which pieces we have, most significant bit first (empty without metadata).
    pub(crate) pieces: Vec<u8>,
    /// The metainfo's SHA-1 piece hashes (when [`Detail::piece_hashes`] asks; empty without
    /// metadata or for a v2-only torrent).
    pub(crate) piece_hashes: Vec<[u8; 20]>,
    /// How many connected peers have each piece (when [`Detail::availability`] asks; empty
    /// without metadata).
    pub(crate) availability: Vec<u32>,
    /// Bytes per second received.
    pub(crate) rate_download: u64,
    /// Bytes per second sent.
    pub(crate) rate_upload: u64,
    /// Connected peers.
    pub(crate) peers_connected: u32,
    /// Connected peers we download from.
    pub(crate) peers_sending_to_us: u32,
    /// Connected peers we upload to.
    pub(crate) peers_getting_from_us: u32,
    /// Connected peers that have every piece.
    pub(crate) seeds_connected: u32,
    /// Bytes downloaded since the daemon started (this run; `downloaded_ever` counts all).
    pub(crate) downloaded_session: u64,
    /// Bytes uploaded since the daemon started.
    pub(crate) uploaded_session: u64,
    /// Where its .torrent is kept in the state directory (empty: none kept, a magnet still
    /// fetching its metadata or a daemon without state).
    pub(crate) torrent_file: String,
    /// Running, but no data moved for the queue's stalled time (Transmission's `isStalled`;
    /// never while `queue-stalled-enabled` is off).
    pub(crate) is_stalled: bool,
    /// Seconds until done (`None`: unknown or not downloading).
    pub(crate) eta: Option<u64>,
    /// When it was added (Unix seconds).
    pub(crate) added_date: u64,
    /// When it completed (Unix seconds; 0: not yet).
    pub(crate) done_date: u64,
    /// When data last moved (Unix seconds; 0: never).
    pub(crate) activity_date: u64,
    /// When it was last started (Unix seconds; 0: never).
    pub(crate) start_date: u64,
    /// The metainfo's creation date (Unix seconds; 0: none).
    pub(crate) date_created: u64,
    /// The metainfo's comment.
    pub(crate) comment: String,
    /// The metainfo's creator.
    pub(crate) creator: String,
    /// Whether it is private (BEP 27).
    pub(crate) is_private: bool,
    /// A magnet link for it.
    pub(crate) magnet_link: String,
    /// Its place in the queue, from 0.
    pub(crate) queue_position: u32,
    /// Started ahead of the queue (`torrent-start-now`, qBittorrent's force start).
    pub(crate) forced: bool,
    /// Stopped by a seeding limit (Transmission's `isFinished`).
    pub(crate) is_finished: bool,
    /// Seconds spent downloading, all sessions.
    pub(crate) seconds_downloading: u64,
    /// Seconds spent seeding, all sessions.
    pub(crate) seconds_seeding: u64,
    /// Its options.
    pub(crate) options: TorrentOptions,
    /// Its files (empty until the metadata is known).
    pub(crate) files: Vec<FileView>,
    /// Its trackers.
    pub(crate) trackers: Vec<TrackerView>,
    /// Its connected peers (filled when [`Detail::peers`] asks).
    pub(crate) peers: Vec<PeerView>,
    /// Its web seeds (BEP 19).
    pub(crate) web_seeds: Vec<WebSeedView>,
}

/// One web seed of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WebSeedView {
    /// Its URL.
    pub(crate) url: String,
    /// Bytes per second recently received from it.
    pub(crate) download_rate: u64,
    /// Whether it has requests in flight (and was not dropped).
    pub(crate) downloading: bool,
}

/// Which costly parts of [`TorrentView`] a caller needs; a backend may fill more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Detail {
    /// Files with progress, wanted flag and priority.
    pub(crate) files: bool,
    /// The connected peers.
    pub(crate) peers: bool,
    /// The pieces bitfield.
    pub(crate) pieces: bool,
    /// The trackers.
    pub(crate) trackers: bool,
    /// The metainfo's piece hashes (v1).
    pub(crate) piece_hashes: bool,
    /// Each piece's count of peers having it (while a piece is missing; the pieces come
    /// with it then).
    pub(crate) availability: bool,
    /// The magnet link (a string built per torrent from its trackers and web seeds; without
    /// it [`TorrentView::magnet_link`] is left empty).
    pub(crate) magnet: bool,
}

/// Where a torrent to add comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The bytes of a .torrent file.
    Metainfo(Vec<u8>),
    /// A magnet link.
    Magnet(String),
    /// An `http`/`https` URL of a .torrent file, for the backend to fetch.
    Url(String),
    /// A .torrent file on the daemon's disk (already checked to lie in an allowed directory).
    File(PathBuf),
}

/// A torrent to add, with its first options.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct AddTorrent {
    /// Where it comes from (`None` only in `Default`).
    pub(crate) source: Option<Source>,
    /// Where its name goes (`None`: the session's download dir).
    pub(crate) download_dir: Option<PathBuf>,
    /// Add it stopped (`None`: the session's `start_added_torrents` decides).
    pub(crate) paused: Option<bool>,
    /// File changes to apply once the metadata is known.
    pub(crate) files: FileChanges,
    /// Its labels.
    pub(crate) labels: Vec<String>,
    /// Its category (empty: none).
    pub(crate) category: String,
    /// Its most peers (`None`: the session's default).
    pub(crate) peer_limit: Option<u32>,
    /// Its bandwidth priority.
    pub(crate) bandwidth_priority: Option<Priority>,
    /// Download pieces in order.
    pub(crate) sequential: Option<bool>,
    /// Fetch every wanted file's first and last piece first.
    pub(crate) first_last_pieces: Option<bool>,
    /// The name to show instead of its own (qBittorrent's `rename`; see [`check_name`]).
    pub(crate) name: Option<String>,
    /// Its files wait for a choice ([`TorrentOptions::choose_files`]).
    pub(crate) choose_files: bool,
    /// Stop it as its metadata arrives ([`TorrentOptions::stop_on_metadata`]).
    pub(crate) stop_on_metadata: bool,
}

/// The answer to an add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// A new torrent.
    New {
        /// Its id.
        id: Id,
        /// Its info-hash.
        hash: Hash,
        /// Its name.
        name: String,
    },
    /// The torrent was already there (nothing changed).
    Duplicate {
        /// Its id.
        id: Id,
        /// Its info-hash.
        hash: Hash,
        /// Its name.
        name: String,
    },
}

/// Which files a change names: listed indices, or every file (Transmission's empty list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Files {
    /// Every file.
    All,
    /// These file indices.
    Some(Vec<u32>),
}

/// Changes to files' wanted flags and priorities.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct FileChanges {
    /// Files to download.
    pub(crate) wanted: Option<Files>,
    /// Files to skip.
    pub(crate) unwanted: Option<Files>,
    /// Files to fetch first.
    pub(crate) high: Option<Files>,
    /// Files at normal priority.
    pub(crate) normal: Option<Files>,
    /// Files to fetch last.
    pub(crate) low: Option<Files>,
}

impl FileChanges {
    /// Whether nothing changes.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An edit to a torrent's trackers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TrackerEdit {
    /// Add these announce URLs, each in a tier of its own.
    Add(Vec<String>),
    /// Remove the trackers with these ids.
    Remove(Vec<u32>),
    /// Give the tracker with this id a new announce URL.
    Replace(Vec<(u32, String)>),
    /// Replace the whole list: tiers of announce URLs.
    Set(Vec<Vec<String>>),
}

/// An edit to a torrent's web seeds (BEP 19).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WebSeedEdit {
    /// Add these URLs.
    Add(Vec<String>),
    /// Remove these URLs.
    Remove(Vec<String>),
    /// Make the list exactly these URLs (Transmission's `torrent-set` `webseeds`).
    Set(Vec<String>),
}

/// Changes to torrents' options (`None`: unchanged).
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct TorrentChanges {
    /// Download limit rate (bytes/s).
    pub(crate) download_limit: Option<u64>,
    /// Download limit on or off.
    pub(crate) download_limited: Option<bool>,
    /// Upload limit rate (bytes/s).
    pub(crate) upload_limit: Option<u64>,
    /// Upload limit on or off.
    pub(crate) upload_limited: Option<bool>,
    /// Whether the session's limits also apply.
    pub(crate) honors_session_limits: Option<bool>,
    /// Seeding ratio limit.
    pub(crate) seed_ratio_limit: Option<f64>,
    /// Which ratio limit applies.
    pub(crate) seed_ratio_mode: Option<LimitMode>,
    /// Seeding idle limit, minutes.
    pub(crate) seed_idle_limit: Option<u32>,
    /// Which idle limit applies.
    pub(crate) seed_idle_mode: Option<LimitMode>,
    /// Seeding time limit, minutes.
    pub(crate) seed_time_limit: Option<u32>,
    /// Which seeding time limit applies.
    pub(crate) seed_time_mode: Option<LimitMode>,
    /// Most peers.
    pub(crate) peer_limit: Option<u32>,
    /// Bandwidth priority.
    pub(crate) bandwidth_priority: Option<Priority>,
    /// Sequential download.
    pub(crate) sequential: Option<bool>,
    /// Every wanted file's first and last piece first.
    pub(crate) first_last_pieces: Option<bool>,
    /// The name to show (empty: its own again; otherwise see [`check_name`]).
    pub(crate) name: Option<String>,
    /// Replace the labels.
    pub(crate) labels: Option<Vec<String>>,
    /// Set the category (empty: none).
    pub(crate) category: Option<String>,
    /// Move to this queue position.
    pub(crate) queue_position: Option<u32>,
    /// Files wanted and priorities.
    pub(crate) files: FileChanges,
    /// Tracker edits, applied in order.
    pub(crate) trackers: Vec<TrackerEdit>,
    /// Web seed edits, applied in order.
    pub(crate) web_seeds: Vec<WebSeedEdit>,
    /// Where the data is now (the data is not moved; see [`Backend::set_location`]).
    pub(crate) location: Option<PathBuf>,
}

/// A per-torrent action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Announce to the trackers now.
    Reannounce,
    /// Start (through the queue).
    Start,
    /// Start at once, ahead of the queue.
    StartNow,
    /// Start through the queue, no longer ahead of it (qBittorrent's force start off).
    StartQueued,
    /// Stop.
    Stop,
    /// Check the data again.
    Verify,
}

/// A move in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueMove {
    /// To the end.
    Bottom,
    /// One place later.
    Down,
    /// To the front.
    Top,
    /// One place earlier.
    Up,
}

/// Session-wide settings that a front end can read and change.
///
/// Also their saved form (`settings.json` in the state dir, see `store.rs`): what the command
/// line gives (the directories and the port) and `start_added_torrents` are not saved, and a
/// field missing from the file keeps its default, so a file written before a setting existed
/// still loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)] // Each is a setting of its own.
pub(crate) struct Settings {
    /// Where new torrents go by default.
    #[serde(skip)]
    pub(crate) download_dir: PathBuf,
    /// The listening peer port.
    #[serde(skip)]
    pub(crate) peer_port: u16,
    /// Whether the DHT runs.
    pub(crate) dht_enabled: bool,
    /// Whether PEX is used.
    pub(crate) pex_enabled: bool,
    /// Whether local service discovery is wanted (`--no-lsd` turns it off at start; it runs
    /// only where the client can open its sockets, see [`Settings::lpd_running`]).
    pub(crate) lpd_enabled: bool,
    /// Whether the client can run local service discovery (not on a loopback `--bind`).
    #[serde(skip)]
    pub(crate) lpd_available: bool,
    /// Whether the listening ports are mapped on the gateway (as the client reports it: not
    /// with `--no-port-mapping`, nor without a gateway for the listening address).
    #[serde(skip)]
    pub(crate) port_forwarding_enabled: bool,
    /// Whether peer connections may use uTP (the command line decides: `--transport`).
    #[serde(skip)]
    pub(crate) utp_enabled: bool,
    /// Whether peer connections may use TCP (the command line decides: `--transport`).
    #[serde(skip)]
    pub(crate) tcp_enabled: bool,
    /// Global download limit.
    pub(crate) download_limit: SpeedLimit,
    /// Global upload limit.
    pub(crate) upload_limit: SpeedLimit,
    /// The alternative limits ("turtle mode") and their schedule.
    pub(crate) alt_speed: AltSpeed,
    /// Whether the download queue applies.
    pub(crate) download_queue_enabled: bool,
    /// Most active downloads.
    pub(crate) download_queue_size: u32,
    /// Whether the seed queue applies.
    pub(crate) seed_queue_enabled: bool,
    /// Most active seeds.
    pub(crate) seed_queue_size: u32,
    /// Most active torrents of both kinds while a queue applies (qBittorrent's
    /// `max_active_torrents`; `None`: no limit).
    pub(crate) max_active_torrents: Option<u32>,
    /// Whether running torrents idle for `queue_stalled_minutes` take no queue slot.
    pub(crate) queue_stalled_enabled: bool,
    /// Minutes without data moving after which a running torrent is stalled.
    pub(crate) queue_stalled_minutes: u32,
    /// Default seeding ratio limit.
    pub(crate) seed_ratio_limit: f64,
    /// Whether the default ratio limit applies.
    pub(crate) seed_ratio_limited: bool,
    /// Default idle seeding limit, minutes.
    pub(crate) idle_seeding_limit: u32,
    /// Whether the default idle limit applies.
    pub(crate) idle_seeding_limit_enabled: bool,
    /// Default seeding time limit, minutes (qBittorrent's `max_seeding_time`).
    pub(crate) seeding_time_limit: u32,
    /// Whether the default seeding time limit applies.
    pub(crate) seeding_time_limit_enabled: bool,
    /// What a torrent that reaches a seeding limit does.
    pub(crate) seed_limit_action: SeedLimitAction,
    /// Start torrents when added.
    #[serde(skip)]
    pub(crate) start_added_torrents: bool,
    /// Most peers overall.
    pub(crate) peer_limit_global: u32,
    /// Default most peers per torrent.
    pub(crate) peer_limit_per_torrent: u32,
    /// Where state is kept.
    #[serde(skip)]
    pub(crate) state_dir: PathBuf,
}

impl Default for Settings {
    /// The defaults of [`Settings::new`], with no directories and port 0.
    fn default() -> Self {
        Self::new(PathBuf::new(), 0, PathBuf::new())
    }
}

impl Settings {
    /// Whether local service discovery runs: wanted, and possible for the client.
    pub(crate) fn lpd_running(&self) -> bool {
        self.lpd_enabled && self.lpd_available
    }

    /// The settings of a daemon downloading into `download_dir`, listening on `peer_port`,
    /// keeping its state in `state_dir`; queues, ratio and idle limits off, no rate limits.
    pub(crate) fn new(download_dir: PathBuf, peer_port: u16, state_dir: PathBuf) -> Self {
        Self {
            download_dir,
            peer_port,
            dht_enabled: true,
            pex_enabled: true,
            lpd_enabled: true,
            lpd_available: false,
            port_forwarding_enabled: false,
            utp_enabled: true,
            tcp_enabled: true,
            download_limit: SpeedLimit::default(),
            upload_limit: SpeedLimit::default(),
            alt_speed: AltSpeed::default(),
            download_queue_enabled: false,
            download_queue_size: 5,
            seed_queue_enabled: false,
            seed_queue_size: 10,
            max_active_torrents: None,
            queue_stalled_enabled: true,
            queue_stalled_minutes: 30,
            seed_ratio_limit: 2.0,
            seed_ratio_limited: false,
            idle_seeding_limit: 30,
            idle_seeding_limit_enabled: false,
            seeding_time_limit: 1440,
            seeding_time_limit_enabled: false,
            seed_limit_action: SeedLimitAction::Stop,
            start_added_torrents: true,
            peer_limit_global: 200,
            peer_limit_per_torrent: 50,
            state_dir,
        }
    }

    /// Brings values from outside (a saved file) into range: schedule times below 1440
    /// minutes, the day mask to its seven bits.
    pub(crate) fn clamp(&mut self) {
        let alt = &mut self.alt_speed;
        alt.time_begin = alt.time_begin.min(1439);
        alt.time_end = alt.time_end.min(1439);
        alt.time_day &= 127;
    }

    /// The session's rate limits in force (bytes per second; `None`: unlimited): the
    /// alternative ones while they are on, otherwise the normal ones that are enabled. A
    /// limit of 0 means none, as in qBittorrent.
    pub(crate) fn rates_in_force(&self) -> (Option<u64>, Option<u64>) {
        let positive = |r: u64| Some(r).filter(|r| *r > 0);
        if self.alt_speed.enabled {
            (positive(self.alt_speed.down), positive(self.alt_speed.up))
        } else {
            let rate = |l: SpeedLimit| positive(l.bytes_per_sec).filter(|_| l.enabled);
            (rate(self.download_limit), rate(self.upload_limit))
        }
    }
}

/// What a torrent that reaches a seeding limit (ratio, seeding time, idle time) does
/// (qBittorrent's `max_ratio_act`; Transmission only stops).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SeedLimitAction {
    /// It stops, and shows as finished.
    #[default]
    Stop,
    /// It is removed; its data stays.
    Remove,
    /// It is removed with its data.
    RemoveWithData,
}

/// The alternative speed limits (Transmission's "turtle mode", qBittorrent's alternative
/// rate limits) and the schedule that turns them on and off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct AltSpeed {
    /// Download limit, bytes per second (0: none).
    pub(crate) down: u64,
    /// Upload limit, bytes per second (0: none).
    pub(crate) up: u64,
    /// Whether they are in force.
    pub(crate) enabled: bool,
    /// Whether the schedule switches them (see `schedule.rs`).
    pub(crate) time_enabled: bool,
    /// Minutes after local midnight they go on.
    pub(crate) time_begin: u32,
    /// Minutes after local midnight they go off.
    pub(crate) time_end: u32,
    /// The days the schedule runs: bit 0 Sunday ... bit 6 Saturday (Transmission's mask).
    pub(crate) time_day: u32,
}

impl From<(u64, bool)> for SpeedLimit {
    fn from((bytes_per_sec, enabled): (u64, bool)) -> Self {
        Self {
            bytes_per_sec,
            enabled,
        }
    }
}

impl From<SpeedLimit> for (u64, bool) {
    fn from(l: SpeedLimit) -> Self {
        (l.bytes_per_sec, l.enabled)
    }
}

impl Default for AltSpeed {
    /// Transmission's defaults: 50 kB/s each way, off, scheduled 9:00 to 17:00 every day.
    fn default() -> Self {
        Self {
            down: 50_000,
            up: 50_000,
            enabled: false,
            time_enabled: false,
            time_begin: 540,
            time_end: 1020,
            time_day: 127,
        }
    }
}

/// Changes to [`Settings`] (`None`: unchanged).
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct SettingsChanges {
    /// Default download dir.
    pub(crate) download_dir: Option<PathBuf>,
    /// DHT on or off.
    pub(crate) dht_enabled: Option<bool>,
    /// PEX on or off.
    pub(crate) pex_enabled: Option<bool>,
    /// Local service discovery on or off.
    pub(crate) lpd_enabled: Option<bool>,
    /// Global download limit rate (bytes/s).
    pub(crate) download_limit: Option<u64>,
    /// Global download limit on or off.
    pub(crate) download_limited: Option<bool>,
    /// Global upload limit rate (bytes/s).
    pub(crate) upload_limit: Option<u64>,
    /// Global upload limit on or off.
    pub(crate) upload_limited: Option<bool>,
    /// Alternative download limit (bytes/s).
    pub(crate) alt_speed_down: Option<u64>,
    /// Alternative upload limit (bytes/s).
    pub(crate) alt_speed_up: Option<u64>,
    /// Alternative limits on or off.
    pub(crate) alt_speed_enabled: Option<bool>,
    /// Their schedule on or off.
    pub(crate) alt_speed_time_enabled: Option<bool>,
    /// When the schedule turns them on (minutes after local midnight, below 1440).
    pub(crate) alt_speed_time_begin: Option<u32>,
    /// When the schedule turns them off (minutes after local midnight, below 1440).
    pub(crate) alt_speed_time_end: Option<u32>,
    /// The schedule's days (bit 0 Sunday ... bit 6 Saturday).
    pub(crate) alt_speed_time_day: Option<u32>,
    /// Download queue on or off.
    pub(crate) download_queue_enabled: Option<bool>,
    /// Most active downloads.
    pub(crate) download_queue_size: Option<u32>,
    /// Seed queue on or off.
    pub(crate) seed_queue_enabled: Option<bool>,
    /// Most active seeds.
    pub(crate) seed_queue_size: Option<u32>,
    /// Most active torrents (`Some(None)`: no limit).
    pub(crate) max_active_torrents: Option<Option<u32>>,
    /// Stalled torrents take no slot, on or off.
    pub(crate) queue_stalled_enabled: Option<bool>,
    /// Minutes until a running torrent is stalled.
    pub(crate) queue_stalled_minutes: Option<u32>,
    /// Default ratio limit.
    pub(crate) seed_ratio_limit: Option<f64>,
    /// Default ratio limit on or off.
    pub(crate) seed_ratio_limited: Option<bool>,
    /// Default idle limit.
    pub(crate) idle_seeding_limit: Option<u32>,
    /// Default idle limit on or off.
    pub(crate) idle_seeding_limit_enabled: Option<bool>,
    /// Default seeding time limit, minutes.
    pub(crate) seeding_time_limit: Option<u32>,
    /// Default seeding time limit on or off.
    pub(crate) seeding_time_limit_enabled: Option<bool>,
    /// What a torrent that reaches a seeding limit does.
    pub(crate) seed_limit_action: Option<SeedLimitAction>,
    /// Start torrents when added.
    pub(crate) start_added_torrents: Option<bool>,
    /// Most peers overall.
    pub(crate) peer_limit_global: Option<u32>,
    /// Default most peers per torrent.
    pub(crate) peer_limit_per_torrent: Option<u32>,
}

/// The named groups torrents can be put in (qBittorrent's categories and tags).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Groups {
    /// Categories, each with its save path (empty: the session's download dir).
    pub(crate) categories: std::collections::BTreeMap<String, PathBuf>,
    /// Tags known besides those torrents carry.
    pub(crate) tags: std::collections::BTreeSet<String>,
}

impl Groups {
    /// Applies `edit`, and takes removed groups off the torrents whose `options` are given.
    pub(crate) fn apply<'a>(
        &mut self,
        edit: &GroupEdit,
        options: impl Iterator<Item = &'a mut TorrentOptions>,
    ) {
        match edit {
            GroupEdit::SetCategory(name, path) => {
                self.categories.insert(name.clone(), path.clone());
            }
            GroupEdit::RemoveCategories(names) => {
                for name in names {
                    self.categories.remove(name);
                }
                for o in options.filter(|o| names.contains(&o.category)) {
                    o.category.clear();
                }
            }
            GroupEdit::AddTags(tags) => self.tags.extend(tags.iter().cloned()),
            GroupEdit::RemoveTags(tags) => {
                for tag in tags {
                    self.tags.remove(tag);
                }
                for o in options {
                    o.labels.retain(|l| !tags.contains(l));
                }
            }
        }
    }
}

/// An edit to [`Groups`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupEdit {
    /// Create or change a category (its save path; empty: the default).
    SetCategory(String, PathBuf),
    /// Forget these categories (torrents in them lose their category).
    RemoveCategories(Vec<String>),
    /// Create these tags.
    AddTags(Vec<String>),
    /// Forget these tags (torrents carrying them lose them).
    RemoveTags(Vec<String>),
}

impl GroupEdit {
    /// Whether applying it changes a torrent with these options (what [`Groups::apply`]
    /// needs to be given).
    pub(crate) fn touches(&self, options: &TorrentOptions) -> bool {
        match self {
            Self::SetCategory(..) | Self::AddTags(_) => false,
            Self::RemoveCategories(names) => names.contains(&options.category),
            Self::RemoveTags(tags) => options.labels.iter().any(|l| tags.contains(l)),
        }
    }
}

/// Transfer totals over some span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    /// Bytes uploaded.
    pub(crate) uploaded: u64,
    /// Bytes downloaded.
    pub(crate) downloaded: u64,
    /// Torrents added.
    pub(crate) files_added: u64,
    /// Daemon starts.
    pub(crate) sessions: u64,
    /// Seconds running.
    pub(crate) seconds_active: u64,
}

/// Session statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Stats {
    /// Torrents transferring now.
    pub(crate) active: u32,
    /// Torrents stopped.
    pub(crate) paused: u32,
    /// All torrents.
    pub(crate) total: u32,
    /// Bytes per second received, all torrents.
    pub(crate) download_rate: u64,
    /// Bytes per second sent, all torrents.
    pub(crate) upload_rate: u64,
    /// Peer connections, all torrents.
    pub(crate) peers_connected: u32,
    /// Nodes in the DHT's routing table (0: the DHT is off).
    pub(crate) dht_nodes: u32,
    /// Since this daemon started.
    pub(crate) current: Totals,
    /// Since the state dir was made.
    pub(crate) cumulative: Totals,
}

/// Space on the file system holding a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Space {
    /// Bytes free for us.
    pub(crate) free: u64,
    /// Bytes in all.
    pub(crate) total: u64,
}

/// The longest name a front end can give a torrent, in bytes.
pub(crate) const NAME_MAX_BYTES: usize = 1024;

/// Why a name a front end gives is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameError {
    /// Nothing but white space.
    Empty,
    /// Longer than [`NAME_MAX_BYTES`] (its length in bytes).
    TooLong(usize),
    /// It holds a control character (a line break, a NUL...).
    Control,
    /// It holds a `/` (a name is one path component).
    Slash,
    /// `.` or `..`.
    Dots,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "the name is empty"),
            Self::TooLong(n) => write!(f, "the name is {n} bytes long, more than {NAME_MAX_BYTES}"),
            Self::Control => write!(f, "the name holds a control character"),
            Self::Slash => write!(f, "the name holds a '/'"),
            Self::Dots => write!(f, "the name is '.' or '..'"),
        }
    }
}

/// A name a front end gives (a torrent's, a file's or a folder's), trimmed of white space at
/// both ends; refused if empty, longer than [`NAME_MAX_BYTES`], `.` or `..`, or if it holds a
/// control character or a `/`.
pub(crate) fn check_name(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > NAME_MAX_BYTES {
        Err(NameError::TooLong(name.len()))
    } else if name.chars().any(char::is_control) {
        Err(NameError::Control)
    } else if name.contains('/') {
        Err(NameError::Slash)
    } else if name == "." || name == ".." {
        Err(NameError::Dots)
    } else {
        Ok(name)
    }
}

/// Why a backend call failed.
#[allow(dead_code)] // File changes come with the client's file priorities (see README.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BackendError {
    /// A name given is refused.
    Name(NameError),
    /// The .torrent could not be parsed, or is hostile.
    Corrupt(String),
    /// A file index past the torrent's files.
    FileIndex(u32),
    /// Fetching a URL failed (or its scheme is refused).
    Http(String),
    /// A bad argument the front end could have avoided.
    Invalid(String),
    /// The operation is not available (yet) in this daemon.
    Unsupported(String),
    /// The file system or the client failed.
    System(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(why) => write!(f, "invalid name: {why}"),
            Self::Corrupt(why) => write!(f, "invalid or corrupt torrent file: {why}"),
            Self::FileIndex(i) => write!(f, "file index out of range: {i}"),
            Self::Http(why) => write!(f, "cannot fetch the torrent: {why}"),
            Self::Invalid(why) => write!(f, "invalid argument: {why}"),
            Self::Unsupported(what) => write!(f, "not supported by this daemon: {what}"),
            Self::System(why) => write!(f, "system error: {why}"),
        }
    }
}

impl From<NameError> for BackendError {
    fn from(e: NameError) -> Self {
        Self::Name(e)
    }
}

/// How many torrents a front end views at once when it walks a long list
/// ([`Backend::torrents_of`]): one round trip with the client's loop, and for a `torrent-get`
/// one chunk of the response body.
pub(crate) const PAGE: usize = 256;

/// What a backend call gives back.
pub(crate) type Outcome<T> = Result<T, BackendError>;

/// The client's management API, as the daemon's front ends need it.
///
/// Calls naming ids ignore ids that do not exist (as Transmission does); every call is
/// cancel-safe only in that a dropped call may or may not have happened.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Adds a torrent (or reports the one already there).
    fn add(&self, add: AddTorrent) -> impl Future<Output = Outcome<Added>> + Send;

    /// The torrents, in id order, with at least the `detail` asked for.
    fn torrents(&self, detail: Detail) -> impl Future<Output = Vec<TorrentView>> + Send;

    /// The ids of every torrent, in id order: cheap, so that a front end can view a long list
    /// a page at a time ([`Backend::torrents_of`]) instead of holding every view at once.
    fn torrent_ids(&self) -> impl Future<Output = Vec<Id>> + Send;

    /// The torrents among `ids` (in id order) still listed, in id order, with at least the
    /// `detail` asked for.
    fn torrents_of(
        &self,
        ids: &[Id],
        detail: Detail,
    ) -> impl Future<Output = Vec<TorrentView>> + Send;

    /// Ids of torrents removed in the last minute (for `recently-active` queries).
    fn recently_removed(&self) -> impl Future<Output = Vec<Id>> + Send;

    /// Starts, stops, checks or reannounces torrents.
    fn act(&self, ids: Vec<Id>, action: Action) -> impl Future<Output = Outcome<()>> + Send;

    /// Removes torrents, and their downloaded data if `delete_data`.
    fn remove(&self, ids: Vec<Id>, delete_data: bool) -> impl Future<Output = Outcome<()>> + Send;

    /// Changes torrents' options, files and trackers.
    fn change(
        &self,
        ids: Vec<Id>,
        changes: TorrentChanges,
    ) -> impl Future<Output = Outcome<()>> + Send;

    /// Moves torrents' data to `location` (or, without `move_data`, looks for it there).
    fn set_location(
        &self,
        ids: Vec<Id>,
        location: PathBuf,
        move_data: bool,
    ) -> impl Future<Output = Outcome<()>> + Send;

    /// Renames a file or folder of torrent `id` (`from` as its `files` show it, `/` between
    /// components) to the path `to`, on disk too; a running torrent keeps running. With
    /// [`PathKind::Either`] (Transmission), renaming its top folder (or its only file)
    /// renames the torrent too.
    fn rename_path(
        &self,
        id: Id,
        from: String,
        to: String,
        kind: PathKind,
    ) -> impl Future<Output = Outcome<()>> + Send;

    /// Moves torrents in the queue.
    fn queue_move(&self, ids: Vec<Id>, to: QueueMove) -> impl Future<Output = Outcome<()>> + Send;

    /// The session's settings.
    fn settings(&self) -> impl Future<Output = Settings> + Send;

    /// Changes session settings.
    fn change_settings(&self, changes: SettingsChanges)
    -> impl Future<Output = Outcome<()>> + Send;

    /// Session statistics.
    fn stats(&self) -> impl Future<Output = Stats> + Send;

    /// Free and total space where `path` lies.
    fn free_space(&self, path: &Path) -> impl Future<Output = Outcome<Space>> + Send;

    /// Whether our peer port is reachable from outside (`false` when unknown).
    fn port_test(&self) -> impl Future<Output = bool> + Send;

    /// The categories and tags.
    fn groups(&self) -> impl Future<Output = Groups> + Send;

    /// Creates, changes or removes categories and tags.
    fn change_groups(&self, edit: GroupEdit) -> impl Future<Output = Outcome<()>> + Send;

    /// Opens file `index` (padding files left out) of the torrent `hash` for streaming. With
    /// `fetch` (a `GET`: the bytes will be read) a file not wanted and not complete is
    /// turned on (wanted, high priority); without it (a `HEAD`) nothing changes.
    fn open_stream(
        &self,
        hash: Hash,
        index: usize,
        fetch: bool,
    ) -> impl Future<Output = Result<StreamFile, OpenError>> + Send {
        let _ = (hash, index, fetch);
        async { Err(OpenError::Unsupported) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_single_components_without_control_characters() {
        assert_eq!(check_name("  Some name  "), Ok("Some name"));
        assert_eq!(check_name(&"é".repeat(512)).map(str::len), Ok(1024));
        assert_eq!(check_name(&"x".repeat(1025)), Err(NameError::TooLong(1025)));
        assert_eq!(check_name(" \t "), Err(NameError::Empty));
        assert_eq!(check_name("a\nb"), Err(NameError::Control));
        assert_eq!(check_name("nul\0"), Err(NameError::Control));
        assert_eq!(check_name("esc\u{1b}[0m"), Err(NameError::Control));
        assert_eq!(check_name("a/b"), Err(NameError::Slash));
        assert_eq!(check_name(".."), Err(NameError::Dots));
        assert_eq!(check_name("."), Err(NameError::Dots));
        assert_eq!(check_name("..."), Ok("..."));
    }
}
