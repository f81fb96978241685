//! A full disk under the daemon, in a mount namespace of the test's own (`unshare -m`): a
//! tmpfs that fills in the middle of a download (the torrent stops with "No space left on
//! device", other torrents carry on, a restart keeps every verified piece, and with space
//! freed and the torrent started it resumes from them).

mod common;

mod disk_support;

use common::{Scratch, free_port, remote, run, s};
use disk_support::{
    Daemon, MIB, Namespace, PIECE, Tracker, downloaded_ever, have, leech_args, named, seeder,
    seeding, torrent_of,
};

#[test]
fn a_full_disk_stops_a_download_that_resumes_from_its_verified_pieces_once_space_is_freed() {
    const SIZE: usize = 4 * MIB;
    let w = Scratch::new("daemon-enospc");
    let tracker = Tracker::start();
    w.file("src/d/one.bin", SIZE, 9);
    w.file("seed/e/one.bin", MIB / 2, 10);
    let torrent = torrent_of(&w, "src", "d", &tracker.url);
    let other = torrent_of(&w, "seed", "e", &tracker.url);
    let _seeder = seeder(&w, &torrent, "src", &tracker);
    // 5 MiB of tmpfs holding e (0.5 MiB, seeded by the daemon) and a filler of 2.5: d's
    // download fills the rest.
    let dl = w.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let setup = format!(
        "mount -t tmpfs -o size=5m tmpfs '{0}' && cp -r '{1}' '{0}/e' \
         && head -c 2621440 /dev/zero > '{0}/filler'",
        s(&dl),
        s(&w.join("seed/e"))
    );
    let Some(ns) = Namespace::new(&setup) else {
        return;
    };
    let enter = ns.enter();
    let prefix: Vec<&str> = enter.iter().map(String::as_str).collect();
    let state = w.join("state");
    let d = Daemon::start(&prefix, &dl, &state, free_port(), &["--sparse"]);
    d.add(&other);
    d.wait_until("e seeding", 60, |ts| seeding(named(ts, "e")));
    d.add(&torrent);
    let ts = d.wait_until("the disk full", 90, |ts| {
        ts.len() == 2 && named(ts, "d")["error"] != 0
    });
    let why = named(&ts, "d")["errorString"].as_str().unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    assert!(why.contains("d/one.bin"), "{why}");
    let ts = d.wait_until("stopped", 30, |ts| named(ts, "d")["status"] == 0);
    let verified = have(named(&ts, "d"));
    assert!(
        verified > 0 && verified < SIZE as u64,
        "{verified} bytes verified when the disk filled"
    );
    let states = d.qbit_states(&w.join("jar"));
    assert_eq!(states[0], ("d".into(), "error".into()), "{states:?}");
    assert!(states[1].1.ends_with("UP"), "{states:?}");

    // e carries on: a leecher gets every byte of it from the daemon.
    let out = w.join("leech-e");
    let peer = format!("127.0.0.1:{}", d.peer);
    let (code, _, err) = run(&leech_args(&other, &out, &peer, &w.join("leech-e-state")));
    assert_eq!(code, 0, "e's leecher: {err}");
    assert_eq!(
        std::fs::read(out.join("e/one.bin")).unwrap(),
        std::fs::read(w.join("seed/e/one.bin")).unwrap()
    );

    // A restart keeps every verified piece, and the torrent stays stopped with its error
    // (the daemon does not start it by itself, as Transmission does not).
    let peer = d.peer;
    d.stop();
    let d = Daemon::start(&prefix, &dl, &state, peer, &["--sparse"]);
    let ts = d.wait_until("the verified pieces after the restart", 60, |ts| {
        ts.len() == 2 && have(named(ts, "d")) >= verified
    });
    let kept = have(named(&ts, "d"));
    assert!(
        kept >= verified,
        "{verified} bytes verified, {kept} after the restart"
    );
    let before = downloaded_ever(named(&ts, "d"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ts = d.torrents();
    let t = named(&ts, "d");
    assert_eq!(t["status"], 0, "stopped after the restart: {t:#?}");
    assert_eq!(t["error"], 3, "{t:#?}");
    let why = t["errorString"].as_str().unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    assert_eq!(downloaded_ever(t), before, "nothing fetched while stopped");
    let states = d.qbit_states(&w.join("jar"));
    assert_eq!(states[0], ("d".into(), "error".into()), "{states:?}");

    // Space freed and the torrent started: it fetches only what it lacked.
    ns.sh(&format!("rm '{}/filler'", s(&dl)));
    let id = named(&ts, "d")["id"].to_string();
    remote(d.http, &["-t", &id, "-s"]);
    let ts = d.wait_until("complete", 90, |ts| ts.iter().all(seeding));
    let fetched = downloaded_ever(named(&ts, "d")) - before;
    let lacked = SIZE as u64 - kept;
    assert!(
        fetched >= lacked && fetched < lacked + 8 * PIECE,
        "lacked {lacked} bytes, fetched {fetched}"
    );
    ns.sh(&format!(
        "cmp '{}' '{}/d/one.bin'",
        s(&w.join("src/d/one.bin")),
        s(&dl)
    ));
    eprintln!(
        "full disk: {verified} bytes verified when it filled, {kept} after the restart, \
         {fetched} fetched after space was freed"
    );
    d.stop();
}
