//! The web-seed part (BEP 19): each web seed of a torrent is a peer of its picker that has
//! every piece (a [`PeerKey`] of its own, never a connection). While the torrent runs, each
//! usable server gets runs of blocks from the picker ([`runs::MAX_RUNS`] in flight), fetched as
//! HTTP range requests ([`Action::WebSeedRequest`](super::io::Action::WebSeedRequest), one per
//! file a run touches; redirects followed); a whole run's bytes go back to the session as a
//! [`Delivery`], whose blocks enter the piece pipeline as a peer's do and are hashed before
//! they are trusted. A failure (status, range, length, transport, time bound, or a piece that
//! fails its hash) frees the run's blocks for other sources and backs the server off;
//! repeated failures drop it ([`Event::WebSeedDropped`]). Seeds come from the metainfo's
//! `url-list`, a magnet's `ws=` (used once the metadata arrives) and the application; BEP 17
//! HTTP seeds (`httpseeds`) are the same but for their requests (one per piece, and a `503`
//! that asks for a wait without counting as a failure).
//!
//! [`WebSeeds`] holds every torrent's seeds, runs and requests in flight and makes every
//! decision about them; the session lends it what it needs for one step ([`WebCx`]: the
//! torrents' pickers, the download limits, the request ids, the output queues) and only
//! hands the delivered blocks on. `runs` holds the runs' side: starting them, reading the
//! answers, finishing them.

mod runs;

use std::collections::BTreeMap;
use std::time::Instant;

use super::download::Limits;
use super::event::Event;
use super::io::{RequestId, TorrentId};
use super::outputs::Outputs;
use super::rate::RateMeter;
use super::torrent::table::Torrents;
use super::trackers::Trackers;
use crate::picker::PeerKey;
use crate::tracker::TrackerUrl;
use crate::webseed::{Health, Verdict, WebSeedError, WebSeedProtocol};

pub(crate) use runs::Delivery;
#[cfg(test)]
pub(crate) use runs::RUN_TIMEOUT;
use runs::{Pending, Run};

#[cfg(test)]
#[path = "../webseed_tests.rs"]
mod tests;

/// Whether `url` can be a web seed: an `http` or `https` URL this client parses.
pub(crate) fn usable_url(url: &str) -> bool {
    TrackerUrl::parse(url.trim()).is_ok_and(|u| {
        matches!(
            u.scheme(),
            crate::tracker::Scheme::Http | crate::tracker::Scheme::Https
        )
    })
}

/// What the application is told of a web seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSeedInfo {
    /// The URL as given (`url-list`, `ws=`, `httpseeds`, or by the application).
    pub url: String,
    /// The protocol it speaks.
    pub protocol: WebSeedProtocol,
    /// Bytes of the blocks it delivered that were taken (not duplicates of another
    /// source's), before their hash check.
    pub downloaded: u64,
    /// Bytes per second recently received from it.
    pub download_rate: u64,
    /// Whether it has requests in flight.
    pub active: bool,
    /// Consecutive failures.
    pub failures: u32,
    /// Why it was dropped, if it was (it is asked for nothing more).
    pub dropped: Option<WebSeedError>,
}

#[derive(Debug)]
struct Seed {
    url: String,
    protocol: WebSeedProtocol,
    key: PeerKey,
    health: Health,
    runs: usize,
    downloaded: u64,
    rate: RateMeter,
    dropped: Option<WebSeedError>,
}

/// What the web-seed part borrows from the session for one step.
pub(crate) struct WebCx<'a> {
    /// The torrents (their pickers and piece pipelines).
    pub(crate) torrents: &'a mut Torrents,
    /// The download limits and settings, for picking.
    pub(crate) limits: Limits<'a>,
    /// The request ids (shared with the trackers' HTTP requests).
    pub(crate) ids: &'a mut Trackers,
    /// Where requests and events go.
    pub(crate) out: &'a mut Outputs,
}

/// Every torrent's web seeds, their runs and their requests in flight.
#[derive(Debug, Default)]
pub(crate) struct WebSeeds {
    seeds: BTreeMap<TorrentId, Vec<Seed>>,
    runs: BTreeMap<u64, Run>,
    pending: BTreeMap<RequestId, Pending>,
    next_run: u64,
}

