//! BEP 47 padding in the picker: a block that lies wholly inside padding files is zeros that
//! nobody needs to send, so it counts as received from the moment its piece starts; a piece
//! made only of padding is had from the start, without any peer.

use crate::layout::Layout;

use super::blocks::BLOCK_LEN;

/// A torrent's padding files as ranges of its byte stream, adjacent ones merged, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Padding {
    ranges: Vec<(u64, u64)>,
    piece_length: u64,
}

impl Padding {
    /// The padding of `layout`.
    pub(crate) fn of(layout: &Layout) -> Self {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for f in layout.files().iter().filter(|f| f.padding && f.length > 0) {
            let end = f.offset + f.length;
            match ranges.last_mut() {
                Some(last) if last.1 == f.offset => last.1 = end,
                _ => ranges.push((f.offset, end)),
            }
        }
        Self {
            ranges,
            piece_length: u64::from(layout.piece_length()),
        }
    }

    /// Whether every byte of the stream range `start..end` lies in padding.
    fn covers(&self, start: u64, end: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 <= start);
        self.ranges
            .get(i)
            .is_some_and(|r| r.0 <= start && end <= r.1)
    }

    /// The blocks of `piece` (`piece_len` bytes long) that are wholly padding, in order.
    pub(crate) fn blocks(&self, piece: u32, piece_len: u32) -> Vec<u32> {
        let start = u64::from(piece) * self.piece_length;
        let end = start + u64::from(piece_len);
        let i = self.ranges.partition_point(|r| r.1 <= start);
        if self.ranges.get(i).is_none_or(|r| r.0 >= end) {
            return Vec::new();
        }
        (0..piece_len.div_ceil(BLOCK_LEN))
            .filter(|b| {
                let from = start + u64::from(b * BLOCK_LEN);
                let to = (from + u64::from(BLOCK_LEN)).min(end);
                self.covers(from, to)
            })
            .collect()
    }

    /// The pieces of `layout` made only of padding.
    pub(crate) fn pieces(&self, layout: &Layout) -> Vec<u32> {
        let mut out = Vec::new();
        for &(start, end) in &self.ranges {
            let first = (start / self.piece_length) as u32;
            let last = ((end - 1) / self.piece_length) as u32;
            for p in first..=last {
                let from = layout.piece_offset(p);
                let len = layout.piece_len(p);
                if len > 0 && self.covers(from, from + u64::from(len)) && out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::picker::{PeerKey, PeerRate, Picker, PickerConfig, Received};
    use crate::pieces::BlockRef;

    const K: u64 = 16 * 1024;

    #[test]
    fn blocks_wholly_in_padding_and_pieces_made_of_it() {
        // Pieces of 64 KiB: a 5,000-byte file, padding to the piece's end (61,536 bytes: the
        // piece's blocks 1..4 are padding, block 0 is partly data); a file of one piece and a
        // half, padding split in two files up to the end of a piece, then 2 pieces of padding
        // and an empty file between them, and a last 100-byte file.
        let layout = Layout::new(
            (4 * K) as u32,
            [
                (5_000, false),
                (4 * K - 5_000, true),
                (6 * K, false),
                (K, true),
                (K, true),
                (4 * K, true),
                (0, false),
                (4 * K, true),
                (100, false),
            ],
        )
        .unwrap();
        let pad = Padding::of(&layout);
        assert_eq!(
            pad.ranges.len(),
            2,
            "adjacent padding merges: {:?}",
            pad.ranges
        );
        assert_eq!(pad.blocks(0, layout.piece_len(0)), [1, 2, 3]);
        assert_eq!(pad.blocks(1, layout.piece_len(1)), Vec::<u32>::new());
        assert_eq!(pad.blocks(2, layout.piece_len(2)), [2, 3]);
        assert_eq!(pad.blocks(3, layout.piece_len(3)), [0, 1, 2, 3]);
        assert_eq!(pad.blocks(5, layout.piece_len(5)), Vec::<u32>::new());
        assert_eq!(pad.pieces(&layout), [3, 4]);
        let plain = Layout::new((4 * K) as u32, [(9 * K, false)]).unwrap();
        assert!(Padding::of(&plain).pieces(&plain).is_empty());
        assert!(Padding::of(&plain).blocks(0, (4 * K) as u32).is_empty());
    }

    #[test]
    fn the_picker_never_asks_for_padding_and_has_pieces_of_padding() {
        // Pieces of 64 KiB: 20,000 bytes of data then padding to the piece's end (blocks 2
        // and 3 wholly padding), a piece of padding only, and 70,000 bytes of data.
        let layout = Layout::new(
            (4 * K) as u32,
            [
                (20_000, false),
                (4 * K - 20_000, true),
                (4 * K, true),
                (70_000, false),
            ],
        )
        .unwrap();
        let now = Instant::now();
        let mut p = Picker::new(&layout, PickerConfig::default(), 3);
        assert_eq!(
            p.have().iter().collect::<Vec<_>>(),
            [1],
            "padding only: had"
        );
        let seed = PeerKey(7);
        p.add_peer(seed);
        p.peer_have_all(seed).unwrap();
        p.peer_unchoked(now, seed);
        let rate = PeerRate {
            download_rate: 1 << 30,
            rtt: Duration::ZERO,
            reqq: 250,
        };
        let mut asked = p.pick(now, seed, rate);
        asked.sort_by_key(|b| (b.piece, b.offset));
        let at = |piece, offset, length| BlockRef {
            piece,
            offset,
            length,
        };
        let b = BLOCK_LEN;
        assert_eq!(
            asked,
            [
                at(0, 0, b),
                at(0, b, b),
                at(2, 0, b),
                at(2, b, b),
                at(2, 2 * b, b),
                at(2, 3 * b, b),
                at(3, 0, 70_000 - 4 * b)
            ]
        );
        p.check_invariants().unwrap();
        let complete = |r| matches!(r, Received::Accepted { piece_complete, .. } if piece_complete);
        assert!(!complete(p.block_received(now, seed, at(0, 0, b))));
        assert!(
            complete(p.block_received(now, seed, at(0, b, b))),
            "data blocks are all it needs"
        );
        assert!(
            matches!(
                p.block_received(now, seed, at(0, 2 * b, b)),
                Received::Duplicate | Received::Unwanted
            ),
            "a padding block sent unasked is not taken"
        );
        p.check_invariants().unwrap();
        let _ = p.piece_passed(0);
        assert!(!p.is_finished());
        for block in [
            at(2, 0, b),
            at(2, b, b),
            at(2, 2 * b, b),
            at(2, 3 * b, b),
            at(3, 0, 70_000 - 4 * b),
        ] {
            let _ = p.block_received(now, seed, block);
        }
        let _ = p.piece_passed(2);
        let _ = p.piece_passed(3);
        assert!(p.is_finished() && p.is_seed());
        p.check_invariants().unwrap();
    }
}
