//! Releasing an idle complete torrent's metainfo and loading it back (see
//! [`torrent::released`](super::torrent::released)): the release at its deadline, an inbound
//! connection held while the load runs (and, for a torrent restored from its saved state,
//! until its start check is over), and the runtime's answer (the held connections get their
//! handshake or are closed; a start or check that waited goes on).

use std::sync::Arc;
use std::time::Instant;

use super::Session;
use super::error::{LoadError, SessionError};
use super::event::{Event, PeerCloseReason};
use super::io::TorrentId;
use super::lifecycle;
use super::meta;
use super::torrent::Stage;
use super::torrent::released::{MAX_WAITING, Mismatch};
use super::torrent_error::TorrentError;
use crate::metainfo::Metainfo;

impl Session {
    /// Releases torrent `id` if its release is due at `now` and no connection of it is
    /// open or being dialled.
    pub(super) fn release_if_due(&mut self, now: Instant, id: TorrentId) {
        let due = self
            .torrents
            .get(&id)
            .and_then(|t| t.release_due())
            .is_some_and(|at| at <= now);
        if !due || self.peers.of_torrent(id) > 0 {
            return;
        }
        if self.torrents.get_mut(&id).is_some_and(|t| t.release(now)) {
            self.out.event(Event::TorrentReleased { torrent: id });
        }
    }

    /// An inbound connection's handshake named released torrent `id`: it waits (unanswered)
    /// for the metainfo, which is asked for unless a load is under way; past
    /// [`MAX_WAITING`] waiting connections it is refused. A torrent restored complete from
    /// its saved state holds it the same way from its load to the end of its start check
    /// (see [`Data::held`](super::torrent::Data::held)). Returns whether it is held or
    /// refused (else the connection joins as usual).
    pub(super) fn hold_inbound(
        &mut self,
        now: Instant,
        conn: super::ConnId,
        id: TorrentId,
    ) -> bool {
        let peers = &self.peers;
        let Some(t) = self.torrents.get_mut(&id) else {
            return false;
        };
        let checking = matches!(t.stage, Stage::Stamps | Stage::Checking);
        let (waiting, load) = match (t.released.as_mut(), t.data.as_mut()) {
            (Some(r), _) => (&mut r.load().waiting, true),
            (None, Some(d)) if checking => match d.held.as_mut() {
                Some(held) => (held, false),
                None => return false,
            },
            _ => return false,
        };
        // Those closed meanwhile (their handshake timed out, the peer left) leave the list.
        waiting.retain(|c| peers.get(*c).is_some_and(|p| p.torrent.is_none()));
        if waiting.len() >= MAX_WAITING {
            self.close_conn(now, conn, PeerCloseReason::Limit);
            return true;
        }
        waiting.push(conn);
        if load {
            lifecycle::load(now, id, t, &mut self.out);
        }
        true
    }

    /// The start check of a torrent restored from its saved state is over (see
    /// [`Data::held`](super::torrent::Data::held)): the connections held for it join it if
    /// it runs (our handshake, then its bitfield as checked), or close if it stops.
    pub(super) fn release_held(&mut self, now: Instant, id: TorrentId, runs: bool) {
        let Some(held) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.data.as_mut())
            .and_then(|d| d.held.take())
        else {
            return;
        };
        for conn in held {
            if self.peers.get(conn).is_some_and(|p| p.torrent.is_none()) {
                if runs {
                    self.join_inbound(now, conn, id);
                    self.drive(now, conn);
                } else {
                    self.close_conn(now, conn, PeerCloseReason::Stopped);
                }
            }
        }
    }

    /// The runtime's answer to a load of torrent `id`'s metainfo (see
    /// [`Session::handle_metainfo`]), with its resume data when asked for (see
    /// [`Session::handle_loaded`]).
    pub(super) fn metainfo_loaded(
        &mut self,
        now: Instant,
        id: TorrentId,
        result: Result<Arc<Metainfo>, LoadError>,
        resume: Option<Vec<u8>>,
    ) {
        let asked = self
            .torrents
            .get(&id)
            .and_then(|t| t.released.as_ref())
            .is_some_and(|r| r.loading());
        if !asked {
            return;
        }
        let seed = self.rng.next_u64();
        let config = &self.config;
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        // Added from its saved state and never verified: unless a check from nothing was
        // asked for meanwhile, its stamps decide (the start check, with its resume data).
        let verify = t.must_verify()
            && t.released
                .as_ref()
                .is_some_and(|r| r.then().recheck.is_none());
        let mut unverified = None;
        let reloaded = result.and_then(|meta| {
            let back = if verify {
                let back = t.reload_unverified(&meta, resume);
                unverified = Some(meta);
                back
            } else {
                t.reload(meta, seed, config)
            };
            back.map_err(|m| match m {
                Mismatch::InfoHash => LoadError::WrongInfoHash,
                Mismatch::Pieces => LoadError::WrongPieces,
            })
        });
        let back = match reloaded {
            Ok(back) => back,
            Err(error) => {
                let waiting = t.load_failed();
                t.error = Some(Box::new(TorrentError::Metainfo(error.clone())));
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::LoadMetainfo(error),
                });
                for conn in waiting {
                    if self.peers.get(conn).is_some_and(|p| p.torrent.is_none()) {
                        self.close_conn(now, conn, PeerCloseReason::MetainfoUnavailable);
                    }
                }
                return;
            }
        };
        if matches!(t.error.as_deref(), Some(TorrentError::Metainfo(_))) {
            t.error = None;
        }
        self.out.event(Event::TorrentReloaded { torrent: id });
        if let Some(meta) = unverified {
            // Its check: storage, then stamps; a start asked meanwhile runs once it is over.
            let (rng, config) = (&mut self.rng, &self.config);
            meta::init_data(
                id,
                meta,
                rng,
                &mut self.torrents,
                &mut self.jobs,
                config,
                &mut self.out,
            );
            // The held connections wait for the check's end: told have-none now and then
            // trickled haves, a peer would take a seed for a leecher.
            if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
                d.verify = true;
                d.held = Some(back.waiting);
            }
            return;
        }
        for conn in back.waiting {
            if self.peers.get(conn).is_some_and(|p| p.torrent.is_none()) {
                self.join_inbound(now, conn, id);
                self.drive(now, conn);
            }
        }
        if back.then.start {
            let _ = self.life(now, |cx| cx.restart(now, id));
        }
        if let Some(run) = back.then.recheck {
            let _ = self.life(now, |cx| cx.check_again(now, id, run));
        }
    }
}
