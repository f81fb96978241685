//! The web-seed part's runs: a run is a contiguous set of blocks the picker gave one web seed,
//! fetched as one range request per file it touches (BEP 19) or one request per piece it
//! touches (BEP 17). Here runs are started (sized to the server's rate), their answers read
//! (data, redirect, busy, failure), timed out and finished: a finished run's bytes become a
//! [`Delivery`] for the session to hand to the piece pipeline.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Seed, WebCx, WebSeeds};
use crate::picker::{BLOCK_LEN, PeerKey};
use crate::pieces::BlockRef;
use crate::session::download::Download;
use crate::session::io::{Action, RequestId, TorrentId};
use crate::session::torrent::table::Torrents;
use crate::tracker::http::{HttpResponse, MAX_HEAD};
use crate::tracker::{TrackerError, TrackerUrl};
use crate::webseed::{
    Part, PartOutcome, PieceOutcome, PieceRange, RunPlan, WebSeedError, WebSeedProtocol, file_url,
    piece_ranges, piece_request, piece_url, plan, range_request, read_part, read_piece,
};

/// Runs in flight per web seed.
const MAX_RUNS: usize = 4;
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

#[derive(Debug)]
pub(super) struct Run {
    pub(super) torrent: TorrentId,
    pub(super) key: PeerKey,
    plan: RunPlan,
    buf: Vec<u8>,
    missing: usize,
    pub(super) deadline: Instant,
}

#[derive(Debug)]
pub(super) struct Pending {
    run: u64,
    target: Target,
    url: TrackerUrl,
    redirects: u32,
}

/// What one request of a run asks for.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// BEP 19: a range of a file of `file_len` bytes.
    File { part: Part, file_len: u64 },
    /// BEP 17: a range of a piece.
    Piece(PieceRange),
}

impl Target {
    /// Where its bytes go in the run's buffer.
    fn buffer_offset(&self) -> usize {
        match self {
            Self::File { part, .. } => part.buffer_offset,
            Self::Piece(r) => r.buffer_offset,
        }
    }

    /// Bytes asked for.
    fn len(&self) -> u64 {
        match self {
            Self::File { part, .. } => part.len,
            Self::Piece(r) => u64::from(r.len),
        }
    }

    /// The request's bytes, sent to `url`.
    fn request(&self, url: &TrackerUrl) -> Vec<u8> {
        match self {
            Self::File { part, .. } => range_request(url, part.file_offset, part.len),
            Self::Piece(_) => piece_request(url),
        }
    }

    /// Checks an answer to it (sent to `url` after `redirects` redirects).
    fn read(
        &self,
        url: &TrackerUrl,
        redirects: u32,
        response: &HttpResponse,
    ) -> Result<PieceOutcome, WebSeedError> {
        match self {
            Self::File { part, file_len } => read_part(url, part, *file_len, redirects, response)
                .map(|o| match o {
                    PartOutcome::Data => PieceOutcome::Data,
                    PartOutcome::Redirect(next) => PieceOutcome::Redirect(next),
                }),
            Self::Piece(range) => read_piece(url, range, redirects, response),
        }
    }
}

/// A finished run's blocks, contiguous and in order, for the piece pipeline.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// The torrent.
    pub(crate) torrent: TorrentId,
    /// The web seed (its picker key).
    pub(crate) key: PeerKey,
    /// The blocks with their bytes (slices of the run's buffer).
    pub(crate) blocks: Vec<(BlockRef, Bytes)>,
}

/// How many runs to start for a web seed and how large.
struct Sizing {
    key: PeerKey,
    url: String,
    protocol: WebSeedProtocol,
    runs: usize,
    blocks: u32,
    run_len: u64,
}

impl WebSeeds {
    /// Forgets the runs `which` selects (their responses will be ignored) and frees their
    /// blocks in the picker.
    pub(super) fn abandon_runs(&mut self, torrents: &mut Torrents, which: impl Fn(&Run) -> bool) {
        let ids: Vec<u64> = self
            .runs
            .iter()
            .filter(|(_, r)| which(r))
            .map(|(id, _)| *id)
            .collect();
        for run_id in ids {
            if let Some(run) = self.take_run(run_id) {
                free_blocks(&run, torrents);
            }
        }
    }

    /// Takes a run out with its requests in flight; its seed has one run less.
    fn take_run(&mut self, run_id: u64) -> Option<Run> {
        let run = self.runs.remove(&run_id)?;
        self.pending.retain(|_, p| p.run != run_id);
        if let Some(seed) = self.seed_mut(run.torrent, run.key) {
            seed.runs = seed.runs.saturating_sub(1);
        }
        Some(run)
    }

