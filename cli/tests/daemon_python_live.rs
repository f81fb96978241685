//! Per-torrent and session limits, the alternative ("turtle") limits, trackers added, edited
//! and removed, a rename, sequential download and first-and-last-piece priority, through the
//! Python clients `transmission-rpc` and `qbittorrent-api` on one daemon: a change made
//! through one API is read back through the other and through `transmission-remote`, and
//! everything is still there after a kill -9. The alternative-speed schedule, set through
//! either API, switches the alternative limits.

mod common;

use std::process::Command;

use common::{Scratch, create_torrent, start_daemon, test_python};

/// Makes the changes (`change`) or only checks them (`check`, after the restart).
const SCRIPT: &str = r#"
import subprocess, sys
import qbittorrentapi, transmission_rpc

port, torrent, step = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def remote(*args):
    return subprocess.run(["transmission-remote", f"127.0.0.1:{port}", *args],
                          check=True, capture_output=True, text=True).stdout

tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")
A, B, C = ("http://127.0.0.1:2/announce", "http://127.0.0.1:3/announce",
           "udp://127.0.0.1:4/announce")

if step == "change":
    tr.add_torrent(open(torrent, "rb"), paused=True)
    t = tr.get_torrents()[0]
    h = t.hash_string
    # Transmission: a torrent's limits, the session's, the turtle mode, trackers.
    tr.change_torrent(t.id, download_limit=100, download_limited=True, upload_limit=40,
                      upload_limited=True, peer_limit=7)
    tr.set_session(speed_limit_down=300, speed_limit_down_enabled=True, speed_limit_up=0,
                   speed_limit_up_enabled=False, alt_speed_down=20, alt_speed_up=10,
                   alt_speed_time_begin=60, alt_speed_time_end=120, alt_speed_time_day=62)
    tr.change_torrent(t.id, tracker_add=[A, B])
    ids = {x.announce: x.id for x in tr.get_torrent(t.id).tracker_stats}
    tr.change_torrent(t.id, tracker_replace=[(ids[A], C)])
    tr.change_torrent(t.id, tracker_remove=[ids["http://127.0.0.1:1/announce"]])
    # qBittorrent reads what Transmission set.
    info = qb.torrents_info(torrent_hashes=h)[0]
    assert info["dl_limit"] == 100_000 and info["up_limit"] == 40_000, info
    assert qb.transfer_download_limit() == 300_000, qb.transfer_download_limit()
    assert qb.transfer_upload_limit() == 0
    assert qb.transfer_speed_limits_mode() == "0"
    prefs = qb.app_preferences()
    assert prefs["alt_dl_limit"] == 20_000 and prefs["alt_up_limit"] == 10_000, prefs
    assert (prefs["schedule_from_hour"], prefs["schedule_to_hour"]) == (1, 2), prefs
    assert prefs["scheduler_days"] == 1, prefs["scheduler_days"]
    urls = [x["url"] for x in qb.torrents_trackers(torrent_hash=h) if x["tier"] >= 0]
    assert sorted(urls) == sorted([B, C]), urls
    # qBittorrent: its calls, read back through Transmission.
    qb.torrents_add_trackers(torrent_hash=h, urls=A)
    qb.torrents_edit_tracker(torrent_hash=h, original_url=B, new_url=B + "?edited")
    qb.torrents_remove_trackers(torrent_hash=h, urls=C)
    qb.torrents_set_upload_limit(limit=50_000, torrent_hashes=h)
    qb.transfer_toggle_speed_limits_mode()
    qb.transfer_set_download_limit(limit=25_000)
    qb.torrents_rename(torrent_hash=h, new_torrent_name="Renamed torrent")
    qb.torrents_toggle_sequential_download(torrent_hashes=h)
    qb.torrents_toggle_first_last_piece_priority(torrent_hashes=h)

t = tr.get_torrents(arguments=["id", "name", "hashString", "downloadLimit", "downloadLimited",
                               "uploadLimit", "uploadLimited", "peer-limit", "trackerStats",
                               "sequential_download"])[0]
