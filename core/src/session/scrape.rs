//! Scrapes (BEP 48): how big each tracker says a torrent's swarm is. A tracker is scraped once
//! right after its first successful announce, then every
//! [`SessionConfig::scrape_interval`](super::SessionConfig::scrape_interval), if its announce
//! URL has a scrape form ([`scrape_url`]: HTTP(S) URLs ending in `announce…`, and every UDP
//! tracker). HTTP scrapes go out as [`Action::HttpRequest`], UDP ones through the tracker's
//! [`UdpTracker`](crate::tracker::UdpTracker), so the runtime contract is the announce one.
//!
//! Each answer becomes [`Event::TrackerScraped`] and feeds [`TorrentStats::swarm`]
//! (the largest counts any tracker reported). A failed scrape raises no event (many trackers do
//! not scrape); it is tried again at the next interval. How each tracker's latest scrape went
//! (started, ended, its counts or why it failed) shows in its [`ScrapeStatus`].
//!
//! [`TorrentStats::swarm`]: super::TorrentStats::swarm

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::event::{Event, SwarmCounts};
use super::io::{Action, RequestId, TorrentId};
use super::outputs::Outputs;
use super::snapshot::{MAX_TRACKER_MESSAGE, ScrapeStatus};
use super::torrent::table::Torrents;
use super::trackers::{AnnounceDone, TrackerCx, Trackers, first_addr};
use crate::tracker::scrape::{scrape_outcome, scrape_request, scrape_url};
use crate::tracker::udp::OpId;
use crate::tracker::{HttpOutcome, HttpResponse, Scheme, ScrapeStats, TrackerError, TrackerUrl};

/// Redirects followed for one scrape.
const MAX_REDIRECTS: u8 = 3;

/// One torrent's scraped trackers, by announce URL (as listed).
#[derive(Debug, Default)]
pub(crate) struct TorrentScrapes {
    trackers: super::torrent::by_url::ByUrl<Scraped>,
}

#[derive(Debug)]
struct Scraped {
    url: TrackerUrl,
    next_at: Instant,
    /// The counts of its latest answer that listed the torrent.
    last: Option<SwarmCounts>,
    /// When the latest scrape started.
    started: Option<Instant>,
    /// A scrape is in flight.
    active: bool,
    /// When the latest scrape ended, and its counts or why it failed.
    ended: Option<(Instant, Result<SwarmCounts, String>)>,
    /// The downloaders its latest answer counted, if it says.
    downloaders: Option<u32>,
}

impl Scraped {
    /// The scrape in flight ended.
    fn end(&mut self, now: Instant, result: Result<SwarmCounts, String>) {
        if let Ok(counts) = result {
            self.last = Some(counts);
        }
        self.active = false;
        self.ended = Some((
            now,
            result.map_err(|e| e.chars().take(MAX_TRACKER_MESSAGE).collect()),
        ));
    }
}

impl TorrentScrapes {
    /// The next scrape due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.trackers.values().map(|s| s.next_at).min()
    }

    /// The latest counts the tracker with this announce URL gave, if it answered.
    pub(crate) fn counts_of(&self, url: &str) -> Option<SwarmCounts> {
        self.trackers.get(url).and_then(|s| s.last)
    }

    /// How the scrapes of the tracker with this announce URL went (`None`: never scraped,
    /// not yet announced to or without a scrape URL); `active`: whether the torrent runs (a
    /// stopped one plans no scrape).
    pub(crate) fn status_of(&self, url: &str, active: bool) -> Option<ScrapeStatus> {
        let s = self.trackers.get(url)?;
        Some(ScrapeStatus {
            last_start: s.started,
            last_result: s.ended.clone(),
            downloaders: s.downloaders,
            active: s.active && active,
            next: (active && !s.active).then_some(s.next_at),
        })
    }

    /// The largest counts the trackers' latest answers gave.
    pub(crate) fn counts(&self) -> Option<SwarmCounts> {
        self.trackers
            .values()
            .filter_map(|s| s.last)
            .reduce(|a, b| SwarmCounts {
                seeders: a.seeders.max(b.seeders),
                leechers: a.leechers.max(b.leechers),
                downloaded: a.downloaded.max(b.downloaded),
            })
    }
}

/// A scrape waiting for the runtime.
#[derive(Debug)]
enum Pending {
    Http {
        torrent: TorrentId,
        tracker: String,
        url: TrackerUrl,
        redirects: u8,
    },
    Host {
        torrent: TorrentId,
        tracker: String,
    },
}

