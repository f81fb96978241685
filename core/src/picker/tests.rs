use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::pick::pipeline_depth;
use super::*;

const RATE: PeerRate = PeerRate {
    download_rate: 1 << 30,
    rtt: Duration::ZERO,
    reqq: 250,
};

fn layout(pieces: u32, piece_length: u32) -> Layout {
    Layout::new(
        piece_length,
        [(u64::from(pieces) * u64::from(piece_length), false)],
    )
    .unwrap()
}

fn picker(pieces: u32, piece_length: u32) -> Picker {
    Picker::new(&layout(pieces, piece_length), PickerConfig::default(), 1)
}

fn bitfield(n: u32, pieces: &[u32]) -> Vec<u8> {
    let mut s = PieceSet::new(n);
    for &p in pieces {
        s.insert(p);
    }
    s.to_bitfield()
}

/// Adds `keys` as peers that have every piece and unchoke us.
fn add_unchoking_seeds(p: &mut Picker, now: Instant, keys: &[PeerKey]) {
    for &k in keys {
        p.add_peer(k);
        p.peer_have_all(k).unwrap();
        p.peer_unchoked(now, k);
    }
}

fn accept(r: Received) -> (bool, Vec<(PeerKey, BlockRef)>) {
    match r {
        Received::Accepted {
            piece_complete,
            cancels,
        } => (piece_complete, cancels),
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[test]
fn rarest_piece_is_picked_first() {
    let now = Instant::now();
    let mut p = picker(10, BLOCK_LEN);
    for k in 0..3 {
        p.add_peer(PeerKey(k));
    }
    // Piece 7 is held by one peer, every other piece by all three.
    let all: Vec<u32> = (0..10).collect();
    p.peer_bitfield(PeerKey(0), &bitfield(10, &all)).unwrap();
    let without7: Vec<u32> = (0..10).filter(|&x| x != 7).collect();
    p.peer_bitfield(PeerKey(1), &bitfield(10, &without7))
        .unwrap();
    p.peer_bitfield(PeerKey(2), &bitfield(10, &without7))
        .unwrap();
    p.peer_unchoked(now, PeerKey(0));
    let reqs = p.pick(now, PeerKey(0), PeerRate { reqq: 1, ..RATE });
    assert_eq!(
        reqs,
        [BlockRef {
            piece: 7,
            offset: 0,
            length: BLOCK_LEN
        }]
    );
    p.check_invariants().unwrap();
}

#[test]
fn partial_pieces_are_finished_first_and_choked_peers_get_nothing() {
    let now = Instant::now();
    let mut p = picker(8, 4 * BLOCK_LEN);
    p.add_peer(PeerKey(0));
    p.add_peer(PeerKey(1));
    p.peer_have_all(PeerKey(0)).unwrap();
    p.peer_have_all(PeerKey(1)).unwrap();
    assert!(p.pick(now, PeerKey(0), RATE).is_empty(), "choked");
    p.peer_unchoked(now, PeerKey(0));
    p.peer_unchoked(now, PeerKey(1));
    let a = p.pick(now, PeerKey(0), PeerRate { reqq: 2, ..RATE });
    assert_eq!(a.len(), 2);
    let b = p.pick(now, PeerKey(1), PeerRate { reqq: 2, ..RATE });
    // Peer 1 continues the piece peer 0 started.
    assert!(b.iter().all(|r| r.piece == a[0].piece), "{a:?} {b:?}");
    let dropped = p.peer_choked(PeerKey(0));
    assert_eq!(dropped, a);
    let c = p.pick(now, PeerKey(1), PeerRate { reqq: 4, ..RATE });
    assert_eq!(c, a, "freed blocks are re-requested from the other peer");
    p.check_invariants().unwrap();
}

#[test]
fn pipeline_depth_follows_rate_and_bounds() {
    let c = PickerConfig::default();
    let slow = PeerRate {
        download_rate: 0,
        rtt: Duration::from_millis(50),
        reqq: 250,
    };
    assert_eq!(pipeline_depth(&c, slow), c.min_pipeline);
    let fast = PeerRate {
        download_rate: 1024 * 1024,
        rtt: Duration::from_millis(100),
        reqq: 150,
    };
    // 1 MiB/s × (0.1 s + 3 s) = 3.1 MiB = 198.4 blocks, capped by reqq 150.
    assert_eq!(pipeline_depth(&c, fast), 150);
    assert_eq!(pipeline_depth(&c, PeerRate { reqq: 1000, ..fast }), 199);
    assert_eq!(
        pipeline_depth(
            &c,
            PeerRate {
                download_rate: u64::MAX,
                reqq: 100_000,
                ..fast
            }
        ),
        c.max_pipeline
    );
    assert_eq!(pipeline_depth(&c, PeerRate { reqq: 0, ..fast }), 1);
}

#[test]
fn endgame_duplicates_last_blocks_and_cancels_on_arrival() {
    let now = Instant::now();
    let mut p = picker(1, 2 * BLOCK_LEN);
    let (a, b) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, now, &[a, b]);
    let ra = p.pick(now, a, RATE);
    assert_eq!(ra.len(), 2);
    assert!(p.in_endgame());
    let rb = p.pick(now, b, RATE);
    assert_eq!(
        rb.len(),
        1,
        "endgame asks the second peer for one of the same blocks at a time"
    );
    let (complete, cancels) = accept(p.block_received(now, b, rb[0]));
    assert!(!complete);
    assert_eq!(cancels, [(a, rb[0])]);
    assert_eq!(p.block_received(now, a, rb[0]), Received::Duplicate);
    let rb2 = p.pick(now, b, RATE);
    assert_eq!(rb2.len(), 1, "the shared block arrived: the next one");
    assert_ne!(rb2[0], rb[0]);
    let (complete, cancels) = accept(p.block_received(now, a, rb2[0]));
    assert!(complete);
    assert_eq!(cancels, [(b, rb2[0])]);
    p.check_invariants().unwrap();
    assert!(!p.piece_passed(0).smart_ban_check);
    assert!(p.is_finished() && p.is_seed());
}

#[test]
fn endgame_gives_each_peer_one_shared_block_at_a_time() {
    // A deep pipeline requests every block of a small torrent from the first peer: endgame at
    // once. The others must not each ask for every block again (that made 44 % of a simulated
    // 30-leecher swarm's bytes duplicates), only one shared block each at a time, and distinct
    // ones while some block has a single copy in flight.
    let now = Instant::now();
    let mut p = picker(2, 4 * BLOCK_LEN);
    let peers = [PeerKey(0), PeerKey(1), PeerKey(2)];
    for k in peers {
        p.add_peer(k);
        p.peer_have_all(k).unwrap();
        p.peer_unchoked(now, k);
    }
    assert_eq!(p.pick(now, peers[0], RATE).len(), 8);
    assert!(p.in_endgame());
    let b = p.pick(now, peers[1], RATE);
    let c = p.pick(now, peers[2], RATE);
    assert_eq!((b.len(), c.len()), (1, 1));
    assert_ne!(b[0], c[0], "the least-copied blocks are shared first");
    assert!(
        p.pick(now, peers[1], RATE).is_empty(),
        "one shared block in flight each"
    );
    p.check_invariants().unwrap();
}

#[test]
fn a_stalled_peer_cannot_hold_the_download_at_99_percent() {
    // Peer `slow` takes blocks and never answers (no choke, no reject); `fast` answers at once.
    // Endgame lets `fast` finish the download without waiting for any timeout.
    let now = Instant::now();
    let mut p = picker(50, 4 * BLOCK_LEN);
    let (slow, fast) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, now, &[slow, fast]);
    let stalled = p.pick(now, slow, PeerRate { reqq: 30, ..RATE });
    assert_eq!(stalled.len(), 30);
    let mut rounds = 0;
    while !p.is_finished() {
        rounds += 1;
        assert!(
            rounds < 1000,
            "hangs with {} requests stalled",
            p.requests(slow).count()
        );
        for r in p.pick(now, fast, PeerRate { reqq: 16, ..RATE }) {
            if let (true, _) = accept(p.block_received(now, fast, r)) {
                p.piece_passed(r.piece);
            }
        }
    }
    assert!(p.is_seed());
    assert_eq!(
        p.requests(slow).count(),
        0,
        "every stalled request was cancelled"
    );
    p.check_invariants().unwrap();
}

