//! A torrent restored from its saved state as complete (issue 25,
//! [`TorrentOptions::saved_complete`](super::TorrentOptions::saved_complete)): added in the
//! released form (see [`torrent::released`](super::torrent::released)) without its resume data
//! read, its storage opened or a check, announcing with `left` 0 at once; and the verdict at
//! its first load, when its resume data and its files' stamps are at hand: all stamps as
//! saved and every piece recorded, it seeds as saved; otherwise ([`Untrusted`]) the start
//! check hashes what the resume data does not vouch for, as for any torrent added with
//! resume data.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::Session;
use super::io::TorrentId;
use crate::layout::Layout;
use crate::metainfo::Metainfo;
use crate::storage::{FileStamp, ResumeData, ResumeError};

/// Why a torrent added complete from its saved state is not trusted as saved when it loads
/// (see [`Event::Unverified`](super::Event::Unverified)): what the resume data does not vouch
/// for is hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untrusted {
    /// It has no resume data (the file is gone or unreadable).
    NoResume,
    /// Its resume data cannot be used.
    Resume(ResumeError),
    /// Some of its files' sizes or modification times changed since the save (or the files
    /// are gone).
    FilesChanged {
        /// Files whose stamp differs.
        files: u32,
    },
    /// Its resume data does not record every piece.
    PiecesMissing {
        /// Pieces not recorded.
        pieces: u32,
    },
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoResume => f.write_str("no resume data: its data is checked"),
            Self::Resume(e) => write!(f, "{e}: its data is checked"),
            Self::FilesChanged { files } => write!(
                f,
                "{files} file(s) changed since the state was saved: their pieces are checked"
            ),
            Self::PiecesMissing { pieces } => {
                write!(
                    f,
                    "the resume data lacks {pieces} piece(s): they are fetched"
                )
            }
        }
    }
}

/// Whether the resume data `resume` and the files' `stamps` now let a torrent of `layout`
/// saved as complete be trusted as it was saved (hostile bytes: a typed answer, no panic).
pub(crate) fn verdict(
    resume: Option<&[u8]>,
    layout: &Layout,
    stamps: &[Option<FileStamp>],
) -> Result<(), Untrusted> {
    let resume = ResumeData::decode(resume.ok_or(Untrusted::NoResume)?, layout)
        .map_err(Untrusted::Resume)?;
    let changed = (layout.files().iter().enumerate())
        .filter(|(i, f)| {
            let now = stamps.get(*i).copied().flatten();
            let then = resume.files.get(*i).copied().flatten();
            !f.padding && (now != then || f.length > 0 && now.is_none())
        })
        .count();
    if changed > 0 {
        return Err(Untrusted::FilesChanged {
            files: u32::try_from(changed).unwrap_or(u32::MAX),
        });
    }
    let missing = layout.piece_count() - resume.pieces.count();
    if missing > 0 {
        return Err(Untrusted::PiecesMissing { pieces: missing });
    }
    Ok(())
}

impl Session {
    /// Adds torrent `id` (just added from `meta`) in the released form as complete per its
    /// saved state, and starts its swarm: it announces at once (through the budget).
    pub(super) fn add_saved(&mut self, now: Instant, id: TorrentId, meta: &Arc<Metainfo>) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.adopt_saved(meta);
        self.life(now, |cx| cx.start_swarm(now, id));
    }
}

#[cfg(test)]
#[path = "lazy_tests.rs"]
mod tests;
