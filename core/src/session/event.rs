//! What a session tells the application: [`Event`]s, why a peer connection ended
//! ([`PeerCloseReason`]) and a torrent's progress ([`TorrentStats`], [`TorrentPhase`]).

use crate::wire::mse::MseError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::error::SessionError;
use super::io::TorrentId;
use crate::extensions::{MetadataFault, MetadataMessageError, PexError};
use crate::id::{InfoHash, InfoHashV2};
use crate::metainfo::Metainfo;
use crate::tracker::TrackerError;
use crate::webseed::WebSeedError;
use crate::wire::CloseReason;

/// Something the application may want to know; drain with
/// [`Session::poll_event`](super::Session::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A torrent joined the session.
    TorrentAdded {
        /// The torrent.
        torrent: TorrentId,
        /// Its info-hash.
        info_hash: InfoHash,
    },
    /// A magnet torrent got its metadata and is now a full torrent.
    MetadataReceived {
        /// The torrent.
        torrent: TorrentId,
        /// The metadata (its [`Metainfo::info_bytes`] are what to save, so that a restart
        /// need not fetch them again).
        metainfo: Arc<Metainfo>,
    },
    /// Existing data is being checked (resume file missing, stale, or `seed_only`).
    Checking {
        /// The torrent.
        torrent: TorrentId,
        /// Pieces to hash.
        pieces: u32,
    },
    /// The check finished.
    Checked {
        /// The torrent.
        torrent: TorrentId,
        /// Pieces we have now (trusted plus found good).
        have: u32,
        /// Whether that is every piece of the torrent (what an application saving a
        /// torrent as complete needs: a check that found data missing says so here).
        all: bool,
    },
    /// A downloaded piece matched its hash and is written.
    PieceVerified {
        /// The torrent.
        torrent: TorrentId,
        /// The piece.
        piece: u32,
    },
    /// A downloaded piece did not match its hash; it is downloaded again.
    PieceFailed {
        /// The torrent.
        torrent: TorrentId,
        /// The piece.
        piece: u32,
    },
    /// Every wanted piece is verified: the torrent now seeds.
    TorrentComplete {
        /// The torrent.
        torrent: TorrentId,
    },
    /// A torrent left the session ([`Session::remove_torrent`](super::Session::remove_torrent)):
    /// its id is no longer known. Its resume data is stale; its files are untouched (the
    /// runtime deletes them if asked to).
    TorrentRemoved {
        /// The torrent.
        torrent: TorrentId,
        /// Its info-hash.
        info_hash: InfoHash,
    },
    /// A peer connection finished its handshake.
    PeerConnected {
        /// The torrent.
        torrent: TorrentId,
        /// The peer's address.
        addr: SocketAddr,
        /// Whether the connection runs over uTP (TCP otherwise).
        utp: bool,
    },
    /// A peer connection ended (or a connect failed).
    PeerClosed {
        /// The torrent, if the connection had one.
        torrent: Option<TorrentId>,
        /// The peer's address.
        addr: SocketAddr,
        /// Why.
        reason: PeerCloseReason,
    },
    /// A peer was banned from a torrent: it is never dialled or accepted again. Its open
    /// connections, if any, are closed (each with a [`Event::PeerClosed`]).
    PeerBanned {
        /// The torrent.
        torrent: TorrentId,
        /// The peer's listen address (or the address it connected from).
        addr: SocketAddr,
        /// Why ([`PeerCloseReason::Banned`], [`PeerCloseReason::SmartBanned`],
        /// [`PeerCloseReason::BadMetadata`]).
        reason: PeerCloseReason,
    },
    /// A web seed's request failed (BEP 19): it is asked for nothing until `retry_in` has
    /// passed; its blocks went back to the other sources.
    WebSeedFailed {
        /// The torrent.
        torrent: TorrentId,
        /// The web seed's URL.
        url: String,
        /// Why.
        error: WebSeedError,
        /// The back-off.
        retry_in: std::time::Duration,
    },
    /// A web seed failed too often (or sent data that failed hash checks) and is no longer
    /// used.
    WebSeedDropped {
        /// The torrent.
        torrent: TorrentId,
        /// The web seed's URL.
        url: String,
        /// The last failure.
        error: WebSeedError,
    },
    /// A peer told us of other peers of a torrent over ut_pex (BEP 11); they are now
    /// candidates to dial.
    PexPeers {
        /// The torrent.
        torrent: TorrentId,
        /// The listen address of the peer that told us.
        from: SocketAddr,
        /// The new addresses (at most a few hundred).
        peers: Vec<SocketAddr>,
    },
    /// A tracker answered an announce.
    TrackerAnnounced {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker.
        url: String,
        /// Peers it gave.
        peers: usize,
    },
    /// A tracker answered a scrape (BEP 48): the swarm as it sees it. Trackers are scraped
    /// after their first successful announce, then every `scrape_interval`.
    TrackerScraped {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker's announce URL (as in [`Event::TrackerAnnounced`]).
        url: String,
        /// Its counts.
        counts: SwarmCounts,
    },
    /// A tracker announce failed.
    TrackerError {
        /// The torrent.
        torrent: TorrentId,
        /// The tracker.
        url: String,
        /// What went wrong.
        error: TrackerError,
    },
    /// The DHT lookup budget (`dht_lookup_rate`) cannot announce this public torrent within
    /// its 30-minute window (DHT nodes forget an announced peer after 30 minutes): its next
    /// lookup starts at `at`, after `window_end`. Raised once per missed window and counted in
    /// [`DhtAnnounceStats::late`](super::DhtAnnounceStats::late); a higher `dht_lookup_rate`
    /// or a longer `dht_lookup_interval` never misses.
    DhtAnnounceLate {
        /// The torrent.
        torrent: TorrentId,
        /// When its window ends (30 minutes after its previous lookup, or after its first one
        /// became due).
        window_end: Instant,
        /// When its lookup will start.
        at: Instant,
    },
    /// `stopped` announces were dropped unsent: the announce budget (`announce_rate`,
    /// `announces_in_flight`) had not sent them by their torrent's stop deadline
    /// (`shutdown_timeout` after its stop) or the end of the shutdown; raised once for the
    /// shutdown's and once per step for other stops, counted in
    /// [`StopAnnounceStats::dropped`](super::StopAnnounceStats::dropped). Their trackers
    /// forget the torrent at their own timeout.
    StopAnnouncesDropped {
        /// How many.
        count: u64,
    },
    /// The DHT's state changed (bootstrapped, or a lookup ended).
    DhtStatus {
        /// Nodes in the routing table.
        nodes: usize,
    },
    /// Port mapping on the gateway (see [`Session::set_gateway`](super::Session::set_gateway)):
    /// a mapping made, failed or removed, or the external address learned.
    PortMapping(crate::portmap::PortMapEvent),
    /// Periodic statistics of a torrent (every `stats_interval` while they change; every
    /// fifth interval while they stay the same).
    Stats {
        /// The torrent.
        torrent: TorrentId,
        /// Its statistics.
        stats: TorrentStats,
    },
    /// A torrent stopped (after `stop_torrent` or during shutdown): trackers were told, data
    /// flushed, resume data saved, connections closed.
    TorrentStopped {
        /// The torrent.
        torrent: TorrentId,
    },
    /// A complete torrent idle for its
    /// [`TorrentOptions::release_idle_after`](super::TorrentOptions::release_idle_after)
    /// released its metainfo and per-peer state (it keeps seeding and announcing).
    TorrentReleased {
        /// The torrent.
        torrent: TorrentId,
    },
    /// A released torrent's metainfo is back (a peer came, or a start or check needs it).
    TorrentReloaded {
        /// The torrent.
        torrent: TorrentId,
    },
    /// A torrent added complete from its saved state
    /// ([`TorrentOptions::saved_complete`](super::TorrentOptions::saved_complete)) loaded,
    /// and its resume data or files' stamps do not vouch for every piece: what they do not
    /// vouch for is hashed ([`Event::Checking`] follows if anything is).
    Unverified {
        /// The torrent.
        torrent: TorrentId,
        /// Why.
        reason: super::lazy::Untrusted,
    },
    /// Every torrent stopped after [`Session::shutdown`](super::Session::shutdown): the
    /// runtime may exit.
    ShutdownComplete,
    /// Something failed that the application should show (disk errors above all).
    Error {
        /// The torrent concerned, if any.
        torrent: Option<TorrentId>,
        /// What went wrong (its `Display` is the message for the user).
        error: SessionError,
    },
}

