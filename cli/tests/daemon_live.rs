//! Changes to running torrents and to the session through the real `transmission-remote`:
//! a file deselected and reprioritised, a torrent's limits, a tracker added and removed, the
//! session's limits, peer limits and PEX; each read back, and still there after a kill -9.

mod common;

use common::{Scratch, create_torrent, remote, start_daemon};

fn info(port: u16) -> String {
    remote(port, &["-t", "1", "-i"])
}

fn check_changes(port: u16, when: &str) {
    let files = remote(port, &["-t", "1", "-f"]);
    let row = |name: &str| {
        files
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{when}: no {name} in\n{files}"))
            .to_owned()
    };
    assert!(row("share/b.bin").contains(" No "), "{when}: {files}");
    assert!(row("share/a.bin").contains(" Yes "), "{when}: {files}");
    assert!(row("share/c.bin").contains("High"), "{when}: {files}");
    let i = info(port);
    assert!(i.contains("Download Limit: 100 kB/s"), "{when}: {i}");
    assert!(i.contains("Upload Limit: Unlimited"), "{when}: {i}");
    assert!(i.contains("Peer limit: 7"), "{when}: {i}");
    // Tracker 0 (the metainfo's) removed; tracker 1 (added) kept. Ids are stable while the
    // daemon runs (as Transmission's); a restart numbers the saved list afresh.
    let trackers = remote(port, &["-t", "1", "-it"]);
    assert_eq!(
        trackers.matches("Tracker ").count(),
        1,
        "{when}: {trackers}"
    );
    if when == "live" {
        assert!(trackers.contains("Tracker 1:"), "{when}: {trackers}");
    }
    let session = remote(port, &["-si"]);
    assert!(
        session.contains("Download speed limit: 300 kB/s"),
        "{when}: {session}"
    );
    assert!(
        session.contains("Peer exchange allowed: No"),
        "{when}: {session}"
    );
}

#[test]
fn transmission_remote_changes_files_limits_trackers_and_settings_that_survive_kill_9() {
    let w = Scratch::new("daemon-live");
    w.file("share/a.bin", 100_000, 1);
    w.file("share/b.bin", 300_000, 2);
    w.file("share/c.bin", 50_000, 3);
    let torrent = create_torrent(&w, "share");
    let dl = w.join("dl");
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    assert!(remote(port, &["-a", &torrent]).contains("success"));
    let files = remote(port, &["-t", "1", "-f"]);
    let index = |name: &str| {
        files
            .lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.trim().split(':').next())
            .unwrap_or_else(|| panic!("no {name} in\n{files}"))
            .trim()
            .to_owned()
    };
    let (b, c) = (index("b.bin"), index("c.bin"));
    remote(port, &["-t", "1", "-G", &b, "-ph", &c]);
    remote(port, &["-t", "1", "-d", "100", "-U", "-pr", "7"]);
    remote(port, &["-t", "1", "-td", "http://127.0.0.1:2/announce"]);
    let trackers = remote(port, &["-t", "1", "-it"]);
    assert!(
        trackers.contains("Tracker 0:") && trackers.contains("Tracker 1:"),
        "{trackers}"
    );
    remote(port, &["-t", "1", "-tr", "0"]);
    remote(port, &["-d", "300", "-X"]);
    let bad = std::process::Command::new("transmission-remote")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-t", "1", "-G", "9"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&bad.stdout).into_owned() + &String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("out of range"), "{said}");
    check_changes(port, "live");
    let list = std::fs::read_to_string(w.join("state/daemon/torrents.json")).unwrap();
    assert!(
        list.contains("http://127.0.0.1:2/announce") && !list.contains("127.0.0.1:1/"),
        "{list}"
    );
    drop(daemon);
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    check_changes(port, "after kill -9");
    drop(daemon);
}
