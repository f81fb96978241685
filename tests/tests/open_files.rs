//! One bounded cache of open files per client: a 20-file torrent moves from our seeder to our
//! leecher, each allowed 4 open files, on real loopback sockets and real files. The caches'
//! own counts never pass 4, and the descriptors the process really holds on the data stay near
//! that (an evicted handle stays open until the read or write using it ends).

mod runtime_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runtime_support::{assert_same_tree, bounded};
use sanstorrent_core::create::TorrentBuilder;
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_runtime_common::storage::HandleCache;
use sanstorrent_tests::interop::WorkDir;
use sanstorrent_tokio::{Client, ClientConfig, Event, TorrentId, TorrentOptions};

const FILES: usize = 20;
const LIMIT: usize = 4;
const PIECE: u32 = 16 * 1024;

/// 20 files of uneven sizes (so pieces straddle files) under `dir/many`, and their .torrent.
fn make_torrent(work: &WorkDir) -> (PathBuf, PathBuf) {
    let dir = work.join("src");
    let mut files = Vec::new();
    let mut all = Vec::new();
    for i in 0..FILES {
        let len = 9_000 + i * 3_517;
        let bytes: Vec<u8> = (0..len).map(|b| (b * 31 + i * 7) as u8).collect();
        let name = format!("f{i:02}.bin");
        let path = dir.join("many").join(&name);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, &bytes).expect("writes data");
        files.push((
            RelativePath::from_components([name.as_str()]).expect("valid"),
            len as u64,
        ));
        all.extend_from_slice(&bytes);
    }
    let builder = TorrentBuilder::multi_file("many", files)
        .expect("valid files")
        .piece_length(PIECE);
    let hashes: Vec<[u8; 20]> = all.chunks(PIECE as usize).map(sha1_digest).collect();
    let torrent = work.join("many.torrent");
    std::fs::write(&torrent, builder.build(&hashes).expect("builds")).expect("writes torrent");
    (torrent, dir)
}

async fn client(state: PathBuf, cache: &Arc<HandleCache>) -> Client {
    let mut config = ClientConfig {
        state_dir: Some(state),
        ..ClientConfig::loopback()
    };
    config.storage.cache = Some(Arc::clone(cache));
    Client::new(config).await.expect("client starts")
}

/// Files under each root this process holds open now.
fn open_under(roots: &[PathBuf]) -> Vec<usize> {
    let mut counts = vec![0; roots.len()];
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return counts;
    };
    for fd in fds.flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            for (root, n) in roots.iter().zip(&mut counts) {
                if target.starts_with(root) {
                    *n += 1;
                }
            }
        }
    }
    counts
}

async fn wait_complete(c: &Client, torrent: TorrentId) {
    loop {
        match c.next_event().await {
            Some(Event::TorrentComplete { torrent: t }) if t == torrent => return,
            Some(_) => {}
            None => panic!("the leecher stopped before completing"),
        }
    }
}

async fn wait_seeding(c: &Client, torrent: TorrentId) {
    loop {
        let stats = c.stats(torrent).await.expect("client runs");
        if stats.is_some_and(|s| s.piece_count > 0 && s.pieces_have == s.piece_count) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_twenty_file_torrent_moves_with_four_open_files_each_side() {
    bounded(180, || {
        let work = WorkDir::new("open-files");
        let (torrent, src) = make_torrent(&work);
        let out = work.join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let roots = [
            src.canonicalize().expect("exists"),
            out.canonicalize().expect("exists"),
        ];
        // Sample what the process holds open on each side while the torrent moves.
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (stop, roots) = (Arc::clone(&stop), roots.clone());
            std::thread::spawn(move || {
                let mut peak = vec![0; roots.len()];
                while !stop.load(Ordering::Relaxed) {
                    for (p, n) in peak.iter_mut().zip(open_under(&roots)) {
                        *p = (*p).max(n);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                peak
            })
        };
        let (seed_cache, leech_cache) = (HandleCache::new(LIMIT), HandleCache::new(LIMIT));
        sanstorrent_tokio::block_on(async {
            let seed = client(work.join("s-state"), &seed_cache).await;
            let st = seed
                .add_torrent_file(
                    &torrent,
                    &src,
                    TorrentOptions {
                        seed_only: true,
                        ..TorrentOptions::default()
                    },
                )
                .await
                .expect("seeder adds");
            wait_seeding(&seed, st.id).await;
            let leech = client(work.join("l-state"), &leech_cache).await;
            let lt = leech
                .add_torrent_file(
                    &torrent,
                    &out,
                    TorrentOptions {
                        peers: vec![seed.listen_addr()],
                        ..TorrentOptions::default()
                    },
                )
                .await
                .expect("leecher adds");
            wait_complete(&leech, lt.id).await;
            leech.stop().await.expect("leecher stops");
            seed.stop().await.expect("seeder stops");
        });
        stop.store(true, Ordering::Relaxed);
        let os_peak = sampler.join().expect("sampler runs");
        assert_same_tree(&src, &out);
        let peaks: BTreeMap<&str, usize> =
            BTreeMap::from([("seed", seed_cache.peak()), ("leech", leech_cache.peak())]);
        eprintln!("cache peaks {peaks:?}, descriptors seen on (src, out): {os_peak:?}");
        for (who, peak) in &peaks {
            assert!(*peak <= LIMIT, "{who}'s cache held {peak} files");
            assert!(*peak > 1, "{who} used its cache ({peak})");
        }
        assert!(
            seed_cache.is_empty() && leech_cache.is_empty(),
            "stopping closes every file"
        );
        // Each disk thread may still finish with a handle just evicted; 20 files stay far off.
        for (root, n) in roots.iter().zip(&os_peak) {
            assert!(*n <= 2 * LIMIT, "{n} files open under {}", root.display());
        }
    })
}
