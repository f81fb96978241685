//! Web seeds (BEP 19) end to end: the real binary downloads from Debian's nginx (started by
//! the test on a free 127.0.0.1 port, with its own configuration, pid, logs and temp files in
//! the test's directory), alone and beside a libtorrent seeder (both sources together finish
//! faster than either alone); a mirror serving a corrupted file is dropped and the peer
//! finishes. Mirrors edited at run time through the daemon's qBittorrent API are saved and
//! used again after a restart. `test.sh` installs nginx when it is missing.

mod interop_support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use interop_support::mirror::{Nginx, bytes, create, download, web_seed_bytes, write};
use interop_support::{assert_same_tree, data, expect_success, lt_addr, lt_seeder, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port};

#[test]
fn single_file_from_nginx_only_with_an_encoded_name() {
    let work = WorkDir::new("webseed-single");
    let port = free_port();
    let root = work.join("www");
    let name = "a file é+%.bin";
    let data = bytes(5_000_000 + 123, 1);
    write(&root.join("files").join(name), &data);
    // A URL ending in `/`: the file is there under the torrent's name.
    let url = format!("http://127.0.0.1:{port}/files/");
    let torrent = work.join("single.torrent");
    create(&work, &root.join("files").join(name), &url, &torrent);
    let nginx = Nginx::start(&work, &root, port, 0);
    let log = download(&work, "ours", &torrent, &[]);
    assert_eq!(
        fs::read(work.join("ours-out").join(name)).expect("downloaded"),
        data
    );
    assert!(web_seed_bytes(&log, &url) >= data.len() as u64, "{log}");
    let requests = nginx.requests(&work);
    assert!(
        requests
            .iter()
            .any(|l| l.contains("/files/a%20file%20%C3%A9%2B%25.bin") && l.contains(" 206 ")),
        "{requests:?}"
    );
}

#[test]
fn multi_file_from_nginx_only_with_spaces_and_unicode() {
    let work = WorkDir::new("webseed-multi");
    let port = free_port();
    let src = work.join("src");
    let name = "my dir ü";
    let files = [
        ("sub dir/a b.bin", 3_000_001usize),
        ("ñ.bin", 70_000),
        ("c.txt", 10),
        ("sub dir/zz z.bin", 1_500_000),
    ];
    for (i, (path, len)) in files.iter().enumerate() {
        write(&src.join(name).join(path), &bytes(*len, i as u64 + 10));
    }
    // The mirror holds the torrent's directory under /mirror (URL without a trailing `/`).
    let url = format!("http://127.0.0.1:{port}/mirror");
    let torrent = work.join("multi.torrent");
    create(&work, &src.join(name), &url, &torrent);
    let www = work.join("www");
    fs::create_dir_all(&www).expect("www");
    let status = Command::new("cp")
        .args(["-r", s(&src), s(&www.join("mirror"))])
        .status()
        .expect("cp");
    assert!(status.success());
    let _nginx = Nginx::start(&work, &www, port, 0);
    let log = download(&work, "ours", &torrent, &[]);
    assert_same_tree(&src, &work.join("ours-out"));
    assert!(web_seed_bytes(&log, &url) > 4_500_000, "{log}");
}

/// Seconds a `download` took, from its summary line.
fn seconds(log: &str) -> f64 {
    log.lines()
        .find_map(|l| l.strip_prefix("downloaded ")?.split(" bytes in ").nth(1))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary in:\n{log}"))
}

