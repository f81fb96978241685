//! Scrapes (BEP 48): how big each tracker says a torrent's swarm is. A tracker is scraped once
//! right after its first successful announce, then every
//! [`SessionConfig::scrape_interval`](super::SessionConfig::scrape_interval), if its announce
//! URL has a scrape form ([`scrape_url`]: HTTP(S) URLs ending in `announce…`, and every UDP
//! tracker). HTTP scrapes go out as [`Action::HttpRequest`], UDP ones through the tracker's
//! [`UdpTracker`](crate::tracker::UdpTracker), so the runtime contract is the announce one.
//!
//! Scrapes are batched per scrape URL: one request carries every torrent due there (up to
//! [`MAX_SCRAPE_HASHES`] over UDP, [`http_scrape_capacity`] over HTTP, more requests beyond),
//! and its last batch is filled with torrents due within half an interval, so a tracker's
//! torrents fall into step and a round costs one request per batch, not one per torrent. Two
//! rounds to one URL are at least [`SCRAPE_GATHER`] apart. Each answer is matched back to
//! every torrent it carried; one the tracker left out fails alone.
//!
//! Each answer becomes [`Event::TrackerScraped`] and feeds [`TorrentStats::swarm`]
//! (the largest counts any tracker reported). A failed scrape raises no event (many trackers do
//! not scrape); it is tried again at the next interval. How each tracker's latest scrape went
//! (started, ended, its counts or why it failed) shows in its [`ScrapeStatus`].
//!
//! [`TorrentStats::swarm`]: super::TorrentStats::swarm

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::event::{Event, SwarmCounts};
use super::io::{Action, RequestId, TorrentId};
use super::outputs::Outputs;
use super::snapshot::{MAX_TRACKER_MESSAGE, ScrapeStatus};
use super::torrent::table::Torrents;
use super::trackers::{AnnounceDone, TrackerCx, Trackers, first_addr};
use crate::id::InfoHash;
use crate::tracker::scrape::{http_scrape_capacity, scrape_outcome, scrape_request, scrape_url};
use crate::tracker::udp::{MAX_SCRAPE_HASHES, OpId};
use crate::tracker::{HttpOutcome, HttpResponse, Scheme, ScrapeStats, TrackerError, TrackerUrl};

/// Redirects followed for one scrape.
const MAX_REDIRECTS: u8 = 3;

