//! Announcer routing, on the trackers part: carrying a torrent's announce jobs out, handing
//! the results back to its announcer, and acting on the announcer's events (peers become
//! candidates, an answer may start a scrape). Every step says whether an announcer reported
//! its `stopped` announce done, for the session to advance stopping torrents.

use std::net::SocketAddr;
use std::time::Instant;

use super::budget::{Rank, Slot};
use super::connect::OwnAddr;
use super::event::Event;
use super::io::{RequestId, TorrentId};
use super::torrent::candidates::Source;
use super::trackers::{AnnounceDone, Resolved, Routed, TrackerCx, Trackers};
use crate::id::PeerId;
use crate::tracker::{AnnouncerEvent, HttpOutcome, HttpResponse, TrackerError};

/// Whether an announcer's `stopped` announce finished during a step (a stopping torrent may
/// be done: the session advances stops).
#[must_use]
pub(crate) struct Stopped(pub(crate) bool);

/// Who we are, for announces and for the candidates they return.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Us {
    /// Our peer id, sent in announces.
    pub(crate) peer_id: PeerId,
    /// Our own addresses, never made candidates.
    pub(crate) own: OwnAddr,
}

impl Trackers {
    /// Carries out a torrent's announce jobs and handles its announcer's events; then grants
    /// the waiting announces the budget allows.
    pub(crate) fn pump_announcer(
        &mut self,
        now: Instant,
        id: TorrentId,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let stopped = self.pump_one(now, id, us, cx).0;
        Stopped(stopped | self.grant_announces(now, us, cx).0)
    }

    /// Grants the waiting announces the budget allows at `now`, in its order.
    pub(crate) fn grant_announces(
        &mut self,
        now: Instant,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let mut stopped = false;
        while let Some((id, stop)) = self.budget.take(now) {
            let granted = cx
                .torrents
                .get_mut(&id)
                .and_then(|t| t.announcer.as_mut())
                .is_some_and(|a| a.grant(now));
            if granted {
                if stop {
                    self.budget.sent_stop();
                }
                stopped |= self.pump_one(now, id, us, cx).0;
            } else {
                self.budget.forget(id);
            }
        }
        Stopped(stopped)
    }

    /// [`Self::pump_announcer`] without the grants; the budget learns where the announcer
    /// stands.
    fn pump_one(&mut self, now: Instant, id: TorrentId, us: Us, cx: &mut TrackerCx<'_>) -> Stopped {
        let mut stopped = false;
        loop {
            let Some(t) = cx.torrents.get_mut(&id) else {
                self.budget.forget(id);
                self.forget_abandoned(id, None, cx.out);
                return Stopped(stopped);
            };
            let (seeding, active) = (t.left() == 0, t.peers_open);
            let Some(a) = t.announcer.as_mut() else {
                self.budget.forget(id);
                self.forget_abandoned(id, None, cx.out);
                return Stopped(stopped);
            };
            if let Some(job) = a.poll_job() {
                let done = self.launch_announce(now, id, job, us.peer_id, cx);
                stopped |= self.announce_results_one(now, done, us, cx).0;
                continue;
            }
            let Some(event) = a.poll_event() else {
                let slot = match a.waiting() {
                    Some(since) => Slot::Waiting {
                        since,
                        rank: Rank::of(a.stopping(), active, seeding),
                    },
                    None if a.announcing() => Slot::Announcing,
                    None => Slot::Idle,
                };
                let current = a.job_in_flight();
                self.budget.note(id, slot);
                self.forget_abandoned(id, current, cx.out);
                return Stopped(stopped);
            };
            stopped |= self.on_announcer_event(now, id, event, us, cx).0;
        }
    }

    /// Hands announce results to their announcers, in order; then grants the waiting
    /// announces the budget allows (a result frees a place in flight).
    pub(crate) fn announce_results(
        &mut self,
        now: Instant,
        done: Vec<AnnounceDone>,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let stopped = self.announce_results_one(now, done, us, cx).0;
        Stopped(stopped | self.grant_announces(now, us, cx).0)
    }