/// The session's scrapes in flight.
#[derive(Debug, Default)]
pub(crate) struct ScrapeRequests {
    pending: BTreeMap<RequestId, Pending>,
    udp_ops: BTreeMap<(SocketAddr, OpId), (TorrentId, String)>,
}

impl ScrapeRequests {
    /// Whether `op` on the UDP tracker at `addr` is a scrape.
    pub(crate) fn is_udp_scrape(&self, addr: SocketAddr, op: OpId) -> bool {
        self.udp_ops.contains_key(&(addr, op))
    }

    /// Forgets what is still in flight for one tracker of one torrent (a new scrape replaces
    /// one that never got an answer).
    fn forget(&mut self, id: TorrentId, tracker: &str) {
        self.pending.retain(|_, p| match p {
            Pending::Http {
                torrent,
                tracker: t,
                ..
            }
            | Pending::Host {
                torrent,
                tracker: t,
            } => !(*torrent == id && t == tracker),
        });
        self.udp_ops
            .retain(|_, (torrent, t)| !(*torrent == id && t == tracker));
    }
}

impl Trackers {
    /// A tracker answered an announce: the first time, it is scraped at once (if it can be).
    /// Returns the announce results the UDP tracker gave meanwhile.
    pub(crate) fn scrape_after_announce(
        &mut self,
        now: Instant,
        id: TorrentId,
        url: &TrackerUrl,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        if cx.config.scrape_interval.is_none() {
            return Vec::new();
        }
        let Some(scrape) = scrape_url(url) else {
            return Vec::new();
        };
        let Some(t) = cx.torrents.get_mut(&id).filter(|t| t.is_active()) else {
            return Vec::new();
        };
        let key = url.to_string();
        if t.scrapes.trackers.contains_key(&key) {
            return Vec::new();
        }
        t.scrapes.trackers.insert(
            key.clone(),
            Scraped {
                url: scrape,
                next_at: now,
                last: None,
                started: None,
                active: false,
                ended: None,
                downloaders: None,
            },
        );
        self.launch_scrape(now, id, key, cx)
    }

    /// Starts the scrapes due at `now` (of the torrents in `due`, those whose deadline is
    /// due). Returns the announce results the UDP trackers gave
    /// meanwhile.
    pub(crate) fn scrape_timeout(
        &mut self,
        now: Instant,
        due: &[TorrentId],
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let due: Vec<(TorrentId, String)> = due
            .iter()
            .filter_map(|id| cx.torrents.get(id).map(|t| (id, t)))
            .filter(|(_, t)| t.is_active())
            .flat_map(|(id, t)| {
                t.scrapes
                    .trackers
                    .iter()
                    .filter(|(_, s)| s.next_at <= now)
                    .map(|(key, _)| (*id, key.to_owned()))
            })
            .collect();
        let mut done = Vec::new();
        for (id, key) in due {
            done.extend(self.launch_scrape(now, id, key, cx));
        }
        done
    }

    fn launch_scrape(
        &mut self,
        now: Instant,
        id: TorrentId,
        tracker: String,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let Some(interval) = cx.config.scrape_interval else {
            return Vec::new();
        };
        let Some(t) = cx.torrents.get_mut(&id).filter(|t| t.is_active()) else {
            return Vec::new();
        };
        let Some(s) = t.scrapes.trackers.get_mut(&tracker) else {
            return Vec::new();
        };
        s.next_at = now + interval;
        s.started = Some(now);
        s.active = true;
        let url = s.url.clone();
        self.scrapes.forget(id, &tracker);
        match url.scheme() {
            Scheme::Http | Scheme::Https => {
                self.http_scrape(id, tracker, url, 0, cx);
                Vec::new()
            }
            Scheme::Udp => match url.socket_addr() {
                Some(addr) => self.udp_scrape(now, addr, id, tracker, cx),
                None => {
                    let rid = self.next_id();
                    self.scrapes.pending.insert(
                        rid,
                        Pending::Host {
                            torrent: id,
                            tracker,
                        },
                    );
                    cx.out.action(Action::Resolve {
                        id: rid,
                        host: url.host_str(),
                        port: url.port(),
                    });
                    Vec::new()
                }
            },
        }
    }

    fn http_scrape(
        &mut self,
        id: TorrentId,
        tracker: String,
        url: TrackerUrl,
        redirects: u8,
        cx: &mut TrackerCx<'_>,
    ) {
        let Some(t) = cx.torrents.get(&id) else {
            return;
        };
        let request = scrape_request(&url, &[t.info_hash]);
        let rid = self.next_id();
        self.scrapes.pending.insert(
            rid,
            Pending::Http {
                torrent: id,
                tracker,
                url: url.clone(),
                redirects,
            },
        );
        cx.out.action(Action::HttpRequest {
            id: rid,
            url,
            request,
        });
    }

