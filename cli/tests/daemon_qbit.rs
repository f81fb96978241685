//! The daemon's qBittorrent Web API end to end: the Python client `qbittorrent-api` (from the
//! Python package index; test.sh installs it beside `transmission-rpc`) logs in, adds a
//! torrent by file and one by magnet with a category and tags, follows them through
//! `sync/maindata` deltas (torrents, their trackers), stops and deletes them, while
//! `transmission-remote` on the same daemon sees the same torrents and the same changes. A
//! hybrid torrent shows both info-hashes; Transmission names it by its v1 hash. Two daemons
//! with the DHT on, one bootstrapped from the other, report a routing table that is not empty
//! (`server_state.dht_nodes`).

mod common;

use std::process::Command;

use common::{
    Running, Scratch, create_torrent, free_port, run, s, start_daemon, test_python, wait_listening,
};

/// The client's script: each step asserts, and `transmission-remote -l` is read in between.
const PYTHON_CLIENT: &str = r#"
import subprocess, sys
import qbittorrentapi

port, torrent, v2_torrent = int(sys.argv[1]), sys.argv[2], sys.argv[3]
magnet = "magnet:?xt=urn:btih:" + "5a" * 20 + "&dn=from-magnet"

def remote(*args):
    out = subprocess.run(["transmission-remote", f"127.0.0.1:{port}", *args],
                         check=True, capture_output=True, text=True)
    return out.stdout

qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")
qb.auth_log_in()
assert qb.app.version == "v5.0.0", qb.app.version
assert qb.app.web_api_version.startswith("2.11"), qb.app.web_api_version

full = qb.sync_maindata(rid=0)
assert full["full_update"] and not full["torrents"], full
assert full["trackers"] == {} and full["server_state"]["dht_nodes"] == 0, full
rid = full["rid"]

assert qb.torrents_add(torrent_files=torrent, category="tv", tags=["one", "two"]) == "Ok."
assert qb.torrents_add(urls=magnet, category="tv", tags="two") == "Ok."
assert "tv" in qb.torrents_categories(), qb.torrents_categories()

delta = qb.sync_maindata(rid=rid)
assert not delta.get("full_update"), delta
assert len(delta["torrents"]) == 2, delta
by_name = {t["name"]: (h, t) for h, t in delta["torrents"].items()}
file_hash, file_t = by_name["share"]
magnet_hash, magnet_t = by_name["from-magnet"]
assert magnet_hash == "5a" * 20
assert file_t["category"] == "tv" and file_t["tags"] == "one, two", file_t
assert file_t["state"] in ("downloading", "stalledDL", "checkingDL"), file_t["state"]
assert file_t["eta"] == 8640000 or file_t["eta"] >= 0
assert 0.0 <= file_t["progress"] <= 1.0
assert magnet_t["state"] == "metaDL", magnet_t["state"]
# `create` makes hybrid torrents: both hashes; the magnet (v1) has none of v2.
assert file_t["infohash_v1"] == file_hash and len(file_t["infohash_v2"]) == 64, file_t
assert file_t["infohash_v2"] != file_hash and magnet_t["infohash_v2"] == "", magnet_t
props = qb.torrents_properties(torrent_hash=file_hash)
assert props.infohash_v2 == file_t["infohash_v2"], props
# The display magnet names both halves of a hybrid, its name and its tracker, as
# libtorrent's make_magnet_uri does (escape_string: lower-case hex, `:` and `/` escaped).
tr = "&tr=http%3a%2f%2f127.0.0.1%3a1%2fannounce"
hybrid_magnet = (f"magnet:?xt=urn:btih:{file_hash}&xt=urn:btmh:1220{file_t['infohash_v2']}"
                 + "&dn=share" + tr)
assert file_t["magnet_uri"] == hybrid_magnet, file_t["magnet_uri"]
assert magnet_t["magnet_uri"].startswith("magnet:?xt=urn:btih:" + "5a" * 20), magnet_t
assert "Magnet: " + hybrid_magnet in remote("-t", file_hash, "-i"), remote("-t", file_hash, "-i")
assert delta["trackers"] == {"http://127.0.0.1:1/announce": [file_hash]}, delta
rid = delta["rid"]
assert file_hash in remote("-t", file_hash, "-i"), "Transmission knows it by its v1 hash"

listed = remote("-l")
assert "share" in listed and "from-magnet" in listed, listed

info = qb.torrents_info(category="tv", tag="one")
assert [t.hash for t in info] == [file_hash], info
files = qb.torrents_files(torrent_hash=file_hash)
assert files[0]["name"] == "share/a.bin" and files[0]["size"] == 300000, files

qb.torrents_stop(torrent_hashes=file_hash)
delta = qb.sync_maindata(rid=rid)
assert delta["torrents"][file_hash]["state"] == "stoppedDL", delta
assert magnet_hash not in delta.get("torrents", {}) or "state" not in delta["torrents"][magnet_hash]
rid = delta["rid"]
assert "Stopped" in remote("-l"), remote("-l")

# A stopped torrent starts again.
qb.torrents_start(torrent_hashes=file_hash)
delta = qb.sync_maindata(rid=rid)
assert delta["torrents"][file_hash]["state"] != "stoppedDL", delta
rid = delta["rid"]
assert "Stopped" not in remote("-t", file_hash, "-i"), remote("-t", file_hash, "-i")
qb.torrents_resume(torrent_hashes=magnet_hash)

