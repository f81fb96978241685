//! The torrent-level steps that cross parts: firing what is due at a timeout, carrying the
//! trackers' answers to the announcers (an announce may add candidates, start a scrape, or
//! let a stopping torrent finish), what the application asks of a torrent (stop, start,
//! recheck, reannounce, remove: the torrent decides, see `control`, and these carry it out),
//! tracker edits, and the DHT node's pumping, saving and switching. Like `glue`, these take the whole session and route the parts' decisions; the
//! state and the decisions are the parts'.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::Session;
use super::connect::OwnAddr;
use super::control::{ControlError, Recheck, Remove, Start};
use super::edit::{ChangeError, TrackerEdit};
use super::event::{Event, PeerCloseReason};
use super::io::Action;
use super::io::{ConnId, RequestId, TorrentId};
use super::timers::{Timer, first_message_deadline};
use super::torrent::candidates::Source;
use super::torrent::{AfterStop, Stage};
use super::trackers::make_announcer;
use super::trackers::{AnnounceDone, Resolved, TrackerCx, Trackers};
use super::udp;
use crate::tracker::{AnnouncerEvent, HttpResponse, TrackerError, TrackerUrl};

impl Session {
    /// Fires everything due at `now`.
    pub(super) fn timeout(&mut self, now: Instant) {
        self.now = now;
        self.peers.hold_paused_clocks(now, &mut self.torrents);
        // The connections' wire timers, in id order, each checked when its turn comes.
        let mut last: Option<ConnId> = None;
        loop {
            self.peers.refresh_deadlines(&self.torrents, &self.config);
            let Some(conn) = self
                .peers
                .due(now)
                .into_iter()
                .find(|c| last.is_none_or(|l| *c > l))
            else {
                break;
            };
            last = Some(conn);
            if let Some(p) = self.peers.get_mut(conn)
                && p.conn.poll_timeout().is_some_and(|t| t <= now)
            {
                p.conn.handle_timeout(now);
                self.drive(now, conn);
            }
            if self
                .peers
                .get(conn)
                .and_then(|p| first_message_deadline(p, &self.config))
                .is_some_and(|at| at <= now)
            {
                self.close_conn(now, conn, PeerCloseReason::Silent);
            }
        }
        self.expire_send_stalls(now);
        self.expire_dials(now);
        self.metadata_timeout(now);
        self.pex_timeout(now);
        self.scrape_timeout(now);
        // A rate limit whose wait just ended: requesting and serving, stopped by it, resume.
        // (Testing `!allows(now)` here was backwards: at the instant the bucket refills it
        // allows again, so nothing resumed until some unrelated event.) The refill also makes
        // sure a due bucket timer does not stay due.
        let limited = [&self.down_limit, &self.up_limit]
            .iter()
            .any(|b| b.ready_at().is_some_and(|at| at <= now));
        let _ = self.down_limit.allows(now);
        let _ = self.up_limit.allows(now);
        if limited {
            let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
            for id in ids {
                self.torrent_timeout(now, id, true);
            }
        } else {
            // Only the torrents due; one may make another due, handled in its turn (in id
            // order, as a full pass would).
            let mut due: BTreeSet<TorrentId> = self.torrents_due(now).into_iter().collect();
            while let Some(id) = due.pop_first() {
                self.torrent_timeout(now, id, false);
                let dht = self.dht.is_some();
                let more = self.torrents.refresh_changed(now, dht);
                due.extend(more.into_iter().filter(|other| *other > id));
            }
        }
        let addrs: Vec<_> = self.trackers.udp.keys().copied().collect();
        for addr in addrs {
            if let Some(u) = self.trackers.udp.get_mut(&addr)
                && u.poll_timeout().is_some_and(|t| t <= now)
            {
                u.handle_timeout(now);
                self.pump_udp_tracker(now, addr);
            }
        }
        if let Some(dht) = self.dht.as_mut()
            && dht.poll_timeout().is_some_and(|t| t <= now)
        {
            dht.handle_timeout(now);
            self.pump_dht();
        }
        if self.dht.is_some() {
            let due = self.torrents_due(now);
            if let Some(dht) = self.dht.as_mut() {
                udp::lookups(dht, now, &due, &mut self.torrents, &self.config);
            }
            self.pump_dht();
        }
        if self.timers.is_expired(Timer::DhtSave, now) {
            self.save_dht_state(now);
        }
    }