/// Payload bytes a `download` received from every source, from its summary line.
fn received(log: &str) -> u64 {
    log.lines()
        .find_map(|l| {
            l.strip_prefix("downloaded ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary in:\n{log}"))
}

/// Writes `torrent` without its `url-list` (one URL, as `data` writes it) to `out`: the same
/// info-hash with no mirror.
fn strip_url_list(torrent: &Path, out: &Path) {
    let meta = fs::read(torrent).expect("torrent");
    let key = b"8:url-list";
    let at = meta
        .windows(key.len())
        .position(|w| w == key)
        .expect("a url-list");
    let value = at + key.len();
    let colon = value
        + meta[value..]
            .iter()
            .position(|&b| b == b':')
            .expect("a string");
    let len: usize = std::str::from_utf8(&meta[value..colon])
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("a string length");
    let mut bare = meta[..at].to_vec();
    bare.extend_from_slice(&meta[colon + 1 + len..]);
    fs::write(out, bare).expect("bare torrent");
}

#[test]
fn a_slow_peer_and_a_slow_mirror_both_contribute_and_beat_either_alone() {
    const SIZE: u64 = 6_000_000;
    let work = WorkDir::new("webseed-mixed");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let d = data(&work, "single", SIZE, 64 * 1024, &[], &["--web-seed", &url]);
    // About 0.6 MB/s from the mirror (four requests in flight) and as much from the peer: each
    // alone takes about 10 s, so the machine's speed does not decide the ratios below.
    let _nginx = Nginx::start(&work, &d.dir, port, 150_000);
    let lt = lt_seeder(&work, "lt-seeder", &d, &["--upload-limit", "600000"]);
    let peer = lt_addr(&lt);
    let both = download(&work, "both", &d.torrent, &["--peer", &peer]);
    assert_same_tree(&d.dir, &work.join("both-out"));
    let from_web = web_seed_bytes(&both, &url);
    let from_peer = received(&both).saturating_sub(from_web);
    assert!(from_web > SIZE / 5, "nginx delivered little:\n{both}");
    assert!(from_peer > SIZE / 5, "the peer delivered little:\n{both}");
    let web_only = download(&work, "web", &d.torrent, &[]);
    assert_same_tree(&d.dir, &work.join("web-out"));
    assert!(web_seed_bytes(&web_only, &url) >= SIZE, "{web_only}");
    // The same torrent without its `url-list`: the peer is the only source.
    let bare = work.join("bare.torrent");
    strip_url_list(&d.torrent, &bare);
    let peer_only = download(&work, "peer", &bare, &["--peer", &peer]);
    assert_same_tree(&d.dir, &work.join("peer-out"));
    let (t_both, t_web, t_peer) = (seconds(&both), seconds(&web_only), seconds(&peer_only));
    eprintln!(
        "both {t_both:.1} s ({from_web} bytes from the mirror, {from_peer} from the peer), \
         mirror only {t_web:.1} s, peer only {t_peer:.1} s"
    );
    // Two equal sources halve the time; four fifths leaves room for start-up and the last
    // pieces, and still fails if either source stopped contributing.
    assert!(
        t_both < 0.8 * t_web,
        "both {t_both} s, mirror only {t_web} s"
    );
    assert!(
        t_both < 0.8 * t_peer,
        "both {t_both} s, peer only {t_peer} s"
    );
}

#[test]
fn a_mirror_with_a_corrupted_file_is_dropped_and_the_peer_finishes() {
    let work = WorkDir::new("webseed-corrupt");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let d = data(
        &work,
        "single",
        6_000_000,
        64 * 1024,
        &[],
        &["--web-seed", &url],
    );
    let mirror = work.join("mirror");
    fs::create_dir_all(&mirror).expect("mirror");
    let file = d.single_file_name();
    let mut bad = fs::read(d.dir.join(&file)).expect("data");
    for b in bad.iter_mut().step_by(4096) {
        *b ^= 0xff;
    }
    fs::write(mirror.join(&file), bad).expect("corrupt copy");
    let _nginx = Nginx::start(&work, &mirror, port, 0);
    let lt = lt_seeder(&work, "lt-seeder", &d, &["--upload-limit", "2000000"]);
    let log = download(&work, "ours", &d.torrent, &["--peer", &lt_addr(&lt)]);
    assert_same_tree(&d.dir, &work.join("ours-out"));
    assert!(
        log.contains(&format!("web seed {url} dropped")) && log.contains("failed its hash check"),
        "{log}"
    );
}

/// A qBittorrent Web API call with `curl` (the cookie jar in `work`): the status and body.
fn qbit(work: &WorkDir, port: u16, method: &str, form: &[&str]) -> (u16, String) {
    let jar = work.join("cookies");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(["-c", s(&jar), "-b", s(&jar)]);
    for field in form {
        cmd.args([
            if field.contains("=@") {
                "-F"
            } else {
                "--data-urlencode"
            },
            field,
        ]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}/api/v2/{method}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `sanstorrent daemon` on `http` with its state in `work/daemon-state`, once it listens.
fn daemon(work: &WorkDir, name: &str, http: u16, out: &Path) -> interop_support::Bounded {
    let state = work.join("daemon-state");
    let addr = format!("127.0.0.1:{http}");
    let p = sanstorrent(
        work,
        name,
        170,
        &[
            "daemon",
            "-o",
            s(out),
            "--state-dir",
            s(&state),
            "--http",
            &addr,
            "-p",
            "0",
            "--bind",
            "127.0.0.1",
            "--no-dht",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "no daemon: {}", p.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

#[test]
fn mirrors_edited_at_run_time_are_restored_after_a_daemon_restart() {
    let work = WorkDir::new("webseed-restart");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let dead = "http://127.0.0.1:1/dead/";
    let d = data(
        &work,
        "single",
        3_000_000,
        64 * 1024,
        &[],
        &["--web-seed", dead],
    );
    let out = work.join("out");
    let http = free_port();
    let hash = format!("hash={}", d.info_hash);
    let listed = |work: &WorkDir| {
        let (code, body) = qbit(work, http, "torrents/webseeds", &[&hash]);
        assert_eq!(code, 200, "{body}");
        body
    };
    {
        let first = daemon(&work, "daemon-1", http, &out);
        let login = ["username=any", "password=any"];
        assert_eq!(qbit(&work, http, "auth/login", &login).0, 200);
        let file = format!("torrents=@{}", s(&d.torrent));
        let (code, body) = qbit(&work, http, "torrents/add", &[&file]);
        assert_eq!((code, body.as_str()), (200, "Ok."), "{}", first.output());
        assert_eq!(listed(&work), format!(r#"[{{"url":"{dead}"}}]"#));
        // The metainfo's dead mirror goes, the (not yet running) nginx comes.
        let urls = format!("urls={url}");
        let (code, body) = qbit(&work, http, "torrents/addWebSeeds", &[&hash, &urls]);
        assert_eq!(code, 200, "{body} {}", first.output());
        let urls = format!("urls={dead}");
        let (code, body) = qbit(&work, http, "torrents/removeWebSeeds", &[&hash, &urls]);
        assert_eq!(code, 200, "{body}");
        assert_eq!(listed(&work), format!(r#"[{{"url":"{url}"}}]"#));
    }
    // Restarted with the mirror up: the saved list, and the mirror (the only source) brings
    // every byte.
    let _nginx = Nginx::start(&work, &d.dir, port, 0);
    let second = daemon(&work, "daemon-2", http, &out);
    let login = ["username=any", "password=any"];
    assert_eq!(qbit(&work, http, "auth/login", &login).0, 200);
    assert_eq!(listed(&work), format!(r#"[{{"url":"{url}"}}]"#));
    interop_support::wait_same_tree(
        &d.dir,
        &out,
        Duration::from_secs(60),
        &format!("the download from the restored mirror: {}", second.output()),
    );
}

#[test]
fn a_magnets_mirrors_are_saved_with_its_metadata_and_used_after_a_restart() {
    let work = WorkDir::new("webseed-magnet");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let d = data(&work, "single", 3_000_000, 64 * 1024, &[], &[]);
    let out = work.join("out");
    let http = free_port();
    let hash = format!("hash={}", d.info_hash);
    let login = ["username=any", "password=any"];
    let saved = work.join(&format!("daemon-state/daemon/{}.torrent", d.info_hash));
    {
        // A slow peer brings the metadata (and a few pieces); the mirror is not up yet.
        let lt = lt_seeder(&work, "lt-seeder", &d, &["--upload-limit", "50000"]);
        let magnet = format!("{}&ws={url}&x.pe={}", d.magnet, lt_addr(&lt));
        let first = daemon(&work, "daemon-1", http, &out);
        assert_eq!(qbit(&work, http, "auth/login", &login).0, 200);
        let urls = format!("urls={magnet}");
        let (code, body) = qbit(&work, http, "torrents/add", &[&urls]);
        assert_eq!((code, body.as_str()), (200, "Ok."), "{}", first.output());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !saved.exists() {
            assert!(
                Instant::now() < deadline,
                "no metadata saved: {}",
                first.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Restarted without the peer: the saved .torrent names the mirror, which brings the rest.
    let _nginx = Nginx::start(&work, &d.dir, port, 0);
    let second = daemon(&work, "daemon-2", http, &out);
    assert_eq!(qbit(&work, http, "auth/login", &login).0, 200);
    let (code, body) = qbit(&work, http, "torrents/webseeds", &[&hash]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        format!(r#"[{{"url":"{url}"}}]"#),
        "{}",
        second.output()
    );
    interop_support::wait_same_tree(
        &d.dir,
        &out,
        Duration::from_secs(60),
        &format!("the download from the magnet's mirror: {}", second.output()),
    );
}

#[test]
fn the_daemon_lists_http_seeds_beside_the_url_list() {
    let work = WorkDir::new("webseed-both-kinds");
    let file = work.join("src/both.bin");
    write(&file, &bytes(200_000, 3));
    let torrent = work.join("both.torrent");
    let (web, http_seed) = ("http://127.0.0.1:1/w/", "http://127.0.0.1:1/seed.php");
    let mut p = sanstorrent(
        &work,
        "create",
        60,
        &[
            "create",
            s(&file),
            "-t",
            "http://127.0.0.1:1/announce",
            "--web-seed",
            web,
            "--http-seed",
            http_seed,
            "-o",
            s(&torrent),
        ],
    );
    expect_success(&mut p, "sanstorrent create", Duration::from_secs(60));
    let http = free_port();
    let d = daemon(&work, "daemon", http, &work.join("out"));
    assert_eq!(
        qbit(&work, http, "auth/login", &["username=any", "password=any"]).0,
        200
    );
    let file = format!("torrents=@{}", s(&torrent));
    let (code, body) = qbit(&work, http, "torrents/add", &[&file]);
    assert_eq!((code, body.as_str()), (200, "Ok."), "{}", d.output());
    let (code, body) = qbit(&work, http, "torrents/info", &[]);
    assert_eq!(code, 200, "{body}");
    let hash = body
        .split("\"hash\":\"")
        .nth(1)
        .and_then(|h| h.split('"').next())
        .unwrap_or_else(|| panic!("no hash in {body}"))
        .to_string();
    let (code, body) = qbit(&work, http, "torrents/webseeds", &[&format!("hash={hash}")]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        format!(r#"[{{"url":"{web}"}},{{"url":"{http_seed}"}}]"#),
        "{}",
        d.output()
    );
}
