//! `download --only` from a real (libtorrent) seeder: exactly the chosen files are created,
//! with the seeder's bytes; a file not chosen that shares a piece with a chosen one holds only
//! that shared part (sparse); the other files are never created. Bad `--only` lists are
//! usage errors that name the mistake.

mod interop_support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use interop_support::{Data, bounded, expect_success, lt_addr, lt_seeder, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port, mktorrent};

const PIECE: usize = 64 * 1024;

/// The files in the torrent's order (their names sort so): name and length. With 64 KiB
/// pieces: `a0` is pieces 0-1; `a1` pieces 2 and half of 3; `a2` the other half of 3, then
/// 4-5; `a3` is empty; `a4` pieces 6-8.
const FILES: [(&str, usize); 5] = [
    ("a0.bin", 2 * PIECE),
    ("a1.bin", PIECE * 3 / 2),
    ("a2.bin", PIECE * 5 / 2),
    ("a3.empty", 0),
    ("a4.bin", 3 * PIECE),
];

/// Pseudo-random bytes, different per file.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) * 2_654_435_761 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes the files under `work/src/set` and makes their torrent.
fn make(work: &WorkDir) -> Data {
    let root = work.join("src");
    for (i, (name, len)) in FILES.iter().enumerate() {
        let path = root.join("set").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content(*len, i as u8 + 1)).unwrap();
    }
    let torrent = work.join("set.torrent");
    let piece = PIECE.to_string();
    let json = mktorrent(&[
        "make",
        "--data",
        s(&root.join("set")),
        "--piece-size",
        &piece,
        "--torrent",
        s(&torrent),
    ]);
    let hash = json
        .split("\"infohash\": \"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .expect("an info-hash")
        .to_string();
    Data {
        torrent,
        dir: root,
        info_hash: hash,
        magnet: String::new(),
    }
}

/// Bytes of disk the file at `path` occupies.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn only_the_chosen_files_are_downloaded() {
    bounded(170, || {
        let work = WorkDir::new("only-files");
        let d = make(&work);
        let lt = lt_seeder(&work, "lt-seeder", &d, &[]);
        let out = work.join("out");
        let port = free_port().to_string();
        let peer = lt_addr(&lt);
        let mut ours = sanstorrent(
            &work,
            "ours",
            150,
            &[
                "download",
                s(&d.torrent),
                "-o",
                s(&out),
                "-p",
                &port,
                "--bind",
                "127.0.0.1",
                "--no-dht",
                "--peer",
                &peer,
                "--state-dir",
                s(&work.join("state")),
                "--only",
                "1,3",
            ],
        );
        expect_success(
            &mut ours,
            "sanstorrent download --only",
            Duration::from_secs(155),
        );
        let set = out.join("set");
        for i in [1, 3] {
            let (name, len) = FILES[i];
            assert_eq!(
                fs::read(set.join(name)).unwrap(),
                content(len, i as u8 + 1),
                "{name}: the seeder's bytes"
            );
        }
        for i in [0, 4] {
            assert!(!set.join(FILES[i].0).exists(), "{} was created", FILES[i].0);
        }
        // a2 shares piece 3 with a1: only that half piece of it is written.
        let (name, len) = FILES[2];
        let shared = fs::read(set.join(name)).unwrap();
        assert_eq!(shared.len(), len, "{name}: full length");
        assert_eq!(
            shared[..PIECE / 2],
            content(len, 3)[..PIECE / 2],
            "{name}: the shared part"
        );
        assert!(
            shared[PIECE / 2..].iter().all(|&b| b == 0),
            "{name}: written past the shared piece"
        );
        assert!(
            allocated(&set.join(name)) < len as u64,
            "{name}: not sparse ({} bytes on disk)",
            allocated(&set.join(name))
        );
        let mut names: Vec<String> = fs::read_dir(&set)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a1.bin", "a2.bin", "a3.empty"]);
    });
}

#[test]
fn bad_lists_are_usage_errors() {
    let work = WorkDir::new("only-bad");
    let d = make(&work);
    for (only, says) in [
        ("1,,2", "empty file index"),
        ("x", "\"x\" is not a file index"),
        ("4-2", "ends before it starts"),
        (
            "5",
            "file 5 does not exist: the torrent has 5 files (0 to 4",
        ),
    ] {
        let out = std::process::Command::new(interop_support::bin())
            .args(["download", s(&d.torrent), "-o", s(&work.join("out"))])
            .args(["--no-dht", "-p", "0", "--bind", "127.0.0.1", "--only", only])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--only {only}: {err}");
        assert!(err.contains(says), "--only {only}: {err}");
    }
    assert!(!work.join("out").exists(), "nothing created");
    let out = std::process::Command::new(interop_support::bin())
        .args(["download", &format!("magnet:?xt=urn:btih:{}", d.info_hash)])
        .args(["--only", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