    /// The torrents whose deadline is due at `now` (deadlines filed afresh first), in id
    /// order.
    pub(super) fn torrents_due(&mut self, now: Instant) -> Vec<TorrentId> {
        let dht = self.dht.is_some();
        self.torrents.refresh_deadlines(now, dht);
        self.torrents.due(now)
    }

    fn torrent_timeout(&mut self, now: Instant, id: TorrentId, limited: bool) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if let Some(a) = t.announcer.as_mut()
            && a.poll_timeout().is_some_and(|at| at <= now)
        {
            a.handle_timeout(now);
            self.pump_announcer(now, id);
        }
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !t.is_active() {
            return;
        }
        if now >= t.next_stats {
            t.next_stats = now + self.config.stats_interval;
            let stats = t.stats(id, &self.peers, Some(now), &self.config);
            self.out.event(Event::Stats { torrent: id, stats });
        }
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if t.stage != Stage::Running {
            return;
        }
        let mut cancels = Vec::new();
        if let Some(d) = t.data.as_mut()
            && d.picker.poll_timeout().is_some_and(|at| at <= now)
        {
            cancels = d.picker.handle_timeout(now);
        }
        let rechoke = t.choker.poll_timeout().is_none_or(|at| at <= now);
        let save = now >= t.next_save;
        if save {
            t.next_save = now + self.config.resume_save_interval;
        }
        let needs_save = t
            .data
            .as_ref()
            .is_some_and(|d| d.pipeline.dirty || d.pipeline.unflushed.count() > 0);
        // The torrent's own limit whose wait just ended (see the session's in `timeout`).
        let own = [&t.down_bucket, &t.up_bucket]
            .iter()
            .any(|b| b.ready_at().is_some_and(|at| at <= now));
        let _ = t.down_bucket.allows(now);
        let _ = t.up_bucket.allows(now);
        let limited = limited || own;
        self.send_cancels(now, &cancels);
        if rechoke {
            self.rechoke(now, id);
        }
        if save && needs_save {
            self.jobs.start_save(id, &mut self.torrents, &mut self.out);
        }
        if limited {
            self.resume_transfers(now, id);
        } else if !cancels.is_empty() {
            self.fill_all(now, id);
        }
    }

    /// Requests and serves again on every connection of a torrent: a rate limit it waited
    /// for was repaid, raised or lifted.
    pub(super) fn resume_transfers(&mut self, now: Instant, id: TorrentId) {
        self.fill_all(now, id);
        for conn in self.peers.ids_of(id) {
            self.serve(now, conn);
            self.drive(now, conn);
        }
    }

    /// Stops a torrent (see [`Session::stop_torrent`]).
    pub(super) fn stop_inner(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.ask_stop();
        self.begin_stop(now, id);
    }

    /// See [`Session::start_torrent`].
    pub(super) fn start_inner(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        let t = self.torrents.get_mut(&id);
        match t.ok_or(ControlError::UnknownTorrent(id))?.ask_start(id)? {
            Start::Now => self.restart(now, id),
            Start::Later => Ok(()),
        }
    }

    /// See [`Session::recheck_torrent`].
    pub(super) fn recheck_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
    ) -> Result<(), ControlError> {
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        let t = self.torrents.get_mut(&id);
        match t.ok_or(ControlError::UnknownTorrent(id))?.ask_recheck(id)? {
            Recheck::Later => Ok(()),
            Recheck::StopFirst => {
                self.begin_stop(now, id);
                Ok(())
            }
            Recheck::Now => self.check_again(now, id, false),
        }
    }

    /// See [`Session::reannounce`].
    pub(super) fn reannounce_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
    ) -> Result<(), ControlError> {
        let t = self.torrents.get_mut(&id);
        if t.ok_or(ControlError::UnknownTorrent(id))?
            .ask_reannounce(now)
        {
            self.pump_announcer(now, id);
        }
        Ok(())
    }

    /// See [`Session::remove_torrent`].
    pub(super) fn remove_inner(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        let t = self.torrents.get_mut(&id);
        match t.ok_or(ControlError::UnknownTorrent(id))?.ask_remove(id)? {
            Remove::Now => self.forget(id),
            Remove::Later => {}
            Remove::Stop => self.begin_stop(now, id),
        }
        Ok(())
    }

    /// A stopping torrent has stopped: carry out what was asked meanwhile (see
    /// [`Torrent::after_stopped`](super::torrent::Torrent::after_stopped)).
    pub(super) fn stopped(&mut self, now: Instant, id: TorrentId, then: AfterStop) {
        let shutting_down = self.shutting_down;
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
                self.forget(id);
                return;
            }
        };
        if !carried_on {
            self.out.event(Event::TorrentStopped { torrent: id });
        }
    }

    /// Takes a stopped torrent back into the session's tables and resets its swarm state.
    fn rejoin(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        match self.by_hash.get(&t.info_hash) {
            Some(&other) if other != id => return Err(ControlError::Duplicate(t.info_hash)),
            _ => {}
        }
        self.by_hash.insert(t.info_hash, id);
        t.rejoin(now, &self.config);
        Ok(())
    }

    /// Starts a stopped torrent from what it has verified: storage reopened, swarm joined.
    fn restart(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        self.rejoin(now, id)?;
        let Some(t) = self.torrents.get_mut(&id) else {
            return Ok(());
        };
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
        });
        // What was verified stays verified: the check is over at once.
        t.stage = Stage::Stamps;
        self.finish_check(now, id);
        Ok(())
    }

    /// Checks a stopped torrent's data again from nothing; it runs afterwards if `run`, else
    /// stops again.
    fn check_again(&mut self, now: Instant, id: TorrentId, run: bool) -> Result<(), ControlError> {
        let Some(meta) = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .map(|d| d.meta.clone())
        else {
            return Ok(());
        };
        self.rejoin(now, id)?;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.hold = !run;
            t.complete_sent = false;
            t.options.resume = None;
        }
        self.init_data(id, meta);
        Ok(())
    }

    /// Drops a stopped torrent from the session.
    fn forget(&mut self, id: TorrentId) {
        let Some(t) = self.torrents.remove(&id) else {
            return;
        };
        if self.by_hash.get(&t.info_hash) == Some(&id) {
            self.by_hash.remove(&t.info_hash);
        }
        self.out.event(Event::TorrentRemoved {
            torrent: id,
            info_hash: t.info_hash,
        });
    }

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
        } else if let Some(mut a) = make_announcer(&tiers, &self.config, &mut self.rng) {
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

    /// Starts or stops the DHT node at run time (see [`Session::set_dht`]).
    pub(super) fn switch_dht(&mut self, now: Instant, on: bool) {
        self.config.dht = on;
        if on == self.dht.is_some() || self.shutting_down {
            return;
        }
        if on {
            self.dht = udp::start(&self.config, now, &mut self.rng, &mut self.timers);
            self.pump_dht();
            for t in self.torrents.values_mut() {
                if t.swarm_started && t.is_active() && !t.private && !t.options.no_outbound {
                    t.next_dht = Some(now);
                }
            }
        } else {
            // Saved, so that turning it on again (or the next start) knows the nodes.
            self.save_dht_state(now);
            self.timers.stop(Timer::DhtSave);
            self.dht = None;
            for t in self.torrents.values_mut() {
                t.next_dht = None;
            }
        }
    }

    /// Carries out a torrent's announce jobs and handles its announcer's events.
    pub(super) fn pump_announcer(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(a) = self
                .torrents
                .get_mut(&id)
                .and_then(|t| t.announcer.as_mut())
            else {
                return;
            };
            if let Some(job) = a.poll_job() {
                let peer_id = self.peer_id;
                let (trackers, mut cx) = self.tracker_cx();
                let done = trackers.launch_announce(now, id, job, peer_id, &mut cx);
                self.announce_results(now, done);
                continue;
            }
            let Some(event) = a.poll_event() else {
                return;
            };
            self.on_announcer_event(now, id, event);
        }
    }

    /// Hands announce results to their announcers, in order.
    pub(super) fn announce_results(&mut self, now: Instant, done: Vec<AnnounceDone>) {
        for done in done {
            let Some((id, job, result)) = self.trackers.job_of(done) else {
                continue;
            };
            if let Some(a) = self
                .torrents
                .get_mut(&id)
                .and_then(|t| t.announcer.as_mut())
            {
                a.handle_result(now, job, result);
            }
            self.pump_announcer(now, id);
        }
    }

    fn on_announcer_event(&mut self, now: Instant, id: TorrentId, event: AnnouncerEvent) {
        match event {
            AnnouncerEvent::Announced { url, response } => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.announces.answered(now, &url.to_string(), &response);
                    t.tracker_answered(response.warning.as_deref());
                }
                self.out.event(Event::TrackerAnnounced {
                    torrent: id,
                    url: url.to_string(),
                    peers: response.peers.len(),
                });
                self.add_candidates(id, &response.peers, Source::Tracker);
                let (trackers, mut cx) = self.tracker_cx();
                let done = trackers.scrape_after_announce(now, id, &url, &mut cx);
                self.announce_results(now, done);
            }
            AnnouncerEvent::TrackerFailed { url, error } => {
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.announces.failed(now, &url.to_string(), &error);
                }
                self.out.event(Event::TrackerError {
                    torrent: id,
                    url: url.to_string(),
                    error,
                });
            }
            AnnouncerEvent::JobTimedOut(job) => self.trackers.forget_job(id, job),
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

    /// Sends a UDP tracker's datagrams and handles its events.
    pub(super) fn pump_udp_tracker(&mut self, now: Instant, addr: SocketAddr) {
        let done = self
            .trackers
            .pump_udp(addr, &mut self.torrents, &mut self.out);
        self.announce_results(now, done);
    }

    /// The answer to an HTTP request (an announce's or a scrape's).
    pub(super) fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        let (trackers, mut cx) = self.tracker_cx();
        let done = trackers.http_response(rid, result, &mut cx);
        self.announce_results(now, done.into_iter().collect());
    }

    /// A DNS answer (a tracker's, a scrape's or a magnet's peer's).
    pub(super) fn resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        let (trackers, mut cx) = self.tracker_cx();
        match trackers.resolved(now, rid, result, &mut cx) {
            Resolved::Announced(done) => self.announce_results(now, done),
            Resolved::Peers(id, addrs) => self.add_candidates(id, &addrs, Source::User),
        }
    }

    /// Starts the scrapes due at `now`.
    pub(super) fn scrape_timeout(&mut self, now: Instant) {
        let due = self.torrents_due(now);
        let (trackers, mut cx) = self.tracker_cx();
        let done = trackers.scrape_timeout(now, &due, &mut cx);
        self.announce_results(now, done);
    }

    /// Our own addresses (never dialled).
    pub(super) fn own_addr(&self) -> OwnAddr {
        OwnAddr::new(&self.config, self.listen_ip)
    }

    /// Adds addresses to a torrent's candidates (our own address excluded).
    pub(super) fn add_candidates(&mut self, id: TorrentId, peers: &[SocketAddr], source: Source) {
        let own = self.own_addr();
        if let Some(t) = self.torrents.get_mut(&id) {
            t.add_candidates(peers, source, own);
        }
    }

    /// The tracker transports, with what of the session they use.
    pub(super) fn tracker_cx(&mut self) -> (&mut Trackers, TrackerCx<'_>) {
        let cx = TrackerCx {
            torrents: &mut self.torrents,
            config: &self.config,
            rng: &mut self.rng,
            out: &mut self.out,
        };
        (&mut self.trackers, cx)
    }

    /// Sends the DHT's datagrams and hands the peers it found to their torrents.
    pub(super) fn pump_dht(&mut self) {
        let own = self.own_addr();
        if let Some(dht) = self.dht.as_mut() {
            udp::pump(dht, &mut self.out, &self.by_hash, &mut self.torrents, own);
        }
    }

    /// Asks the runtime to persist the DHT state.
    pub(super) fn save_dht_state(&mut self, now: Instant) {
        if let Some(dht) = &self.dht {
            let shutting_down = self.shutting_down;
            udp::save_state(dht, now, shutting_down, &mut self.timers, &mut self.out);
        }
    }
}
