//! Disk faults with the simulated disk: a full disk, a read-only download directory, EIO
//! reading a seeded piece, and a seeded file truncated under the torrent. Each time the faulty
//! torrent stops with a typed disk error (or, for the truncated file, checks itself again),
//! a second torrent in the same session completes with the right bytes, no peer is ever
//! served wrong data, and the resume data saved claims only pieces the disk holds intact.

use sanstorrent_core::layout::Layout;
use sanstorrent_core::session::{
    Event, SessionConfig, SessionError, SnapshotDetail, TorrentErrorKind, TorrentId,
    TorrentOptions, TorrentPhase,
};
use sanstorrent_core::storage::{ResumeData, piece_matches};
use sanstorrent_tests::sim::{DiskFaults, LinkConfig, Sim, Summary, TestFile, TestTorrent, sweep};

const PIECE: u32 = 32 * 1024;

/// Two torrents: `a` (the one that suffers) and `b`.
fn torrents(seed: u64) -> (TestTorrent, TestTorrent) {
    torrents_of(seed, PIECE)
}

/// [`torrents`] with pieces of `piece` bytes.
fn torrents_of(seed: u64, piece: u32) -> (TestTorrent, TestTorrent) {
    let files = [
        TestFile::new("a/one.bin", 300 * 1024 + 17),
        TestFile::new("a/two.bin", 200 * 1024),
    ];
    let a = TestTorrent::multi("a", &files, piece, seed);
    let b = TestTorrent::single("b.bin", 400 * 1024 + 5, piece, seed + 1);
    (a, b)
}

/// A seeder of both torrents and a leecher of both; returns (sim, seeder, leecher, the
/// seeder's ids, the leecher's ids). Nobody has connected yet.
fn swarm(
    seed: u64,
    a: &TestTorrent,
    b: &TestTorrent,
) -> (Sim, usize, usize, [TorrentId; 2], [TorrentId; 2]) {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let seeder = sim.add_node(SessionConfig::default());
    let sa = sim.add_torrent(seeder, a, true, TorrentOptions::default());
    let sb = sim.add_torrent(seeder, b, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let la = sim.add_torrent(leecher, a, false, TorrentOptions::default());
    let lb = sim.add_torrent(leecher, b, false, TorrentOptions::default());
    sim.run_until(
        |s| checked(s, seeder, sa) && checked(s, seeder, sb),
        100_000,
    )
    .expect("the seeder checked its data");
    (sim, seeder, leecher, [sa, sb], [la, lb])
}

fn checked(sim: &Sim, node: usize, t: TorrentId) -> bool {
    sim.saw(
        node,
        |e| matches!(e, Event::Checked { torrent, .. } if *torrent == t),
    )
}

fn connect(sim: &mut Sim, seeder: usize, leecher: usize, ids: [TorrentId; 2]) {
    let addr = sim.nodes[seeder].addr;
    for id in ids {
        sim.add_peers(leecher, id, &[addr]);
    }
}

fn phase(sim: &mut Sim, node: usize, t: TorrentId) -> TorrentPhase {
    sim.nodes[node]
        .session()
        .torrent_stats(t)
        .expect("torrent")
        .phase
}

/// The disk errors node `node` reported for torrent `t`.
fn disk_errors(sim: &Sim, node: usize, t: TorrentId) -> Vec<String> {
    sim.nodes[node]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Error {
                torrent: Some(id),
                error: SessionError::Disk(error),
            } if *id == t => Some(error.to_string()),
            _ => None,
        })
        .collect()
}

/// The torrent's error as a front end shows it.
fn shown_error(sim: &mut Sim, node: usize, t: TorrentId) -> Option<(TorrentErrorKind, String)> {
    let now = sim.now;
    let snap = sim.nodes[node]
        .session()
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .expect("torrent");
    snap.error.map(|e| (e.kind(), e.to_string()))
}