# A change made through Transmission shows in the qBittorrent delta.
remote("-t", magnet_hash, "--stop")
delta = qb.sync_maindata(rid=rid)
assert delta["torrents"][magnet_hash]["state"] == "stoppedDL", delta
rid = delta["rid"]

# Names are bounded: qBittorrent's 409 saying why, nothing kept or listed.
try:
    qb.torrents_rename(torrent_hash=file_hash, new_torrent_name="x" * 2048)
    raise AssertionError("a 2 KiB name was accepted")
except qbittorrentapi.Conflict409Error as e:
    assert "more than 1024" in str(e), e
assert qb.torrents_info(torrent_hashes=file_hash)[0].name == "share"
qb.torrents_rename(torrent_hash=file_hash, new_torrent_name="renamed share")
assert "renamed share" in remote("-l"), remote("-l")

qb.torrents_delete(delete_files=False, torrent_hashes=magnet_hash)
delta = qb.sync_maindata(rid=rid)
assert delta["torrents_removed"] == [magnet_hash], delta
assert "trackers_removed" not in delta, delta
rid = delta["rid"]
assert "from-magnet" not in remote("-l")
qb.torrents_delete(delete_files=False, torrent_hashes="all")
assert qb.torrents_info() == []
delta = qb.sync_maindata(rid=rid)
assert delta["trackers_removed"] == ["http://127.0.0.1:1/announce"], delta

# A v2-only torrent's display magnet is its full v2 hash (urn:btmh), not a truncated btih;
# it has no v1 hash (qBittorrent shows "", its `hash` is the truncated v2 hash).
assert qb.torrents_add(torrent_files=v2_torrent) == "Ok."
[v2_t] = qb.torrents_info()
assert len(v2_t.infohash_v2) == 64, v2_t
assert v2_t.infohash_v1 == "" and v2_t.hash == v2_t.infohash_v2[:40], v2_t
assert qb.torrents_properties(torrent_hash=v2_t.hash).infohash_v1 == ""
v2_magnet = "magnet:?xt=urn:btmh:1220" + v2_t.infohash_v2 + "&dn=v2share" + tr
assert v2_t.magnet_uri == v2_magnet, v2_t.magnet_uri
assert "Magnet: " + v2_magnet in remote("-t", "all", "-i"), remote("-t", "all", "-i")
qb.torrents_delete(delete_files=False, torrent_hashes="all")
qb.auth_log_out()
print("qbittorrent-api ok")
"#;

#[test]
fn qbittorrent_api_and_transmission_remote_share_one_daemon() {
    let Some(python) = test_python(&["qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-qbit");
    w.file("share/a.bin", 300_000, 7);
    let torrent = create_torrent(&w, "share");
    w.file("v2share/b.bin", 100_000, 8);
    let v2_torrent = w.join("v2share.torrent");
    let (code, _, err) = run(&[
        "create",
        s(&w.join("v2share")),
        "-t",
        "http://127.0.0.1:1/announce",
        "--format",
        "v2",
        "-o",
        s(&v2_torrent),
    ]);
    assert_eq!(code, 0, "{err}");
    let (daemon, http) = start_daemon(&w, &w.join("dl"), &[]);
    let out = Command::new(&python)
        .args([
            "-c",
            PYTHON_CLIENT,
            &http.to_string(),
            &torrent,
            s(&v2_torrent),
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("qbittorrent-api ok"), "{stdout}\n{stderr}");
    drop(daemon);
}

/// Waits until the daemon's `server_state` counts DHT nodes; prints how many.
const DHT_NODES: &str = r#"
import sys, time
import qbittorrentapi
qb = qbittorrentapi.Client(host="127.0.0.1", port=int(sys.argv[1]))
qb.auth_log_in()
deadline = time.time() + 60
while time.time() < deadline:
    nodes = qb.sync_maindata(rid=0)["server_state"]["dht_nodes"]
    if nodes >= 1:
        break
    time.sleep(0.5)
assert nodes >= 1, nodes
assert qb.transfer_info()["dht_nodes"] >= 1
print(nodes)
"#;

/// A daemon with the DHT on, listening for peers (and DHT queries) on `peer_port`.
fn dht_daemon(w: &Scratch, name: &str, peer_port: u16, extra: &[&str]) -> (Running, u16) {
    let http = free_port();
    let http_addr = format!("127.0.0.1:{http}");
    let dl = w.join(&format!("{name}-dl"));
    let state = w.join(&format!("{name}-state"));
    let port = peer_port.to_string();
    let mut args = vec![
        "daemon",
        "-o",
        s(&dl),
        "--state-dir",
        s(&state),
        "--http",
        &http_addr,
        "-p",
        &port,
        "--bind",
        "127.0.0.1",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let daemon = Running::start(&args);
    wait_listening(http);
    (daemon, http)
}

#[test]
fn the_dht_nodes_are_the_routing_tables_size() {
    let Some(python) = test_python(&["qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-dht-nodes");
    let first_port = free_port();
    let (first, first_http) = dht_daemon(&w, "first", first_port, &[]);
    let bootstrap = format!("127.0.0.1:{first_port}");
    let (second, http) = dht_daemon(&w, "second", free_port(), &["--dht-bootstrap", &bootstrap]);
    for port in [http, first_http] {
        let out = Command::new(&python)
            .args(["-c", DHT_NODES, &port.to_string()])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        eprintln!("DHT nodes of the daemon on {port}: {}", stdout.trim());
    }
    drop(second);
    drop(first);
}
