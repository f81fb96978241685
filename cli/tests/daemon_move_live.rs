//! Moving a torrent's data while it downloads, and a kill -9 in the middle of a real move.
//!
//! - `qbittorrent-api`'s `torrents_set_save_path` (qBittorrent's `setSavePath`) and then
//!   `transmission-rpc`'s `move_torrent_data` (`torrent-set-location` with `move: true`)
//!   move a download that a libtorrent seeder feeds at 300 kB/s; it finishes in the last
//!   place with the right bytes and nothing is left in the others.
//! - A seeding torrent moves to another file system (a tmpfs through a symbolic link in the
//!   download directory, so each file is copied, fsynced, renamed and deleted); the daemon is
//!   killed with SIGKILL while the move's journal exists and its first file is being copied,
//!   then started again: the torrent ends in one place, every byte there, nothing half-copied
//!   left, no journal, and a check finds all of it.

mod common;
mod interop_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Scratch, create_torrent, field, rpc_text, run, s, start_daemon, test_python};
use interop_support::{Data, bounded, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

const SCRIPT: &str = r#"
import sys, time
import qbittorrentapi, transmission_rpc

port, magnet, first, second = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tr = transmission_rpc.Client(host="127.0.0.1", port=port)
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="any", password="any")

def wait(what, ready, secs=90):
    end = time.time() + secs
    while not ready():
        assert time.time() < end, what
        time.sleep(0.1)

tr.add_torrent(magnet)
wait("some data", lambda: tr.get_torrent(1).percent_done > 0.1)
h = tr.get_torrent(1).hash_string

# qBittorrent's setSavePath moves the data (it names the torrent by `id`).
qb.torrents_set_save_path(save_path=first, torrent_hashes=h)
def moved_to(path):
    info = qb.torrents_info(torrent_hashes=h)[0]
    return info["save_path"].rstrip("/") == path and info["state"] != "moving"
wait("moved by qBittorrent", lambda: moved_to(first))
assert tr.get_torrent(1).percent_done < 1, "moved while it downloads"

# Transmission's torrent-set-location with move: true, while it still downloads.
tr.move_torrent_data(1, second)
wait("moved by Transmission", lambda: tr.get_torrent(1).download_dir.rstrip("/") == second
     and moved_to(second))
assert tr.get_torrent(1).percent_done < 1, "moved while it downloads"
wait("complete", lambda: tr.get_torrent(1).percent_done == 1)
print("moves ok")
"#;

/// The files of the test torrent (relative to its parent directory) with their sizes.
const FILES: [(&str, usize); 3] = [
    ("share/a.bin", 2_500_000),
    ("share/sub/b.bin", 1_500_000),
    ("share/c.bin", 1_000_000),
];

/// Makes `<scratch>/<dir>/share` and its .torrent; returns the .torrent's path and info-hash.
fn make_share(w: &Scratch, dir: &str, scale: usize) -> (String, String) {
    for (i, (rel, len)) in FILES.iter().enumerate() {
        w.file(&format!("{dir}/{rel}"), len * scale, i as u64 + 1);
    }
    let torrent = create_torrent(w, &format!("{dir}/share"));
    let (_, info, _) = run(&["info", &torrent]);
    (torrent, field(&info, "info-hash").to_owned())
}

/// Asserts that `dir` holds every file of the share with the bytes of `source`.
fn same_files(source: &Path, dir: &Path) {
    for (rel, _) in FILES {
        let want = std::fs::read(source.join(rel)).expect("source");
        let got = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(got == want, "{}: wrong bytes", dir.join(rel).display());
    }
}

/// Regular files under `root`, relative.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn python_clients_move_a_download_while_it_runs() {
    let Some(py) = test_python(&["transmission_rpc", "qbittorrentapi"]) else {
        return;
    };
    bounded(240, move || {
        let w = Scratch::new("daemon-move-live");
        let (torrent, hash) = make_share(&w, "src", 1);
        let work = WorkDir::new("daemon-move-live");
        let d = Data {
            torrent: PathBuf::from(&torrent),
            dir: w.join("src"),
            info_hash: hash.clone(),
            magnet: format!("magnet:?xt=urn:btih:{hash}"),
        };
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "300000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let dl = w.join("dl");
        let (first, second) = (dl.join("first"), dl.join("second"));
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        let out = Command::new(&py)
            .args([
                "-c",
                SCRIPT,
                &port.to_string(),
                &magnet,
                s(&first),
                s(&second),
            ])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("moves ok"),
            "{stdout}\n{stderr}"
        );
        same_files(&w.join("src"), &second);
        assert_eq!(files_under(&first), Vec::<PathBuf>::new(), "left behind");
        assert!(!dl.join("share").exists(), "left behind");
        drop(seeder);
        drop(daemon);
    });
}

