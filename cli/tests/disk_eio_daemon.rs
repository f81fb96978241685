//! EIO reading a seeded file under the daemon: the download directory is a FUSE file system
//! of the test's own (`disk_support/failing_fs.py`, speaking /dev/fuse itself, mounted in a
//! mount namespace of the test's own) whose reads of part of one file fail with EIO once a
//! switch file exists. A leecher asking for that part makes the seeding torrent stop with a
//! clear "Input/output error" naming the file, while the daemon's other torrent goes on
//! serving another leecher every byte.

mod common;

mod disk_support;

use common::{Running, Scratch, free_port, run, s};
use disk_support::{
    Daemon, MIB, Namespace, PIECE, Tracker, leech_args, named, seeding, torrent_of,
};

#[test]
fn eio_reading_a_seeded_file_stops_that_torrent_and_the_other_serves_on() {
    let w = Scratch::new("daemon-eio");
    let tracker = Tracker::start();
    w.file("data/x/one.bin", MIB, 31);
    w.file("data/y/one.bin", MIB, 32);
    let [x, y] = ["x", "y"].map(|n| torrent_of(&w, "data", n, &tracker.url));
    let (data, mnt) = (w.join("data"), w.join("mnt"));
    std::fs::create_dir_all(&mnt).unwrap();
    let switch = w.join("eio-on");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/disk_support/failing_fs.py"
    );
    // Reads of x/one.bin's second half fail once the switch exists.
    let fs_log = w.join("failing_fs.log");
    let setup = format!(
        "python3 '{script}' '{}' '{}' x/one.bin {} {} '{}' > '{}' 2>&1 & \
         for i in $(seq 100); do grep -q mounted '{5}' 2>/dev/null && break; sleep 0.1; done; \
         grep -q mounted '{5}'",
        s(&data),
        s(&mnt),
        MIB / 2,
        MIB,
        s(&switch),
        s(&fs_log),
    );
    let Some(ns) = Namespace::new(&setup) else {
        return;
    };
    let enter = ns.enter();
    let prefix: Vec<&str> = enter.iter().map(String::as_str).collect();
    let state = w.join("state");
    let d = Daemon::start(&prefix, &mnt, &state, free_port(), &[]);
    d.add(&x);
    d.add(&y);
    d.wait_until("two seeds", 60, |ts| {
        ts.len() == 2 && ts.iter().all(seeding)
    });

    std::fs::write(&switch, b"").unwrap();
    let peer = format!("127.0.0.1:{}", d.peer);
    let leech_x = Running::start(&leech_args(&x, &w.join("leech-x"), &peer, &w.join("lx")));
    let ts = d.wait_until("x stopped on the read error", 90, |ts| {
        named(ts, "x")["error"] != 0 && named(ts, "x")["status"] == 0
    });
    let why = named(&ts, "x")["errorString"].as_str().unwrap();
    assert!(why.contains("Input/output error"), "{why}");
    assert!(why.contains("x/one.bin"), "{why}");
    drop(leech_x);
    // Nothing of the failing half reached the leecher wrong.
    disk_support::nothing_wrong(&w.join("leech-x/x/one.bin"), &data.join("x/one.bin"));

    // y goes on: a leecher gets every byte of it.
    let out = w.join("leech-y");
    let (code, _, err) = run(&leech_args(&y, &out, &peer, &w.join("ly")));
    assert_eq!(code, 0, "y's leecher: {err}");
    assert_eq!(
        std::fs::read(out.join("y/one.bin")).unwrap(),
        std::fs::read(data.join("y/one.bin")).unwrap()
    );
    assert!(seeding(named(&d.torrents(), "y")));
    eprintln!(
        "EIO: x stopped with {why:?}; y served {} pieces",
        MIB as u64 / PIECE
    );
    d.stop();
    ns.sh(&format!("umount '{}'", s(&mnt)));
}
