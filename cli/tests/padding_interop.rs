//! BEP 47 padding files with real peers: a hybrid multi-file torrent made and seeded by
//! libtorrent 2.0 (padding after every file) downloads here without any `.pad` file on disk,
//! with byte totals of the data alone and only the blocks holding data asked for; libtorrent
//! downloads a hybrid we create from our seeder; Transmission 3.00, which knows nothing of
//! padding and asks for it, gets it from our seeder as zeros (a v1 torrent with padding
//! files: it cannot parse hybrids).

mod interop_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use interop_support::{
    Bounded, assert_same_tree, bounded, data, expect_success, lt_addr, lt_seeder, s, sanstorrent,
    seed,
};
use sanstorrent_tests::interop::{
    Tracker, WorkDir, free_port, interop_dir, lt_peer, python, require_tool,
};

const PIECE: u32 = 32 * 1024;

/// libtorrent's figures of a torrent: `data-bytes request-bytes pad-files`, where
/// request-bytes is the length of every 16 KiB block that holds a data byte (what a client
/// that skips padding asks for).
const FIGURES: &str = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
B = 16384
pads = [(fs.file_offset(i), fs.file_offset(i) + fs.file_size(i)) for i in range(fs.num_files())
        if fs.file_flags(i) & lt.file_storage.flag_pad_file]
data = ti.total_size() - sum(e - o for o, e in pads)
asked = 0
for p in range(ti.num_pieces()):
    start = p * ti.piece_length()
    size = ti.piece_size(p)
    for off in range(0, size, B):
        a, n = start + off, min(B, size - off)
        pad = sum(max(0, min(a + n, e) - max(a, o)) for o, e in pads)
        if pad < n:
            asked += n
print(data, asked, len(pads))
"#;

/// `(data bytes, bytes of the blocks holding data, padding files)` of `torrent`, as
/// libtorrent reads it.
fn figures(torrent: &Path) -> (u64, u64, usize) {
    let out = Command::new(python())
        .args(["-c", FIGURES, s(torrent)])
        .output()
        .expect("run python3 (bash ../shared/interop/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (v[0], v[1], v[2] as usize)
}

/// Every path under `root` whose name is `.pad` or that lies under such a directory.
fn pad_paths(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name() == ".pad" {
                found.push(p.display().to_string());
            } else if p.is_dir() {
                stack.push(p);
            }
        }
    }
    found
}

