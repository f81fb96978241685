//! Both runtimes against real peers on 127.0.0.1: download from a libtorrent seeder found
//! through opentracker over HTTP and over UDP, and a libtorrent leecher downloading from our
//! seeder (found through the tracker too), the same leecher requiring RC4 encryption (the MSE
//! handshake and an encrypted payload), a libtorrent seeder requiring it (we open the MSE
//! handshake), and Transmission downloading from our seeder, which must dial it (Transmission
//! never dials 127.0.0.0/8). Data verified byte for byte.

mod runtime_support;

macro_rules! interop {
    ($name:ident, $rt:ident) => {
        mod $name {
            use std::time::Duration;

            use crate::runtime_support::{assert_same_tree, bounded, data};
            use sanstorrent_tests::interop::{Proc, Tracker, WorkDir, lt_peer};

            crate::runtime_helpers!($rt);

            fn from_libtorrent(udp: bool) {
                bounded(180, move || {
                    let work = WorkDir::new(concat!("rti-", stringify!($name)));
                    let tracker = Tracker::start(&work, "trk");
                    let url = if udp {
                        tracker.udp_url()
                    } else {
                        tracker.http_url()
                    };
                    let d = data(&work, "multi", 6_000_000, 64 * 1024, &[&url]);
                    tracker.allow(&d.info_hash);
                    let lt = lt_peer(
                        &work,
                        "lt-seeder",
                        170,
                        &[
                            "--torrent",
                            d.torrent.to_str().expect("UTF-8"),
                            "--save",
                            d.dir.to_str().expect("UTF-8"),
                            "--seed",
                            "--seed-mode",
                            "--no-utp",
                        ],
                    );
                    lt.wait_for_line("SEEDING", Duration::from_secs(30));
                    let out = work.join("out");
                    $rt::block_on(async {
                        // No peers given: the tracker is the only way to find libtorrent.
                        let (c, t) = leecher(&work.join("state"), &d.torrent, &out, vec![]).await;
                        wait_complete(&c, t.id, "leecher").await;
                        c.stop().await.expect("stops");
                    });
                    assert_same_tree(&d.dir, &out);
                })
            }

            #[test]
            fn download_from_libtorrent_via_http_tracker() {
                from_libtorrent(false);
            }

            #[test]
            fn download_from_libtorrent_via_udp_tracker() {
                from_libtorrent(true);
            }

            /// Our seeder, found through opentracker, serves a 6 MB file to the libtorrent
            /// leecher that `spawn` starts (given the torrent and where to save it); the
            /// leecher must print `DONE`, exit 0 and hold the same bytes.
            fn libtorrent_leeches(
                label: &str,
                spawn: fn(&WorkDir, &std::path::Path, &std::path::Path) -> Proc,
            ) {
                let label = format!("{label}-{}", stringify!($name));
                bounded(180, move || {
                    let work = WorkDir::new(&label);
                    let tracker = Tracker::start(&work, "trk");
                    let d = data(
                        &work,
                        "single",
                        6_000_000,
                        64 * 1024,
                        &[&tracker.http_url()],
                    );
                    tracker.allow(&d.info_hash);
                    let out = work.join("lt-out");
                    $rt::block_on(async {
                        let (c, t) = seeder(&work.join("state"), &d.torrent, &d.dir).await;
                        wait_seeding(&c, t.id).await;
                        let mut lt = spawn(&work, &d.torrent, &out);
                        let done = lt.wait_for_line("DONE", Duration::from_secs(150));
                        eprintln!("libtorrent: {done}");
                        let status = lt.wait(Duration::from_secs(20));
                        assert!(status.success(), "libtorrent leecher failed: {}", lt.output());
                        c.stop().await.expect("stops");
                    });
                    assert_same_tree(&d.dir, &out);
                })
            }

            #[test]
            fn libtorrent_downloads_from_us() {
                libtorrent_leeches("rto", |work, torrent, out| {
                    lt_peer(
                        work,
                        "lt-leecher",
                        150,
                        &[
                            "--torrent",
                            torrent.to_str().expect("UTF-8"),
                            "--save",
                            out.to_str().expect("UTF-8"),
                            "--exit-on-done",
                            "--no-utp",
                        ],
                    )
                });
            }

            /// The MSE handshake and an RC4-encrypted payload, as libtorrent does them.
            #[test]
            fn libtorrent_requiring_rc4_downloads_from_us() {
                libtorrent_leeches("rte", |work, torrent, out| {
                    crate::lt_encrypted(work, "lt-encrypted", torrent, out, &["--timeout", "150"])
                });
            }

            /// A libtorrent seeder that hangs up on plain BitTorrent and wants an RC4 payload,
            /// and no tracker: we dial it plain, are hung up on, redial at once with the MSE
            /// handshake, and download over RC4.
            #[test]
            fn download_from_libtorrent_requiring_rc4() {
                bounded(180, move || {
                    let work = WorkDir::new(concat!("rtd-", stringify!($name)));
                    let d = data(&work, "single", 6_000_000, 64 * 1024, &[]);
                    let lt = crate::lt_encrypted(
                        &work,
                        "lt-encrypted-seeder",
                        &d.torrent,
                        &d.dir,
                        &["--seed", "--timeout", "170"],
                    );
                    let port = sanstorrent_tests::interop::lt_listen_port(&lt);
                    lt.wait_for_line("SEEDING", Duration::from_secs(30));
                    let out = work.join("out");
                    let peer = SocketAddr::from(([127, 0, 0, 1], port));
                    $rt::block_on(async {
                        let (c, t) =
                            leecher(&work.join("state"), &d.torrent, &out, vec![peer]).await;
                        wait_complete(&c, t.id, "leecher").await;
                        c.stop().await.expect("stops");
                    });
                    assert_same_tree(&d.dir, &out);
                })
            }

#[test]
            fn transmission_downloads_from_us() {
                bounded(150, move || {
                    let work = WorkDir::new(concat!("rtt-", stringify!($name)));
                    let tracker = Tracker::start(&work, "trk");
                    let d = data(&work, "single", 3_000_000, 64 * 1024, &[&tracker.http_url()]);
                    tracker.allow(&d.info_hash);
                    let out = work.join("tr-out");
                    let conf = work.join("trconf");
                    std::fs::create_dir_all(&out).expect("out dir");
                    std::fs::create_dir_all(&conf).expect("conf dir");
                    let port = sanstorrent_tests::interop::free_port();
                    std::fs::write(conf.join("settings.json"), format!(
                        r#"{{ "dht-enabled": false, "lpd-enabled": false, "pex-enabled": true,
                        "utp-enabled": false, "port-forwarding-enabled": false, "rpc-enabled": false,
                        "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
                        "peer-port": {port}, "peer-port-random-on-start": false,
                        "rename-partial-files": false, "start-added-torrents": true,
                        "blocklist-enabled": false, "message-level": 1, "encryption": 1 }}"#
                    )).expect("settings");
                    let finished = conf.join("finished");
                    let fin = conf.join("fin.sh");
                    std::fs::write(&fin, format!("#!/bin/sh\ntouch '{}'\n", finished.display())).expect("fin.sh");
                    let _ = std::process::Command::new("chmod").arg("+x").arg(&fin).status();
                    sanstorrent_tests::interop::require_tool("transmission-cli");
                    let mut cmd = std::process::Command::new("transmission-cli");
                    cmd.arg("-g").arg(&conf).arg("-w").arg(&out).arg("-f").arg(&fin).arg(&d.torrent);
                    let tr = sanstorrent_tests::interop::Proc::spawn(cmd, work.join("transmission.log"));
                    // Transmission announces first; our seeder then learns its address.
                    std::thread::sleep(Duration::from_secs(3));
                    $rt::block_on(async {
                        let (c, t) = seeder(&work.join("state"), &d.torrent, &d.dir).await;
                        wait_seeding(&c, t.id).await;
                        let deadline = std::time::Instant::now() + Duration::from_secs(120);
                        while !finished.exists() {
                            assert!(
                                std::time::Instant::now() < deadline,
                                "transmission did not finish: {}",
                                tr.output()
                            );
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        c.stop().await.expect("stops");
                    });
                    drop(tr);
                    assert_same_tree(&d.dir, &out);
                })
            }
        }
    };
}

/// `tests/interop/lt_encrypted_peer.py` (a libtorrent peer requiring RC4 encryption) on
/// `torrent`, saving to (or, with `--seed`, seeding from) `save`, with `args` added.
fn lt_encrypted(
    work: &sanstorrent_tests::interop::WorkDir,
    name: &str,
    torrent: &std::path::Path,
    save: &std::path::Path,
    args: &[&str],
) -> sanstorrent_tests::interop::Proc {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/lt_encrypted_peer.py");
    let mut cmd = std::process::Command::new(sanstorrent_tests::interop::python());
    cmd.arg(script)
        .arg("--torrent")
        .arg(torrent)
        .arg("--save")
        .arg(save)
        .arg("--rc4-only")
        .args(args);
    sanstorrent_tests::interop::Proc::spawn(cmd, work.join(&format!("{name}.log")))
}

interop!(smol, sanstorrent_smol);
interop!(tokio, sanstorrent_tokio);
