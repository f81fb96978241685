//! A daemon restarted over seeding torrents (issue 25) adds those its list saved as complete
//! in the released form: they seed and announce (`left=0`) at once, without a check and
//! without their resume data read. When a peer asks for one, its resume data is read and
//! its files' stamps compared: the unchanged torrent serves as saved, the one whose file was
//! touched while the daemon was down (and only it) is hashed again first, and the daemon
//! logs why. A list without the `complete` field restores the eager way
//! (`daemon_restart_check.rs`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Running, Scratch, free_port, loopback_download, rpc_text, run, s, start_daemon_on,
    torrent_states, touch_later,
};

/// Transmission's status while seeding.
const SEEDING: u64 = 6;

/// An HTTP tracker on loopback recording each announce's query; answers with no peers.
fn tracker() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tracker");
    let port = listener.local_addr().expect("its address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            if let Some(query) = line.split(' ').nth(1) {
                record.lock().unwrap().push(query.to_owned());
            }
            let body = b"d8:intervali1800e5:peers0:e";
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    (port, seen)
}

/// Starts the daemon over `w` with its peer port `peer`, its log (`info`) in `log`; returns
/// it and its RPC port.
fn daemon(w: &Scratch, peer: u16, log: &Path) -> (Running, u16) {
    start_daemon_on(w, w.path(), peer, &["--no-lsd"], "info", log)
}