impl WebSeeds {
    /// The earliest run deadline or back-off end after `now`.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let runs = self.runs.values().map(|r| r.deadline);
        let backoffs = self
            .seeds
            .values()
            .flatten()
            .filter(|s| s.dropped.is_none())
            .filter_map(|s| s.health.backoff_until(now));
        runs.chain(backoffs).min()
    }

    /// The web seeds of `torrent`.
    pub(crate) fn infos(&self, now: Instant, torrent: TorrentId) -> Vec<WebSeedInfo> {
        self.seeds
            .get(&torrent)
            .into_iter()
            .flatten()
            .map(|s| WebSeedInfo {
                url: s.url.clone(),
                protocol: s.protocol,
                downloaded: s.downloaded,
                download_rate: s.rate.rate(now),
                active: s.runs > 0,
                failures: s.health.failures(),
                dropped: s.dropped.clone(),
            })
            .collect()
    }

    /// Whether any torrent has a web seed.
    pub(crate) fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    fn seed_mut(&mut self, torrent: TorrentId, key: PeerKey) -> Option<&mut Seed> {
        self.seeds
            .get_mut(&torrent)?
            .iter_mut()
            .find(|s| s.key == key)
    }

    /// Adds web seed `url` speaking `protocol` to torrent `id`, as the picker's peer `key()`
    /// (a URL it already has is left as it is). Returns whether it was added.
    pub(crate) fn add(
        &mut self,
        now: Instant,
        id: TorrentId,
        url: &str,
        protocol: WebSeedProtocol,
        key: impl FnOnce() -> PeerKey,
    ) -> bool {
        let url = url.trim();
        if !usable_url(url) {
            return false;
        }
        let list = self.seeds.entry(id).or_default();
        if list.iter().any(|s| s.url == url) {
            return false;
        }
        list.push(Seed {
            url: url.to_string(),
            protocol,
            key: key(),
            health: Health::default(),
            runs: 0,
            downloaded: 0,
            rate: RateMeter::new(now),
            dropped: None,
        });
        true
    }

    /// Removes web seed `url` from torrent `id`: its runs are abandoned and their blocks
    /// freed, the picker forgets it. Returns whether it was there.
    pub(crate) fn remove(&mut self, id: TorrentId, url: &str, torrents: &mut Torrents) -> bool {
        let Some(list) = self.seeds.get_mut(&id) else {
            return false;
        };
        let Some(i) = list.iter().position(|s| s.url == url.trim()) else {
            return false;
        };
        let key = list.remove(i).key;
        self.forget_seed(id, key, torrents);
        true
    }

    /// Abandons the runs of web seed `key` and takes it out of the picker.
    fn forget_seed(&mut self, id: TorrentId, key: PeerKey, torrents: &mut Torrents) {
        self.abandon_runs(torrents, |r| r.torrent == id && r.key == key);
        if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.picker.remove_peer(key);
        }
    }

    /// The web seeds of a torrent that left the session are forgotten.
    fn forget_removed_torrents(&mut self, torrents: &mut Torrents) {
        let gone: Vec<TorrentId> = self
            .seeds
            .keys()
            .filter(|id| torrents.get(id).is_none())
            .copied()
            .collect();
        for id in gone {
            self.seeds.remove(&id);
            self.abandon_runs(torrents, |r| r.torrent == id);
        }
    }

    /// A request of web seed `key` failed: it is backed off, or dropped after too many.
    fn failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        key: PeerKey,
        error: WebSeedError,
        cx: &mut WebCx<'_>,
    ) {
        let Some(seed) = self.seed_mut(id, key) else {
            return;
        };
        // Requests sent before a back-off began fail with it: one failure per back-off.
        if seed.dropped.is_some() || seed.health.backoff_until(now).is_some() {
            return;
        }
        match seed.health.failed(now) {
            Verdict::RetryAt(at) => {
                let url = seed.url.clone();
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.web_seed_failed(&url, &error);
                }
                cx.out.event(Event::WebSeedFailed {
                    torrent: id,
                    url,
                    error,
                    retry_in: at.saturating_duration_since(now),
                });
            }
            Verdict::Drop => self.drop_seed(id, key, error, cx),
        }
    }

    /// Web seed `key` said it is busy: it is asked nothing for `wait`, which is no failure.
    fn busy(
        &mut self,
        now: Instant,
        id: TorrentId,
        key: PeerKey,
        wait: std::time::Duration,
        cx: &mut WebCx<'_>,
    ) {
        let Some(seed) = self.seed_mut(id, key) else {
            return;
        };
        if seed.dropped.is_some() {
            return;
        }
        seed.health.busy(now + wait);
        let url = seed.url.clone();
        cx.out.event(Event::WebSeedFailed {
            torrent: id,
            url,
            error: WebSeedError::Busy,
            retry_in: wait,
        });
    }

    /// Stops using web seed `key`: its runs are abandoned and the picker forgets it.
    fn drop_seed(&mut self, id: TorrentId, key: PeerKey, error: WebSeedError, cx: &mut WebCx<'_>) {
        let Some(seed) = self.seed_mut(id, key) else {
            return;
        };
        if seed.dropped.is_some() {
            return;
        }
        seed.dropped = Some(error.clone());
        let url = seed.url.clone();
        self.forget_seed(id, key, cx.torrents);
        if let Some(t) = cx.torrents.get_mut(&id) {
            t.web_seed_failed(&url, &error);
        }
        cx.out.event(Event::WebSeedDropped {
            torrent: id,
            url,
            error,
        });
    }

    /// A piece failed its hash check: each web seed among its senders is charged a failure;
    /// one the picker banned (its strikes reached the limit) is dropped.
    pub(crate) fn hash_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        contributors: &[PeerKey],
        banned: &[PeerKey],
        cx: &mut WebCx<'_>,
    ) {
        for &key in contributors {
            if self.seed_mut(id, key).is_none() {
                continue;
            }
            let error = WebSeedError::HashFailed { piece };
            if banned.contains(&key) {
                self.drop_seed(id, key, error, cx);
            } else {
                self.failed(now, id, key, error, cx);
            }
        }
    }

    /// Web seed `key` of torrent `id` delivered `bytes` the picker took.
    pub(crate) fn credit(&mut self, id: TorrentId, key: PeerKey, bytes: u64) {
        if let Some(seed) = self.seed_mut(id, key) {
            seed.downloaded += bytes;
        }
    }
}