/// The shortest time between two rounds of scrapes to one scrape URL: torrents that become due
/// meanwhile (first scrapes after a burst of announces) wait and leave together.
pub(crate) const SCRAPE_GATHER: Duration = Duration::from_secs(5);

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
    pub(crate) fn counts_of(&self, url: &TrackerUrl) -> Option<SwarmCounts> {
        self.trackers.get(url).and_then(|s| s.last)
    }

    /// How the scrapes of the tracker with this announce URL went (`None`: never scraped,
    /// not yet announced to or without a scrape URL); `active`: whether the torrent runs (a
    /// stopped one plans no scrape).
    pub(crate) fn status_of(&self, url: &TrackerUrl, active: bool) -> Option<ScrapeStatus> {
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

/// One torrent's record of one tracker (its announce URL, the announcer's shared handle): a
/// scrape's member.
type Member = (TorrentId, TrackerUrl);

/// A scrape waiting for the runtime.
#[derive(Debug)]
enum Pending {
    Http {
        members: Vec<Member>,
        url: TrackerUrl,
        redirects: u8,
    },
    Host {
        members: Vec<Member>,
    },
}

impl Pending {
    fn members_mut(&mut self) -> &mut Vec<Member> {
        match self {
            Self::Http { members, .. } | Self::Host { members } => members,
        }
    }
}

/// The torrents scraped at one scrape URL, by when each is next due, and when its latest
/// scrape left.
#[derive(Debug, Default)]
struct Round {
    /// Each member at its next scrape (its `Scraped::next_at`, filed again whenever that
    /// moves), so a round looks at the members due and the few that fill its last batch, not
    /// at every member of the URL (which made each announce answer of a first round cost
    /// every torrent of its tracker). A member whose torrent is gone or not running is dropped
    /// when met; a torrent that runs again is filed anew when its scrape comes due (see
    /// [`Trackers::scrape_timeout`]).
    queue: BTreeSet<(Instant, Member)>,
    last: Option<Instant>,
}

impl Round {
    /// Files `member`'s next scrape at `to` (`from`: where it was filed, if it was).
    fn refile(&mut self, member: Member, from: Option<Instant>, to: Instant) {
        match from {
            Some(from) if from == to => {}
            Some(from) => {
                let mut entry = (from, member);
                self.queue.remove(&entry);
                entry.0 = to;
                self.queue.insert(entry);
            }
            None => {
                self.queue.insert((to, member));
            }
        }
    }
}

/// The session's scrapes in flight, and which torrents each scrape URL serves (one scrape
/// carries many of them: BEP 48 takes many `info_hash` parameters, BEP 15 up to
/// [`MAX_SCRAPE_HASHES`]).
#[derive(Debug, Default)]
pub(crate) struct ScrapeRequests {
    pending: BTreeMap<RequestId, Pending>,
    udp_ops: BTreeMap<(SocketAddr, OpId), Vec<Member>>,
    rounds: BTreeMap<String, Round>,
    /// Members the rounds looked at so far (a count of the work, see [`LoopWork`]).
    ///
    /// [`LoopWork`]: super::LoopWork
    pub(crate) looked: u64,
}

impl ScrapeRequests {
    /// Whether `op` on the UDP tracker at `addr` is a scrape.
    pub(crate) fn is_udp_scrape(&self, addr: SocketAddr, op: OpId) -> bool {
        self.udp_ops.contains_key(&(addr, op))
    }

    /// Forgets what is still in flight for one tracker of one torrent (a new scrape replaces
    /// one that never got an answer); a request left without members is dropped.
    fn forget(&mut self, member: &Member) {
        self.pending.retain(|_, p| {
            let members = p.members_mut();
            members.retain(|m| m != member);
            !members.is_empty()
        });
        self.udp_ops.retain(|_, members| {
            members.retain(|m| m != member);
            !members.is_empty()
        });
    }
}

impl Trackers {
    /// A tracker answered an announce: the first time, it is scraped at once (if it can be),
    /// with the other torrents its scrape URL serves that are due, or at the end of
    /// [`SCRAPE_GATHER`] after that URL's latest scrape. Returns the announce results the UDP
    /// tracker gave meanwhile.
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
        if cx
            .torrents
            .get(&id)
            .is_none_or(|t| !t.is_active() || t.scrapes.trackers.contains_key(url))
        {
            return Vec::new();
        }
        // One copy of the scrape URL for every torrent of the tracker.
        let scrape = cx.torrents.urls().share(scrape);
        let Some(t) = cx.torrents.get_mut(&id) else {
            return Vec::new();
        };
        t.scrapes.trackers.insert(
            url,
            Scraped {
                url: scrape.clone(),
                next_at: now,
                last: None,
                started: None,
                active: false,
                ended: None,
                downloaders: None,
            },
        );
        let round = self.scrapes.rounds.entry(scrape.to_string()).or_default();
        round.refile((id, url.clone()), None, now);
        self.launch_round(now, &scrape, cx)
    }

    /// Starts the scrapes due at `now` (of the torrents in `due`, those whose deadline is
    /// due): one round per scrape URL. Returns the announce results the UDP trackers gave
    /// meanwhile.
    pub(crate) fn scrape_timeout(
        &mut self,
        now: Instant,
        due: &[TorrentId],
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let mut urls: BTreeMap<String, TrackerUrl> = BTreeMap::new();
        for id in due {
            let Some(t) = cx.torrents.get(id).filter(|t| t.is_active()) else {
                continue;
            };
            let ready = t.scrapes.trackers.iter();
            for (tracker, s) in ready.filter(|(_, s)| s.next_at <= now && !s.active) {
                let key = s.url.to_string();
                // Filed again: a round drops the members of a torrent that stopped.
                let round = self.scrapes.rounds.entry(key.clone()).or_default();
                round.refile((*id, tracker.clone()), None, s.next_at);
                urls.entry(key).or_insert_with(|| s.url.clone());
            }
        }
        let mut done = Vec::new();
        for url in urls.values() {
            done.extend(self.launch_round(now, url, cx));
        }
        done
    }

    /// Scrapes the torrents due at scrape URL `url`, as few requests as its batch size allows;
    /// the last one is filled with torrents due within half an interval (so the torrents of a
    /// tracker fall into step and each round costs about one request per batch). Within
    /// [`SCRAPE_GATHER`] of the URL's latest scrape, the torrents due wait for its end.
    fn launch_round(
        &mut self,
        now: Instant,
        url: &TrackerUrl,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let Some(interval) = cx.config.scrape_interval else {
            return Vec::new();
        };
        let key = url.to_string();
        let Some(round) = self.scrapes.rounds.get_mut(&key) else {
            return Vec::new();
        };
        let horizon = now + interval / 2;
        let capacity = match url.scheme() {
            Scheme::Udp => MAX_SCRAPE_HASHES,
            Scheme::Http | Scheme::Https => http_scrape_capacity(url),
        };
        let gather_end = round
            .last
            .map(|last| last + SCRAPE_GATHER)
            .filter(|at| *at > now);
        // The queue in order: the members due first (each at or before `now`), then, to fill
        // the last batch, those due within half an interval (none while gathering).
        let mut due: Vec<(Instant, Member)> = Vec::new();
        let mut room = None;
        let mut dropped = Vec::new();
        for (at, member) in &round.queue {
            if *at > horizon {
                break;
            }
            self.scrapes.looked += 1;
            let (id, tracker) = member;
            let ours = cx.torrents.get(id).filter(|t| t.is_active());
            let Some(s) = ours.and_then(|t| t.scrapes.trackers.get(tracker)) else {
                dropped.push((*at, member.clone()));
                continue;
            };
            if s.next_at != *at {
                // Filed at an older instant (never left so): its right place is refiled below.
                dropped.push((*at, member.clone()));
                continue;
            }
            if s.active {
                continue;
            }
            if *at > now {
                if gather_end.is_some() || due.is_empty() {
                    break;
                }
                let room = *room.get_or_insert(due.len().next_multiple_of(capacity));
                if due.len() >= room {
                    break;
                }
            }
            due.push((*at, member.clone()));
        }
        for entry in dropped {
            round.queue.remove(&entry);
            let (id, tracker) = &entry.1;
            let current = cx.torrents.get(id).filter(|t| t.is_active());
            if let Some(s) = current.and_then(|t| t.scrapes.trackers.get(tracker)) {
                round.refile(entry.1, None, s.next_at);
            }
        }
        if round.queue.is_empty() && gather_end.is_none() {
            self.scrapes.rounds.remove(&key);
            return Vec::new();
        }
        if due.is_empty() {
            return Vec::new();
        }
        if let Some(at) = gather_end {
            for (from, member) in due {
                if let Some(s) = cx
                    .torrents
                    .get_mut(&member.0)
                    .and_then(|t| t.scrapes.trackers.get_mut(&member.1))
                {
                    s.next_at = at;
                    round.refile(member, Some(from), at);
                }
            }
            return Vec::new();
        }
        round.last = Some(now);
        let members: Vec<Member> = due.into_iter().map(|(_, member)| member).collect();
        let mut done = Vec::new();
        for batch in members.chunks(capacity) {
            let batch = self.start_scrapes(now, interval, &key, batch, cx);
            if !batch.is_empty() {
                done.extend(self.send_scrape(now, url, batch, cx));
            }
        }
        done
    }

    /// Marks each member's scrape as started (the next one an interval away, filed so in the
    /// round of scrape URL `key`); returns the members still there.
    fn start_scrapes(
        &mut self,
        now: Instant,
        interval: Duration,
        key: &str,
        batch: &[Member],
        cx: &mut TrackerCx<'_>,
    ) -> Vec<Member> {
        let mut started = Vec::with_capacity(batch.len());
        for member in batch {
            let Some(s) = cx
                .torrents
                .get_mut(&member.0)
                .and_then(|t| t.scrapes.trackers.get_mut(&member.1))
            else {
                continue;
            };
            let (from, replaced) = (s.next_at, s.active);
            s.next_at = now + interval;
            s.started = Some(now);
            s.active = true;
            if let Some(round) = self.scrapes.rounds.get_mut(key) {
                round.refile(member.clone(), Some(from), now + interval);
            }
            // Only a scrape still in flight is in a request (a member's requests end with
            // its scrape): the look through every request is for that case alone.
            if replaced {
                self.scrapes.forget(member);
            }
            started.push(member.clone());
        }
        started
    }

    /// Sends one scrape of `members` to `url`.
    fn send_scrape(
        &mut self,
        now: Instant,
        url: &TrackerUrl,
        members: Vec<Member>,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        match url.scheme() {
            Scheme::Http | Scheme::Https => {
                self.http_scrape(members, url.clone(), 0, cx);
                Vec::new()
            }
            Scheme::Udp => match url.socket_addr() {
                Some(addr) => self.udp_scrape(now, addr, members, cx),
                None => {
                    let rid = self.next_id();
                    self.scrapes.pending.insert(rid, Pending::Host { members });
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
        members: Vec<Member>,
        url: TrackerUrl,
        redirects: u8,
        cx: &mut TrackerCx<'_>,
    ) {
        let hashes = info_hashes(cx.torrents, &members);
        if hashes.is_empty() {
            return;
        }
        let request = scrape_request(&url, &hashes);
        let rid = self.next_id();
        self.scrapes.pending.insert(
            rid,
            Pending::Http {
                members,
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
        members: Vec<Member>,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let hashes = info_hashes(cx.torrents, &members);
        if hashes.is_empty() {
            return Vec::new();
        }
        let op = match self
            .udp_tracker(addr, cx.config, cx.rng)
            .scrape(now, hashes)
        {
            Ok(op) => op,
            Err(e) => {
                for (id, tracker) in &members {
                    scrape_ended(cx.torrents, now, *id, tracker, Err(e.to_string()));
                }
                return Vec::new();
            }
        };
        self.scrapes.udp_ops.insert((addr, op), members);
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
            members,
            url,
            redirects,
        }) = self.scrapes.pending.remove(&rid)
        else {
            return;
        };
        match result.and_then(|r| scrape_outcome(&url, &r)) {
            Ok(HttpOutcome::Done(stats)) => scraped(cx.torrents, cx.out, now, &members, &stats),
            Ok(HttpOutcome::Redirect(to)) if redirects < MAX_REDIRECTS => {
                self.http_scrape(members, to, redirects + 1, cx);
            }
            Ok(HttpOutcome::Redirect(_)) => {
                let why = format!("more than {MAX_REDIRECTS} redirects");
                all_failed(cx.torrents, now, &members, &why);
            }
            Err(e) => all_failed(cx.torrents, now, &members, &e.to_string()),
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
        let Some(Pending::Host { members }) = self.scrapes.pending.remove(&rid) else {
            return Vec::new();
        };
        match first_addr(result.ok().as_ref()) {
            Some(addr) => self.udp_scrape(now, addr, members, cx),
            None => {
                let why = "the tracker's host name did not resolve";
                all_failed(cx.torrents, now, &members, why);
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
        let Some(members) = self.udp_ops.remove(&(addr, op)) else {
            return;
        };
        match result {
            Ok(stats) => scraped(torrents, out, now, &members, &stats),
            Err(e) => all_failed(torrents, now, &members, &e.to_string()),
        }
    }
}

/// The info-hashes of the members' torrents (those still there).
fn info_hashes(torrents: &Torrents, members: &[Member]) -> Vec<InfoHash> {
    let mut hashes: Vec<InfoHash> = members
        .iter()
        .filter_map(|(id, _)| torrents.get(id).map(|t| t.info_hash))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// A scrape of every member failed with `why`.
fn all_failed(torrents: &mut Torrents, now: Instant, members: &[Member], why: &str) {
    for (id, tracker) in members {
        scrape_ended(torrents, now, *id, tracker, Err(why.to_owned()));
    }
}

/// The scrape in flight of `tracker` (its announce URL) for torrent `id` ended.
fn scrape_ended(
    torrents: &mut Torrents,
    now: Instant,
    id: TorrentId,
    tracker: &TrackerUrl,
    result: Result<SwarmCounts, String>,
) {
    if let Some(entry) = torrents
        .get_mut(&id)
        .and_then(|t| t.scrapes.trackers.get_mut(tracker))
    {
        entry.end(now, result);
    }
}

/// A tracker's scrape answer: each member's counts, if it lists the member's torrent (an
/// answer may leave some out).
fn scraped(
    torrents: &mut Torrents,
    out: &mut Outputs,
    now: Instant,
    members: &[Member],
    stats: &[ScrapeStats],
) {
    let by_hash: BTreeMap<InfoHash, &ScrapeStats> =
        stats.iter().map(|s| (s.info_hash, s)).collect();
    for (id, tracker) in members {
        let Some(t) = torrents.get_mut(id) else {
            continue;
        };
        let found = by_hash.get(&t.info_hash).copied();
        let Some(entry) = t.scrapes.trackers.get_mut(tracker) else {
            continue;
        };
        let Some(s) = found else {
            entry.end(now, Err("the answer does not list this torrent".to_owned()));
            continue;
        };
        let counts = SwarmCounts {
            seeders: s.complete,
            leechers: s.incomplete,
            downloaded: s.downloaded,
        };
        entry.downloaders = s.downloaders;
        entry.end(now, Ok(counts));
        out.event(Event::TrackerScraped {
            torrent: *id,
            url: tracker.to_string(),
            counts,
        });
    }
}
