//! Shared by the runtime conformance and interop tests: test data, tree comparison, a time
//! bound, and [`runtime_helpers!`], the async helpers written once for both runtimes.

#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sanstorrent_tests::interop::{WorkDir, mktorrent};

/// A generated torrent: its file, the directory holding the data, and the info-hash (hex).
pub struct Data {
    pub torrent: PathBuf,
    pub dir: PathBuf,
    pub info_hash: String,
}

/// Generates `size` bytes of data in `layout` ("single" or "multi") and its .torrent.
pub fn data(work: &WorkDir, layout: &str, size: u64, piece: u32, trackers: &[&str]) -> Data {
    let dir = work.join(&format!("src-{layout}"));
    let torrent = work.join(&format!("{layout}.torrent"));
    let (size, piece) = (size.to_string(), piece.to_string());
    let mut args = vec![
        "both",
        "--layout",
        layout,
        "--dir",
        dir.to_str().expect("UTF-8 path"),
        "--size",
        &size,
        "--seed",
        "7",
        "--piece-size",
        &piece,
        "--torrent",
        torrent.to_str().expect("UTF-8 path"),
    ];
    for t in trackers {
        args.extend(["--tracker", t]);
    }
    let json = mktorrent(&args);
    let info_hash = json
        .split("\"infohash\": \"")
        .nth(1)
        .and_then(|s| s.get(..40))
        .expect("mktorrent.py prints the info-hash")
        .to_string();
    // The torrent must parse with our own parser too.
    let bytes = fs::read(&torrent).expect("torrent written");
    let meta = sanstorrent_core::metainfo::Metainfo::from_bytes(&bytes).expect("valid torrent");
    assert_eq!(meta.info_hash().to_hex(), info_hash);
    Data {
        torrent,
        dir,
        info_hash,
    }
}

/// Every file under `a` exists under `b` with the same bytes, and the other way round.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(fa, fb, "file lists differ between {a:?} and {b:?}");
    assert!(!fa.is_empty(), "no files under {a:?}");
    for rel in fa {
        let (x, y) = (fs::read(a.join(&rel)), fs::read(b.join(&rel)));
        let (x, y) = (x.expect("source file"), y.expect("downloaded file"));
        assert!(x == y, "{rel:?} differs ({} vs {} bytes)", x.len(), y.len());
    }
}

/// The files under `root` (relative, sorted; `.tmp` files left out). A directory that vanishes
/// during the walk (a removal with data deleting emptied folders) is skipped.
pub fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d != root => continue,
            entries => entries.expect("readable dir"),
        };
        for e in entries {
            let Ok(e) = e else { continue };
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".tmp") {
                out.push(p.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// An address on 127.0.0.1 whose connects never complete: a listener that never accepts, its
/// accept queue filled (the kernel then drops new SYNs). Keep the listener and the streams.
pub fn black_hole() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("bound");
    let mut queued = Vec::new();
    for _ in 0..4096 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (listener, queued, addr),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue of {addr} never filled");
}

/// Runs `f` on its own thread and fails the test if it takes longer than `secs`.
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test took more than {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test body panicked (see above)"),
    }
}

/// Async helpers over one runtime crate's API (`$rt` is `sanstorrent_smol` or
/// `sanstorrent_tokio`); the two crates have the same API, so these are written once.
#[macro_export]
macro_rules! runtime_helpers {
    ($rt:ident) => {
        use std::net::SocketAddr;
        use std::path::Path;

        use $rt::{Client, ClientConfig, Event, TorrentHandle, TorrentId, TorrentOptions};

        /// A client on 127.0.0.1 (free ports, no DHT), with its state in `state`.
        async fn client(state: &Path) -> Client {
            let config = ClientConfig {
                state_dir: Some(state.to_path_buf()),
                ..ClientConfig::loopback()
            };
            Client::new(config).await.expect("client starts")
        }

        /// A client seeding the torrent from `dir`.
        async fn seeder(state: &Path, torrent: &Path, dir: &Path) -> (Client, TorrentHandle) {
            let c = client(state).await;
            let options = TorrentOptions {
                seed_only: true,
                ..TorrentOptions::default()
            };
            let t = c
                .add_torrent_file(torrent, dir, options)
                .await
                .expect("seeder adds the torrent");
            (c, t)
        }

        /// A client downloading the torrent into `dir` from `peers`.
        async fn leecher(
            state: &Path,
            torrent: &Path,
            dir: &Path,
            peers: Vec<SocketAddr>,
        ) -> (Client, TorrentHandle) {
            let c = client(state).await;
            let options = TorrentOptions {
                peers,
                ..TorrentOptions::default()
            };
            let t = c
                .add_torrent_file(torrent, dir, options)
                .await
                .expect("leecher adds the torrent");
            (c, t)
        }

        /// Waits for `Event::TorrentComplete` of `torrent` (or a completed check), printing
        /// errors on the way.
        async fn wait_complete(c: &Client, torrent: TorrentId, who: &str) {
            loop {
                match c.next_event().await {
                    Some(Event::TorrentComplete { torrent: t }) if t == torrent => return,
                    Some(Event::Error { error, .. }) => eprintln!("{who}: error: {error}"),
                    Some(Event::PeerClosed { addr, reason, .. }) => {
                        eprintln!("{who}: peer {addr} closed: {reason}")
                    }
                    Some(_) => {}
                    None => panic!("{who}: client stopped before completing"),
                }
            }
        }

        /// Waits until a seeder has checked its data (so leechers find a seed).
        async fn wait_seeding(c: &Client, torrent: TorrentId) {
            loop {
                let stats = c.stats(torrent).await.expect("client runs");
                if stats.is_some_and(|s| s.piece_count > 0 && s.pieces_have == s.piece_count) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    };
}
