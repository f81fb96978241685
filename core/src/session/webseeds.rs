//! Web seeds in the session (BEP 19): each web seed of a torrent is a peer of its picker that
//! has every piece (a [`PeerKey`] of its own, never a connection). While the torrent runs,
//! each usable server gets runs of blocks from the picker ([`MAX_RUNS`] in flight), fetched as
//! HTTP range requests ([`Action::WebSeedRequest`], one per file a run touches; redirects
//! followed); a whole run's bytes go into the piece pipeline as blocks, hashed before they
//! are trusted, like a peer's. A failure (status, range, length, transport, time bound, or a
//! piece that fails its hash) frees the run's blocks for other sources and backs the server
//! off; repeated failures drop it ([`Event::WebSeedDropped`]). Seeds come from the metainfo's
//! `url-list`, a magnet's `ws=` (used once the metadata arrives) and the application.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Session;
use super::download::Download;
use super::event::Event;
use super::io::{Action, RequestId, TorrentId};
use super::pipeline::Job;
use super::rate::Buckets;
use crate::picker::{BLOCK_LEN, PeerKey};
use crate::pieces::BlockRef;
use crate::tracker::http::{HttpResponse, MAX_HEAD};
use crate::tracker::{TrackerError, TrackerUrl};
use crate::webseed::{
    Health, PartOutcome, RunPlan, Verdict, WebSeedError, file_url, plan, range_request, read_part,
};

/// Runs in flight per web seed.
pub(crate) const MAX_RUNS: usize = 4;
/// The smallest run asked of a server (bytes), before its rate is known.
const MIN_RUN: u64 = 128 * 1024;
/// The largest run asked of a server (bytes): bounds the memory of its runs in flight.
const MAX_RUN: u64 = 4 << 20;
/// A server's runs in flight hold this much of its measured rate (each run a
/// [`MAX_RUNS`]th of it, so each takes about this long): enough to keep it busy, not so much
/// that it holds blocks the peers could fetch.
const RUN_TIME: Duration = Duration::from_secs(2);
/// The longest a run may take (all its requests and redirects) before it counts as failed.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `url` can be a web seed: an `http` or `https` URL this client parses.
pub(crate) fn usable_url(url: &str) -> bool {
    TrackerUrl::parse(url.trim()).is_ok_and(|u| {
        matches!(
            u.scheme(),
            crate::tracker::Scheme::Http | crate::tracker::Scheme::Https
        )
    })
}

/// What the application is told of a web seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSeedInfo {
    /// The URL as given (`url-list`, `ws=`, or by the application).
    pub url: String,
    /// Bytes of the blocks it delivered that were taken (not duplicates of another
    /// source's), before their hash check.
    pub downloaded: u64,
    /// Bytes per second recently received from it.
    pub download_rate: u64,
    /// Whether it has requests in flight.
    pub active: bool,
    /// Consecutive failures.
    pub failures: u32,
    /// Why it was dropped, if it was (it is asked for nothing more).
    pub dropped: Option<WebSeedError>,
}

#[derive(Debug)]
struct Seed {
    url: String,
    key: PeerKey,
    health: Health,
    runs: usize,
    downloaded: u64,
    rate: super::rate::RateMeter,
    dropped: Option<WebSeedError>,
}

#[derive(Debug)]
struct Run {
    torrent: TorrentId,
    key: PeerKey,
    plan: RunPlan,
    buf: Vec<u8>,
    missing: usize,
    deadline: Instant,
}

#[derive(Debug)]
struct Pending {
    run: u64,
    part: usize,
    url: TrackerUrl,
    file_len: u64,
    redirects: u32,
}

/// Every torrent's web seeds, their runs and their requests in flight.
#[derive(Debug, Default)]
pub(crate) struct WebSeeds {
    seeds: BTreeMap<TorrentId, Vec<Seed>>,
    runs: BTreeMap<u64, Run>,
    pending: BTreeMap<RequestId, Pending>,
    next_run: u64,
}

