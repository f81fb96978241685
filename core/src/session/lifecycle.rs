//! A torrent's life across the session, as a part ([`LifeCx`]): what the application asks of
//! a torrent (stop, start, recheck, reannounce, remove, tracker edits: the torrent decides,
//! see `control`, and this part carries it out), joining the swarm, the announcers' jobs and
//! the trackers' answers (see `trackers` and `announce`; a finished `stopped` announce lets
//! stopping torrents advance), stopping and the shutdown.
//!
//! What reaches other parts (closing a connection, the end of a start check) is queued as
//! [`FollowUp`]s; a step of this part that must come after them is queued too, as a
//! [`LifeStep`], and taken up again by [`LifeCx::resume`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::SessionConfig;
use super::announce::{Stopped, Us};
use super::control::{ControlError, Recheck, Remove, Start};
use super::edit::{ChangeError, TrackerEdit};
use super::event::{Event, PeerCloseReason};
use super::followups::{FollowUp, FollowUps};
use super::io::{Action, RequestId, TorrentId};
use super::local;
use super::meta;
use super::outputs::Outputs;
use super::peers::Peers;
use super::pipeline::Jobs;
use super::portmap::Gateway;
use super::timers::{Timer, TimerTable};
use super::torrent::table::Torrents;
use super::torrent::{AfterStop, Stage, Torrent};
use super::trackers::{TrackerCx, Trackers};
use super::udp::DhtCx;
use crate::dht::Dht;
use crate::lsd::Lsd;
use crate::rng::Rng;
use crate::tracker::{HttpResponse, TrackerError};

/// The life part with what it borrows from the session for one step.
pub(crate) struct LifeCx<'a> {
    /// The torrents.
    pub(crate) torrents: &'a mut Torrents,
    /// The connections (a stopping torrent's are closed, its dials ended).
    pub(crate) peers: &'a mut Peers,
    /// The piece pipeline (a stopping torrent's jobs; a recheck's).
    pub(crate) jobs: &'a mut Jobs,
    /// The tracker transports and the announce budget.
    pub(crate) trackers: &'a mut Trackers,
    /// The DHT node, if on (saved once the shutdown is over).
    pub(crate) dht: &'a mut Option<Dht>,
    /// Local discovery, if on (torrents join and leave it).
    pub(crate) lsd: &'a mut Option<Lsd>,
    /// Port mapping (unmapped at shutdown; the shutdown waits for it to settle).
    pub(super) portmap: &'a mut Option<Gateway>,
    /// The session's timers (the shutdown's deadline).
    pub(crate) timers: &'a mut TimerTable,
    /// The session's configuration.
    pub(crate) config: &'a SessionConfig,
    /// The session's randomness (tracker keys).
    pub(crate) rng: &'a mut Rng,
    /// Where transmits, actions and events go.
    pub(crate) out: &'a mut Outputs,
    /// Who we are, for announces.
    pub(crate) us: Us,
    /// The session is shutting down.
    pub(crate) shutting_down: &'a mut bool,
    /// The shutdown is over.
    pub(crate) shutdown_done: &'a mut bool,
    /// What the session does after this step.
    pub(crate) then: &'a mut FollowUps,
}

/// A step of the life part that waits for the follow-ups queued before it.
#[derive(Debug)]
pub(crate) enum LifeStep {
    /// Start stopping a torrent (see [`LifeCx::begin_stop`]).
    BeginStop(TorrentId),
    /// A stopping torrent's connections close.
    CloseAll(TorrentId),
    /// A stopping torrent's dials end.
    EndDials(TorrentId),
    /// A torrent joining its swarm joins local discovery.
    JoinLocal(TorrentId),
    /// Advance the stopping torrents after this one (see [`LifeCx::progress_stops`]).
    ProgressStops(Option<TorrentId>),
}

