//! `sanstorrent create` throughput on a 1 GiB file, next to this machine's single-core SHA-1
//! speed and core count (the ceiling is about SHA-1 speed × cores).
//! Run: `cargo bench -p sanstorrent-cli --bench create`. `SANSTORRENT_BENCH_BYTES` changes the
//! file size. The file is written to the temp dir (page-cached) and removed afterwards.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use sanstorrent_core::id::sha1_digest;

fn main() {
    let size: u64 = std::env::var("SANSTORRENT_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 30);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Single-core SHA-1 in memory: 16 MiB hashed in 1 MiB pieces, repeated.
    let buf: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let rounds = 16;
    let t = Instant::now();
    for _ in 0..rounds {
        for piece in buf.chunks(1 << 20) {
            std::hint::black_box(sha1_digest(piece));
        }
    }
    let sha1_mbs = (buf.len() * rounds) as f64 / 1e6 / t.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("sanstorrent-bench-create-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = dir.join("big.bin");
    {
        let mut f = std::io::BufWriter::with_capacity(
            1 << 22,
            std::fs::File::create(&data).expect("create"),
        );
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).expect("write");
            left -= n as u64;
        }
        f.flush().expect("flush");
    }
    let torrent = dir.join("big.torrent");
    let mut best = 0.0f64;
    for run in 1..=3 {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_sanstorrent"))
            .arg("create")
            .arg(&data)
            .args(["-t", "http://127.0.0.1:1/announce", "-o"])
            .arg(&torrent)
            .output()
            .expect("run sanstorrent create");
        let secs = t.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mbs = size as f64 / 1e6 / secs;
        best = best.max(mbs);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let hashed = stdout
            .lines()
            .find(|l| l.starts_with("hashed:"))
            .unwrap_or("");
        println!(
            "run {run}: {mbs:7.1} MB/s wall ({secs:.2} s), {}",
            hashed.trim()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "create: {} MiB file, best {best:.1} MB/s (whole process, page-cached file)",
        size >> 20
    );
    println!(
        "sha1 single core: {sha1_mbs:.1} MB/s; cores: {cores}; ceiling ~{:.0} MB/s",
        sha1_mbs * cores as f64
    );
}