/// The pieces node `node`'s last saved resume data claims for `t`; panics if one of them is
/// not intact in its storage.
fn resume_claims(sim: &Sim, node: usize, t: TorrentId, torrent: &TestTorrent) -> Vec<u32> {
    let layout: &Layout = torrent.meta.layout();
    let bytes = sim.nodes[node].resume.get(&t).expect("resume data saved");
    let saved = ResumeData::decode(bytes, layout).expect("valid resume data");
    let storage = sim.nodes[node].storages.get(&t).expect("storage");
    let claimed: Vec<u32> = saved.pieces.iter().collect();
    for &p in &claimed {
        let hash = torrent.meta.piece_hash(p).expect("piece hash");
        assert!(
            piece_matches(&**storage, p, &(*hash).into()).expect("readable"),
            "resume data claims piece {p}, which the disk does not hold"
        );
    }
    claimed
}

/// Torrent `b` completed on the leecher with the right bytes, and the leecher never got a
/// bad piece of either torrent.
fn other_torrent_carried_on(sim: &Sim, leecher: usize, lb: TorrentId, b: &TestTorrent) {
    assert!(sim.is_complete(leecher, lb), "the other torrent completed");
    assert!(sim.has_content(leecher, lb, b), "with the right bytes");
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })),
        "no peer was served wrong data"
    );
}

/// The disk of node `i`'s stopped torrent `t` repaired (its faults gone) and the torrent
/// started again: it completes with the right bytes, fetching no verified piece again.
fn started_again_completes(
    sim: &mut Sim,
    i: usize,
    t: TorrentId,
    torrent: &TestTorrent,
    seed: u64,
) {
    let verified = sim.nodes[i].verified(t).len();
    sim.nodes[i].faults.remove(&t);
    sim.with_session(i, |s, now| s.start_torrent(now, t).expect("started"));
    sim.run_until(|s| s.is_complete(i, t), 500_000)
        .unwrap_or_else(|e| panic!("seed {seed}: started again: {e}"));
    assert!(
        sim.has_content(i, t, torrent),
        "seed {seed}: the right bytes"
    );
    let events = &sim.nodes[i].events;
    let verified_twice = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PieceVerified { torrent, .. } if *torrent == t))
        .count()
        - sim.nodes[i].verified(t).len();
    assert_eq!(
        verified_twice, 0,
        "seed {seed}: {verified} verified before, fetched again"
    );
}

/// The leecher's disk for `a` fills up a third of the way: `a` stops with "no space left",
/// `b` completes, and `a`'s resume data claims only pieces written whole; with space again
/// and started, `a` completes.
fn full_disk(seed: u64) -> Summary {
    full_disk_of(seed, PIECE)
}

