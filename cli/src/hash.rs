//! Piece hashing on every core: workers take batches of pieces from a shared counter and read
//! them with positional reads (no shared file cursor), so no worker waits for another.

use std::fs::File;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::layout::Layout;
use sanstorrent_runtime_common::storage::read_exact_at;

/// Bytes a worker claims at once: large enough to amortize the counter, small enough to keep
/// all workers busy until the end.
const BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// Hashes every piece of `layout`, whose file `i` is `files[i]`, on `threads` threads.
pub(crate) fn hash_pieces(
    files: &[File],
    layout: &Layout,
    threads: usize,
) -> io::Result<Vec<[u8; 20]>> {
    let count = layout.piece_count();
    let batch = (BATCH_BYTES / u64::from(layout.piece_length())).max(1) as u32;
    let next = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<io::Error>> = Mutex::new(None);
    let mut hashes = vec![[0u8; 20]; count as usize];
    let results: Vec<Vec<(u32, [u8; 20])>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let mut buf = vec![0u8; layout.piece_length() as usize];
                    while !failed.load(Ordering::Relaxed) {
                        let start = next.fetch_add(batch, Ordering::Relaxed);
                        if start >= count {
                            break;
                        }
                        for piece in start..start.saturating_add(batch).min(count) {
                            match hash_piece(files, layout, piece, &mut buf) {
                                Ok(h) => out.push((piece, h)),
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    if let Ok(mut slot) = error.lock() {
                                        slot.get_or_insert(e);
                                    }
                                    return out;
                                }
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut done = 0usize;
    for (piece, h) in results.into_iter().flatten() {
        hashes[piece as usize] = h;
        done += 1;
    }
    if done != count as usize {
        return Err(io::Error::other("a hashing thread failed"));
    }
    Ok(hashes)
}

fn hash_piece(files: &[File], layout: &Layout, piece: u32, buf: &mut [u8]) -> io::Result<[u8; 20]> {
    let len = layout.piece_len(piece);
    let spans = layout
        .spans(piece, 0, len)
        .ok_or_else(|| io::Error::other("piece outside the layout"))?;
    for span in spans {
        let dst = &mut buf[span.buffer_offset..span.buffer_offset + span.len];
        read_exact_at(&files[span.file], dst, span.file_offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::other(format!(
                    "file {} shrank while it was being hashed",
                    span.file
                ))
            } else {
                e
            }
        })?;
    }
    Ok(sha1_digest(&buf[..len as usize]))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn parallel_hashes_match_a_sequential_pass() {
        let dir = std::env::temp_dir().join(format!("st-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sizes = [100_000usize, 0, 7, 50_000];
        let mut all = Vec::new();
        let mut files = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..*n).map(|j| (j * 31 + i) as u8).collect();
            let path = dir.join(format!("f{i}"));
            File::create(&path).unwrap().write_all(&data).unwrap();
            all.extend_from_slice(&data);
            files.push(File::open(&path).unwrap());
        }
        let layout = Layout::new(16384, sizes.iter().map(|n| (*n as u64, false))).unwrap();
        let want: Vec<[u8; 20]> = all.chunks(16384).map(sha1_digest).collect();
        for threads in [1, 3, 8] {
            assert_eq!(hash_pieces(&files, &layout, threads).unwrap(), want);
        }
        // A file shorter than the layout says is an error, not garbage hashes.
        let short = Layout::new(16384, [(200_000, false)]).unwrap();
        let err = hash_pieces(&files[..1], &short, 2).unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
