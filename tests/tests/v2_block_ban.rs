//! BitTorrent v2 verification by merkle tree at block level: in a v2 torrent, a peer that
//! sends one corrupt block among good ones is found exactly. The failed piece's leaf hashes
//! are asked of an honest v2 peer (one hash request: layer 0, the piece's 16 leaves), each
//! stored block is checked against its leaf, the sender of the bad block alone is banned, and
//! only that block is downloaded again: the piece's other 15 blocks are kept.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use sanstorrent_core::session::{Event, PeerCloseReason, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, Block, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

/// 16 KiB blocks per piece.
const BLOCKS_PER_PIECE: u32 = 16;
const PIECE: u32 = BLOCKS_PER_PIECE * 16 * 1024;

fn one_bad_block(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let files = [("data.bin", 4 * u64::from(PIECE) * 4 + 1_000)];
    let t = TestTorrent::v2("v2-block", &files, PIECE, seed);
    assert!(t.meta.info_hashes().is_v2_only());
    let link = LinkConfig::new(Duration::from_millis(20), 1024 * 1024);
    let corrupt = sim.add_agent(Box::new(ScriptedPeer::new(
        &t,
        Behaviour::CorruptOne(5),
        seed * 10 + 1,
    )));
    sim.net.set_link(corrupt, link);
    let honest = sim.add_agent(Box::new(ScriptedPeer::new(
        &t,
        Behaviour::HonestV2,
        seed * 10 + 2,
    )));
    sim.net.set_link(honest, link);
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let peers = [sim.nodes[corrupt].addr, sim.nodes[honest].addr];
    sim.add_peers(leecher, id, &peers);
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the download completes despite the corrupt block");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");

    let mut bad: Vec<Block> = Vec::new();
    let mut requested: Vec<(std::time::Instant, Block)> = Vec::new();
    let mut hash_requests = Vec::new();
    sim.with_agent(corrupt, |p: &mut ScriptedPeer, _| {
        bad = p.corrupted.clone();
        requested.extend(p.requested.iter().copied());
        assert!(
            p.hash_requests.is_empty(),
            "the sender of the bad block was asked"
        );
    });
    sim.with_agent(honest, |p: &mut ScriptedPeer, _| {
        requested.extend(p.requested.iter().copied());
        hash_requests = p.hash_requests.clone();
    });
    let [(piece, offset, _)] = bad[..] else {
        panic!("seed {seed}: expected one corrupt block sent, got {bad:?}");
    };

    let failed: Vec<u32> = sim.nodes[leecher]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PieceFailed { piece, .. } => Some(*piece),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [piece], "seed {seed}: the one bad piece fails once");

    // One hash request, for the failed piece's leaves, of the honest v2 peer.
    assert_eq!(hash_requests.len(), 1, "seed {seed}: {hash_requests:?}");
    let (asked_at, request) = hash_requests[0];
    assert_eq!(
        (
            request.base_layer,
            request.index,
            request.length,
            request.proof_layers
        ),
        (0, piece * BLOCKS_PER_PIECE, BLOCKS_PER_PIECE, 0),
        "seed {seed}: the leaves of piece {piece}"
    );

    // Each block of the piece was requested once, the bad one once more after the check.
    let mut per_block: BTreeMap<u32, u32> = BTreeMap::new();
    for (_, (p, off, _)) in &requested {
        if *p == piece {
            *per_block.entry(*off).or_default() += 1;
        }
    }
    let again: Vec<u32> = requested
        .iter()
        .filter(|(at, (p, _, _))| *p == piece && *at > asked_at)
        .map(|(_, (_, off, _))| *off)
        .collect();
    println!(
        "seed {seed}: piece {piece} block {} bad; requests per block {per_block:?}; after the \
         check: {again:?}",
        offset / (16 * 1024)
    );
    assert_eq!(
        again,
        [offset],
        "seed {seed}: only the bad block is fetched again"
    );
    for b in 0..BLOCKS_PER_PIECE {
        let off = b * 16 * 1024;
        let want = if off == offset { 2 } else { 1 };
        assert_eq!(
            per_block.get(&off).copied().unwrap_or(0),
            want,
            "seed {seed}: requests of block {b} of piece {piece}"
        );
    }

    let closed_as = |addr: IpAddr, reason: PeerCloseReason| {
        sim.saw(leecher, |e| {
            matches!(e, Event::PeerClosed { addr: a, reason: r, .. }
                if a.ip() == addr && *r == reason)
        })
    };
    assert!(
        closed_as(sim.nodes[corrupt].addr.ip(), PeerCloseReason::SmartBanned),
        "seed {seed}: the sender of the bad block was not banned by proof"
    );
    let honest_ip = sim.nodes[honest].addr.ip();
    for reason in [
        PeerCloseReason::Banned,
        PeerCloseReason::SmartBanned,
        PeerCloseReason::BadHashes,
    ] {
        assert!(
            !closed_as(honest_ip, reason.clone()),
            "seed {seed}: the honest peer was closed as {reason:?}"
        );
    }
    assert!(
        !sim.saw(leecher, |e| {
            matches!(e, Event::PeerBanned { addr, .. } if addr.ip() == honest_ip)
        }),
        "seed {seed}: the honest peer was banned"
    );
    sim.print_summary("v2_block_ban")
}

#[test]
fn one_corrupt_block_bans_its_sender_alone_and_only_it_is_fetched_again() {
    sweep("v2_block_ban", 1, 3, one_bad_block);
}