impl WebSeeds {
    /// The earliest run deadline or back-off end after `now`.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let runs = self.runs.values().map(|r| r.deadline);
        let backoffs = self
            .seeds
            .values()
            .flatten()
            .filter(|s| s.dropped.is_none())
            .filter_map(|s| s.health.backoff_until(now));
        runs.chain(backoffs).min()
    }

    /// The web seeds of `torrent`.
    pub(crate) fn infos(&self, now: Instant, torrent: TorrentId) -> Vec<WebSeedInfo> {
        self.seeds
            .get(&torrent)
            .into_iter()
            .flatten()
            .map(|s| WebSeedInfo {
                url: s.url.clone(),
                downloaded: s.downloaded,
                download_rate: s.rate.rate(now),
                active: s.runs > 0,
                failures: s.health.failures(),
                dropped: s.dropped.clone(),
            })
            .collect()
    }

    fn seed_mut(&mut self, torrent: TorrentId, key: PeerKey) -> Option<&mut Seed> {
        self.seeds
            .get_mut(&torrent)?
            .iter_mut()
            .find(|s| s.key == key)
    }
}

impl Session {
    /// Adds web seed `url` to torrent `id` (a URL it already has is left as it is). Returns
    /// whether it was added.
    pub(super) fn add_web_seed_inner(&mut self, now: Instant, id: TorrentId, url: &str) -> bool {
        let url = url.trim();
        if !usable_url(url) {
            return false;
        }
        let list = self.web.seeds.entry(id).or_default();
        if list.iter().any(|s| s.url == url) {
            return false;
        }
        let key = self.peers.alloc_key();
        list.push(Seed {
            url: url.to_string(),
            key,
            health: Health::default(),
            runs: 0,
            downloaded: 0,
            rate: super::rate::RateMeter::new(now),
            dropped: None,
        });
        true
    }

