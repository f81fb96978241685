//! Smart ban: an honest seeder and a peer that flips a byte of every block it sends both serve
//! the same pieces (large pieces, the corrupt peer on a slower link, so it sends a few blocks of
//! pieces the honest seeder fills). Strikes are switched off, so only proof bans: once a failed
//! piece passes on re-download, the corrupt peer's recorded block differs from the good one and
//! it is banned and closed as `SmartBanned`; the honest seeder, whose blocks of the same failed
//! pieces matched, is not. The download completes with the right bytes.

use std::time::Duration;

use sanstorrent_core::session::{Event, PeerCloseReason, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

/// Blocks per piece (16 KiB blocks).
const BLOCKS_PER_PIECE: u64 = 16;

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single(
        "smart-ban.bin",
        2 * 1024 * 1024,
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
        Behaviour::Corrupt,
        seed * 10 + 1,
    )));
    sim.net.set_link(
        corrupt,
        LinkConfig::new(Duration::from_millis(20), 128 * 1024),
    );
    // Strikes never ban here: a ban can only come from the smart ban's proof.
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

    let failed = sim.nodes[leecher]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PieceFailed { .. }))
        .count();
    assert!(failed > 0, "seed {seed}: no piece failed");
    let closed_as = |addr: std::net::IpAddr, reason: PeerCloseReason| {
        sim.saw(leecher, |e| {
            matches!(e, Event::PeerClosed { addr: a, reason: r, .. }
                if a.ip() == addr && *r == reason)
        })
    };
    let corrupt_ip = sim.nodes[corrupt].addr.ip();
    let honest_ip = sim.nodes[honest].addr.ip();
    assert!(
        closed_as(corrupt_ip, PeerCloseReason::SmartBanned),
        "seed {seed}: the corrupt peer was not banned by proof"
    );
    for reason in [PeerCloseReason::Banned, PeerCloseReason::SmartBanned] {
        assert!(
            !closed_as(honest_ip, reason.clone()),
            "seed {seed}: the honest seeder was closed as {reason:?}"
        );
    }
    let p = sim.nodes[corrupt].agent::<ScriptedPeer>();
    eprintln!(
        "smart_ban: seed {seed}: {failed} pieces failed, corrupt peer sent {} blocks, \
         accepted {} connections",
        p.blocks_sent, p.accepted
    );
    assert_eq!(
        p.accepted, 1,
        "seed {seed}: the banned peer was dialled again"
    );
    // Fewer bad blocks than a piece has, and every failed piece had one: each failed piece
    // also held blocks from the honest seeder, which were recorded and found good.
    assert!(
        p.blocks_sent < BLOCKS_PER_PIECE,
        "seed {seed}: the corrupt peer sent {} blocks: it could have filled a piece alone",
        p.blocks_sent
    );
    sim.print_summary("smart_ban")
}

#[test]
fn a_peer_proven_to_send_a_bad_block_is_banned_and_the_honest_one_is_not() {
    sweep("smart_ban", 1, 3, scenario);
}
