//! Magnets, ut_metadata and ut_pex against libtorrent on 127.0.0.1, with the smol runtime:
//! - a magnet link with no tracker downloads from a libtorrent seeder that our client finds
//!   only through loopback libtorrent DHT nodes (our DHT bootstraps from them alone); the
//!   metadata comes from libtorrent; the data is verified;
//! - we learn of a second libtorrent peer only through ut_pex from the first;
//! - libtorrent fetches the metadata from us (a magnet and our address only).

mod runtime_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use runtime_support::{assert_same_tree, bounded, data};
use sanstorrent_core::session::SessionConfig;
use sanstorrent_smol::{Client, ClientConfig, Event, TorrentId, TorrentOptions, block_on};
use sanstorrent_tests::interop::{Proc, WorkDir, free_port, lt_listen_port, lt_peer};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn client(state: &Path, session: SessionConfig) -> Client {
    let config = ClientConfig {
        state_dir: Some(state.to_path_buf()),
        session,
        ..ClientConfig::loopback()
    };
    Client::new(config).await.expect("client starts")
}

/// Waits for `TorrentComplete` of `torrent`, returning every event seen on the way.
async fn events_until_complete(c: &Client, torrent: TorrentId) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        match c.next_event().await {
            Some(Event::TorrentComplete { torrent: t }) if t == torrent => return seen,
            Some(e) => {
                match &e {
                    Event::Error { error, .. } => eprintln!("error: {error}"),
                    Event::PeerClosed { addr, reason, .. } => {
                        eprintln!("peer {addr} closed: {reason}");
                    }
                    Event::MetadataReceived { .. } | Event::PexPeers { .. } => {
                        eprintln!("{e:?}");
                    }
                    _ => {}
                }
                seen.push(e);
            }
            None => panic!("client stopped before completing"),
        }
    }
}

/// Three libtorrent DHT nodes bootstrapping from each other; returns them and their ports.
fn dht_nodes(work: &WorkDir) -> (Vec<Proc>, Vec<u16>) {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes: Vec<Proc> = (0..3)
        .map(|i| {
            let boot = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            let port = ports[i].to_string();
            lt_peer(
                work,
                &format!("node{i}"),
                170,
                &[
                    "--dht-node",
                    "--print-dht-port",
                    "--port",
                    &port,
                    "--dht-bootstrap",
                    &boot,
                ],
            )
        })
        .collect();
    for node in &nodes {
        node.wait_for_line("DHT_PORT ", Duration::from_secs(20));
    }
    (nodes, ports)
}

#[test]
fn magnet_without_tracker_downloads_through_libtorrent_dht() {
    bounded(170, || {
        let work = WorkDir::new("mag-dht");
        let (_nodes, ports) = dht_nodes(&work);
        let boot = ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let d = data(&work, "multi", 3_000_000, 32 * 1024, &[]);
        let seeder = lt_peer(
            &work,
            "lt-seeder",
            170,
            &[
                "--torrent",
                d.torrent.to_str().expect("UTF-8"),
                "--save",
                d.dir.to_str().expect("UTF-8"),
                "--seed",
                "--seed-mode",
                "--no-utp",
                "--dht",
                "--dht-bootstrap",
                &boot,
            ],
        );
        let seeder_addr = loopback(lt_listen_port(&seeder));
        seeder.wait_for_line("SEEDING", Duration::from_secs(30));
        let session = SessionConfig {
            dht: true,
            dht_bootstrap: ports.iter().map(|p| loopback(*p)).collect(),
            // The seeder may announce after our first lookup: look again soon.
            dht_lookup_interval: Duration::from_secs(3),
            ..SessionConfig::default()
        };
        let out = work.join("out");
        let magnet = format!("magnet:?xt=urn:btih:{}", d.info_hash);
        let events = block_on(async {
            let c = client(&work.join("state"), session).await;
            let t = c
                .add_magnet(&magnet, &out, TorrentOptions::default())
                .await
                .expect("magnet added");
            let events = events_until_complete(&c, t.id).await;
            c.stop().await.expect("stops");
            events
        });
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::MetadataReceived { .. })),
            "the metadata came from a peer"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::PeerConnected { addr, .. } if *addr == seeder_addr)),
            "connected to the seeder found through the DHT; seeder log:\n{}",
            seeder.output()
        );
        assert_same_tree(&d.dir, &out);
    });
}

