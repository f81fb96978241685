//! Both runtimes against real peers on 127.0.0.1: download from a libtorrent seeder found
//! through opentracker over HTTP and over UDP, and a libtorrent leecher downloading from our
//! seeder (found through the tracker too). Data verified byte for byte.

mod runtime_support;

macro_rules! interop {
    ($name:ident, $rt:ident) => {
        mod $name {
            use std::time::Duration;

            use crate::runtime_support::{assert_same_tree, bounded, data};
            use sanstorrent_tests::interop::{Tracker, WorkDir, lt_peer};

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

            #[test]
            fn libtorrent_downloads_from_us() {
                bounded(180, move || {
                    let work = WorkDir::new(concat!("rto-", stringify!($name)));
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
                        let mut lt = lt_peer(
                            &work,
                            "lt-leecher",
                            150,
                            &[
                                "--torrent",
                                d.torrent.to_str().expect("UTF-8"),
                                "--save",
                                out.to_str().expect("UTF-8"),
                                "--exit-on-done",
                                "--no-utp",
                            ],
                        );
                        let done = lt.wait_for_line("DONE", Duration::from_secs(150));
                        eprintln!("libtorrent: {done}");
                        let status = lt.wait(Duration::from_secs(20));
                        assert!(
                            status.success(),
                            "libtorrent leecher failed: {}",
                            lt.output()
                        );
                        c.stop().await.expect("stops");
                    });
                    assert_same_tree(&d.dir, &out);
                })
            }
        }
    };
}

interop!(smol, sanstorrent_smol);
interop!(tokio, sanstorrent_tokio);