#[test]
fn no_endgame_while_untouched_pieces_remain() {
    let now = Instant::now();
    let mut p = picker(3, BLOCK_LEN);
    p.add_peer(PeerKey(0));
    p.peer_bitfield(PeerKey(0), &bitfield(3, &[0])).unwrap();
    p.add_peer(PeerKey(1));
    p.peer_bitfield(PeerKey(1), &bitfield(3, &[0, 1])).unwrap();
    p.peer_unchoked(now, PeerKey(0));
    assert_eq!(p.pick(now, PeerKey(0), RATE).len(), 1);
    assert!(!p.in_endgame(), "piece 1 is untouched and available");
    assert!(p.pick(now, PeerKey(0), RATE).is_empty());
    // Piece 2 is held by nobody: it does not hold endgame back once piece 1 is requested.
    p.peer_unchoked(now, PeerKey(1));
    let r = p.pick(now, PeerKey(1), RATE);
    assert_eq!(r[0].piece, 1);
    assert!(p.in_endgame());
    assert!(
        r.iter().any(|r| r.piece == 0),
        "duplicate of piece 0's block: {r:?}"
    );
}

#[test]
fn timeouts_free_blocks_and_snub() {
    let t0 = Instant::now();
    let mut p = picker(4, BLOCK_LEN);
    let (a, b) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, t0, &[a, b]);
    let ra = p.pick(t0, a, PeerRate { reqq: 2, ..RATE });
    assert_eq!(ra.len(), 2);
    let deadline = p.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + PickerConfig::default().request_timeout);
    assert!(
        p.handle_timeout(deadline - Duration::from_millis(1))
            .is_empty()
    );
    let cancels = p.handle_timeout(deadline);
    assert_eq!(cancels.len(), 2);
    assert!(p.is_snubbed(a));
    assert_eq!(
        p.pick(deadline, a, RATE).len(),
        1,
        "snubbed: one request at a time"
    );
    let rb = p.pick(deadline, b, RATE);
    assert!(
        rb.contains(&ra[1]) || rb.contains(&ra[0]),
        "re-requested elsewhere"
    );
    // A block from the snubbed peer lifts the snub.
    let ra2: Vec<_> = p.requests(a).collect();
    accept(p.block_received(deadline, a, ra2[0]));
    assert!(!p.is_snubbed(a));
    p.check_invariants().unwrap();
}

#[test]
fn a_timed_out_block_goes_to_another_peer_not_back() {
    let t0 = Instant::now();
    // One piece of four blocks: free blocks remain, so no endgame.
    let mut p = picker(1, 4 * BLOCK_LEN);
    let (slow, other) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, t0, &[slow]);
    p.add_peer(other);
    p.peer_have_all(other).unwrap();
    let first = p.pick(t0, slow, PeerRate { reqq: 1, ..RATE });
    assert_eq!(first.len(), 1);
    let deadline = p.poll_timeout().unwrap();
    assert_eq!(p.handle_timeout(deadline), [(slow, first[0])]);
    // `other` chokes us: nobody else can give the block, so `slow` gets it back.
    assert_eq!(p.pick(deadline, slow, RATE), first);
    let again = deadline + PickerConfig::default().request_timeout;
    assert_eq!(p.handle_timeout(again), [(slow, first[0])]);
    // Once `other` unchokes us, the block is its, never `slow`'s again.
    p.peer_unchoked(again, other);
    let retry = p.pick(again, slow, RATE);
    assert_eq!(retry.len(), 1, "snubbed: one request at a time");
    assert_ne!(retry, first, "the block it timed out on");
    assert!(p.pick(again, other, RATE).contains(&first[0]));
    p.check_invariants().unwrap();
}

