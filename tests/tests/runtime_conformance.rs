//! One conformance suite for both runtimes (`sanstorrent-smol`, `sanstorrent-tokio`): our
//! seeder → our leechers on real loopback sockets, data verified byte for byte.

mod runtime_support;

macro_rules! conformance {
    ($name:ident, $rt:ident) => {
        mod $name {
            use crate::runtime_support::{assert_same_tree, black_hole, bounded, data, files};
            use sanstorrent_tests::interop::WorkDir;

            crate::runtime_helpers!($rt);

            fn one_to_one(layout: &'static str, size: u64, piece: u32) {
                bounded(180, move || {
                    $rt::block_on(async move {
                        let work = WorkDir::new(concat!("rt-", stringify!($name)));
                        let d = data(&work, layout, size, piece, &[]);
                        let (seed, st) = seeder(&work.join("s-state"), &d.torrent, &d.dir).await;
                        wait_seeding(&seed, st.id).await;
                        let out = work.join("out");
                        let peers = vec![seed.listen_addr()];
                        let (leech, lt) = leecher(&work.join("l-state"), &d.torrent, &out, peers).await;
                        assert_eq!(lt.info_hash.to_hex(), d.info_hash);
                        wait_complete(&leech, lt.id, "leecher").await;
                        let stats = leech.stats(lt.id).await.expect("runs").expect("torrent");
                        assert_eq!(stats.pieces_have, stats.piece_count);
                        let detail = sanstorrent_core::session::SnapshotDetail {
                            pieces: true,
                            files: true,
                            ..Default::default()
                        };
                        let unknown = sanstorrent_core::session::TorrentId(u32::MAX);
                        let snaps = leech.snapshots(vec![lt.id, unknown], detail).await.expect("runs");
                        let snap = snaps[0].as_ref().expect("the torrent");
                        assert!(snap.pieces.as_ref().is_some_and(|p| p.is_full()));
                        assert_eq!(snap.file_bytes.iter().sum::<u64>(), size);
                        assert!(snaps[1].is_none());
                        leech.stop().await.expect("leecher stops");
                        seed.stop().await.expect("seeder stops");
                        assert_same_tree(&d.dir, &out);
                        // A graceful stop saved resume data for the torrent.
                        let resume = work.join("l-state").join(format!("{}.resume", d.info_hash));
                        assert!(resume.exists(), "no resume data at {resume:?}");
                    })
                })
            }

            #[test]
            fn starts_accepts_and_stops() {
                bounded(60, || {
                    $rt::block_on(async {
                        let work = WorkDir::new(concat!("rt0-", stringify!($name)));
                        let mut config = ClientConfig::loopback();
                        config.state_dir = Some(work.join("state"));
                        config.session.shutdown_timeout = std::time::Duration::from_secs(1);
                        let c = Client::new(config).await.expect("starts");
                        let addr = c.listen_addr();
                        assert_ne!(addr.port(), 0);
                        assert_eq!(c.udp_addr().port(), addr.port());
                        // A connection that never handshakes is accepted, then closed by the
                        // session (no torrent); either way the socket ends.
                        let mut s = std::net::TcpStream::connect(addr).expect("accepts");
                        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
                        let _ = std::io::Write::write_all(&mut s, b"\x13BitTorrent protocol");
                        let started = std::time::Instant::now();
                        c.stop().await.expect("stops");
                        assert!(started.elapsed() < std::time::Duration::from_secs(20));
                        let mut buf = [0u8; 64];
                        let n = std::io::Read::read(&mut s, &mut buf);
                        assert!(matches!(n, Ok(0) | Err(_)), "socket still open after stop: {n:?}");
                        assert!(std::net::TcpStream::connect(addr).is_err(), "listener still open");
                    })
                })
            }

            /// Waits for the first event that `pick` maps to a value.
            async fn wait_for<T>(c: &Client, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
                loop {
                    match c.next_event().await {
                        Some(e) => {
                            if let Some(v) = pick(&e) {
                                return v;
                            }
                        }
                        None => panic!("client stopped"),
                    }
                }
            }

            #[test]
            fn stop_start_recheck_and_remove_with_data() {
                bounded(180, || {
                    $rt::block_on(async {
                        let work = WorkDir::new(concat!("rtc-", stringify!($name)));
                        let d = data(&work, "multi", 2_000_000, 32 * 1024, &[]);
                        let (seed, st) = seeder(&work.join("s-state"), &d.torrent, &d.dir).await;
                        wait_seeding(&seed, st.id).await;
                        let out = work.join("out");
                        let state = work.join("l-state");
                        let peers = vec![seed.listen_addr()];
                        let (leech, lt) = leecher(&state, &d.torrent, &out, peers).await;
                        wait_complete(&leech, lt.id, "leecher").await;
                        let stopped = |e: &Event| matches!(e, Event::TorrentStopped { torrent } if *torrent == lt.id).then_some(());
                        leech.stop_torrent(lt.id).await.expect("stops");
                        wait_for(&leech, stopped).await;

                        // Damage one piece while stopped: a start trusts what was verified.
                        let first = out.join(&files(&out)[0]);
                        let mut bytes = std::fs::read(&first).expect("downloaded file");
                        bytes[100] ^= 0xff;
                        std::fs::write(&first, &bytes).expect("damaged");
                        leech.start_torrent(lt.id).await.expect("starts");
                        let s = leech.stats(lt.id).await.expect("runs").expect("torrent");
                        assert_eq!(s.pieces_have, s.piece_count, "started without a check");

                        // A recheck finds the damaged piece and downloads it again.
                        leech.recheck_torrent(lt.id).await.expect("rechecks");
                        let hashing = wait_for(&leech, |e| match e {
                            Event::Checking { torrent, pieces } if *torrent == lt.id => Some(*pieces),
                            _ => None,
                        })
                        .await;
                        assert_eq!(hashing, s.piece_count, "every piece is hashed");
                        let have = wait_for(&leech, |e| match e {
                            Event::Checked { torrent, have, .. } if *torrent == lt.id => Some(*have),
                            _ => None,
                        })
                        .await;
                        assert_eq!(have + 1, s.piece_count, "the check drops the damaged piece");
                        wait_complete(&leech, lt.id, "leecher after the recheck").await;
                        assert_same_tree(&d.dir, &out);
                        leech.reannounce(lt.id).await.expect("no tracker: nothing to do");

                        leech.remove_torrent(lt.id, true).await.expect("removes");
                        wait_for(&leech, |e| matches!(e, Event::TorrentRemoved { torrent, .. } if *torrent == lt.id).then_some(())).await;
                        assert!(leech.stats(lt.id).await.expect("runs").is_none(), "gone");
                        assert!(leech.start_torrent(lt.id).await.is_err(), "unknown now");
                        // The deletion runs on the state writer: wait for it.
                        let resume = state.join(format!("{}.resume", d.info_hash));
                        for _ in 0..500 {
                            if files(&out).is_empty() && !resume.exists() {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        assert_eq!(files(&out), Vec::<std::path::PathBuf>::new(), "files deleted");
                        assert!(out.exists(), "the download directory stays");
                        assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0, "emptied directories deleted");
                        assert!(!resume.exists(), "resume data deleted");
                        leech.stop().await.expect("leecher stops");
                        seed.stop().await.expect("seeder stops");
                        assert!(d.dir.exists() && !files(&d.dir).is_empty(), "the seeder's data stays");
                    })
                })
            }

            /// A dial that never completes is closed by the session's connect timeout (the
            /// runtime has none of its own).
            #[test]
            fn a_dial_that_never_completes_is_closed_by_the_session() {
                bounded(60, || {
                    $rt::block_on(async {
                        use sanstorrent_core::session::PeerCloseReason;
                        use std::time::{Duration, Instant};

                        let (_listener, _queued, hole) = black_hole();
                        let work = WorkDir::new(concat!("rtd-", stringify!($name)));
                        let mut config = ClientConfig::loopback();
                        config.state_dir = Some(work.join("state"));
                        let timeout = Duration::from_secs(2);
                        config.session.connect_timeout = timeout;
                        let c = Client::new(config).await.expect("starts");
                        let options = TorrentOptions { peers: vec![hole], ..TorrentOptions::default() };
                        let started = Instant::now();
                        let uri = format!("magnet:?xt=urn:btih:{}", "ab".repeat(20));
                        c.add_magnet(&uri, work.join("out"), options).await.expect("added");
                        let reason = wait_for(&c, |e| match e {
                            Event::PeerClosed { addr, reason, .. } if *addr == hole => Some(reason.clone()),
                            _ => None,
                        })
                        .await;
                        let took = started.elapsed();
                        assert_eq!(reason, PeerCloseReason::ConnectFailed(std::io::ErrorKind::TimedOut));
                        assert!(
                            took >= timeout - Duration::from_millis(100) && took < timeout + Duration::from_secs(3),
                            "closed after {took:?}, the connect timeout is {timeout:?}"
                        );
                        c.stop().await.expect("stops");
                    })
                })
            }

            #[test]
            fn a_stopped_torrent_seeds_from_another_directory() {
                bounded(180, || {
                    $rt::block_on(async {
                        let work = WorkDir::new(concat!("rtd-", stringify!($name)));
                        let d = data(&work, "multi", 2_000_000, 32 * 1024, &[]);
                        let (seed, st) = seeder(&work.join("s-state"), &d.torrent, &d.dir).await;
                        wait_seeding(&seed, st.id).await;
                        let moved = work.join("moved");
                        let refused = seed.set_download_dir(st.id, &moved).await;
                        assert!(
                            matches!(refused, Err($rt::ClientError::NotStopped(t)) if t == st.id),
                            "{refused:?}"
                        );
                        seed.stop_torrent(st.id).await.expect("stops");
                        seed.stopped(st.id).await.expect("stopped");
                        seed.stopped(st.id).await.expect("already stopped: answered at once");
                        let unknown = TorrentId(u32::MAX);
                        assert!(seed.stopped(unknown).await.is_err(), "no such torrent");
                        assert!(seed.set_download_dir(unknown, &moved).await.is_err());

                        std::fs::rename(&d.dir, &moved).expect("the files move");
                        seed.set_download_dir(st.id, &moved).await.expect("a new directory");
                        seed.start_torrent(st.id).await.expect("starts");
                        let s = seed.stats(st.id).await.expect("runs").expect("torrent");
                        assert_eq!(s.pieces_have, s.piece_count, "started without a check");
                        assert_eq!(s.phase, sanstorrent_core::session::TorrentPhase::Seeding);

                        let out = work.join("out");
                        let peers = vec![seed.listen_addr()];
                        let (leech, lt) = leecher(&work.join("l-state"), &d.torrent, &out, peers).await;
                        wait_complete(&leech, lt.id, "leecher").await;
                        leech.stop().await.expect("leecher stops");
                        seed.stop().await.expect("seeder stops");
                        assert_same_tree(&moved, &out);
                        assert!(!d.dir.exists(), "nothing was written at the old place");
                    })
                })
            }

            #[test]
            fn seeder_to_leecher_single_file() {
                one_to_one("single", 5_000_000, 64 * 1024);
            }

            #[test]
            fn seeder_to_leecher_multi_file() {
                one_to_one("multi", 3_000_000, 32 * 1024);
            }

            #[test]
            fn one_seeder_five_leechers() {
                bounded(240, || {
                    $rt::block_on(async {
                        let work = WorkDir::new(concat!("rt5-", stringify!($name)));
                        let d = data(&work, "multi", 8_000_000, 32 * 1024, &[]);
                        let (seed, st) = seeder(&work.join("s-state"), &d.torrent, &d.dir).await;
                        wait_seeding(&seed, st.id).await;
                        let mut leechers = Vec::new();
                        for i in 0..5 {
                            let c = client(&work.join(&format!("l{i}-state"))).await;
                            leechers.push(c);
                        }
                        let addrs: Vec<_> = leechers.iter().map(|c| c.listen_addr()).collect();
                        let mut handles = Vec::new();
                        for (i, c) in leechers.iter().enumerate() {
                            // Each leecher knows the seeder and every other leecher.
                            let mut peers = vec![seed.listen_addr()];
                            peers.extend(addrs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| *a));
                            let options = TorrentOptions { peers, ..TorrentOptions::default() };
                            let out = work.join(&format!("out{i}"));
                            let t = c.add_torrent_file(&d.torrent, &out, options).await.expect("added");
                            handles.push(t);
                        }
                        for (i, (c, t)) in leechers.iter().zip(&handles).enumerate() {
                            wait_complete(c, t.id, &format!("leecher {i}")).await;
                        }
                        // Leechers traded among themselves, not only with the seeder.
                        let mut from_leechers = 0;
                        for (c, t) in leechers.iter().zip(&handles) {
                            let s = c.stats(t.id).await.expect("runs").expect("torrent");
                            from_leechers += s.uploaded;
                        }
                        let seeded = seed.stats(st.id).await.expect("runs").expect("torrent").uploaded;
                        eprintln!("seeder uploaded {seeded} bytes, leechers uploaded {from_leechers} bytes");
                        assert!(from_leechers > 0, "leechers never traded with each other");
                        for (i, c) in leechers.into_iter().enumerate() {
                            c.stop().await.expect("stops");
                            assert_same_tree(&d.dir, &work.join(&format!("out{i}")));
                        }
                        seed.stop().await.expect("seeder stops");
                    })
                })
            }
        }
    };
}

conformance!(smol, sanstorrent_smol);
conformance!(tokio, sanstorrent_tokio);
