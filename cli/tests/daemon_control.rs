//! A torrent's controls on the daemon, driven by the real `transmission-remote` against a
//! libtorrent seeder: stop and start again (no recheck), verify after a byte was damaged
//! (the piece is downloaded again), reannounce, add paused, remove keeping the data and remove
//! with it.

mod common;
mod interop_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Scratch, remote, start_daemon};
use interop_support::{bounded, data, lt_addr, lt_seeder};
use sanstorrent_tests::interop::WorkDir;

/// The `Done` column of torrent 1 in `transmission-remote -l` (`45%`, `100%`, `n/a`).
fn done(port: u16) -> String {
    let list = remote(port, &["-l"]);
    list.lines()
        .find(|l| l.trim_start().starts_with("1 ") || l.trim_start().starts_with("1*"))
        .and_then(|row| row.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned()
}

/// Waits (at most `secs`) until `ready` holds for torrent 1's `Done` column.
fn wait_done(port: u16, secs: u64, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let d = done(port);
        if ready(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {}",
            remote(port, &["-l"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn percent(d: &str) -> Option<u32> {
    d.strip_suffix('%')?.parse().ok()
}

/// Flips one byte of `file` in its middle.
fn damage(file: &Path) {
    let mut bytes = std::fs::read(file).expect("the downloaded file");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(file, bytes).expect("write the damaged file");
}

#[test]
fn transmission_remote_stops_starts_verifies_and_removes_with_data() {
    bounded(300, move || {
        let work = WorkDir::new("daemon-control");
        let size: u64 = 3_000_000;
        let d = data(&work, "single", size, 32 * 1024, &[], &[]);
        // About 5 s for the whole torrent: there is time to stop it halfway.
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "600000"]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let name = d.single_file_name();

        let w = Scratch::new("daemon-control");
        let dl = w.join("dl");
        let (daemon, port) = start_daemon(&w, &dl, &[]);
        assert!(remote(port, &["-a", &magnet]).contains("success"));
        wait_done(port, 60, "partly downloaded", |d| {
            percent(d).is_some_and(|p| (5..90).contains(&p))
        });
        remote(port, &["-t", "1", "-S"]);
        assert!(remote(port, &["-l"]).contains("Stopped"));
        let stopped_at = percent(&done(port)).expect("a percentage");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            percent(&done(port)),
            Some(stopped_at),
            "a stopped torrent downloads nothing"
        );

        remote(port, &["-t", "1", "-s"]);
        wait_done(port, 90, "complete after the start", |d| d == "100%");
        assert!(remote(port, &["-t", "1", "--reannounce"]).contains("success"));

        let file = dl.join(&name);
        assert_eq!(
            std::fs::read(&file).expect("the downloaded file"),
            std::fs::read(d.dir.join(&name)).expect("the seeder's file")
        );
        remote(port, &["-t", "1", "-S"]);
        damage(&file);
        remote(port, &["-t", "1", "-v"]);
        wait_done(port, 60, "below 100% after the check", |d| {
            percent(d).is_some_and(|p| p < 100)
        });
        assert!(
            remote(port, &["-l"]).contains("Stopped"),
            "a stopped torrent stays stopped after its check"
        );
        remote(port, &["-t", "1", "-s"]);
        wait_done(
            port,
            90,
            "complete after the damaged piece came again",
            |d| d == "100%",
        );
        assert_eq!(
            std::fs::read(&file).expect("the downloaded file"),
            std::fs::read(d.dir.join(&name)).expect("the seeder's file")
        );

        remote(port, &["-t", "1", "--remove-and-delete"]);
        assert!(!remote(port, &["-l"]).contains("100%"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while file.exists() {
            assert!(Instant::now() < deadline, "the data was not deleted");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(dl.exists(), "the download directory itself stays");

        // Added paused (`--start-paused` turns the session's start-added-torrents off before the
        // add), it downloads nothing; a plain remove keeps what it has.
        let added = remote(port, &["--start-paused", "-a", &magnet]);
        assert!(added.contains("success"), "{added}");
        std::thread::sleep(Duration::from_millis(2000));
        let list = remote(port, &["-l"]);
        assert!(list.contains("Stopped"), "{list}");
        assert!(!file.exists(), "a paused torrent wrote {}", file.display());
        remote(port, &["-t", "all", "-s"]);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !remote(port, &["-l"]).contains("100%") {
            assert!(Instant::now() < deadline, "{}", remote(port, &["-l"]));
            std::thread::sleep(Duration::from_millis(100));
        }
        remote(port, &["-t", "all", "-r"]);
        std::thread::sleep(Duration::from_millis(500));
        assert!(file.exists(), "a plain remove keeps the data");
        drop(seeder);
        drop(daemon);
    });
}