#[test]
fn pipelines_are_topped_up_in_batches() {
    let now = Instant::now();
    // 40 pieces of 16 blocks: 640 blocks, more than two pipelines.
    let mut p = picker(40, 16 * BLOCK_LEN);
    let (big, small) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, now, &[big, small]);
    let big_rate = PeerRate { reqq: 256, ..RATE };
    let mut flight = p.pick(now, big, big_rate);
    assert_eq!(flight.len(), 256);
    // 31 free slots: fewer than a batch (32 = 256 / 8), so nothing yet.
    for r in flight.drain(..31) {
        accept(p.block_received(now, big, r));
    }
    assert!(p.pick(now, big, big_rate).is_empty());
    accept(p.block_received(now, big, flight.remove(0)));
    assert_eq!(p.pick(now, big, big_rate).len(), 32);
    // A pipeline of 8 has batches of one: every block refills it.
    let small_rate = PeerRate { reqq: 8, ..RATE };
    let mut flight = p.pick(now, small, small_rate);
    assert_eq!(flight.len(), 8);
    accept(p.block_received(now, small, flight.remove(0)));
    assert_eq!(p.pick(now, small, small_rate).len(), 1);
    // With batches of 1 configured, the big pipeline refills block by block too.
    let config = PickerConfig {
        refill_batch: 1,
        ..Default::default()
    };
    let mut p = Picker::new(&layout(40, 16 * BLOCK_LEN), config, 1);
    add_unchoking_seeds(&mut p, now, &[big]);
    let flight = p.pick(now, big, big_rate);
    accept(p.block_received(now, big, flight[0]));
    assert_eq!(p.pick(now, big, big_rate).len(), 1);
    p.check_invariants().unwrap();
}

#[test]
fn unchoked_silent_peer_is_snubbed_after_60s() {
    let t0 = Instant::now();
    let config = PickerConfig {
        request_timeout: Duration::from_secs(120),
        ..Default::default()
    };
    let mut p = Picker::new(&layout(4, BLOCK_LEN), config, 3);
    add_unchoking_seeds(&mut p, t0, &[PeerKey(0)]);
    assert_eq!(p.pick(t0, PeerKey(0), RATE).len(), 4);
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    assert!(p.handle_timeout(t0 + Duration::from_secs(60)).is_empty());
    assert!(p.is_snubbed(PeerKey(0)));
}

#[test]
fn priorities_and_sequential_mode() {
    let now = Instant::now();
    let mut p = picker(6, BLOCK_LEN);
    p.set_priorities(&[
        Priority::Skip,
        Priority::Normal,
        Priority::Skip,
        Priority::High,
        Priority::Normal,
        Priority::Skip,
    ]);
    add_unchoking_seeds(&mut p, now, &[PeerKey(0)]);
    let r = p.pick(now, PeerKey(0), PeerRate { reqq: 1, ..RATE });
    assert_eq!(r[0].piece, 3, "high first");
    let r = p.pick(now, PeerKey(0), PeerRate { reqq: 10, ..RATE });
    let pieces: BTreeSet<u32> = r.iter().map(|r| r.piece).collect();
    assert_eq!(
        pieces,
        BTreeSet::from([1, 4]),
        "skipped pieces are never requested"
    );
    for piece in [1, 3, 4] {
        let block = BlockRef {
            piece,
            offset: 0,
            length: BLOCK_LEN,
        };
        assert!(accept(p.block_received(now, PeerKey(0), block)).0);
        p.piece_passed(piece);
    }
    assert!(p.is_finished() && !p.is_seed());

    let mut s = picker(6, BLOCK_LEN);
    s.set_sequential(true);
    s.add_peer(PeerKey(0));
    s.peer_have_all(PeerKey(0)).unwrap();
    s.peer_unchoked(now, PeerKey(0));
    let r = s.pick(now, PeerKey(0), PeerRate { reqq: 6, ..RATE });
    assert_eq!(
        r.iter().map(|r| r.piece).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn low_pieces_come_last_rarest_first_and_in_sequence() {
    let now = Instant::now();
    let prios = [
        Priority::Low,
        Priority::Normal,
        Priority::Low,
        Priority::High,
        Priority::Normal,
        Priority::Skip,
    ];
    let one = PeerRate { reqq: 1, ..RATE };
    let order = |sequential: bool| {
        let mut p = picker(6, BLOCK_LEN);
        p.set_priorities(&prios);
        p.set_sequential(sequential);
        // Low piece 0 is the rarest: only the seed has the others, a second peer has 0 too.
        add_unchoking_seeds(&mut p, now, &[PeerKey(0)]);
        p.add_peer(PeerKey(1));
        p.peer_bitfield(PeerKey(1), &bitfield(6, &[1, 2, 3, 4]))
            .unwrap();
        let mut order = Vec::new();
        while let Some(r) = p.pick(now, PeerKey(0), one).first().copied() {
            order.push(r.piece);
            assert!(accept(p.block_received(now, PeerKey(0), r)).0);
            p.piece_passed(r.piece);
            p.check_invariants().unwrap();
        }
        assert!(p.is_finished() && !p.is_seed());
        order
    };
    let rarest = order(false);
    assert_eq!(rarest[0], 3, "high first");
    assert_eq!(
        rarest[1..3].iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 4]),
        "normal before low"
    );
    assert_eq!(rarest[3..], [0, 2], "low last, the rarest first");
    assert_eq!(order(true), [3, 1, 4, 0, 2], "each priority in index order");

    // A piece lowered while untouched moves to the end; raised, to the front.
    let mut p = picker(4, BLOCK_LEN);
    add_unchoking_seeds(&mut p, now, &[PeerKey(0)]);
    p.set_sequential(true);
    p.set_priority(0, Priority::Low).unwrap();
    p.set_priority(3, Priority::High).unwrap();
    let picked: Vec<u32> = p
        .pick(now, PeerKey(0), PeerRate { reqq: 4, ..RATE })
        .iter()
        .map(|r| r.piece)
        .collect();
    assert_eq!(picked, [3, 1, 2, 0]);
    p.check_invariants().unwrap();
}