    /// Forgets the seeds of torrents gone and fails the runs past their time bound. Returns
    /// the torrents whose seeds may start runs (call [`WebSeeds::fill`] for each).
    pub(crate) fn expire(&mut self, now: Instant, cx: &mut WebCx<'_>) -> Vec<TorrentId> {
        self.forget_removed_torrents(cx.torrents);
        let late: Vec<u64> = self
            .runs
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for run_id in late {
            let Some(run) = self.take_run(run_id) else {
                continue;
            };
            free_blocks(&run, cx.torrents);
            self.failed(now, run.torrent, run.key, WebSeedError::Timeout, cx);
        }
        self.seeds.keys().copied().collect()
    }

    /// Gives every usable web seed of torrent `id` (running, with metadata, not a seed) runs
    /// to fetch. Returns the runs that finished at once (only padding, nothing to fetch).
    pub(crate) fn fill(
        &mut self,
        now: Instant,
        id: TorrentId,
        cx: &mut WebCx<'_>,
    ) -> Vec<Delivery> {
        let mut done = Vec::new();
        let Some(t) = cx.torrents.get(&id) else {
            return done;
        };
        if !t.is_running() || t.data.is_none() || t.is_seed() {
            return done;
        }
        for s in self.sizings(now, id) {
            if !register(now, id, s.key, cx.torrents) {
                self.drop_seed(id, s.key, WebSeedError::Banned, cx);
                continue;
            }
            for _ in s.runs..MAX_RUNS {
                if !self.start_run(now, id, &s, cx, &mut done) {
                    break;
                }
            }
        }
        done
    }

    /// The seeds of torrent `id` that may start runs now, with their runs sized to their rate.
    fn sizings(&self, now: Instant, id: TorrentId) -> Vec<Sizing> {
        let ready = |s: &&Seed| s.dropped.is_none() && s.runs < MAX_RUNS && s.health.ready(now);
        let sizing = |s: &Seed| {
            let rate = s.rate.rate(now);
            let run_len =
                (rate.saturating_mul(RUN_TIME.as_secs()) / MAX_RUNS as u64).clamp(MIN_RUN, MAX_RUN);
            Sizing {
                key: s.key,
                url: s.url.clone(),
                protocol: s.protocol,
                runs: s.runs,
                blocks: u32::try_from(run_len / u64::from(BLOCK_LEN)).unwrap_or(1),
                run_len,
            }
        };
        let seeds = self.seeds.get(&id).into_iter().flatten();
        seeds.filter(ready).map(sizing).collect()
    }

    /// Picks blocks for one run of a web seed and sends its requests. Returns whether a run
    /// was started.
    fn start_run(
        &mut self,
        now: Instant,
        id: TorrentId,
        s: &Sizing,
        cx: &mut WebCx<'_>,
        done: &mut Vec<Delivery>,
    ) -> bool {
        let Some(t) = cx.torrents.get_mut(&id) else {
            return false;
        };
        let Some(meta) = t.data.as_ref().map(|d| d.meta.clone()) else {
            return false;
        };
        let Some(mut download) = Download::of_torrent(t, cx.limits.reborrow()) else {
            return false;
        };
        let picked = download.pick_for_web(now, s.key, s.blocks);
        if picked.is_empty() {
            return false;
        }
        let mut plans = plan(meta.layout(), &picked, s.run_len.max(u64::from(BLOCK_LEN)));
        // Blocks beyond the first run (the picker gave a scattered set) are fetched in runs
        // of their own, even past the limit of runs in flight: never more than picked.
        let mut started = false;
        for p in plans.drain(..) {
            let requests: Option<Vec<(Target, TrackerUrl)>> = match s.protocol {
                WebSeedProtocol::UrlList => (p.parts.iter())
                    .map(|part| {
                        let url = file_url(&s.url, &meta, part.file)?;
                        let file_len = meta.layout().files()[part.file].length;
                        Some((
                            Target::File {
                                part: *part,
                                file_len,
                            },
                            url,
                        ))
                    })
                    .collect(),
                WebSeedProtocol::HttpSeed => piece_ranges(meta.layout(), &p)
                    .into_iter()
                    .map(|r| Some((Target::Piece(r), piece_url(&s.url, &meta.info_hash(), &r)?)))
                    .collect(),
            };
            let Some(requests) = requests else {
                for block in &p.blocks {
                    reject(cx.torrents, id, s.key, *block);
                }
                self.drop_seed(id, s.key, WebSeedError::Url(s.url.clone()), cx);
                return started;
            };
            let run_id = self.next_run;
            self.next_run += 1;
            let len = usize::try_from(p.len).unwrap_or(usize::MAX);
            let missing = requests.len();
            let run = Run {
                torrent: id,
                key: s.key,
                buf: vec![0; len],
                missing,
                plan: p,
                deadline: now + RUN_TIMEOUT,
            };
            self.runs.insert(run_id, run);
            if let Some(seed) = self.seed_mut(id, s.key) {
                seed.runs += 1;
            }
            started = true;
            if missing == 0 {
                // Only padding: zeros, nothing to fetch.
                done.extend(self.finish_run(run_id, cx.torrents));
                continue;
            }
            for (target, url) in requests {
                self.send(run_id, target, url, 0, cx);
            }
        }
        started
    }

