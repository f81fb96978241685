//! uTP (BEP 29) with libtorrent 2.0 on loopback, TCP disabled on libtorrent's side
//! (`lt_peer.py --no-tcp`), so nothing can move but over uTP: we download from a libtorrent
//! seeder, and a libtorrent leecher downloads from our seeder, on 127.0.0.1 and on [::1].
//! Transmission 3.00 (uTP enabled in its settings) downloads from our seeder running with
//! `--transport utp`, which logs each peer's transport; on 127.0.0.1 only: Transmission 3.00
//! opens its UDP socket (uTP, DHT) for IPv4, and one for IPv6 only when the host has a global
//! IPv6 address (`tr_globalIPv6`), so on [::1] it listens for TCP but never answers a uTP SYN.
//! Every byte is compared; the rates are printed (`--nocapture`).

mod interop_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interop_support::{Bounded, assert_same_tree, bounded, data, expect_success, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_listen_port, lt_peer, require_tool};

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

/// A Transmission configuration directory with uTP on, listening on `port` at 127.0.0.1 and
/// [::1] (no DHT, LPD, PEX or port forwarding), and the script it runs when the download ends
/// (it creates `<conf>/finished`).
fn transmission_conf(work: &WorkDir, port: u16) -> PathBuf {
    let conf = work.join("trconf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    std::fs::write(
        conf.join("settings.json"),
        format!(
            r#"{{ "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
            "utp-enabled": true, "port-forwarding-enabled": false, "rpc-enabled": false,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
            "peer-port": {port}, "peer-port-random-on-start": false,
            "rename-partial-files": false, "start-added-torrents": true,
            "blocklist-enabled": false, "message-level": 2, "encryption": 1 }}"#
        ),
    )
    .expect("settings");
    let fin = conf.join("fin.sh");
    let finished = conf.join("finished");
    std::fs::write(&fin, format!("#!/bin/sh\ntouch '{}'\n", finished.display())).expect("fin.sh");
    let chmod = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fin)
        .status();
    assert!(chmod.is_ok_and(|s| s.success()), "chmod fin.sh");
    conf
}

/// Transmission downloads from our seeder over uTP: Transmission never dials loopback
/// addresses, so our seeder (`--transport utp`, no TCP at all) is given Transmission's address
/// and dials it; its log must name the connection uTP.
fn transmission_downloads_from_us(label: &str, ipv6: bool) {
    require_tool("transmission-cli");
    let work = WorkDir::new(label);
    // Single file: Transmission 3.00 does not create zero-length files.
    let d = data(&work, "single", 8 * 1024 * 1024, PIECE, &[], &[]);
    let out = work.join("tr-out");
    std::fs::create_dir_all(&out).expect("out dir");
    let tr_port = free_port();
    let conf = transmission_conf(&work, tr_port);
    let finished = conf.join("finished");
    let fin = conf.join("fin.sh");
    let tr = Bounded::spawn(
        160,
        "transmission-cli",
        &["-g", s(&conf), "-w", s(&out), "-f", s(&fin), s(&d.torrent)],
        &[],
        work.join("transmission.log"),
    );
    // Transmission opens its sockets within a moment of starting.
    std::thread::sleep(Duration::from_millis(1500));
    let port = free_port().to_string();
    let peer = format!("{}:{tr_port}", host(ipv6));
    let bind = if ipv6 { "::1" } else { "127.0.0.1" };
    let started = Instant::now();
    let ours = sanstorrent_logged(
        &work,
        "ours",
        170,
        &[
            "seed",
            s(&d.torrent),
            "-o",
            s(&d.dir),
            "-p",
            &port,
            "--bind",
            bind,
            "--no-dht",
            "--transport",
            "utp",
            "--peer",
            &peer,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !finished.exists() {
        assert!(
            Instant::now() < deadline,
            "Transmission did not finish; its log:\n{}\nour log:\n{}",
            tr.output(),
            ours.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = started.elapsed().as_secs_f64();
    drop(tr);
    assert_same_tree(&d.dir, &out);
    let log = ours.output();
    let line = format!("peer {peer} connected over uTP");
    assert!(log.contains(&line), "no {line:?} in our log:\n{log}");
    assert!(!log.contains("over TCP"), "a TCP peer in our log:\n{log}");
    eprintln!("{label}: Transmission got 8 MiB from us over uTP in {secs:.2} s");
}

/// [`sanstorrent`] with its peer connections logged (`RUST_LOG`).
fn sanstorrent_logged(work: &WorkDir, name: &str, secs: u32, args: &[&str]) -> Bounded {
    let home = work.join(&format!("{name}-home"));
    std::fs::create_dir_all(&home).expect("home dir");
    let envs = [
        ("HOME", home.clone()),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_STATE_HOME", home.join("state")),
        ("RUST_LOG", PathBuf::from("warn,sanstorrent_cli=debug")),
    ];
    let log = work.join(&format!("{name}.log"));
    Bounded::spawn(secs, interop_support::bin(), args, &envs, log)
}

#[test]
fn transmission_downloads_from_us_over_utp() {
    bounded(180, || transmission_downloads_from_us("utp-tr-v4", false));
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