#[test]
fn file_priorities_map_to_pieces() {
    let l = Layout::new(
        BLOCK_LEN,
        [
            (u64::from(BLOCK_LEN) * 2, false),
            (u64::from(BLOCK_LEN), false),
        ],
    )
    .unwrap();
    assert_eq!(
        piece_priorities(&l, &[Priority::Skip, Priority::High]),
        [Priority::Skip, Priority::Skip, Priority::High]
    );
}

#[test]
fn two_failed_pieces_ban_a_contributor() {
    let now = Instant::now();
    let mut p = picker(3, BLOCK_LEN);
    let (bad, good) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, now, &[bad, good]);
    let r = p.pick(now, bad, PeerRate { reqq: 2, ..RATE });
    for block in &r {
        assert!(accept(p.block_received(now, bad, *block)).0);
    }
    let f = p.piece_failed(r[0].piece);
    assert_eq!(f.contributors, [bad]);
    assert!(f.banned.is_empty());
    assert_eq!(p.strikes(bad), 1);
    let f = p.piece_failed(r[1].piece);
    assert_eq!(f.banned, [bad]);
    assert!(p.is_banned(bad));
    assert!(p.pick(now, bad, RATE).is_empty());
    // The failed pieces are downloaded again, from the good peer.
    let again = p.pick(now, good, PeerRate { reqq: 3, ..RATE });
    assert_eq!(again.len(), 3);
    p.check_invariants().unwrap();
}

#[test]
fn a_lost_piece_is_fetched_again_from_nothing_and_the_others_keep_their_blocks() {
    let now = Instant::now();
    let mut p = picker(2, 2 * BLOCK_LEN);
    let (a, b) = (PeerKey(0), PeerKey(1));
    add_unchoking_seeds(&mut p, now, &[a, b]);
    let mut r = p.pick(now, a, PeerRate { reqq: 4, ..RATE });
    assert_eq!(r.len(), 4);
    r.sort_by_key(|b| (b.piece, b.offset));
    // Piece 0 whole, piece 1 half received (the write of its block then fails), a request
    // of piece 1 still out.
    for block in &r[..3] {
        accept(p.block_received(now, a, *block));
    }
    let cancels = p.piece_lost(1);
    assert_eq!(cancels, [(a, r[3])]);
    assert_eq!(p.inflight_count(), 0);
    assert_eq!(p.strikes(a), 0, "a lost piece strikes nobody");
    assert_eq!(
        p.block_senders(0),
        Some(vec![Some(a), Some(a)]),
        "piece 0 kept"
    );
    assert_eq!(p.block_senders(1), None);
    // A late copy of a block of the lost piece is dropped.
    assert_eq!(p.block_received(now, a, r[3]), Received::Unwanted);
    // Both blocks of piece 1 are asked for again, none of piece 0.
    let mut again = p.pick(now, b, PeerRate { reqq: 8, ..RATE });
    again.sort_by_key(|b| (b.piece, b.offset));
    assert_eq!(again, [r[2], r[3]]);
    p.check_invariants().unwrap();
}

#[test]
fn smart_ban_finds_the_peer_whose_block_differed() {
    let now = Instant::now();
    let mut p = picker(1, 2 * BLOCK_LEN);
    let (a, b, c) = (PeerKey(0), PeerKey(1), PeerKey(2));
    add_unchoking_seeds(&mut p, now, &[a, b, c]);
    let ra = p.pick(now, a, PeerRate { reqq: 1, ..RATE });
    let rb = p.pick(now, b, PeerRate { reqq: 1, ..RATE });
    accept(p.block_received(now, a, ra[0]));
    assert!(accept(p.block_received(now, b, rb[0])).0);
    let f = p.piece_failed(0);
    assert_eq!(f.contributors, [a, b]);
    assert!(f.banned.is_empty());
    // Block 0 (from a) was good, block 1 (from b) was bad.
    p.record_failed_blocks(0, &[[0; 32], [66; 32]]);
    let rc = p.pick(now, c, PeerRate { reqq: 2, ..RATE });
    for block in &rc {
        accept(p.block_received(now, c, *block));
    }
    assert!(p.piece_passed(0).smart_ban_check);
    assert_eq!(p.check_passed_blocks(0, &[[0; 32], [1; 32]]), [b]);
    assert!(p.is_banned(b) && !p.is_banned(a));
}