    fn send(
        &mut self,
        run: u64,
        target: Target,
        url: TrackerUrl,
        redirects: u32,
        cx: &mut WebCx<'_>,
    ) {
        if !self.runs.contains_key(&run) {
            return;
        }
        let request = target.request(&url);
        let max_response = usize::try_from(target.len())
            .unwrap_or(usize::MAX)
            .saturating_add(MAX_HEAD);
        let rid = cx.ids.next_id();
        let pending = Pending {
            run,
            target,
            url: url.clone(),
            redirects,
        };
        self.pending.insert(rid, pending);
        cx.out.action(Action::WebSeedRequest {
            id: rid,
            url,
            request,
            max_response,
        });
    }

    /// Whether `rid` is a web seed's request in flight.
    pub(crate) fn owns(&self, rid: RequestId) -> bool {
        self.pending.contains_key(&rid)
    }

    /// The answer to a web seed's request `rid`: the run's part is filled (a run then complete
    /// is returned), a redirect followed, or the run failed (or, for a busy server, is given
    /// back and the server waited for).
    pub(crate) fn response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: Result<HttpResponse, TrackerError>,
        cx: &mut WebCx<'_>,
    ) -> Option<Delivery> {
        let pending = self.pending.remove(&rid)?;
        let run = self.runs.get_mut(&pending.run)?;
        let (id, key) = (run.torrent, run.key);
        let target = pending.target;
        let outcome = result
            .map_err(WebSeedError::Transport)
            .and_then(|r| (target.read(&pending.url, pending.redirects, &r)).map(|o| (o, r)));
        match outcome {
            Ok((PieceOutcome::Data, response)) => {
                let body = response.body();
                let start = target.buffer_offset();
                if let Some(dest) = run.buf.get_mut(start..start + body.len()) {
                    dest.copy_from_slice(body);
                }
                run.missing -= 1;
                let complete = run.missing == 0;
                if let Some(seed) = self.seed_mut(id, key) {
                    seed.rate.add(now, body.len() as u64);
                }
                if complete {
                    return self.finish_run(pending.run, cx.torrents);
                }
            }
            Ok((PieceOutcome::Redirect(next), _)) => {
                let redirects = pending.redirects + 1;
                self.send(pending.run, target, next, redirects, cx);
            }
            Ok((PieceOutcome::Busy(wait), _)) => {
                if let Some(run) = self.take_run(pending.run) {
                    free_blocks(&run, cx.torrents);
                }
                self.busy(now, id, key, wait, cx);
            }
            Err(error) => {
                if let Some(run) = self.take_run(pending.run) {
                    free_blocks(&run, cx.torrents);
                }
                self.failed(now, id, key, error, cx);
            }
        }
        None
    }

    /// A run's bytes are all in: its blocks, for the piece pipeline (none if the torrent no
    /// longer downloads: they are freed).
    fn finish_run(&mut self, run_id: u64, torrents: &mut Torrents) -> Option<Delivery> {
        let run = self.take_run(run_id)?;
        let (id, key) = (run.torrent, run.key);
        if let Some(seed) = self.seed_mut(id, key) {
            seed.health.succeeded();
        }
        if !torrents.get(&id).is_some_and(|t| t.is_active()) {
            free_blocks(&run, torrents);
            return None;
        }
        let buf = Bytes::from(run.buf);
        let mut blocks = Vec::with_capacity(run.plan.blocks.len());
        // The blocks are contiguous, in stream order.
        let mut start = 0usize;
        for block in &run.plan.blocks {
            let end = start + block.length as usize;
            let Some(data) = buf.get(start..end).map(|_| buf.slice(start..end)) else {
                break;
            };
            start = end;
            blocks.push((*block, data));
        }
        Some(Delivery {
            torrent: id,
            key,
            blocks,
        })
    }
}

/// Makes sure the torrent's picker knows the web seed as an unchoking peer with every piece.
/// Returns `false` if the picker banned it (its data failed hash checks).
fn register(now: Instant, id: TorrentId, key: PeerKey, torrents: &mut Torrents) -> bool {
    let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
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

/// Gives a run's blocks back to the picker, for any source.
fn free_blocks(run: &Run, torrents: &mut Torrents) {
    for block in &run.plan.blocks {
        reject(torrents, run.torrent, run.key, *block);
    }
}

fn reject(torrents: &mut Torrents, id: TorrentId, key: PeerKey, block: BlockRef) {
    if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
        d.picker.request_rejected(key, block);
    }
}
