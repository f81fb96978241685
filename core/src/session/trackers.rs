//! Trackers: carrying each torrent's [`Announcer`](crate::tracker::Announcer) jobs over HTTP
//! ([`Action::HttpRequest`]) or UDP (one [`UdpTracker`] per tracker address, host names
//! resolved with [`Action::Resolve`]), and feeding the answers back.
//!
//! A hybrid torrent is announced under both of its hashes, as libtorrent does (v1 and the
//! truncated v2: two announces per tracker), so that peers that know only one of them find
//! us: the announcer's job goes out under the torrent's id, and a companion request with the
//! same parameters under each other hash. A companion's answer adds its peers as candidates;
//! the announcer's schedule, failures and `stopped` follow the main announce alone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

use super::SessionConfig;
use super::budget::{AnnounceBudget, DhtBudget};
use super::io::{Action, RequestId, TorrentId};
use super::outputs::Outputs;
use super::scrape::ScrapeRequests;
use super::torrent::shared::Shared;
use super::torrent::table::Torrents;
use crate::id::PeerId;
use crate::rng::Rng;
use crate::tracker::announce::Transfer;
use crate::tracker::udp::OpId;
use crate::tracker::{
    AnnounceJob, AnnounceRequest, AnnounceResponse, Announcer, AnnouncerConfig, HttpOutcome,
    JobId as AnnounceJobId, Scheme, TrackerError, TrackerUrl, UdpEvent, UdpTracker, http,
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
        /// The same announce under the torrent's other hashes (see the module docs).
        companions: Vec<AnnounceRequest>,
    },
    /// An HTTP announce under a hybrid's other hash, beside job `job` (see the module docs).
    Companion {
        torrent: TorrentId,
        job: AnnounceJobId,
        url: TrackerUrl,
    },
    PeerHost {
        torrent: TorrentId,
    },
}

impl Pending {
    /// The torrent and announce job the request belongs to (a magnet's peer host: none).
    fn job(&self) -> Option<(TorrentId, AnnounceJobId)> {
        match self {
            Self::Http { torrent, job, .. }
            | Self::TrackerHost { torrent, job, .. }
            | Self::Companion { torrent, job, .. } => Some((*torrent, *job)),
            Self::PeerHost { .. } => None,
        }
    }
}

/// The session's tracker transports, and the budgets every torrent's announces share.
#[derive(Debug)]
pub(crate) struct Trackers {
    next_request: u64,
    pending: BTreeMap<RequestId, Pending>,
    /// The requests of `pending` that belong to an announce job, by job: a job that timed
    /// out drops its own (a stop of 100,000 torrents times out thousands of jobs at once).
    by_job: BTreeSet<(TorrentId, AnnounceJobId, RequestId)>,
    pub(crate) udp: BTreeMap<SocketAddr, UdpTracker>,
    udp_ops: BTreeMap<(SocketAddr, OpId), (TorrentId, AnnounceJobId)>,
    /// UDP announces under a hybrid's other hash, with the job they go beside.
    udp_companions: BTreeMap<(SocketAddr, OpId), (TorrentId, AnnounceJobId)>,
    /// The operations of `udp_ops` and `udp_companions`, by job: a job that timed out
    /// cancels its own without a pass over every UDP announce in flight.
    udp_by_job: BTreeMap<(TorrentId, AnnounceJobId), Vec<(SocketAddr, OpId)>>,
    /// Scrapes in flight (their request ids come from [`Self::next_id`] too).
    pub(crate) scrapes: ScrapeRequests,
    /// The tracker announces' budget.
    pub(crate) budget: AnnounceBudget,
    /// The DHT lookups' budget.
    pub(crate) dht_slots: DhtBudget,
}

impl Trackers {
    /// The transports of a session with `config` (its budgets).
    pub(crate) fn new(config: &SessionConfig) -> Self {
        Self {
            next_request: 0,
            pending: BTreeMap::new(),
            by_job: BTreeSet::new(),
            udp: BTreeMap::new(),
            udp_ops: BTreeMap::new(),
            udp_companions: BTreeMap::new(),
            udp_by_job: BTreeMap::new(),
            scrapes: ScrapeRequests::default(),
            budget: AnnounceBudget::new(config.announce_rate, config.announces_in_flight),
            dht_slots: DhtBudget::new(config.dht_lookup_rate),
        }
    }

