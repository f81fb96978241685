//! What an application may change in a running session and its torrents, and why a change is
//! refused: [`ChangeError`], [`TrackerEdit`], [`TrackerInfo`], [`TorrentLimits`].
//!
//! The changes themselves are [`Session`](super::Session) methods; each takes effect at once
//! (the picker, the rate limits, the announcer and the connection limits read them from the
//! next input on).

use std::fmt;
use std::time::Instant;

use super::SessionConfig;
use super::io::TorrentId;
use super::rate::TokenBucket;
use super::torrent::Torrent;
use super::torrent::shared::Shared;
use super::torrent::table::Unknown;
use super::trackers::make_announcer;
use crate::picker::{PickerError, Priority};
use crate::rng::Rng;
use crate::tracker::TrackerUrl;

/// Why a run-time change was refused (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeError {
    /// No such torrent in the session.
    UnknownTorrent(TorrentId),
    /// More file priorities were given than the torrent has files.
    FilePriorities {
        /// Files of the torrent.
        files: usize,
        /// Priorities given.
        given: usize,
    },
    /// An announce URL that is not an `http`, `https` or `udp` tracker URL.
    TrackerUrl(String),
    /// No tracker of the torrent has this id.
    UnknownTracker(u32),
    /// The torrent's metadata is not known yet (a magnet still fetching it).
    NoMetadata(TorrentId),
    /// Piece deadlines the picker refused (a piece past the end, too many readers).
    Deadlines(PickerError),
    /// A web seed URL that is not an `http` or `https` URL.
    WebSeedUrl(String),
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTorrent(t) => write!(f, "no torrent {}", t.0),
            Self::FilePriorities { files, given } => write!(
                f,
                "{given} file priorities given for a torrent of {files} files"
            ),
            Self::TrackerUrl(url) => write!(f, "not a tracker announce URL: {url}"),
            Self::UnknownTracker(id) => write!(f, "no tracker with id {id}"),
            Self::NoMetadata(t) => write!(f, "torrent {} has no metadata yet", t.0),
            Self::Deadlines(e) => write!(f, "piece deadlines: {e}"),
            Self::WebSeedUrl(url) => write!(f, "not an http or https web seed URL: {url}"),
        }
    }
}

impl std::error::Error for ChangeError {}

impl From<Unknown> for ChangeError {
    fn from(Unknown(id): Unknown) -> Self {
        Self::UnknownTorrent(id)
    }
}

/// An edit to a torrent's trackers ([`Session::edit_trackers`](super::Session::edit_trackers)).
/// Trackers are named by the id [`TrackerInfo`] shows: stable while the session runs, never
/// reused within a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerEdit {
    /// Adds announce URLs, each in a new tier after the others (one already there is skipped).
    Add(Vec<String>),
    /// Removes the trackers with these ids.
    Remove(Vec<u32>),
    /// Gives the tracker with this id a new announce URL (it keeps its id and tier).
    Replace(u32, String),
    /// Replaces the whole list: tiers of announce URLs (BEP 12), first tier first.
    Set(Vec<Vec<String>>),
}

/// One tracker of a torrent, as listed by
/// [`Session::torrent_trackers`](super::Session::torrent_trackers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerInfo {
    /// Its id within the torrent: stable across edits of other trackers.
    pub id: u32,
    /// Its announce URL.
    pub url: String,
    /// Its tier (BEP 12), from 0.
    pub tier: u32,
}

/// A torrent's own transfer limits
/// ([`Session::set_torrent_limits`](super::Session::set_torrent_limits)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TorrentLimits {
    /// Its download limit in bytes per second (`None`: none of its own).
    pub download_rate: Option<u64>,
    /// Its upload limit in bytes per second (`None`: none of its own).
    pub upload_rate: Option<u64>,
    /// Whether the session's rate limits apply to it too (`false`: only its own).
    pub honors_session_limits: bool,
    /// The most peer connections of this torrent (`None`: the session's
    /// [`max_connections_per_torrent`](super::SessionConfig::max_connections_per_torrent)).
    pub max_connections: Option<usize>,
}

impl Default for TorrentLimits {
    fn default() -> Self {
        Self {
            download_rate: None,
            upload_rate: None,
            honors_session_limits: true,
            max_connections: None,
        }
    }
}

