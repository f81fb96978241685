//! A read-only download directory under the daemon, in a mount namespace of the test's own
//! (`unshare -m`): mounted read-only at the start of a download, the torrent stops with a
//! clear error and nothing written; writable again and started (`transmission-remote -s`),
//! it completes.

mod common;

mod disk_support;

use common::{Scratch, free_port, remote, rpc_text, s};
use disk_support::{Daemon, MIB, Namespace, Tracker, have, named, seeder, seeding, torrent_of};

#[test]
fn a_read_only_download_directory_fails_the_torrent_clearly_and_nothing_is_lost() {
    let w = Scratch::new("daemon-erofs");
    let tracker = Tracker::start();
    w.file("src/r/one.bin", MIB, 11);
    w.file("src/r/two.bin", MIB / 2, 12);
    let torrent = torrent_of(&w, "src", "r", &tracker.url);
    let _seeder = seeder(&w, &torrent, "src", &tracker);
    let dl = w.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let dir = s(&dl);
    let setup = format!("mount --bind '{dir}' '{dir}' && mount -o remount,bind,ro '{dir}'");
    let Some(ns) = Namespace::new(&setup) else {
        return;
    };
    let enter = ns.enter();
    let prefix: Vec<&str> = enter.iter().map(String::as_str).collect();
    let state = w.join("state");
    let d = Daemon::start(&prefix, &dl, &state, free_port(), &[]);
    d.add(&torrent);
    let ts = d.wait_until("the refusal", 60, |ts| {
        ts[0]["error"] != 0 && ts[0]["status"] == 0
    });
    let why = ts[0]["errorString"].as_str().unwrap();
    assert!(why.contains("Read-only file system"), "{why}");
    assert!(why.contains(&format!("{dir}/r")), "{why}");
    assert_eq!(have(&ts[0]), 0);

    // The torrent stays listed across a restart; writable again and started, it completes.
    let peer = d.peer;
    d.stop();
    let d = Daemon::start(&prefix, &dl, &state, peer, &[]);
    d.wait_until("listed after the restart", 30, |ts| ts.len() == 1);
    ns.sh(&format!("mount -o remount,bind,rw '{dir}'"));
    remote(d.http, &["-t", "1", "-s"]);
    d.wait_until("complete", 90, |ts| seeding(&ts[0]));
    for f in ["one.bin", "two.bin"] {
        assert_eq!(
            std::fs::read(dl.join("r").join(f)).unwrap(),
            std::fs::read(w.join("src/r").join(f)).unwrap(),
            "{f}"
        );
    }
    d.stop();
}

#[test]
fn a_torrent_stopped_on_a_disk_error_gives_up_its_queue_slot_and_stays_stopped_after_a_restart() {
    let w = Scratch::new("daemon-erofs-queue");
    let tracker = Tracker::start();
    w.file("src/r/one.bin", MIB, 13);
    w.file("src/q/one.bin", MIB, 14);
    let [r, q] = ["r", "q"].map(|n| torrent_of(&w, "src", n, &tracker.url));
    let _seeders = [&r, &q].map(|t| seeder(&w, t, "src", &tracker));
    let dl = w.join("dl");
    let (ro, ok) = (dl.join("ro"), dl.join("ok"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&ok).unwrap();
    let dir = s(&ro);
    let setup = format!("mount --bind '{dir}' '{dir}' && mount -o remount,bind,ro '{dir}'");
    let Some(ns) = Namespace::new(&setup) else {
        return;
    };
    let enter = ns.enter();
    let prefix: Vec<&str> = enter.iter().map(String::as_str).collect();
    let state = w.join("state");
    let d = Daemon::start(&prefix, &dl, &state, free_port(), &[]);
    // One download at a time: r (first in the queue) fails on its read-only directory, and
    // q gets the slot.
    rpc_text(
        d.http,
        r#"{"method":"session-set","arguments":{"download-queue-enabled":true,
            "download-queue-size":1}}"#,
    );
    assert!(remote(d.http, &["-a", &r, "-w", dir]).contains("success"));
    assert!(remote(d.http, &["-a", &q, "-w", s(&ok)]).contains("success"));
    let ts = d.wait_until("r stopped on its error, q complete", 90, |ts| {
        ts.len() == 2 && named(ts, "r")["status"] == 0 && seeding(named(ts, "q"))
    });
    let why = named(&ts, "r")["errorString"].as_str().unwrap();
    assert!(why.contains("Read-only file system"), "{why}");

    // After a restart r is still stopped, with its error.
    let peer = d.peer;
    d.stop();
    let d = Daemon::start(&prefix, &dl, &state, peer, &[]);
    d.wait_until("both listed after the restart", 30, |ts| ts.len() == 2);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ts = d.torrents();
    let t = named(&ts, "r");
    assert_eq!(t["status"], 0, "r stays stopped: {t:#?}");
    let why = t["errorString"].as_str().unwrap();
    assert!(
        t["error"] == 3 && why.contains("Read-only file system"),
        "{t:#?}"
    );

    // Writable again and started: its error is over and it completes.
    ns.sh(&format!("mount -o remount,bind,rw '{dir}'"));
    let id = t["id"].to_string();
    remote(d.http, &["-t", &id, "-s"]);
    d.wait_until("r complete", 90, |ts| seeding(named(ts, "r")));
    assert_eq!(
        std::fs::read(ro.join("r/one.bin")).unwrap(),
        std::fs::read(w.join("src/r/one.bin")).unwrap()
    );
    d.stop();
}
