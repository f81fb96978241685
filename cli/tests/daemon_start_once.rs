//! The daemon starts a torrent in its client once per start asked for: `torrent-start` of a
//! torrent added paused lets the queue start it, and the daemon no longer starts it a second
//! time afterwards (it did: the queue's start, then its own for "those running"). A torrent
//! that runs already is started again in the client once (it may have stopped on its own).
//! Each start the daemon sends is logged at `debug` ("client torrent N: start").

mod common;

use std::process::{Command, Stdio};

use common::{Running, Scratch, bin, create_torrent, free_port, rpc_text, s, wait_listening};

/// How many starts of client torrent `n` the daemon's log shows.
fn starts(log: &std::path::Path, n: u32) -> usize {
    let line = format!("client torrent {n}: start");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_end().ends_with(&line))
        .count()
}

#[test]
fn a_start_reaches_the_client_once() {
    let w = Scratch::new("daemon_start_once");
    w.file("share/a.bin", 100_000, 3);
    let torrent = create_torrent(&w, "share");
    let http = free_port();
    let log = w.join("daemon.log");
    let child = Command::new(bin())
        .args([
            "daemon",
            "-o",
            s(w.path()),
            "--state-dir",
            s(&w.join("state")),
            "--http",
            &format!("127.0.0.1:{http}"),
            "-p",
            "0",
            "--bind",
            "127.0.0.1",
            "--no-dht",
        ])
        .env("RUST_LOG", "sanstorrent_cli=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the daemon");
    let daemon = Running(child);
    wait_listening(http);
    let added = rpc_text(
        http,
        &format!(
            r#"{{"method":"torrent-add","arguments":{{"filename":"{torrent}","paused":true}}}}"#
        ),
    );
    assert!(added.contains("success"), "{added}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(starts(&log, 1), 0, "added paused: not started\n{text}");

    // The queue starts it (it has room): that start is the only one.
    let started = rpc_text(
        http,
        r#"{"method":"torrent-start","arguments":{"ids":[1]}}"#,
    );
    assert!(started.contains("success"), "{started}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        starts(&log, 1),
        1,
        "one start for one torrent-start\n{text}"
    );

    // Running already: started once more in the client, not twice.
    let again = rpc_text(
        http,
        r#"{"method":"torrent-start","arguments":{"ids":[1]}}"#,
    );
    assert!(again.contains("success"), "{again}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        starts(&log, 1),
        2,
        "a running torrent started once more\n{text}"
    );
    drop(daemon);
}