#[test]
fn blocks_proven_bad_alone_are_fetched_again_and_their_sender_banned() {
    let now = Instant::now();
    let mut p = picker(2, 4 * BLOCK_LEN);
    let (a, b, c) = (PeerKey(0), PeerKey(1), PeerKey(2));
    add_unchoking_seeds(&mut p, now, &[a, b, c]);
    let one = PeerRate { reqq: 1, ..RATE };
    // Blocks of piece 0: 0 and 2 from a, 1 and 3 from b.
    let mut piece = None;
    for k in [a, b, a, b] {
        let r = p.pick(now, k, one);
        let r = r[0];
        assert_eq!(*piece.get_or_insert(r.piece), r.piece);
        accept(p.block_received(now, k, r));
    }
    let piece = piece.unwrap();
    assert_eq!(
        p.block_senders(piece).unwrap(),
        [Some(a), Some(b), Some(a), Some(b)]
    );
    // Block 3 was bad: b alone is banned, only block 3 is free again.
    assert_eq!(p.blocks_failed(piece, &[3, 99]), [b]);
    assert!(p.is_banned(b) && !p.is_banned(a));
    p.check_invariants().unwrap();
    let again = p.pick(now, c, PeerRate { reqq: 8, ..RATE });
    let of_piece: Vec<BlockRef> = again.iter().copied().filter(|r| r.piece == piece).collect();
    assert_eq!(of_piece, [BlockRef::new(piece, 3 * BLOCK_LEN, BLOCK_LEN)]);
    assert!(
        accept(p.block_received(now, c, of_piece[0])).0,
        "the piece is whole again"
    );
    assert_eq!(
        p.block_senders(piece).unwrap(),
        [Some(a), Some(b), Some(a), Some(c)]
    );
    assert!(p.blocks_failed(7, &[0]).is_empty(), "not downloading");
}

#[test]
fn hostile_inputs_are_rejected_without_panic() {
    let now = Instant::now();
    let mut p = picker(10, BLOCK_LEN);
    p.add_peer(PeerKey(0));
    assert!(matches!(
        p.peer_bitfield(PeerKey(0), &[0xff]),
        Err(PickerError::Bitfield(_))
    ));
    assert!(matches!(
        p.peer_bitfield(PeerKey(9), &[0, 0]),
        Err(PickerError::UnknownPeer(_))
    ));
    assert!(matches!(
        p.peer_have(PeerKey(0), 10),
        Err(PickerError::PieceOutOfRange { .. })
    ));
    let bad = [
        BlockRef {
            piece: 10,
            offset: 0,
            length: BLOCK_LEN,
        },
        BlockRef {
            piece: 0,
            offset: 1,
            length: BLOCK_LEN,
        },
        BlockRef {
            piece: 0,
            offset: 0,
            length: 1,
        },
        BlockRef {
            piece: 0,
            offset: BLOCK_LEN,
            length: BLOCK_LEN,
        },
        BlockRef {
            piece: 0,
            offset: u32::MAX,
            length: u32::MAX,
        },
        BlockRef {
            piece: u32::MAX,
            offset: 0,
            length: BLOCK_LEN,
        },
    ];
    for b in bad {
        assert_eq!(
            p.block_received(now, PeerKey(0), b),
            Received::Invalid,
            "{b:?}"
        );
    }
    let ok = BlockRef {
        piece: 0,
        offset: 0,
        length: BLOCK_LEN,
    };
    assert_eq!(p.block_received(now, PeerKey(0), ok), Received::Unwanted);
    p.check_invariants().unwrap();
}

#[test]
fn pick_cost_does_not_scan_all_pieces() {
    // A 100 000-piece torrent with 50 peers: picking for a seed touches the front of the list.
    let now = Instant::now();
    let n = 100_000;
    let mut p = picker(n, BLOCK_LEN);
    let mut rng = Rng::new(4);
    for k in 0..50 {
        p.add_peer(PeerKey(k));
        let mut s = PieceSet::new(n);
        for x in 0..n {
            if rng.chance(0.5) {
                s.insert(x);
            }
        }
        p.peer_bitfield(PeerKey(k), &s.to_bitfield()).unwrap();
        p.peer_unchoked(now, PeerKey(k));
    }
    let r = p.pick(now, PeerKey(3), PeerRate { reqq: 8, ..RATE });
    assert_eq!(r.len(), 8);
    for req in &r {
        // Rarest among what peer 3 has: availability close to the minimum.
        assert!(
            p.availability(req.piece) <= 15,
            "{}",
            p.availability(req.piece)
        );
    }
}

#[test]
fn smart_ban_end_to_end_through_storage() {
    use crate::storage::{MemoryStorage, Storage, block_digests, piece_matches};
    let now = Instant::now();
    let l = layout(2, 2 * BLOCK_LEN);
    let mut source = vec![0u8; l.total_length() as usize];
    Rng::new(5).fill(&mut source);
    let hashes: Vec<[u8; 20]> = source
        .chunks(2 * BLOCK_LEN as usize)
        .map(crate::id::sha1_digest)
        .collect();
    let storage = MemoryStorage::new(l.clone());
    let mut verified = PieceSet::new(2);
    let mut p = Picker::new(&l, PickerConfig::default(), 9);
    let (a, b, evil) = (PeerKey(0), PeerKey(1), PeerKey(2));
    add_unchoking_seeds(&mut p, now, &[a, b, evil]);
    let one = PeerRate { reqq: 1, ..RATE };
    // Deliver a block as `from` would send it (the evil peer flips bits) and handle the verdict.
    let mut deliver = |p: &mut Picker, from: PeerKey, r: BlockRef| -> Vec<PeerKey> {
        let start = (l.piece_offset(r.piece) + u64::from(r.offset)) as usize;
        let mut data = source[start..start + r.length as usize].to_vec();
        if from == evil {
            data[7] ^= 0xff;
        }
        storage.write(r.piece, r.offset, &data).unwrap();
        let (complete, _) = accept(p.block_received(now, from, r));
        if !complete {
            return Vec::new();
        }
        if piece_matches(&storage, r.piece, &hashes[r.piece as usize].into()).unwrap() {
            verified.insert(r.piece);
            if p.piece_passed(r.piece).smart_ban_check {
                let digests = block_digests(&storage, r.piece).unwrap();
                return p.check_passed_blocks(r.piece, &digests);
            }
            Vec::new()
        } else {
            let failed = p.piece_failed(r.piece);
            let digests = block_digests(&storage, r.piece).unwrap();
            p.record_failed_blocks(r.piece, &digests);
            failed.banned
        }
    };
    // Piece download: a block from the honest peer, one from the evil peer: the hash fails.
    let ra = p.pick(now, a, one);
    let re = p.pick(now, evil, one);
    assert_eq!(ra[0].piece, re[0].piece);
    assert!(deliver(&mut p, a, ra[0]).is_empty());
    assert!(
        deliver(&mut p, evil, re[0]).is_empty(),
        "one strike is no ban"
    );
    // Re-download from honest peers only: the good copy proves which peer lied.
    let mut banned = Vec::new();
    while !p.is_finished() {
        for k in [a, b] {
            for r in p.pick(now, k, one) {
                banned.extend(deliver(&mut p, k, r));
            }
        }
    }
    assert_eq!(banned, [evil], "smart ban after a single failure");
    assert!(!p.is_banned(a) && !p.is_banned(b));
    assert!(verified.is_full());
    assert_eq!(storage.file_data(0).unwrap(), source);
}

