//! Loopback throughput of our seeder → our leecher, on each runtime, in one process each (so
//! the peak RSS is that runtime's: seeder and leecher together).
//!
//! `cargo bench -p sanstorrent-tests --bench runtime_loopback` (size: `SIZE_MB`, default 256).
//! Prints MB/s and peak RSS; never asserts on speed.

use std::path::Path;
use std::time::{Duration, Instant};

use sanstorrent_tests::interop::{WorkDir, mktorrent};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

macro_rules! run {
    ($rt:ident, $torrent:expr, $src:expr, $work:expr) => {{
        use $rt::{Client, ClientConfig, Event, TorrentOptions};
        $rt::block_on(async {
            let config = |dir: &Path| ClientConfig {
                state_dir: Some(dir.to_path_buf()),
                ..ClientConfig::loopback()
            };
            let seed = Client::new(config(&$work.join("s"))).await.expect("seeder");
            let opts = TorrentOptions {
                seed_only: true,
                ..TorrentOptions::default()
            };
            let st = seed
                .add_torrent_file($torrent, $src, opts)
                .await
                .expect("added");
            loop {
                let s = seed.stats(st.id).await.expect("runs").expect("torrent");
                if s.piece_count > 0 && s.pieces_have == s.piece_count {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let leech = Client::new(config(&$work.join("l")))
                .await
                .expect("leecher");
            let opts = TorrentOptions {
                peers: vec![seed.listen_addr()],
                ..TorrentOptions::default()
            };
            let started = Instant::now();
            let lt = leech
                .add_torrent_file($torrent, $work.join("out"), opts)
                .await
                .expect("added");
            while let Some(e) = leech.next_event().await {
                if e == (Event::TorrentComplete { torrent: lt.id }) {
                    break;
                }
            }
            let secs = started.elapsed().as_secs_f64();
            leech.stop().await.expect("stops");
            seed.stop().await.expect("stops");
            secs
        })
    }};
}

fn main() {
    let size_mb: u64 = std::env::var("SIZE_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    if let Ok(rt) = std::env::var("BENCH_RT") {
        let torrent = std::env::var("BENCH_TORRENT").expect("set by the parent");
        let src = std::env::var("BENCH_SRC").expect("set by the parent");
        let work = WorkDir::new(&format!("bench-{rt}"));
        let secs = match rt.as_str() {
            "smol" => run!(sanstorrent_smol, Path::new(&torrent), Path::new(&src), work),
            _ => run!(
                sanstorrent_tokio,
                Path::new(&torrent),
                Path::new(&src),
                work
            ),
        };
        let mb = (size_mb << 20) as f64 / 1e6;
        println!(
            "{rt:>5}: {size_mb} MiB in {secs:.2} s = {:.0} MB/s, peak RSS {} MiB (seeder + leecher)",
            mb / secs,
            peak_rss_kib() / 1024
        );
        return;
    }
    let work = WorkDir::new("bench-data");
    let dir = work.join("src");
    let torrent = work.join("t.torrent");
    let size = (size_mb << 20).to_string();
    mktorrent(&[
        "both",
        "--layout",
        "single",
        "--dir",
        dir.to_str().expect("UTF-8"),
        "--size",
        &size,
        "--seed",
        "1",
        "--piece-size",
        "262144",
        "--torrent",
        torrent.to_str().expect("UTF-8"),
    ]);
    for rt in ["smol", "tokio"] {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("BENCH_RT", rt)
            .env("BENCH_TORRENT", &torrent)
            .env("BENCH_SRC", &dir)
            .status()
            .expect("run child");
        assert!(status.success(), "{rt} run failed");
    }
}
