//! Renaming files and folders of a torrent while it downloads, through the Python clients:
//! `transmission-rpc`'s `rename_torrent_path` (a file, then the torrent's top folder, which
//! renames the torrent) and `qbittorrent-api`'s `torrents_rename_file` and
//! `torrents_rename_folder`. Hostile new names are refused. The download (a libtorrent seeder
//! at 300 kB/s) keeps running through the renames (its peer connected, sampled every 10 ms)
//! and continues into the renamed files and finishes with the right bytes; only the
//! new names are on disk; after a kill -9 and a restart the torrent still shows the new names
//! and seeds them without downloading again.

mod common;
mod interop_support;

use std::path::PathBuf;
use std::process::Command;

use common::{Scratch, create_torrent, curl_text, field, rpc_text, run, start_daemon, test_python};
use interop_support::{Data, bounded, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

const SCRIPT: &str = r#"
import sys, threading, time
import qbittorrentapi, transmission_rpc

port, magnet, step = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")

def wait(what, ready, secs=90):
    end = time.time() + secs
    while not ready():
        assert time.time() < end, what
        time.sleep(0.1)

def names():
    return sorted(f.name for f in tr.get_torrent(1).get_files())

NEW = ["Show/A renamed.bin", "Show/deeper/s/b2.bin", "Show/deeper/s/c.bin", "Show/z.bin"]

if step == "rename":
    tr.add_torrent(magnet)
    wait("metadata", lambda: len(tr.get_torrent(1).get_files()) == 4)
    wait("some data", lambda: tr.get_torrent(1).percent_done > 0.05)
    wait("a peer", lambda: tr.get_torrent(1).peers_connected > 0)
    h = tr.get_torrent(1).hash_string
    # Renames leave the torrent running: its peer stays connected throughout.
    seen, renaming = [], [True]
    def watch():
        own = transmission_rpc.Client(host="127.0.0.1", port=port)
        while renaming[0]:
            t = own.get_torrent(1, arguments=["peersConnected", "status"])
            seen.append((t.peers_connected, t.status))
            time.sleep(0.01)
    watcher = threading.Thread(target=watch)
    watcher.start()
    wait("samples before", lambda: len(seen) >= 3)
    # Transmission: a file, by a new name for its last component.
    r = tr.rename_torrent_path(1, location="share/a.bin", name="A renamed.bin")
    assert r == ("share/a.bin", "A renamed.bin"), r
    assert tr.get_torrent(1).percent_done < 1, "renamed while it downloads"
    # qBittorrent: a file by its whole path, then a folder into a new parent.
    qb.torrents_rename_file(torrent_hash=h, old_path="share/sub/b.bin", new_path="share/sub/b2.bin")
    qb.torrents_rename_folder(torrent_hash=h, old_path="share/sub", new_path="share/deeper/s")
    # Hostile or clashing names are refused and change nothing.
    for path, name in [("share/z.bin", "../../escape"), ("share/z.bin", "a/b"),
                       ("share/z.bin", ".."), ("share/z.bin", "A renamed.bin"),
                       ("share/nothing", "x")]:
        try:
            tr.rename_torrent_path(1, location=path, name=name)
        except transmission_rpc.TransmissionError:
            pass
        else:
            raise AssertionError(f"renamed {path} to {name}")
    for old, new in [("share/z.bin", "../../../tmp/escape"), ("share/z.bin", "/tmp/abs"),
                     ("share/z.bin", "share/deeper/s/c.bin"), ("share/z.bin", "share/deeper")]:
        try:
            qb.torrents_rename_file(torrent_hash=h, old_path=old, new_path=new)
        except qbittorrentapi.Conflict409Error:
            pass
        else:
            raise AssertionError(f"renamed {old} to {new}")
    # The top folder: the torrent takes its name.
    r = tr.rename_torrent_path(1, location="share", name="Show")
    assert r == ("share", "Show"), r
    after = len(seen) + 3
    wait("samples after", lambda: len(seen) >= after)
    renaming[0] = False
    watcher.join()
    assert len(seen) > 5, seen
    assert min(p for p, _ in seen) > 0, f"the peer left during the renames: {seen}"
    assert all(s == "downloading" for _, s in seen), f"not downloading throughout: {seen}"
    assert tr.get_torrent(1).name == "Show", tr.get_torrent(1).name
    assert names() == NEW, names()
    qnames = sorted(f["name"] for f in qb.torrents_files(torrent_hash=h))
    assert qnames == NEW, qnames
    wait("complete", lambda: tr.get_torrent(1).percent_done == 1)
    print("rename ok")

if step == "check":
    wait("listed", lambda: len(tr.get_torrents()) == 1)
    t = tr.get_torrent(1)
    assert t.name == "Show", t.name
    assert names() == NEW, names()
    wait("seeding", lambda: tr.get_torrent(1).percent_done == 1 and
         tr.get_torrent(1).status == "seeding", 30)
    assert tr.get_torrent(1).downloaded_ever > 0
    print("check ok")
"#;

fn python(py: &str, port: u16, magnet: &str, step: &str) {
    let out = Command::new(py)
        .args(["-c", SCRIPT, &port.to_string(), magnet, step])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("{step} ok")),
        "{step}: {stdout}\n{stderr}"
    );
}