// ----- property test: a randomised swarm -----------------------------------------------------

/// The test's own record of what was requested from whom.
#[derive(Default)]
struct Model {
    outstanding: BTreeMap<BlockRef, BTreeSet<PeerKey>>,
    senders: BTreeMap<u32, BTreeSet<PeerKey>>,
}

impl Model {
    fn drop_req(&mut self, peer: PeerKey, r: BlockRef) {
        if let Some(s) = self.outstanding.get_mut(&r) {
            s.remove(&peer);
            if s.is_empty() {
                self.outstanding.remove(&r);
            }
        }
    }
    fn drop_peer(&mut self, peer: PeerKey) {
        let keys: Vec<_> = self.outstanding.keys().copied().collect();
        for r in keys {
            self.drop_req(peer, r);
        }
    }
}

struct Swarm {
    rng: Rng,
    p: Picker,
    m: Model,
    now: Instant,
    n: u32,
    peers: BTreeMap<PeerKey, (bool /*corrupt*/, PieceSet)>,
    next_key: u32,
    endgame_dups: usize,
}

impl Swarm {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(30) as u32;
        let pl = [BLOCK_LEN, 3 * BLOCK_LEN, 4 * BLOCK_LEN][rng.index(3)];
        let total = u64::from(n - 1) * u64::from(pl) + 1 + rng.below(u64::from(pl));
        let l = Layout::new(pl, [(total, false)]).unwrap();
        let config = PickerConfig {
            sequential: rng.chance(0.2),
            ..Default::default()
        };
        let mut p = Picker::new(&l, config, seed);
        if rng.chance(0.3) {
            let prios: Vec<Priority> = (0..n)
                .map(|_| {
                    [
                        Priority::Skip,
                        Priority::Low,
                        Priority::Normal,
                        Priority::High,
                    ][rng.index(4)]
                })
                .collect();
            p.set_priorities(&prios);
        }
        Self {
            rng,
            p,
            m: Model::default(),
            now: Instant::now(),
            n,
            peers: BTreeMap::new(),
            next_key: 0,
            endgame_dups: 0,
        }
    }

    fn connect(&mut self, seed: bool, corrupt: bool) {
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        self.p.add_peer(key);
        let set = if seed {
            self.p.peer_have_all(key).unwrap();
            PieceSet::full(self.n)
        } else {
            let mut s = PieceSet::new(self.n);
            for x in 0..self.n {
                if self.rng.chance(0.4) {
                    s.insert(x);
                }
            }
            match self.rng.below(3) {
                0 if s.count() == 0 => self.p.peer_have_none(key).unwrap(),
                _ => {
                    self.p.peer_bitfield(key, &s.to_bitfield()).unwrap();
                }
            }
            s
        };
        self.peers.insert(key, (corrupt, set));
    }

    fn random_peer(&mut self) -> Option<PeerKey> {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        (!keys.is_empty()).then(|| keys[self.rng.index(keys.len())])
    }

    fn pick(&mut self, key: PeerKey) {
        let rate = PeerRate {
            download_rate: self.rng.below(200_000),
            rtt: Duration::from_millis(30),
            reqq: 1 + self.rng.below(20) as u32,
        };
        let picked = self.p.pick(self.now, key, rate);
        // A pick may itself take the last free blocks and so enter endgame; it cannot leave it.
        let endgame = self.p.in_endgame();
        for r in picked {
            assert!(
                self.peers[&key].1.contains(r.piece),
                "requested {r:?} from {key:?} which lacks it"
            );
            assert!(
                !self.p.have().contains(r.piece),
                "requested a piece we have"
            );
            assert_ne!(self.p.priority(r.piece), Priority::Skip);
            let reqs = self.m.outstanding.entry(r).or_default();
            assert!(!reqs.contains(&key), "same block twice from one peer");
            if !reqs.is_empty() {
                assert!(endgame, "block {r:?} requested twice outside endgame");
                self.endgame_dups += 1;
            }
            reqs.insert(key);
        }
    }

    fn deliver(&mut self, r: BlockRef, key: PeerKey) {
        self.m.drop_req(key, r);
        let others: BTreeSet<PeerKey> = self.m.outstanding.get(&r).cloned().unwrap_or_default();
        match self.p.block_received(self.now, key, r) {
            Received::Accepted {
                piece_complete,
                cancels,
            } => {
                let cancelled: BTreeSet<PeerKey> = cancels
                    .iter()
                    .map(|(k, c)| {
                        assert_eq!(*c, r);
                        *k
                    })
                    .collect();
                assert_eq!(cancelled, others, "endgame must cancel every other copy");
                self.m.outstanding.remove(&r);
                self.m.senders.entry(r.piece).or_default().insert(key);
                if piece_complete {
                    let senders = self.m.senders.remove(&r.piece).unwrap_or_default();
                    if senders
                        .iter()
                        .any(|k| self.peers.get(k).is_some_and(|p| p.0))
                    {
                        let f = self.p.piece_failed(r.piece);
                        for (k, c) in f.cancels {
                            self.m.drop_req(k, c);
                        }
                        for b in f.banned {
                            self.disconnect(b);
                        }
                    } else {
                        let passed = self.p.piece_passed(r.piece);
                        for (k, c) in passed.cancels {
                            self.m.drop_req(k, c);
                        }
                    }
                }
            }
            Received::Duplicate | Received::Unwanted => {}
            Received::Invalid => panic!("picker rejected its own block {r:?}"),
        }
    }

    fn disconnect(&mut self, key: PeerKey) {
        self.p.remove_peer(key);
        self.m.drop_peer(key);
        self.peers.remove(&key);
    }

    fn chaos_step(&mut self) {
        match self.rng.below(12) {
            0 if self.peers.len() < 8 => {
                let corrupt = self.rng.chance(0.1);
                let seed = self.rng.chance(0.2);
                self.connect(seed, corrupt);
            }
            1 => {
                if let Some(k) = self.random_peer() {
                    self.disconnect(k);
                }
            }
            2 => {
                if let Some(k) = self.random_peer() {
                    for r in self.p.peer_choked(k) {
                        self.m.drop_req(k, r);
                    }
                    assert!(self.p.requests(k).next().is_none());
                }
            }
            3 => {
                if let Some(k) = self.random_peer() {
                    let piece = self.rng.below(u64::from(self.n)) as u32;
                    self.p.peer_have(k, piece).unwrap();
                    self.peers.get_mut(&k).unwrap().1.insert(piece);
                }
            }
            4 => {
                self.now += Duration::from_secs(self.rng.below(30));
                for (k, r) in self.p.handle_timeout(self.now) {
                    self.m.drop_req(k, r);
                }
            }
            5 => {
                let all: Vec<(BlockRef, PeerKey)> = self
                    .m
                    .outstanding
                    .iter()
                    .flat_map(|(r, s)| s.iter().map(move |k| (*r, *k)))
                    .collect();
                if !all.is_empty() {
                    let (r, k) = all[self.rng.index(all.len())];
                    self.p.request_rejected(k, r);
                    self.m.drop_req(k, r);
                }
            }
            6..=7 => {
                if let Some(k) = self.random_peer() {
                    self.p.peer_unchoked(self.now, k);
                    self.pick(k);
                }
            }
            _ => self.deliver_random(),
        }
    }

    fn deliver_random(&mut self) {
        let all: Vec<(BlockRef, PeerKey)> = self
            .m
            .outstanding
            .iter()
            .flat_map(|(r, s)| s.iter().map(move |k| (*r, *k)))
            .collect();
        if !all.is_empty() {
            let (r, k) = all[self.rng.index(all.len())];
            self.deliver(r, k);
        }
    }

    fn model_matches_picker(&self) {
        for (r, peers) in &self.m.outstanding {
            for k in peers {
                assert!(
                    self.p.requests(*k).any(|x| x == *r),
                    "{k:?} {r:?} in model, not in picker"
                );
            }
        }
        let total: usize = self.peers.keys().map(|k| self.p.requests(*k).count()).sum();
        let model: usize = self.m.outstanding.values().map(|s| s.len()).sum();
        assert_eq!(total, model);
    }
}