    /// Removes web seed `url` from torrent `id`: its runs are abandoned and their blocks
    /// freed. Returns whether it was there.
    pub(super) fn remove_web_seed_inner(&mut self, id: TorrentId, url: &str) -> bool {
        let Some(list) = self.web.seeds.get_mut(&id) else {
            return false;
        };
        let Some(i) = list.iter().position(|s| s.url == url.trim()) else {
            return false;
        };
        let key = list.remove(i).key;
        self.abandon_runs(|r| r.torrent == id && r.key == key);
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.picker.remove_peer(key);
        }
        true
    }

    /// The web seeds of a torrent that left the session are forgotten.
    fn forget_removed_torrents(&mut self) {
        let gone: Vec<TorrentId> = self
            .web
            .seeds
            .keys()
            .filter(|id| self.torrents.get(id).is_none())
            .copied()
            .collect();
        for id in gone {
            self.web.seeds.remove(&id);
            self.abandon_runs(|r| r.torrent == id);
        }
    }

    /// Forgets the runs `which` selects (their responses will be ignored) and frees their
    /// blocks in the picker.
    fn abandon_runs(&mut self, which: impl Fn(&Run) -> bool) {
        let ids: Vec<u64> = self
            .web
            .runs
            .iter()
            .filter(|(_, r)| which(r))
            .map(|(id, _)| *id)
            .collect();
        for run_id in ids {
            if let Some(run) = self.take_run(run_id) {
                self.free_blocks(&run);
            }
        }
    }

    /// Takes a run out with its requests in flight; its seed has one run less.
    fn take_run(&mut self, run_id: u64) -> Option<Run> {
        let run = self.web.runs.remove(&run_id)?;
        self.web.pending.retain(|_, p| p.run != run_id);
        if let Some(seed) = self.web.seed_mut(run.torrent, run.key) {
            seed.runs = seed.runs.saturating_sub(1);
        }
        Some(run)
    }

    fn free_blocks(&mut self, run: &Run) {
        if let Some(d) = self
            .torrents
            .get_mut(&run.torrent)
            .and_then(|t| t.data.as_mut())
        {
            for block in &run.plan.blocks {
                d.picker.request_rejected(run.key, *block);
            }
        }
    }

    /// Expires runs past their time bound and gives every usable web seed of a running torrent
    /// runs to fetch. Called after every input.
    pub(super) fn pump_web_seeds(&mut self, now: Instant) {
        if self.web.seeds.is_empty() {
            return;
        }
        self.forget_removed_torrents();
        let late: Vec<(u64, TorrentId, PeerKey)> = self
            .web
            .runs
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, r)| (*id, r.torrent, r.key))
            .collect();
        for (run_id, id, key) in late {
            if let Some(run) = self.take_run(run_id) {
                self.free_blocks(&run);
            }
            self.web_seed_failed(now, id, key, WebSeedError::Timeout);
        }
        if self.shutting_down {
            return;
        }
        let ids: Vec<TorrentId> = self.web.seeds.keys().copied().collect();
        for id in ids {
            self.fill_web_seeds(now, id);
        }
    }

    fn fill_web_seeds(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        if !t.is_running() || t.data.is_none() || t.is_seed() {
            return;
        }
        let seeds: Vec<(PeerKey, String, usize, u64)> = self.web.seeds[&id]
            .iter()
            .filter(|s| s.dropped.is_none() && s.runs < MAX_RUNS && s.health.ready(now))
            .map(|s| (s.key, s.url.clone(), s.runs, s.rate.rate(now)))
            .collect();
        for (key, url, runs, rate) in seeds {
            if !self.register_web_seed(now, id, key) {
                self.drop_web_seed(id, key, WebSeedError::Banned);
                continue;
            }
            let run_len =
                (rate.saturating_mul(RUN_TIME.as_secs()) / MAX_RUNS as u64).clamp(MIN_RUN, MAX_RUN);
            let blocks = u32::try_from(run_len / u64::from(BLOCK_LEN)).unwrap_or(1);
            for _ in runs..MAX_RUNS {
                if !self.start_run(now, id, key, &url, blocks, run_len) {
                    break;
                }
            }
        }
    }

    /// Makes sure the torrent's picker knows the web seed as an unchoking peer with every
    /// piece. Returns `false` if the picker banned it (its data failed hash checks).
    fn register_web_seed(&mut self, now: Instant, id: TorrentId, key: PeerKey) -> bool {
        let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
            return true;
        };
        if d.picker.is_banned(key) {
            return false;
        }
        if !d.picker.knows_peer(key) {
            d.picker.add_peer(key);
            let _ = d.picker.peer_have_all(key);
            d.picker.peer_unchoked(now, key);
        }
        true
    }

    /// Picks blocks for one run of web seed `key` and sends its requests. Returns whether a run
    /// was started.
    fn start_run(
        &mut self,
        now: Instant,
        id: TorrentId,
        key: PeerKey,
        base: &str,
        blocks: u32,
        run_len: u64,
    ) -> bool {
        let Some(t) = self.torrents.get_mut(&id) else {
            return false;
        };
        let limit = Buckets {
            session: t
                .limits
                .honors_session_limits
                .then_some(&mut self.down_limit),
            torrent: &mut t.down_bucket,
        };
        let Some(d) = t.data.as_mut() else {
            return false;
        };
        let meta = d.meta.clone();
        let picked =
            Download::of(d, limit, &self.config, &self.wire).pick_for_web(now, key, blocks);
        if picked.is_empty() {
            return false;
        }
        let mut plans = plan(meta.layout(), &picked, run_len.max(u64::from(BLOCK_LEN)));
        // Blocks beyond the first run (the picker gave a scattered set) are fetched in runs
        // of their own, even past the limit of runs in flight: never more than picked.
        let mut started = false;
        for p in plans.drain(..) {
            let run_id = self.web.next_run;
            self.web.next_run += 1;
            let mut requests = Vec::with_capacity(p.parts.len());
            for (i, part) in p.parts.iter().enumerate() {
                let Some(url) = file_url(base, &meta, part.file) else {
                    let run = Run {
                        torrent: id,
                        key,
                        plan: p,
                        buf: Vec::new(),
                        missing: 0,
                        deadline: now,
                    };
                    self.free_blocks(&run);
                    self.drop_web_seed(id, key, WebSeedError::Url(base.to_string()));
                    return started;
                };
                let file_len = meta.layout().files()[part.file].length;
                requests.push((i, url, file_len));
            }
            let len = usize::try_from(p.len).unwrap_or(usize::MAX);
            let missing = requests.len();
            self.web.runs.insert(
                run_id,
                Run {
                    torrent: id,
                    key,
                    buf: vec![0; len],
                    missing,
                    plan: p,
                    deadline: now + RUN_TIMEOUT,
                },
            );
            if let Some(seed) = self.web.seed_mut(id, key) {
                seed.runs += 1;
            }
            started = true;
            if missing == 0 {
                // Only padding: zeros, nothing to fetch.
                self.finish_run(now, run_id);
                continue;
            }
            for (part, url, file_len) in requests {
                self.send_part(run_id, part, url, file_len, 0);
            }
        }
        started
    }

    fn send_part(&mut self, run: u64, part: usize, url: TrackerUrl, file_len: u64, redirects: u32) {
        let Some(p) = self.web.runs.get(&run).and_then(|r| r.plan.parts.get(part)) else {
            return;
        };
        let request = range_request(&url, p.file_offset, p.len);
        let max_response = usize::try_from(p.len)
            .unwrap_or(usize::MAX)
            .saturating_add(MAX_HEAD);
        let rid = self.trackers.next_id();
        self.web.pending.insert(
            rid,
            Pending {
                run,
                part,
                url: url.clone(),
                file_len,
                redirects,
            },
        );
        self.out.action(Action::WebSeedRequest {
            id: rid,
            url,
            request,
            max_response,
        });
    }

    /// The answer to a web seed's request; gives `result` back if `rid` is not one.
    pub(super) fn web_seed_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
    ) -> Option<Result<HttpResponse, TrackerError>> {
        let Some(pending) = self.web.pending.remove(&rid) else {
            return Some(result);
        };
        let run = self.web.runs.get_mut(&pending.run)?;
        let (id, key) = (run.torrent, run.key);
        let part = run.plan.parts.get(pending.part).copied()?;
        let outcome = result.map_err(WebSeedError::Transport).and_then(|r| {
            read_part(&pending.url, &part, pending.file_len, pending.redirects, &r).map(|o| (o, r))
        });
        match outcome {
            Ok((PartOutcome::Data, response)) => {
                let body = response.body();
                if let Some(dest) = run
                    .buf
                    .get_mut(part.buffer_offset..part.buffer_offset + body.len())
                {
                    dest.copy_from_slice(body);
                }
                run.missing -= 1;
                if let Some(seed) = self.web.seed_mut(id, key) {
                    seed.rate.add(now, body.len() as u64);
                }
                if self
                    .web
                    .runs
                    .get(&pending.run)
                    .is_some_and(|r| r.missing == 0)
                {
                    self.finish_run(now, pending.run);
                }
            }
            Ok((PartOutcome::Redirect(next), _)) => {
                self.send_part(
                    pending.run,
                    pending.part,
                    next,
                    pending.file_len,
                    pending.redirects + 1,
                );
            }
            Err(error) => {
                if let Some(run) = self.take_run(pending.run) {
                    self.free_blocks(&run);
                }
                self.web_seed_failed(now, id, key, error);
            }
        }
        None
    }

    /// A run's bytes are all in: each block goes to the piece pipeline, as a peer's would.
    fn finish_run(&mut self, now: Instant, run_id: u64) {
        let Some(run) = self.take_run(run_id) else {
            return;
        };
        let (id, key) = (run.torrent, run.key);
        if let Some(seed) = self.web.seed_mut(id, key) {
            seed.health.succeeded();
        }
        let active = self.torrents.get(&id).is_some_and(|t| t.is_active());
        if !active {
            self.free_blocks(&run);
            return;
        }
        let buf = Bytes::from(run.buf);
        // The blocks are contiguous, in stream order.
        let mut start = 0usize;
        for block in &run.plan.blocks {
            let end = start + block.length as usize;
            let Some(data) = buf.get(start..end).map(|_| buf.slice(start..end)) else {
                break;
            };
            start = end;
            if self.web_block(now, id, key, *block, data)
                && let Some(seed) = self.web.seed_mut(id, key)
            {
                seed.downloaded += u64::from(block.length);
            }
        }
    }

    /// A block from web seed `key`: counted, taken by the picker and written (see
    /// [`Download::block_in`]). Returns whether the picker took it (not a duplicate).
    fn web_block(
        &mut self,
        now: Instant,
        id: TorrentId,
        key: PeerKey,
        block: BlockRef,
        data: Bytes,
    ) -> bool {
        let Some(t) = self.torrents.get_mut(&id) else {
            return false;
        };
        t.down.add(now, u64::from(block.length));
        let limit = Buckets {
            session: t
                .limits
                .honors_session_limits
                .then_some(&mut self.down_limit),
            torrent: &mut t.down_bucket,
        };
        let Some(d) = t.data.as_mut() else {
            return false;
        };
        let Some(got) = Download::of(d, limit, &self.config, &self.wire).block_in(now, key, block)
        else {
            return false;
        };
        self.jobs.issue(
            id,
            Job::Write { block, data },
            &mut self.torrents,
            &mut self.out,
        );
        if got.verify_now {
            self.jobs
                .verify(id, block.piece, &mut self.torrents, &mut self.out);
        }
        self.send_cancels(now, &got.cancels);
        true
    }

    /// A request of web seed `key` failed: it is backed off, or dropped after too many.
    fn web_seed_failed(&mut self, now: Instant, id: TorrentId, key: PeerKey, error: WebSeedError) {
        let Some(seed) = self.web.seed_mut(id, key) else {
            return;
        };
        // Requests sent before a back-off began fail with it: one failure per back-off.
        if seed.dropped.is_some() || seed.health.backoff_until(now).is_some() {
            return;
        }
        match seed.health.failed(now) {
            Verdict::RetryAt(at) => {
                let url = seed.url.clone();
                self.out.event(Event::WebSeedFailed {
                    torrent: id,
                    url,
                    error,
                    retry_in: at.saturating_duration_since(now),
                });
            }
            Verdict::Drop => self.drop_web_seed(id, key, error),
        }
    }

    /// Stops using web seed `key`: its runs are abandoned and the picker forgets it.
    fn drop_web_seed(&mut self, id: TorrentId, key: PeerKey, error: WebSeedError) {
        let Some(seed) = self.web.seed_mut(id, key) else {
            return;
        };
        if seed.dropped.is_some() {
            return;
        }
        seed.dropped = Some(error.clone());
        let url = seed.url.clone();
        self.abandon_runs(|r| r.torrent == id && r.key == key);
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.picker.remove_peer(key);
        }
        self.out.event(Event::WebSeedDropped {
            torrent: id,
            url,
            error,
        });
    }

    /// A piece failed its hash check: each web seed among its senders is charged a failure;
    /// one the picker banned (its strikes reached the limit) is dropped.
    pub(super) fn web_seeds_hash_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        contributors: &[PeerKey],
        banned: &[PeerKey],
    ) {
        for &key in contributors {
            if self.web.seed_mut(id, key).is_none() {
                continue;
            }
            let error = WebSeedError::HashFailed { piece };
            if banned.contains(&key) {
                self.drop_web_seed(id, key, error);
            } else {
                self.web_seed_failed(now, id, key, error);
            }
        }
    }
}
