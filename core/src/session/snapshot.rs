//! What a front end shows of one torrent beyond its [`TorrentStats`]: which pieces and how much
//! of each file is verified, the connected peers, each tracker's status, the torrent's error.
//!
//! A [`TorrentSnapshot`] is built on request from the state the session keeps anyway (nothing
//! is updated per event for it), and only the costly parts a [`SnapshotDetail`] asks for.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::edit::TrackerInfo;
use super::event::{SwarmCounts, TorrentStats};
use super::peers::Peer;
use super::torrent::Torrent;
use super::torrent::candidates::Source;
use super::torrent_error::TorrentError;
use crate::metainfo::Metainfo;
use crate::picker::Priority;
use crate::pieces::PieceSet;
use crate::tracker::{AnnounceResponse, TrackerError, TrackerUrl, UdpError};
use crate::wire::transport::Transport;

/// The most characters of a tracker's text shown (trackers are hostile): a warning, or the
/// message of a failed announce.
pub const MAX_TRACKER_MESSAGE: usize = 512;

/// Which costly parts of a [`TorrentSnapshot`] to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotDetail {
    /// [`TorrentSnapshot::pieces`].
    pub pieces: bool,
    /// [`TorrentSnapshot::file_bytes`].
    pub files: bool,
    /// [`TorrentSnapshot::peers`].
    pub peers: bool,
    /// [`TorrentSnapshot::trackers`].
    pub trackers: bool,
    /// [`TorrentSnapshot::availability`].
    pub availability: bool,
}

/// One torrent as a front end shows it; see
/// [`Session::torrent_snapshot`](super::Session::torrent_snapshot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentSnapshot {
    /// Its statistics, with rates measured at the snapshot's `now`.
    pub stats: TorrentStats,
    /// Its metadata, once known (a magnet's after the fetch).
    pub metainfo: Option<Arc<Metainfo>>,
    /// What keeps it from working well, if anything.
    pub error: Option<TorrentError>,
    /// Bytes of pieces that failed their hash this session.
    pub corrupt_bytes: u64,
    /// Bytes of missing wanted pieces that some connected peer has.
    pub desired_available: u64,
    /// Connected peers that sent us payload in the last few seconds.
    pub peers_sending_to_us: usize,
    /// Connected peers we sent payload to in the last few seconds.
    pub peers_getting_from_us: usize,
    /// Our verified pieces (with [`SnapshotDetail::pieces`] and the metadata; also with
    /// [`SnapshotDetail::availability`] while a piece is missing, the counts' other half).
    pub pieces: Option<PieceSet>,
    /// Verified bytes of each file, in the metainfo's file order, padding files included
    /// (with [`SnapshotDetail::files`]; empty without the metadata).
    pub file_bytes: Vec<u64>,
    /// The connected peers (with [`SnapshotDetail::peers`]).
    pub peers: Vec<PeerInfo>,
    /// The trackers, tier by tier (with [`SnapshotDetail::trackers`]).
    pub trackers: Vec<TrackerStatus>,
    /// How many connected peers (web seeds and seeds included) have each piece, by the
    /// picker's count (with [`SnapshotDetail::availability`] and the metadata, while a piece
    /// is missing; else empty).
    pub availability: Vec<u32>,
    /// Its web seeds (BEP 19) with what each delivered.
    pub web_seeds: Vec<super::WebSeedInfo>,
}

/// A tracker's text as shown: at most [`MAX_TRACKER_MESSAGE`] characters.
pub(super) fn cut(text: &str) -> String {
    text.chars().take(MAX_TRACKER_MESSAGE).collect()
}

