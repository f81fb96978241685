//! The interop matrix: the real `sanstorrent` binary against software we did not write
//! (libtorrent 2.0, opentracker, Transmission), all on 127.0.0.1, every case bounded in time
//! and its data verified byte for byte. The peers are installed by
//! `../shared/interop/setup.sh`; a missing one fails the test and says so.
//!
//! Cases: download from libtorrent via an HTTP and a UDP tracker, a multi-file torrent,
//! libtorrent and Transmission downloading from our seeder, a magnet link resolved only
//! through loopback libtorrent DHT nodes, PEX, a private torrent (tracker only, no DHT
//! traffic for it), a mixed swarm of two libtorrent and two sanstorrent peers, and libtorrent
//! and Transmission seeders that require encryption (we dial them with the MSE handshake).

mod interop_support;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop_support::{
    Bounded, assert_same_tree, bounded, data, expect_success, lt_addr, lt_peers_from, lt_seeder, s,
    sanstorrent, seed, wait_same_tree,
};
use sanstorrent_core::bencode;
use sanstorrent_tests::interop::{
    Proc, Tracker, WorkDir, free_port, interop_dir, lt_peer, python, require_tool,
};

/// Piece size of the generated torrents: several pieces per file, many blocks per piece.
const PIECE: u32 = 64 * 1024;

/// `sanstorrent download` flags common to every case: loopback, a fixed port, private state.
fn download_args(work: &WorkDir, name: &str, port: &str) -> Vec<String> {
    vec![
        "-p".into(),
        port.into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--state-dir".into(),
        s(&work.join(&format!("{name}-state"))).into(),
    ]
}

/// Runs `sanstorrent download SOURCE -o OUT` with `extra` flags to completion (exit 0).
fn download(work: &WorkDir, name: &str, source: &str, extra: &[&str], secs: u32) -> Bounded {
    let port = free_port().to_string();
    let out = work.join(&format!("{name}-out"));
    let mut args: Vec<String> = vec!["download".into(), source.into(), "-o".into()];
    args.push(s(&out).into());
    args.extend(download_args(work, name, &port));
    args.extend(extra.iter().map(|a| (*a).to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sanstorrent(work, name, secs, &args)
}

fn from_libtorrent(label: &str, layout: &str, udp: bool) {
    let work = WorkDir::new(label);
    let tracker = Tracker::start(&work, "trk");
    let url = if udp {
        tracker.udp_url()
    } else {
        tracker.http_url()
    };
    let d = data(&work, layout, 6_000_000, PIECE, &[&url], &[]);
    tracker.allow(&d.info_hash);
    let _lt = lt_seeder(&work, "lt-seeder", &d, &[]);
    // No --peer and no DHT: the tracker is the only way to find libtorrent.
    let mut ours = download(&work, "ours", s(&d.torrent), &["--no-dht"], 110);
    expect_success(&mut ours, "sanstorrent download", Duration::from_secs(115));
    assert_same_tree(&d.dir, &work.join("ours-out"));
}

#[test]
fn download_from_libtorrent_via_http_tracker() {
    bounded(150, || from_libtorrent("im-http", "single", false));
}

#[test]
fn download_from_libtorrent_via_udp_tracker() {
    bounded(150, || from_libtorrent("im-udp", "single", true));
}

#[test]
fn download_multi_file_torrent_from_libtorrent() {
    // Nested directories, files smaller than a piece, and a zero-length file.
    bounded(150, || from_libtorrent("im-multi", "multi", false));
}

#[test]
fn libtorrent_downloads_from_our_seeder() {
    bounded(150, || {
        let work = WorkDir::new("im-ltleech");
        let tracker = Tracker::start(&work, "trk");
        let d = data(
            &work,
            "multi",
            6_000_000,
            PIECE,
            &[&tracker.http_url()],
            &[],
        );
        tracker.allow(&d.info_hash);
        let _ours = seed(&work, "ours", &d, free_port(), 170, &["--no-dht"]);
        // The leecher finds us only through the tracker.
        let out = work.join("lt-out");
        let mut lt = lt_peer(
            &work,
            "lt-leecher",
            110,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&out),
                "--exit-on-done",
                "--no-utp",
            ],
        );
        let status = lt.wait(Duration::from_secs(120));
        assert!(status.success(), "libtorrent leecher: {}", lt.output());
        assert_same_tree(&d.dir, &out);
    });
}

