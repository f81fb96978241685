//! Trackers: carrying each torrent's [`Announcer`](crate::tracker::Announcer) jobs over HTTP
//! ([`Action::HttpRequest`]) or UDP (one [`UdpTracker`] per tracker address, host names
//! resolved with [`Action::Resolve`]), and feeding the answers back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::Session;
use super::edit::{ChangeError, TrackerEdit};
use super::event::Event;
use super::io::{Action, RequestId, TorrentId};
use super::scrape::ScrapeRequests;
use super::torrent::candidates::Source;
use crate::tracker::announce::Transfer;
use crate::tracker::udp::OpId;
use crate::tracker::{
    AnnounceJob, AnnounceRequest, AnnouncerEvent, HttpOutcome, JobId as AnnounceJobId, Scheme,
    TrackerError, TrackerUrl, UdpEvent, UdpTracker, http,
};

/// What an HTTP request or DNS resolution is for.
#[derive(Debug)]
enum Pending {
    Http {
        torrent: TorrentId,
        job: AnnounceJobId,
        url: TrackerUrl,
    },
    TrackerHost {
        torrent: TorrentId,
        job: AnnounceJobId,
        request: Box<AnnounceRequest>,
    },
    PeerHost {
        torrent: TorrentId,
    },
}

/// The session's tracker transports.
#[derive(Debug, Default)]
pub(crate) struct Trackers {
    next_request: u64,
    pending: BTreeMap<RequestId, Pending>,
    pub(crate) udp: BTreeMap<SocketAddr, UdpTracker>,
    udp_ops: BTreeMap<(SocketAddr, OpId), (TorrentId, AnnounceJobId)>,
    /// Scrapes in flight (their request ids come from [`Self::next_id`] too).
    pub(crate) scrapes: ScrapeRequests,
}

impl Trackers {
    fn alloc(&mut self, pending: Pending) -> RequestId {
        let id = self.next_id();
        self.pending.insert(id, pending);
        id
    }

    /// A fresh request id.
    pub(crate) fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }
}

