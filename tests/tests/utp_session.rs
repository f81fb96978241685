//! Two of our sessions over uTP in the simulation: the peer connection runs over the session's
//! own uTP socket (datagrams only, no TCP connect), plain or encrypted, with or without loss;
//! with `Transport::Both` a dial to a peer without uTP falls back to TCP.

use std::time::{Duration, Instant};

use sanstorrent_core::session::{
    OutgoingEncryption, SessionConfig, SnapshotDetail, TorrentOptions, TorrentPhase, Transport,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

struct Run {
    sim: Sim,
    virtual_time: Duration,
    /// For each peer of the leecher when it finished: whether it was connected over uTP.
    peers_utp: Vec<bool>,
}

fn transfer(
    seed: u64,
    link: LinkConfig,
    seeder: SessionConfig,
    leecher: SessionConfig,
    len: u64,
) -> Run {
    let wall = Instant::now();
    let mut sim = Sim::new(seed, link);
    let t = TestTorrent::single("data.bin", len, 64 * 1024, seed);
    let s = sim.add_node(seeder);
    let l = sim.add_node(leecher);
    let _ = sim.add_torrent(s, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(l, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[s].addr;
    sim.add_peers(l, tl, &[seeder_addr]);
    let peers_utp = |sim: &Sim| -> Vec<bool> {
        let detail = SnapshotDetail {
            peers: true,
            ..SnapshotDetail::default()
        };
        let session = sim.nodes[l].session.as_ref();
        let snapshot = session.and_then(|s| s.torrent_snapshot(sim.now, tl, detail));
        snapshot.map_or(Vec::new(), |s| s.peers.iter().map(|p| p.utp).collect())
    };
    sim.run_until(|s| !peers_utp(s).is_empty(), 2_000_000)
        .expect("a peer connects");
    let peers_utp = peers_utp(&sim);
    sim.run_until(|s| s.is_complete(l, tl), 2_000_000)
        .expect("download completes");
    let got = sim.nodes[l].storages[&tl]
        .file_data(0)
        .expect("file written");
    assert!(got == t.files[0], "downloaded bytes differ");
    let stats = sim.nodes[l].session().torrent_stats(tl).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    let virtual_time = sim.elapsed();
    eprintln!(
        "seed {seed}: {len} bytes in {virtual_time:?} virtual ({:.2} MB/s), {:?} wall, net {:?}",
        len as f64 / virtual_time.as_secs_f64() / 1e6,
        wall.elapsed(),
        sim.net.stats
    );
    Run {
        sim,
        virtual_time,
        peers_utp,
    }
}

fn config(transport: Transport) -> SessionConfig {
    SessionConfig {
        transport,
        ..SessionConfig::default()
    }
}

#[test]
fn a_torrent_moves_over_utp_only() {
    let run = transfer(
        1,
        LinkConfig::default(),
        config(Transport::Utp),
        config(Transport::Utp),
        3 * 1024 * 1024 + 777,
    );
    let net = run.sim.net.stats;
    assert_eq!(net.connects, 0, "no TCP connect");
    assert_eq!(net.bytes, 0, "no stream byte");
    assert!(net.datagrams > 2 * 3 * 1024 * 1024 / 1200, "{net:?}");
}

#[test]
fn encrypted_over_utp_with_loss_and_delay() {
    let link = LinkConfig {
        latency: Duration::from_millis(50),
        loss: 0.01,
        ..LinkConfig::default()
    };
    let leecher = SessionConfig {
        outgoing_encryption: OutgoingEncryption::Prefer,
        ..config(Transport::Utp)
    };
    let run = transfer(2, link, config(Transport::Utp), leecher, 1024 * 1024);
    let net = run.sim.net.stats;
    assert_eq!(net.connects, 0, "no TCP connect");
    assert!(net.datagrams_lost > 0, "{net:?}");
}

#[test]
fn both_prefers_utp_and_falls_back_to_tcp() {
    let run = transfer(
        3,
        LinkConfig::default(),
        config(Transport::Both),
        config(Transport::Both),
        512 * 1024,
    );
    assert_eq!(run.sim.net.stats.connects, 0, "uTP answered: no TCP");
    assert_eq!(
        run.peers_utp,
        [true],
        "the snapshot shows the uTP connection"
    );

    // A seeder without uTP ignores the SYN: the leecher dials TCP after `utp_fallback`.
    let fallback = Duration::from_millis(700);
    let leecher = SessionConfig {
        utp_fallback: fallback,
        ..config(Transport::Both)
    };
    let run = transfer(
        4,
        LinkConfig::default(),
        config(Transport::Tcp),
        leecher,
        512 * 1024,
    );
    assert_eq!(run.sim.net.stats.connects, 1, "one TCP connect after uTP");
    assert_eq!(
        run.peers_utp,
        [false],
        "the snapshot shows TCP after the fallback"
    );
    assert!(run.virtual_time >= fallback, "{:?}", run.virtual_time);

    // uTP only to a peer without it: no TCP, and no download.
    let mut sim = Sim::new(5, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 64 * 1024, 16 * 1024, 5);
    let s = sim.add_node(config(Transport::Tcp));
    let l = sim.add_node(config(Transport::Utp));
    let _ = sim.add_torrent(s, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(l, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[s].addr;
    sim.add_peers(l, tl, &[seeder_addr]);
    sim.run_for(Duration::from_secs(20), 200_000).expect("runs");
    assert!(!sim.is_complete(l, tl));
    assert_eq!(sim.net.stats.connects, 0);
}
