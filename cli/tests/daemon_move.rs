//! Moving a torrent's data while the daemon runs: `transmission-remote --move` of a seeding
//! torrent (the data ends in the new place only, and a libtorrent leecher completes from it
//! there), `--find` (no move: the daemon looks there and checks what it finds), and a restart
//! after a kill -9 in the middle of a move (each state a kill can leave, made by hand with
//! the daemon's own journal): one whole copy, where the torrent list says.

mod common;
mod interop_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Scratch, remote, run, s, start_daemon};
use interop_support::{assert_same_tree, bounded, data};
use sanstorrent_runtime_common::storage::Relocation;
use sanstorrent_tests::interop::{WorkDir, lt_peer};

/// The row of torrent 1 in `transmission-remote -l`.
fn row(port: u16) -> String {
    let list = remote(port, &["-l"]);
    list.lines()
        .find(|l| l.trim_start().starts_with("1 ") || l.trim_start().starts_with("1*"))
        .unwrap_or_default()
        .to_owned()
}

/// Whether a `-l` row shows a complete torrent running (`Idle` without peers).
fn seeding(row: &str) -> bool {
    row.contains("100%")
        && ["Idle", "Seeding", "Uploading"]
            .iter()
            .any(|s| row.contains(s))
}

/// Waits (at most `secs`) until `ready` holds, showing torrent 1's details if it never does.
fn wait_until(port: u16, secs: u64, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "never {what}: {}\n{}",
            row(port),
            remote(port, &["-t", "1", "-i"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of `key:` in `transmission-remote -t 1 -i`.
fn info(port: u16, key: &str) -> String {
    let text = remote(port, &["-t", "1", "-i"]);
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .trim()
        .to_owned()
}

/// Regular files under `root` (relative, sorted).
fn files(root: &Path) -> Vec<PathBuf> {
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

/// Flips one byte in the middle of `file`.
fn damage(file: &Path) {
    let mut bytes = std::fs::read(file).expect("the file");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(file, bytes).expect("write the damaged file");
}

/// Copies the tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) {
    for rel in files(from) {
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(from.join(&rel), target).expect("copy");
    }
}

#[test]
fn transmission_remote_moves_a_seeding_torrent_and_finds_data() {
    bounded(300, || {
        let work = WorkDir::new("daemon-move");
        // Nested directories, files smaller than a piece and a zero-length file.
        let d = data(&work, "multi", 3_000_000, 32 * 1024, &[], &[]);
        let original = work.join("original");
        copy_tree(&d.dir, &original);
        let name = files(&d.dir)[0]
            .components()
            .next()
            .expect("the torrent's directory")
            .as_os_str()
            .to_owned();
        let w = Scratch::new("daemon-move");
        let (daemon, port) = start_daemon(&w, &d.dir, &[]);
        assert!(remote(port, &["-a", s(&d.torrent)]).contains("success"));
        wait_until(port, 60, "seeding what it found", || seeding(&row(port)));

        let moved = d.dir.join("moved");
        let answer = remote(port, &["-t", "1", "--move", s(&moved)]);
        assert!(answer.contains("success"), "{answer}");
        wait_until(port, 60, "moved and seeding again", || {
            info(port, "Location") == s(&moved) && seeding(&row(port))
        });
        assert_same_tree(&original, &moved);
        assert!(!d.dir.join(&name).exists(), "the old place is gone");
        assert!(
            !w.join("state/daemon/moves")
                .read_dir()
                .is_ok_and(|mut d| d.next().is_some())
        );

        // A leecher completes from the new place only.
        let listen = info_session(port);
        let out = work.join("leech");
        let peer = format!("127.0.0.1:{listen}");
        let mut lt = lt_peer(
            &work,
            "leecher",
            110,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&out),
                "--peer",
                &peer,
                "--no-tracker",
                "--exit-on-done",
                "--no-utp",
            ],
        );
        let status = lt.wait(Duration::from_secs(120));
        assert!(status.success(), "libtorrent leecher: {}", lt.output());
        assert_same_tree(&original, &out);

        // `--find`: no move; the daemon looks in the new place and checks what is there.
        let found = d.dir.join("found");
        copy_tree(&moved, &found);
        let biggest = files(&found)
            .into_iter()
            .max_by_key(|f| std::fs::metadata(found.join(f)).map_or(0, |m| m.len()))
            .expect("a file");
        damage(&found.join(&biggest));
        let answer = remote(port, &["-t", "1", "--find", s(&found)]);
        assert!(answer.contains("success"), "{answer}");
        wait_until(port, 60, "checked in the new place", || {
            let r = row(port);
            info(port, "Location") == s(&found)
                && !r.contains("100%")
                && !r.contains("Verif")
                && !r.contains("Stopped")
        });
        assert_same_tree(&original, &moved);
        drop(daemon);
    });
}

/// The daemon's peer port (`Listenport` of `transmission-remote -si`).
fn info_session(port: u16) -> u16 {
    let text = remote(port, &["-si"]);
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix("Listenport:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Listenport in:\n{text}"))
}

