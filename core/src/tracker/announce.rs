//! The announce scheduler for one torrent, a Sans-IO machine over BEP 12 tiers.
//!
//! It decides when and where to announce and with which event; the session builds the request
//! ([`AnnounceJob::request`]), carries it over HTTP(S) or UDP, and feeds back the result
//! ([`Announcer::handle_result`]). Rules:
//! - `started` on [`Announcer::start`], `completed` once on [`Announcer::complete`], `stopped` on
//!   [`Announcer::stop`] to the tracker that last answered, waiting at most
//!   [`AnnouncerConfig::stop_timeout`] for its answer (a gated announcer's from its grant;
//!   [`Announcer::give_up_stop`] ends a stop sooner).
//! - One announce at a time: the first tracker of the first tier, then down the tiers on
//!   failure; the tracker that answered moves to the front of its tier.
//! - The next regular announce after `max(interval, min interval, floor)`; after every tracker
//!   failed, exponential backoff from [`AnnouncerConfig::retry_base`].
//! - HTTP redirects are followed up to [`AnnouncerConfig::max_redirects`] times, never twice to
//!   the same URL.
//!
//! ## Run loop
//! After [`Announcer::start`], [`Announcer::complete`], [`Announcer::announce_now`],
//! [`Announcer::stop`], [`Announcer::handle_result`] and [`Announcer::handle_timeout`], drain
//! [`Announcer::poll_job`] and [`Announcer::poll_event`], and re-arm the timer from
//! [`Announcer::poll_timeout`].

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http::HttpOutcome;
use super::tiers::{TierPos, Tiers};
use super::url::TrackerUrl;
use super::{AnnounceEvent, AnnounceRequest, AnnounceResponse, RedirectError, TrackerError};
use crate::id::{InfoHash, PeerId};
use crate::rng::Rng;

/// Settings of an [`Announcer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncerConfig {
    /// The interval used when a tracker gives none.
    pub default_interval: Duration,
    /// Never announce to a tracker more often than this, whatever it says.
    pub interval_floor: Duration,
    /// How long to wait for one announce's result before trying the next tracker.
    pub request_timeout: Duration,
    /// The wait after every tracker failed once; doubled after each further failed round.
    pub retry_base: Duration,
    /// The longest wait between failed rounds.
    pub retry_max: Duration,
    /// How long shutdown waits for the `stopped` announce.
    pub stop_timeout: Duration,
    /// Redirects followed for one announce.
    pub max_redirects: u32,
    /// Peers asked for (`None`: the tracker's default).
    pub numwant: Option<u32>,
    /// An address to announce instead of the one trackers see.
    pub announce_ip: Option<IpAddr>,
    /// A port to announce instead of the session's listen port.
    pub announce_port: Option<u16>,
    /// Announces (`stopped` too) wait for [`Announcer::grant`] instead of going out when due:
    /// a session spreads every torrent's announces within one budget.
    pub gated: bool,
}

impl Default for AnnouncerConfig {
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(1800),
            interval_floor: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            stop_timeout: Duration::from_secs(5),
            max_redirects: 5,
            numwant: Some(50),
            announce_ip: None,
            announce_port: None,
            gated: false,
        }
    }
}

/// Identifies one announce request handed out by an [`Announcer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// "Announce to this URL with this event": what the session must send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct AnnounceJob {
    /// Give it back to [`Announcer::handle_result`].
    pub id: JobId,
    /// Where to announce.
    pub url: TrackerUrl,
    /// The event.
    pub event: AnnounceEvent,
    /// The tracker id this tracker gave earlier, to echo back.
    pub tracker_id: Option<Vec<u8>>,
    /// The torrent's announce key.
    pub key: u32,
    /// Peers asked for.
    pub numwant: Option<u32>,
    /// The configured announce address, if any.
    pub ip: Option<IpAddr>,
    /// The configured announce port, if any (else the session's listen port).
    pub port: Option<u16>,
}

/// Transfer totals reported in an announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left to download.
    pub left: u64,
}

impl AnnounceJob {
    /// The full request for this job.
    pub fn request(
        &self,
        info_hash: InfoHash,
        peer_id: PeerId,
        listen_port: u16,
        transfer: Transfer,
    ) -> AnnounceRequest {
        AnnounceRequest {
            info_hash,
            peer_id,
            port: self.port.unwrap_or(listen_port),
            uploaded: transfer.uploaded,
            downloaded: transfer.downloaded,
            left: transfer.left,
            event: self.event,
            numwant: self.numwant,
            key: self.key,
            ip: self.ip,
            tracker_id: self.tracker_id.clone(),
        }
    }
}

