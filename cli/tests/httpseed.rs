//! BEP 17 HTTP seeds (`httpseeds`) end to end: the real binary downloads from a small BEP 17
//! server written for the test (`interop_support/httpseed.py`, on a free 127.0.0.1 port; no
//! Debian package serves BEP 17). A server that answers `503` "3" for three seconds from the
//! first request is asked nothing more for those three seconds, then brings every byte alone; one that corrupts the first pieces it is asked
//! for is dropped (their hash checks fail) and a libtorrent seeder finishes the download.

mod interop_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use interop_support::mirror::download;
use interop_support::{Data, assert_same_tree, data, expect_success, lt_seeder, s, sanstorrent};
use sanstorrent_tests::interop::{Proc, WorkDir, python};

/// `sanstorrent create PATH -t DEAD --format v1 --piece-length 65536 --http-seed URL -o OUT`.
fn create(work: &WorkDir, path: &Path, http_seed: &str, out: &Path) {
    let mut p = sanstorrent(
        work,
        "create",
        60,
        &[
            "create",
            s(path),
            "-t",
            "http://127.0.0.1:1/announce",
            "--format",
            "v1",
            "--piece-length",
            "65536",
            "--http-seed",
            http_seed,
            "-o",
            s(out),
        ],
    );
    expect_success(&mut p, "sanstorrent create", Duration::from_secs(60));
}

/// The BEP 17 server of `torrent` over `dir` on 127.0.0.1:`port`, with `extra` flags, once
/// it listens.
fn server(work: &WorkDir, torrent: &Path, dir: &Path, port: u16, extra: &[&str]) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop_support/httpseed.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .args(["--torrent", s(torrent), "--dir", s(dir)])
        .args(["--port", &port.to_string()])
        .args(extra);
    let p = Proc::spawn(cmd, work.join("httpseed.log"));
    p.wait_for_line("LISTEN", Duration::from_secs(20));
    p
}

/// The server's request lines: (monotonic seconds, status).
fn requests(p: &Proc) -> Vec<(f64, u16)> {
    p.output()
        .lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("REQ ")?.split(' ');
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// A generated single-file torrent (3 MB) re-made with HTTP seed `url`.
fn torrent_with_seed(work: &WorkDir, url: &str) -> Data {
    let d = data(work, "single", 3_000_000, 64 * 1024, &[], &[]);
    let torrent: PathBuf = work.join("httpseed.torrent");
    create(work, &d.dir.join(d.single_file_name()), url, &torrent);
    Data { torrent, ..d }
}

#[test]
fn a_busy_http_seed_is_waited_for_then_brings_the_torrent_alone() {
    let work = WorkDir::new("httpseed-busy");
    let port = sanstorrent_tests::interop::free_port();
    let url = format!("http://127.0.0.1:{port}/seed.php");
    let d = torrent_with_seed(&work, &url);
    let srv = server(&work, &d.torrent, &d.dir, port, &["--busy-secs", "3"]);
    let log = download(&work, "ours", &d.torrent, &[]);
    assert_same_tree(&d.dir, &work.join("ours-out"));
    let prefix = format!("web seed {url}: ");
    let bytes: u64 = log
        .lines()
        .find_map(|l| {
            l.strip_prefix(&prefix)?
                .strip_suffix(" bytes")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `{prefix}N bytes` line:\n{log}"));
    assert!(bytes >= 3_000_000, "{log}");
    assert!(log.contains("busy"), "the 503 was not reported:\n{log}");
    // The requests already sent or queued were refused; nothing more was asked until the
    // wait was over (a failure's back-off, 2 s, would have asked again within it), and then
    // nothing was refused.
    let reqs = requests(&srv);
    assert_eq!(reqs.first().map(|r| r.1), Some(503), "{reqs:?}");
    let first = reqs[0].0;
    for &(at, status) in &reqs {
        let after = at - first;
        assert!(
            (status == 503 && after < 1.5) || (status == 200 && after >= 2.95),
            "a {status} {after:.2} s after the first request: {reqs:?}"
        );
    }
    let busy = reqs.iter().filter(|r| r.1 == 503).count();
    eprintln!(
        "httpseed busy: {} requests, {busy} answered 503",
        reqs.len()
    );
}

#[test]
fn an_http_seed_corrupting_a_piece_is_dropped_and_the_peer_finishes() {
    let work = WorkDir::new("httpseed-corrupt");
    let port = sanstorrent_tests::interop::free_port();
    let url = format!("http://127.0.0.1:{port}/seed.php");
    let d = torrent_with_seed(&work, &url);
    // The first three pieces it is asked for fail their checks: two strikes drop it.
    let srv = server(&work, &d.torrent, &d.dir, port, &["--corrupt", "3"]);
    let lt = lt_seeder(&work, "lt-seeder", &d, &["--upload-limit", "1000000"]);
    let peer = interop_support::lt_addr(&lt);
    let log = download(&work, "ours", &d.torrent, &["--peer", &peer]);
    assert_same_tree(&d.dir, &work.join("ours-out"));
    let dropped = format!("web seed {url} dropped: ");
    let why = log
        .lines()
        .find_map(|l| l.split_once(&dropped).map(|(_, why)| why.to_string()))
        .unwrap_or_else(|| panic!("the corrupting seed was not dropped:\n{log}"));
    assert!(
        why.contains("hash check") || why.contains("smart ban"),
        "{why}"
    );
    let served = requests(&srv).len();
    assert!(served > 0, "the seed was never asked");
}
