//! Time: the session's next deadline (the earliest of every connection, picker, choker,
//! announcer, UDP tracker, the DHT, and the session's own periodic work) and what fires at it.

use std::time::Instant;

use super::Session;
use super::event::Event;
use super::io::TorrentId;
use super::torrent::Stage;

impl Session {
    /// The earliest deadline.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        if self.shutdown_done && self.peers.total() == 0 {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for p in self.peers.open.values() {
            take(p.conn.poll_timeout());
        }
        take(self.send_stall_deadline());
        for d in self.peers.dialing.values() {
            take(Some(d.since + self.config.connect_timeout));
        }
        for t in self.torrents.values() {
            if let Some(a) = &t.announcer {
                take(a.poll_timeout());
            }
            match t.stage {
                Stage::Stopped => continue,
                Stage::Stopping { deadline, .. } => {
                    take(Some(deadline));
                    continue;
                }
                _ => {}
            }
            take(Some(t.next_stats));
            take(t.next_dht.filter(|_| self.dht.is_some()));
            if let Some(d) = &t.data
                && t.stage == Stage::Running
            {
                take(d.picker.poll_timeout());
                take(Some(t.choker.poll_timeout().unwrap_or(self.now)));
                take(Some(t.next_save));
            }
            take(t.candidates.next_ready().filter(|at| *at > self.now));
        }
        for u in self.trackers.udp.values() {
            take(u.poll_timeout());
        }
        if let Some(dht) = &self.dht {
            take(dht.poll_timeout());
            take(self.next_dht_save.filter(|_| self.shutdown.is_none()));
        }
        if let Some(deadline) = self.shutdown.filter(|_| !self.shutdown_done) {
            take(Some(deadline));
        }
        take(self.metadata_deadline());
        take(self.pex_deadline());
        take(self.scrape_deadline());
        take(self.down_limit.ready_at());
        take(self.up_limit.ready_at());
        next
    }

    /// Fires everything due at `now`.
    pub(super) fn timeout(&mut self, now: Instant) {
        self.now = now;
        self.hold_paused_clocks(now);
        let conns: Vec<_> = self.peers.open.keys().copied().collect();
        for conn in conns {
            if let Some(p) = self.peers.get_mut(conn)
                && p.conn.poll_timeout().is_some_and(|t| t <= now)
            {
                p.conn.handle_timeout(now);
                self.drive(now, conn);
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
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            self.torrent_timeout(now, id, limited);
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
            self.pump_dht(now);
        }
        self.dht_lookups(now);
        if self.shutdown.is_none() && self.next_dht_save.is_some_and(|t| t <= now) {
            self.save_dht_state(now);
        }
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
            if let Some(stats) = self.stats_of(id, Some(now)) {
                self.events.push_back(Event::Stats { torrent: id, stats });
            }
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
            .is_some_and(|d| d.disk.dirty || d.disk.unflushed.count() > 0);
        self.send_cancels(now, &cancels);
        if rechoke {
            self.rechoke(now, id);
        }
        if save && needs_save {
            self.start_save(id);
        }
        if !cancels.is_empty() || limited {
            self.fill_all(now, id);
        }
        if limited {
            for conn in self.peers.ids_of(id) {
                self.serve(now, conn);
                self.drive(now, conn);
            }
        }
    }
}