/// What an [`Announcer`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnnouncerEvent {
    /// A tracker answered (peers, counts, warning).
    Announced {
        /// The tracker as listed (before any redirect).
        url: TrackerUrl,
        /// Its answer.
        response: AnnounceResponse,
    },
    /// A tracker failed; the next one is tried.
    TrackerFailed {
        /// The tracker as listed.
        url: TrackerUrl,
        /// Why.
        error: TrackerError,
    },
    /// Every tracker failed this round; the next round starts at `retry_at`.
    AllFailed {
        /// When the next round starts.
        retry_at: Instant,
    },
    /// A job got no result in time: the session should abandon its transport (e.g. cancel
    /// the UDP operation); a late result for it is ignored.
    JobTimedOut(JobId),
    /// Shutdown finished: the `stopped` announce was answered, failed or timed out (or was not
    /// needed).
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    /// The `stopped` announce is waiting for its grant (`deadline` `None`) or in flight
    /// until `deadline`.
    Stopping {
        deadline: Option<Instant>,
    },
    Stopped,
}

#[derive(Clone, Debug)]
struct InFlight {
    id: JobId,
    pos: TierPos,
    event: AnnounceEvent,
    visited: Vec<TrackerUrl>,
    deadline: Instant,
}

/// The announce scheduler of one torrent.
#[derive(Clone, Debug)]
pub struct Announcer {
    /// Shared by every announcer of a session with the same settings (see
    /// [`Announcer::with_shared_config`]).
    config: Arc<AnnouncerConfig>,
    tiers: Tiers,
    key: u32,
    phase: Phase,
    /// Boxed: an announce is in flight for moments of a torrent's life, and the announcer
    /// of every idle torrent would carry its room.
    in_flight: Option<Box<InFlight>>,
    /// A gated announce due since this instant, to this tracker, waiting for its grant.
    waiting: Option<(TierPos, Instant)>,
    next_announce: Option<Instant>,
    /// No regular announce before this (the last answer's min interval).
    earliest: Option<Instant>,
    pending: AnnounceEvent,
    completed_sent: bool,
    working: Option<TierPos>,
    failures: u32,
    next_job: u64,
    /// What it holds only at times, boxed (`None`: all empty; see [`Rare`]).
    rare: Option<Box<Rare>>,
}

/// The parts of an [`Announcer`] that are empty most of its life: the jobs and events
/// queued until polled (after each input, an announce every half hour or so) and the
/// tracker ids trackers gave (most give none). Boxed apart, made at the first job, event or
/// id and dropped once all three are empty again, so that an idle announcer (one per
/// torrent) does not carry their 88 bytes inline.
#[derive(Clone, Debug, Default)]
struct Rare {
    tracker_ids: Vec<(TrackerUrl, Vec<u8>)>,
    jobs: VecDeque<AnnounceJob>,
    events: VecDeque<AnnouncerEvent>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.tracker_ids.is_empty() && self.jobs.is_empty() && self.events.is_empty()
    }
}

impl Announcer {
    /// The address announced as `ip` from the next announce on (`None`: the one trackers see).
    pub fn set_announce_ip(&mut self, ip: Option<IpAddr>) {
        if self.config.announce_ip != ip {
            Arc::make_mut(&mut self.config).announce_ip = ip;
        }
    }

    /// A scheduler over the announce-list `tiers` (shuffled within each tier by `rng`, which
    /// also draws the announce key). Nothing happens before [`Self::start`].
    pub fn new(tiers: Vec<Vec<TrackerUrl>>, config: AnnouncerConfig, rng: &mut Rng) -> Self {
        Self::with_shared_config(tiers, Arc::new(config), rng)
    }

    /// [`Announcer::new`] with settings shared with other announcers (a session of many
    /// torrents holds one copy).
    pub fn with_shared_config(
        tiers: Vec<Vec<TrackerUrl>>,
        config: Arc<AnnouncerConfig>,
        rng: &mut Rng,
    ) -> Self {
        let tiers = Tiers::new(tiers, rng);
        Self {
            config,
            tiers,
            key: rng.next_u32(),
            phase: Phase::Idle,
            in_flight: None,
            waiting: None,
            next_announce: None,
            earliest: None,
            pending: AnnounceEvent::None,
            completed_sent: false,
            working: None,
            failures: 0,
            next_job: 0,
            rare: None,
        }
    }

