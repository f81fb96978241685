//! Piece order changed while a torrent runs: files of high priority arrive before normal ones
//! and low ones last; sequential mode switched on after the add fetches pieces in index
//! order, as does sequential mode set at the add (`download --sequential`); "first and last
//! piece priority" fetches every wanted file's ends first.

use sanstorrent_core::session::{Event, Priority, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestFile, TestTorrent};

const PIECE: u32 = 64 * 1024;

/// Three files of 8 pieces each, on piece boundaries: pieces 0-7, 8-15, 16-23.
fn three_files(seed: u64) -> TestTorrent {
    TestTorrent::multi(
        "order",
        &[
            TestFile::new("order/a.bin", 8 * u64::from(PIECE)),
            TestFile::new("order/b.bin", 8 * u64::from(PIECE)),
            TestFile::new("order/c.bin", 8 * u64::from(PIECE)),
        ],
        PIECE,
        seed,
    )
}

/// Adds `t` to a seeder and a leecher, runs `change` on the leecher once its check is done,
/// connects them and returns the pieces in the order the leecher verified them.
fn verified_order(
    seed: u64,
    t: &TestTorrent,
    change: impl FnOnce(&mut sanstorrent_core::session::Session, std::time::Instant, TorrentId),
) -> Vec<u32> {
    verified_order_with(seed, t, TorrentOptions::default(), change)
}

/// [`verified_order`] with the leecher's torrent added with `options`.
fn verified_order_with(
    seed: u64,
    t: &TestTorrent,
    options: TorrentOptions,
    change: impl FnOnce(&mut sanstorrent_core::session::Session, std::time::Instant, TorrentId),
) -> Vec<u32> {
    // A slow link: the pipeline holds a few pieces, not the whole torrent.
    let mut sim = Sim::new(
        seed,
        LinkConfig::new(std::time::Duration::from_millis(20), 256 * 1024),
    );
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, t, true, TorrentOptions::default());
    // No pieces from a choking seeder's allowed-fast set (BEP 6): those are taken whatever
    // their priority, to give a starting peer something to trade.
    let mut config = SessionConfig::default();
    config.picker.starting_pieces = 0;
    let leecher = sim.add_node(config);
    let id = sim.add_torrent(leecher, t, false, options);
    sim.run_until(
        |s| s.saw(leecher, |e| matches!(e, Event::Checked { .. })),
        10_000,
    )
    .expect("the torrent runs");
    sim.with_session(leecher, |s, now| change(s, now, id));
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 1_000_000)
        .expect("the torrent completes");
    sim.nodes[leecher]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PieceVerified { torrent, piece } if *torrent == id => Some(*piece),
            _ => None,
        })
        .collect()
}

/// The position of each piece in `order`.
fn rank(order: &[u32], piece: u32) -> usize {
    order
        .iter()
        .position(|&p| p == piece)
        .expect("piece verified")
}

#[test]
fn high_files_come_first_and_low_files_last() {
    for seed in 1..=3 {
        let t = three_files(seed);
        let order = verified_order(seed, &t, |s, now, id| {
            s.set_file_priorities(
                now,
                id,
                vec![Priority::Low, Priority::Normal, Priority::High],
            )
            .unwrap();
        });
        assert_eq!(order.len(), 24, "seed {seed}: every piece once: {order:?}");
        assert_eq!(
            order
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            24
        );
        let last = |r: std::ops::Range<u32>| r.map(|p| rank(&order, p)).max().unwrap();
        let first = |r: std::ops::Range<u32>| r.map(|p| rank(&order, p)).min().unwrap();
        assert!(
            last(16..24) < first(0..8),
            "seed {seed}: a low piece before a high one: {order:?}"
        );
        // Normal pieces after high ones, low after normal, allowing for the few pieces in
        // flight when the picker moved on (partial pieces are finished first).
        let mean =
            |r: std::ops::Range<u32>| r.clone().map(|p| rank(&order, p)).sum::<usize>() / r.len();
        assert!(
            mean(16..24) < mean(8..16) && mean(8..16) < mean(0..8),
            "seed {seed}: {order:?}"
        );
        assert!(
            first(0..8) >= 14,
            "seed {seed}: a low piece started while most normal ones were missing: {order:?}"
        );
    }
}

#[test]
fn sequential_switched_on_after_the_add_fetches_in_index_order() {
    for seed in 1..=3 {
        let t = three_files(seed);
        let order = verified_order(seed, &t, |s, now, id| {
            s.set_sequential(now, id, true).unwrap();
        });
        let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(
            inversions <= 2,
            "seed {seed}: {inversions} out of order: {order:?}"
        );
        // Without it, rarest first among equals is random.
        let random = verified_order(seed, &t, |_, _, _| {});
        let inversions = random.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(
            inversions > 5,
            "seed {seed}: rarest first was ordered: {random:?}"
        );
    }
}

#[test]
fn sequential_from_the_add_completes_pieces_in_index_order() {
    for seed in 1..=3 {
        let t = three_files(seed);
        let options = TorrentOptions {
            sequential: true,
            ..TorrentOptions::default()
        };
        let order = verified_order_with(seed, &t, options, |_, _, _| {});
        assert_eq!(order.len(), 24, "seed {seed}: every piece once: {order:?}");
        // A piece may finish just before the one requested ahead of it (several are in
        // flight at once), never far out of place.
        let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(
            inversions <= 2,
            "seed {seed}: {inversions} out of order: {order:?}"
        );
        for (rank, &piece) in order.iter().enumerate() {
            assert!(
                rank.abs_diff(piece as usize) <= 2,
                "seed {seed}: piece {piece} verified {rank}th: {order:?}"
            );
        }
    }
}

#[test]
fn first_and_last_pieces_of_each_file_come_first() {
    for seed in 1..=3 {
        let t = three_files(seed);
        let order = verified_order(seed, &t, |s, now, id| {
            s.set_sequential(now, id, true).unwrap();
            s.set_first_last_pieces(now, id, true).unwrap();
        });
        let ends = [0, 7, 8, 15, 16, 23];
        let mut head = order[..6].to_vec();
        head.sort_unstable();
        assert_eq!(head, ends, "seed {seed}: {order:?}");
        // Then the rest in order.
        let rest: Vec<u32> = order[6..].to_vec();
        let inversions = rest.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions <= 2, "seed {seed}: {order:?}");
    }
}
