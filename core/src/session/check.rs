//! The start check: what the files' stamps and the resume data let us trust, which pieces to
//! hash (the piece pipeline issues the `Check` jobs), and the hashes as they come back. (The
//! session runs the torrent once the check is over.)

use super::event::Event;
use super::io::TorrentId;
use super::outputs::Outputs;
use super::pipeline::{Job, Jobs};
use super::torrent::table::Torrents;
use super::torrent::{Stage, Torrent};
use crate::metainfo::PieceHash;
use crate::pieces::PieceSet;
use crate::storage::{FileStamp, ResumeData};

impl Torrent {
    /// The files' stamps arrived at start: the pieces the resume data vouches for are ours;
    /// returns the pieces to hash with their expected hashes (empty: nothing to check; the
    /// torrent is then checking). `None`: the torrent has no metadata.
    pub(crate) fn plan_check(
        &mut self,
        stamps: &[Option<FileStamp>],
    ) -> Option<Vec<(u32, PieceHash)>> {
        let d = self.data.as_mut()?;
        let layout = d.meta.layout();
        let n = layout.piece_count();
        let mut check = PieceSet::new(n);
        let mut trusted = PieceSet::new(n);
        let resume = d
            .resume
            .take()
            .and_then(|bytes| ResumeData::decode(&bytes, layout).ok());
        if self.options.seed_only {
            check = PieceSet::full(n);
        } else if let Some(resume) = resume {
            let plan = resume.plan(layout, stamps);
            trusted = plan.trusted().clone();
            for p in plan.recheck().iter() {
                check.insert(p);
            }
        } else {
            // No usable resume data: hash the pieces of files that exist with data (a crash
            // without a save, or data put there by the user).
            for (i, extent) in layout.files().iter().enumerate() {
                let exists = stamps.get(i).copied().flatten().is_some_and(|s| s.size > 0);
                if !extent.padding && exists {
                    for p in layout.file_pieces(i) {
                        check.insert(p);
                    }
                }
            }
        }
        for p in trusted.iter() {
            let _ = d.picker.piece_passed(p);
            d.bits.insert(p);
            d.pipeline.recorded.insert(p);
            check.remove(p);
        }
        let pieces: Vec<(u32, PieceHash)> = check
            .iter()
            .filter_map(|p| d.meta.expected_hash(p).map(|h| (p, h)))
            .collect();
        if !pieces.is_empty() {
            self.stage = Stage::Checking;
            d.pipeline.checked = 0;
        }
        Some(pieces)
    }

    /// Added complete from its saved state and loaded (see [`lazy`](super::lazy)): if its
    /// resume data and `stamps` do not vouch for every piece, it is told why
    /// ([`Event::Unverified`]) and is no longer taken as complete (the check decides).
    fn verify_saved(&mut self, id: TorrentId, stamps: &[Option<FileStamp>], out: &mut Outputs) {
        let Some(d) = self.data.as_mut().filter(|d| d.verify) else {
            return;
        };
        d.verify = false;
        if let Err(reason) = super::lazy::verdict(d.resume.as_deref(), d.meta.layout(), stamps) {
            self.complete_sent = false;
            out.event(Event::Unverified {
                torrent: id,
                reason,
            });
        }
    }

    /// A `Check` job finished with the pieces found good (of `hashed`). Returns whether it
    /// was the last one (the check is over).
    pub(crate) fn check_done(&mut self, good: &[u32], hashed: u32) -> bool {
        let Some(d) = self.data.as_mut() else {
            return false;
        };
        d.pipeline.checks = d.pipeline.checks.saturating_sub(1);
        d.pipeline.checked += hashed;
        for &p in good {
            if p < d.picker.piece_count() {
                let _ = d.picker.piece_passed(p);
                d.bits.insert(p);
                let len = u64::from(d.meta.layout().piece_len(p));
                d.pipeline.verified(p, len);
            }
        }
        d.pipeline.checks == 0
    }
}

/// Pieces hashed per `Check` job (several jobs run in parallel on the runtime's workers).
const CHECK_BATCH: usize = 64;

impl Jobs {
    /// The files' stamps arrived at start: trust what they allow (see
    /// [`Torrent::plan_check`]), then check the rest with `Check` jobs. Returns whether the
    /// check is over already (nothing to hash).
    pub(crate) fn start_check(
        &mut self,
        id: TorrentId,
        stamps: &[Option<FileStamp>],
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> bool {
        if let Some(t) = torrents.get_mut(&id) {
            t.verify_saved(id, stamps, out);
        }
        let Some(pieces) = torrents.get_mut(&id).and_then(|t| t.plan_check(stamps)) else {
            return false;
        };
        if pieces.is_empty() {
            return true;
        }
        out.event(Event::Checking {
            torrent: id,
            pieces: pieces.len() as u32,
        });
        for batch in pieces.chunks(CHECK_BATCH) {
            if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
                d.pipeline.checks += 1;
            }
            let job = Job::Check {
                pieces: batch.to_vec(),
            };
            self.issue(id, job, torrents, out);
        }
        false
    }
}
