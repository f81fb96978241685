//! What a session knows of a peer's uTP decides how `Transport::Both` dials it: a peer that a
//! `ut_pex` message flags `0x04` (supports uTP) keeps its uTP dial on a path slower than the
//! fallback delay, where an unknown peer falls back to TCP; a peer whose uTP dial fell back
//! is redialled over TCP at once, without another SYN.

use std::net::SocketAddr;
use std::time::Duration;

use sanstorrent_core::session::{
    SessionConfig, SnapshotDetail, TorrentId, TorrentOptions, Transport,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

fn both() -> SessionConfig {
    SessionConfig {
        transport: Transport::Both,
        ..SessionConfig::default()
    }
}

/// Node `n`'s peers in torrent `t`: (address, over uTP).
fn peers(sim: &Sim, n: usize, t: TorrentId) -> Vec<(SocketAddr, bool)> {
    let detail = SnapshotDetail {
        peers: true,
        ..SnapshotDetail::default()
    };
    let session = sim.nodes[n].session.as_ref();
    let snapshot = session.and_then(|s| s.torrent_snapshot(sim.now, t, detail));
    snapshot.map_or(Vec::new(), |s| {
        s.peers.iter().map(|p| (p.addr, p.utp)).collect()
    })
}

/// The seeder S and a leecher M connect over uTP; leecher L, 700 ms from everyone (a round
/// trip of 1.4 s, longer than the 1 s fallback), is given only M's address. L's uTP dial to M
/// falls back to TCP; M's PEX message names S with `0x04` (M reaches S over uTP), so L's uTP
/// dial to S waits longer and S stays on uTP.
#[test]
fn a_peer_flagged_utp_by_pex_keeps_its_utp_dial_on_a_slow_path() {
    let mut sim = Sim::new(21, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 2 * 1024 * 1024, 64 * 1024, 21);
    // S reads no PEX, so it never learns of L and dials it itself; it uploads slowly, so that
    // M is still downloading from it (and names it in PEX) when L arrives.
    let s = sim.add_node(SessionConfig {
        pex: false,
        upload_rate_limit: Some(200 * 1024),
        ..both()
    });
    let m = sim.add_node(both());
    let slow = LinkConfig {
        latency: Duration::from_millis(700),
        ..LinkConfig::default()
    };
    let l = sim.add_node_with(both(), slow);
    let (s_addr, m_addr) = (sim.nodes[s].addr, sim.nodes[m].addr);
    sim.add_torrent(s, &t, true, TorrentOptions::default());
    let tm = sim.add_torrent(m, &t, false, TorrentOptions::default());
    sim.add_peers(m, tm, &[s_addr]);
    sim.run_until(|sim| peers(sim, m, tm) == [(s_addr, true)], 1_000_000)
        .expect("M connects to S over uTP");
    let tl = sim.add_torrent(l, &t, false, TorrentOptions::default());
    sim.add_peers(l, tl, &[m_addr]);
    if let Err(e) = sim.run_until(|sim| peers(sim, l, tl).len() == 2, 200_000) {
        let lines: Vec<&String> = sim.log_lines().iter().take(200).collect();
        panic!("L connects to M and, through PEX, to S: {e}; log:\n{lines:#?}");
    }
    let mut seen = peers(&sim, l, tl);
    seen.sort();
    eprintln!("L's peers: {seen:?}");
    assert!(
        seen.contains(&(m_addr, false)),
        "M unknown: TCP after the fallback: {seen:?}"
    );
    assert!(
        seen.contains(&(s_addr, true)),
        "S flagged uTP by PEX: uTP: {seen:?}"
    );
    sim.run_until(|sim| sim.is_complete(l, tl), 2_000_000)
        .expect("L completes");
    assert!(sim.has_content(l, tl, &t));
}

/// A seeder without uTP: the leecher's first dial waits the fallback, then TCP; once the seeder
/// restarts, the leecher's next dial to it goes over TCP straight away (no uTP datagram).
#[test]
fn a_peer_whose_utp_dial_fell_back_is_redialled_over_tcp() {
    let mut sim = Sim::new(22, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 4 * 1024 * 1024, 64 * 1024, 22);
    let tcp_only = || SessionConfig {
        transport: Transport::Tcp,
        ..SessionConfig::default()
    };
    let s = sim.add_node(tcp_only());
    let l = sim.add_node(both());
    let s_addr = sim.nodes[s].addr;
    sim.add_torrent(s, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(l, &t, false, TorrentOptions::default());
    sim.add_peers(l, tl, &[s_addr]);
    sim.run_until(|sim| peers(sim, l, tl) == [(s_addr, false)], 1_000_000)
        .expect("L connects over TCP after the fallback");
    let to_s = |sim: &Sim| {
        sim.datagrams
            .iter()
            .filter(|(_, from, to, _)| *from == l && *to == s_addr)
            .count()
    };
    let first = to_s(&sim);
    assert!(first > 0, "the first dial tried uTP");
    sim.crash(s);
    sim.run_for(Duration::from_millis(500), 100_000)
        .expect("runs");
    assert!(peers(&sim, l, tl).is_empty(), "the connection ended");
    sim.start_session(s, tcp_only());
    sim.add_torrent(s, &t, true, TorrentOptions::default());
    sim.run_until(|sim| peers(sim, l, tl) == [(s_addr, false)], 2_000_000)
        .expect("L reconnects over TCP");
    assert_eq!(to_s(&sim), first, "no uTP SYN on the redial");
}