impl Session {
    /// Edits a torrent's trackers (see [`Session::edit_trackers`]) and gives its announcer
    /// the new list.
    pub(super) fn change_trackers(
        &mut self,
        now: Instant,
        id: TorrentId,
        edit: &TrackerEdit,
    ) -> Result<(), ChangeError> {
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ChangeError::UnknownTorrent(id))?;
        t.tracker_list.apply(edit)?;
        let tiers = t.tracker_list.tiers();
        if let Some(a) = t.announcer.as_mut() {
            let urls = tiers
                .iter()
                .map(|tier| {
                    tier.iter()
                        .filter_map(|u| TrackerUrl::parse(u).ok())
                        .collect()
                })
                .collect();
            a.replace_tiers(urls, &mut self.rng, now);
        } else if let Some(mut a) = self.make_announcer(&tiers) {
            let Some(t) = self.torrents.get_mut(&id) else {
                return Ok(());
            };
            // A torrent that had no tracker: it announces from now on, as it would have.
            if t.swarm_started && t.is_active() && !t.options.no_outbound {
                a.start(now);
            }
            // A stopping or stopped torrent owes this tracker no `stopped`.
            t.announce_stopped = !t.is_active();
            t.announcer = Some(a);
        }
        self.pump_announcer(now, id);
        Ok(())
    }

    /// Carries out a torrent's announce jobs and handles its announcer's events.
    pub(super) fn pump_announcer(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(t) = self.torrents.get_mut(&id) else {
                return;
            };
            let Some(a) = t.announcer.as_mut() else {
                return;
            };
            if let Some(job) = a.poll_job() {
                self.launch_announce(now, id, job);
                continue;
            }
            let Some(event) = a.poll_event() else {
                return;
            };
            self.on_announcer_event(now, id, event);
        }
    }

    fn launch_announce(&mut self, now: Instant, id: TorrentId, job: AnnounceJob) {
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let transfer = Transfer {
            uploaded: t.up.total(),
            downloaded: t.down.total(),
            left: t.left(),
        };
        let request = job.request(t.info_hash, self.peer_id, self.config.listen_port, transfer);
        match job.url.scheme() {
            Scheme::Http | Scheme::Https => {
                let bytes = http::announce_request(&job.url, &request);
                let rid = self.trackers.alloc(Pending::Http {
                    torrent: id,
                    job: job.id,
                    url: job.url.clone(),
                });
                self.actions.push_back(Action::HttpRequest {
                    id: rid,
                    url: job.url,
                    request: bytes,
                });
            }
            Scheme::Udp => match job.url.socket_addr() {
                Some(addr) => self.udp_announce(now, addr, id, job.id, request),
                None => {
                    let rid = self.trackers.alloc(Pending::TrackerHost {
                        torrent: id,
                        job: job.id,
                        request: Box::new(request),
                    });
                    self.actions.push_back(Action::Resolve {
                        id: rid,
                        host: job.url.host_str(),
                        port: job.url.port(),
                    });
                }
            },
        }
    }

    fn udp_announce(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: TorrentId,
        job: AnnounceJobId,
        request: AnnounceRequest,
    ) {
        let op = self.udp_tracker(addr).announce(now, request);
        self.trackers.udp_ops.insert((addr, op), (id, job));
        self.pump_udp_tracker(now, addr);
    }

    /// The UDP tracker at `addr` (made on first use).
    pub(super) fn udp_tracker(&mut self, addr: SocketAddr) -> &mut UdpTracker {
        let config = self.config.udp_tracker.clone();
        let rng = self.rng.fork();
        self.trackers
            .udp
            .entry(addr)
            .or_insert_with(|| UdpTracker::new(addr, config, rng))
    }

    /// Sends a UDP tracker's datagrams and handles its events.
    pub(super) fn pump_udp_tracker(&mut self, now: Instant, addr: SocketAddr) {
        let mut results = Vec::new();
        let mut scrapes = Vec::new();
        if let Some(tracker) = self.trackers.udp.get_mut(&addr) {
            while let Some(t) = tracker.poll_transmit() {
                self.transmits.push_back(t);
            }
            while let Some(event) = tracker.poll_event() {
                match event {
                    UdpEvent::Announced { op, response } => {
                        results.push((op, Ok(HttpOutcome::Done(response))));
                    }
                    UdpEvent::Failed { op, error }
                        if self.trackers.scrapes.is_udp_scrape(addr, op) =>
                    {
                        scrapes.push((op, Err(TrackerError::Udp(error))));
                    }
                    UdpEvent::Failed { op, error } => {
                        results.push((op, Err(TrackerError::Udp(error))));
                    }
                    UdpEvent::Scraped { op, stats } => scrapes.push((op, Ok(stats))),
                }
            }
        }
        for (op, result) in scrapes {
            self.udp_scrape_done(addr, op, result);
        }
        for (op, result) in results {
            if let Some((id, job)) = self.trackers.udp_ops.remove(&(addr, op)) {
                self.announce_result(now, id, job, result);
            }
        }
    }

    fn announce_result(
        &mut self,
        now: Instant,
        id: TorrentId,
        job: AnnounceJobId,
        result: Result<HttpOutcome<crate::tracker::AnnounceResponse>, TrackerError>,
    ) {
        if let Some(a) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.announcer.as_mut())
        {
            a.handle_result(now, job, result);
        }
        self.pump_announcer(now, id);
    }

    fn on_announcer_event(&mut self, now: Instant, id: TorrentId, event: AnnouncerEvent) {
        match event {
            AnnouncerEvent::Announced { url, response } => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.announces.answered(now, &url.to_string(), &response);
                    t.tracker_answered(response.warning.as_deref());
                }
                self.events.push_back(Event::TrackerAnnounced {
                    torrent: id,
                    url: url.to_string(),
                    peers: response.peers.len(),
                });
                self.add_candidates(id, &response.peers, Source::Tracker);
                self.scrape_after_announce(now, id, &url);
            }
            AnnouncerEvent::TrackerFailed { url, error } => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.announces.failed(now, &url.to_string(), &error);
                }
                self.events.push_back(Event::TrackerError {
                    torrent: id,
                    url: url.to_string(),
                    error,
                });
            }
            AnnouncerEvent::JobTimedOut(job) => {
                let ops: Vec<(SocketAddr, OpId)> = self
                    .trackers
                    .udp_ops
                    .iter()
                    .filter(|(_, v)| **v == (id, job))
                    .map(|(k, _)| *k)
                    .collect();
                for (addr, op) in ops {
                    self.trackers.udp_ops.remove(&(addr, op));
                    if let Some(t) = self.trackers.udp.get_mut(&addr) {
                        t.cancel(op);
                    }
                }
                self.trackers.pending.retain(|_, p| match p {
                    Pending::Http {
                        torrent, job: j, ..
                    }
                    | Pending::TrackerHost {
                        torrent, job: j, ..
                    } => !(*torrent == id && *j == job),
                    Pending::PeerHost { .. } => true,
                });
            }
            AnnouncerEvent::AllFailed { .. } => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.every_tracker_failed();
                }
            }
            AnnouncerEvent::Stopped => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.announce_stopped = true;
                }
                self.progress_stops(now);
            }
        }
    }

    /// The answer to an HTTP announce.
    pub(super) fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<http::HttpResponse, TrackerError>,
    ) {
        let Some(Pending::Http { torrent, job, url }) = self.trackers.pending.remove(&rid) else {
            return self.scrape_http_response(rid, result);
        };
        let outcome = result.and_then(|r| http::announce_outcome(&url, &r));
        self.announce_result(now, torrent, job, outcome);
    }

    /// Resolves a peer host name from a magnet link.
    pub(super) fn resolve_peer_host(&mut self, id: TorrentId, host: String, port: u16) {
        let rid = self.trackers.alloc(Pending::PeerHost { torrent: id });
        self.actions.push_back(Action::Resolve {
            id: rid,
            host,
            port,
        });
    }

    /// A DNS answer.
    pub(super) fn resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        match self.trackers.pending.remove(&rid) {
            Some(Pending::TrackerHost {
                torrent,
                job,
                request,
            }) => {
                let addr = result.as_ref().ok().and_then(|addrs| {
                    addrs
                        .iter()
                        .find(|a| a.is_ipv4())
                        .or_else(|| addrs.first())
                        .copied()
                });
                match addr {
                    Some(addr) => self.udp_announce(now, addr, torrent, job, *request),
                    None => {
                        // An empty answer is a name with no address.
                        let kind = result.err().unwrap_or(std::io::ErrorKind::NotFound);
                        self.announce_result(now, torrent, job, Err(TrackerError::Resolve(kind)));
                    }
                }
            }
            Some(Pending::PeerHost { torrent }) => {
                if let Ok(addrs) = result {
                    self.add_candidates(torrent, &addrs, Source::User);
                }
            }
            None => self.scrape_resolved(now, rid, result),
            Some(Pending::Http { .. }) => {}
        }
    }
}
