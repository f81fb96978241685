//! Storage figures: `FileStorage` write and read throughput to the page cache (no fsync), and
//! piece hashing throughput on one core. Prints, never asserts.
//!
//! `cargo bench -p sanstorrent-runtime-common --bench storage`

use std::time::Instant;

use sanstorrent_core::Rng;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::pieces::BLOCK_LEN;
use sanstorrent_core::storage::{MemoryStorage, Storage, hash_piece};
use sanstorrent_runtime_common::storage::FileStorage;

/// Bytes written and read per run.
const TOTAL: u64 = 1 << 30;
const PIECE: u32 = 1 << 20;

fn main() {
    let dir = std::env::temp_dir().join(format!("sanstorrent-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Four files of 256 MiB, laid end to end.
    let layout = Layout::new(PIECE, (0..4).map(|_| (TOTAL / 4, false))).expect("valid layout");
    let paths: Vec<RelativePath> = (0..4)
        .map(|i| RelativePath::from_components(["bench", &format!("file{i}")]).expect("safe"))
        .collect();
    let storage = FileStorage::open(&dir, layout.clone(), &paths).expect("open");
    let mut piece = vec![0u8; PIECE as usize];
    Rng::new(1).fill(&mut piece);

    // 16 KiB blocks, as they arrive from peers.
    let t = Instant::now();
    for p in 0..layout.piece_count() {
        for (i, block) in piece.chunks(BLOCK_LEN as usize).enumerate() {
            storage
                .write(p, i as u32 * BLOCK_LEN, block)
                .expect("write");
        }
    }
    report("FileStorage write, 16 KiB blocks", TOTAL, t);

    let mut buf = vec![0u8; BLOCK_LEN as usize];
    let t = Instant::now();
    for p in 0..layout.piece_count() {
        for i in 0..PIECE / BLOCK_LEN {
            storage.read(p, i * BLOCK_LEN, &mut buf).expect("read");
        }
    }
    report("FileStorage read, 16 KiB blocks", TOTAL, t);

    let mut big = vec![0u8; PIECE as usize];
    let t = Instant::now();
    for p in 0..layout.piece_count() {
        storage.read(p, 0, &mut big).expect("read");
    }
    report("FileStorage read, 1 MiB pieces", TOTAL, t);

    let t = Instant::now();
    for p in 0..layout.piece_count() {
        hash_piece(&storage, p).expect("hash");
    }
    report(
        "hash_piece from FileStorage (read + SHA-1, 1 core)",
        TOTAL,
        t,
    );
    drop(storage);
    let _ = std::fs::remove_dir_all(&dir);

    // Hashing alone, from memory: 256 MiB.
    let mem_layout = Layout::new(PIECE, [(256 << 20, false)]).expect("valid layout");
    let mem = MemoryStorage::new(mem_layout.clone());
    for p in 0..mem_layout.piece_count() {
        mem.write(p, 0, &piece).expect("write");
    }
    let t = Instant::now();
    for p in 0..mem_layout.piece_count() {
        hash_piece(&mem, p).expect("hash");
    }
    report("hash_piece from MemoryStorage (1 core)", 256 << 20, t);
    let t = Instant::now();
    for _ in 0..256 {
        std::hint::black_box(sanstorrent_core::id::sha1_digest(&piece));
    }
    report("SHA-1 alone (sha1 crate, asm, 1 core)", 256 << 20, t);
}

fn report(what: &str, bytes: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what:<52} {:>7.2} GB/s ({:.0} MiB in {secs:.2} s)",
        bytes as f64 / secs / 1e9,
        bytes as f64 / (1 << 20) as f64
    );
}