/// Why a peer connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerCloseReason {
    /// The connection state machine closed it (protocol error, timeout, remote close, …).
    Wire(CloseReason),
    /// The outbound connect failed.
    ConnectFailed(io::ErrorKind),
    /// The runtime reported the socket closed.
    SocketClosed,
    /// The peer is us (same peer id, or our own listen address).
    SelfConnection,
    /// The peer asked for a torrent we do not have (or that is stopping).
    UnknownTorrent,
    /// The peer is banned (hash failures).
    Banned,
    /// The smart ban proved the peer sent a bad block: a piece it contributed to failed, and
    /// once that piece passed, its block differed from the good one. It is banned.
    SmartBanned,
    /// Already connected to this peer id on this torrent.
    Duplicate,
    /// A connection limit was reached.
    Limit,
    /// A connection limit was reached and a newcomer took this connection's slot: it had not
    /// finished its handshake, sent nothing since, neither side was interested (see
    /// [`SessionConfig::interest_grace`](super::SessionConfig::interest_grace)), or it was
    /// interested in us and traded nothing (see
    /// [`SessionConfig::trade_grace`](super::SessionConfig::trade_grace) and
    /// [`SessionConfig::unchoke_patience`](super::SessionConfig::unchoke_patience)).
    Evicted,
    /// The peer sent no message within
    /// [`SessionConfig::first_message_timeout`](super::SessionConfig::first_message_timeout)
    /// of the handshake.
    Silent,
    /// Both sides are seeds: nothing to trade.
    BothSeeds,
    /// The torrent stopped, or the session shut down.
    Stopped,
    /// The peer sent metadata (ut_metadata) proven wrong; it is banned.
    BadMetadata(MetadataFault),
    /// The peer's BEP 52 hashes did not prove against the file's root; it is banned.
    BadHashes,
    /// The peer sent a malformed extension message (ut_metadata, ut_pex).
    BadExtensionMessage(ExtensionError),
    /// The peer stopped reading: our send backlog stayed at `max_send_backlog` with nothing
    /// written for `send_stall_timeout`.
    SendStalled,
    /// The peer's encrypted handshake (MSE) failed or asked for what we do not do.
    EncryptedHandshake(MseError),
    /// Its torrent was released and loading the metainfo back failed (see
    /// [`SessionError::LoadMetainfo`](super::SessionError::LoadMetainfo)).
    MetainfoUnavailable,
}

