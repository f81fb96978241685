//! BitTorrent v2 with libtorrent 2.0 (python3-libtorrent, installed by
//! `../shared/interop/setup.sh`): torrents made by `sanstorrent create --format v2|hybrid`
//! load in libtorrent with the info-hashes it computes itself, and data moves both ways.

mod interop_support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use interop_support::{
    assert_same_tree, bounded, data, expect_success, lt_addr, lt_seeder, s, sanstorrent,
};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_peer, python};

/// libtorrent's view: `v1-hex|- v2-hex|- num_pieces`, then `size path` of each non-padding file.
const VIEW: &str = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
h = ti.info_hashes()
fs = ti.files()
print(str(h.v1) if h.has_v1() else '-', str(h.v2) if h.has_v2() else '-', ti.num_pieces())
for i in range(fs.num_files()):
    if not fs.file_flags(i) & lt.file_storage.flag_pad_file:
        print(fs.file_size(i), fs.file_path(i).replace('\\', '/'))
"#;

fn libtorrent_view(torrent: &Path) -> String {
    let out = Command::new(python())
        .args(["-c", VIEW, s(torrent)])
        .output()
        .expect("run python3 (bash ../shared/interop/setup.sh)");
    assert!(
        out.status.success(),
        "libtorrent refused {torrent:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `field:   value` from `create`'s output.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// Deterministic bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// `src/content`: nested directories, files smaller than a piece, sizes that are not piece
/// multiples, one exactly a piece, and an empty file.
fn content(work: &WorkDir) -> std::path::PathBuf {
    let root = work.join("src").join("content");
    for (i, (path, n)) in [
        ("a.bin", 100_000usize),
        ("b/small.txt", 1_000),
        ("b/c/exact", 32_768),
        ("b/c/empty", 0),
        ("z.bin", 250_001),
        ("tiny", 7),
    ]
    .into_iter()
    .enumerate()
    {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes(n, i as u32)).unwrap();
    }
    root
}

/// `sanstorrent create content --format FORMAT --piece-length 32768`: its output.
fn create(work: &WorkDir, root: &Path, format: &str, torrent: &Path) -> String {
    let out = Command::new(interop_support::bin())
        .args(["create", s(root), "-t", "http://127.0.0.1:1/announce"])
        .args([
            "--piece-length",
            "32768",
            "--format",
            format,
            "-o",
            s(torrent),
        ])
        .env("HOME", work.path())
        .output()
        .expect("run sanstorrent create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn libtorrent_computes_the_info_hashes_of_our_v2_and_hybrid_torrents() {
    let work = WorkDir::new("v2-create-hashes");
    let root = content(&work);
    let files = [
        "100000 content/a.bin",
        "0 content/b/c/empty",
        "32768 content/b/c/exact",
        "1000 content/b/small.txt",
        "7 content/tiny",
        "250001 content/z.bin",
    ];
    for format in ["v2", "hybrid"] {
        let torrent = work.join(&format!("{format}.torrent"));
        let created = create(&work, &root, format, &torrent);
        let view = libtorrent_view(&torrent);
        let mut lines = view.lines();
        let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(head[1], field(&created, "info-hash v2"), "{format}");
        if format == "hybrid" {
            assert_eq!(head[0], field(&created, "info-hash"));
        } else {
            assert_eq!(head[0], "-");
            assert_eq!(field(&created, "info-hash"), &head[1][..40]);
        }
        // Every non-empty file on its own pieces: 4 + 1 + 1 + 1 + 8.
        assert_eq!(head[2], "15", "{format}");
        assert_eq!(field(&created, "piece count"), "15");
        assert_eq!(lines.collect::<Vec<_>>(), files, "{format}");
    }
}

/// `sanstorrent download TORRENT -o OUT --peer ADDR` to completion.
fn download_from(work: &WorkDir, name: &str, torrent: &Path, out: &Path, addr: &str) {
    let port = free_port().to_string();
    let state = work.join(&format!("{name}-state"));
    let mut ours = sanstorrent(
        work,
        name,
        90,
        &[
            "download",
            s(torrent),
            "-o",
            s(out),
            "-p",
            &port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--peer",
            addr,
            "--state-dir",
            s(&state),
        ],
    );
    expect_success(&mut ours, "sanstorrent download", Duration::from_secs(100));
}

#[test]
fn a_hybrid_we_create_moves_both_ways_with_libtorrent() {
    bounded(200, || swap("v2-hybrid-swap", "hybrid"));
}

#[test]
fn a_v2_torrent_we_create_moves_both_ways_with_libtorrent() {
    bounded(200, || swap("v2-only-swap", "v2"));
}

/// libtorrent downloads `src/content` from our seeder, then we download it from libtorrent,
/// under a torrent we created in `format`.
fn swap(label: &str, format: &str) {
    let work = WorkDir::new(label);
    let root = content(&work);
    let torrent = work.join("h.torrent");
    create(&work, &root, format, &torrent);

    // libtorrent downloads it from our seeder.
    let port = free_port();
    let port_s = port.to_string();
    let _seeder = sanstorrent(
        &work,
        "ours-seed",
        170,
        &[
            "seed",
            s(&torrent),
            "-o",
            s(&work.join("src")),
            "-p",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--state-dir",
            s(&work.join("seed-state")),
        ],
    );
    wait_listening(port);
    let lt_out = work.join("lt-out");
    let peer = format!("127.0.0.1:{port}");
    let mut lt = lt_peer(
        &work,
        "lt-leecher",
        90,
        &[
            "--torrent",
            s(&torrent),
            "--save",
            s(&lt_out),
            "--no-tracker",
            "--peer",
            &peer,
            "--exit-on-done",
            "--no-utp",
        ],
    );
    let status = lt.wait(Duration::from_secs(100));
    assert!(status.success(), "libtorrent leecher: {}", lt.output());
    assert_same_tree(&work.join("src"), &lt_out);

    // We download it from a libtorrent seeder.
    let lt_seed = lt_peer(
        &work,
        "lt-seeder",
        170,
        &[
            "--torrent",
            s(&torrent),
            "--save",
            s(&work.join("src")),
            "--seed",
            "--no-tracker",
            "--no-utp",
        ],
    );
    lt_seed.wait_for_line("SEEDING", Duration::from_secs(30));
    let out = work.join("ours-out");
    download_from(&work, "ours-dl", &torrent, &out, &lt_addr(&lt_seed));
    assert_same_tree(&work.join("src"), &out);
}

/// A v2-only torrent made by libtorrent (`mktorrent.py --format v2`), seeded by libtorrent:
/// we download it, verifying every piece against its merkle tree, and get the same bytes.
fn v2_from_libtorrent(label: &str, layout: &str, size: u64) {
    let work = WorkDir::new(label);
    let d = data(&work, layout, size, 32768, &[], &["--format", "v2"]);
    let seeder = lt_seeder(&work, "lt-seeder", &d, &["--no-tracker"]);
    let out = work.join("ours-out");
    download_from(&work, "ours", &d.torrent, &out, &lt_addr(&seeder));
    assert_same_tree(&d.dir, &out);
}

#[test]
fn a_multi_file_v2_torrent_downloads_from_libtorrent() {
    // Nested directories, files smaller than a piece, sizes not a multiple of it, an empty file.
    bounded(150, || {
        v2_from_libtorrent("v2-dl-multi", "multi", 2_000_000)
    });
}

#[test]
fn a_single_file_v2_torrent_downloads_from_libtorrent() {
    bounded(150, || {
        v2_from_libtorrent("v2-dl-single", "single", 1_000_003)
    });
}