/// A libtorrent seeder that requires encryption (it hangs up on plain BitTorrent, and wants
/// an RC4 payload) and announces nowhere: given its address, we dial it plain, are hung up on,
/// redial at once with the MSE handshake, and download over RC4.
#[test]
fn download_from_libtorrent_requiring_encryption() {
    bounded(150, || {
        let work = WorkDir::new("im-enc");
        let d = data(&work, "single", 6_000_000, PIECE, &[], &[]);
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/interop/lt_encrypted_peer.py");
        let mut cmd = std::process::Command::new(python());
        cmd.arg(script)
            .args(["--torrent", s(&d.torrent), "--save", s(&d.dir)])
            .args(["--seed", "--rc4-only", "--timeout", "140"]);
        let lt = Proc::spawn(cmd, work.join("lt-encrypted-seeder.log"));
        let addr = lt_addr(&lt);
        lt.wait_for_line("SEEDING", Duration::from_secs(30));
        let mut ours = download(
            &work,
            "ours",
            s(&d.torrent),
            &["--no-dht", "--peer", &addr],
            110,
        );
        expect_success(&mut ours, "sanstorrent download", Duration::from_secs(115));
        assert_same_tree(&d.dir, &work.join("ours-out"));
    });
}

/// Asks the tracker (by hand, from a port nobody listens on) which peers it lists.
fn tracker_peers(tracker: &Tracker, info_hash: &str) -> String {
    let out = std::process::Command::new(python())
        .arg(interop_dir().join("announce.py"))
        .args([&tracker.http_url(), info_hash, "--port", "9", "--left", "1"])
        .output()
        .expect("run announce.py");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Transmission configuration directory for one peer on 127.0.0.1:`port` (no DHT, LPD or
/// uTP) with `encryption` 0 (plain preferred), 1 (encryption preferred) or 2 (required).
fn transmission_conf(work: &WorkDir, port: u16, encryption: u8) -> std::path::PathBuf {
    let conf = work.join("trconf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    std::fs::write(
        conf.join("settings.json"),
        format!(
            r#"{{ "dht-enabled": false, "lpd-enabled": false, "pex-enabled": true,
            "utp-enabled": false, "port-forwarding-enabled": false, "rpc-enabled": false,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
            "peer-port": {port}, "peer-port-random-on-start": false,
            "rename-partial-files": false, "start-added-torrents": true,
            "blocklist-enabled": false, "message-level": 2, "encryption": {encryption} }}"#
        ),
    )
    .expect("settings");
    conf
}

