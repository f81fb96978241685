//! Parses a generated torrent with 100 000 pieces and 10 000 files and prints how long it takes.
//! Run: `cargo bench -p sanstorrent-core --bench metainfo`.

use std::hint::black_box;
use std::time::Instant;

use sanstorrent_core::bencode::decode;
use sanstorrent_core::create::TorrentBuilder;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};

const PIECES: u32 = 100_000;
const FILES: u32 = 10_000;
const PIECE_LENGTH: u32 = 16 * 1024;

fn main() {
    let total = u64::from(PIECES) * u64::from(PIECE_LENGTH);
    let per_file = total / u64::from(FILES);
    let files: Vec<(RelativePath, u64)> = (0..FILES)
        .map(|i| {
            let path = RelativePath::from_components([
                format!("dir{:03}", i % 100),
                format!("sub{}", i % 7),
                format!("file-{i:05}.bin"),
            ])
            .expect("generated names are safe");
            // The last file takes the remainder so the piece count is exact.
            let len = if i == FILES - 1 {
                total - per_file * u64::from(FILES - 1)
            } else {
                per_file
            };
            (path, len)
        })
        .collect();
    let builder = TorrentBuilder::multi_file("bench", files)
        .expect("valid file list")
        .piece_length(PIECE_LENGTH)
        .tracker_tier(vec!["http://127.0.0.1:1/announce".into()]);
    let hashes: Vec<[u8; 20]> = (0..PIECES)
        .map(|i| {
            let mut h = [0u8; 20];
            h[..4].copy_from_slice(&i.to_le_bytes());
            h
        })
        .collect();
    let t = Instant::now();
    let bytes = builder.build(&hashes).expect("build");
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let m = Metainfo::from_bytes(&bytes).expect("parses");
    assert_eq!(m.piece_count(), PIECES);
    assert_eq!(m.files().len(), FILES as usize);

    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        black_box(decode(black_box(&bytes)).expect("decodes"));
    }
    let decode_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    let t = Instant::now();
    for _ in 0..runs {
        black_box(Metainfo::from_bytes(black_box(&bytes)).expect("parses"));
    }
    let parse_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "metainfo: {PIECES} pieces, {FILES} files, {:.2} MB .torrent",
        mb
    );
    println!("  build (encode)        {build_ms:8.2} ms");
    println!(
        "  bencode decode only   {decode_ms:8.2} ms  ({:.0} MB/s)",
        mb / decode_ms * 1e3
    );
    println!(
        "  Metainfo::from_bytes  {parse_ms:8.2} ms  ({:.0} MB/s)",
        mb / parse_ms * 1e3
    );
}
