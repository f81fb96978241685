//! The start check, the torrent's side: what the files' stamps and the resume data let us
//! trust, which pieces to hash, and the hashes as they come back. (The session issues the
//! `Check` jobs and runs the torrent once the check is over: `lifecycle`.)

use super::torrent::{Stage, Torrent};
use crate::pieces::PieceSet;
use crate::storage::{FileStamp, ResumeData};

impl Torrent {
    /// The files' stamps arrived at start: the pieces the resume data vouches for are ours;
    /// returns the pieces to hash with their expected hashes (empty: nothing to check; the
    /// torrent is then checking). `None`: the torrent has no metadata.
    pub(crate) fn plan_check(
        &mut self,
        stamps: &[Option<FileStamp>],
    ) -> Option<Vec<(u32, [u8; 20])>> {
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
        let pieces: Vec<(u32, [u8; 20])> = check
            .iter()
            .filter_map(|p| d.meta.piece_hash(p).map(|h| (p, *h)))
            .collect();
        if !pieces.is_empty() {
            self.stage = Stage::Checking;
            d.pipeline.checked = 0;
        }
        Some(pieces)
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
