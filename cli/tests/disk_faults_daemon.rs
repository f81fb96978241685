//! Disk faults under the daemon, which keeps several torrents, read through the Transmission
//! RPC: a file deleted and a file truncated under two seeding torrents (each checks its data
//! again, says why, never serves what the disk lost) while a third torrent of the same daemon
//! serves a leecher on; after a restart each keeps exactly what it had verified, and given a
//! seeder each fetches only what it lacks.

mod common;

mod disk_support;

use common::{Running, Scratch, free_port, remote, run};
use disk_support::{
    Daemon, MIB, PIECE, Tracker, downloaded_ever, have, leech_args, named, nothing_wrong, seeder,
    seeding, torrent_of,
};
/// Torrent a's size (two files of 1 MiB).
const SIZE_A: u64 = 2 * MIB as u64;

#[test]
fn files_deleted_or_truncated_under_seeds_are_rechecked_and_the_other_torrents_carry_on() {
    let w = Scratch::new("daemon-disk-seed");
    let tracker = Tracker::start();
    // a: two files, the first of which is deleted; b: one file, truncated mid-piece; c: left
    // alone. `orig/` keeps a copy of each.
    let files = [
        ("a/one.bin", MIB, 1),
        ("a/two.bin", MIB, 2),
        ("b/one.bin", 2 * MIB, 3),
        ("c/one.bin", 2 * MIB, 4),
    ];
    for (rel, len, seed) in files {
        w.file(&format!("data/{rel}"), len, seed);
        w.file(&format!("orig/{rel}"), len, seed);
    }
    let [a, b, c] = ["a", "b", "c"].map(|n| torrent_of(&w, "data", n, &tracker.url));
    let (data, state) = (w.join("data"), w.join("state"));
    let d = Daemon::start(&[], &data, &state, free_port(), &[]);
    for t in [&a, &b, &c] {
        d.add(t);
    }
    d.wait_until("three seeds", 60, |ts| {
        ts.len() == 3 && ts.iter().all(seeding)
    });

    std::fs::remove_file(data.join("a/one.bin")).unwrap();
    let cut = MIB as u64 + 1000;
    std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("b/one.bin"))
        .unwrap()
        .set_len(cut)
        .unwrap();

    // Leechers of a and b make the daemon read what is gone; c's leecher gets every byte.
    let peer = format!("127.0.0.1:{}", d.peer);
    let leech = |t: &str, name: &str| {
        let out = w.join(name);
        let st = w.join(&format!("{name}-state"));
        Running::start(&leech_args(t, &out, &peer, &st))
    };
    let (leech_a, leech_b) = (leech(&a, "leech-a"), leech(&b, "leech-b"));
    let out_c = w.join("leech-c");
    let st_c = w.join("leech-c-state");
    let (code, _, err) = run(&leech_args(&c, &out_c, &peer, &st_c));
    assert_eq!(code, 0, "c's leecher: {err}");
    assert_eq!(
        std::fs::read(out_c.join("c/one.bin")).unwrap(),
        std::fs::read(w.join("orig/c/one.bin")).unwrap()
    );

    // a keeps two.bin's half, b the pieces wholly before the cut; each says why.
    let half = MIB as u64;
    let kept_b = cut / PIECE * PIECE;
    let ts = d.wait_until("a and b checked again", 60, |ts| {
        let (ta, tb) = (named(ts, "a"), named(ts, "b"));
        have(ta) == half && have(tb) == kept_b && ta["error"] != 0 && tb["error"] != 0
    });
    let (ta, tb) = (named(&ts, "a"), named(&ts, "b"));
    let why_a = ta["errorString"].as_str().unwrap();
    assert!(why_a.contains("a/one.bin"), "{why_a}");
    let why_b = tb["errorString"].as_str().unwrap();
    assert!(why_b.contains("b/one.bin"), "{why_b}");
    assert!(seeding(named(&ts, "c")), "{ts:#?}");
    drop((leech_a, leech_b));
    nothing_wrong(&w.join("leech-a/a/one.bin"), &w.join("orig/a/one.bin"));
    nothing_wrong(&w.join("leech-a/a/two.bin"), &w.join("orig/a/two.bin"));
    nothing_wrong(&w.join("leech-b/b/one.bin"), &w.join("orig/b/one.bin"));

    // A restart keeps exactly what was verified.
    let peer_port = d.peer;
    d.stop();
    let d = Daemon::start(&[], &data, &state, peer_port, &[]);
    // b's truncated file, extended to its length by the check's file creation, is checked
    // again after the restart: it keeps the pieces before the cut, and claims nothing more.
    let ts = d.wait_until("the three after the restart", 60, |ts| {
        ts.len() == 3
            && have(named(ts, "a")) == half
            && have(named(ts, "b")) == kept_b
            && named(ts, "b")["status"] == 4
            && seeding(named(ts, "c"))
    });
    // What went missing is still shown after the restart, until the data is back.
    for (name, file) in [("a", "a/one.bin"), ("b", "b/one.bin")] {
        let t = named(&ts, name);
        let why = t["errorString"].as_str().unwrap();
        assert!(t["error"] == 3 && why.contains(file), "{name}: {t:#?}");
    }
    let before: Vec<u64> = ["a", "b"].map(|n| downloaded_ever(named(&ts, n))).into();
    let kept = [half, kept_b];

    // Given a seeder of the originals, a and b fetch what they lost, and only that.
    let seeders: Vec<Running> = [&a, &b]
        .iter()
        .map(|t| seeder(&w, t, "orig", &tracker))
        .collect();
    for name in ["a", "b"] {
        let id = named(&ts, name)["id"].to_string();
        remote(d.http, &["-t", &id, "--reannounce"]);
    }
    let ts = d.wait_until("a and b complete again", 90, |ts| ts.iter().all(seeding));
    for (i, (name, lost)) in [("a", SIZE_A - kept[0]), ("b", 2 * MIB as u64 - kept[1])]
        .into_iter()
        .enumerate()
    {
        let fetched = downloaded_ever(named(&ts, name)) - before[i];
        assert!(
            fetched >= lost && fetched < lost + 4 * PIECE,
            "{name} lost {lost} bytes and fetched {fetched}"
        );
    }
    for (rel, _, _) in files {
        assert_eq!(
            std::fs::read(data.join(rel)).unwrap(),
            std::fs::read(w.join(&format!("orig/{rel}"))).unwrap(),
            "{rel}"
        );
    }
    drop(seeders);
    d.stop();
}