/// One established peer connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's address.
    pub addr: SocketAddr,
    /// Its client: the extended handshake's `v`, else a name from its peer id.
    pub client: String,
    /// Pieces it has (of the torrent's piece count; 0 until known).
    pub pieces: u32,
    /// Payload bytes per second we receive from it.
    pub download_rate: u64,
    /// Payload bytes per second we send it.
    pub upload_rate: u64,
    /// Payload bytes received from it over this connection.
    pub downloaded: u64,
    /// Payload bytes sent to it over this connection.
    pub uploaded: u64,
    /// It connected to us.
    pub incoming: bool,
    /// Where we learnt of it.
    pub source: PeerSource,
    /// The connection is encrypted (MSE with RC4).
    pub encrypted: bool,
    /// The connection runs over uTP (else TCP).
    pub utp: bool,
    /// We choke it.
    pub am_choking: bool,
    /// We are interested in it.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It is interested in us.
    pub peer_interested: bool,
}

/// Where a peer's address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerSource {
    /// Given by the application (`add_peers`, the options) or a magnet's `x.pe`.
    User,
    /// A tracker's answer.
    Tracker,
    /// A DHT lookup.
    Dht,
    /// Peer exchange (BEP 11).
    Pex,
    /// It connected to us.
    Incoming,
    /// Local service discovery (BEP 14).
    Lsd,
    /// The port a peer that connected to us gave in its extension handshake (BEP 10): we
    /// connected to it there later.
    Ltep,
}

impl From<Source> for PeerSource {
    fn from(source: Source) -> Self {
        match source {
            Source::User => Self::User,
            Source::Tracker => Self::Tracker,
            Source::Dht => Self::Dht,
            Source::Pex => Self::Pex,
            Source::Ltep => Self::Ltep,
            Source::Lsd => Self::Lsd,
        }
    }
}

/// One tracker of a torrent and how its announces went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The tracker: its id, announce URL (as listed) and tier.
    pub tracker: TrackerInfo,
    /// When it last answered or failed an announce (`None`: never tried).
    pub last_announce: Option<Instant>,
    /// What the last announce gave (`None`: never tried).
    pub last_result: Option<AnnounceResult>,
    /// Its latest counts: from its last announce answer, else its last scrape.
    pub swarm: Option<SwarmCounts>,
    /// When the next regular announce to it is due (the tracker in use only).
    pub next_announce: Option<Instant>,
    /// It answered the torrent's latest announce: the tracker in use (BEP 12 asks one
    /// tracker at a time; the others are its backups).
    pub in_use: bool,
    /// How its scrapes went (`None`: never scraped: not yet answered an announce, or its URL
    /// has no scrape form, or scrapes are off).
    pub scrape: Option<ScrapeStatus>,
}

/// How a tracker's scrapes (BEP 48) went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrapeStatus {
    /// When the latest scrape started (`None`: none yet).
    pub last_start: Option<Instant>,
    /// When the latest scrape that ended did, and what it gave: the counts, or why it failed
    /// (at most [`MAX_TRACKER_MESSAGE`] characters); `None`: none ended yet.
    pub last_result: Option<(Instant, Result<SwarmCounts, String>)>,
    /// Peers downloading now, by its latest answer that listed the torrent (`None`: it does
    /// not say; see [`ScrapeStats::downloaders`](crate::tracker::ScrapeStats::downloaders)).
    pub downloaders: Option<u32>,
    /// A scrape is in flight.
    pub active: bool,
    /// When the next scrape is due (`None`: one is in flight, or the torrent is stopped).
    pub next: Option<Instant>,
}

/// How an announce ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceResult {
    /// It answered.
    Ok {
        /// Peers it gave.
        peers: usize,
        /// Its warning, if any (at most [`MAX_TRACKER_MESSAGE`] characters).
        warning: Option<String>,
    },
    /// It failed. `Display` shows its message cut at [`MAX_TRACKER_MESSAGE`] characters.
    Failed(TrackerError),
}

impl fmt::Display for AnnounceResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok {
                peers,
                warning: None,
            } => write!(f, "{peers} peers"),
            Self::Ok {
                peers,
                warning: Some(w),
            } => write!(f, "{peers} peers (warning: {w})"),
            Self::Failed(e) => f.write_str(&cut(&e.to_string())),
        }
    }
}