/// The number after `key` in a log line such as `downloaded N bytes`.
fn number_after(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn a_padded_hybrid_from_libtorrent_downloads_without_padding() {
    bounded(150, || {
        let work = WorkDir::new("pad-from-lt");
        let d = data(
            &work,
            "multi",
            2_000_000,
            PIECE,
            &[],
            &["--format", "hybrid"],
        );
        let (data_bytes, asked, pads) = figures(&d.torrent);
        assert!(pads >= 3, "libtorrent's hybrid has padding files: {pads}");
        let seeder = lt_seeder(&work, "lt-seeder", &d, &["--no-tracker"]);
        let out = work.join("ours-out");
        let port = free_port().to_string();
        let mut ours = sanstorrent(
            &work,
            "ours",
            120,
            &[
                "download",
                s(&d.torrent),
                "-o",
                s(&out),
                "-p",
                &port,
                "--bind",
                "127.0.0.1",
                "--no-dht",
                "--peer",
                &lt_addr(&seeder),
                "--state-dir",
                s(&work.join("ours-state")),
            ],
        );
        expect_success(&mut ours, "sanstorrent download", Duration::from_secs(125));
        assert_same_tree(&d.dir, &out);
        assert_eq!(
            pad_paths(&out),
            Vec::<String>::new(),
            "padding written to disk"
        );
        let log = ours.output();
        let summary = log
            .lines()
            .find(|l| l.starts_with("downloaded "))
            .unwrap_or_else(|| panic!("no summary in:\n{log}"));
        assert_eq!(
            number_after(summary, "downloaded "),
            data_bytes,
            "{summary}"
        );
        assert_eq!(number_after(summary, "have "), data_bytes, "{summary}");
        assert_eq!(number_after(summary, " of "), data_bytes, "{summary}");
        // libtorrent's payload upload: the blocks holding data, no block of padding alone.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = seeder
                .output()
                .lines()
                .rfind(|l| l.starts_with("STATUS "))
                .map(|l| number_after(l, "up_total="));
            if up == Some(asked) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "libtorrent uploaded {up:?}, the blocks holding data are {asked} bytes \
                 (data {data_bytes})"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}

/// `sanstorrent create DIR --piece-length 32768` (hybrid, create's default): the torrent.
fn create_hybrid(work: &WorkDir, root: &Path, torrent: &Path, trackers: &[&str]) {
    let mut cmd = Command::new(interop_support::bin());
    cmd.args([
        "create",
        s(root),
        "--piece-length",
        "32768",
        "-o",
        s(torrent),
    ]);
    for t in trackers {
        cmd.args(["-t", t]);
    }
    let out = cmd.env("HOME", work.path()).output().expect("run create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn libtorrent_downloads_a_padded_hybrid_from_our_seeder() {
    bounded(150, || {
        let work = WorkDir::new("pad-to-lt");
        let d = data(&work, "multi", 2_000_000, PIECE, &[], &[]);
        let torrent = work.join("ours.torrent");
        create_hybrid(&work, &d.dir, &torrent, &["http://127.0.0.1:1/announce"]);
        let (data_bytes, asked, pads) = figures(&torrent);
        assert!(pads >= 3, "our hybrid has padding files: {pads}");
        let port = free_port();
        let mut ours_d = d;
        ours_d.torrent = torrent.clone();
        ours_d.dir = ours_d.dir.parent().unwrap().to_path_buf();
        let _seeder = seed(&work, "ours", &ours_d, port, 140, &["--no-dht"]);
        let lt_out = work.join("lt-out");
        let peer = format!("127.0.0.1:{port}");
        let mut lt = lt_peer(
            &work,
            "lt-leecher",
            120,
            &[
                "--torrent",
                s(&torrent),
                "--save",
                s(&lt_out),
                "--no-tracker",
                "--peer",
                &peer,
                "--exit-on-done",
                "--no-utp",
            ],
        );
        let status = lt.wait(Duration::from_secs(125));
        let log = lt.output();
        assert!(status.success(), "libtorrent leecher: {log}");
        assert_same_tree(&ours_d.dir.join("src-multi"), &lt_out.join("src-multi"));
        let done = log
            .lines()
            .find(|l| l.starts_with("DONE "))
            .unwrap_or_else(|| panic!("no DONE in:\n{log}"));
        assert_eq!(number_after(done, "bytes="), data_bytes, "{done}");
        let down = log
            .lines()
            .filter(|l| l.starts_with("STATUS "))
            .map(|l| number_after(l, "down_total="))
            .max()
            .unwrap_or(0);
        assert!(
            down <= asked,
            "libtorrent got {down} bytes, blocks with data are {asked}"
        );
    });
}

/// Asks the tracker (by hand, from a port nobody listens on) which peers it lists.
fn tracker_peers(tracker: &Tracker, info_hash: &str) -> String {
    let out = Command::new(python())
        .arg(interop_dir().join("announce.py"))
        .args([&tracker.http_url(), info_hash, "--port", "9", "--left", "1"])
        .output()
        .expect("run announce.py");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The v1 info-hash `sanstorrent info` prints for `torrent`.
fn info_hash(torrent: &Path) -> String {
    let out = Command::new(interop_support::bin())
        .args(["info", s(torrent)])
        .output()
        .expect("run info");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("info-hash:"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| panic!("no info-hash in {text}"))
}

/// A v1 torrent of `root` with padding after every file (libtorrent's `canonical_files`):
/// Transmission 3.00 cannot parse hybrids (their `file tree`), but reads this.
const V1_PADDED: &str = r#"
import os, sys, libtorrent as lt
root, out, tracker = sys.argv[1:4]
fs = lt.file_storage()
lt.add_files(fs, root)
ct = lt.create_torrent(fs, 32768, flags=lt.create_torrent.v1_only | lt.create_torrent.canonical_files)
lt.set_piece_hashes(ct, os.path.dirname(root))
ct.add_tracker(tracker)
open(out, 'wb').write(lt.bencode(ct.generate()))
"#;

fn v1_padded(root: &Path, torrent: &Path, tracker: &str) {
    let out = Command::new(python())
        .args(["-c", V1_PADDED, s(root), s(torrent), tracker])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn transmission_asks_for_padding_and_gets_zeros_from_our_seeder() {
    bounded(170, || {
        require_tool("transmission-cli");
        let work = WorkDir::new("pad-to-transmission");
        let tracker = Tracker::start(&work, "trk");
        // No zero-length file (Transmission 3.00 does not create them): `data`'s single
        // layout, twice, in one directory.
        let d = data(&work, "single", 300_000, PIECE, &[], &[]);
        let root = work.join("share");
        std::fs::create_dir_all(&root).unwrap();
        let name = d.single_file_name();
        std::fs::copy(d.dir.join(&name), root.join("one")).unwrap();
        let mut bytes = std::fs::read(d.dir.join(&name)).unwrap();
        bytes.truncate(123_457);
        std::fs::write(root.join("two"), &bytes).unwrap();
        let torrent = work.join("share.torrent");
        v1_padded(&root, &torrent, &tracker.http_url());
        let (_, _, pads) = figures(&torrent);
        assert!(pads >= 1, "padding after the first file at least");
        let hash = info_hash(&torrent);
        tracker.allow(&hash);
        let out = work.join("tr-out");
        std::fs::create_dir_all(&out).unwrap();
        let tr_port = free_port();
        let conf = work.join("trconf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("settings.json"),
            format!(
                r#"{{ "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
                "utp-enabled": false, "port-forwarding-enabled": false, "rpc-enabled": false,
                "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
                "peer-port": {tr_port}, "peer-port-random-on-start": false,
                "rename-partial-files": false, "start-added-torrents": true,
                "blocklist-enabled": false, "message-level": 2, "encryption": 1 }}"#
            ),
        )
        .unwrap();
        let finished = conf.join("finished");
        let fin = conf.join("fin.sh");
        std::fs::write(&fin, format!("#!/bin/sh\ntouch '{}'\n", finished.display())).unwrap();
        let _ = Command::new("chmod").arg("+x").arg(&fin).status();
        let tr = Bounded::spawn(
            160,
            "transmission-cli",
            &["-g", s(&conf), "-w", s(&out), "-f", s(&fin), s(&torrent)],
            &[],
            work.join("transmission.log"),
        );
        // Transmission never dials 127.0.0.0/8: our seeder learns it from the tracker.
        let listed = format!("127.0.0.1:{tr_port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tracker_peers(&tracker, &hash).contains(&listed) {
            assert!(
                Instant::now() < deadline,
                "Transmission never announced: {}",
                tr.output()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let mut ours_d = d;
        ours_d.torrent = torrent.clone();
        ours_d.dir = work.path().to_path_buf();
        let ours = seed(&work, "ours", &ours_d, free_port(), 160, &["--no-dht"]);
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
        for f in ["one", "two"] {
            assert!(
                std::fs::read(root.join(f)).unwrap()
                    == std::fs::read(out.join("share").join(f)).unwrap(),
                "{f} differs"
            );
        }
        // Transmission 3.00 stores padding as files: what we served for it is zeros.
        let pads = pad_paths(&out);
        assert_eq!(pads.len(), 1, "{pads:?}");
        let mut served = 0;
        for e in std::fs::read_dir(&pads[0]).unwrap().flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(bytes.iter().all(|b| *b == 0), "{:?} is not zeros", e.path());
            served += bytes.len();
        }
        assert!(served > 0, "no padding bytes fetched");
    });
}
