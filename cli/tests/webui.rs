//! The web UI in a real browser: headless Chromium (Debian's `chromium`) driven by
//! Playwright's Python package (test.sh installs both), through `webui.py` beside this file,
//! against a daemon behind `--http-auth` that downloads from a libtorrent seeder found through
//! opentracker (the dropped .torrent and the one served by URL) or named in the magnet link.

mod common;
mod interop_support;

use std::path::Path;
use std::process::Command;

use common::{Scratch, s, start_daemon, test_python};
use interop_support::{bounded, data, lt_addr, lt_seeder};
use sanstorrent_tests::interop::{Tracker, WorkDir};

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn the_web_ui_adds_downloads_chooses_files_limits_moves_and_removes_in_a_browser() {
    if !Path::new(CHROMIUM).exists() {
        assert!(!common::skips_forbidden(), "no {CHROMIUM}: run test.sh");
        eprintln!("skipped: no {CHROMIUM} (test.sh installs it)");
        return;
    }
    let Some(python) = test_python(&["playwright", "transmission_rpc"]) else {
        return;
    };
    bounded(500, move || {
        let work = WorkDir::new("webui");
        let tracker = Tracker::start(&work, "trk");
        // Nested directories, a file sharing its pieces with others, an empty file.
        let d = data(
            &work,
            "multi",
            3_000_000,
            32 * 1024,
            &[&tracker.http_url()],
            &[],
        );
        tracker.allow(&d.info_hash);
        // About 6 s per download: the page is watched while it runs.
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "500000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));

        let w = Scratch::new("webui");
        let dl = w.join("dl");
        std::fs::create_dir_all(&dl).unwrap();
        let (daemon, http) = start_daemon(&w, &dl, &["--http-auth", "user:secret"]);
        let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/webui-screenshots");
        std::fs::create_dir_all(shots).unwrap();
        let out = Command::new(&python)
            .args([
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webui.py"),
                &format!("http://127.0.0.1:{http}/"),
                "user:secret",
                s(&d.torrent),
                &magnet,
                s(&d.dir),
                s(&dl),
                shots,
            ])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{stdout}\n{stderr}\n(screenshots in {shots})"
        );
        assert!(stdout.contains("web ui ok"), "{stdout}\n{stderr}");
        drop(daemon);
        drop(seeder);
    });
}
