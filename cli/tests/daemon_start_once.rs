//! The daemon starts a torrent in its client once per start asked for: `torrent-start` of a
//! torrent added paused lets the queue start it, and the daemon no longer starts it a second
//! time afterwards (it did: the queue's start, then its own for "those running"). A torrent
//! that runs already is started again in the client once (it may have stopped on its own).
//! Each start the daemon sends is logged at `debug` ("client torrent N: start").

mod common;

use common::{Scratch, create_torrent, rpc_text, start_daemon_logged};

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
    let log = w.join("daemon.log");
    let (daemon, http) = start_daemon_logged(&w, w.path(), &[], "sanstorrent_cli=debug", &log);
    let added = rpc_text(
        http,
        &format!(
            r#"{{"method":"torrent-add","arguments":{{"filename":"{torrent}","paused":true}}}}"#
        ),
    );
    assert!(added.contains("success"), "{added}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(starts(&log, 1), 0, "added paused: not started\n{text}");

    let start_then_count = |why: &str, expected: usize| {
        let started = rpc_text(
            http,
            r#"{"method":"torrent-start","arguments":{"ids":[1]}}"#,
        );
        assert!(started.contains("success"), "{started}");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(starts(&log, 1), expected, "{why}\n{text}");
    };
    // The queue starts it (it has room): that start is the only one.
    start_then_count("one start for one torrent-start", 1);
    // Running already: started once more in the client, not twice.
    start_then_count("a running torrent started once more", 2);
    drop(daemon);
}
