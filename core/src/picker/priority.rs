//! Piece priorities: skip / low / normal / high, and deriving them from per-file priorities.

use crate::layout::Layout;

/// How much we want a piece (or a file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// Do not download.
    Skip,
    /// Download after every normal and high piece a peer could give.
    Low,
    /// Download, rarest first.
    #[default]
    Normal,
    /// Download before any normal piece.
    High,
}

/// Each piece's priority from its files' priorities: the highest priority among the
/// non-padding files the piece touches (a piece shared by a skipped file and a wanted one must
/// be downloaded). Pieces touching only padding get [`Priority::Skip`]. Costs
/// O(files + pieces). Missing entries in `files` count as [`Priority::Normal`].
pub(crate) fn piece_priorities(layout: &Layout, files: &[Priority]) -> Vec<Priority> {
    let mut out = vec![Priority::Skip; layout.piece_count() as usize];
    for (i, extent) in layout.files().iter().enumerate() {
        if extent.padding {
            continue;
        }
        let prio = files.get(i).copied().unwrap_or_default();
        for piece in layout.file_pieces(i) {
            let slot = &mut out[piece as usize];
            *slot = (*slot).max(prio);
        }
    }
    out
}

/// [`piece_priorities`] with qBittorrent's "first and last piece priority": the first and last
/// piece of every wanted (not skipped), non-padding, non-empty file are raised to
/// [`Priority::High`], so a player can read the file's header and index early.
pub(crate) fn piece_priorities_first_last(layout: &Layout, files: &[Priority]) -> Vec<Priority> {
    let mut out = piece_priorities(layout, files);
    for (i, extent) in layout.files().iter().enumerate() {
        if extent.padding
            || extent.length == 0
            || files.get(i).copied().unwrap_or_default() == Priority::Skip
        {
            continue;
        }
        let mut pieces = layout.file_pieces(i);
        let first = pieces.next();
        let last = pieces.next_back().or(first);
        for piece in [first, last].into_iter().flatten() {
            out[piece as usize] = Priority::High;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_pieces_take_the_highest_priority() {
        // piece length 10: file 0 = bytes 0..15, padding 15..20, file 2 = 20..35, file 3 = 35..40
        let layout = Layout::new(10, [(15, false), (5, true), (15, false), (5, false)]).unwrap();
        let prios = piece_priorities(
            &layout,
            &[
                Priority::Skip,
                Priority::High,
                Priority::Normal,
                Priority::High,
            ],
        );
        assert_eq!(
            prios,
            [
                Priority::Skip,
                Priority::Skip,
                Priority::Normal,
                Priority::High
            ]
        );
    }

    #[test]
    fn low_loses_to_normal_in_shared_pieces() {
        // piece length 10: file 0 = 0..15 (low), file 1 = 15..30 (normal), file 2 = 30..40 (low)
        let layout = Layout::new(10, [(15, false), (15, false), (10, false)]).unwrap();
        let prios = piece_priorities(&layout, &[Priority::Low, Priority::Normal, Priority::Low]);
        assert_eq!(
            prios,
            [
                Priority::Low,
                Priority::Normal,
                Priority::Normal,
                Priority::Low
            ]
        );
    }

    #[test]
    fn first_and_last_pieces_of_wanted_files_are_high() {
        // piece length 10: file 0 = 0..45 (pieces 0-4), file 1 = 45..50 (skipped, piece 4),
        // file 2 = 50..55 (one piece, 5), empty file 3, file 4 = 55..80 (pieces 5-7)
        let layout = Layout::new(
            10,
            [(45, false), (5, false), (5, false), (0, false), (25, false)],
        )
        .unwrap();
        let files = [
            Priority::Low,
            Priority::Skip,
            Priority::Normal,
            Priority::Normal,
            Priority::Normal,
        ];
        assert_eq!(
            piece_priorities_first_last(&layout, &files),
            [
                Priority::High,
                Priority::Low,
                Priority::Low,
                Priority::Low,
                Priority::High,
                Priority::High,
                Priority::Normal,
                Priority::High,
            ]
        );
        let skipped = [Priority::Skip; 5];
        assert_eq!(
            piece_priorities_first_last(&layout, &skipped),
            [Priority::Skip; 8]
        );
    }
}
