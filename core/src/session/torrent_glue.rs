//! The torrent-level steps that cross parts, dispatched: firing what is due at a timeout,
//! the trackers' and the DHT's inputs (the trackers part routes answers to the announcers,
//! see `announce`; a finished `stopped` announce lets stopping torrents advance; the DHT's
//! go to its part through [`DhtCx`](super::udp::DhtCx)), what the application asks of a
//! torrent (stop, start, recheck, reannounce, remove: the torrent decides, see `control`, and
//! these carry it out), tracker edits, stopping and the shutdown. Like `glue`, these take the
//! whole session and route the parts' decisions; the state and the decisions are the parts'.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::Session;
use super::announce::{Stopped, Us};
use super::connect::OwnAddr;
use super::control::{ControlError, Recheck, Remove, Start};
use super::edit::{ChangeError, TrackerEdit};
use super::event::{Event, PeerCloseReason};
use super::io::{Action, ConnId, RequestId, TorrentId};
use super::stats::{self, StatsCx};
use super::timers::{Timer, first_message_deadline};
use super::torrent::candidates::Source;
use super::torrent::{AfterStop, Stage};
use super::trackers::{TrackerCx, Trackers};
use super::{local, portmap};
use crate::tracker::{HttpResponse, TrackerError};

impl Session {
    /// Fires everything due at `now`.
    pub(super) fn timeout(&mut self, now: Instant) {
        self.now = now;
        self.streams.handle_timeout(now, &mut self.out);
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
            self.unchoke_wasted(now, conn);
        }
        self.expire_send_stalls(now);
        self.expire_dials(now);
        if self.timers.is_expired(Timer::Stats, now) {
            let cx = StatsCx {
                torrents: &mut self.torrents,
                peers: &self.peers,
                config: &self.config,
                timers: &mut self.timers,
                out: &mut self.out,
            };
            stats::tick(now, cx);
        }
        let due = self.torrents_due(now);
        self.meta(now, |cx| cx.metadata_timeout(now, &due));
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
        let (trackers, us, mut cx) = self.tracker_cx();
        let stopped = trackers.udp_timeout(now, us, &mut cx).0;
        let granted = trackers.grant_announces(now, us, &mut cx).0;
        self.after_announces(now, Stopped(stopped | granted));
        self.dht_cx().timeout(now);
        local::timeout(self.lsd.as_mut(), now, &mut self.out);
        if let Some(gateway) = self.portmap.as_mut() {
            gateway.timeout(now, &mut self.trackers, &mut self.out);
            self.learned_external_ip(now);
        }
        if self.timers.is_expired(Timer::DhtSave, now) {
            self.dht_cx().save(now);
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
        let config = &self.config;
        let Some(fired) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.fire_timers(now, config))
        else {
            return;
        };
        let cancels = fired.cancels;
        self.send_cancels(now, &cancels);
        if fired.rechoke {
            self.rechoke(now, id);
        }
        if fired.save {
            self.jobs.start_save(id, &mut self.torrents, &mut self.out);
        }
        if limited || fired.limited {
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
        match self.torrents.known_mut(id)?.ask_start(id)? {
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
        match self.torrents.known_mut(id)?.ask_recheck(id)? {
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
        if self.torrents.known_mut(id)?.ask_reannounce(now) {
            self.pump_announcer(now, id);
        }
        Ok(())
    }

    /// See [`Session::remove_torrent`].
    pub(super) fn remove_inner(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        match self.torrents.known_mut(id)?.ask_remove(id)? {
            Remove::Now => self.torrents.forget(id, &mut self.out),
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
                self.torrents.forget(id, &mut self.out);
                return;
            }
        };
        if !carried_on {
            self.out.event(Event::TorrentStopped { torrent: id });
        }
    }

    /// Starts a stopped torrent from what it has verified: storage reopened, swarm joined.
    fn restart(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        self.torrents.rejoin(now, id, &self.config)?;
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
            symlinks: d.meta.symlinks(),
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
        self.torrents.rejoin(now, id, &self.config)?;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.hold = !run;
            t.complete_sent = false;
            t.options.resume = None;
        }
        self.meta(now, |cx| cx.init_data(id, meta));
        Ok(())
    }

