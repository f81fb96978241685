//! The web UI in a real browser: headless Chromium (Debian's `chromium`) driven by
//! Playwright's Python package (test.sh installs both), through `webui.py` beside this file.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, create_torrent, start_daemon, test_python};

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn a_dropped_torrent_is_added_completed_stopped_and_removed_in_the_browser() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no {CHROMIUM}: run test.sh"
        );
        eprintln!("skipped: no {CHROMIUM} (test.sh installs it)");
        return;
    }
    let Some(python) = test_python(&["playwright"]) else {
        return;
    };
    let w = Scratch::new("webui");
    // The data is already in the download directory: the daemon checks it and seeds.
    w.file("share/a.bin", 300_000, 1);
    w.file("share/b.bin", 200_000, 2);
    let torrent = create_torrent(&w, "share");
    let (daemon, http) = start_daemon(&w, w.path(), &["--http-auth", "user:secret"]);
    let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/webui-screenshots");
    std::fs::create_dir_all(shots).unwrap();
    let out = Command::new(&python)
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webui.py"),
            &format!("http://127.0.0.1:{http}/"),
            "user:secret",
            &torrent,
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
}
