//! The daemon's queue and seeding limits end to end, against libtorrent seeders and a
//! libtorrent leecher, seen through both APIs: the Python clients `transmission-rpc` and
//! `qbittorrent-api` (test.sh installs them) and `transmission-remote`. A download queue of
//! one (set through qBittorrent's preferences) keeps the second torrent waiting
//! (`DownloadWait`, `queuedDL`) until the first completes; queue moves reorder
//! (`queue-move-*`, `topPrio`, `increasePrio`); a ratio limit of 0 stops a torrent as it
//! completes, a ratio of 0.5 once a leecher took half of it (both `isFinished`); a restart
//! keeps the order, the settings and the finished torrents, and a manual start lifts the
//! ratio limit that stopped one, as Transmission does. With qBittorrent's `max_ratio_act`, a
//! seed at its share limit is removed, with or without its files.
//!
//! `transmission-remote` 3.00 has no queue options: the queue moves go through
//! `transmission-rpc`, the ratio limits through `transmission-remote -sr`.

mod common;
mod interop_support;

use std::process::Command;

use common::{Scratch, s, start_daemon, test_python};
use interop_support::{bounded, data, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

/// Shared by both scripts: the clients and a wait helper.
const PRELUDE: &str = r#"
import subprocess, sys, time
import transmission_rpc, qbittorrentapi

port = int(sys.argv[1])
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")
qb.auth_log_in()

def remote(*args):
    out = subprocess.run(["transmission-remote", f"127.0.0.1:{port}", *args],
                         check=True, capture_output=True, text=True)
    return out.stdout

FIELDS = ["id", "hashString", "status", "queuePosition", "percentDone", "isFinished",
          "seedRatioMode", "seedRatioLimit", "uploadedEver", "sizeWhenDone"]

def get(h):
    return tr.get_torrent(h, arguments=FIELDS).fields

def qget(h):
    [t] = qb.torrents_info(torrent_hashes=h)
    return t

def until(what, pred, secs=90):
    deadline = time.time() + secs
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"never {what}:\n{remote('-l')}")
"#;

/// Before the restart: queue, moves, ratio limits.
const FIRST_RUN: &str = r#"
magnet_a, magnet_b, hash_a, hash_b, torrent_a, leech_dir, lt_peer = sys.argv[2:9]

qb.app_set_preferences({"queueing_enabled": True, "max_active_downloads": 1,
                        "max_active_uploads": -1})
session = tr.get_session()
assert session.download_queue_enabled and session.download_queue_size == 1, session.fields
assert not session.seed_queue_enabled, session.fields
prefs = qb.app_preferences()
assert prefs["queueing_enabled"] and prefs["max_active_downloads"] == 1, prefs
assert prefs["max_active_uploads"] == -1, prefs

# Added stopped, each at the end of the queue.
tr.add_torrent(magnet_a, paused=True)
tr.add_torrent(magnet_b, paused=True)
assert get(hash_a)["queuePosition"] == 0 and get(hash_b)["queuePosition"] == 1
assert qget(hash_a)["priority"] == 1 and qget(hash_b)["priority"] == 2

tr.queue_top(hash_b)
assert (get(hash_b)["queuePosition"], get(hash_a)["queuePosition"]) == (0, 1)
tr.queue_down(hash_b)
assert (get(hash_a)["queuePosition"], get(hash_b)["queuePosition"]) == (0, 1)
tr.queue_bottom(hash_a)
assert (get(hash_b)["queuePosition"], get(hash_a)["queuePosition"]) == (0, 1)
qb.torrents_top_priority(torrent_hashes=hash_a)
assert (qget(hash_a)["priority"], qget(hash_b)["priority"]) == (1, 2)
assert (get(hash_a)["queuePosition"], get(hash_b)["queuePosition"]) == (0, 1)
qb.torrents_increase_priority(torrent_hashes=hash_b)
assert (qget(hash_b)["priority"], qget(hash_a)["priority"]) == (1, 2)
qb.torrents_decrease_priority(torrent_hashes=hash_b)
assert (qget(hash_a)["priority"], qget(hash_b)["priority"]) == (1, 2)

# b stops seeding as soon as it completes.
remote("-t", hash_b, "-sr", "0")
assert (get(hash_b)["seedRatioMode"], get(hash_b)["seedRatioLimit"]) == (1, 0.0)

remote("-t", "all", "-s")
until("a downloading, b waiting",
      lambda: get(hash_a)["status"] == 4 and get(hash_b)["status"] == 3)
assert qget(hash_b)["state"] == "queuedDL", qget(hash_b)["state"]
assert "Queued" in remote("-l"), remote("-l")
waited = 0
while get(hash_a)["percentDone"] < 1.0:
    b = get(hash_b)["status"]
    # Read after b: if b left the queue, a was complete by then.
    assert b == 3 or get(hash_a)["percentDone"] == 1.0, (b, get(hash_a))
    waited += 1
    time.sleep(0.1)
assert waited > 5, f"a completed too fast to see b wait ({waited} looks)"
until("b running once a completed", lambda: get(hash_b)["status"] in (4, 6, 0))
until("b complete and stopped by its ratio", lambda: get(hash_b)["isFinished"])
b = get(hash_b)
assert b["status"] == 0 and b["percentDone"] == 1.0, b
assert qget(hash_b)["state"] == "stoppedUP", qget(hash_b)["state"]
a = get(hash_a)
assert a["status"] == 6 and not a["isFinished"], a
assert "Finished" in remote("-t", hash_b, "-i"), remote("-t", hash_b, "-i")