impl fmt::Display for PeerCloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wire(r) => write!(f, "{r}"),
            Self::ConnectFailed(k) => write!(f, "connect failed: {k}"),
            Self::SocketClosed => f.write_str("socket closed"),
            Self::SelfConnection => f.write_str("connected to ourselves"),
            Self::UnknownTorrent => f.write_str("peer asked for a torrent we do not serve"),
            Self::Banned => f.write_str("peer is banned"),
            Self::SmartBanned => f.write_str("peer proven to have sent a bad block; banned"),
            Self::Duplicate => f.write_str("already connected to this peer"),
            Self::Limit => f.write_str("connection limit reached"),
            Self::Evicted => f.write_str("replaced by a newcomer at the connection limit"),
            Self::Silent => f.write_str("sent no message after its handshake"),
            Self::BothSeeds => f.write_str("both sides are seeds"),
            Self::Stopped => f.write_str("torrent stopped"),
            Self::BadMetadata(fault) => write!(f, "peer sent wrong metadata: {fault}"),
            Self::BadHashes => f.write_str("peer sent merkle hashes that do not prove; banned"),
            Self::BadExtensionMessage(e) => write!(f, "bad extension message: {e}"),
            Self::SendStalled => f.write_str("peer stopped reading what we send"),
            Self::EncryptedHandshake(e) => write!(f, "{e}"),
            Self::MetainfoUnavailable => f.write_str("the torrent's metainfo could not be loaded"),
        }
    }
}

