//! One torrent's state in the session: metadata (absent for a magnet until fetched), picker,
//! choker, announcer, candidates and ban list, disk and resume state, statistics.
//!
//! A magnet torrent starts as [`Stage::Metadata`] with `meta == None`: its connections are
//! opened without piece geometry. When the metadata arrives (the `ut_metadata` extension, or
//! [`Session::set_metadata`](super::Session::set_metadata)), the same torrent becomes a full
//! one: picker and storage are created, each connection gets
//! [`Connection::set_geometry`](crate::wire::Connection::set_geometry), and the start check
//! runs as for a .torrent.

pub(crate) mod by_url;
pub(crate) mod candidates;
pub(crate) mod life;
pub(crate) mod peering;
pub(crate) mod released;
pub(crate) mod roster;
pub(crate) mod shared;
pub(crate) mod table;
pub(crate) mod tracker_list;
pub(crate) mod work;

use std::sync::Arc;
use std::time::Instant;

use super::SessionConfig;
use super::config::{TorrentOptions, TorrentSource};
use super::edit::OwnLimits;
use super::event::TorrentPhase;
use super::hashes::Trees;
use super::io::ConnId;
use super::layers::LayerFetch;
use super::pipeline::PiecePipeline;
use super::rate::RateMeter;
use super::scrape::TorrentScrapes;
use super::snapshot::AnnounceLog;
use super::torrent_error::TorrentError;
use super::trackers::make_announcer;
use crate::choker::Choker;
use crate::extensions::FetcherConfig;
use crate::extensions::{MetadataFetcher, MetadataServer};
use crate::id::{InfoHash, InfoHashV2, InfoHashes};
use crate::metainfo::Metainfo;
use crate::picker::Picker;
use crate::pieces::PieceSet;
use crate::rng::Rng;
use crate::tracker::Announcer;
use crate::wire::{PieceGeometry, TorrentParams};
use candidates::Backoff;
use candidates::Candidates;
use peering::Peering;
use shared::Shared;
use tracker_list::TrackerList;

/// Where a torrent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Magnet: waiting for the info dictionary.
    Metadata,
    /// Waiting for the files' stamps (resume decision).
    Stamps,
    /// Hashing existing data.
    Checking,
    /// Downloading or seeding.
    Running,
    /// Stopping: waiting for trackers and disk.
    Stopping {
        /// Give up waiting at this instant.
        deadline: Instant,
        /// The resume save finished (or is not needed).
        saved: bool,
    },
    /// Stopped.
    Stopped,
}

/// What a stopping torrent does once it is stopped (the application asked while it stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum AfterStop {
    /// Stays stopped.
    #[default]
    Stay,
    /// Starts again.
    Start,
    /// Hashes every piece again; then runs if `run`, else stays stopped.
    Recheck {
        /// Join the swarm after the check.
        run: bool,
    },
    /// Leaves the session (without saving resume data).
    Remove,
}

/// The metadata-dependent part of a torrent.
#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) meta: Arc<Metainfo>,
    pub(crate) picker: Picker,
    /// Our pieces as a wire bitfield (for handshakes).
    pub(crate) bits: PieceSet,
    pub(crate) pipeline: PiecePipeline,
    /// Resume bytes to apply once the stamps arrive.
    pub(crate) resume: Option<Vec<u8>>,
    /// Added complete per its saved state and loaded since (see
    /// [`TorrentOptions::saved_complete`]): the stamps decide whether it is still trusted.
    pub(crate) verify: bool,
    /// Added so and loaded, until its start check is over (`Some` meanwhile): the inbound
    /// connections held for it (at most [`released::MAX_WAITING`]), which get their
    /// handshake once the check has decided what it has, not a have-none and then haves.
    pub(crate) held: Option<Vec<ConnId>>,
}

