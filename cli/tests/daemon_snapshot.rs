//! What the daemon shows of a real download and keeps across restarts, seen through the
//! Python clients `transmission-rpc` and `qbittorrent-api`: a libtorrent seeder found through
//! opentracker appears as a peer (address, client name), the tracker's announce and scrape
//! status, file progress, the pieces bitfield and each piece's availability fill in, the piece
//! hashes are listed, `sync/maindata` maps the tracker to the torrent and its deltas alone
//! follow the download to its completion; totals, dates and the
//! session's cumulative statistics survive a kill -9 and a graceful stop; a magnet's fetched
//! metadata is not fetched again.

mod common;
mod interop_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Scratch, s, start_daemon, test_python};
use interop_support::{bounded, data, lt_addr, lt_seeder};
use sanstorrent_tests::interop::{Tracker, WorkDir};

/// The download, watched while it runs, then the totals once it is done.
const DURING: &str = r#"
import base64, json, os, sys, time
import transmission_rpc as tr, qbittorrentapi
port, torrent, seeder, size, tracker = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
c = tr.Client(host="127.0.0.1", port=int(port))
t = c.add_torrent(open(torrent, "rb"))
q = qbittorrentapi.Client(host="127.0.0.1", port=int(port))
q.auth_log_in()
h = q.torrents_info()[0].hash
seen = {}
# qBittorrent's view kept by sync/maindata deltas, as a front end keeps it.
md = q.sync_maindata(rid=0)
assert md["full_update"], md
rid, mine = md["rid"], dict(md["torrents"][h])
def follow():
    global rid
    d = q.sync_maindata(rid=rid)
    assert not d.get("full_update"), d
    rid = d["rid"]
    mine.update(d.get("torrents", {}).get(h, {}))
deadline = time.time() + 90
while time.time() < deadline:
    follow()
    if 0 < mine["progress"] < 1 and mine["state"] == "downloading":
        seen["maindata_partial"] = mine["progress"]
    g = c.get_torrent(t.id)
    f = g.fields
    peers = [p for p in f.get("peers", []) if "%s:%d" % (p["address"], p["port"]) == seeder]
    if peers and peers[0]["bytesToClient"] > 0:
        seen["peer_bytes"] = peers[0]["bytesToClient"]
    info = q.torrents_info(torrent_hashes=h)[0]
    if info.num_seeds >= 1 and info.num_leechs == 0:
        seen["qbit_seeds"] = True
    if q.sync_maindata()["server_state"]["total_peer_connections"] >= 1:
        seen["qbit_connections"] = True
    if peers and "peer" not in seen:
        p = peers[0]
        # lt_peer.py names itself in its extended handshake; its peer id says libtorrent.
        assert p["clientName"].startswith(("lt_peer/", "libtorrent")), p
        assert not p["isIncoming"], p
        assert f["peersFrom"]["fromTracker"] >= 1, f["peersFrom"]
        seen["peer"] = p["clientName"]
    partial = [s["bytesCompleted"] for s in f["fileStats"] if 0 < s["bytesCompleted"] < size]
    if partial:
        seen["partial_file"] = partial[0]
    bits = base64.b64decode(f["pieces"])
    if 0 < sum(bin(b).count("1") for b in bits) < f["pieceCount"]:
        seen["partial_pieces"] = True
        # Read a moment after Transmission's view: the download may have moved on (even
        # finished), so a mix of done and missing pieces is required once, not every time.
        states = q.torrents_piece_states(torrent_hash=h)
        assert len(states) == f["pieceCount"] and set(states) <= {0, 1, 2}, states
        if 2 in states and 0 in states:
            seen["piece_states"] = True
    ts = [s for s in f["trackerStats"] if s["announce"] == tracker]
    if ts and ts[0]["lastAnnounceSucceeded"] and ts[0]["seederCount"] >= 1:
        assert ts[0]["lastAnnounceTime"] > 0 and ts[0]["nextAnnounceTime"] > time.time(), ts
        assert ts[0]["lastAnnouncePeerCount"] >= 1 and ts[0]["announceState"] == 1, ts
        assert ts[0]["scrape"] == tracker.replace("/announce", "/scrape"), ts
        seen["tracker"] = ts[0]["seederCount"]
    x = c.get_torrent(t.id, arguments=["id", "availability", "pieceCount", "trackerStats"]).fields
    av = x["availability"]
    if len(av) == x["pieceCount"] and -1 in av and any(a >= 1 for a in av):
        # Had pieces are -1; the others are on the seeder, our only peer.
        assert all(a == -1 or a == 1 for a in av), av
        seen["availability"] = True
    qi = q.torrents_info(torrent_hashes=h)[0]
    if 0 < qi.progress < 1 and qi.availability >= 1.0:
        # qBittorrent's distributed copies: the seeder has every piece.
        assert qi.availability < 2.0, qi.availability
        seen["qbit_availability"] = qi.availability
    xs = [s for s in x["trackerStats"] if s["announce"] == tracker]
    if xs and xs[0]["hasScraped"] and "scrape" not in seen:
        st = xs[0]
        assert st["lastScrapeSucceeded"] and st["lastScrapeResult"].startswith("Success"), st
        assert 0 < st["lastScrapeStartTime"] <= st["lastScrapeTime"] < st["nextScrapeTime"], st
        assert st["scrapeState"] in (1, 3) and not st["isBackup"], st
        assert st["downloaderCount"] == -1, st  # opentracker does not count downloaders
        seen["scrape"] = st["lastScrapeResult"]
    if peers and "qbit_peers" not in seen:
        full = q.sync_torrent_peers(torrent_hash=h, rid=0)
        assert full["full_update"] and seeder in full["peers"], full
        assert full["peers"][seeder]["client"] == seen["peer"], full
        delta = q.sync_torrent_peers(torrent_hash=h, rid=full["rid"])
        assert not delta.get("full_update"), delta
        assert delta["rid"] > full["rid"], delta
        seen["qbit_peers"] = True
    if g.percent_done == 1.0 and g.status == "seeding":
        break
    time.sleep(0.2)