/// A malformed extension message, by extension.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionError {
    /// A ut_metadata message (BEP 9).
    Metadata(MetadataMessageError),
    /// A ut_pex message (BEP 11).
    Pex(PexError),
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metadata(e) => e.fmt(f),
            Self::Pex(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExtensionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Metadata(e) => Some(e),
            Self::Pex(e) => Some(e),
        }
    }
}

/// Where a torrent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TorrentPhase {
    /// Waiting for file stamps, or hashing existing data.
    Checking,
    /// A magnet link: fetching the info dictionary from peers.
    FetchingMetadata,
    /// Downloading pieces.
    Downloading,
    /// Every wanted piece is here: uploading only.
    Seeding,
    /// Stopping: `stopped` announce, flush, resume save.
    Stopping,
    /// Stopped.
    Stopped,
}

/// A torrent's progress, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TorrentStats {
    /// Where the torrent is.
    pub phase: TorrentPhase,
    /// The info-hash: the 20-byte id used with trackers, the DHT and in the handshake (the
    /// v1 info-hash, or a v2-only torrent's SHA-256 info-hash truncated to 20 bytes).
    pub info_hash: InfoHash,
    /// The full v2 info-hash (SHA-256 of the `info` dictionary) of a v2-only or hybrid
    /// torrent, for front ends to show (qBittorrent's `infohash_v2`); `None` for a v1 torrent,
    /// and for a magnet without `btmh` until its metadata arrives.
    pub info_hash_v2: Option<InfoHashV2>,
    /// Total size in bytes (0 while the metadata is unknown). Here and below, bytes of
    /// padding files (BEP 47) are left out, as libtorrent leaves them out.
    pub total_bytes: u64,
    /// Bytes of the wanted pieces (skipped files excluded).
    pub wanted_bytes: u64,
    /// Bytes of verified pieces.
    pub have_bytes: u64,
    /// Bytes of verified wanted pieces (at most `wanted_bytes`: pieces of skipped files had
    /// before they were skipped are left out).
    pub wanted_have_bytes: u64,
    /// Payload bytes received this session (including discarded duplicates; the zeros of
    /// padding files a block carries are left out).
    pub downloaded: u64,
    /// Payload bytes sent this session.
    pub uploaded: u64,
    /// Payload download rate, bytes per second.
    pub download_rate: u64,
    /// Payload upload rate, bytes per second.
    pub upload_rate: u64,
    /// Established peer connections.
    pub peers_connected: usize,
    /// Connections in progress (connecting or handshaking).
    pub peers_connecting: usize,
    /// Known addresses to dial.
    pub peers_known: usize,
    /// Connected peers that have every piece.
    pub seeds_connected: usize,
    /// Verified pieces.
    pub pieces_have: u32,
    /// Pieces of the torrent (0 while the metadata is unknown).
    pub piece_count: u32,
    /// Pieces hashed so far by the current check.
    pub pieces_checked: u32,
    /// Pieces that failed their hash this session.
    pub hash_failures: u32,
    /// The swarm's size by the trackers' latest scrapes (the largest count any tracker gave),
    /// once one answered.
    pub swarm: Option<SwarmCounts>,
}

/// A torrent's swarm as a tracker's scrape (BEP 48) counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwarmCounts {
    /// Peers with the whole torrent (`complete`).
    pub seeders: u32,
    /// Peers still downloading (`incomplete`).
    pub leechers: u32,
    /// Completed downloads the tracker has seen (`downloaded`).
    pub downloaded: u32,
}