/// Transmission seeds with encryption required (MSE, and it selects RC4 when offered);
/// given its address, we dial it plain, are hung up on, and redial with the MSE handshake.
/// Transmission unchokes a new peer at its next rechoke (every 10 s), so this takes ~15 s.
#[test]
fn download_from_transmission_requiring_encryption() {
    bounded(150, || {
        require_tool("transmission-cli");
        let work = WorkDir::new("im-trseed");
        let d = data(&work, "single", 3_000_000, PIECE, &[], &[]);
        let tr_port = free_port();
        let conf = transmission_conf(&work, tr_port, 2);
        // `-w` is where the data already is: Transmission verifies it, then seeds.
        let tr = Bounded::spawn(
            140,
            "transmission-cli",
            &["-g", s(&conf), "-w", s(&d.dir), s(&d.torrent)],
            &[],
            work.join("transmission.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tr.output().contains("Seeding") {
            assert!(
                Instant::now() < deadline,
                "Transmission did not start seeding: {}",
                tr.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let peer = format!("127.0.0.1:{tr_port}");
        let mut ours = download(
            &work,
            "ours",
            s(&d.torrent),
            &["--no-dht", "--peer", &peer],
            110,
        );
        expect_success(&mut ours, "sanstorrent download", Duration::from_secs(115));
        drop(tr);
        assert_same_tree(&d.dir, &work.join("ours-out"));
    });
}

#[test]
fn transmission_downloads_from_our_seeder() {
    bounded(170, || {
        require_tool("transmission-cli");
        let work = WorkDir::new("im-transmission");
        let tracker = Tracker::start(&work, "trk");
        // Single file: Transmission 3.00 does not create zero-length files.
        let d = data(
            &work,
            "single",
            3_000_000,
            PIECE,
            &[&tracker.http_url()],
            &[],
        );
        tracker.allow(&d.info_hash);
        let out = work.join("tr-out");
        std::fs::create_dir_all(&out).expect("out dir");
        let tr_port = free_port();
        let conf = transmission_conf(&work, tr_port, 1);
        let finished = conf.join("finished");
        let fin = conf.join("fin.sh");
        std::fs::write(&fin, format!("#!/bin/sh\ntouch '{}'\n", finished.display()))
            .expect("fin.sh");
        let _ = std::process::Command::new("chmod")
            .arg("+x")
            .arg(&fin)
            .status();
        let tr = Bounded::spawn(
            160,
            "transmission-cli",
            &["-g", s(&conf), "-w", s(&out), "-f", s(&fin), s(&d.torrent)],
            &[],
            work.join("transmission.log"),
        );
        // Transmission never dials 127.0.0.0/8: our seeder must learn its address from the
        // tracker and connect out. Start the seeder once the tracker lists Transmission.
        let listed = format!("127.0.0.1:{tr_port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tracker_peers(&tracker, &d.info_hash).contains(&listed) {
            assert!(
                Instant::now() < deadline,
                "Transmission never announced: {}",
                tr.output()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let ours = seed(&work, "ours", &d, free_port(), 170, &["--no-dht"]);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !finished.exists() {
            assert!(
                Instant::now() < deadline,
                "Transmission did not finish; its log:\n{}\nour log:\n{}",
                tr.output(),
                ours.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(tr);
        assert_same_tree(&d.dir, &out);
    });
}

/// Two libtorrent DHT nodes bootstrapping from each other; returns them and `H:P,H:P`.
fn lt_dht_nodes(work: &WorkDir) -> (Vec<Proc>, Vec<String>) {
    let ports = [free_port(), free_port()];
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let nodes: Vec<Proc> = (0..2)
        .map(|i| {
            let port = ports[i].to_string();
            lt_peer(
                work,
                &format!("dht{i}"),
                170,
                &[
                    "--dht-node",
                    "--print-dht-port",
                    "--port",
                    &port,
                    "--dht-bootstrap",
                    &addrs[1 - i],
                ],
            )
        })
        .collect();
    for n in &nodes {
        n.wait_for_line("DHT_PORT ", Duration::from_secs(20));
    }
    (nodes, addrs)
}

#[test]
fn magnet_link_resolved_only_through_the_dht() {
    bounded(170, || {
        let work = WorkDir::new("im-magnet");
        // No tracker anywhere: metadata and peers can only come via the DHT and ut_metadata.
        let d = data(&work, "multi", 3_000_000, PIECE, &[], &[]);
        assert!(!d.magnet.contains("tr="), "{}", d.magnet);
        let (_nodes, addrs) = lt_dht_nodes(&work);
        let boot = addrs.join(",");
        let _lt = lt_seeder(
            &work,
            "lt-seeder",
            &d,
            &["--dht", "--dht-bootstrap", &boot, "--no-tracker"],
        );
        let mut args = vec![];
        for a in &addrs {
            args.extend(["--dht-bootstrap", a.as_str()]);
        }
        let mut ours = download(&work, "ours", &d.magnet, &args, 140);
        expect_success(
            &mut ours,
            "sanstorrent download MAGNET",
            Duration::from_secs(145),
        );
        assert_same_tree(&d.dir, &work.join("ours-out"));
    });
}

#[test]
fn pex_finds_a_peer_nobody_else_named() {
    bounded(150, || {
        let work = WorkDir::new("im-pex");
        let d = data(&work, "single", 4_000_000, PIECE, &[], &[]);
        // A: the only seeder. It runs without ut_pex, so it never learns our address and
        // every connection it has is one that was dialled to it.
        let a = lt_seeder(&work, "lt-a", &d, &["--no-tracker", "--no-pex"]);
        let a_addr = lt_addr(&a);
        // B: a leecher that knows A and is throttled to 2 kB/s, so it has (almost) nothing
        // to give: we can finish only by connecting to A, which only B's PEX names.
        let b = lt_peer(
            &work,
            "lt-b",
            140,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&work.join("b-out")),
                "--no-tracker",
                "--no-utp",
                "--peer",
                &a_addr,
                "--download-limit",
                "2000",
            ],
        );
        let b_addr = lt_addr(&b);
        b.wait_for_line(&format!("PEER {a_addr}"), Duration::from_secs(20));
        let mut ours = download(
            &work,
            "ours",
            s(&d.torrent),
            &["--no-dht", "--peer", &b_addr],
            110,
        );
        expect_success(&mut ours, "sanstorrent download", Duration::from_secs(115));
        assert_same_tree(&d.dir, &work.join("ours-out"));
        let incoming = lt_peers_from(&a, "incoming");
        assert!(
            incoming.len() >= 2,
            "A saw only {incoming:?}: we never dialled it; A's log:\n{}",
            a.output()
        );
    });
}

/// One KRPC query a [`DhtRecorder`] received: its method and its `info_hash` argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Query {
    method: String,
    info_hash: Option<String>,
}

/// A minimal DHT node on 127.0.0.1 that records every query and answers each with its id and
/// no nodes (plus a token), so a client keeps it in its routing table and sends its lookups
/// to it. Runs until dropped.
struct DhtRecorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Query>>>,
    stop: Arc<Mutex<bool>>,
}

impl DhtRecorder {
    fn start() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = sock.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Mutex::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !*stop2.lock().expect("lock") {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(v) = bencode::decode(&buf[..n]) else {
                    continue;
                };
                let Some(d) = v.as_dict() else { continue };
                if d.bytes(b"y") != Some(b"q") {
                    continue;
                }
                let method = String::from_utf8_lossy(d.bytes(b"q").unwrap_or_default());
                let info_hash = d
                    .dict(b"a")
                    .and_then(|a| a.bytes(b"info_hash"))
                    .map(sanstorrent_core::id::to_hex);
                seen2.lock().expect("lock").push(Query {
                    method: method.into_owned(),
                    info_hash,
                });
                let tid = d.bytes(b"t").unwrap_or_default();
                let mut reply = b"d1:rd2:id20:".to_vec();
                reply.extend([0x5a; 20]);
                reply.extend(b"5:nodes0:5:token4:abcde1:t");
                reply.extend(format!("{}:", tid.len()).as_bytes());
                reply.extend(tid);
                reply.extend(b"1:y1:re");
                let _ = sock.send_to(&reply, from);
            }
        });
        Self { addr, seen, stop }
    }

    fn queries(&self) -> Vec<Query> {
        self.seen.lock().expect("lock").clone()
    }

    /// Queries that name `info_hash` (get_peers, announce_peer).
    fn about(&self, info_hash: &str) -> Vec<Query> {
        self.queries()
            .into_iter()
            .filter(|q| q.info_hash.as_deref() == Some(info_hash))
            .collect()
    }
}