impl LifeCx<'_> {
    /// Takes up a step queued after follow-ups.
    pub(crate) fn resume(&mut self, now: Instant, step: LifeStep) {
        match step {
            LifeStep::BeginStop(id) => self.begin_stop(now, id),
            LifeStep::CloseAll(id) => {
                for conn in self.peers.ids_of(id) {
                    self.then.close(conn, PeerCloseReason::Stopped);
                }
                // Those held for its start check, which will not end (see `Data::held`).
                let held = (self.torrents.get_mut(&id))
                    .and_then(|t| t.data.as_mut())
                    .and_then(|d| d.held.take());
                for conn in held.into_iter().flatten() {
                    if self.peers.get(conn).is_some_and(|p| p.torrent.is_none()) {
                        self.then.close(conn, PeerCloseReason::Stopped);
                    }
                }
                self.next(now, LifeStep::EndDials(id));
            }
            LifeStep::EndDials(id) => {
                for conn in self.peers.dialing_of(id) {
                    // The address may be dialled again once the torrent starts (not a
                    // failure).
                    if let Some(dial) = self.peers.end_dial(conn)
                        && let Some(t) = self.torrents.get_mut(&id)
                    {
                        t.candidates.closed(now, dial.addr, false, false);
                    }
                    self.out.action(Action::Close { conn });
                }
            }
            LifeStep::JoinLocal(id) => {
                if let Some(t) = self.torrents.get(&id) {
                    local::join(self.lsd.as_mut(), now, t);
                }
            }
            LifeStep::ProgressStops(last) => self.progress_stops_after(now, last),
        }
    }

    /// Takes `step` now if nothing waits before it, else queues it after what does.
    fn next(&mut self, now: Instant, step: LifeStep) {
        if self.then.is_empty() {
            self.resume(now, step);
        } else {
            self.then.push(FollowUp::Life(step));
        }
    }

    /// Stops a torrent (see [`Session::stop_torrent`](super::Session::stop_torrent)).
    pub(crate) fn stop(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.ask_stop();
        self.begin_stop(now, id);
    }

    /// See [`Session::start_torrent`](super::Session::start_torrent).
    pub(crate) fn start(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        if *self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        match self.torrents.known_mut(id)?.ask_start(id)? {
            Start::Now => self.restart(now, id),
            Start::Later => Ok(()),
        }
    }

    /// See [`Session::recheck_torrent`](super::Session::recheck_torrent).
    pub(crate) fn recheck(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        if *self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        match self.torrents.known_mut(id)?.ask_recheck(id)? {
            Recheck::Later => Ok(()),
            Recheck::StopFirst => {
                self.begin_stop(now, id);
                Ok(())
            }
            Recheck::Now => self.check_again(now, id, false),
        }
    }

    /// See [`Session::reannounce`](super::Session::reannounce).
    pub(crate) fn reannounce(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        if self.torrents.known_mut(id)?.ask_reannounce(now) {
            self.pump_announcer(now, id);
        }
        Ok(())
    }

    /// See [`Session::remove_torrent`](super::Session::remove_torrent).
    pub(crate) fn remove(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        match self.torrents.known_mut(id)?.ask_remove(id)? {
            Remove::Now => self.torrents.forget(id, self.out),
            Remove::Later => {}
            Remove::Stop => self.begin_stop(now, id),
        }
        Ok(())
    }

    /// Edits a torrent's trackers (see [`Session::edit_trackers`](super::Session)) and pumps
    /// its announcer.
    pub(crate) fn edit_trackers(
        &mut self,
        now: Instant,
        id: TorrentId,
        edit: &TrackerEdit,
    ) -> Result<(), ChangeError> {
        self.torrents
            .known_mut(id)?
            .edit_trackers(now, edit, self.config, self.rng)?;
        self.pump_announcer(now, id);
        Ok(())
    }

    /// A stopping torrent has stopped: carry out what was asked meanwhile (see
    /// [`Torrent::after_stopped`](super::torrent::Torrent::after_stopped)).
    fn stopped(&mut self, now: Instant, id: TorrentId, then: AfterStop) {
        // A `stopped` announce given up at the deadline may still be in flight.
        let current = (self.torrents.get(&id))
            .and_then(|t| t.announcer.as_ref())
            .and_then(|a| a.job_in_flight());
        self.trackers.forget_abandoned(id, current, self.out);
        let shutting_down = *self.shutting_down;
        let Some(then) = self
            .torrents
            .get(&id)
            .map(|t| t.after_stopped(then, shutting_down))
        else {
            return;
        };
        let carried_on = match then {
            AfterStop::Stay => false,
            AfterStop::Start => self.restart(now, id).is_ok(),
            AfterStop::Recheck { run } => self.check_again(now, id, run).is_ok(),
            AfterStop::Remove => {
                self.out.event(Event::TorrentStopped { torrent: id });
                self.torrents.forget(id, self.out);
                return;
            }
        };
        if !carried_on {
            self.out.event(Event::TorrentStopped { torrent: id });
        }
    }

    /// Starts a stopped torrent from what it has verified: storage reopened, swarm joined (a
    /// released torrent's metainfo is loaded first: it starts once it is back).
    pub(crate) fn restart(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        self.torrents.rejoin(now, id, self.config)?;
        let Some(t) = self.torrents.get_mut(&id) else {
            return Ok(());
        };
        if let Some(r) = t.released.as_mut() {
            r.load().then.start = true;
            load(now, id, t, self.out);
            return Ok(());
        }
        let Some(d) = &t.data else {
            t.stage = Stage::Metadata;
            self.start_swarm(now, id);
            return Ok(());
        };
        let paths = d.meta.files().iter().map(|f| f.path.clone()).collect();
        self.out.action(Action::OpenStorage {
            torrent: id,
            layout: d.meta.layout().clone(),
            paths,
            symlinks: d.meta.symlinks(),
        });
        // What was verified stays verified: the check is over at once.
        t.stage = Stage::Stamps;
        self.then.push(FollowUp::FinishCheck(id));
        Ok(())
    }

    /// Checks a stopped torrent's data again from nothing; it runs afterwards if `run`, else
    /// stops again (a released torrent's metainfo is loaded first: it checks once it is back).
    pub(crate) fn check_again(
        &mut self,
        now: Instant,
        id: TorrentId,
        run: bool,
    ) -> Result<(), ControlError> {
        if let Some(t) = self.torrents.get_mut(&id)
            && let Some(r) = t.released.as_mut()
        {
            r.load().then.recheck = Some(run);
            load(now, id, t, self.out);
            return Ok(());
        }
        let Some(meta) = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .map(|d| Arc::clone(&d.meta))
        else {
            return Ok(());
        };
        self.torrents.rejoin(now, id, self.config)?;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.hold = !run;
            t.complete_sent = false;
            t.resume = None;
        }
        let (rng, config) = (&mut *self.rng, self.config);
        meta::init_data(id, meta, rng, self.torrents, self.jobs, config, self.out);
        Ok(())
    }

    /// Announces and schedules DHT lookups.
    pub(crate) fn start_swarm(&mut self, now: Instant, id: TorrentId) {
        let dht = self.dht.is_some();
        if self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.start_swarm(now, dht))
        {
            self.pump_announcer(now, id);
        }
        self.next(now, LifeStep::JoinLocal(id));
    }

    /// Carries out a torrent's announce jobs (see
    /// [`Trackers::pump_announcer`](super::trackers::Trackers)).
    pub(crate) fn pump_announcer(&mut self, now: Instant, id: TorrentId) {
        let stopped = self.announce(|trackers, us, cx| trackers.pump_announcer(now, id, us, cx));
        self.after_announces(now, stopped);
    }

    /// A DNS answer (a tracker's, a scrape's or a magnet's peer's).
    pub(crate) fn resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        let stopped =
            self.announce(|trackers, us, cx| trackers.resolved_answer(now, rid, result, us, cx));
        self.after_announces(now, stopped);
    }

    /// The answer to a tracker's HTTP request (an announce's or a scrape's).
    pub(crate) fn http_answer(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        let stopped =
            self.announce(|trackers, us, cx| trackers.http_answer(now, rid, result, us, cx));
        self.after_announces(now, stopped);
    }

    /// A UDP tracker's datagram from `from` was taken: its announces and scrapes go on.
    pub(crate) fn udp_answer(&mut self, now: Instant, from: SocketAddr) {
        let stopped = self.announce(|trackers, us, cx| trackers.udp_pumped(now, from, us, cx));
        self.after_announces(now, stopped);
    }

    /// Starts the scrapes due at `now` among the torrents `due`.
    pub(crate) fn scrape_timeout(&mut self, now: Instant, due: &[TorrentId]) {
        let stopped = self.announce(|trackers, us, cx| trackers.scrapes_due(now, due, us, cx));
        self.after_announces(now, stopped);
    }

    /// The UDP trackers' deadlines and the announces the budget grants at `now`.
    pub(crate) fn trackers_timeout(&mut self, now: Instant) {
        let stopped = self.announce(|trackers, us, cx| {
            let stopped = trackers.udp_timeout(now, us, cx).0;
            stopped | trackers.grant_announces(now, us, cx).0
        });
        self.after_announces(now, Stopped(stopped));
    }

    /// Runs `step` on the tracker transports, with what of the session they use.
    fn announce<T>(&mut self, step: impl FnOnce(&mut Trackers, Us, &mut TrackerCx<'_>) -> T) -> T {
        let mut cx = TrackerCx {
            torrents: self.torrents,
            config: self.config,
            rng: self.rng,
            out: self.out,
        };
        step(self.trackers, self.us, &mut cx)
    }

    /// A torrent's `stopped` announce finished: stopping torrents may be done.
    fn after_announces(&mut self, now: Instant, stopped: Stopped) {
        if stopped.0 {
            self.progress_stops(now);
        }
    }

    /// Starts stopping a torrent (see
    /// [`Torrents::begin_stop`](super::torrent::table::Torrents)): its trackers are told, its
    /// connections and dials closed.
    pub(crate) fn begin_stop(&mut self, now: Instant, id: TorrentId) {
        let deadline = now + self.config.shutdown_timeout;
        if !self.torrents.begin_stop(now, id, deadline) {
            return;
        }
        if let Some(t) = self.torrents.get(&id) {
            local::leave(self.lsd.as_mut(), t);
        }
        self.pump_announcer(now, id);
        self.next(now, LifeStep::CloseAll(id));
    }

    /// Starts the shutdown (once): every torrent stops, within `shutdown_timeout`.
    pub(crate) fn begin_shutdown(&mut self, now: Instant) {
        if *self.shutting_down {
            return;
        }
        *self.shutting_down = true;
        if let Some(gateway) = self.portmap.as_mut() {
            gateway.unmap_all(now, self.trackers, self.out);
        }
        self.timers
            .set(Timer::Shutdown, now + self.config.shutdown_timeout);
        self.timers.stop(Timer::DhtSave);
        self.timers.stop(Timer::Stats);
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            self.next(now, LifeStep::BeginStop(id));
        }
    }

    /// Advances stopping torrents (see
    /// [`Torrents::progress_stop`](super::torrent::table::Torrents)) and the shutdown.
    pub(crate) fn progress_stops(&mut self, now: Instant) {
        self.progress_stops_after(now, None);
    }

    /// [`Self::progress_stops`] from the stopping torrent after `last`.
    fn progress_stops_after(&mut self, now: Instant, mut last: Option<TorrentId>) {
        let dropped = self.trackers.budget.stop_stats().dropped;
        while let Some(id) = self.torrents.next_stopping(last) {
            last = Some(id);
            let budget = &mut self.trackers.budget;
            if let Some(then) = self
                .torrents
                .progress_stop(now, id, self.jobs, budget, self.out)
            {
                self.stopped(now, id, then);
                if !self.then.is_empty() {
                    self.dropped_since(dropped);
                    return self
                        .then
                        .push(FollowUp::Life(LifeStep::ProgressStops(last)));
                }
            }
        }
        if let Some(deadline) = self.timers.get(Timer::Shutdown) {
            let all_stopped = self.torrents.all_stopped()
                && self.portmap.as_ref().is_none_or(Gateway::is_settled);
            if all_stopped || now >= deadline {
                *self.shutdown_done = true;
                self.timers.stop(Timer::Shutdown);
                self.trackers.budget.drop_stops();
                self.dropped_since(dropped);
                self.dht_cx().save(now);
                self.out.event(Event::ShutdownComplete);
                return;
            }
        }
        self.dropped_since(dropped);
    }

    /// Reports the `stopped` announces dropped since the budget's count was `before`.
    fn dropped_since(&mut self, before: u64) {
        let count = self.trackers.budget.stop_stats().dropped - before;
        if count > 0 {
            self.out.event(Event::StopAnnouncesDropped { count });
        }
    }

    /// The DHT node with what it borrows for one step.
    fn dht_cx(&mut self) -> DhtCx<'_> {
        DhtCx {
            own: self.us.own,
            dht: self.dht,
            torrents: self.torrents,
            budget: &mut self.trackers.dht_slots,
            config: self.config,
            timers: self.timers,
            rng: self.rng,
            out: self.out,
            shutting_down: *self.shutting_down,
        }
    }
}

/// Asks the runtime for released torrent `id`'s metainfo, unless a load is under way.
pub(crate) fn load(now: Instant, id: TorrentId, t: &mut Torrent, out: &mut Outputs) {
    if t.ask_load(now) {
        out.action(Action::LoadMetainfo {
            torrent: id,
            info_hash: t.info_hash,
            resume: t.must_verify(),
        });
    }
}