#[test]
fn second_libtorrent_peer_found_only_through_pex() {
    bounded(170, || {
        let work = WorkDir::new("mag-pex");
        let d = data(&work, "single", 4_000_000, 32 * 1024, &[]);
        let a = lt_peer(
            &work,
            "lt-a",
            170,
            &[
                "--torrent",
                d.torrent.to_str().expect("UTF-8"),
                "--save",
                d.dir.to_str().expect("UTF-8"),
                "--seed",
                "--seed-mode",
                "--no-utp",
            ],
        );
        let a_addr = loopback(lt_listen_port(&a));
        a.wait_for_line("SEEDING", Duration::from_secs(30));
        // B downloads slowly from A, so it stays a leecher connected to A; it does no PEX.
        let b_dir = work.join("b");
        let a_peer = a_addr.to_string();
        let b = lt_peer(
            &work,
            "lt-b",
            170,
            &[
                "--torrent",
                d.torrent.to_str().expect("UTF-8"),
                "--save",
                b_dir.to_str().expect("UTF-8"),
                "--peer",
                &a_peer,
                "--download-limit",
                "20000",
                "--no-utp",
                // Else B hears of us from A's ut_pex and dials us first.
                "--no-pex",
            ],
        );
        let b_addr = loopback(lt_listen_port(&b));
        // A sees B connect in (from an ephemeral port; B's listen port comes in its
        // extended handshake, which is what A passes on over ut_pex).
        a.wait_for_line("PEER 127.0.0.1:", Duration::from_secs(30));
        // Wait until B has A's bitfield (`seeds=1`): B has sent its extended handshake, so A
        // knows B's listen port and names B in the full ut_pex list it sends us on connecting.
        // (Earlier, A would list only us, and name B a minute later, after we had left.)
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !b
            .output()
            .lines()
            .any(|l| l.starts_with("STATUS") && l.contains(" seeds=1"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "B never saw A as a seed:\n{}",
                b.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }

        let out = work.join("out");
        let events = block_on(async {
            // A slow download keeps us a leecher while A's first ut_pex message (a second
            // or so after the handshake) arrives; as seeds, A and we would part at once.
            let session = SessionConfig {
                download_rate_limit: Some(250_000),
                ..SessionConfig::default()
            };
            let c = client(&work.join("state"), session).await;
            let options = TorrentOptions {
                peers: vec![a_addr],
                ..TorrentOptions::default()
            };
            let t = c
                .add_torrent_file(&d.torrent, &out, options)
                .await
                .expect("torrent added");
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            // Until we are connected to B (and the download is done, to check the data).
            let mut complete = false;
            let mut b_connected = false;
            while !(complete && b_connected) {
                if std::time::Instant::now() > deadline {
                    let told: Vec<_> = seen
                        .iter()
                        .filter(|e| matches!(e, Event::PexPeers { .. }))
                        .collect();
                    panic!(
                        "never connected to B at {b_addr} (complete: {complete}); PEX: {told:?}"
                    );
                }
                let e = c.next_event().await.expect("client runs");
                if let Event::PeerClosed { addr, reason, .. } = &e {
                    eprintln!("peer {addr} closed: {reason}");
                }
                match &e {
                    Event::TorrentComplete { torrent } if *torrent == t.id => complete = true,
                    Event::PeerConnected { addr, .. } if *addr == b_addr => b_connected = true,
                    _ => {}
                }
                seen.push(e);
            }
            c.stop().await.expect("stops");
            seen
        });
        let told = events.iter().position(|e| {
            matches!(e, Event::PexPeers { from, peers, .. }
                if *from == a_addr && peers.contains(&b_addr))
        });
        let told = told.expect("A told us about B over ut_pex");
        let connected = events
            .iter()
            .position(|e| matches!(e, Event::PeerConnected { addr, .. } if *addr == b_addr))
            .expect("connected to B");
        assert!(told < connected, "we dialled B only after A named it");
        assert!(
            b.output().contains("src=incoming"),
            "B saw us connect in:\n{}",
            b.output()
        );
        assert_same_tree(&d.dir, &out);
    });
}

#[test]
fn libtorrent_fetches_metadata_from_us() {
    bounded(170, || {
        let work = WorkDir::new("mag-serve");
        let d = data(&work, "multi", 2_000_000, 16 * 1024, &[]);
        let magnet = format!("magnet:?xt=urn:btih:{}", d.info_hash);
        let lt_out = work.join("lt-out");
        block_on(async {
            let c = client(&work.join("state"), SessionConfig::default()).await;
            let options = TorrentOptions {
                seed_only: true,
                ..TorrentOptions::default()
            };
            let t = c
                .add_torrent_file(&d.torrent, &d.dir, options)
                .await
                .expect("seeder adds the torrent");
            loop {
                let stats = c.stats(t.id).await.expect("client runs");
                if stats.is_some_and(|s| s.piece_count > 0 && s.pieces_have == s.piece_count) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let us = c.listen_addr().to_string();
            let lt = lt_peer(
                &work,
                "lt-magnet",
                120,
                &[
                    "--magnet",
                    &magnet,
                    "--save",
                    lt_out.to_str().expect("UTF-8"),
                    "--peer",
                    &us,
                    "--no-utp",
                ],
            );
            let line = lt.wait_for_line("METADATA", Duration::from_secs(60));
            assert!(line.contains(&d.info_hash), "{line}");
            lt.wait_for_line("DONE", Duration::from_secs(90));
            c.stop().await.expect("stops");
        });
        assert_same_tree(&d.dir, &lt_out);
    });
}