# The totals follow the client's events, read every second.
deadline = time.time() + 5
while c.get_torrent(t.id).fields["doneDate"] == 0 and time.time() < deadline:
    time.sleep(0.2)
g = c.get_torrent(t.id)
assert g.percent_done == 1.0, g.fields
follow()
assert mine["progress"] == 1 and mine["state"] in ("uploading", "stalledUP"), mine
assert mine["completion_on"] > 0 and mine["amount_left"] == 0, mine
assert q.sync_maindata(rid=0)["trackers"] == {tracker: [h]}
rows = [r for r in q.torrents_trackers(torrent_hash=h) if r["url"] == tracker]
assert rows and rows[0]["status"] == 2 and rows[0]["num_seeds"] >= 1, rows
f = g.fields
hashes = q.torrents_piece_hashes(torrent_hash=h)
assert len(hashes) == f["pieceCount"] and all(len(x) == 40 for x in hashes), hashes
assert f["downloadedEver"] >= size and f["doneDate"] > 0 and f["activityDate"] > 0, f
assert f["fileStats"][0]["bytesCompleted"] == size, f["fileStats"]
cum = c.session_stats().cumulative_stats
assert cum.downloaded_bytes >= size and cum.session_count == 1, cum
assert f["secondsDownloading"] >= 2, f
assert os.path.isfile(f["torrentFile"]), f["torrentFile"]
info = q.torrents_info(torrent_hashes=h)[0]
assert info.downloaded >= info.downloaded_session >= size, info
props = q.torrents_properties(torrent_hash=h)
assert props.total_downloaded >= props.total_downloaded_session >= size, props
assert props.seeds_total >= 1, props
assert props.pieces_have == props.pieces_num == f["pieceCount"], props
for key in ["peer", "tracker", "partial_file", "partial_pieces", "piece_states", "qbit_peers",
            "peer_bytes", "qbit_seeds", "qbit_connections", "availability",
            "qbit_availability", "scrape", "maindata_partial"]:
    assert key in seen, (key, seen)
print(json.dumps({"seen": seen, "added": f["addedDate"], "done": f["doneDate"],
                  "down": f["downloadedEver"], "secs": f["secondsDownloading"]}))
"#;

/// After a restart: the same totals and dates, one more session.
const AFTER: &str = r#"
import json, sys
import transmission_rpc as tr, qbittorrentapi
port, before, sessions, size = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = tr.Client(host="127.0.0.1", port=port)
[g] = c.get_torrents()
f = g.fields
assert f["addedDate"] == before["added"] and f["doneDate"] == before["done"], (f, before)
assert f["downloadedEver"] >= before["down"] >= size, (f, before)
assert f["secondsDownloading"] >= before["secs"], (f, before)
cum = c.session_stats().cumulative_stats
assert cum.session_count == sessions and cum.downloaded_bytes >= size, cum
q = qbittorrentapi.Client(host="127.0.0.1", port=port)
q.auth_log_in()
state = q.sync_maindata(rid=0)["server_state"]
assert state["alltime_dl"] >= size, state
info = q.torrents_info()[0]
assert info.downloaded >= size and info.downloaded_session == 0, info
print("totals kept", f["downloadedEver"], f["secondsDownloading"], cum.session_count)
"#;

