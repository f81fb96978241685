//! Web seeds added and removed at run time through the daemon's two APIs, end to end with the
//! real daemon, Debian's nginx and the Python clients `transmission-rpc` and
//! `qbittorrent-api`:
//!
//! - a torrent with no peer and no web seed stays at 0 bytes and asks nothing of nginx;
//! - once a mirror is added (Transmission `torrent-set` `webseeds`, qBittorrent
//!   `addWebSeeds`) the download starts from it;
//! - that mirror is removed a quarter of the way through (Transmission: `webseeds` set to
//!   another mirror only; qBittorrent: `removeWebSeeds`, then `addWebSeeds` of the other),
//!   after which nginx's access log shows no new request to it beyond those already in
//!   flight, while the other mirror brings the rest;
//! - the files end with the right bytes.
//!
//! Both mirrors are one nginx serving the same file under `/a/` and `/b/`, throttled so the
//! download takes about 15 s.

mod common;
mod interop_support;

use std::fs;
use std::process::Command;

use common::{Scratch, s, start_daemon, test_python};
use interop_support::mirror::Nginx;
use interop_support::{assert_same_tree, bounded, data};
use sanstorrent_tests::interop::{WorkDir, free_port};

/// Requests in flight per web seed (core's `MAX_RUNS`; one request per run for a single file):
/// the most a removed mirror may still log after its removal.
const IN_FLIGHT: usize = 4;

/// The scenario, driven by either API (`argv[3]`).
const SCRIPT: &str = r#"
import sys, time
import qbittorrentapi, requests, transmission_rpc

port, torrent, api = int(sys.argv[1]), sys.argv[2], sys.argv[3]
url_a, url_b, access, in_flight = sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")
# qbittorrent-api skips addWebSeeds and removeWebSeeds (Web API 2.11.3) without a word when
# the server says 2.11.2, as the daemon does: the form goes as qBittorrent's web UI sends it.
web = requests.Session()
web.post(f"http://127.0.0.1:{port}/api/v2/auth/login",
         data={"username": "any", "password": "any"}).raise_for_status()

def qbit(method, urls):
    r = web.post(f"http://127.0.0.1:{port}/api/v2/torrents/{method}",
                 data={"hash": h, "urls": "|".join(urls)})
    assert r.status_code == 200, (method, r.status_code, r.text)

def logged(path):
    try:
        lines = open(access).read().splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for l in lines if f'"GET {path}' in l)

h = tr.add_torrent(open(torrent, "rb")).hash_string

def state():
    t = tr.get_torrent(h, arguments=["haveValid", "percentDone", "webseeds", "error"])
    return t.fields

def mirrors():
    if api == "transmission":
        return state()["webseeds"]
    return [w["url"] for w in qb.torrents_webseeds(torrent_hash=h)]

def wait(what, ready, secs=120):
    deadline = time.time() + secs
    while True:
        s = state()
        if ready(s):
            return s
        assert time.time() < deadline, f"never {what}: {s}"
        time.sleep(0.1)

# No peer, no web seed: nothing arrives and nginx hears nothing.
for _ in range(20):
    s = state()
    assert s["haveValid"] == 0 and s["error"] == 0, s
    time.sleep(0.1)
assert mirrors() == [], mirrors()
assert logged("/") == 0, open(access).read()

if api == "transmission":
    tr.change_torrent(h, webseeds=[url_a])
else:
    qbit("addWebSeeds", [url_a])
assert mirrors() == [url_a], mirrors()
s = wait("a quarter from the first mirror", lambda s: s["percentDone"] >= 0.25)
assert s["percentDone"] < 1, s

if api == "transmission":
    tr.change_torrent(h, webseeds=[url_b])
else:
    qbit("removeWebSeeds", [url_a])
    assert mirrors() == [], mirrors()
    qbit("addWebSeeds", [url_b])
a_at_removal = logged("/a/")
assert mirrors() == [url_b], mirrors()
wait("complete from the second mirror", lambda s: s["percentDone"] == 1)
a_after, b = logged("/a/") - a_at_removal, logged("/b/")
print(f"{api}: /a/ {a_at_removal} requests before its removal, {a_after} after; /b/ {b}")
assert a_after <= in_flight, f"the removed mirror got {a_after} more requests"
assert b > 2 * in_flight, f"the second mirror got only {b} requests"
print("mirrors ok")
"#;

/// Runs the scenario through `api` ("transmission" or "qbittorrent").
fn mirrors_added_and_removed_through(api: &'static str) {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi", "requests"]) else {
        return;
    };
    bounded(240, move || {
        let work = WorkDir::new(&format!("webseed-daemon-{api}"));
        let d = data(&work, "single", 6_000_000, 64 * 1024, &[], &[]);
        let www = work.join("www");
        let name = d.single_file_name();
        for dir in ["a", "b"] {
            fs::create_dir_all(www.join(dir)).expect("mirror dir");
            fs::copy(d.dir.join(&name), www.join(dir).join(&name)).expect("mirror copy");
        }
        let port = free_port();
        // About 0.4 MB/s (four requests in flight), so the whole takes about 15 s.
        let _nginx = Nginx::start(&work, &www, port, 100_000);
        let w = Scratch::new(&format!("webseed-daemon-{api}"));
        let dl = w.join("dl");
        let (daemon, http) = start_daemon(&w, &dl, &[]);
        let (url_a, url_b) = (
            format!("http://127.0.0.1:{port}/a/"),
            format!("http://127.0.0.1:{port}/b/"),
        );
        let out = Command::new(&py)
            .args([
                "-c",
                SCRIPT,
                &http.to_string(),
                s(&d.torrent),
                api,
                &url_a,
                &url_b,
                s(&work.join("nginx/access.log")),
                &IN_FLIGHT.to_string(),
            ])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprint!("{stdout}");
        assert!(
            out.status.success() && stdout.contains("mirrors ok"),
            "{stdout}\n{stderr}"
        );
        assert_same_tree(&d.dir, &dl);
        drop(daemon);
    });
}

#[test]
fn transmission_torrent_set_webseeds_adds_and_removes_a_mirror_mid_download() {
    mirrors_added_and_removed_through("transmission");
}

#[test]
fn qbittorrent_add_and_remove_web_seeds_mid_download() {
    mirrors_added_and_removed_through("qbittorrent");
}