/// The trackers' latest announce outcomes of one torrent, by announce URL (as listed).
#[derive(Debug, Default)]
pub(crate) struct AnnounceLog {
    trackers: super::torrent::by_url::ByUrl<Logged>,
}

#[derive(Debug)]
struct Logged {
    at: Instant,
    result: AnnounceResult,
    counts: Option<SwarmCounts>,
    /// The failure was the tracker's own answer (not a connect, DNS or timeout failure).
    refused: bool,
}

impl AnnounceLog {
    /// A tracker answered.
    pub(crate) fn answered(&mut self, now: Instant, url: &TrackerUrl, response: &AnnounceResponse) {
        let counts = match (response.complete, response.incomplete) {
            (None, None) => None,
            (seeders, leechers) => Some(SwarmCounts {
                seeders: seeders.unwrap_or(0),
                leechers: leechers.unwrap_or(0),
                downloaded: 0,
            }),
        };
        let result = AnnounceResult::Ok {
            peers: response.peers.len(),
            warning: response.warning.as_ref().map(|w| cut(w)),
        };
        self.trackers.insert(
            url,
            Logged {
                at: now,
                result,
                counts,
                refused: false,
            },
        );
    }

    /// A tracker failed.
    pub(crate) fn failed(&mut self, now: Instant, url: &TrackerUrl, error: &TrackerError) {
        let counts = self.trackers.get(url).and_then(|l| l.counts);
        self.trackers.insert(
            url,
            Logged {
                at: now,
                refused: matches!(
                    error,
                    TrackerError::Status { .. }
                        | TrackerError::Response(_)
                        | TrackerError::Udp(UdpError::Tracker(_))
                ),
                result: AnnounceResult::Failed(error.clone()),
                counts,
            },
        );
    }

    /// The latest failure, if it was a tracker's own answer (an error status, a `failure
    /// reason`, a UDP error): that error.
    pub(crate) fn last_refusal(&self) -> Option<&TrackerError> {
        let latest = self
            .trackers
            .values()
            .filter(|l| matches!(l.result, AnnounceResult::Failed(_)))
            .max_by_key(|l| l.at)?;
        match &latest.result {
            AnnounceResult::Failed(e) if latest.refused => Some(e),
            _ => None,
        }
    }
}

impl Torrent {
    /// The torrent's snapshot; `stats` measured by the caller, `peers` its open connections
    /// (each with whether it runs over uTP).
    pub(crate) fn snapshot<'a>(
        &self,
        now: Instant,
        stats: TorrentStats,
        peers: impl Iterator<Item = (&'a Peer, bool)>,
        detail: SnapshotDetail,
    ) -> TorrentSnapshot {
        let piece_count = stats.piece_count;
        let mut sending = 0;
        let mut getting = 0;
        let mut infos = Vec::new();
        for (p, utp) in peers.filter(|(p, _)| p.established) {
            let down = p.down.rate(now);
            let up = p.up.rate(now);
            sending += usize::from(down > 0);
            getting += usize::from(up > 0);
            if detail.peers {
                let source = if p.outbound {
                    self.candidates
                        .source_of(p.addr)
                        .map_or(PeerSource::User, PeerSource::from)
                } else {
                    PeerSource::Incoming
                };
                infos.push(peer_info(p, down, up, piece_count, source, utp));
            }
        }
        let data = self.data.as_ref();
        // Piece counts only while a piece is missing (a complete torrent's mean nothing).
        let counted = data
            .filter(|d| detail.availability && d.picker.have().count() < d.picker.piece_count());
        TorrentSnapshot {
            metainfo: data.map(|d| Arc::clone(&d.meta)),
            error: self.error.as_deref().cloned(),
            corrupt_bytes: self.corrupt_bytes,
            desired_available: self.desired_available(),
            peers_sending_to_us: sending,
            peers_getting_from_us: getting,
            pieces: match &self.released {
                Some(r) => detail.pieces.then(|| r.have.clone()),
                None => data
                    .filter(|_| detail.pieces || counted.is_some())
                    .map(|d| d.picker.have().clone()),
            },
            file_bytes: if detail.files {
                self.file_bytes()
            } else {
                Vec::new()
            },
            peers: infos,
            trackers: if detail.trackers {
                self.tracker_infos()
            } else {
                Vec::new()
            },
            availability: counted.map_or_else(Vec::new, |d| {
                (0..d.picker.piece_count())
                    .map(|p| d.picker.availability(p))
                    .collect()
            }),
            web_seeds: Vec::new(),
            stats,
        }
    }

