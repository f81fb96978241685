//! A file deselected on the daemon while it downloads from a real (libtorrent) seeder, once
//! through `transmission-remote -G` and once through `qbittorrent-api`'s
//! `torrents_file_priority(..., priority=0)`: the pieces only that file holds stop being
//! fetched (only those already verified or in flight when it was deselected are had), the
//! other files complete with the seeder's bytes, and the torrent is complete for what is
//! wanted (Transmission's `percentDone` 1 and `leftUntilDone` 0, qBittorrent's `progress` 1
//! and an upload state).

mod common;
mod interop_support;

use std::process::Command;

use common::{Scratch, s, start_daemon, test_python};
use interop_support::{bounded, data, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

/// Adds the magnet, waits for the first pieces, deselects `zz_rest.bin` (the biggest file)
/// through the API named by `mode`, and checks the end state through both APIs.
const SCRIPT: &str = r#"
import base64, subprocess, sys, time
import qbittorrentapi, transmission_rpc

port, mode, magnet, src, dl = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

def remote(*args):
    return subprocess.run(["transmission-remote", f"127.0.0.1:{port}", *args],
                          check=True, capture_output=True, text=True).stdout

tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")
remote("-a", magnet)
FIELDS = ["id", "hashString", "files", "pieces", "pieceCount", "percentDone",
          "leftUntilDone", "status", "wanted"]

def get():
    return tr.get_torrents(arguments=FIELDS)[0].fields

def had(t):
    bits = base64.b64decode(t["pieces"])
    return {p for p in range(t["pieceCount"]) if bits[p >> 3] & (0x80 >> (p & 7))}

deadline = time.time() + 60
while True:
    t = get()
    if t.get("pieceCount", 0) > 0 and t["files"] and len(had(t)) >= 2:
        break
    assert time.time() < deadline, f"the download never started: {t}"
    time.sleep(0.02)

files = t["files"]
big = next(i for i, f in enumerate(files) if f["name"].endswith("zz_rest.bin"))
others = set()
for i, f in enumerate(files):
    if i != big and f["length"] > 0:
        others |= set(range(f["beginPiece"], f["endPiece"]))
unique = set(range(files[big]["beginPiece"], files[big]["endPiece"])) - others
assert len(unique) > 100, (len(unique), files)

if mode == "transmission":
    remote("-t", str(t["id"]), "-G", str(big))
else:
    qb.torrents_file_priority(torrent_hash=t["hashString"], file_ids=big, priority=0)
before = had(get()) & unique
assert len(before) < len(unique) // 4, f"deselected too late: {len(before)} of {len(unique)}"

deadline = time.time() + 120
while True:
    t = get()
    if t["percentDone"] == 1 and t["leftUntilDone"] == 0:
        break
    assert time.time() < deadline, f"never complete for what is wanted: {t['percentDone']}"
    time.sleep(0.1)

after = had(t) & unique
# Pieces requested before the deselection may still arrive: a pipeline's worth.
fetched_later = after - before
assert len(fetched_later) <= 24, f"{len(fetched_later)} pieces of the unwanted file fetched"
assert len(after) < len(unique) // 2, f"{len(after)} of {len(unique)} unique pieces had"
assert t["wanted"][big] in (0, False), t["wanted"]
assert t["status"] == 6, f"status {t['status']}: not seeding"
assert "100%" in remote("-l"), remote("-l")

info = qb.torrents_info(torrent_hashes=t["hashString"])[0]
assert info["progress"] == 1, info["progress"]
assert info["amount_left"] == 0, info["amount_left"]
assert info["state"] in ("uploading", "stalledUP"), info["state"]
prio = [f["priority"] for f in qb.torrents_files(torrent_hash=t["hashString"])]
assert prio[big] == 0 and all(p == 1 for i, p in enumerate(prio) if i != big), prio
states = qb.torrents_piece_states(torrent_hash=t["hashString"])
assert sum(1 for p in unique if states[p] == 2) == len(after), "the two APIs disagree"

for f in files:
    if f["name"].endswith("zz_rest.bin") or f["length"] == 0:
        continue
    with open(f"{src}/{f['name']}", "rb") as a, open(f"{dl}/{f['name']}", "rb") as b:
        assert a.read() == b.read(), f["name"]
print(f"deselect ok: {len(before)} then {len(after)} of {len(unique)} unique pieces")
"#;

fn deselect_while_downloading(mode: &'static str) {
    let Some(python) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(280, move || {
        let work = WorkDir::new(&format!("daemon-deselect-{mode}"));
        let d = data(&work, "multi", 4_000_000, 32 * 1024, &[], &[]);
        // About 13 s for the whole torrent: it is deselected long before the end.
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "300000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let w = Scratch::new(&format!("daemon-deselect-{mode}"));
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let out = Command::new(&python)
            .args([
                "-c",
                SCRIPT,
                &port.to_string(),
                mode,
                &magnet,
                s(&d.dir),
                s(&dl),
            ])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("deselect ok"), "{stdout}\n{stderr}");
        eprintln!("{mode}: {stdout}");
        drop(daemon);
        drop(seeder);
    });
}

#[test]
fn transmission_remote_deselects_a_file_while_it_downloads() {
    deselect_while_downloading("transmission");
}

#[test]
fn qbittorrent_api_deselects_a_file_while_it_downloads() {
    deselect_while_downloading("qbit");
}
