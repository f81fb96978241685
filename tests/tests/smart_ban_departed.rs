//! Smart ban of a peer that already left: a peer flips a byte of every block it sends and drops
//! the connection after two blocks, long before the pieces it touched fail and pass again. When
//! the proof comes, it is banned by address all the same (`PeerBanned`, `SmartBanned`), so the
//! leecher, which still wants peers (it skips the second file, so it never becomes a seed),
//! never dials it again although its reconnect backoff runs out many times over.

use std::time::Duration;

use sanstorrent_core::session::Priority;
use sanstorrent_core::session::{Event, PeerCloseReason, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestFile, TestTorrent, sweep,
};

/// Blocks per piece (16 KiB blocks).
const BLOCKS_PER_PIECE: u64 = 16;

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let files = [
        TestFile::new("wanted.bin", 2 * 1024 * 1024),
        TestFile::new("skipped.bin", 1024 * 1024),
    ];
    let t = TestTorrent::multi(
        "departed",
        &files,
        (BLOCKS_PER_PIECE * 16 * 1024) as u32,
        seed,
    );
    let honest = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 2 * 1024 * 1024),
    );
    sim.add_torrent(honest, &t, true, TorrentOptions::default());
    let corrupt = sim.add_agent(Box::new(ScriptedPeer::new(
        &t,
        Behaviour::CorruptFlaky(2),
        seed * 10 + 3,
    )));
    sim.net.set_link(
        corrupt,
        LinkConfig::new(Duration::from_millis(20), 128 * 1024),
    );
    // Strikes never ban here: a ban can only come from the smart ban's proof.
    let mut config = SessionConfig::default();
    config.picker.strikes_to_ban = u32::MAX;
    let leecher = sim.add_node(config);
    let options = TorrentOptions {
        file_priorities: vec![Priority::Normal, Priority::Skip],
        ..TorrentOptions::default()
    };
    let id = sim.add_torrent(leecher, &t, false, options);
    let corrupt_addr = sim.nodes[corrupt].addr;
    sim.add_peers(leecher, id, &[corrupt_addr, sim.nodes[honest].addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the wanted file completes despite the corrupt peer");
    // Long enough for the 10 s reconnect backoff to expire many times.
    sim.run_for(Duration::from_secs(180), 500_000)
        .expect("idle time");

    let failed = sim.nodes[leecher]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PieceFailed { .. }))
        .count();
    assert!(failed > 0, "seed {seed}: no piece failed");
    let p = sim.nodes[corrupt].agent::<ScriptedPeer>();
    assert_eq!(p.blocks_sent, 2, "seed {seed}: it sent two blocks and left");
    assert_eq!(
        p.closed, 0,
        "seed {seed}: it left by itself, the leecher closed nothing"
    );
    assert!(
        sim.saw(
            leecher,
            |e| matches!(e, Event::PeerBanned { addr, reason, .. }
            if *addr == corrupt_addr && *reason == PeerCloseReason::SmartBanned)
        ),
        "seed {seed}: the departed corrupt peer was not banned by proof"
    );
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::PeerBanned { addr, .. }
            if *addr != corrupt_addr)),
        "seed {seed}: someone else was banned"
    );
    assert_eq!(
        p.accepted, 1,
        "seed {seed}: the banned peer was dialled again after it left"
    );
    let stats = sim.nodes[leecher].session().torrent_stats(id).unwrap();
    assert_eq!(
        stats.peers_known, 1,
        "seed {seed}: only the honest seeder is left"
    );
    sim.print_summary("smart_ban_departed")
}

#[test]
fn a_corrupt_peer_that_left_before_the_proof_is_banned_and_never_dialled_again() {
    sweep("smart_ban_departed", 1, 3, scenario);
}