    /// Starts announcing, with `started` first.
    pub fn start(&mut self, now: Instant) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Running;
        self.pending = AnnounceEvent::Started;
        self.next_announce = Some(now);
        self.handle_timeout(now);
    }

    /// Makes a stopped (or stopping) announcer ready for [`Self::start`] again, abandoning a
    /// `stopped` announce still in flight. Its tiers, key and tracker ids are kept.
    pub fn reset(&mut self) {
        if matches!(self.phase, Phase::Idle | Phase::Running) {
            return;
        }
        self.phase = Phase::Idle;
        self.in_flight = None;
        self.waiting = None;
        self.next_announce = None;
        self.pending = AnnounceEvent::None;
        self.failures = 0;
        if let Some(rare) = self.rare.as_mut() {
            rare.jobs.clear();
            rare.events.clear();
        }
        self.settle();
    }

    /// The download finished: announce `completed` now (only once per announcer).
    pub fn complete(&mut self, now: Instant) {
        if self.completed_sent || self.pending == AnnounceEvent::Completed {
            return;
        }
        self.pending = AnnounceEvent::Completed;
        if self.phase == Phase::Running && self.in_flight.is_none() && self.waiting.is_none() {
            self.next_announce = Some(now);
            self.handle_timeout(now);
        }
    }

    /// Asks for an announce as soon as the last tracker's min interval allows (for more peers).
    pub fn announce_now(&mut self, now: Instant) {
        if self.phase != Phase::Running || self.in_flight.is_some() || self.waiting.is_some() {
            return;
        }
        let at = self.earliest.map_or(now, |e| e.max(now));
        self.next_announce = Some(self.next_announce.map_or(at, |n| n.min(at)));
        self.handle_timeout(now);
    }

    /// Replaces the announce-list (shuffled within each tier by `rng`, as in [`Self::new`]).
    /// An announce in flight is abandoned (its result will be ignored); a running announcer
    /// announces to the new list at once, with the event it still owes; a stopping one's stop
    /// is over (its `stopped` announce abandoned: the tracker it was owed may be gone).
    pub fn replace_tiers(&mut self, tiers: Vec<Vec<TrackerUrl>>, rng: &mut Rng, now: Instant) {
        self.tiers = Tiers::new(tiers, rng);
        self.working = None;
        self.failures = 0;
        self.in_flight = None;
        self.waiting = None;
        if let Phase::Stopping { .. } = self.phase {
            self.finish_stop();
        }
        if self.phase == Phase::Running {
            self.earliest = None;
            self.next_announce = Some(now);
            self.handle_timeout(now);
        }
    }

    /// Shuts down: abandons any announce in flight and sends `stopped` to the tracker that last
    /// answered (gated: once granted); [`AnnouncerEvent::Stopped`] follows its answer or the
    /// stop timeout.
    pub fn stop(&mut self, now: Instant) {
        match self.phase {
            Phase::Stopping { .. } | Phase::Stopped => return,
            Phase::Idle | Phase::Running => {}
        }
        self.in_flight = None;
        self.waiting = None;
        self.next_announce = None;
        let Some(pos) = self.working.filter(|_| self.phase == Phase::Running) else {
            self.phase = Phase::Stopped;
            self.event(AnnouncerEvent::Stopped);
            return;
        };
        if self.config.gated {
            self.phase = Phase::Stopping { deadline: None };
            self.waiting = Some((pos, now));
            return;
        }
        let deadline = now + self.config.stop_timeout;
        self.phase = Phase::Stopping {
            deadline: Some(deadline),
        };
        self.launch(now, pos, AnnounceEvent::Stopped, deadline);
    }

    /// Gives the `stopped` announce up (its stop took too long for the session): one still
    /// waiting for its grant is never sent, one in flight is abandoned (its result will be
    /// ignored), and the announcer is stopped without an [`AnnouncerEvent::Stopped`] (the
    /// caller knows). Returns whether one was waiting: a `stopped` announce dropped unsent.
    pub fn give_up_stop(&mut self) -> bool {
        if !matches!(self.phase, Phase::Stopping { .. }) {
            return false;
        }
        let unsent = self.waiting.take().is_some();
        self.in_flight = None;
        self.phase = Phase::Stopped;
        unsent
    }

    /// Whether it is stopping: its `stopped` announce waits for its grant or is in flight.
    pub fn stopping(&self) -> bool {
        matches!(self.phase, Phase::Stopping { .. })
    }

    /// Feeds the result of a job: [`super::http::announce_outcome`]'s value for HTTP, or
    /// `Ok(HttpOutcome::Done(response))` / `Err(TrackerError::Udp(..))` for UDP. Returns `false`
    /// (and changes nothing) if `job` is not the one in flight.
    pub fn handle_result(
        &mut self,
        now: Instant,
        job: JobId,
        result: Result<HttpOutcome<AnnounceResponse>, TrackerError>,
    ) -> bool {
        let Some(flight) = self.in_flight.take_if(|f| f.id == job) else {
            return false;
        };
        match result {
            Ok(HttpOutcome::Done(response)) => self.on_success(now, *flight, response),
            Ok(HttpOutcome::Redirect(url)) => self.on_redirect(now, *flight, url),
            Err(error) => self.on_failure(now, *flight, error),
        }
        true
    }

    /// Fires expired timers: request timeout, stop timeout, the next scheduled announce.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(flight) = self.in_flight.take_if(|f| f.deadline <= now) {
            self.event(AnnouncerEvent::JobTimedOut(flight.id));
            self.on_failure(now, *flight, TrackerError::Timeout);
        }
        if let Phase::Stopping {
            deadline: Some(deadline),
        } = self.phase
            && deadline <= now
        {
            self.finish_stop();
        }
        if self.phase == Phase::Running
            && self.in_flight.is_none()
            && self.waiting.is_none()
            && self.next_announce.is_some_and(|t| t <= now)
        {
            self.next_announce = None;
            if let Some(pos) = self.tiers.first() {
                let event = self.pending;
                self.launch(now, pos, event, now + self.config.request_timeout);
            }
        }
    }

    /// When the gated announce waiting for its grant became due (`None`: none waits).
    pub fn waiting(&self) -> Option<Instant> {
        self.waiting.map(|(_, since)| since)
    }

    /// Whether an announce is in flight (it holds a place in the session's budget until its
    /// result or timeout).
    pub fn announcing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The job whose result it waits for (`None`: none). A job it no longer waits for without
    /// a [`AnnouncerEvent::JobTimedOut`] (abandoned by [`Self::stop`], [`Self::reset`],
    /// [`Self::replace_tiers`] or [`Self::give_up_stop`]) is the caller's to drop.
    pub fn job_in_flight(&self) -> Option<JobId> {
        self.in_flight.as_ref().map(|f| f.id)
    }

    /// Lets the waiting gated announce go out (with the event owed now: `stopped` when
    /// stopping, whose stop timeout runs from now); returns whether one was waiting.
    pub fn grant(&mut self, now: Instant) -> bool {
        let Some((pos, _)) = self.waiting.take() else {
            return false;
        };
        let Some(url) = self.tiers.url(pos).cloned() else {
            return false;
        };
        let (event, deadline) = if let Phase::Stopping { .. } = self.phase {
            let deadline = now + self.config.stop_timeout;
            self.phase = Phase::Stopping {
                deadline: Some(deadline),
            };
            (AnnounceEvent::Stopped, deadline)
        } else {
            (self.pending, now + self.config.request_timeout)
        };
        self.push_job(url.clone(), pos, event, vec![url], deadline);
        true
    }

    /// The next job to carry out.
    #[must_use]
    pub fn poll_job(&mut self) -> Option<AnnounceJob> {
        let job = take_front(&mut self.rare.as_mut()?.jobs);
        self.settle();
        job
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<AnnouncerEvent> {
        let event = take_front(&mut self.rare.as_mut()?.events);
        self.settle();
        event
    }

    /// When to call [`Self::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flight = self.in_flight.as_ref().map(|f| f.deadline);
        let stop = match self.phase {
            Phase::Stopping { deadline } => deadline,
            _ => None,
        };
        let next = if self.phase == Phase::Running && self.in_flight.is_none() {
            self.next_announce
        } else {
            None
        };
        [flight, stop, next].into_iter().flatten().min()
    }

    /// When the next regular announce is due, if one is scheduled.
    pub fn next_announce(&self) -> Option<Instant> {
        self.next_announce
    }

    /// The tracker that answered last, if any.
    pub fn working_tracker(&self) -> Option<&TrackerUrl> {
        self.tiers.url(self.working?)
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> &Tiers {
        &self.tiers
    }

    /// Whether shutdown has finished.
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    fn launch(&mut self, now: Instant, pos: TierPos, event: AnnounceEvent, deadline: Instant) {
        if self.config.gated {
            self.waiting = Some((pos, now));
            return;
        }
        let Some(url) = self.tiers.url(pos).cloned() else {
            return;
        };
        self.push_job(url.clone(), pos, event, vec![url], deadline);
    }

    fn push_job(
        &mut self,
        url: TrackerUrl,
        pos: TierPos,
        event: AnnounceEvent,
        visited: Vec<TrackerUrl>,
        deadline: Instant,
    ) {
        let id = JobId(self.next_job);
        self.next_job += 1;
        let listed = self.tiers.url(pos);
        let tracker_id = (self.rare.as_ref())
            .and_then(|r| r.tracker_ids.iter().find(|(u, _)| Some(u) == listed))
            .map(|(_, id)| id.clone());
        let job = AnnounceJob {
            id,
            url,
            event,
            tracker_id,
            key: self.key,
            numwant: if event == AnnounceEvent::Stopped {
                Some(0)
            } else {
                self.config.numwant
            },
            ip: self.config.announce_ip,
            port: self.config.announce_port,
        };
        self.rare().jobs.push_back(job);
        self.in_flight = Some(Box::new(InFlight {
            id,
            pos,
            event,
            visited,
            deadline,
        }));
    }

    fn on_success(&mut self, now: Instant, flight: InFlight, response: AnnounceResponse) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            self.finish_stop();
            return;
        }
        let Some(url) = self.tiers.url(flight.pos).cloned() else {
            return;
        };
        if let Some(id) = &response.tracker_id {
            let ids = &mut self.rare().tracker_ids;
            ids.retain(|(u, _)| *u != url);
            ids.push((url.clone(), id.clone()));
        }
        self.working = Some(self.tiers.promote(flight.pos));
        self.failures = 0;
        if flight.event == AnnounceEvent::Completed {
            self.completed_sent = true;
        }
        if self.pending == flight.event {
            self.pending = AnnounceEvent::None;
        }
        let floor = self.config.interval_floor;
        let min = response.min_interval.unwrap_or(floor).max(floor);
        let interval = response
            .interval
            .unwrap_or(self.config.default_interval)
            .max(min);
        self.earliest = Some(now + min);
        // `completed` asked for while another announce was in flight goes out at once.
        self.next_announce = Some(if self.pending == AnnounceEvent::Completed {
            now
        } else {
            now + interval
        });
        self.event(AnnouncerEvent::Announced { url, response });
        self.handle_timeout(now);
    }

    fn on_redirect(&mut self, now: Instant, mut flight: InFlight, url: TrackerUrl) {
        let error = if flight.visited.len() > self.config.max_redirects as usize {
            RedirectError::TooMany(self.config.max_redirects)
        } else if flight.visited.contains(&url) {
            RedirectError::Loop(url.to_string())
        } else {
            flight.visited.push(url.clone());
            let deadline = flight.deadline;
            self.push_job(url, flight.pos, flight.event, flight.visited, deadline);
            return;
        };
        self.on_failure(now, flight, TrackerError::Redirect(error));
    }

    fn on_failure(&mut self, now: Instant, flight: InFlight, error: TrackerError) {
        if let Some(url) = self.tiers.url(flight.pos).cloned() {
            self.event(AnnouncerEvent::TrackerFailed { url, error });
        }
        if matches!(self.phase, Phase::Stopping { .. }) {
            self.finish_stop();
            return;
        }
        if self.phase != Phase::Running {
            return;
        }
        if let Some(next) = self.tiers.next(flight.pos) {
            self.launch(now, next, flight.event, now + self.config.request_timeout);
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let shift = (self.failures - 1).min(20);
        let backoff = self
            .config
            .retry_base
            .saturating_mul(1 << shift)
            .min(self.config.retry_max);
        let retry_at = now + backoff;
        self.next_announce = Some(retry_at);
        self.event(AnnouncerEvent::AllFailed { retry_at });
    }

    /// Its [`Rare`] parts, made now if need be.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// Queues `event` for [`Self::poll_event`].
    fn event(&mut self, event: AnnouncerEvent) {
        self.rare().events.push_back(event);
    }

    /// Drops its [`Rare`] parts once they are all empty.
    fn settle(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }

    fn finish_stop(&mut self) {
        self.in_flight = None;
        self.phase = Phase::Stopped;
        self.event(AnnouncerEvent::Stopped);
    }
}

/// The front of `queue`; the queue's room is given back once it is empty (an announcer
/// queues a job or two every half hour, and a session holds one per torrent).
fn take_front<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    front
}

#[cfg(test)]
mod tests;