impl Drop for DhtRecorder {
    fn drop(&mut self) {
        *self.stop.lock().expect("lock") = true;
    }
}

/// A download via the tracker with the DHT on and a [`DhtRecorder`] as our only bootstrap
/// node; returns the recorder once the data is complete and we have run 5 s more.
fn tracker_download_with_recorded_dht(label: &str, private: bool) -> (DhtRecorder, String) {
    let work = WorkDir::new(label);
    let tracker = Tracker::start(&work, "trk");
    let flags: &[&str] = if private { &["--private"] } else { &[] };
    let d = data(
        &work,
        "single",
        3_000_000,
        PIECE,
        &[&tracker.http_url()],
        flags,
    );
    tracker.allow(&d.info_hash);
    let _lt = lt_seeder(&work, "lt-seeder", &d, &[]);
    let rec = DhtRecorder::start();
    let boot = rec.addr.to_string();
    let ours = download(
        &work,
        "ours",
        s(&d.torrent),
        &["--dht-bootstrap", &boot, "--seed"],
        110,
    );
    wait_same_tree(
        &d.dir,
        &work.join("ours-out"),
        Duration::from_secs(90),
        "sanstorrent download --seed",
    );
    std::thread::sleep(Duration::from_secs(5));
    let q: BTreeSet<_> = rec.queries().into_iter().collect();
    eprintln!("DHT queries received: {q:?}\nour log:\n{}", ours.output());
    drop(ours);
    (rec, d.info_hash)
}

