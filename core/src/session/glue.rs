//! The consequences between a torrent's parts, dispatched: a part's decision often has
//! consequences in others (a piece that passes tells every peer, a finished download closes
//! seeds, a choke refills requests), each of which drives connections again; so these steps
//! take the whole session. Here: choking, requests and blocks in (a web seed's finished run's
//! too), cancels, serving, the piece pipeline's completions (write, verify, the start check,
//! finishing), bans, a torrent's timers (announcer, choker, saves; all of them when a rate
//! limit's wait ends) and the web seeds' pump. Each asks the parts what to do and routes the
//! consequences; none keeps state of its own.

use std::collections::BTreeSet;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::disk::Next;
use super::download::{BlockIn, Limits};
use super::error::SessionError;
use super::event::{Event, PeerCloseReason};
use super::io::{Completion, ConnId, TorrentId};
use super::pipeline::{DigestsFor, Job};
use super::torrent::life::CheckOver;
use super::webseeds::Delivery;
use super::{choke, download, smart_ban, upload};
use crate::picker::PeerKey;
use crate::pieces::BlockRef;
use crate::storage::FileStamp;

impl Session {
    /// Decides who we upload to, and chokes or unchokes accordingly.
    pub(super) fn rechoke(&mut self, now: Instant, id: TorrentId) {
        let Some(unchoke) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.choke_decision(now, id, &self.peers))
        else {
            return;
        };
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn) {
                choke::apply(now, p, &unchoke);
            }
            self.drive(now, conn);
        }
    }

    /// Refuses `peers` (by address and peer id) from now on and closes their connections (see
    /// [`smart_ban::ban_target`]).
    pub(super) fn ban_peers(
        &mut self,
        now: Instant,
        id: TorrentId,
        peers: &[PeerKey],
        reason: &PeerCloseReason,
    ) {
        for &key in peers {
            let Some((who, conns)) =
                smart_ban::ban_target(&self.peers, &mut self.torrents, id, key)
            else {
                continue;
            };
            smart_ban::ban_addr(&mut self.torrents, &mut self.out, id, who, reason);
            for conn in conns {
                self.close_conn(now, conn, reason.clone());
            }
        }
    }

    /// A disk job finished: the piece pipeline takes it (see [`Jobs::complete`](super::pipeline::Jobs::complete)) and its
    /// consequences are routed. Whatever its kind, if it ends the disk back-pressure the
    /// torrent's peers are refilled: requests stopped while the disk was behind, and the
    /// peers' pipelines may have drained meanwhile, so no block arrival would refill them.
    pub(super) fn completion(&mut self, now: Instant, done: Completion) {
        let Some(id) = self.jobs.torrent_of(done.id()) else {
            return;
        };
        let was_behind = self.disk_behind(id);
        if let Some((id, next)) = self.jobs.complete(done, &mut self.torrents, &mut self.out) {
            self.after_job(now, id, next);
        }
        if was_behind && !self.disk_behind(id) {
            self.fill_all(now, id);
        }
    }

    fn disk_behind(&self, id: TorrentId) -> bool {
        self.torrents
            .get(&id)
            .is_some_and(|t| t.disk_behind(&self.config))
    }

    /// Routes what a completed disk job asks of the other parts.
    fn after_job(&mut self, now: Instant, id: TorrentId, next: Next) {
        match next {
            Next::Nothing => {}
            Next::Written => self.resume_if_drained(now, id),
            Next::Read { conn, blocks, data } => self.read_done(now, conn, &blocks, data),
            Next::Passed(piece) => self.piece_passed(now, id, piece),
            Next::Digests {
                piece,
                why,
                digests,
            } => self.block_digests_done(now, id, piece, why, digests.as_deref()),
            Next::Checked(good) => self.check_done(now, id, &good, good.len() as u32),
            Next::StartStamps(stamps) => self.start_stamps(now, id, &stamps),
            Next::DataMissing {
                conn,
                blocks,
                piece,
                error,
            } => {
                self.read_done(now, conn, &blocks, None);
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::DataMissing {
                        piece,
                        error: error.clone(),
                    },
                });
                // Running (checked by the pipeline), so the recheck is always accepted.
                let _ = self.life(now, |cx| cx.recheck(now, id));
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.data_missing(piece, error);
                }
            }
            Next::Failed {
                written,
                read,
                cancels,
            } => {
                if let Some((conn, blocks)) = read {
                    self.read_done(now, conn, &blocks, None);
                }
                self.send_cancels(now, &cancels);
                if written {
                    self.resume_if_drained(now, id);
                }
                self.life(now, |cx| cx.begin_stop(now, id));
            }
        }
    }

    /// Reading paused for the torrent's unwritten bytes resumes if they drained.
    fn resume_if_drained(&mut self, now: Instant, id: TorrentId) {
        let (torrents, config, out) = (&mut self.torrents, &self.config, &mut self.out);
        self.peers
            .resume_if_unwritten_drained(now, id, torrents, config, out);
    }

    /// A piece passed its hash check (see
    /// [`Jobs::piece_passed`](super::pipeline::Jobs::piece_passed)): requests for it elsewhere
    /// are cancelled, every peer is told, and the torrent finishes or flushes.
    pub(super) fn piece_passed(&mut self, now: Instant, id: TorrentId, piece: u32) {
        let (torrents, out) = (&mut self.torrents, &mut self.out);
        let Some(passed) = self.jobs.piece_passed(id, piece, torrents, out) else {
            return;
        };
        self.send_cancels(now, &passed.cancels);
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                let _ = p.conn.send_have(now, piece);
                if p.conn.am_interested() {
                    self.update_interest(now, conn);
                }
            }
            self.drive(now, conn);
        }
        if passed.finished {
            self.torrent_finished(now, id);
        } else {
            self.jobs
                .flush_if_due(id, &mut self.torrents, &self.config, &mut self.out);
        }
    }

    /// A piece failed its hash check (see
    /// [`Torrent::piece_failed`](super::torrent::Torrent::piece_failed)): strikes and bans, then
    /// download it again.
    pub(super) fn piece_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: Option<&[[u8; 32]]>,
    ) {
        let Some(failed) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.piece_failed(piece, digests))
        else {
            return;
        };
        self.out.event(Event::PieceFailed { torrent: id, piece });
        self.send_cancels(now, &failed.cancels);
        let (web, mut cx) = self.web_cx();
        web.hash_failed(
            now,
            id,
            piece,
            &failed.contributors,
            &failed.banned,
            &mut cx,
        );
        self.ban_peers(now, id, &failed.banned, &PeerCloseReason::Banned);
        self.fill_all(now, id);
    }

    /// A `BlockDigests` job finished (`digests` is `None` when it failed): a failed piece is
    /// downloaded again, a passed one bans the peers whose blocks differed, a peer's
    /// block-layer hash request is answered.
    pub(super) fn block_digests_done(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        why: DigestsFor,
        digests: Option<&[[u8; 32]]>,
    ) {
        match why {
            DigestsFor::Failed => {
                // A torrent that stopped meanwhile strikes nobody: the piece waits, picked
                // again from nothing, for the next start.
                let Some(t) = self.torrents.get_mut(&id) else {
                    return;
                };
                if !t.is_active() {
                    if let Some(d) = t.data.as_mut() {
                        let _ = d.picker.piece_lost(piece);
                    }
                    return;
                }
                if let Some(digests) = digests
                    && self.meta(now, |cx| cx.check_leaves(now, id, piece, digests))
                {
                    return;
                }
                self.piece_failed(now, id, piece, digests);
            }
            DigestsFor::HashRequest(asked) => {
                let (conn, request) = *asked;
                self.meta(now, |cx| {
                    cx.block_hashes_read(now, id, conn, request, digests);
                });
            }
            DigestsFor::Passed => {
                let Some(digests) = digests else {
                    return;
                };
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                let bad = d.picker.check_passed_blocks(piece, digests);
                self.ban_peers(now, id, &bad, &PeerCloseReason::SmartBanned);
            }
        }
    }

    /// Requests as many blocks from a peer as allowed (see [`download::fill`]).
    pub(super) fn fill(&mut self, now: Instant, conn: ConnId) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        download::fill(now, conn, &mut self.peers, &mut self.torrents, limits);
    }

    /// [`Self::fill`] for every connection of a torrent, then drains them.
    pub(super) fn fill_all(&mut self, now: Instant, id: TorrentId) {
        for conn in self.peers.ids_of(id) {
            self.fill(now, conn);
            self.drive(now, conn);
        }
    }

    /// A block arrived: it goes to the piece pipeline as a write (see [`download::block_in`]);
    /// the reading may pause, requests elsewhere for it are cancelled, the pipeline refilled.
    pub(super) fn on_block(&mut self, now: Instant, conn: ConnId, block: BlockRef, data: Bytes) {
        let limits = Limits {
            limit: &mut self.down_limit,
            config: &self.config,
            wire: &self.wire,
        };
        let (peers, torrents) = (&mut self.peers, &mut self.torrents);
        let Some((
            id,
            BlockIn {
                verify_now,
                cancels,
            },
        )) = download::block_in(now, conn, block, peers, torrents, limits)
        else {
            return;
        };
        self.write_block(id, block, data, verify_now);
        let (torrents, config, out) = (&self.torrents, &self.config, &mut self.out);
        self.peers
            .pause_if_unwritten_full(conn, id, torrents, config, out);
        self.send_cancels(now, &cancels);
        self.fill(now, conn);
    }

    /// A block the picker took (a peer's or a web seed's) goes to the piece pipeline as a
    /// write; its piece is verified once complete and written.
    pub(super) fn write_block(
        &mut self,
        id: TorrentId,
        block: BlockRef,
        data: Bytes,
        verify: bool,
    ) {
        let (torrents, out) = (&mut self.torrents, &mut self.out);
        self.jobs
            .issue(id, Job::Write { block, data }, torrents, out);
        if verify {
            self.jobs.verify(id, block.piece, torrents, out);
        }
    }

    /// Cancels requests the picker no longer needs.
    pub(super) fn send_cancels(&mut self, now: Instant, cancels: &[(PeerKey, BlockRef)]) {
        for (key, r) in cancels {
            if let Some(other) = self.peers.by_key(*key) {
                if let Some(p) = self.peers.get_mut(other) {
                    let _ = p.conn.cancel(now, *r);
                }
                self.drive(now, other);
            }
        }
    }

    /// Reads blocks the peer requested (see [`upload::plan_reads`]).
    pub(super) fn serve(&mut self, now: Instant, conn: ConnId) {
        let (peers, torrents) = (&mut self.peers, &mut self.torrents);
        let Some((id, runs)) =
            upload::plan_reads(now, conn, peers, torrents, &mut self.up_limit, &self.config)
        else {
            return;
        };
        for blocks in runs {
            self.jobs.issue(
                id,
                Job::Read { conn, blocks },
                &mut self.torrents,
                &mut self.out,
            );
        }
    }

    /// A read for an upload finished (see [`upload::send_read`]); serving goes on.
    pub(super) fn read_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        blocks: &[BlockRef],
        data: Option<Bytes>,
    ) {
        if !upload::send_read(now, conn, blocks, data, &mut self.peers, &mut self.torrents) {
            return;
        }
        // Hand the blocks over first: serving looks at the send backlog they join.
        self.drive(now, conn);
        self.serve(now, conn);
        self.drive(now, conn);
    }

    /// The files' stamps arrived at start: the pipeline starts the check (see
    /// [`Jobs::start_check`](super::pipeline::Jobs::start_check)), over at once if nothing
    /// needs hashing.
    fn start_stamps(&mut self, now: Instant, id: TorrentId, stamps: &[Option<FileStamp>]) {
        if self
            .jobs
            .start_check(id, stamps, &mut self.torrents, &mut self.out)
        {
            self.finish_check(now, id);
        }
    }

    /// A `Check` job finished with the pieces found good.
    fn check_done(&mut self, now: Instant, id: TorrentId, good: &[u32], hashed: u32) {
        if self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.check_done(good, hashed))
        {
            self.finish_check(now, id);
        }
    }

    /// The start check is over (see [`Torrent::finish_check`](super::torrent::Torrent)): run
    /// (or stop, if held).
    pub(super) fn finish_check(&mut self, now: Instant, id: TorrentId) {
        let Some(over) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.finish_check(id, &mut self.out))
        else {
            return;
        };
        let CheckOver::Run {
            have,
            create,
            swarm_started,
        } = over
        else {
            self.release_held(now, id, false);
            self.life(now, |cx| cx.begin_stop(now, id));
            return;
        };
        if !create.is_empty() {
            let job = Job::Create { files: create };
            self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
        }
        // Connections opened before the metadata (magnet) learn our pieces now.
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                for &piece in &have {
                    let _ = p.conn.send_have(now, piece);
                }
            }
            self.update_interest(now, conn);
            self.drive(now, conn);
        }
        self.release_held(now, id, true);
        if !swarm_started {
            self.life(now, |cx| cx.start_swarm(now, id));
        }
        self.rechoke(now, id);
        self.fill_all(now, id);
    }

    /// Every wanted piece is verified (during the download): trackers told, data saved, seeds
    /// closed if we are one.
    pub(super) fn torrent_finished(&mut self, now: Instant, id: TorrentId) {
        let out = &mut self.out;
        if !self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.finish(now, id, out))
        {
            return;
        }
        self.life(now, |cx| cx.pump_announcer(now, id));
        // Flush and save at once: a finished download should survive a crash.
        self.jobs.start_save(id, &mut self.torrents, &mut self.out);
        if self.torrents[&id].is_seed() {
            for conn in self.peers.ids_of(id) {
                if self.peers.get(conn).is_some_and(|p| p.seed) {
                    self.close_conn(now, conn, PeerCloseReason::BothSeeds);
                }
            }
        }
        self.rechoke(now, id);
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
        if taken > 0
            && let Some(t) = self.torrents.get_mut(&run.torrent)
        {
            t.source_back();
        }
    }

    /// The torrents' deadlines due at `now`, in id order; every torrent's if a rate limit's
    /// wait just ended (requesting and serving, stopped by it, resume).
    pub(super) fn torrent_timeouts(&mut self, now: Instant) {
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
            return;
        }
        // Only the torrents due; one may make another due, handled in its turn (in id order,
        // as a full pass would).
        let mut due: BTreeSet<TorrentId> = self.torrents_due(now).into_iter().collect();
        while let Some(id) = due.pop_first() {
            self.torrent_timeout(now, id, false);
            let dht = self.dht.is_some();
            let more = self.torrents.refresh_changed(now, dht);
            due.extend(more.into_iter().filter(|other| *other > id));
        }
    }

    /// The torrents whose deadline is due at `now` (deadlines filed afresh first), in id
    /// order.
    pub(super) fn torrents_due(&mut self, now: Instant) -> Vec<TorrentId> {
        let dht = self.dht.is_some();
        self.torrents.refresh_deadlines(now, dht);
        self.torrents.due(now)
    }

    /// A torrent's announcer and own timers due at `now`.
    fn torrent_timeout(&mut self, now: Instant, id: TorrentId, limited: bool) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if let Some(a) = t.announcer.as_mut()
            && a.poll_timeout().is_some_and(|at| at <= now)
        {
            a.handle_timeout(now);
            self.life(now, |cx| cx.pump_announcer(now, id));
        }
        self.release_if_due(now, id);
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
}