    /// Edits a torrent's trackers (see [`Session::edit_trackers`]) and pumps its announcer.
    pub(super) fn change_trackers(
        &mut self,
        now: Instant,
        id: TorrentId,
        edit: &TrackerEdit,
    ) -> Result<(), ChangeError> {
        self.torrents
            .known_mut(id)?
            .edit_trackers(now, edit, &self.config, &mut self.rng)?;
        self.pump_announcer(now, id);
        Ok(())
    }

    /// Carries out a torrent's announce jobs (see
    /// [`Trackers::pump_announcer`](super::trackers::Trackers)).
    pub(super) fn pump_announcer(&mut self, now: Instant, id: TorrentId) {
        let (trackers, us, mut cx) = self.tracker_cx();
        let stopped = trackers.pump_announcer(now, id, us, &mut cx);
        self.after_announces(now, stopped);
    }

    /// The gateway told our external address (port mapping): the DHT believes it (and takes
    /// a BEP 42 id for it), and a public one is announced to trackers as `ip` unless the user
    /// configured an address to announce.
    fn learned_external_ip(&mut self, now: Instant) {
        let Some(ip) = self
            .portmap
            .as_mut()
            .and_then(portmap::Gateway::take_learned_ip)
        else {
            return;
        };
        if crate::dht::node_id::is_exempt(ip) {
            return;
        }
        self.dht_cx().external_ip(now, ip);
        if self.config.announce_ip.is_none() || self.announce_ip_learned {
            self.config.announce_ip = Some(ip);
            self.announce_ip_learned = true;
            for t in self.torrents.values_mut() {
                if let Some(a) = t.announcer.as_mut() {
                    a.set_announce_ip(Some(ip));
                }
            }
        }
    }

    /// A torrent's `stopped` announce finished: stopping torrents may be done.
    fn after_announces(&mut self, now: Instant, stopped: Stopped) {
        if stopped.0 {
            self.progress_stops(now);
        }
    }

