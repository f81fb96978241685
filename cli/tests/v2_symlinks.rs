//! BEP 47 symbolic links in torrents libtorrent 2.0 makes (`create_torrent` with its
//! `symlinks` flag, v2-only and hybrid) from a directory holding a link to a file of the
//! torrent and a hostile one to `../../../etc/passwd`: `info` shows the link and its target;
//! downloaded from a libtorrent seeder, the inside link is created as a relative link, the
//! hostile one is a plain empty file, and nothing is created outside the download directory.

mod interop_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use interop_support::{bounded, expect_success, lt_addr, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_peer, python};

/// Makes `argv[2]` (a .torrent of the directory `argv[1]/c`, format `argv[3]`) with links.
const MAKE: &str = r#"
import sys, libtorrent as lt
root, out, fmt = sys.argv[1:4]
fs = lt.file_storage()
lt.add_files(fs, root + "/c", flags=lt.create_torrent.symlinks)
flags = lt.create_torrent.symlinks | (lt.create_torrent.v2_only if fmt == "v2" else 0)
ct = lt.create_torrent(fs, 16384, flags)
lt.set_piece_hashes(ct, root)
open(out, "wb").write(lt.bencode(ct.generate()))
"#;

fn links_from_libtorrent(label: &str, format: &str) {
    let work = WorkDir::new(label);
    let src = work.join("src");
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 13 / 7) as u8).collect();
    std::fs::create_dir_all(src.join("c/d")).unwrap();
    std::fs::write(src.join("c/d/x"), &content).unwrap();
    std::os::unix::fs::symlink("d/x", src.join("c/l")).unwrap();
    std::os::unix::fs::symlink("../../../etc/passwd", src.join("c/evil")).unwrap();
    let torrent = work.join("links.torrent");
    let made = Command::new(python())
        .args(["-c", MAKE, s(&src), s(&torrent), format])
        .output()
        .expect("run python");
    assert!(made.status.success(), "{made:?}");
    // The seeder makes its links itself (the hostile one pointing at itself) and fails where
    // a file already stands.
    for link in ["c/l", "c/evil"] {
        std::fs::remove_file(src.join(link)).unwrap();
    }

    let info = Command::new(interop_support::bin())
        .args(["info", s(&torrent)])
        .output()
        .expect("sanstorrent info");
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    assert!(info.contains("c/l  -> c/d/x"), "{info}");
    assert!(
        info.lines().any(|l| l.ends_with(" c/evil")),
        "the hostile link is a plain file: {info}"
    );
    assert!(info.contains("etc/passwd"), "warned about: {info}");

    let seeder = lt_peer(
        &work,
        "lt-seeder",
        120,
        &[
            "--torrent",
            s(&torrent),
            "--save",
            s(&src),
            "--seed",
            "--no-tracker",
            "--no-utp",
        ],
    );
    seeder.wait_for_line("SEEDING", Duration::from_secs(30));
    let out = work.join("dl").join("out");
    let port = free_port().to_string();
    let mut ours = sanstorrent(
        &work,
        "ours",
        90,
        &[
            "download",
            s(&torrent),
            "-o",
            s(&out),
            "-p",
            &port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--no-lsd",
            "--peer",
            &lt_addr(&seeder),
            "--state-dir",
            s(&work.join("ours-state")),
        ],
    );
    expect_success(&mut ours, "sanstorrent download", Duration::from_secs(95));
    assert_eq!(std::fs::read(out.join("c/d/x")).unwrap(), content);
    assert_eq!(
        std::fs::read_link(out.join("c/l")).unwrap(),
        Path::new("d/x")
    );
    assert_eq!(std::fs::read(out.join("c/l")).unwrap(), content);
    let evil = std::fs::symlink_metadata(out.join("c/evil")).unwrap();
    assert!(evil.is_file() && evil.len() == 0, "{evil:?}");
    let mut outside: Vec<String> = std::fs::read_dir(work.join("dl"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    assert_eq!(outside, ["out"], "only the download directory");
}

#[test]
fn links_in_a_libtorrent_v2_torrent_are_created_inside_only() {
    bounded(120, || links_from_libtorrent("links-v2", "v2"));
}

#[test]
fn links_in_a_libtorrent_hybrid_are_created_inside_only() {
    bounded(120, || links_from_libtorrent("links-hybrid", "hybrid"));
}
