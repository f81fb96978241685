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
    let files: Vec<Option<&File>> = files.iter().map(Some).collect();
    digest_pieces(&files, layout, threads, |_, bytes| sha1_digest(bytes))
}

/// Runs `digest(piece, bytes)` over every piece of `layout` on `threads` threads, in any
/// order; returns the digests in piece order. File `i` of the layout is `files[i]`, `None` for
/// a padding file (read as zeros).
pub(crate) fn digest_pieces<T, F>(
    files: &[Option<&File>],
    layout: &Layout,
    threads: usize,
    digest: F,
) -> io::Result<Vec<T>>
where
    T: Send,
    F: Fn(u32, &[u8]) -> T + Sync,
{
    let count = layout.piece_count();
    let batch = (BATCH_BYTES / u64::from(layout.piece_length())).max(1) as u32;
    let next = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<io::Error>> = Mutex::new(None);
    let results: Vec<Vec<(u32, T)>> = std::thread::scope(|s| {
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
                            match read_piece(files, layout, piece, &mut buf) {
                                Ok(bytes) => out.push((piece, digest(piece, bytes))),
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
    let mut all: Vec<(u32, T)> = results.into_iter().flatten().collect();
    if all.len() != count as usize {
        return Err(io::Error::other("a hashing thread failed"));
    }
    all.sort_unstable_by_key(|(piece, _)| *piece);
    Ok(all.into_iter().map(|(_, digest)| digest).collect())
}

/// Reads `piece` into the front of `buf` and returns those bytes.
fn read_piece<'b>(
    files: &[Option<&File>],
    layout: &Layout,
    piece: u32,
    buf: &'b mut [u8],
) -> io::Result<&'b [u8]> {
    let len = layout.piece_len(piece);
    let spans = layout
        .spans(piece, 0, len)
        .ok_or_else(|| io::Error::other("piece outside the layout"))?;
    for span in spans {
        let dst = &mut buf[span.buffer_offset..span.buffer_offset + span.len];
        let Some(file) = files.get(span.file).copied().flatten() else {
            dst.fill(0);
            continue;
        };
        read_exact_at(file, dst, span.file_offset).map_err(|e| {
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
    Ok(&buf[..len as usize])
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

    #[test]
    fn padding_files_read_as_zeros() {
        let dir = std::env::temp_dir().join(format!("st-hash-pad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a");
        File::create(&path).unwrap().write_all(&[7u8; 100]).unwrap();
        let file = File::open(&path).unwrap();
        let layout = Layout::new(16384, [(100, false), (16284, true), (100, false)]).unwrap();
        let files = [Some(&file), None, Some(&file)];
        let got = digest_pieces(&files, &layout, 2, |p, b| (p, b.to_vec())).unwrap();
        let mut first = vec![7u8; 100];
        first.resize(16384, 0);
        assert_eq!(got, vec![(0, first), (1, vec![7u8; 100])]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