/// [`full_disk`] with pieces of `piece` bytes. With one block a piece, the write that fails
/// is the last of a piece every block of which arrived: started again, that piece must be
/// fetched again, not wait forever for a hash check of data that never reached the disk.
fn full_disk_of(seed: u64, piece: u32) -> Summary {
    let (a, b) = torrents_of(seed, piece);
    let (mut sim, seeder, leecher, seeded, [la, lb]) = swarm(seed, &a, &b);
    let space = a.meta.layout().total_length() / 3;
    sim.nodes[leecher].faults.insert(
        la,
        DiskFaults {
            space_left: Some(space),
            ..DiskFaults::default()
        },
    );
    connect(&mut sim, seeder, leecher, seeded);
    sim.run_until(
        |s| s.is_complete(leecher, lb) && !disk_errors(s, leecher, la).is_empty(),
        500_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    sim.run_until(
        |s| {
            s.saw(
                leecher,
                |e| matches!(e, Event::TorrentStopped { torrent } if *torrent == la),
            )
        },
        100_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let errors = disk_errors(&sim, leecher, la);
    assert!(
        errors[0].contains("No space left on device"),
        "seed {seed}: {errors:?}"
    );
    let (kind, message) = shown_error(&mut sim, leecher, la).expect("a shown error");
    assert_eq!(kind, TorrentErrorKind::Disk);
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(phase(&mut sim, leecher, la), TorrentPhase::Stopped);
    assert!(!sim.is_complete(leecher, la));
    other_torrent_carried_on(&sim, leecher, lb, &b);
    let claimed = resume_claims(&sim, leecher, la, &a);
    let verified = sim.nodes[leecher].verified(la);
    assert!(
        claimed.iter().all(|p| verified.contains(p)),
        "seed {seed}: resume data claims a piece never verified"
    );
    let layout = a.meta.layout();
    let bytes: u64 = claimed
        .iter()
        .map(|p| u64::from(layout.piece_len(*p)))
        .sum();
    assert!(
        bytes <= space,
        "seed {seed}: more pieces claimed than fit on the disk"
    );
    started_again_completes(&mut sim, leecher, la, &a, seed);
    sim.print_summary("disk_full")
}

/// The leecher's disk for `a`, with pieces of four blocks, is full for a while in the middle
/// of the download: writes fail with ENOSPC from a third of the way on, so pieces lose blocks
/// (first, middle or last) while their other writes succeed or are still in flight. `a` stops
/// with the error; each piece that lost a block is fetched again at once from nothing, so
/// with space freed and started again, `a` completes with the right bytes and no stall: no
/// piece fails its hash check (no honest peer is struck for a block our disk dropped) and no
/// byte more than `a` lacked is fetched (pieces in progress keep their written blocks).
fn enospc_for_a_while(seed: u64) -> Summary {
    let (a, b) = torrents_of(seed, 4 * 16 * 1024);
    let (mut sim, seeder, leecher, seeded, [la, lb]) = swarm(seed, &a, &b);
    let total = a.meta.layout().total_length();
    sim.nodes[leecher].faults.insert(
        la,
        DiskFaults {
            space_left: Some(total / 3),
            ..DiskFaults::default()
        },
    );
    connect(&mut sim, seeder, leecher, seeded);
    let stopped = |s: &Sim| {
        s.saw(
            leecher,
            |e| matches!(e, Event::TorrentStopped { torrent } if *torrent == la),
        )
    };
    sim.run_until(|s| s.is_complete(leecher, lb) && stopped(s), 500_000)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let errors = disk_errors(&sim, leecher, la);
    assert!(
        errors[0].contains("No space left on device"),
        "seed {seed}: {errors:?}"
    );
    assert_eq!(phase(&mut sim, leecher, la), TorrentPhase::Stopped);
    other_torrent_carried_on(&sim, leecher, lb, &b);
    let at_stop = sim.nodes[leecher]
        .session()
        .torrent_stats(la)
        .expect("torrent");
    let lacked = total - at_stop.have_bytes;
    assert!(lacked > 0, "seed {seed}: stopped before completing");

    started_again_completes(&mut sim, leecher, la, &a, seed);
    let done = sim.nodes[leecher]
        .session()
        .torrent_stats(la)
        .expect("torrent");
    let fetched = done.downloaded - at_stop.downloaded;
    assert_eq!(
        done.hash_failures, 0,
        "seed {seed}: a piece failed its hash"
    );
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })),
        "seed {seed}: a piece failed its hash"
    );
    assert!(
        fetched <= lacked,
        "seed {seed}: lacked {lacked} bytes, fetched {fetched}"
    );
    eprintln!(
        "enospc seed {seed}: {} of {total} bytes verified at the stop, {} received; \
         {fetched} fetched after the start ({lacked} lacked)",
        at_stop.have_bytes, at_stop.downloaded
    );
    sim.print_summary("disk_enospc_for_a_while")
}