#[test]
fn public_torrent_is_looked_up_on_the_dht() {
    // The control for the private case: the same setup with a public torrent does send
    // `get_peers` for it to the recorder, so the recorder can see a leak.
    bounded(150, || {
        let (rec, hash) = tracker_download_with_recorded_dht("im-public", false);
        let about = rec.about(&hash);
        assert!(
            about.iter().any(|q| q.method == "get_peers"),
            "no get_peers for the public torrent; queries: {:?}",
            rec.queries()
        );
    });
}

#[test]
fn private_torrent_uses_only_the_tracker() {
    bounded(150, || {
        let (rec, hash) = tracker_download_with_recorded_dht("im-private", true);
        assert!(
            !rec.queries().is_empty(),
            "our DHT never contacted its bootstrap node: the check below would prove nothing"
        );
        let about = rec.about(&hash);
        assert!(
            about.is_empty(),
            "DHT queries sent for a private torrent: {about:?}"
        );
    });
}

#[test]
fn swarm_of_two_libtorrent_and_two_sanstorrent_peers() {
    bounded(170, || {
        let work = WorkDir::new("im-swarm");
        let tracker = Tracker::start(&work, "trk");
        let d = data(
            &work,
            "multi",
            8_000_000,
            PIECE,
            &[&tracker.http_url()],
            &[],
        );
        tracker.allow(&d.info_hash);
        // One seeder, throttled so that the four leechers must trade among themselves.
        let _seeder = lt_seeder(&work, "lt-seeder", &d, &["--upload-limit", "1000000"]);
        let lt_out = work.join("lt-out");
        let lt = lt_peer(
            &work,
            "lt-leecher",
            160,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&lt_out),
                "--no-utp",
                "--seed",
            ],
        );
        let ours: Vec<Bounded> = (0..2)
            .map(|i| {
                download(
                    &work,
                    &format!("ours{i}"),
                    s(&d.torrent),
                    &["--no-dht", "--seed"],
                    160,
                )
            })
            .collect();
        for i in 0..2 {
            wait_same_tree(
                &d.dir,
                &work.join(&format!("ours{i}-out")),
                Duration::from_secs(140),
                &format!("sanstorrent peer {i}"),
            );
        }
        lt.wait_for_line("SEEDING", Duration::from_secs(60));
        wait_same_tree(
            &d.dir,
            &lt_out,
            Duration::from_secs(30),
            "libtorrent leecher",
        );
        for (i, p) in ours.iter().enumerate() {
            let log = p.output();
            assert!(!log.contains("panicked"), "peer {i} panicked:\n{log}");
        }
    });
}