/// A torrent's own limits and the token buckets enforcing its rates, as a torrent with
/// limits other than the defaults keeps them (boxed; a torrent at the defaults keeps
/// nothing: its buckets would be unlimited, and only its connections' transfers spend them).
#[derive(Debug)]
pub(crate) struct OwnLimits {
    /// The limits, as the application set them.
    pub(crate) limits: TorrentLimits,
    /// Its own download limit.
    pub(crate) down: TokenBucket,
    /// Its own upload limit.
    pub(crate) up: TokenBucket,
}

impl OwnLimits {
    /// `limits` as a torrent keeps them from `now`: nothing for the defaults, else full
    /// buckets at their rates.
    pub(crate) fn boxed(now: Instant, limits: TorrentLimits) -> Option<Box<Self>> {
        (limits != TorrentLimits::default()).then(|| {
            Box::new(Self {
                limits,
                down: TokenBucket::new(now, limits.download_rate),
                up: TokenBucket::new(now, limits.upload_rate),
            })
        })
    }
}

impl Torrent {
    /// Its own limits, as the application set them.
    pub(crate) fn limits(&self) -> TorrentLimits {
        self.limits.as_ref().map(|l| l.limits).unwrap_or_default()
    }

    /// Switches sequential mode (the picker takes it at once).
    pub(crate) fn set_sequential(&mut self, sequential: bool) {
        if self.options.sequential != sequential {
            std::sync::Arc::make_mut(&mut self.options).sequential = sequential;
        }
        if let Some(d) = self.data.as_mut() {
            d.picker.set_sequential(sequential);
        }
    }

    /// Sets `reader`'s time-critical pieces (see
    /// [`Session::set_piece_deadlines`](crate::session::Session::set_piece_deadlines)).
    pub(crate) fn set_piece_deadlines(
        &mut self,
        id: TorrentId,
        reader: u64,
        pieces: &[(u32, Instant)],
    ) -> Result<(), ChangeError> {
        match self.data.as_mut() {
            Some(d) => d
                .picker
                .set_deadlines(reader, pieces)
                .map_err(ChangeError::Deadlines),
            None if pieces.is_empty() => Ok(()),
            None => Err(ChangeError::NoMetadata(id)),
        }
    }

    /// Switches the first-and-last-pieces option; returns the file priorities to set again
    /// (the pieces' priorities follow from both).
    pub(crate) fn set_first_last_pieces(&mut self, on: bool) -> Vec<Priority> {
        if self.options.first_last_pieces != on {
            std::sync::Arc::make_mut(&mut self.options).first_last_pieces = on;
        }
        self.options.file_priorities.clone()
    }

    /// Sets its own limits, from `now` on.
    pub(crate) fn set_limits(&mut self, now: Instant, limits: TorrentLimits) {
        // The defaults drop the box: an unlimited bucket keeps no state. Limits that stay
        // others change the buckets in place (a bucket keeps its tokens across a change of
        // rate).
        match self.limits.as_mut() {
            Some(own) if limits != TorrentLimits::default() => {
                own.limits = limits;
                own.down.set_rate(now, limits.download_rate);
                own.up.set_rate(now, limits.upload_rate);
            }
            _ => self.limits = OwnLimits::boxed(now, limits),
        }
    }

    /// Edits the torrent's trackers and gives its announcer the new list (a torrent that had
    /// no tracker gets an announcer, started if it runs). Pump the announcer next.
    pub(crate) fn edit_trackers(
        &mut self,
        now: Instant,
        edit: &TrackerEdit,
        config: &SessionConfig,
        rng: &mut Rng,
    ) -> Result<(), ChangeError> {
        self.tracker_list.apply(edit)?;
        let tiers = self.tracker_list.tiers();
        if let Some(a) = self.announcer.as_mut() {
            let urls = tiers
                .iter()
                .map(|tier| {
                    tier.iter()
                        .filter_map(|u| TrackerUrl::parse(u).ok())
                        .collect()
                })
                .collect();
            a.replace_tiers(urls, rng, now);
        } else if let Some(mut a) = make_announcer(&tiers, config, rng, &mut Shared::default()) {
            // A torrent that had no tracker: it announces from now on, as it would have.
            if self.swarm_started && self.is_active() && !self.options.no_outbound {
                a.start(now);
            }
            // A stopping or stopped torrent owes this tracker no `stopped`.
            self.announce_stopped = !self.is_active();
            self.announcer = Some(a);
        }
        Ok(())
    }
}