/// Waits (at most 120 s, however slow the machine) until `ready` holds.
fn wait(what: &str, ready: impl Fn() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Some(why) = ready() else {
            return;
        };
        assert!(Instant::now() < deadline, "never {what}: {why}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_seeding(port: u16) -> Option<String> {
    let now = torrent_states(port);
    let ok = now.len() == 3 && now.iter().all(|t| t.1 == SEEDING && t.2 == 1.0);
    (!ok).then(|| format!("{now:?}"))
}

/// Downloads torrent `name` from the daemon at `peer` and compares the bytes.
fn leech(w: &Scratch, name: &str, peer: u16) {
    let out = w.join(&format!("leech-{name}"));
    let torrent = w.join(&format!("{name}.torrent"));
    let state = w.join(&format!("state-{name}"));
    let peer = format!("127.0.0.1:{peer}");
    let mut args = loopback_download(s(&torrent), &out, &state);
    args.extend(["--peer", &peer, "--no-peers-timeout", "60"]);
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{name}: {stdout}\n{stderr}");
    assert_eq!(
        std::fs::read(out.join(name).join("f.bin")).expect("downloaded"),
        std::fs::read(w.join(name).join("f.bin")).expect("source"),
        "{name}: the right bytes"
    );
}

#[test]
fn complete_torrents_restore_released_and_only_a_changed_one_is_checked_when_asked() {
    let w = Scratch::new("lazy-restore");
    let (trk, announces) = tracker();
    let names = ["a_idle", "b_kept", "c_touched"];
    for (i, name) in names.iter().enumerate() {
        w.file(&format!("{name}/f.bin"), 300_000, i as u64 + 1);
        let (code, _, err) = run(&[
            "create",
            s(&w.join(name)),
            "-t",
            &format!("http://127.0.0.1:{trk}/announce"),
            "-o",
            s(&w.join(&format!("{name}.torrent"))),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let peer = free_port();
    let log = w.join("first.log");
    let (first, port) = daemon(&w, peer, &log);
    for name in names {
        let t = w.join(&format!("{name}.torrent"));
        let add = format!(
            r#"{{"method":"torrent-add","arguments":{{"filename":"{}"}}}}"#,
            s(&t)
        );
        assert!(rpc_text(port, &add).contains("success"));
    }
    wait("all three seeding after the first check", || {
        all_seeding(port)
    });
    // The daemon has counted each completion (its done date), so its list says complete.
    wait("three done dates", || {
        let body = r#"{"method":"torrent-get","arguments":{"fields":["doneDate"]}}"#;
        let text = rpc_text(port, body);
        let done = text.matches(r#""doneDate":0"#).count() == 0 && text.contains("doneDate");
        (!done).then_some(text)
    });
    first.interrupt();
    let (code, _, err) = first.wait(60);
    assert_eq!(code, 130, "{err}");
    let list = std::fs::read_to_string(w.join("state/daemon/torrents.json")).expect("the list");
    assert_eq!(list.matches(r#""complete": true"#).count(), 3, "{list}");

    // The touched file keeps its bytes: only its stamp says it may have changed.
    let touched = w.join("c_touched/f.bin");
    touch_later(&touched, Duration::from_secs(5));

    announces.lock().unwrap().clear();
    let log = w.join("second.log");
    let (second, port) = daemon(&w, peer, &log);
    // Seeding at once: no check ran, none is running.
    assert_eq!(all_seeding(port), None, "seeding at once");
    wait("three announces with left=0", || {
        let seen = announces.lock().unwrap();
        let done = (seen.iter())
            .filter(|q| q.starts_with("/announce") && q.contains("left=0"))
            .count();
        (done < 3).then(|| format!("{seen:?}"))
    });
    let seen = announces.lock().unwrap().clone();
    assert!(
        !(seen.iter()).any(|q| q.starts_with("/announce") && !q.contains("left=0")),
        "every announce says complete: {seen:?}"
    );

    leech(&w, "b_kept", peer);
    leech(&w, "c_touched", peer);
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait("c_touched checked", || {
        let t = text();
        (!t.contains("c_touched: not as saved")).then_some(t)
    });
    let t = text();
    assert_eq!(t.matches("metainfo loaded back").count(), 2, "{t}");
    assert!(!t.contains("b_kept: not as saved"), "b_kept trusted: {t}");
    assert!(
        !t.contains("a_idle: metainfo loaded back"),
        "a_idle never loaded: {t}"
    );
    wait("all three seeding again", || all_seeding(port));

    // Removed with its data while still released (its metainfo never loaded back): its file
    // goes all the same, and the directory it leaves empty.
    let ids = r#"{"method":"torrent-get","arguments":{"fields":["id","name"]}}"#;
    let text = rpc_text(port, ids);
    let json = text
        .split_once("\r\n\r\n")
        .map_or(text.as_str(), |(_, b)| b);
    let value: serde_json::Value = serde_json::from_str(json).expect("torrent-get answer");
    let idle = value["arguments"]["torrents"]
        .as_array()
        .expect("a torrent list")
        .iter()
        .find(|t| t["name"] == "a_idle")
        .and_then(|t| t["id"].as_u64())
        .expect("a_idle's id");
    let remove = format!(
        r#"{{"method":"torrent-remove","arguments":{{"ids":[{idle}],"delete-local-data":true}}}}"#
    );
    assert!(rpc_text(port, &remove).contains("success"));
    let file = w.join("a_idle/f.bin");
    wait("a_idle's file deleted", || {
        file.exists()
            .then(|| format!("{} is still there", file.display()))
    });
    assert!(!w.join("a_idle").exists(), "its emptied directory went too");
    assert!(w.join("b_kept/f.bin").exists(), "the others' files stay");
    second.interrupt();
    let (code, _, err) = second.wait(60);
    assert_eq!(code, 130, "{err}");
}

/// The (first and only) torrent's `percentDone` and status.
fn done_and_status(port: u16) -> (f64, u64) {
    let now = torrent_states(port);
    now.first().map_or((-1.0, 99), |t| (t.2, t.1))
}

#[test]
fn a_seed_whose_recheck_finds_data_missing_is_saved_incomplete_by_a_stop_right_after() {
    // The daemon's `complete` must follow the check's result, not wait for the statistics'
    // next report: a stop at once saves what the check found, so the restart checks it
    // rather than adding it released with every piece.
    let w = Scratch::new("lazy-restore-lost");
    let (trk, _) = tracker();
    w.file("d_lost/f.bin", 300_000, 9);
    let (code, _, err) = run(&[
        "create",
        s(&w.join("d_lost")),
        "-t",
        &format!("http://127.0.0.1:{trk}/announce"),
        "-o",
        s(&w.join("d_lost.torrent")),
    ]);
    assert_eq!(code, 0, "{err}");
    let log = w.join("first.log");
    let (first, port) = daemon(&w, free_port(), &log);
    let add = format!(
        r#"{{"method":"torrent-add","arguments":{{"filename":"{}"}}}}"#,
        s(&w.join("d_lost.torrent"))
    );
    assert!(rpc_text(port, &add).contains("success"));
    wait("seeding", || {
        let (done, status) = done_and_status(port);
        (done != 1.0 || status != SEEDING).then(|| format!("{done} {status}"))
    });
    std::fs::File::options()
        .write(true)
        .open(w.join("d_lost/f.bin"))
        .and_then(|f| f.set_len(100_000))
        .expect("truncate");
    let verify = r#"{"method":"torrent-verify","arguments":{}}"#;
    assert!(rpc_text(port, verify).contains("success"));
    // Checked (1: waiting for the check, 2: checking), keeping what is before the cut.
    wait("checked again", || {
        let (done, status) = done_and_status(port);
        let checked = done > 0.0 && done < 1.0 && status != 1 && status != 2;
        (!checked).then(|| format!("{done} {status}"))
    });
    first.interrupt();
    let (code, _, err) = first.wait(60);
    assert_eq!(code, 130, "{err}");
    let list = std::fs::read_to_string(w.join("state/daemon/torrents.json")).expect("the list");
    assert!(
        list.contains(r#""hash""#) && !list.contains(r#""complete": true"#),
        "{list}"
    );
}
