//! A daemon restarted over seeding torrents trusts its resume data for every file whose size
//! and modification time did not change (no hashing: a file whose bytes were replaced behind
//! its back but whose stamps were put back is still seeding), and checks again the files that
//! changed (a file touched after its bytes were damaged, a truncated file).

mod common;

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Scratch, create_torrent, rpc_text, start_daemon, torrent_states, touch_later};

/// Waits (at most `secs`) until `ready` holds for the torrents' states; returns them.
fn wait_states(
    port: u16,
    secs: u64,
    what: &str,
    ready: impl Fn(&[(String, u64, f64)]) -> bool,
) -> Vec<(String, u64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = torrent_states(port);
        if ready(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "never {what}: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Transmission's status while seeding.
const SEEDING: u64 = 6;
/// Transmission's statuses while checking (queued to check, checking).
const CHECKING: [u64; 2] = [1, 2];

/// Replaces every byte of `file` (same size) and sets its modification time back to what it
/// was: the file's stamps are the same, its content is not.
fn replace_keeping_stamps(file: &Path) {
    let mtime = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .expect("mtime");
    let bytes: Vec<u8> = std::fs::read(file)
        .expect("read")
        .iter()
        .map(|b| b ^ 0x5a)
        .collect();
    std::fs::write(file, &bytes).expect("write");
    File::options()
        .write(true)
        .open(file)
        .and_then(|f| f.set_modified(mtime))
        .expect("set the mtime back");
}

#[test]
fn restart_trusts_unchanged_files_and_rechecks_changed_ones() {
    let w = Scratch::new("restart-check");
    let names = ["a_kept", "b_replaced", "c_touched", "d_truncated"];
    for (i, name) in names.iter().enumerate() {
        w.file(&format!("{name}/f.bin"), 300_000, i as u64 + 1);
    }
    let torrents: Vec<String> = names.iter().map(|n| create_torrent(&w, n)).collect();
    let data = w.path().to_owned();

    let (daemon, port) = start_daemon(&w, &data, &[]);
    for t in &torrents {
        let add = format!(r#"{{"method":"torrent-add","arguments":{{"filename":"{t}"}}}}"#);
        assert!(rpc_text(port, &add).contains("success"));
    }
    wait_states(port, 60, "all four seeding after the first check", |l| {
        l.len() == 4 && l.iter().all(|t| t.1 == SEEDING && t.2 == 1.0)
    });
    daemon.interrupt();
    let (code, _, err) = daemon.wait(60);
    assert_eq!(code, 130, "{err}");

    // A list saved before the `complete` field (what a daemon of an older version left)
    // restores eagerly: every torrent's stamps are compared at once (the lazy restore of a
    // list that says complete is `daemon_lazy_restore.rs`).
    let list = w.join("state/daemon/torrents.json");
    let text = std::fs::read_to_string(&list).expect("the list");
    let old = text.replace(r#","complete": true"#, "").replace(
        r#",
      "complete": true"#,
        "",
    );
    assert!(!old.contains("complete"), "{old}");
    std::fs::write(&list, old).expect("rewrite the list");

    replace_keeping_stamps(&data.join("b_replaced/f.bin"));
    let touched = data.join("c_touched/f.bin");
    let mut bytes = std::fs::read(&touched).expect("read");
    bytes[1000] ^= 0xff;
    std::fs::write(&touched, &bytes).expect("damage");
    touch_later(&touched, Duration::from_secs(5));
    File::options()
        .write(true)
        .open(data.join("d_truncated/f.bin"))
        .and_then(|f| f.set_len(100_000))
        .expect("truncate");

    let (daemon, port) = start_daemon(&w, &data, &[]);
    let after = wait_states(port, 60, "every check over", |l| {
        l.len() == 4 && l.iter().all(|t| !CHECKING.contains(&t.1))
    });
    let by_name = |n: &str| after.iter().find(|t| t.0 == n).cloned().expect(n);
    // Unchanged stamps: trusted without hashing, so the replaced bytes went unnoticed.
    for n in ["a_kept", "b_replaced"] {
        let t = by_name(n);
        assert_eq!((t.1, t.2), (SEEDING, 1.0), "{n} not trusted: {after:?}");
    }
    // Changed stamps: hashed again, and the damage found.
    for n in ["c_touched", "d_truncated"] {
        let t = by_name(n);
        assert!(t.2 < 1.0, "{n} not checked again: {after:?}");
        assert_ne!(t.1, SEEDING, "{n}: {after:?}");
    }
    daemon.interrupt();
    let (code, _, err) = daemon.wait(60);
    assert_eq!(code, 130, "{err}");
}