    /// A datagram on the session's UDP socket: the gateway's (port mapping, SSDP), a uTP
    /// connection's, the DHT's or a UDP tracker's (uTP's first byte is a type and version 1,
    /// KRPC's `d`, a tracker's 0).
    pub(super) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(gateway) = self.portmap.as_mut()
            && gateway.datagram(now, from, data, &mut self.trackers, &mut self.out)
        {
            self.learned_external_ip(now);
        } else if self.streams.handle_datagram(now, from, data, &self.config) {
            // A uTP connection's (its answers go out with the session's transmits).
        } else if crate::dht::looks_like_krpc(data) {
            self.dht_cx().datagram(now, from, data);
        } else if self.trackers.udp_datagram(now, from, data) {
            let (trackers, us, mut cx) = self.tracker_cx();
            let stopped = trackers.udp_pumped(now, from, us, &mut cx);
            self.after_announces(now, stopped);
        }
    }

    /// The answer to an HTTP request (an announce's or a scrape's).
    pub(super) fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) {
        if let Some(gateway) = self.portmap.as_mut()
            && gateway.http_response(now, rid, &result, &mut self.trackers, &mut self.out)
        {
            self.learned_external_ip(now);
            if self.shutting_down {
                self.progress_stops(now);
            }
            return;
        }
        if self.web.owns(rid) {
            let (web, mut cx) = self.web_cx();
            if let Some(run) = web.response(now, rid, result, &mut cx) {
                self.web_delivered(now, run);
            }
            return;
        }
        let (trackers, us, mut cx) = self.tracker_cx();
        let stopped = trackers.http_answer(now, rid, result, us, &mut cx);
        self.after_announces(now, stopped);
    }

    /// A DNS answer (a tracker's, a scrape's or a magnet's peer's).
    pub(super) fn resolved(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    ) {
        let (trackers, us, mut cx) = self.tracker_cx();
        let stopped = trackers.resolved_answer(now, rid, result, us, &mut cx);
        self.after_announces(now, stopped);
    }

    /// Starts the scrapes due at `now`.
    pub(super) fn scrape_timeout(&mut self, now: Instant) {
        let due = self.torrents_due(now);
        let (trackers, us, mut cx) = self.tracker_cx();
        let stopped = trackers.scrapes_due(now, &due, us, &mut cx);
        self.after_announces(now, stopped);
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

    /// A datagram on the local discovery socket.
    pub(super) fn local_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let own = self.own_addr();
        local::datagram(self.lsd.as_mut(), now, from, data, &mut self.torrents, own);
    }

    /// The tracker transports, with what of the session they use.
    fn tracker_cx(&mut self) -> (&mut Trackers, Us, TrackerCx<'_>) {
        let us = Us {
            peer_id: self.peer_id,
            own: self.own_addr(),
        };
        let cx = TrackerCx {
            torrents: &mut self.torrents,
            config: &self.config,
            rng: &mut self.rng,
            out: &mut self.out,
        };
        (&mut self.trackers, us, cx)
    }

    /// Starts stopping a torrent (see [`Torrents::begin_stop`](super::torrent::table::Torrents)):
    /// its trackers are told, its connections and dials closed.
    pub(super) fn begin_stop(&mut self, now: Instant, id: TorrentId) {
        let deadline = now + self.config.shutdown_timeout;
        if !self.torrents.begin_stop(now, id, deadline) {
            return;
        }
        if let Some(t) = self.torrents.get(&id) {
            local::leave(self.lsd.as_mut(), t);
        }
        self.pump_announcer(now, id);
        for conn in self.peers.ids_of(id) {
            self.close_conn(now, conn, PeerCloseReason::Stopped);
        }
        for conn in self.peers.dialing_of(id) {
            // The address may be dialled again once the torrent starts (not a failure).
            if let Some(dial) = self.peers.end_dial(conn)
                && let Some(t) = self.torrents.get_mut(&id)
            {
                t.candidates.closed(now, dial.addr, false, false);
            }
            self.out.action(Action::Close { conn });
        }
    }

    /// Starts the shutdown (once): every torrent stops, within `shutdown_timeout`.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if let Some(gateway) = self.portmap.as_mut() {
            gateway.unmap_all(now, &mut self.trackers, &mut self.out);
        }
        self.timers
            .set(Timer::Shutdown, now + self.config.shutdown_timeout);
        self.timers.stop(Timer::DhtSave);
        self.timers.stop(Timer::Stats);
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            self.begin_stop(now, id);
        }
    }

    /// Advances stopping torrents (see
    /// [`Torrents::progress_stop`](super::torrent::table::Torrents)) and the shutdown.
    pub(super) fn progress_stops(&mut self, now: Instant) {
        let mut last = None;
        while let Some(id) = self.torrents.next_stopping(last) {
            last = Some(id);
            let (jobs, out) = (&mut self.jobs, &mut self.out);
            if let Some(then) = self.torrents.progress_stop(now, id, jobs, out) {
                self.stopped(now, id, then);
            }
        }
        if let Some(deadline) = self.timers.get(Timer::Shutdown) {
            let all_stopped = self.torrents.all_stopped()
                && self
                    .portmap
                    .as_ref()
                    .is_none_or(portmap::Gateway::is_settled);
            if all_stopped || now >= deadline {
                self.shutdown_done = true;
                self.timers.stop(Timer::Shutdown);
                self.dht_cx().save(now);
                self.out.event(Event::ShutdownComplete);
            }
        }
    }
}