/// Torrent 1's `percentDone`, `status` and `downloadDir` as JSON text.
fn torrent_state(port: u16) -> String {
    rpc_text(
        port,
        r#"{"method":"torrent-get","arguments":{"ids":[1],"fields":["percentDone","status","downloadDir"]}}"#,
    )
}

fn wait_state(port: u16, secs: u64, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = torrent_state(port);
        if ready(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seeding(t: &str) -> bool {
    t.contains(r#""percentDone":1"#) && t.contains(r#""status":6"#)
}

/// One kill during a move to another file system; `after_first`: kill once the first file
/// is whole in the target (else as soon as its copy has started).
fn kill_during_a_move(after_first: bool) {
    let label = if after_first { "late" } else { "early" };
    let w = Scratch::new(&format!("daemon-move-kill-{label}"));
    // Files big enough that copying each takes a while.
    let (torrent, hash) = make_share(&w, "dl", 16);
    let source = w.join("source");
    for (rel, _) in FILES {
        let to = source.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(w.join("dl").join(rel), to).expect("copy");
    }
    let dl = w.join("dl");
    let shm = PathBuf::from(format!(
        "/dev/shm/sanstorrent-move-{label}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&shm);
    std::fs::create_dir_all(&shm).expect("a tmpfs directory");
    std::os::unix::fs::symlink(&shm, dl.join("elsewhere")).expect("symlink");
    let target = dl.join("elsewhere/moved");
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    let add = format!(r#"{{"method":"torrent-add","arguments":{{"filename":"{torrent}"}}}}"#);
    assert!(rpc_text(port, &add).contains("success"));
    wait_state(port, 60, "seeding what it found", seeding);

    let journal = w.join(&format!("state/daemon/moves/{hash}.move"));
    let move_it = format!(
        r#"{{"method":"torrent-set-location","arguments":{{"ids":[1],"location":"{}","move":true}}}}"#,
        s(&target)
    );
    assert!(rpc_text(port, &move_it).contains("success"));
    let first = shm.join("moved").join(FILES[0].0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let copying = journal.exists() && std::fs::symlink_metadata(shm.join("moved")).is_ok();
        let ready = if after_first {
            journal.exists() && first.exists()
        } else {
            copying
        };
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the move never started");
        std::thread::sleep(Duration::from_micros(200));
    }
    drop(daemon); // SIGKILL
    assert!(journal.exists(), "killed after the move was over: no test");

    let (daemon, port) = start_daemon(&w, &dl, &[]);
    let state = wait_state(port, 60, "seeding after the restart", seeding);
    let (here, there) = (
        files_under(&dl.join("share")),
        files_under(&shm.join("moved")),
    );
    assert!(
        here.is_empty() != there.is_empty(),
        "one place only: {here:?} / {there:?}"
    );
    let place = if here.is_empty() {
        assert!(state.contains(s(&target)), "{state}");
        shm.join("moved")
    } else {
        assert!(state.contains(s(&dl)), "{state}");
        dl.clone()
    };
    same_files(&source, &place);
    let all = files_under(&place);
    assert!(
        all.iter().all(|f| !f.to_string_lossy().ends_with(".part")),
        "a half copy left: {all:?}"
    );
    assert!(!journal.exists(), "the journal is gone");
    // A check finds every piece where the torrent now is.
    assert!(
        rpc_text(
            port,
            r#"{"method":"torrent-verify","arguments":{"ids":[1]}}"#
        )
        .contains("success")
    );
    std::thread::sleep(Duration::from_millis(500));
    wait_state(port, 60, "verified", seeding);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&shm);
}

#[test]
fn a_kill_in_the_middle_of_a_move_loses_nothing() {
    bounded(240, || {
        kill_during_a_move(false);
        kill_during_a_move(true);
    });
}
