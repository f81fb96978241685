//! Scrapes (BEP 48): how big each tracker says a torrent's swarm is. A tracker is scraped once
//! right after its first successful announce, then every
//! [`SessionConfig::scrape_interval`](super::SessionConfig::scrape_interval), if its announce
//! URL has a scrape form ([`scrape_url`]: HTTP(S) URLs ending in `announce…`, and every UDP
//! tracker). HTTP scrapes go out as [`Action::HttpRequest`], UDP ones through the tracker's
//! [`UdpTracker`](crate::tracker::UdpTracker), so the runtime contract is the announce one.
//!
//! Each answer becomes [`Event::TrackerScraped`] and feeds [`TorrentStats::swarm`]
//! (the largest counts any tracker reported). A failed scrape is silent (many trackers do not
//! scrape); it is tried again at the next interval.
//!
//! [`TorrentStats::swarm`]: super::TorrentStats::swarm

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::event::{Event, SwarmCounts};
use super::io::{Action, RequestId, TorrentId};
use super::outputs::Outputs;
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
    trackers: BTreeMap<String, Scraped>,
}

#[derive(Debug)]
struct Scraped {
    url: TrackerUrl,
    next_at: Instant,
    last: Option<SwarmCounts>,
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
                    .map(|(key, _)| (*id, key.clone()))
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
        let Ok(op) = self
            .udp_tracker(addr, cx.config, cx.rng)
            .scrape(now, vec![hash])
        else {
            return Vec::new();
        };
        self.scrapes.udp_ops.insert((addr, op), (id, tracker));
        self.pump_udp(addr, cx.torrents, cx.out)
    }

    /// The answer to an HTTP request that is not an announce's (ignored if not a scrape's).
    pub(crate) fn scrape_http_response(
        &mut self,
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
            Ok(HttpOutcome::Done(stats)) => scraped(cx.torrents, cx.out, torrent, &tracker, &stats),
            Ok(HttpOutcome::Redirect(to)) if redirects < MAX_REDIRECTS => {
                self.http_scrape(torrent, tracker, to, redirects + 1, cx);
            }
            Ok(HttpOutcome::Redirect(_)) | Err(_) => {}
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
            None => Vec::new(),
        }
    }
}

impl ScrapeRequests {
    /// A UDP tracker finished a scrape.
    pub(crate) fn udp_done(
        &mut self,
        addr: SocketAddr,
        op: OpId,
        result: Result<Vec<ScrapeStats>, TrackerError>,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) {
        let Some((torrent, tracker)) = self.udp_ops.remove(&(addr, op)) else {
            return;
        };
        if let Ok(stats) = result {
            scraped(torrents, out, torrent, &tracker, &stats);
        }
    }
}

/// A tracker's scrape answer: our torrent's counts, if it has them.
fn scraped(
    torrents: &mut Torrents,
    out: &mut Outputs,
    id: TorrentId,
    tracker: &str,
    stats: &[ScrapeStats],
) {
    let Some(t) = torrents.get_mut(&id) else {
        return;
    };
    let hash = t.info_hash;
    let Some(s) = stats.iter().find(|s| s.info_hash == hash) else {
        return;
    };
    let Some(entry) = t.scrapes.trackers.get_mut(tracker) else {
        return;
    };
    let counts = SwarmCounts {
        seeders: s.complete,
        leechers: s.incomplete,
        downloaded: s.downloaded,
    };
    entry.last = Some(counts);
    out.event(Event::TrackerScraped {
        torrent: id,
        url: tracker.to_string(),
        counts,
    });
}
