//! The work after every input (see `Session::step`): dialling what the limits allow,
//! advancing stops and the shutdown, filing the deadlines that changed. Each visits only the
//! torrents in its work set (see [`Work`](super::torrent::work::Work)), so an input costs
//! what it touched, not a visit of every torrent.

use std::time::Instant;

use super::Session;
use super::connect::DialPlan;
use super::io::{Action, TorrentId};
use super::peers::DialStages;
use super::stats;
use super::torrent::work::Rest;

impl Session {
    /// Runs an entry point's `step`, then the work common to every entry point.
    pub(super) fn step<T>(&mut self, now: Instant, step: impl FnOnce(&mut Self) -> T) -> T {
        let out = step(self);
        self.after(now);
        out
    }

    /// Work common to every entry point: dial what limits allow, finish stops and shutdown.
    pub(super) fn after(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.pump_streams(now);
        self.dial(now);
        self.pump_web_seeds(now);
        self.progress_stops(now);
        let (torrents, config) = (&mut self.torrents, &self.config);
        stats::arm(now, self.shutting_down, torrents, config, &mut self.timers);
        self.pump_streams(now);
        self.peers.refresh_deadlines(&self.torrents, &self.config);
        for id in self.peers.take_torrents_touched() {
            let open = self.peers.has_open(id);
            self.torrents.set_peers_open(id, open);
        }
        let dht = self.dht.is_some();
        self.torrents.refresh_deadlines(self.now, dht);
    }

    /// Dials candidates while the limits allow (see
    /// [`Peers::dial_plan`](super::peers::Peers::dial_plan)); at a limit, a candidate ready to
    /// dial replaces the least useful connection, or at the half-open limit the oldest dial
    /// past its patience (see `SessionConfig::dial_patience` and `dial_patience_outranked`).
    /// Only the torrents of the dial set are visited, in id order (see
    /// [`Work`](super::torrent::work::Work)); those waiting at the half-open limit join them
    /// when a dial ends or a dial's patience runs out.
    pub(super) fn dial(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let stages = DialStages::of(&self.config);
        if self.peers.take_dial_news()
            || (self.torrents.has_waiting() && self.peers.dial_stage_passed(now, stages))
        {
            self.torrents.wake_waiting();
        }
        let mut last = None;
        while let Some(id) = self.torrents.next_to_dial(last) {
            last = Some(id);
            match self.dial_torrent(now, id) {
                Visit::Rest(rest) => self.torrents.dialled(id, rest),
                Visit::AllWait => return self.torrents.wait_from(id),
                Visit::Halt => return,
            }
        }
    }

    /// Dials torrent `id`'s candidates while the limits allow; where it goes next.
    fn dial_torrent(&mut self, now: Instant, id: TorrentId) -> Visit {
        let least_patience = self
            .config
            .dial_patience_outranked
            .min(self.config.dial_patience);
        loop {
            let (evict_any, evict_own) =
                match self.peers.dial_plan(now, id, &self.torrents, &self.config) {
                    DialPlan::Next => return Visit::Rest(Rest::Leave),
                    DialPlan::HalfOpen => {
                        if !self.peers.dial_older_than(now, least_patience) {
                            // No dial may give way to any torrent's candidate.
                            return Visit::AllWait;
                        }
                        let (torrents, config) = (&self.torrents, &self.config);
                        let Some(stale) = self.peers.stale_for(now, id, torrents, config) else {
                            return Visit::Rest(Rest::Wait);
                        };
                        self.out.action(Action::Close { conn: stale });
                        self.connected(now, stale, Err(std::io::ErrorKind::TimedOut));
                        continue;
                    }
                    DialPlan::Dial {
                        evict_any,
                        evict_own,
                    } => (evict_any, evict_own),
                };
            if evict_any && !self.evict(now, |_, _| true) {
                return Visit::Halt;
            }
            if evict_own && !self.evict(now, |_, p| p.torrent == Some(id)) {
                return Visit::Rest(Rest::Stay);
            }
            let Some(t) = self.torrents.get_mut_dialling(&id) else {
                return Visit::Rest(Rest::Leave);
            };
            let (config, out) = (&self.config, &mut self.out);
            if self.peers.dial_next(now, id, t, config, out).is_none() {
                return Visit::Rest(Rest::Leave);
            }
        }
    }
}

/// How a torrent's dial visit ended.
enum Visit {
    /// It goes to this set.
    Rest(Rest),
    /// At the half-open limit with no dial old enough to give way: it and every torrent after
    /// it wait.
    AllWait,
    /// At the overall limit with no connection to close: dialling stops for this input.
    Halt,
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod work_tests;
