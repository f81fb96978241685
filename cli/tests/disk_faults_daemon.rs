//! Disk faults under the daemon, which keeps several torrents, read through the Transmission
//! RPC: a file deleted and a file truncated under two seeding torrents (each checks its data
//! again, says why, never serves what the disk lost) while a third torrent of the same daemon
//! serves a leecher on; after a restart neither claims more than it had verified, and given a
//! seeder each fetches only what it lacks.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Running, Scratch, free_port, remote, rpc_text, run, s, wait_listening};
use serde_json::Value;

const PIECE: u64 = 32 * 1024;
const MIB: usize = 1024 * 1024;
/// Torrent a's size (two files of 1 MiB).
const SIZE_A: u64 = 2 * MIB as u64;

/// An HTTP tracker on loopback answering every announce with the peers the test sets.
struct Tracker {
    url: String,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Tracker {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tracker");
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        let peers = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&peers);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut compact = Vec::new();
                for peer in shared.lock().unwrap().iter() {
                    if let SocketAddr::V4(v4) = peer {
                        compact.extend_from_slice(&v4.ip().octets());
                        compact.extend_from_slice(&v4.port().to_be_bytes());
                    }
                }
                let mut body =
                    format!("d8:intervali30e12:min intervali1e5:peers{}:", compact.len())
                        .into_bytes();
                body.extend_from_slice(&compact);
                body.push(b'e');
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Self { url, peers }
    }

    /// From now on, announces name `peer`.
    fn name(&self, peer: SocketAddr) {
        self.peers.lock().unwrap().push(peer);
    }
}

/// `<scratch>/<name>.torrent` of `<scratch>/<dir>/<name>` with 32 KiB pieces, announcing to
/// `tracker`.
fn torrent_of(w: &Scratch, dir: &str, name: &str, tracker: &str) -> String {
    let torrent = w.join(&format!("{name}.torrent"));
    let (code, _, err) = run(&[
        "create",
        s(&w.join(&format!("{dir}/{name}"))),
        "-t",
        tracker,
        "--piece-length",
        &PIECE.to_string(),
        "--format",
        "v1",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "create: {err}");
    s(&torrent).to_owned()
}

/// A running daemon: the process, its RPC port and its peer port.
struct Daemon {
    proc: Running,
    http: u16,
    peer: u16,
}

impl Daemon {
    /// `[prefix...] sanstorrent daemon` downloading into `dl`, its state in `state`, peers on
    /// `peer`, plus `extra`.
    fn start(prefix: &[&str], dl: &Path, state: &Path, peer: u16, extra: &[&str]) -> Self {
        let http = free_port();
        let (http_addr, peer_port) = (format!("127.0.0.1:{http}"), peer.to_string());
        let mut args = vec![
            "daemon",
            "-o",
            s(dl),
            "--state-dir",
            s(state),
            "--http",
            &http_addr,
            "-p",
            &peer_port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--no-lsd",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let (program, before) = match prefix.split_first() {
            Some((first, rest)) => (*first, [rest, &[common::bin()]].concat()),
            None => (common::bin(), Vec::new()),
        };
        let child = Command::new(program)
            .args(before)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let proc = Running(child);
        wait_listening(http);
        Self { proc, http, peer }
    }

    /// Stops it as Ctrl+C does and checks that it exits cleanly.
    fn stop(self) {
        self.proc.interrupt();
        let (code, _, err) = self.proc.wait(60);
        assert_eq!(code, 130, "the daemon's exit: {err}");
    }

    /// Every torrent, by name.
    fn torrents(&self) -> Vec<Value> {
        let body = r#"{"method":"torrent-get","arguments":{"fields":["id","name","status",
            "error","errorString","percentDone","haveValid","downloadedEver"]}}"#;
        let text = rpc_text(self.http, body);
        let json = text.rsplit("\r\n\r\n").next().unwrap_or_default();
        let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
        v["arguments"]["torrents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (at most `secs`) until `ready` holds for the torrents, which it returns.
    fn wait_until(&self, what: &str, secs: u64, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let torrents = self.torrents();
            if ready(&torrents) {
                return torrents;
            }
            assert!(Instant::now() < deadline, "{what}: {torrents:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Adds a .torrent through transmission-remote.
    fn add(&self, torrent: &str) {
        assert!(remote(self.http, &["-a", torrent]).contains("success"));
    }
}

/// The torrent named `name` in `torrents`.
fn named<'a>(torrents: &'a [Value], name: &str) -> &'a Value {
    torrents
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no torrent {name}: {torrents:#?}"))
}

/// Whether the torrent is a complete seed without an error (Transmission status 6).
fn seeding(t: &Value) -> bool {
    t["percentDone"] == 1.0 && t["status"] == 6 && t["error"] == 0
}

/// `haveValid` of the torrent.
fn have(t: &Value) -> u64 {
    t["haveValid"].as_u64().expect("haveValid")
}

/// `downloadedEver` of the torrent.
fn downloaded_ever(t: &Value) -> u64 {
    t["downloadedEver"].as_u64().expect("downloadedEver")
}

/// `sanstorrent download torrent` from `peer` into `out` (its own state), plus `extra`.
fn leech_args<'a>(
    torrent: &'a str,
    out: &'a Path,
    peer: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "download",
        torrent,
        "-o",
        s(out),
        "-p",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--no-lsd",
        "--peer",
        peer,
        "--no-peers-timeout",
        "30",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    args
}