    fn alloc(&mut self, pending: Pending) -> RequestId {
        let id = self.next_id();
        if let Some((torrent, job)) = pending.job() {
            self.by_job.insert((torrent, job, id));
        }
        self.pending.insert(id, pending);
        id
    }

    /// Takes request `rid` off the pending ones.
    fn take(&mut self, rid: RequestId) -> Option<Pending> {
        let pending = self.pending.remove(&rid)?;
        if let Some((torrent, job)) = pending.job() {
            self.by_job.remove(&(torrent, job, rid));
        }
        Some(pending)
    }

    /// The earliest deadline of the UDP trackers and of the announce budget.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let udp = self.udp.values().filter_map(|u| u.poll_timeout());
        udp.chain(self.budget.next_deadline()).min()
    }

    /// A datagram from `from`: whether it went to the UDP tracker there (pump it).
    pub(crate) fn udp_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> bool {
        let Some(tracker) = self.udp.get_mut(&from) else {
            return false;
        };
        if !tracker.matches(from, data) {
            return false;
        }
        // A bad datagram is dropped; the operation retransmits or times out.
        let _ = tracker.handle_datagram(now, data);
        true
    }

    /// A fresh request id.
    pub(crate) fn next_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }
}

/// The session's state that tracker requests use, borrowed from it for one step.
pub(crate) struct TrackerCx<'a> {
    /// The torrents (announce parameters, scrape records, candidates).
    pub(crate) torrents: &'a mut Torrents,
    /// The session's settings.
    pub(crate) config: &'a SessionConfig,
    /// The session's random source (each UDP tracker gets a fork).
    pub(crate) rng: &'a mut Rng,
    /// Where requests, datagrams and events go.
    pub(crate) out: &'a mut Outputs,
}

/// An announce result, for a torrent's announcer.
#[derive(Debug)]
pub(crate) enum AnnounceDone {
    /// The UDP tracker at an address finished an operation (whose announce job is looked up
    /// when the result is handled: one that timed out meanwhile is gone).
    Udp(SocketAddr, OpId, Result<AnnounceOutcome, TrackerError>),
    /// A torrent's announce job finished.
    Job(
        TorrentId,
        AnnounceJobId,
        Result<AnnounceOutcome, TrackerError>,
    ),
    /// A torrent's announce under its other hash finished (see the module docs).
    Companion(TorrentId, Result<AnnounceOutcome, TrackerError>),
}

/// Where an announce result goes.
pub(crate) enum Routed {
    /// To the torrent's announcer, for its announce job.
    Job(
        TorrentId,
        AnnounceJobId,
        Result<AnnounceOutcome, TrackerError>,
    ),
    /// A companion's: only its peers are taken (the announcer follows the main announce).
    Companion(TorrentId, Result<AnnounceOutcome, TrackerError>),
}

/// What a tracker answered to an announce.
pub(crate) type AnnounceOutcome = HttpOutcome<AnnounceResponse>;