    /// [`Self::announce_results`] without the grants.
    fn announce_results_one(
        &mut self,
        now: Instant,
        done: Vec<AnnounceDone>,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let mut stopped = false;
        for done in done {
            let (id, job, result) = match self.job_of(done) {
                Some(Routed::Job(id, job, result)) => (id, job, result),
                Some(Routed::Companion(id, result)) => {
                    if let (Ok(HttpOutcome::Done(response)), Some(t)) =
                        (result, cx.torrents.get_mut(&id))
                    {
                        t.add_candidates(&response.peers, Source::Tracker, us.own);
                    }
                    continue;
                }
                None => continue,
            };
            if let Some(a) = cx.torrents.get_mut(&id).and_then(|t| t.announcer.as_mut()) {
                a.handle_result(now, job, result);
            }
            stopped |= self.pump_one(now, id, us, cx).0;
        }
        Stopped(stopped)
    }

    fn on_announcer_event(
        &mut self,
        now: Instant,
        id: TorrentId,
        event: AnnouncerEvent,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        match event {
            AnnouncerEvent::Announced { url, response } => {
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.announces.answered(now, &url, &response);
                    t.tracker_answered(response.warning.as_deref());
                }
                cx.out.event(Event::TrackerAnnounced {
                    torrent: id,
                    url: url.to_string(),
                    peers: response.peers.len(),
                });
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.add_candidates(&response.peers, Source::Tracker, us.own);
                }
                let done = self.scrape_after_announce(now, id, &url, cx);
                return self.announce_results_one(now, done, us, cx);
            }
            AnnouncerEvent::TrackerFailed { url, error } => {
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.announces.failed(now, &url, &error);
                }
                cx.out.event(Event::TrackerError {
                    torrent: id,
                    url: url.to_string(),
                    error,
                });
            }
            AnnouncerEvent::JobTimedOut(job) => self.forget_job(id, job, cx.out),
            AnnouncerEvent::AllFailed { .. } => {
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.every_tracker_failed();
                }
            }
            AnnouncerEvent::Stopped => {
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.announce_stopped = true;
                }
                return Stopped(true);
            }
        }
        Stopped(false)
    }

    /// Sends a UDP tracker's datagrams and hands its results to the announcers.
    pub(crate) fn udp_pumped(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let done = self.pump_udp(now, addr, cx.torrents, cx.out);
        self.announce_results(now, done, us, cx)
    }

    /// Fires the UDP trackers' timers due at `now`.
    pub(crate) fn udp_timeout(&mut self, now: Instant, us: Us, cx: &mut TrackerCx<'_>) -> Stopped {
        let mut stopped = false;
        let addrs: Vec<_> = self.udp.keys().copied().collect();
        for addr in addrs {
            if let Some(u) = self.udp.get_mut(&addr)
                && u.poll_timeout().is_some_and(|t| t <= now)
            {
                u.handle_timeout(now);
                stopped |= self.udp_pumped(now, addr, us, cx).0;
            }
        }
        Stopped(stopped)
    }

    /// The answer to an HTTP request (an announce's or a scrape's).
    pub(crate) fn http_answer(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let done = self.http_response(now, rid, result, cx);
        self.announce_results(now, done.into_iter().collect(), us, cx)
    }

    /// A DNS answer (a tracker's, a scrape's or a magnet's peer's).
    pub(crate) fn resolved_answer(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        match self.resolved(now, rid, result, cx) {
            Resolved::Announced(done) => self.announce_results(now, done, us, cx),
            Resolved::Peers(id, addrs) => {
                if let Some(t) = cx.torrents.get_mut(&id) {
                    t.add_candidates(&addrs, Source::User, us.own);
                }
                Stopped(false)
            }
        }
    }

    /// Starts the scrapes due at `now` (`due`: the torrents due).
    pub(crate) fn scrapes_due(
        &mut self,
        now: Instant,
        due: &[TorrentId],
        us: Us,
        cx: &mut TrackerCx<'_>,
    ) -> Stopped {
        let done = self.scrape_timeout(now, due, cx);
        self.announce_results(now, done, us, cx)
    }
}

#[cfg(test)]
#[path = "abandoned_announce_tests.rs"]
mod abandoned_tests;