    fn udp_scrape(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: TorrentId,
        tracker: String,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let Some(hash) = cx.torrents.get(&id).map(|t| t.info_hash) else {
            return Vec::new();
        };
        let op = match self
            .udp_tracker(addr, cx.config, cx.rng)
            .scrape(now, vec![hash])
        {
            Ok(op) => op,
            Err(e) => {
                scrape_ended(cx.torrents, now, id, &tracker, Err(e.to_string()));
                return Vec::new();
            }
        };
        self.scrapes.udp_ops.insert((addr, op), (id, tracker));
        self.pump_udp(now, addr, cx.torrents, cx.out)
    }

    /// The answer to an HTTP request that is not an announce's (ignored if not a scrape's).
    pub(crate) fn scrape_http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
        cx: &mut TrackerCx<'_>,
    ) {
        let Some(Pending::Http {
            torrent,
            tracker,
            url,
            redirects,
        }) = self.scrapes.pending.remove(&rid)
        else {
            return;
        };
        match result.and_then(|r| scrape_outcome(&url, &r)) {
            Ok(HttpOutcome::Done(stats)) => {
                scraped(cx.torrents, cx.out, now, torrent, &tracker, &stats);
            }
            Ok(HttpOutcome::Redirect(to)) if redirects < MAX_REDIRECTS => {
                self.http_scrape(torrent, tracker, to, redirects + 1, cx);
            }
            Ok(HttpOutcome::Redirect(_)) => {
                let why = format!("more than {MAX_REDIRECTS} redirects");
                scrape_ended(cx.torrents, now, torrent, &tracker, Err(why));
            }
            Err(e) => scrape_ended(cx.torrents, now, torrent, &tracker, Err(e.to_string())),
        }
    }

    /// A DNS answer that is not an announce's (ignored if not a scrape's). Returns the
    /// announce results the UDP tracker gave meanwhile.
    pub(crate) fn scrape_resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let Some(Pending::Host { torrent, tracker }) = self.scrapes.pending.remove(&rid) else {
            return Vec::new();
        };
        match first_addr(result.ok().as_ref()) {
            Some(addr) => self.udp_scrape(now, addr, torrent, tracker, cx),
            None => {
                let why = "the tracker's host name did not resolve".to_owned();
                scrape_ended(cx.torrents, now, torrent, &tracker, Err(why));
                Vec::new()
            }
        }
    }
}

impl ScrapeRequests {
    /// A UDP tracker finished a scrape.
    pub(crate) fn udp_done(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        op: OpId,
        result: Result<Vec<ScrapeStats>, TrackerError>,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) {
        let Some((torrent, tracker)) = self.udp_ops.remove(&(addr, op)) else {
            return;
        };
        match result {
            Ok(stats) => scraped(torrents, out, now, torrent, &tracker, &stats),
            Err(e) => scrape_ended(torrents, now, torrent, &tracker, Err(e.to_string())),
        }
    }
}

/// The scrape in flight of `tracker` (its announce URL) for torrent `id` ended.
fn scrape_ended(
    torrents: &mut Torrents,
    now: Instant,
    id: TorrentId,
    tracker: &str,
    result: Result<SwarmCounts, String>,
) {
    if let Some(entry) = torrents
        .get_mut(&id)
        .and_then(|t| t.scrapes.trackers.get_mut(tracker))
    {
        entry.end(now, result);
    }
}

/// A tracker's scrape answer: our torrent's counts, if it has them.
fn scraped(
    torrents: &mut Torrents,
    out: &mut Outputs,
    now: Instant,
    id: TorrentId,
    tracker: &str,
    stats: &[ScrapeStats],
) {
    let Some(t) = torrents.get_mut(&id) else {
        return;
    };
    let hash = t.info_hash;
    let Some(entry) = t.scrapes.trackers.get_mut(tracker) else {
        return;
    };
    let Some(s) = stats.iter().find(|s| s.info_hash == hash) else {
        entry.end(now, Err("the answer does not list this torrent".to_owned()));
        return;
    };
    let counts = SwarmCounts {
        seeders: s.complete,
        leechers: s.incomplete,
        downloaded: s.downloaded,
    };
    entry.downloaders = s.downloaders;
    entry.end(now, Ok(counts));
    out.event(Event::TrackerScraped {
        torrent: id,
        url: tracker.to_string(),
        counts,
    });
}