/// A daemon seeding `share` (two files, one in a subdirectory) from `<scratch>/dl`, then
/// killed (SIGKILL); its info-hash.
fn seeded_then_killed(w: &Scratch) -> String {
    let torrent = make_share(w);
    copy_tree(&w.join("src"), &w.join("dl"));
    let (daemon, port) = start_daemon(w, &w.join("dl"), &[]);
    assert!(remote(port, &["-a", &torrent]).contains("success"));
    wait_until(port, 60, "seeding", || row(port).contains("100%"));
    let hash = info(port, "Hash");
    drop(daemon);
    hash
}

const FILES: [&str; 2] = ["share/a.bin", "share/sub/b.bin"];

/// `<scratch>/src/share` (the two [`FILES`]) and its .torrent, `<scratch>/share.torrent`.
fn make_share(w: &Scratch) -> String {
    w.file("src/share/a.bin", 400_000, 1);
    w.file("src/share/sub/b.bin", 100_000, 2);
    let torrent = w.join("share.torrent");
    let src = w.join("src/share");
    let tracker = "http://127.0.0.1:1/announce";
    let (code, _, err) = run(&["create", s(&src), "-t", tracker, "-o", s(&torrent)]);
    assert_eq!(code, 0, "{err}");
    s(&torrent).to_owned()
}

/// The move's journal, as the daemon writes it, of a move from `from` to `to`.
fn journal(w: &Scratch, hash: &str, from: &Path, to: &Path) -> PathBuf {
    let path = w.join(&format!("state/daemon/moves/{hash}.move"));
    std::fs::create_dir_all(path.parent().expect("moves/")).expect("mkdir");
    let r = Relocation {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        files: FILES.iter().map(PathBuf::from).collect(),
    };
    r.start(&path).expect("the journal");
    path
}

#[test]
fn a_move_killed_before_the_list_named_the_new_place_is_undone() {
    let w = Scratch::new("daemon-move-kill-early");
    let hash = seeded_then_killed(&w);
    let (dl, moved) = (w.join("dl"), w.join("dl/moved"));
    // The state a kill leaves mid-move: the first file moved, the second half copied.
    let journal = journal(&w, &hash, &dl, &moved);
    std::fs::create_dir_all(moved.join("share/sub")).expect("mkdir");
    std::fs::rename(dl.join(FILES[0]), moved.join(FILES[0])).expect("moved");
    let half = std::fs::read(dl.join(FILES[1])).expect("b")[..50_000].to_vec();
    std::fs::write(moved.join("share/sub/b.bin.part"), half).expect("half copy");

    let (daemon, port) = start_daemon(&w, &dl, &[]);
    wait_until(port, 60, "seeding after the restart", || {
        row(port).contains("100%")
    });
    assert_eq!(info(port, "Location"), s(&dl));
    assert_same_tree(&w.join("src"), &dl_without(&dl, "moved"));
    assert_eq!(files(&moved), Vec::<PathBuf>::new(), "no second copy");
    assert!(!journal.exists());
    drop(daemon);
}

