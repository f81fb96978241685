//! Choosing a magnet's files before any data comes, through the Python clients as their users
//! do it: qBittorrent's `add` with `stopCondition=MetadataReceived` (the torrent stops as its
//! metadata arrives, with nothing downloaded and every file listed and wanted; a file is then
//! skipped and a start downloads the rest), and sanstorrent's `choose_files` on Transmission's
//! `torrent-add` (it runs, fetches the metadata, then waits with every file skipped, neither
//! finished nor seeding, until `files-wanted` chooses). A libtorrent seeder serves the data.

mod common;
mod interop_support;

use std::path::PathBuf;
use std::process::Command;

use common::{Scratch, create_torrent, field, run, start_daemon, test_python};
use interop_support::{Data, bounded, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

const SCRIPT: &str = r#"
import sys, time
import qbittorrentapi, transmission_rpc

port, magnet, h = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")

def wait(what, ready, secs=90):
    end = time.time() + secs
    while not ready():
        assert time.time() < end, what
        time.sleep(0.1)

# qBittorrent: stopped as the metadata arrives, nothing downloaded, every file wanted.
qb.torrents_add(urls=magnet, stop_condition="MetadataReceived")
wait("stopped with its metadata", lambda: qb.torrents_info(torrent_hashes=h)
     and qb.torrents_info(torrent_hashes=h)[0].state == "stoppedDL"
     and len(qb.torrents_files(torrent_hash=h)) == 3)
info = qb.torrents_info(torrent_hashes=h)[0]
assert info.completed == 0 and info.downloaded == 0, info
files = qb.torrents_files(torrent_hash=h)
assert [f.priority for f in files] == [1, 1, 1], files
time.sleep(2)
assert qb.torrents_info(torrent_hashes=h)[0].state == "stoppedDL", "it stays stopped"
qb.torrents_file_priority(torrent_hash=h, file_ids=[1], priority=0)
qb.torrents_start(torrent_hashes=h)
wait("complete", lambda: qb.torrents_info(torrent_hashes=h)[0].progress == 1)
files = qb.torrents_files(torrent_hash=h)
assert [f.priority for f in files] == [1, 0, 1], files
assert files[1].progress < 1, files
qb.torrents_delete(torrent_hashes=h, delete_files=True)
wait("removed", lambda: not tr.get_torrents())

# Transmission with sanstorrent's choose_files: runs, fetches the metadata, waits.
added = tr._request("torrent-add", {"filename": magnet, "choose_files": True})
wait("files listed", lambda: len(tr.get_torrents()[0].get_files()) == 3)
time.sleep(2)
t = tr.get_torrents(arguments=["id", "status", "chooseFiles", "wanted", "haveValid",
                               "percentDone", "isFinished", "downloadedEver"])[0]
assert t.status == "downloading", t.fields
assert t.fields["chooseFiles"] is True and t.fields["wanted"] == [0, 0, 0], t.fields
assert t.fields["haveValid"] == 0 and t.fields["percentDone"] == 0, t.fields
assert not t.fields["isFinished"], t.fields
assert qb.torrents_info(torrent_hashes=h)[0].state != "stalledUP", "not seeding meanwhile"
tr.change_torrent(t.id, files_wanted=[0, 2])
wait("chosen files complete", lambda: tr.get_torrent(t.id).percent_done == 1)
t = tr.get_torrent(t.id, arguments=["id", "chooseFiles", "wanted"])
assert t.fields["chooseFiles"] is False and t.fields["wanted"] == [1, 0, 1], t.fields
print("choose ok")
"#;

#[test]
fn a_magnets_files_are_chosen_before_any_data_comes() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(240, move || {
        let w = Scratch::new("daemon-choose");
        for (rel, len, seed) in [
            ("share/a.bin", 600_000, 1),
            ("share/b.bin", 1_500_000, 2),
            ("share/c.bin", 500_000, 3),
        ] {
            w.file(&format!("src/{rel}"), len, seed);
        }
        let torrent = create_torrent(&w, "src/share");
        let (_, info, _) = run(&["info", &torrent]);
        let hash = field(&info, "info-hash").to_owned();
        let work = WorkDir::new("daemon-choose");
        let d = Data {
            torrent: PathBuf::from(&torrent),
            dir: w.join("src"),
            info_hash: hash.clone(),
            magnet: format!("magnet:?xt=urn:btih:{hash}"),
        };
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "2000000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let out = Command::new(&py)
            .args(["-c", SCRIPT, &port.to_string(), &magnet, &hash])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("choose ok"),
            "{stdout}\n{stderr}"
        );
        for name in ["a.bin", "c.bin"] {
            let got = std::fs::read(dl.join("share").join(name)).expect("downloaded");
            let want = std::fs::read(w.join("src/share").join(name)).expect("source");
            assert!(got == want, "{name}: wrong bytes");
        }
        drop(daemon);
        drop(seeder);
    });
}
