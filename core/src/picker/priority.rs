//! Piece priorities: skip / normal / high, and deriving them from per-file priorities.

use crate::layout::Layout;

/// How much we want a piece (or a file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// Do not download.
    Skip,
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
pub fn piece_priorities(layout: &Layout, files: &[Priority]) -> Vec<Priority> {
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
}
