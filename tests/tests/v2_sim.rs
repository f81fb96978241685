//! BitTorrent v2-only torrents in the simulator: files on piece boundaries, every piece checked
//! against its file's merkle tree. A multi-file download (files smaller than a piece, sizes not
//! a multiple of it, an empty file) completes with the right bytes; a start check over a
//! partial, damaged disk keeps exactly the good pieces; and a peer that corrupts blocks is
//! banned by proof while the honest seeder is not.

use std::time::Duration;

use sanstorrent_core::session::{
    Event, PeerCloseReason, SessionConfig, TorrentOptions, TorrentSource,
};
use sanstorrent_core::storage::Storage;
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

const FILES: &[(&str, u64)] = &[
    ("a.bin", 100_000),
    ("d/small", 1_000),
    ("d/empty", 0),
    ("d/exact", 65_536),
    ("z.bin", 300_001),
];

fn multi(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::v2("v2", FILES, 65_536, seed);
    assert!(t.meta.info_hashes().is_v2_only());
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 200_000)
        .expect("the v2 download completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })),
        "seed {seed}: an honest piece failed its merkle check"
    );
    sim.print_summary("v2_multi")
}

#[test]
fn a_multi_file_v2_torrent_downloads_between_two_sessions() {
    sweep("v2_multi", 1, 3, multi);
}

#[test]
fn the_start_check_keeps_exactly_the_good_v2_pieces() {
    let mut sim = Sim::new(5, LinkConfig::default());
    let t = TestTorrent::v2("v2", FILES, 65_536, 5);
    let count = t.meta.piece_count();
    // Even pieces are on disk; piece 2 is then damaged in its first byte.
    let disk = t.partial_storage(|p| p % 2 == 0);
    let mut byte = [0u8];
    Storage::read(&*disk, 2, 0, &mut byte).unwrap();
    byte[0] ^= 0x55;
    Storage::write(&*disk, 2, 0, &byte).unwrap();
    let node = sim.add_node(SessionConfig::default());
    let id = sim.add_source(
        node,
        TorrentSource::Metainfo(t.meta.clone()),
        Some(disk),
        TorrentOptions::default(),
    );
    sim.run_for(Duration::from_secs(5), 100_000).expect("runs");
    let want = (0..count).filter(|p| p % 2 == 0 && *p != 2).count() as u32;
    assert!(
        sim.saw(node, |e| matches!(e, Event::Checked { torrent, have, .. }
            if *torrent == id && *have == want)),
        "the check did not find exactly the {want} good pieces of {count}"
    );
}

/// Blocks per piece (16 KiB blocks).
const BLOCKS_PER_PIECE: u64 = 16;

fn smart_ban(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let piece = (BLOCKS_PER_PIECE * 16 * 1024) as u32;
    let files = [("big.bin", 2 * 1024 * 1024 + 5), ("small.bin", 40_000)];
    let t = TestTorrent::v2("v2-ban", &files, piece, seed);
    let honest = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 2 * 1024 * 1024),
    );
    sim.add_torrent(honest, &t, true, TorrentOptions::default());
    let corrupt = sim.add_agent(Box::new(ScriptedPeer::new(
        &t,
        Behaviour::Corrupt,
        seed * 10 + 1,
    )));
    sim.net.set_link(
        corrupt,
        LinkConfig::new(Duration::from_millis(20), 128 * 1024),
    );
    let mut config = SessionConfig::default();
    config.picker.strikes_to_ban = u32::MAX;
    let leecher = sim.add_node(config);
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let peers = [sim.nodes[corrupt].addr, sim.nodes[honest].addr];
    sim.add_peers(leecher, id, &peers);
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the download completes despite the corrupt peer");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    sim.run_for(Duration::from_secs(120), 500_000)
        .expect("idle time");
    assert!(
        sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })),
        "seed {seed}: no piece failed"
    );
    let closed_as = |addr: std::net::IpAddr, reason: PeerCloseReason| {
        sim.saw(leecher, |e| {
            matches!(e, Event::PeerClosed { addr: a, reason: r, .. }
                if a.ip() == addr && *r == reason)
        })
    };
    assert!(
        closed_as(sim.nodes[corrupt].addr.ip(), PeerCloseReason::SmartBanned),
        "seed {seed}: the corrupt peer was not banned by proof"
    );
    for reason in [PeerCloseReason::Banned, PeerCloseReason::SmartBanned] {
        assert!(
            !closed_as(sim.nodes[honest].addr.ip(), reason.clone()),
            "seed {seed}: the honest seeder was closed as {reason:?}"
        );
    }
    sim.print_summary("v2_smart_ban")
}

#[test]
fn a_peer_corrupting_v2_blocks_is_banned_by_proof_and_the_honest_one_is_not() {
    sweep("v2_smart_ban", 1, 2, smart_ban);
}
