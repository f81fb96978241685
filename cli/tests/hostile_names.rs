//! A torrent with hostile file names (`..`, an absolute path, a backslash, an empty element),
//! seeded by libtorrent 2.0 from the names it sanitizes them to, downloaded by the real
//! `sanstorrent` binary: every byte lands inside the output directory, under the same names
//! libtorrent used, and nothing is written anywhere else.

mod interop_support;

use std::time::Duration;

use interop_support::{assert_same_tree, expect_success, lt_addr, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_peer, python};

/// Writes a hand-bencoded torrent with hostile paths (argv[1]) and its data under argv[2] at
/// the paths libtorrent gives the files.
const MAKE: &str = r#"
import sys, os, hashlib, libtorrent as lt
def be(x):
    if isinstance(x, int): return b"i%de" % x
    if isinstance(x, str): x = x.encode()
    if isinstance(x, bytes): return b"%d:" % len(x) + x
    if isinstance(x, list): return b"l" + b"".join(be(i) for i in x) + b"e"
    items = sorted((k.encode(), v) for k, v in x.items())
    return b"d" + b"".join(be(k) + be(v) for k, v in items) + b"e"
files = [(["..", "..", "escape.bin"], 40000), (["/abs", "x.bin"], 30000),
         ["a\\b.bin", 20000], (["", "e.bin"], 10000), (["..", "..", "..", "tmp", "f"], 5000)]
files = [(p if isinstance(p, list) else [p], n) for p, n in files]
blobs = []
for i, (_, n) in enumerate(files):
    out = b""
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (i, len(out))).digest()
    blobs.append(out[:n])
data = b"".join(blobs)
pl = 16384
pieces = b"".join(hashlib.sha1(data[i:i + pl]).digest() for i in range(0, len(data), pl))
info = {"name": "t", "piece length": pl, "pieces": pieces,
        "files": [{"length": n, "path": p} for p, n in files]}
open(sys.argv[1], "wb").write(be({"info": info}))
ti = lt.torrent_info(sys.argv[1])
for i in range(ti.files().num_files()):
    path = os.path.join(sys.argv[2], ti.files().file_path(i))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(blobs[i])
    print(ti.files().file_path(i))
"#;

#[test]
fn hostile_names_download_inside_the_output_directory() {
    let work = WorkDir::new("hostile-names");
    let torrent = work.join("hostile.torrent");
    let seed_dir = work.join("seed");
    let out = std::process::Command::new(python())
        .args(["-c", MAKE, s(&torrent), s(&seed_dir)])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "t/escape.bin",
            "t/abs/x.bin",
            "t/ab.bin",
            "t/_/e.bin",
            "t/tmp/f"
        ]
    );
    let seeder = lt_peer(
        &work,
        "seeder",
        170,
        &[
            "--torrent",
            s(&torrent),
            "--save",
            s(&seed_dir),
            "--seed",
            "--seed-mode",
            "--no-utp",
        ],
    );
    seeder.wait_for_line("SEEDING", Duration::from_secs(30));
    let dl = work.join("dl");
    let out_dir = dl.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let port = free_port().to_string();
    let addr = lt_addr(&seeder);
    let state = dl.join("state");
    let mut run = sanstorrent(
        &work,
        "download",
        120,
        &[
            "download",
            s(&torrent),
            "-o",
            s(&out_dir),
            "-p",
            &port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--peer",
            &addr,
            "--state-dir",
            s(&state),
        ],
    );
    expect_success(&mut run, "download", Duration::from_secs(120));
    assert_same_tree(&seed_dir, &out_dir);
    // Nothing beside the output directory and our state: `..` led nowhere.
    let mut beside: Vec<String> = std::fs::read_dir(&dl)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["out", "state"]);
    assert!(!work.join("escape.bin").exists() && !work.join("tmp").exists());
}