/// One torrent.
#[derive(Debug)]
pub(crate) struct Torrent {
    /// Its id among torrents: the info-hash it was added by (see [`TorrentSource::info_hash`]).
    pub(crate) info_hash: InfoHash,
    /// Its info-hashes as known now: the .torrent's, or the magnet's until the metadata brings
    /// the other half of a hybrid.
    pub(crate) hashes: InfoHashes,
    pub(crate) private: bool,
    /// What it was added with, shared with other torrents while equal: what it only reads
    /// at the add (`resume`, `trackers`, `limits`, `stopped`) is taken out or reset first.
    pub(crate) options: Arc<TorrentOptions>,
    /// The resume data it was added with, until its start check reads it.
    pub(crate) resume: Option<Box<[u8]>>,
    pub(crate) stage: Stage,
    /// `None` until the metadata is known (magnet), and while released.
    pub(crate) data: Option<Box<Data>>,
    /// Its compact record while its metainfo is released (see [`released`]).
    pub(crate) released: Option<Box<released::Released>>,
    /// Since when it has run without a connection (its choker went to sleep): its release
    /// is due `release_idle_after` later.
    pub(crate) quiet_since: Instant,
    pub(crate) choker: Choker,
    /// It has an open connection (as the connection table last told; see `choke`).
    pub(crate) peers_open: bool,
    /// It runs without connections, so its rechokes are not filed (see `choke`).
    pub(crate) choke_asleep: bool,
    pub(crate) announcer: Option<Announcer>,
    /// Its trackers with their ids; the announcer announces to these.
    pub(crate) tracker_list: TrackerList,
    /// Its own limits, as the application set them, with their token buckets (`None`: the
    /// defaults, unlimited; boxed, as few torrents have others: see [`Torrent::limits`]).
    pub(crate) limits: Option<Box<OwnLimits>>,
    /// The announcer reported `Stopped` (or there is none).
    pub(crate) announce_stopped: bool,
    pub(crate) candidates: Candidates,
    pub(crate) down: RateMeter,
    pub(crate) up: RateMeter,
    pub(crate) hash_failures: u32,
    pub(crate) complete_sent: bool,
    /// Announces and DHT lookups started.
    pub(crate) swarm_started: bool,
    /// Held: the check runs (resume data, hashing) but the torrent stops once it is over,
    /// without announcing, dialling or accepting peers (added stopped, or checked while
    /// stopped).
    pub(crate) hold: bool,
    /// What to do once stopped (a start, recheck or removal asked for while stopping).
    pub(crate) after_stop: AfterStop,
    pub(crate) next_stats: Instant,
    /// What the statistics last reported were (see [`Torrent::report_due`]).
    pub(crate) stats_reported: u64,
    /// Changed since the statistics tick last looked at it (see [`work::Work`]).
    pub(crate) stats_dirty: bool,
    pub(crate) next_save: Instant,
    pub(crate) next_dht: Option<Instant>,
    /// How many of its hashes (in [`Torrent::handshake_ids`] order) the current round of DHT
    /// lookups has looked up: a hybrid's second lookup waits for a budget slot of its own
    /// (at most two).
    pub(crate) dht_hashes_done: u8,
    /// Magnet: the ut_metadata download (`None` once the metadata is known).
    pub(crate) fetcher: Option<Box<MetadataFetcher<ConnId>>>,
    /// A v2 torrent whose metadata lacks piece layers: their fetch from peers (`None` once
    /// they are in, or when none is missing).
    pub(crate) layers: Option<Box<LayerFetch>>,
    /// Its metainfo lacked piece layers (fetched from peers or restored from resume data):
    /// its resume data records them.
    pub(crate) layers_learned: bool,
    /// What only its connections use (peer exchange, departed peers, merkle trees, leaf
    /// checks), made at the first use and dropped at the release.
    pub(crate) peering: Peering,
    /// Trackers scraped, with their latest counts.
    pub(crate) scrapes: TorrentScrapes,
    /// Each tracker's latest announce outcome.
    pub(crate) announces: AnnounceLog,
    /// What keeps the torrent from working well (tracker or disk trouble), if anything
    /// (boxed: most torrents have none, and an error is 64 bytes).
    pub(crate) error: Option<Box<TorrentError>>,
    /// Bytes of pieces that failed their hash this session.
    pub(crate) corrupt_bytes: u64,
    /// Changed since its deadline was last filed (see [`table::Torrents::get_mut`]).
    pub(crate) timer_dirty: bool,
    /// Changed since the work sets last looked at it (see [`work::Work`]).
    pub(crate) work_dirty: bool,
}

impl Torrent {
    /// A new torrent from `source` with `options`, waiting for its metadata (a magnet) or
    /// its start check; nothing is dialled or announced yet.
    pub(crate) fn new(
        now: Instant,
        source: &TorrentSource,
        mut options: TorrentOptions,
        config: &SessionConfig,
        rng: &mut Rng,
        shared: &mut Shared,
    ) -> Self {
        options.file_priorities =
            life::compact_priorities(std::mem::take(&mut options.file_priorities));
        let info_hash = source.info_hash();
        let (tiers, private, magnet) = match &source {
            TorrentSource::Metainfo(meta) => (meta.trackers().to_vec(), meta.is_private(), false),
            TorrentSource::Magnet(m) => (vec![m.trackers.clone()], false, true),
        };
        let tracker_list = TrackerList::new(
            options.trackers.take().as_deref().unwrap_or(&tiers),
            &mut shared.urls,
        );
        let announcer = make_announcer(&tracker_list.tiers(), config, rng, shared);
        let backoff = Backoff {
            base: config.reconnect_backoff,
            max: config.reconnect_backoff_max,
            max_failures: config.max_connect_failures,
            capacity: config.max_candidates_per_torrent,
        };
        // What it reads only here, out of the options it keeps (so that they are shared).
        let limits = std::mem::take(&mut options.limits);
        let hold = std::mem::take(&mut options.stopped);
        let resume = options.resume.take().map(Vec::into_boxed_slice);
        options.saved_complete = false;
        let options = shared.options(options);
        let fetcher = magnet.then(|| {
            Box::new(MetadataFetcher::for_hashes(
                source.info_hashes(),
                FetcherConfig::default(),
            ))
        });
        Self {
            fetcher,
            layers: None,
            layers_learned: false,
            peering: Peering::default(),
            scrapes: Default::default(),
            announces: Default::default(),
            error: None,
            corrupt_bytes: 0,
            timer_dirty: false,
            work_dirty: false,
            info_hash,
            hashes: source.info_hashes(),
            private,
            stage: Stage::Metadata,
            data: None,
            released: None,
            quiet_since: now,
            choker: Choker::with_shared_config(
                shared.choker_config(&config.choker),
                rng.next_u64(),
            ),
            peers_open: false,
            choke_asleep: false,
            announce_stopped: announcer.is_none(),
            announcer,
            tracker_list,
            limits: OwnLimits::boxed(now, limits),
            candidates: Candidates::new(shared.backoff(backoff)),
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            hash_failures: 0,
            complete_sent: false,
            swarm_started: false,
            hold,
            after_stop: AfterStop::Stay,
            next_stats: now + config.stats_interval,
            stats_reported: 0,
            stats_dirty: false,
            next_save: now + config.resume_save_interval,
            next_dht: None,
            dht_hashes_done: 0,
            resume,
            options,
        }
    }