/// Every piece of `got` (as long as `want` or shorter) is zeros or `want`'s: nothing wrong was
/// written.
fn nothing_wrong(got: &Path, want: &Path) {
    let got = std::fs::read(got).unwrap_or_default();
    let want = std::fs::read(want).unwrap();
    for (i, (g, w)) in got
        .chunks(PIECE as usize)
        .zip(want.chunks(PIECE as usize))
        .enumerate()
    {
        assert!(g == w || g.iter().all(|b| *b == 0), "piece {i} is wrong");
    }
}

#[test]
fn files_deleted_or_truncated_under_seeds_are_rechecked_and_the_other_torrents_carry_on() {
    let w = Scratch::new("daemon-disk-seed");
    let tracker = Tracker::start();
    // a: two files, the first of which is deleted; b: one file, truncated mid-piece; c: left
    // alone. `orig/` keeps a copy of each.
    let files = [
        ("a/one.bin", MIB, 1),
        ("a/two.bin", MIB, 2),
        ("b/one.bin", 2 * MIB, 3),
        ("c/one.bin", 2 * MIB, 4),
    ];
    for (rel, len, seed) in files {
        w.file(&format!("data/{rel}"), len, seed);
        w.file(&format!("orig/{rel}"), len, seed);
    }
    let [a, b, c] = ["a", "b", "c"].map(|n| torrent_of(&w, "data", n, &tracker.url));
    let (data, state) = (w.join("data"), w.join("state"));
    let d = Daemon::start(&[], &data, &state, free_port(), &[]);
    for t in [&a, &b, &c] {
        d.add(t);
    }
    d.wait_until("three seeds", 60, |ts| {
        ts.len() == 3 && ts.iter().all(seeding)
    });

    std::fs::remove_file(data.join("a/one.bin")).unwrap();
    let cut = MIB as u64 + 1000;
    std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("b/one.bin"))
        .unwrap()
        .set_len(cut)
        .unwrap();

    // Leechers of a and b make the daemon read what is gone; c's leecher gets every byte.
    let peer = format!("127.0.0.1:{}", d.peer);
    let leech = |t: &str, name: &str| {
        let out = w.join(name);
        let st = w.join(&format!("{name}-state"));
        Running::start(&leech_args(t, &out, &peer, &["--state-dir", s(&st)]))
    };
    let (leech_a, leech_b) = (leech(&a, "leech-a"), leech(&b, "leech-b"));
    let out_c = w.join("leech-c");
    let st_c = w.join("leech-c-state");
    let (code, _, err) = run(&leech_args(&c, &out_c, &peer, &["--state-dir", s(&st_c)]));
    assert_eq!(code, 0, "c's leecher: {err}");
    assert_eq!(
        std::fs::read(out_c.join("c/one.bin")).unwrap(),
        std::fs::read(w.join("orig/c/one.bin")).unwrap()
    );

    // a keeps two.bin's half, b the pieces wholly before the cut; each says why.
    let half = MIB as u64;
    let kept_b = cut / PIECE * PIECE;
    let ts = d.wait_until("a and b checked again", 60, |ts| {
        let (ta, tb) = (named(ts, "a"), named(ts, "b"));
        have(ta) == half && have(tb) == kept_b && ta["error"] != 0 && tb["error"] != 0
    });
    let (ta, tb) = (named(&ts, "a"), named(&ts, "b"));
    let why_a = ta["errorString"].as_str().unwrap();
    assert!(why_a.contains("a/one.bin"), "{why_a}");
    let why_b = tb["errorString"].as_str().unwrap();
    assert!(why_b.contains("b/one.bin"), "{why_b}");
    assert!(seeding(named(&ts, "c")), "{ts:#?}");
    drop((leech_a, leech_b));
    nothing_wrong(&w.join("leech-a/a/one.bin"), &w.join("orig/a/one.bin"));
    nothing_wrong(&w.join("leech-a/a/two.bin"), &w.join("orig/a/two.bin"));
    nothing_wrong(&w.join("leech-b/b/one.bin"), &w.join("orig/b/one.bin"));

    // A restart keeps exactly what was verified.
    let peer_port = d.peer;
    d.stop();
    let d = Daemon::start(&[], &data, &state, peer_port, &[]);
    // b keeps at most what it had verified: its truncated file, extended to its length by
    // the check's file creation, is checked again after the restart and must claim nothing
    // more.
    let ts = d.wait_until("the three after the restart", 60, |ts| {
        ts.len() == 3
            && have(named(ts, "a")) == half
            && named(ts, "b")["status"] == 4
            && seeding(named(ts, "c"))
    });
    assert!(have(named(&ts, "b")) <= kept_b, "{ts:#?}");
    let before: Vec<u64> = ["a", "b"].map(|n| downloaded_ever(named(&ts, n))).into();
    let kept = [half, have(named(&ts, "b"))];

    // Given a seeder of the originals, a and b fetch what they lost, and only that.
    let seeders: Vec<Running> = [&a, &b]
        .iter()
        .map(|t| {
            let port = free_port();
            let (p, st) = (port.to_string(), w.join(&format!("seed-state-{port}")));
            let seeder = Running::start(&[
                "seed",
                t,
                "-o",
                s(&w.join("orig")),
                "-p",
                &p,
                "--bind",
                "127.0.0.1",
                "--no-dht",
                "--no-lsd",
                "--state-dir",
                s(&st),
                "--quiet",
            ]);
            wait_listening(port);
            tracker.name(SocketAddr::from(([127, 0, 0, 1], port)));
            seeder
        })
        .collect();
    for name in ["a", "b"] {
        let id = named(&ts, name)["id"].to_string();
        remote(d.http, &["-t", &id, "--reannounce"]);
    }
    let ts = d.wait_until("a and b complete again", 90, |ts| ts.iter().all(seeding));
    for (i, (name, lost)) in [("a", SIZE_A - kept[0]), ("b", 2 * MIB as u64 - kept[1])]
        .into_iter()
        .enumerate()
    {
        let fetched = downloaded_ever(named(&ts, name)) - before[i];
        assert!(
            fetched >= lost && fetched < lost + 4 * PIECE,
            "{name} lost {lost} bytes and fetched {fetched}"
        );
    }
    for (rel, _, _) in files {
        assert_eq!(
            std::fs::read(data.join(rel)).unwrap(),
            std::fs::read(w.join(&format!("orig/{rel}"))).unwrap(),
            "{rel}"
        );
    }
    drop(seeders);
    d.stop();
}
