//! Time-critical pieces ([`Picker::set_deadlines`]): earliest deadline first, ahead of partial
//! pieces, rarest first and sequential order; several readers; bounds.

use std::time::{Duration, Instant};

use super::*;

const RATE: PeerRate = PeerRate {
    download_rate: 1 << 30,
    rtt: Duration::ZERO,
    reqq: 250,
};

/// `pieces` pieces of two blocks each, and an unchoking peer with all of them.
fn picker(pieces: u32, config: PickerConfig) -> (Picker, Instant) {
    let layout = Layout::new(
        2 * BLOCK_LEN,
        [(u64::from(pieces) * 2 * u64::from(BLOCK_LEN), false)],
    )
    .unwrap();
    let mut p = Picker::new(&layout, config, 7);
    let now = Instant::now();
    p.add_peer(PeerKey(0));
    p.peer_have_all(PeerKey(0)).unwrap();
    p.peer_unchoked(now, PeerKey(0));
    (p, now)
}

/// The pieces of `reqs`, in order, each once.
fn pieces(reqs: &[BlockRef]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for r in reqs {
        if out.last() != Some(&r.piece) {
            out.push(r.piece);
        }
    }
    out
}

#[test]
fn deadlines_come_before_partial_pieces_and_rarest_first() {
    let (mut p, now) = picker(40, PickerConfig::default());
    // A partial piece: one of its two blocks requested.
    let first = p.pick(now, PeerKey(0), PeerRate { reqq: 1, ..RATE });
    let partial = first[0].piece;
    let (a, b) = ((partial + 11) % 40, (partial + 23) % 40);
    p.set_deadlines(
        1,
        &[
            (a, now + Duration::from_secs(2)),
            (b, now + Duration::from_secs(1)),
        ],
    )
    .unwrap();
    assert_eq!(p.deadline_pieces().collect::<Vec<_>>(), [b, a]);
    let reqs = p.pick(now, PeerKey(0), PeerRate { reqq: 6, ..RATE });
    assert_eq!(pieces(&reqs)[..3], [b, a, partial], "{reqs:?}");
    assert_eq!(
        reqs.len(),
        5,
        "both blocks of each, then the partial piece's other"
    );
    p.check_invariants().unwrap();
}

#[test]
fn deadlines_come_before_sequential_order() {
    let config = PickerConfig {
        sequential: true,
        ..PickerConfig::default()
    };
    let (mut p, now) = picker(40, config);
    p.set_deadlines(1, &[(30, now)]).unwrap();
    let reqs = p.pick(now, PeerKey(0), PeerRate { reqq: 4, ..RATE });
    assert_eq!(pieces(&reqs), [30, 0]);
    p.check_invariants().unwrap();
}

#[test]
fn readers_share_pieces_and_clear_only_their_own() {
    let (mut p, now) = picker(40, PickerConfig::default());
    let s = |n| now + Duration::from_secs(n);
    p.set_deadlines(1, &[(5, s(5)), (6, s(6))]).unwrap();
    p.set_deadlines(2, &[(6, s(1)), (9, s(9)), (6, s(8))])
        .unwrap();
    // Piece 6 takes the earliest deadline any reader gave it.
    assert_eq!(p.deadline_pieces().collect::<Vec<_>>(), [6, 5, 9]);
    // A reader's new list replaces its old one.
    p.set_deadlines(1, &[(7, s(0))]).unwrap();
    assert_eq!(p.deadline_pieces().collect::<Vec<_>>(), [7, 6, 9]);
    p.clear_deadlines(2);
    assert_eq!(p.deadline_pieces().collect::<Vec<_>>(), [7]);
    p.set_deadlines(1, &[]).unwrap();
    assert_eq!(p.deadline_pieces().count(), 0);
    // Nothing is time-critical any more: rarest first (random among equals) picks.
    let reqs = p.pick(now, PeerKey(0), PeerRate { reqq: 2, ..RATE });
    assert_eq!(reqs.len(), 2);
}

#[test]
fn pieces_had_or_skipped_are_passed_over() {
    let (mut p, now) = picker(40, PickerConfig::default());
    let _ = p.piece_passed(3);
    p.set_priority(4, Priority::Skip).unwrap();
    p.set_deadlines(1, &[(3, now), (4, now), (8, now + Duration::from_secs(1))])
        .unwrap();
    assert_eq!(p.deadline_pieces().collect::<Vec<_>>(), [8]);
    let reqs = p.pick(now, PeerKey(0), PeerRate { reqq: 2, ..RATE });
    assert_eq!(pieces(&reqs), [8]);
    // A peer without the piece gets other pieces.
    p.add_peer(PeerKey(1));
    let without8: Vec<u32> = (0..40).filter(|&x| x != 8 && x != 9).collect();
    let mut set = PieceSet::new(40);
    for x in without8 {
        set.insert(x);
    }
    p.peer_bitfield(PeerKey(1), &set.to_bitfield()).unwrap();
    p.peer_unchoked(now, PeerKey(1));
    p.set_deadlines(1, &[(9, now)]).unwrap();
    let reqs = p.pick(now, PeerKey(1), PeerRate { reqq: 2, ..RATE });
    assert!(!pieces(&reqs).contains(&9), "{reqs:?}");
    p.check_invariants().unwrap();
}

#[test]
fn deadlines_are_bounded() {
    let (mut p, now) = picker(200, PickerConfig::default());
    assert_eq!(
        p.set_deadlines(1, &[(200, now)]),
        Err(PickerError::PieceOutOfRange {
            piece: 200,
            piece_count: 200
        })
    );
    // One reader keeps its earliest pieces only.
    let many: Vec<(u32, Instant)> = (0..150)
        .map(|i| (i, now + Duration::from_millis(u64::from(150 - i))))
        .collect();
    p.set_deadlines(1, &many).unwrap();
    let kept: Vec<u32> = p.deadline_pieces().collect();
    assert_eq!(kept.len(), MAX_DEADLINES_PER_READER);
    assert_eq!(kept[0], 149);
    for r in 2..=MAX_DEADLINE_READERS as u64 {
        p.set_deadlines(r, &[(0, now)]).unwrap();
    }
    assert_eq!(
        p.set_deadlines(1000, &[(0, now)]),
        Err(PickerError::TooManyReaders)
    );
    // A reader already known may still change its list.
    p.set_deadlines(2, &[(1, now)]).unwrap();
    p.clear_deadlines(3);
    p.set_deadlines(1000, &[(0, now)]).unwrap();
}