# a stops once a leecher has taken half of it from us.
remote("-t", hash_a, "-sr", "0.5")
assert qget(hash_a)["ratio_limit"] == 0.5 and qget(hash_a)["max_ratio"] == 0.5
peer = f"127.0.0.1:{tr.get_session().peer_port}"
leecher = subprocess.Popen(["/usr/bin/python3", lt_peer, "--timeout", "120", "--torrent",
                            torrent_a, "--save", leech_dir, "--peer", peer, "--no-tracker",
                            "--no-pex", "--no-utp"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    until("a stopped by its ratio", lambda: get(hash_a)["isFinished"])
finally:
    leecher.kill()
a = get(hash_a)
assert a["status"] == 0, a
assert a["uploadedEver"] >= a["sizeWhenDone"] * 0.5, a
assert qget(hash_a)["state"] == "stoppedUP"
print("first run ok")
"#;

/// After the restart: order, settings and finished torrents kept; a manual start lifts the
/// ratio limit.
const SECOND_RUN: &str = r#"
hash_a, hash_b = sys.argv[2:4]
session = tr.get_session()
assert session.download_queue_enabled and session.download_queue_size == 1, session.fields
a, b = get(hash_a), get(hash_b)
assert (a["queuePosition"], b["queuePosition"]) == (0, 1), (a, b)
assert a["isFinished"] and b["isFinished"], (a, b)
assert a["status"] == 0 and b["status"] == 0, (a, b)
assert b["seedRatioMode"] == 1 and b["seedRatioLimit"] == 0.0, b
remote("-t", hash_b, "-s")
until("b seeding again", lambda: get(hash_b)["status"] == 6)
b = get(hash_b)
assert not b["isFinished"] and b["seedRatioMode"] == 2, b
time.sleep(2)
assert get(hash_b)["status"] == 6, "a manual start keeps it seeding"
assert get(hash_a)["status"] == 0
print("second run ok")
"#;

/// qBittorrent's `max_ratio_act`: a seed that reaches the session's ratio (0: at once) is
/// removed (1), then removed with its files (3).
const REMOVE_AT_RATIO: &str = r#"
import os
keep_torrent, gone_torrent, keep_data, gone_data = sys.argv[2:6]
qb.app_set_preferences({"max_ratio_enabled": True, "max_ratio": 0, "max_ratio_act": 1})
assert qb.app_preferences()["max_ratio_act"] == 1
assert qb.torrents_add(torrent_files=keep_torrent) == "Ok."
until("the first seed removed", lambda: qb.torrents_info() == [])
assert os.path.exists(keep_data), "removed without its files"
qb.app_set_preferences({"max_ratio_act": 3})
assert qb.torrents_add(torrent_files=gone_torrent) == "Ok."
until("the second seed removed", lambda: qb.torrents_info() == [])
until("its files deleted", lambda: not os.path.exists(gone_data), 10)
assert os.path.exists(keep_data)
assert tr.get_torrents() == []
print("remove ok")
"#;

fn python(python: &str, script: &str, args: &[&str]) {
    let out = Command::new(python)
        .args(["-c", &format!("{PRELUDE}{script}")])
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

#[test]
fn a_download_queue_of_one_and_ratio_limits_through_both_apis() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(420, move || {
        let work = WorkDir::new("daemon-queue");
        let a = data(&work, "single", 2_000_000, 32 * 1024, &[], &[]);
        let b = data(&work, "multi", 1_000_000, 32 * 1024, &[], &[]);
        // About 4 s for a: time to see b wait.
        let seeder_a = lt_seeder(&work, "seeder-a", &a, &["--upload-limit", "500000"]);
        let seeder_b = lt_seeder(&work, "seeder-b", &b, &[]);
        let magnet_a = format!("{}&x.pe={}", a.magnet, lt_addr(&seeder_a));
        let magnet_b = format!("{}&x.pe={}", b.magnet, lt_addr(&seeder_b));
        let lt_peer = sanstorrent_tests::interop::interop_dir().join("lt_peer.py");

        let w = Scratch::new("daemon-queue");
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let leech = w.join("leech");
        python(
            &py,
            FIRST_RUN,
            &[
                &port.to_string(),
                &magnet_a,
                &magnet_b,
                &a.info_hash,
                &b.info_hash,
                s(&a.torrent),
                s(&leech),
                s(&lt_peer),
            ],
        );
        daemon.interrupt();
        let (code, _, err) = daemon.wait(60);
        assert_eq!(code, 130, "{err}");

        let (daemon, port) = start_daemon(&w, &dl, &[]);
        python(
            &py,
            SECOND_RUN,
            &[&port.to_string(), &a.info_hash, &b.info_hash],
        );
        drop(daemon);
        drop((seeder_a, seeder_b));
    });
}

#[test]
fn seeds_at_their_share_limit_are_removed_with_or_without_files() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-remove-at-ratio");
    w.file("keep/a.bin", 100_000, 1);
    w.file("gone/b.bin", 100_000, 2);
    let keep = common::create_torrent(&w, "keep");
    let gone = common::create_torrent(&w, "gone");
    let (daemon, port) = start_daemon(&w, w.path(), &[]);
    python(
        &py,
        REMOVE_AT_RATIO,
        &[
            &port.to_string(),
            &keep,
            &gone,
            s(&w.join("keep/a.bin")),
            s(&w.join("gone/b.bin")),
        ],
    );
    drop(daemon);
}
