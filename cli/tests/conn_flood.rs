//! Our seeder under a connection flood: 400 sockets from 400 loopback addresses
//! (`tests/interop/conn_flood.py`: silent sockets, half handshakes, a handshake byte every 3 s,
//! valid handshakes then silence, each reopened as soon as it is closed or refused) hold its
//! listener, and a libtorrent leecher that arrives during the flood still gets the whole
//! torrent, byte for byte, within a generous bound (before connections had to earn their
//! slots it got nothing in 60 s). The same through a flood of sockets that handshake, say
//! `interested` and never request.

mod interop_support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use interop_support::{assert_same_tree, bounded, data, s, seed};
use sanstorrent_tests::interop::{Proc, WorkDir, free_port, lt_peer, python};

const SOCKETS: u32 = 400;

/// The flood script, beside the simulator's interop helpers.
fn flood_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/conn_flood.py")
}

/// The `connects=` count of the flood's latest report.
fn flood_connects(flood: &Proc) -> u64 {
    flood
        .output()
        .lines()
        .rev()
        .find_map(|l| l.split("connects=").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn libtorrent_leecher_is_served_through_a_connection_flood() {
    served_through_flood("conn-flood", &[], "flood");
}

/// The flood's sockets handshake, say `interested` and never request: each wastes the unchoke
/// it gets and gives way (before, they held every slot: see `tests/tests/connection_flood.rs`).
#[test]
fn libtorrent_leecher_is_served_through_an_interested_flood() {
    served_through_flood(
        "conn-flood-interested",
        &["--interested"],
        "interested flood",
    );
}

fn served_through_flood(
    name: &'static str,
    flood_args: &'static [&'static str],
    label: &'static str,
) {
    bounded(170, move || {
        let work = WorkDir::new(name);
        let d = data(&work, "single", 4_000_000, 64 * 1024, &[], &[]);
        let port = free_port();
        let _ours = seed(&work, "ours", &d, port, 160, &["--no-dht"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "our seeder never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut cmd = Command::new(python());
        cmd.arg(flood_script()).args([
            "--target",
            &format!("127.0.0.1:{port}"),
            "--info-hash",
            &d.info_hash,
            "--sockets",
            &SOCKETS.to_string(),
            "--seconds",
            "150",
        ]);
        cmd.args(flood_args);
        let flood = Proc::spawn(cmd, work.join("flood.log"));
        // Let the flood take hold: every socket has connected at least once.
        let deadline = Instant::now() + Duration::from_secs(30);
        while flood_connects(&flood) < u64::from(SOCKETS) {
            assert!(
                Instant::now() < deadline,
                "the flood did not start:\n{}",
                flood.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(3));
        let before = flood_connects(&flood);
        let out = work.join("lt-out");
        let started = Instant::now();
        let mut lt = lt_peer(
            &work,
            "lt-leecher",
            100,
            &[
                "--torrent",
                s(&d.torrent),
                "--save",
                s(&out),
                "--exit-on-done",
                "--no-utp",
                "--peer",
                &format!("127.0.0.1:{port}"),
            ],
        );
        let status = lt.wait(Duration::from_secs(110));
        let took = started.elapsed();
        // The flood reports once a second: its next reports show it kept going meanwhile.
        std::thread::sleep(Duration::from_secs(2));
        let during = flood_connects(&flood) - before;
        eprintln!(
            "{label}: libtorrent leecher served in {took:?} while {SOCKETS} flood sockets \
             opened {during} connections (until 2 s after)"
        );
        assert!(status.success(), "libtorrent leecher: {}", lt.output());
        assert_same_tree(&d.dir, &out);
        assert!(
            took < Duration::from_secs(90),
            "served in {took:?} under the {label}"
        );
        assert!(
            during >= u64::from(SOCKETS),
            "the flood reopened only {during} connections meanwhile: it tested nothing"
        );
    });
}
