//! The daemon's tracker and web-seed failures: each is logged (a warning naming the torrent
//! and the URL), and a torrent whose only source, a web seed, fails shows an error naming
//! the mirror (Transmission's `errorString`, error 2 as for a tracker's).

mod common;

mod disk_support;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::{Scratch, free_port, run, s};
use disk_support::{Daemon, PIECE, named};

/// An HTTP server on loopback answering 404 to every request; its URL.
fn missing_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mirror");
    let url = format!("http://{}/pub/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    url
}

#[test]
fn tracker_and_web_seed_failures_are_logged_and_a_failing_only_mirror_is_named() {
    let w = Scratch::new("daemon-source-errors");
    w.file("src/m/one.bin", 4 * PIECE as usize, 21);
    let mirror = missing_mirror();
    // A tracker nobody listens on.
    let tracker = format!("http://127.0.0.1:{}/announce", free_port());
    let torrent = w.join("m.torrent");
    let (code, _, err) = run(&[
        "create",
        s(&w.join("src/m")),
        "-t",
        &tracker,
        "--web-seed",
        &mirror,
        "--piece-length",
        &PIECE.to_string(),
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "create: {err}");
    let (dl, state) = (w.join("dl"), w.join("state"));
    std::fs::create_dir_all(&dl).unwrap();
    let d = Daemon::start(&["env", "RUST_LOG=warn"], &dl, &state, free_port(), &[]);
    d.add(s(&torrent));
    let ts = d.wait_until("the mirror's failure shown", 60, |ts| {
        ts.len() == 1
            && named(ts, "m")["errorString"]
                .as_str()
                .is_some_and(|e| e.contains(&mirror))
    });
    let t = named(&ts, "m");
    assert_eq!(t["error"], 2, "{t:#?}");
    let why = t["errorString"].as_str().unwrap();
    assert!(why.contains("404"), "{why}");
    let logged = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let log = d.log();
            if log.lines().any(|l| l.contains("WARN") && l.contains(what)) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no {what:?} in {log}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    logged(&format!("m: web seed {mirror}: "));
    logged(&format!("m: tracker {tracker}: "));
    d.stop();
}
