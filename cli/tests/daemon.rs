//! `sanstorrent daemon` end to end, driven by the real `transmission-remote` (Debian's
//! `transmission-cli`, installed by the interop set-up): add, list, label, stop, remove, and
//! the graceful stops (SIGTERM, `--exit`).

mod common;

use std::process::Command;

use common::{Running, Scratch, create_torrent, remote, run, s, start_daemon, test_python};

/// The runtimes this build has (test.sh enables the cli's `tokio` feature).
const RUNTIMES: &[&str] = if cfg!(feature = "tokio") {
    &["smol", "tokio"]
} else {
    &["smol"]
};

/// A daemon on free ports on `runtime`, downloading under `<scratch>/dl`; its HTTP port.
fn start_on(w: &Scratch, runtime: &str) -> (Running, u16) {
    start_daemon(w, &w.join("dl"), &["--runtime", runtime])
}

fn make_torrent(w: &Scratch) -> String {
    w.file("share/a.bin", 300_000, 7);
    create_torrent(w, "share")
}

#[test]
fn transmission_remote_adds_lists_labels_stops_and_removes() {
    for runtime in RUNTIMES {
        let w = Scratch::new(&format!("daemon-{runtime}"));
        let torrent = make_torrent(&w);
        let (daemon, port) = start_on(&w, runtime);

        assert!(remote(port, &["-a", &torrent]).contains("success"));
        let list = remote(port, &["-l"]);
        let row = list
            .lines()
            .find(|l| l.trim_start().starts_with("1 "))
            .unwrap_or_else(|| panic!("no torrent 1 in:\n{list}"));
        assert!(row.ends_with("share"), "{row}");
        let again = remote(port, &["-a", &torrent]);
        assert!(again.contains("success"), "{again}");
        assert_eq!(remote(port, &["-l"]).lines().count(), list.lines().count());

        let files = remote(port, &["-t", "1", "-f"]);
        assert!(files.contains("share/a.bin"), "{files}");
        remote(port, &["-t", "1", "-L", "tv,hd"]);
        assert!(remote(port, &["-t", "1", "-i"]).contains("Labels: tv, hd"));

        remote(port, &["-t", "1", "-S"]);
        assert!(remote(port, &["-l"]).contains("Stopped"), "{runtime}");
        remote(port, &["-t", "1", "-r"]);
        assert!(!remote(port, &["-l"]).contains("share"));

        daemon.signal("TERM");
        let (code, _, err) = daemon.wait(60);
        assert_eq!(code, 130, "{runtime}: {err}");
    }
}

#[test]
fn session_close_stops_the_daemon() {
    let w = Scratch::new("daemon-exit");
    let (daemon, port) = start_on(&w, "smol");
    let info = remote(port, &["-si"]);
    assert!(info.contains("sanstorrent"), "{info}");
    remote(port, &["--exit"]);
    let (code, _, err) = daemon.wait(60);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_open_rpc_server_needs_auth() {
    let (code, _, err) = run(&["daemon", "--http", "0.0.0.0:9091"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--http-auth"), "{err}");
}

#[test]
fn the_torrent_list_survives_kill_9_and_sigterm() {
    let w = Scratch::new("daemon-restart");
    let torrent = make_torrent(&w);
    let (daemon, port) = start_on(&w, "smol");
    remote(port, &["-a", &torrent]);
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=other";
    remote(port, &["-a", magnet]);
    remote(port, &["-t", "1", "-L", "keep"]);
    remote(port, &["-t", "1", "-S"]);
    drop(daemon); // SIGKILL: no chance to save anything more.

    let (daemon, port) = start_on(&w, "smol");
    let list = remote(port, &["-l"]);
    assert!(list.contains("share") && list.contains("other"), "{list}");
    let info = remote(port, &["-t", "1", "-i"]);
    assert!(info.contains("Labels: keep"), "{info}");
    assert!(info.contains("State: Stopped"), "{info}");
    remote(port, &["-t", "2", "-r"]);
    daemon.signal("TERM");
    let (code, _, err) = daemon.wait(60);
    assert_eq!(code, 130, "{err}");

    let (daemon, port) = start_on(&w, "smol");
    let list = remote(port, &["-l"]);
    assert!(list.contains("share") && !list.contains("other"), "{list}");
    drop(daemon);
}

/// The Python client `transmission-rpc` (from the Python package index; test.sh installs it
/// into `target/transmission-rpc`): add with labels, list with files, stop, relabel,
/// session and free space, remove.
const PYTHON_CLIENT: &str = r#"
import sys, transmission_rpc as tr
c = tr.Client(host="127.0.0.1", port=int(sys.argv[1]))
s = c.get_session()
assert s.rpc_version >= 15 and "sanstorrent" in s.version, s.version
t = c.add_torrent(open(sys.argv[2], "rb"), labels=["py"])
assert t.name == "share", t.name
[got] = c.get_torrents()
assert got.labels == ["py"] and [f.name for f in got.get_files()] == ["share/a.bin"]
c.stop_torrent(t.id)
assert c.get_torrent(t.id).status == "stopped"
c.change_torrent(t.id, labels=["a", "b"])
assert c.get_torrent(t.id).labels == ["a", "b"]
assert c.session_stats().torrent_count == 1
assert c.free_space(sys.argv[3]) > 0
c.remove_torrent(t.id)
assert c.get_torrents() == []
print("python client ok")
"#;

#[test]
fn python_transmission_rpc_drives_the_daemon() {
    let Some(python) = test_python(&["transmission_rpc"]) else {
        return;
    };
    let w = Scratch::new("daemon-python");
    let torrent = make_torrent(&w);
    let (daemon, port) = start_on(&w, "smol");
    let out = Command::new(&python)
        .args([
            "-c",
            PYTHON_CLIENT,
            &port.to_string(),
            &torrent,
            s(&w.join("dl")),
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("python client ok"), "{stdout}\n{stderr}");
    drop(daemon);
}

#[test]
fn a_torrent_dropped_in_the_watch_folder_is_added_once_whole() {
    let w = Scratch::new("daemon-watch");
    let torrent = make_torrent(&w);
    std::fs::create_dir_all(w.join("watch")).unwrap();
    let (daemon, http) = start_daemon(&w, &w.join("dl"), &["--watch-dir", s(&w.join("watch"))]);
    // A .torrent still being written (half of it so far) waits: it is not marked invalid.
    let bytes = std::fs::read(&torrent).unwrap();
    std::fs::write(w.join("watch/half.torrent"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(&torrent, w.join("watch/share.torrent")).unwrap();
    let wait_for = |name: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !w.join(name).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: not picked up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    wait_for("watch/share.torrent.added");
    assert!(remote(http, &["-l"]).contains("share"));
    // The scan that added share.torrent saw half.torrent too, and left it.
    assert!(w.join("watch/half.torrent").exists());
    assert!(!w.join("watch/half.torrent.invalid").exists());
    std::fs::write(w.join("watch/half.torrent"), &bytes).unwrap();
    wait_for("watch/half.torrent.added");
    drop(daemon);
}