    /// Drops what only its connections use and is built again on demand (the merkle trees
    /// answering hash requests), once it has no open connection.
    pub(crate) fn release_idle(&mut self) {
        if let Some(parts) = self.peering.get_mut() {
            parts.trees = Trees::default();
        }
    }

    /// What answers peers' ut_metadata requests: the info bytes of its metainfo once known
    /// (a server that rejects every request before that, while released, and when they are
    /// too large for ut_metadata). Made per request from the shared bytes, so that no torrent
    /// keeps one.
    pub(crate) fn metadata_server(&self) -> MetadataServer {
        (self.data.as_ref())
            .and_then(|d| MetadataServer::with_info(d.meta.info()).ok())
            .unwrap_or_default()
    }

    /// The phase shown to the application.
    pub(crate) fn phase(&self) -> TorrentPhase {
        match self.stage {
            Stage::Metadata => TorrentPhase::FetchingMetadata,
            Stage::Stamps | Stage::Checking => TorrentPhase::Checking,
            Stage::Running if self.is_finished() => TorrentPhase::Seeding,
            Stage::Running => TorrentPhase::Downloading,
            Stage::Stopping { .. } => TorrentPhase::Stopping,
            Stage::Stopped => TorrentPhase::Stopped,
        }
    }

    /// The full v2 info-hash (SHA-256) of a v2 or hybrid torrent: from its metadata, or
    /// before that from its magnet's `btmh`; `None` for a v1 torrent.
    pub(crate) fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.hashes.v2
    }

    /// The 20-byte hashes peers may name it by in a handshake (its id first; a hybrid's v1
    /// and truncated v2 hashes once known).
    pub(crate) fn handshake_ids(&self) -> impl Iterator<Item = InfoHash> {
        let id = self.info_hash;
        std::iter::once(id).chain(self.hashes.handshake_ids().filter(move |h| *h != id))
    }

    /// Whether the torrent takes part in the swarm (connections allowed).
    pub(crate) fn is_active(&self) -> bool {
        !matches!(self.stage, Stage::Stopping { .. } | Stage::Stopped)
    }

    /// Whether peers may connect to it (active and not held for a check).
    pub(crate) fn accepts_peers(&self) -> bool {
        self.is_active() && !self.hold
    }

    /// Whether it downloads or seeds now (requests and uploads allowed).
    pub(crate) fn is_running(&self) -> bool {
        self.stage == Stage::Running
    }

    /// Whether we have every piece.
    pub(crate) fn is_seed(&self) -> bool {
        self.released.is_some() || self.data.as_ref().is_some_and(|d| d.picker.is_seed())
    }

    /// Whether every wanted piece is verified (never while its files wait for a choice:
    /// [`TorrentOptions::choose_files`]).
    pub(crate) fn is_finished(&self) -> bool {
        !self.options.choose_files
            && (self.released.is_some()
                || self.data.as_ref().is_some_and(|d| d.picker.is_finished()))
    }

    /// What a connection of the torrent is told of it: its info-hash and, once the metadata
    /// is known, its piece geometry, our pieces and the metadata's size.
    pub(crate) fn params(&self) -> TorrentParams<'_> {
        let d = self.data.as_ref();
        TorrentParams {
            // A hybrid is dialled by its v1 hash with the v2 bit set: a v2 peer answers with
            // the v2 hash (BEP 52's upgrade), a v1 peer with the v1 hash.
            info_hash: self.hashes.v1.unwrap_or(self.info_hash),
            geometry: d.map(|d| PieceGeometry::of_layout(d.meta.layout())),
            our_pieces: d.map(|d| &d.bits),
            metadata_size: d.map(|d| d.meta.info_bytes().len() as u64),
            v2: self.hashes.v2.map(|h| h.truncated()),
        }
    }

    /// Bytes still missing, padding files left out (for announces, as libtorrent reports
    /// them).
    pub(crate) fn left(&self) -> u64 {
        let Some(d) = &self.data else {
            return 0;
        };
        let layout = d.meta.layout();
        (0..d.picker.piece_count())
            .filter(|p| !d.picker.have().contains(*p))
            .map(|p| u64::from(layout.piece_data_len(p)))
            .sum()
    }
}