h = t.hash_string
assert t.name == "Renamed torrent", t.name
assert (t.download_limit, t.download_limited) == (100, True), t.fields
assert (t.upload_limit, t.upload_limited) == (50, True), t.fields
assert t.fields["peer-limit"] == 7, t.fields
assert sorted(x.announce for x in t.tracker_stats) == sorted([A, B + "?edited"]), t.tracker_stats
assert True in (t.fields.get("sequential_download"), t.fields.get("sequentialDownload")), t.fields
s = tr.get_session()
assert s.alt_speed_enabled is True
assert (s.alt_speed_down, s.alt_speed_up) == (25, 10), (s.alt_speed_down, s.alt_speed_up)
assert (s.alt_speed_time_begin, s.alt_speed_time_end, s.alt_speed_time_day) == (60, 120, 62)
assert (s.speed_limit_down, s.speed_limit_down_enabled) == (300, True)
info = qb.torrents_info(torrent_hashes=h)[0]
assert info["name"] == "Renamed torrent", info["name"]
assert info["seq_dl"] is True and info["f_l_piece_prio"] is True, info
assert qb.transfer_speed_limits_mode() == "1"
assert qb.transfer_download_limit() == 25_000, qb.transfer_download_limit()
assert qb.transfer_info()["dl_rate_limit"] == 25_000
listed = remote("-l")
assert "Renamed torrent" in listed, listed
session = remote("-si")
assert "Turtle" in session or "turtle" in session, session
print(f"{step} ok")
"#;

fn python(python: &str, port: u16, torrent: &str, step: &str) {
    let out = Command::new(python)
        .args(["-c", SCRIPT, &port.to_string(), torrent, step])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{step}: {stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{step} ok")), "{stdout}\n{stderr}");
}

#[test]
fn python_clients_change_limits_trackers_and_names_through_both_apis() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-python-live");
    w.file("share/a.bin", 200_000, 1);
    w.file("share/b.bin", 100_000, 2);
    let torrent = create_torrent(&w, "share");
    let dl = w.join("dl");
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    python(&py, port, &torrent, "change");
    drop(daemon);
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    python(&py, port, &torrent, "check");
    drop(daemon);
}

/// The alternative-speed schedule, set through each API around the local time now.
const SCHEDULE_SCRIPT: &str = r#"
import sys, time
import qbittorrentapi, transmission_rpc

port = int(sys.argv[1])
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")

def both(on):
    s = tr.get_session()
    assert s.alt_speed_enabled is on, (on, s.alt_speed_enabled)
    mode = qb.transfer_speed_limits_mode()
    assert mode == ("1" if on else "0"), (on, mode)

t = time.localtime()
now = t.tm_hour * 60 + t.tm_min
before, after = (now - 10) % 1440, (now + 10) % 1440
both(False)
# Transmission: a window around now, every day; the schedule applies at once.
tr.set_session(alt_speed_time_begin=before, alt_speed_time_end=after, alt_speed_time_day=127,
               alt_speed_time_enabled=True)
both(True)
# The window moved away from now: off.
tr.set_session(alt_speed_time_begin=(now + 60) % 1440, alt_speed_time_end=(now + 120) % 1440)
both(False)
# A hand switch holds until the window opens or closes (ticks pass meanwhile).
tr.set_session(alt_speed_enabled=True)
time.sleep(2.5)
both(True)
tr.set_session(alt_speed_enabled=False)
time.sleep(2.5)
both(False)
# qBittorrent's scheduler preferences: the window around now again, every day (0).
qb.app_set_preferences({"scheduler_enabled": True, "scheduler_days": 0,
                        "schedule_from_hour": before // 60, "schedule_from_min": before % 60,
                        "schedule_to_hour": after // 60, "schedule_to_min": after % 60})
both(True)
# Turning the schedule off leaves the limits as they are.
qb.app_set_preferences({"scheduler_enabled": False})
time.sleep(2.5)
both(True)
print("schedule ok")
"#;

#[test]
fn the_alternative_speed_schedule_switches_the_limits_through_both_apis() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-schedule");
    let (daemon, port) = start_daemon(&w, &w.join("dl"), &[]);
    let out = Command::new(&py)
        .args(["-c", SCHEDULE_SCRIPT, &port.to_string()])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("schedule ok"),
        "{stdout}\n{stderr}"
    );
    drop(daemon);
}
