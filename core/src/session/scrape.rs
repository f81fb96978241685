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

use super::Session;
use super::event::{Event, SwarmCounts};
use super::io::{Action, RequestId, TorrentId};
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
    fn deadline(&self) -> Option<Instant> {
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

impl Session {
    /// A tracker answered an announce: the first time, it is scraped at once (if it can be).
    pub(super) fn scrape_after_announce(&mut self, now: Instant, id: TorrentId, url: &TrackerUrl) {
        if self.config.scrape_interval.is_none() {
            return;
        }
        let Some(scrape) = scrape_url(url) else {
            return;
        };
        let Some(t) = self.torrents.get_mut(&id).filter(|t| t.is_active()) else {
            return;
        };
        let key = url.to_string();
        if t.scrapes.trackers.contains_key(&key) {
            return;
        }
        t.scrapes.trackers.insert(
            key.clone(),
            Scraped {
                url: scrape,
                next_at: now,
                last: None,
            },
        );
        self.launch_scrape(now, id, key);
    }

    /// The earliest scrape due of any active torrent.
    pub(super) fn scrape_deadline(&self) -> Option<Instant> {
        self.torrents
            .values()
            .filter(|t| t.is_active())
            .filter_map(|t| t.scrapes.deadline())
            .min()
    }

    /// Starts the scrapes due at `now`.
    pub(super) fn scrape_timeout(&mut self, now: Instant) {
        let due: Vec<(TorrentId, String)> = self
            .torrents
            .iter()
            .filter(|(_, t)| t.is_active())
            .flat_map(|(id, t)| {
                t.scrapes
                    .trackers
                    .iter()
                    .filter(|(_, s)| s.next_at <= now)
                    .map(|(key, _)| (*id, key.clone()))
            })
            .collect();
        for (id, key) in due {
            self.launch_scrape(now, id, key);
        }
    }

    fn launch_scrape(&mut self, now: Instant, id: TorrentId, tracker: String) {
        let Some(interval) = self.config.scrape_interval else {
            return;
        };
        let Some(t) = self.torrents.get_mut(&id).filter(|t| t.is_active()) else {
            return;
        };
        let Some(s) = t.scrapes.trackers.get_mut(&tracker) else {
            return;
        };
        s.next_at = now + interval;
        let url = s.url.clone();
        self.trackers.scrapes.forget(id, &tracker);
        match url.scheme() {
            Scheme::Http | Scheme::Https => self.http_scrape(id, tracker, url, 0),
            Scheme::Udp => match url.socket_addr() {
                Some(addr) => self.udp_scrape(now, addr, id, tracker),
                None => {
                    let rid = self.trackers.next_id();
                    self.trackers.scrapes.pending.insert(
                        rid,
                        Pending::Host {
                            torrent: id,
                            tracker,
                        },
                    );
                    self.actions.push_back(Action::Resolve {
                        id: rid,
                        host: url.host_str(),
                        port: url.port(),
                    });
                }
            },
        }
    }

    fn http_scrape(&mut self, id: TorrentId, tracker: String, url: TrackerUrl, redirects: u8) {
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let request = scrape_request(&url, &[t.info_hash]);
        let rid = self.trackers.next_id();
        self.trackers.scrapes.pending.insert(
            rid,
            Pending::Http {
                torrent: id,
                tracker,
                url: url.clone(),
                redirects,
            },
        );
        self.actions.push_back(Action::HttpRequest {
            id: rid,
            url,
            request,
        });
    }

    fn udp_scrape(&mut self, now: Instant, addr: SocketAddr, id: TorrentId, tracker: String) {
        let Some(hash) = self.torrents.get(&id).map(|t| t.info_hash) else {
            return;
        };
        let Ok(op) = self.udp_tracker(addr).scrape(now, vec![hash]) else {
            return;
        };
        self.trackers
            .scrapes
            .udp_ops
            .insert((addr, op), (id, tracker));
        self.pump_udp_tracker(now, addr);
    }

    /// The answer to an HTTP request that is not an announce's (ignored if not a scrape's).
    pub(super) fn scrape_http_response(
        &mut self,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        let Some(Pending::Http {
            torrent,
            tracker,
            url,
            redirects,
        }) = self.trackers.scrapes.pending.remove(&rid)
        else {
            return;
        };
        match result.and_then(|r| scrape_outcome(&url, &r)) {
            Ok(HttpOutcome::Done(stats)) => self.scraped(torrent, &tracker, &stats),
            Ok(HttpOutcome::Redirect(to)) if redirects < MAX_REDIRECTS => {
                self.http_scrape(torrent, tracker, to, redirects + 1);
            }
            Ok(HttpOutcome::Redirect(_)) | Err(_) => {}
        }
    }

    /// A DNS answer that is not an announce's (ignored if not a scrape's).
    pub(super) fn scrape_resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        let Some(Pending::Host { torrent, tracker }) = self.trackers.scrapes.pending.remove(&rid)
        else {
            return;
        };
        let addr = result.ok().and_then(|addrs| {
            addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| addrs.first())
                .copied()
        });
        if let Some(addr) = addr {
            self.udp_scrape(now, addr, torrent, tracker);
        }
    }

    /// A UDP tracker finished a scrape.
    pub(super) fn udp_scrape_done(
        &mut self,
        addr: SocketAddr,
        op: OpId,
        result: Result<Vec<ScrapeStats>, TrackerError>,
    ) {
        let Some((torrent, tracker)) = self.trackers.scrapes.udp_ops.remove(&(addr, op)) else {
            return;
        };
        if let Ok(stats) = result {
            self.scraped(torrent, &tracker, &stats);
        }
    }

    /// A tracker's scrape answer: our torrent's counts, if it has them.
    fn scraped(&mut self, id: TorrentId, tracker: &str, stats: &[ScrapeStats]) {
        let Some(t) = self.torrents.get_mut(&id) else {
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
        self.events.push_back(Event::TrackerScraped {
            torrent: id,
            url: tracker.to_string(),
            counts,
        });
    }
}
