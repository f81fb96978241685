//! The daemon's released torrents (issue 25): with `--release-idle-after 1`, a seeding torrent
//! without peers releases its metainfo (the daemon logs it), and our own leecher arriving
//! afterwards downloads the right bytes: the session asked for the metainfo back, and the
//! daemon's source read it from the `.torrent` in its state directory. On both runtimes.

mod common;

use std::time::{Duration, Instant};

use common::{
    Scratch, create_torrent, free_port, loopback_download, rpc_text, run, start_daemon_on,
};

/// The runtimes this build has (test.sh enables the cli's `tokio` feature).
const RUNTIMES: &[&str] = if cfg!(feature = "tokio") {
    &["smol", "tokio"]
} else {
    &["smol"]
};

/// Waits (at most 120 s, however slow the machine) until the daemon's log holds `line`.
fn wait_for_log(log: &std::path::Path, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(line) {
            return;
        }
        assert!(Instant::now() < deadline, "no {line:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_leecher_after_the_release_gets_the_right_bytes() {
    for runtime in RUNTIMES {
        let w = Scratch::new("daemon_release");
        let data = w.file("share/a.bin", 300_000, 7);
        let torrent = create_torrent(&w, "share");
        let port = free_port();
        let log = w.join("daemon.log");
        let extra = ["--runtime", runtime, "--release-idle-after", "1"];
        let (daemon, http) = start_daemon_on(&w, w.path(), port, &extra, "info", &log);
        let added = rpc_text(
            http,
            &format!(r#"{{"method":"torrent-add","arguments":{{"filename":"{torrent}"}}}}"#),
        );
        assert!(added.contains("success"), "{added}");
        let t0 = Instant::now();
        wait_for_log(&log, "idle, metainfo released");
        eprintln!("{runtime}: released after {:?}", t0.elapsed());

        let out = w.join("out");
        let state = w.join("leecher-state");
        let peer = format!("127.0.0.1:{port}");
        let mut args = loopback_download(&torrent, &out, &state);
        args.extend(["--peer", &peer, "--no-peers-timeout", "60"]);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{runtime}: {stdout}\n{stderr}");
        assert_eq!(
            std::fs::read(out.join("share/a.bin")).expect("downloaded"),
            std::fs::read(&data).expect("source"),
            "{runtime}: the right bytes"
        );
        eprintln!("{runtime}: downloaded after {:?}", t0.elapsed());
        wait_for_log(&log, "metainfo loaded back");
        daemon.signal("TERM");
        let (code, _, _) = daemon.wait(60);
        assert_eq!(
            code, 130,
            "{runtime}: the daemon stops at SIGTERM as it does"
        );
    }
}