#[test]
fn swarm_always_completes_under_random_chaos() {
    let mut dups = 0;
    for seed in 0..1000 {
        let mut s = Swarm::new(seed);
        for _ in 0..s.rng.below(6) {
            s.connect(false, false);
        }
        let chaos = s.rng.below(400);
        for step in 0..chaos {
            s.chaos_step();
            if step % 7 == 0 {
                s.p.check_invariants()
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                s.model_matches_picker();
            }
        }
        // Calm phase: corrupt peers leave (else they could get an honest seed banned by shared
        // strikes), an honest seed joins, everyone unchokes; arrivals stay in random order.
        let corrupt: Vec<PeerKey> = s
            .peers
            .iter()
            .filter(|(_, p)| p.0)
            .map(|(k, _)| *k)
            .collect();
        for k in corrupt {
            s.disconnect(k);
        }
        s.connect(true, false);
        let keys: Vec<PeerKey> = s.peers.keys().copied().collect();
        for k in keys {
            s.p.peer_unchoked(s.now, k);
        }
        let mut steps = 0;
        while !s.p.is_finished() {
            steps += 1;
            if steps >= 20_000 {
                let missing: Vec<u32> = (0..s.n).filter(|&x| s.p.wants(x)).collect();
                let dl: Vec<_> = missing
                    .iter()
                    .map(|x| {
                        (
                            x,
                            s.p.downloading.get(x).map(|d| {
                                (
                                    d.free,
                                    d.received,
                                    d.blocks.iter().map(|b| b.reqs.clone()).collect::<Vec<_>>(),
                                )
                            }),
                            s.p.priority(*x),
                            s.p.availability(*x),
                        )
                    })
                    .collect();
                let peers: Vec<_> =
                    s.p.peers
                        .iter()
                        .map(|(k, p)| (k, p.unchoked, p.snubbed, p.banned, p.inflight.len()))
                        .collect();
                panic!(
                    "seed {seed}: download hangs: {dl:?}\n{peers:?}\nendgame {} outstanding {:?}",
                    s.p.in_endgame(),
                    s.m.outstanding
                );
            }
            let keys: Vec<PeerKey> = s.peers.keys().copied().collect();
            for k in keys {
                s.pick(k);
            }
            if s.m.outstanding.is_empty() {
                // Nothing in flight yet not finished: only timeouts may free stuck blocks.
                s.now += Duration::from_secs(61);
                for (k, r) in s.p.handle_timeout(s.now) {
                    s.m.drop_req(k, r);
                }
                continue;
            }
            for _ in 0..1 + s.rng.below(4) {
                s.deliver_random();
            }
            if steps % 5 == 0 {
                s.p.check_invariants()
                    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                s.model_matches_picker();
            }
        }
        s.p.check_invariants().unwrap();
        dups += s.endgame_dups;
    }
    assert!(dups > 0, "endgame never exercised");
}

