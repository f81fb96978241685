//! IPv6 only, on `[::1]`: a magnet link resolved through a DHT of libtorrent 2.0 nodes that
//! listen on IPv6 alone (BEP 32: `nodes6`, IPv6 `values`), the metadata fetched from and the
//! data downloaded from a libtorrent seeder on `[::1]`, with no tracker. And dual stack: a
//! seeder with no `--bind` serves peers over IPv4 and IPv6 at once on one port.

mod interop_support;

use std::time::Duration;

use interop_support::{assert_same_tree, bounded, data, expect_success, s, sanstorrent};
use sanstorrent_tests::interop::{Proc, WorkDir, free_port, lt_peer};

/// Two libtorrent DHT nodes on `[::1]` bootstrapping from each other; their addresses.
fn lt_dht_nodes_v6(work: &WorkDir) -> (Vec<Proc>, Vec<String>) {
    let ports = [free_port(), free_port()];
    let addrs: Vec<String> = ports.iter().map(|p| format!("[::1]:{p}")).collect();
    let nodes: Vec<Proc> = (0..2)
        .map(|i| {
            let port = ports[i].to_string();
            let args = [
                "--dht-node",
                "--ipv6",
                "--print-dht-port",
                "--port",
                &port,
                "--dht-bootstrap",
                &addrs[1 - i],
            ];
            lt_peer(work, &format!("dht6-{i}"), 170, &args)
        })
        .collect();
    for n in &nodes {
        n.wait_for_line("DHT_PORT ", Duration::from_secs(20));
    }
    (nodes, addrs)
}

#[test]
fn magnet_link_resolved_through_an_ipv6_only_dht() {
    bounded(170, || {
        let work = WorkDir::new("ipv6-dht");
        let d = data(&work, "multi", 3_000_000, 64 * 1024, &[], &[]);
        let (_nodes, addrs) = lt_dht_nodes_v6(&work);
        let boot = addrs.join(",");
        let save = s(&d.dir).to_string();
        let seeder = lt_peer(
            &work,
            "lt-seeder6",
            170,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                &save,
                "--seed",
                "--ipv6",
                "--dht",
                "--dht-bootstrap",
                &boot,
                "--no-tracker",
            ],
        );
        seeder.wait_for_line("SEEDING", Duration::from_secs(30));
        let out = work.join("ours-out");
        let state = work.join("ours-state");
        let mut args = vec![
            "download",
            &d.magnet,
            "-o",
            s(&out),
            "-p",
            "0",
            "--bind",
            "::1",
            "--no-lsd",
            "--state-dir",
            s(&state),
        ];
        for a in &addrs {
            args.extend(["--dht-bootstrap", a.as_str()]);
        }
        let mut ours = sanstorrent(&work, "ours", 140, &args);
        expect_success(
            &mut ours,
            "sanstorrent download MAGNET over IPv6",
            Duration::from_secs(145),
        );
        assert_same_tree(&d.dir, &out);
        let seen = seeder.output();
        assert!(
            seen.lines()
                .any(|l| l.starts_with("PEER [::1]:") || l.starts_with("PEER ::1:")),
            "libtorrent saw no IPv6 peer:\n{seen}"
        );
    });
}

#[test]
fn a_seeder_without_bind_serves_ipv4_and_ipv6_peers_on_one_port() {
    bounded(170, || {
        let work = WorkDir::new("dual-stack");
        let d = data(&work, "multi", 2_000_000, 32 * 1024, &[], &[]);
        let port = free_port().to_string();
        // Nothing but the listening socket: no DHT, discovery or gateway beyond loopback.
        let seed_args = [
            "seed",
            s(&d.torrent),
            "-o",
            s(&d.dir),
            "-p",
            &port,
            "--no-dht",
            "--no-lsd",
            "--no-port-mapping",
        ];
        let _seeder = sanstorrent(&work, "seeder", 160, &seed_args);
        let peers = [
            ("127.0.0.1", format!("127.0.0.1:{port}")),
            ("::1", format!("[::1]:{port}")),
        ];
        let mut leechers = Vec::new();
        for (i, (bind, peer)) in peers.iter().enumerate() {
            let out = work.join(&format!("ours-{i}"));
            let args = [
                "download",
                s(&d.torrent),
                "-o",
                s(&out),
                "-p",
                "0",
                "--bind",
                bind,
                "--no-dht",
                "--peer",
                peer,
            ];
            leechers.push((sanstorrent(&work, &format!("ours-{i}"), 120, &args), out));
        }
        let lt6 = lt_peer(
            &work,
            "lt-leecher6",
            120,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&work.join("lt6")),
                "--ipv6",
                "--no-utp",
                "--exit-on-done",
                "--peer",
                &peers[1].1,
            ],
        );
        for (i, (leecher, out)) in leechers.iter_mut().enumerate() {
            let what = format!("a leecher over {}", peers[i].0);
            expect_success(leecher, &what, Duration::from_secs(125));
            assert_same_tree(&d.dir, out);
        }
        let mut lt6 = lt6;
        let status = lt6.wait(Duration::from_secs(125));
        assert!(status.success(), "libtorrent on [::1]:\n{}", lt6.output());
        assert_same_tree(&d.dir, &work.join("lt6"));
    });
}
