//! The smart ban in the session: a failed piece's blocks are read back and their digests
//! recorded with who sent each; when the piece later passes, its blocks are read again and any
//! peer whose block differed from the good one is banned and closed (see
//! [`crate::picker::Picker::check_passed_blocks`]).

use std::time::Instant;

use super::Session;
use super::disk::DigestsFor;
use super::event::PeerCloseReason;
use super::io::TorrentId;

impl Session {
    /// A `BlockDigests` job finished (`digests` is `None` when it failed).
    pub(super) fn block_digests_done(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        why: DigestsFor,
        digests: Option<&[[u8; 20]]>,
    ) {
        match why {
            DigestsFor::Failed => {
                // A torrent that stopped meanwhile downloads nothing again.
                if self.torrents.get(&id).is_some_and(|t| t.is_active()) {
                    self.piece_failed(now, id, piece, digests);
                }
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
}
