//! uTP (BEP 29) with libtorrent 2.0 on loopback, TCP disabled on libtorrent's side
//! (`lt_peer.py --no-tcp`), so nothing can move but over uTP: we download from a libtorrent
//! seeder, and a libtorrent leecher downloads from our seeder, on 127.0.0.1 and on [::1].
//! Every byte is compared; the rates are printed (`--nocapture`).

mod interop_support;

use std::time::{Duration, Instant};

use interop_support::{assert_same_tree, bounded, data, expect_success, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_listen_port, lt_peer};

/// 32 MiB: long enough for a rate, short enough to keep the suite quick.
const SIZE: u64 = 32 * 1024 * 1024;
const PIECE: u32 = 256 * 1024;

fn host(ipv6: bool) -> &'static str {
    if ipv6 { "[::1]" } else { "127.0.0.1" }
}

fn download_from_libtorrent(label: &str, ipv6: bool) {
    let work = WorkDir::new(label);
    let d = data(&work, "single", SIZE, PIECE, &[], &[]);
    let mut args = vec![
        "--torrent",
        s(&d.torrent),
        "--save",
        s(&d.dir),
        "--seed",
        "--seed-mode",
        "--no-tcp",
    ];
    if ipv6 {
        args.push("--ipv6");
    }
    let lt = lt_peer(&work, "lt-seeder", 170, &args);
    lt.wait_for_line("SEEDING", Duration::from_secs(30));
    let peer = format!("{}:{}", host(ipv6), lt_listen_port(&lt));
    let out = work.join("out");
    let port = free_port().to_string();
    let state = work.join("state");
    let started = Instant::now();
    let mut ours = sanstorrent(
        &work,
        "ours",
        110,
        &[
            "download",
            s(&d.torrent),
            "-o",
            s(&out),
            "-p",
            &port,
            "--bind",
            host(ipv6),
            "--no-dht",
            "--transport",
            "utp",
            "--peer",
            &peer,
            "--state-dir",
            s(&state),
        ],
    );
    expect_success(
        &mut ours,
        "sanstorrent download over uTP",
        Duration::from_secs(115),
    );
    let secs = started.elapsed().as_secs_f64();
    assert_same_tree(&d.dir, &out);
    eprintln!(
        "{label}: {SIZE} bytes from libtorrent over uTP in {secs:.2} s ({:.1} MiB/s, process start included)",
        SIZE as f64 / secs / 1048576.0
    );
}

fn libtorrent_downloads_from_us(label: &str, ipv6: bool) {
    let work = WorkDir::new(label);
    let d = data(&work, "multi", SIZE, PIECE, &[], &[]);
    let port = free_port();
    let port_arg = port.to_string();
    let bind = if ipv6 { "::1" } else { "127.0.0.1" };
    let args = [
        "seed",
        s(&d.torrent),
        "-o",
        s(&d.dir),
        "-p",
        &port_arg,
        "--bind",
        bind,
        "--no-dht",
        "--transport",
        "utp",
    ];
    let _ours = sanstorrent(&work, "ours", 170, &args);
    // The seeder binds its sockets within a moment of starting; libtorrent dials once.
    std::thread::sleep(Duration::from_millis(1500));
    let peer = format!("{}:{port}", host(ipv6));
    let out = work.join("lt-out");
    let mut args = vec![
        "--torrent",
        s(&d.torrent),
        "--save",
        s(&out),
        "--peer",
        &peer,
        "--exit-on-done",
        "--no-tcp",
    ];
    if ipv6 {
        args.push("--ipv6");
    }
    let started = Instant::now();
    let mut lt = lt_peer(&work, "lt-leecher", 110, &args);
    let status = lt.wait(Duration::from_secs(120));
    assert!(status.success(), "libtorrent leecher: {}", lt.output());
    let secs = started.elapsed().as_secs_f64();
    assert_same_tree(&d.dir, &out);
    eprintln!(
        "{label}: libtorrent got {SIZE} bytes from us over uTP in {secs:.2} s ({:.1} MiB/s)",
        SIZE as f64 / secs / 1048576.0
    );
}

#[test]
fn download_from_libtorrent_over_utp_only() {
    bounded(150, || download_from_libtorrent("utp-down-v4", false));
}

#[test]
fn libtorrent_downloads_from_us_over_utp_only() {
    bounded(150, || libtorrent_downloads_from_us("utp-up-v4", false));
}

#[test]
fn download_from_libtorrent_over_utp_on_ipv6() {
    bounded(150, || download_from_libtorrent("utp-down-v6", true));
}

#[test]
fn libtorrent_downloads_from_us_over_utp_on_ipv6() {
    bounded(150, || libtorrent_downloads_from_us("utp-up-v6", true));
}
