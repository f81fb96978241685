//! The work after every input (see `Session::step`): dialling what the limits allow, the web
//! seeds' pump (runs past their bound fail, usable seeds get runs; a finished run's blocks go
//! to the piece pipeline as a peer's would), advancing stops and the shutdown, filing the
//! deadlines that changed. Each visits only the torrents in its work set (see
//! [`Work`](super::torrent::work::Work)), so an input costs what it touched, not a visit of
//! every torrent.

use std::time::Instant;

use super::Session;
use super::connect::DialPlan;
use super::download::{self, Limits};
use super::io::{Action, TorrentId};
use super::peers::DialStages;
use super::stats;
use super::torrent::work::Rest;
use super::webseeds::{Delivery, WebCx, WebSeeds};

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

    /// The web-seed part with what it borrows from the session for one step.
    pub(super) fn web_cx(&mut self) -> (&mut WebSeeds, WebCx<'_>) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        let cx = WebCx {
            torrents: &mut self.torrents,
            limits,
            ids: &mut self.trackers,
            out: &mut self.out,
        };
        (&mut self.web, cx)
    }

    /// Web seeds after every input: runs past their time bound fail, and the usable seeds of
    /// running torrents get runs to fetch.
    pub(super) fn pump_web_seeds(&mut self, now: Instant) {
        if self.web.is_empty() {
            return;
        }
        let (web, mut cx) = self.web_cx();
        let ids = web.expire(now, &mut cx);
        if self.shutting_down {
            return;
        }
        for id in ids {
            let (web, mut cx) = self.web_cx();
            for run in web.fill(now, id, &mut cx) {
                self.web_delivered(now, run);
            }
        }
    }

    /// A web seed's finished run: each block goes to the piece pipeline as a peer's would.
    pub(super) fn web_delivered(&mut self, now: Instant, run: Delivery) {
        let mut taken = 0;
        for (block, data) in run.blocks {
            let limits = Limits {
                limit: &mut self.down_limit,
                config: &self.config,
                wire: &self.wire,
            };
            let torrents = &mut self.torrents;
            let Some(got) =
                download::web_block_in(now, run.torrent, run.key, block, torrents, limits)
            else {
                continue;
            };
            self.write_block(run.torrent, block, data, got.verify_now);
            self.send_cancels(now, &got.cancels);
            taken += u64::from(block.length);
        }
        self.web.credit(run.torrent, run.key, taken);
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
