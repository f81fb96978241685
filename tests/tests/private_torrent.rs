//! Private torrents (BEP 27) in a session that runs a DHT: the private torrent's info-hash is
//! never sent in a datagram (no `get_peers`, no `announce_peer`) while the public torrent in
//! the same session is looked up; ut_pex runs for the public torrent and not for the private
//! one, though the same three nodes share both.

use std::net::SocketAddr;
use std::time::Duration;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

fn dht_config() -> SessionConfig {
    SessionConfig {
        dht: true,
        // Nobody answers there: the datagram log shows what the DHT asks.
        dht_bootstrap: vec![SocketAddr::from(([10, 0, 0, 1], 6881))],
        ..SessionConfig::default()
    }
}

fn datagrams_naming(sim: &Sim, hash: InfoHash) -> usize {
    sim.datagrams
        .iter()
        .filter(|(_, _, _, bytes)| bytes.windows(20).any(|w| w == hash.0))
        .count()
}

fn pex_events(sim: &Sim, node: usize, torrent: TorrentId) -> usize {
    sim.nodes[node]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PexPeers { torrent: t, .. } if *t == torrent))
        .count()
}

#[test]
fn private_torrent_has_no_dht_and_no_pex() {
    let mut sim = Sim::new(31, LinkConfig::default());
    let public = TestTorrent::single("public.bin", 4 * 1024 * 1024, 32 * 1024, 1);
    let private = TestTorrent::single_private("private.bin", 4 * 1024 * 1024, 32 * 1024, 2);
    assert!(private.meta.is_private() && !public.meta.is_private());
    let s = sim.add_node(dht_config());
    let x = sim.add_node(dht_config());
    let l = sim.add_node(dht_config());
    let (s_addr, x_addr) = (sim.nodes[s].addr, sim.nodes[x].addr);
    let mut ids = Vec::new();
    for t in [&public, &private] {
        sim.add_torrent(s, t, true, TorrentOptions::default());
        let tx = sim.add_torrent(x, t, false, TorrentOptions::default());
        let tl = sim.add_torrent(l, t, false, TorrentOptions::default());
        sim.add_peers(x, tx, &[s_addr]);
        ids.push((tx, tl));
    }
    let x_joined = |sim: &Sim| {
        sim.nodes[x]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::PeerConnected { .. }))
            .count()
            == 2
    };
    sim.run_until(x_joined, 100_000).expect("X connects first");
    for (_, tl) in &ids {
        sim.add_peers(l, *tl, &[s_addr]);
    }
    let until = sim.epoch + Duration::from_secs(400);
    sim.run_until(|sim| sim.now >= until, 400_000)
        .expect("time passes");
    let [(pub_x, pub_l), (priv_x, priv_l)] = ids[..] else {
        unreachable!()
    };
    for (node, t) in [(x, pub_x), (l, pub_l), (x, priv_x), (l, priv_l)] {
        assert!(
            sim.is_complete(node, t),
            "node {node} torrent {t:?} completes"
        );
    }

    // DHT: the public torrent is looked up (again after the lookup interval), the private
    // one never.
    let public_lookups = datagrams_naming(&sim, public.meta.info_hash());
    assert!(
        public_lookups >= 2 * 3,
        "each node looked up the public torrent: {public_lookups} datagrams"
    );
    assert_eq!(
        datagrams_naming(&sim, private.meta.info_hash()),
        0,
        "a datagram named the private torrent"
    );

    // PEX: L heard of X from S for the public torrent only, and dialled X only for it.
    assert!(
        pex_events(&sim, l, pub_l) >= 1,
        "PEX works for the public torrent"
    );
    assert_eq!(pex_events(&sim, l, priv_l), 0, "PEX on a private torrent");
    assert_eq!(pex_events(&sim, x, priv_x), 0, "PEX on a private torrent");
    let dialled_x = |t: TorrentId| {
        sim.saw(l, |e| {
            matches!(e, Event::PeerConnected { torrent, addr, .. } if *torrent == t && *addr == x_addr)
        })
    };
    assert!(
        dialled_x(pub_l),
        "L dialled X, learnt over PEX, for the public torrent"
    );
    assert!(!dialled_x(priv_l), "L dialled X for the private torrent");
}