/// Runs `script` with `args`; its last stdout line, after checking it succeeded.
fn python(python: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout.lines().last().unwrap_or_default().to_owned()
}

/// Waits (at most 20 s) until `file` exists and `ready` holds for its text.
fn wait_for_file(file: &Path, what: &str, ready: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read(file).is_ok_and(|b| ready(&String::from_utf8_lossy(&b))) {
        assert!(
            Instant::now() < deadline,
            "{}: never {what}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the saved list's first torrent has a done date.
fn saved_done(list: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(list)
        .ok()
        .and_then(|v| v["torrents"][0]["totals"]["done_date"].as_u64())
        .is_some_and(|d| d > 0)
}

#[test]
fn a_real_download_shows_peers_trackers_and_progress_and_its_totals_survive_restarts() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(300, move || {
        let work = WorkDir::new("daemon-snapshot");
        let tracker = Tracker::start(&work, "trk");
        let size: u64 = 3_000_000;
        let d = data(
            &work,
            "single",
            size,
            32 * 1024,
            &[&tracker.http_url()],
            &[],
        );
        tracker.allow(&d.info_hash);
        // Slow enough (about 5 s) to be watched while it runs.
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "600000"]);
        let seeder_addr = lt_addr(&seeder);

        let w = Scratch::new("daemon-snapshot");
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let port_s = port.to_string();
        let size_s = size.to_string();
        let first = python(
            &py,
            DURING,
            &[
                &port_s,
                s(&d.torrent),
                &seeder_addr,
                &size_s,
                &tracker.http_url(),
            ],
        );
        eprintln!("during the download: {first}");
        drop(seeder);
        // The completion was saved at once: a kill -9 now loses nothing.
        wait_for_file(
            &w.join("state/daemon/torrents.json"),
            "a done date",
            saved_done,
        );
        drop(daemon);

        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let kept = python(&py, AFTER, &[&port.to_string(), &first, "2", &size_s]);
        eprintln!("after kill -9: {kept}");
        daemon.signal("TERM");
        let (code, _, err) = daemon.wait(60);
        assert_eq!(code, 130, "{err}");

        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let kept = python(&py, AFTER, &[&port.to_string(), &first, "3", &size_s]);
        eprintln!("after SIGTERM: {kept}");
        drop(daemon);
    });
}

/// A magnet's metadata, fetched once: after a restart (kill -9) with no peer left, the name
/// and files are there at once.
const MAGNET_ADD: &str = r#"
import sys, time
import transmission_rpc as tr
port, magnet, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = tr.Client(host="127.0.0.1", port=port)
t = c.add_torrent(magnet)
deadline = time.time() + 60
while time.time() < deadline:
    g = c.get_torrent(t.id)
    if g.name == name and len(g.get_files()) > 0:
        break
    time.sleep(0.2)
assert g.name == name and g.metadata_percent_complete == 1.0, g.fields
# Its files are choosable once the metadata came.
c.change_torrent(t.id, files_unwanted=[0])
assert not c.get_torrent(t.id).get_files()[0].selected
c.change_torrent(t.id, files_wanted=[0])
assert c.get_torrent(t.id).get_files()[0].selected
print("metadata fetched")
"#;

const MAGNET_AFTER: &str = r#"
import sys
import transmission_rpc as tr
port, name = int(sys.argv[1]), sys.argv[2]
c = tr.Client(host="127.0.0.1", port=port)
[g] = c.get_torrents()
assert g.name == name and g.metadata_percent_complete == 1.0, g.fields
assert [f.name for f in g.get_files()] == [name], g.get_files()
assert g.peers_connected == 0, g.fields
print("metadata kept")
"#;

#[test]
fn a_magnets_metadata_is_saved_and_not_fetched_again_after_a_restart() {
    let Some(py) = test_python(&["transmission_rpc"]) else {
        return;
    };
    bounded(240, move || {
        let work = WorkDir::new("daemon-magnet");
        let d = data(&work, "single", 1_000_000, 32 * 1024, &[], &[]);
        let seeder = lt_seeder(&work, "seeder", &d, &[]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let name = d.single_file_name();

        let w = Scratch::new("daemon-magnet");
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        python(&py, MAGNET_ADD, &[&port.to_string(), &magnet, &name]);
        wait_for_file(
            &w.join(&format!("state/daemon/{}.torrent", d.info_hash)),
            "the saved metadata",
            |t| t.contains("4:info"),
        );
        drop(seeder);
        drop(daemon); // kill -9

        let (daemon, port) = start_daemon(&w, &dl, &[]);
        python(&py, MAGNET_AFTER, &[&port.to_string(), &name]);
        drop(daemon);
    });
}