#[test]
fn a_move_killed_after_the_list_named_the_new_place_is_finished() {
    let w = Scratch::new("daemon-move-kill-late");
    let torrent = make_share(&w);
    let (dl, moved, held) = (w.join("dl"), w.join("dl/moved"), w.join("held"));
    copy_tree(&w.join("src"), &dl);
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    assert!(remote(port, &["-a", &torrent]).contains("success"));
    wait_until(port, 60, "seeding", || row(port).contains("100%"));
    let hash = info(port, "Hash");
    assert!(remote(port, &["-t", "1", "--move", s(&moved)]).contains("success"));
    wait_until(port, 60, "moved", || {
        info(port, "Location") == s(&moved) && row(port).contains("100%")
    });
    drop(daemon); // SIGKILL

    // The state a kill leaves after the list was saved: the first file copied but not yet
    // deleted from the old place, the second moved, the journal not yet removed.
    std::fs::rename(&moved, &held).expect("hold the data");
    let journal = journal(&w, &hash, &dl, &moved);
    std::fs::create_dir_all(moved.join("share/sub")).expect("mkdir");
    std::fs::create_dir_all(dl.join("share")).expect("mkdir");
    std::fs::copy(held.join(FILES[0]), moved.join(FILES[0])).expect("copied");
    std::fs::rename(held.join(FILES[0]), dl.join(FILES[0])).expect("not deleted");
    std::fs::rename(held.join(FILES[1]), moved.join(FILES[1])).expect("moved");

    let (daemon, port) = start_daemon(&w, &dl, &[]);
    wait_until(port, 60, "seeding after the restart", || {
        row(port).contains("100%")
    });
    assert_eq!(info(port, "Location"), s(&moved));
    assert_same_tree(&w.join("src"), &moved);
    assert!(!dl.join("share").exists(), "no second copy");
    assert!(!journal.exists());
    drop(daemon);
}

/// A copy of the tree `dir` without its subdirectory `skip`, for comparing.
fn dl_without(dir: &Path, skip: &str) -> PathBuf {
    let copy = dir.with_file_name(format!("{}-compared", skip));
    let _ = std::fs::remove_dir_all(&copy);
    for rel in files(dir) {
        if rel.starts_with(skip) {
            continue;
        }
        let target = copy.join(&rel);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(dir.join(&rel), target).expect("copy");
    }
    copy
}

/// `qbittorrent-api` moves a seeding torrent, then tries a move that cannot finish.
const QBIT_MOVE: &str = r#"
import os, sys, time
import qbittorrentapi

port, torrent, dl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
qb = qbittorrentapi.Client(host="127.0.0.1", port=port, username="u", password="p")
qb.auth_log_in()
assert qb.torrents_add(torrent_files=torrent) == "Ok."

def wait(what, ok, secs=60):
    end = time.time() + secs
    while time.time() < end:
        t = qb.torrents_info()[0]
        if ok(t):
            return t
        time.sleep(0.1)
    raise AssertionError(f"never {what}: {dict(qb.torrents_info()[0])}")

seeding = lambda t: t.progress == 1 and t.state in ("stalledUP", "uploading")
h = wait("seeding", seeding).hash
moved = os.path.join(dl, "moved")
qb.torrents_set_location(location=moved, torrent_hashes=h)
wait("moved", lambda t: t.save_path == moved and seeding(t))
assert os.path.isfile(os.path.join(moved, "share", "a.bin"))
assert os.path.isfile(os.path.join(moved, "share", "sub", "b.bin"))
assert not os.path.exists(os.path.join(dl, "share")), os.listdir(dl)
assert qb.sync_maindata(rid=0)["torrents"][h]["save_path"] == moved

# A file where a directory must go: the move stops there, is undone, and shows as an error.
blocked = os.path.join(dl, "blocked")
os.makedirs(os.path.join(blocked, "share"))
with open(os.path.join(blocked, "share", "sub"), "w") as f:
    f.write("in the way")
qb.torrents_set_location(location=blocked, torrent_hashes=h)
t = wait("failed", lambda t: t.state == "error")
assert t.save_path == moved, t.save_path
assert os.path.isfile(os.path.join(moved, "share", "a.bin"))
assert os.path.isfile(os.path.join(moved, "share", "sub", "b.bin"))
assert not os.path.exists(os.path.join(blocked, "share", "a.bin"))
qb.torrents_start(torrent_hashes=h)
wait("seeding after the failed move", lambda t: t.save_path == moved and seeding(t))

try:
    qb.torrents_set_location(location="/etc", torrent_hashes=h)
    raise AssertionError("moved outside the allowed directories")
except qbittorrentapi.APIError:
    pass
print("qbittorrent-api move ok")
"#;

#[test]
fn qbittorrent_api_moves_a_seeding_torrent_and_undoes_a_failed_move() {
    let Some(python) = common::test_python(&["qbittorrentapi"]) else {
        return;
    };
    let w = Scratch::new("daemon-move-qbit");
    let torrent = make_share(&w);
    let dl = w.join("dl");
    copy_tree(&w.join("src"), &dl);
    let (daemon, http) = start_daemon(&w, &dl, &[]);
    let out = std::process::Command::new(&python)
        .args(["-c", QBIT_MOVE, &http.to_string(), &torrent, s(&dl)])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("qbittorrent-api move ok"),
        "{stdout}\n{stderr}"
    );
    drop(daemon);
}