#[test]
fn python_clients_rename_files_and_folders_while_it_downloads() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(240, move || {
        let w = Scratch::new("daemon-rename");
        let sizes = [
            ("share/a.bin", 1_500_000, 1),
            ("share/sub/b.bin", 1_200_000, 2),
            ("share/sub/c.bin", 900_000, 3),
            ("share/z.bin", 1_400_000, 4),
        ];
        for (rel, len, seed) in sizes {
            w.file(&format!("src/{rel}"), len, seed);
        }
        let torrent = create_torrent(&w, "src/share");
        let (_, info, _) = run(&["info", &torrent]);
        let hash = field(&info, "info-hash").to_owned();
        let work = WorkDir::new("daemon-rename");
        let d = Data {
            torrent: PathBuf::from(&torrent),
            dir: w.join("src"),
            info_hash: hash.clone(),
            magnet: format!("magnet:?xt=urn:btih:{hash}"),
        };
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "300000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        python(&py, port, &magnet, "rename");
        let renamed = [
            ("Show/A renamed.bin", "share/a.bin"),
            ("Show/deeper/s/b2.bin", "share/sub/b.bin"),
            ("Show/deeper/s/c.bin", "share/sub/c.bin"),
            ("Show/z.bin", "share/z.bin"),
        ];
        let check_bytes = || {
            for (new, old) in renamed {
                let got = std::fs::read(dl.join(new)).unwrap_or_else(|e| panic!("{new}: {e}"));
                let want = std::fs::read(w.join("src").join(old)).expect("source");
                assert!(got == want, "{new}: not the bytes of {old}");
            }
            assert!(!dl.join("share").exists(), "the old names are gone");
        };
        check_bytes();
        drop(seeder);
        // SIGKILL, then a restart with no seeder: the names and the data are kept.
        drop(daemon);
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        python(&py, port, &magnet, "check");
        check_bytes();
        drop(daemon);
    });
}

/// Torrent 1's `percentDone` and `status` (as the RPC's JSON text).
fn progress(port: u16) -> String {
    rpc_text(
        port,
        r#"{"method":"torrent-get","arguments":{"ids":[1],"fields":["percentDone","status","files"]}}"#,
    )
}

fn wait_for(port: u16, what: &str, ready: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = progress(port);
        if ready(&text) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never {what}: {text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn renamed_files_of_a_seeding_torrent_verify_in_place_and_survive_a_restart() {
    bounded(120, || {
        let w = Scratch::new("daemon-rename-seed");
        w.file("dl/share/a.bin", 300_000, 1);
        w.file("dl/share/sub/b.bin", 200_000, 2);
        let source = |rel: &str| std::fs::read(w.join("dl").join(rel)).expect("source");
        let (a, b) = (source("share/a.bin"), source("share/sub/b.bin"));
        let torrent = create_torrent(&w, "dl/share");
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let add = format!(r#"{{"method":"torrent-add","arguments":{{"filename":"{torrent}"}}}}"#);
        assert!(rpc_text(port, &add).contains("success"));
        let seeding = |t: &str| t.contains(r#""percentDone":1"#) && t.contains(r#""status":6"#);
        wait_for(port, "seeding what it found", seeding);

        // Transmission's rename of a file (raw JSON), then qBittorrent's of a folder (a form).
        let answer = rpc_text(
            port,
            r#"{"method":"torrent-rename-path","arguments":{"ids":[1],"path":"share/a.bin","name":"A.bin"},"tag":7}"#,
        );
        for part in [
            r#""result":"success""#,
            r#""path":"share/a.bin""#,
            r#""name":"A.bin""#,
            r#""id":1"#,
        ] {
            assert!(answer.contains(part), "{part} missing: {answer}");
        }
        let (_, info, _) = run(&["info", &torrent]);
        let hash = field(&info, "info-hash").to_owned();
        let qbit = format!("http://127.0.0.1:{port}/api/v2/torrents/renameFolder");
        let form = format!("hash={hash}&oldPath=share%2Fsub&newPath=share%2Fsubs%20new");
        let (status, text) = curl_text(&["-d", &form, &qbit]);
        assert_eq!(status, 200, "{text}");
        let (status, text) = curl_text(&[
            "-d",
            &format!("hash={hash}&oldPath=share%2FA.bin&newPath=..%2F..%2Fescape"),
            &qbit.replace("renameFolder", "renameFile"),
        ]);
        assert_eq!(status, 409, "{text}");
        assert!(!w.join("escape").exists() && !w.path().join("../escape").exists());

        assert_eq!(std::fs::read(dl.join("share/A.bin")).expect("renamed"), a);
        assert_eq!(
            std::fs::read(dl.join("share/subs new/b.bin")).expect("moved"),
            b
        );
        assert!(!dl.join("share/a.bin").exists() && !dl.join("share/sub").exists());
        wait_for(port, "seeding again", seeding);
        // A check reads the data from the new paths: all of it is there.
        assert!(
            rpc_text(
                port,
                r#"{"method":"torrent-verify","arguments":{"ids":[1]}}"#
            )
            .contains("success")
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        wait_for(port, "verified at the new paths", seeding);

        // A graceful restart keeps the names, and the torrent seeds without a check.
        daemon.interrupt();
        let _ = daemon.wait(30);
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        wait_for(port, "seeding after the restart", |t| {
            seeding(t) && t.contains("share/A.bin") && t.contains("share/subs new/b.bin")
        });
        drop(daemon);
    });
}