/// The leecher's directory for `a` is read-only: `a` stops before downloading anything,
/// with "read-only file system"; `b` completes; writable again and started, `a` completes.
fn read_only_directory(seed: u64) -> Summary {
    let (a, b) = torrents(seed);
    let mut sim = Sim::new(seed, LinkConfig::default());
    let seeder = sim.add_node(SessionConfig::default());
    let sa = sim.add_torrent(seeder, &a, true, TorrentOptions::default());
    let sb = sim.add_torrent(seeder, &b, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    // Faults apply from the first job: the ids a node gives are 1, 2, … in order.
    let la = TorrentId(1);
    sim.nodes[leecher].faults.insert(
        la,
        DiskFaults {
            read_only: true,
            ..DiskFaults::default()
        },
    );
    assert_eq!(
        sim.add_torrent(leecher, &a, false, TorrentOptions::default()),
        la
    );
    let lb = sim.add_torrent(leecher, &b, false, TorrentOptions::default());
    connect(&mut sim, seeder, leecher, [sa, sb]);
    sim.run_until(|s| s.is_complete(leecher, lb), 500_000)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let errors = disk_errors(&sim, leecher, la);
    assert!(
        errors
            .first()
            .is_some_and(|e| e.contains("Read-only file system")),
        "seed {seed}: {errors:?}"
    );
    assert_eq!(phase(&mut sim, leecher, la), TorrentPhase::Stopped);
    let (kind, _) = shown_error(&mut sim, leecher, la).expect("a shown error");
    assert_eq!(kind, TorrentErrorKind::Disk);
    assert!(sim.nodes[leecher].verified(la).is_empty());
    other_torrent_carried_on(&sim, leecher, lb, &b);
    if sim.nodes[leecher].resume.contains_key(&la) {
        assert!(resume_claims(&sim, leecher, la, &a).is_empty());
    }
    started_again_completes(&mut sim, leecher, la, &a, seed);
    sim.print_summary("disk_read_only")
}

/// Reading one piece of `a` fails with EIO on the seeder once it seeds: the seeder's `a`
/// stops with "input/output error" as soon as a peer asks for that piece, its `b` goes on
/// serving, and its resume data still claims every piece (the data was not lost).
fn read_error(seed: u64) -> Summary {
    let (a, b) = torrents(seed);
    let (mut sim, seeder, leecher, [sa, sb], [la, lb]) = swarm(seed, &a, &b);
    let bad = a.meta.piece_count() / 2;
    sim.nodes[seeder].faults.insert(
        sa,
        DiskFaults {
            eio_on_piece: Some(bad),
            ..DiskFaults::default()
        },
    );
    connect(&mut sim, seeder, leecher, [sa, sb]);
    sim.run_until(
        |s| {
            s.is_complete(leecher, lb)
                && s.saw(
                    seeder,
                    |e| matches!(e, Event::TorrentStopped { torrent } if *torrent == sa),
                )
        },
        500_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let errors = disk_errors(&sim, seeder, sa);
    assert!(
        errors[0].contains("Input/output error"),
        "seed {seed}: {errors:?}"
    );
    let (kind, _) = shown_error(&mut sim, seeder, sa).expect("a shown error");
    assert_eq!(kind, TorrentErrorKind::Disk);
    assert_eq!(phase(&mut sim, seeder, sb), TorrentPhase::Seeding);
    assert!(!sim.nodes[leecher].verified(la).contains(&bad));
    other_torrent_carried_on(&sim, leecher, lb, &b);
    // The faulty disk still holds every piece intact (it only fails to read one).
    sim.nodes[seeder].faults.remove(&sa);
    let claimed = resume_claims(&sim, seeder, sa, &a);
    assert_eq!(claimed.len() as u32, a.meta.piece_count(), "seed {seed}");
    sim.print_summary("disk_read_error")
}

/// The seeder's first file of `a` is truncated to a third under the running torrent: the
/// first read past the new end makes it check `a` again (no error shown, nothing wrong
/// served), after which it has exactly the pieces still whole, saves resume data that claims
/// no piece past the cut, and downloads the rest back from a late seeder.
fn truncated_file(seed: u64) -> Summary {
    let (a, b) = torrents(seed);
    let (mut sim, seeder, leecher, [sa, sb], [la, lb]) = swarm(seed, &a, &b);
    let layout = a.meta.layout().clone();
    let kept = layout.files()[0].length / 3;
    sim.nodes[seeder].storages[&sa].truncate_file(0, kept);
    let whole: Vec<u32> = (0..layout.piece_count())
        .filter(|&p| {
            let end = layout.piece_offset(p) + u64::from(layout.piece_len(p));
            end <= kept || layout.piece_offset(p) >= layout.files()[0].length
        })
        .collect();
    connect(&mut sim, seeder, leecher, [sa, sb]);
    let rechecked = |s: &Sim| {
        s.saw(seeder, |e| {
            matches!(e, Event::Error { torrent: Some(t), error: SessionError::DataMissing { .. } } if *t == sa)
        })
    };
    sim.run_until(|s| s.is_complete(leecher, lb) && rechecked(s), 500_000)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    sim.run_until(
        |s| {
            s.nodes[seeder]
                .events
                .iter()
                .filter(|(_, e)| matches!(e, Event::Checked { torrent, .. } if *torrent == sa))
                .count()
                == 2
        },
        100_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let have = sim.nodes[seeder]
        .session()
        .torrent_stats(sa)
        .expect("torrent")
        .pieces_have;
    assert_eq!(
        have as usize,
        whole.len(),
        "seed {seed}: the pieces still whole"
    );
    assert!(disk_errors(&sim, seeder, sa).is_empty(), "seed {seed}");
    let shown = shown_error(&mut sim, seeder, sa);
    assert!(
        matches!(&shown, Some((TorrentErrorKind::Disk, text)) if text.starts_with("data missing from disk")),
        "seed {seed}: the missing data is shown until it is back: {shown:?}"
    );
    other_torrent_carried_on(&sim, leecher, lb, &b);
    // The stop before the check saved no piece with a byte past the cut.
    let claimed = resume_claims(&sim, seeder, sa, &a);
    assert!(
        claimed.iter().all(|p| whole.contains(p)),
        "seed {seed}: {claimed:?} claimed, {whole:?} whole"
    );

    // A late seeder: both get every piece, and the seeder's file grows back whole.
    let late = sim.add_node(SessionConfig::default());
    let fa = sim.add_torrent(late, &a, true, TorrentOptions::default());
    sim.run_until(|s| checked(s, late, fa), 100_000)
        .expect("the late seeder checked");
    let late_addr = sim.nodes[late].addr;
    sim.add_peers(seeder, sa, &[late_addr]);
    sim.add_peers(leecher, la, &[late_addr]);
    sim.run_until(
        |s| s.is_complete(seeder, sa) && s.is_complete(leecher, la),
        500_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(
        sim.has_content(seeder, sa, &a),
        "seed {seed}: seeder's bytes"
    );
    assert_eq!(shown_error(&mut sim, seeder, sa), None, "seed {seed}");
    assert!(
        sim.has_content(leecher, la, &a),
        "seed {seed}: leecher's bytes"
    );
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })),
        "seed {seed}: no peer was served wrong data"
    );
    sim.run_until(
        |s| {
            s.nodes[seeder]
                .resume
                .get(&sa)
                .is_some_and(|r| ResumeData::decode(r, &layout).is_ok_and(|d| d.pieces.is_full()))
        },
        100_000,
    )
    .unwrap_or_else(|e| panic!("seed {seed}: the complete torrent's resume data: {e}"));
    resume_claims(&sim, seeder, sa, &a);
    sim.print_summary("disk_truncated")
}

#[test]
fn a_full_disk_stops_that_torrent_and_the_other_completes() {
    sweep("disk_full", 1, 3, full_disk);
}

#[test]
fn a_full_disk_with_one_block_pieces_resumes_after_the_failed_writes() {
    sweep("disk_full_one_block", 1, 3, |seed| {
        full_disk_of(seed, 16 * 1024)
    });
}

#[test]
fn a_disk_full_for_a_while_relists_the_pieces_that_lost_a_write_and_completes_once_freed() {
    sweep("disk_enospc_for_a_while", 1, 3, enospc_for_a_while);
}

#[test]
fn a_read_only_directory_stops_that_torrent_and_the_other_completes() {
    sweep("disk_read_only", 1, 2, read_only_directory);
}

#[test]
fn a_read_error_stops_the_seeded_torrent_and_the_other_is_served() {
    sweep("disk_read_error", 1, 3, read_error);
}

#[test]
fn a_file_truncated_under_a_seed_is_checked_again_and_recovered() {
    sweep("disk_truncated", 1, 3, truncated_file);
}