impl Trackers {
    /// Carries out an announce job of torrent `id` over HTTP or UDP (resolving the tracker's
    /// host first if needed). Returns the announce results the UDP tracker gave meanwhile.
    pub(crate) fn launch_announce(
        &mut self,
        now: Instant,
        id: TorrentId,
        job: AnnounceJob,
        peer_id: PeerId,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let Some(t) = cx.torrents.get(&id) else {
            return Vec::new();
        };
        let transfer = Transfer {
            uploaded: t.up.total(),
            downloaded: t.down.total(),
            left: t.left(),
        };
        let port = cx.config.listen_port;
        let request = job.request(t.info_hash, peer_id, port, transfer);
        let companions: Vec<AnnounceRequest> = t
            .handshake_ids()
            .skip(1)
            .map(|h| job.request(h, peer_id, port, transfer))
            .collect();
        match job.url.scheme() {
            Scheme::Http | Scheme::Https => {
                let bytes = http::announce_request(&job.url, &request);
                let rid = self.alloc(Pending::Http {
                    torrent: id,
                    job: job.id,
                    url: job.url.clone(),
                });
                for companion in &companions {
                    let bytes = http::announce_request(&job.url, companion);
                    let rid = self.alloc(Pending::Companion {
                        torrent: id,
                        job: job.id,
                        url: job.url.clone(),
                    });
                    cx.out.action(Action::HttpRequest {
                        id: rid,
                        url: job.url.clone(),
                        request: bytes,
                    });
                }
                cx.out.action(Action::HttpRequest {
                    id: rid,
                    url: job.url,
                    request: bytes,
                });
                Vec::new()
            }
            Scheme::Udp => match job.url.socket_addr() {
                Some(addr) => self.udp_announce(now, addr, id, job.id, request, companions, cx),
                None => {
                    let rid = self.alloc(Pending::TrackerHost {
                        torrent: id,
                        job: job.id,
                        request: Box::new(request),
                        companions,
                    });
                    cx.out.action(Action::Resolve {
                        id: rid,
                        host: job.url.host_str(),
                        port: job.url.port(),
                    });
                    Vec::new()
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn udp_announce(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: TorrentId,
        job: AnnounceJobId,
        request: AnnounceRequest,
        companions: Vec<AnnounceRequest>,
        cx: &mut TrackerCx<'_>,
    ) -> Vec<AnnounceDone> {
        let tracker = self.udp_tracker(addr, cx.config, cx.rng);
        let op = tracker.announce(now, request);
        let ops: Vec<OpId> = companions
            .into_iter()
            .map(|c| tracker.announce(now, c))
            .collect();
        self.file_udp(addr, id, job, op, &ops);
        self.pump_udp(now, addr, cx.torrents, cx.out)
    }

    /// Files the UDP operations of torrent `id`'s job `job` at `addr`: its announce `op` and
    /// the `companions` beside it.
    fn file_udp(
        &mut self,
        addr: SocketAddr,
        id: TorrentId,
        job: AnnounceJobId,
        op: OpId,
        companions: &[OpId],
    ) {
        self.udp_ops.insert((addr, op), (id, job));
        let by_job = self.udp_by_job.entry((id, job)).or_default();
        by_job.push((addr, op));
        for op in companions {
            self.udp_companions.insert((addr, *op), (id, job));
            by_job.push((addr, *op));
        }
    }

    /// The UDP tracker at `addr` (made on first use).
    pub(crate) fn udp_tracker(
        &mut self,
        addr: SocketAddr,
        config: &SessionConfig,
        rng: &mut Rng,
    ) -> &mut UdpTracker {
        let config = config.udp_tracker.clone();
        let rng = rng.fork();
        self.udp
            .entry(addr)
            .or_insert_with(|| UdpTracker::new(addr, config, rng))
    }

    /// Sends a UDP tracker's datagrams and handles its events: scrape answers go to their
    /// torrents; announce results are returned, for the announcers.
    pub(crate) fn pump_udp(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> Vec<AnnounceDone> {
        let mut results = Vec::new();
        let mut scrapes = Vec::new();
        if let Some(tracker) = self.udp.get_mut(&addr) {
            while let Some(t) = tracker.poll_transmit() {
                out.transmit(t);
            }
            while let Some(event) = tracker.poll_event() {
                match event {
                    UdpEvent::Announced { op, response } => {
                        results.push((op, Ok(HttpOutcome::Done(response))));
                    }
                    UdpEvent::Failed { op, error } if self.scrapes.is_udp_scrape(addr, op) => {
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
            self.scrapes.udp_done(now, addr, op, result, torrents, out);
        }
        results
            .into_iter()
            .map(|(op, result)| AnnounceDone::Udp(addr, op, result))
            .collect()
    }

    /// The torrent and announce job a result is for (`None`: a UDP operation no longer
    /// wanted).
    pub(crate) fn job_of(&mut self, done: AnnounceDone) -> Option<Routed> {
        match done {
            AnnounceDone::Udp(addr, op, result) => {
                if let Some((id, job)) = self.udp_companions.remove(&(addr, op)) {
                    self.udp_done(id, job, addr, op);
                    return Some(Routed::Companion(id, result));
                }
                let (id, job) = self.udp_ops.remove(&(addr, op))?;
                self.udp_done(id, job, addr, op);
                Some(Routed::Job(id, job, result))
            }
            AnnounceDone::Job(id, job, result) => Some(Routed::Job(id, job, result)),
            AnnounceDone::Companion(id, result) => Some(Routed::Companion(id, result)),
        }
    }

    /// UDP operation `op` at `addr` of torrent `id`'s job `job` finished: it leaves the index.
    fn udp_done(&mut self, id: TorrentId, job: AnnounceJobId, addr: SocketAddr, op: OpId) {
        if let Some(ops) = self.udp_by_job.get_mut(&(id, job)) {
            ops.retain(|o| *o != (addr, op));
            if ops.is_empty() {
                self.udp_by_job.remove(&(id, job));
            }
        }
    }

    /// An announce job of torrent `id` timed out: what is still in flight for it is dropped,
    /// its HTTP requests with an [`Action::CancelHttp`] each.
    pub(crate) fn forget_job(&mut self, id: TorrentId, job: AnnounceJobId, out: &mut Outputs) {
        for (addr, op) in self.udp_by_job.remove(&(id, job)).unwrap_or_default() {
            self.udp_ops.remove(&(addr, op));
            self.udp_companions.remove(&(addr, op));
            if let Some(t) = self.udp.get_mut(&addr) {
                t.cancel(op);
            }
        }
        let first = (id, job, RequestId(0));
        let last = (id, job, RequestId(u64::MAX));
        let gone: Vec<RequestId> = (self.by_job.range(first..=last))
            .map(|(_, _, rid)| *rid)
            .collect();
        for rid in gone {
            if let Some(Pending::Http { .. } | Pending::Companion { .. }) = self.take(rid) {
                out.action(Action::CancelHttp { id: rid });
            }
        }
    }

    /// Drops what is still in flight of the announce jobs of torrent `id` that its announcer
    /// abandoned without a timeout (`current`: the one job it still waits for; `None` for a
    /// stopped or removed torrent): their UDP operations and HTTP requests are cancelled and
    /// their requests' answers will be ignored. Kept, a UDP announce would be retransmitted for up to two
    /// hours: a `started` after the torrent's `stopped`, or a `stopped` given up at the stop
    /// deadline after the restart's `started`. A job whose own request was answered keeps
    /// its companions (their peers still count).
    pub(crate) fn forget_abandoned(
        &mut self,
        id: TorrentId,
        current: Option<AnnounceJobId>,
        out: &mut Outputs,
    ) {
        let (first, last) = (AnnounceJobId(0), AnnounceJobId(u64::MAX));
        let http = (self.by_job)
            .range((id, first, RequestId(0))..=(id, last, RequestId(u64::MAX)))
            .filter(|(_, _, rid)| {
                matches!(
                    self.pending.get(rid),
                    Some(Pending::Http { .. } | Pending::TrackerHost { .. })
                )
            })
            .map(|&(_, job, _)| job);
        let udp = (self.udp_by_job)
            .range((id, first)..=(id, last))
            .filter(|(_, ops)| ops.iter().any(|op| self.udp_ops.contains_key(op)))
            .map(|(&(_, job), _)| job);
        let abandoned: BTreeSet<AnnounceJobId> = http
            .chain(udp)
            .filter(|&job| Some(job) != current)
            .collect();
        for job in abandoned {
            self.forget_job(id, job, out);
        }
    }

    /// The answer to an HTTP request: an announce's result, or a scrape's answer (applied).
    pub(crate) fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<http::HttpResponse, TrackerError>,
        cx: &mut TrackerCx<'_>,
    ) -> Option<AnnounceDone> {
        match self.take(rid) {
            Some(Pending::Http { torrent, job, url }) => {
                let outcome = result.and_then(|r| http::announce_outcome(&url, &r));
                Some(AnnounceDone::Job(torrent, job, outcome))
            }
            Some(Pending::Companion { torrent, url, .. }) => {
                let outcome = result.and_then(|r| http::announce_outcome(&url, &r));
                Some(AnnounceDone::Companion(torrent, outcome))
            }
            _ => {
                self.scrape_http_response(now, rid, result, cx);
                None
            }
        }
    }

    /// Resolves a peer host name from a magnet link.
    pub(crate) fn resolve_peer_host(
        &mut self,
        id: TorrentId,
        host: String,
        port: u16,
        out: &mut Outputs,
    ) {
        let rid = self.alloc(Pending::PeerHost { torrent: id });
        out.action(Action::Resolve {
            id: rid,
            host,
            port,
        });
    }

    /// A DNS answer: a UDP tracker's address (announced to at once, or the announce fails), a
    /// magnet's peer (returned, for the torrent's candidates), or a scrape's tracker.
    pub(crate) fn resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
        cx: &mut TrackerCx<'_>,
    ) -> Resolved {
        match self.take(rid) {
            Some(Pending::TrackerHost {
                torrent,
                job,
                request,
                companions,
            }) => match first_addr(result.as_ref().ok()) {
                Some(addr) => Resolved::Announced(
                    self.udp_announce(now, addr, torrent, job, *request, companions, cx),
                ),
                None => {
                    // An empty answer is a name with no address.
                    let kind = result.err().unwrap_or(std::io::ErrorKind::NotFound);
                    let error = Err(TrackerError::Resolve(kind));
                    Resolved::Announced(vec![AnnounceDone::Job(torrent, job, error)])
                }
            },
            Some(Pending::PeerHost { torrent }) => match result {
                Ok(addrs) => Resolved::Peers(torrent, addrs),
                Err(_) => Resolved::Announced(Vec::new()),
            },
            None => Resolved::Announced(self.scrape_resolved(now, rid, result, cx)),
            Some(Pending::Http { .. } | Pending::Companion { .. }) => {
                Resolved::Announced(Vec::new())
            }
        }
    }
}

/// What a DNS answer gave.
pub(crate) enum Resolved {
    /// Announce results, for the announcers (possibly none).
    Announced(Vec<AnnounceDone>),
    /// A magnet's peer host: its addresses, for the torrent's candidates.
    Peers(TorrentId, Vec<SocketAddr>),
}

/// The address to use of a DNS answer: the first IPv4 one, else the first.
pub(crate) fn first_addr(addrs: Option<&Vec<SocketAddr>>) -> Option<SocketAddr> {
    addrs.and_then(|addrs| {
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
    })
}

/// The announcer of a torrent with tracker `tiers` (`None`: no usable tracker URL).
pub(crate) fn make_announcer(
    tiers: &[Vec<String>],
    config: &SessionConfig,
    rng: &mut Rng,
    shared: &mut Shared,
) -> Option<Announcer> {
    let tiers: Vec<Vec<TrackerUrl>> = tiers
        .iter()
        .map(|t| t.iter().filter_map(|u| shared.urls.parse(u)).collect())
        .filter(|t: &Vec<TrackerUrl>| !t.is_empty())
        .collect();
    if tiers.is_empty() {
        return None;
    }
    let config = AnnouncerConfig {
        announce_ip: config.announce_ip,
        gated: true,
        ..config.announcer.clone()
    };
    let config = shared.announcer_config(config);
    Some(Announcer::with_shared_config(tiers, config, rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_out_job_drops_its_own_requests_and_no_other() {
        let mut trackers = Trackers::new(&SessionConfig::default());
        let url = TrackerUrl::parse("http://127.0.0.1:6969/announce").expect("a URL");
        let (a, b) = (TorrentId(1), TorrentId(2));
        let http = |torrent, job| Pending::Http {
            torrent,
            job: AnnounceJobId(job),
            url: url.clone(),
        };
        let companion = |torrent, job| Pending::Companion {
            torrent,
            job: AnnounceJobId(job),
            url: url.clone(),
        };
        let gone = [trackers.alloc(http(a, 7)), trackers.alloc(companion(a, 7))];
        let kept = [
            trackers.alloc(http(a, 8)),
            trackers.alloc(http(b, 7)),
            trackers.alloc(Pending::PeerHost { torrent: a }),
        ];
        let mut out = Outputs::default();
        trackers.forget_job(a, AnnounceJobId(7), &mut out);
        let cancelled: Vec<RequestId> = (out.actions())
            .filter_map(|action| match action {
                Action::CancelHttp { id } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, gone, "the job's HTTP requests are cancelled");
        for rid in gone {
            assert!(!trackers.pending.contains_key(&rid), "{rid:?} dropped");
        }
        for rid in kept {
            assert!(trackers.pending.contains_key(&rid), "{rid:?} kept");
        }
        assert_eq!(trackers.by_job.len(), 2);
        assert!(matches!(trackers.take(kept[0]), Some(Pending::Http { .. })));
        assert_eq!(
            trackers.by_job.len(),
            1,
            "an answered request leaves the index"
        );
    }

    #[test]
    fn abandoned_jobs_are_dropped_and_answered_ones_keep_their_companions() {
        let mut trackers = Trackers::new(&SessionConfig::default());
        let url = TrackerUrl::parse("http://127.0.0.1:6969/announce").expect("a URL");
        let a = TorrentId(1);
        let http = |job| Pending::Http {
            torrent: a,
            job: AnnounceJobId(job),
            url: url.clone(),
        };
        let companion = |job| Pending::Companion {
            torrent: a,
            job: AnnounceJobId(job),
            url: url.clone(),
        };
        let answered = [trackers.alloc(http(6)), trackers.alloc(companion(6))];
        let abandoned = [trackers.alloc(http(7)), trackers.alloc(companion(7))];
        let current = [trackers.alloc(http(8)), trackers.alloc(companion(8))];
        assert!(trackers.take(answered[0]).is_some(), "job 6 answered");
        trackers.forget_abandoned(a, Some(AnnounceJobId(8)), &mut Outputs::default());
        for rid in abandoned {
            assert!(!trackers.pending.contains_key(&rid), "{rid:?} dropped");
        }
        for rid in [answered[1], current[0], current[1]] {
            assert!(trackers.pending.contains_key(&rid), "{rid:?} kept");
        }
        // Stopped: the job in flight is abandoned too.
        trackers.forget_abandoned(a, None, &mut Outputs::default());
        assert_eq!(trackers.pending.len(), 1, "the answered job's companion");
    }

    #[test]
    fn a_timed_out_job_cancels_its_own_udp_announces_and_no_other() {
        use crate::tracker::AnnounceEvent;
        let config = SessionConfig::default();
        let mut trackers = Trackers::new(&config);
        let mut rng = Rng::new(1);
        let addr = SocketAddr::from(([127, 0, 0, 1], 6969));
        let request = AnnounceRequest {
            info_hash: crate::id::InfoHash([1; 20]),
            peer_id: PeerId([2; 20]),
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: AnnounceEvent::Started,
            numwant: None,
            key: 3,
            ip: None,
            tracker_id: None,
        };
        let t0 = Instant::now();
        let mut ops = Vec::new();
        for _ in 0..4 {
            let tracker = trackers.udp_tracker(addr, &config, &mut rng);
            ops.push(tracker.announce(t0, request.clone()));
        }
        let (a, b) = (TorrentId(1), TorrentId(2));
        let (seven, eight) = (AnnounceJobId(7), AnnounceJobId(8));
        trackers.file_udp(addr, a, seven, ops[0], &[ops[1]]);
        trackers.file_udp(addr, a, eight, ops[2], &[]);
        trackers.file_udp(addr, b, seven, ops[3], &[]);
        trackers.forget_job(a, seven, &mut Outputs::default());
        assert_eq!(trackers.udp_ops.len(), 2);
        assert!(trackers.udp_companions.is_empty());
        let tracker = trackers.udp.get_mut(&addr).expect("the tracker");
        assert!(!tracker.cancel(ops[0]), "cancelled already");
        assert!(!tracker.cancel(ops[1]), "its companion too");
        assert!(tracker.cancel(ops[3]), "another torrent's is kept");
        // A result leaves the index; forgetting its job afterwards finds nothing.
        let done = AnnounceDone::Udp(addr, ops[2], Err(TrackerError::Timeout));
        assert!(
            matches!(trackers.job_of(done), Some(Routed::Job(id, job, _)) if id == a && job == eight)
        );
        assert_eq!(trackers.udp_by_job.len(), 1);
        trackers.forget_job(a, eight, &mut Outputs::default());
        assert_eq!(trackers.udp_ops.len(), 1);
        // Torrent b's job answered keeps its companion; an abandoned one's goes with it.
        let tracker = trackers.udp_tracker(addr, &config, &mut rng);
        let more: Vec<OpId> = (0..4)
            .map(|_| tracker.announce(t0, request.clone()))
            .collect();
        let nine = AnnounceJobId(9);
        trackers.file_udp(addr, b, eight, more[0], &[more[1]]);
        trackers.file_udp(addr, b, nine, more[2], &[more[3]]);
        let done = AnnounceDone::Udp(addr, more[0], Err(TrackerError::Timeout));
        assert!(trackers.job_of(done).is_some());
        trackers.forget_abandoned(b, None, &mut Outputs::default());
        assert!(trackers.udp_ops.is_empty(), "b's jobs 7 and 9 abandoned");
        assert!(trackers.udp_companions.contains_key(&(addr, more[1])));
        assert!(!trackers.udp_companions.contains_key(&(addr, more[3])));
        let tracker = trackers.udp.get_mut(&addr).expect("the tracker");
        assert!(!tracker.cancel(more[2]), "job 9 cancelled");
    }
}