    /// Bytes of missing wanted pieces that some connected peer has.
    fn desired_available(&self) -> u64 {
        let Some(d) = &self.data else {
            return 0;
        };
        let layout = d.meta.layout();
        (0..d.picker.piece_count())
            .filter(|&p| {
                !d.picker.have().contains(p)
                    && d.picker.priority(p) != Priority::Skip
                    && d.picker.availability(p) > 0
            })
            .map(|p| u64::from(layout.piece_data_len(p)))
            .sum()
    }

    /// Verified bytes of each file (its share of each verified piece it overlaps; a released
    /// torrent's record).
    pub(crate) fn file_bytes(&self) -> Vec<u64> {
        if let Some(r) = &self.released {
            return r.file_bytes.to_vec();
        }
        let Some(d) = &self.data else {
            return Vec::new();
        };
        let layout = d.meta.layout();
        let piece_len = u64::from(layout.piece_length());
        layout
            .files()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let end = f.offset + f.length;
                layout
                    .file_pieces(i)
                    .filter(|&p| d.picker.have().contains(p))
                    .map(|p| {
                        let start = layout.piece_offset(p);
                        let stop = start + piece_len;
                        stop.min(end).saturating_sub(start.max(f.offset))
                    })
                    .sum()
            })
            .collect()
    }

    /// Every tracker, tier by tier, with its logged announce and the announcer's schedule
    /// (the log and the announcer name trackers by their parsed URL).
    fn tracker_infos(&self) -> Vec<TrackerStatus> {
        let working = self
            .announcer
            .as_ref()
            .and_then(|a| a.working_tracker())
            .cloned();
        let next = self.announcer.as_ref().and_then(|a| a.next_announce());
        let active = self.is_active();
        self.tracker_list
            .infos()
            .into_iter()
            .map(|tracker| {
                // A listed URL that does not parse is never announced to: no record of it.
                let url = TrackerUrl::parse(&tracker.url).ok();
                let url = url.as_ref();
                let logged = url.and_then(|u| self.announces.trackers.get(u));
                let in_use = url.is_some() && working.as_ref() == url;
                TrackerStatus {
                    last_announce: logged.map(|l| l.at),
                    last_result: logged.map(|l| l.result.clone()),
                    swarm: logged
                        .and_then(|l| l.counts)
                        .or_else(|| url.and_then(|u| self.scrapes.counts_of(u))),
                    next_announce: next.filter(|_| in_use),
                    in_use,
                    scrape: url.and_then(|u| self.scrapes.status_of(u, active)),
                    tracker,
                }
            })
            .collect()
    }
}

fn peer_info(
    p: &Peer,
    down: u64,
    up: u64,
    piece_count: u32,
    source: PeerSource,
    utp: bool,
) -> PeerInfo {
    let pieces = if p.seed {
        piece_count
    } else {
        p.conn.peer_pieces().map_or(0, PieceSet::count)
    };
    let client = p
        .client
        .clone()
        .or_else(|| p.conn.peer_id().map(|id| id.client_name()))
        .unwrap_or_default();
    PeerInfo {
        addr: p.addr,
        client,
        pieces,
        download_rate: down,
        upload_rate: up,
        downloaded: p.down.total(),
        uploaded: p.up.total(),
        incoming: !p.outbound,
        source,
        encrypted: matches!(p.conn.transport(), Transport::Rc4(_)),
        utp,
        am_choking: p.conn.am_choking(),
        am_interested: p.conn.am_interested(),
        peer_choking: p.conn.peer_choking(),
        peer_interested: p.conn.peer_interested(),
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
