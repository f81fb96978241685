//! v2-only and hybrid torrents made by libtorrent 2.0 (`mktorrent.py --format v2|hybrid`) and
//! seeded by libtorrent, downloaded by us through an HTTP tracker (opentracker on loopback):
//! no peer address given, so the 20-byte id we announce must be the one libtorrent announces
//! (the truncated SHA-256 info-hash of a v2-only torrent, the SHA-1 one of a hybrid). Sizes
//! are not piece multiples; the multi-file layout has nested directories and an empty file.

mod interop_support;

use std::time::Duration;

use interop_support::{assert_same_tree, bounded, data, expect_success, lt_seeder, s, sanstorrent};
use sanstorrent_tests::interop::{Tracker, WorkDir, free_port};

fn from_tracker(label: &str, layout: &str, size: u64, format: &str) {
    let work = WorkDir::new(label);
    let tracker = Tracker::start(&work, "tracker");
    let url = tracker.http_url();
    let d = data(&work, layout, size, 32768, &[&url], &["--format", format]);
    tracker.allow(&d.info_hash);
    let _seeder = lt_seeder(&work, "lt-seeder", &d, &[]);
    let out = work.join("ours-out");
    let port = free_port().to_string();
    let mut ours = sanstorrent(
        &work,
        "ours",
        120,
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
            "--no-lsd",
            "--state-dir",
            s(&work.join("ours-state")),
        ],
    );
    expect_success(&mut ours, "sanstorrent download", Duration::from_secs(125));
    assert_same_tree(&d.dir, &out);
}

#[test]
fn a_single_file_v2_torrent_downloads_from_libtorrent_via_the_tracker() {
    bounded(150, || {
        from_tracker("v2-trk-single", "single", 1_000_003, "v2")
    });
}

#[test]
fn a_multi_file_v2_torrent_downloads_from_libtorrent_via_the_tracker() {
    bounded(150, || {
        from_tracker("v2-trk-multi", "multi", 2_000_000, "v2")
    });
}

#[test]
fn a_multi_file_hybrid_downloads_from_libtorrent_via_the_tracker() {
    bounded(150, || {
        from_tracker("v2-trk-hybrid", "multi", 2_000_001, "hybrid")
    });
}