#[test]
fn records_of_a_departed_peer_last_until_its_blocks_are_judged() {
    let now = Instant::now();
    let mut p = picker(1, 2 * BLOCK_LEN);
    let (a, b, c) = (PeerKey(0), PeerKey(1), PeerKey(2));
    add_unchoking_seeds(&mut p, now, &[a, b, c]);
    assert!(!p.has_records_of(b));
    let ra = p.pick(now, a, PeerRate { reqq: 1, ..RATE });
    let rb = p.pick(now, b, PeerRate { reqq: 1, ..RATE });
    accept(p.block_received(now, b, rb[0]));
    // b leaves with its block in an unverified piece.
    p.remove_peer(b);
    assert!(p.has_records_of(b) && !p.has_records_of(c));
    assert!(accept(p.block_received(now, a, ra[0])).0);
    let _ = p.piece_failed(0);
    assert!(p.has_records_of(b), "pending digests name b");
    p.record_failed_blocks(0, &[[0; 32], [66; 32]]);
    assert_eq!(p.recorded_peers(), BTreeSet::from([a, b]));
    for block in p.pick(now, c, PeerRate { reqq: 2, ..RATE }) {
        accept(p.block_received(now, c, block));
    }
    assert!(p.piece_passed(0).smart_ban_check);
    // b's block differed: it is named although it left; then nothing is left of it.
    assert_eq!(p.check_passed_blocks(0, &[[0; 32], [1; 32]]), [b]);
    assert!(!p.has_records_of(b) && p.recorded_peers().is_empty());
}

#[test]
fn a_choking_peer_is_asked_only_for_its_allowed_fast_pieces() {
    let now = Instant::now();
    let mut p = picker(8, 2 * BLOCK_LEN);
    p.add_peer(PeerKey(0));
    p.peer_bitfield(PeerKey(0), &bitfield(8, &[1, 2, 3, 5, 6]))
        .unwrap();
    // Piece 7 it does not have, piece 9 does not exist: neither is asked for.
    for piece in [7, 5, 9, 2] {
        p.allowed_fast(PeerKey(0), piece);
    }
    let reqs = p.pick(now, PeerKey(0), RATE);
    let pieces: BTreeSet<u32> = reqs.iter().map(|r| r.piece).collect();
    assert_eq!(pieces, BTreeSet::from([2, 5]), "{reqs:?}");
    assert_eq!(reqs.len(), 4, "both blocks of each");
    p.check_invariants().unwrap();
    // Once unchoked, the rest; a choke then keeps the allowed-fast requests (the peer goes on
    // serving them, BEP 6) and frees the others.
    p.peer_unchoked(now, PeerKey(0));
    let more = p.pick(now, PeerKey(0), RATE);
    assert!(more.iter().all(|r| ![2, 5].contains(&r.piece)));
    assert!(!more.is_empty());
    let dropped = p.peer_choked(PeerKey(0));
    assert_eq!(dropped, more);
    assert!(
        p.pick(now, PeerKey(0), RATE).is_empty(),
        "nothing else while choked"
    );
    // A rejected allowed-fast block is not asked for again while choked.
    p.request_rejected(PeerKey(0), reqs[0]);
    assert!(
        p.pick(now, PeerKey(0), RATE).is_empty(),
        "no request-reject loop"
    );
    p.check_invariants().unwrap();
}

#[test]
fn allowed_fast_pieces_are_started_only_while_we_are_starting() {
    let now = Instant::now();
    let mut p = picker(8, 2 * BLOCK_LEN);
    assert_eq!(PickerConfig::default().starting_pieces, 2);
    let (choker, other) = (PeerKey(0), PeerKey(1));
    for k in [choker, other] {
        p.add_peer(k);
        p.peer_have_all(k).unwrap();
    }
    for piece in [6, 1, 3] {
        p.allowed_fast(choker, piece);
    }
    // Nothing had, nothing downloading: two pieces get us started, in the order granted.
    let reqs = p.pick(now, choker, RATE);
    let pieces: BTreeSet<u32> = reqs.iter().map(|r| r.piece).collect();
    assert_eq!(pieces, BTreeSet::from([1, 6]), "{reqs:?}");
    // One of them done, and another piece downloading from an unchoking peer: past the
    // threshold, no third piece is started from the choking peer.
    for r in reqs.iter().filter(|r| r.piece == 6) {
        accept(p.block_received(now, choker, *r));
    }
    assert!(p.piece_passed(6).cancels.is_empty());
    p.peer_unchoked(now, other);
    let from_other = p.pick(now, other, PeerRate { reqq: 1, ..RATE });
    assert_eq!(from_other.len(), 1);
    assert!(p.pick(now, choker, RATE).is_empty());
    // A granted piece someone else started may still be finished by the choking peer.
    p.peer_choked(other);
    p.allowed_fast(choker, from_other[0].piece);
    let rest = p.pick(now, choker, RATE);
    assert!(
        rest.iter().all(|r| r.piece == from_other[0].piece) && !rest.is_empty(),
        "{rest:?}"
    );
    p.check_invariants().unwrap();
}
