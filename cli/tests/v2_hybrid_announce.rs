//! A hybrid torrent's seeder is found under either of its hashes, as libtorrent's is: we
//! announce the v1 hash and the truncated v2 hash to each tracker (two announces per tracker,
//! HTTP and UDP) and to the DHT. A libtorrent 2.0 leecher given only
//! `magnet:?xt=urn:btmh:1220...` (it announces and looks up the truncated v2 hash alone) finds
//! our seeder through opentracker, and through a DHT of libtorrent nodes, then downloads from
//! it (its handshake names the v2 hash).

mod interop_support;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use interop_support::{
    Data, assert_same_tree, bounded, btmh, data, lt_dht_nodes, lt_peers_from, s, seed, v2_hex,
};
use sanstorrent_tests::interop::{Proc, Tracker, WorkDir, free_port, interop_dir, lt_peer, python};

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls the tracker at `url` (announce.py, as a leecher) until it lists `127.0.0.1:port`
/// under `hash_hex`.
fn wait_listed(url: &str, hash_hex: &str, port: u16) {
    let want = format!("\"127.0.0.1:{port}\"");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(python())
            .arg(interop_dir().join("announce.py"))
            .args([url, hash_hex, "--port", "1", "--left", "1"])
            .output()
            .expect("announce.py");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never listed our seeder under {hash_hex}: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A libtorrent leecher given `magnet` and `extra` discovery flags, to completion.
fn lt_leech(work: &WorkDir, d: &Data, magnet: &str, extra: &[&str]) -> Proc {
    let lt_out = work.join("lt-out");
    let mut args = vec![
        "--magnet",
        magnet,
        "--save",
        s(&lt_out),
        "--exit-on-done",
        "--no-utp",
        "--timeout",
        "110",
    ];
    args.extend(extra);
    let mut lt = lt_peer(work, "lt-leecher", 120, &args);
    let status = lt.wait(Duration::from_secs(125));
    assert!(status.success(), "libtorrent leecher: {}", lt.output());
    assert_same_tree(&d.dir, &lt_out);
    lt
}

fn via_tracker(label: &str, udp: bool) {
    let work = WorkDir::new(label);
    let tracker = Tracker::start(&work, "tracker");
    let url = if udp {
        tracker.udp_url()
    } else {
        tracker.http_url()
    };
    let d = data(
        &work,
        "multi",
        1_500_001,
        32768,
        &[&url],
        &["--format", "hybrid"],
    );
    let v2_id = v2_hex(&d)[..40].to_string();
    tracker.allow_all(&[&d.info_hash, &v2_id]);
    let port = free_port();
    let _ours = seed(&work, "ours-seed", &d, port, 160, &["--no-dht", "--no-lsd"]);
    wait_listening(port);
    wait_listed(&url, &d.info_hash, port);
    wait_listed(&url, &v2_id, port);
    let lt = lt_leech(&work, &d, &btmh(&d, &[&url]), &[]);
    let ours = format!("PEER 127.0.0.1:{port} ");
    let found = lt_peers_from(&lt, "tracker");
    assert!(
        found.iter().any(|l| l.starts_with(&ours)),
        "the leecher's tracker peers {found:?} lack our seeder on {port}"
    );
}

fn via_dht(label: &str) {
    let work = WorkDir::new(label);
    let d = data(
        &work,
        "multi",
        1_500_001,
        32768,
        &[],
        &["--format", "hybrid"],
    );
    let (_nodes, addrs) = lt_dht_nodes(&work);
    let mut extra = vec!["--no-lsd"];
    for a in &addrs {
        extra.extend(["--dht-bootstrap", a.as_str()]);
    }
    let port = free_port();
    let _ours = seed(&work, "ours-seed", &d, port, 160, &extra);
    wait_listening(port);
    let boot = addrs.join(",");
    let lt = lt_leech(
        &work,
        &d,
        &btmh(&d, &[]),
        &["--dht", "--dht-bootstrap", &boot, "--no-tracker"],
    );
    let ours = format!("PEER 127.0.0.1:{port} ");
    let found = lt_peers_from(&lt, "dht");
    assert!(
        found.iter().any(|l| l.starts_with(&ours)),
        "the leecher's DHT peers {found:?} lack our seeder on {port}"
    );
}

#[test]
fn libtorrent_finds_our_hybrid_seeder_by_its_v2_hash_through_an_http_tracker() {
    bounded(170, || via_tracker("hybrid-announce-http", false));
}

#[test]
fn libtorrent_finds_our_hybrid_seeder_by_its_v2_hash_through_a_udp_tracker() {
    bounded(170, || via_tracker("hybrid-announce-udp", true));
}

#[test]
fn libtorrent_finds_our_hybrid_seeder_by_its_v2_hash_through_the_dht() {
    bounded(170, || via_dht("hybrid-announce-dht"));
}
