//! The web UI in a real browser: headless Chromium (Debian's `chromium`) driven by
//! Playwright's Python package (test.sh installs both), through `webui.py` beside this file.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Running, Scratch, free_port, run, s, wait_listening};

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn a_dropped_torrent_is_added_completed_stopped_and_removed_in_the_browser() {
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/transmission-rpc/bin/python"
    );
    let ready = Path::new(python).exists()
        && Path::new(CHROMIUM).exists()
        && Command::new(python)
            .args(["-c", "import playwright"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        // test.sh (and so CI) installs them; a bare `cargo test` may not have them.
        assert!(
            std::env::var_os("CI").is_none(),
            "no Playwright or chromium: run test.sh"
        );
        eprintln!("skipped: no {CHROMIUM} or Playwright (test.sh installs them)");
        return;
    }
    let w = Scratch::new("webui");
    // The data is already in the download directory: the daemon checks it and seeds.
    w.file("share/a.bin", 300_000, 1);
    w.file("share/b.bin", 200_000, 2);
    let torrent = w.join("share.torrent");
    let (code, _, err) = run(&[
        "create",
        s(&w.join("share")),
        "-t",
        "http://127.0.0.1:1/announce",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "{err}");

    let http = free_port();
    let daemon = Running::start(&[
        "daemon",
        "-o",
        s(w.path()),
        "--state-dir",
        s(&w.join("state")),
        "--http",
        &format!("127.0.0.1:{http}"),
        "--http-auth",
        "user:secret",
        "-p",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--quiet",
    ]);
    wait_listening(http);
    let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/webui-screenshots");
    std::fs::create_dir_all(shots).unwrap();
    let out = Command::new(python)
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webui.py"),
            &format!("http://127.0.0.1:{http}/"),
            "user:secret",
            s(&torrent),
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
